//! The user's password and the account itself, as clerk-js's `User` changes them:
//! `updatePassword`, `removePassword` and `delete`.
//!
//! The current password is a guess at a secret like a sign-in's: counted against the account's
//! lockout before it is judged, and un-counted only in the transaction that makes the change.

use super::{current, envelope, respond, Me, UserResponse};
use crate::error::ApiResult;
use crate::guesses::{self, Proven};
use crate::identity::ClientIdentity;
use crate::limits::{self, ClientIp};
use crate::mfa;
use crate::params::Params;
use crate::passwords::MAX_PASSWORD_BYTES;
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::{Extension, Json};
use vestibule_model::rate_limit::LimitKey;
use vestibule_model::{Error, Session, SessionStatus, User};
use vestibule_store::{sessions, users};
use vestibule_wire as wire;

/// Proves the user knows their current password (`current_password`). Without a password there
/// is nothing to know, and the session must have verified a factor recently instead.
async fn prove_current_password(
    state: &AppState,
    ip: &ClientIp,
    params: &Params,
    session: &Session,
    user: &User,
) -> ApiResult<Option<Proven>> {
    if !user.has_password() {
        mfa::check_recent_verification(state, session, user, state.now())?;
        return Ok(None);
    }
    let guess = params.required("current_password")?;
    limits::check_all(
        state,
        [
            LimitKey::AttemptByIp(ip.0.clone()),
            LimitKey::AttemptByUser(user.id.to_string()),
        ],
    )
    .await?;
    let proven = guesses::password(state, Some(user), guess)
        .await?
        .or(Error::PasswordIncorrect.at_param("current_password"))?;
    Ok(Some(proven))
}

fn password_enabled(state: &AppState) -> ApiResult<()> {
    if state.settings.password.enabled {
        Ok(())
    } else {
        Err(Error::ResourceForbidden {
            reason: "Passwords are not enabled on this instance".into(),
        }
        .into())
    }
}

/// `POST /v1/me/change_password` with `new_password`, `current_password` (when the user has
/// one) and `sign_out_of_other_sessions`: the new password meets the policy and is not a common
/// one; other sessions end if asked.
pub async fn change_password(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Extension(ip): Extension<ClientIp>,
    RawQuery(query): RawQuery,
    params: Params,
) -> ApiResult<UserResponse> {
    params.only(&[
        "current_password",
        "new_password",
        "sign_out_of_other_sessions",
    ])?;
    let Me {
        client,
        session,
        user,
    } = current(&state, &identity, query.as_deref()).await?;
    password_enabled(&state)?;
    let new_password = params.required("new_password")?;
    if new_password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::PasswordTooLong {
            max: state.settings.password.max_length,
        }
        .at_param("new_password")
        .into());
    }
    state
        .settings
        .password
        .check(new_password)
        .map_err(|e| e.at_param("new_password"))?;
    let sign_out_others = params.bool("sign_out_of_other_sessions")?.unwrap_or(false);
    // Two inputs compared, no secret: refused before a guess is spent on the current password.
    if user.has_password() && params.str("current_password")? == Some(new_password) {
        return Err(Error::NewPasswordMatchesCurrent.into());
    }
    let proven = prove_current_password(&state, &ip, &params, &session, &user).await?;
    let digest = state.passwords.hash(new_password).await?;
    let now = state.now();
    let mut tx = state.store.begin().await?;
    if let Some(proven) = proven {
        proven.settle(&state, &mut tx, Some(&client.id)).await?;
    }
    if !users::set_password(&mut tx, &user.id, Some(&digest), now).await? {
        return Err(Error::SignedOut.into());
    }
    if sign_out_others {
        sessions::end_all_for_user(
            &mut tx,
            &user.id,
            SessionStatus::Revoked,
            now,
            Some(&session.id),
        )
        .await?;
    }
    tx.commit().await?;
    tracing::info!(user = %user.id, sign_out_others, "password changed by its user");
    let mut user = user;
    user.password = Some(digest);
    user.updated_at = now;
    respond(&state, &identity, &client, &user).await
}

/// `POST /v1/me/remove_password` with `current_password`: only while the user can still sign
/// in another way.
pub async fn remove_password(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Extension(ip): Extension<ClientIp>,
    RawQuery(query): RawQuery,
    params: Params,
) -> ApiResult<UserResponse> {
    params.only(&["current_password"])?;
    let Me {
        client,
        session,
        user,
    } = current(&state, &identity, query.as_deref()).await?;
    if !user.has_password() {
        return Err(Error::param_value_invalid("password", "is not set for this account").into());
    }
    if !user.signs_in_without_password(&state.settings) {
        return Err(Error::PasswordRemovalFailed.into());
    }
    let proven = prove_current_password(&state, &ip, &params, &session, &user).await?;
    let now = state.now();
    let mut tx = state.store.begin().await?;
    if let Some(proven) = proven {
        proven.settle(&state, &mut tx, Some(&client.id)).await?;
    }
    if !users::set_password(&mut tx, &user.id, None, now).await? {
        return Err(Error::SignedOut.into());
    }
    tx.commit().await?;
    tracing::info!(user = %user.id, "password removed by its user");
    let mut user = user;
    user.password = None;
    user.updated_at = now;
    respond(&state, &identity, &client, &user).await
}

/// `DELETE /v1/me`, where the instance lets users delete themselves (`[settings.actions]
/// delete_self`): after a recent verification, the user's sessions end and the user, their
/// identifiers and factors are gone.
pub async fn delete(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<wire::Envelope<wire::DeletedObject>>> {
    let Me {
        client,
        session,
        user,
    } = current(&state, &identity, query.as_deref()).await?;
    if !state.settings.actions.delete_self {
        return Err(Error::ResourceForbidden {
            reason: "Users cannot delete their own account on this instance".into(),
        }
        .into());
    }
    mfa::check_recent_verification(&state, &session, &user, state.now())?;
    let mut tx = state.store.begin().await?;
    sessions::end_all_for_user(&mut tx, &user.id, SessionStatus::Removed, state.now(), None)
        .await?;
    if !users::delete(&mut tx, &user.id).await? {
        return Err(Error::SignedOut.into());
    }
    tx.commit().await?;
    tracing::info!(user = %user.id, "account deleted by its user");
    let deleted = wire::DeletedObject {
        object: "user".into(),
        id: user.id.to_string(),
        deleted: true,
    };
    envelope(&state, &identity, &client, deleted).await
}
