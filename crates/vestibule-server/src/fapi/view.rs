//! The Client object every FAPI response carries: signed-in sessions with fresh tokens, and the
//! sign-in in progress. Handlers that already hold the pieces build it without reading them again.

use crate::error::ApiResult;
use crate::present;
use crate::state::AppState;
use vestibule_model::{Client, Session, SessionStatus, SignIn, SignInStatus, User, UserId};
use vestibule_store::{sessions, sign_ins, users, Connection};
use vestibule_wire as wire;

/// What a client view is made of.
pub struct Parts<'a> {
    pub client: &'a Client,
    /// The client's sessions (any status; only signed-in ones are shown).
    pub sessions: Vec<Session>,
    pub sign_in: Option<SignIn>,
    /// Users already at hand; others are loaded.
    pub users: Vec<User>,
}

/// Loads everything from the store.
pub async fn client_view(
    state: &AppState,
    conn: &mut Connection,
    client: &Client,
    origin: Option<&str>,
) -> ApiResult<wire::Client> {
    let sessions = sessions::for_client(conn, &client.id).await?;
    let sign_in = match &client.sign_in_id {
        Some(id) => sign_ins::get(conn, id).await?.map(|(si, _)| si),
        None => None,
    };
    build(
        state,
        conn,
        Parts {
            client,
            sessions,
            sign_in,
            users: Vec::new(),
        },
        origin,
    )
    .await
}

/// Builds the view from `parts`, reading only users it lacks.
pub async fn build(
    state: &AppState,
    conn: &mut Connection,
    parts: Parts<'_>,
    origin: Option<&str>,
) -> ApiResult<wire::Client> {
    let now = state.now();
    let settings = &state.settings;
    let signed_in: Vec<(Session, SessionStatus)> = parts
        .sessions
        .into_iter()
        .filter_map(|s| present::signed_in_status(&s, settings, now).map(|status| (s, status)))
        .collect();
    let sign_in = parts
        .sign_in
        .filter(|si| si.status() == SignInStatus::Complete || !si.is_abandoned(now));
    let mut users = parts.users;
    let mut missing: Vec<UserId> = signed_in
        .iter()
        .map(|(s, _)| s.user_id.clone())
        .chain(sign_in.as_ref().and_then(|si| si.user_id().cloned()))
        .filter(|id| !users.iter().any(|u| &u.id == id))
        .collect();
    missing.sort();
    missing.dedup();
    if !missing.is_empty() {
        users.extend(users::get_many(conn, &missing).await?);
    }
    let user = |id: &UserId| users.iter().find(|u| &u.id == id);

    let mut wire_sessions = Vec::with_capacity(signed_in.len());
    for (s, status) in &signed_in {
        let Some(u) = user(&s.user_id) else { continue };
        let token = state.minter.current(&state.keys, s, *status, origin, now)?;
        wire_sessions.push(present::session_for_owner(s, u, Some(token), settings, now));
    }
    let wire_sign_in = match sign_in {
        Some(si) => {
            let u = si.user_id().and_then(user);
            Some(super::sign_ins::present_sign_in(state, conn, &si, u).await?)
        }
        None => None,
    };
    Ok(present::client(parts.client, wire_sessions, wire_sign_in))
}
