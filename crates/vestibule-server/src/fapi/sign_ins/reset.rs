//! `POST /v1/client/sign_ins/{id}/reset_password`: the new password after a reset code.

use super::step::SignInStep;
use super::{load, SignInResponse};
use crate::error::ApiResult;
use crate::identity::ClientIdentity;
use crate::params::Params;
use crate::passwords::MAX_PASSWORD_BYTES;
use crate::state::AppState;
use crate::steps::Flow;
use axum::extract::{Path, State};
use axum::Extension;
use vestibule_model::verification::Slot;
use vestibule_model::{Error, SessionStatus};
use vestibule_store::{sessions, users};

/// Sets the new password (policy-checked), optionally ends the user's other sessions, then
/// completes the sign-in, or asks for the second factor: a reset never bypasses MFA.
pub async fn reset_password(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<SignInResponse> {
    let l = load(&state, &identity, &id).await?;
    l.si.check_new_password(state.now())?;
    let user = l
        .user
        .clone()
        .ok_or_else(|| Error::client_state("a new password is not awaited"))?;
    let password = params.required("password")?;
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::PasswordTooLong {
            max: state.settings.password.max_length,
        }
        .into());
    }
    state.settings.password.check(password)?;
    let sign_out_others = params.bool("sign_out_of_other_sessions")?.unwrap_or(false);
    let digest = state.passwords.hash(password).await?;
    let now = state.now();
    let mut step = SignInStep::loaded(&identity, l, Slot::FirstFactor);
    step.progress = step.si.new_password_set(&user, now)?;
    let mut tx = state.store.begin().await?;
    users::set_password(&mut tx, &user.id, Some(&digest), now).await?;
    if sign_out_others {
        sessions::end_all_for_user(&mut tx, &user.id, SessionStatus::Revoked, now, None).await?;
    }
    let created = step.save(&state, tx).await?;
    step.respond(&state, created).await
}
