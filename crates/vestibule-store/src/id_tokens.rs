//! ID tokens an identity provider issued (Google One Tap), remembered once used so that none
//! signs anyone in twice.

use crate::db::query;
use crate::{Connection, Result};
use vestibule_model::Timestamp;

/// Records the token with this hash as used: true for exactly one caller, however many race.
pub async fn use_once(
    conn: &mut Connection,
    token_hash: &str,
    expire_at: Timestamp,
) -> Result<bool> {
    let r = query(
        "INSERT INTO used_id_tokens (token_hash, expire_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(token_hash)
    .bind(expire_at.0)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Forgets tokens that expired before `before`: they are refused as expired anyway.
pub async fn delete_expired(conn: &mut Connection, before: Timestamp) -> Result<u64> {
    let r = query("DELETE FROM used_id_tokens WHERE expire_at < $1")
        .bind(before.0)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected())
}
