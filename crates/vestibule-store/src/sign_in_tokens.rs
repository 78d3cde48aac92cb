//! Sign-in tokens (tickets), kept as a hash of the ticket. A ticket is accepted by one
//! conditional statement, so of any number of requests presenting it exactly one succeeds.

use crate::db::{query, Row};
use crate::rows::{text, ts};
use crate::{Connection, Result, StoreError};
use vestibule_model::sign_in_token::{SignInToken, SignInTokenStatus};
use vestibule_model::{SignInTokenId, Timestamp, UserId};

const COLUMNS: &str = "id, user_id, status, expire_at, created_at, updated_at";

fn from_row(row: &Row) -> Result<SignInToken> {
    let status = text(row, "status")?;
    Ok(SignInToken {
        id: SignInTokenId::from_trusted(text(row, "id")?),
        user_id: UserId::from_trusted(text(row, "user_id")?),
        status: SignInTokenStatus::parse(&status)
            .ok_or_else(|| StoreError::corrupt(format!("sign-in token status {status}")))?,
        expire_at: ts(row, "expire_at")?,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

pub async fn insert(conn: &mut Connection, t: &SignInToken, token_hash: &str) -> Result<()> {
    query(&format!(
        "INSERT INTO sign_in_tokens ({COLUMNS}, token_hash) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    ))
    .bind(t.id.as_str())
    .bind(t.user_id.as_str())
    .bind(t.status.as_str())
    .bind(t.expire_at.0)
    .bind(t.created_at.0)
    .bind(t.updated_at.0)
    .bind(token_hash)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn get(conn: &mut Connection, id: &SignInTokenId) -> Result<Option<SignInToken>> {
    let row = query(&format!(
        "SELECT {COLUMNS} FROM sign_in_tokens WHERE id = $1"
    ))
    .bind(id.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The token a ticket is, found by the ticket's hash.
pub async fn find_by_hash(conn: &mut Connection, token_hash: &str) -> Result<Option<SignInToken>> {
    let row = query(&format!(
        "SELECT {COLUMNS} FROM sign_in_tokens WHERE token_hash = $1"
    ))
    .bind(token_hash)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Accepts a pending, unexpired token; false when it was not (used, revoked or expired since).
pub async fn accept(conn: &mut Connection, id: &SignInTokenId, now: Timestamp) -> Result<bool> {
    let r = query(
        "UPDATE sign_in_tokens SET status = 'accepted', updated_at = $2 \
         WHERE id = $1 AND status = 'pending' AND expire_at > $2",
    )
    .bind(id.as_str())
    .bind(now.0)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Writes a revocation the model decided, if the token is still pending.
pub async fn revoke(conn: &mut Connection, t: &SignInToken) -> Result<bool> {
    let r = query(
        "UPDATE sign_in_tokens SET status = $2, updated_at = $3 WHERE id = $1 AND status = 'pending'",
    )
    .bind(t.id.as_str())
    .bind(t.status.as_str())
    .bind(t.updated_at.0)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}
