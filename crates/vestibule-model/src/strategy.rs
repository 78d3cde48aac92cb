//! What each strategy is: how its proof reaches the server, by which channel, which steps it can
//! serve, whether it is switched on, and which message carries it. Everything that asks "what kind
//! of strategy is this?" asks here, so a new strategy is described once and the compiler points
//! at every `match` on [`Proof`] that must handle it.

use crate::settings::Settings;
use serde::{Deserialize, Serialize};

/// How a factor is proven. Wire names are Clerk's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Strategy {
    Password,
    EmailCode,
    EmailLink,
    PhoneCode,
    Passkey,
    Totp,
    BackupCode,
    ResetPasswordEmailCode,
    ResetPasswordPhoneCode,
    Web3MetamaskSignature,
    Web3CoinbaseWalletSignature,
    Web3OkxWalletSignature,
    Web3BaseSignature,
    Web3SolanaSignature,
    /// `oauth_<provider>`, e.g. `oauth_google`.
    OAuth(String),
    EnterpriseSso,
    Saml,
    Ticket,
    GoogleOneTap,
}

impl Strategy {
    pub fn as_str(&self) -> std::borrow::Cow<'static, str> {
        use std::borrow::Cow::Borrowed;
        match self {
            Strategy::Password => Borrowed("password"),
            Strategy::EmailCode => Borrowed("email_code"),
            Strategy::EmailLink => Borrowed("email_link"),
            Strategy::PhoneCode => Borrowed("phone_code"),
            Strategy::Passkey => Borrowed("passkey"),
            Strategy::Totp => Borrowed("totp"),
            Strategy::BackupCode => Borrowed("backup_code"),
            Strategy::ResetPasswordEmailCode => Borrowed("reset_password_email_code"),
            Strategy::ResetPasswordPhoneCode => Borrowed("reset_password_phone_code"),
            Strategy::Web3MetamaskSignature => Borrowed("web3_metamask_signature"),
            Strategy::Web3CoinbaseWalletSignature => Borrowed("web3_coinbase_wallet_signature"),
            Strategy::Web3OkxWalletSignature => Borrowed("web3_okx_wallet_signature"),
            Strategy::Web3BaseSignature => Borrowed("web3_base_signature"),
            Strategy::Web3SolanaSignature => Borrowed("web3_solana_signature"),
            Strategy::OAuth(p) => std::borrow::Cow::Owned(format!("oauth_{p}")),
            Strategy::EnterpriseSso => Borrowed("enterprise_sso"),
            Strategy::Saml => Borrowed("saml"),
            Strategy::Ticket => Borrowed("ticket"),
            Strategy::GoogleOneTap => Borrowed("google_one_tap"),
        }
    }

    /// Parses a wire name; `None` for names Clerk does not define.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "password" => Strategy::Password,
            "email_code" => Strategy::EmailCode,
            "email_link" => Strategy::EmailLink,
            "phone_code" => Strategy::PhoneCode,
            "passkey" => Strategy::Passkey,
            "totp" => Strategy::Totp,
            "backup_code" => Strategy::BackupCode,
            "reset_password_email_code" => Strategy::ResetPasswordEmailCode,
            "reset_password_phone_code" => Strategy::ResetPasswordPhoneCode,
            "web3_metamask_signature" => Strategy::Web3MetamaskSignature,
            "web3_coinbase_wallet_signature" => Strategy::Web3CoinbaseWalletSignature,
            "web3_okx_wallet_signature" => Strategy::Web3OkxWalletSignature,
            "web3_base_signature" => Strategy::Web3BaseSignature,
            "web3_solana_signature" => Strategy::Web3SolanaSignature,
            "enterprise_sso" => Strategy::EnterpriseSso,
            "saml" => Strategy::Saml,
            "ticket" => Strategy::Ticket,
            "google_one_tap" => Strategy::GoogleOneTap,
            other => {
                let provider = other.strip_prefix("oauth_")?;
                let ok = !provider.is_empty()
                    && provider.len() <= 64
                    && provider
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                if !ok {
                    return None;
                }
                Strategy::OAuth(provider.to_owned())
            }
        })
    }
}

impl Serialize for Strategy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.as_str())
    }
}

impl<'de> Deserialize<'de> for Strategy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Strategy::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown strategy {s}")))
    }
}

/// How a strategy's proof reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// A secret the user knows, checked against a stored hash.
    Password,
    /// A one-time code the server sends; the user types it back.
    SentCode(Channel),
    /// A link the server sends; opening it is the proof.
    SentLink(Channel),
    /// A code from an authenticator app (RFC 6238).
    Totp,
    /// One of the account's single-use recovery codes.
    BackupCode,
    /// A sign-in token the operator's backend issued for one account; presented once, at
    /// `create`, it names the account itself.
    Ticket,
    /// A wallet's signature over a single-use message this server handed out.
    Signature(Chain),
    /// An ID token an identity provider signed (Google One Tap); presented once, at `create`,
    /// its verified email address names the account.
    IdToken,
    /// A WebAuthn assertion by one of the account's passkeys, over a challenge this server
    /// handed out.
    Passkey,
    /// A strategy Clerk defines that this server does not verify.
    Unsupported,
}

/// The kind of wallet a signature comes from, which fixes its scheme and address format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chain {
    /// EIP-191 `personal_sign` over secp256k1, `0x` addresses (MetaMask, Coinbase Wallet, OKX,
    /// Base).
    Ethereum,
    /// Ed25519 over the message's bytes, base58 addresses.
    Solana,
}

impl Chain {
    /// The chain an address belongs to, by its form.
    pub fn of_address(address: &str) -> Chain {
        if address.starts_with("0x") {
            Chain::Ethereum
        } else {
            Chain::Solana
        }
    }
}

/// How a sent code or link travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Email,
    Sms,
}

impl Channel {
    /// The parameter naming the address a prepare call sends to.
    pub fn identification_param(self) -> &'static str {
        match self {
            Channel::Email => "email_address_id",
            Channel::Sms => "phone_number_id",
        }
    }
}

/// The step of a flow a strategy proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A sign-in's first factor (and the password-reset codes, which lead to a new password).
    FirstFactor,
    /// A sign-in's second factor, for an account with MFA.
    SecondFactor,
    /// Confirming a client new to an account that has no MFA.
    ClientTrust,
    /// Reverifying a signed-in session, first factor level.
    ReverifyFirstFactor,
    /// Reverifying a signed-in session, second factor level.
    ReverifySecondFactor,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::FirstFactor => "first factor",
            Step::SecondFactor => "second factor",
            Step::ClientTrust => "client trust confirmation",
            Step::ReverifyFirstFactor => "first factor reverification",
            Step::ReverifySecondFactor => "second factor reverification",
        }
    }
}

/// What a message is for. Its text form is what the outbox and the inbox show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    SignInCode,
    SignInLink,
    ResetPasswordCode,
    SecondFactorCode,
    /// A sign-in from a device the account has not used before, confirmed by a code.
    ClientTrustCode,
}

impl Purpose {
    pub const ALL: [Purpose; 5] = [
        Purpose::SignInCode,
        Purpose::SignInLink,
        Purpose::ResetPasswordCode,
        Purpose::SecondFactorCode,
        Purpose::ClientTrustCode,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::SignInCode => "sign_in_code",
            Purpose::SignInLink => "sign_in_link",
            Purpose::ResetPasswordCode => "reset_password_code",
            Purpose::SecondFactorCode => "second_factor_code",
            Purpose::ClientTrustCode => "client_trust_code",
        }
    }

    pub fn parse(s: &str) -> Option<Purpose> {
        Purpose::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

impl std::fmt::Display for Purpose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Strategy {
    pub fn proof(&self) -> Proof {
        match self {
            Strategy::Password => Proof::Password,
            Strategy::EmailCode | Strategy::ResetPasswordEmailCode => {
                Proof::SentCode(Channel::Email)
            }
            Strategy::PhoneCode | Strategy::ResetPasswordPhoneCode => Proof::SentCode(Channel::Sms),
            Strategy::EmailLink => Proof::SentLink(Channel::Email),
            Strategy::Totp => Proof::Totp,
            Strategy::BackupCode => Proof::BackupCode,
            Strategy::Web3MetamaskSignature
            | Strategy::Web3CoinbaseWalletSignature
            | Strategy::Web3OkxWalletSignature
            | Strategy::Web3BaseSignature => Proof::Signature(Chain::Ethereum),
            Strategy::Web3SolanaSignature => Proof::Signature(Chain::Solana),
            Strategy::Passkey => Proof::Passkey,
            Strategy::OAuth(_) | Strategy::EnterpriseSso | Strategy::Saml => Proof::Unsupported,
            Strategy::GoogleOneTap => Proof::IdToken,
            Strategy::Ticket => Proof::Ticket,
        }
    }

    /// The channel of a sent code or link; `None` for strategies the server sends nothing for.
    pub fn channel(&self) -> Option<Channel> {
        match self.proof() {
            Proof::SentCode(c) | Proof::SentLink(c) => Some(c),
            _ => None,
        }
    }

    /// Whether proving it names the account (a ticket), so it is presented when the sign-in is
    /// created and never listed among an account's factors.
    pub fn names_account(&self) -> bool {
        matches!(self.proof(), Proof::Ticket | Proof::IdToken)
    }

    /// Whether a prepare call must start something (send a code or link, hand out a message to
    /// sign or a challenge) before an attempt can succeed.
    pub fn needs_preparation(&self) -> bool {
        self.channel().is_some() || self.chain().is_some() || self.proof() == Proof::Passkey
    }

    /// The wallet kind of a signature strategy.
    pub fn chain(&self) -> Option<Chain> {
        match self.proof() {
            Proof::Signature(c) => Some(c),
            _ => None,
        }
    }

    /// The parameter a prepare call names its email address, phone number or wallet in.
    pub fn identification_param(&self) -> Option<&'static str> {
        match self.proof() {
            Proof::SentCode(c) | Proof::SentLink(c) => Some(c.identification_param()),
            Proof::Signature(_) => Some("web3_wallet_id"),
            _ => None,
        }
    }

    /// The five wallet strategies, in the order Clerk lists them.
    pub const WEB3: [Strategy; 5] = [
        Strategy::Web3MetamaskSignature,
        Strategy::Web3CoinbaseWalletSignature,
        Strategy::Web3OkxWalletSignature,
        Strategy::Web3BaseSignature,
        Strategy::Web3SolanaSignature,
    ];

    /// Whether proving it leads to choosing a new password instead of signing in.
    pub fn resets_password(&self) -> bool {
        matches!(
            self,
            Strategy::ResetPasswordEmailCode | Strategy::ResetPasswordPhoneCode
        )
    }

    /// Whether it can prove `step` at all (whether a given account has it is the user's business).
    pub fn serves(&self, step: Step) -> bool {
        let resets = self.resets_password();
        match (self.proof(), step) {
            (Proof::Unsupported, _) => false,
            (_, Step::FirstFactor) => matches!(
                self.proof(),
                Proof::Password
                    | Proof::SentCode(_)
                    | Proof::SentLink(_)
                    | Proof::Ticket
                    | Proof::IdToken
                    | Proof::Signature(_)
                    | Proof::Passkey
            ),
            (
                Proof::SentCode(Channel::Sms) | Proof::Totp | Proof::BackupCode,
                Step::SecondFactor,
            ) => !resets,
            (Proof::SentCode(_) | Proof::SentLink(_), Step::ClientTrust) => !resets,
            (Proof::Password | Proof::SentCode(_) | Proof::Passkey, Step::ReverifyFirstFactor) => {
                !resets
            }
            (
                Proof::SentCode(Channel::Sms) | Proof::Totp | Proof::BackupCode,
                Step::ReverifySecondFactor,
            ) => !resets,
            _ => false,
        }
    }

    /// Whether it serves `step` and the instance has it switched on there: the first factors'
    /// switches for first factors, client trust and first-factor reverification, the MFA
    /// switches for second factors.
    pub fn enabled(&self, settings: &Settings, step: Step) -> bool {
        if !self.serves(step) {
            return false;
        }
        let f = &settings.factors;
        let m = &settings.mfa;
        match step {
            Step::FirstFactor | Step::ClientTrust | Step::ReverifyFirstFactor => match self {
                Strategy::Password => settings.password.enabled,
                Strategy::EmailCode => f.email_code,
                Strategy::EmailLink => f.email_link,
                Strategy::PhoneCode => f.phone_code,
                Strategy::ResetPasswordEmailCode | Strategy::ResetPasswordPhoneCode => {
                    f.reset_password && settings.password.enabled
                }
                // Issued by the operator's backend with the secret key: nothing to switch on.
                Strategy::Ticket => step == Step::FirstFactor,
                Strategy::GoogleOneTap => {
                    step == Step::FirstFactor && settings.google_one_tap.client_id.is_some()
                }
                w if w.chain().is_some() => settings.web3.enabled(w),
                Strategy::Passkey => step != Step::ClientTrust && settings.passkeys.enabled,
                _ => false,
            },
            Step::SecondFactor | Step::ReverifySecondFactor => match self {
                Strategy::PhoneCode => m.phone_code,
                Strategy::Totp => m.authenticator_app,
                Strategy::BackupCode => m.backup_codes,
                _ => false,
            },
        }
    }

    /// The parameter an attempt carries its guess in; `None` for links, which are opened.
    pub fn guess_param(&self) -> Option<&'static str> {
        match self.proof() {
            Proof::Password => Some("password"),
            Proof::SentCode(_) | Proof::Totp | Proof::BackupCode => Some("code"),
            Proof::Ticket => Some("ticket"),
            Proof::IdToken => Some("token"),
            Proof::Signature(_) => Some("signature"),
            Proof::Passkey => Some("public_key_credential"),
            Proof::SentLink(_) | Proof::Unsupported => None,
        }
    }

    /// The message a sent code or link for `step` goes out as.
    pub fn purpose(&self, step: Step) -> Purpose {
        match (self.proof(), step) {
            (Proof::SentLink(_), _) => Purpose::SignInLink,
            (_, Step::FirstFactor) if self.resets_password() => Purpose::ResetPasswordCode,
            (_, Step::FirstFactor) => Purpose::SignInCode,
            (_, Step::ClientTrust) => Purpose::ClientTrustCode,
            _ => Purpose::SecondFactorCode,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_STEPS: [Step; 5] = [
        Step::FirstFactor,
        Step::SecondFactor,
        Step::ClientTrust,
        Step::ReverifyFirstFactor,
        Step::ReverifySecondFactor,
    ];

    fn all() -> Vec<Strategy> {
        [
            "password",
            "email_code",
            "email_link",
            "phone_code",
            "passkey",
            "totp",
            "backup_code",
            "reset_password_email_code",
            "reset_password_phone_code",
            "web3_metamask_signature",
            "web3_coinbase_wallet_signature",
            "web3_okx_wallet_signature",
            "web3_base_signature",
            "web3_solana_signature",
            "oauth_google",
            "enterprise_sso",
            "saml",
            "ticket",
            "google_one_tap",
        ]
        .iter()
        .map(|n| Strategy::parse(n).expect("a strategy name"))
        .collect()
    }

    fn steps(s: &str) -> Vec<Step> {
        let s = Strategy::parse(s).expect("a strategy name");
        ALL_STEPS.into_iter().filter(|&st| s.serves(st)).collect()
    }

    #[test]
    fn names_round_trip() {
        for s in all() {
            assert_eq!(Strategy::parse(&s.as_str()), Some(s.clone()));
        }
        assert_eq!(Strategy::parse("oauth_"), None);
        assert_eq!(Strategy::parse("oauth_Google"), None);
    }

    #[test]
    fn each_strategy_serves_its_steps() {
        use Step::*;
        assert_eq!(steps("password"), [FirstFactor, ReverifyFirstFactor]);
        assert_eq!(
            steps("email_code"),
            [FirstFactor, ClientTrust, ReverifyFirstFactor]
        );
        assert_eq!(steps("email_link"), [FirstFactor, ClientTrust]);
        assert_eq!(
            steps("phone_code"),
            [
                FirstFactor,
                SecondFactor,
                ClientTrust,
                ReverifyFirstFactor,
                ReverifySecondFactor
            ]
        );
        assert_eq!(steps("totp"), [SecondFactor, ReverifySecondFactor]);
        assert_eq!(steps("backup_code"), [SecondFactor, ReverifySecondFactor]);
        assert_eq!(steps("reset_password_email_code"), [FirstFactor]);
        assert_eq!(steps("reset_password_phone_code"), [FirstFactor]);
        assert_eq!(steps("ticket"), [FirstFactor]);
        assert_eq!(steps("google_one_tap"), [FirstFactor]);
        assert_eq!(steps("passkey"), [FirstFactor, ReverifyFirstFactor]);
        for w in Strategy::WEB3 {
            assert_eq!(steps(&w.as_str()), [FirstFactor], "{w:?}");
        }
    }

    #[test]
    fn google_one_tap_names_its_account_once_a_client_id_is_set() {
        let mut settings = Settings::default();
        let s = Strategy::GoogleOneTap;
        assert!(s.names_account());
        assert_eq!(s.guess_param(), Some("token"));
        assert!(
            !s.enabled(&settings, Step::FirstFactor),
            "off without a client id"
        );
        settings.google_one_tap.client_id = Some("app.apps.googleusercontent.com".into());
        assert!(s.enabled(&settings, Step::FirstFactor));
        assert!(!s.enabled(&settings, Step::ReverifyFirstFactor));
    }

    #[test]
    fn wallets_sign_a_message_named_by_their_wallet_id() {
        let mut settings = Settings::default();
        for w in Strategy::WEB3 {
            assert!(!w.enabled(&settings, Step::FirstFactor), "off by default");
            assert_eq!(w.guess_param(), Some("signature"));
            assert_eq!(w.identification_param(), Some("web3_wallet_id"));
        }
        settings.web3.solana = true;
        assert!(Strategy::Web3SolanaSignature.enabled(&settings, Step::FirstFactor));
        assert!(!Strategy::Web3SolanaSignature.enabled(&settings, Step::ReverifyFirstFactor));
        assert!(!Strategy::Web3MetamaskSignature.enabled(&settings, Step::FirstFactor));
        assert_eq!(Strategy::Web3SolanaSignature.chain(), Some(Chain::Solana));
        assert_eq!(Strategy::Web3BaseSignature.chain(), Some(Chain::Ethereum));
        assert_eq!(Strategy::EmailCode.chain(), None);
    }

    #[test]
    fn passkeys_answer_a_challenge_once_switched_on() {
        let mut settings = Settings::default();
        let s = Strategy::Passkey;
        assert!(!s.enabled(&settings, Step::FirstFactor), "off by default");
        settings.passkeys.enabled = true;
        assert!(s.enabled(&settings, Step::FirstFactor));
        assert!(s.enabled(&settings, Step::ReverifyFirstFactor));
        assert!(!s.enabled(&settings, Step::SecondFactor));
        assert!(!s.enabled(&settings, Step::ClientTrust));
        assert!(s.needs_preparation());
        assert_eq!(s.guess_param(), Some("public_key_credential"));
        assert!(!s.names_account());
    }

    #[test]
    fn a_ticket_names_its_account_and_is_always_enabled_for_sign_in() {
        let settings = Settings::default();
        assert!(Strategy::Ticket.names_account());
        assert!(Strategy::Ticket.enabled(&settings, Step::FirstFactor));
        assert!(!Strategy::Ticket.enabled(&settings, Step::ReverifyFirstFactor));
        assert_eq!(Strategy::Ticket.guess_param(), Some("ticket"));
        assert!(all()
            .iter()
            .filter(|s| **s != Strategy::Ticket && **s != Strategy::GoogleOneTap)
            .all(|s| !s.names_account()));
    }

    #[test]
    fn sent_strategies_say_their_channel_and_message() {
        for s in all() {
            let sent = matches!(s.proof(), Proof::SentCode(_) | Proof::SentLink(_));
            assert_eq!(s.channel().is_some(), sent, "{s:?}");
            let signed = matches!(s.proof(), Proof::Signature(_) | Proof::Passkey);
            assert_eq!(s.needs_preparation(), sent || signed, "{s:?}");
        }
        assert_eq!(Strategy::EmailLink.channel(), Some(Channel::Email));
        assert_eq!(
            Strategy::ResetPasswordPhoneCode.channel(),
            Some(Channel::Sms)
        );
        assert_eq!(Strategy::Password.channel(), None);
        assert_eq!(
            Strategy::ResetPasswordEmailCode.purpose(Step::FirstFactor),
            Purpose::ResetPasswordCode
        );
        assert_eq!(
            Strategy::EmailLink.purpose(Step::ClientTrust),
            Purpose::SignInLink
        );
        assert_eq!(
            Strategy::EmailCode.purpose(Step::ClientTrust),
            Purpose::ClientTrustCode
        );
        assert_eq!(
            Strategy::PhoneCode.purpose(Step::SecondFactor),
            Purpose::SecondFactorCode
        );
        assert_eq!(
            Strategy::EmailCode.purpose(Step::FirstFactor),
            Purpose::SignInCode
        );
    }

    #[test]
    fn switches_apply_to_their_steps() {
        let mut settings = Settings::default();
        settings.factors.phone_code = false;
        settings.mfa.phone_code = true;
        assert!(!Strategy::PhoneCode.enabled(&settings, Step::FirstFactor));
        assert!(Strategy::PhoneCode.enabled(&settings, Step::SecondFactor));
        settings.password.enabled = false;
        assert!(!Strategy::ResetPasswordEmailCode.enabled(&settings, Step::FirstFactor));
        assert!(!Strategy::Totp.enabled(&settings, Step::FirstFactor));
    }

    #[test]
    fn unsupported_strategies_are_never_enabled_nor_serve() {
        let settings = Settings::default();
        for s in all() {
            if s.proof() == Proof::Unsupported {
                assert!(
                    ALL_STEPS
                        .iter()
                        .all(|&st| !s.serves(st) && !s.enabled(&settings, st)),
                    "{s:?}"
                );
                assert_eq!(s.guess_param(), None);
            }
        }
    }
}
