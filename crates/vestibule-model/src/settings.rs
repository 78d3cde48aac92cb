//! Instance settings: what the operator enabled. The environment endpoint shows them to clients,
//! and the domain obeys them, so clerk-js and the server always agree.

use crate::error::{Error, PasswordRule};
use crate::identifier::IdentifierKind;
use crate::lockout::LockoutSettings;
use crate::rate_limit::RateLimitSettings;
use crate::strategy::Strategy;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InstanceMode {
    Development,
    Production,
}

impl InstanceMode {
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceMode::Development => "development",
            InstanceMode::Production => "production",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub mode: InstanceMode,
    pub application_name: String,
    pub identifiers: IdentifierSettings,
    pub password: PasswordSettings,
    pub sessions: SessionSettings,
    pub sign_in: SignInSettings,
    pub factors: FactorSettings,
    pub codes: CodeSettings,
    pub email_link: EmailLinkSettings,
    pub lockout: LockoutSettings,
    pub rate_limits: RateLimitSettings,
    pub mfa: MfaSettings,
    pub actions: ActionSettings,
    pub web3: Web3Settings,
    pub google_one_tap: GoogleOneTapSettings,
    pub passkeys: PasskeySettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            mode: InstanceMode::Development,
            application_name: "Vestibule".into(),
            identifiers: IdentifierSettings::default(),
            password: PasswordSettings::default(),
            sessions: SessionSettings::default(),
            sign_in: SignInSettings::default(),
            factors: FactorSettings::default(),
            codes: CodeSettings::default(),
            email_link: EmailLinkSettings::default(),
            lockout: LockoutSettings::default(),
            rate_limits: RateLimitSettings::default(),
            mfa: MfaSettings::default(),
            actions: ActionSettings::default(),
            web3: Web3Settings::default(),
            google_one_tap: GoogleOneTapSettings::default(),
            passkeys: PasskeySettings::default(),
        }
    }
}

/// Which identifiers a person may type to sign in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentifierSettings {
    pub email_address: bool,
    pub phone_number: bool,
    pub username: bool,
}

impl Default for IdentifierSettings {
    fn default() -> Self {
        IdentifierSettings {
            email_address: true,
            phone_number: true,
            username: true,
        }
    }
}

impl IdentifierSettings {
    pub fn allows(&self, kind: IdentifierKind) -> bool {
        match kind {
            IdentifierKind::EmailAddress => self.email_address,
            IdentifierKind::PhoneNumber => self.phone_number,
            IdentifierKind::Username => self.username,
            IdentifierKind::Web3Wallet => false,
        }
    }

    /// In the order Clerk lists them in `supported_identifiers`.
    pub fn enabled(&self) -> Vec<IdentifierKind> {
        [
            IdentifierKind::EmailAddress,
            IdentifierKind::PhoneNumber,
            IdentifierKind::Username,
        ]
        .into_iter()
        .filter(|k| self.allows(*k))
        .collect()
    }
}

/// The password policy. Mirrors Clerk's `password_settings` so clerk-js's `validatePassword()`
/// judges a password exactly as the server will.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordSettings {
    pub enabled: bool,
    /// Fewest characters allowed (clerk-js never shows less than 8).
    pub min_length: usize,
    /// Passwords must be shorter than this, as in Clerk ("must be less than 72 characters");
    /// longer ones are refused, never truncated.
    pub max_length: usize,
    pub require_lowercase: bool,
    pub require_uppercase: bool,
    pub require_numbers: bool,
    pub require_special_char: bool,
    pub allowed_special_characters: String,
    /// Refuse passwords on the bundled list of the 30,000 most common ones.
    pub block_common: bool,
}

impl Default for PasswordSettings {
    fn default() -> Self {
        PasswordSettings {
            enabled: true,
            min_length: 8,
            max_length: 72,
            require_lowercase: false,
            require_uppercase: false,
            require_numbers: false,
            require_special_char: false,
            allowed_special_characters: "!\"#$%&'()*+,-./:;<=>?@[]^_`{|}~".into(),
            block_common: true,
        }
    }
}

impl PasswordSettings {
    /// Checks a new password against the policy. Length counts Unicode scalar values (NIST 800-63B).
    pub fn check(&self, password: &str) -> Result<(), Error> {
        let len = password.chars().count();
        if len < self.min_length {
            return Err(Error::PasswordTooShort {
                min: self.min_length,
            });
        }
        if len >= self.max_length {
            return Err(Error::PasswordTooLong {
                max: self.max_length,
            });
        }
        let rules = [
            (
                self.require_lowercase,
                PasswordRule::Lowercase,
                password.chars().any(|c| c.is_lowercase()),
            ),
            (
                self.require_uppercase,
                PasswordRule::Uppercase,
                password.chars().any(|c| c.is_uppercase()),
            ),
            (
                self.require_numbers,
                PasswordRule::Number,
                password.chars().any(|c| c.is_ascii_digit()),
            ),
            (
                self.require_special_char,
                PasswordRule::SpecialChar,
                password
                    .chars()
                    .any(|c| self.allowed_special_characters.contains(c)),
            ),
        ];
        if let Some((_, rule, _)) = rules
            .into_iter()
            .find(|(required, _, met)| *required && !*met)
        {
            return Err(Error::PasswordRuleNotMet(rule));
        }
        if self.block_common && crate::common_passwords::is_common(password) {
            return Err(Error::PasswordPwned);
        }
        Ok(())
    }

    /// Settings an operator could give that make no sense.
    pub fn validate(&self) -> Result<(), String> {
        // clerk-js clamps these to [8, 72] in validatePassword(); outside that range the browser
        // and the server would judge the same password differently.
        if self.min_length < 8 {
            return Err("password.min_length must be at least 8".into());
        }
        if self.max_length > 72 {
            return Err("password.max_length must be at most 72".into());
        }
        if self.max_length <= self.min_length {
            return Err("password.max_length must be above password.min_length".into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionSettings {
    /// One signed-in account per client, as Clerk's default.
    pub single_session_mode: bool,
    /// Maximum lifetime; Clerk's default is 7 days.
    pub lifetime_seconds: i64,
    /// Ends a session nobody used for this long; off by default, as in Clerk.
    pub inactivity_timeout_seconds: Option<i64>,
    /// Session JWT lifetime; clerk-js refreshes about 10 s before expiry.
    pub token_lifetime_seconds: i64,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            single_session_mode: true,
            lifetime_seconds: 7 * 24 * 3600,
            inactivity_timeout_seconds: None,
            token_lifetime_seconds: 60,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignInSettings {
    /// A sign-in attempt not finished within this time is abandoned.
    pub abandon_after_seconds: i64,
    /// Off (Clerk's default): an unknown identifier is `form_identifier_not_found`. On: unknown
    /// identifiers get the same answers as real accounts, and every attempt simply fails.
    pub enumeration_protection: bool,
    /// Under enumeration protection, a username that names no account is answered as an account
    /// with an email address would be: the masked address shown (`j***@gmail.com`) is made up
    /// from the instance secret, on one of these domains. An instance whose users share a company
    /// domain lists that domain here, so the made-up address looks like theirs.
    pub stand_in_email_domains: Vec<String>,
    /// Client trust (Clerk's "device trust", on by default as in Clerk): a right password from a
    /// client that never signed this account in, for an account without MFA, must be confirmed
    /// with a code sent to the account's email or phone.
    pub client_trust: bool,
    /// The application's sign-in page, an absolute http(s) URL. A sign-in token's `url` opens it
    /// with `__clerk_ticket`, which Clerk's `<SignIn/>` signs in with. Unset: the first allowed
    /// origin's `/sign-in`.
    pub page_url: Option<String>,
}

impl Default for SignInSettings {
    fn default() -> Self {
        SignInSettings {
            abandon_after_seconds: 24 * 3600,
            enumeration_protection: false,
            stand_in_email_domains: ["gmail.com", "outlook.com", "yahoo.com", "icloud.com"]
                .map(String::from)
                .to_vec(),
            client_trust: true,
            page_url: None,
        }
    }
}

/// First factors besides the password, each proving control of an email address or phone number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FactorSettings {
    pub email_code: bool,
    pub email_link: bool,
    pub phone_code: bool,
    /// Password reset by a code sent to an email address or phone number.
    pub reset_password: bool,
}

impl Default for FactorSettings {
    fn default() -> Self {
        FactorSettings {
            email_code: true,
            email_link: true,
            phone_code: true,
            reset_password: true,
        }
    }
}

impl FactorSettings {
    pub fn needs_email(&self) -> bool {
        self.email_code || self.email_link || self.reset_password
    }
    pub fn needs_sms(&self) -> bool {
        self.phone_code || self.reset_password
    }
}

/// The wallets people sign in with by signing a message. Each one switched on is a first factor,
/// and any makes a wallet address an identifier. All off by default, as in Clerk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Web3Settings {
    pub metamask: bool,
    pub coinbase_wallet: bool,
    pub okx_wallet: bool,
    pub base: bool,
    pub solana: bool,
}

impl Web3Settings {
    /// Whether the wallet strategy `strategy` is switched on (false for any other strategy).
    pub fn enabled(&self, strategy: &Strategy) -> bool {
        match strategy {
            Strategy::Web3MetamaskSignature => self.metamask,
            Strategy::Web3CoinbaseWalletSignature => self.coinbase_wallet,
            Strategy::Web3OkxWalletSignature => self.okx_wallet,
            Strategy::Web3BaseSignature => self.base,
            Strategy::Web3SolanaSignature => self.solana,
            _ => false,
        }
    }

    /// The wallet strategies switched on, in Clerk's order.
    pub fn strategies(&self) -> Vec<Strategy> {
        Strategy::WEB3
            .into_iter()
            .filter(|s| self.enabled(s))
            .collect()
    }

    pub fn any(&self) -> bool {
        !self.strategies().is_empty()
    }
}

/// Google One Tap: signing in with the ID token Google's One Tap prompt hands the page, verified
/// against Google's published keys. Off until a client id is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GoogleOneTapSettings {
    /// The application's Google OAuth client id (`….apps.googleusercontent.com`): the audience
    /// every token must name, and what the environment tells clerk-js to prompt with.
    pub client_id: Option<String>,
    /// Where Google publishes the keys its ID tokens are signed with.
    pub jwks_url: String,
    /// The issuers Google's ID tokens carry.
    pub issuers: Vec<String>,
}

impl Default for GoogleOneTapSettings {
    fn default() -> Self {
        GoogleOneTapSettings {
            client_id: None,
            jwks_url: "https://www.googleapis.com/oauth2/v3/certs".into(),
            issuers: vec![
                "https://accounts.google.com".into(),
                "accounts.google.com".into(),
            ],
        }
    }
}

/// Passkeys (WebAuthn): a first factor, and a way to reverify. Off by default, as in Clerk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasskeySettings {
    pub enabled: bool,
    /// The relying party's ID, a domain the pages' origins are within. Unset: the Frontend API
    /// URL's host, without a leading `clerk.` (where Clerk's convention puts the Frontend API).
    pub rp_id: Option<String>,
    /// The exact origins a ceremony may come from. Empty: the instance's allowed origins and the
    /// Frontend API's own origin.
    pub origins: Vec<String>,
    /// Whether the sign-in form offers passkeys in the browser's autofill (environment).
    pub allow_autofill: bool,
    /// Whether the sign-in form shows a "use a passkey" button (environment).
    pub show_sign_in_button: bool,
    /// How many passkeys one account may hold.
    pub max_per_user: usize,
}

impl Default for PasskeySettings {
    fn default() -> Self {
        PasskeySettings {
            enabled: false,
            rp_id: None,
            origins: Vec::new(),
            allow_autofill: true,
            show_sign_in_button: true,
            max_per_user: 10,
        }
    }
}

/// Second factors users may enrol, and whether everyone must.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MfaSettings {
    /// Every user must have a second factor: sessions of users without one are `pending` with the
    /// `setup-mfa` task until they enrol one.
    pub required: bool,
    pub authenticator_app: bool,
    pub backup_codes: bool,
    pub phone_code: bool,
    /// Sensitive changes (enrolling or removing factors) need a factor verified this recently.
    pub reverification_seconds: i64,
}

impl Default for MfaSettings {
    fn default() -> Self {
        MfaSettings {
            required: false,
            authenticator_app: true,
            backup_codes: true,
            phone_code: true,
            reverification_seconds: 600,
        }
    }
}

/// What users may do to their own account (Clerk's `user_settings.actions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActionSettings {
    /// Users may delete their own account (`DELETE /v1/me`).
    pub delete_self: bool,
}

impl Default for ActionSettings {
    fn default() -> Self {
        ActionSettings { delete_self: true }
    }
}

/// One-time codes sent by email or SMS (NIST 800-63B §5.1.3.2, Clerk's defaults).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CodeSettings {
    pub lifetime_seconds: i64,
    /// Wrong guesses one code allows before it is `failed` and must be sent again.
    pub max_attempts: u32,
    /// A new code for the same step cannot be asked for sooner than this.
    pub resend_cooldown_seconds: i64,
}

impl Default for CodeSettings {
    fn default() -> Self {
        CodeSettings {
            lifetime_seconds: 600,
            max_attempts: 5,
            resend_cooldown_seconds: 30,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailLinkSettings {
    pub lifetime_seconds: i64,
    /// Refuse a link opened in another browser than the one that asked for it.
    pub require_same_client: bool,
}

impl Default for EmailLinkSettings {
    fn default() -> Self {
        EmailLinkSettings {
            lifetime_seconds: 600,
            require_same_client: false,
        }
    }
}

impl Settings {
    /// Whether a person may sign in by typing an identifier of `kind`: a wallet address once any
    /// wallet is switched on.
    pub fn allows_identifier(&self, kind: IdentifierKind) -> bool {
        match kind {
            IdentifierKind::Web3Wallet => self.web3.any(),
            other => self.identifiers.allows(other),
        }
    }

    /// The identifiers a sign-in takes, in the order Clerk lists them in `supported_identifiers`.
    pub fn identifier_kinds(&self) -> Vec<IdentifierKind> {
        let mut kinds = self.identifiers.enabled();
        if self.web3.any() {
            kinds.push(IdentifierKind::Web3Wallet);
        }
        kinds
    }

    pub fn validate(&self) -> Result<(), String> {
        self.password.validate()?;
        if self.identifier_kinds().is_empty() {
            return Err("at least one identifier must be enabled".into());
        }
        if !(10..=3600).contains(&self.sessions.token_lifetime_seconds) {
            return Err("sessions.token_lifetime_seconds must be between 10 and 3600".into());
        }
        if self.sessions.lifetime_seconds < 60 {
            return Err("sessions.lifetime_seconds must be at least 60".into());
        }
        if matches!(self.sessions.inactivity_timeout_seconds, Some(s) if s < 60) {
            return Err("sessions.inactivity_timeout_seconds must be at least 60".into());
        }
        if self.sign_in.abandon_after_seconds < 60 {
            return Err("sign_in.abandon_after_seconds must be at least 60".into());
        }
        let domains = &self.sign_in.stand_in_email_domains;
        let plausible = |d: &String| {
            crate::Identifier::classify(&format!("a@{d}")).is_ok_and(|i| {
                i.kind == crate::IdentifierKind::EmailAddress && i.value == format!("a@{d}")
            })
        };
        if domains.is_empty() || !domains.iter().all(plausible) {
            return Err(
                "sign_in.stand_in_email_domains must list one or more lower-case email domains"
                    .into(),
            );
        }
        if let Some(page) = &self.sign_in.page_url {
            let absolute = page.starts_with("https://") || page.starts_with("http://");
            if !absolute || page.len() > 2048 || page.contains(char::is_whitespace) {
                return Err("sign_in.page_url must be an absolute http(s) URL".into());
            }
        }
        if !(60..=3600).contains(&self.codes.lifetime_seconds)
            || !(60..=3600).contains(&self.email_link.lifetime_seconds)
        {
            return Err("codes.lifetime_seconds and email_link.lifetime_seconds must be between 60 and 3600".into());
        }
        if !(1..=10).contains(&self.codes.max_attempts) {
            return Err("codes.max_attempts must be between 1 and 10".into());
        }
        if !(0..=600).contains(&self.codes.resend_cooldown_seconds) {
            return Err("codes.resend_cooldown_seconds must be between 0 and 600".into());
        }
        self.lockout.validate()?;
        self.rate_limits.validate()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_limits_count_characters_and_never_truncate() {
        let p = PasswordSettings::default();
        assert_eq!(p.check("xq7!kz9"), Err(Error::PasswordTooShort { min: 8 }));
        assert!(p.check("xq7!kz9p").is_ok());
        assert!(p.check("ééééééé€").is_ok(), "8 characters, more bytes");
        assert!(p.check(&"ab".repeat(35)).is_ok());
        assert_eq!(
            p.check(&"a".repeat(72)),
            Err(Error::PasswordTooLong { max: 72 })
        );
    }

    #[test]
    fn character_classes_when_required() {
        let p = PasswordSettings {
            require_uppercase: true,
            require_numbers: true,
            require_special_char: true,
            ..PasswordSettings::default()
        };
        let err = p.check("lowercaseonly").expect_err("weak");
        assert_eq!(err.code(), "form_password_no_uppercase");
        assert_eq!(
            p.check("Lowercase!").expect_err("no digit").code(),
            "form_password_no_number"
        );
        assert_eq!(
            p.check("Lowercase1").expect_err("no special").code(),
            "form_password_no_special_char"
        );
        assert!(p.check("Upper1!case").is_ok());
    }

    #[test]
    fn common_passwords_are_refused_unless_allowed() {
        let mut p = PasswordSettings::default();
        assert_eq!(p.check("password123"), Err(Error::PasswordPwned));
        assert_eq!(p.check("Iloveyou1"), Err(Error::PasswordPwned));
        assert!(
            p.check("correcthorsebatterystaple").is_ok(),
            "no composition rules, not on the list"
        );
        p.block_common = false;
        assert!(p.check("password123").is_ok());
    }

    #[test]
    fn defaults_validate() {
        assert_eq!(Settings::default().validate(), Ok(()));
        let s = Settings {
            identifiers: IdentifierSettings {
                email_address: false,
                phone_number: false,
                username: false,
            },
            ..Settings::default()
        };
        assert!(s.validate().is_err());
    }
}
