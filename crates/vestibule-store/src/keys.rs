//! Session-token signing keys. The private key is the one secret stored as is: it must sign.

use crate::db::query;
use crate::rows::{opt_ts, text, ts};
use crate::{Connection, Result};
use vestibule_model::Timestamp;

#[derive(Clone)]
pub struct StoredKey {
    pub kid: String,
    /// PKCS#8 DER.
    pub private_key: Vec<u8>,
    pub created_at: Timestamp,
    /// When a newer key took over; the key stays published until tokens it signed have expired.
    pub retired_at: Option<Timestamp>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// All keys, newest first.
pub async fn all(conn: &mut Connection) -> Result<Vec<StoredKey>> {
    let rows = query("SELECT kid, private_key, created_at, retired_at FROM signing_keys ORDER BY created_at DESC, kid DESC")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(StoredKey {
                kid: text(row, "kid")?,
                private_key: row.get::<Vec<u8>>("private_key")?,
                created_at: ts(row, "created_at")?,
                retired_at: opt_ts(row, "retired_at")?,
            })
        })
        .collect()
}

pub async fn insert(conn: &mut Connection, key: &StoredKey) -> Result<()> {
    query("INSERT INTO signing_keys (kid, private_key, created_at, retired_at) VALUES ($1, $2, $3, $4)")
        .bind(key.kid.as_str())
        .bind(key.private_key.clone())
        .bind(key.created_at.0)
        .bind(key.retired_at.map(|t| t.0))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Retires every active key but `kid`.
pub async fn retire_all_except(conn: &mut Connection, kid: &str, now: Timestamp) -> Result<u64> {
    let r = query("UPDATE signing_keys SET retired_at = $2 WHERE kid <> $1 AND retired_at IS NULL")
        .bind(kid)
        .bind(now.0)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected())
}

/// Deletes keys retired before `before` (no token they signed can still be valid).
pub async fn delete_retired_before(conn: &mut Connection, before: Timestamp) -> Result<u64> {
    let r = query("DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at < $1")
        .bind(before.0)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected())
}
