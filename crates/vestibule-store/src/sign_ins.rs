//! Sign-in attempts, stored as the domain value (JSON) plus the columns we query by.
//! Every change is conditional on the version read, so two racing attempts cannot both apply.

use crate::db::query;
use crate::rows::{int, text};
use crate::{Connection, Result, StoreError};
use vestibule_model::{SignIn, SignInId, Timestamp};

pub async fn insert(conn: &mut Connection, sign_in: &SignIn) -> Result<()> {
    let state = serde_json::to_string(sign_in).map_err(StoreError::corrupt)?;
    query(
        "INSERT INTO sign_ins (id, client_id, user_id, version, state, abandon_at, created_at, updated_at) VALUES ($1, $2, $3, 1, $4, $5, $6, $7)",
    )
    .bind(sign_in.id.as_str())
    .bind(sign_in.client_id.as_str())
    .bind(sign_in.user_id().map(|u| u.as_str()))
    .bind(state)
    .bind(sign_in.abandon_at.0)
    .bind(sign_in.created_at.0)
    .bind(sign_in.updated_at.0)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The sign-in and the version to pass to [`update`].
pub async fn get(conn: &mut Connection, id: &SignInId) -> Result<Option<(SignIn, i64)>> {
    let row = query("SELECT state, version FROM sign_ins WHERE id = $1")
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        None => Ok(None),
        Some(row) => {
            let sign_in: SignIn =
                serde_json::from_str(&text(&row, "state")?).map_err(StoreError::corrupt)?;
            Ok(Some((sign_in, int(&row, "version")?)))
        }
    }
}

/// Writes the new state if nobody changed it since `expected_version`; false means a concurrent
/// request won and this one must not take effect.
pub async fn update(
    conn: &mut Connection,
    sign_in: &SignIn,
    expected_version: i64,
) -> Result<bool> {
    let state = serde_json::to_string(sign_in).map_err(StoreError::corrupt)?;
    let r = query(
        "UPDATE sign_ins SET state = $2, user_id = $3, abandon_at = $4, updated_at = $5, version = version + 1 WHERE id = $1 AND version = $6",
    )
    .bind(sign_in.id.as_str())
    .bind(state)
    .bind(sign_in.user_id().map(|u| u.as_str()))
    .bind(sign_in.abandon_at.0)
    .bind(sign_in.updated_at.0)
    .bind(expected_version)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Housekeeping: forgets attempts abandoned before `before`.
pub async fn delete_abandoned(conn: &mut Connection, before: Timestamp) -> Result<u64> {
    let r = query("DELETE FROM sign_ins WHERE abandon_at < $1")
        .bind(before.0)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected())
}
