//! The load: user setup through the Backend API, the password sign-in flow and the token refresh
//! loop through the Frontend API as a native client, each in a fixed measurement window.

use crate::cpu::{self, Usage};
use crate::http::{Conn, Reply, FORM, JSON};
use crate::limits::{cores, Argon2Probe, Bound, RsaProbe};
use crate::stats::{Errors, Latencies};
use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::{Method, Uri};
use serde::Deserialize;
use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

const SIGN_INS: &str = "/v1/client/sign_ins?_is_native=1";

/// A bench user of the password scenarios: the form body of its password sign-in, built once.
pub struct User {
    form: Bytes,
}

/// Percent-encoding for form values and query strings (everything but unreserved characters).
pub(crate) fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The email address of password user `i` of run `tag`.
pub fn email(i: usize, tag: &str) -> String {
    format!("u{i}.{tag}@bench.test")
}

/// Creates one user per address through `POST /v1/users` with `parallel` requests in flight,
/// with `password` (the server hashes it with argon2id, so this takes about n × hash cost ÷
/// cores) or without one (`skip_password_requirement`, a few milliseconds each).
pub async fn create_users(
    addr: SocketAddr,
    secret_key: &str,
    emails: &[String],
    password: Option<&str>,
    parallel: usize,
) -> Result<(), String> {
    let bodies = emails
        .iter()
        .map(|e| {
            match password {
                Some(pw) => serde_json::json!({ "email_address": [e], "password": pw }),
                None => serde_json::json!({
                    "email_address": [e],
                    "skip_password_requirement": true,
                }),
            }
            .to_string()
        })
        .collect();
    create_users_from(addr, secret_key, bodies, parallel).await
}

/// Creates one user per JSON body through `POST /v1/users`, `parallel` at a time.
pub async fn create_users_from(
    addr: SocketAddr,
    secret_key: &str,
    bodies: Vec<String>,
    parallel: usize,
) -> Result<(), String> {
    let auth = HeaderValue::from_str(&format!("Bearer {secret_key}"))
        .map_err(|e| format!("secret key header: {e}"))?;
    let uri = Uri::from_static("/v1/users");
    let n = bodies.len();
    let parallel = parallel.clamp(1, n.max(1));
    let bodies: Arc<Vec<String>> = Arc::new(bodies);
    let mut handles = Vec::with_capacity(parallel);
    for w in 0..parallel {
        let (auth, uri, bodies) = (auth.clone(), uri.clone(), Arc::clone(&bodies));
        handles.push(tokio::spawn(async move {
            let mut conn = Conn::new(addr);
            for i in (w..n).step_by(parallel) {
                let mut tries = 0;
                loop {
                    let r = conn
                        .send(
                            Method::POST,
                            &uri,
                            Some(&auth),
                            Some((JSON, Bytes::from(bodies[i].clone()))),
                        )
                        .await
                        .map_err(|e| format!("creating user {i}: {e}"))?;
                    match r.status {
                        200 => break,
                        429 if tries < 10 => {
                            tries += 1;
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                        s => return Err(format!("creating user {i}: HTTP {s}: {}", r.snippet())),
                    }
                }
            }
            Ok::<(), String>(())
        }));
    }
    for h in handles {
        h.await.map_err(|e| format!("user setup task: {e}"))??;
    }
    Ok(())
}

/// The password users' sign-in forms.
pub fn password_users(emails: &[String], password: &str) -> Vec<User> {
    emails
        .iter()
        .map(|e| User {
            form: Bytes::from(format!(
                "identifier={}&password={}",
                form_encode(e),
                form_encode(password)
            )),
        })
        .collect()
}

/// Why one operation failed: the step and the HTTP status or transport error.
pub(crate) struct Fail {
    step: &'static str,
    what: String,
    detail: String,
}

impl Fail {
    pub(crate) fn status(step: &'static str, r: &Reply) -> Fail {
        Fail {
            step,
            what: r.status.to_string(),
            detail: r.snippet(),
        }
    }

    pub(crate) fn transport(step: &'static str, e: crate::http::Error) -> Fail {
        Fail {
            step,
            what: "transport".into(),
            detail: e.to_string(),
        }
    }

    pub(crate) fn other(step: &'static str, what: &str, detail: String) -> Fail {
        Fail {
            step,
            what: what.into(),
            detail,
        }
    }

    fn label(&self) -> String {
        format!("{} {}", self.step, self.what)
    }
}

#[derive(Deserialize)]
struct SignInEnvelope<'a> {
    #[serde(borrow)]
    response: SignInBody<'a>,
}

#[derive(Deserialize)]
struct SignInBody<'a> {
    #[serde(borrow)]
    status: Cow<'a, str>,
    #[serde(borrow, default)]
    created_session_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct TokenBody<'a> {
    #[serde(borrow)]
    object: Cow<'a, str>,
    #[serde(borrow)]
    jwt: Cow<'a, str>,
}

/// The session a sign-in response says it created: `status: complete` and `created_session_id`.
pub(crate) fn created_session(step: &'static str, r: &Reply) -> Result<String, Fail> {
    let parsed: SignInEnvelope<'_> = serde_json::from_slice(&r.body)
        .map_err(|e| Fail::other(step, "unparsable", e.to_string()))?;
    match (&*parsed.response.status, parsed.response.created_session_id) {
        ("complete", Some(sid)) => Ok(sid.into_owned()),
        (status, _) => Err(Fail::other(step, "incomplete", format!("status {status}"))),
    }
}

struct SignedIn {
    session_id: String,
    authorization: HeaderValue,
}

/// `POST /v1/client/sign_ins` as a new native client (no Authorization header): identifier and
/// password in one request, which completes the sign-in.
async fn sign_in(conn: &mut Conn, uri: &Uri, user: &User) -> Result<SignedIn, Fail> {
    let r = conn
        .send(Method::POST, uri, None, Some((FORM, user.form.clone())))
        .await
        .map_err(|e| Fail::transport("sign_in", e))?;
    if r.status != 200 {
        return Err(Fail::status("sign_in", &r));
    }
    let session_id = created_session("sign_in", &r)?;
    let authorization = r.authorization.ok_or_else(|| {
        Fail::other(
            "sign_in",
            "no-token",
            "no authorization response header".into(),
        )
    })?;
    Ok(SignedIn {
        session_id,
        authorization,
    })
}

pub(crate) fn session_uri(session_id: &str, action: &str) -> Result<Uri, Fail> {
    Uri::try_from(format!(
        "/v1/client/sessions/{session_id}/{action}?_is_native=1"
    ))
    .map_err(|e| Fail::other("uri", "invalid", e.to_string()))
}

/// Sign in, touch (what `setActive` sends), mint a token. Latency of each step goes to `steps`.
async fn password_flow(
    conn: &mut Conn,
    sign_in_uri: &Uri,
    user: &User,
    steps: &mut [u128; 3],
) -> Result<(), Fail> {
    let t = Instant::now();
    let signed_in = sign_in(conn, sign_in_uri, user).await?;
    steps[0] = t.elapsed().as_micros();

    let t = Instant::now();
    let touch = session_uri(&signed_in.session_id, "touch")?;
    let r = conn
        .send(Method::POST, &touch, Some(&signed_in.authorization), None)
        .await
        .map_err(|e| Fail::transport("touch", e))?;
    if r.status != 200 {
        return Err(Fail::status("touch", &r));
    }
    let authorization = r.authorization.unwrap_or(signed_in.authorization);
    steps[1] = t.elapsed().as_micros();

    let t = Instant::now();
    let tokens = session_uri(&signed_in.session_id, "tokens")?;
    let r = conn
        .send(Method::POST, &tokens, Some(&authorization), None)
        .await
        .map_err(|e| Fail::transport("tokens", e))?;
    if r.status != 200 || r.body.is_empty() {
        return Err(Fail::status("tokens", &r));
    }
    steps[2] = t.elapsed().as_micros();
    Ok(())
}

/// The measurement window: operations that complete inside it count.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub(crate) start: Instant,
    pub(crate) end: Instant,
}

impl Window {
    pub(crate) fn contains(&self, t: Instant) -> bool {
        t >= self.start && t <= self.end
    }
}

/// What the workers of one run gathered.
#[derive(Default)]
pub struct Outcome {
    pub completed: u64,
    pub latency: Latencies,
    /// Flows only: each step's latency (password: sign_in, touch, tokens).
    pub steps: Vec<Latencies>,
    pub errors: Errors,
    pub first_error: Option<String>,
    pub connections: u64,
}

impl Outcome {
    /// Room for `n` operations of `steps` timed steps each.
    pub(crate) fn with_capacity(n: usize, steps: usize) -> Outcome {
        Outcome {
            latency: Latencies::with_capacity(n),
            steps: (0..steps).map(|_| Latencies::with_capacity(n)).collect(),
            ..Outcome::default()
        }
    }

    pub(crate) fn fail(&mut self, f: Fail) {
        if self.first_error.is_none() {
            self.first_error = Some(format!("{}: {}", f.label(), f.detail));
        }
        self.errors.add(f.label());
    }

    fn merge(&mut self, o: Outcome) {
        self.completed += o.completed;
        self.latency.merge(o.latency);
        if self.steps.len() < o.steps.len() {
            self.steps.resize_with(o.steps.len(), Latencies::default);
        }
        for (a, b) in self.steps.iter_mut().zip(o.steps) {
            a.merge(b);
        }
        self.errors.merge(o.errors);
        if self.first_error.is_none() {
            self.first_error = o.first_error;
        }
        self.connections += o.connections;
    }

    fn sort(&mut self) {
        self.latency.sort();
        for s in &mut self.steps {
            s.sort();
        }
    }
}

/// A scenario's result: the load, where the CPU went, and the bound it is compared to.
pub struct Run {
    pub concurrency: usize,
    pub window: Duration,
    pub outcome: Outcome,
    pub usage: Usage,
    pub bound: Bound,
}

impl Run {
    pub fn throughput(&self) -> f64 {
        self.outcome.completed as f64 / self.window.as_secs_f64()
    }

    /// Server CPU (and its local PostgreSQL's, if any) per completed operation, seconds.
    pub fn server_cpu_per_op(&self) -> f64 {
        let n = self.outcome.completed as f64 * self.usage.wall / self.window.as_secs_f64();
        if n > 0.0 {
            (self.usage.server + self.usage.database) / n
        } else {
            0.0
        }
    }

    /// Bound cost ÷ server CPU per operation: how much of the server's own CPU went into the
    /// work the bound counts. Unlike the ratio, other processes stealing CPU do not lower it
    /// (unless they also slowed the in-process measurement of the bound).
    pub fn efficiency(&self) -> f64 {
        let per_op = self.server_cpu_per_op();
        if per_op > 0.0 {
            self.bound.op_cost().as_secs_f64() / per_op
        } else {
            0.0
        }
    }

    pub fn ratio(&self) -> f64 {
        let b = self.bound.per_second();
        if b > 0.0 {
            self.throughput() / b
        } else {
            0.0
        }
    }
}

/// Starts workers for a window beginning after `warmup`, samples CPU at both edges, and merges
/// what the workers report.
pub(crate) async fn measure(
    server_pid: u32,
    database: bool,
    warmup: Duration,
    duration: Duration,
    spawn: impl FnOnce(Window) -> Vec<JoinHandle<Outcome>>,
) -> Result<(Outcome, Usage), String> {
    let start = Instant::now() + warmup;
    let window = Window {
        start,
        end: start + duration,
    };
    let handles = spawn(window);
    tokio::time::sleep_until(window.start.into()).await;
    let a = cpu::snapshot(server_pid, database);
    tokio::time::sleep_until(window.end.into()).await;
    let b = cpu::snapshot(server_pid, database);
    let mut total = Outcome::default();
    for h in handles {
        total.merge(h.await.map_err(|e| format!("worker: {e}"))?);
    }
    total.sort();
    Ok((total, Usage::between(&a, &b)))
}

/// Spawns `concurrency` workers for `window`, each on one keep-alive connection running `flow`
/// back to back, worker `w` cycling through users `w`, `w + concurrency`, …. `flow` gets the
/// connection, the users and the index of the one to run, and hands the connection back with
/// each of its `steps` timed steps' latency (µs); flows finishing inside the window count.
pub(crate) fn flow_workers<U, F, Fut>(
    addr: SocketAddr,
    users: Arc<Vec<U>>,
    concurrency: usize,
    window: Window,
    steps: usize,
    flow: F,
) -> Vec<JoinHandle<Outcome>>
where
    U: Send + Sync + 'static,
    F: Fn(Conn, Arc<Vec<U>>, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = (Conn, Result<Vec<u128>, Fail>)> + Send,
{
    let expected = (window.end.duration_since(window.start).as_secs() as usize + 1) * 64;
    (0..concurrency)
        .map(|w| {
            let (users, flow) = (Arc::clone(&users), flow.clone());
            tokio::spawn(async move {
                let mine: Vec<usize> = (w..users.len()).step_by(concurrency).collect();
                let mut conn = Conn::new(addr);
                let mut out = Outcome::with_capacity(expected, steps);
                let mut k = 0;
                while Instant::now() < window.end {
                    let user = mine[k];
                    k = (k + 1) % mine.len();
                    let t = Instant::now();
                    let (back, r) = flow(conn, Arc::clone(&users), user).await;
                    conn = back;
                    let done = Instant::now();
                    if !window.contains(done) {
                        continue;
                    }
                    match r {
                        Ok(timed) => {
                            out.completed += 1;
                            out.latency.record(done.duration_since(t).as_micros());
                            for (s, v) in out.steps.iter_mut().zip(timed) {
                                s.record(v);
                            }
                        }
                        Err(f) => out.fail(f),
                    }
                }
                out.connections = conn.connects;
                out
            })
        })
        .collect()
}

/// Scenario 1: `concurrency` workers, each on one keep-alive connection, run password flows
/// back to back, each flow as a fresh native client, spreading flows over the users.
#[allow(clippy::too_many_arguments)]
pub async fn password(
    addr: SocketAddr,
    server_pid: u32,
    database: bool,
    users: Arc<Vec<User>>,
    password: &str,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
) -> Result<Run, String> {
    let probe = Argon2Probe::new(password);
    let before = probe.samples(12);

    let expected = (duration.as_secs() as usize + 1) * 64;
    let (outcome, usage) = measure(server_pid, database, warmup, duration, |window| {
        (0..concurrency)
            .map(|w| {
                let users = Arc::clone(&users);
                tokio::spawn(async move {
                    let uri = Uri::from_static(SIGN_INS);
                    let mut conn = Conn::new(addr);
                    let mut out = Outcome::with_capacity(expected, 3);
                    let mut steps = [0u128; 3];
                    let mut k = w;
                    while Instant::now() < window.end {
                        let user = &users[k % users.len()];
                        k += concurrency;
                        let t = Instant::now();
                        let r = password_flow(&mut conn, &uri, user, &mut steps).await;
                        let done = Instant::now();
                        if !window.contains(done) {
                            continue;
                        }
                        match r {
                            Ok(()) => {
                                out.completed += 1;
                                out.latency.record(done.duration_since(t).as_micros());
                                for (s, v) in out.steps.iter_mut().zip(steps) {
                                    s.record(v);
                                }
                            }
                            Err(f) => out.fail(f),
                        }
                    }
                    out.connections = conn.connects;
                    out
                })
            })
            .collect()
    })
    .await?;

    let after = probe.samples(12);
    let parallel = probe.parallel_rate(cores(), 8);
    Ok(Run {
        concurrency,
        window: duration,
        outcome,
        usage,
        bound: Bound::new(before, after, parallel),
    })
}

/// Scenario 2: `concurrency` signed-in sessions, one per native client and connection, each
/// minting tokens back to back.
#[allow(clippy::too_many_arguments)]
pub async fn tokens(
    addr: SocketAddr,
    server_pid: u32,
    database: bool,
    frontend_api: &str,
    users: Arc<Vec<User>>,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
) -> Result<Run, String> {
    let sessions = sign_in_sessions(addr, &users, concurrency).await?;

    let probe = RsaProbe::new(frontend_api)?;
    let before = probe.samples(10, 50);

    let expected = (duration.as_secs() as usize + 1) * 200;
    let (outcome, usage) = measure(server_pid, database, warmup, duration, |window| {
        sessions
            .into_iter()
            .map(|(uri, authorization)| {
                tokio::spawn(async move {
                    let mut conn = Conn::new(addr);
                    let mut out = Outcome::with_capacity(expected, 0);
                    while Instant::now() < window.end {
                        let t = Instant::now();
                        let r = conn
                            .send(Method::POST, &uri, Some(&authorization), None)
                            .await;
                        let done = Instant::now();
                        if !window.contains(done) {
                            continue;
                        }
                        match r {
                            Ok(r) if r.status == 200 && !r.body.is_empty() => {
                                out.completed += 1;
                                out.latency.record(done.duration_since(t).as_micros());
                            }
                            Ok(r) => out.fail(Fail::status("tokens", &r)),
                            Err(e) => out.fail(Fail::transport("tokens", e)),
                        }
                    }
                    out.connections = conn.connects;
                    out
                })
            })
            .collect()
    })
    .await?;

    let after = probe.samples(10, 50);
    let parallel = probe.parallel_rate(cores(), 400);
    Ok(Run {
        concurrency,
        window: duration,
        outcome,
        usage,
        bound: Bound::new(before, after, parallel),
    })
}

/// `n` sessions, each on its own new client, as (tokens URI, client token). Each is checked once
/// by minting a token and reading it back.
async fn sign_in_sessions(
    addr: SocketAddr,
    users: &Arc<Vec<User>>,
    n: usize,
) -> Result<Vec<(Uri, HeaderValue)>, String> {
    // Sign-ins hash on the server's bounded pool; 16 in flight stays well inside its queue.
    let parallel = n.clamp(1, 16);
    let mut handles = Vec::with_capacity(parallel);
    for w in 0..parallel {
        let users = Arc::clone(users);
        handles.push(tokio::spawn(async move {
            let uri = Uri::from_static(SIGN_INS);
            let mut conn = Conn::new(addr);
            let mut made = Vec::new();
            for i in (w..n).step_by(parallel) {
                let user = &users[i % users.len()];
                let s = sign_in(&mut conn, &uri, user)
                    .await
                    .map_err(|f| format!("session setup: {}: {}", f.label(), f.detail))?;
                let tokens = session_uri(&s.session_id, "tokens")
                    .map_err(|f| format!("session setup: {}", f.detail))?;
                let r = conn
                    .send(Method::POST, &tokens, Some(&s.authorization), None)
                    .await
                    .map_err(|e| format!("session setup: tokens: {e}"))?;
                let ok = r.status == 200
                    && serde_json::from_slice::<TokenBody<'_>>(&r.body)
                        .is_ok_and(|t| t.object == "token" && t.jwt.split('.').count() == 3);
                if !ok {
                    return Err(format!(
                        "session setup: tokens answered HTTP {}: {}",
                        r.status,
                        r.snippet()
                    ));
                }
                made.push((tokens, r.authorization.unwrap_or(s.authorization)));
            }
            Ok::<_, String>(made)
        }));
    }
    let mut all = Vec::with_capacity(n);
    for h in handles {
        all.extend(h.await.map_err(|e| format!("session setup task: {e}"))??);
    }
    Ok(all)
}
