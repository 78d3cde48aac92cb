//! The user and session part of Clerk's Backend API, for operators (`@clerk/backend`).
//! Every route needs `Authorization: Bearer <secret key>`.

mod dev;
mod identifications;
mod mfa;
pub mod sessions;
mod sign_in_tokens;
pub mod users;

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use vestibule_model::Error;

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/v1/jwks", get(jwks))
        .route("/v1/dev/messages", get(dev::messages))
        .route("/v1/users", get(users::list).post(users::create))
        .route("/v1/users/count", get(users::count))
        .route(
            "/v1/users/{id}",
            get(users::get).patch(users::update).delete(users::delete),
        )
        .route(
            "/v1/users/{id}/metadata",
            axum::routing::put(users::replace_metadata).patch(users::merge_metadata),
        )
        .route("/v1/users/{id}/ban", post(users::ban))
        .route("/v1/users/{id}/unban", post(users::unban))
        .route("/v1/users/{id}/lock", post(users::lock))
        .route("/v1/users/{id}/unlock", post(users::unlock))
        .route(
            "/v1/users/{id}/mfa",
            axum::routing::delete(mfa::disable_mfa),
        )
        .route(
            "/v1/users/{id}/totp",
            axum::routing::delete(mfa::delete_totp),
        )
        .route(
            "/v1/users/{id}/backup_code",
            axum::routing::delete(mfa::delete_backup_codes),
        )
        .route("/v1/users/{id}/verify_totp", post(mfa::verify_totp))
        .route(
            "/v1/users/{id}/verify_password",
            post(users::verify_password),
        )
        .route(
            "/v1/email_addresses/{id}",
            get(identifications::get_email_address).delete(identifications::delete_email_address),
        )
        .route(
            "/v1/users/{id}/passkeys/{passkey_id}",
            axum::routing::delete(mfa::delete_passkey),
        )
        .route("/v1/phone_numbers", post(mfa::create_phone_number))
        .route(
            "/v1/phone_numbers/{id}",
            get(identifications::get_phone_number)
                .patch(mfa::update_phone_number)
                .delete(identifications::delete_phone_number),
        )
        .route("/v1/sign_in_tokens", post(sign_in_tokens::create))
        .route(
            "/v1/sign_in_tokens/{id}/revoke",
            post(sign_in_tokens::revoke),
        )
        .route("/v1/sessions", get(sessions::list))
        .route("/v1/sessions/{id}", get(sessions::get))
        .route("/v1/sessions/{id}/revoke", post(sessions::revoke))
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            require_secret_key,
        ))
}

/// Missing credentials: `authentication_invalid`; a wrong key: `clerk_key_invalid`. Both 401.
async fn require_secret_key(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        None | Some("") => ApiError(Error::AuthenticationInvalid {
            reason: "send your secret key as Authorization: Bearer sk_…".into(),
        })
        .into_response(),
        Some(key)
            if vestibule_crypto::constant_time_eq(
                key.as_bytes(),
                state.instance.secret_key.as_bytes(),
            ) =>
        {
            next.run(req).await
        }
        Some(_) => ApiError(Error::ClerkKeyInvalid).into_response(),
    }
}

/// `GET /v1/jwks`: what `verifyToken({secretKey, apiUrl})` fetches.
async fn jwks(State(state): State<AppState>) -> Json<vestibule_crypto::Jwks> {
    Json(state.keys.jwks())
}
