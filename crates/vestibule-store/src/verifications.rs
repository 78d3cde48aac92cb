//! Stored codes and email links. Guesses are counted by one conditional statement, so parallel
//! guesses cannot exceed the limit, and a verification is marked verified by one conditional
//! statement, so exactly one of several right guesses wins.

use crate::db::{query, Row};
use crate::rows::{int, opt_text, opt_ts, text, ts};
use crate::{Connection, Result, StoreError};
use vestibule_model::sign_in::VerificationStatus;
use vestibule_model::verification::{CodeVerification, Slot, VerificationOwner};
use vestibule_model::{ClientId, IdentificationId, Strategy, Timestamp, UserId, VerificationId};

const COLUMNS: &str =
    "id, owner_id, user_id, slot, strategy, identification_id, redirect_url, attempts, \
     max_attempts, status, expire_at, created_at, verified_at, verified_by_client_id";

fn status_str(s: VerificationStatus) -> &'static str {
    s.as_str()
}

fn parse_status(s: &str) -> Result<VerificationStatus> {
    Ok(match s {
        "unverified" => VerificationStatus::Unverified,
        "verified" => VerificationStatus::Verified,
        "failed" => VerificationStatus::Failed,
        "expired" => VerificationStatus::Expired,
        other => return Err(StoreError::corrupt(format!("verification status {other}"))),
    })
}

fn from_row(row: &Row) -> Result<CodeVerification> {
    let strategy = text(row, "strategy")?;
    let slot = text(row, "slot")?;
    Ok(CodeVerification {
        id: VerificationId::from_trusted(text(row, "id")?),
        owner: {
            let owner = text(row, "owner_id")?;
            VerificationOwner::from_stored(owner.clone())
                .ok_or_else(|| StoreError::corrupt(format!("verification owner {owner}")))?
        },
        user_id: opt_text(row, "user_id")?.map(UserId::from_trusted),
        slot: Slot::parse(&slot)
            .ok_or_else(|| StoreError::corrupt(format!("verification slot {slot}")))?,
        strategy: Strategy::parse(&strategy)
            .ok_or_else(|| StoreError::corrupt(format!("verification strategy {strategy}")))?,
        identification_id: opt_text(row, "identification_id")?.map(IdentificationId::from_trusted),
        attempts: u32::try_from(int(row, "attempts")?).unwrap_or(u32::MAX),
        max_attempts: u32::try_from(int(row, "max_attempts")?).unwrap_or(0),
        status: parse_status(&text(row, "status")?)?,
        expire_at: ts(row, "expire_at")?,
        created_at: ts(row, "created_at")?,
        verified_at: opt_ts(row, "verified_at")?,
        redirect_url: opt_text(row, "redirect_url")?,
        verified_by_client_id: opt_text(row, "verified_by_client_id")?.map(ClientId::from_trusted),
    })
}

/// Stores a verification with the keyed hash of its code, or the hash of its link token.
pub async fn insert(
    conn: &mut Connection,
    v: &CodeVerification,
    code_hash: Option<&str>,
    link_token_hash: Option<&str>,
) -> Result<()> {
    insert_row(conn, v, code_hash, link_token_hash, None).await
}

/// Stores a passkey step's verification with its ceremony's server state.
pub async fn insert_challenge(
    conn: &mut Connection,
    v: &CodeVerification,
    ceremony: &str,
) -> Result<()> {
    insert_row(conn, v, None, None, Some(ceremony)).await
}

async fn insert_row(
    conn: &mut Connection,
    v: &CodeVerification,
    code_hash: Option<&str>,
    link_token_hash: Option<&str>,
    ceremony: Option<&str>,
) -> Result<()> {
    query(&format!(
        "INSERT INTO verifications ({COLUMNS}, code_hash, link_token_hash, ceremony) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
    ))
    .bind(v.id.as_str())
    .bind(v.owner.as_str())
    .bind(v.user_id.as_ref().map(|u| u.as_str()))
    .bind(v.slot.as_str())
    .bind(v.strategy.as_str().into_owned())
    .bind(v.identification_id.as_ref().map(|i| i.as_str()))
    .bind(v.redirect_url.as_deref())
    .bind(i64::from(v.attempts))
    .bind(i64::from(v.max_attempts))
    .bind(status_str(v.status))
    .bind(v.expire_at.0)
    .bind(v.created_at.0)
    .bind(v.verified_at.map(|t| t.0))
    .bind(v.verified_by_client_id.as_ref().map(|c| c.as_str()))
    .bind(code_hash)
    .bind(link_token_hash)
    .bind(ceremony)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The server state of a passkey step's ceremony.
pub async fn ceremony(conn: &mut Connection, id: &VerificationId) -> Result<Option<String>> {
    let row = query("SELECT ceremony FROM verifications WHERE id = $1")
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| opt_text(&r, "ceremony"))
        .transpose()
        .map(Option::flatten)
}

pub async fn get(conn: &mut Connection, id: &VerificationId) -> Result<Option<CodeVerification>> {
    let row = query(&format!(
        "SELECT {COLUMNS} FROM verifications WHERE id = $1"
    ))
    .bind(id.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The newest code or link sent for a flow, if any.
pub async fn latest_for_owner(
    conn: &mut Connection,
    owner: &VerificationOwner,
) -> Result<Option<CodeVerification>> {
    let row = query(&format!(
        "SELECT {COLUMNS} FROM verifications WHERE owner_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1"
    ))
    .bind(owner.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn get_by_link_token(
    conn: &mut Connection,
    link_token_hash: &str,
) -> Result<Option<CodeVerification>> {
    let row = query(&format!(
        "SELECT {COLUMNS} FROM verifications WHERE link_token_hash = $1"
    ))
    .bind(link_token_hash)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// A counted guess: the stored code hash to compare with, and the guesses used so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountedAttempt {
    pub code_hash: String,
    pub attempts: u32,
    pub max_attempts: u32,
}

/// Counts one guess if one may still be checked (unverified, unexpired, guesses left). `None`:
/// no guess may be checked; read the verification to say why.
pub async fn count_attempt(
    conn: &mut Connection,
    id: &VerificationId,
    now: Timestamp,
) -> Result<Option<CountedAttempt>> {
    let row = query(
        "UPDATE verifications SET attempts = attempts + 1 \
         WHERE id = $1 AND status = 'unverified' AND attempts < max_attempts AND expire_at > $2 \
         RETURNING code_hash, attempts, max_attempts",
    )
    .bind(id.as_str())
    .bind(now.0)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        None => Ok(None),
        Some(row) => Ok(Some(CountedAttempt {
            code_hash: opt_text(&row, "code_hash")?.unwrap_or_default(),
            attempts: u32::try_from(int(&row, "attempts")?).unwrap_or(u32::MAX),
            max_attempts: u32::try_from(int(&row, "max_attempts")?).unwrap_or(0),
        })),
    }
}

/// Marks a verification whose guesses are used up as failed.
pub async fn fail_if_exhausted(conn: &mut Connection, id: &VerificationId) -> Result<bool> {
    let r = query("UPDATE verifications SET status = 'failed' WHERE id = $1 AND status = 'unverified' AND attempts >= max_attempts")
        .bind(id.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Marks it verified if it still is unverified and unexpired: true for exactly one caller.
pub async fn mark_verified(
    conn: &mut Connection,
    id: &VerificationId,
    now: Timestamp,
    by_client: Option<&ClientId>,
) -> Result<bool> {
    let r = query(
        "UPDATE verifications SET status = 'verified', verified_at = $2, verified_by_client_id = $3 \
         WHERE id = $1 AND status = 'unverified' AND expire_at > $2",
    )
    .bind(id.as_str())
    .bind(now.0)
    .bind(by_client.map(|c| c.as_str()))
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Housekeeping: forgets verifications that expired before `before`.
pub async fn delete_expired(conn: &mut Connection, before: Timestamp) -> Result<u64> {
    let r = query("DELETE FROM verifications WHERE expire_at < $1")
        .bind(before.0)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected())
}
