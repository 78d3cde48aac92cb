//! The sign-in state machine.
//!
//! ```text
//!  needs_identifier ──identify──▶ needs_first_factor ──first factor──▶ ready for a session ──▶ complete
//!                                        │                    │
//!                                        │                    └─ user has MFA ──▶ needs_second_factor
//!                                        └─ wrong factor: error, state unchanged
//! ```
//! The handlers fetch facts (the user the identifier names, whether a password matched) and ask
//! these methods what happens next; the methods never do IO, and a refused step changes nothing.

use crate::clock::Timestamp;
use crate::error::Error;
use crate::identifier::Identifier;
use crate::ids::{ClientId, IdentificationId, SessionId, SignInId, UserId, VerificationId};
use crate::settings::Settings;
use crate::user::{LockState, User};
use crate::verification::{start_code, CodeVerification, NewCode, Slot, VerificationOwner};
use serde::{Deserialize, Serialize};

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
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignIn {
    pub id: SignInId,
    pub client_id: ClientId,
    pub status: SignInStatus,
    pub identifier: Option<Identifier>,
    pub user_id: Option<UserId>,
    pub first_factor_verification: Option<Verification>,
    pub second_factor_verification: Option<Verification>,
    pub first_factor_verified_at: Option<Timestamp>,
    pub second_factor_verified_at: Option<Timestamp>,
    pub created_session_id: Option<SessionId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub abandon_at: Timestamp,
    /// The identifier names no account, and enumeration protection answers as if it did: every
    /// step looks the same and every attempt fails.
    #[serde(default)]
    pub unknown_account: bool,
    /// Whether this client signed the account in before (client trust); set once identified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_trust_state: Option<ClientTrustState>,
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

/// What a successful step leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Another step is needed (the status says which).
    NeedsMore,
    /// All factors are in: create a session and call [`SignIn::complete`].
    ReadyForSession,
}

/// A client's signed-in sessions, as far as starting another sign-in is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedInSession {
    pub session_id: SessionId,
    pub user_id: UserId,
}

impl SignIn {
    pub fn new(id: SignInId, client_id: ClientId, now: Timestamp, settings: &Settings) -> SignIn {
        SignIn {
            id,
            client_id,
            status: SignInStatus::NeedsIdentifier,
            identifier: None,
            user_id: None,
            first_factor_verification: None,
            second_factor_verification: None,
            first_factor_verified_at: None,
            second_factor_verified_at: None,
            created_session_id: None,
            created_at: now,
            updated_at: now,
            abandon_at: now.plus_seconds(settings.sign_in.abandon_after_seconds),
            unknown_account: false,
            client_trust_state: None,
        }
    }

    pub fn is_abandoned(&self, now: Timestamp) -> bool {
        self.status != SignInStatus::Complete && now >= self.abandon_at
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

    /// A verified first factor, still pointing at the code or link that proved it.
    fn verified_from_prepared(&self, strategy: Strategy) -> Verification {
        let mut verified = Verification::verified(strategy.clone());
        if let Some(prepared) = self
            .first_factor_verification
            .as_ref()
            .filter(|p| p.strategy == strategy)
        {
            verified.verification_id = prepared.verification_id.clone();
            verified.identification_id = prepared.identification_id.clone();
            verified.created_at = prepared.created_at;
        }
        verified
    }

    fn ensure_open(&self, now: Timestamp) -> Result<(), Error> {
        if self.status == SignInStatus::Complete {
            return Err(Error::client_state("this sign-in is already complete"));
        }
        if self.is_abandoned(now) {
            return Err(Error::client_state(
                "this sign-in has expired; start a new one",
            ));
        }
        Ok(())
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
        if self.status != SignInStatus::NeedsIdentifier {
            return Err(Error::client_state("the identifier is already set"));
        }
        if !settings.identifiers.allows(identifier.kind) {
            return Err(Error::IdentifierNotFound);
        }
        match user {
            Some(user) => self.user_id = Some(user.id.clone()),
            None if settings.sign_in.enumeration_protection => self.unknown_account = true,
            None => return Err(Error::IdentifierNotFound),
        }
        self.identifier = Some(identifier);
        self.status = SignInStatus::NeedsFirstFactor;
        self.updated_at = now;
        Ok(())
    }

    /// Records whether this client completed a sign-in for the identified account before.
    pub fn note_client_trust(&mut self, known: bool) {
        if self.user_id.is_some() || self.unknown_account {
            self.client_trust_state = Some(if known {
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
        self.ensure_open(now)?;
        if self.status != SignInStatus::NeedsFirstFactor {
            return Err(Error::client_state(match self.status {
                SignInStatus::NeedsIdentifier => "an identifier is needed first",
                _ => "the first factor is already verified",
            }));
        }
        if self.user_id.as_ref() != Some(&user.id) {
            return Err(Error::internal("sign-in user mismatch"));
        }
        if !user
            .first_factors(settings, None)
            .iter()
            .any(|f| &f.strategy == strategy)
        {
            return Err(Error::StrategyForUserInvalid);
        }
        if let LockState::Locked(expires_in_seconds) = user.lock_state(now) {
            return Err(Error::UserLocked { expires_in_seconds });
        }
        Ok(())
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
        self.ensure_open(now)?;
        if user.banned {
            return Err(Error::UserBanned);
        }
        let new_client = self.client_trust_state == Some(ClientTrustState::New);
        self.first_factor_verification = Some(self.verified_from_prepared(strategy.clone()));
        self.first_factor_verified_at = Some(now);
        self.updated_at = now;
        if user.has_second_factor() {
            self.status = SignInStatus::NeedsSecondFactor;
            Ok(Progress::NeedsMore)
        } else if strategy == Strategy::Password
            && settings.sign_in.client_trust
            && new_client
            && !user.client_trust_factors(settings).is_empty()
        {
            self.status = SignInStatus::NeedsClientTrust;
            Ok(Progress::NeedsMore)
        } else {
            Ok(Progress::ReadyForSession)
        }
    }

    /// The second factors this sign-in waits for: the account's own, or, for client trust, the
    /// codes that confirm a new client.
    pub fn awaited_second_factors(
        &self,
        user: &User,
        settings: &Settings,
    ) -> Vec<crate::user::Factor> {
        match self.status {
            SignInStatus::NeedsSecondFactor => user.second_factors(settings),
            SignInStatus::NeedsClientTrust => user.client_trust_factors(settings),
            _ => Vec::new(),
        }
    }

    pub fn ensure_second_factor_awaited(&self, now: Timestamp) -> Result<(), Error> {
        self.ensure_open(now)?;
        if !matches!(
            self.status,
            SignInStatus::NeedsSecondFactor | SignInStatus::NeedsClientTrust
        ) {
            return Err(Error::client_state(format!(
                "a second factor is not awaited; the sign-in status is {}",
                self.status.as_str()
            )));
        }
        Ok(())
    }

    /// Sends a second-factor code (or, for client trust, an email link) to one of the addresses
    /// the awaited factors name.
    #[allow(clippy::too_many_arguments)]
    pub fn prepare_second_factor(
        &mut self,
        strategy: Strategy,
        identification: &IdentificationId,
        user: &User,
        settings: &Settings,
        now: Timestamp,
        id: VerificationId,
        redirect_url: Option<String>,
    ) -> Result<CodeVerification, Error> {
        self.ensure_second_factor_awaited(now)?;
        if self.user_id.as_ref() != Some(&user.id) {
            return Err(Error::internal("sign-in user mismatch"));
        }
        if !strategy.needs_preparation() {
            return Err(Error::param_value_invalid(
                "strategy",
                format!("{} needs no preparation", strategy.as_str()),
            ));
        }
        let awaited = self.awaited_second_factors(user, settings);
        let named = |f: &crate::user::Factor| {
            f.strategy == strategy
                && (f.email_address_id.as_ref() == Some(identification)
                    || f.phone_number_id.as_ref() == Some(identification))
        };
        if !awaited.iter().any(named) {
            return Err(Error::StrategyForUserInvalid);
        }
        if let LockState::Locked(expires_in_seconds) = user.lock_state(now) {
            return Err(Error::UserLocked { expires_in_seconds });
        }
        self.start_delivery(
            Slot::SecondFactor,
            strategy,
            identification,
            settings,
            now,
            id,
            redirect_url,
        )
    }

    /// Starts a code or link for `slot` once the caller has checked it may: refused within the
    /// resend cooldown of the same step; otherwise the stored verification to write and deliver,
    /// with the sign-in's view of it in `slot`.
    #[allow(clippy::too_many_arguments)]
    fn start_delivery(
        &mut self,
        slot: Slot,
        strategy: Strategy,
        identification: &IdentificationId,
        settings: &Settings,
        now: Timestamp,
        id: VerificationId,
        redirect_url: Option<String>,
    ) -> Result<CodeVerification, Error> {
        let current = match slot {
            Slot::FirstFactor => &self.first_factor_verification,
            Slot::SecondFactor => &self.second_factor_verification,
        };
        let (verification, view) = start_code(
            NewCode {
                id,
                owner: VerificationOwner::SignIn(self.id.clone()),
                user_id: self.user_id.clone(),
                slot,
                strategy,
                identification: identification.clone(),
                redirect_url,
            },
            current.as_ref(),
            settings,
            now,
        )?;
        let view = Some(view);
        match slot {
            Slot::FirstFactor => self.first_factor_verification = view,
            Slot::SecondFactor => self.second_factor_verification = view,
        }
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
        self.ensure_second_factor_awaited(now)?;
        if !self
            .awaited_second_factors(user, settings)
            .iter()
            .any(|f| &f.strategy == strategy)
        {
            return Err(Error::StrategyForUserInvalid);
        }
        if let LockState::Locked(expires_in_seconds) = user.lock_state(now) {
            return Err(Error::UserLocked { expires_in_seconds });
        }
        if !strategy.needs_preparation() {
            return Ok(None);
        }
        self.second_factor_verification
            .as_ref()
            .filter(|v| &v.strategy == strategy)
            .and_then(|v| v.verification_id.clone())
            .map(Some)
            .ok_or(Error::VerificationMissing)
    }

    /// The second factor (or the client-trust confirmation) was proven.
    pub fn second_factor_verified(
        &mut self,
        strategy: Strategy,
        user: &User,
        now: Timestamp,
    ) -> Result<Progress, Error> {
        self.ensure_second_factor_awaited(now)?;
        if user.banned {
            return Err(Error::UserBanned);
        }
        let mut verified = Verification::verified(strategy.clone());
        if let Some(prepared) = self
            .second_factor_verification
            .as_ref()
            .filter(|p| p.strategy == strategy)
        {
            verified.verification_id = prepared.verification_id.clone();
            verified.identification_id = prepared.identification_id.clone();
            verified.created_at = prepared.created_at;
        }
        self.second_factor_verification = Some(verified);
        self.second_factor_verified_at = Some(now);
        self.updated_at = now;
        Ok(Progress::ReadyForSession)
    }

    /// A code sent for the second factor (or to confirm a new client) was right, or its email link
    /// was opened.
    pub fn second_factor_code_verified(
        &mut self,
        verification: &CodeVerification,
        user: &User,
        now: Timestamp,
    ) -> Result<Progress, Error> {
        let pointed = self
            .second_factor_verification
            .as_ref()
            .and_then(|v| v.verification_id.as_ref());
        if pointed != Some(&verification.id) {
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
    #[allow(clippy::too_many_arguments)]
    pub fn prepare_first_factor(
        &mut self,
        strategy: Strategy,
        identification: &IdentificationId,
        user: Option<&User>,
        settings: &Settings,
        now: Timestamp,
        id: VerificationId,
        redirect_url: Option<String>,
    ) -> Result<CodeVerification, Error> {
        self.ensure_open(now)?;
        if self.status != SignInStatus::NeedsFirstFactor {
            return Err(Error::client_state(match self.status {
                SignInStatus::NeedsIdentifier => "an identifier is needed first",
                _ => "the first factor is already verified",
            }));
        }
        if !strategy.needs_preparation() {
            return Err(Error::param_value_invalid(
                "strategy",
                format!("{} needs no preparation", strategy.as_str()),
            ));
        }
        match user {
            Some(u) => {
                if self.user_id.as_ref() != Some(&u.id) {
                    return Err(Error::internal("sign-in user mismatch"));
                }
                if u.factor(settings, &strategy, Some(identification))
                    .is_none()
                {
                    return Err(Error::StrategyForUserInvalid);
                }
                if let LockState::Locked(expires_in_seconds) = u.lock_state(now) {
                    return Err(Error::UserLocked { expires_in_seconds });
                }
            }
            None if self.unknown_account => {}
            None => return Err(Error::internal("sign-in without a user")),
        }
        self.start_delivery(
            Slot::FirstFactor,
            strategy,
            identification,
            settings,
            now,
            id,
            redirect_url,
        )
    }

    /// The stored verification a code attempt for `strategy` is checked against. A locked account
    /// is refused before any guess is looked at.
    pub fn check_code_attempt(
        &self,
        strategy: &Strategy,
        user: Option<&User>,
        now: Timestamp,
    ) -> Result<VerificationId, Error> {
        self.ensure_open(now)?;
        if self.status != SignInStatus::NeedsFirstFactor {
            return Err(Error::client_state(match self.status {
                SignInStatus::NeedsIdentifier => "an identifier is needed first",
                _ => "the first factor is already verified",
            }));
        }
        let id = self
            .first_factor_verification
            .as_ref()
            .filter(|v| &v.strategy == strategy)
            .and_then(|v| v.verification_id.clone())
            .ok_or(Error::VerificationMissing)?;
        if let Some(u) = user {
            if let LockState::Locked(expires_in_seconds) = u.lock_state(now) {
                return Err(Error::UserLocked { expires_in_seconds });
            }
        }
        Ok(id)
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
        let pointed = self
            .first_factor_verification
            .as_ref()
            .and_then(|v| v.verification_id.as_ref());
        if pointed != Some(&verification.id) {
            return Err(Error::VerificationMissing);
        }
        if !verification.strategy.resets_password() {
            return self.first_factor_verified(verification.strategy.clone(), user, settings, now);
        }
        self.ensure_open(now)?;
        if user.banned {
            return Err(Error::UserBanned);
        }
        self.first_factor_verification =
            Some(self.verified_from_prepared(verification.strategy.clone()));
        self.first_factor_verified_at = Some(now);
        self.status = SignInStatus::NeedsNewPassword;
        self.updated_at = now;
        Ok(Progress::NeedsMore)
    }

    pub fn check_new_password(&self, now: Timestamp) -> Result<(), Error> {
        self.ensure_open(now)?;
        if self.status != SignInStatus::NeedsNewPassword {
            return Err(Error::client_state("a new password is not awaited"));
        }
        Ok(())
    }

    /// The new password is stored. A reset never skips a second factor.
    pub fn new_password_set(&mut self, user: &User, now: Timestamp) -> Result<Progress, Error> {
        self.check_new_password(now)?;
        if user.banned {
            return Err(Error::UserBanned);
        }
        self.updated_at = now;
        if user.has_second_factor() {
            self.status = SignInStatus::NeedsSecondFactor;
            Ok(Progress::NeedsMore)
        } else {
            Ok(Progress::ReadyForSession)
        }
    }

    /// The session exists; the sign-in is done.
    pub fn complete(&mut self, session_id: SessionId, now: Timestamp) {
        self.status = SignInStatus::Complete;
        self.created_session_id = Some(session_id);
        self.updated_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, TestClock};
    use crate::identifier::Identifier;
    use crate::user::fixtures::user_with_password;

    fn start(clock: &TestClock, settings: &Settings) -> SignIn {
        SignIn::new(
            SignInId::from_trusted("sia_1".into()),
            ClientId::from_trusted("client_1".into()),
            clock.now(),
            settings,
        )
    }

    fn email() -> Identifier {
        Identifier::classify("alice@example.com").expect("valid")
    }

    #[test]
    fn password_flow_reaches_ready_for_session_then_complete() {
        let clock = TestClock::new(Timestamp(1_700_000_000_000));
        let settings = Settings::default();
        let user = user_with_password();
        let mut si = start(&clock, &settings);
        assert_eq!(si.status, SignInStatus::NeedsIdentifier);
        si.identify(email(), Some(&user), &settings, clock.now())
            .expect("identify");
        assert_eq!(si.status, SignInStatus::NeedsFirstFactor);
        assert_eq!(si.user_id.as_ref(), Some(&user.id));
        si.check_first_factor_attempt(&Strategy::Password, &user, &settings, clock.now())
            .expect("password allowed");
        clock.advance_seconds(3);
        let progress = si
            .first_factor_verified(Strategy::Password, &user, &settings, clock.now())
            .expect("verified");
        assert_eq!(progress, Progress::ReadyForSession);
        assert_eq!(si.first_factor_verified_at, Some(clock.now()));
        si.complete(SessionId::from_trusted("sess_1".into()), clock.now());
        assert_eq!(si.status, SignInStatus::Complete);
        assert!(si
            .check_first_factor_attempt(&Strategy::Password, &user, &settings, clock.now())
            .is_err());
    }

    #[test]
    fn unknown_identifier_is_not_found_and_changes_nothing() {
        let clock = TestClock::new(Timestamp(0));
        let settings = Settings::default();
        let mut si = start(&clock, &settings);
        let before = si.clone();
        assert_eq!(
            si.identify(email(), None, &settings, clock.now()),
            Err(Error::IdentifierNotFound)
        );
        assert_eq!(si, before);
    }

    #[test]
    fn disabled_identifier_kind_is_not_found() {
        let clock = TestClock::new(Timestamp(0));
        let mut settings = Settings::default();
        settings.identifiers.username = false;
        let user = user_with_password();
        let mut si = start(&clock, &settings);
        let username = Identifier::classify("alice").expect("valid");
        assert_eq!(
            si.identify(username, Some(&user), &settings, clock.now()),
            Err(Error::IdentifierNotFound)
        );
    }

    #[test]
    fn password_not_allowed_without_a_password_or_when_disabled() {
        let clock = TestClock::new(Timestamp(0));
        let mut settings = Settings::default();
        let mut user = user_with_password();
        let mut si = start(&clock, &settings);
        si.identify(email(), Some(&user), &settings, clock.now())
            .expect("identify");
        user.password = None;
        assert_eq!(
            si.check_first_factor_attempt(&Strategy::Password, &user, &settings, clock.now()),
            Err(Error::StrategyForUserInvalid)
        );
        user = user_with_password();
        settings.password.enabled = false;
        assert_eq!(
            si.check_first_factor_attempt(&Strategy::Password, &user, &settings, clock.now()),
            Err(Error::StrategyForUserInvalid)
        );
    }

    #[test]
    fn locked_user_is_refused_before_verification_until_the_lock_ends() {
        let clock = TestClock::new(Timestamp(0));
        let settings = Settings::default();
        let mut user = user_with_password();
        user.locked_until = Some(clock.now().plus_seconds(3600));
        let mut si = start(&clock, &settings);
        si.identify(email(), Some(&user), &settings, clock.now())
            .expect("identify");
        assert_eq!(
            si.check_first_factor_attempt(&Strategy::Password, &user, &settings, clock.now()),
            Err(Error::UserLocked {
                expires_in_seconds: Some(3600)
            })
        );
        clock.advance_seconds(3600);
        assert!(si
            .check_first_factor_attempt(&Strategy::Password, &user, &settings, clock.now())
            .is_ok());
    }

    #[test]
    fn banned_user_gets_no_session_even_with_the_right_password() {
        let clock = TestClock::new(Timestamp(0));
        let settings = Settings::default();
        let mut user = user_with_password();
        user.banned = true;
        let mut si = start(&clock, &settings);
        si.identify(email(), Some(&user), &settings, clock.now())
            .expect("identify");
        assert_eq!(
            si.first_factor_verified(Strategy::Password, &user, &settings, clock.now()),
            Err(Error::UserBanned)
        );
        assert_eq!(si.status, SignInStatus::NeedsFirstFactor);
        assert_eq!(si.first_factor_verification, None);
    }

    #[test]
    fn abandoned_sign_in_refuses_every_step() {
        let clock = TestClock::new(Timestamp(0));
        let settings = Settings::default();
        let user = user_with_password();
        let mut si = start(&clock, &settings);
        si.identify(email(), Some(&user), &settings, clock.now())
            .expect("identify");
        clock.advance_seconds(settings.sign_in.abandon_after_seconds - 1);
        assert!(!si.is_abandoned(clock.now()));
        clock.advance_seconds(1);
        assert!(si.is_abandoned(clock.now()));
        let err = si
            .check_first_factor_attempt(&Strategy::Password, &user, &settings, clock.now())
            .expect_err("abandoned");
        assert_eq!(err.code(), "client_state_invalid");
    }

    #[test]
    fn attempt_before_identifier_is_a_state_error() {
        let clock = TestClock::new(Timestamp(0));
        let settings = Settings::default();
        let user = user_with_password();
        let si = start(&clock, &settings);
        let err = si
            .check_first_factor_attempt(&Strategy::Password, &user, &settings, clock.now())
            .expect_err("no identifier");
        assert_ne!(err.status(), 401);
        assert_eq!((err.status(), err.code()), (400, "client_state_invalid"));
    }

    #[test]
    fn single_session_mode_refuses_a_second_account() {
        let settings = Settings::default();
        let signed_in = vec![SignedInSession {
            session_id: SessionId::from_trusted("sess_a".into()),
            user_id: UserId::from_trusted("user_a".into()),
        }];
        assert_eq!(
            SignIn::check_client_may_sign_in(&settings, &signed_in, None),
            Err(Error::SessionExists)
        );
        assert!(SignIn::check_client_may_sign_in(&settings, &[], None).is_ok());
    }

    #[test]
    fn multi_session_mode_refuses_the_same_account_twice() {
        let mut settings = Settings::default();
        settings.sessions.single_session_mode = false;
        let signed_in = vec![SignedInSession {
            session_id: SessionId::from_trusted("sess_a".into()),
            user_id: UserId::from_trusted("user_a".into()),
        }];
        assert!(SignIn::check_client_may_sign_in(
            &settings,
            &signed_in,
            Some(&UserId::from_trusted("user_b".into()))
        )
        .is_ok());
        assert_eq!(
            SignIn::check_client_may_sign_in(
                &settings,
                &signed_in,
                Some(&UserId::from_trusted("user_a".into()))
            ),
            Err(Error::IdentifierAlreadySignedIn {
                session_id: "sess_a".into()
            })
        );
    }

    fn email_id(user: &User) -> IdentificationId {
        user.email_addresses[0].id.clone()
    }

    #[test]
    fn email_code_flow_with_cooldown_and_verification() {
        let clock = TestClock::new(Timestamp(1_700_000_000_000));
        let settings = Settings::default();
        let user = user_with_password();
        let mut si = start(&clock, &settings);
        si.identify(email(), Some(&user), &settings, clock.now())
            .expect("identify");
        // Attempting before preparing is refused.
        assert_eq!(
            si.check_code_attempt(&Strategy::EmailCode, Some(&user), clock.now()),
            Err(Error::VerificationMissing)
        );

        let v = si
            .prepare_first_factor(
                Strategy::EmailCode,
                &email_id(&user),
                Some(&user),
                &settings,
                clock.now(),
                VerificationId::from_trusted("ver_1".into()),
                None,
            )
            .expect("prepare");
        assert_eq!(
            (v.max_attempts, v.expire_at),
            (5, clock.now().plus_seconds(600))
        );
        assert_eq!(
            si.first_factor_verification
                .as_ref()
                .and_then(|f| f.verification_id.clone()),
            Some(v.id.clone())
        );

        clock.advance_seconds(10);
        let again = si.prepare_first_factor(
            Strategy::EmailCode,
            &email_id(&user),
            Some(&user),
            &settings,
            clock.now(),
            VerificationId::from_trusted("ver_2".into()),
            None,
        );
        assert_eq!(
            again,
            Err(Error::TooManyRequests {
                retry_after_seconds: 20
            })
        );
        clock.advance_seconds(20);
        let v2 = si
            .prepare_first_factor(
                Strategy::EmailCode,
                &email_id(&user),
                Some(&user),
                &settings,
                clock.now(),
                VerificationId::from_trusted("ver_2".into()),
                None,
            )
            .expect("resend after the cooldown");

        assert_eq!(
            si.check_code_attempt(&Strategy::EmailCode, Some(&user), clock.now()),
            Ok(v2.id.clone())
        );
        assert_eq!(
            si.check_code_attempt(&Strategy::PhoneCode, Some(&user), clock.now()),
            Err(Error::VerificationMissing)
        );
        // The older code is no longer the one the sign-in waits for.
        assert_eq!(
            si.code_verified(&v, &user, &settings, clock.now()),
            Err(Error::VerificationMissing)
        );
        assert_eq!(
            si.code_verified(&v2, &user, &settings, clock.now()),
            Ok(Progress::ReadyForSession)
        );
        assert_eq!(si.first_factor_verified_at, Some(clock.now()));
    }

    #[test]
    fn codes_only_for_the_users_own_identifications_and_not_when_locked() {
        let clock = TestClock::new(Timestamp(0));
        let settings = Settings::default();
        let mut user = user_with_password();
        let mut si = start(&clock, &settings);
        si.identify(email(), Some(&user), &settings, clock.now())
            .expect("identify");
        let other = IdentificationId::from_trusted("idn_someone_else".into());
        let id = || VerificationId::from_trusted("ver_x".into());
        assert_eq!(
            si.prepare_first_factor(
                Strategy::EmailCode,
                &other,
                Some(&user),
                &settings,
                clock.now(),
                id(),
                None
            ),
            Err(Error::StrategyForUserInvalid)
        );
        assert_eq!(
            si.prepare_first_factor(
                Strategy::PhoneCode,
                &email_id(&user),
                Some(&user),
                &settings,
                clock.now(),
                id(),
                None
            ),
            Err(Error::StrategyForUserInvalid),
            "an email address cannot receive SMS"
        );
        user.locked_until = Some(clock.now().plus_seconds(60));
        assert_eq!(
            si.prepare_first_factor(
                Strategy::EmailCode,
                &email_id(&user),
                Some(&user),
                &settings,
                clock.now(),
                id(),
                None
            ),
            Err(Error::UserLocked {
                expires_in_seconds: Some(60)
            })
        );
    }

    #[test]
    fn reset_code_leads_to_a_new_password_then_a_session() {
        let clock = TestClock::new(Timestamp(0));
        let settings = Settings::default();
        let user = user_with_password();
        let mut si = start(&clock, &settings);
        si.identify(email(), Some(&user), &settings, clock.now())
            .expect("identify");
        assert_eq!(
            si.check_new_password(clock.now()).map_err(|e| e.code()),
            Err("client_state_invalid")
        );
        let v = si
            .prepare_first_factor(
                Strategy::ResetPasswordEmailCode,
                &email_id(&user),
                Some(&user),
                &settings,
                clock.now(),
                VerificationId::from_trusted("ver_r".into()),
                None,
            )
            .expect("prepare");
        assert_eq!(
            si.code_verified(&v, &user, &settings, clock.now()),
            Ok(Progress::NeedsMore)
        );
        assert_eq!(si.status, SignInStatus::NeedsNewPassword);
        assert!(si.check_new_password(clock.now()).is_ok());
        assert_eq!(
            si.new_password_set(&user, clock.now()),
            Ok(Progress::ReadyForSession)
        );
    }

    #[test]
    fn enumeration_protection_walks_unknown_accounts_through_the_same_steps() {
        let clock = TestClock::new(Timestamp(0));
        let mut settings = Settings::default();
        let mut si = start(&clock, &settings);
        assert_eq!(
            si.identify(email(), None, &settings, clock.now()),
            Err(Error::IdentifierNotFound)
        );
        settings.sign_in.enumeration_protection = true;
        si.identify(email(), None, &settings, clock.now())
            .expect("protected");
        assert!(si.unknown_account && si.user_id.is_none());
        assert_eq!(si.status, SignInStatus::NeedsFirstFactor);
        let fake = IdentificationId::from_trusted("idn_fake".into());
        let v = si
            .prepare_first_factor(
                Strategy::EmailCode,
                &fake,
                None,
                &settings,
                clock.now(),
                VerificationId::from_trusted("ver_f".into()),
                None,
            )
            .expect("looks prepared");
        assert_eq!(v.user_id, None, "nothing can ever verify it");
    }

    #[test]
    fn strategy_names_round_trip() {
        for name in [
            "password",
            "email_code",
            "reset_password_phone_code",
            "web3_solana_signature",
            "oauth_google",
            "enterprise_sso",
            "google_one_tap",
        ] {
            let s = Strategy::parse(name).expect(name);
            assert_eq!(s.as_str(), name);
        }
        assert_eq!(Strategy::parse("oauth_"), None);
        assert_eq!(Strategy::parse("oauth_Evil!"), None);
        assert_eq!(Strategy::parse("hunter2"), None);
    }

    fn identified(clock: &TestClock, settings: &Settings, user: &User, known: bool) -> SignIn {
        let mut si = start(clock, settings);
        si.identify(email(), Some(user), settings, clock.now())
            .expect("identify");
        si.note_client_trust(known);
        si
    }

    fn phone_for_mfa(id: &str, default: bool) -> crate::user::PhoneNumber {
        crate::user::PhoneNumber {
            id: IdentificationId::from_trusted(id.into()),
            phone_number: "+15550100000".into(),
            verified: true,
            verification_strategy: Some("admin".into()),
            reserved_for_second_factor: true,
            default_second_factor: default,
            created_at: Timestamp(0),
        }
    }

    #[test]
    fn totp_user_needs_a_second_factor_and_gets_a_session_only_after_it() {
        let clock = TestClock::new(Timestamp(1_700_000_000_000));
        let settings = Settings::default();
        let mut user = user_with_password();
        user.totp_enabled = true;
        user.backup_codes_remaining = 10;
        let mut si = identified(&clock, &settings, &user, false);
        let progress = si
            .first_factor_verified(Strategy::Password, &user, &settings, clock.now())
            .expect("password");
        assert_eq!(progress, Progress::NeedsMore);
        assert_eq!(
            si.status,
            SignInStatus::NeedsSecondFactor,
            "MFA takes precedence over client trust"
        );
        let offered: Vec<Strategy> = si
            .awaited_second_factors(&user, &settings)
            .into_iter()
            .map(|f| f.strategy)
            .collect();
        assert_eq!(offered, vec![Strategy::Totp, Strategy::BackupCode]);
        assert_eq!(
            si.check_second_factor_attempt(&Strategy::Totp, &user, &settings, clock.now()),
            Ok(None)
        );
        assert_eq!(
            si.check_second_factor_attempt(&Strategy::PhoneCode, &user, &settings, clock.now()),
            Err(Error::StrategyForUserInvalid)
        );
        assert!(si
            .check_first_factor_attempt(&Strategy::Password, &user, &settings, clock.now())
            .is_err());
        clock.advance_seconds(20);
        assert_eq!(
            si.second_factor_verified(Strategy::Totp, &user, clock.now()),
            Ok(Progress::ReadyForSession)
        );
        assert_eq!(si.second_factor_verified_at, Some(clock.now()));
        assert_eq!(
            si.second_factor_verification.as_ref().map(|v| v.status),
            Some(VerificationStatus::Verified)
        );
    }

    #[test]
    fn locked_or_banned_users_cannot_pass_the_second_factor() {
        let clock = TestClock::new(Timestamp(0));
        let settings = Settings::default();
        let mut user = user_with_password();
        user.totp_enabled = true;
        let mut si = identified(&clock, &settings, &user, true);
        si.first_factor_verified(Strategy::Password, &user, &settings, clock.now())
            .expect("password");
        user.locked_until = Some(clock.now().plus_seconds(60));
        assert_eq!(
            si.check_second_factor_attempt(&Strategy::Totp, &user, &settings, clock.now()),
            Err(Error::UserLocked {
                expires_in_seconds: Some(60)
            })
        );
        user.locked_until = None;
        user.banned = true;
        assert_eq!(
            si.second_factor_verified(Strategy::Totp, &user, clock.now()),
            Err(Error::UserBanned)
        );
    }

    #[test]
    fn phone_second_factor_is_prepared_then_verified_by_its_own_code() {
        let clock = TestClock::new(Timestamp(0));
        let settings = Settings::default();
        let mut user = user_with_password();
        user.phone_numbers.push(phone_for_mfa("idn_phone", false));
        let phone = IdentificationId::from_trusted("idn_phone".into());
        assert!(
            !user
                .first_factors(&settings, None)
                .iter()
                .any(|f| f.phone_number_id.as_ref() == Some(&phone)),
            "a phone kept for MFA is not a first factor"
        );
        let mut si = identified(&clock, &settings, &user, true);
        si.first_factor_verified(Strategy::Password, &user, &settings, clock.now())
            .expect("password");
        let factors = si.awaited_second_factors(&user, &settings);
        assert_eq!(factors[0].phone_number_id.as_ref(), Some(&phone));
        assert_eq!(
            factors[0].default,
            Some(true),
            "the only phone is the default"
        );
        let email_id = IdentificationId::from_trusted("idn_email1".into());
        assert_eq!(
            si.prepare_second_factor(
                Strategy::EmailCode,
                &email_id,
                &user,
                &settings,
                clock.now(),
                VerificationId::from_trusted("ver_x".into()),
                None
            ),
            Err(Error::StrategyForUserInvalid),
            "an email code is no second factor for this user"
        );
        let v = si
            .prepare_second_factor(
                Strategy::PhoneCode,
                &phone,
                &user,
                &settings,
                clock.now(),
                VerificationId::from_trusted("ver_1".into()),
                None,
            )
            .expect("prepared");
        assert_eq!(v.slot, Slot::SecondFactor);
        assert_eq!(v.max_attempts, settings.codes.max_attempts);
        assert!(matches!(
            si.prepare_second_factor(
                Strategy::PhoneCode,
                &phone,
                &user,
                &settings,
                clock.now(),
                VerificationId::from_trusted("ver_2".into()),
                None
            ),
            Err(Error::TooManyRequests { .. })
        ));
        assert_eq!(
            si.check_second_factor_attempt(&Strategy::PhoneCode, &user, &settings, clock.now()),
            Ok(Some(v.id.clone()))
        );
        let mut stale = v.clone();
        stale.id = VerificationId::from_trusted("ver_other".into());
        assert_eq!(
            si.delivered_verified(&stale, &user, &settings, clock.now()),
            Err(Error::VerificationMissing)
        );
        assert_eq!(
            si.delivered_verified(&v, &user, &settings, clock.now()),
            Ok(Progress::ReadyForSession)
        );
    }

    #[test]
    fn a_new_client_must_confirm_a_password_sign_in() {
        let clock = TestClock::new(Timestamp(0));
        let settings = Settings::default();
        assert!(settings.sign_in.client_trust, "on by default, as in Clerk");
        let user = user_with_password();
        let mut si = identified(&clock, &settings, &user, false);
        assert_eq!(si.client_trust_state, Some(ClientTrustState::New));
        assert_eq!(
            si.first_factor_verified(Strategy::Password, &user, &settings, clock.now()),
            Ok(Progress::NeedsMore)
        );
        assert_eq!(si.status, SignInStatus::NeedsClientTrust);
        let offered: Vec<Strategy> = si
            .awaited_second_factors(&user, &settings)
            .into_iter()
            .map(|f| f.strategy)
            .collect();
        assert_eq!(offered, vec![Strategy::EmailCode, Strategy::EmailLink]);
        let email_id = IdentificationId::from_trusted("idn_email1".into());
        let v = si
            .prepare_second_factor(
                Strategy::EmailCode,
                &email_id,
                &user,
                &settings,
                clock.now(),
                VerificationId::from_trusted("ver_1".into()),
                None,
            )
            .expect("prepared");
        assert_eq!(
            si.delivered_verified(&v, &user, &settings, clock.now()),
            Ok(Progress::ReadyForSession)
        );
        assert_eq!(si.second_factor_verified_at, Some(clock.now()));
    }

    #[test]
    fn client_trust_spares_known_clients_codes_and_disabled_instances() {
        let clock = TestClock::new(Timestamp(0));
        let mut settings = Settings::default();
        settings.sign_in.client_trust = true;
        let user = user_with_password();
        let mut known = identified(&clock, &settings, &user, true);
        assert_eq!(
            known.first_factor_verified(Strategy::Password, &user, &settings, clock.now()),
            Ok(Progress::ReadyForSession)
        );
        let mut by_code = identified(&clock, &settings, &user, false);
        assert_eq!(
            by_code.first_factor_verified(Strategy::EmailCode, &user, &settings, clock.now()),
            Ok(Progress::ReadyForSession),
            "only passwords need a trusted client"
        );
        let mut nothing_to_confirm_with = user.clone();
        nothing_to_confirm_with.email_addresses[0].verified = false;
        let mut si = identified(&clock, &settings, &nothing_to_confirm_with, false);
        assert_eq!(
            si.first_factor_verified(
                Strategy::Password,
                &nothing_to_confirm_with,
                &settings,
                clock.now()
            ),
            Ok(Progress::ReadyForSession)
        );
        settings.sign_in.client_trust = false;
        let mut off = identified(&clock, &settings, &user, false);
        assert_eq!(
            off.first_factor_verified(Strategy::Password, &user, &settings, clock.now()),
            Ok(Progress::ReadyForSession)
        );
    }

    #[test]
    fn second_factor_steps_are_refused_when_not_awaited() {
        let clock = TestClock::new(Timestamp(0));
        let settings = Settings::default();
        let user = user_with_password();
        let si = identified(&clock, &settings, &user, true);
        assert!(matches!(
            si.check_second_factor_attempt(&Strategy::Totp, &user, &settings, clock.now()),
            Err(Error::ClientStateInvalid { .. })
        ));
    }
}
