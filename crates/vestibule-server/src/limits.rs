//! Who is asking, by network address, and the rate limits on what they can repeat.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::Response;
use std::net::{IpAddr, SocketAddr};
use vestibule_model::rate_limit::{Limit, LimitKey};
use vestibule_model::Error;
use vestibule_store::rate_limits;

/// The requester's address: the TCP peer, or, behind a proxy the operator trusts, the address that
/// proxy reports in `trusted_proxy_header` (its last entry, the one the proxy itself added).
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

pub async fn client_ip(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let forwarded = state.trusted_proxy_header.as_deref().and_then(|h| {
        req.headers()
            .get_all(h)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .last()
            .and_then(|v| v.trim().parse::<IpAddr>().ok())
    });
    let ip = forwarded
        .or(peer)
        .map(|ip| ip.to_string())
        .unwrap_or_else(|| "unknown".into());
    req.extensions_mut().insert(ClientIp(ip));
    next.run(req).await
}

/// Counts one event against `key`'s limit; refuses with 429 and the seconds to wait once the
/// limit is reached. Identifiers are hashed before they become keys.
pub async fn check(state: &AppState, key: LimitKey) -> Result<(), ApiError> {
    check_all(state, [key]).await
}

/// [`check`] for every key at once, in one statement: a request subject to several limits costs
/// one round trip and one commit. Every key is counted, even when one refuses the request; the
/// wait is until the last of the reached limits opens again.
pub async fn check_all(
    state: &AppState,
    keys: impl IntoIterator<Item = LimitKey>,
) -> Result<(), ApiError> {
    let settings = &state.settings.rate_limits;
    if !settings.enabled {
        return Ok(());
    }
    let limited: Vec<(String, Limit)> = keys
        .into_iter()
        .map(|key| (stored_key(&key), key.limit(settings)))
        .collect();
    let windows: Vec<(&str, i64)> = limited
        .iter()
        .map(|(key, limit)| (key.as_str(), limit.window_seconds))
        .collect();
    let now = state.now();
    let counted = rate_limits::hit_all(&mut *state.store.write().await?, &windows, now).await?;
    let reopens = limited
        .iter()
        .zip(counted)
        .filter(|((_, limit), (count, _))| *count > limit.max)
        .map(|(_, (_, window_ends))| window_ends)
        .max();
    match reopens {
        Some(window_ends) => Err(Error::TooManyRequests {
            retry_after_seconds: u64::try_from(now.seconds_until(window_ends))
                .unwrap_or(1)
                .max(1),
        }
        .into()),
        None => Ok(()),
    }
}

fn stored_key(key: &LimitKey) -> String {
    match key {
        LimitKey::SignInCreateByIdentifier(_) | LimitKey::MessagesToIdentification(_) => {
            vestibule_crypto::token_hash(&key.as_string())
        }
        _ => key.as_string(),
    }
}
