//! Sessions. Status changes are conditional on the session still being signed in, so ending a
//! session twice, or ending one that expired meanwhile, is harmless.

use crate::db::{query, query_scalar, Row};
use crate::rows::{opt_ts, placeholders, text, ts};
use crate::{Connection, Result, Store, StoreError};
use std::sync::LazyLock;
use vestibule_model::{ClientId, Session, SessionId, SessionStatus, Timestamp, UserId};

const COLUMNS: &str =
    "id, client_id, user_id, status, created_at, updated_at, last_active_at, expire_at, \
     first_factor_verified_at, second_factor_verified_at";

fn from_row(row: &Row) -> Result<Session> {
    let status = text(row, "status")?;
    Ok(Session {
        id: SessionId::from_trusted(text(row, "id")?),
        client_id: ClientId::from_trusted(text(row, "client_id")?),
        user_id: UserId::from_trusted(text(row, "user_id")?),
        status: SessionStatus::parse(&status)
            .ok_or_else(|| StoreError::corrupt(format!("session status {status}")))?,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
        last_active_at: ts(row, "last_active_at")?,
        expire_at: ts(row, "expire_at")?,
        first_factor_verified_at: ts(row, "first_factor_verified_at")?,
        second_factor_verified_at: opt_ts(row, "second_factor_verified_at")?,
    })
}

pub async fn insert(conn: &mut Connection, s: &Session) -> Result<()> {
    query(&format!(
        "INSERT INTO sessions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(s.id.as_str())
    .bind(s.client_id.as_str())
    .bind(s.user_id.as_str())
    .bind(s.status.as_str())
    .bind(s.created_at.0)
    .bind(s.updated_at.0)
    .bind(s.last_active_at.0)
    .bind(s.expire_at.0)
    .bind(s.first_factor_verified_at.0)
    .bind(s.second_factor_verified_at.map(|t| t.0))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The session `id` if it belongs to the client holding the token with hash `client_token_hash`:
/// the whole check of the token endpoint in one statement.
pub async fn find_for_client_token(
    store: &Store,
    client_token_hash: &str,
    id: &SessionId,
) -> Result<Option<Session>> {
    // Built once: the token endpoint runs this on every request.
    static SQL: LazyLock<String> = LazyLock::new(|| {
        let columns = COLUMNS
            .split(", ")
            .map(|c| format!("s.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "SELECT {columns} FROM sessions s JOIN clients c ON c.id = s.client_id WHERE c.token_hash = $1 AND s.id = $2"
        )
    });
    let row = query(&SQL)
        .bind(client_token_hash)
        .bind(id.as_str())
        .fetch_optional(&mut *store.read().await?)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn get(conn: &mut Connection, id: &SessionId) -> Result<Option<Session>> {
    let row = query(&format!("SELECT {COLUMNS} FROM sessions WHERE id = $1"))
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The client's sessions, oldest first.
pub async fn for_client(conn: &mut Connection, client_id: &ClientId) -> Result<Vec<Session>> {
    let rows = query(&format!(
        "SELECT {COLUMNS} FROM sessions WHERE client_id = $1 ORDER BY created_at, id"
    ))
    .bind(client_id.as_str())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}

#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub user_id: Option<UserId>,
    pub client_id: Option<ClientId>,
    pub status: Option<SessionStatus>,
    pub limit: i64,
    pub offset: i64,
}

/// Newest first, with the total matching count. The stored status is compared, so sessions that
/// merely ran past their expiry are still listed as `active` here; callers apply the clock.
pub async fn list(conn: &mut Connection, filter: &ListFilter) -> Result<(Vec<Session>, i64)> {
    let mut clauses = Vec::new();
    let mut args: Vec<String> = Vec::new();
    if let Some(u) = &filter.user_id {
        args.push(u.as_str().to_owned());
        clauses.push(format!("user_id = ${}", args.len()));
    }
    if let Some(c) = &filter.client_id {
        args.push(c.as_str().to_owned());
        clauses.push(format!("client_id = ${}", args.len()));
    }
    if let Some(s) = filter.status {
        args.push(s.as_str().to_owned());
        clauses.push(format!("status = ${}", args.len()));
    }
    let where_sql = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let count_sql = format!("SELECT COUNT(*) FROM sessions {where_sql}");
    let mut cq = query_scalar::<i64>(&count_sql);
    for a in &args {
        cq = cq.bind(a.as_str());
    }
    let total = cq.fetch_one(&mut *conn).await?;
    let n = args.len();
    let sql = format!(
        "SELECT {COLUMNS} FROM sessions {where_sql} ORDER BY created_at DESC, id DESC LIMIT ${} OFFSET ${}",
        n + 1,
        n + 2
    );
    let mut q = query(&sql);
    for a in &args {
        q = q.bind(a.as_str());
    }
    let rows = q
        .bind(filter.limit)
        .bind(filter.offset)
        .fetch_all(&mut *conn)
        .await?;
    Ok((rows.iter().map(from_row).collect::<Result<_>>()?, total))
}

const SIGNED_IN: &str = "('active', 'pending')";

/// Moves a signed-in session to `status`. False if it was not signed in (or does not exist).
pub async fn end(
    conn: &mut Connection,
    id: &SessionId,
    status: SessionStatus,
    now: Timestamp,
) -> Result<bool> {
    let r = query(&format!(
        "UPDATE sessions SET status = $2, updated_at = $3 WHERE id = $1 AND status IN {SIGNED_IN}"
    ))
    .bind(id.as_str())
    .bind(status.as_str())
    .bind(now.0)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Ends all of a user's signed-in sessions (ban, deletion, password reset elsewhere).
pub async fn end_all_for_user(
    conn: &mut Connection,
    user_id: &UserId,
    status: SessionStatus,
    now: Timestamp,
    except: Option<&SessionId>,
) -> Result<u64> {
    let r = query(&format!(
        "UPDATE sessions SET status = $2, updated_at = $3 WHERE user_id = $1 AND status IN {SIGNED_IN} AND id <> $4"
    ))
    .bind(user_id.as_str())
    .bind(status.as_str())
    .bind(now.0)
    .bind(except.map(|s| s.as_str()).unwrap_or(""))
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected())
}

/// Ends all of a client's signed-in sessions (sign out of everything on this device).
pub async fn end_all_for_client(
    conn: &mut Connection,
    client_id: &ClientId,
    status: SessionStatus,
    now: Timestamp,
) -> Result<u64> {
    let r = query(&format!(
        "UPDATE sessions SET status = $2, updated_at = $3 WHERE client_id = $1 AND status IN {SIGNED_IN}"
    ))
    .bind(client_id.as_str())
    .bind(status.as_str())
    .bind(now.0)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected())
}

/// A user's `pending` sessions become `active` (the `setup-mfa` task is done). Returns how many.
pub async fn activate_pending(
    conn: &mut Connection,
    user_id: &UserId,
    now: Timestamp,
) -> Result<u64> {
    let r = query(
        "UPDATE sessions SET status = 'active', updated_at = $2 WHERE user_id = $1 AND status = 'pending'",
    )
    .bind(user_id.as_str())
    .bind(now.0)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected())
}

/// Records that the session's user just proved a first factor again (`fva`'s first age
/// restarts). False if the session is no longer signed in.
pub async fn first_factor_verified(
    conn: &mut Connection,
    id: &SessionId,
    now: Timestamp,
) -> Result<bool> {
    let r = query(&format!(
        "UPDATE sessions SET first_factor_verified_at = $2, updated_at = $2 WHERE id = $1 AND status IN {SIGNED_IN}"
    ))
    .bind(id.as_str())
    .bind(now.0)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// The session's second factor was proven again (reverification or enrolment). False if the
/// session is no longer signed in.
pub async fn second_factor_verified(
    conn: &mut Connection,
    id: &SessionId,
    now: Timestamp,
) -> Result<bool> {
    let r = query(&format!(
        "UPDATE sessions SET second_factor_verified_at = $2, updated_at = $2 WHERE id = $1 AND status IN {SIGNED_IN}"
    ))
    .bind(id.as_str())
    .bind(now.0)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Marks activity (touch). False if the session is no longer signed in.
pub async fn touch(conn: &mut Connection, id: &SessionId, now: Timestamp) -> Result<bool> {
    let r = query(&format!(
        "UPDATE sessions SET last_active_at = $2, updated_at = $2 WHERE id = $1 AND status IN {SIGNED_IN}"
    ))
    .bind(id.as_str())
    .bind(now.0)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Sessions by id, any order; missing ids are skipped.
pub async fn get_many(conn: &mut Connection, ids: &[SessionId]) -> Result<Vec<Session>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM sessions WHERE id IN ({})",
        placeholders(1, ids.len())
    );
    let mut q = query(&sql);
    for id in ids {
        q = q.bind(id.as_str());
    }
    let rows = q.fetch_all(&mut *conn).await?;
    rows.iter().map(from_row).collect()
}

/// Records time-based endings: sessions past their lifetime become `expired`, idle ones (with an
/// inactivity timeout) `abandoned`.
pub async fn expire(
    conn: &mut Connection,
    now: Timestamp,
    inactivity_timeout_seconds: Option<i64>,
) -> Result<u64> {
    let mut n = query(&format!(
        "UPDATE sessions SET status = 'expired', updated_at = $1 WHERE status IN {SIGNED_IN} AND expire_at <= $1"
    ))
    .bind(now.0)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if let Some(timeout) = inactivity_timeout_seconds {
        n += query(&format!(
            "UPDATE sessions SET status = 'abandoned', updated_at = $1 WHERE status IN {SIGNED_IN} AND last_active_at <= $2"
        ))
        .bind(now.0)
        .bind(now.plus_seconds(-timeout).0)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    Ok(n)
}
