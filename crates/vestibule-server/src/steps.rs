//! A step that proves a factor, whichever flow it belongs to: a sign-in's first step, its second
//! step (a second factor, or the confirmation of a new client), or a session's reverification.
//! Each flow says what its model allows and how it is written ([`Flow`]); preparing a step
//! (sending a code or link) and attempting one (judging a guess, then one transaction) are written
//! once, here, for all of them. A new kind of proof plugs in below: its preparation beside
//! [`prepare`], its verifier in [`crate::guesses`].

use crate::codes::{self, deliver};
use crate::error::ApiResult;
use crate::guesses::{self, Awaited};
use crate::limits;
use crate::messages;
use crate::params::Params;
use crate::state::AppState;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use std::future::Future;
use vestibule_courier::Purpose;
use vestibule_model::rate_limit::LimitKey;
use vestibule_model::user::Factor;
use vestibule_model::verification::{CodeRequest, CodeVerification};
use vestibule_model::{ClientId, Error, Step, Strategy, Timestamp, User, VerificationId};
use vestibule_store::{passkeys, verifications, Tx};

/// A flow a factor is proved in. The model decides (`begin_code`, `pending`, `proved`); the flow
/// is written last, in the step's transaction, conditionally on what was read (`save`).
pub(crate) trait Flow {
    /// What writing the flow returns to its handler.
    type Saved;

    /// The step this flow's factor proves; it decides what a sent message says.
    fn step(&self) -> Step;

    /// The account proving it; `None` for an unknown account under enumeration protection,
    /// which is sent nothing and whose guesses never match.
    fn account(&self) -> Option<&User>;

    /// The client the step is taken on.
    fn client_id(&self) -> &ClientId;

    /// The factors this step offers the account, from which a prepare call's address defaults.
    fn offered(&self, state: &AppState) -> Vec<Factor>;

    /// Records a code or link about to go out; refuses a strategy or address the step does not
    /// take, as it would for a real account.
    fn begin_code(
        &mut self,
        state: &AppState,
        request: CodeRequest,
        id: VerificationId,
    ) -> ApiResult<CodeVerification>;

    /// Records a message handed out for one of the account's wallets to sign; refuses a wallet
    /// or strategy the step does not take. Flows that take no signatures keep the default.
    fn begin_signature(
        &mut self,
        _state: &AppState,
        _request: CodeRequest,
        _message: String,
        _id: VerificationId,
    ) -> ApiResult<CodeVerification> {
        Err(Error::StrategyForUserInvalid.into())
    }

    /// Records a passkey challenge (`nonce`: the request options) handed out for this step;
    /// refuses when the step takes no passkey. Flows that take none keep the default.
    fn begin_passkey(
        &mut self,
        _state: &AppState,
        _nonce: String,
        _id: VerificationId,
    ) -> ApiResult<CodeVerification> {
        Err(Error::StrategyForUserInvalid.into())
    }

    /// The proof named `user` as its account (a passkey's credential). A flow that knew its
    /// account takes only that one; one that did not (a discoverable passkey sign-in) is now
    /// theirs.
    fn named(&mut self, _state: &AppState, user: User) -> ApiResult<()> {
        match self.account() {
            Some(u) if u.id == user.id => Ok(()),
            _ => Err(Error::IdentifierNotFound.into()),
        }
    }

    /// Whether `strategy` may be attempted now, and what a guess must match when the step waits
    /// for something it started (a sent code, a message to sign). A locked account is refused
    /// here, before any guess is looked at.
    fn pending(&self, state: &AppState, strategy: &Strategy) -> ApiResult<Option<Awaited>>;

    /// A guess at `strategy` (the sent code `sent`, if it was one) was right: the flow moves on.
    fn proved(
        &mut self,
        state: &AppState,
        strategy: Strategy,
        sent: Option<&CodeVerification>,
    ) -> ApiResult<()>;

    /// Writes the flow inside `tx` (which holds the step's own writes), conditionally on the
    /// version read, and commits.
    fn save(
        &mut self,
        state: &AppState,
        tx: Tx,
    ) -> impl Future<Output = ApiResult<Self::Saved>> + Send;
}

/// `prepare_*` for any flow: the address the call names (or the step's default for the
/// strategy), checked by the flow's model, then sent.
pub(crate) async fn prepare<F: Flow>(
    state: &AppState,
    flow: &mut F,
    params: &Params,
    strategy: Strategy,
) -> ApiResult<F::Saved> {
    if strategy == Strategy::Passkey {
        return challenge(state, flow).await;
    }
    let identification = codes::target(params, &strategy, &flow.offered(state))?;
    if strategy.chain().is_some() {
        let request = CodeRequest {
            strategy,
            identification,
            redirect_url: None,
        };
        return hand_out(state, flow, request).await;
    }
    let request = codes::request(
        state,
        strategy,
        identification,
        params.non_empty("redirect_url")?,
    )?;
    send(state, flow, request).await
}

/// Sends a code or link: the flow's model accepts it first, so only an address of the step's
/// account spends that address's message budget; then, in one transaction, it is stored, its
/// message queued and the flow written, so the message exists exactly when the step does.
pub(crate) async fn send<F: Flow>(
    state: &AppState,
    flow: &mut F,
    request: CodeRequest,
) -> ApiResult<F::Saved> {
    let identification = request.identification.to_string();
    let outgoing = begin(state, flow, request)?;
    limits::check(state, LimitKey::MessagesToIdentification(identification)).await?;
    outgoing.send(state, flow).await
}

/// Hands out a fresh message for a wallet to sign: the flow's model accepts the wallet first,
/// the hand-out is counted as an attempt against the account (nothing is sent, so no message
/// budget is spent), then in one transaction the verification that makes the message single
/// use is stored and the flow written. The message, derived from the verification's id, travels
/// in the step's verification.
pub(crate) async fn hand_out<F: Flow>(
    state: &AppState,
    flow: &mut F,
    request: CodeRequest,
) -> ApiResult<F::Saved> {
    let id = VerificationId::generate(state.rng.as_ref());
    let message = state.secrets.message_to_sign(id.as_str());
    let v = flow.begin_signature(state, request, message, id)?;
    if let Some(user) = flow.account() {
        limits::check(state, LimitKey::AttemptByUser(user.id.to_string())).await?;
    }
    let mut tx = state.store.begin().await?;
    verifications::insert(&mut tx, &v, None, None).await?;
    flow.save(state, tx).await
}

/// Hands out a passkey challenge: request options listing the account's passkeys (none before
/// the account is known: any discoverable passkey of this RP may answer), counted as an attempt
/// against the account like a wallet's message; then in one transaction the verification that
/// makes the challenge single use is stored with the ceremony, and the flow written.
pub(crate) async fn challenge<F: Flow>(state: &AppState, flow: &mut F) -> ApiResult<F::Saved> {
    let rp = state.relying_party()?;
    let allow = match flow.account() {
        Some(user) => {
            let mut conn = state.store.read().await?;
            let ids = passkeys::credential_ids(&mut conn, &user.id).await?;
            ids.iter()
                .filter_map(|id| URL_SAFE_NO_PAD.decode(id).ok())
                .collect()
        }
        None => Vec::new(),
    };
    let ceremony = rp
        .start_authentication(&allow)
        .map_err(|e| Error::internal(e.to_string()))?;
    let id = VerificationId::generate(state.rng.as_ref());
    let v = flow.begin_passkey(state, ceremony.options_json, id)?;
    if let Some(user) = flow.account() {
        limits::check(state, LimitKey::AttemptByUser(user.id.to_string())).await?;
    }
    let mut tx = state.store.begin().await?;
    verifications::insert_challenge(&mut tx, &v, &URL_SAFE_NO_PAD.encode(&ceremony.state)).await?;
    flow.save(state, tx).await
}

/// A code or link the flow's model has accepted, to deliver in the step's transaction.
pub(crate) struct Outgoing {
    code: CodeVerification,
    purpose: Purpose,
    to: Option<String>,
    at: Timestamp,
}

/// [`send`]'s first half, for a caller that counted the message budget itself (`create`, which
/// counts every limit of the request in one write).
pub(crate) fn begin<F: Flow>(
    state: &AppState,
    flow: &mut F,
    request: CodeRequest,
) -> ApiResult<Outgoing> {
    let at = state.now();
    let purpose = request.strategy.purpose(flow.step());
    let identification = request.identification.clone();
    let code = flow.begin_code(state, request, VerificationId::generate(state.rng.as_ref()))?;
    let to = flow
        .account()
        .and_then(|u| u.identification_value(&identification))
        .map(str::to_owned);
    Ok(Outgoing {
        code,
        purpose,
        to,
        at,
    })
}

impl Outgoing {
    /// In one transaction: stores the verification, queues its message and writes the flow;
    /// then wakes the courier.
    pub(crate) async fn send<F: Flow>(self, state: &AppState, flow: &mut F) -> ApiResult<F::Saved> {
        let mut tx = state.store.begin().await?;
        deliver(
            state,
            &mut tx,
            &self.code,
            self.purpose,
            self.to.as_deref(),
            self.at,
        )
        .await?;
        let saved = flow.save(state, tx).await?;
        messages::sent(state);
        Ok(saved)
    }
}

/// What a right guess left.
pub(crate) struct Attempted<S> {
    /// What the flow's write returned.
    pub saved: S,
    /// A password matched whose digest should be stored again with current parameters.
    pub rehash: bool,
}

/// `attempt_*` for any flow: the flow says whether `strategy` may be attempted, the guess is
/// judged (counted first), the flow moves on, and in one transaction what proved the guess is
/// used up and the flow written.
pub(crate) async fn attempt<F: Flow>(
    state: &AppState,
    flow: &mut F,
    strategy: Strategy,
    guess: &str,
) -> ApiResult<Attempted<F::Saved>> {
    let pending = flow.pending(state, &strategy)?;
    let mut judged =
        guesses::judge(state, &strategy, pending.as_ref(), flow.account(), guess).await?;
    if let Some(user) = judged.named.take() {
        flow.named(state, user)?;
    }
    flow.proved(state, strategy, judged.sent.as_ref())?;
    let rehash = judged.proven.needs_rehash();
    let mut tx = state.store.begin().await?;
    judged
        .proven
        .settle(state, &mut tx, Some(flow.client_id()))
        .await?;
    let saved = flow.save(state, tx).await?;
    Ok(Attempted { saved, rehash })
}
