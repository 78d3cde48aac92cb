//! Operators and users' second factors (`@clerk/backend`'s `disableUserMFA`, `deleteUserTOTP`,
//! `deleteUserBackupCodes`, `verifyTOTP`), and phone numbers kept for MFA (`createPhoneNumber`,
//! `updatePhoneNumber` with `reserved_for_second_factor`), and users' passkeys
//! (`deleteUserPasskey`).

use super::users::load;
use crate::error::ApiResult;
use crate::guesses;
use crate::mfa;
use crate::params::Params;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;
use vestibule_model::identifier::normalize_phone;
use vestibule_model::user::PhoneNumber;
use vestibule_model::{Error, IdentificationId, User, UserId};
use vestibule_store::{second_factors, users};

/// What the second-factor deletions answer: the user's id, as Clerk does.
#[derive(Serialize)]
pub struct UserIdResponse {
    user_id: String,
}

fn user_id_response(user: &User) -> Json<UserIdResponse> {
    Json(UserIdResponse {
        user_id: user.id.to_string(),
    })
}

/// `DELETE /v1/users/{id}/mfa`: every second factor goes (authenticator app, backup codes,
/// phone numbers kept for MFA; the numbers themselves stay).
pub async fn disable_mfa(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<UserIdResponse>> {
    let user = load(&state, &id).await?;
    let mut tx = state.store.begin().await?;
    second_factors::delete_totp(&mut tx, &user.id).await?;
    second_factors::delete_backup_codes(&mut tx, &user.id).await?;
    users::clear_second_factor_phones(&mut tx, &user.id).await?;
    tx.commit().await?;
    tracing::info!(user = %user.id, "second factors removed by an operator");
    Ok(user_id_response(&user))
}

/// `DELETE /v1/users/{id}/totp`
pub async fn delete_totp(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<UserIdResponse>> {
    let user = load(&state, &id).await?;
    let mut tx = state.store.begin().await?;
    if !mfa::remove_totp(&mut tx, &user, false).await? {
        return Err(Error::TotpDisabled.into());
    }
    tx.commit().await?;
    Ok(user_id_response(&user))
}

/// `DELETE /v1/users/{id}/backup_code`
pub async fn delete_backup_codes(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<UserIdResponse>> {
    let user = load(&state, &id).await?;
    let mut tx = state.store.begin().await?;
    if !second_factors::delete_backup_codes(&mut tx, &user.id).await? {
        return Err(Error::not_found("backup codes").into());
    }
    tx.commit().await?;
    Ok(user_id_response(&user))
}

#[derive(Serialize)]
pub struct Verified {
    verified: bool,
    code_type: &'static str,
}

/// `POST /v1/users/{id}/verify_totp` with `code`: a code from the user's authenticator app or
/// one of their backup codes (used up by this). A wrong code is 422 `totp_incorrect_code` and
/// counts toward the account's lockout, as it would at sign-in.
pub async fn verify_totp(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Json<Verified>> {
    params.only(&["code"])?;
    let code = params.required("code")?;
    let user = load(&state, &id).await?;
    if !user.totp_enabled {
        return Err(Error::TotpDisabled.into());
    }
    if let vestibule_model::user::LockState::Locked(expires_in_seconds) =
        user.lock_state(state.now())
    {
        return Err(Error::UserLocked { expires_in_seconds }.into());
    }
    // A backup code, or else (six digits) a code from the app.
    let looks_like_totp = code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit());
    let (verdict, code_type) = if looks_like_totp {
        (guesses::totp(&state, &user.id, code, false).await?, "totp")
    } else {
        (
            guesses::backup_code(&state, &user.id, code).await?,
            "backup_code",
        )
    };
    let Some(proven) = verdict else {
        return Err(Error::TotpIncorrectCode.into());
    };
    let proven = proven.or(Error::TotpIncorrectCode)?;
    let mut tx = state.store.begin().await?;
    proven
        .settle(&state, &mut tx, None)
        .await
        .map_err(|e| match e.0 {
            // The same code used by a concurrent request first.
            Error::CodeIncorrect => Error::TotpIncorrectCode.into(),
            _ => e,
        })?;
    tx.commit().await?;
    Ok(Json(Verified {
        verified: true,
        code_type,
    }))
}

/// `POST /v1/phone_numbers`: adds a phone number to a user (`user_id`, `phone_number`,
/// optionally `verified`, `primary`, `reserved_for_second_factor`).
pub async fn create_phone_number(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<Json<vestibule_wire::PhoneNumber>> {
    params.only(&[
        "user_id",
        "phone_number",
        "verified",
        "primary",
        "reserved_for_second_factor",
    ])?;
    let mut user = load(&state, params.required("user_id")?).await?;
    let number = normalize_phone(params.required("phone_number")?).ok_or_else(|| {
        Error::param_format_invalid("phone_number", "must be in E.164 format, e.g. +15555550100")
    })?;
    let verified = params.bool("verified")?.unwrap_or(false);
    let reserved = params.bool("reserved_for_second_factor")?.unwrap_or(false);
    if reserved && !verified {
        return Err(Error::param_value_invalid(
            "reserved_for_second_factor",
            "needs a verified phone number",
        )
        .into());
    }
    let now = state.now();
    let phone = PhoneNumber {
        id: IdentificationId::generate(state.rng.as_ref()),
        phone_number: number,
        verified,
        verification_strategy: verified.then(|| "admin".to_owned()),
        reserved_for_second_factor: reserved,
        // The first number kept for MFA becomes the default one.
        default_second_factor: reserved && user.second_factor_phones().next().is_none(),
        created_at: now,
    };
    let mut tx = state.store.begin().await?;
    users::insert_phone(&mut tx, &user.id, &phone).await?;
    if params.bool("primary")?.unwrap_or(false) || user.primary_phone_number_id.is_none() {
        user.primary_phone_number_id = Some(phone.id.clone());
        user.updated_at = now;
        users::update(&mut tx, &user).await?;
    }
    if reserved {
        mfa::second_factor_enrolled(&state, &mut tx, &user.id).await?;
    }
    tx.commit().await?;
    Ok(Json(crate::present::phone(&phone, now)))
}

/// `PATCH /v1/phone_numbers/{id}`: `reserved_for_second_factor` (a verified number) and
/// `primary`.
pub async fn update_phone_number(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Json<vestibule_wire::PhoneNumber>> {
    params.only(&["verified", "primary", "reserved_for_second_factor"])?;
    let not_found = || Error::not_found_id("phone number", id.as_str());
    let phone_id = IdentificationId::parse(&id).ok_or_else(not_found)?;
    let owner: UserId = {
        let mut conn = state.store.read().await?;
        users::phone_owner(&mut conn, &phone_id)
            .await?
            .ok_or_else(not_found)?
    };
    let mut user = load(&state, owner.as_str()).await?;
    let mut tx = state.store.begin().await?;
    if let Some(reserved) = params.bool("reserved_for_second_factor")? {
        // The operator may remove even the last second factor.
        mfa::set_phone_reserved(&state, &mut tx, &user, &phone_id, reserved, false, false).await?;
    }
    if params.bool("primary")? == Some(true) {
        user.primary_phone_number_id = Some(phone_id.clone());
        user.updated_at = state.now();
        users::update(&mut tx, &user).await?;
    }
    tx.commit().await?;
    let user = load(&state, owner.as_str()).await?;
    let phone = user
        .phone_numbers
        .iter()
        .find(|p| p.id == phone_id)
        .ok_or_else(not_found)?;
    Ok(Json(crate::present::phone(phone, user.updated_at)))
}

/// `DELETE /v1/users/{id}/passkeys/{passkey_id}` (`@clerk/backend`'s `deleteUserPasskey`): the
/// passkey signs nobody in from then on.
pub async fn delete_passkey(
    State(state): State<AppState>,
    Path((id, passkey_id)): Path<(String, String)>,
) -> ApiResult<Json<vestibule_wire::DeletedObject>> {
    let user = load(&state, &id).await?;
    let passkey = user
        .passkeys
        .iter()
        .find(|p| p.id.as_str() == passkey_id)
        .ok_or_else(|| Error::not_found_id("passkey", &passkey_id))?;
    let mut tx = state.store.begin().await?;
    if !vestibule_store::passkeys::delete(&mut tx, &user.id, &passkey.id).await? {
        return Err(Error::not_found_id("passkey", passkey_id).into());
    }
    tx.commit().await?;
    Ok(Json(vestibule_wire::DeletedObject {
        object: "passkey".into(),
        id: passkey.id.to_string(),
        deleted: true,
    }))
}
