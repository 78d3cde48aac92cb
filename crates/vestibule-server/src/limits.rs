//! Who is asking, by network address, and the rate limits on what they can repeat.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::Response;
use std::net::{IpAddr, SocketAddr};
use vestibule_model::rate_limit::{LimitKey, RateLimitSettings};
use vestibule_model::{Error, Timestamp};
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

/// [`check`] for each key in order, in one write: a request subject to several limits costs one
/// commit, not one per limit. The first limit reached refuses the request; the keys after it are
/// not counted, as if checked one by one.
pub async fn check_all(
    state: &AppState,
    keys: impl IntoIterator<Item = LimitKey>,
) -> Result<(), ApiError> {
    let settings = &state.settings.rate_limits;
    if !settings.enabled {
        return Ok(());
    }
    let keys: Vec<LimitKey> = keys.into_iter().collect();
    let now = state.now();
    let refused = if keys.len() == 1 {
        count(&mut *state.store.write().await?, &keys, settings, now).await?
    } else {
        let mut tx = state.store.begin().await?;
        let refused = count(&mut tx, &keys, settings, now).await?;
        tx.commit().await?;
        refused
    };
    match refused {
        Some(window_ends) => Err(Error::TooManyRequests {
            retry_after_seconds: u64::try_from(now.seconds_until(window_ends))
                .unwrap_or(1)
                .max(1),
        }
        .into()),
        None => Ok(()),
    }
}

/// Counts `keys` up to the first whose limit is reached; returns when that one's window ends.
async fn count(
    conn: &mut vestibule_store::Connection,
    keys: &[LimitKey],
    settings: &RateLimitSettings,
    now: Timestamp,
) -> Result<Option<Timestamp>, vestibule_store::StoreError> {
    for key in keys {
        let limit = key.limit(settings);
        let (count, window_ends) =
            rate_limits::hit(conn, &stored_key(key), now, limit.window_seconds).await?;
        if count > limit.max {
            return Ok(Some(window_ends));
        }
    }
    Ok(None)
}

fn stored_key(key: &LimitKey) -> String {
    match key {
        LimitKey::SignInCreateByIdentifier(_) | LimitKey::MessagesToIdentification(_) => {
            vestibule_crypto::token_hash(&key.as_string())
        }
        _ => key.as_string(),
    }
}
