//! Rendering the message a code or link travels in, and queueing it in the caller's transaction.

use crate::error::ApiResult;
use crate::state::AppState;
use vestibule_courier::{Purpose, Vars};
use vestibule_model::{Channel, Error, Strategy};
use vestibule_store::Connection;

/// What a message carries.
pub enum Secret<'a> {
    Code(&'a str),
    Link(&'a str),
}

/// Queues the message for `purpose` to `to` inside `tx`, by email or SMS as `strategy` says; the
/// caller commits, then wakes the courier (see [`sent`]).
pub async fn queue(
    state: &AppState,
    tx: &mut Connection,
    purpose: Purpose,
    strategy: &Strategy,
    to: &str,
    secret: Secret<'_>,
    lifetime_seconds: i64,
) -> ApiResult<()> {
    let mut vars = Vars {
        application_name: state.settings.application_name.clone(),
        expires_in_minutes: u32::try_from((lifetime_seconds + 59) / 60).unwrap_or(10),
        ..Vars::default()
    };
    match secret {
        Secret::Code(c) => vars.code = c.to_owned(),
        Secret::Link(l) => vars.link = l.to_owned(),
    }
    let message = if strategy.channel() == Some(Channel::Email) {
        state.templates.render_email(purpose, to, &vars)
    } else {
        state.templates.render_sms(purpose, to, &vars)
    };
    state
        .courier
        .enqueue(tx, &message)
        .await
        .map_err(|e| Error::internal(format!("queueing a message: {e}")))?;
    Ok(())
}

/// After the transaction that queued messages committed: deliver now rather than at the next poll.
pub fn sent(state: &AppState) {
    state.courier.wake();
}
