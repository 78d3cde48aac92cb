//! Reverification: `/v1/client/sessions/{id}/verify` and its steps, what clerk-js's
//! `session.startVerification` and the prepare/attempt calls after it send when a sensitive
//! change answered 403 `session_reverification_required`.
//!
//! A completed step restarts the session's factor age (`fva`), so the retried change passes the
//! reverification check, and the session in the answer carries a fresh token saying so. Every
//! wrong guess counts toward the account's lockout, as in sign-in.

use super::client::reload;
use super::sessions::{load, signed_in, user_of};
use crate::error::{ApiError, ApiResult};
use crate::guesses;
use crate::guesses::Awaited;
use crate::identity::ClientIdentity;
use crate::limits::{self, ClientIp};
use crate::params::Params;
use crate::present;
use crate::state::AppState;
use crate::steps::{self, Flow};
use axum::extract::{Path, State};
use axum::{Extension, Json};
use vestibule_model::rate_limit::LimitKey;
use vestibule_model::session_verification::{
    ReverificationLevel, SessionVerification, SessionVerificationStatus,
};
use vestibule_model::user::Factor;
use vestibule_model::verification::{CodeRequest, CodeVerification, Slot};
use vestibule_model::{
    Client, ClientId, Error, Session, SessionVerificationId, Step, Strategy, User, VerificationId,
};
use vestibule_store::{session_verifications, sessions, verifications, Tx};
use vestibule_wire as wire;

type VerificationResponse = Json<wire::Envelope<wire::SessionVerification>>;

/// The caller's signed-in session `id` and its user.
struct Signed {
    client: Client,
    session: Session,
    user: User,
}

async fn signed(state: &AppState, identity: &ClientIdentity, id: &str) -> ApiResult<Signed> {
    let (client, session) = load(state, identity, id).await?;
    signed_in(state, &session)?;
    let user = user_of(state, &session).await?;
    Ok(Signed {
        client,
        session,
        user,
    })
}

/// The session's reverification in progress, with its version.
async fn in_progress(state: &AppState, session: &Session) -> ApiResult<(SessionVerification, i64)> {
    let mut conn = state.store.read().await?;
    session_verifications::latest_for_session(&mut conn, &session.id)
        .await?
        .filter(|(sv, _)| sv.status != SessionVerificationStatus::Complete)
        .ok_or_else(|| Error::SessionReverificationMissing.into())
}

/// `{response: SessionVerification, client}`, read after the change: the session with its new
/// factor ages and a token minted from them.
async fn respond(
    state: &AppState,
    identity: &ClientIdentity,
    client: &Client,
    sv: &SessionVerification,
    user: &User,
) -> ApiResult<VerificationResponse> {
    let now = state.now();
    let mut conn = state.store.read().await?;
    let session = sessions::get(&mut conn, &sv.session_id)
        .await?
        .ok_or(Error::SignedOut)?;
    let mut stored: Vec<CodeVerification> = Vec::new();
    for step in [
        &sv.first_factor_verification,
        &sv.second_factor_verification,
    ] {
        if let Some(id) = step.as_ref().and_then(|v| v.verification_id.as_ref()) {
            stored.extend(verifications::get(&mut conn, id).await?);
        }
    }
    drop(conn);
    let status = signed_in(state, &session)?;
    let token = state.minter.current(
        &state.keys,
        &session,
        status,
        identity.origin.as_deref(),
        now,
    )?;
    let session_view =
        present::session_for_owner(&session, user, Some(token), &state.settings, now);
    let response =
        present::session_verification(sv, session_view, user, &state.settings, &stored, now);
    let view = reload(state, identity, &client.id).await?;
    Ok(Json(wire::Envelope {
        response,
        client: Some(view),
    }))
}

/// The step a reverification slot proves.
fn step_of(slot: Slot) -> Step {
    match slot {
        Slot::FirstFactor => Step::ReverifyFirstFactor,
        Slot::SecondFactor => Step::ReverifySecondFactor,
    }
}

fn slot_strategy(params: &Params, slot: Slot) -> ApiResult<Strategy> {
    let name = params.required("strategy")?;
    let strategy = Strategy::parse(name).ok_or_else(|| {
        ApiError(Error::param_value_invalid(
            "strategy",
            format!("{name:?} is not a known strategy"),
        ))
    })?;
    if !strategy.serves(step_of(slot)) {
        return Err(Error::param_value_invalid(
            "strategy",
            format!(
                "{name:?} cannot reverify a {}",
                slot.as_str().replace('_', " ")
            ),
        )
        .into());
    }
    Ok(strategy)
}

/// `POST /v1/client/sessions/{id}/verify` with `level`.
pub async fn start(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Extension(ip): Extension<ClientIp>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<VerificationResponse> {
    let Signed {
        client,
        session,
        user,
    } = signed(&state, &identity, &id).await?;
    let raw = params.required("level")?;
    let level = ReverificationLevel::parse(raw).ok_or_else(|| {
        ApiError(Error::param_value_invalid(
            "level",
            "must be first_factor, second_factor or multi_factor",
        ))
    })?;
    limits::check(&state, LimitKey::AttemptByIp(ip.0.clone())).await?;
    let sv = SessionVerification::start(
        SessionVerificationId::generate(state.rng.as_ref()),
        session.id.clone(),
        &user,
        level,
        &state.settings,
        state.now(),
    );
    let mut tx = state.store.begin().await?;
    session_verifications::insert(&mut tx, &sv).await?;
    tx.commit().await?;
    respond(&state, &identity, &client, &sv, &user).await
}

/// A reverification in progress, as a [`Flow`] for one of its slots.
struct Reverifying {
    client: Client,
    session: Session,
    user: User,
    sv: SessionVerification,
    version: i64,
    slot: Slot,
    /// The slot was proven by this request: the session's factor age restarts.
    proven: bool,
}

impl Reverifying {
    /// The signed-in session's reverification in progress, for `slot`.
    async fn of(state: &AppState, signed: Signed, slot: Slot) -> ApiResult<Reverifying> {
        let Signed {
            client,
            session,
            user,
        } = signed;
        let (sv, version) = in_progress(state, &session).await?;
        Ok(Reverifying {
            client,
            session,
            user,
            sv,
            version,
            slot,
            proven: false,
        })
    }
}

impl Flow for Reverifying {
    type Saved = ();

    fn step(&self) -> Step {
        step_of(self.slot)
    }

    fn account(&self) -> Option<&User> {
        Some(&self.user)
    }

    fn client_id(&self) -> &ClientId {
        &self.client.id
    }

    fn offered(&self, state: &AppState) -> Vec<Factor> {
        self.sv.offered(self.slot, &self.user, &state.settings)
    }

    fn begin_code(
        &mut self,
        state: &AppState,
        request: CodeRequest,
        id: VerificationId,
    ) -> ApiResult<CodeVerification> {
        let (slot, now) = (self.slot, state.now());
        Ok(self
            .sv
            .prepare(slot, request, &self.user, &state.settings, now, id)?)
    }

    fn begin_passkey(
        &mut self,
        state: &AppState,
        nonce: String,
        id: VerificationId,
    ) -> ApiResult<CodeVerification> {
        let (slot, now) = (self.slot, state.now());
        Ok(self
            .sv
            .prepare_passkey(slot, (id, nonce), &self.user, &state.settings, now)?)
    }

    fn pending(&self, state: &AppState, strategy: &Strategy) -> ApiResult<Option<Awaited>> {
        let sent = self.sv.check_attempt(
            self.slot,
            strategy,
            &self.user,
            &state.settings,
            state.now(),
        )?;
        Ok(sent.map(|verification| match strategy {
            Strategy::Passkey => Awaited::Passkey {
                verification,
                account: Some(self.user.id.clone()),
            },
            _ => Awaited::Code(verification),
        }))
    }

    fn proved(
        &mut self,
        state: &AppState,
        strategy: Strategy,
        sent: Option<&CodeVerification>,
    ) -> ApiResult<()> {
        let now = state.now();
        match sent {
            Some(code) => self.sv.code_verified(code, now)?,
            None => self.sv.verified(self.slot, strategy, now)?,
        }
        self.proven = true;
        Ok(())
    }

    /// The reverification's new state; once a slot is proven, also the session's factor age.
    async fn save(&mut self, _state: &AppState, mut tx: Tx) -> ApiResult<()> {
        if !session_verifications::update(&mut tx, &self.sv, self.version).await? {
            return Err(changed_elsewhere());
        }
        if self.proven {
            let (id, now) = (&self.session.id, self.sv.updated_at);
            let still_signed_in = match self.slot {
                Slot::FirstFactor => sessions::first_factor_verified(&mut tx, id, now).await?,
                Slot::SecondFactor => sessions::second_factor_verified(&mut tx, id, now).await?,
            };
            if !still_signed_in {
                return Err(Error::SignedOut.into());
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

async fn prepare(
    state: AppState,
    identity: ClientIdentity,
    id: String,
    params: Params,
    slot: Slot,
) -> ApiResult<VerificationResponse> {
    let mut flow = Reverifying::of(&state, signed(&state, &identity, &id).await?, slot).await?;
    let strategy = slot_strategy(&params, slot)?;
    steps::prepare(&state, &mut flow, &params, strategy).await?;
    respond(&state, &identity, &flow.client, &flow.sv, &flow.user).await
}

fn changed_elsewhere() -> ApiError {
    Error::changed_elsewhere("verification").into()
}

/// `POST …/verify/prepare_first_factor`: sends a code by email or SMS.
pub async fn prepare_first_factor(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<VerificationResponse> {
    prepare(state, identity, id, params, Slot::FirstFactor).await
}

/// `POST …/verify/prepare_second_factor`: sends a code to a phone kept for MFA.
pub async fn prepare_second_factor(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<VerificationResponse> {
    prepare(state, identity, id, params, Slot::SecondFactor).await
}

async fn attempt(
    state: AppState,
    identity: ClientIdentity,
    ip: ClientIp,
    id: String,
    params: Params,
    slot: Slot,
) -> ApiResult<VerificationResponse> {
    let signed = signed(&state, &identity, &id).await?;
    let strategy = slot_strategy(&params, slot)?;
    let guess = guesses::guess(&params, &strategy)?;
    limits::check_all(
        &state,
        [
            LimitKey::AttemptByIp(ip.0.clone()),
            LimitKey::AttemptByUser(signed.user.id.to_string()),
        ],
    )
    .await?;
    let mut flow = Reverifying::of(&state, signed, slot).await?;
    steps::attempt(&state, &mut flow, strategy, guess).await?;
    respond(&state, &identity, &flow.client, &flow.sv, &flow.user).await
}

/// `POST …/verify/attempt_first_factor`: `password`, or an email or SMS `code`.
pub async fn attempt_first_factor(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Extension(ip): Extension<ClientIp>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<VerificationResponse> {
    attempt(state, identity, ip, id, params, Slot::FirstFactor).await
}

/// `POST …/verify/attempt_second_factor`: a TOTP, backup or SMS `code`.
pub async fn attempt_second_factor(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Extension(ip): Extension<ClientIp>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<VerificationResponse> {
    attempt(state, identity, ip, id, params, Slot::SecondFactor).await
}
