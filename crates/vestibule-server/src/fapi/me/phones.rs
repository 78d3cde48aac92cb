//! The user's own phone numbers, as clerk-js's `User` and `PhoneNumber` manage them: add one
//! (`createPhoneNumber`), prove it with an SMS code (`prepareVerification`,
//! `attemptVerification`), keep it for second factors (`setReservedForSecondFactor`,
//! `makeDefaultSecondFactor`) and remove it (`destroy`).
//!
//! Adding, keeping for MFA (or no longer) and removing need a recent factor, as in Clerk; proving
//! the number and choosing the default do not. A number added here is not an identifier or a
//! factor of any kind until it is verified.

use super::{current, envelope, Me};
use crate::codes::deliver;
use crate::error::{ApiError, ApiResult};
use crate::guesses;
use crate::identity::ClientIdentity;
use crate::limits::{self, ClientIp};
use crate::messages;
use crate::mfa;
use crate::params::Params;
use crate::present;
use crate::state::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::{Extension, Json};
use vestibule_courier::Purpose;
use vestibule_model::identifier::normalize_phone;
use vestibule_model::rate_limit::LimitKey;
use vestibule_model::user::PhoneNumber;
use vestibule_model::verification::{
    start_code, CodeRequest, CodeVerification, NewCode, SentCode, Slot, VerificationOwner,
};
use vestibule_model::{Error, IdentificationId, Strategy, User, VerificationId};
use vestibule_store::{users, verifications};
use vestibule_wire as wire;

/// Phone numbers one account may hold, verified or not.
const MAX_PHONE_NUMBERS: usize = 10;

type PhoneResponse = Json<wire::Envelope<wire::PhoneNumber>>;

fn find<'a>(user: &'a User, id: &str) -> ApiResult<&'a PhoneNumber> {
    user.phone_numbers
        .iter()
        .find(|p| p.id.as_str() == id)
        .ok_or_else(|| Error::not_found_id("phone number", id).into())
}

/// The phone as clerk-js reads it; while it is being proven, its verification is the code's.
fn phone_wire(
    state: &AppState,
    phone: &PhoneNumber,
    code: Option<&CodeVerification>,
    backup_codes: Option<Vec<String>>,
) -> wire::PhoneNumber {
    let now = state.now();
    let mut w = present::phone(phone, now);
    if let (Some(code), Some(v)) = (code, w.verification.as_mut()) {
        v.status = code.status_at(now).as_str().into();
        v.strategy = code.strategy.as_str().into_owned();
        v.attempts = Some(code.attempts);
        v.expire_at = Some(code.expire_at.millis());
    }
    w.backup_codes = backup_codes;
    w
}

/// The last code (or link) sent to prove an email address or phone number, whatever became of
/// it.
pub(super) async fn latest_code(
    state: &AppState,
    identification: &IdentificationId,
) -> ApiResult<Option<CodeVerification>> {
    let mut conn = state.store.read().await?;
    Ok(verifications::latest_for_owner(
        &mut conn,
        &VerificationOwner::Identification(identification.clone()),
    )
    .await?)
}

/// A stored code as the resend cooldown reads it.
pub(super) fn as_sent(c: CodeVerification) -> Option<SentCode> {
    Some(SentCode {
        strategy: c.strategy,
        verification_id: c.id,
        identification_id: c.identification_id?,
        expire_at: c.expire_at,
        created_at: c.created_at,
    })
}

/// `POST /v1/me/phone_numbers` with `phone_number` (E.164): added unverified.
pub async fn create(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    RawQuery(query): RawQuery,
    params: Params,
) -> ApiResult<PhoneResponse> {
    let Me {
        client,
        session,
        user,
    } = current(&state, &identity, query.as_deref()).await?;
    if !(state.settings.identifiers.phone_number || state.settings.mfa.phone_code) {
        return Err(Error::ResourceForbidden {
            reason: "Phone numbers are not enabled on this instance".into(),
        }
        .into());
    }
    mfa::check_recent_verification(&state, &session, &user, state.now())?;
    let number = normalize_phone(params.required("phone_number")?).ok_or_else(|| {
        ApiError(Error::param_format_invalid(
            "phone_number",
            "must be in E.164 format, e.g. +15555550100",
        ))
    })?;
    if user.phone_numbers.len() >= MAX_PHONE_NUMBERS {
        return Err(Error::param_value_invalid(
            "phone_number",
            format!("cannot be added: an account holds at most {MAX_PHONE_NUMBERS} phone numbers"),
        )
        .into());
    }
    let now = state.now();
    let phone = PhoneNumber {
        id: IdentificationId::generate(state.rng.as_ref()),
        phone_number: number,
        verified: false,
        verification_strategy: Some(Strategy::PhoneCode.as_str().into_owned()),
        reserved_for_second_factor: false,
        default_second_factor: false,
        created_at: now,
    };
    let mut tx = state.store.begin().await?;
    users::insert_phone(&mut tx, &user.id, &phone).await?;
    tx.commit().await?;
    let response = phone_wire(&state, &phone, None, None);
    envelope(&state, &identity, &client, response).await
}

/// `POST /v1/me/phone_numbers/{id}/prepare_verification` (`strategy=phone_code`): sends a code.
pub async fn prepare_verification(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    params: Params,
) -> ApiResult<PhoneResponse> {
    let Me { client, user, .. } = current(&state, &identity, query.as_deref()).await?;
    if let Some(s) = params.non_empty("strategy")? {
        if s != "phone_code" {
            return Err(Error::param_value_invalid(
                "strategy",
                "must be phone_code for a phone number",
            )
            .into());
        }
    }
    let phone = find(&user, &id)?;
    if phone.verified {
        return Err(Error::VerificationAlreadyVerified.into());
    }
    // Keyed by the number, not the id: removing and adding it again starts no new budget. The
    // account's own budget bounds texts to many different numbers.
    limits::check_all(
        &state,
        [
            LimitKey::MessagesToIdentification(phone.phone_number.clone()),
            LimitKey::AttemptByUser(user.id.to_string()),
        ],
    )
    .await?;
    let now = state.now();
    // The last code sent to this phone, whatever became of it, starts the resend cooldown.
    let previous = latest_code(&state, &phone.id).await?.and_then(as_sent);
    let (code, _) = start_code(
        NewCode {
            id: VerificationId::generate(state.rng.as_ref()),
            owner: VerificationOwner::Identification(phone.id.clone()),
            user_id: Some(user.id.clone()),
            slot: Slot::FirstFactor,
            request: CodeRequest {
                strategy: Strategy::PhoneCode,
                identification: phone.id.clone(),
                redirect_url: None,
            },
        },
        previous.as_ref(),
        &state.settings,
        now,
    )?;
    let mut tx = state.store.begin().await?;
    deliver(
        &state,
        &mut tx,
        &code,
        Purpose::SecondFactorCode,
        Some(&phone.phone_number),
        now,
    )
    .await?;
    tx.commit().await?;
    messages::sent(&state);
    let response = phone_wire(&state, phone, Some(&code), None);
    envelope(&state, &identity, &client, response).await
}

/// `POST /v1/me/phone_numbers/{id}/attempt_verification` with `code`: the number is the user's.
/// The first verified number becomes the primary one.
pub async fn attempt_verification(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Extension(ip): Extension<ClientIp>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    params: Params,
) -> ApiResult<PhoneResponse> {
    let Me {
        client, mut user, ..
    } = current(&state, &identity, query.as_deref()).await?;
    let guess = params.required("code")?;
    let phone = find(&user, &id)?.clone();
    if phone.verified {
        return Err(Error::VerificationAlreadyVerified.into());
    }
    limits::check_all(
        &state,
        [
            LimitKey::AttemptByIp(ip.0.clone()),
            LimitKey::AttemptByUser(user.id.to_string()),
        ],
    )
    .await?;
    let code = latest_code(&state, &phone.id)
        .await?
        .ok_or(Error::VerificationMissing)?;
    let (checked, proven) = guesses::code(&state, &code.id, guess, Some(&user)).await?;
    let now = state.now();
    let mut tx = state.store.begin().await?;
    proven.settle(&state, &mut tx, Some(&client.id)).await?;
    if !users::mark_phone_verified(&mut tx, &user.id, &phone.id, "phone_code").await? {
        return Err(Error::not_found_id("phone number", id).into());
    }
    if user.primary_phone_number_id.is_none() {
        user.primary_phone_number_id = Some(phone.id.clone());
        user.updated_at = now;
        users::update(&mut tx, &user).await?;
    }
    tx.commit().await?;
    let mut verified = phone;
    verified.verified = true;
    let mut checked = checked;
    checked.status = vestibule_model::VerificationStatus::Verified;
    let response = phone_wire(&state, &verified, Some(&checked), None);
    envelope(&state, &identity, &client, response).await
}

/// `PATCH /v1/me/phone_numbers/{id}`: `reserved_for_second_factor` (keep it for MFA, or stop;
/// the first time a user gets a second factor this way, the answer carries fresh backup codes)
/// and `default_second_factor` (the phone a sign-in texts first).
pub async fn update(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    params: Params,
) -> ApiResult<PhoneResponse> {
    params.only(&["reserved_for_second_factor", "default_second_factor"])?;
    let Me {
        client,
        session,
        user,
    } = current(&state, &identity, query.as_deref()).await?;
    let phone = find(&user, &id)?.clone();
    let reserved = params.bool("reserved_for_second_factor")?;
    let make_default = params.bool("default_second_factor")?;
    if !phone.verified && (reserved.is_some() || make_default.is_some()) {
        return Err(Error::SecondFactorIdentificationUnverified.into());
    }
    let mut backup_codes = None;
    let mut tx = state.store.begin().await?;
    if let Some(reserved) = reserved.filter(|r| *r != phone.reserved_for_second_factor) {
        mfa::check_recent_verification(&state, &session, &user, state.now())?;
        if reserved {
            if !state.settings.mfa.phone_code {
                return Err(Error::ResourceForbidden {
                    reason: "SMS codes as a second factor are not enabled on this instance".into(),
                }
                .into());
            }
            if !user.identifiable_without(&phone.id) {
                return Err(Error::LastIdentificationForSecondFactor.into());
            }
        }
        backup_codes = mfa::set_phone_reserved(
            &state,
            &mut tx,
            &user,
            &phone.id,
            reserved,
            state.settings.mfa.required,
            true,
        )
        .await?;
    }
    match make_default {
        Some(true) => {
            let kept = reserved.unwrap_or(phone.reserved_for_second_factor);
            if !kept {
                return Err(Error::param_value_invalid(
                    "default_second_factor",
                    "needs a phone number kept for second factors",
                )
                .into());
            }
            users::set_phone_second_factor(&mut tx, &user.id, &phone.id, true, true).await?;
        }
        Some(false) if phone.default_second_factor && reserved != Some(false) => {
            return Err(Error::param_value_invalid(
                "default_second_factor",
                "cannot be turned off; make another phone number the default instead",
            )
            .into());
        }
        _ => {}
    }
    tx.commit().await?;
    let mut conn = state.store.read().await?;
    let user = users::get(&mut conn, &user.id)
        .await?
        .ok_or(Error::SignedOut)?;
    drop(conn);
    let phone = find(&user, &id)?;
    let response = phone_wire(&state, phone, None, backup_codes);
    envelope(&state, &identity, &client, response).await
}

/// `DELETE /v1/me/phone_numbers/{id}`
pub async fn delete(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<wire::Envelope<wire::DeletedObject>>> {
    let Me {
        client,
        session,
        mut user,
    } = current(&state, &identity, query.as_deref()).await?;
    mfa::check_recent_verification(&state, &session, &user, state.now())?;
    let phone = find(&user, &id)?.clone();
    if phone.verified && !user.identifiable_without(&phone.id) {
        return Err(Error::LastIdentificationDeletionFailed.into());
    }
    let mut tx = state.store.begin().await?;
    if phone.reserved_for_second_factor {
        mfa::set_phone_reserved(
            &state,
            &mut tx,
            &user,
            &phone.id,
            false,
            state.settings.mfa.required,
            false,
        )
        .await?;
    }
    if !users::delete_phone(&mut tx, &user.id, &phone.id).await? {
        return Err(Error::not_found_id("phone number", id).into());
    }
    if user.primary_phone_number_id.as_ref() == Some(&phone.id) {
        user.primary_phone_number_id = user
            .phone_numbers
            .iter()
            .find(|p| p.verified && !p.reserved_for_second_factor && p.id != phone.id)
            .map(|p| p.id.clone());
        user.updated_at = state.now();
        users::update(&mut tx, &user).await?;
    }
    tx.commit().await?;
    let deleted = wire::DeletedObject {
        object: "phone_number".into(),
        id: phone.id.to_string(),
        deleted: true,
    };
    envelope(&state, &identity, &client, deleted).await
}
