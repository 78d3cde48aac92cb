//! How a message leaves: one transport per channel.

use crate::message::Message;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use vestibule_store::outbox::Channel;

/// Whether trying again may help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// The receiving side refused this message for good (bad address, 4xx from the webhook).
    Permanent,
    /// Network trouble, timeouts, 5xx, throttling: worth another attempt later.
    Temporary,
}

/// Why a send failed. The text goes to logs and to the outbox's `last_error`, so it never holds
/// the message body, a code or a link: transports build it from status codes and error kinds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} failure: {detail}", match .retry { Retry::Permanent => "permanent", Retry::Temporary => "temporary" })]
pub struct SendError {
    pub retry: Retry,
    pub detail: String,
}

impl SendError {
    pub fn permanent(detail: impl Into<String>) -> SendError {
        SendError {
            retry: Retry::Permanent,
            detail: detail.into(),
        }
    }

    pub fn temporary(detail: impl Into<String>) -> SendError {
        SendError {
            retry: Retry::Temporary,
            detail: detail.into(),
        }
    }

    pub fn is_permanent(&self) -> bool {
        self.retry == Retry::Permanent
    }
}

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>>;

/// Delivers one message. `message_id` is stable across retries, so a receiver can drop
/// duplicates: delivery is at least once (a node that dies after sending but before recording it
/// sends again after the lease).
///
/// Written with a boxed future rather than `async fn` so transports can sit behind `dyn`.
pub trait Transport: Send + Sync + 'static {
    fn send<'a>(&'a self, message_id: &'a str, message: &'a Message) -> SendFuture<'a>;
}

/// The transport for each channel; `None` where the channel is not configured.
#[derive(Clone, Default)]
pub struct Transports {
    pub email: Option<Arc<dyn Transport>>,
    pub sms: Option<Arc<dyn Transport>>,
}

impl Transports {
    pub fn none() -> Transports {
        Transports::default()
    }

    pub fn for_channel(&self, channel: Channel) -> Option<&Arc<dyn Transport>> {
        match channel {
            Channel::Email => self.email.as_ref(),
            Channel::Sms => self.sms.as_ref(),
        }
    }
}

impl std::fmt::Debug for Transports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transports")
            .field("email", &self.email.is_some())
            .field("sms", &self.sms.is_some())
            .finish()
    }
}
