//! Who is asking, by network address, and the rate limits on what they can repeat.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::Response;
use std::net::{IpAddr, SocketAddr};
use vestibule_model::rate_limit::LimitKey;
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
    let settings = &state.settings.rate_limits;
    if !settings.enabled {
        return Ok(());
    }
    let limit = key.limit(settings);
    let stored_key = match &key {
        LimitKey::SignInCreateByIdentifier(_) | LimitKey::MessagesToIdentification(_) => {
            vestibule_crypto::token_hash(&key.as_string())
        }
        _ => key.as_string(),
    };
    let now = state.now();
    let mut conn = state.store.write().await?;
    let (count, window_ends) =
        rate_limits::hit(&mut conn, &stored_key, now, limit.window_seconds).await?;
    if count > limit.max {
        let retry_after_seconds = u64::try_from(now.seconds_until(window_ends))
            .unwrap_or(1)
            .max(1);
        return Err(Error::TooManyRequests {
            retry_after_seconds,
        }
        .into());
    }
    Ok(())
}
