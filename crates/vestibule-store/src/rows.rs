//! Reading columns portably: timestamps are BIGINT milliseconds, booleans 0/1, JSON as TEXT.

use crate::db::Row;
use crate::{Result, StoreError};
use vestibule_model::Timestamp;

pub(crate) fn text(row: &Row, col: &str) -> Result<String> {
    row.get::<String>(col)
}

pub(crate) fn opt_text(row: &Row, col: &str) -> Result<Option<String>> {
    row.get::<Option<String>>(col)
}

pub(crate) fn int(row: &Row, col: &str) -> Result<i64> {
    row.get::<i64>(col)
}

pub(crate) fn ts(row: &Row, col: &str) -> Result<Timestamp> {
    Ok(Timestamp(int(row, col)?))
}

pub(crate) fn opt_ts(row: &Row, col: &str) -> Result<Option<Timestamp>> {
    Ok(row.get::<Option<i64>>(col)?.map(Timestamp))
}

pub(crate) fn flag(row: &Row, col: &str) -> Result<bool> {
    Ok(int(row, col)? != 0)
}

pub(crate) fn json(row: &Row, col: &str) -> Result<serde_json::Value> {
    serde_json::from_str(&text(row, col)?).map_err(StoreError::corrupt)
}

pub(crate) fn b(v: bool) -> i64 {
    i64::from(v)
}

/// `$start, $start+1, …` for an `IN (…)` list of `n` values.
pub(crate) fn placeholders(start: usize, n: usize) -> String {
    (start..start + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}
