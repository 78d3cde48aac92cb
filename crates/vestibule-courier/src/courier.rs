//! The delivery loop: claims due outbox messages, sends them, records the outcome.
//!
//! Any number of nodes may run it against one store. A claim leases a message for
//! [`LEASE_SECONDS`]; a node that dies while holding it loses the lease and another node sends
//! it. Delivery is therefore at least once: a node that dies after the transport accepted a
//! message but before recording it sends that message again later (rare, and harmless for a
//! one-time code; webhook receivers can drop duplicates by `message_id`).

use crate::message::{mask_recipient, Message};
use crate::transport::{SendError, Transports};
use crate::CourierError;
use futures::FutureExt;
use futures::StreamExt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use vestibule_crypto::Sealer;
use vestibule_model::{Clock, Rng};
use vestibule_store::outbox::{self, OutboxMessage};
use vestibule_store::{Connection, Store};

/// How long a claim keeps other couriers off a message.
pub const LEASE_SECONDS: i64 = 60;
/// Messages claimed (and sent concurrently) per round.
pub const BATCH: usize = 16;
/// Attempts before a message is given up.
pub const MAX_ATTEMPTS: u32 = 10;
/// Longest wait between attempts.
pub const MAX_BACKOFF_SECONDS: i64 = 600;
/// How often an idle courier looks for due messages without being woken (retries come due this way).
pub const IDLE_POLL: Duration = Duration::from_secs(5);
/// Finished messages (delivered or given up) are kept this long for the inbox and for
/// troubleshooting, then deleted.
pub const KEEP_FINISHED_SECONDS: i64 = 7 * 24 * 3600;
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Seconds to wait after failed attempt `attempt` (1-based): 5 s, 10 s, 20 s, … capped at 10 min.
pub fn backoff_seconds(attempt: u32) -> i64 {
    let doublings = attempt.saturating_sub(1).min(16);
    (5_i64 << doublings).min(MAX_BACKOFF_SECONDS)
}

/// Cheap to clone: clones share one queue, one wake-up signal and one set of transports.
#[derive(Clone)]
pub struct Courier {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    sealer: Arc<Sealer>,
    transports: Transports,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn Rng>,
    development: bool,
    wake: Notify,
}

impl std::fmt::Debug for Courier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Courier")
            .field("transports", &self.inner.transports)
            .field("development", &self.inner.development)
            .finish_non_exhaustive()
    }
}

enum Outcome {
    Delivered,
    Failed(SendError),
}

impl Courier {
    /// `development`: every message is also logged with its body, and a channel without a
    /// transport counts as delivered (the message stays readable in the dev inbox).
    pub fn new(
        store: Store,
        sealer: Arc<Sealer>,
        transports: Transports,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn Rng>,
        development: bool,
    ) -> Courier {
        Courier {
            inner: Arc::new(Inner {
                store,
                sealer,
                transports,
                clock,
                rng,
                development,
                wake: Notify::new(),
            }),
        }
    }

    /// Tells the loop that something was committed to the outbox. A wake while the loop is busy
    /// is kept, so it looks again as soon as it is done.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// [`crate::enqueue`] with this courier's sealer, clock and randomness.
    pub async fn enqueue(
        &self,
        conn: &mut Connection,
        message: &Message,
    ) -> Result<String, CourierError> {
        crate::enqueue(
            conn,
            &self.inner.sealer,
            message,
            self.inner.clock.now(),
            &*self.inner.rng,
        )
        .await
    }

    /// [`crate::inbox`] with this courier's store and sealer.
    pub async fn inbox(
        &self,
        recipient: Option<&str>,
        limit: i64,
    ) -> Result<Vec<crate::InboxEntry>, CourierError> {
        crate::inbox(&self.inner.store, &self.inner.sealer, recipient, limit).await
    }

    /// Delivers until `shutdown` completes. A round that has started is finished first (each
    /// send is bounded by its transport's timeout), so no claimed message is left to its lease.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        let shutdown = shutdown.fuse();
        futures::pin_mut!(shutdown);
        let mut pruned_at: Option<Instant> = None;
        loop {
            if (&mut shutdown).now_or_never().is_some() {
                break;
            }
            if pruned_at.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
                self.prune().await;
                pruned_at = Some(Instant::now());
            }
            // A full batch suggests more are due: go again at once.
            if self.deliver_round().await == BATCH {
                continue;
            }
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                _ = self.inner.wake.notified() => {}
                _ = tokio::time::sleep(IDLE_POLL) => {}
            }
        }
        tracing::debug!("courier stopped");
    }

    /// Delivers everything due now, round after round, and returns how many messages were
    /// attempted (delivered or not). For tests and tools; servers use [`Courier::run`].
    pub async fn deliver_due_now(&self) -> usize {
        let mut total = 0;
        loop {
            let n = self.deliver_round().await;
            total += n;
            // A failed attempt is rescheduled at least 5 s ahead and a claimed message stays
            // leased, so no message comes back within one call: this ends.
            if n < BATCH {
                return total;
            }
        }
    }

    /// Claims one batch and sends it concurrently; returns how many were claimed.
    async fn deliver_round(&self) -> usize {
        let claimed = match self.claim().await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "courier cannot claim outbox messages");
                return 0;
            }
        };
        let n = claimed.len();
        futures::stream::iter(claimed)
            .for_each_concurrent(BATCH, |m| self.deliver(m))
            .await;
        n
    }

    async fn claim(&self) -> Result<Vec<OutboxMessage>, CourierError> {
        let now = self.inner.clock.now();
        let mut tx = self.inner.store.begin().await?;
        let claimed = outbox::claim_due(&mut tx, now, LEASE_SECONDS, BATCH as i64).await?;
        tx.commit().await?;
        Ok(claimed)
    }

    async fn deliver(&self, m: OutboxMessage) {
        let outcome = match crate::open_payload(&self.inner.sealer, &m.payload) {
            Err(e) => Outcome::Failed(SendError::permanent(format!(
                "stored message cannot be read: {e}"
            ))),
            Ok(message) => {
                if self.inner.development && m.attempts == 1 {
                    log_for_development(&m.id, &message);
                }
                match self.inner.transports.for_channel(message.channel()) {
                    Some(transport) => match transport.send(&m.id, &message).await {
                        Ok(()) => Outcome::Delivered,
                        Err(e) => Outcome::Failed(e),
                    },
                    None if self.inner.development => Outcome::Delivered,
                    None => Outcome::Failed(SendError::permanent(format!(
                        "no {} transport is configured",
                        message.channel().as_str()
                    ))),
                }
            }
        };
        if let Err(e) = self.record(&m, &outcome).await {
            // The lease runs out and the message is tried again: at least once, never lost.
            tracing::error!(id = %m.id, error = %e, "courier cannot record a delivery outcome");
        }
    }

    async fn record(&self, m: &OutboxMessage, outcome: &Outcome) -> Result<(), CourierError> {
        let now = self.inner.clock.now();
        let to = mask_recipient(&m.recipient);
        let mut tx = self.inner.store.begin().await?;
        match outcome {
            Outcome::Delivered => {
                outbox::mark_delivered(&mut tx, &m.id, now).await?;
                tracing::debug!(id = %m.id, channel = m.channel.as_str(), purpose = %m.purpose, to = %to, attempt = m.attempts, "message delivered");
            }
            Outcome::Failed(e) if e.is_permanent() || m.attempts >= MAX_ATTEMPTS => {
                outbox::mark_failed(&mut tx, &m.id, now, &e.to_string()).await?;
                tracing::error!(id = %m.id, channel = m.channel.as_str(), purpose = %m.purpose, to = %to, attempt = m.attempts, error = %e, "message given up");
            }
            Outcome::Failed(e) => {
                let next = now.plus_seconds(backoff_seconds(m.attempts));
                outbox::mark_retry(&mut tx, &m.id, next, &e.to_string()).await?;
                tracing::warn!(id = %m.id, channel = m.channel.as_str(), purpose = %m.purpose, to = %to, attempt = m.attempts, retry_in_seconds = backoff_seconds(m.attempts), error = %e, "message not delivered; will retry");
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn prune(&self) {
        let before = self.inner.clock.now().plus_seconds(-KEEP_FINISHED_SECONDS);
        let result = async {
            let mut tx = self.inner.store.begin().await?;
            let n = outbox::delete_finished_before(&mut tx, before).await?;
            tx.commit().await?;
            Ok::<_, CourierError>(n)
        }
        .await;
        match result {
            Ok(0) => {}
            Ok(n) => tracing::debug!(deleted = n, "old outbox messages deleted"),
            Err(e) => tracing::warn!(error = %e, "cannot delete old outbox messages"),
        }
    }
}

/// What lets a developer sign in locally without a mail server: the code, in the log.
fn log_for_development(id: &str, message: &Message) {
    let to = mask_recipient(message.to());
    match message {
        Message::Email {
            purpose,
            subject,
            text,
            ..
        } => {
            tracing::info!(id, channel = "email", purpose = %purpose, to = %to, subject = %subject, "development message:\n{text}");
        }
        Message::Sms { purpose, body, .. } => {
            tracing::info!(id, channel = "sms", purpose = %purpose, to = %to, "development message: {body}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_five_seconds_to_ten_minutes() {
        let got: Vec<i64> = (1..=11).map(backoff_seconds).collect();
        assert_eq!(got, [5, 10, 20, 40, 80, 160, 320, 600, 600, 600, 600]);
        assert_eq!(backoff_seconds(0), 5);
        assert_eq!(backoff_seconds(u32::MAX), 600);
    }
}
