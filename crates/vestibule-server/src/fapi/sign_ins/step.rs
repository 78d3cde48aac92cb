//! A sign-in as a [`Flow`]: its first step, or its second (a second factor, or the confirmation
//! of a client new to the account). The model's `SignIn` decides; this says which of its methods
//! a slot uses and how the sign-in is written.

use super::{complete, factors, offered, respond, ClientWrite, Completion, Loaded, SignInResponse};
use crate::error::ApiResult;
use crate::guesses::Awaited;
use crate::identity::ClientIdentity;
use crate::state::AppState;
use crate::steps::Flow;
use vestibule_model::sign_in::Progress;
use vestibule_model::user::Factor;
use vestibule_model::verification::{CodeRequest, CodeVerification, Slot};
use vestibule_model::{
    Client, ClientId, Error, Session, SignIn, SignInStatus, Step, Strategy, User, VerificationId,
};
use vestibule_store::{clients, sign_ins, Tx};

/// How the sign-in is written when the step ends.
pub(super) enum Write {
    /// Read at `version`: written back only if no other request changed it since.
    Update { version: i64 },
    /// Created by this request (`create`): inserted, with its client when that is new too.
    /// `holding` are the client's signed-in sessions, read beforehand.
    Insert {
        fresh_client: bool,
        holding: Vec<Session>,
    },
}

/// One step of a sign-in.
pub(super) struct SignInStep<'a> {
    pub identity: &'a ClientIdentity,
    pub slot: Slot,
    pub client: Client,
    pub si: SignIn,
    /// The account signing in; `None` before it is identified or, under enumeration protection,
    /// when it does not exist.
    pub user: Option<User>,
    pub write: Write,
    /// Where the step's proof led; a session is created from it when `save` runs.
    pub progress: Progress,
}

impl<'a> SignInStep<'a> {
    /// A step on a sign-in read by [`super::load`].
    pub fn loaded(identity: &'a ClientIdentity, l: Loaded, slot: Slot) -> Self {
        SignInStep {
            identity,
            slot,
            client: l.client,
            si: l.si,
            user: l.user,
            write: Write::Update { version: l.version },
            progress: Progress::NeedsMore,
        }
    }

    /// The sign-in and its client, as the step left them (see [`super::respond`]).
    pub async fn respond(
        &self,
        state: &AppState,
        sessions: Option<Vec<Session>>,
    ) -> ApiResult<SignInResponse> {
        respond(
            state,
            self.identity,
            &self.si,
            self.user.as_ref(),
            &self.client,
            sessions,
        )
        .await
    }

    /// The sign-in's account. A sign-in without one (not yet identified, or an unknown account
    /// under enumeration protection) never gets past its first factor.
    pub fn signing(&self) -> ApiResult<&User> {
        self.user.as_ref().ok_or_else(|| {
            Error::client_state(format!(
                "no account is signing in; the sign-in status is {}",
                self.si.status().as_str()
            ))
            .into()
        })
    }
}

impl Flow for SignInStep<'_> {
    type Saved = Option<Vec<Session>>;

    fn step(&self) -> Step {
        match (self.slot, self.si.status()) {
            (Slot::FirstFactor, _) => Step::FirstFactor,
            (Slot::SecondFactor, SignInStatus::NeedsClientTrust) => Step::ClientTrust,
            (Slot::SecondFactor, _) => Step::SecondFactor,
        }
    }

    fn account(&self) -> Option<&User> {
        self.user.as_ref()
    }

    fn client_id(&self) -> &ClientId {
        &self.client.id
    }

    fn offered(&self, state: &AppState) -> Vec<Factor> {
        match (self.slot, &self.user) {
            (Slot::FirstFactor, user) => offered(state, &self.si, user.as_ref()),
            (Slot::SecondFactor, Some(u)) => self.si.awaited_second_factors(u, &state.settings),
            (Slot::SecondFactor, None) => Vec::new(),
        }
    }

    fn begin_code(
        &mut self,
        state: &AppState,
        request: CodeRequest,
        id: VerificationId,
    ) -> ApiResult<CodeVerification> {
        let (settings, now) = (&state.settings, state.now());
        if self.slot == Slot::SecondFactor {
            let user = self.signing()?.clone();
            return Ok(self
                .si
                .prepare_second_factor(request, &user, settings, now, id)?);
        }
        // An unknown account's stand-in answers as a real account would: its own address is
        // accepted, any other refused.
        if self.user.is_none() {
            if let Some(s) = factors::unknown_account(state, &self.si) {
                let named = s.factor(settings, &request.strategy, Some(&request.identification));
                if named.is_none() {
                    return Err(Error::StrategyForUserInvalid.into());
                }
            }
        }
        Ok(self
            .si
            .prepare_first_factor(request, self.user.as_ref(), settings, now, id)?)
    }

    fn begin_signature(
        &mut self,
        state: &AppState,
        request: CodeRequest,
        message: String,
        id: VerificationId,
    ) -> ApiResult<CodeVerification> {
        if self.slot == Slot::SecondFactor {
            return Err(Error::StrategyForUserInvalid.into());
        }
        let user = self.signing()?.clone();
        let (settings, now) = (&state.settings, state.now());
        Ok(self
            .si
            .prepare_signature(request, message, &user, settings, now, id)?)
    }

    fn begin_passkey(
        &mut self,
        state: &AppState,
        nonce: String,
        id: VerificationId,
    ) -> ApiResult<CodeVerification> {
        if self.slot == Slot::SecondFactor {
            return Err(Error::StrategyForUserInvalid.into());
        }
        let (settings, now) = (&state.settings, state.now());
        Ok(self
            .si
            .prepare_passkey(id, nonce, self.user.as_ref(), settings, now)?)
    }

    fn named(&mut self, state: &AppState, user: User) -> ApiResult<()> {
        if let Some(u) = &self.user {
            if u.id != user.id {
                return Err(Error::IdentifierNotFound.into());
            }
        }
        self.si.identify_by_passkey(&user, state.now())?;
        self.user = Some(user);
        Ok(())
    }

    fn pending(&self, state: &AppState, strategy: &Strategy) -> ApiResult<Option<Awaited>> {
        let (settings, now) = (&state.settings, state.now());
        if self.slot == Slot::SecondFactor {
            let user = self.signing()?;
            let sent = self
                .si
                .check_second_factor_attempt(strategy, user, settings, now)?;
            return Ok(sent.map(Awaited::Code));
        }
        // A proof that names its account is presented when the sign-in is created, not later.
        if strategy.names_account() && matches!(self.write, Write::Update { .. }) {
            return Err(Error::StrategyForUserInvalid.into());
        }
        if *strategy == Strategy::Passkey {
            let (verification, account) = self.si.check_passkey_attempt(self.user.as_ref(), now)?;
            return Ok(Some(Awaited::Passkey {
                verification,
                account,
            }));
        }
        if strategy.needs_preparation() {
            let pending = self
                .si
                .check_code_attempt(strategy, self.user.as_ref(), now)?;
            let account = self.user.as_ref().map(|u| &u.id);
            return Ok(Some(Awaited::of(pending, account)));
        }
        match &self.user {
            Some(u) => {
                self.si
                    .check_first_factor_attempt(strategy, u, settings, now)?;
                Ok(None)
            }
            // Enumeration protection: judged (as costly and as wrong) as a real account's guess.
            None if self.si.is_unknown_account() => Ok(None),
            None => Err(Error::client_state("an identifier is needed first").into()),
        }
    }

    fn proved(
        &mut self,
        state: &AppState,
        strategy: Strategy,
        sent: Option<&CodeVerification>,
    ) -> ApiResult<()> {
        let (settings, now) = (&state.settings, state.now());
        let user = self.signing()?.clone();
        let si = &mut self.si;
        self.progress = match (self.slot, sent) {
            (Slot::FirstFactor, Some(code)) => si.code_verified(code, &user, settings, now)?,
            (Slot::FirstFactor, None) => {
                si.first_factor_verified(strategy, &user, settings, now)?
            }
            (Slot::SecondFactor, Some(code)) => si.second_factor_code_verified(code, &user, now)?,
            (Slot::SecondFactor, None) => si.second_factor_verified(strategy, &user, now)?,
        };
        Ok(())
    }

    /// Creates the session when all factors are in, then writes the sign-in, last and (when it
    /// was read) conditionally on the version read, so that if another request changed it
    /// meanwhile nothing here counts. Returns the client's signed-in sessions when the step
    /// knows them all.
    async fn save(&mut self, state: &AppState, mut tx: Tx) -> ApiResult<Option<Vec<Session>>> {
        let fresh_client = matches!(
            self.write,
            Write::Insert {
                fresh_client: true,
                ..
            }
        );
        if let Write::Insert { .. } = self.write {
            self.client.sign_in_id = Some(self.si.id.clone());
            self.client.updated_at = state.now();
        }
        let progress = std::mem::replace(&mut self.progress, Progress::NeedsMore);
        let sessions = match (progress, &mut self.write) {
            (Progress::ReadyForSession(ready), _) => {
                let user = self
                    .user
                    .as_ref()
                    .ok_or_else(|| Error::client_state("this sign-in has no account to sign in"))?;
                let write = if fresh_client {
                    ClientWrite::Fresh
                } else {
                    ClientWrite::Rotate
                };
                let completion = Completion {
                    si: &mut self.si,
                    ready,
                    user,
                    client: &mut self.client,
                    write,
                };
                Some(complete(state, self.identity, &mut tx, completion).await?)
            }
            (Progress::NeedsMore, Write::Update { .. }) => None,
            (Progress::NeedsMore, Write::Insert { .. }) if fresh_client => Some(Vec::new()),
            (Progress::NeedsMore, Write::Insert { holding, .. }) => {
                clients::update(&mut tx, &self.client).await?;
                Some(std::mem::take(holding))
            }
        };
        match self.write {
            Write::Update { version } => {
                if !sign_ins::update(&mut tx, &self.si, version).await? {
                    return Err(Error::changed_elsewhere("sign-in").into());
                }
            }
            Write::Insert { .. } => sign_ins::insert(&mut tx, &self.si).await?,
        }
        if fresh_client {
            self.identity
                .insert_client(state, &mut tx, &self.client)
                .await?;
        }
        tx.commit().await?;
        Ok(sessions)
    }
}
