//! Passkeys: registrations in progress, and registered credentials with the state assertions are
//! checked against. Binary values (credential ids, keys, ceremony state) are kept as base64url
//! text, the form they travel in. Registration completes by one conditional statement, so one
//! ceremony registers at most one credential, and a credential id belongs to one account.

use crate::db::query;
use crate::rows::{text, ts};
use crate::{conflict, Connection, Result};
use vestibule_model::{IdentificationId, Timestamp, UserId};

/// A registration just started.
#[derive(Debug, Clone)]
pub struct NewRegistration<'a> {
    pub id: &'a IdentificationId,
    pub user_id: &'a UserId,
    pub name: &'a str,
    /// The ceremony's server state.
    pub ceremony: &'a str,
    /// The creation options handed to the browser.
    pub nonce: &'a str,
    pub expire_at: Timestamp,
    pub now: Timestamp,
}

/// A registration awaiting the authenticator's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRegistration {
    pub ceremony: String,
    pub nonce: String,
    pub expire_at: Timestamp,
}

/// A credential as the authenticator created it and the relying party verified it.
#[derive(Debug, Clone, Copy)]
pub struct Credential<'a> {
    pub credential_id: &'a str,
    pub public_key: &'a str,
    pub dynamic_state: &'a str,
}

/// A registered credential, as an assertion is checked against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPasskey {
    pub id: IdentificationId,
    pub user_id: UserId,
    pub credential_id: String,
    pub public_key: String,
    pub dynamic_state: String,
}

pub async fn insert_registration(conn: &mut Connection, r: &NewRegistration<'_>) -> Result<()> {
    query(
        "INSERT INTO passkeys (id, user_id, name, verified, ceremony, nonce, ceremony_expire_at, \
         created_at, updated_at) VALUES ($1, $2, $3, 0, $4, $5, $6, $7, $7)",
    )
    .bind(r.id.as_str())
    .bind(r.user_id.as_str())
    .bind(r.name)
    .bind(r.ceremony)
    .bind(r.nonce)
    .bind(r.expire_at.0)
    .bind(r.now.0)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The registration `id` of `user` still awaiting its answer.
pub async fn pending_registration(
    conn: &mut Connection,
    user: &UserId,
    id: &IdentificationId,
) -> Result<Option<PendingRegistration>> {
    let row = query(
        "SELECT ceremony, nonce, ceremony_expire_at FROM passkeys \
         WHERE id = $1 AND user_id = $2 AND verified = 0",
    )
    .bind(id.as_str())
    .bind(user.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(PendingRegistration {
        ceremony: text(&row, "ceremony")?,
        nonce: text(&row, "nonce")?,
        expire_at: ts(&row, "ceremony_expire_at")?,
    }))
}

/// Completes the registration `id` of `user` with `credential`, once: false when it was
/// completed or removed meanwhile; [`StoreError::Conflict`] (`passkey`) when the credential is
/// registered already, to any account.
pub async fn complete_registration(
    conn: &mut Connection,
    user: &UserId,
    id: &IdentificationId,
    credential: Credential<'_>,
    now: Timestamp,
) -> Result<bool> {
    let r = query(
        "UPDATE passkeys SET verified = 1, credential_id = $3, public_key = $4, dynamic_state = $5, \
         ceremony = NULL, nonce = NULL, ceremony_expire_at = NULL, updated_at = $6 \
         WHERE id = $1 AND user_id = $2 AND verified = 0",
    )
    .bind(id.as_str())
    .bind(user.as_str())
    .bind(credential.credential_id)
    .bind(credential.public_key)
    .bind(credential.dynamic_state)
    .bind(now.0)
    .execute(&mut *conn)
    .await
    .map_err(|e| conflict(e, &[("passkeys", "passkey")]))?;
    Ok(r.rows_affected() == 1)
}

/// Forgets `user`'s registrations that never completed.
pub async fn delete_unfinished(conn: &mut Connection, user: &UserId) -> Result<u64> {
    let r = query("DELETE FROM passkeys WHERE user_id = $1 AND verified = 0")
        .bind(user.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected())
}

/// Housekeeping: forgets registrations whose ceremony expired before `before`.
pub async fn delete_expired_registrations(conn: &mut Connection, before: Timestamp) -> Result<u64> {
    let r = query("DELETE FROM passkeys WHERE verified = 0 AND ceremony_expire_at < $1")
        .bind(before.0)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected())
}

/// The credential ids of `user`'s registered passkeys, oldest first.
pub async fn credential_ids(conn: &mut Connection, user: &UserId) -> Result<Vec<String>> {
    let rows = query(
        "SELECT credential_id FROM passkeys WHERE user_id = $1 AND verified = 1 \
         ORDER BY created_at, id",
    )
    .bind(user.as_str())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| text(r, "credential_id")).collect()
}

/// The registered passkey with this credential id, whoever's it is.
pub async fn by_credential(
    conn: &mut Connection,
    credential_id: &str,
) -> Result<Option<StoredPasskey>> {
    let row = query(
        "SELECT id, user_id, credential_id, public_key, dynamic_state FROM passkeys \
         WHERE credential_id = $1 AND verified = 1",
    )
    .bind(credential_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(StoredPasskey {
        id: IdentificationId::from_trusted(text(&row, "id")?),
        user_id: UserId::from_trusted(text(&row, "user_id")?),
        credential_id: text(&row, "credential_id")?,
        public_key: text(&row, "public_key")?,
        dynamic_state: text(&row, "dynamic_state")?,
    }))
}

/// Records a sign-in with the passkey `id`, with its new counter state when that changed. False
/// when the passkey was deleted meanwhile.
pub async fn record_use(
    conn: &mut Connection,
    id: &IdentificationId,
    dynamic_state: Option<&str>,
    now: Timestamp,
) -> Result<bool> {
    let r = query(
        "UPDATE passkeys SET last_used_at = $2, updated_at = $2, \
         dynamic_state = COALESCE($3, dynamic_state) WHERE id = $1 AND verified = 1",
    )
    .bind(id.as_str())
    .bind(now.0)
    .bind(dynamic_state)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Renames a passkey of `user`. False when it is not theirs.
pub async fn rename(
    conn: &mut Connection,
    user: &UserId,
    id: &IdentificationId,
    name: &str,
    now: Timestamp,
) -> Result<bool> {
    let r = query("UPDATE passkeys SET name = $3, updated_at = $4 WHERE id = $1 AND user_id = $2")
        .bind(id.as_str())
        .bind(user.as_str())
        .bind(name)
        .bind(now.0)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Removes a passkey of `user`. False when it is not theirs.
pub async fn delete(conn: &mut Connection, user: &UserId, id: &IdentificationId) -> Result<bool> {
    let r = query("DELETE FROM passkeys WHERE id = $1 AND user_id = $2")
        .bind(id.as_str())
        .bind(user.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}
