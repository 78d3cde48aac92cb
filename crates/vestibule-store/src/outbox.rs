//! Outgoing messages. A message is inserted in the same transaction as the state that needs it,
//! so a crash before commit sends nothing and a crash after commit still sends it: any node's
//! courier claims due messages, with a lease so a node that dies mid-delivery does not keep them.

use crate::db::{query, Row};
use crate::rows::{int, opt_text, opt_ts, text, ts};
use crate::{Connection, Result, StoreError};
use vestibule_model::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Email,
    Sms,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        match s {
            "email" => Some(Channel::Email),
            "sms" => Some(Channel::Sms),
            _ => None,
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub id: String,
    pub channel: Channel,
    /// Email address or E.164 phone number.
    pub recipient: String,
    /// What the message is for (`sign_in_code`, `sign_in_link`, `reset_password_code`, …).
    pub purpose: String,
    /// The rendered message, sealed: it carries codes and links, which are secrets at rest.
    pub payload: Vec<u8>,
    pub created_at: Timestamp,
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
    pub failed_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

impl std::fmt::Debug for OutboxMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxMessage")
            .field("id", &self.id)
            .field("channel", &self.channel)
            .field("purpose", &self.purpose)
            .field("attempts", &self.attempts)
            .field("delivered_at", &self.delivered_at)
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str = "id, channel, recipient, purpose, payload, created_at, attempts, next_attempt_at, delivered_at, failed_at, last_error";

fn from_row(row: &Row) -> Result<OutboxMessage> {
    let channel = text(row, "channel")?;
    Ok(OutboxMessage {
        id: text(row, "id")?,
        channel: Channel::parse(&channel)
            .ok_or_else(|| StoreError::corrupt(format!("outbox channel {channel}")))?,
        recipient: text(row, "recipient")?,
        purpose: text(row, "purpose")?,
        payload: row.get::<Vec<u8>>("payload")?,
        created_at: ts(row, "created_at")?,
        attempts: u32::try_from(int(row, "attempts")?).unwrap_or(u32::MAX),
        next_attempt_at: ts(row, "next_attempt_at")?,
        delivered_at: opt_ts(row, "delivered_at")?,
        failed_at: opt_ts(row, "failed_at")?,
        last_error: opt_text(row, "last_error")?,
    })
}

pub async fn insert(conn: &mut Connection, m: &OutboxMessage) -> Result<()> {
    query(&format!(
        "INSERT INTO outbox ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    ))
    .bind(m.id.as_str())
    .bind(m.channel.as_str())
    .bind(m.recipient.as_str())
    .bind(m.purpose.as_str())
    .bind(m.payload.clone())
    .bind(m.created_at.0)
    .bind(i64::from(m.attempts))
    .bind(m.next_attempt_at.0)
    .bind(m.delivered_at.map(|t| t.0))
    .bind(m.failed_at.map(|t| t.0))
    .bind(m.last_error.as_deref())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Claims up to `limit` messages due at `now` for `lease_seconds` and counts the attempt, in one
/// statement: two couriers never claim the same message while its lease runs.
pub async fn claim_due(
    conn: &mut Connection,
    now: Timestamp,
    lease_seconds: i64,
    limit: i64,
) -> Result<Vec<OutboxMessage>> {
    let free = "delivered_at IS NULL AND failed_at IS NULL AND (claimed_until IS NULL OR claimed_until <= $2)";
    // PostgreSQL: skip rows another courier is claiming right now rather than wait for them and
    // come back empty-handed. SQLite has one writer, so claims never overlap there.
    let skip_locked = if conn.dialect() == crate::Dialect::Postgres {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let rows = query(&format!(
        "UPDATE outbox SET claimed_until = $1, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM outbox WHERE {free} AND next_attempt_at <= $2 ORDER BY next_attempt_at, id LIMIT $3{skip_locked}) \
         AND {free} RETURNING {COLUMNS}"
    ))
    .bind(now.plus_seconds(lease_seconds).0)
    .bind(now.0)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let mut claimed = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    claimed.sort_by(|a, b| (a.next_attempt_at, &a.id).cmp(&(b.next_attempt_at, &b.id)));
    Ok(claimed)
}

pub async fn mark_delivered(conn: &mut Connection, id: &str, now: Timestamp) -> Result<bool> {
    let r = query("UPDATE outbox SET delivered_at = $2, claimed_until = NULL, last_error = NULL WHERE id = $1 AND delivered_at IS NULL")
        .bind(id)
        .bind(now.0)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// A failed attempt that will be retried at `next_attempt_at`.
pub async fn mark_retry(
    conn: &mut Connection,
    id: &str,
    next_attempt_at: Timestamp,
    error: &str,
) -> Result<()> {
    query("UPDATE outbox SET next_attempt_at = $2, claimed_until = NULL, last_error = $3 WHERE id = $1 AND delivered_at IS NULL")
        .bind(id)
        .bind(next_attempt_at.0)
        .bind(error)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Gives up on a message.
pub async fn mark_failed(
    conn: &mut Connection,
    id: &str,
    now: Timestamp,
    error: &str,
) -> Result<()> {
    query("UPDATE outbox SET failed_at = $2, claimed_until = NULL, last_error = $3 WHERE id = $1 AND delivered_at IS NULL")
        .bind(id)
        .bind(now.0)
        .bind(error)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn get(conn: &mut Connection, id: &str) -> Result<Option<OutboxMessage>> {
    let row = query(&format!("SELECT {COLUMNS} FROM outbox WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Newest first, optionally for one recipient (the development inbox).
pub async fn recent(
    conn: &mut Connection,
    recipient: Option<&str>,
    limit: i64,
) -> Result<Vec<OutboxMessage>> {
    let rows = match recipient {
        Some(r) => {
            query(&format!("SELECT {COLUMNS} FROM outbox WHERE recipient = $1 ORDER BY created_at DESC, id DESC LIMIT $2"))
                .bind(r)
                .bind(limit)
                .fetch_all(&mut *conn)
                .await?
        }
        None => {
            query(&format!("SELECT {COLUMNS} FROM outbox ORDER BY created_at DESC, id DESC LIMIT $1"))
                .bind(limit)
                .fetch_all(&mut *conn)
                .await?
        }
    };
    rows.iter().map(from_row).collect()
}

/// Housekeeping: forgets messages finished (delivered or given up) before `before`.
pub async fn delete_finished_before(conn: &mut Connection, before: Timestamp) -> Result<u64> {
    let r = query("DELETE FROM outbox WHERE (delivered_at IS NOT NULL AND delivered_at < $1) OR (failed_at IS NOT NULL AND failed_at < $1)")
        .bind(before.0)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected())
}
