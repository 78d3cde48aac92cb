//! A user as the sign-in rules see them: identifiers, credentials, and account state.

use crate::clock::Timestamp;
use crate::ids::{IdentificationId, UserId};
use crate::settings::Settings;
use crate::sign_in::Strategy;
use serde::{Deserialize, Serialize};

#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub external_id: Option<String>,
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email_addresses: Vec<EmailAddress>,
    pub phone_numbers: Vec<PhoneNumber>,
    pub primary_email_address_id: Option<IdentificationId>,
    pub primary_phone_number_id: Option<IdentificationId>,
    pub password: Option<PasswordDigest>,
    pub public_metadata: serde_json::Value,
    pub private_metadata: serde_json::Value,
    pub unsafe_metadata: serde_json::Value,
    pub banned: bool,
    /// Until when sign-in is refused; `Some(Timestamp(i64::MAX))` means until an operator unlocks.
    pub locked_until: Option<Timestamp>,
    pub failed_verification_attempts: u32,
    pub last_sign_in_at: Option<Timestamp>,
    pub last_active_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

// Hand-written so a password digest never reaches a log through `{:?}`.
impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("email_addresses", &self.email_addresses)
            .field("phone_numbers", &self.phone_numbers)
            .field("has_password", &self.password.is_some())
            .field("banned", &self.banned)
            .field("locked_until", &self.locked_until)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailAddress {
    pub id: IdentificationId,
    pub email_address: String,
    pub verified: bool,
    /// How it was verified ("admin" when an operator created it, or the code strategy).
    pub verification_strategy: Option<String>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneNumber {
    pub id: IdentificationId,
    pub phone_number: String,
    pub verified: bool,
    pub verification_strategy: Option<String>,
    pub reserved_for_second_factor: bool,
    pub default_second_factor: bool,
    pub created_at: Timestamp,
}

/// A stored password hash and the scheme that made it (`argon2id` for our own, others for imports).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordDigest {
    pub hasher: String,
    pub digest: String,
}

impl std::fmt::Debug for PasswordDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PasswordDigest({}, <redacted>)", self.hasher)
    }
}

/// One way to prove the first factor, as `supported_first_factors` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Factor {
    pub strategy: Strategy,
    pub safe_identifier: Option<String>,
    pub email_address_id: Option<IdentificationId>,
    pub phone_number_id: Option<IdentificationId>,
    pub primary: Option<bool>,
    pub default: Option<bool>,
}

impl Factor {
    pub fn bare(strategy: Strategy) -> Self {
        Factor {
            strategy,
            safe_identifier: None,
            email_address_id: None,
            phone_number_id: None,
            primary: None,
            default: None,
        }
    }
}

/// Whether sign-in is refused because of a lock, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockState {
    Unlocked,
    /// Seconds left, or `None` when locked until an operator unlocks.
    Locked(Option<i64>),
}

impl User {
    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }

    /// Second factors come with issue-4 enrolment; until a user has one this is false.
    pub fn has_second_factor(&self) -> bool {
        false
    }

    pub fn lock_state(&self, now: Timestamp) -> LockState {
        match self.locked_until {
            Some(until) if until.0 == i64::MAX => LockState::Locked(None),
            Some(until) if until > now => LockState::Locked(Some(now.seconds_until(until))),
            _ => LockState::Unlocked,
        }
    }

    pub fn primary_email(&self) -> Option<&EmailAddress> {
        let id = self.primary_email_address_id.as_ref()?;
        self.email_addresses.iter().find(|e| &e.id == id)
    }

    pub fn primary_phone(&self) -> Option<&PhoneNumber> {
        let id = self.primary_phone_number_id.as_ref()?;
        self.phone_numbers.iter().find(|p| &p.id == id)
    }

    /// The identifier shown for this user where Clerk shows one (`public_user_data.identifier`):
    /// primary email, else primary phone, else username.
    pub fn display_identifier(&self) -> Option<String> {
        self.primary_email()
            .map(|e| e.email_address.clone())
            .or_else(|| self.primary_phone().map(|p| p.phone_number.clone()))
            .or_else(|| self.username.clone())
    }

    /// The first factors this user can use on this instance.
    /// Only strategies the server implements are listed: a listed factor always works.
    pub fn first_factors(&self, settings: &Settings) -> Vec<Factor> {
        let mut factors = Vec::new();
        if settings.password.enabled && self.has_password() {
            factors.push(Factor::bare(Strategy::Password));
        }
        factors
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    pub fn user_with_password() -> User {
        let email_id = IdentificationId::from_trusted("idn_email1".into());
        User {
            id: UserId::from_trusted("user_1".into()),
            external_id: None,
            username: Some("alice".into()),
            first_name: Some("Alice".into()),
            last_name: Some("Liddell".into()),
            email_addresses: vec![EmailAddress {
                id: email_id.clone(),
                email_address: "alice@example.com".into(),
                verified: true,
                verification_strategy: Some("admin".into()),
                created_at: Timestamp(0),
            }],
            phone_numbers: vec![],
            primary_email_address_id: Some(email_id),
            primary_phone_number_id: None,
            password: Some(PasswordDigest {
                hasher: "argon2id".into(),
                digest: "$argon2id$...".into(),
            }),
            public_metadata: serde_json::json!({}),
            private_metadata: serde_json::json!({}),
            unsafe_metadata: serde_json::json!({}),
            banned: false,
            locked_until: None,
            failed_verification_attempts: 0,
            last_sign_in_at: None,
            last_active_at: None,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::user_with_password;
    use super::*;

    #[test]
    fn debug_never_shows_the_digest() {
        let u = user_with_password();
        let shown = format!("{u:?} {:?}", u.password);
        assert!(!shown.contains("$argon2id$"), "{shown}");
    }

    #[test]
    fn password_factor_only_when_enabled_and_set() {
        let mut u = user_with_password();
        let mut s = Settings::default();
        assert_eq!(u.first_factors(&s), vec![Factor::bare(Strategy::Password)]);
        s.password.enabled = false;
        assert!(u.first_factors(&s).is_empty());
        s.password.enabled = true;
        u.password = None;
        assert!(u.first_factors(&s).is_empty());
    }

    #[test]
    fn lock_state_counts_down_and_permanent_lock() {
        let mut u = user_with_password();
        assert_eq!(u.lock_state(Timestamp(0)), LockState::Unlocked);
        u.locked_until = Some(Timestamp(3_600_000));
        assert_eq!(u.lock_state(Timestamp(0)), LockState::Locked(Some(3600)));
        assert_eq!(u.lock_state(Timestamp(3_600_000)), LockState::Unlocked);
        u.locked_until = Some(Timestamp(i64::MAX));
        assert_eq!(u.lock_state(Timestamp(0)), LockState::Locked(None));
    }

    #[test]
    fn display_identifier_prefers_email() {
        let mut u = user_with_password();
        assert_eq!(u.display_identifier().as_deref(), Some("alice@example.com"));
        u.primary_email_address_id = None;
        assert_eq!(u.display_identifier().as_deref(), Some("alice"));
    }
}
