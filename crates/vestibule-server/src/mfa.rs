//! Enrolling, checking and removing second factors: shared by the user's own calls
//! (`/v1/me/totp`, `/v1/me/backup_codes`) and the operator's (Backend API).

use crate::error::ApiResult;
use crate::state::AppState;
use vestibule_crypto::otp;
use vestibule_model::rng::base62;
use vestibule_model::{Error, IdentificationId, Timestamp, User, UserId};
use vestibule_store::second_factors::{self, TotpFactor};
use vestibule_store::{sessions, users, Connection};
use vestibule_wire as wire;

/// Starts enrolling an authenticator app: a new secret, kept unverified until a code from the
/// app proves it was set up. Returns the factor and the plain secret (shown once).
pub async fn start_totp(state: &AppState, user: &User) -> ApiResult<(TotpFactor, Vec<u8>)> {
    let rng = state.rng.as_ref();
    let secret = otp::new_totp_secret(rng);
    let now = state.now();
    let factor = TotpFactor {
        id: format!("totp_{}", base62(rng, 27)),
        user_id: user.id.clone(),
        secret: state.secrets.seal_totp(&secret, rng),
        verified: false,
        last_used_step: None,
        created_at: now,
        updated_at: now,
    };
    let mut tx = state.store.begin().await?;
    if !second_factors::put_unverified_totp(&mut tx, &factor).await? {
        return Err(Error::TotpAlreadyEnabled.into());
    }
    tx.commit().await?;
    Ok((factor, secret))
}

/// An operator's import: `secret` becomes the user's verified authenticator app, replacing any.
pub async fn import_totp(
    state: &AppState,
    tx: &mut Connection,
    user: &UserId,
    secret: &[u8],
) -> ApiResult<()> {
    let rng = state.rng.as_ref();
    let now = state.now();
    let factor = TotpFactor {
        id: format!("totp_{}", base62(rng, 27)),
        user_id: user.clone(),
        secret: state.secrets.seal_totp(secret, rng),
        verified: true,
        last_used_step: None,
        created_at: now,
        updated_at: now,
    };
    second_factors::replace_totp(tx, &factor).await?;
    Ok(())
}

/// Lengths (letters and digits, after normalising) of backup codes an operator may import; the
/// server's own are [`otp::BACKUP_CODE_LENGTH`].
pub const IMPORTED_BACKUP_CODE_LENGTHS: std::ops::RangeInclusive<usize> = 6..=32;

/// Replaces the user's backup codes with ten new ones inside `tx`, returning them in plain text
/// (the only time they are ever shown).
pub async fn new_backup_codes(
    state: &AppState,
    tx: &mut Connection,
    user: &UserId,
    now: Timestamp,
) -> ApiResult<(String, Vec<String>)> {
    let codes = otp::new_backup_codes(state.rng.as_ref());
    let set_id = store_backup_codes(state, tx, user, codes.clone(), now).await?;
    Ok((set_id, codes))
}

/// Replaces the user's backup codes with `codes` (hashed under a new salt) inside `tx`; returns
/// the new set's id.
pub async fn store_backup_codes(
    state: &AppState,
    tx: &mut Connection,
    user: &UserId,
    codes: Vec<String>,
    now: Timestamp,
) -> ApiResult<String> {
    let rng = state.rng.as_ref();
    let salt = base62(rng, 22);
    let set_id = format!("bcode_{}", base62(rng, 27));
    let hashes = {
        let salt = salt.clone();
        state
            .passwords
            .pool()
            .run(move || {
                codes
                    .iter()
                    .map(|c| otp::backup_code_hash(c, salt.as_bytes()))
                    .collect::<Vec<_>>()
            })
            .await
            .map_err(crate::passwords::pool_error)?
    };
    second_factors::replace_backup_codes(tx, user, &set_id, &salt, &hashes, now).await?;
    Ok(set_id)
}

/// After a second factor was enrolled: the user's sessions waiting on the `setup-mfa` task
/// become active.
pub async fn second_factor_enrolled(
    state: &AppState,
    tx: &mut Connection,
    user: &UserId,
) -> ApiResult<()> {
    sessions::activate_pending(tx, user, state.now()).await?;
    Ok(())
}

/// Removes the authenticator app and, with no second factor left, the backup codes (they are
/// only a fallback for one). `keep_one`: refuse to remove the last second factor (MFA required).
pub async fn remove_totp(tx: &mut Connection, user: &User, keep_one: bool) -> ApiResult<bool> {
    if keep_one && user.second_factor_phones().next().is_none() && user.totp_enabled {
        return Err(Error::SecondFactorDeletionNotAllowed.into());
    }
    let removed = second_factors::delete_totp(tx, &user.id).await?;
    if user.second_factor_phones().next().is_none() {
        second_factors::delete_backup_codes(tx, &user.id).await?;
    }
    Ok(removed)
}

/// Keeps a verified phone number of `user` for second factors, or stops keeping it. The first
/// one kept becomes the default; when the default one goes, another kept one takes its place;
/// with no second factor left, the backup codes go too. `keep_one`: refuse to remove the last
/// second factor (MFA required). When this phone is the user's first second factor, sessions
/// waiting to set one up become active, and with `issue_backup_codes` (and backup codes enabled)
/// a fresh set is returned, to be shown once.
pub async fn set_phone_reserved(
    state: &AppState,
    tx: &mut Connection,
    user: &User,
    phone_id: &IdentificationId,
    reserved: bool,
    keep_one: bool,
    issue_backup_codes: bool,
) -> ApiResult<Option<Vec<String>>> {
    let phone = user
        .phone_numbers
        .iter()
        .find(|p| &p.id == phone_id)
        .ok_or_else(|| Error::not_found_id("phone number", phone_id.as_str()))?;
    if !phone.verified {
        return Err(Error::SecondFactorIdentificationUnverified.into());
    }
    if reserved == phone.reserved_for_second_factor {
        return Ok(None);
    }
    let others: Vec<&IdentificationId> = user
        .second_factor_phones()
        .filter(|p| &p.id != phone_id)
        .map(|p| &p.id)
        .collect();
    if reserved {
        let first_second_factor = !user.has_second_factor();
        if !users::set_phone_second_factor(tx, &user.id, phone_id, true, others.is_empty()).await? {
            return Err(Error::not_found_id("phone number", phone_id.as_str()).into());
        }
        if !first_second_factor {
            return Ok(None);
        }
        second_factor_enrolled(state, tx, &user.id).await?;
        if issue_backup_codes && state.settings.mfa.backup_codes {
            let (_, codes) = new_backup_codes(state, tx, &user.id, state.now()).await?;
            return Ok(Some(codes));
        }
        return Ok(None);
    }
    let remains = user.totp_enabled || !others.is_empty();
    if keep_one && !remains {
        return Err(Error::SecondFactorDeletionNotAllowed.into());
    }
    if !users::set_phone_second_factor(tx, &user.id, phone_id, false, false).await? {
        return Err(Error::not_found_id("phone number", phone_id.as_str()).into());
    }
    if let (true, Some(next)) = (phone.default_second_factor, others.first()) {
        users::set_phone_second_factor(tx, &user.id, next, true, true).await?;
    }
    if !remains {
        second_factors::delete_backup_codes(tx, &user.id).await?;
    }
    Ok(None)
}

/// TOTP in wire form. `secret`: only right after enrolment started, never again.
pub fn totp_wire(
    state: &AppState,
    factor: &TotpFactor,
    account: &str,
    secret: Option<&[u8]>,
    backup_codes: Option<Vec<String>>,
) -> wire::Totp {
    wire::Totp {
        object: "totp".into(),
        id: factor.id.clone(),
        secret: secret.map(otp::base32),
        uri: secret.map(|s| otp::otpauth_uri(s, &state.settings.application_name, account)),
        verified: factor.verified,
        backup_codes,
        created_at: factor.created_at.0,
        updated_at: factor.updated_at.0,
    }
}

/// Whether a sensitive change (enrolling or removing a second factor) may go ahead in a session:
/// its strongest factor was verified within the reverification window (Clerk's `strict` level):
/// the second factor for a user who has one (the first, if none was given in this session), else
/// the first. A session pending its `setup-mfa` task exists to enrol one, so it may, however long
/// ago it signed in.
pub fn check_recent_verification(
    state: &AppState,
    session: &vestibule_model::Session,
    user: &User,
    now: Timestamp,
) -> ApiResult<()> {
    if session.status == vestibule_model::SessionStatus::Pending {
        return Ok(());
    }
    let last = match session.second_factor_verified_at {
        Some(second) if user.has_second_factor() => second,
        _ => session.first_factor_verified_at,
    };
    let window = state
        .settings
        .mfa
        .reverification_seconds
        .saturating_mul(1000);
    if now.0.saturating_sub(last.0) < window {
        Ok(())
    } else {
        Err(Error::SessionReverificationRequired.into())
    }
}
