//! The courier's configuration:
//!
//! ```toml
//! templates_dir = "/etc/vestibule/templates"   # optional overrides, see `templates`
//!
//! [email]
//! smtp_url = "smtp://user:password@smtp.example.com:587"   # forms: see `smtp`
//! from = "Acme <no-reply@example.com>"
//!
//! [sms]
//! webhook_url = "https://sms-bridge.internal/send"         # payload: see `webhook`
//! webhook_secret = "a long random string"                  # optional; signs each request
//! ```
//!
//! Everything is optional. A development instance works with none of it (messages go to the log
//! and the dev inbox); a production instance must call [`CourierConfig::validate`] at start.

use crate::smtp::{parse_from, SmtpTransport, SmtpUrl};
use crate::templates::{TemplateError, Templates};
use crate::transport::Transports;
use crate::webhook::{parse_webhook_url, redacted_url, SmsWebhookTransport};
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;
use vestibule_model::Clock;

/// A configuration mistake, worded for the operator who has to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl ConfigError {
    pub fn new(message: impl Into<String>) -> ConfigError {
        ConfigError(message.into())
    }
}

#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CourierConfig {
    pub email: EmailConfig,
    pub sms: SmsConfig,
    pub templates_dir: Option<PathBuf>,
}

#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailConfig {
    pub smtp_url: Option<String>,
    /// `no-reply@example.com` or `Example <no-reply@example.com>`.
    pub from: Option<String>,
}

#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmsConfig {
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
}

/// Passwords, secrets and webhook paths stay out of logs.
impl std::fmt::Debug for CourierConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let smtp = self.email.smtp_url.as_deref().map(|u| {
            SmtpUrl::parse(u)
                .map(|u| format!("{u:?}"))
                .unwrap_or_else(|_| "<invalid>".into())
        });
        let webhook = self.sms.webhook_url.as_deref().map(|u| {
            parse_webhook_url(u)
                .map(|u| redacted_url(&u))
                .unwrap_or_else(|_| "<invalid>".into())
        });
        f.debug_struct("CourierConfig")
            .field("smtp_url", &smtp)
            .field("from", &self.email.from)
            .field("webhook_url", &webhook)
            .field(
                "webhook_secret",
                &self.sms.webhook_secret.as_ref().map(|_| "<set>"),
            )
            .field("templates_dir", &self.templates_dir)
            .finish()
    }
}

impl CourierConfig {
    /// Checks what is configured, and that what the instance needs is there: `needs_email` when
    /// any strategy sends email (codes, links, password reset), `needs_sms` likewise for SMS.
    /// A production instance calls it with its needs and refuses to start on an error; a
    /// development instance may call it with `false, false` to check only what is set.
    pub fn validate(&self, needs_email: bool, needs_sms: bool) -> Result<(), ConfigError> {
        match (&self.email.smtp_url, &self.email.from) {
            (Some(url), Some(from)) => {
                SmtpUrl::parse(url)?;
                parse_from(from)?;
            }
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "[email] smtp_url is set but [email] from is not; set the sender, e.g. from = \"Acme <no-reply@example.com>\"",
                ))
            }
            (None, Some(from)) => {
                parse_from(from)?;
            }
            (None, None) => {}
        }
        if needs_email && self.email.smtp_url.is_none() {
            return Err(ConfigError::new(
                "email codes are enabled but [email] smtp_url is not configured",
            ));
        }
        if let Some(url) = &self.sms.webhook_url {
            parse_webhook_url(url)?;
        }
        if self.sms.webhook_secret.as_deref() == Some("") {
            return Err(ConfigError::new(
                "[sms] webhook_secret is empty; remove it or set a long random value",
            ));
        }
        if self.sms.webhook_secret.is_some() && self.sms.webhook_url.is_none() {
            return Err(ConfigError::new(
                "[sms] webhook_secret is set but [sms] webhook_url is not",
            ));
        }
        if needs_sms && self.sms.webhook_url.is_none() {
            return Err(ConfigError::new(
                "SMS codes are enabled but [sms] webhook_url is not configured",
            ));
        }
        Ok(())
    }

    /// The transports for what is configured (needs no running Tokio runtime).
    pub fn transports(&self, clock: Arc<dyn Clock>) -> Result<Transports, ConfigError> {
        self.validate(false, false)?;
        let email = match (&self.email.smtp_url, &self.email.from) {
            (Some(url), Some(from)) => Some(Arc::new(SmtpTransport::new(url, from)?) as _),
            _ => None,
        };
        let sms = match &self.sms.webhook_url {
            Some(url) => Some(Arc::new(SmsWebhookTransport::new(
                url,
                self.sms.webhook_secret.as_deref(),
                clock,
            )?) as _),
            None => None,
        };
        Ok(Transports { email, sms })
    }

    /// The built-in templates with the operator's overrides from `templates_dir`.
    pub fn templates(&self) -> Result<Templates, TemplateError> {
        Templates::load(self.templates_dir.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml: &str) -> CourierConfig {
        // The server reads TOML; JSON through the same serde derive checks the same rules here.
        serde_json::from_str(toml).unwrap()
    }

    #[test]
    fn everything_is_optional_and_unknown_fields_are_refused() {
        assert_eq!(parse("{}"), CourierConfig::default());
        assert_eq!(parse(r#"{"email": {}}"#), CourierConfig::default());
        assert!(serde_json::from_str::<CourierConfig>(r#"{"email": {"smtp": "x"}}"#).is_err());
        assert!(serde_json::from_str::<CourierConfig>(r#"{"mail": {}}"#).is_err());
    }

    #[test]
    fn debug_redacts_secrets() {
        let c = parse(
            r#"{"email": {"smtp_url": "smtp://u:hunter2@mail.example.com", "from": "a@example.com"},
                "sms": {"webhook_url": "https://hooks.example.com/T0KEN?k=T0KEN", "webhook_secret": "s3cret"}}"#,
        );
        let text = format!("{c:?}");
        assert!(
            !text.contains("hunter2") && !text.contains("T0KEN") && !text.contains("s3cret"),
            "{text}"
        );
        assert!(text.contains("mail.example.com") && text.contains("hooks.example.com"));
    }
}
