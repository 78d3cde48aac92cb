//! What a person types to say who they are, classified and normalised the way the store keys it.

use crate::error::Error;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentifierKind {
    EmailAddress,
    PhoneNumber,
    Username,
    Web3Wallet,
}

impl IdentifierKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentifierKind::EmailAddress => "email_address",
            IdentifierKind::PhoneNumber => "phone_number",
            IdentifierKind::Username => "username",
            IdentifierKind::Web3Wallet => "web3_wallet",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identifier {
    pub kind: IdentifierKind,
    /// Normalised: emails and usernames lower-cased, phone numbers in E.164.
    pub value: String,
}

/// Longest identifier we look at; anything longer is malformed input, not a lookup miss.
pub const MAX_IDENTIFIER_LEN: usize = 320;

impl Identifier {
    /// Classifies free text: `@` means email, a leading `+` means phone, `0x` + 40 hex or a
    /// Solana address means a wallet, anything else is a username. Shape errors name the
    /// `identifier` parameter.
    pub fn classify(raw: &str) -> Result<Identifier, Error> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(Error::param_missing("identifier"));
        }
        if trimmed.chars().count() > MAX_IDENTIFIER_LEN {
            return Err(Error::param_format_invalid("identifier", "is too long"));
        }
        if trimmed.contains('@') {
            return normalize_email(trimmed)
                .map(|value| Identifier {
                    kind: IdentifierKind::EmailAddress,
                    value,
                })
                .ok_or_else(|| {
                    Error::param_format_invalid("identifier", "is not a valid email address")
                });
        }
        if trimmed.starts_with('+') {
            return normalize_phone(trimmed)
                .map(|value| Identifier {
                    kind: IdentifierKind::PhoneNumber,
                    value,
                })
                .ok_or_else(|| {
                    Error::param_format_invalid(
                        "identifier",
                        "is not a valid phone number in E.164 format",
                    )
                });
        }
        if is_web3_address(trimmed) {
            return Ok(Identifier {
                kind: IdentifierKind::Web3Wallet,
                value: trimmed.to_ascii_lowercase(),
            });
        }
        if is_solana_address(trimmed) {
            return Ok(Identifier {
                kind: IdentifierKind::Web3Wallet,
                value: trimmed.to_owned(),
            });
        }
        normalize_username(trimmed)
            .map(|value| Identifier {
                kind: IdentifierKind::Username,
                value,
            })
            .ok_or_else(|| Error::param_format_invalid("identifier", "is not a valid username"))
    }
}

/// Lower-cases and checks the basic `local@domain.tld` shape; deliverability is proven by codes, not regexes.
pub fn normalize_email(s: &str) -> Option<String> {
    let s = s.trim();
    if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (local, domain) = s.rsplit_once('@')?;
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
    if local.is_empty() || local.len() > 64 || local.contains('@') || !domain_ok {
        return None;
    }
    Some(s.to_lowercase())
}

/// E.164: `+`, a non-zero country digit, 7 to 15 digits in all. Spaces, dashes, dots and
/// parentheses people type are dropped.
pub fn normalize_phone(s: &str) -> Option<String> {
    let rest = s.trim().strip_prefix('+')?;
    let mut digits = String::with_capacity(16);
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return None,
        }
    }
    let ok = (7..=15).contains(&digits.len()) && !digits.starts_with('0');
    ok.then(|| format!("+{digits}"))
}

/// Usernames: 1 to 64 of letters, digits, `_`, `-`, `.`, compared case-insensitively.
pub fn normalize_username(s: &str) -> Option<String> {
    let s = s.trim();
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    ok.then(|| s.to_ascii_lowercase())
}

fn is_web3_address(s: &str) -> bool {
    s.len() == 42 && s.starts_with("0x") && s[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// A Solana address: base58 of a 32-byte ed25519 key. Base58 is case-sensitive and a key's
/// encoding mixes cases, while usernames are compared lowercased; so a string is taken for an
/// address only when it decodes to 32 bytes and has both upper- and lowercase letters, which a
/// username of 32 to 44 characters practically never does by accident.
fn is_solana_address(s: &str) -> bool {
    (32..=44).contains(&s.len())
        && s.bytes().any(|b| b.is_ascii_uppercase())
        && s.bytes().any(|b| b.is_ascii_lowercase())
        && bs58::decode(s).into_vec().is_ok_and(|k| k.len() == 32)
}

/// The form a wallet address is stored and compared in: Ethereum addresses lowercase (EIP-55
/// mixed case is only a checksum), Solana addresses as they are.
pub fn normalize_wallet(s: &str) -> Option<String> {
    let s = s.trim();
    if is_web3_address(s) {
        Some(s.to_ascii_lowercase())
    } else if is_solana_address(s) {
        Some(s.to_owned())
    } else {
        None
    }
}

/// What a factor shows of an email or phone the user did not type: enough to recognise, not to harvest.
pub fn mask(kind: IdentifierKind, value: &str) -> String {
    match kind {
        IdentifierKind::EmailAddress => match value.split_once('@') {
            Some((local, domain)) => {
                let first: String = local.chars().take(1).collect();
                format!("{first}***@{domain}")
            }
            None => "***".to_owned(),
        },
        IdentifierKind::PhoneNumber => {
            let n = value.chars().count();
            let tail: String = value.chars().skip(n.saturating_sub(2)).collect();
            format!("+{}{}", "*".repeat(n.saturating_sub(3)), tail)
        }
        _ => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_each_kind() {
        let e = Identifier::classify("  Alice@Example.COM ").expect("email");
        assert_eq!(
            (e.kind, e.value.as_str()),
            (IdentifierKind::EmailAddress, "alice@example.com")
        );
        let p = Identifier::classify("+1 (555) 010-9999").expect("phone");
        assert_eq!(
            (p.kind, p.value.as_str()),
            (IdentifierKind::PhoneNumber, "+15550109999")
        );
        let u = Identifier::classify("Alice_01").expect("username");
        assert_eq!(
            (u.kind, u.value.as_str()),
            (IdentifierKind::Username, "alice_01")
        );
        let w = Identifier::classify("0x52908400098527886E0F7030069857D2E4169EE7").expect("wallet");
        assert_eq!(
            (w.kind, w.value.as_str()),
            (
                IdentifierKind::Web3Wallet,
                "0x52908400098527886e0f7030069857d2e4169ee7"
            )
        );
        let sol = "So11111111111111111111111111111111111111112";
        let s = Identifier::classify(sol).expect("solana wallet");
        assert_eq!(
            (s.kind, s.value.as_str()),
            (IdentifierKind::Web3Wallet, sol)
        );
        // Long usernames stay usernames: lowercase only, or not 32 bytes of base58.
        for name in [
            "abcdefghijkmnopqrstuvwxyzabcdefghijk",
            "Alice_Liddell_of_Wonderland_Oxford",
        ] {
            let u = Identifier::classify(name).expect("username");
            assert_eq!(u.kind, IdentifierKind::Username, "{name}");
        }
    }

    #[test]
    fn rejects_malformed_with_param_name() {
        for bad in ["a@b", "@x.com", "+0123456", "+12ab345678", "bad name", ""] {
            let err = Identifier::classify(bad).expect_err(bad);
            assert_eq!(
                err.meta().param_name.as_deref(),
                Some("identifier"),
                "{bad}"
            );
        }
        let long = "a".repeat(400);
        assert!(Identifier::classify(&long).is_err());
    }

    #[test]
    fn masks_emails_and_phones() {
        assert_eq!(
            mask(IdentifierKind::EmailAddress, "alice@example.com"),
            "a***@example.com"
        );
        assert_eq!(
            mask(IdentifierKind::PhoneNumber, "+15550109999"),
            "+*********99"
        );
    }
}
