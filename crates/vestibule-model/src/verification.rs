//! One-time codes and email links: each proves control of one email address or phone number for
//! one step of one flow (a sign-in, a reverification, or confirming a newly added phone number),
//! once, within its lifetime, in a limited number of guesses.
//!
//! The code itself never lives here: the store keeps only a keyed hash of it, and counts guesses
//! with a conditional update so parallel guesses cannot exceed the limit.

use crate::clock::Timestamp;
use crate::error::Error;
use crate::ids::{
    ClientId, IdentificationId, SessionVerificationId, SignInId, UserId, VerificationId,
};
use crate::rng::{digits, Rng};
use crate::settings::Settings;
use crate::sign_in::{Strategy, Verification, VerificationStatus};
use crate::strategy::Proof;
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

/// The flow a code or link was sent for. Each flow accepts only its own, so a code sent to confirm
/// a new phone number can never complete a sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerificationOwner {
    SignIn(SignInId),
    /// Confirming that a user controls an email address or phone number they added.
    Identification(IdentificationId),
    SessionVerification(SessionVerificationId),
}

impl VerificationOwner {
    pub fn as_str(&self) -> &str {
        match self {
            VerificationOwner::SignIn(id) => id.as_str(),
            VerificationOwner::Identification(id) => id.as_str(),
            VerificationOwner::SessionVerification(id) => id.as_str(),
        }
    }

    /// Reads back a stored owner id; the prefix says which flow it is.
    pub fn from_stored(s: String) -> Option<Self> {
        if SignInId::parse(&s).is_some() {
            Some(VerificationOwner::SignIn(SignInId::from_trusted(s)))
        } else if IdentificationId::parse(&s).is_some() {
            Some(VerificationOwner::Identification(
                IdentificationId::from_trusted(s),
            ))
        } else if SessionVerificationId::parse(&s).is_some() {
            Some(VerificationOwner::SessionVerification(
                SessionVerificationId::from_trusted(s),
            ))
        } else {
            None
        }
    }
}

/// What a prepare call asks to send: a code or link for `strategy` to one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRequest {
    pub strategy: Strategy,
    pub identification: IdentificationId,
    /// Email links: where the browser goes after opening the link.
    pub redirect_url: Option<String>,
}

/// A code or link about to be sent for one step of a flow.
#[derive(Debug, Clone)]
pub struct NewCode {
    pub id: VerificationId,
    pub owner: VerificationOwner,
    pub user_id: Option<UserId>,
    pub slot: Slot,
    pub request: CodeRequest,
}

/// A code or link a step waits for, as the step remembers it; the stored [`CodeVerification`]
/// with the same id counts its guesses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentCode {
    pub strategy: Strategy,
    pub verification_id: VerificationId,
    pub identification_id: IdentificationId,
    pub expire_at: Timestamp,
    pub created_at: Timestamp,
}

impl SentCode {
    /// The step's verification while it waits, as the wire shows it before the stored
    /// verification's attempts and status are read.
    pub fn view(&self) -> Verification {
        Verification {
            status: VerificationStatus::Unverified,
            strategy: self.strategy.clone(),
            attempts: Some(0),
            expire_at: Some(self.expire_at),
            verification_id: Some(self.verification_id.clone()),
            identification_id: Some(self.identification_id.clone()),
            created_at: Some(self.created_at),
            message: None,
            nonce: None,
        }
    }

    /// Read back from a step's verification; `None` unless it is a sent code still awaited.
    pub fn from_view(v: &Verification) -> Option<SentCode> {
        if v.status != VerificationStatus::Unverified {
            return None;
        }
        Some(SentCode {
            strategy: v.strategy.clone(),
            verification_id: v.verification_id.clone()?,
            identification_id: v.identification_id.clone()?,
            expire_at: v.expire_at?,
            created_at: v.created_at?,
        })
    }
}

/// Seconds a passkey challenge stays valid: the ceremony timeout the options give the browser.
pub const PASSKEY_CHALLENGE_SECONDS: i64 = 300;

/// A passkey challenge a step waits for: the request options handed out (`nonce` on the wire),
/// and the stored verification, naming no address, that counts the attempts and makes the
/// challenge single use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub verification_id: VerificationId,
    pub expire_at: Timestamp,
    pub created_at: Timestamp,
    pub nonce: String,
}

impl Challenge {
    pub fn view(&self) -> Verification {
        Verification {
            status: VerificationStatus::Unverified,
            strategy: Strategy::Passkey,
            attempts: Some(0),
            expire_at: Some(self.expire_at),
            verification_id: Some(self.verification_id.clone()),
            identification_id: None,
            created_at: Some(self.created_at),
            message: None,
            nonce: Some(self.nonce.clone()),
        }
    }

    /// Read back from a step's verification; `None` unless it is a challenge still awaited.
    pub fn from_view(v: &Verification) -> Option<Challenge> {
        if v.status != VerificationStatus::Unverified || v.strategy != Strategy::Passkey {
            return None;
        }
        Some(Challenge {
            verification_id: v.verification_id.clone()?,
            expire_at: v.expire_at?,
            created_at: v.created_at?,
            nonce: v.nonce.clone()?,
        })
    }
}

/// A passkey challenge about to be handed out for one step of a flow.
#[derive(Debug, Clone)]
pub struct NewChallenge {
    pub id: VerificationId,
    pub owner: VerificationOwner,
    pub user_id: Option<UserId>,
    pub slot: Slot,
    /// The request options, as JSON.
    pub nonce: String,
}

/// Starts a passkey challenge for one step of a flow: the verification to store with the
/// ceremony, and what the step remembers of it.
pub fn start_challenge(
    new: NewChallenge,
    settings: &Settings,
    now: Timestamp,
) -> (CodeVerification, Challenge) {
    let NewChallenge {
        id,
        owner,
        user_id,
        slot,
        nonce,
    } = new;
    let verification = CodeVerification {
        id: id.clone(),
        owner,
        user_id,
        slot,
        strategy: Strategy::Passkey,
        identification_id: None,
        attempts: 0,
        max_attempts: settings.codes.max_attempts,
        status: VerificationStatus::Unverified,
        expire_at: now.plus_seconds(PASSKEY_CHALLENGE_SECONDS),
        created_at: now,
        verified_at: None,
        redirect_url: None,
        verified_by_client_id: None,
    };
    let challenge = Challenge {
        verification_id: id,
        expire_at: verification.expire_at,
        created_at: now,
        nonce,
    };
    (verification, challenge)
}

/// Starts a code or link for a step: refused within the resend cooldown when `current` (what the
/// step waits for now) was sent for the same strategy and address; otherwise the verification to
/// store and what the step remembers of it.
pub fn start_code(
    new: NewCode,
    current: Option<&SentCode>,
    settings: &Settings,
    now: Timestamp,
) -> Result<(CodeVerification, SentCode), Error> {
    let request = new.request;
    // Nothing is sent for a signature, so nothing to pace.
    let current = current.filter(|_| request.strategy.chain().is_none());
    if let Some(v) = current {
        let same_step =
            v.strategy == request.strategy && v.identification_id == request.identification;
        let until = v
            .created_at
            .plus_seconds(settings.codes.resend_cooldown_seconds);
        if same_step && now < until {
            return Err(Error::TooManyRequests {
                retry_after_seconds: u64::try_from(now.seconds_until(until)).unwrap_or(1).max(1),
            });
        }
    }
    // A link carries 256 bits and is opened once; a code allows a few guesses.
    let (lifetime, max_attempts) = match request.strategy.proof() {
        Proof::SentLink(_) => (settings.email_link.lifetime_seconds, 1),
        _ => (settings.codes.lifetime_seconds, settings.codes.max_attempts),
    };
    let verification = CodeVerification {
        id: new.id.clone(),
        owner: new.owner,
        user_id: new.user_id,
        slot: new.slot,
        strategy: request.strategy.clone(),
        identification_id: Some(request.identification.clone()),
        attempts: 0,
        max_attempts,
        status: VerificationStatus::Unverified,
        expire_at: now.plus_seconds(lifetime),
        created_at: now,
        verified_at: None,
        redirect_url: request.redirect_url,
        verified_by_client_id: None,
    };
    let sent = SentCode {
        strategy: request.strategy,
        verification_id: new.id,
        identification_id: request.identification,
        expire_at: verification.expire_at,
        created_at: now,
    };
    Ok((verification, sent))
}

/// A fresh six-digit code.
pub fn new_code(rng: &dyn Rng) -> String {
    digits(rng, CODE_DIGITS)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeVerification {
    pub id: VerificationId,
    pub owner: VerificationOwner,
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
            owner: VerificationOwner::SignIn(SignInId::from_trusted("sia_1".into())),
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
}
