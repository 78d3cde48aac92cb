//! The second step of a sign-in: the account's second factor (`needs_second_factor`: TOTP, a
//! backup code, or a code by SMS to a phone kept for MFA), or the confirmation of a client new to
//! the account (`needs_client_trust`: a code or link to its email address or phone number).
//! Every wrong guess counts toward the account's lockout, as first-factor guesses do.

use super::{finish, load, respond, SignInResponse};
use crate::codes::{deliver, target};
use crate::error::ApiResult;
use crate::guesses;
use crate::identity::ClientIdentity;
use crate::limits::{self, ClientIp};
use crate::messages;
use crate::params::Params;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Extension;
use vestibule_model::rate_limit::LimitKey;
use vestibule_model::{Error, SignInStatus, Step, Strategy, VerificationId};
use vestibule_store::sign_ins;

/// The strategy of a second-factor call; anything else is a first factor or unknown.
fn second_factor_strategy(params: &Params) -> ApiResult<Strategy> {
    let name = params.required("strategy")?;
    match Strategy::parse(name) {
        Some(s) if s.serves(Step::SecondFactor) || s.serves(Step::ClientTrust) => Ok(s),
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
    let user = l.account()?.clone();
    crate::codes::channel_of(&strategy)?;
    let awaited = l.si.awaited_second_factors(&user, &state.settings);
    let identification = target(&params, &strategy, &awaited)?;
    let now = state.now();
    // Confirming a new client says so; a second factor is a plain verification code.
    let step = match l.si.status() {
        SignInStatus::NeedsClientTrust => Step::ClientTrust,
        _ => Step::SecondFactor,
    };
    let purpose = strategy.purpose(step);
    let request = crate::codes::request(
        &state,
        strategy,
        identification.clone(),
        params.non_empty("redirect_url")?,
    )?;
    let v = l.si.prepare_second_factor(
        request,
        &user,
        &state.settings,
        now,
        VerificationId::generate(state.rng.as_ref()),
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
        return Err(Error::changed_elsewhere("sign-in").into());
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
    let user = l.account()?.clone();
    limits::check_all(
        &state,
        [
            LimitKey::AttemptByIp(ip.0.clone()),
            LimitKey::AttemptByUser(user.id.to_string()),
        ],
    )
    .await?;
    let code = guesses::guess(&params, &strategy)?;
    let pending =
        l.si.check_second_factor_attempt(&strategy, &user, &state.settings, state.now())?;
    let judged = guesses::judge(&state, &strategy, pending.as_ref(), Some(&user), code).await?;
    let now = state.now();
    let mut l = l;
    let progress = match &judged.sent {
        Some(sent) => l.si.second_factor_code_verified(sent, &user, now)?,
        None => l.si.second_factor_verified(strategy, &user, now)?,
    };
    finish(&state, &identity, l, progress, judged.proven).await
}
