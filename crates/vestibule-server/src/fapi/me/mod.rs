//! `/v1/me`: the signed-in user reading and changing their own profile (clerk-js's `User`), their
//! email addresses ([`emails`]) and phone numbers ([`phones`]), password and the account itself
//! ([`account`]), sessions ([`sessions`]), and enrolling second factors ([`mfa`]).

pub mod account;
pub mod emails;
pub mod mfa;
pub mod passkeys;
pub mod phones;
pub mod sessions;
pub mod wallets;

use super::view;
use crate::error::{ApiError, ApiResult};
use crate::fields::{merge, metadata, text_field, username, MAX_METADATA_BYTES};
use crate::identity::ClientIdentity;
use crate::params::Params;
use crate::present::{self, Audience};
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::{Extension, Json};
use serde_json::Value;
use vestibule_model::{Client, Error, Session, SessionId, User};
use vestibule_store::users;
use vestibule_wire as wire;

pub(super) type UserResponse = Json<wire::Envelope<wire::User>>;

/// Who a `/me` call acts for.
pub(super) struct Me {
    pub client: Client,
    pub session: Session,
    pub user: User,
}

async fn current_user(
    state: &AppState,
    identity: &ClientIdentity,
    query: Option<&str>,
) -> ApiResult<(Client, User)> {
    let me = current(state, identity, query).await?;
    Ok((me.client, me.user))
}

/// The session a `/me` call acts in: the one clerk-js names in `_clerk_session_id`, or the
/// client's last active one. It must be the caller's and signed in (active, or pending a task).
pub(super) async fn current(
    state: &AppState,
    identity: &ClientIdentity,
    query: Option<&str>,
) -> ApiResult<Me> {
    let client = identity.client(state).await?.ok_or(Error::SignedOut)?;
    let named = query.and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "_clerk_session_id")
            .map(|(_, v)| v.into_owned())
    });
    let session_id = match named.filter(|v| !v.is_empty()) {
        Some(v) => SessionId::parse(&v).ok_or_else(|| Error::not_found_id("session", v))?,
        None => client
            .last_active_session_id
            .clone()
            .ok_or(Error::SignedOut)?,
    };
    let mut conn = state.store.read().await?;
    let session = vestibule_store::sessions::get(&mut conn, &session_id)
        .await?
        .filter(|s| s.client_id == client.id)
        .ok_or_else(|| Error::not_found_id("session", session_id.as_str()))?;
    if !session.is_signed_in_at(state.now(), &state.settings.sessions) {
        return Err(Error::SignedOut.into());
    }
    let user = users::get(&mut conn, &session.user_id)
        .await?
        .ok_or(Error::SignedOut)?;
    Ok(Me {
        client,
        session,
        user,
    })
}

/// `{response, client}`, the client read after the change (so what changed, such as the user's
/// `totp_enabled` or a pending session turned active, reaches clerk-js at once).
pub(super) async fn envelope<T: serde::Serialize>(
    state: &AppState,
    identity: &ClientIdentity,
    client: &Client,
    response: T,
) -> ApiResult<Json<wire::Envelope<T>>> {
    let mut conn = state.store.read().await?;
    let client_view =
        view::client_view(state, &mut conn, client, identity.origin.as_deref()).await?;
    Ok(Json(wire::Envelope {
        response,
        client: Some(client_view),
    }))
}

pub(super) async fn respond(
    state: &AppState,
    identity: &ClientIdentity,
    client: &Client,
    user: &User,
) -> ApiResult<UserResponse> {
    let response = present::user(user, Audience::Frontend, &state.settings, state.now());
    envelope(state, identity, client, response).await
}

/// `GET /v1/me`
pub async fn get(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    RawQuery(query): RawQuery,
) -> ApiResult<UserResponse> {
    let (client, user) = current_user(&state, &identity, query.as_deref()).await?;
    respond(&state, &identity, &client, &user).await
}

/// `PATCH /v1/me`: names, username, unsafe metadata and primary identifiers. Other fields are
/// not the user's to change (public and private metadata belong to the operator). A new
/// username or primary identifier needs a recent verification, as in Clerk; names do not.
pub async fn update(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    RawQuery(query): RawQuery,
    params: Params,
) -> ApiResult<UserResponse> {
    let Me {
        client,
        session,
        mut user,
    } = current(&state, &identity, query.as_deref()).await?;
    for forbidden in ["public_metadata", "private_metadata", "password"] {
        if params.contains(forbidden) {
            return Err(Error::param_unknown(forbidden).into());
        }
    }
    let before = user.clone();
    if let Some(v) = text_field(&params, "first_name")? {
        user.first_name = v;
    }
    if let Some(v) = text_field(&params, "last_name")? {
        user.last_name = v;
    }
    if let Some(v) = text_field(&params, "username")? {
        if v.is_some() && !state.settings.identifiers.username {
            return Err(Error::param_unknown("username").into());
        }
        user.username = v.as_deref().map(username).transpose()?;
    }
    if let Some(m) = metadata(&params, "unsafe_metadata")? {
        user.unsafe_metadata = Value::Object(m);
    }
    if let Some(id) = params.non_empty("primary_email_address_id")? {
        let found = user
            .email_addresses
            .iter()
            .find(|e| e.id.as_str() == id && e.verified);
        user.primary_email_address_id = Some(found.map(|e| e.id.clone()).ok_or_else(|| {
            ApiError(Error::param_value_invalid(
                "primary_email_address_id",
                "is not one of your verified email addresses",
            ))
        })?);
    }
    if let Some(id) = params.non_empty("primary_phone_number_id")? {
        let found = user
            .phone_numbers
            .iter()
            .find(|p| p.id.as_str() == id && p.verified);
        user.primary_phone_number_id = Some(found.map(|p| p.id.clone()).ok_or_else(|| {
            ApiError(Error::param_value_invalid(
                "primary_phone_number_id",
                "is not one of your verified phone numbers",
            ))
        })?);
    }
    let sensitive = user.username != before.username
        || user.primary_email_address_id != before.primary_email_address_id
        || user.primary_phone_number_id != before.primary_phone_number_id;
    if sensitive {
        crate::mfa::check_recent_verification(&state, &session, &user, state.now())?;
    }
    if before.username.is_some() && user.username.is_none() && !user.identifiable() {
        return Err(Error::LastIdentificationDeletionFailed.into());
    }
    user.updated_at = state.now();
    let mut tx = state.store.begin().await?;
    // A username another account holds is `form_identifier_exists`.
    if !users::update(&mut tx, &user).await? {
        return Err(Error::SignedOut.into());
    }
    tx.commit().await?;
    respond(&state, &identity, &client, &user).await
}

/// `PATCH /v1/me/metadata`: deep-merges `unsafe_metadata` (clerk-js sends the difference, with
/// `null` for removed keys).
pub async fn merge_metadata(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    RawQuery(query): RawQuery,
    params: Params,
) -> ApiResult<UserResponse> {
    let (client, mut user) = current_user(&state, &identity, query.as_deref()).await?;
    for forbidden in ["public_metadata", "private_metadata"] {
        if params.contains(forbidden) {
            return Err(Error::param_unknown(forbidden).into());
        }
    }
    if let Some(patch) = params.object("unsafe_metadata")? {
        merge(&mut user.unsafe_metadata, patch);
        if user.unsafe_metadata.to_string().len() > MAX_METADATA_BYTES {
            return Err(Error::param_value_invalid(
                "unsafe_metadata",
                format!("must be at most {MAX_METADATA_BYTES} bytes of JSON"),
            )
            .into());
        }
    }
    user.updated_at = state.now();
    let mut tx = state.store.begin().await?;
    if !users::update(&mut tx, &user).await? {
        return Err(Error::SignedOut.into());
    }
    tx.commit().await?;
    respond(&state, &identity, &client, &user).await
}
