//! Email addresses and phone numbers by id, as `@clerk/backend`'s `emailAddresses` and
//! `phoneNumbers` read and remove them (`getEmailAddress`, `deleteEmailAddress`,
//! `getPhoneNumber`, `deletePhoneNumber`). The operator may remove any of them, the last one a
//! user signs in with included; a primary one that goes is replaced by another verified one.

use super::users::load;
use crate::error::ApiResult;
use crate::mfa;
use crate::present;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Json;
use vestibule_model::{Error, IdentificationId, User};
use vestibule_store::users;
use vestibule_wire as wire;

#[derive(Clone, Copy)]
enum Kind {
    Email,
    Phone,
}

impl Kind {
    fn what(self) -> &'static str {
        match self {
            Kind::Email => "email address",
            Kind::Phone => "phone number",
        }
    }
}

/// The user who holds identification `id` of `kind`.
async fn owner(state: &AppState, kind: Kind, id: &str) -> ApiResult<(User, IdentificationId)> {
    let not_found = || Error::not_found_id(kind.what(), id);
    let parsed = IdentificationId::parse(id).ok_or_else(not_found)?;
    let user_id = {
        let mut conn = state.store.read().await?;
        match kind {
            Kind::Email => users::email_owner(&mut conn, &parsed).await?,
            Kind::Phone => users::phone_owner(&mut conn, &parsed).await?,
        }
        .ok_or_else(not_found)?
    };
    Ok((load(state, user_id.as_str()).await?, parsed))
}

fn deleted(kind: Kind, id: &IdentificationId) -> Json<wire::DeletedObject> {
    Json(wire::DeletedObject {
        object: match kind {
            Kind::Email => "email_address",
            Kind::Phone => "phone_number",
        }
        .into(),
        id: id.to_string(),
        deleted: true,
    })
}

/// `GET /v1/email_addresses/{id}`
pub async fn get_email_address(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<wire::EmailAddress>> {
    let (user, email_id) = owner(&state, Kind::Email, &id).await?;
    let email = user
        .email_addresses
        .iter()
        .find(|e| e.id == email_id)
        .ok_or_else(|| Error::not_found_id("email address", id.as_str()))?;
    Ok(Json(present::email(email, user.updated_at)))
}

/// `DELETE /v1/email_addresses/{id}`
pub async fn delete_email_address(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<wire::DeletedObject>> {
    let (mut user, email_id) = owner(&state, Kind::Email, &id).await?;
    let mut tx = state.store.begin().await?;
    if !users::delete_email(&mut tx, &user.id, &email_id).await? {
        return Err(Error::not_found_id("email address", id.as_str()).into());
    }
    if user.primary_email_address_id.as_ref() == Some(&email_id) {
        user.primary_email_address_id = user
            .email_addresses
            .iter()
            .find(|e| e.verified && e.id != email_id)
            .map(|e| e.id.clone());
        user.updated_at = state.now();
        users::update(&mut tx, &user).await?;
    }
    tx.commit().await?;
    Ok(deleted(Kind::Email, &email_id))
}

/// `GET /v1/phone_numbers/{id}`
pub async fn get_phone_number(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<wire::PhoneNumber>> {
    let (user, phone_id) = owner(&state, Kind::Phone, &id).await?;
    let phone = user
        .phone_numbers
        .iter()
        .find(|p| p.id == phone_id)
        .ok_or_else(|| Error::not_found_id("phone number", id.as_str()))?;
    Ok(Json(present::phone(phone, user.updated_at)))
}

/// `DELETE /v1/phone_numbers/{id}`: a number kept for MFA stops being a second factor first
/// (the operator may remove even the last one).
pub async fn delete_phone_number(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<wire::DeletedObject>> {
    let (mut user, phone_id) = owner(&state, Kind::Phone, &id).await?;
    let reserved = user
        .phone_numbers
        .iter()
        .any(|p| p.id == phone_id && p.reserved_for_second_factor);
    let mut tx = state.store.begin().await?;
    if reserved {
        mfa::set_phone_reserved(&state, &mut tx, &user, &phone_id, false, false, false).await?;
    }
    if !users::delete_phone(&mut tx, &user.id, &phone_id).await? {
        return Err(Error::not_found_id("phone number", id.as_str()).into());
    }
    if user.primary_phone_number_id.as_ref() == Some(&phone_id) {
        user.primary_phone_number_id = user
            .phone_numbers
            .iter()
            .find(|p| p.verified && !p.reserved_for_second_factor && p.id != phone_id)
            .map(|p| p.id.clone());
        user.updated_at = state.now();
        users::update(&mut tx, &user).await?;
    }
    tx.commit().await?;
    Ok(deleted(Kind::Phone, &phone_id))
}
