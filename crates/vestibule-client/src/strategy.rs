//! Verification strategies by their Clerk wire names.

use std::borrow::Cow;
use std::fmt;

/// A Web3 wallet provider; each has its own signature strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Web3Wallet {
    Metamask,
    CoinbaseWallet,
    OkxWallet,
    Base,
    Solana,
}

impl Web3Wallet {
    /// `web3_<wallet>_signature`.
    pub fn strategy_name(self) -> &'static str {
        match self {
            Web3Wallet::Metamask => "web3_metamask_signature",
            Web3Wallet::CoinbaseWallet => "web3_coinbase_wallet_signature",
            Web3Wallet::OkxWallet => "web3_okx_wallet_signature",
            Web3Wallet::Base => "web3_base_signature",
            Web3Wallet::Solana => "web3_solana_signature",
        }
    }
}

/// How a sign-in factor is proven. Parsing never fails: names this SDK does not know yet become
/// [`Strategy::Other`], so a newer server does not break an older app.
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
    Web3(Web3Wallet),
    /// `oauth_<provider>`, holding the provider (`google`, `github`, …).
    OAuth(String),
    EnterpriseSso,
    Saml,
    Ticket,
    GoogleOneTap,
    Other(String),
}

const WALLETS: [Web3Wallet; 5] = [
    Web3Wallet::Metamask,
    Web3Wallet::CoinbaseWallet,
    Web3Wallet::OkxWallet,
    Web3Wallet::Base,
    Web3Wallet::Solana,
];

impl Strategy {
    /// The wire name.
    pub fn as_str(&self) -> Cow<'_, str> {
        Cow::Borrowed(match self {
            Strategy::Password => "password",
            Strategy::EmailCode => "email_code",
            Strategy::EmailLink => "email_link",
            Strategy::PhoneCode => "phone_code",
            Strategy::Passkey => "passkey",
            Strategy::Totp => "totp",
            Strategy::BackupCode => "backup_code",
            Strategy::ResetPasswordEmailCode => "reset_password_email_code",
            Strategy::ResetPasswordPhoneCode => "reset_password_phone_code",
            Strategy::Web3(w) => w.strategy_name(),
            Strategy::OAuth(provider) => return Cow::Owned(format!("oauth_{provider}")),
            Strategy::EnterpriseSso => "enterprise_sso",
            Strategy::Saml => "saml",
            Strategy::Ticket => "ticket",
            Strategy::GoogleOneTap => "google_one_tap",
            Strategy::Other(name) => name,
        })
    }

    /// Reads a wire name.
    pub fn parse(name: &str) -> Strategy {
        match name {
            "password" => Strategy::Password,
            "email_code" => Strategy::EmailCode,
            "email_link" => Strategy::EmailLink,
            "phone_code" => Strategy::PhoneCode,
            "passkey" => Strategy::Passkey,
            "totp" => Strategy::Totp,
            "backup_code" => Strategy::BackupCode,
            "reset_password_email_code" => Strategy::ResetPasswordEmailCode,
            "reset_password_phone_code" => Strategy::ResetPasswordPhoneCode,
            "enterprise_sso" => Strategy::EnterpriseSso,
            "saml" => Strategy::Saml,
            "ticket" => Strategy::Ticket,
            "google_one_tap" => Strategy::GoogleOneTap,
            other => {
                if let Some(w) = WALLETS.iter().find(|w| w.strategy_name() == other) {
                    Strategy::Web3(*w)
                } else if let Some(provider) =
                    other.strip_prefix("oauth_").filter(|p| !p.is_empty())
                {
                    Strategy::OAuth(provider.to_owned())
                } else {
                    Strategy::Other(other.to_owned())
                }
            }
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

impl From<&str> for Strategy {
    fn from(name: &str) -> Strategy {
        Strategy::parse(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for name in [
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
            "trusted_device",
        ] {
            assert_eq!(Strategy::parse(name).as_str(), name);
        }
        assert_eq!(
            Strategy::parse("oauth_github"),
            Strategy::OAuth("github".into())
        );
        assert_eq!(
            Strategy::parse("web3_solana_signature"),
            Strategy::Web3(Web3Wallet::Solana)
        );
        assert_eq!(
            Strategy::parse("trusted_device"),
            Strategy::Other("trusted_device".into())
        );
        assert_eq!(Strategy::parse("oauth_"), Strategy::Other("oauth_".into()));
    }
}
