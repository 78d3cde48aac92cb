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

/// The instance settings tests start from: Clerk's defaults, except that client trust is off, so
/// a password from a new client completes the sign-in (client trust has tests of its own).
pub fn test_settings() -> Settings {
    let mut s = Settings::default();
    s.sign_in.client_trust = false;
    s
}

pub fn config(url: &str, settings: Settings) -> Config {
    let mut c = Config {
        database_url: url.to_owned(),
        secret_key: Some(SECRET_KEY.into()),
        settings,
        ..Config::default()
    };
    c.hashing.threads = 2;
    // Tests send many requests from one address; the limits themselves have tests of their own.
    let generous = vestibule_model::rate_limit::Limit::new(100_000, 10);
    c.settings.rate_limits = vestibule_model::rate_limit::RateLimitSettings {
        enabled: true,
        sign_in_create_per_ip: generous,
        attempts_per_ip: generous,
        sign_in_create_per_identifier: generous,
        attempts_per_user: generous,
        messages_per_identification: generous,
    };
    c
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        Self::with_settings(backend, test_settings()).await
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

impl TestServer {
    /// Messages the development inbox holds for `recipient`, newest first.
    pub async fn inbox(&self, recipient: &str) -> Vec<Value> {
        let path = format!("/v1/dev/messages?recipient={}", urlencode(recipient));
        // The courier delivers right after commit; give it a moment.
        for _ in 0..100 {
            let (status, body) = self.bapi(Method::GET, &path, None).await;
            assert_eq!(status, 200, "{body}");
            let data = body["data"].as_array().cloned().unwrap_or_default();
            if !data.is_empty() {
                return data;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        Vec::new()
    }

    /// The code in the newest message to `recipient`.
    pub async fn latest_code(&self, recipient: &str) -> String {
        let inbox = self.inbox(recipient).await;
        let newest = inbox
            .first()
            .unwrap_or_else(|| panic!("no message to {recipient}"));
        let text = newest["text"]
            .as_str()
            .or(newest["body"].as_str())
            .unwrap_or_default();
        code_in(text).unwrap_or_else(|| panic!("no code in {text:?}"))
    }

    /// The text of the newest message to `recipient` once it has more than the `seen` it had.
    /// The inbox lists newest first by time, so a test whose clock stands still must move it
    /// between messages to the same recipient.
    pub async fn next_text(&self, recipient: &str, seen: usize) -> String {
        for _ in 0..200 {
            let inbox = self.inbox(recipient).await;
            if inbox.len() > seen {
                return inbox[0]["text"].as_str().unwrap_or_default().to_owned();
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("no new message to {recipient}")
    }

    /// The code in the next message to `recipient` (see [`TestServer::next_text`]).
    pub async fn next_code(&self, recipient: &str, seen: usize) -> String {
        let text = self.next_text(recipient, seen).await;
        code_in(&text).unwrap_or_else(|| panic!("no code in {text:?}"))
    }

    /// The link in the newest message to `recipient`.
    pub async fn latest_link(&self, recipient: &str) -> String {
        let inbox = self.inbox(recipient).await;
        let newest = inbox
            .first()
            .unwrap_or_else(|| panic!("no message to {recipient}"));
        let text = newest["text"].as_str().unwrap_or_default();
        link_in(text).unwrap_or_else(|| panic!("no link in {text:?}"))
    }
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The first run of exactly six digits.
pub fn code_in(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if i - start == 6 {
                return Some(text[start..i].to_owned());
            }
        } else {
            i += 1;
        }
    }
    None
}

/// The first http(s) URL.
pub fn link_in(text: &str) -> Option<String> {
    let start = text.find("http")?;
    let rest = &text[start..];
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>')
        .unwrap_or(rest.len());
    Some(rest[..end].to_owned())
}

/// A message an SMTP sink received: its recipients and raw text.
type Mail = (Vec<String>, String);

/// An SMTP server in the test process (mailin-embedded), keeping what it receives.
pub struct SmtpSink {
    pub port: u16,
    pub received: Arc<Mutex<Vec<Mail>>>,
}

#[derive(Clone)]
struct SinkHandler {
    received: Arc<Mutex<Vec<Mail>>>,
    to: Vec<String>,
    data: Vec<u8>,
}

impl mailin_embedded::Handler for SinkHandler {
    fn data_start(
        &mut self,
        _domain: &str,
        _from: &str,
        _is8bit: bool,
        to: &[String],
    ) -> mailin_embedded::Response {
        self.to = to.to_vec();
        self.data.clear();
        mailin_embedded::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> mailin_embedded::Response {
        let message = String::from_utf8_lossy(&std::mem::take(&mut self.data)).into_owned();
        self.received
            .lock()
            .expect("lock")
            .push((std::mem::take(&mut self.to), message));
        mailin_embedded::response::OK
    }
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let mut server = mailin_embedded::Server::new(SinkHandler {
            received: Arc::clone(&received),
            to: Vec::new(),
            data: Vec::new(),
        });
        server
            .with_name("sink.test")
            .with_ssl(mailin_embedded::SslConfig::None)
            .expect("ssl config")
            .with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        SmtpSink { port, received }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.port)
    }

    /// Waits for a message to `to`; returns its raw text (headers and MIME parts).
    pub async fn wait_for(&self, to: &str) -> String {
        for _ in 0..250 {
            if let Some((_, m)) = self
                .received
                .lock()
                .expect("lock")
                .iter()
                .rev()
                .find(|(rcpt, _)| rcpt.iter().any(|r| r == to))
            {
                return m.clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("no mail to {to} within 5 s");
    }
}

/// An SMS webhook call: its signature header and JSON body.
type Sms = (Option<String>, Value);

/// An HTTP endpoint in the test process that receives the SMS webhook's JSON.
pub struct SmsSink {
    pub url: String,
    pub received: Arc<Mutex<Vec<Sms>>>,
}

impl SmsSink {
    pub async fn start() -> SmsSink {
        let received: Arc<Mutex<Vec<Sms>>> = Arc::new(Mutex::new(Vec::new()));
        let keep = Arc::clone(&received);
        let app = axum::Router::new().route(
            "/sms",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let keep = Arc::clone(&keep);
                async move {
                    let signature = headers
                        .get("x-vestibule-signature")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    keep.lock().expect("lock").push((signature, json));
                    axum::http::StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/sms", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        SmsSink { url, received }
    }

    pub async fn wait_for(&self, to: &str) -> (Option<String>, Value) {
        for _ in 0..250 {
            if let Some(m) = self
                .received
                .lock()
                .expect("lock")
                .iter()
                .rev()
                .find(|(_, j)| j["to"] == to)
            {
                return m.clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("no SMS to {to} within 5 s");
    }
}
