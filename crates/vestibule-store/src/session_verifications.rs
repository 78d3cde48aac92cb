//! Session reverifications, stored like sign-ins: the domain value (JSON) plus the columns we
//! query by, and a version so two racing attempts cannot both apply.

use crate::db::query;
use crate::rows::{int, text};
use crate::{Connection, Result, StoreError};
use vestibule_model::session_verification::SessionVerification;
use vestibule_model::{SessionId, Timestamp};

pub async fn insert(conn: &mut Connection, sv: &SessionVerification) -> Result<()> {
    let state = serde_json::to_string(sv).map_err(StoreError::corrupt)?;
    query(
        "INSERT INTO session_verifications (id, session_id, version, state, expire_at, created_at) VALUES ($1, $2, 1, $3, $4, $5)",
    )
    .bind(sv.id.as_str())
    .bind(sv.session_id.as_str())
    .bind(state)
    .bind(sv.expire_at.0)
    .bind(sv.created_at.0)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The newest reverification of a session, with the version to pass to [`update`].
pub async fn latest_for_session(
    conn: &mut Connection,
    session_id: &SessionId,
) -> Result<Option<(SessionVerification, i64)>> {
    let row = query(
        "SELECT state, version FROM session_verifications WHERE session_id = $1 \
         ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(session_id.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        None => Ok(None),
        Some(row) => {
            let sv: SessionVerification =
                serde_json::from_str(&text(&row, "state")?).map_err(StoreError::corrupt)?;
            Ok(Some((sv, int(&row, "version")?)))
        }
    }
}

/// Writes the new state if nobody changed it since `expected_version`.
pub async fn update(
    conn: &mut Connection,
    sv: &SessionVerification,
    expected_version: i64,
) -> Result<bool> {
    let state = serde_json::to_string(sv).map_err(StoreError::corrupt)?;
    let r = query(
        "UPDATE session_verifications SET state = $2, version = version + 1 WHERE id = $1 AND version = $3",
    )
    .bind(sv.id.as_str())
    .bind(state)
    .bind(expected_version)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Housekeeping: forgets reverifications that expired before `before`.
pub async fn delete_expired(conn: &mut Connection, before: Timestamp) -> Result<u64> {
    let r = query("DELETE FROM session_verifications WHERE expire_at < $1")
        .bind(before.0)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected())
}
