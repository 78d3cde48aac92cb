//! A user as the sign-in rules see them: identifiers, credentials, and account state.

use crate::clock::Timestamp;
use crate::identifier::{mask, Identifier, IdentifierKind};
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
    #[serde(default)]
    pub web3_wallets: Vec<Web3Wallet>,
    #[serde(default)]
    pub primary_web3_wallet_id: Option<IdentificationId>,
    /// The account's passkeys, registered or being registered (`verified` once the authenticator's
    /// answer was checked).
    #[serde(default)]
    pub passkeys: Vec<Passkey>,
    pub password: Option<PasswordDigest>,
    pub public_metadata: serde_json::Value,
    pub private_metadata: serde_json::Value,
    pub unsafe_metadata: serde_json::Value,
    pub banned: bool,
    /// Until when sign-in is refused; `Some(Timestamp(i64::MAX))` means until an operator unlocks.
    pub locked_until: Option<Timestamp>,
    pub failed_verification_attempts: u32,
    /// An authenticator app is enrolled and verified.
    #[serde(default)]
    pub totp_enabled: bool,
    /// Unused backup codes.
    #[serde(default)]
    pub backup_codes_remaining: u32,
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
            .field("web3_wallets", &self.web3_wallets)
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

/// A wallet address, in the form [`crate::identifier::normalize_wallet`] gives: proven the user's
/// by a signature (or vouched for by an operator) once `verified`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Web3Wallet {
    pub id: IdentificationId,
    pub web3_wallet: String,
    pub verified: bool,
    pub verification_strategy: Option<String>,
    pub created_at: Timestamp,
}

impl Web3Wallet {
    /// The wallet strategies that can prove this address, among those switched on.
    pub fn strategies(&self, settings: &Settings) -> Vec<Strategy> {
        let chain = crate::strategy::Chain::of_address(&self.web3_wallet);
        settings
            .web3
            .strategies()
            .into_iter()
            .filter(|s| s.chain() == Some(chain))
            .collect()
    }
}

/// A passkey of the account: its credential's keys stay in the store, where only the ceremonies
/// read them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Passkey {
    pub id: IdentificationId,
    pub name: String,
    pub verified: bool,
    pub last_used_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
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
    pub web3_wallet_id: Option<IdentificationId>,
    pub primary: Option<bool>,
    pub default: Option<bool>,
}

impl Factor {
    /// Whether this factor proves `strategy` through the email address, phone number or wallet
    /// `id`.
    pub fn goes_to(&self, strategy: &Strategy, id: &IdentificationId) -> bool {
        &self.strategy == strategy && self.identification() == Some(id)
    }

    /// The email address, phone number or wallet this factor proves.
    pub fn identification(&self) -> Option<&IdentificationId> {
        self.email_address_id
            .as_ref()
            .or(self.phone_number_id.as_ref())
            .or(self.web3_wallet_id.as_ref())
    }

    pub fn bare(strategy: Strategy) -> Self {
        Factor {
            strategy,
            safe_identifier: None,
            email_address_id: None,
            phone_number_id: None,
            web3_wallet_id: None,
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

/// The made-up parts of a [`User::stand_in`]: stable per identifier, so asking twice shows the
/// same answer, and unguessable without the instance secret.
#[derive(Debug, Clone)]
pub struct MadeUp {
    /// The id of the typed email or phone, or of the email address of a typed username.
    pub identification: IdentificationId,
    /// The address a username's stand-in has; unused for other identifiers.
    pub email_address: String,
}

impl User {
    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }

    /// Whether the account has a registered passkey.
    pub fn has_passkey(&self) -> bool {
        self.passkeys.iter().any(|p| p.verified)
    }

    /// Whether sign-in needs a second factor: an authenticator app, or a verified phone number
    /// reserved for second factors. Backup codes alone are a way back in, not a factor.
    pub fn has_second_factor(&self) -> bool {
        self.totp_enabled || self.second_factor_phones().next().is_some()
    }

    pub fn second_factor_phones(&self) -> impl Iterator<Item = &PhoneNumber> {
        self.phone_numbers
            .iter()
            .filter(|p| p.verified && p.reserved_for_second_factor)
    }

    /// Whether the user could still be found to sign in without `id` (as an identifier): a
    /// username, a verified email address, another verified phone number not kept for MFA, or
    /// another verified wallet.
    pub fn identifiable_without(&self, id: &IdentificationId) -> bool {
        self.username.is_some()
            || self
                .email_addresses
                .iter()
                .any(|e| e.verified && &e.id != id)
            || self
                .phone_numbers
                .iter()
                .any(|p| p.verified && !p.reserved_for_second_factor && &p.id != id)
            || self.web3_wallets.iter().any(|w| w.verified && &w.id != id)
    }

    /// Whether the user can be found to sign in at all (see [`Self::identifiable_without`]).
    pub fn identifiable(&self) -> bool {
        self.username.is_some()
            || self.email_addresses.iter().any(|e| e.verified)
            || self
                .phone_numbers
                .iter()
                .any(|p| p.verified && !p.reserved_for_second_factor)
            || self.web3_wallets.iter().any(|w| w.verified)
    }

    /// Whether the user could still sign in without a password: some first factor other than
    /// the password and its resets (a code or link to a verified address, a wallet, a passkey).
    pub fn signs_in_without_password(&self, settings: &Settings) -> bool {
        self.first_factors(settings, None).iter().any(|f| {
            !matches!(
                f.strategy,
                Strategy::Password
                    | Strategy::ResetPasswordEmailCode
                    | Strategy::ResetPasswordPhoneCode
            )
        })
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
            .or_else(|| self.primary_web3_wallet().map(|w| w.web3_wallet.clone()))
    }

    pub fn primary_web3_wallet(&self) -> Option<&Web3Wallet> {
        let id = self.primary_web3_wallet_id.as_ref()?;
        self.web3_wallets.iter().find(|w| &w.id == id)
    }

    /// What an account named by `typed` would typically be: that identifier, verified, a
    /// password, and for a username an email address too (made up by the caller, as a real
    /// account's would be masked). Enumeration protection lists its [`Self::first_factors`] for
    /// an identifier that names no account, so unknown and real accounts are described by the
    /// same code. Never stored, never signed in: its password digest matches nothing.
    pub fn stand_in(typed: &Identifier, made_up: MadeUp, now: Timestamp) -> User {
        let MadeUp {
            identification,
            email_address,
        } = made_up;
        let mut user = User {
            id: UserId::from_trusted("user_stand_in".into()),
            external_id: None,
            username: None,
            first_name: None,
            last_name: None,
            email_addresses: Vec::new(),
            phone_numbers: Vec::new(),
            primary_email_address_id: None,
            primary_phone_number_id: None,
            web3_wallets: Vec::new(),
            primary_web3_wallet_id: None,
            passkeys: Vec::new(),
            password: Some(PasswordDigest {
                hasher: "none".into(),
                digest: String::new(),
            }),
            public_metadata: serde_json::json!({}),
            private_metadata: serde_json::json!({}),
            unsafe_metadata: serde_json::json!({}),
            banned: false,
            locked_until: None,
            failed_verification_attempts: 0,
            totp_enabled: false,
            backup_codes_remaining: 0,
            last_sign_in_at: None,
            last_active_at: None,
            created_at: now,
            updated_at: now,
        };
        match typed.kind {
            IdentifierKind::EmailAddress => {
                user.email_addresses.push(EmailAddress {
                    id: identification.clone(),
                    email_address: typed.value.clone(),
                    verified: true,
                    verification_strategy: None,
                    created_at: now,
                });
                user.primary_email_address_id = Some(identification);
            }
            IdentifierKind::PhoneNumber => {
                user.phone_numbers.push(PhoneNumber {
                    id: identification.clone(),
                    phone_number: typed.value.clone(),
                    verified: true,
                    verification_strategy: None,
                    reserved_for_second_factor: false,
                    default_second_factor: false,
                    created_at: now,
                });
                user.primary_phone_number_id = Some(identification);
            }
            IdentifierKind::Username => {
                user.username = Some(typed.value.clone());
                user.email_addresses.push(EmailAddress {
                    id: identification.clone(),
                    email_address,
                    verified: true,
                    verification_strategy: None,
                    created_at: now,
                });
                user.primary_email_address_id = Some(identification);
            }
            IdentifierKind::Web3Wallet => {}
        }
        user
    }

    /// The first factors this user can use on this instance, in the order they are offered:
    /// password, then codes and links per verified email address and phone number, then password
    /// resets. `typed` is what the person typed: that identifier is shown in full, others masked.
    pub fn first_factors(&self, settings: &Settings, typed: Option<&Identifier>) -> Vec<Factor> {
        let f = &settings.factors;
        let shown = |kind: IdentifierKind, value: &str| match typed {
            Some(t) if t.kind == kind && t.value == value => value.to_owned(),
            _ => mask(kind, value),
        };
        let emails: Vec<&EmailAddress> =
            self.email_addresses.iter().filter(|e| e.verified).collect();
        // A phone kept for second factors is not also a first factor: one device would be both.
        let phones: Vec<&PhoneNumber> = self
            .phone_numbers
            .iter()
            .filter(|p| p.verified && !p.reserved_for_second_factor)
            .collect();
        let email_factor = |strategy: Strategy, e: &EmailAddress| Factor {
            strategy,
            safe_identifier: Some(shown(IdentifierKind::EmailAddress, &e.email_address)),
            email_address_id: Some(e.id.clone()),
            phone_number_id: None,
            web3_wallet_id: None,
            primary: Some(self.primary_email_address_id.as_ref() == Some(&e.id)),
            default: None,
        };
        let phone_factor = |strategy: Strategy, p: &PhoneNumber| Factor {
            strategy,
            safe_identifier: Some(shown(IdentifierKind::PhoneNumber, &p.phone_number)),
            email_address_id: None,
            phone_number_id: Some(p.id.clone()),
            web3_wallet_id: None,
            primary: Some(self.primary_phone_number_id.as_ref() == Some(&p.id)),
            default: None,
        };
        let password = settings.password.enabled && self.has_password();
        let mut factors = Vec::new();
        if password {
            factors.push(Factor::bare(Strategy::Password));
        }
        for e in &emails {
            if f.email_code {
                factors.push(email_factor(Strategy::EmailCode, e));
            }
            if f.email_link {
                factors.push(email_factor(Strategy::EmailLink, e));
            }
        }
        if f.phone_code {
            factors.extend(phones.iter().map(|p| phone_factor(Strategy::PhoneCode, p)));
        }
        // Typed a wallet: only that wallet's strategies, so a client that picks the first factor
        // of a strategy (as clerk-js does) picks the wallet that was typed.
        let listed = |w: &&Web3Wallet| match typed {
            Some(t) if t.kind == IdentifierKind::Web3Wallet => t.value == w.web3_wallet,
            _ => true,
        };
        for w in self
            .web3_wallets
            .iter()
            .filter(|w| w.verified)
            .filter(listed)
        {
            factors.extend(w.strategies(settings).into_iter().map(|strategy| Factor {
                strategy,
                safe_identifier: Some(w.web3_wallet.clone()),
                email_address_id: None,
                phone_number_id: None,
                web3_wallet_id: Some(w.id.clone()),
                primary: Some(self.primary_web3_wallet_id.as_ref() == Some(&w.id)),
                default: None,
            }));
        }
        if settings.passkeys.enabled && self.has_passkey() {
            factors.push(Factor::bare(Strategy::Passkey));
        }
        if password && f.reset_password {
            factors.extend(
                emails
                    .iter()
                    .map(|e| email_factor(Strategy::ResetPasswordEmailCode, e)),
            );
            factors.extend(
                phones
                    .iter()
                    .map(|p| phone_factor(Strategy::ResetPasswordPhoneCode, p)),
            );
        }
        factors
    }

    /// The second factors this user has, in the order Clerk's UI tries them: the authenticator
    /// app, phone codes (the default phone first), then backup codes.
    pub fn second_factors(&self, settings: &Settings) -> Vec<Factor> {
        let m = &settings.mfa;
        let mut factors = Vec::new();
        if m.authenticator_app && self.totp_enabled {
            factors.push(Factor::bare(Strategy::Totp));
        }
        if m.phone_code {
            let mut phones: Vec<&PhoneNumber> = self.second_factor_phones().collect();
            phones.sort_by_key(|p| !p.default_second_factor);
            let any_default = phones.iter().any(|p| p.default_second_factor);
            for (i, p) in phones.iter().enumerate() {
                factors.push(Factor {
                    strategy: Strategy::PhoneCode,
                    safe_identifier: Some(mask(IdentifierKind::PhoneNumber, &p.phone_number)),
                    email_address_id: None,
                    phone_number_id: Some(p.id.clone()),
                    web3_wallet_id: None,
                    primary: None,
                    default: Some(p.default_second_factor || (!any_default && i == 0)),
                });
            }
        }
        if m.backup_codes && self.backup_codes_remaining > 0 && self.has_second_factor() {
            factors.push(Factor::bare(Strategy::BackupCode));
        }
        factors
    }

    /// How a new client is confirmed (client trust): a code to one of the account's verified
    /// email addresses or phone numbers, or an email link.
    pub fn client_trust_factors(&self, settings: &Settings) -> Vec<Factor> {
        let f = &settings.factors;
        let mut factors = Vec::new();
        for e in self.email_addresses.iter().filter(|e| e.verified) {
            let make = |strategy| Factor {
                strategy,
                safe_identifier: Some(mask(IdentifierKind::EmailAddress, &e.email_address)),
                email_address_id: Some(e.id.clone()),
                phone_number_id: None,
                web3_wallet_id: None,
                primary: Some(self.primary_email_address_id.as_ref() == Some(&e.id)),
                default: None,
            };
            factors.push(make(Strategy::EmailCode));
            if f.email_link {
                factors.push(make(Strategy::EmailLink));
            }
        }
        for p in self.phone_numbers.iter().filter(|p| p.verified) {
            factors.push(Factor {
                strategy: Strategy::PhoneCode,
                safe_identifier: Some(mask(IdentifierKind::PhoneNumber, &p.phone_number)),
                email_address_id: None,
                phone_number_id: Some(p.id.clone()),
                web3_wallet_id: None,
                primary: Some(self.primary_phone_number_id.as_ref() == Some(&p.id)),
                default: None,
            });
        }
        factors
    }

    /// The factor `strategy` for one email address or phone number, if this user has it.
    pub fn factor(
        &self,
        settings: &Settings,
        strategy: &Strategy,
        identification: Option<&IdentificationId>,
    ) -> Option<Factor> {
        self.first_factors(settings, None).into_iter().find(|f| {
            &f.strategy == strategy
                && match identification {
                    None => f.identification().is_none(),
                    Some(id) => f.goes_to(strategy, id),
                }
        })
    }

    /// What the account is known by when it is signed in without typing anything (a ticket):
    /// its primary email address, else its primary phone number, else its username.
    pub fn primary_identifier(&self) -> Option<Identifier> {
        let email = self.primary_email_address_id.as_ref().and_then(|id| {
            let e = self.email_addresses.iter().find(|e| &e.id == id)?;
            Some((IdentifierKind::EmailAddress, e.email_address.clone()))
        });
        let phone = || {
            let id = self.primary_phone_number_id.as_ref()?;
            let p = self.phone_numbers.iter().find(|p| &p.id == id)?;
            Some((IdentifierKind::PhoneNumber, p.phone_number.clone()))
        };
        let username = || Some((IdentifierKind::Username, self.username.clone()?));
        let wallet = || {
            let w = self.primary_web3_wallet()?;
            Some((IdentifierKind::Web3Wallet, w.web3_wallet.clone()))
        };
        let (kind, value) = email.or_else(phone).or_else(username).or_else(wallet)?;
        Some(Identifier { kind, value })
    }

    /// The address a delivered factor goes to.
    pub fn identification_value(&self, id: &IdentificationId) -> Option<&str> {
        self.email_addresses
            .iter()
            .find(|e| &e.id == id)
            .map(|e| e.email_address.as_str())
            .or_else(|| {
                self.phone_numbers
                    .iter()
                    .find(|p| &p.id == id)
                    .map(|p| p.phone_number.as_str())
            })
            .or_else(|| {
                self.web3_wallets
                    .iter()
                    .find(|w| &w.id == id)
                    .map(|w| w.web3_wallet.as_str())
            })
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
            web3_wallets: vec![],
            primary_web3_wallet_id: None,
            passkeys: Vec::new(),
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
            totp_enabled: false,
            backup_codes_remaining: 0,
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
    fn a_password_is_the_only_way_in_without_another_first_factor() {
        let mut settings = Settings::default();
        let mut user = user_with_password();
        assert!(user.signs_in_without_password(&settings), "an email code");
        settings.factors.email_code = false;
        settings.factors.email_link = false;
        // Resetting the password needs the password kept: it is no way in by itself.
        settings.factors.reset_password = true;
        assert!(!user.signs_in_without_password(&settings));
        user.email_addresses[0].verified = false;
        settings.factors.email_code = true;
        assert!(!user.signs_in_without_password(&settings), "unverified");
    }

    /// Every combination of first-factor settings, for each kind of identifier: the factors
    /// listed for an unknown account are those of a real account with that identifier and a
    /// password, field for field but the made-up ids.
    #[test]
    fn a_stand_in_lists_what_a_real_account_would() {
        let shape = |factors: Vec<Factor>| -> Vec<String> {
            factors
                .into_iter()
                .map(|f| {
                    format!(
                        "{} {:?} email:{} phone:{} {:?} {:?}",
                        f.strategy.as_str(),
                        // A masked address shows its first letter, which differs per person.
                        f.safe_identifier.map(|s| match s.split_once("***@") {
                            Some((_, domain)) => format!("?***@{domain}"),
                            None => s,
                        }),
                        f.email_address_id.is_some(),
                        f.phone_number_id.is_some(),
                        f.primary,
                        f.default
                    )
                })
                .collect()
        };
        let typed_values = [
            Identifier::classify("ghost@example.com").expect("email"),
            Identifier::classify("+15555550100").expect("phone"),
            Identifier::classify("ghost").expect("username"),
        ];
        for bits in 0..32u32 {
            let mut settings = Settings::default();
            settings.password.enabled = bits & 1 != 0;
            settings.factors.email_code = bits & 2 != 0;
            settings.factors.email_link = bits & 4 != 0;
            settings.factors.phone_code = bits & 8 != 0;
            settings.factors.reset_password = bits & 16 != 0;
            for typed in &typed_values {
                let mut real = user_with_password();
                real.username = None;
                real.email_addresses.clear();
                real.primary_email_address_id = None;
                let id = IdentificationId::from_trusted("idn_real".into());
                match typed.kind {
                    IdentifierKind::EmailAddress => {
                        real.email_addresses.push(EmailAddress {
                            id: id.clone(),
                            email_address: typed.value.clone(),
                            verified: true,
                            verification_strategy: Some("email_code".into()),
                            created_at: Timestamp(0),
                        });
                        real.primary_email_address_id = Some(id);
                    }
                    IdentifierKind::PhoneNumber => {
                        real.phone_numbers.push(PhoneNumber {
                            id: id.clone(),
                            phone_number: typed.value.clone(),
                            verified: true,
                            verification_strategy: Some("phone_code".into()),
                            reserved_for_second_factor: false,
                            default_second_factor: false,
                            created_at: Timestamp(0),
                        });
                        real.primary_phone_number_id = Some(id);
                    }
                    _ => {
                        // A username account usually has an email address too.
                        real.username = Some(typed.value.clone());
                        real.email_addresses.push(EmailAddress {
                            id: id.clone(),
                            email_address: "jane.doe@gmail.com".into(),
                            verified: true,
                            verification_strategy: Some("email_code".into()),
                            created_at: Timestamp(0),
                        });
                        real.primary_email_address_id = Some(id);
                    }
                }
                let stand_in = User::stand_in(
                    typed,
                    MadeUp {
                        identification: IdentificationId::from_trusted("idn_madeup".into()),
                        email_address: "qmvbrt@gmail.com".into(),
                    },
                    Timestamp(0),
                );
                assert_eq!(
                    shape(stand_in.first_factors(&settings, Some(typed))),
                    shape(real.first_factors(&settings, Some(typed))),
                    "settings {bits:05b}, {:?}",
                    typed.kind
                );
            }
        }
    }

    #[test]
    fn debug_never_shows_the_digest() {
        let u = user_with_password();
        let shown = format!("{u:?} {:?}", u.password);
        assert!(!shown.contains("$argon2id$"), "{shown}");
    }

    #[test]
    fn password_factor_only_when_enabled_and_set() {
        let mut u = user_with_password();
        let mut s = Settings {
            factors: crate::settings::FactorSettings {
                email_code: false,
                email_link: false,
                phone_code: false,
                reset_password: false,
            },
            ..Settings::default()
        };
        assert_eq!(
            u.first_factors(&s, None),
            vec![Factor::bare(Strategy::Password)]
        );
        s.password.enabled = false;
        assert!(u.first_factors(&s, None).is_empty());
        s.password.enabled = true;
        u.password = None;
        assert!(u.first_factors(&s, None).is_empty());
    }

    #[test]
    fn code_link_and_reset_factors_per_verified_identification() {
        let mut u = user_with_password();
        u.email_addresses.push(EmailAddress {
            id: IdentificationId::from_trusted("idn_unverified".into()),
            email_address: "pending@example.com".into(),
            verified: false,
            verification_strategy: None,
            created_at: Timestamp(0),
        });
        u.phone_numbers.push(PhoneNumber {
            id: IdentificationId::from_trusted("idn_phone".into()),
            phone_number: "+15550100000".into(),
            verified: true,
            verification_strategy: Some("admin".into()),
            reserved_for_second_factor: false,
            default_second_factor: false,
            created_at: Timestamp(0),
        });
        let s = Settings::default();
        let typed = Identifier::classify("alice@example.com").expect("valid");
        let factors = u.first_factors(&s, Some(&typed));
        let names: Vec<String> = factors
            .iter()
            .map(|f| f.strategy.as_str().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "password",
                "email_code",
                "email_link",
                "phone_code",
                "reset_password_email_code",
                "reset_password_phone_code"
            ]
        );
        assert_eq!(
            factors[1].safe_identifier.as_deref(),
            Some("alice@example.com"),
            "typed: shown in full"
        );
        assert_eq!(
            factors[3].safe_identifier.as_deref(),
            Some("+*********00"),
            "not typed: masked"
        );
        assert_eq!(factors[1].primary, Some(true));
        assert!(factors
            .iter()
            .all(|f| f.email_address_id.as_ref().map(|i| i.as_str()) != Some("idn_unverified")));
        let phone = IdentificationId::from_trusted("idn_phone".into());
        assert!(u.factor(&s, &Strategy::PhoneCode, Some(&phone)).is_some());
        assert!(
            u.factor(&s, &Strategy::EmailCode, Some(&phone)).is_none(),
            "an email factor never names a phone"
        );
        assert_eq!(u.identification_value(&phone), Some("+15550100000"));
        // Without a password there is nothing to reset.
        u.password = None;
        assert!(!u
            .first_factors(&s, None)
            .iter()
            .any(|f| f.strategy == Strategy::ResetPasswordEmailCode));
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
