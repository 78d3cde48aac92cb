//! The `Clerk` object: one client (device) talking to one Frontend API.

use crate::decode;
use crate::error::ClerkError;
use crate::publishable_key::PublishableKey;
use crate::session::{Session, SessionStatus};
use crate::sign_in::SignInBuilder;
use crate::token_store::{MemoryTokenStore, TokenStore};
use crate::transport::{self, Call, Transport, Verb};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use url::Url;
use vestibule_wire::{self as wire, Environment, User};

/// A cached session token is used until this close to its `exp`, so it never expires in flight
/// or on a backend whose clock runs a little ahead.
const TOKEN_REFRESH_MARGIN_SECONDS: i64 = 10;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Options of [`Clerk::get_token_with`] and [`Session::get_token_with`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GetTokenOptions {
    /// Ask the server for a new token even if the cached one is still fresh.
    pub skip_cache: bool,
    /// A JWT template name (`POST …/tokens/{template}`).
    pub template: Option<String>,
}

/// Sets up a [`Clerk`] with a custom HTTP client or token store.
pub struct ClerkBuilder {
    base: Result<Url, ClerkError>,
    http: Option<reqwest::Client>,
    tokens: Option<Arc<dyn TokenStore>>,
}

impl ClerkBuilder {
    /// The HTTP client to send with (proxies, timeouts, TLS roots). It must not keep cookies:
    /// a native client is identified by its token alone.
    pub fn http_client(mut self, http: reqwest::Client) -> ClerkBuilder {
        self.http = Some(http);
        self
    }

    /// Where the client token is kept; by default in memory for the life of the process.
    pub fn token_store(mut self, store: Arc<dyn TokenStore>) -> ClerkBuilder {
        self.tokens = Some(store);
        self
    }

    pub fn build(self) -> Result<Clerk, ClerkError> {
        let base = self.base?;
        let http = match self.http {
            Some(h) => h,
            None => reqwest::Client::builder()
                .user_agent(concat!("vestibule-client/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(CONNECT_TIMEOUT)
                .timeout(REQUEST_TIMEOUT)
                .build()
                .map_err(|e| ClerkError::Config(format!("cannot build the HTTP client: {e}")))?,
        };
        let tokens = self
            .tokens
            .unwrap_or_else(|| Arc::new(MemoryTokenStore::new()));
        Ok(Clerk {
            inner: Arc::new(Inner {
                transport: Transport { http, base, tokens },
                state: Mutex::new(State::default()),
            }),
        })
    }
}

/// One client of a Frontend API: its environment, its Client object (sessions and the sign-in
/// in progress), the active session and a cache of session tokens. Cheap to clone; clones share
/// everything.
///
/// Call [`Clerk::load`] first. Nothing here talks to the network except the `async` methods.
#[derive(Clone)]
pub struct Clerk {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    /// Never held across an `.await`.
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    environment: Option<Environment>,
    client: Option<wire::Client>,
    active_session_id: Option<String>,
    /// Keyed by session id and JWT template.
    tokens: HashMap<(String, Option<String>), CachedToken>,
}

struct CachedToken {
    jwt: String,
    exp: i64,
}

impl State {
    fn signed_in(&self, session_id: &str) -> bool {
        self.client.as_ref().is_some_and(|c| {
            c.sessions
                .iter()
                .any(|s| s.id == session_id && SessionStatus::parse(&s.status).is_signed_in())
        })
    }

    /// A token the server sent along with the client: kept unless the cache has a later one.
    fn seed_token(&mut self, session_id: &str, jwt: &str) {
        let Some(exp) = decode::jwt_expiry(jwt) else {
            return;
        };
        let key = (session_id.to_owned(), None);
        if self.tokens.get(&key).is_some_and(|c| c.exp >= exp) {
            return;
        }
        self.tokens.insert(
            key,
            CachedToken {
                jwt: jwt.to_owned(),
                exp,
            },
        );
    }
}

impl fmt::Debug for Clerk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Clerk")
            .field("frontend_api_url", &self.inner.transport.base.as_str())
            .finish_non_exhaustive()
    }
}

fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Clerk {
    /// A client of the Frontend API at `frontend_api_url` (e.g. `https://clerk.example.com` or a
    /// proxy such as `https://example.com/__clerk`).
    pub fn new(frontend_api_url: &str) -> Result<Clerk, ClerkError> {
        Clerk::builder(frontend_api_url).build()
    }

    /// A client of the Frontend API named by a publishable key: `https://<host>`, or
    /// `proxy_url` when the API is reached through a proxy.
    pub fn from_publishable_key(
        publishable_key: &str,
        proxy_url: Option<&str>,
    ) -> Result<Clerk, ClerkError> {
        Clerk::builder_from_publishable_key(publishable_key, proxy_url).build()
    }

    pub fn builder(frontend_api_url: &str) -> ClerkBuilder {
        ClerkBuilder {
            base: transport::parse_base_url(frontend_api_url),
            http: None,
            tokens: None,
        }
    }

    pub fn builder_from_publishable_key(
        publishable_key: &str,
        proxy_url: Option<&str>,
    ) -> ClerkBuilder {
        ClerkBuilder {
            base: PublishableKey::parse(publishable_key)
                .and_then(|k| k.frontend_api_url(proxy_url)),
            http: None,
            tokens: None,
        }
    }

    /// The base URL every request goes to (`…/v1/…` is appended).
    pub fn frontend_api_url(&self) -> &Url {
        &self.inner.transport.base
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is replaced wholesale on every update, so a panic elsewhere cannot leave it
        // half-written; carrying on is safe.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Fetches the environment and the client (`GET /v1/environment`, `GET /v1/client`), and
    /// picks the active session as clerk-js does: the client's last active one, else the first
    /// signed-in one.
    pub async fn load(&self) -> Result<(), ClerkError> {
        let (environment, client) = tokio::join!(self.fetch_environment(), self.fetch_client());
        let (environment, client) = (environment?, client?);
        self.apply_client(client);
        let mut st = self.state();
        st.environment = Some(environment);
        if st.active_session_id.is_none() {
            let pick = st.client.as_ref().and_then(|c| {
                let signed_in = |s: &&wire::Session| SessionStatus::parse(&s.status).is_signed_in();
                c.last_active_session_id
                    .as_ref()
                    .and_then(|id| c.sessions.iter().filter(signed_in).find(|s| &s.id == id))
                    .or_else(|| c.sessions.iter().find(signed_in))
                    .map(|s| s.id.clone())
            });
            st.active_session_id = pick;
        }
        Ok(())
    }

    async fn fetch_environment(&self) -> Result<Environment, ClerkError> {
        let call = Call::new(Verb::Get, &["environment"]);
        let value: Value = self.inner.transport.json(&call).await?;
        // Real FAPI answers with the bare environment; a wrapped one is accepted as clerk-js does.
        let bare = match value.get("response") {
            Some(r) if r.is_object() => r.clone(),
            _ => value,
        };
        serde_json::from_value(bare)
            .map_err(|e| ClerkError::Decode(format!("{}: {e}", call.describe())))
    }

    async fn fetch_client(&self) -> Result<Option<wire::Client>, ClerkError> {
        let call = Call::new(Verb::Get, &["client"]);
        let envelope: wire::Envelope<Option<wire::Client>> =
            self.inner.transport.json(&call).await?;
        Ok(envelope.response)
    }

    /// The environment (instance settings), once loaded.
    pub fn environment(&self) -> Option<Environment> {
        self.state().environment.clone()
    }

    /// The Client object as last seen: this device's sessions and sign-in in progress.
    pub fn client(&self) -> Option<wire::Client> {
        self.state().client.clone()
    }

    /// The active session, if signed in.
    pub fn session(&self) -> Option<Session> {
        let st = self.state();
        let id = st.active_session_id.as_deref()?;
        let s = st.client.as_ref()?.sessions.iter().find(|s| s.id == id)?;
        Some(Session::from_wire(s.clone(), self.clone()))
    }

    /// Every signed-in session of the client (several in multi-session mode).
    pub fn sessions(&self) -> Vec<Session> {
        let st = self.state();
        st.client
            .iter()
            .flat_map(|c| c.sessions.iter())
            .filter(|s| SessionStatus::parse(&s.status).is_signed_in())
            .map(|s| Session::from_wire(s.clone(), self.clone()))
            .collect()
    }

    /// The user of the active session.
    pub fn user(&self) -> Option<User> {
        self.session().and_then(|s| s.user)
    }

    /// Starts a sign-in, or finds the one in progress.
    pub fn sign_in(&self) -> SignInBuilder {
        SignInBuilder::new(self.clone())
    }

    /// Makes `session_id` the active session (`POST /v1/client/sessions/{id}/touch`), e.g. the
    /// `created_session_id` of a completed sign-in.
    pub async fn set_active(&self, session_id: &str) -> Result<Session, ClerkError> {
        let path = ["client", "sessions", session_id, "touch"];
        let call = Call::new(Verb::Post, &path).form(vec![
            ("active_organization_id", String::new()),
            ("intent", "select_session".into()),
        ]);
        let session: wire::Session = self.resource(call).await?;
        let session = Session::from_wire(session, self.clone());
        let mut st = self.state();
        if let Some(jwt) = &session.last_active_token {
            st.seed_token(&session.id, jwt);
        }
        st.active_session_id = Some(session.id.clone());
        Ok(session)
    }

    /// A session token for the active session, or `None` when signed out. Cached until about
    /// ten seconds before it expires.
    pub async fn get_token(&self) -> Result<Option<String>, ClerkError> {
        self.get_token_with(&GetTokenOptions::default()).await
    }

    /// As [`Clerk::get_token`], bypassing the cache or naming a JWT template.
    pub async fn get_token_with(
        &self,
        options: &GetTokenOptions,
    ) -> Result<Option<String>, ClerkError> {
        let active = self.state().active_session_id.clone();
        match active {
            Some(id) => self.token_for(&id, options).await.map(Some),
            None => Ok(None),
        }
    }

    pub(crate) async fn token_for(
        &self,
        session_id: &str,
        options: &GetTokenOptions,
    ) -> Result<String, ClerkError> {
        let key = (session_id.to_owned(), options.template.clone());
        let previous = {
            let st = self.state();
            match st.tokens.get(&key) {
                Some(c)
                    if !options.skip_cache
                        && c.exp - TOKEN_REFRESH_MARGIN_SECONDS > now_seconds() =>
                {
                    return Ok(c.jwt.clone());
                }
                cached => cached.map(|c| c.jwt.clone()),
            }
        };
        let mut path = vec!["client", "sessions", session_id, "tokens"];
        if let Some(t) = &options.template {
            path.push(t);
        }
        let call = |expired: Option<&str>| {
            let mut call =
                Call::new(Verb::Post, &path).form(vec![("organization_id", String::new())]);
            if options.skip_cache {
                call = call.query("debug", "skip_cache");
            }
            if let Some(jwt) = expired {
                call = call.query("expired_token", jwt);
            }
            call
        };
        let transport = &self.inner.transport;
        let token: wire::Token = match transport.json(&call(None)).await {
            // Clerk asks for the expired token to mint its successor; clerk-js retries once.
            Err(e) if e.is("missing_expired_token") => match &previous {
                Some(jwt) => transport.json(&call(Some(jwt))).await?,
                None => return Err(e),
            },
            other => other?,
        };
        let mut st = self.state();
        // A sign-out that finished while this request was out must not see its token return.
        if st.signed_in(session_id) {
            if let Some(exp) = decode::jwt_expiry(&token.jwt) {
                st.tokens.insert(
                    key,
                    CachedToken {
                        jwt: token.jwt.clone(),
                        exp,
                    },
                );
            }
        }
        Ok(token.jwt)
    }

    /// Signs out of every session of this client (`DELETE /v1/client/sessions`). The client and
    /// its token stay, ready for the next sign-in.
    pub async fn sign_out(&self) -> Result<(), ClerkError> {
        let known = self.state().client.is_some() || self.inner.transport.tokens.get().is_some();
        if known {
            let call = Call::new(Verb::Delete, &["client", "sessions"]);
            let envelope: wire::Envelope<wire::Client> = self.inner.transport.json(&call).await?;
            self.apply_client(Some(envelope.client.unwrap_or(envelope.response)));
        }
        let mut st = self.state();
        st.active_session_id = None;
        st.tokens.clear();
        Ok(())
    }

    /// Sends a call answered with `{response, client}`, takes the piggybacked client (as
    /// clerk-js does on every mutating call and every resource reload), returns the response.
    pub(crate) async fn resource<T: DeserializeOwned>(
        &self,
        call: Call<'_>,
    ) -> Result<T, ClerkError> {
        let envelope: wire::Envelope<T> = self.inner.transport.json(&call).await?;
        if let Some(client) = envelope.client {
            self.apply_client(Some(client));
        }
        Ok(envelope.response)
    }

    /// Replaces the client; sessions that are gone or signed out leave the cache and, if active,
    /// stop being active.
    fn apply_client(&self, client: Option<wire::Client>) {
        let mut st = self.state();
        st.client = client;
        let signed_in: Vec<(String, Option<String>)> = st
            .client
            .iter()
            .flat_map(|c| c.sessions.iter())
            .filter(|s| SessionStatus::parse(&s.status).is_signed_in())
            .map(|s| {
                (
                    s.id.clone(),
                    s.last_active_token.as_ref().map(|t| t.jwt.clone()),
                )
            })
            .collect();
        for (id, jwt) in &signed_in {
            if let Some(jwt) = jwt {
                st.seed_token(id, jwt);
            }
        }
        st.tokens
            .retain(|(id, _), _| signed_in.iter().any(|(s, _)| s == id));
        if let Some(active) = st.active_session_id.clone() {
            if !signed_in.iter().any(|(s, _)| *s == active) {
                st.active_session_id = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // Unsigned test tokens for sess_1 expiring in 2100 (EARLY) and 100 s later (LATE).
    const EARLY: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyXzEiLCJzaWQiOiJzZXNzXzEiLCJleHAiOjQxMDI0NDQ4MDB9.c2ln";
    const LATE: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyXzEiLCJzaWQiOiJzZXNzXzEiLCJleHAiOjQxMDI0NDQ5MDB9.c2ln";

    fn session(status: &str, jwt: Option<&str>) -> Value {
        json!({
            "object": "session", "id": "sess_1", "status": status,
            "expire_at": 1, "abandon_at": 1, "last_active_at": 1,
            "last_active_token": jwt.map(|j| json!({"object": "token", "jwt": j})),
            "created_at": 1, "updated_at": 1,
        })
    }

    fn client(sessions: Value) -> wire::Client {
        serde_json::from_value(json!({
            "object": "client", "id": "client_1", "sessions": sessions,
            "sign_in": null, "sign_up": null, "last_active_session_id": "sess_1",
            "created_at": 1, "updated_at": 2, "a_field_from_the_future": true,
        }))
        .expect("client")
    }

    #[test]
    fn handles_cross_threads() {
        fn check<T: Send + Sync>() {}
        check::<Clerk>();
        check::<crate::SignIn>();
        check::<crate::Session>();
        check::<ClerkError>();
    }

    #[tokio::test]
    async fn piggybacked_clients_seed_and_prune_the_token_cache() {
        // Nothing listens there: every answer below must come from the cache.
        let clerk = Clerk::new("http://127.0.0.1:9").expect("clerk");
        assert_eq!(clerk.get_token().await.expect("signed out"), None);

        clerk.apply_client(Some(client(json!([session("active", Some(LATE))]))));
        clerk.state().active_session_id = Some("sess_1".into());
        assert_eq!(clerk.get_token().await.expect("cached"), Some(LATE.into()));

        // A client carrying an older token does not displace the newer one.
        clerk.apply_client(Some(client(json!([session("active", Some(EARLY))]))));
        assert_eq!(clerk.get_token().await.expect("cached"), Some(LATE.into()));

        // The session ended elsewhere: no longer active, its tokens forgotten.
        clerk.apply_client(Some(client(json!([session("ended", None)]))));
        assert!(clerk.session().is_none());
        assert!(clerk.state().tokens.is_empty());
        assert_eq!(clerk.get_token().await.expect("signed out"), None);
    }
}
