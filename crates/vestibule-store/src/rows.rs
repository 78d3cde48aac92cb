//! Reading columns portably: timestamps are BIGINT milliseconds, booleans 0/1, JSON as TEXT.

use crate::{Result, StoreError};
use sqlx::any::AnyRow;
use sqlx::Row;
use vestibule_model::Timestamp;

pub(crate) fn text(row: &AnyRow, col: &str) -> Result<String> {
    Ok(row.try_get::<String, _>(col)?)
}

pub(crate) fn opt_text(row: &AnyRow, col: &str) -> Result<Option<String>> {
    Ok(row.try_get::<Option<String>, _>(col)?)
}

pub(crate) fn int(row: &AnyRow, col: &str) -> Result<i64> {
    Ok(row.try_get::<i64, _>(col)?)
}

pub(crate) fn ts(row: &AnyRow, col: &str) -> Result<Timestamp> {
    Ok(Timestamp(int(row, col)?))
}

pub(crate) fn opt_ts(row: &AnyRow, col: &str) -> Result<Option<Timestamp>> {
    Ok(row.try_get::<Option<i64>, _>(col)?.map(Timestamp))
}

pub(crate) fn flag(row: &AnyRow, col: &str) -> Result<bool> {
    Ok(int(row, col)? != 0)
}

pub(crate) fn json(row: &AnyRow, col: &str) -> Result<serde_json::Value> {
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
