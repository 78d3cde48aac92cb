//! Fixed-window counters, one conditional upsert per event, so parallel requests cannot slip
//! past a limit.

use crate::db::query;
use crate::rows::{int, text, ts};
use crate::{Connection, Result};
use std::collections::HashMap;
use vestibule_model::Timestamp;

/// One event for `key` now: the events counted in the current window (this one included) and
/// when that window ends.
pub async fn hit(
    conn: &mut Connection,
    key: &str,
    now: Timestamp,
    window_seconds: i64,
) -> Result<(u32, Timestamp)> {
    let counted = hit_all(conn, &[(key, window_seconds)], now).await?;
    Ok(counted.into_iter().next().unwrap_or((u32::MAX, now)))
}

/// [`hit`] for each distinct key of `keys` (key, window seconds) in one statement, which commits
/// alone: one round trip and one commit for all the limits a request is subject to. Returns one
/// (count, window end) per entry of `keys`, in order.
pub async fn hit_all(
    conn: &mut Connection,
    keys: &[(&str, i64)],
    now: Timestamp,
) -> Result<Vec<(u32, Timestamp)>> {
    let mut distinct: Vec<(&str, i64)> = Vec::with_capacity(keys.len());
    for &(key, window) in keys {
        if !distinct.iter().any(|(k, _)| *k == key) {
            distinct.push((key, window));
        }
    }
    if distinct.is_empty() {
        return Ok(Vec::new());
    }
    // $1 is now; each row adds its key and window length.
    let rows = (0..distinct.len())
        .map(|i| format!("(${}, $1, 1, ${})", 2 * i + 2, 2 * i + 3))
        .collect::<Vec<_>>()
        .join(", ");
    let ended =
        "rate_limits.window_start <= excluded.window_start - excluded.window_seconds * 1000";
    let sql = format!(
        "INSERT INTO rate_limits (key, window_start, count, window_seconds) VALUES {rows} \
         ON CONFLICT (key) DO UPDATE SET \
         count = CASE WHEN {ended} THEN 1 ELSE rate_limits.count + 1 END, \
         window_start = CASE WHEN {ended} THEN excluded.window_start ELSE rate_limits.window_start END, \
         window_seconds = excluded.window_seconds \
         RETURNING key, count, window_start"
    );
    let mut query = query(&sql).bind(now.0);
    for (key, window) in &distinct {
        query = query.bind(*key).bind(*window);
    }
    let mut counted = HashMap::with_capacity(distinct.len());
    for row in query.fetch_all(&mut *conn).await? {
        counted.insert(
            text(&row, "key")?,
            (
                u32::try_from(int(&row, "count")?).unwrap_or(u32::MAX),
                ts(&row, "window_start")?,
            ),
        );
    }
    keys.iter()
        .map(|(key, window)| {
            let (count, start) = counted.get(*key).copied().ok_or_else(|| {
                crate::StoreError::corrupt(format!("no count returned for rate limit {key}"))
            })?;
            Ok((count, start.plus_seconds(*window)))
        })
        .collect()
}

/// Housekeeping: forgets windows that started before `before`.
pub async fn delete_stale(conn: &mut Connection, before: Timestamp) -> Result<u64> {
    let r = query("DELETE FROM rate_limits WHERE window_start < $1")
        .bind(before.0)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected())
}
