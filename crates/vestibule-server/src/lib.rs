//! Vestibule's HTTP server: Clerk's Frontend API, the user/session Backend API, and JWKS.

pub mod bapi;
pub mod codes;
pub mod config;
pub mod error;
pub mod fapi;
pub mod fields;
pub(crate) mod guesses;
pub mod identity;
pub mod instance;
pub mod keys;
pub mod limits;
pub mod messages;
pub mod mfa;
pub mod params;
pub mod passkeys;
pub mod passwords;
pub mod present;
pub mod provider_keys;
pub mod secrets;
pub mod state;
pub(crate) mod steps;
pub mod tokens;

use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::future::Future;
use std::time::Duration;
use tower::ServiceExt;
use vestibule_model::Error;

pub use config::Config;
pub use state::{AppState, Deps};

/// Every route. Method tunnelling (`POST …?_method=PATCH`) is applied by [`service`], which must
/// wrap this router because routing happens before any layer inside it sees the request.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(fapi::router(state.clone()))
        .merge(bapi::router(state.clone()))
        .route("/.well-known/jwks.json", get(public_jwks))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .layer(axum::middleware::from_fn(log_request))
        .with_state(state)
}

/// The complete HTTP service: method tunnelling around the router.
pub fn service(
    state: AppState,
) -> axum::extract::connect_info::IntoMakeServiceWithConnectInfo<Router, std::net::SocketAddr> {
    let routes = router(state.clone());
    Router::new()
        .fallback_service(tower::service_fn(move |req: Request| {
            let routes = routes.clone();
            let state = state.clone();
            async move {
                if req.method() == Method::OPTIONS {
                    return Ok(identity::preflight(&state, req.headers()));
                }
                routes.oneshot(tunnel_method(req)).await
            }
        }))
        .into_make_service_with_connect_info::<std::net::SocketAddr>()
}

/// clerk-js sends PATCH, PUT and DELETE as `POST` with `_method=…` in the query, to avoid CORS
/// preflights.
pub fn tunnel_method(mut req: Request) -> Request {
    if req.method() != Method::POST {
        return req;
    }
    let tunnelled = req.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "_method")
            .map(|(_, v)| v.to_ascii_uppercase())
    });
    match tunnelled.as_deref() {
        Some("PATCH") => *req.method_mut() = Method::PATCH,
        Some("PUT") => *req.method_mut() = Method::PUT,
        Some("DELETE") => *req.method_mut() = Method::DELETE,
        Some("GET") => *req.method_mut() = Method::GET,
        _ => {}
    }
    req
}

async fn public_jwks(State(state): State<AppState>) -> Json<vestibule_crypto::Jwks> {
    Json(state.keys.jwks())
}

async fn not_found(req: Request) -> ApiError {
    ApiError(Error::not_found_id("route", req.uri().path()))
}

async fn method_not_allowed() -> ApiError {
    ApiError(Error::MethodNotAllowed)
}

fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError(Error::internal("a request handler panicked")).into_response()
}

/// Logs method, path and status. Never the query string: it can carry dev-browser tokens.
async fn log_request(req: Request, next: axum::middleware::Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(req).await;
    tracing::info!(%method, %path, status = response.status().as_u16(), micros = started.elapsed().as_micros() as u64, "request");
    response
}

/// Serves until `shutdown` resolves, with housekeeping in the background.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Aborted when serving ends or this future is dropped, so no background work outlives it.
    let _housekeeping = AbortOnDrop(tokio::spawn(housekeeping(state.clone())));
    let (stop_courier, courier_stopped) = tokio::sync::oneshot::channel::<()>();
    let courier = state.courier.clone();
    let mut delivering = AbortOnDrop(tokio::spawn(async move {
        courier
            .run(async {
                let _ = courier_stopped.await;
            })
            .await;
    }));
    let result = axum::serve(listener, service(state))
        .with_graceful_shutdown(shutdown)
        .await;
    // Let the courier finish the round it is in, so no message waits for its lease to run out.
    let _ = stop_courier.send(());
    // One SMTP send can take ~40 s (connect, STARTTLS, reply timeouts).
    let _ = tokio::time::timeout(Duration::from_secs(45), &mut delivering.0).await;
    result
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Periodic work every node does: pick up key rotations, record expired sessions, forget
/// abandoned sign-ins and long-retired keys.
async fn housekeeping(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(keys::REFRESH_EVERY_SECONDS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = state.keys.refresh(&state.store, state.clock.as_ref()).await {
            tracing::warn!(error = %e, "refreshing signing keys failed");
        }
        if let Err(e) = sweep(&state).await {
            tracing::warn!(error = %e, "housekeeping failed");
        }
    }
}

/// One round of cleanup; public so tests can run it without waiting.
pub async fn sweep(state: &AppState) -> Result<(), vestibule_store::StoreError> {
    let now = state.now();
    let mut tx = state.store.begin().await?;
    vestibule_store::sessions::expire(
        &mut tx,
        now,
        state.settings.sessions.inactivity_timeout_seconds,
    )
    .await?;
    vestibule_store::sign_ins::delete_abandoned(&mut tx, now.plus_seconds(-24 * 3600)).await?;
    vestibule_store::verifications::delete_expired(&mut tx, now.plus_seconds(-24 * 3600)).await?;
    vestibule_store::session_verifications::delete_expired(&mut tx, now.plus_seconds(-24 * 3600))
        .await?;
    vestibule_store::rate_limits::delete_stale(&mut tx, now.plus_seconds(-3600)).await?;
    vestibule_store::id_tokens::delete_expired(&mut tx, now).await?;
    vestibule_store::passkeys::delete_expired_registrations(&mut tx, now).await?;
    vestibule_store::keys::delete_retired_before(
        &mut tx,
        now.plus_seconds(-keys::RETIRED_KEY_DELETED_AFTER_SECONDS),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
