//! A Vestibule server on a temporary SQLite file, behind a small recording proxy so tests can
//! see exactly what the SDK sends (and count requests).

#![allow(dead_code)]

use axum::extract::State;
use axum::http::header::{CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use base64::Engine;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use vestibule_client::{Clerk, MemoryTokenStore, TokenStore};
use vestibule_server::{AppState, Config, Deps};

pub const SECRET_KEY: &str = "sk_test_0123456789abcdefghijklmnopqrstuv";
pub const PASSWORD: &str = "correct horse battery staple";

/// One request as it reached the server.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: String,
}

impl Recorded {
    /// The value of a query parameter.
    pub fn query_param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// The names of the form fields, in order.
    pub fn form_keys(&self) -> Vec<String> {
        url::form_urlencoded::parse(self.body.as_bytes())
            .map(|(k, _)| k.into_owned())
            .collect()
    }
}

struct Proxy {
    upstream: String,
    http: reqwest::Client,
    log: Arc<Mutex<Vec<Recorded>>>,
}

pub struct TestServer {
    /// What the SDK talks to: the recording proxy in front of the server.
    pub fapi_url: String,
    /// The server itself (BAPI calls go here, unrecorded).
    pub server_url: String,
    pub publishable_key: String,
    log: Arc<Mutex<Vec<Recorded>>>,
    http: reqwest::Client,
    tasks: Vec<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// A server whose configuration `tune` may change first.
    pub async fn start_with(tune: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config {
            database_url: format!("sqlite://{}", dir.path().join("vestibule.db").display()),
            secret_key: Some(SECRET_KEY.into()),
            ..Config::default()
        };
        // Tests exercise logic, not hashing cost.
        config.hashing.threads = 2;
        // A password from the test's new client completes the sign-in; the server's own tests
        // cover client trust.
        config.settings.sign_in.client_trust = false;
        tune(&mut config);

        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let server_url = format!("http://{}", listener.local_addr().expect("addr"));
        let state = AppState::build(&config, &server_url, Deps::default())
            .await
            .expect("server state");
        let publishable_key = state.instance.publishable_key.clone();
        let server = tokio::spawn(async move {
            let _ = vestibule_server::serve(state, listener, std::future::pending()).await;
        });

        let log = Arc::new(Mutex::new(Vec::new()));
        let proxy = Arc::new(Proxy {
            upstream: server_url.clone(),
            http: reqwest::Client::new(),
            log: Arc::clone(&log),
        });
        let proxy_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let fapi_url = format!("http://{}", proxy_listener.local_addr().expect("addr"));
        let app = axum::Router::new().fallback(forward).with_state(proxy);
        let proxy_task = tokio::spawn(async move {
            let _ = axum::serve(proxy_listener, app).await;
        });

        TestServer {
            fapi_url,
            server_url,
            publishable_key,
            log,
            http: reqwest::Client::new(),
            tasks: vec![server, proxy_task],
            _dir: dir,
        }
    }

    /// A fresh SDK client (its own in-memory token store) of this server.
    pub fn clerk(&self) -> Clerk {
        Clerk::new(&self.fapi_url).expect("clerk")
    }

    /// A fresh SDK client whose token store the test can read.
    pub fn clerk_with_store(&self) -> (Clerk, Arc<MemoryTokenStore>) {
        let store = Arc::new(MemoryTokenStore::new());
        let clerk = Clerk::builder(&self.fapi_url)
            .token_store(Arc::clone(&store) as Arc<dyn TokenStore>)
            .build()
            .expect("clerk");
        (clerk, store)
    }

    /// Creates a user through the Backend API; returns its JSON.
    pub async fn user(&self, email: &str) -> Value {
        let res = self
            .http
            .post(format!("{}/v1/users", self.server_url))
            .bearer_auth(SECRET_KEY)
            .json(&json!({
                "email_address": [email],
                "password": PASSWORD,
                "first_name": "Ada",
                "last_name": "Lovelace",
            }))
            .send()
            .await
            .expect("create user");
        let status = res.status();
        let body: Value = res.json().await.expect("user json");
        assert_eq!(status, 200, "create user: {body}");
        body
    }

    /// Creates a user with these wallet addresses (and no password) through the Backend API.
    pub async fn wallet_user(&self, wallets: &[String]) -> Value {
        let res = self
            .http
            .post(format!("{}/v1/users", self.server_url))
            .bearer_auth(SECRET_KEY)
            .json(&json!({ "web3_wallet": wallets, "skip_password_requirement": true }))
            .send()
            .await
            .expect("create user");
        let status = res.status();
        let body: Value = res.json().await.expect("user json");
        assert_eq!(status, 200, "create user: {body}");
        body
    }

    /// A ticket for `user_id` from the Backend API (`POST /v1/sign_in_tokens`).
    pub async fn sign_in_ticket(&self, user_id: &str) -> String {
        let res = self
            .http
            .post(format!("{}/v1/sign_in_tokens", self.server_url))
            .bearer_auth(SECRET_KEY)
            .json(&json!({ "user_id": user_id }))
            .send()
            .await
            .expect("issue a sign-in token");
        let body: Value = res.json().await.expect("sign-in token json");
        body["token"].as_str().expect("ticket").to_owned()
    }

    /// The six-digit code in the newest development-inbox message to `recipient`.
    pub async fn latest_code(&self, recipient: &str) -> String {
        for _ in 0..100 {
            let body: Value = self
                .http
                .get(format!("{}/v1/dev/messages", self.server_url))
                .query(&[("recipient", recipient)])
                .bearer_auth(SECRET_KEY)
                .send()
                .await
                .expect("inbox")
                .json()
                .await
                .expect("inbox json");
            let text = body["data"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let digits: Vec<&str> = text
                .split(|c: char| !c.is_ascii_digit())
                .filter(|w| w.len() == 6)
                .collect();
            if let Some(code) = digits.first() {
                return (*code).to_owned();
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("no code for {recipient}");
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().expect("log").clone()
    }

    pub fn clear_requests(&self) {
        self.log.lock().expect("log").clear();
    }

    /// How many recorded requests had this path and ended in `suffix`.
    pub fn count(&self, suffix: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.path.ends_with(suffix))
            .count()
    }
}

async fn forward(
    State(proxy): State<Arc<Proxy>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.expect("body");
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    proxy.log.lock().expect("log").push(Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        authorization: header("authorization"),
        content_type: header("content-type"),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let target = format!(
        "{}{}",
        proxy.upstream,
        parts
            .uri
            .path_and_query()
            .map(|pq| pq.as_str())
            .unwrap_or("/")
    );
    let mut upstream = proxy
        .http
        .request(parts.method.clone(), target)
        .body(body.to_vec());
    for (name, value) in &parts.headers {
        if name != HOST && name != CONTENT_LENGTH {
            upstream = upstream.header(name, value);
        }
    }
    let res = upstream.send().await.expect("upstream");
    let mut out = axum::http::Response::builder().status(res.status());
    for (name, value) in res.headers() {
        if name != TRANSFER_ENCODING && name != CONTENT_LENGTH && name != CONNECTION {
            out = out.header(name, value);
        }
    }
    let bytes = res.bytes().await.expect("upstream body");
    out.body(axum::body::Body::from(bytes)).expect("response")
}

/// The claims of a JWT, decoded independently of the SDK.
pub fn claims(jwt: &str) -> Value {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts: {jwt}");
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[1])
        .expect("base64url payload");
    serde_json::from_slice(&payload).expect("JSON claims")
}
