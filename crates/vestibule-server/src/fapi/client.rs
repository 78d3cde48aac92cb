//! The client itself, the environment and dev browsers.

use super::view::client_view;
use crate::error::ApiResult;
use crate::identity::{create_dev_browser as new_dev_browser, ClientIdentity};
use crate::present;
use crate::state::AppState;
use axum::extract::State;
use axum::{Extension, Json};
use vestibule_model::{Error, InstanceMode, SessionStatus};
use vestibule_store::{clients, sessions};
use vestibule_wire as wire;

/// `GET|PATCH /v1/environment`: the bare environment, as real FAPI answers it.
pub async fn environment(State(state): State<AppState>) -> Json<wire::Environment> {
    Json(present::environment(&state.settings, &state.instance))
}

/// `POST /v1/dev_browser` (development instances only).
pub async fn create_dev_browser(
    State(state): State<AppState>,
) -> ApiResult<Json<wire::DevBrowser>> {
    if state.instance.mode != InstanceMode::Development {
        return Err(Error::not_found("dev browser endpoint").into());
    }
    let id = new_dev_browser(&state).await?;
    Ok(Json(wire::DevBrowser {
        object: "dev_browser".into(),
        id,
    }))
}

/// `GET /v1/client`: `{response: Client|null, client: null}`.
pub async fn get_client(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
) -> ApiResult<Json<wire::Envelope<Option<wire::Client>>>> {
    let response = match identity.client(&state).await? {
        Some(c) => {
            let mut conn = state.store.read().await?;
            Some(client_view(&state, &mut conn, &c, identity.origin.as_deref()).await?)
        }
        None => None,
    };
    Ok(Json(wire::Envelope {
        response,
        client: None,
    }))
}

/// `PUT /v1/client`: a new, empty client for this caller.
pub async fn put_client(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
) -> ApiResult<Json<wire::Envelope<wire::Client>>> {
    let mut tx = state.store.begin().await?;
    let client = identity.create_client(&state, &mut tx).await?;
    tx.commit().await?;
    let view = present::client(&client, Vec::new(), None);
    Ok(Json(wire::Envelope {
        response: view.clone(),
        client: Some(view),
    }))
}

/// `DELETE /v1/client`: ends every session of the client and forgets it.
pub async fn delete_client(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
) -> ApiResult<Json<wire::Envelope<Option<wire::Client>>>> {
    let Some(client) = identity.client(&state).await? else {
        identity.clear();
        return Ok(Json(wire::Envelope {
            response: None,
            client: None,
        }));
    };
    let now = state.now();
    let mut tx = state.store.begin().await?;
    let ended: Vec<_> = sessions::for_client(&mut tx, &client.id).await?;
    sessions::end_all_for_client(&mut tx, &client.id, SessionStatus::Ended, now).await?;
    clients::delete(&mut tx, &client.id).await?;
    tx.commit().await?;
    for s in &ended {
        state.minter.forget(s.id.as_str());
    }
    identity.clear();
    let mut gone = client;
    gone.sign_in_id = None;
    gone.last_active_session_id = None;
    gone.updated_at = now;
    Ok(Json(wire::Envelope {
        response: Some(present::client(&gone, Vec::new(), None)),
        client: None,
    }))
}

pub(crate) async fn reload(
    state: &AppState,
    identity: &ClientIdentity,
    client_id: &vestibule_model::ClientId,
) -> ApiResult<wire::Client> {
    let mut conn = state.store.read().await?;
    let client = clients::get(&mut conn, client_id)
        .await?
        .ok_or_else(|| Error::internal("client vanished after commit"))?;
    client_view(state, &mut conn, &client, identity.origin.as_deref()).await
}
