//! `/v1/sessions`: listing, reading and revoking sessions.

use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use crate::present;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use vestibule_model::{ClientId, Error, Session, SessionId, SessionStatus, UserId};
use vestibule_store::sessions;

/// `GET /v1/sessions`: `{data, total_count}` with `paginated=true` (as @clerk/backend always
/// asks), a bare array otherwise.
pub async fn list(State(state): State<AppState>, params: Params) -> ApiResult<Response> {
    params.only(&[
        "user_id",
        "client_id",
        "status",
        "limit",
        "offset",
        "paginated",
    ])?;
    let user_id = match params.non_empty("user_id")? {
        Some(u) => Some(
            UserId::parse(u)
                .ok_or_else(|| Error::param_format_invalid("user_id", "is not a user id"))?,
        ),
        None => None,
    };
    let client_id = match params.non_empty("client_id")? {
        Some(c) => Some(
            ClientId::parse(c)
                .ok_or_else(|| Error::param_format_invalid("client_id", "is not a client id"))?,
        ),
        None => None,
    };
    if user_id.is_none() && client_id.is_none() {
        return Err(Error::param_missing("user_id").into());
    }
    let status = match params.non_empty("status")? {
        Some(s) => Some(SessionStatus::parse(s).ok_or_else(|| {
            Error::param_value_invalid("status", format!("{s:?} is not a session status"))
        })?),
        None => None,
    };
    let filter = sessions::ListFilter {
        user_id,
        client_id,
        status,
        limit: params.int("limit", 1..=500)?.unwrap_or(10),
        offset: params.int("offset", 0..=i64::MAX)?.unwrap_or(0),
    };
    let mut conn = state.store.read().await?;
    let (found, total) = sessions::list(&mut conn, &filter).await?;
    let now = state.now();
    let data: Vec<_> = found
        .iter()
        .map(|s| present::session_for_operator(s, &state.settings, now))
        .collect();
    if params.bool("paginated")?.unwrap_or(false) {
        Ok(Json(vestibule_wire::Paginated {
            data,
            total_count: total,
        })
        .into_response())
    } else {
        Ok(Json(data).into_response())
    }
}

async fn load(state: &AppState, id: &str) -> ApiResult<Session> {
    let not_found = || ApiError(Error::not_found_id("session", id));
    let sid = SessionId::parse(id).ok_or_else(not_found)?;
    let mut conn = state.store.read().await?;
    sessions::get(&mut conn, &sid).await?.ok_or_else(not_found)
}

pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<vestibule_wire::Session>> {
    let s = load(&state, &id).await?;
    Ok(Json(present::session_for_operator(
        &s,
        &state.settings,
        state.now(),
    )))
}

/// `POST /v1/sessions/{id}/revoke`: the session mints no more tokens.
pub async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Json<vestibule_wire::Session>> {
    params.only(&[])?;
    let mut s = load(&state, &id).await?;
    let now = state.now();
    let mut tx = state.store.begin().await?;
    if sessions::end(&mut tx, &s.id, SessionStatus::Revoked, now).await? {
        s.status = SessionStatus::Revoked;
        s.updated_at = now;
    }
    tx.commit().await?;
    state.minter.forget(s.id.as_str());
    Ok(Json(present::session_for_operator(
        &s,
        &state.settings,
        now,
    )))
}
