//! The one error type of the SDK.

use std::time::Duration;
use vestibule_wire::ApiError;

/// Everything that can go wrong talking to the Frontend API.
#[derive(Debug, thiserror::Error)]
pub enum ClerkError {
    /// The server answered with Clerk's error envelope (or an error status without one, in which
    /// case `errors` is empty).
    #[error("{}", describe_api(*status, errors))]
    Api {
        status: u16,
        errors: Vec<ApiError>,
        /// From `Retry-After` (seconds) on a 429 or 503: when trying again may succeed.
        retry_after: Option<Duration>,
        /// `clerk_trace_id`, worth quoting when reporting a problem to the operator.
        trace_id: Option<String>,
    },
    /// The request did not complete: connection refused, timeout, TLS failure, and so on.
    #[error("network error: {0}")]
    Network(#[from] reqwest::Error),
    /// The server answered, but not in a shape this SDK understands.
    #[error("unexpected response: {0}")]
    Decode(String),
    /// The SDK was set up wrongly: a bad URL or publishable key.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A wallet sign-in could not go on: the signing function failed, or the sign-in offered no
    /// factor for the wallet.
    #[error("wallet: {0}")]
    Wallet(Box<dyn std::error::Error + Send + Sync>),
    /// A passkey ceremony could not go on: the authenticator failed or declined, or the sign-in
    /// offered no passkey factor.
    #[error("passkey: {0}")]
    Passkey(Box<dyn std::error::Error + Send + Sync>),
}

fn describe_api(status: u16, errors: &[ApiError]) -> String {
    match errors.first() {
        Some(e) => {
            let text = if e.long_message.is_empty() {
                &e.message
            } else {
                &e.long_message
            };
            format!("{text} ({}, HTTP {status})", e.code)
        }
        None => format!("the Frontend API answered HTTP {status}"),
    }
}

impl ClerkError {
    /// The code of the first API error, e.g. `form_password_incorrect`.
    pub fn code(&self) -> Option<&str> {
        self.errors().first().map(|e| e.code.as_str())
    }

    /// Whether any API error carries `code`.
    pub fn is(&self, code: &str) -> bool {
        self.errors().iter().any(|e| e.code == code)
    }

    /// The API errors; empty for anything but [`ClerkError::Api`].
    pub fn errors(&self) -> &[ApiError] {
        match self {
            ClerkError::Api { errors, .. } => errors,
            _ => &[],
        }
    }

    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClerkError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// How long the server asked us to wait before retrying (429 Too Many Requests).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClerkError::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: &str) -> ApiError {
        ApiError {
            code: code.into(),
            message: "short".into(),
            long_message: "Long text.".into(),
            meta: serde_json::json!({"param_name": "password"}),
        }
    }

    #[test]
    fn helpers_read_the_first_and_any_code() {
        let e = ClerkError::Api {
            status: 422,
            errors: vec![api("form_password_incorrect"), api("other")],
            retry_after: None,
            trace_id: None,
        };
        assert_eq!(e.code(), Some("form_password_incorrect"));
        assert!(e.is("other"));
        assert!(!e.is("user_locked"));
        assert_eq!(e.status(), Some(422));
        assert_eq!(
            e.to_string(),
            "Long text. (form_password_incorrect, HTTP 422)"
        );
        assert_eq!(e.errors()[0].param_name(), Some("password"));
    }

    #[test]
    fn non_api_errors_have_no_code() {
        let e = ClerkError::Config("bad".into());
        assert_eq!(e.code(), None);
        assert!(!e.is("bad"));
        assert_eq!(e.retry_after(), None);
        let empty = ClerkError::Api {
            status: 502,
            errors: Vec::new(),
            retry_after: None,
            trace_id: None,
        };
        assert_eq!(empty.to_string(), "the Frontend API answered HTTP 502");
    }
}
