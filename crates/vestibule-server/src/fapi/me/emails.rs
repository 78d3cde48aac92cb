//! The user's own email addresses, as clerk-js's `User` and `EmailAddress` manage them: add one
//! (`createEmailAddress`), prove it with a code or a link (`prepareVerification`,
//! `attemptVerification`, `createEmailLinkFlow` polling `reload`), and remove it (`destroy`).
//! Making one primary is `PATCH /v1/me` ([`super::update`]).
//!
//! Adding and removing need a recent factor, as in Clerk; proving the address does not. An
//! address added here names nobody at sign-in until it is verified.

use super::phones::latest_code;
use super::{current, envelope, Me};
use crate::codes::{self, deliver};
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
use vestibule_model::identifier::normalize_email;
use vestibule_model::rate_limit::LimitKey;
use vestibule_model::user::EmailAddress;
use vestibule_model::verification::{
    start_code, CodeVerification, NewCode, Slot, VerificationOwner,
};
use vestibule_model::{
    Error, IdentificationId, Strategy, User, VerificationId, VerificationStatus,
};
use vestibule_store::{users, Connection};
use vestibule_wire as wire;

/// Email addresses one account may hold, verified or not.
const MAX_EMAIL_ADDRESSES: usize = 10;

type EmailResponse = Json<wire::Envelope<wire::EmailAddress>>;

fn find<'a>(user: &'a User, id: &str) -> ApiResult<&'a EmailAddress> {
    user.email_addresses
        .iter()
        .find(|e| e.id.as_str() == id)
        .ok_or_else(|| Error::not_found_id("email address", id).into())
}

/// The address as clerk-js reads it; while it is being proven, its verification is the code's
/// or link's.
fn email_wire(
    state: &AppState,
    email: &EmailAddress,
    code: Option<&CodeVerification>,
) -> wire::EmailAddress {
    let now = state.now();
    let mut w = present::email(email, now);
    if let (Some(code), Some(v)) = (code, w.verification.as_mut()) {
        // A verified address stays verified, whatever became of later codes.
        if !email.verified {
            v.status = code.status_at(now).as_str().into();
        }
        v.strategy = code.strategy.as_str().into_owned();
        v.attempts = Some(code.attempts);
        v.expire_at = Some(code.expire_at.millis());
        v.verified_at_client = code.verified_by_client_id.as_ref().map(ToString::to_string);
    }
    w
}

/// `POST /v1/me/email_addresses` with `email_address`: added unverified.
pub async fn create(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    RawQuery(query): RawQuery,
    params: Params,
) -> ApiResult<EmailResponse> {
    let Me {
        client,
        session,
        user,
    } = current(&state, &identity, query.as_deref()).await?;
    if !state.settings.identifiers.email_address {
        return Err(Error::ResourceForbidden {
            reason: "Email addresses are not enabled on this instance".into(),
        }
        .into());
    }
    mfa::check_recent_verification(&state, &session, &user, state.now())?;
    let address = normalize_email(params.required("email_address")?).ok_or_else(|| {
        ApiError(Error::param_format_invalid(
            "email_address",
            "must be a valid email address",
        ))
    })?;
    if user.email_addresses.len() >= MAX_EMAIL_ADDRESSES {
        return Err(Error::param_value_invalid(
            "email_address",
            format!(
                "cannot be added: an account holds at most {MAX_EMAIL_ADDRESSES} email addresses"
            ),
        )
        .into());
    }
    let email = EmailAddress {
        id: IdentificationId::generate(state.rng.as_ref()),
        email_address: address,
        verified: false,
        verification_strategy: Some(Strategy::EmailCode.as_str().into_owned()),
        created_at: state.now(),
    };
    // An address held by any account, this one included, is `form_identifier_exists`.
    let mut tx = state.store.begin().await?;
    users::insert_email(&mut tx, &user.id, &email).await?;
    tx.commit().await?;
    let response = email_wire(&state, &email, None);
    envelope(&state, &identity, &client, response).await
}

/// `GET /v1/me/email_addresses/{id}`: what an email-link flow polls until the address is
/// verified.
pub async fn get(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<EmailResponse> {
    let Me { client, user, .. } = current(&state, &identity, query.as_deref()).await?;
    let email = find(&user, &id)?;
    let code = latest_code(&state, &email.id).await?;
    let response = email_wire(&state, email, code.as_ref());
    envelope(&state, &identity, &client, response).await
}

/// `POST /v1/me/email_addresses/{id}/prepare_verification`: `strategy=email_code` sends a
/// code; `strategy=email_link` with `redirect_url` sends a link to `/v1/verify`.
pub async fn prepare_verification(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    params: Params,
) -> ApiResult<EmailResponse> {
    let Me { client, user, .. } = current(&state, &identity, query.as_deref()).await?;
    let strategy = match params.non_empty("strategy")? {
        None | Some("email_code") => Strategy::EmailCode,
        Some("email_link") => Strategy::EmailLink,
        Some(_) => {
            return Err(Error::param_value_invalid(
                "strategy",
                "must be email_code or email_link for an email address",
            )
            .into())
        }
    };
    let email = find(&user, &id)?;
    if email.verified {
        return Err(Error::VerificationAlreadyVerified.into());
    }
    let request = codes::request(
        &state,
        strategy,
        email.id.clone(),
        params.non_empty("redirect_url")?,
    )?;
    // Keyed by the address, not the id: removing and adding it again starts no new budget. The
    // account's own budget bounds mail to many different addresses.
    limits::check_all(
        &state,
        [
            LimitKey::MessagesToIdentification(email.email_address.clone()),
            LimitKey::AttemptByUser(user.id.to_string()),
        ],
    )
    .await?;
    let now = state.now();
    // The last code or link sent to this address, whatever became of it, starts the cooldown.
    let previous = latest_code(&state, &email.id)
        .await?
        .and_then(super::phones::as_sent);
    let (code, _) = start_code(
        NewCode {
            id: VerificationId::generate(state.rng.as_ref()),
            owner: VerificationOwner::Identification(email.id.clone()),
            user_id: Some(user.id.clone()),
            slot: Slot::FirstFactor,
            request,
        },
        previous.as_ref(),
        &state.settings,
        now,
    )?;
    let purpose = match code.strategy {
        Strategy::EmailLink => Purpose::SignInLink,
        _ => Purpose::SecondFactorCode,
    };
    let mut tx = state.store.begin().await?;
    deliver(
        &state,
        &mut tx,
        &code,
        purpose,
        Some(&email.email_address),
        now,
    )
    .await?;
    tx.commit().await?;
    messages::sent(&state);
    let response = email_wire(&state, email, Some(&code));
    envelope(&state, &identity, &client, response).await
}

/// Inside `tx`: `email` of `user` is proven theirs; the first verified address becomes the
/// primary one. Shared by codes and links.
pub(crate) async fn verified(
    tx: &mut Connection,
    user: &User,
    email: &IdentificationId,
    strategy: &Strategy,
    now: vestibule_model::Timestamp,
) -> ApiResult<()> {
    if !users::mark_email_verified(tx, &user.id, email, &strategy.as_str()).await? {
        return Err(Error::not_found_id("email address", email.as_str()).into());
    }
    if user.primary_email().is_none_or(|p| !p.verified) {
        let mut user = user.clone();
        user.primary_email_address_id = Some(email.clone());
        user.updated_at = now;
        users::update(tx, &user).await?;
    }
    Ok(())
}

/// `POST /v1/me/email_addresses/{id}/attempt_verification` with `code`: counted against the
/// code's attempts and the account's lockout before it is judged.
pub async fn attempt_verification(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Extension(ip): Extension<ClientIp>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    params: Params,
) -> ApiResult<EmailResponse> {
    let Me { client, user, .. } = current(&state, &identity, query.as_deref()).await?;
    let guess = params.required("code")?;
    let email = find(&user, &id)?.clone();
    if email.verified {
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
    let code = latest_code(&state, &email.id)
        .await?
        .filter(|c| c.strategy == Strategy::EmailCode)
        .ok_or(Error::VerificationMissing)?;
    let (checked, proven) = guesses::code(&state, &code.id, guess, Some(&user)).await?;
    let now = state.now();
    let mut tx = state.store.begin().await?;
    proven.settle(&state, &mut tx, Some(&client.id)).await?;
    verified(&mut tx, &user, &email.id, &Strategy::EmailCode, now).await?;
    tx.commit().await?;
    let mut email = email;
    email.verified = true;
    let mut checked = checked;
    checked.status = VerificationStatus::Verified;
    let response = email_wire(&state, &email, Some(&checked));
    envelope(&state, &identity, &client, response).await
}

/// `DELETE /v1/me/email_addresses/{id}`: not the last identifier the user signs in with, nor
/// the primary address while another one could be primary instead.
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
    let email = find(&user, &id)?.clone();
    if email.verified && !user.identifiable_without(&email.id) {
        return Err(Error::LastIdentificationDeletionFailed.into());
    }
    let primary = user.primary_email_address_id.as_ref() == Some(&email.id);
    let another = user
        .email_addresses
        .iter()
        .any(|e| e.verified && e.id != email.id);
    if primary && another {
        return Err(Error::PrimaryIdentificationDeletionFailed.into());
    }
    let mut tx = state.store.begin().await?;
    if !users::delete_email(&mut tx, &user.id, &email.id).await? {
        return Err(Error::not_found_id("email address", id).into());
    }
    if primary {
        user.primary_email_address_id = None;
        user.updated_at = state.now();
        users::update(&mut tx, &user).await?;
    }
    tx.commit().await?;
    let deleted = wire::DeletedObject {
        object: "email_address".into(),
        id: email.id.to_string(),
        deleted: true,
    };
    envelope(&state, &identity, &client, deleted).await
}
