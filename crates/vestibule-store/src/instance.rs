//! Instance-wide values generated once and shared by every node (the secret key, …).

use crate::db::{query, query_scalar};
use crate::{Connection, Result};

pub async fn get(conn: &mut Connection, key: &str) -> Result<Option<String>> {
    query_scalar("SELECT value FROM instance WHERE key = $1")
        .bind(key)
        .fetch_optional(&mut *conn)
        .await
}

/// Stores `value` unless the key already has one; returns whichever value is stored, so nodes
/// starting at once agree on a single value.
pub async fn get_or_insert(conn: &mut Connection, key: &str, value: &str) -> Result<String> {
    query("INSERT INTO instance (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
        .bind(key)
        .bind(value)
        .execute(&mut *conn)
        .await?;
    let stored: String = query_scalar("SELECT value FROM instance WHERE key = $1")
        .bind(key)
        .fetch_one(&mut *conn)
        .await?;
    Ok(stored)
}

pub async fn set(conn: &mut Connection, key: &str, value: &str) -> Result<()> {
    query("INSERT INTO instance (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        .bind(key)
        .bind(value)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
