//! The wire, as a native Clerk client speaks it: GET or form-urlencoded POST only (other verbs
//! tunnelled through `_method`, as clerk-js does), `_is_native=1` on every request, the client
//! token in `Authorization`, and the token the server hands back in the `authorization` response
//! header kept for the next request.

use crate::error::ClerkError;
use crate::token_store::TokenStore;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, RETRY_AFTER};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;
use url::Url;
use vestibule_wire::ErrorEnvelope;

/// The FAPI version whose shapes `vestibule-wire` describes (what clerk-js 6.40 sends).
pub(crate) const API_VERSION: &str = "2026-08-20";

/// The verbs the SDK's calls use; PUT would be tunnelled exactly like PATCH and DELETE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    Get,
    Post,
    Patch,
    Delete,
}

impl Verb {
    fn name(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Patch => "PATCH",
            Verb::Delete => "DELETE",
        }
    }
}

/// One FAPI call. `path` holds the segments after `/v1`, each percent-encoded on its own so an
/// id can never change which endpoint is called.
#[derive(Debug)]
pub(crate) struct Call<'a> {
    pub verb: Verb,
    pub path: &'a [&'a str],
    pub query: Vec<(&'static str, String)>,
    pub form: Vec<(&'static str, String)>,
}

impl<'a> Call<'a> {
    pub fn new(verb: Verb, path: &'a [&'a str]) -> Call<'a> {
        Call {
            verb,
            path,
            query: Vec::new(),
            form: Vec::new(),
        }
    }

    pub fn form(mut self, form: Vec<(&'static str, String)>) -> Call<'a> {
        self.form = form;
        self
    }

    pub fn query(mut self, key: &'static str, value: impl Into<String>) -> Call<'a> {
        self.query.push((key, value.into()));
        self
    }

    /// `POST /v1/client/sign_ins`, for error messages.
    pub fn describe(&self) -> String {
        format!("{} /v1/{}", self.verb.name(), self.path.join("/"))
    }
}

/// Checks a Frontend API (or proxy) URL and drops any query or fragment.
pub(crate) fn parse_base_url(raw: &str) -> Result<Url, ClerkError> {
    let mut url = Url::parse(raw.trim()).map_err(|e| {
        ClerkError::Config(format!(
            "the Frontend API URL {raw:?} is not an absolute URL ({e})"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ClerkError::Config(format!(
            "the Frontend API URL {raw:?} must be http(s)://host[:port][/path]"
        )));
    }
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

pub(crate) struct Transport {
    pub http: reqwest::Client,
    pub base: Url,
    pub tokens: Arc<dyn TokenStore>,
}

impl Transport {
    pub fn url(&self, call: &Call<'_>) -> Result<Url, ClerkError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|_| ClerkError::Config(format!("{} cannot be a base URL", self.base)))?
            .pop_if_empty()
            .push("v1")
            .extend(call.path);
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("__clerk_api_version", API_VERSION);
            q.append_pair("_is_native", "1");
            if !matches!(call.verb, Verb::Get | Verb::Post) {
                q.append_pair("_method", call.verb.name());
            }
            for (k, v) in &call.query {
                q.append_pair(k, v);
            }
        }
        Ok(url)
    }

    /// Sends `call`; returns the body of a 2xx answer, or the API error of any other.
    pub async fn send(&self, call: &Call<'_>) -> Result<Vec<u8>, ClerkError> {
        let url = self.url(call)?;
        let presented = self.tokens.get().filter(|t| !t.is_empty());
        let mut request = match call.verb {
            Verb::Get => self.http.get(url),
            // Always a form body, even an empty one, exactly as clerk-js posts.
            _ => self.http.post(url).form(&call.form),
        };
        if let Some(token) = &presented {
            let value = HeaderValue::from_str(token).map_err(|_| {
                ClerkError::Config("the stored client token is not a valid header value".into())
            })?;
            request = request.header(AUTHORIZATION, value);
        }
        let response = request.send().await?;
        let status = response.status();
        self.keep_token(presented.as_deref(), response.headers());
        let retry_after = retry_after(response.headers());
        let body = response.bytes().await?;
        if status.is_success() {
            Ok(body.to_vec())
        } else {
            Err(api_error(status.as_u16(), retry_after, &body))
        }
    }

    /// Stores what the server put in the `authorization` response header: a new token (created
    /// or rotated), or an empty one when the client is gone. Unchanged tokens are not rewritten,
    /// so persistent stores do not write on every request.
    fn keep_token(&self, presented: Option<&str>, headers: &HeaderMap) {
        let Some(value) = headers.get(AUTHORIZATION) else {
            return;
        };
        let Ok(text) = value.to_str() else { return };
        let token = text.strip_prefix("Bearer ").unwrap_or(text).trim();
        if token.is_empty() {
            if presented.is_some() {
                self.tokens.set(None);
            }
        } else if presented != Some(token) {
            self.tokens.set(Some(token.to_owned()));
        }
    }

    /// Sends `call` and decodes a JSON answer.
    pub async fn json<T: DeserializeOwned>(&self, call: &Call<'_>) -> Result<T, ClerkError> {
        let body = self.send(call).await?;
        decode(&call.describe(), &body)
    }
}

pub(crate) fn decode<T: DeserializeOwned>(what: &str, body: &[u8]) -> Result<T, ClerkError> {
    serde_json::from_slice(body).map_err(|e| ClerkError::Decode(format!("{what}: {e}")))
}

/// `Retry-After` in seconds; the HTTP-date form is not used by FAPI.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

fn api_error(status: u16, retry_after: Option<Duration>, body: &[u8]) -> ClerkError {
    // A proxy or gateway may answer without Clerk's envelope; the status still tells the story.
    let envelope = serde_json::from_slice::<ErrorEnvelope>(body).ok();
    let (errors, trace_id) = match envelope {
        Some(e) => (e.errors, e.clerk_trace_id),
        None => (Vec::new(), None),
    };
    ClerkError::Api {
        status,
        errors,
        retry_after,
        trace_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token_store::MemoryTokenStore;

    fn transport(base: &str) -> Transport {
        Transport {
            http: reqwest::Client::new(),
            base: parse_base_url(base).expect("base"),
            tokens: Arc::new(MemoryTokenStore::new()),
        }
    }

    #[test]
    fn urls_carry_native_flag_and_tunnelled_method() {
        let t = transport("http://127.0.0.1:8787/fapi/?x=1#f");
        let get = t
            .url(&Call::new(Verb::Get, &["client"]))
            .expect("url")
            .to_string();
        assert_eq!(
            get,
            "http://127.0.0.1:8787/fapi/v1/client?__clerk_api_version=2026-08-20&_is_native=1"
        );
        let delete = t
            .url(&Call::new(Verb::Delete, &["client", "sessions"]).query("debug", "skip_cache"))
            .expect("url")
            .to_string();
        assert_eq!(
            delete,
            "http://127.0.0.1:8787/fapi/v1/client/sessions?__clerk_api_version=2026-08-20&_is_native=1&_method=DELETE&debug=skip_cache"
        );
    }

    #[test]
    fn ids_cannot_escape_their_path_segment() {
        let t = transport("https://clerk.example.com");
        let url = t
            .url(&Call::new(Verb::Get, &["client", "sign_ins", "../../x?y"]))
            .expect("url");
        assert_eq!(url.path(), "/v1/client/sign_ins/..%2F..%2Fx%3Fy");
    }

    #[test]
    fn base_urls_must_be_absolute_http() {
        assert!(parse_base_url("/fapi").is_err());
        assert!(parse_base_url("ftp://clerk.example.com").is_err());
        assert!(parse_base_url("mailto:a@b.c").is_err());
        assert!(parse_base_url("https://clerk.example.com").is_ok());
    }

    #[test]
    fn error_bodies_decode_with_or_without_envelope() {
        let body = br#"{"errors":[{"code":"too_many_requests","message":"m","long_message":"l","meta":{}}],"clerk_trace_id":"t","meta":{}}"#;
        let e = api_error(429, Some(Duration::from_secs(3)), body);
        assert_eq!(e.code(), Some("too_many_requests"));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
        assert!(matches!(e, ClerkError::Api { trace_id: Some(ref t), .. } if t == "t"));
        let bare = api_error(502, None, b"<html>bad gateway</html>");
        assert_eq!(bare.status(), Some(502));
        assert_eq!(bare.code(), None);
    }

    #[test]
    fn response_tokens_are_kept_and_cleared() {
        let t = transport("https://clerk.example.com");
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_static("tok1"));
        t.keep_token(None, &h);
        assert_eq!(t.tokens.get().as_deref(), Some("tok1"));
        h.insert(AUTHORIZATION, HeaderValue::from_static(""));
        t.keep_token(Some("tok1"), &h);
        assert_eq!(t.tokens.get(), None);
    }
}
