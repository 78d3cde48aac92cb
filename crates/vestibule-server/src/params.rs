//! Request parameters: form-urlencoded (what clerk-js sends) or JSON (what @clerk/backend sends),
//! read into one map with typed getters. Every way input can be wrong becomes a 4xx naming the
//! parameter: wrong types, duplicates, bad UTF-8, oversized bodies, unknown content types.

use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use http_body_util::BodyExt;
use serde_json::{Map, Value};
use vestibule_model::Error;

/// Largest body we read; more is refused with 413 before parsing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Parameters of one request: the body's, then the query string's where the body has none.
#[derive(Debug, Default, Clone)]
pub struct Params {
    values: Map<String, Value>,
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            });
        let query = req.uri().query().map(str::to_owned);
        let body = read_limited(req.into_body()).await?;
        let mut params = Params::parse_body(content_type.as_deref(), &body)?;
        if let Some(q) = query {
            params.merge_query(&q)?;
        }
        Ok(params)
    }
}

async fn read_limited(body: axum::body::Body) -> Result<Bytes, ApiError> {
    let limited = http_body_util::Limited::new(body, MAX_BODY_BYTES);
    match limited.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(Error::BodyTooLarge {
                limit: MAX_BODY_BYTES,
            }
            .into())
        }
        Err(e) => Err(Error::malformed(format!("the request body could not be read ({e})")).into()),
    }
}

/// Query-string keys that steer the transport, never parameters of an operation.
const TRANSPORT_KEYS: &[&str] = &[
    "_method",
    "_is_native",
    "__clerk_api_version",
    "_clerk_js_version",
    "_clerk_session_id",
    "__clerk_db_jwt",
    "_clerk_retry_attempt",
    "__domain",
    "debug",
    "rotating_token_nonce",
];

impl Params {
    pub fn parse_body(content_type: Option<&str>, body: &[u8]) -> Result<Params, ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            // clerk-js posts empty bodies, and @clerk/backend sends them as "application/json".
            return Ok(Params::default());
        }
        match content_type {
            Some("application/json") => Params::from_json(body),
            Some("application/x-www-form-urlencoded") | None => Params::from_form(body),
            Some(_) => Err(Error::UnsupportedContentType.into()),
        }
    }

    fn from_json(body: &[u8]) -> Result<Params, ApiError> {
        let text = std::str::from_utf8(body)
            .map_err(|_| Error::malformed("the body is not valid UTF-8"))?;
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(values)) => Ok(Params { values }),
            Ok(_) => Err(Error::malformed("the JSON body must be an object").into()),
            Err(e) => Err(Error::malformed(format!(
                "the JSON body is invalid at line {} column {}",
                e.line(),
                e.column()
            ))
            .into()),
        }
    }

    fn from_form(body: &[u8]) -> Result<Params, ApiError> {
        let mut params = Params::default();
        params.add_pairs(body, false)?;
        Ok(params)
    }

    fn merge_query(&mut self, query: &str) -> Result<(), ApiError> {
        let mut from_query = Params::default();
        from_query.add_pairs(query.as_bytes(), true)?;
        for (k, v) in from_query.values {
            self.values.entry(k).or_insert(v);
        }
        Ok(())
    }

    /// Form pairs: a repeated key (or `key[]`) becomes an array, as clerk-js encodes arrays.
    fn add_pairs(&mut self, raw: &[u8], skip_transport: bool) -> Result<(), ApiError> {
        if std::str::from_utf8(raw).is_err() {
            return Err(Error::malformed("the parameters are not valid UTF-8").into());
        }
        for (k, v) in form_urlencoded::parse(raw) {
            // Percent-decoding may yield bytes that are not UTF-8; `parse` replaces them with U+FFFD.
            if k.contains('\u{FFFD}') || v.contains('\u{FFFD}') {
                let name = k.trim_end_matches("[]").to_owned();
                return Err(Error::ParamValueInvalid {
                    param: name,
                    reason: "contains invalid UTF-8 characters".into(),
                }
                .into());
            }
            if skip_transport && TRANSPORT_KEYS.contains(&k.as_ref()) {
                continue;
            }
            let (key, forced_array) = match k.strip_suffix("[]") {
                Some(base) => (base.to_owned(), true),
                None => (k.into_owned(), false),
            };
            let value = Value::String(v.into_owned());
            match self.values.get_mut(&key) {
                Some(Value::Array(items)) => items.push(value),
                Some(existing) => {
                    let first = existing.take();
                    *existing = Value::Array(vec![first, value]);
                }
                None if forced_array => {
                    self.values.insert(key, Value::Array(vec![value]));
                }
                None => {
                    self.values.insert(key, value);
                }
            }
        }
        Ok(())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// Given explicitly as JSON `null` (which clears a field on update).
    pub fn is_null(&self, name: &str) -> bool {
        matches!(self.values.get(name), Some(Value::Null))
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// A single string. Absent or null is `None`; an array or object is a type error.
    pub fn str(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.values.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(Value::Array(_)) => Err(Error::ParamValueInvalid {
                param: name.into(),
                reason: "must be given only once".into(),
            }
            .into()),
            Some(_) => Err(type_error(name, "a string")),
        }
    }

    /// A single non-empty string. Empty strings count as absent, as clerk-js sends `null` as "".
    pub fn non_empty(&self, name: &str) -> Result<Option<&str>, ApiError> {
        Ok(self.str(name)?.filter(|s| !s.is_empty()))
    }

    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.non_empty(name)?
            .ok_or_else(|| Error::param_missing(name).into())
    }

    /// `true`/`false` as a JSON boolean or the strings clerk-js sends.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.values.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) => match s.as_str() {
                "true" | "1" => Ok(Some(true)),
                "false" | "0" => Ok(Some(false)),
                "" => Ok(None),
                _ => Err(type_error(name, "a boolean")),
            },
            Some(_) => Err(type_error(name, "a boolean")),
        }
    }

    /// An integer given as a JSON number or a decimal string, within `range`.
    pub fn int(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<Option<i64>, ApiError> {
        let n = match self.values.get(name) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Number(n)) => n.as_i64().ok_or_else(|| type_error(name, "an integer"))?,
            Some(Value::String(s)) if s.is_empty() => return Ok(None),
            Some(Value::String(s)) => s
                .parse::<i64>()
                .map_err(|_| type_error(name, "an integer"))?,
            Some(_) => return Err(type_error(name, "an integer")),
        };
        if !range.contains(&n) {
            return Err(Error::ParamValueInvalid {
                param: name.into(),
                reason: format!("must be between {} and {}", range.start(), range.end()),
            }
            .into());
        }
        Ok(Some(n))
    }

    /// A list of strings: a JSON array, repeated form keys, or one value.
    pub fn strings(&self, name: &str) -> Result<Vec<String>, ApiError> {
        match self.values.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(type_error(name, "an array of strings")),
                })
                .collect(),
            Some(_) => Err(type_error(name, "an array of strings")),
        }
    }

    /// A JSON object, given as one or (from a form, where clerk-js stringifies nested objects) as
    /// its JSON text.
    pub fn object(&self, name: &str) -> Result<Option<Map<String, Value>>, ApiError> {
        match self.values.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m.clone())),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
                Ok(Value::Object(m)) => Ok(Some(m)),
                _ => Err(type_error(name, "a JSON object")),
            },
            Some(_) => Err(type_error(name, "a JSON object")),
        }
    }

    /// Refuses any parameter not in `allowed` (used by the Backend API, where a silently ignored
    /// field would mislead an operator).
    pub fn only(&self, allowed: &[&str]) -> Result<(), ApiError> {
        match self.names().find(|n| !allowed.contains(n)) {
            Some(unknown) => Err(Error::param_unknown(unknown).into()),
            None => Ok(()),
        }
    }
}

fn type_error(name: &str, expected: &str) -> ApiError {
    Error::ParamValueInvalid {
        param: name.into(),
        reason: format!("must be {expected}"),
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: Result<impl std::fmt::Debug, ApiError>) -> (String, Option<String>) {
        let e = r.expect_err("error").0;
        (e.code().to_owned(), e.meta().param_name)
    }

    #[test]
    fn form_bodies_with_arrays_and_stringified_objects() {
        let p = Params::parse_body(
            Some("application/x-www-form-urlencoded"),
            b"identifier=a%40b.co&email_address=x&email_address=y&phone_number[]=%2B1555&unsafe_metadata=%7B%22a%22%3A1%7D&flag=true",
        )
        .expect("parse");
        assert_eq!(p.str("identifier").expect("str"), Some("a@b.co"));
        assert_eq!(p.strings("email_address").expect("list"), ["x", "y"]);
        assert_eq!(p.strings("phone_number").expect("list"), ["+1555"]);
        assert_eq!(
            p.object("unsafe_metadata")
                .expect("obj")
                .map(|m| m["a"].clone()),
            Some(1.into())
        );
        assert_eq!(p.bool("flag").expect("bool"), Some(true));
        assert_eq!(code(p.str("email_address")).0, "form_param_value_invalid");
    }

    #[test]
    fn json_bodies_and_type_errors_name_the_parameter() {
        let p = Params::parse_body(
            Some("application/json"),
            br#"{"username": 5, "password": "pw", "limit": "x"}"#,
        )
        .expect("parse");
        assert_eq!(
            code(p.str("username")),
            ("form_param_value_invalid".into(), Some("username".into()))
        );
        assert_eq!(code(p.int("limit", 1..=500)).1.as_deref(), Some("limit"));
        assert_eq!(
            code(p.required("missing")),
            ("form_param_missing".into(), Some("missing".into()))
        );
    }

    #[test]
    fn malformed_bodies_are_400_and_unknown_types_415() {
        for (ct, body) in [
            (Some("application/json"), &b"{not json"[..]),
            (Some("application/json"), &b"[1,2]"[..]),
            (Some("application/json"), &b"\xff\xfe"[..]),
            (None, &b"a=\xff"[..]),
        ] {
            let e = Params::parse_body(ct, body).expect_err("malformed").0;
            assert_eq!(e.status(), 400, "{body:?}");
        }
        let e = Params::parse_body(Some("text/xml"), b"<a/>")
            .expect_err("415")
            .0;
        assert_eq!(e.status(), 415);
        let e = Params::parse_body(None, b"password=%FF%FE")
            .expect_err("bad utf8")
            .0;
        assert_eq!(
            (e.code(), e.meta().param_name.as_deref()),
            ("form_param_value_invalid", Some("password"))
        );
    }

    #[test]
    fn empty_bodies_are_fine_whatever_the_type() {
        assert!(Params::parse_body(Some("application/json"), b"").is_ok());
        assert!(Params::parse_body(Some("text/plain"), b"  ").is_ok());
    }

    #[test]
    fn query_fills_in_but_transport_keys_stay_out() {
        let mut p = Params::parse_body(None, b"a=body").expect("parse");
        p.merge_query("a=query&b=2&_method=PATCH&__clerk_db_jwt=secret")
            .expect("merge");
        assert_eq!(p.str("a").expect("a"), Some("body"));
        assert_eq!(p.str("b").expect("b"), Some("2"));
        assert!(!p.contains("_method") && !p.contains("__clerk_db_jwt"));
        assert!(p.only(&["a", "b"]).is_ok());
        assert_eq!(
            code(p.only(&["a"])),
            ("form_param_unknown".into(), Some("b".into()))
        );
    }
}
