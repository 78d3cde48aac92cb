//! Reverification: a signed-in user proves a factor again before a sensitive change (Clerk's
//! `SessionVerification`). The level says which: `first_factor`, `second_factor` (the second
//! factor alone when the account has one) or `multi_factor` (both, in order). An account without
//! a second factor falls back to `first_factor` for either of the others, as in Clerk.
//!
//! Pure: the caller checks codes, passwords and TOTP, then reports what was proven.

use crate::clock::Timestamp;
use crate::error::Error;
use crate::ids::{SessionId, SessionVerificationId, UserId, VerificationId};
use crate::settings::Settings;
use crate::sign_in::{Strategy, Verification};
use crate::strategy::Step;
use crate::user::{Factor, LockState, User};
use crate::verification::{
    start_challenge, start_code, CodeRequest, CodeVerification, NewChallenge, NewCode, SentCode,
    Slot, VerificationOwner,
};
use serde::{Deserialize, Serialize};

/// How long a started reverification can be finished.
pub const SESSION_VERIFICATION_LIFETIME_SECONDS: i64 = 600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReverificationLevel {
    FirstFactor,
    SecondFactor,
    MultiFactor,
}

impl ReverificationLevel {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "first_factor" => Some(ReverificationLevel::FirstFactor),
            "second_factor" => Some(ReverificationLevel::SecondFactor),
            "multi_factor" => Some(ReverificationLevel::MultiFactor),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ReverificationLevel::FirstFactor => "first_factor",
            ReverificationLevel::SecondFactor => "second_factor",
            ReverificationLevel::MultiFactor => "multi_factor",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionVerificationStatus {
    NeedsFirstFactor,
    NeedsSecondFactor,
    Complete,
}

impl SessionVerificationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionVerificationStatus::NeedsFirstFactor => "needs_first_factor",
            SessionVerificationStatus::NeedsSecondFactor => "needs_second_factor",
            SessionVerificationStatus::Complete => "complete",
        }
    }
}

/// The first factors a reverification accepts: the password and codes to the user's own
/// addresses (links and resets prove nothing new here).
pub fn reverification_first_factors(user: &User, settings: &Settings) -> Vec<Factor> {
    user.first_factors(settings, None)
        .into_iter()
        .filter(|f| f.strategy.serves(Step::ReverifyFirstFactor))
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionVerification {
    pub id: SessionVerificationId,
    pub session_id: SessionId,
    pub user_id: UserId,
    pub level: ReverificationLevel,
    pub status: SessionVerificationStatus,
    pub first_factor_verification: Option<Verification>,
    pub second_factor_verification: Option<Verification>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub expire_at: Timestamp,
}

impl SessionVerification {
    /// A reverification of `session` at `requested` level, or the first-factor level for an
    /// account without a second factor.
    pub fn start(
        id: SessionVerificationId,
        session_id: SessionId,
        user: &User,
        requested: ReverificationLevel,
        settings: &Settings,
        now: Timestamp,
    ) -> Self {
        let has_second = !user.second_factors(settings).is_empty();
        let level = if has_second {
            requested
        } else {
            ReverificationLevel::FirstFactor
        };
        let status = match level {
            ReverificationLevel::SecondFactor => SessionVerificationStatus::NeedsSecondFactor,
            _ => SessionVerificationStatus::NeedsFirstFactor,
        };
        SessionVerification {
            id,
            session_id,
            user_id: user.id.clone(),
            level,
            status,
            first_factor_verification: None,
            second_factor_verification: None,
            created_at: now,
            updated_at: now,
            expire_at: now.plus_seconds(SESSION_VERIFICATION_LIFETIME_SECONDS),
        }
    }

    /// The first factors offered: none at the second-factor level.
    pub fn first_factors(&self, user: &User, settings: &Settings) -> Vec<Factor> {
        match self.level {
            ReverificationLevel::SecondFactor => Vec::new(),
            _ => reverification_first_factors(user, settings),
        }
    }

    /// The second factors offered: none at the first-factor level.
    pub fn second_factors(&self, user: &User, settings: &Settings) -> Vec<Factor> {
        match self.level {
            ReverificationLevel::FirstFactor => Vec::new(),
            _ => user.second_factors(settings),
        }
    }

    fn awaited(&self, slot: Slot) -> SessionVerificationStatus {
        match slot {
            Slot::FirstFactor => SessionVerificationStatus::NeedsFirstFactor,
            Slot::SecondFactor => SessionVerificationStatus::NeedsSecondFactor,
        }
    }

    /// Refuses a step this reverification does not wait for now.
    fn ensure_awaiting(&self, slot: Slot, action: &str, now: Timestamp) -> Result<(), Error> {
        if now >= self.expire_at {
            return Err(Error::SessionReverificationMissing);
        }
        if self.status != self.awaited(slot) {
            return Err(Error::InvalidActionForSessionReverification {
                action: action.into(),
                resolution: slot.as_str().replace('_', " "),
            });
        }
        Ok(())
    }

    /// The factors offered for `slot`.
    pub fn offered(&self, slot: Slot, user: &User, settings: &Settings) -> Vec<Factor> {
        match slot {
            Slot::FirstFactor => self.first_factors(user, settings),
            Slot::SecondFactor => self.second_factors(user, settings),
        }
    }

    /// What the step in `slot` waits for or has proven.
    fn step(&self, slot: Slot) -> Option<&Verification> {
        match slot {
            Slot::FirstFactor => self.first_factor_verification.as_ref(),
            Slot::SecondFactor => self.second_factor_verification.as_ref(),
        }
    }

    fn step_mut(&mut self, slot: Slot) -> &mut Option<Verification> {
        match slot {
            Slot::FirstFactor => &mut self.first_factor_verification,
            Slot::SecondFactor => &mut self.second_factor_verification,
        }
    }

    /// Starts a code for `slot` to one of the user's offered addresses: the verification to
    /// store and send.
    pub fn prepare(
        &mut self,
        slot: Slot,
        request: CodeRequest,
        user: &User,
        settings: &Settings,
        now: Timestamp,
        id: VerificationId,
    ) -> Result<CodeVerification, Error> {
        self.ensure_awaiting(slot, "prepare a factor", now)?;
        let (strategy, identification) = (&request.strategy, &request.identification);
        let offered = strategy.needs_preparation()
            && self
                .offered(slot, user, settings)
                .iter()
                .any(|f| f.goes_to(strategy, identification));
        if !offered {
            return Err(Error::StrategyForUserInvalid);
        }
        let current = self.step(slot).and_then(SentCode::from_view);
        let (code, sent) = start_code(
            NewCode {
                id,
                owner: VerificationOwner::SessionVerification(self.id.clone()),
                user_id: Some(user.id.clone()),
                slot,
                request,
            },
            current.as_ref(),
            settings,
            now,
        )?;
        let view = sent.view();
        *self.step_mut(slot) = Some(view);
        self.updated_at = now;
        Ok(code)
    }

    /// Hands out a passkey challenge (`nonce`: the request options) for `slot`: the verification
    /// to store with the ceremony.
    pub fn prepare_passkey(
        &mut self,
        slot: Slot,
        challenge: (VerificationId, String),
        user: &User,
        settings: &Settings,
        now: Timestamp,
    ) -> Result<CodeVerification, Error> {
        self.ensure_awaiting(slot, "prepare a factor", now)?;
        let offered = self
            .offered(slot, user, settings)
            .iter()
            .any(|f| f.strategy == Strategy::Passkey);
        if !offered {
            return Err(Error::StrategyForUserInvalid);
        }
        let (id, nonce) = challenge;
        let (code, challenge) = start_challenge(
            NewChallenge {
                id,
                owner: VerificationOwner::SessionVerification(self.id.clone()),
                user_id: Some(user.id.clone()),
                slot,
                nonce,
            },
            settings,
            now,
        );
        *self.step_mut(slot) = Some(challenge.view());
        self.updated_at = now;
        Ok(code)
    }

    /// Whether `strategy` may be attempted for `slot` now. For a code the server sent, returns
    /// the stored verification to check the guess against.
    pub fn check_attempt(
        &self,
        slot: Slot,
        strategy: &Strategy,
        user: &User,
        settings: &Settings,
        now: Timestamp,
    ) -> Result<Option<VerificationId>, Error> {
        self.ensure_awaiting(slot, "attempt a factor", now)?;
        if !self
            .offered(slot, user, settings)
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
        self.step(slot)
            .filter(|v| &v.strategy == strategy)
            .and_then(|v| v.verification_id.clone())
            .map(Some)
            .ok_or(Error::VerificationMissing)
    }

    /// `strategy` was proven for `slot`: on to the second factor at the multi-factor level, else
    /// complete.
    pub fn verified(
        &mut self,
        slot: Slot,
        strategy: Strategy,
        now: Timestamp,
    ) -> Result<(), Error> {
        self.ensure_awaiting(slot, "attempt a factor", now)?;
        let mut done = Verification::verified(strategy.clone());
        let current = self.step_mut(slot);
        if let Some(prepared) = current.as_ref().filter(|p| p.strategy == strategy) {
            done.verification_id = prepared.verification_id.clone();
            done.identification_id = prepared.identification_id.clone();
            done.created_at = prepared.created_at;
        }
        *current = Some(done);
        self.status = match (slot, self.level) {
            (Slot::FirstFactor, ReverificationLevel::MultiFactor) => {
                SessionVerificationStatus::NeedsSecondFactor
            }
            _ => SessionVerificationStatus::Complete,
        };
        self.updated_at = now;
        Ok(())
    }

    /// A code this reverification sent was right.
    pub fn code_verified(&mut self, code: &CodeVerification, now: Timestamp) -> Result<(), Error> {
        let pointed = self
            .step(code.slot)
            .and_then(|v| v.verification_id.as_ref());
        if code.owner != VerificationOwner::SessionVerification(self.id.clone())
            || pointed != Some(&code.id)
        {
            return Err(Error::VerificationMissing);
        }
        self.verified(code.slot, code.strategy.clone(), now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::IdentificationId;
    use crate::user::fixtures::user_with_password;

    fn now() -> Timestamp {
        Timestamp(1_700_000_000_000)
    }

    fn with_totp() -> User {
        let mut u = user_with_password();
        u.totp_enabled = true;
        u
    }

    fn start(user: &User, level: ReverificationLevel) -> SessionVerification {
        SessionVerification::start(
            SessionVerificationId::from_trusted("sv_1".into()),
            SessionId::from_trusted("sess_1".into()),
            user,
            level,
            &Settings::default(),
            now(),
        )
    }

    #[test]
    fn without_a_second_factor_every_level_falls_back_to_the_first() {
        let user = user_with_password();
        for level in [
            ReverificationLevel::SecondFactor,
            ReverificationLevel::MultiFactor,
        ] {
            let sv = start(&user, level);
            assert_eq!(sv.level, ReverificationLevel::FirstFactor);
            assert_eq!(sv.status, SessionVerificationStatus::NeedsFirstFactor);
            assert!(sv.second_factors(&user, &Settings::default()).is_empty());
        }
    }

    #[test]
    fn second_factor_level_asks_only_for_the_second_factor() {
        let user = with_totp();
        let mut sv = start(&user, ReverificationLevel::SecondFactor);
        assert_eq!(sv.status, SessionVerificationStatus::NeedsSecondFactor);
        assert!(sv.first_factors(&user, &Settings::default()).is_empty());
        let refused = sv.verified(Slot::FirstFactor, Strategy::Password, now());
        assert!(matches!(
            refused,
            Err(Error::InvalidActionForSessionReverification { .. })
        ));
        sv.verified(Slot::SecondFactor, Strategy::Totp, now())
            .expect("the second factor is awaited");
        assert_eq!(sv.status, SessionVerificationStatus::Complete);
    }

    #[test]
    fn multi_factor_level_takes_both_in_order() {
        let user = with_totp();
        let settings = Settings::default();
        let mut sv = start(&user, ReverificationLevel::MultiFactor);
        assert!(sv
            .check_attempt(Slot::SecondFactor, &Strategy::Totp, &user, &settings, now())
            .is_err());
        sv.verified(Slot::FirstFactor, Strategy::Password, now())
            .expect("the first factor is awaited");
        assert_eq!(sv.status, SessionVerificationStatus::NeedsSecondFactor);
        assert_eq!(
            sv.check_attempt(Slot::SecondFactor, &Strategy::Totp, &user, &settings, now()),
            Ok(None)
        );
        sv.verified(Slot::SecondFactor, Strategy::Totp, now())
            .expect("the second factor is awaited");
        assert_eq!(sv.status, SessionVerificationStatus::Complete);
        assert!(sv
            .verified(Slot::SecondFactor, Strategy::Totp, now())
            .is_err());
    }

    #[test]
    fn an_expired_reverification_must_be_started_again() {
        let user = user_with_password();
        let mut sv = start(&user, ReverificationLevel::FirstFactor);
        let later = now().plus_seconds(SESSION_VERIFICATION_LIFETIME_SECONDS);
        assert_eq!(
            sv.verified(Slot::FirstFactor, Strategy::Password, later),
            Err(Error::SessionReverificationMissing)
        );
    }

    #[test]
    fn codes_go_only_to_offered_addresses_and_only_their_own_code_counts() {
        let user = user_with_password();
        let settings = Settings::default();
        let mut sv = start(&user, ReverificationLevel::FirstFactor);
        let email = user.email_addresses[0].id.clone();
        let stranger = IdentificationId::from_trusted("idn_elsewhere".into());
        assert_eq!(
            sv.prepare(
                Slot::FirstFactor,
                CodeRequest {
                    strategy: Strategy::EmailCode,
                    identification: stranger.clone(),
                    redirect_url: None
                },
                &user,
                &settings,
                now(),
                VerificationId::from_trusted("ver_x".into()),
            ),
            Err(Error::StrategyForUserInvalid)
        );
        let code = sv
            .prepare(
                Slot::FirstFactor,
                CodeRequest {
                    strategy: Strategy::EmailCode,
                    identification: email.clone(),
                    redirect_url: None,
                },
                &user,
                &settings,
                now(),
                VerificationId::from_trusted("ver_1".into()),
            )
            .expect("an offered address");
        assert_eq!(
            code.owner,
            VerificationOwner::SessionVerification(sv.id.clone())
        );
        let mut foreign = code.clone();
        foreign.owner = VerificationOwner::Identification(email.clone());
        assert_eq!(
            sv.code_verified(&foreign, now()),
            Err(Error::VerificationMissing)
        );
        sv.code_verified(&code, now()).expect("its own code");
        assert_eq!(sv.status, SessionVerificationStatus::Complete);
    }
}
