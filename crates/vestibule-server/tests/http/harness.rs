//! A test server and the three kinds of FAPI callers clerk-js and its wrappers are.

#![allow(dead_code)]

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use vestibule_model::{Settings, TestClock};
use vestibule_server::config::Config;
use vestibule_server::{AppState, Deps};
use vestibule_store::testing::{backends, fresh, Backend, TestStore};

pub const SECRET_KEY: &str = "sk_test_0123456789abcdefghijklmnopqrstuv";
pub const PASSWORD: &str = "correct horse battery";

pub struct TestServer {
    pub base: String,
    pub state: AppState,
    pub clock: TestClock,
    pub http: reqwest::Client,
    pub store: Arc<TestStore>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn config(url: &str, settings: Settings) -> Config {
    let mut c = Config {
        database_url: url.to_owned(),
        secret_key: Some(SECRET_KEY.into()),
        settings,
        ..Config::default()
    };
    // Cheaper than production hashing: tests exercise logic, not cost.
    c.hashing.threads = 2;
    c
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        Self::with_settings(backend, Settings::default()).await
    }

    pub async fn with_settings(backend: Backend, settings: Settings) -> TestServer {
        let store = Arc::new(fresh(backend).await);
        Self::on_store(store, config("unused", settings), TestClock::starting_now()).await
    }

    /// Another node on the same database (and the same clock), with pools of its own as a
    /// separate process would have.
    pub async fn another_node(&self) -> TestServer {
        let c = config(&self.store.url, self.state.settings.clone());
        let own = vestibule_store::Store::open(&self.store.url, &Default::default())
            .await
            .expect("second node store");
        Self::start_node(Arc::clone(&self.store), own, c, self.clock.clone()).await
    }

    pub async fn on_store(store: Arc<TestStore>, config: Config, clock: TestClock) -> TestServer {
        let own = store.store.clone();
        Self::start_node(store, own, config, clock).await
    }

    async fn start_node(
        store: Arc<TestStore>,
        own: vestibule_store::Store,
        config: Config,
        clock: TestClock,
    ) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let base = format!("http://{addr}");
        let deps = Deps {
            clock: Arc::new(clock.clone()),
            rng: Arc::new(vestibule_model::OsRng),
        };
        let state = AppState::with_store(&config, &base, own, deps)
            .await
            .expect("state");
        let serving = state.clone();
        let task = tokio::spawn(async move {
            let _ = vestibule_server::serve(serving, listener, std::future::pending()).await;
        });
        TestServer {
            base,
            state,
            clock,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("http"),
            store,
            task,
        }
    }

    pub fn backend(&self) -> Backend {
        self.store.backend()
    }

    /// A BAPI call with the secret key.
    pub async fn bapi(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.state.instance.secret_key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("send");
        let status = res.status();
        let text = res.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Creates a user with an email, phone, username and [`PASSWORD`]; returns the user JSON.
    pub async fn user(&self, n: u32) -> Value {
        let (status, body) = self
            .bapi(
                Method::POST,
                "/v1/users",
                Some(json!({
                    "email_address": [format!("user{n}@example.com")],
                    "phone_number": [format!("+1555010{n:04}")],
                    "username": format!("user{n}"),
                    "password": PASSWORD,
                    "first_name": format!("First{n}"),
                })),
            )
            .await;
        assert_eq!(status, 200, "create user: {body}");
        body
    }

    pub fn native(&self) -> Fapi {
        Fapi::new(self, Carrier::Native)
    }

    pub fn cookie(&self) -> Fapi {
        Fapi::new(self, Carrier::Cookie)
    }

    pub async fn dev_browser(&self) -> Fapi {
        let res = self
            .http
            .post(format!("{}/v1/dev_browser", self.base))
            .send()
            .await
            .expect("dev browser");
        assert_eq!(res.status(), 200);
        let v: Value = res.json().await.expect("json");
        let id = v["id"].as_str().expect("id").to_owned();
        let f = Fapi::new(self, Carrier::DevBrowser);
        *f.token.lock().expect("lock") = Some(id);
        f
    }
}

/// Runs `test` once per backend.
pub async fn each_backend<F, Fut>(test: F)
where
    F: Fn(Backend) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for b in backends() {
        test(b).await;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Carrier {
    Native,
    Cookie,
    DevBrowser,
}

/// A FAPI caller that keeps its client token the way its kind of SDK does.
pub struct Fapi {
    pub base: String,
    pub carrier: Carrier,
    pub http: reqwest::Client,
    /// Native: the client token; dev browser: the dev-browser token. Cookies live in the jar.
    pub token: Mutex<Option<String>>,
    pub origin: Option<String>,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["errors"][0]["code"].as_str().unwrap_or("")
    }
    pub fn param(&self) -> &str {
        self.body["errors"][0]["meta"]["param_name"]
            .as_str()
            .unwrap_or("")
    }
    #[track_caller]
    pub fn ok(&self) -> &Value {
        assert!(
            self.status.is_success(),
            "expected success, got {}: {}",
            self.status,
            self.body
        );
        &self.body
    }
    #[track_caller]
    pub fn err(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status.as_u16(), self.code()),
            (status, code),
            "{}",
            self.body
        );
    }
}

impl Fapi {
    fn new(server: &TestServer, carrier: Carrier) -> Fapi {
        Fapi {
            base: server.base.clone(),
            carrier,
            http: reqwest::Client::builder()
                .cookie_store(carrier == Carrier::Cookie)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("http"),
            token: Mutex::new(None),
            origin: None,
        }
    }

    pub fn with_origin(mut self, origin: &str) -> Fapi {
        self.origin = Some(origin.into());
        self
    }

    pub fn token(&self) -> Option<String> {
        self.token.lock().expect("lock").clone()
    }

    /// Sends like clerk-js: GET or POST only, other verbs tunnelled through `_method`.
    pub async fn call(&self, method: &str, path: &str, form: &[(&str, &str)]) -> Reply {
        let (http_method, tunnel) = match method {
            "GET" => (Method::GET, None),
            "POST" => (Method::POST, None),
            other => (Method::POST, Some(other)),
        };
        let mut url = format!("{}{path}", self.base);
        let mut query = vec![
            "__clerk_api_version=2026-08-20".to_owned(),
            "_clerk_js_version=6.40.0".to_owned(),
        ];
        if let Some(t) = tunnel {
            query.push(format!("_method={t}"));
        }
        match self.carrier {
            Carrier::Native => query.push("_is_native=1".into()),
            Carrier::DevBrowser => {
                if let Some(t) = self.token() {
                    query.push(format!("__clerk_db_jwt={t}"));
                }
            }
            Carrier::Cookie => {}
        }
        url.push_str(if path.contains('?') { "&" } else { "?" });
        url.push_str(&query.join("&"));
        let mut req = self.http.request(http_method.clone(), url);
        if self.carrier == Carrier::Native {
            req = req.header("authorization", self.token().unwrap_or_default());
        }
        if let Some(o) = &self.origin {
            req = req.header("origin", o);
        }
        if http_method == Method::POST {
            req = req.form(form);
        }
        let res = req.send().await.expect("send");
        let status = res.status();
        let headers = res.headers().clone();
        match self.carrier {
            Carrier::Native => {
                if let Some(t) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
                    *self.token.lock().expect("lock") = Some(t.to_owned());
                }
            }
            Carrier::DevBrowser => {
                if let Some(t) = headers.get("clerk-db-jwt").and_then(|v| v.to_str().ok()) {
                    *self.token.lock().expect("lock") = Some(t.to_owned());
                }
            }
            Carrier::Cookie => {}
        }
        let text = res.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        self.call("POST", path, form).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, &[]).await
    }

    /// Signs in with identifier and password in one step; returns the session id.
    pub async fn sign_in(&self, identifier: &str) -> String {
        let r = self
            .post(
                "/v1/client/sign_ins",
                &[("identifier", identifier), ("password", PASSWORD)],
            )
            .await;
        let body = r.ok();
        assert_eq!(body["response"]["status"], "complete", "{body}");
        body["response"]["created_session_id"]
            .as_str()
            .expect("session id")
            .to_owned()
    }

    pub async fn token_for(&self, sid: &str) -> Reply {
        self.post(
            &format!("/v1/client/sessions/{sid}/tokens"),
            &[("organization_id", "")],
        )
        .await
    }
}

/// Verifies a session token against the server's published JWKS; returns the claims.
pub async fn verify(server: &TestServer, jwt: &str) -> Value {
    let jwks: vestibule_crypto::Jwks = server
        .http
        .get(format!("{}/.well-known/jwks.json", server.base))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("jwks json");
    let now = vestibule_model::Clock::now(&server.clock).seconds();
    vestibule_crypto::verify_jwt(jwt, &jwks, now, 5).expect("token verifies")
}

/// The JWT header's `kid`.
pub fn kid(jwt: &str) -> String {
    use base64::Engine;
    let header = jwt.split('.').next().expect("header");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .expect("b64");
    let v: Value = serde_json::from_slice(&bytes).expect("json");
    v["kid"].as_str().expect("kid").to_owned()
}
