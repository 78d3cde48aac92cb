//! Preparing and attempting first factors: the password, codes by email or SMS, email links.

use super::step::SignInStep;
use super::{load, parse_strategy, upgrade_password, SignInResponse};
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
use vestibule_model::Error;

/// `POST /v1/client/sign_ins/{id}/prepare_first_factor`: sends a code or link. Only an address of
/// this sign-in's account spends a message budget (the model refuses any other first), so nobody
/// can use up someone else's by naming it.
pub async fn prepare_first_factor(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<SignInResponse> {
    let l = load(&state, &identity, &id).await?;
    let strategy =
        parse_strategy(&state, &params)?.ok_or_else(|| Error::param_missing("strategy"))?;
    // Named, as clerk-js always does: a first factor has no default address to fall back on.
    // A passkey challenge goes to no address.
    if strategy != vestibule_model::Strategy::Passkey {
        params.required(crate::codes::identification_param(&strategy)?)?;
    }
    let mut step = SignInStep::loaded(&identity, l, Slot::FirstFactor);
    steps::prepare(&state, &mut step, &params, strategy).await?;
    step.respond(&state, None).await
}

/// `POST /v1/client/sign_ins/{id}/attempt_first_factor`: a password, or a code that was sent.
pub async fn attempt_first_factor(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Extension(ip): Extension<ClientIp>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<SignInResponse> {
    let l = load(&state, &identity, &id).await?;
    let strategy =
        parse_strategy(&state, &params)?.ok_or_else(|| Error::param_missing("strategy"))?;
    let target = match &l.user {
        Some(u) => u.id.to_string(),
        // No account yet (a discoverable passkey sign-in): the sign-in's own attempts.
        None => {
            l.si.identifier()
                .map(|i| i.value.clone())
                .unwrap_or_else(|| l.si.id.to_string())
        }
    };
    limits::check_all(
        &state,
        [
            LimitKey::AttemptByIp(ip.0.clone()),
            LimitKey::AttemptByUser(target),
        ],
    )
    .await?;
    let guess = guesses::guess(&params, &strategy)?;
    let mut step = SignInStep::loaded(&identity, l, Slot::FirstFactor);
    let done = steps::attempt(&state, &mut step, strategy, guess).await?;
    if done.rehash {
        upgrade_password(&state, step.signing()?, guess).await;
    }
    step.respond(&state, done.saved).await
}
