//! Users with their email addresses, phone numbers and wallets.

use crate::db::{query, query_scalar, Query, Row};
use crate::rows::{b, flag, int, json, opt_text, opt_ts, placeholders, text, ts};
use crate::{conflict, Connection, Result, StoreError};
use std::collections::HashMap;
use vestibule_model::user::{EmailAddress, Passkey, PasswordDigest, PhoneNumber, Web3Wallet};
use vestibule_model::{IdentificationId, Identifier, IdentifierKind, Timestamp, User, UserId};

const USER_COLUMNS: &str =
    "id, external_id, username, first_name, last_name, primary_email_address_id, \
     primary_phone_number_id, password_hasher, password_digest, public_metadata, private_metadata, \
     unsafe_metadata, banned, locked_until, failed_verification_attempts, last_sign_in_at, \
     last_active_at, created_at, updated_at, primary_web3_wallet_id";

const CONFLICTS: &[(&str, &str)] = &[
    ("email_addresses", "email_address"),
    ("phone_numbers", "phone_number"),
    ("web3_wallets", "web3_wallet"),
    ("username", "username"),
    ("external_id", "external_id"),
    ("users", "user"),
];

/// Inserts a user with their email addresses and phone numbers. Clashes come back as
/// [`StoreError::Conflict`] naming the field (`email_address`, `phone_number`, `username`, …).
pub async fn insert(conn: &mut Connection, user: &User) -> Result<()> {
    let sql = format!(
        "INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
    );
    bind_user(query(&sql), user)
        .execute(&mut *conn)
        .await
        .map_err(|e| conflict(e, CONFLICTS))?;
    for e in &user.email_addresses {
        insert_email(conn, &user.id, e).await?;
    }
    for p in &user.phone_numbers {
        insert_phone(conn, &user.id, p).await?;
    }
    for w in &user.web3_wallets {
        insert_web3_wallet(conn, &user.id, w).await?;
    }
    Ok(())
}

fn bind_user<'q>(q: Query<'q>, user: &'q User) -> Query<'q> {
    q.bind(user.id.as_str())
        .bind(user.external_id.as_deref())
        .bind(user.username.as_deref())
        .bind(user.first_name.as_deref())
        .bind(user.last_name.as_deref())
        .bind(user.primary_email_address_id.as_ref().map(|i| i.as_str()))
        .bind(user.primary_phone_number_id.as_ref().map(|i| i.as_str()))
        .bind(user.password.as_ref().map(|p| p.hasher.as_str()))
        .bind(user.password.as_ref().map(|p| p.digest.as_str()))
        .bind(user.public_metadata.to_string())
        .bind(user.private_metadata.to_string())
        .bind(user.unsafe_metadata.to_string())
        .bind(b(user.banned))
        .bind(user.locked_until.map(|t| t.0))
        .bind(i64::from(user.failed_verification_attempts))
        .bind(user.last_sign_in_at.map(|t| t.0))
        .bind(user.last_active_at.map(|t| t.0))
        .bind(user.created_at.0)
        .bind(user.updated_at.0)
        .bind(user.primary_web3_wallet_id.as_ref().map(|i| i.as_str()))
}

pub async fn insert_email(conn: &mut Connection, user_id: &UserId, e: &EmailAddress) -> Result<()> {
    query(
        "INSERT INTO email_addresses (id, user_id, email_address, verified, verification_strategy, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(e.id.as_str())
    .bind(user_id.as_str())
    .bind(e.email_address.as_str())
    .bind(b(e.verified))
    .bind(e.verification_strategy.as_deref())
    .bind(e.created_at.0)
    .execute(&mut *conn)
    .await
    .map_err(|err| conflict(err, CONFLICTS))?;
    Ok(())
}

pub async fn insert_phone(conn: &mut Connection, user_id: &UserId, p: &PhoneNumber) -> Result<()> {
    query(
        "INSERT INTO phone_numbers (id, user_id, phone_number, verified, verification_strategy, reserved_for_second_factor, default_second_factor, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(p.id.as_str())
    .bind(user_id.as_str())
    .bind(p.phone_number.as_str())
    .bind(b(p.verified))
    .bind(p.verification_strategy.as_deref())
    .bind(b(p.reserved_for_second_factor))
    .bind(b(p.default_second_factor))
    .bind(p.created_at.0)
    .execute(&mut *conn)
    .await
    .map_err(|err| conflict(err, CONFLICTS))?;
    Ok(())
}

pub async fn insert_web3_wallet(
    conn: &mut Connection,
    user_id: &UserId,
    w: &Web3Wallet,
) -> Result<()> {
    query(
        "INSERT INTO web3_wallets (id, user_id, web3_wallet, verified, verification_strategy, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(w.id.as_str())
    .bind(user_id.as_str())
    .bind(w.web3_wallet.as_str())
    .bind(b(w.verified))
    .bind(w.verification_strategy.as_deref())
    .bind(w.created_at.0)
    .execute(&mut *conn)
    .await
    .map_err(|err| conflict(err, CONFLICTS))?;
    Ok(())
}

/// A wallet of `user` was proven theirs with a signature. False when it is not theirs.
pub async fn mark_web3_wallet_verified(
    conn: &mut Connection,
    user_id: &UserId,
    wallet_id: &IdentificationId,
    strategy: &str,
) -> Result<bool> {
    let r = query(
        "UPDATE web3_wallets SET verified = 1, verification_strategy = $3 WHERE id = $1 AND user_id = $2",
    )
    .bind(wallet_id.as_str())
    .bind(user_id.as_str())
    .bind(strategy)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Removes a wallet of `user`. False when it is not theirs.
pub async fn delete_web3_wallet(
    conn: &mut Connection,
    user_id: &UserId,
    wallet_id: &IdentificationId,
) -> Result<bool> {
    let r = query("DELETE FROM web3_wallets WHERE id = $1 AND user_id = $2")
        .bind(wallet_id.as_str())
        .bind(user_id.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// An email address of `user` was proven theirs. False when it is not theirs (any more).
pub async fn mark_email_verified(
    conn: &mut Connection,
    user_id: &UserId,
    email_id: &IdentificationId,
    strategy: &str,
) -> Result<bool> {
    let r = query(
        "UPDATE email_addresses SET verified = 1, verification_strategy = $3 WHERE id = $1 AND user_id = $2",
    )
    .bind(email_id.as_str())
    .bind(user_id.as_str())
    .bind(strategy)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Removes an email address of `user`. False when it is not theirs.
pub async fn delete_email(
    conn: &mut Connection,
    user_id: &UserId,
    email_id: &IdentificationId,
) -> Result<bool> {
    let r = query("DELETE FROM email_addresses WHERE id = $1 AND user_id = $2")
        .bind(email_id.as_str())
        .bind(user_id.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Who an email address belongs to.
pub async fn email_owner(conn: &mut Connection, id: &IdentificationId) -> Result<Option<UserId>> {
    let owner: Option<String> = query_scalar("SELECT user_id FROM email_addresses WHERE id = $1")
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(owner.map(UserId::from_trusted))
}

/// Whether a phone number of `user` is kept for MFA, and whether it is the default one. Only
/// verified numbers may be (false otherwise, or when the number is not the user's).
pub async fn set_phone_second_factor(
    conn: &mut Connection,
    user_id: &UserId,
    phone_id: &IdentificationId,
    reserved: bool,
    default: bool,
) -> Result<bool> {
    if default {
        query("UPDATE phone_numbers SET default_second_factor = 0 WHERE user_id = $1")
            .bind(user_id.as_str())
            .execute(&mut *conn)
            .await?;
    }
    let r = query(
        "UPDATE phone_numbers SET reserved_for_second_factor = $3, default_second_factor = $4 \
         WHERE id = $1 AND user_id = $2 AND verified = 1",
    )
    .bind(phone_id.as_str())
    .bind(user_id.as_str())
    .bind(b(reserved))
    .bind(b(reserved && default))
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Who a phone number belongs to.
pub async fn phone_owner(conn: &mut Connection, id: &IdentificationId) -> Result<Option<UserId>> {
    let owner: Option<String> = query_scalar("SELECT user_id FROM phone_numbers WHERE id = $1")
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(owner.map(UserId::from_trusted))
}

/// No phone number of `user` is kept for MFA any more (MFA disabled by an operator).
pub async fn clear_second_factor_phones(conn: &mut Connection, user_id: &UserId) -> Result<u64> {
    let r = query(
        "UPDATE phone_numbers SET reserved_for_second_factor = 0, default_second_factor = 0 WHERE user_id = $1",
    )
    .bind(user_id.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected())
}

/// A phone number of `user` was proven theirs with a code. False when it is not theirs (any
/// more).
pub async fn mark_phone_verified(
    conn: &mut Connection,
    user_id: &UserId,
    phone_id: &IdentificationId,
    strategy: &str,
) -> Result<bool> {
    let r = query(
        "UPDATE phone_numbers SET verified = 1, verification_strategy = $3 WHERE id = $1 AND user_id = $2",
    )
    .bind(phone_id.as_str())
    .bind(user_id.as_str())
    .bind(strategy)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Removes a phone number of `user`. False when it is not theirs.
pub async fn delete_phone(
    conn: &mut Connection,
    user_id: &UserId,
    phone_id: &IdentificationId,
) -> Result<bool> {
    let r = query("DELETE FROM phone_numbers WHERE id = $1 AND user_id = $2")
        .bind(phone_id.as_str())
        .bind(user_id.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Writes every column of the user row (not their email addresses or phone numbers).
/// Returns false when the user no longer exists.
pub async fn update(conn: &mut Connection, user: &User) -> Result<bool> {
    let r = query(
        "UPDATE users SET external_id = $2, username = $3, first_name = $4, last_name = $5, \
         primary_email_address_id = $6, primary_phone_number_id = $7, password_hasher = $8, \
         password_digest = $9, public_metadata = $10, private_metadata = $11, unsafe_metadata = $12, \
         banned = $13, locked_until = $14, failed_verification_attempts = $15, last_sign_in_at = $16, \
         last_active_at = $17, created_at = $18, updated_at = $19, primary_web3_wallet_id = $20 \
         WHERE id = $1",
    );
    let r = bind_user(r, user)
        .execute(&mut *conn)
        .await
        .map_err(|e| conflict(e, CONFLICTS))?;
    Ok(r.rows_affected() == 1)
}

pub async fn delete(conn: &mut Connection, id: &UserId) -> Result<bool> {
    // Explicit child deletes: foreign-key cascades are off on SQLite connections we did not open.
    for table in [
        "email_addresses",
        "phone_numbers",
        "web3_wallets",
        "passkeys",
        "totp_factors",
        "backup_codes",
        "backup_code_sets",
        "trusted_clients",
        "sign_in_tokens",
        "sessions",
    ] {
        query(&format!("DELETE FROM {table} WHERE user_id = $1"))
            .bind(id.as_str())
            .execute(&mut *conn)
            .await?;
    }
    let r = query("DELETE FROM users WHERE id = $1")
        .bind(id.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn get(conn: &mut Connection, id: &UserId) -> Result<Option<User>> {
    let mut users = get_many(conn, std::slice::from_ref(id)).await?;
    Ok(users.pop())
}

/// Loads users by id, in the order given; missing ids are skipped.
pub async fn get_many(conn: &mut Connection, ids: &[UserId]) -> Result<Vec<User>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {USER_COLUMNS}, {} FROM users WHERE id IN ({})",
        factor_counts("users"),
        placeholders(1, ids.len())
    );
    let mut q = query(&sql);
    for id in ids {
        q = q.bind(id.as_str());
    }
    let rows = q.fetch_all(&mut *conn).await?;
    let mut users = assemble(conn, rows).await?;
    let order: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    users.sort_by_key(|u| order.get(u.id.as_str()).copied().unwrap_or(usize::MAX));
    Ok(users)
}

/// The user an identifier names, if any.
pub async fn find_id_by_identifier(
    conn: &mut Connection,
    identifier: &Identifier,
) -> Result<Option<UserId>> {
    let sql = match identifier.kind {
        IdentifierKind::EmailAddress => {
            "SELECT user_id FROM email_addresses WHERE email_address = $1"
        }
        IdentifierKind::PhoneNumber => "SELECT user_id FROM phone_numbers WHERE phone_number = $1",
        IdentifierKind::Username => "SELECT id AS user_id FROM users WHERE username = $1",
        IdentifierKind::Web3Wallet => "SELECT user_id FROM web3_wallets WHERE web3_wallet = $1",
    };
    let id: Option<String> = query_scalar(sql)
        .bind(identifier.value.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(id.map(UserId::from_trusted))
}

/// The user an identifier names, with their email addresses and phone numbers: two statements.
/// An email address or phone number names its user only once it is verified.
pub async fn find_by_identifier(
    conn: &mut Connection,
    identifier: &Identifier,
) -> Result<Option<User>> {
    let owner = match identifier.kind {
        IdentifierKind::EmailAddress => {
            "id = (SELECT user_id FROM email_addresses WHERE email_address = $1 AND verified = 1)"
        }
        IdentifierKind::PhoneNumber => {
            "id = (SELECT user_id FROM phone_numbers WHERE phone_number = $1 AND verified = 1)"
        }
        IdentifierKind::Username => "username = $1",
        IdentifierKind::Web3Wallet => {
            "id = (SELECT user_id FROM web3_wallets WHERE web3_wallet = $1 AND verified = 1)"
        }
    };
    let rows = query(&format!(
        "SELECT {USER_COLUMNS}, {} FROM users WHERE {owner}",
        factor_counts("users")
    ))
    .bind(identifier.value.as_str())
    .fetch_all(&mut *conn)
    .await?;
    Ok(assemble(conn, rows).await?.pop())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderBy {
    #[default]
    CreatedAtDesc,
    CreatedAtAsc,
}

/// Filters of the Backend API's user list. Filters of one kind are OR-ed, different kinds AND-ed.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub user_ids: Vec<String>,
    pub email_addresses: Vec<String>,
    pub phone_numbers: Vec<String>,
    pub web3_wallets: Vec<String>,
    pub usernames: Vec<String>,
    pub external_ids: Vec<String>,
    /// Substring of email, phone, username, first or last name.
    pub query: Option<String>,
    pub order_by: OrderBy,
    pub limit: i64,
    pub offset: i64,
}

/// A page of users and the total number matching the filter.
pub async fn list(conn: &mut Connection, filter: &ListFilter) -> Result<(Vec<User>, i64)> {
    let mut clauses: Vec<String> = Vec::new();
    let mut args: Vec<String> = Vec::new();
    let add_in =
        |clauses: &mut Vec<String>, args: &mut Vec<String>, template: &str, values: &[String]| {
            if values.is_empty() {
                return;
            }
            let ph = placeholders(args.len() + 1, values.len());
            clauses.push(template.replace("{}", &ph));
            args.extend(values.iter().cloned());
        };
    add_in(&mut clauses, &mut args, "u.id IN ({})", &filter.user_ids);
    add_in(
        &mut clauses,
        &mut args,
        "u.id IN (SELECT user_id FROM email_addresses WHERE email_address IN ({}))",
        &filter.email_addresses,
    );
    add_in(
        &mut clauses,
        &mut args,
        "u.id IN (SELECT user_id FROM phone_numbers WHERE phone_number IN ({}))",
        &filter.phone_numbers,
    );
    add_in(
        &mut clauses,
        &mut args,
        "u.id IN (SELECT user_id FROM web3_wallets WHERE web3_wallet IN ({}))",
        &filter.web3_wallets,
    );
    add_in(
        &mut clauses,
        &mut args,
        "u.username IN ({})",
        &filter.usernames,
    );
    add_in(
        &mut clauses,
        &mut args,
        "u.external_id IN ({})",
        &filter.external_ids,
    );
    if let Some(q) = filter.query.as_deref().filter(|q| !q.is_empty()) {
        let n = args.len() + 1;
        clauses.push(format!(
            "(LOWER(COALESCE(u.username, '')) LIKE ${n} ESCAPE '\\' OR LOWER(COALESCE(u.first_name, '')) LIKE ${n} ESCAPE '\\' \
             OR LOWER(COALESCE(u.last_name, '')) LIKE ${n} ESCAPE '\\' \
             OR u.id IN (SELECT user_id FROM email_addresses WHERE email_address LIKE ${n} ESCAPE '\\') \
             OR u.id IN (SELECT user_id FROM phone_numbers WHERE phone_number LIKE ${n} ESCAPE '\\'))"
        ));
        let escaped = q
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        args.push(format!("%{escaped}%"));
    }
    let where_sql = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let count_sql = format!("SELECT COUNT(*) FROM users u {where_sql}");
    let mut cq = query_scalar::<i64>(&count_sql);
    for a in &args {
        cq = cq.bind(a.as_str());
    }
    let total = cq.fetch_one(&mut *conn).await?;
    let order = match filter.order_by {
        OrderBy::CreatedAtDesc => "u.created_at DESC, u.id DESC",
        OrderBy::CreatedAtAsc => "u.created_at ASC, u.id ASC",
    };
    let n = args.len();
    let page_sql = format!(
        "SELECT {}, {} FROM users u {where_sql} ORDER BY {order} LIMIT ${} OFFSET ${}",
        USER_COLUMNS
            .split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", "),
        factor_counts("u"),
        n + 1,
        n + 2
    );
    let mut pq = query(&page_sql);
    for a in &args {
        pq = pq.bind(a.as_str());
    }
    let rows = pq
        .bind(filter.limit)
        .bind(filter.offset)
        .fetch_all(&mut *conn)
        .await?;
    Ok((assemble(conn, rows).await?, total))
}

/// Turns user rows into users, loading their email addresses and phone numbers in two queries.
async fn assemble(conn: &mut Connection, rows: Vec<Row>) -> Result<Vec<User>> {
    let mut users = rows.iter().map(user_from_row).collect::<Result<Vec<_>>>()?;
    if users.is_empty() {
        return Ok(users);
    }
    let ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
    // Email addresses and phone numbers in one round trip.
    let sql = format!(
        "SELECT 'email' AS kind, id, user_id, email_address AS value, verified, verification_strategy, \
         0 AS reserved_for_second_factor, 0 AS default_second_factor, CAST(NULL AS BIGINT) AS last_used_at, \
         created_at, created_at AS updated_at FROM email_addresses WHERE user_id IN ({}) \
         UNION ALL \
         SELECT 'phone' AS kind, id, user_id, phone_number AS value, verified, verification_strategy, \
         reserved_for_second_factor, default_second_factor, CAST(NULL AS BIGINT) AS last_used_at, \
         created_at, created_at AS updated_at FROM phone_numbers WHERE user_id IN ({}) \
         UNION ALL \
         SELECT 'wallet' AS kind, id, user_id, web3_wallet AS value, verified, verification_strategy, \
         0 AS reserved_for_second_factor, 0 AS default_second_factor, CAST(NULL AS BIGINT) AS last_used_at, \
         created_at, created_at AS updated_at FROM web3_wallets WHERE user_id IN ({}) \
         UNION ALL \
         SELECT 'passkey' AS kind, id, user_id, name AS value, verified, CAST(NULL AS TEXT) AS verification_strategy, \
         0 AS reserved_for_second_factor, 0 AS default_second_factor, last_used_at, \
         created_at, updated_at FROM passkeys WHERE user_id IN ({}) \
         ORDER BY created_at, id",
        placeholders(1, ids.len()),
        placeholders(ids.len() + 1, ids.len()),
        placeholders(2 * ids.len() + 1, ids.len()),
        placeholders(3 * ids.len() + 1, ids.len())
    );
    let mut q = query(&sql);
    for id in ids.iter().chain(&ids).chain(&ids).chain(&ids) {
        q = q.bind(*id);
    }
    let mut emails: HashMap<String, Vec<EmailAddress>> = HashMap::new();
    let mut phones: HashMap<String, Vec<PhoneNumber>> = HashMap::new();
    let mut wallets: HashMap<String, Vec<Web3Wallet>> = HashMap::new();
    let mut passkeys: HashMap<String, Vec<Passkey>> = HashMap::new();
    for row in q.fetch_all(&mut *conn).await? {
        let owner = text(&row, "user_id")?;
        let id = IdentificationId::from_trusted(text(&row, "id")?);
        let value = text(&row, "value")?;
        let verified = flag(&row, "verified")?;
        let verification_strategy = opt_text(&row, "verification_strategy")?;
        let created_at = ts(&row, "created_at")?;
        let kind = text(&row, "kind")?;
        if kind == "email" {
            emails.entry(owner).or_default().push(EmailAddress {
                id,
                email_address: value,
                verified,
                verification_strategy,
                created_at,
            });
        } else if kind == "passkey" {
            passkeys.entry(owner).or_default().push(Passkey {
                id,
                name: value,
                verified,
                last_used_at: opt_ts(&row, "last_used_at")?,
                created_at,
                updated_at: ts(&row, "updated_at")?,
            });
        } else if kind == "wallet" {
            wallets.entry(owner).or_default().push(Web3Wallet {
                id,
                web3_wallet: value,
                verified,
                verification_strategy,
                created_at,
            });
        } else {
            phones.entry(owner).or_default().push(PhoneNumber {
                id,
                phone_number: value,
                verified,
                verification_strategy,
                reserved_for_second_factor: flag(&row, "reserved_for_second_factor")?,
                default_second_factor: flag(&row, "default_second_factor")?,
                created_at,
            });
        }
    }
    for u in &mut users {
        u.email_addresses = emails.remove(u.id.as_str()).unwrap_or_default();
        u.phone_numbers = phones.remove(u.id.as_str()).unwrap_or_default();
        u.web3_wallets = wallets.remove(u.id.as_str()).unwrap_or_default();
        u.passkeys = passkeys.remove(u.id.as_str()).unwrap_or_default();
    }
    Ok(users)
}

/// Columns `totp_count` and `backup_count` for each row of `table` (the users table or its
/// alias): whether the user has an authenticator app, and how many backup codes are unused.
/// Selected with the user, so loading one costs no extra statement.
fn factor_counts(table: &str) -> String {
    format!(
        "(SELECT COUNT(*) FROM totp_factors t WHERE t.user_id = {table}.id AND t.verified = 1) \
         AS totp_count, \
         (SELECT COUNT(*) FROM backup_codes c WHERE c.user_id = {table}.id AND c.used_at IS NULL) \
         AS backup_count"
    )
}

fn user_from_row(row: &Row) -> Result<User> {
    let password = match (
        opt_text(row, "password_hasher")?,
        opt_text(row, "password_digest")?,
    ) {
        (Some(hasher), Some(digest)) => Some(PasswordDigest { hasher, digest }),
        (None, None) => None,
        _ => return Err(StoreError::corrupt("password hasher without digest")),
    };
    Ok(User {
        id: UserId::from_trusted(text(row, "id")?),
        external_id: opt_text(row, "external_id")?,
        username: opt_text(row, "username")?,
        first_name: opt_text(row, "first_name")?,
        last_name: opt_text(row, "last_name")?,
        email_addresses: Vec::new(),
        phone_numbers: Vec::new(),
        primary_email_address_id: opt_text(row, "primary_email_address_id")?
            .map(IdentificationId::from_trusted),
        primary_phone_number_id: opt_text(row, "primary_phone_number_id")?
            .map(IdentificationId::from_trusted),
        web3_wallets: Vec::new(),
        passkeys: Vec::new(),
        primary_web3_wallet_id: opt_text(row, "primary_web3_wallet_id")?
            .map(IdentificationId::from_trusted),
        password,
        public_metadata: json(row, "public_metadata")?,
        private_metadata: json(row, "private_metadata")?,
        unsafe_metadata: json(row, "unsafe_metadata")?,
        banned: flag(row, "banned")?,
        locked_until: opt_ts(row, "locked_until")?,
        failed_verification_attempts: u32::try_from(int(row, "failed_verification_attempts")?)
            .unwrap_or(u32::MAX),
        totp_enabled: int(row, "totp_count")? > 0,
        backup_codes_remaining: u32::try_from(int(row, "backup_count")?).unwrap_or(0),
        last_sign_in_at: opt_ts(row, "last_sign_in_at")?,
        last_active_at: opt_ts(row, "last_active_at")?,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

/// Records a completed sign-in on the user and resets its failure count, only while the account
/// is neither banned nor locked: the transaction that creates a session checks both again, so a
/// lock or ban that lands between a request's reads and its commit still stops it. False when
/// the account is banned, locked or gone.
pub async fn record_sign_in(conn: &mut Connection, id: &UserId, now: Timestamp) -> Result<bool> {
    let r = query(
        "UPDATE users SET last_sign_in_at = $2, last_active_at = $2, failed_verification_attempts = 0, \
         locked_until = NULL \
         WHERE id = $1 AND banned = 0 AND (locked_until IS NULL OR locked_until <= $2)",
    )
    .bind(id.as_str())
    .bind(now.0)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Replaces the password digest (rehash on sign-in, or a new password). Returns false when the user
/// no longer exists.
pub async fn set_password(
    conn: &mut Connection,
    id: &UserId,
    password: Option<&PasswordDigest>,
    now: Timestamp,
) -> Result<bool> {
    let r = query("UPDATE users SET password_hasher = $2, password_digest = $3, updated_at = $4 WHERE id = $1")
        .bind(id.as_str())
        .bind(password.map(|p| p.hasher.as_str()))
        .bind(password.map(|p| p.digest.as_str()))
        .bind(now.0)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Replaces a digest only if it is still the one that was verified, so a concurrent password change
/// is never overwritten by a rehash of the old password.
pub async fn upgrade_password(
    conn: &mut Connection,
    id: &UserId,
    old_digest: &str,
    new: &PasswordDigest,
) -> Result<bool> {
    let r = query("UPDATE users SET password_hasher = $2, password_digest = $3 WHERE id = $1 AND password_digest = $4")
        .bind(id.as_str())
        .bind(new.hasher.as_str())
        .bind(new.digest.as_str())
        .bind(old_digest)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// What taking an attempt against the account's lockout found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Counted: the guess may now be judged. `locked` when this attempt was the last one allowed
    /// (the account is locked from now on unless the guess proves right).
    Taken { count: u32, locked: bool },
    /// The account is locked until then; nothing was counted.
    Refused { locked_until: Timestamp },
    /// No such user.
    Gone,
}

/// Takes one attempt at the account's secrets before the guess is judged: counts it, and locks
/// the account until `lock_until` when the count reaches `threshold`, all in one statement that
/// applies only while the account is not locked. So however many guesses race, at most
/// `threshold` are counted, and so judged, before the lock. A lock that has run out starts a
/// new count.
pub async fn take_attempt(
    conn: &mut Connection,
    id: &UserId,
    now: Timestamp,
    threshold: u32,
    lock_until: Timestamp,
) -> Result<Attempt> {
    let next =
        "CASE WHEN locked_until IS NOT NULL THEN 1 ELSE failed_verification_attempts + 1 END";
    let row = query(&format!(
        "UPDATE users SET failed_verification_attempts = {next}, \
         locked_until = CASE WHEN {next} >= $3 THEN $4 ELSE NULL END \
         WHERE id = $1 AND (locked_until IS NULL OR locked_until <= $2) \
         RETURNING failed_verification_attempts, locked_until"
    ))
    .bind(id.as_str())
    .bind(now.0)
    .bind(i64::from(threshold))
    .bind(lock_until.0)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = row {
        return Ok(Attempt::Taken {
            count: u32::try_from(int(&row, "failed_verification_attempts")?).unwrap_or(u32::MAX),
            locked: opt_ts(&row, "locked_until")?.is_some(),
        });
    }
    let row = query("SELECT locked_until FROM users WHERE id = $1")
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(match row {
        None => Attempt::Gone,
        Some(row) => Attempt::Refused {
            // A lock that lapsed between the two statements: refused once more, by a second.
            locked_until: opt_ts(&row, "locked_until")?.unwrap_or(now.plus_seconds(1)),
        },
    })
}

/// A guess taken by [`take_attempt`] proved right: it is not a failure. Un-counts it, and lifts
/// the lock when that attempt was the one that set it (`locked_by_it`).
pub async fn refund_attempt(conn: &mut Connection, id: &UserId, locked_by_it: bool) -> Result<()> {
    query(
        "UPDATE users SET \
         failed_verification_attempts = CASE WHEN failed_verification_attempts > 0 \
                                             THEN failed_verification_attempts - 1 ELSE 0 END, \
         locked_until = CASE WHEN $2 = 1 THEN NULL ELSE locked_until END \
         WHERE id = $1",
    )
    .bind(id.as_str())
    .bind(b(locked_by_it))
    .execute(&mut *conn)
    .await?;
    Ok(())
}
