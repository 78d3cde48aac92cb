//! Who is asking the Frontend API, and how to answer them.
//!
//! A client is identified one of three ways, as clerk-js and its wrappers do it:
//! - **native**: `_is_native=1` and an `Authorization` header carrying the client token (returned
//!   in the `authorization` response header whenever it changes, echoed otherwise);
//! - **dev browser** (development instances): `?__clerk_db_jwt=<token>` naming a dev browser bound
//!   to a client; a rotated token goes back in `Clerk-Db-Jwt`;
//! - **cookie**: the HttpOnly `__client` cookie.
//!
//! Tokens are random 256-bit strings; the store keeps only their SHA-256. New or rotated tokens
//! are written to the response only when it succeeds, so a failed request never hands one out.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, COOKIE, ORIGIN, SET_COOKIE, VARY};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;
use vestibule_crypto::{random_token, token_hash};
use vestibule_model::{Client, ClientId, Error, InstanceMode};
use vestibule_store::{clients, Connection};

pub const CLIENT_COOKIE: &str = "__client";
pub const CLIENT_UAT_COOKIE: &str = "__client_uat";
pub const DEV_BROWSER_PARAM: &str = "__clerk_db_jwt";
pub const DEV_BROWSER_HEADER: &str = "clerk-db-jwt";
/// Random bytes in a client or dev-browser token (256 bits).
const TOKEN_BYTES: usize = 32;
/// The `__client` cookie lives a year: a client outlives its sessions (client trust relies on it).
const CLIENT_COOKIE_MAX_AGE: i64 = 365 * 24 * 3600;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Carrier {
    Cookie,
    Native { presented: Option<String> },
    DevBrowser { token_hash: String },
}

#[derive(Default, Debug)]
struct Issued {
    client_token: Option<String>,
    dev_browser_token: Option<String>,
    /// The client is gone: clear the cookie.
    cleared: bool,
    /// `__client_uat` value to set (production cookie mode).
    client_uat: Option<i64>,
}

/// The requesting client, put in request extensions by [`fapi_identity`]. The client itself is
/// read on first use, so endpoints that never need it (or that check it within a larger query,
/// as the token endpoint does) cost no lookup.
#[derive(Debug, Clone)]
pub struct ClientIdentity {
    pub carrier: Carrier,
    /// SHA-256 of the presented client token (cookie or native).
    token_hash: Option<String>,
    client: Arc<OnceCell<Option<Client>>>,
    /// The `Origin` header, if the caller is a browser; the session token's `azp`.
    pub origin: Option<String>,
    issued: Arc<Mutex<Issued>>,
}

impl ClientIdentity {
    /// The caller's client, if it has one.
    pub async fn client(&self, state: &AppState) -> Result<Option<Client>, ApiError> {
        let found = self
            .client
            .get_or_try_init(|| async {
                match &self.token_hash {
                    Some(hash) => {
                        let mut conn = state.store.read().await?;
                        Ok::<_, ApiError>(clients::by_token_hash(&mut conn, hash).await?)
                    }
                    None => Ok(None),
                }
            })
            .await?;
        Ok(found.clone())
    }

    pub async fn require_client(&self, state: &AppState) -> Result<Client, ApiError> {
        self.client(state)
            .await?
            .ok_or_else(|| Error::ClientNotFound.into())
    }

    /// The hash of the client token presented, for lookups that join on it.
    pub fn client_token_hash(&self) -> Option<&str> {
        self.token_hash.as_deref()
    }

    fn with_issued(&self, f: impl FnOnce(&mut Issued)) {
        if let Ok(mut g) = self.issued.lock() {
            f(&mut g);
        }
    }

    /// Inserts `client` for this caller inside `tx`, as it is (pointers included). Its token is
    /// handed out if the request succeeds.
    pub async fn insert_client(
        &self,
        state: &AppState,
        tx: &mut Connection,
        client: &Client,
    ) -> Result<(), ApiError> {
        let token = random_token(state.rng.as_ref(), TOKEN_BYTES);
        clients::insert(tx, client, &token_hash(&token)).await?;
        if let Carrier::DevBrowser { token_hash } = &self.carrier {
            clients::bind_dev_browser(tx, token_hash, &client.id).await?;
        }
        let uat = client.updated_at.seconds();
        self.with_issued(|i| {
            i.client_token = Some(token);
            i.client_uat = Some(uat);
        });
        Ok(())
    }

    /// A new, empty client for this caller.
    pub async fn create_client(
        &self,
        state: &AppState,
        tx: &mut Connection,
    ) -> Result<Client, ApiError> {
        let client = Client::new(ClientId::generate(state.rng.as_ref()), state.now());
        self.insert_client(state, tx, &client).await?;
        Ok(client)
    }

    /// Writes `client` with a new token (and a new dev-browser token) inside `tx`: on every
    /// sign-in, so a token planted before it (session fixation) is worthless after.
    pub async fn save_with_new_token(
        &self,
        state: &AppState,
        tx: &mut Connection,
        client: &Client,
    ) -> Result<(), ApiError> {
        let token = random_token(state.rng.as_ref(), TOKEN_BYTES);
        if !clients::update_with_token(tx, client, &token_hash(&token)).await? {
            return Err(Error::ClientNotFound.into());
        }
        let dev = match &self.carrier {
            Carrier::DevBrowser { token_hash: old } => {
                let fresh = random_token(state.rng.as_ref(), TOKEN_BYTES);
                clients::rotate_dev_browser(tx, old, &vestibule_crypto::token_hash(&fresh)).await?;
                Some(fresh)
            }
            _ => None,
        };
        let uat = client.updated_at.seconds();
        self.with_issued(|i| {
            i.client_token = Some(token);
            i.dev_browser_token = dev;
            i.client_uat = Some(uat);
        });
        Ok(())
    }

    /// The client was deleted: forget it on the caller's side.
    pub fn clear(&self) {
        self.with_issued(|i| {
            i.cleared = true;
            i.client_uat = Some(0);
        });
    }

    /// All sessions ended but the client stays.
    pub fn signed_out(&self) {
        self.with_issued(|i| i.client_uat = Some(0));
    }
}

/// Answers a CORS preflight. Routing never sees `OPTIONS`, so this runs before it.
pub fn preflight(state: &AppState, headers: &HeaderMap) -> Response {
    let origin = headers.get(ORIGIN).and_then(|v| v.to_str().ok());
    match origin {
        Some(o) if state.instance.origin_allowed(o) => {
            let mut response = StatusCode::NO_CONTENT.into_response();
            preflight_headers(headers, response.headers_mut());
            cors_headers(Some(o), response.headers_mut());
            response
        }
        Some(_) => ApiError(Error::OriginInvalid).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

/// Middleware for every Frontend API route: origin check, CORS, client identification, and
/// writing issued tokens to the response.
pub async fn fapi_identity(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let origin = req
        .headers()
        .get(ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(o) = &origin {
        if !state.instance.origin_allowed(o) {
            return ApiError(Error::OriginInvalid).into_response();
        }
    }
    let query = req.uri().query().map(str::to_owned);
    let identity = match identify(&state, req.headers().clone(), query, origin.clone()).await {
        Ok(i) => i,
        Err(e) => {
            let mut response = e.into_response();
            cors_headers(origin.as_deref(), response.headers_mut());
            return response;
        }
    };
    let issued = Arc::clone(&identity.issued);
    let carrier = identity.carrier.clone();
    let mut req = req;
    req.extensions_mut().insert(identity);
    let mut response = next.run(req).await;
    if response.status().is_success() {
        let issued = match issued.lock() {
            Ok(mut g) => std::mem::take(&mut *g),
            Err(p) => std::mem::take(&mut *p.into_inner()),
        };
        write_issued(&state, &carrier, issued, response.headers_mut());
    }
    cors_headers(origin.as_deref(), response.headers_mut());
    response
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
}

async fn identify(
    state: &AppState,
    headers: HeaderMap,
    query: Option<String>,
    origin: Option<String>,
) -> Result<ClientIdentity, ApiError> {
    let query = query.as_deref();
    let authorization = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).trim().to_owned());
    let native = query_param(query, "_is_native").as_deref() == Some("1")
        || authorization.as_deref().is_some_and(|a| !a.is_empty());
    let dev_browser = query_param(query, DEV_BROWSER_PARAM)
        .filter(|v| !v.is_empty() && state.instance.mode == InstanceMode::Development);

    let (carrier, token_hash, client) = if native {
        let presented = authorization.filter(|a| !a.is_empty());
        let hash = presented.as_deref().map(token_hash);
        (Carrier::Native { presented }, hash, OnceCell::new())
    } else if let Some(token) = dev_browser {
        // Dev browsers are checked at once: clerk-js replaces an unknown one on the 401.
        let hash = token_hash(&token);
        let mut conn = state.store.read().await?;
        let client = match clients::dev_browser_client(&mut conn, &hash).await? {
            None => return Err(Error::DevBrowserUnauthenticated.into()),
            Some(None) => None,
            Some(Some(id)) => clients::get(&mut conn, &id).await?,
        };
        (
            Carrier::DevBrowser { token_hash: hash },
            None,
            OnceCell::new_with(Some(client)),
        )
    } else {
        let hash = cookie(&headers, CLIENT_COOKIE)
            .filter(|t| !t.is_empty())
            .map(|t| token_hash(&t));
        (Carrier::Cookie, hash, OnceCell::new())
    };
    Ok(ClientIdentity {
        carrier,
        token_hash,
        client: Arc::new(client),
        origin,
        issued: Arc::new(Mutex::new(Issued::default())),
    })
}

fn write_issued(state: &AppState, carrier: &Carrier, issued: Issued, headers: &mut HeaderMap) {
    let secure = if state.instance.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    match carrier {
        Carrier::Cookie => {
            if let Some(token) = &issued.client_token {
                append(headers, SET_COOKIE, &format!("{CLIENT_COOKIE}={token}; Path=/; Max-Age={CLIENT_COOKIE_MAX_AGE}; HttpOnly; SameSite=Lax{secure}"));
            } else if issued.cleared {
                append(
                    headers,
                    SET_COOKIE,
                    &format!("{CLIENT_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}"),
                );
            }
            // clerk-js writes __client_uat itself on development instances; production relies on FAPI.
            if state.instance.mode == InstanceMode::Production {
                if let Some(uat) = issued.client_uat {
                    append(headers, SET_COOKIE, &format!("{CLIENT_UAT_COOKIE}={uat}; Path=/; Max-Age={CLIENT_COOKIE_MAX_AGE}; SameSite=Lax{secure}"));
                }
            }
        }
        Carrier::Native { presented } => {
            let token = if issued.cleared {
                Some(String::new())
            } else {
                issued.client_token.or_else(|| presented.clone())
            };
            if let Some(t) = token {
                if let Ok(v) = HeaderValue::from_str(&t) {
                    headers.insert(AUTHORIZATION, v);
                }
            }
        }
        Carrier::DevBrowser { .. } => {
            if let Some(t) = issued.dev_browser_token {
                if let Ok(v) = HeaderValue::from_str(&t) {
                    headers.insert(DEV_BROWSER_HEADER, v);
                }
            }
        }
    }
}

fn append(headers: &mut HeaderMap, name: axum::http::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.append(name, v);
    }
}

/// Credentialed CORS for an allowed origin (the caller checked it), exposing the headers that
/// carry client tokens.
fn cors_headers(origin: Option<&str>, headers: &mut HeaderMap) {
    let Some(origin) = origin else { return };
    let Ok(value) = HeaderValue::from_str(origin) else {
        return;
    };
    headers.insert("access-control-allow-origin", value);
    headers.insert(
        "access-control-allow-credentials",
        HeaderValue::from_static("true"),
    );
    headers.insert(
        "access-control-expose-headers",
        HeaderValue::from_static("authorization, clerk-db-jwt, x-country, retry-after"),
    );
    headers.append(VARY, HeaderValue::from_static("Origin"));
}

fn preflight_headers(request: &HeaderMap, headers: &mut HeaderMap) {
    headers.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE"),
    );
    let requested = request
        .get("access-control-request-headers")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            v.bytes().all(|b| {
                b.is_ascii_alphanumeric() || b == b'-' || b == b',' || b == b' ' || b == b'_'
            })
        })
        .unwrap_or("authorization, content-type");
    if let Ok(v) = HeaderValue::from_str(requested) {
        headers.insert("access-control-allow-headers", v);
    }
    headers.insert("access-control-max-age", HeaderValue::from_static("600"));
}

/// A fresh dev-browser token (the `id` of `POST /v1/dev_browser`).
pub async fn create_dev_browser(state: &AppState) -> Result<String, ApiError> {
    let token = random_token(state.rng.as_ref(), TOKEN_BYTES);
    let mut tx = state.store.begin().await?;
    clients::insert_dev_browser(&mut tx, &token_hash(&token), state.now()).await?;
    tx.commit().await?;
    Ok(token)
}
