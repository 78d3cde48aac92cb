//! Preparing and attempting first factors: the password, codes by email or SMS, email links.

use super::{conclude, finish, load, parse_strategy, respond, upgrade_password, SignInResponse};
use crate::codes::deliver;
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
use vestibule_model::verification::{CodeRequest, CodeVerification};
use vestibule_model::{
    Error, IdentificationId, Proof, SignIn, Step, Strategy, User, VerificationId,
};
use vestibule_store::{sign_ins, Connection};

/// Starts a code or link factor inside `tx`: stores the verification (only a keyed hash of the
/// code, or a hash of the link's token) and queues the message carrying it, so the message exists
/// exactly when the transaction commits. For an unknown account under enumeration protection
/// nothing is sent, and what is stored can never be matched.
pub(super) async fn start(
    state: &AppState,
    tx: &mut Connection,
    si: &mut SignIn,
    request: CodeRequest,
    user: Option<&User>,
) -> ApiResult<CodeVerification> {
    let now = state.now();
    let identification = request.identification.clone();
    let id = VerificationId::generate(state.rng.as_ref());
    let v = si.prepare_first_factor(request, user, &state.settings, now, id)?;
    deliver(
        state,
        tx,
        &v,
        v.strategy.purpose(Step::FirstFactor),
        user.and_then(|u| u.identification_value(&identification)),
        now,
    )
    .await?;
    Ok(v)
}

/// The email address or phone number a prepare call names.
pub(super) fn named_identification(
    params: &Params,
    strategy: &Strategy,
) -> ApiResult<IdentificationId> {
    let param = crate::codes::identification_param(strategy)?;
    let raw = params.required(param)?;
    IdentificationId::parse(raw)
        .ok_or_else(|| Error::param_format_invalid(param, "is not an identification id").into())
}

/// `POST /v1/client/sign_ins/{id}/prepare_first_factor`: sends a code or link.
pub async fn prepare_first_factor(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<SignInResponse> {
    let mut l = load(&state, &identity, &id).await?;
    let strategy =
        parse_strategy(&state, &params)?.ok_or_else(|| Error::param_missing("strategy"))?;
    let identification = named_identification(&params, &strategy)?;
    // Only an address of this sign-in's account spends a budget (`start` refuses any other), so
    // nobody can use up someone else's by naming it. An unknown account's stand-in answers as a
    // real account would: its own address is accepted, any other refused.
    let stand_in = match &l.user {
        Some(_) => None,
        None => super::factors::unknown_account(&state, &l.si),
    };
    let account = l.user.as_ref().or(stand_in.as_ref());
    let own = account.is_none_or(|u| u.identification_value(&identification).is_some());
    if own {
        limits::check(
            &state,
            LimitKey::MessagesToIdentification(identification.to_string()),
        )
        .await?;
    }
    let request = crate::codes::request(
        &state,
        strategy,
        identification,
        params.non_empty("redirect_url")?,
    )?;
    // Where `start` would refuse a real account's foreign address, in the same order.
    if let Some(s) = &stand_in {
        if s.factor(
            &state.settings,
            &request.strategy,
            Some(&request.identification),
        )
        .is_none()
        {
            return Err(Error::StrategyForUserInvalid.into());
        }
    }
    let mut tx = state.store.begin().await?;
    start(&state, &mut tx, &mut l.si, request, l.user.as_ref()).await?;
    if !sign_ins::update(&mut tx, &l.si, l.version).await? {
        return Err(Error::changed_elsewhere("sign-in").into());
    }
    tx.commit().await?;
    messages::sent(&state);
    respond(&state, &identity, &l.si, l.user.as_ref(), &l.client, None).await
}

/// `POST /v1/client/sign_ins/{id}/attempt_first_factor`
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
        None => {
            l.si.identifier()
                .map(|i| i.value.clone())
                .unwrap_or_default()
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
    match strategy.proof() {
        Proof::Password => attempt_password(&state, &identity, l, guess).await,
        Proof::SentCode(_) => attempt_code(&state, &identity, l, strategy, guess).await,
        // Not first factors; `parse_strategy` refuses them, and this keeps refusing.
        Proof::SentLink(_) | Proof::Totp | Proof::BackupCode | Proof::Unsupported => {
            Err(Error::StrategyForUserInvalid.into())
        }
    }
}

async fn attempt_password(
    state: &AppState,
    identity: &ClientIdentity,
    mut l: super::Loaded,
    password: &str,
) -> ApiResult<SignInResponse> {
    let Some(user) = l.user.as_ref() else {
        if l.si.is_unknown_account() {
            // Enumeration protection: as costly and as wrong as a real account's wrong password.
            guesses::password(state, None, password).await?;
            return Err(Error::PasswordIncorrect.into());
        }
        return Err(Error::client_state("an identifier is needed first").into());
    };
    l.si.check_first_factor_attempt(&Strategy::Password, user, &state.settings, state.now())?;
    let judged = guesses::judge(state, &Strategy::Password, None, Some(user), password).await?;
    let progress =
        l.si.first_factor_verified(Strategy::Password, user, &state.settings, state.now())?;
    let rehash = judged.proven.needs_rehash();
    let mut tx = state.store.begin().await?;
    judged.proven.settle(state, &mut tx, None).await?;
    let sessions = conclude(state, identity, tx, &mut l, progress).await?;
    let user = l.account()?;
    if rehash {
        upgrade_password(state, user, password).await;
    }
    respond(state, identity, &l.si, Some(user), &l.client, sessions).await
}

/// Checks a guessed code: counted (against the code's limit and the account's lockout) before it
/// is compared, each in one conditional statement, so parallel guesses cannot exceed either; a
/// right guess then wins the verification in another conditional statement, so exactly one of
/// several right guesses counts.
async fn attempt_code(
    state: &AppState,
    identity: &ClientIdentity,
    mut l: super::Loaded,
    strategy: Strategy,
    guess: &str,
) -> ApiResult<SignInResponse> {
    let vid =
        l.si.check_code_attempt(&strategy, l.user.as_ref(), state.now())?;
    let judged = guesses::judge(state, &strategy, Some(&vid), l.user.as_ref(), guess).await?;
    let sent = judged.sent.ok_or(Error::VerificationMissing)?;
    let user = l.account()?.clone();
    let progress =
        l.si.code_verified(&sent, &user, &state.settings, state.now())?;
    finish(state, identity, l, progress, judged.proven).await
}
