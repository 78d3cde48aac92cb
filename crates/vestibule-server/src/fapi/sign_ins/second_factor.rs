//! The second step of a sign-in: the account's second factor (`needs_second_factor`: TOTP, a
//! backup code, or a code by SMS to a phone kept for MFA), or the confirmation of a client new to
//! the account (`needs_client_trust`: a code or link to its email address or phone number).
//! Every wrong guess counts toward the account's lockout, as first-factor guesses do.

use super::first_factor::allowed_redirect;
use super::{finish, load, record_failure, respond, Loaded, SignInResponse};
use crate::codes::{check_code, deliver, target};
use crate::error::ApiResult;
use crate::identity::ClientIdentity;
use crate::limits::{self, ClientIp};
use crate::messages;
use crate::mfa::{self, BackupCodeGuess, TotpCheck};
use crate::params::Params;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Extension;
use vestibule_courier::Purpose;
use vestibule_model::rate_limit::LimitKey;
use vestibule_model::verification::is_delivered;
use vestibule_model::{Error, SignInStatus, Strategy, User, VerificationId};
use vestibule_store::{second_factors, sign_ins, verifications};

/// The strategy of a second-factor call; anything else is a first factor or unknown.
fn second_factor_strategy(params: &Params) -> ApiResult<Strategy> {
    let name = params.required("strategy")?;
    match Strategy::parse(name) {
        Some(
            s @ (Strategy::Totp
            | Strategy::BackupCode
            | Strategy::PhoneCode
            | Strategy::EmailCode
            | Strategy::EmailLink),
        ) => Ok(s),
        Some(_) => Err(Error::param_value_invalid(
            "strategy",
            format!("{name:?} is not a second factor"),
        )
        .into()),
        None => Err(Error::param_value_invalid(
            "strategy",
            format!("{name:?} is not a known strategy"),
        )
        .into()),
    }
}

/// The sign-in's account. A sign-in without one (not yet identified, or an unknown account under
/// enumeration protection) never gets as far as a second factor.
fn account(l: &Loaded) -> ApiResult<User> {
    l.user.clone().ok_or_else(|| {
        Error::client_state(format!(
            "a second factor is not awaited; the sign-in status is {}",
            l.si.status.as_str()
        ))
        .into()
    })
}

/// `POST /v1/client/sign_ins/{id}/prepare_second_factor`: sends a code (or, to confirm a new
/// client, a code or link). TOTP and backup codes need no preparation.
pub async fn prepare_second_factor(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<SignInResponse> {
    let mut l = load(&state, &identity, &id).await?;
    l.si.ensure_second_factor_awaited(state.now())?;
    let strategy = second_factor_strategy(&params)?;
    let user = account(&l)?;
    if !is_delivered(&strategy) {
        return Err(Error::param_value_invalid(
            "strategy",
            format!(
                "{} needs no preparation; attempt it directly",
                strategy.as_str()
            ),
        )
        .into());
    }
    let awaited = l.si.awaited_second_factors(&user, &state.settings);
    let identification = target(&params, &strategy, &awaited)?;
    let redirect_url = match strategy {
        Strategy::EmailLink => Some(allowed_redirect(&state, params.required("redirect_url")?)?),
        _ => None,
    };
    let now = state.now();
    // Confirming a new client says so; a second factor is a plain verification code.
    let purpose = match (&strategy, l.si.status) {
        (Strategy::EmailLink, _) => Purpose::SignInLink,
        (_, SignInStatus::NeedsClientTrust) => Purpose::ClientTrustCode,
        _ => Purpose::SecondFactorCode,
    };
    let v = l.si.prepare_second_factor(
        strategy,
        &identification,
        &user,
        &state.settings,
        now,
        VerificationId::generate(state.rng.as_ref()),
        redirect_url,
    )?;
    // Only now that it is one of the account's addresses does it spend that address's budget.
    limits::check(
        &state,
        LimitKey::MessagesToIdentification(identification.to_string()),
    )
    .await?;
    let mut tx = state.store.begin().await?;
    deliver(
        &state,
        &mut tx,
        &v,
        purpose,
        user.identification_value(&identification),
        now,
    )
    .await?;
    if !sign_ins::update(&mut tx, &l.si, l.version).await? {
        return Err(Error::client_state("this sign-in was changed by another request").into());
    }
    tx.commit().await?;
    messages::sent(&state);
    respond(&state, &identity, &l.si, Some(&user), &l.client, None).await
}

/// `POST /v1/client/sign_ins/{id}/attempt_second_factor`
pub async fn attempt_second_factor(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Extension(ip): Extension<ClientIp>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<SignInResponse> {
    let l = load(&state, &identity, &id).await?;
    l.si.ensure_second_factor_awaited(state.now())?;
    let strategy = second_factor_strategy(&params)?;
    let user = account(&l)?;
    limits::check_all(
        &state,
        [
            LimitKey::AttemptByIp(ip.0.clone()),
            LimitKey::AttemptByUser(user.id.to_string()),
        ],
    )
    .await?;
    if strategy == Strategy::EmailLink {
        return Err(Error::param_value_invalid(
            "strategy",
            "an email link is verified by opening it",
        )
        .into());
    }
    let code = params.required("code")?;
    let pending =
        l.si.check_second_factor_attempt(&strategy, &user, &state.settings, state.now())?;
    match strategy {
        Strategy::Totp => attempt_totp(&state, &identity, l, user, code).await,
        Strategy::BackupCode => attempt_backup_code(&state, &identity, l, user, code).await,
        _ => {
            let vid = pending.ok_or(Error::VerificationMissing)?;
            attempt_code(&state, &identity, l, user, &vid, code).await
        }
    }
}

/// A TOTP code: right for the current step or one either side, and for a step later than any
/// accepted before. Claiming the step is part of the sign-in's transaction, so of two requests
/// carrying the same code exactly one succeeds.
async fn attempt_totp(
    state: &AppState,
    identity: &ClientIdentity,
    l: Loaded,
    user: User,
    code: &str,
) -> ApiResult<SignInResponse> {
    let Loaded {
        client,
        mut si,
        version,
        ..
    } = l;
    let mut tx = state.store.begin().await?;
    match mfa::check_totp(state, &mut tx, &user.id, code, false).await? {
        None => return Err(Error::StrategyForUserInvalid.into()),
        Some(TotpCheck::Rejected) => {
            drop(tx);
            record_failure(state, &user).await?;
            return Err(Error::CodeIncorrect.into());
        }
        Some(TotpCheck::Accepted) => {}
    }
    let progress = si.second_factor_verified(Strategy::Totp, &user, state.now())?;
    finish(state, identity, tx, client, si, version, &user, progress).await
}

/// A backup code: hashed with the account's salt and used in the sign-in's transaction, so each
/// code completes at most one sign-in.
async fn attempt_backup_code(
    state: &AppState,
    identity: &ClientIdentity,
    l: Loaded,
    user: User,
    code: &str,
) -> ApiResult<SignInResponse> {
    let Loaded {
        client,
        mut si,
        version,
        ..
    } = l;
    let hash = match mfa::backup_code_guess(state, &user.id, code).await? {
        BackupCodeGuess::NoCodes => return Err(Error::StrategyForUserInvalid.into()),
        BackupCodeGuess::Malformed => {
            record_failure(state, &user).await?;
            return Err(Error::CodeIncorrect.into());
        }
        BackupCodeGuess::Hash(hash) => hash,
    };
    let now = state.now();
    let progress = si.second_factor_verified(Strategy::BackupCode, &user, now)?;
    let mut tx = state.store.begin().await?;
    if !second_factors::use_backup_code(&mut tx, &user.id, &hash, now).await? {
        drop(tx);
        record_failure(state, &user).await?;
        return Err(Error::CodeIncorrect.into());
    }
    finish(state, identity, tx, client, si, version, &user, progress).await
}

/// A code sent by email or SMS for this step.
async fn attempt_code(
    state: &AppState,
    identity: &ClientIdentity,
    l: Loaded,
    user: User,
    vid: &VerificationId,
    code: &str,
) -> ApiResult<SignInResponse> {
    let Loaded {
        client,
        mut si,
        version,
        ..
    } = l;
    let stored = check_code(state, vid, code, Some(&user)).await?;
    let now = state.now();
    let progress = si.second_factor_code_verified(&stored, &user, now)?;
    let mut tx = state.store.begin().await?;
    if !verifications::mark_verified(&mut tx, vid, now, Some(&client.id)).await? {
        return Err(Error::VerificationAlreadyVerified.into());
    }
    finish(state, identity, tx, client, si, version, &user, progress).await
}
