//! Rate limits on what an attacker can repeat. A fixed window per key; the store counts
//! atomically, the domain names the keys and the limits.

use serde::{Deserialize, Serialize};

/// At most `max` events per `window_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    pub max: u32,
    pub window_seconds: i64,
}

impl Limit {
    pub const fn new(max: u32, window_seconds: i64) -> Limit {
        Limit {
            max,
            window_seconds,
        }
    }
}

/// Limits per requester (IP address) and per target (identifier or account).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSettings {
    pub enabled: bool,
    /// `POST /v1/client/sign_ins` per IP.
    pub sign_in_create_per_ip: Limit,
    /// Factor attempts (first and second) per IP.
    pub attempts_per_ip: Limit,
    /// Sign-ins started for one identifier, whoever asks.
    pub sign_in_create_per_identifier: Limit,
    /// Factor attempts against one account, whoever asks.
    pub attempts_per_user: Limit,
    /// Codes and links sent to one email address or phone number.
    pub messages_per_identification: Limit,
}

impl Default for RateLimitSettings {
    /// Per IP, Clerk's published figures are 5 sign-ins and 3 attempts per 10 s. Many users share
    /// one address (offices, mobile carriers), so the per-IP defaults here are looser, and the
    /// tight limits sit on what an attack needs: one account's attempts and one address's mail.
    fn default() -> Self {
        RateLimitSettings {
            enabled: true,
            sign_in_create_per_ip: Limit::new(30, 10),
            attempts_per_ip: Limit::new(30, 10),
            sign_in_create_per_identifier: Limit::new(10, 60),
            attempts_per_user: Limit::new(20, 60),
            messages_per_identification: Limit::new(5, 600),
        }
    }
}

impl RateLimitSettings {
    pub fn validate(&self) -> Result<(), String> {
        for (name, l) in [
            ("sign_in_create_per_ip", self.sign_in_create_per_ip),
            ("attempts_per_ip", self.attempts_per_ip),
            (
                "sign_in_create_per_identifier",
                self.sign_in_create_per_identifier,
            ),
            ("attempts_per_user", self.attempts_per_user),
            (
                "messages_per_identification",
                self.messages_per_identification,
            ),
        ] {
            if l.max == 0 || l.window_seconds < 1 {
                return Err(format!(
                    "rate_limits.{name} needs max ≥ 1 and window_seconds ≥ 1"
                ));
            }
        }
        Ok(())
    }
}

/// What a limit counts. Keys are hashed by the store's callers where they carry personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitKey {
    SignInCreateByIp(String),
    AttemptByIp(String),
    SignInCreateByIdentifier(String),
    AttemptByUser(String),
    MessagesToIdentification(String),
}

impl LimitKey {
    pub fn as_string(&self) -> String {
        match self {
            LimitKey::SignInCreateByIp(ip) => format!("sic:ip:{ip}"),
            LimitKey::AttemptByIp(ip) => format!("att:ip:{ip}"),
            LimitKey::SignInCreateByIdentifier(i) => format!("sic:id:{i}"),
            LimitKey::AttemptByUser(u) => format!("att:user:{u}"),
            LimitKey::MessagesToIdentification(i) => format!("msg:{i}"),
        }
    }

    pub fn limit(&self, settings: &RateLimitSettings) -> Limit {
        match self {
            LimitKey::SignInCreateByIp(_) => settings.sign_in_create_per_ip,
            LimitKey::AttemptByIp(_) => settings.attempts_per_ip,
            LimitKey::SignInCreateByIdentifier(_) => settings.sign_in_create_per_identifier,
            LimitKey::AttemptByUser(_) => settings.attempts_per_user,
            LimitKey::MessagesToIdentification(_) => settings.messages_per_identification,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_distinct_per_kind() {
        let a = LimitKey::SignInCreateByIp("1.2.3.4".into()).as_string();
        let b = LimitKey::AttemptByIp("1.2.3.4".into()).as_string();
        assert_ne!(a, b);
        let s = RateLimitSettings::default();
        assert_eq!(
            LimitKey::AttemptByUser("u".into()).limit(&s),
            s.attempts_per_user
        );
        assert!(s.validate().is_ok());
        let bad = RateLimitSettings {
            attempts_per_ip: Limit::new(0, 10),
            ..RateLimitSettings::default()
        };
        assert!(bad.validate().is_err());
    }
}
