//! Fixed-window counters, one conditional upsert per event, so parallel requests cannot slip
//! past a limit.

use crate::rows::{int, ts};
use crate::{Connection, Result};
use vestibule_model::Timestamp;

/// One event for `key` now: the events counted in the current window (this one included) and
/// when that window ends.
pub async fn hit(
    conn: &mut Connection,
    key: &str,
    now: Timestamp,
    window_seconds: i64,
) -> Result<(u32, Timestamp)> {
    let row = sqlx::query(
        "INSERT INTO rate_limits (key, window_start, count) VALUES ($1, $2, 1) \
         ON CONFLICT (key) DO UPDATE SET \
         count = CASE WHEN rate_limits.window_start <= $3 THEN 1 ELSE rate_limits.count + 1 END, \
         window_start = CASE WHEN rate_limits.window_start <= $3 THEN $2 ELSE rate_limits.window_start END \
         RETURNING count, window_start",
    )
    .bind(key)
    .bind(now.0)
    .bind(now.plus_seconds(-window_seconds).0)
    .fetch_one(&mut *conn)
    .await?;
    let count = u32::try_from(int(&row, "count")?).unwrap_or(u32::MAX);
    Ok((
        count,
        ts(&row, "window_start")?.plus_seconds(window_seconds),
    ))
}

/// Housekeeping: forgets windows that started before `before`.
pub async fn delete_stale(conn: &mut Connection, before: Timestamp) -> Result<u64> {
    let r = sqlx::query("DELETE FROM rate_limits WHERE window_start < $1")
        .bind(before.0)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected())
}
