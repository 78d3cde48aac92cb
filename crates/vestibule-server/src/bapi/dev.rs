//! `GET /v1/dev/messages`: the development inbox. Every email and SMS a development instance
//! sends can be read here, codes and links included, so tests and local developers can sign in
//! without a real mailbox. Production instances have no such endpoint.

use crate::error::ApiResult;
use crate::params::Params;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use vestibule_courier::InboxEntry;
use vestibule_model::identifier::{normalize_email, normalize_phone};
use vestibule_model::{Error, InstanceMode};

pub async fn messages(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<Json<vestibule_wire::Paginated<InboxEntry>>> {
    if state.instance.mode != InstanceMode::Development {
        return Err(Error::not_found("development inbox").into());
    }
    params.only(&["recipient", "limit"])?;
    // Recipients are stored normalised; accept them as people type them.
    let recipient = params.non_empty("recipient")?.map(|r| {
        normalize_email(r)
            .or_else(|| normalize_phone(r))
            .unwrap_or_else(|| r.to_owned())
    });
    let limit = params.int("limit", 1..=200)?.unwrap_or(20);
    let data = state
        .courier
        .inbox(recipient.as_deref(), limit)
        .await
        .map_err(|e| Error::internal(format!("reading the inbox: {e}")))?;
    Ok(Json(vestibule_wire::Paginated {
        total_count: i64::try_from(data.len()).unwrap_or(i64::MAX),
        data,
    }))
}
