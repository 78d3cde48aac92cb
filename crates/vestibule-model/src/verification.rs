//! One-time codes and email links: each proves control of one email address or phone number for
//! one step of one sign-in, once, within its lifetime, in a limited number of guesses.
//!
//! The code itself never lives here: the store keeps only a keyed hash of it, and counts guesses
//! with a conditional update so parallel guesses cannot exceed the limit.

use crate::clock::Timestamp;
use crate::error::Error;
use crate::ids::{ClientId, IdentificationId, SignInId, UserId, VerificationId};
use crate::rng::{digits, Rng};
use crate::sign_in::{Strategy, VerificationStatus};
use serde::{Deserialize, Serialize};

/// Digits in a code: 6, about 20 bits, NIST's minimum for out-of-band secrets.
pub const CODE_DIGITS: usize = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Slot {
    FirstFactor,
    SecondFactor,
}

impl Slot {
    pub fn as_str(self) -> &'static str {
        match self {
            Slot::FirstFactor => "first_factor",
            Slot::SecondFactor => "second_factor",
        }
    }

    pub fn parse(s: &str) -> Option<Slot> {
        match s {
            "first_factor" => Some(Slot::FirstFactor),
            "second_factor" => Some(Slot::SecondFactor),
            _ => None,
        }
    }
}

/// Whether a strategy is proven by a code or a link that the server sends.
pub fn is_delivered(strategy: &Strategy) -> bool {
    matches!(
        strategy,
        Strategy::EmailCode
            | Strategy::EmailLink
            | Strategy::PhoneCode
            | Strategy::ResetPasswordEmailCode
            | Strategy::ResetPasswordPhoneCode
    )
}

/// Whether a delivered strategy goes by email (else SMS).
pub fn is_email(strategy: &Strategy) -> bool {
    matches!(
        strategy,
        Strategy::EmailCode | Strategy::EmailLink | Strategy::ResetPasswordEmailCode
    )
}

pub fn is_reset(strategy: &Strategy) -> bool {
    matches!(
        strategy,
        Strategy::ResetPasswordEmailCode | Strategy::ResetPasswordPhoneCode
    )
}

/// A fresh six-digit code.
pub fn new_code(rng: &dyn Rng) -> String {
    digits(rng, CODE_DIGITS)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeVerification {
    pub id: VerificationId,
    pub sign_in_id: SignInId,
    /// `None` for an account that does not exist (enumeration protection): nothing can verify it.
    pub user_id: Option<UserId>,
    pub slot: Slot,
    pub strategy: Strategy,
    pub identification_id: Option<IdentificationId>,
    pub attempts: u32,
    pub max_attempts: u32,
    /// As stored: `unverified`, `verified` or `failed`. Expiry is applied by [`Self::status_at`].
    pub status: VerificationStatus,
    pub expire_at: Timestamp,
    pub created_at: Timestamp,
    pub verified_at: Option<Timestamp>,
    /// Email links: where the browser goes after opening the link.
    pub redirect_url: Option<String>,
    /// Email links: the client that opened the link.
    pub verified_by_client_id: Option<ClientId>,
}

impl CodeVerification {
    pub fn status_at(&self, now: Timestamp) -> VerificationStatus {
        if self.status == VerificationStatus::Unverified && now >= self.expire_at {
            VerificationStatus::Expired
        } else {
            self.status
        }
    }

    /// Whether a guess may be checked now; the refusals are Clerk's verification errors.
    pub fn check_attempt(&self, now: Timestamp) -> Result<(), Error> {
        match self.status_at(now) {
            VerificationStatus::Unverified if self.attempts < self.max_attempts => Ok(()),
            VerificationStatus::Unverified | VerificationStatus::Failed => {
                Err(Error::VerificationFailed)
            }
            VerificationStatus::Expired => Err(Error::VerificationExpired),
            VerificationStatus::Verified | VerificationStatus::Transferable => {
                Err(Error::VerificationAlreadyVerified)
            }
        }
    }

    /// Seconds until another code may be sent for the same step, if that is in the future.
    pub fn cooldown_left(&self, now: Timestamp, cooldown_seconds: i64) -> Option<u64> {
        let until = self.created_at.plus_seconds(cooldown_seconds);
        (now < until).then(|| u64::try_from(now.seconds_until(until)).unwrap_or(1).max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeqRng;

    fn verification(now: Timestamp) -> CodeVerification {
        CodeVerification {
            id: VerificationId::from_trusted("ver_1".into()),
            sign_in_id: SignInId::from_trusted("sia_1".into()),
            user_id: Some(UserId::from_trusted("user_1".into())),
            slot: Slot::FirstFactor,
            strategy: Strategy::EmailCode,
            identification_id: None,
            attempts: 0,
            max_attempts: 3,
            status: VerificationStatus::Unverified,
            expire_at: now.plus_seconds(600),
            created_at: now,
            verified_at: None,
            redirect_url: None,
            verified_by_client_id: None,
        }
    }

    #[test]
    fn codes_are_six_digits() {
        let c = new_code(&SeqRng::new(3));
        assert_eq!(c.len(), 6);
        assert!(c.bytes().all(|b| b.is_ascii_digit()));
    }

    #[test]
    fn attempts_expiry_and_single_use() {
        let t0 = Timestamp(1_000_000);
        let mut v = verification(t0);
        assert_eq!(v.check_attempt(t0.plus_seconds(599)), Ok(()));
        assert_eq!(
            v.check_attempt(t0.plus_seconds(600)),
            Err(Error::VerificationExpired)
        );
        assert_eq!(
            v.status_at(t0.plus_seconds(600)),
            VerificationStatus::Expired
        );
        v.attempts = 3;
        assert_eq!(v.check_attempt(t0), Err(Error::VerificationFailed));
        v.attempts = 1;
        v.status = VerificationStatus::Verified;
        assert_eq!(v.check_attempt(t0), Err(Error::VerificationAlreadyVerified));
        assert_eq!(
            v.status_at(t0.plus_seconds(10_000)),
            VerificationStatus::Verified,
            "a used code does not expire into reuse"
        );
    }

    #[test]
    fn resend_cooldown() {
        let t0 = Timestamp(1_000_000);
        let v = verification(t0);
        assert_eq!(v.cooldown_left(t0.plus_seconds(1), 30), Some(29));
        assert_eq!(v.cooldown_left(t0.plus_millis(29_500), 30), Some(1));
        assert_eq!(v.cooldown_left(t0.plus_seconds(30), 30), None);
    }

    #[test]
    fn delivered_strategies_and_channels() {
        assert!(is_delivered(&Strategy::EmailLink) && is_email(&Strategy::EmailLink));
        assert!(
            is_delivered(&Strategy::ResetPasswordPhoneCode)
                && !is_email(&Strategy::ResetPasswordPhoneCode)
        );
        assert!(is_reset(&Strategy::ResetPasswordEmailCode));
        assert!(!is_delivered(&Strategy::Password));
    }
}
