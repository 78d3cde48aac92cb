//! Turning the domain's error into Clerk's error envelope.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use vestibule_model::Error;
use vestibule_wire::{ApiError as WireError, ErrorEnvelope};

/// The one error type handlers return; every failure leaves as Clerk's envelope.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl From<vestibule_store::StoreError> for ApiError {
    fn from(e: vestibule_store::StoreError) -> Self {
        ApiError(e.into())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The envelope for one error, as clerk-js and @clerk/backend parse it.
pub fn envelope(e: &Error) -> ErrorEnvelope {
    let meta = serde_json::to_value(e.meta()).unwrap_or_else(|_| serde_json::json!({}));
    ErrorEnvelope {
        errors: vec![WireError {
            code: e.code().to_owned(),
            message: e.message(),
            long_message: e.long_message(),
            meta,
        }],
        clerk_trace_id: Some(trace_id()),
        meta: serde_json::json!({}),
    }
}

fn trace_id() -> String {
    let mut b = [0u8; 16];
    vestibule_model::Rng::fill(&vestibule_model::OsRng, &mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        match &e {
            Error::Internal { detail } => {
                tracing::error!(code = e.code(), %detail, "request failed")
            }
            Error::Unavailable { detail } => {
                tracing::warn!(code = e.code(), %detail, "request refused")
            }
            _ => tracing::debug!(code = e.code(), "request refused"),
        }
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = envelope(&e);
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(seconds) = e.retry_after_seconds() {
            if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}
