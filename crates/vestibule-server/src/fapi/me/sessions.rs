//! The user's own sessions on every device, as clerk-js's `User.getSessions()` lists them and
//! `SessionWithActivities.revoke()` ends one.

use super::{current, envelope, Me};
use crate::error::ApiResult;
use crate::identity::ClientIdentity;
use crate::mfa;
use crate::present;
use crate::state::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::{Extension, Json};
use vestibule_model::{Error, Session, SessionId, SessionStatus, User};
use vestibule_store::sessions::{self, ListFilter};
use vestibule_wire as wire;

/// Sessions one list shows at most, newest first.
const MAX_LISTED: i64 = 100;

async fn of_user(state: &AppState, user: &User) -> ApiResult<Vec<Session>> {
    let mut conn = state.store.read().await?;
    let (found, _) = sessions::list(
        &mut conn,
        &ListFilter {
            user_id: Some(user.id.clone()),
            limit: MAX_LISTED,
            ..ListFilter::default()
        },
    )
    .await?;
    Ok(found)
}

fn listed(
    state: &AppState,
    found: impl IntoIterator<Item = Session>,
) -> Json<Vec<wire::SessionWithActivities>> {
    let now = state.now();
    Json(
        found
            .into_iter()
            .map(|s| present::session_with_activities(&s, &state.settings, now))
            .collect(),
    )
}

/// `GET /v1/me/sessions`: every session of the user's, ended ones too. A bare array, as
/// clerk-js reads it.
pub async fn list(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Vec<wire::SessionWithActivities>>> {
    let Me { user, .. } = current(&state, &identity, query.as_deref()).await?;
    let found = of_user(&state, &user).await?;
    Ok(listed(&state, found))
}

/// `GET /v1/me/sessions/active`: the user's signed-in sessions (what `getSessions()` asks for).
pub async fn active(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Vec<wire::SessionWithActivities>>> {
    let Me { user, .. } = current(&state, &identity, query.as_deref()).await?;
    let now = state.now();
    let found = of_user(&state, &user).await?;
    let signed_in = found
        .into_iter()
        .filter(|s| present::signed_in_status(s, &state.settings, now).is_some());
    Ok(listed(&state, signed_in))
}

/// `POST /v1/me/sessions/{id}/revoke`: ends one of the user's own sessions, on whichever device
/// it is, after a recent verification (as Clerk's UI asks for one).
pub async fn revoke(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<wire::Envelope<wire::SessionWithActivities>>> {
    let Me {
        client,
        session,
        user,
    } = current(&state, &identity, query.as_deref()).await?;
    mfa::check_recent_verification(&state, &session, &user, state.now())?;
    let not_found = || Error::not_found_id("session", id.as_str());
    let target_id = SessionId::parse(&id).ok_or_else(not_found)?;
    let mut conn = state.store.read().await?;
    // Another user's session is as unknown as one that never existed.
    let target = sessions::get(&mut conn, &target_id)
        .await?
        .filter(|s| s.user_id == user.id)
        .ok_or_else(not_found)?;
    drop(conn);
    let now = state.now();
    let mut tx = state.store.begin().await?;
    sessions::end(&mut tx, &target.id, SessionStatus::Revoked, now).await?;
    tx.commit().await?;
    let mut conn = state.store.read().await?;
    let target = sessions::get(&mut conn, &target.id)
        .await?
        .ok_or_else(not_found)?;
    drop(conn);
    let response = present::session_with_activities(&target, &state.settings, now);
    envelope(&state, &identity, &client, response).await
}
