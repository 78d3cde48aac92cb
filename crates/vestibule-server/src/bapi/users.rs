//! `/v1/users`: operators create, read, list, change and remove users.

use crate::error::{ApiError, ApiResult};
use crate::fields::{merge, metadata, text_field, username, MAX_METADATA_BYTES};
use crate::params::Params;
use crate::passwords::MAX_PASSWORD_BYTES;
use crate::present::{self, Audience};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Json;
use serde_json::Value;
use vestibule_crypto::PasswordHasher;
use vestibule_model::identifier::{normalize_email, normalize_phone, normalize_wallet};
use vestibule_model::user::{EmailAddress, PasswordDigest, PhoneNumber, Web3Wallet};
use vestibule_model::{Error, IdentificationId, SessionStatus, Timestamp, User, UserId};
use vestibule_store::{sessions, users};
use vestibule_wire as wire;

/// Most email addresses or phone numbers one request may name.
const MAX_IDENTIFIERS: usize = 100;

type UserResponse = ApiResult<Json<wire::User>>;

fn respond(state: &AppState, u: &User) -> UserResponse {
    Ok(Json(present::user(
        u,
        Audience::Backend,
        &state.settings,
        state.now(),
    )))
}

pub(super) async fn load(state: &AppState, id: &str) -> ApiResult<User> {
    let not_found = || ApiError(Error::not_found_id("user", id));
    let uid = UserId::parse(id).ok_or_else(not_found)?;
    let mut conn = state.store.read().await?;
    users::get(&mut conn, &uid).await?.ok_or_else(not_found)
}

/// Writes a changed user (conflicts become `form_identifier_exists`).
async fn save(state: &AppState, u: &User) -> ApiResult<()> {
    let mut tx = state.store.begin().await?;
    if !users::update(&mut tx, u).await? {
        return Err(Error::not_found_id("user", u.id.as_str()).into());
    }
    tx.commit().await?;
    Ok(())
}

fn distinct(param: &str, values: Vec<String>) -> ApiResult<Vec<String>> {
    if values.len() > MAX_IDENTIFIERS {
        return Err(Error::param_value_invalid(
            param,
            format!("must not name more than {MAX_IDENTIFIERS} values"),
        )
        .into());
    }
    let mut seen = std::collections::HashSet::new();
    for v in &values {
        if !seen.insert(v.as_str()) {
            return Err(Error::param_value_invalid(param, "contains duplicate values").into());
        }
    }
    Ok(values)
}

fn emails(params: &Params) -> ApiResult<Vec<String>> {
    let list = params
        .strings("email_address")?
        .iter()
        .map(|e| {
            normalize_email(e).ok_or_else(|| {
                ApiError(Error::param_format_invalid(
                    "email_address",
                    "must be a valid email address",
                ))
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    distinct("email_address", list)
}

fn phones(params: &Params) -> ApiResult<Vec<String>> {
    let list = params
        .strings("phone_number")?
        .iter()
        .map(|p| {
            normalize_phone(p).ok_or_else(|| {
                ApiError(Error::param_format_invalid(
                    "phone_number",
                    "must be a valid phone number according to E.164 international standard",
                ))
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    distinct("phone_number", list)
}

fn wallets(params: &Params) -> ApiResult<Vec<String>> {
    let list = params
        .strings("web3_wallet")?
        .iter()
        .map(|w| {
            normalize_wallet(w).ok_or_else(|| {
                ApiError(Error::param_format_invalid(
                    "web3_wallet",
                    "must be an Ethereum address (0x and 40 hex digits) or a Solana address",
                ))
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    distinct("web3_wallet", list)
}

/// Wallets an operator vouches for: verified, as their email addresses are.
fn new_wallets(state: &AppState, addresses: Vec<String>, now: Timestamp) -> Vec<Web3Wallet> {
    addresses
        .into_iter()
        .map(|web3_wallet| Web3Wallet {
            id: IdentificationId::generate(state.rng.as_ref()),
            web3_wallet,
            verified: true,
            verification_strategy: Some("admin".into()),
            created_at: now,
        })
        .collect()
}

/// A new password, checked against the policy unless the operator skips the checks.
fn new_password<'a>(state: &AppState, params: &'a Params) -> ApiResult<Option<&'a str>> {
    let Some(pw) = params.non_empty("password")? else {
        return Ok(None);
    };
    if pw.len() > MAX_PASSWORD_BYTES {
        return Err(Error::PasswordTooLong {
            max: state.settings.password.max_length,
        }
        .into());
    }
    if !params.bool("skip_password_checks")?.unwrap_or(false) {
        state.settings.password.check(pw)?;
    }
    Ok(Some(pw))
}

/// An imported digest with its hasher, validated now so sign-in never meets a broken one.
fn imported_digest(params: &Params) -> ApiResult<Option<PasswordDigest>> {
    let digest = params.non_empty("password_digest")?;
    let hasher = params.non_empty("password_hasher")?;
    match (digest, hasher) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(Error::param_missing("password_hasher").into()),
        (None, Some(_)) => Err(Error::param_missing("password_digest").into()),
        (Some(d), Some(h)) => {
            let kind = PasswordHasher::parse(h).ok_or_else(|| {
                Error::param_value_invalid(
                    "password_hasher",
                    format!("{h:?} is not a supported password hasher"),
                )
            })?;
            vestibule_crypto::validate_digest(kind, d).map_err(|e| {
                Error::PasswordDigestInvalid {
                    reason: e.to_string(),
                }
            })?;
            Ok(Some(PasswordDigest {
                hasher: kind.as_str().to_owned(),
                digest: d.to_owned(),
            }))
        }
    }
}

/// The new password's digest: hashed from `password`, or imported as given. Everything is
/// validated before a hash is spent.
async fn password_digest(state: &AppState, params: &Params) -> ApiResult<Option<PasswordDigest>> {
    let plain = new_password(state, params)?;
    let imported = imported_digest(params)?;
    match (plain, imported) {
        (Some(_), Some(_)) => Err(Error::param_value_invalid(
            "password_digest",
            "cannot be combined with password",
        )
        .into()),
        (Some(pw), None) => Ok(Some(state.passwords.hash(pw).await?)),
        (None, imported) => Ok(imported),
    }
}

const CREATE_PARAMS: &[&str] = &[
    "external_id",
    "email_address",
    "phone_number",
    "web3_wallet",
    "username",
    "password",
    "password_digest",
    "password_hasher",
    "skip_password_checks",
    "skip_password_requirement",
    "first_name",
    "last_name",
    "public_metadata",
    "private_metadata",
    "unsafe_metadata",
    "totp_secret",
    "backup_codes",
];

/// Second factors an operator imports with a user: `totp_secret` (base32, as authenticator apps
/// take it) and `backup_codes` (plain codes; each is stored hashed).
struct ImportedFactors {
    totp_secret: Option<Vec<u8>>,
    backup_codes: Option<Vec<String>>,
}

/// `has_second_factor`: the user already has one (an update), so backup codes may come alone.
fn imported_factors(params: &Params, has_second_factor: bool) -> ApiResult<ImportedFactors> {
    let totp_secret = params
        .non_empty("totp_secret")?
        .map(|s| {
            vestibule_crypto::otp::base32_decode(s)
                .filter(|b| b.len() >= 10)
                .ok_or_else(|| {
                    Error::param_format_invalid(
                        "totp_secret",
                        "must be a base32 secret of at least 80 bits",
                    )
                })
        })
        .transpose()?;
    let backup_codes = if params.contains("backup_codes") {
        let codes = params.strings("backup_codes")?;
        let well_formed = codes.iter().all(|c| {
            crate::mfa::IMPORTED_BACKUP_CODE_LENGTHS
                .contains(&vestibule_crypto::otp::normalize_backup_code(c).len())
        });
        if codes.is_empty() || codes.len() > 100 || !well_formed {
            return Err(Error::param_value_invalid(
                "backup_codes",
                "must be 1 to 100 codes of 6 to 32 letters and digits",
            )
            .into());
        }
        Some(codes)
    } else {
        None
    };
    if backup_codes.is_some() && totp_secret.is_none() && !has_second_factor {
        return Err(Error::BackupCodesNotAvailable.into());
    }
    Ok(ImportedFactors {
        totp_secret,
        backup_codes,
    })
}

/// `POST /v1/users`
pub async fn create(State(state): State<AppState>, params: Params) -> UserResponse {
    params.only(CREATE_PARAMS)?;
    let emails = emails(&params)?;
    let phones = phones(&params)?;
    let wallets = wallets(&params)?;
    let username = params.non_empty("username")?.map(username).transpose()?;
    if emails.is_empty() && phones.is_empty() && wallets.is_empty() && username.is_none() {
        return Err(Error::param_missing("email_address").into());
    }
    let first_name = text_field(&params, "first_name")?.flatten();
    let last_name = text_field(&params, "last_name")?.flatten();
    let external_id = text_field(&params, "external_id")?.flatten();
    let public_metadata = metadata(&params, "public_metadata")?.unwrap_or_default();
    let private_metadata = metadata(&params, "private_metadata")?.unwrap_or_default();
    let unsafe_metadata = metadata(&params, "unsafe_metadata")?.unwrap_or_default();
    let skip_requirement = params.bool("skip_password_requirement")?.unwrap_or(false);
    params.bool("skip_password_checks")?;
    let password = password_digest(&state, &params).await?;
    let factors = imported_factors(&params, false)?;
    if password.is_none() && state.settings.password.enabled && !skip_requirement {
        return Err(Error::param_missing("password").into());
    }

    let now = state.now();
    let rng = state.rng.as_ref();
    let email_addresses: Vec<EmailAddress> = emails
        .into_iter()
        .map(|email_address| EmailAddress {
            id: IdentificationId::generate(rng),
            email_address,
            verified: true,
            verification_strategy: Some("admin".into()),
            created_at: now,
        })
        .collect();
    let phone_numbers: Vec<PhoneNumber> = phones
        .into_iter()
        .map(|phone_number| PhoneNumber {
            id: IdentificationId::generate(rng),
            phone_number,
            verified: true,
            verification_strategy: Some("admin".into()),
            reserved_for_second_factor: false,
            default_second_factor: false,
            created_at: now,
        })
        .collect();
    let web3_wallets = new_wallets(&state, wallets, now);
    let user = User {
        id: UserId::generate(rng),
        external_id,
        username,
        first_name,
        last_name,
        primary_email_address_id: email_addresses.first().map(|e| e.id.clone()),
        primary_phone_number_id: phone_numbers.first().map(|p| p.id.clone()),
        primary_web3_wallet_id: web3_wallets.first().map(|w| w.id.clone()),
        email_addresses,
        phone_numbers,
        web3_wallets,
        passkeys: Vec::new(),
        password,
        public_metadata: Value::Object(public_metadata),
        private_metadata: Value::Object(private_metadata),
        unsafe_metadata: Value::Object(unsafe_metadata),
        banned: false,
        locked_until: None,
        failed_verification_attempts: 0,
        totp_enabled: factors.totp_secret.is_some(),
        backup_codes_remaining: factors.backup_codes.as_ref().map_or(0, |c| c.len() as u32),
        last_sign_in_at: None,
        last_active_at: None,
        created_at: now,
        updated_at: now,
    };
    let mut tx = state.store.begin().await?;
    users::insert(&mut tx, &user).await?;
    if let Some(secret) = &factors.totp_secret {
        crate::mfa::import_totp(&state, &mut tx, &user.id, secret).await?;
    }
    if let Some(codes) = factors.backup_codes {
        crate::mfa::store_backup_codes(&state, &mut tx, &user.id, codes, now).await?;
    }
    tx.commit().await?;
    respond(&state, &user)
}

/// `GET /v1/users/{id}`
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> UserResponse {
    let u = load(&state, &id).await?;
    respond(&state, &u)
}

const FILTER_PARAMS: &[&str] = &[
    "email_address",
    "phone_number",
    "web3_wallet",
    "username",
    "user_id",
    "external_id",
    "query",
];

fn filter(params: &Params) -> ApiResult<users::ListFilter> {
    let lower = |v: Vec<String>| {
        v.into_iter()
            .map(|s| s.trim().to_lowercase())
            .collect::<Vec<_>>()
    };
    let phones = params
        .strings("phone_number")?
        .into_iter()
        .map(|p| normalize_phone(&p).unwrap_or(p))
        .collect();
    Ok(users::ListFilter {
        user_ids: params.strings("user_id")?,
        email_addresses: lower(params.strings("email_address")?),
        phone_numbers: phones,
        web3_wallets: params
            .strings("web3_wallet")?
            .into_iter()
            .map(|w| normalize_wallet(&w).unwrap_or(w))
            .collect(),
        usernames: lower(params.strings("username")?),
        external_ids: params.strings("external_id")?,
        query: params.non_empty("query")?.map(str::to_owned),
        ..users::ListFilter::default()
    })
}

/// `GET /v1/users`: a bare array, as @clerk/backend expects (the total comes from `/count`).
pub async fn list(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<Json<Vec<wire::User>>> {
    let mut allowed = FILTER_PARAMS.to_vec();
    allowed.extend(["limit", "offset", "order_by"]);
    params.only(&allowed)?;
    let mut f = filter(&params)?;
    f.limit = params.int("limit", 1..=500)?.unwrap_or(10);
    f.offset = params.int("offset", 0..=i64::MAX)?.unwrap_or(0);
    f.order_by = match params.non_empty("order_by")?.unwrap_or("-created_at") {
        "-created_at" => users::OrderBy::CreatedAtDesc,
        "+created_at" | "created_at" => users::OrderBy::CreatedAtAsc,
        other => {
            return Err(Error::param_value_invalid(
                "order_by",
                format!("{other:?} is not supported; use -created_at or +created_at"),
            )
            .into())
        }
    };
    let mut conn = state.store.read().await?;
    let (found, _) = users::list(&mut conn, &f).await?;
    let now = state.now();
    Ok(Json(
        found
            .iter()
            .map(|u| present::user(u, Audience::Backend, &state.settings, now))
            .collect(),
    ))
}

/// `GET /v1/users/count`
pub async fn count(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<Json<wire::TotalCount>> {
    params.only(FILTER_PARAMS)?;
    let mut f = filter(&params)?;
    f.limit = 0;
    let mut conn = state.store.read().await?;
    let (_, total) = users::list(&mut conn, &f).await?;
    Ok(Json(wire::TotalCount {
        object: "total_count".into(),
        total_count: total,
    }))
}

const UPDATE_PARAMS: &[&str] = &[
    "external_id",
    "username",
    "first_name",
    "last_name",
    "password",
    "password_digest",
    "password_hasher",
    "skip_password_checks",
    "sign_out_of_other_sessions",
    "primary_email_address_id",
    "primary_phone_number_id",
    "primary_web3_wallet_id",
    "web3_wallet",
    "public_metadata",
    "private_metadata",
    "unsafe_metadata",
    "totp_secret",
    "backup_codes",
];

/// `PATCH /v1/users/{id}`: also imports `totp_secret` (replacing the authenticator app) and
/// `backup_codes` (replacing the set).
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> UserResponse {
    params.only(UPDATE_PARAMS)?;
    let mut u = load(&state, &id).await?;
    if let Some(v) = text_field(&params, "first_name")? {
        u.first_name = v;
    }
    if let Some(v) = text_field(&params, "last_name")? {
        u.last_name = v;
    }
    if let Some(v) = text_field(&params, "external_id")? {
        u.external_id = v;
    }
    if params.is_null("username") {
        u.username = None;
    } else if let Some(raw) = params.non_empty("username")? {
        u.username = Some(username(raw)?);
    }
    if let Some(eid) = params.non_empty("primary_email_address_id")? {
        let found = u.email_addresses.iter().find(|e| e.id.as_str() == eid);
        u.primary_email_address_id = Some(found.map(|e| e.id.clone()).ok_or_else(|| {
            Error::param_value_invalid(
                "primary_email_address_id",
                "is not one of this user's email addresses",
            )
        })?);
    }
    if let Some(pid) = params.non_empty("primary_phone_number_id")? {
        let found = u.phone_numbers.iter().find(|p| p.id.as_str() == pid);
        u.primary_phone_number_id = Some(found.map(|p| p.id.clone()).ok_or_else(|| {
            Error::param_value_invalid(
                "primary_phone_number_id",
                "is not one of this user's phone numbers",
            )
        })?);
    }
    // Wallets named here are added (those the user has already are kept as they are).
    let added: Vec<String> = wallets(&params)?
        .into_iter()
        .filter(|a| !u.web3_wallets.iter().any(|w| &w.web3_wallet == a))
        .collect();
    let added = new_wallets(&state, added, state.now());
    u.web3_wallets.extend(added.iter().cloned());
    if u.primary_web3_wallet_id.is_none() {
        u.primary_web3_wallet_id = added.first().map(|w| w.id.clone());
    }
    if let Some(wid) = params.non_empty("primary_web3_wallet_id")? {
        let found = u.web3_wallets.iter().find(|w| w.id.as_str() == wid);
        u.primary_web3_wallet_id = Some(found.map(|w| w.id.clone()).ok_or_else(|| {
            Error::param_value_invalid(
                "primary_web3_wallet_id",
                "is not one of this user's wallets",
            )
        })?);
    }
    for (name, slot) in [
        ("public_metadata", &mut u.public_metadata),
        ("private_metadata", &mut u.private_metadata),
        ("unsafe_metadata", &mut u.unsafe_metadata),
    ] {
        if let Some(m) = metadata(&params, name)? {
            *slot = Value::Object(m);
        }
    }
    let sign_out = params.bool("sign_out_of_other_sessions")?.unwrap_or(false);
    let password = password_digest(&state, &params).await?;
    if sign_out && password.is_none() {
        return Err(Error::param_value_invalid(
            "sign_out_of_other_sessions",
            "is only valid together with password",
        )
        .into());
    }
    if password.is_some() {
        u.password = password;
    }
    let factors = imported_factors(&params, u.has_second_factor())?;
    let now = state.now();
    u.updated_at = now;
    let mut tx = state.store.begin().await?;
    for w in &added {
        users::insert_web3_wallet(&mut tx, &u.id, w).await?;
    }
    if !users::update(&mut tx, &u).await? {
        return Err(Error::not_found_id("user", id).into());
    }
    if sign_out {
        sessions::end_all_for_user(&mut tx, &u.id, SessionStatus::Revoked, now, None).await?;
    }
    let imported = factors.totp_secret.is_some() || factors.backup_codes.is_some();
    if let Some(secret) = &factors.totp_secret {
        crate::mfa::import_totp(&state, &mut tx, &u.id, secret).await?;
        crate::mfa::second_factor_enrolled(&state, &mut tx, &u.id).await?;
    }
    if let Some(codes) = factors.backup_codes {
        crate::mfa::store_backup_codes(&state, &mut tx, &u.id, codes, now).await?;
    }
    tx.commit().await?;
    if imported {
        u = load(&state, &id).await?;
    }
    respond(&state, &u)
}

const METADATA_PARAMS: &[&str] = &["public_metadata", "private_metadata", "unsafe_metadata"];

/// `PUT /v1/users/{id}/metadata`: replaces each kind of metadata given.
pub async fn replace_metadata(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> UserResponse {
    params.only(METADATA_PARAMS)?;
    let mut u = load(&state, &id).await?;
    for (name, slot) in [
        ("public_metadata", &mut u.public_metadata),
        ("private_metadata", &mut u.private_metadata),
        ("unsafe_metadata", &mut u.unsafe_metadata),
    ] {
        if let Some(m) = metadata(&params, name)? {
            *slot = Value::Object(m);
        }
    }
    u.updated_at = state.now();
    save(&state, &u).await?;
    respond(&state, &u)
}

/// `PATCH /v1/users/{id}/metadata`: deep-merges each kind of metadata given.
pub async fn merge_metadata(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> UserResponse {
    params.only(METADATA_PARAMS)?;
    let mut u = load(&state, &id).await?;
    for (name, slot) in [
        ("public_metadata", &mut u.public_metadata),
        ("private_metadata", &mut u.private_metadata),
        ("unsafe_metadata", &mut u.unsafe_metadata),
    ] {
        if let Some(m) = params.object(name)? {
            merge(slot, m);
            if slot.to_string().len() > MAX_METADATA_BYTES {
                return Err(Error::param_value_invalid(
                    name,
                    format!("must be at most {MAX_METADATA_BYTES} bytes of JSON"),
                )
                .into());
            }
        }
    }
    u.updated_at = state.now();
    save(&state, &u).await?;
    respond(&state, &u)
}

/// `DELETE /v1/users/{id}`: the user, their identifiers and sessions are gone.
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<wire::DeletedObject>> {
    let u = load(&state, &id).await?;
    let mut tx = state.store.begin().await?;
    users::delete(&mut tx, &u.id).await?;
    tx.commit().await?;
    Ok(Json(wire::DeletedObject {
        object: "user".into(),
        id: u.id.to_string(),
        deleted: true,
    }))
}

#[derive(serde::Serialize)]
pub struct PasswordVerified {
    verified: bool,
}

/// `POST /v1/users/{id}/verify_password` with `password`: `{"verified":true}`, or 422
/// `form_password_incorrect`. A guess like a sign-in's: counted against the account's lockout
/// before it is judged, refused while the account is locked.
pub async fn verify_password(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Json<PasswordVerified>> {
    params.only(&["password"])?;
    let password = params.required("password")?;
    let u = load(&state, &id).await?;
    if !u.has_password() {
        return Err(Error::param_value_invalid("password", "is not set for this user").into());
    }
    let proven = crate::guesses::password(&state, Some(&u), password)
        .await?
        .or(Error::PasswordIncorrect)?;
    let mut tx = state.store.begin().await?;
    proven.settle(&state, &mut tx, None).await?;
    tx.commit().await?;
    Ok(Json(PasswordVerified { verified: true }))
}

async fn set_state(
    state: &AppState,
    id: &str,
    params: &Params,
    change: impl FnOnce(&mut User),
) -> UserResponse {
    params.only(&[])?;
    let mut u = load(state, id).await?;
    change(&mut u);
    let now = state.now();
    u.updated_at = now;
    let mut tx = state.store.begin().await?;
    users::update(&mut tx, &u).await?;
    if u.banned {
        // A banned user keeps no session anywhere.
        sessions::end_all_for_user(&mut tx, &u.id, SessionStatus::Revoked, now, None).await?;
    }
    tx.commit().await?;
    respond(state, &u)
}

pub async fn ban(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> UserResponse {
    set_state(&state, &id, &params, |u| u.banned = true).await
}

pub async fn unban(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> UserResponse {
    set_state(&state, &id, &params, |u| u.banned = false).await
}

/// Locks until an operator unlocks.
pub async fn lock(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> UserResponse {
    set_state(&state, &id, &params, |u| {
        u.locked_until = Some(Timestamp(i64::MAX))
    })
    .await
}

pub async fn unlock(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> UserResponse {
    set_state(&state, &id, &params, |u| {
        u.locked_until = None;
        u.failed_verification_attempts = 0;
    })
    .await
}
