//! Vestibule's courier: outgoing email and SMS.
//!
//! A handler renders a [`Message`] from [`Templates`], writes it with [`enqueue`] in the same
//! transaction as the verification that needs it, commits, then calls [`Courier::wake`]. The
//! [`Courier`] loop claims due messages from the outbox, sends them through a [`Transport`]
//! ([`SmtpTransport`], [`SmsWebhookTransport`]) and retries with backoff. So a crash before
//! commit sends nothing, and a crash after commit still sends (see [`courier`] for the lease).
//!
//! Messages carry codes and links, so the outbox holds them sealed ([`vestibule_crypto::Sealer`]),
//! and nothing here logs a body, except the development mode that exists for exactly that.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod config;
pub mod courier;
pub mod message;
pub mod smtp;
pub mod templates;
pub mod transport;
pub mod webhook;

pub use config::{ConfigError, CourierConfig, EmailConfig, SmsConfig};
pub use courier::Courier;
pub use message::{mask_recipient, Message};
pub use smtp::{SmtpSecurity, SmtpTransport, SmtpUrl};
pub use templates::{Purpose, TemplateError, Templates, Vars};
pub use transport::{Retry, SendError, SendFuture, Transport, Transports};
pub use webhook::{verify_signature, SmsWebhookTransport, SIGNATURE_HEADER};

use serde::Serialize;
use vestibule_crypto::{SealError, Sealer};
use vestibule_model::rng::base62;
use vestibule_model::{Rng, Timestamp};
use vestibule_store::outbox::{self, OutboxMessage};
use vestibule_store::{Connection, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum CourierError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot encode message: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Writes `message` to the outbox on `conn`, which should be the caller's transaction: the
/// message exists exactly when that transaction commits. Due at `now`. Returns the message id
/// (`msg_` and 27 base62 characters).
pub async fn enqueue(
    conn: &mut Connection,
    sealer: &Sealer,
    message: &Message,
    now: Timestamp,
    rng: &dyn Rng,
) -> Result<String, CourierError> {
    let id = format!("msg_{}", base62(rng, 27));
    let plain = zeroize::Zeroizing::new(serde_json::to_vec(message)?);
    let row = OutboxMessage {
        id: id.clone(),
        channel: message.channel(),
        recipient: message.to().to_owned(),
        purpose: message.purpose().to_owned(),
        payload: sealer.seal(&plain, rng),
        created_at: now,
        attempts: 0,
        next_attempt_at: now,
        delivered_at: None,
        failed_at: None,
        last_error: None,
    };
    outbox::insert(conn, &row).await?;
    Ok(id)
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum PayloadError {
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error("not a message: {0}")]
    Decode(#[from] serde_json::Error),
}

pub(crate) fn open_payload(sealer: &Sealer, payload: &[u8]) -> Result<Message, PayloadError> {
    let plain = zeroize::Zeroizing::new(sealer.open(payload)?);
    Ok(serde_json::from_slice(&plain)?)
}

/// One message as the development inbox shows it. Content fields are `None` where the channel
/// has no such part, or where the stored message cannot be opened (sealed under another key).
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct InboxEntry {
    pub id: String,
    /// `email` or `sms`.
    pub channel: String,
    pub to: String,
    pub purpose: String,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    pub body: Option<String>,
    pub created_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
    pub failed_at: Option<Timestamp>,
    pub attempts: u32,
    pub last_error: Option<String>,
}

impl std::fmt::Debug for InboxEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboxEntry")
            .field("id", &self.id)
            .field("channel", &self.channel)
            .field("to", &mask_recipient(&self.to))
            .field("purpose", &self.purpose)
            .field("delivered_at", &self.delivered_at)
            .field("failed_at", &self.failed_at)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// The newest `limit` messages, optionally only those to `recipient` (compared exactly, as
/// stored). For development instances: it returns codes and links in clear.
pub async fn inbox(
    store: &Store,
    sealer: &Sealer,
    recipient: Option<&str>,
    limit: i64,
) -> Result<Vec<InboxEntry>, CourierError> {
    let mut conn = store.read().await?;
    let rows = outbox::recent(&mut conn, recipient, limit).await?;
    Ok(rows
        .into_iter()
        .map(|m| {
            let mut entry = InboxEntry {
                channel: m.channel.as_str().to_owned(),
                to: m.recipient,
                purpose: m.purpose,
                subject: None,
                text: None,
                html: None,
                body: None,
                created_at: m.created_at,
                delivered_at: m.delivered_at,
                failed_at: m.failed_at,
                attempts: m.attempts,
                last_error: m.last_error,
                id: m.id,
            };
            match open_payload(sealer, &m.payload) {
                Ok(Message::Email {
                    subject, text, html, ..
                }) => {
                    entry.subject = Some(subject);
                    entry.text = Some(text);
                    entry.html = Some(html);
                }
                Ok(Message::Sms { body, .. }) => entry.body = Some(body),
                Err(e) => tracing::warn!(id = %entry.id, error = %e, "inbox: stored message cannot be read"),
            }
            entry
        })
        .collect())
}
