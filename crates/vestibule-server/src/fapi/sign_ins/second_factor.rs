//! The second step of a sign-in: the account's second factor (`needs_second_factor`: TOTP, a
//! backup code, or a code by SMS to a phone kept for MFA), or the confirmation of a client new to
//! the account (`needs_client_trust`: a code or link to its email address or phone number).
//! Every wrong guess counts toward the account's lockout, as first-factor guesses do.

use super::step::SignInStep;
use super::{load, SignInResponse};
use crate::error::ApiResult;
use crate::guesses;
use crate::identity::ClientIdentity;
use crate::limits::{self, ClientIp};
use crate::params::Params;
use crate::state::AppState;
use crate::steps;
use axum::extract::{Path, State};
use axum::Extension;
use vestibule_model::rate_limit::LimitKey;
use vestibule_model::verification::Slot;
use vestibule_model::{Error, Step, Strategy};

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
    let l = load(&state, &identity, &id).await?;
    l.si.ensure_second_factor_awaited(state.now())?;
    let strategy = second_factor_strategy(&params)?;
    let mut step = SignInStep::loaded(&identity, l, Slot::SecondFactor);
    step.signing()?;
    steps::prepare(&state, &mut step, &params, strategy).await?;
    step.respond(&state, None).await
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
    let mut step = SignInStep::loaded(&identity, l, Slot::SecondFactor);
    let user = step.signing()?;
    limits::check_all(
        &state,
        [
            LimitKey::AttemptByIp(ip.0.clone()),
            LimitKey::AttemptByUser(user.id.to_string()),
        ],
    )
    .await?;
    let code = guesses::guess(&params, &strategy)?;
    let done = steps::attempt(&state, &mut step, strategy, code).await?;
    step.respond(&state, done.saved).await
}
