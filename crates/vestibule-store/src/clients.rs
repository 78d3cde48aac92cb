//! Clients and dev browsers. Only SHA-256 hashes of their bearer tokens are stored.

use crate::db::{query, Row};
use crate::rows::{opt_text, text, ts};
use crate::{Connection, Result};
use vestibule_model::{Client, ClientId, SessionId, SignInId, Timestamp};

const COLUMNS: &str = "id, sign_in_id, last_active_session_id, created_at, updated_at";

fn from_row(row: &Row) -> Result<Client> {
    Ok(Client {
        id: ClientId::from_trusted(text(row, "id")?),
        sign_in_id: opt_text(row, "sign_in_id")?.map(SignInId::from_trusted),
        last_active_session_id: opt_text(row, "last_active_session_id")?
            .map(SessionId::from_trusted),
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

pub async fn insert(conn: &mut Connection, client: &Client, token_hash: &str) -> Result<()> {
    query(
        "INSERT INTO clients (id, token_hash, sign_in_id, last_active_session_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(client.id.as_str())
    .bind(token_hash)
    .bind(client.sign_in_id.as_ref().map(|s| s.as_str()))
    .bind(client.last_active_session_id.as_ref().map(|s| s.as_str()))
    .bind(client.created_at.0)
    .bind(client.updated_at.0)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn by_token_hash(conn: &mut Connection, token_hash: &str) -> Result<Option<Client>> {
    let row = query(&format!(
        "SELECT {COLUMNS} FROM clients WHERE token_hash = $1"
    ))
    .bind(token_hash)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn get(conn: &mut Connection, id: &ClientId) -> Result<Option<Client>> {
    let row = query(&format!("SELECT {COLUMNS} FROM clients WHERE id = $1"))
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Writes the client's sign-in and active session pointers.
pub async fn update(conn: &mut Connection, client: &Client) -> Result<bool> {
    let r = query("UPDATE clients SET sign_in_id = $2, last_active_session_id = $3, updated_at = $4 WHERE id = $1")
        .bind(client.id.as_str())
        .bind(client.sign_in_id.as_ref().map(|s| s.as_str()))
        .bind(client.last_active_session_id.as_ref().map(|s| s.as_str()))
        .bind(client.updated_at.0)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Writes the client's pointers and a new token hash in one statement (a completed sign-in).
pub async fn update_with_token(
    conn: &mut Connection,
    client: &Client,
    token_hash: &str,
) -> Result<bool> {
    let r = query(
        "UPDATE clients SET sign_in_id = $2, last_active_session_id = $3, updated_at = $4, token_hash = $5 WHERE id = $1",
    )
    .bind(client.id.as_str())
    .bind(client.sign_in_id.as_ref().map(|s| s.as_str()))
    .bind(client.last_active_session_id.as_ref().map(|s| s.as_str()))
    .bind(client.updated_at.0)
    .bind(token_hash)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Replaces the client's token (on every sign-in, against session fixation). The old one stops working.
pub async fn rotate_token(
    conn: &mut Connection,
    id: &ClientId,
    new_token_hash: &str,
) -> Result<bool> {
    let r = query("UPDATE clients SET token_hash = $2 WHERE id = $1")
        .bind(id.as_str())
        .bind(new_token_hash)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn delete(conn: &mut Connection, id: &ClientId) -> Result<bool> {
    query("DELETE FROM dev_browsers WHERE client_id = $1")
        .bind(id.as_str())
        .execute(&mut *conn)
        .await?;
    let r = query("DELETE FROM clients WHERE id = $1")
        .bind(id.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn insert_dev_browser(
    conn: &mut Connection,
    token_hash: &str,
    now: Timestamp,
) -> Result<()> {
    query("INSERT INTO dev_browsers (token_hash, client_id, created_at) VALUES ($1, NULL, $2)")
        .bind(token_hash)
        .bind(now.0)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// `None` if no such dev browser; `Some(None)` if it exists but has no client yet.
pub async fn dev_browser_client(
    conn: &mut Connection,
    token_hash: &str,
) -> Result<Option<Option<ClientId>>> {
    let row = query("SELECT client_id FROM dev_browsers WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        None => Ok(None),
        Some(row) => Ok(Some(
            opt_text(&row, "client_id")?.map(ClientId::from_trusted),
        )),
    }
}

pub async fn bind_dev_browser(
    conn: &mut Connection,
    token_hash: &str,
    client_id: &ClientId,
) -> Result<bool> {
    let r = query("UPDATE dev_browsers SET client_id = $2 WHERE token_hash = $1")
        .bind(token_hash)
        .bind(client_id.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Replaces a dev browser's token, keeping its client.
pub async fn rotate_dev_browser(
    conn: &mut Connection,
    old_hash: &str,
    new_hash: &str,
) -> Result<bool> {
    let r = query("UPDATE dev_browsers SET token_hash = $2 WHERE token_hash = $1")
        .bind(old_hash)
        .bind(new_hash)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}
