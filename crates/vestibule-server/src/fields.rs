//! Checks for user fields that both APIs accept (BAPI user updates, FAPI `/me`).

use crate::error::ApiResult;
use crate::params::Params;
use serde_json::{Map, Value};
use vestibule_model::identifier::normalize_username;
use vestibule_model::Error;

/// Largest serialised metadata object, per kind.
pub const MAX_METADATA_BYTES: usize = 8 * 1024;
const MAX_NAME_CHARS: usize = 256;

/// A username as stored: 4 to 64 characters, lower case.
pub fn username(raw: &str) -> ApiResult<String> {
    let n = normalize_username(raw).filter(|u| (4..=64).contains(&u.len()));
    n.ok_or_else(|| {
        Error::param_format_invalid(
            "username",
            "must be 4 to 64 letters, digits, '_', '-' or '.'",
        )
        .into()
    })
}

/// A name-like field: absent (`None`), cleared by `null` (`Some(None)`), or set.
pub fn text_field(params: &Params, name: &str) -> ApiResult<Option<Option<String>>> {
    if params.is_null(name) {
        return Ok(Some(None));
    }
    let Some(v) = params.str(name)? else {
        return Ok(None);
    };
    let v = v.trim();
    if v.chars().count() > MAX_NAME_CHARS {
        return Err(Error::param_value_invalid(
            name,
            format!("must be at most {MAX_NAME_CHARS} characters"),
        )
        .into());
    }
    if v.chars().any(char::is_control) {
        return Err(Error::param_value_invalid(name, "must not contain control characters").into());
    }
    Ok(Some((!v.is_empty()).then(|| v.to_owned())))
}

/// A metadata object: `null` empties it; its JSON is capped at [`MAX_METADATA_BYTES`].
pub fn metadata(params: &Params, name: &str) -> ApiResult<Option<Map<String, Value>>> {
    if params.is_null(name) {
        return Ok(Some(Map::new()));
    }
    let m = params.object(name)?;
    if let Some(m) = &m {
        if Value::Object(m.clone()).to_string().len() > MAX_METADATA_BYTES {
            return Err(Error::param_value_invalid(
                name,
                format!("must be at most {MAX_METADATA_BYTES} bytes of JSON"),
            )
            .into());
        }
    }
    Ok(m)
}

/// Deep merge; `null` deletes a key.
pub fn merge(target: &mut Value, patch: Map<String, Value>) {
    let Value::Object(t) = target else {
        *target = Value::Object(Map::new());
        return merge(target, patch);
    };
    for (k, v) in patch {
        match v {
            Value::Null => {
                t.remove(&k);
            }
            Value::Object(inner) => match t.get_mut(&k) {
                Some(existing @ Value::Object(_)) => merge(existing, inner),
                _ => {
                    let mut fresh = Value::Object(Map::new());
                    merge(&mut fresh, inner);
                    t.insert(k, fresh);
                }
            },
            other => {
                t.insert(k, other);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::merge;
    use serde_json::json;

    #[test]
    fn merge_is_deep_and_null_deletes() {
        let mut v = json!({"a": 1, "nested": {"x": 1, "y": 2}, "gone": true});
        let patch = json!({"nested": {"y": 3, "z": 4}, "gone": null, "b": [1]});
        let serde_json::Value::Object(p) = patch else {
            panic!("object")
        };
        merge(&mut v, p);
        assert_eq!(
            v,
            json!({"a": 1, "nested": {"x": 1, "y": 3, "z": 4}, "b": [1]})
        );
    }
}
