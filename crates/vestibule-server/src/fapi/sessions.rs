//! Session endpoints: `setActive` (touch), token minting, and signing out.

use super::client::reload;
use super::view::{self, Parts};
use crate::error::{ApiError, ApiResult};
use crate::identity::ClientIdentity;
use crate::present;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use vestibule_model::{Client, Error, Session, SessionId, SessionStatus, User};
use vestibule_store::{clients, sessions, sign_ins, users};
use vestibule_wire as wire;

type SessionResponse = Json<wire::Envelope<wire::Session>>;

/// The caller's client and session `id`. Sessions of other clients are "not found".
pub(super) async fn load(
    state: &AppState,
    identity: &ClientIdentity,
    id: &str,
) -> ApiResult<(Client, Session)> {
    let not_found = || ApiError(Error::not_found_id("session", id));
    let client = identity.client(state).await?.ok_or_else(not_found)?;
    let session_id = SessionId::parse(id).ok_or_else(not_found)?;
    let mut conn = state.store.read().await?;
    let session = sessions::get(&mut conn, &session_id)
        .await?
        .ok_or_else(not_found)?;
    if session.client_id != client.id {
        return Err(not_found());
    }
    Ok((client, session))
}

pub(super) async fn user_of(state: &AppState, session: &Session) -> ApiResult<User> {
    let mut conn = state.store.read().await?;
    users::get(&mut conn, &session.user_id)
        .await?
        .ok_or_else(|| Error::not_found_id("session", session.id.as_str()).into())
}

/// Ended, removed, revoked or expired sessions get 401 `signed_out`, which makes clerk-js
/// refetch the client and sign out locally.
pub(super) fn signed_in(state: &AppState, session: &Session) -> ApiResult<SessionStatus> {
    present::signed_in_status(session, &state.settings, state.now())
        .ok_or_else(|| Error::SignedOut.into())
}

/// `GET /v1/client/sessions/{id}`: what `session.reload()` asks.
pub async fn get(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
) -> ApiResult<SessionResponse> {
    let (client, session) = load(&state, &identity, &id).await?;
    let user = user_of(&state, &session).await?;
    let now = state.now();
    let token = match present::signed_in_status(&session, &state.settings, now) {
        Some(status) => Some(state.minter.current(
            &state.keys,
            &session,
            status,
            identity.origin.as_deref(),
            now,
        )?),
        None => None,
    };
    let view = reload(&state, &identity, &client.id).await?;
    Ok(Json(wire::Envelope {
        response: present::session_for_owner(&session, &user, token, &state.settings, now),
        client: Some(view),
    }))
}

/// `POST /v1/client/sessions/{id}/touch`: what `setActive` sends.
pub async fn touch(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
) -> ApiResult<SessionResponse> {
    let not_found = || ApiError(Error::not_found_id("session", &id));
    let mut client = identity.client(&state).await?.ok_or_else(not_found)?;
    let session_id = SessionId::parse(&id).ok_or_else(not_found)?;
    // One read of the client's sessions serves the lookup and the response.
    let mut conn = state.store.read().await?;
    let mut all = sessions::for_client(&mut conn, &client.id).await?;
    let position = all
        .iter()
        .position(|s| s.id == session_id)
        .ok_or_else(not_found)?;
    let status = signed_in(&state, &all[position])?;
    let sign_in = match &client.sign_in_id {
        Some(sid) => sign_ins::get(&mut conn, sid).await?.map(|(si, _)| si),
        None => None,
    };
    drop(conn);

    let now = state.now();
    let newly_active = client.last_active_session_id.as_ref() != Some(&session_id);
    let mut tx = state.store.begin().await?;
    if !sessions::touch(&mut tx, &session_id, now).await? {
        return Err(Error::SignedOut.into());
    }
    if newly_active {
        client.last_active_session_id = Some(session_id.clone());
        client.updated_at = now;
        clients::update(&mut tx, &client).await?;
    }
    tx.commit().await?;

    let session = &mut all[position];
    session.last_active_at = now;
    session.updated_at = now;
    let session = session.clone();
    let origin = identity.origin.as_deref();
    let mut conn = state.store.read().await?;
    let user = users::get(&mut conn, &session.user_id)
        .await?
        .ok_or_else(not_found)?;
    let token = state
        .minter
        .current(&state.keys, &session, status, origin, now)?;
    let response = present::session_for_owner(&session, &user, Some(token), &state.settings, now);
    let parts = Parts {
        client: &client,
        sessions: all,
        sign_in,
        users: vec![user],
    };
    let view = view::build(&state, &mut conn, parts, origin).await?;
    Ok(Json(wire::Envelope {
        response,
        client: Some(view),
    }))
}

/// `POST /v1/client/sessions/{id}/tokens`: a fresh session token, bare `{object, jwt}`.
/// The hot path: one read checks that the session exists, belongs to the caller's client and is
/// signed in.
pub async fn tokens(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
) -> ApiResult<Json<wire::Token>> {
    let not_found = || ApiError(Error::not_found_id("session", &id));
    let session_id = SessionId::parse(&id).ok_or_else(not_found)?;
    let session = match identity.client_token_hash() {
        Some(hash) => sessions::find_for_client_token(&state.store, hash, &session_id)
            .await?
            .ok_or_else(not_found)?,
        None => load(&state, &identity, &id).await?.1,
    };
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
    let (mut client, mut session) = load(state, identity, id).await?;
    let user = user_of(state, &session).await?;
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
    let mut client = identity.require_client(&state).await?;
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
