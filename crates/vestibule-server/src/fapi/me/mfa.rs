//! The user's own second factors, as clerk-js's `User` manages them: an authenticator app
//! (`createTOTP`, `verifyTOTP`, `disableTOTP`) and backup codes (`createBackupCode`).
//!
//! Adding or removing a factor needs a factor verified within the reverification window (403
//! `session_reverification_required` otherwise, which clerk-js's `useReverification` answers);
//! confirming an enrolment with a code does not, as in Clerk. Wrong codes count toward the
//! account's lockout like any other failed verification.

use super::{current, envelope, Me};
use crate::error::ApiResult;
use crate::guesses;
use crate::identity::ClientIdentity;
use crate::limits::{self, ClientIp};
use crate::mfa;
use crate::params::Params;
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::{Extension, Json};
use vestibule_model::rate_limit::LimitKey;
use vestibule_model::user::LockState;
use vestibule_model::Error;
use vestibule_store::{second_factors, sessions};
use vestibule_wire as wire;

fn ensure_enabled(enabled: bool, what: &str) -> ApiResult<()> {
    if enabled {
        Ok(())
    } else {
        Err(Error::ResourceForbidden {
            reason: format!("{what} is not enabled on this instance"),
        }
        .into())
    }
}

/// `POST /v1/me/totp`: a new authenticator-app secret and its `otpauth://` URI, shown once.
pub async fn create_totp(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<wire::Envelope<wire::Totp>>> {
    ensure_enabled(state.settings.mfa.authenticator_app, "An authenticator app")?;
    let Me {
        client,
        session,
        user,
    } = current(&state, &identity, query.as_deref()).await?;
    mfa::check_recent_verification(&state, &session, &user, state.now())?;
    if user.totp_enabled {
        return Err(Error::TotpAlreadyEnabled.into());
    }
    let (factor, secret) = mfa::start_totp(&state, &user).await?;
    let account = user
        .display_identifier()
        .unwrap_or_else(|| user.id.to_string());
    let totp = mfa::totp_wire(&state, &factor, &account, Some(&secret), None);
    envelope(&state, &identity, &client, totp).await
}

/// `POST /v1/me/totp/attempt_verification`: the first code from the app enables it; the answer
/// carries a fresh set of backup codes when the instance offers them. Sessions waiting on the
/// `setup-mfa` task become active, and this session's second factor counts as just verified.
pub async fn verify_totp(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Extension(ip): Extension<ClientIp>,
    RawQuery(query): RawQuery,
    params: Params,
) -> ApiResult<Json<wire::Envelope<wire::Totp>>> {
    let Me {
        client,
        session,
        user,
    } = current(&state, &identity, query.as_deref()).await?;
    let code = params.required("code")?;
    limits::check_all(
        &state,
        [
            LimitKey::AttemptByIp(ip.0.clone()),
            LimitKey::AttemptByUser(user.id.to_string()),
        ],
    )
    .await?;
    if let LockState::Locked(expires_in_seconds) = user.lock_state(state.now()) {
        return Err(Error::UserLocked { expires_in_seconds }.into());
    }
    let proven = match guesses::totp(&state, &user.id, code, true).await? {
        None if user.totp_enabled => return Err(Error::TotpAlreadyEnabled.into()),
        None => {
            return Err(Error::client_state("no authenticator app is being set up").into());
        }
        Some(verdict) => verdict.or(Error::CodeIncorrect)?,
    };
    let now = state.now();
    let mut tx = state.store.begin().await?;
    proven.settle(&state, &mut tx, Some(&client.id)).await?;
    let backup_codes = if state.settings.mfa.backup_codes {
        Some(
            mfa::new_backup_codes(&state, &mut tx, &user.id, now)
                .await?
                .1,
        )
    } else {
        None
    };
    mfa::second_factor_enrolled(&state, &mut tx, &user.id).await?;
    sessions::second_factor_verified(&mut tx, &session.id, now).await?;
    let factor = second_factors::totp(&mut tx, &user.id)
        .await?
        .ok_or_else(|| Error::internal("the TOTP factor vanished while being verified"))?;
    tx.commit().await?;
    let account = user
        .display_identifier()
        .unwrap_or_else(|| user.id.to_string());
    let totp = mfa::totp_wire(&state, &factor, &account, None, backup_codes);
    envelope(&state, &identity, &client, totp).await
}

/// `DELETE /v1/me/totp`
pub async fn delete_totp(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<wire::Envelope<wire::DeletedObject>>> {
    let Me {
        client,
        session,
        user,
    } = current(&state, &identity, query.as_deref()).await?;
    mfa::check_recent_verification(&state, &session, &user, state.now())?;
    let mut tx = state.store.begin().await?;
    let factor = second_factors::totp(&mut tx, &user.id)
        .await?
        .ok_or_else(|| Error::not_found("TOTP"))?;
    mfa::remove_totp(&mut tx, &user, state.settings.mfa.required).await?;
    tx.commit().await?;
    let deleted = wire::DeletedObject {
        object: "totp".into(),
        id: factor.id,
        deleted: true,
    };
    envelope(&state, &identity, &client, deleted).await
}

/// `POST /v1/me/backup_codes`: a new set of ten, replacing any earlier set, shown once. Only
/// for accounts with another second factor (backup codes are its fallback).
pub async fn create_backup_codes(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<wire::Envelope<wire::BackupCodes>>> {
    ensure_enabled(state.settings.mfa.backup_codes, "Backup codes")?;
    let Me {
        client,
        session,
        user,
    } = current(&state, &identity, query.as_deref()).await?;
    mfa::check_recent_verification(&state, &session, &user, state.now())?;
    if !user.has_second_factor() {
        return Err(Error::BackupCodesNotAvailable.into());
    }
    let now = state.now();
    let mut tx = state.store.begin().await?;
    let (id, codes) = mfa::new_backup_codes(&state, &mut tx, &user.id, now).await?;
    tx.commit().await?;
    let response = wire::BackupCodes {
        object: "backup_code".into(),
        id,
        codes,
        created_at: now.0,
        updated_at: now.0,
    };
    envelope(&state, &identity, &client, response).await
}
