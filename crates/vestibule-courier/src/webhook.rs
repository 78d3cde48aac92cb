//! SMS through an HTTP webhook: Vestibule posts each text message to a URL the operator runs
//! (a small bridge to Twilio, Vonage, an SMS gateway, …).
//!
//! # Request
//!
//! `POST <webhook_url>` with `Content-Type: application/json` and this body:
//!
//! ```json
//! {"to": "+15551234567", "body": "123456 is your Acme sign-in code. …", "purpose": "sign_in_code", "message_id": "msg_…"}
//! ```
//!
//! - `to`: the phone number, E.164.
//! - `body`: the text to send, ready as it is.
//! - `purpose`: `sign_in_code`, `reset_password_code`, `second_factor_code`, … (for routing or sender ids).
//! - `message_id`: the same on every retry of one message. Delivery is at least once, so a
//!   receiver that must never send twice drops ids it has already seen.
//!
//! # Answer
//!
//! Any 2xx: delivered. 408, 429, other statuses (5xx, 3xx: redirects are not followed) and
//! network errors or no answer within 10 s: retried later with backoff. Any other 4xx: the
//! message is given up at once.
//!
//! # Signature
//!
//! With `webhook_secret` set, every request carries
//!
//! ```text
//! X-Vestibule-Signature: t=<unix seconds>,v1=<lowercase hex HMAC-SHA256>
//! ```
//!
//! where the HMAC key is the secret's UTF-8 bytes and the signed input is `<t>.<raw body>`: the
//! decimal `t` exactly as in the header, a `.`, then the request body byte for byte as received
//! (verify before parsing the JSON). A receiver recomputes it, compares in constant time, and
//! refuses a `t` more than a few minutes from its own clock, so a captured request cannot be
//! replayed later. [`verify_signature`] does exactly that.

use crate::config::ConfigError;
use crate::message::Message;
use crate::transport::{SendError, SendFuture, Transport};
use ring::hmac;
use std::sync::Arc;
use std::time::Duration;
use vestibule_model::Clock;

pub const SIGNATURE_HEADER: &str = "X-Vestibule-Signature";
pub const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(serde::Serialize)]
struct Payload<'a> {
    to: &'a str,
    body: &'a str,
    purpose: &'a str,
    message_id: &'a str,
}

pub struct SmsWebhookTransport {
    client: reqwest::Client,
    url: url::Url,
    key: Option<hmac::Key>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for SmsWebhookTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsWebhookTransport")
            .field("url", &redacted_url(&self.url))
            .field("signed", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

/// Scheme, host and port only: a webhook URL often carries a token in its path or query.
pub(crate) fn redacted_url(url: &url::Url) -> String {
    match url.port() {
        Some(port) => format!(
            "{}://{}:{port}/…",
            url.scheme(),
            url.host_str().unwrap_or("")
        ),
        None => format!("{}://{}/…", url.scheme(), url.host_str().unwrap_or("")),
    }
}

pub(crate) fn parse_webhook_url(s: &str) -> Result<url::Url, ConfigError> {
    let bad = |why: &str| ConfigError::new(format!("[sms] webhook_url is not valid: {why}"));
    let url = url::Url::parse(s).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad("it must be an http:// or https:// URL with a host"));
    }
    Ok(url)
}

impl SmsWebhookTransport {
    /// `clock` stamps signatures, so tests can check them against a test clock.
    pub fn new(
        webhook_url: &str,
        webhook_secret: Option<&str>,
        clock: Arc<dyn Clock>,
    ) -> Result<SmsWebhookTransport, ConfigError> {
        let url = parse_webhook_url(webhook_url)?;
        let key = match webhook_secret {
            Some("") => {
                return Err(ConfigError::new(
                    "[sms] webhook_secret is empty; remove it or set a long random value",
                ))
            }
            Some(secret) => Some(hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes())),
            None => None,
        };
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            // A redirect would carry the code to an address nobody configured.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("vestibule-courier/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConfigError::new(format!("[sms] cannot set up the HTTP client: {e}")))?;
        Ok(SmsWebhookTransport {
            client,
            url,
            key,
            clock,
        })
    }

    async fn post(&self, message_id: &str, message: &Message) -> Result<(), SendError> {
        let Message::Sms { to, body, purpose } = message else {
            return Err(SendError::permanent("an email cannot go by SMS"));
        };
        let raw = serde_json::to_vec(&Payload {
            to,
            body,
            purpose,
            message_id,
        })
        .map_err(|e| SendError::permanent(format!("cannot encode the webhook payload: {e}")))?;
        let mut request = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if let Some(key) = &self.key {
            let t = self.clock.now().seconds();
            request = request.header(SIGNATURE_HEADER, signature_header(key, t, &raw));
        }
        let response = request.body(raw).send().await.map_err(|e| {
            // Without the URL: it may hold a token.
            let e = e.without_url();
            if e.is_timeout() {
                SendError::temporary(format!(
                    "SMS webhook gave no answer within {} s",
                    TIMEOUT.as_secs()
                ))
            } else {
                SendError::temporary(format!("SMS webhook unreachable: {e}"))
            }
        })?;
        let status = response.status();
        // The answer's body is not read into the error: a receiver may echo the message back.
        match status.as_u16() {
            200..=299 => Ok(()),
            408 | 429 => Err(SendError::temporary(format!(
                "SMS webhook answered {status}"
            ))),
            400..=499 => Err(SendError::permanent(format!(
                "SMS webhook answered {status}"
            ))),
            _ => Err(SendError::temporary(format!(
                "SMS webhook answered {status}"
            ))),
        }
    }
}

fn signature_header(key: &hmac::Key, t: i64, raw_body: &[u8]) -> String {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(t.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(raw_body);
    format!("t={t},v1={}", hex::encode(ctx.sign().as_ref()))
}

/// For receivers written in Rust: checks an `X-Vestibule-Signature` header against the raw body,
/// accepting timestamps up to `tolerance_seconds` from `now_seconds` either way.
pub fn verify_signature(
    secret: &[u8],
    header: &str,
    raw_body: &[u8],
    now_seconds: i64,
    tolerance_seconds: i64,
) -> bool {
    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1.extend(hex::decode(value).ok()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    if (now_seconds - t).abs() > tolerance_seconds {
        return false;
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(raw_body);
    // ring compares in constant time.
    v1.iter()
        .any(|tag| hmac::verify(&key, &signed, tag).is_ok())
}

impl Transport for SmsWebhookTransport {
    fn send<'a>(&'a self, message_id: &'a str, message: &'a Message) -> SendFuture<'a> {
        Box::pin(self.post(message_id, message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_vector_and_verifies() {
        // HMAC-SHA256("secret", "1700000000.{}"), computed independently with Python's hmac module.
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"secret");
        let header = signature_header(&key, 1_700_000_000, b"{}");
        assert_eq!(
            header,
            "t=1700000000,v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
        assert!(verify_signature(
            b"secret",
            &header,
            b"{}",
            1_700_000_100,
            300
        ));
        assert!(
            !verify_signature(b"secret", &header, b"{} ", 1_700_000_100, 300),
            "body changed"
        );
        assert!(
            !verify_signature(b"other", &header, b"{}", 1_700_000_100, 300),
            "other key"
        );
        assert!(
            !verify_signature(b"secret", &header, b"{}", 1_700_000_400, 300),
            "too old"
        );
        assert!(
            !verify_signature(b"secret", "v1=00", b"{}", 1_700_000_000, 300),
            "no t"
        );
    }
}
