//! Second factors arrive with enrolment (TOTP, backup codes, codes as MFA). Until a user can have
//! one, no sign-in reaches `needs_second_factor`, and these steps answer as Clerk answers a step
//! out of order.

use super::{load, SignInResponse};
use crate::error::ApiResult;
use crate::identity::ClientIdentity;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Extension;
use vestibule_model::Error;

async fn not_awaited(
    state: &AppState,
    identity: &ClientIdentity,
    id: &str,
) -> ApiResult<SignInResponse> {
    let l = load(state, identity, id).await?;
    Err(Error::client_state(format!(
        "a second factor is not awaited; the sign-in status is {}",
        l.si.status.as_str()
    ))
    .into())
}

/// `POST /v1/client/sign_ins/{id}/prepare_second_factor`
pub async fn prepare_second_factor(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
) -> ApiResult<SignInResponse> {
    not_awaited(&state, &identity, &id).await
}

/// `POST /v1/client/sign_ins/{id}/attempt_second_factor`
pub async fn attempt_second_factor(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
) -> ApiResult<SignInResponse> {
    not_awaited(&state, &identity, &id).await
}
