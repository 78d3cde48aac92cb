//! The sign-in state machine. The state is a [`SignInState`] whose variants carry what each
//! stage knows, so a sign-in past its first factor always has an account and the proof of that
//! factor, and only a complete one has a session.
//!
//! ```text
//!  needs_identifier ──identify──▶ needs_first_factor ──first factor──▶ ready for a session ──▶ complete
//!                                   │   │       │                         ▲   ▲
//!                                   │   │       └─ account has MFA ──▶ needs_second_factor
//!                                   │   └─ new client, password ──▶ needs_client_trust ─┘
//!                                   └─ reset code ──▶ needs_new_password ──(MFA: needs_second_factor)
//! ```
//! The handlers fetch facts (the user the identifier names, whether a password matched) and ask
//! these methods what happens next; the methods never do IO, and a refused step changes nothing.
//! "Ready for a session" is not a state but a [`Ready`] value: the caller creates the session and
//! hands it back to [`SignIn::complete`], in the same transaction.

mod stored;
#[cfg(test)]
mod tests;

use crate::clock::Timestamp;
use crate::error::Error;
use crate::identifier::{Identifier, IdentifierKind};
use crate::ids::{ClientId, IdentificationId, SessionId, SignInId, UserId, VerificationId};
use crate::session::{Session, SessionStatus};
use crate::settings::Settings;
use crate::user::{Factor, LockState, User};
use crate::verification::{
    start_challenge, start_code, Challenge, CodeRequest, CodeVerification, NewChallenge, NewCode,
    SentCode, Slot, VerificationOwner,
};
use serde::{Deserialize, Serialize};

use crate::strategy::Step;
pub use crate::strategy::Strategy;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInStatus {
    NeedsIdentifier,
    NeedsFirstFactor,
    NeedsSecondFactor,
    NeedsClientTrust,
    NeedsNewPassword,
    Complete,
}

impl SignInStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SignInStatus::NeedsIdentifier => "needs_identifier",
            SignInStatus::NeedsFirstFactor => "needs_first_factor",
            SignInStatus::NeedsSecondFactor => "needs_second_factor",
            SignInStatus::NeedsClientTrust => "needs_client_trust",
            SignInStatus::NeedsNewPassword => "needs_new_password",
            SignInStatus::Complete => "complete",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationStatus {
    Unverified,
    Verified,
    Transferable,
    Failed,
    Expired,
}

impl VerificationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VerificationStatus::Unverified => "unverified",
            VerificationStatus::Verified => "verified",
            VerificationStatus::Transferable => "transferable",
            VerificationStatus::Failed => "failed",
            VerificationStatus::Expired => "expired",
        }
    }
}

/// The state of proving one factor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub status: VerificationStatus,
    pub strategy: Strategy,
    pub attempts: Option<u32>,
    pub expire_at: Option<Timestamp>,
    /// The stored code or link this step waits for (delivered strategies only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_id: Option<VerificationId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identification_id: Option<IdentificationId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    /// Wallet signatures: the text handed out to sign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Passkeys: the WebAuthn request options handed out, as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

impl Verification {
    pub fn verified(strategy: Strategy) -> Self {
        Verification {
            status: VerificationStatus::Verified,
            strategy,
            attempts: None,
            expire_at: None,
            verification_id: None,
            identification_id: None,
            created_at: None,
            message: None,
            nonce: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientTrustState {
    /// The account has not had a session on this client before.
    New,
    /// It has.
    Known,
}

impl ClientTrustState {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientTrustState::New => "new",
            ClientTrustState::Known => "known",
        }
    }
}

/// A client's signed-in sessions, as far as starting another sign-in is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedInSession {
    pub session_id: SessionId,
    pub user_id: UserId,
}

/// Whose account an identified sign-in is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Account {
    Known(UserId),
    /// The identifier names no account, and enumeration protection answers as if it did: every
    /// step looks the same and every attempt fails.
    Unknown,
}

/// What an identified sign-in knows before its first factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identified {
    pub identifier: Identifier,
    pub account: Account,
    /// Whether this client signed the account in before; noted once identified.
    pub client_trust: Option<ClientTrustState>,
}

/// A sign-in of an account that exists: what every stage past the first factor knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signing {
    pub identifier: Identifier,
    pub user_id: UserId,
    pub client_trust: Option<ClientTrustState>,
}

/// A proof in flight for one step, between its prepare and attempt calls. Each kind of proof
/// that must remember something in between is a variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PendingStep {
    /// A code or link the server sent; the stored verification counts the guesses.
    Sent(SentCode),
    /// A message handed out for a wallet to sign, once, before it expires; the stored
    /// verification (its identification the wallet) counts the attempts.
    Signature { sent: SentCode, message: String },
    /// A challenge handed out for one of the account's passkeys to answer.
    Passkey(Challenge),
}

impl PendingStep {
    /// The code or link (or the message to sign) this step waits on, naming its address.
    pub fn sent(&self) -> Option<&SentCode> {
        match self {
            PendingStep::Sent(s) | PendingStep::Signature { sent: s, .. } => Some(s),
            PendingStep::Passkey(_) => None,
        }
    }

    /// The stored verification this step waits on, whatever proves it.
    pub fn verification_id(&self) -> &VerificationId {
        match self {
            PendingStep::Sent(s) | PendingStep::Signature { sent: s, .. } => &s.verification_id,
            PendingStep::Passkey(c) => &c.verification_id,
        }
    }

    /// The strategy that answers it.
    pub fn strategy(&self) -> &Strategy {
        match self {
            PendingStep::Sent(s) | PendingStep::Signature { sent: s, .. } => &s.strategy,
            PendingStep::Passkey(_) => &Strategy::Passkey,
        }
    }

    fn view(&self) -> Verification {
        match self {
            PendingStep::Sent(s) => s.view(),
            PendingStep::Signature { sent, message } => Verification {
                message: Some(message.clone()),
                ..sent.view()
            },
            PendingStep::Passkey(c) => c.view(),
        }
    }
}

/// The code or link that proved a factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentRef {
    pub verification_id: VerificationId,
    pub identification_id: Option<IdentificationId>,
    pub created_at: Option<Timestamp>,
}

/// A proven factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenFactor {
    pub strategy: Strategy,
    pub at: Timestamp,
    /// The code or link that proved it, if one did.
    pub sent: Option<SentRef>,
}

impl ProvenFactor {
    /// Proven now by `strategy`, through `pending` if that was in flight for it.
    fn now(strategy: Strategy, pending: Option<&PendingStep>, now: Timestamp) -> ProvenFactor {
        let sent = pending
            .filter(|p| p.strategy() == &strategy)
            .map(|p| match p {
                PendingStep::Passkey(c) => SentRef {
                    verification_id: c.verification_id.clone(),
                    identification_id: None,
                    created_at: Some(c.created_at),
                },
                PendingStep::Sent(s) | PendingStep::Signature { sent: s, .. } => SentRef {
                    verification_id: s.verification_id.clone(),
                    identification_id: Some(s.identification_id.clone()),
                    created_at: Some(s.created_at),
                },
            });
        ProvenFactor {
            strategy,
            at: now,
            sent,
        }
    }

    pub fn view(&self) -> Verification {
        Verification {
            status: VerificationStatus::Verified,
            strategy: self.strategy.clone(),
            attempts: None,
            expire_at: None,
            verification_id: self.sent.as_ref().map(|s| s.verification_id.clone()),
            identification_id: self.sent.as_ref().and_then(|s| s.identification_id.clone()),
            created_at: self.sent.as_ref().and_then(|s| s.created_at),
            message: None,
            nonce: None,
        }
    }
}

/// Where a sign-in stands, with what it knows there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInState {
    NeedsIdentifier,
    /// A passkey sign-in with no identifier (discoverable or autofill): whichever account's
    /// passkey answers the challenge is the one signing in.
    AwaitingPasskey {
        challenge: Challenge,
    },
    NeedsFirstFactor {
        who: Identified,
        pending: Option<PendingStep>,
    },
    NeedsSecondFactor {
        who: Signing,
        first: ProvenFactor,
        pending: Option<PendingStep>,
    },
    /// A client new to an account without MFA confirms itself with a code or link.
    NeedsClientTrust {
        who: Signing,
        first: ProvenFactor,
        pending: Option<PendingStep>,
    },
    /// A reset code was right; the account's new password is awaited.
    NeedsNewPassword {
        who: Signing,
        reset: ProvenFactor,
    },
    Complete {
        who: Signing,
        first: ProvenFactor,
        second: Option<ProvenFactor>,
        session_id: SessionId,
    },
}

impl SignInState {
    pub fn status(&self) -> SignInStatus {
        match self {
            SignInState::NeedsIdentifier => SignInStatus::NeedsIdentifier,
            SignInState::NeedsFirstFactor { .. } | SignInState::AwaitingPasskey { .. } => {
                SignInStatus::NeedsFirstFactor
            }
            SignInState::NeedsSecondFactor { .. } => SignInStatus::NeedsSecondFactor,
            SignInState::NeedsClientTrust { .. } => SignInStatus::NeedsClientTrust,
            SignInState::NeedsNewPassword { .. } => SignInStatus::NeedsNewPassword,
            SignInState::Complete { .. } => SignInStatus::Complete,
        }
    }
}

/// What a successful step leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Another step is needed (the status says which).
    NeedsMore,
    /// All factors are in: start [`Ready::session`] and hand it to [`SignIn::complete`].
    ReadyForSession(Box<Ready>),
}

/// A sign-in whose factors are all in, waiting for its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    sign_in_id: SignInId,
    who: Signing,
    first: ProvenFactor,
    second: Option<ProvenFactor>,
}

impl Ready {
    pub fn user_id(&self) -> &UserId {
        &self.who.user_id
    }

    /// The session this sign-in starts, with the ages of its factors. When the instance requires
    /// MFA and the account has none, it starts `pending` with the `setup-mfa` task.
    pub fn session(
        &self,
        id: SessionId,
        client_id: ClientId,
        user: &User,
        settings: &Settings,
        now: Timestamp,
    ) -> Session {
        let mut session = Session::new(
            id,
            client_id,
            self.who.user_id.clone(),
            now,
            &settings.sessions,
            self.first.at,
            self.second.as_ref().map(|s| s.at),
        );
        if settings.mfa.required && !user.has_second_factor() {
            session.status = SessionStatus::Pending;
        }
        session
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "stored::StoredSignIn", into = "stored::StoredSignIn")]
pub struct SignIn {
    pub id: SignInId,
    pub client_id: ClientId,
    state: SignInState,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub abandon_at: Timestamp,
}

/// "an identifier is needed first" or "the first factor is already verified", as fits `status`.
fn not_awaiting_first_factor(status: SignInStatus) -> Error {
    Error::client_state(match status {
        SignInStatus::NeedsIdentifier => "an identifier is needed first",
        _ => "the first factor is already verified",
    })
}

fn refuse_locked(user: &User, now: Timestamp) -> Result<(), Error> {
    match user.lock_state(now) {
        LockState::Locked(expires_in_seconds) => Err(Error::UserLocked { expires_in_seconds }),
        LockState::Unlocked => Ok(()),
    }
}

fn mismatch() -> Error {
    Error::internal("sign-in user mismatch")
}

impl SignIn {
    pub fn new(id: SignInId, client_id: ClientId, now: Timestamp, settings: &Settings) -> SignIn {
        SignIn {
            id,
            client_id,
            state: SignInState::NeedsIdentifier,
            created_at: now,
            updated_at: now,
            abandon_at: now.plus_seconds(settings.sign_in.abandon_after_seconds),
        }
    }

    pub fn state(&self) -> &SignInState {
        &self.state
    }

    pub fn status(&self) -> SignInStatus {
        self.state.status()
    }

    pub fn identifier(&self) -> Option<&Identifier> {
        match &self.state {
            SignInState::NeedsIdentifier | SignInState::AwaitingPasskey { .. } => None,
            SignInState::NeedsFirstFactor { who, .. } => Some(&who.identifier),
            SignInState::NeedsSecondFactor { who, .. }
            | SignInState::NeedsClientTrust { who, .. }
            | SignInState::NeedsNewPassword { who, .. }
            | SignInState::Complete { who, .. } => Some(&who.identifier),
        }
    }

    /// The account signing in, once the identifier names one.
    pub fn user_id(&self) -> Option<&UserId> {
        self.signing().map(|w| &w.user_id).or(match &self.state {
            SignInState::NeedsFirstFactor {
                who:
                    Identified {
                        account: Account::Known(id),
                        ..
                    },
                ..
            } => Some(id),
            _ => None,
        })
    }

    pub fn is_unknown_account(&self) -> bool {
        matches!(
            &self.state,
            SignInState::NeedsFirstFactor {
                who: Identified {
                    account: Account::Unknown,
                    ..
                },
                ..
            }
        )
    }

    pub fn client_trust_state(&self) -> Option<ClientTrustState> {
        match &self.state {
            SignInState::NeedsFirstFactor { who, .. } => who.client_trust,
            _ => self.signing().and_then(|w| w.client_trust),
        }
    }

    pub fn created_session_id(&self) -> Option<&SessionId> {
        match &self.state {
            SignInState::Complete { session_id, .. } => Some(session_id),
            _ => None,
        }
    }

    fn signing(&self) -> Option<&Signing> {
        match &self.state {
            SignInState::NeedsSecondFactor { who, .. }
            | SignInState::NeedsClientTrust { who, .. }
            | SignInState::NeedsNewPassword { who, .. }
            | SignInState::Complete { who, .. } => Some(who),
            _ => None,
        }
    }

    /// The first step's verification as the wire shows it: what is in flight, or what proved it.
    pub fn first_factor_verification(&self) -> Option<Verification> {
        match &self.state {
            SignInState::NeedsIdentifier => None,
            SignInState::AwaitingPasskey { challenge } => Some(challenge.view()),
            SignInState::NeedsFirstFactor { pending, .. } => {
                pending.as_ref().map(PendingStep::view)
            }
            SignInState::NeedsSecondFactor { first, .. }
            | SignInState::NeedsClientTrust { first, .. }
            | SignInState::Complete { first, .. } => Some(first.view()),
            SignInState::NeedsNewPassword { reset, .. } => Some(reset.view()),
        }
    }

    /// The second step's verification as the wire shows it.
    pub fn second_factor_verification(&self) -> Option<Verification> {
        match &self.state {
            SignInState::NeedsSecondFactor { pending, .. }
            | SignInState::NeedsClientTrust { pending, .. } => {
                pending.as_ref().map(PendingStep::view)
            }
            SignInState::Complete { second, .. } => second.as_ref().map(ProvenFactor::view),
            _ => None,
        }
    }

    pub fn is_abandoned(&self, now: Timestamp) -> bool {
        self.status() != SignInStatus::Complete && now >= self.abandon_at
    }

    /// Single-session mode allows one signed-in account per client; in multi-session mode the same
    /// account cannot be signed in twice on one client.
    pub fn check_client_may_sign_in(
        settings: &Settings,
        signed_in: &[SignedInSession],
        user: Option<&UserId>,
    ) -> Result<(), Error> {
        if settings.sessions.single_session_mode && !signed_in.is_empty() {
            return Err(Error::SessionExists);
        }
        if let Some(user) = user {
            if let Some(s) = signed_in.iter().find(|s| &s.user_id == user) {
                return Err(Error::IdentifierAlreadySignedIn {
                    session_id: s.session_id.to_string(),
                });
            }
        }
        Ok(())
    }

    fn ensure_open(&self, now: Timestamp) -> Result<(), Error> {
        if self.status() == SignInStatus::Complete {
            return Err(Error::client_state("this sign-in is already complete"));
        }
        if self.is_abandoned(now) {
            return Err(Error::client_state(
                "this sign-in has expired; start a new one",
            ));
        }
        Ok(())
    }

    /// The identified sign-in awaiting its first factor, with what is in flight for it.
    fn awaiting_first_factor(
        &self,
        now: Timestamp,
    ) -> Result<(&Identified, Option<&PendingStep>), Error> {
        self.ensure_open(now)?;
        match &self.state {
            SignInState::NeedsFirstFactor { who, pending } => Ok((who, pending.as_ref())),
            other => Err(not_awaiting_first_factor(other.status())),
        }
    }

    /// The awaited first factor's account, which must be `user`'s.
    fn first_factor_account(&self, user: &User, now: Timestamp) -> Result<Signing, Error> {
        let (who, _) = self.awaiting_first_factor(now)?;
        match &who.account {
            Account::Known(id) if id == &user.id => Ok(Signing {
                identifier: who.identifier.clone(),
                user_id: id.clone(),
                client_trust: who.client_trust,
            }),
            _ => Err(mismatch()),
        }
    }

    /// Records who is signing in. `user` is the account the identifier names, if any.
    pub fn identify(
        &mut self,
        identifier: Identifier,
        user: Option<&User>,
        settings: &Settings,
        now: Timestamp,
    ) -> Result<(), Error> {
        self.ensure_open(now)?;
        if self.status() != SignInStatus::NeedsIdentifier {
            return Err(Error::client_state("the identifier is already set"));
        }
        if !settings.allows_identifier(identifier.kind) {
            return Err(Error::IdentifierNotFound);
        }
        // A wallet address is public and its owner proves it by signing, so hiding whether it has
        // an account protects nothing; and clerk-js signs up when it has none.
        let protect = settings.sign_in.enumeration_protection
            && identifier.kind != IdentifierKind::Web3Wallet;
        let account = match user {
            Some(user) => Account::Known(user.id.clone()),
            None if protect => Account::Unknown,
            None => return Err(Error::IdentifierNotFound),
        };
        self.state = SignInState::NeedsFirstFactor {
            who: Identified {
                identifier,
                account,
                client_trust: None,
            },
            pending: None,
        };
        self.updated_at = now;
        Ok(())
    }

    /// Records who is signing in when the proof itself names the account (a ticket): the account
    /// as it is known, whatever identifiers the instance lets people type.
    pub fn identify_account(&mut self, user: &User, now: Timestamp) -> Result<(), Error> {
        self.ensure_open(now)?;
        if self.status() != SignInStatus::NeedsIdentifier {
            return Err(Error::client_state("the identifier is already set"));
        }
        let identifier = user.primary_identifier().ok_or_else(|| {
            Error::client_state("the account has no email address, phone number or username")
        })?;
        self.state = SignInState::NeedsFirstFactor {
            who: Identified {
                identifier,
                account: Account::Known(user.id.clone()),
                client_trust: None,
            },
            pending: None,
        };
        self.updated_at = now;
        Ok(())
    }

    /// Records whether this client completed a sign-in for the identified account before.
    pub fn note_client_trust(&mut self, known: bool) {
        if let SignInState::NeedsFirstFactor { who, .. } = &mut self.state {
            who.client_trust = Some(if known {
                ClientTrustState::Known
            } else {
                ClientTrustState::New
            });
        }
    }

    /// Whether `strategy` may be attempted now, checked before any expensive verification.
    /// A locked account is refused here, so even the right password gets `user_locked`.
    pub fn check_first_factor_attempt(
        &self,
        strategy: &Strategy,
        user: &User,
        settings: &Settings,
        now: Timestamp,
    ) -> Result<(), Error> {
        self.first_factor_account(user, now)?;
        // A proof that names its account (a ticket) is nobody's listed factor.
        let listed = || {
            user.first_factors(settings, None)
                .iter()
                .any(|f| &f.strategy == strategy)
        };
        if !strategy.names_account() && !listed() {
            return Err(Error::StrategyForUserInvalid);
        }
        refuse_locked(user, now)
    }

    /// The first factor was proven. Banned users stop here; users with a second factor go on to
    /// it. A password from a client new to an account without MFA must be confirmed (client
    /// trust), if the account has an email address or phone number to confirm it with.
    pub fn first_factor_verified(
        &mut self,
        strategy: Strategy,
        user: &User,
        settings: &Settings,
        now: Timestamp,
    ) -> Result<Progress, Error> {
        let who = self.first_factor_account(user, now)?;
        if user.banned {
            return Err(Error::UserBanned);
        }
        let pending = match &self.state {
            SignInState::NeedsFirstFactor { pending, .. } => pending.as_ref(),
            _ => None,
        };
        let first = ProvenFactor::now(strategy, pending, now);
        let new_client = who.client_trust == Some(ClientTrustState::New);
        self.updated_at = now;
        let confirm_client = first.strategy == Strategy::Password
            && settings.sign_in.client_trust
            && new_client
            && !user.client_trust_factors(settings).is_empty();
        Ok(self.after_first_factor(who, first, user, confirm_client))
    }

    /// Where a proven first factor (or a reset password) leads: the account's second factor,
    /// a confirmation of the client when `confirm_client`, or a session.
    fn after_first_factor(
        &mut self,
        who: Signing,
        first: ProvenFactor,
        user: &User,
        confirm_client: bool,
    ) -> Progress {
        if user.has_second_factor() {
            self.state = SignInState::NeedsSecondFactor {
                who,
                first,
                pending: None,
            };
            Progress::NeedsMore
        } else if confirm_client {
            self.state = SignInState::NeedsClientTrust {
                who,
                first,
                pending: None,
            };
            Progress::NeedsMore
        } else {
            Progress::ReadyForSession(Box::new(Ready {
                sign_in_id: self.id.clone(),
                who,
                first,
                second: None,
            }))
        }
    }

    /// The second factors this sign-in waits for: the account's own, or, for client trust, the
    /// codes that confirm a new client.
    pub fn awaited_second_factors(&self, user: &User, settings: &Settings) -> Vec<Factor> {
        match self.state {
            SignInState::NeedsSecondFactor { .. } => user.second_factors(settings),
            SignInState::NeedsClientTrust { .. } => user.client_trust_factors(settings),
            _ => Vec::new(),
        }
    }

    pub fn ensure_second_factor_awaited(&self, now: Timestamp) -> Result<(), Error> {
        self.second_step(now).map(|_| ())
    }

    /// The second step awaited: who signs in, the proven first factor, what is in flight.
    fn second_step(
        &self,
        now: Timestamp,
    ) -> Result<(&Signing, &ProvenFactor, Option<&PendingStep>), Error> {
        self.ensure_open(now)?;
        match &self.state {
            SignInState::NeedsSecondFactor {
                who,
                first,
                pending,
            }
            | SignInState::NeedsClientTrust {
                who,
                first,
                pending,
            } => Ok((who, first, pending.as_ref())),
            other => Err(Error::client_state(format!(
                "a second factor is not awaited; the sign-in status is {}",
                other.status().as_str()
            ))),
        }
    }

    /// Sends a second-factor code (or, for client trust, an email link) to one of the addresses
    /// the awaited factors name.
    pub fn prepare_second_factor(
        &mut self,
        request: CodeRequest,
        user: &User,
        settings: &Settings,
        now: Timestamp,
        id: VerificationId,
    ) -> Result<CodeVerification, Error> {
        let (who, _, _) = self.second_step(now)?;
        if who.user_id != user.id {
            return Err(mismatch());
        }
        if !request.strategy.needs_preparation() {
            return Err(Error::param_value_invalid(
                "strategy",
                format!("{} needs no preparation", request.strategy.as_str()),
            ));
        }
        let named = |f: &Factor| f.goes_to(&request.strategy, &request.identification);
        if !self
            .awaited_second_factors(user, settings)
            .iter()
            .any(named)
        {
            return Err(Error::StrategyForUserInvalid);
        }
        refuse_locked(user, now)?;
        self.start_delivery(Slot::SecondFactor, request, settings, now, id)
    }

    /// Starts a code or link for `slot` once the caller has checked it may: refused within the
    /// resend cooldown of the same step; otherwise the stored verification to write and deliver,
    /// which the step now waits for.
    fn start_delivery(
        &mut self,
        slot: Slot,
        request: CodeRequest,
        settings: &Settings,
        now: Timestamp,
        id: VerificationId,
    ) -> Result<CodeVerification, Error> {
        let user_id = self.user_id().cloned();
        let pending = match (&mut self.state, slot) {
            (SignInState::NeedsFirstFactor { pending, .. }, Slot::FirstFactor)
            | (SignInState::NeedsSecondFactor { pending, .. }, Slot::SecondFactor)
            | (SignInState::NeedsClientTrust { pending, .. }, Slot::SecondFactor) => pending,
            _ => return Err(Error::internal("no step to send a code for")),
        };
        let (verification, sent) = start_code(
            NewCode {
                id,
                owner: VerificationOwner::SignIn(self.id.clone()),
                user_id,
                slot,
                request,
            },
            pending.as_ref().and_then(PendingStep::sent),
            settings,
            now,
        )?;
        *pending = Some(PendingStep::Sent(sent));
        self.updated_at = now;
        Ok(verification)
    }

    /// Whether `strategy` may be attempted as the second factor now. For codes sent by the
    /// server, returns the stored verification to check the guess against; TOTP and backup codes
    /// need none. A locked account is refused before any guess is looked at.
    pub fn check_second_factor_attempt(
        &self,
        strategy: &Strategy,
        user: &User,
        settings: &Settings,
        now: Timestamp,
    ) -> Result<Option<VerificationId>, Error> {
        let (_, _, pending) = self.second_step(now)?;
        if !self
            .awaited_second_factors(user, settings)
            .iter()
            .any(|f| &f.strategy == strategy)
        {
            return Err(Error::StrategyForUserInvalid);
        }
        refuse_locked(user, now)?;
        if !strategy.needs_preparation() {
            return Ok(None);
        }
        pending
            .filter(|p| p.strategy() == strategy)
            .map(|p| Some(p.verification_id().clone()))
            .ok_or(Error::VerificationMissing)
    }

    /// The second factor (or the client-trust confirmation) was proven.
    pub fn second_factor_verified(
        &mut self,
        strategy: Strategy,
        user: &User,
        now: Timestamp,
    ) -> Result<Progress, Error> {
        let (who, first, pending) = self.second_step(now)?;
        if who.user_id != user.id {
            return Err(mismatch());
        }
        if user.banned {
            return Err(Error::UserBanned);
        }
        let ready = Ready {
            sign_in_id: self.id.clone(),
            who: who.clone(),
            first: first.clone(),
            second: Some(ProvenFactor::now(strategy, pending, now)),
        };
        self.updated_at = now;
        Ok(Progress::ReadyForSession(Box::new(ready)))
    }

    /// A code sent for the second factor (or to confirm a new client) was right, or its email link
    /// was opened.
    pub fn second_factor_code_verified(
        &mut self,
        verification: &CodeVerification,
        user: &User,
        now: Timestamp,
    ) -> Result<Progress, Error> {
        let (_, _, pending) = self.second_step(now)?;
        if pending.map(PendingStep::verification_id) != Some(&verification.id) {
            return Err(Error::VerificationMissing);
        }
        self.second_factor_verified(verification.strategy.clone(), user, now)
    }

    /// A delivered code or link was right, for whichever step it was sent.
    pub fn delivered_verified(
        &mut self,
        verification: &CodeVerification,
        user: &User,
        settings: &Settings,
        now: Timestamp,
    ) -> Result<Progress, Error> {
        match verification.slot {
            Slot::FirstFactor => self.code_verified(verification, user, settings, now),
            Slot::SecondFactor => self.second_factor_code_verified(verification, user, now),
        }
    }

    /// Starts a code or link factor for one of the user's email addresses or phone numbers: returns
    /// the verification to store (with a new code or link kept by the caller), which this sign-in
    /// now waits for. `user` is `None` only for an unknown account under enumeration protection.
    pub fn prepare_first_factor(
        &mut self,
        request: CodeRequest,
        user: Option<&User>,
        settings: &Settings,
        now: Timestamp,
        id: VerificationId,
    ) -> Result<CodeVerification, Error> {
        let (who, _) = self.awaiting_first_factor(now)?;
        if request.strategy.channel().is_none() {
            return Err(Error::param_value_invalid(
                "strategy",
                format!("{} sends nothing", request.strategy.as_str()),
            ));
        }
        match (&who.account, user) {
            (Account::Known(id), Some(u)) if id == &u.id => {
                if u.factor(settings, &request.strategy, Some(&request.identification))
                    .is_none()
                {
                    return Err(Error::StrategyForUserInvalid);
                }
                refuse_locked(u, now)?;
            }
            (Account::Unknown, None) => {}
            _ => return Err(mismatch()),
        }
        self.start_delivery(Slot::FirstFactor, request, settings, now, id)
    }

    /// Hands out `message` for the wallet `request.identification` to sign with
    /// `request.strategy`: returns the verification to store, which counts the attempts and
    /// makes the message single use; this sign-in now waits for the signature.
    pub fn prepare_signature(
        &mut self,
        request: CodeRequest,
        message: String,
        user: &User,
        settings: &Settings,
        now: Timestamp,
        id: VerificationId,
    ) -> Result<CodeVerification, Error> {
        self.first_factor_account(user, now)?;
        if request.strategy.chain().is_none() {
            return Err(Error::param_value_invalid(
                "strategy",
                format!("{} is not a wallet signature", request.strategy.as_str()),
            ));
        }
        if user
            .factor(settings, &request.strategy, Some(&request.identification))
            .is_none()
        {
            return Err(Error::StrategyForUserInvalid);
        }
        refuse_locked(user, now)?;
        let user_id = Some(user.id.clone());
        let SignInState::NeedsFirstFactor { pending, .. } = &mut self.state else {
            return Err(Error::internal("no first factor to sign for"));
        };
        let (verification, sent) = start_code(
            NewCode {
                id,
                owner: VerificationOwner::SignIn(self.id.clone()),
                user_id,
                slot: Slot::FirstFactor,
                request,
            },
            None,
            settings,
            now,
        )?;
        *pending = Some(PendingStep::Signature { sent, message });
        self.updated_at = now;
        Ok(verification)
    }

    /// Hands out a passkey challenge (`nonce`: the request options) for the first factor: before
    /// any identifier, for whichever account's passkey answers (discoverable or autofill); once
    /// identified, for one of the account's own passkeys. Returns the verification to store with
    /// the ceremony; this sign-in now waits for the assertion.
    pub fn prepare_passkey(
        &mut self,
        id: VerificationId,
        nonce: String,
        user: Option<&User>,
        settings: &Settings,
        now: Timestamp,
    ) -> Result<CodeVerification, Error> {
        self.ensure_open(now)?;
        if !Strategy::Passkey.enabled(settings, Step::FirstFactor) {
            return Err(Error::StrategyForUserInvalid);
        }
        let user_id = match &self.state {
            SignInState::NeedsIdentifier | SignInState::AwaitingPasskey { .. } => None,
            SignInState::NeedsFirstFactor { .. } => {
                // An unknown account has no passkey, as a real account without one.
                let u = user.ok_or(Error::StrategyForUserInvalid)?;
                self.first_factor_account(u, now)?;
                if u.factor(settings, &Strategy::Passkey, None).is_none() {
                    return Err(Error::StrategyForUserInvalid);
                }
                refuse_locked(u, now)?;
                Some(u.id.clone())
            }
            other => return Err(not_awaiting_first_factor(other.status())),
        };
        let (verification, challenge) = start_challenge(
            NewChallenge {
                id,
                owner: VerificationOwner::SignIn(self.id.clone()),
                user_id,
                slot: Slot::FirstFactor,
                nonce,
            },
            settings,
            now,
        );
        match &mut self.state {
            SignInState::NeedsFirstFactor { pending, .. } => {
                *pending = Some(PendingStep::Passkey(challenge));
            }
            _ => self.state = SignInState::AwaitingPasskey { challenge },
        }
        self.updated_at = now;
        Ok(verification)
    }

    /// What a passkey attempt is checked against: the challenge handed out, and the account whose
    /// passkey must answer it (`None`: any account's; the credential names it). A locked account
    /// is refused before the assertion is looked at.
    pub fn check_passkey_attempt(
        &self,
        user: Option<&User>,
        now: Timestamp,
    ) -> Result<(VerificationId, Option<UserId>), Error> {
        self.ensure_open(now)?;
        match &self.state {
            SignInState::AwaitingPasskey { challenge } => {
                Ok((challenge.verification_id.clone(), None))
            }
            _ => {
                let user = user.ok_or(Error::StrategyForUserInvalid)?;
                let pending = self.check_code_attempt(&Strategy::Passkey, Some(user), now)?;
                Ok((pending.verification_id().clone(), Some(user.id.clone())))
            }
        }
    }

    /// The passkey that answered the challenge is `user`'s: a sign-in started without an
    /// identifier is now theirs, with the challenge still to be settled.
    pub fn identify_by_passkey(&mut self, user: &User, now: Timestamp) -> Result<(), Error> {
        self.ensure_open(now)?;
        match &self.state {
            SignInState::AwaitingPasskey { challenge } => {
                refuse_locked(user, now)?;
                let identifier = user.primary_identifier().ok_or_else(|| {
                    Error::client_state(
                        "the account has no email address, phone number or username",
                    )
                })?;
                self.state = SignInState::NeedsFirstFactor {
                    who: Identified {
                        identifier,
                        account: Account::Known(user.id.clone()),
                        client_trust: None,
                    },
                    pending: Some(PendingStep::Passkey(challenge.clone())),
                };
                self.updated_at = now;
                Ok(())
            }
            _ if self.user_id() == Some(&user.id) => Ok(()),
            _ => Err(mismatch()),
        }
    }

    /// What a first-factor attempt for `strategy` is checked against: the code or link sent, or
    /// the message handed out to sign. A locked account is refused before any guess is looked
    /// at.
    pub fn check_code_attempt(
        &self,
        strategy: &Strategy,
        user: Option<&User>,
        now: Timestamp,
    ) -> Result<PendingStep, Error> {
        let (_, pending) = self.awaiting_first_factor(now)?;
        let pending = pending
            .filter(|p| p.strategy() == strategy)
            .cloned()
            .ok_or(Error::VerificationMissing)?;
        if let Some(u) = user {
            refuse_locked(u, now)?;
        }
        Ok(pending)
    }

    /// The code or link was right. A password-reset code leads to `needs_new_password`; the
    /// others prove the first factor.
    pub fn code_verified(
        &mut self,
        verification: &CodeVerification,
        user: &User,
        settings: &Settings,
        now: Timestamp,
    ) -> Result<Progress, Error> {
        let (_, pending) = self.awaiting_first_factor(now)?;
        if pending.map(PendingStep::verification_id) != Some(&verification.id) {
            return Err(Error::VerificationMissing);
        }
        if !verification.strategy.resets_password() {
            return self.first_factor_verified(verification.strategy.clone(), user, settings, now);
        }
        let reset = ProvenFactor::now(verification.strategy.clone(), pending, now);
        let who = self.first_factor_account(user, now)?;
        if user.banned {
            return Err(Error::UserBanned);
        }
        self.state = SignInState::NeedsNewPassword { who, reset };
        self.updated_at = now;
        Ok(Progress::NeedsMore)
    }

    pub fn check_new_password(&self, now: Timestamp) -> Result<(), Error> {
        self.ensure_open(now)?;
        if self.status() != SignInStatus::NeedsNewPassword {
            return Err(Error::client_state("a new password is not awaited"));
        }
        Ok(())
    }

    /// The new password is stored. A reset never skips a second factor.
    pub fn new_password_set(&mut self, user: &User, now: Timestamp) -> Result<Progress, Error> {
        self.check_new_password(now)?;
        let SignInState::NeedsNewPassword { who, reset } = &self.state else {
            return Err(Error::client_state("a new password is not awaited"));
        };
        if who.user_id != user.id {
            return Err(mismatch());
        }
        if user.banned {
            return Err(Error::UserBanned);
        }
        let (who, first) = (who.clone(), reset.clone());
        self.updated_at = now;
        Ok(self.after_first_factor(who, first, user, false))
    }

    /// The session `ready` asked for exists; the sign-in is done.
    pub fn complete(
        &mut self,
        ready: Box<Ready>,
        session_id: SessionId,
        now: Timestamp,
    ) -> Result<(), Error> {
        if ready.sign_in_id != self.id {
            return Err(Error::internal("completing another sign-in"));
        }
        self.ensure_open(now)?;
        self.state = SignInState::Complete {
            who: ready.who,
            first: ready.first,
            second: ready.second,
            session_id,
        };
        self.updated_at = now;
        Ok(())
    }
}
