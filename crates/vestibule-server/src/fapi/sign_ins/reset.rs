//! `POST /v1/client/sign_ins/{id}/reset_password`: the new password after a reset code.

use super::{complete, load, respond, ClientWrite, SignInResponse};
use crate::error::ApiResult;
use crate::identity::ClientIdentity;
use crate::params::Params;
use crate::passwords::MAX_PASSWORD_BYTES;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Extension;
use vestibule_model::sign_in::Progress;
use vestibule_model::{Error, SessionStatus};
use vestibule_store::{sessions, sign_ins, users};

/// Sets the new password (policy-checked), optionally ends the user's other sessions, then
/// completes the sign-in, or asks for the second factor: a reset never bypasses MFA.
pub async fn reset_password(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<SignInResponse> {
    let super::Loaded {
        mut client,
        mut si,
        version,
        user,
    } = load(&state, &identity, &id).await?;
    si.check_new_password(state.now())?;
    let user = user.ok_or_else(|| Error::client_state("a new password is not awaited"))?;
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
    let progress = si.new_password_set(&user, now)?;
    let mut tx = state.store.begin().await?;
    users::set_password(&mut tx, &user.id, Some(&digest), now).await?;
    if sign_out_others {
        sessions::end_all_for_user(&mut tx, &user.id, SessionStatus::Revoked, now, None).await?;
    }
    let created = match progress {
        Progress::ReadyForSession => Some(
            complete(
                &state,
                &identity,
                &mut tx,
                &mut si,
                &user,
                &mut client,
                ClientWrite::Rotate,
                now,
            )
            .await?,
        ),
        Progress::NeedsMore => None,
    };
    if !sign_ins::update(&mut tx, &si, version).await? {
        return Err(Error::client_state("this sign-in was changed by another request").into());
    }
    tx.commit().await?;
    respond(&state, &identity, &si, Some(&user), &client, created).await
}
