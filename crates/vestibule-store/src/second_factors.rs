//! Second factors: the authenticator app (TOTP), backup codes, and trusted clients.
//! Each use is one conditional statement, so a code cannot be used twice, even in parallel.

use crate::db::{query, query_scalar};
use crate::rows::{flag, int, text, ts};
use crate::{Connection, Result};
use vestibule_model::{ClientId, Timestamp, UserId};

#[derive(Clone, PartialEq, Eq)]
pub struct TotpFactor {
    pub id: String,
    pub user_id: UserId,
    /// Sealed secret bytes.
    pub secret: Vec<u8>,
    /// False until the user proved their app produces codes.
    pub verified: bool,
    pub last_used_step: Option<i64>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl std::fmt::Debug for TotpFactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpFactor")
            .field("id", &self.id)
            .field("verified", &self.verified)
            .finish_non_exhaustive()
    }
}

pub async fn totp(conn: &mut Connection, user: &UserId) -> Result<Option<TotpFactor>> {
    let row = query("SELECT id, user_id, secret, verified, last_used_step, created_at, updated_at FROM totp_factors WHERE user_id = $1")
        .bind(user.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        None => Ok(None),
        Some(row) => Ok(Some(TotpFactor {
            id: text(&row, "id")?,
            user_id: UserId::from_trusted(text(&row, "user_id")?),
            secret: row.get::<Vec<u8>>("secret")?,
            verified: flag(&row, "verified")?,
            last_used_step: row.get::<Option<i64>>("last_used_step")?,
            created_at: ts(&row, "created_at")?,
            updated_at: ts(&row, "updated_at")?,
        })),
    }
}

/// Starts (or restarts) enrolment: an unverified factor replaces any unverified one. A verified
/// factor is left alone (returns false): it must be removed first.
pub async fn put_unverified_totp(conn: &mut Connection, f: &TotpFactor) -> Result<bool> {
    query("DELETE FROM totp_factors WHERE user_id = $1 AND verified = 0")
        .bind(f.user_id.as_str())
        .execute(&mut *conn)
        .await?;
    let r = query(
        "INSERT INTO totp_factors (user_id, id, secret, verified, last_used_step, created_at, updated_at) VALUES ($1, $2, $3, 0, NULL, $4, $4) ON CONFLICT (user_id) DO NOTHING",
    )
    .bind(f.user_id.as_str())
    .bind(f.id.as_str())
    .bind(f.secret.clone())
    .bind(f.created_at.0)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Replaces the user's factor, verified or not, by `f` as it is (an operator importing a secret).
pub async fn replace_totp(conn: &mut Connection, f: &TotpFactor) -> Result<()> {
    delete_totp(conn, &f.user_id).await?;
    query(
        "INSERT INTO totp_factors (user_id, id, secret, verified, last_used_step, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(f.user_id.as_str())
    .bind(f.id.as_str())
    .bind(f.secret.clone())
    .bind(if f.verified { 1i64 } else { 0i64 })
    .bind(f.last_used_step)
    .bind(f.created_at.0)
    .bind(f.updated_at.0)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records that a code of `step` was accepted, if no code of that step or a later one was
/// before; with `verify`, also marks the factor verified (its first code). True for exactly one
/// caller per step.
pub async fn use_totp_step(
    conn: &mut Connection,
    user: &UserId,
    step: i64,
    verify: bool,
    now: Timestamp,
) -> Result<bool> {
    let r = query(&format!(
        "UPDATE totp_factors SET last_used_step = $2, updated_at = $3{} \
         WHERE user_id = $1 AND verified = $4 AND (last_used_step IS NULL OR last_used_step < $2)",
        if verify { ", verified = 1" } else { "" }
    ))
    .bind(user.as_str())
    .bind(step)
    .bind(now.0)
    .bind(if verify { 0i64 } else { 1i64 })
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn delete_totp(conn: &mut Connection, user: &UserId) -> Result<bool> {
    let r = query("DELETE FROM totp_factors WHERE user_id = $1")
        .bind(user.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Replaces the user's backup codes by new ones (hashes), under a new salt.
pub async fn replace_backup_codes(
    conn: &mut Connection,
    user: &UserId,
    set_id: &str,
    salt: &str,
    hashes: &[String],
    now: Timestamp,
) -> Result<()> {
    delete_backup_codes(conn, user).await?;
    query("INSERT INTO backup_code_sets (user_id, id, salt, created_at) VALUES ($1, $2, $3, $4)")
        .bind(user.as_str())
        .bind(set_id)
        .bind(salt)
        .bind(now.0)
        .execute(&mut *conn)
        .await?;
    for h in hashes {
        query("INSERT INTO backup_codes (user_id, code_hash, used_at) VALUES ($1, $2, NULL)")
            .bind(user.as_str())
            .bind(h.as_str())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The salt of the user's backup codes and how many are left unused.
pub async fn backup_codes(conn: &mut Connection, user: &UserId) -> Result<Option<(String, u32)>> {
    let row = query(
        "SELECT s.salt, (SELECT COUNT(*) FROM backup_codes c WHERE c.user_id = s.user_id AND c.used_at IS NULL) AS remaining \
         FROM backup_code_sets s WHERE s.user_id = $1",
    )
    .bind(user.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        None => Ok(None),
        Some(row) => Ok(Some((
            text(&row, "salt")?,
            u32::try_from(int(&row, "remaining")?).unwrap_or(0),
        ))),
    }
}

/// Whether `code_hash` is one of the user's unused backup codes.
pub async fn backup_code_unused(
    conn: &mut Connection,
    user: &UserId,
    code_hash: &str,
) -> Result<bool> {
    let found: Option<i64> = query_scalar(
        "SELECT 1 FROM backup_codes WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
    )
    .bind(user.as_str())
    .bind(code_hash)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(found.is_some())
}

/// Uses a backup code: true for exactly one caller, if the code exists and was unused.
pub async fn use_backup_code(
    conn: &mut Connection,
    user: &UserId,
    code_hash: &str,
    now: Timestamp,
) -> Result<bool> {
    let r = query("UPDATE backup_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL")
        .bind(user.as_str())
        .bind(code_hash)
        .bind(now.0)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn delete_backup_codes(conn: &mut Connection, user: &UserId) -> Result<bool> {
    query("DELETE FROM backup_codes WHERE user_id = $1")
        .bind(user.as_str())
        .execute(&mut *conn)
        .await?;
    let r = query("DELETE FROM backup_code_sets WHERE user_id = $1")
        .bind(user.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Whether `client` completed a sign-in for `user` before.
pub async fn is_trusted(conn: &mut Connection, client: &ClientId, user: &UserId) -> Result<bool> {
    let found: Option<String> =
        query_scalar("SELECT client_id FROM trusted_clients WHERE client_id = $1 AND user_id = $2")
            .bind(client.as_str())
            .bind(user.as_str())
            .fetch_optional(&mut *conn)
            .await?;
    Ok(found.is_some())
}

pub async fn trust(
    conn: &mut Connection,
    client: &ClientId,
    user: &UserId,
    now: Timestamp,
) -> Result<()> {
    query("INSERT INTO trusted_clients (client_id, user_id, created_at) VALUES ($1, $2, $3) ON CONFLICT (client_id, user_id) DO NOTHING")
        .bind(client.as_str())
        .bind(user.as_str())
        .bind(now.0)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
