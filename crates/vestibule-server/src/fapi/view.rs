//! The Client object every FAPI response carries: signed-in sessions with fresh tokens, and the
//! sign-in in progress.

use crate::error::ApiResult;
use crate::present;
use crate::state::AppState;
use vestibule_model::{Client, SignInStatus, User, UserId};
use vestibule_store::{sessions, sign_ins, users, Connection};
use vestibule_wire as wire;

pub async fn client_view(
    state: &AppState,
    conn: &mut Connection,
    client: &Client,
    origin: Option<&str>,
) -> ApiResult<wire::Client> {
    let now = state.now();
    let settings = &state.settings;
    let signed_in: Vec<_> = sessions::for_client(conn, &client.id)
        .await?
        .into_iter()
        .filter_map(|s| present::signed_in_status(&s, settings, now).map(|status| (s, status)))
        .collect();
    let mut sign_in = None;
    let mut sign_in_user: Option<UserId> = None;
    if let Some(id) = &client.sign_in_id {
        if let Some((si, _)) = sign_ins::get(conn, id).await? {
            if si.status == SignInStatus::Complete || !si.is_abandoned(now) {
                sign_in_user = si.user_id.clone();
                sign_in = Some(si);
            }
        }
    }
    let mut ids: Vec<UserId> = signed_in.iter().map(|(s, _)| s.user_id.clone()).collect();
    ids.extend(sign_in_user);
    ids.sort();
    ids.dedup();
    let found: Vec<User> = users::get_many(conn, &ids).await?;
    let user = |id: &UserId| found.iter().find(|u| &u.id == id);

    let mut wire_sessions = Vec::with_capacity(signed_in.len());
    for (s, status) in &signed_in {
        let Some(u) = user(&s.user_id) else { continue };
        let token = state.minter.current(&state.keys, s, *status, origin, now)?;
        wire_sessions.push(present::session_for_owner(s, u, Some(token), settings, now));
    }
    let wire_sign_in = sign_in.map(|si| {
        let u = si.user_id.as_ref().and_then(user);
        present::sign_in(&si, u, settings)
    });
    Ok(present::client(client, wire_sessions, wire_sign_in))
}
