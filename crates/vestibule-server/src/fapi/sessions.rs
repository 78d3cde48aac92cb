//! Session endpoints: `setActive` (touch), token minting, and signing out.

use super::client::reload;
use super::view::client_view;
use crate::error::{ApiError, ApiResult};
use crate::identity::ClientIdentity;
use crate::present;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use vestibule_model::{Client, Error, Session, SessionId, SessionStatus, User};
use vestibule_store::{clients, sessions, users};
use vestibule_wire as wire;

type SessionResponse = Json<wire::Envelope<wire::Session>>;

/// The caller's session `id` and its user. Sessions of other clients are "not found".
async fn load(
    state: &AppState,
    identity: &ClientIdentity,
    id: &str,
) -> ApiResult<(Client, Session, User)> {
    let not_found = || ApiError(Error::not_found_id("session", id));
    let client = identity.client.clone().ok_or_else(not_found)?;
    let session_id = SessionId::parse(id).ok_or_else(not_found)?;
    let mut conn = state.store.read().await?;
    let session = sessions::get(&mut conn, &session_id)
        .await?
        .ok_or_else(not_found)?;
    if session.client_id != client.id {
        return Err(not_found());
    }
    let user = users::get(&mut conn, &session.user_id)
        .await?
        .ok_or_else(not_found)?;
    Ok((client, session, user))
}

/// Ended, removed, revoked or expired sessions get 401 `signed_out`, which makes clerk-js
/// refetch the client and sign out locally.
fn signed_in(state: &AppState, session: &Session) -> ApiResult<SessionStatus> {
    present::signed_in_status(session, &state.settings, state.now())
        .ok_or_else(|| Error::SignedOut.into())
}

/// `POST /v1/client/sessions/{id}/touch`: what `setActive` sends.
pub async fn touch(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
) -> ApiResult<SessionResponse> {
    let (mut client, mut session, user) = load(&state, &identity, &id).await?;
    let status = signed_in(&state, &session)?;
    let now = state.now();
    let mut tx = state.store.begin().await?;
    if !sessions::touch(&mut tx, &session.id, now).await? {
        return Err(Error::SignedOut.into());
    }
    client.last_active_session_id = Some(session.id.clone());
    client.updated_at = now;
    clients::update(&mut tx, &client).await?;
    tx.commit().await?;
    session.last_active_at = now;
    session.updated_at = now;
    let origin = identity.origin.as_deref();
    let token = state
        .minter
        .current(&state.keys, &session, status, origin, now)?;
    let mut conn = state.store.read().await?;
    let view = client_view(&state, &mut conn, &client, origin).await?;
    Ok(Json(wire::Envelope {
        response: present::session_for_owner(&session, &user, Some(token), &state.settings, now),
        client: Some(view),
    }))
}

/// `POST /v1/client/sessions/{id}/tokens`: a fresh session token, bare `{object, jwt}`.
pub async fn tokens(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
) -> ApiResult<Json<wire::Token>> {
    let not_found = || ApiError(Error::not_found_id("session", &id));
    let client = identity.client.as_ref().ok_or_else(not_found)?;
    let session_id = SessionId::parse(&id).ok_or_else(not_found)?;
    // The hot path: one read, no user needed.
    let session = {
        let mut conn = state.store.read().await?;
        sessions::get(&mut conn, &session_id)
            .await?
            .ok_or_else(not_found)?
    };
    if session.client_id != client.id {
        return Err(not_found());
    }
    let status = signed_in(&state, &session)?;
    let jwt = state.minter.mint(
        &state.keys,
        &session,
        status,
        identity.origin.as_deref(),
        state.now(),
    )?;
    Ok(Json(wire::Token::new(jwt)))
}

/// `POST /v1/client/sessions/{id}/tokens/{template}`: JWT templates are not offered.
pub async fn template_tokens(
    Path((_, template)): Path<(String, String)>,
) -> ApiResult<Json<wire::Token>> {
    Err(Error::not_found_id("JWT template", template).into())
}

async fn finish(
    state: &AppState,
    identity: &ClientIdentity,
    id: &str,
    status: SessionStatus,
) -> ApiResult<SessionResponse> {
    let (mut client, mut session, user) = load(state, identity, id).await?;
    let now = state.now();
    let mut tx = state.store.begin().await?;
    if sessions::end(&mut tx, &session.id, status, now).await? {
        session.status = status;
        session.updated_at = now;
    }
    if client.last_active_session_id.as_ref() == Some(&session.id) {
        client.last_active_session_id = None;
    }
    client.updated_at = now;
    clients::update(&mut tx, &client).await?;
    tx.commit().await?;
    state.minter.forget(session.id.as_str());
    let view = reload(state, identity, &client.id).await?;
    if view.sessions.is_empty() {
        identity.signed_out();
    }
    Ok(Json(wire::Envelope {
        response: present::session_for_owner(&session, &user, None, &state.settings, now),
        client: Some(view),
    }))
}

/// `POST /v1/client/sessions/{id}/end`
pub async fn end(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
) -> ApiResult<SessionResponse> {
    finish(&state, &identity, &id, SessionStatus::Ended).await
}

/// `POST /v1/client/sessions/{id}/remove`
pub async fn remove(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
) -> ApiResult<SessionResponse> {
    finish(&state, &identity, &id, SessionStatus::Removed).await
}

/// `DELETE /v1/client/sessions`: signs out of everything on this client, keeping the client.
pub async fn remove_all(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
) -> ApiResult<Json<wire::Envelope<wire::Client>>> {
    let mut client = identity.require_client()?.clone();
    let now = state.now();
    let mut tx = state.store.begin().await?;
    let all = sessions::for_client(&mut tx, &client.id).await?;
    sessions::end_all_for_client(&mut tx, &client.id, SessionStatus::Removed, now).await?;
    client.last_active_session_id = None;
    client.updated_at = now;
    clients::update(&mut tx, &client).await?;
    tx.commit().await?;
    for s in &all {
        state.minter.forget(s.id.as_str());
    }
    identity.signed_out();
    let view = reload(&state, &identity, &client.id).await?;
    Ok(Json(wire::Envelope {
        response: view.clone(),
        client: Some(view),
    }))
}
