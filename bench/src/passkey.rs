//! Scenario 6: discoverable passkey sign-in end to end, each flow a new native client, as
//! clerk-js's `authenticateWithPasskey({ flow: 'discoverable' })` runs it: `create` with
//! `strategy=passkey` (the answer carries the request options), the authenticator's assertion
//! (here, in the generator, with the SDK's software authenticator), `attempt_first_factor` with
//! it, and a session token.
//!
//! Each user registers one passkey in setup, through the Frontend API as a signed-in user would
//! (`POST /v1/me/passkeys`, `attempt_verification`), with a software authenticator of its own.
//! The bound is the server's one WebAuthn assertion verification per flow (`webauthn_rp`: the
//! credential JSON parsed, client data and authenticator data checked, ECDSA P-256 over SHA-256:
//! the software authenticator makes ES256 credentials, as platform passkeys do),
//! measured in this process; the rest of the server's CPU per flow is printed beside it.

use crate::http::{Conn, FORM, JSON};
use crate::limits::{cores, Bound};
use crate::scenarios::{
    created_session, flow_workers, form_encode, measure, session_uri, Fail, Run, Window,
};
use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::{Method, Uri};
use serde::Deserialize;
use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vestibule_client::{Clerk, PasskeyAuthenticator, SignInCreateParams, SoftwareAuthenticator};
use vestibule_crypto::passkey::{
    Assertion, NewCredential, RelyingParty, StoredCredential, USER_HANDLE_LEN,
};

/// The page the software authenticators claim to act for, and the RP ID that covers it; the
/// server's `[settings.passkeys]` in `bench.toml` names both.
pub const ORIGIN: &str = "http://localhost:5173";
pub const RP_ID: &str = "localhost";

const SIGN_INS: &str = "/v1/client/sign_ins?_is_native=1";

/// The flow's timed steps, in order.
pub const STEPS: [&str; 4] = ["create", "assert (bench)", "attempt", "tokens"];

/// A user of this scenario: the authenticator holding its one passkey.
pub struct PasskeyUser {
    authenticator: SoftwareAuthenticator,
}

/// The email address of passkey user `i` of run `tag`.
pub fn email(i: usize, tag: &str) -> String {
    format!("p{i}.{tag}@bench.test")
}

/// Answers `body` from the Backend API (JSON, `secret_key`), as JSON.
async fn bapi(
    conn: &mut Conn,
    auth: &HeaderValue,
    path: &'static str,
    body: serde_json::Value,
) -> Result<serde_json::Value, String> {
    let uri = Uri::from_static(path);
    let r = conn
        .send(
            Method::POST,
            &uri,
            Some(auth),
            Some((JSON, Bytes::from(body.to_string()))),
        )
        .await
        .map_err(|e| format!("{path}: {e}"))?;
    if r.status != 200 {
        return Err(format!("{path}: HTTP {}: {}", r.status, r.snippet()));
    }
    serde_json::from_slice(&r.body).map_err(|e| format!("{path}: {e}"))
}

/// One user: created through the Backend API without a password, signed in with a sign-in
/// ticket through the SDK, and its passkey registered with `create_passkey`.
async fn register(
    conn: &mut Conn,
    auth: &HeaderValue,
    frontend_api: &str,
    email: &str,
) -> Result<PasskeyUser, String> {
    let user = bapi(
        conn,
        auth,
        "/v1/users",
        serde_json::json!({ "email_address": [email], "skip_password_requirement": true }),
    )
    .await?;
    let user_id = user["id"].as_str().ok_or("POST /v1/users: no id")?;
    let ticket = bapi(
        conn,
        auth,
        "/v1/sign_in_tokens",
        serde_json::json!({ "user_id": user_id }),
    )
    .await?;
    let ticket = ticket["token"]
        .as_str()
        .ok_or("POST /v1/sign_in_tokens: no token")?;
    let clerk = Clerk::new(frontend_api).map_err(|e| e.to_string())?;
    let signed_in = clerk
        .sign_in()
        .create(SignInCreateParams::ticket(ticket))
        .await
        .map_err(|e| format!("ticket sign-in: {e}"))?;
    let session = signed_in
        .created_session_id
        .ok_or("the ticket sign-in created no session")?;
    clerk
        .set_active(&session)
        .await
        .map_err(|e| format!("set_active: {e}"))?;
    let authenticator = SoftwareAuthenticator::new(ORIGIN).map_err(|e| e.to_string())?;
    clerk
        .create_passkey(&authenticator)
        .await
        .map_err(|e| format!("registering a passkey: {e}"))?;
    Ok(PasskeyUser { authenticator })
}

/// `n` users with a passkey each, `parallel` registered at a time.
pub async fn users(
    addr: SocketAddr,
    frontend_api: &str,
    secret_key: &str,
    n: usize,
    tag: &str,
    parallel: usize,
) -> Result<Vec<PasskeyUser>, String> {
    let auth = HeaderValue::from_str(&format!("Bearer {secret_key}"))
        .map_err(|e| format!("secret key header: {e}"))?;
    let parallel = parallel.clamp(1, n.max(1));
    let mut handles = Vec::with_capacity(parallel);
    for w in 0..parallel {
        let (auth, frontend_api, tag) = (auth.clone(), frontend_api.to_owned(), tag.to_owned());
        handles.push(tokio::spawn(async move {
            let mut conn = Conn::new(addr);
            let mut made = Vec::new();
            for i in (w..n).step_by(parallel) {
                let user = register(&mut conn, &auth, &frontend_api, &email(i, &tag))
                    .await
                    .map_err(|e| format!("passkey user {i}: {e}"))?;
                made.push(user);
            }
            Ok::<_, String>(made)
        }));
    }
    let mut all = Vec::with_capacity(n);
    for h in handles {
        all.extend(h.await.map_err(|e| format!("passkey setup task: {e}"))??);
    }
    Ok(all)
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    response: SignInView<'a>,
}

#[derive(Deserialize)]
struct SignInView<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    status: Cow<'a, str>,
    #[serde(borrow, default)]
    first_factor_verification: Option<VerificationView<'a>>,
}

#[derive(Deserialize)]
struct VerificationView<'a> {
    #[serde(borrow, default)]
    nonce: Option<Cow<'a, str>>,
}

/// One flow: create → assert → attempt → tokens; each step's latency in µs.
async fn flow(conn: &mut Conn, user: &PasskeyUser) -> Result<Vec<u128>, Fail> {
    let mut steps = vec![0u128; STEPS.len()];
    let t = Instant::now();
    let sign_ins = Uri::from_static(SIGN_INS);
    let body = Bytes::from_static(b"strategy=passkey");
    let r = conn
        .send(Method::POST, &sign_ins, None, Some((FORM, body)))
        .await
        .map_err(|e| Fail::transport("create", e))?;
    if r.status != 200 {
        return Err(Fail::status("create", &r));
    }
    let si = serde_json::from_slice::<Envelope<'_>>(&r.body)
        .map_err(|e| Fail::other("create", "unparsable", e.to_string()))?
        .response;
    let options = si
        .first_factor_verification
        .and_then(|v| v.nonce)
        .ok_or_else(|| Fail::other("create", "no-nonce", format!("status {}", si.status)))?;
    let attempt = Uri::try_from(format!(
        "/v1/client/sign_ins/{}/attempt_first_factor?_is_native=1",
        si.id
    ))
    .map_err(|e| Fail::other("create", "invalid-id", e.to_string()))?;
    let authorization = r.authorization.clone().ok_or_else(|| {
        Fail::other(
            "create",
            "no-token",
            "no authorization response header".into(),
        )
    })?;
    steps[0] = t.elapsed().as_micros();

    let t = Instant::now();
    let assertion = user
        .authenticator
        .get_assertion(&options)
        .await
        .map_err(|e| Fail::other("assert", "authenticator", e.to_string()))?;
    let body = Bytes::from(format!(
        "strategy=passkey&public_key_credential={}",
        form_encode(&assertion)
    ));
    steps[1] = t.elapsed().as_micros();

    let t = Instant::now();
    let r = conn
        .send(
            Method::POST,
            &attempt,
            Some(&authorization),
            Some((FORM, body)),
        )
        .await
        .map_err(|e| Fail::transport("attempt", e))?;
    if r.status != 200 {
        return Err(Fail::status("attempt", &r));
    }
    let session_id = created_session("attempt", &r)?;
    let authorization = r.authorization.unwrap_or(authorization);
    steps[2] = t.elapsed().as_micros();

    let t = Instant::now();
    let tokens = session_uri(&session_id, "tokens")?;
    let r = conn
        .send(Method::POST, &tokens, Some(&authorization), None)
        .await
        .map_err(|e| Fail::transport("tokens", e))?;
    if r.status != 200 || r.body.is_empty() {
        return Err(Fail::status("tokens", &r));
    }
    steps[3] = t.elapsed().as_micros();
    Ok(steps)
}

/// One discoverable assertion verification, as the server runs it: the server's own relying
/// party (`vestibule_crypto::passkey`, over `webauthn_rp`) parsing the assertion JSON, decoding
/// the stored challenge and credential, and verifying.
pub struct PasskeyProbe {
    rp: RelyingParty,
    /// What the server stores of the credential.
    credential: NewCredential,
    user_handle: [u8; USER_HANDLE_LEN],
    /// One challenge's stored state and the authenticator's answer to it.
    challenge_state: Vec<u8>,
    assertion: String,
}

impl PasskeyProbe {
    /// Registers a software authenticator with an in-process relying party and has it answer
    /// one challenge. Challenges expire, so each measurement takes a fresh probe.
    pub async fn new() -> Result<PasskeyProbe, String> {
        let rp = RelyingParty::new(RP_ID, vec![ORIGIN.into()]).map_err(|e| e.to_string())?;
        let user_handle = [7; USER_HANDLE_LEN];
        let registration = rp
            .start_registration(&user_handle, "probe@bench.test", &[])
            .map_err(|e| e.to_string())?;
        let authenticator = SoftwareAuthenticator::new(ORIGIN).map_err(|e| e.to_string())?;
        let created = authenticator
            .create_credential(&registration.options_json)
            .await
            .map_err(|e| e.to_string())?;
        let credential = rp
            .finish_registration(&registration.state, &created)
            .map_err(|e| format!("probe registration: {e}"))?;
        let challenge = rp.start_authentication(&[]).map_err(|e| e.to_string())?;
        let assertion = authenticator
            .get_assertion(&challenge.options_json)
            .await
            .map_err(|e| e.to_string())?;
        Ok(PasskeyProbe {
            rp,
            credential,
            user_handle,
            challenge_state: challenge.state,
            assertion,
        })
    }

    /// One verification; whether it verified.
    fn verify(&self) -> bool {
        self.try_verify().is_ok()
    }

    fn try_verify(&self) -> Result<(), String> {
        let assertion = Assertion::parse(&self.assertion).map_err(|e| e.to_string())?;
        let stored = StoredCredential {
            credential_id: &self.credential.credential_id,
            user_handle: &self.user_handle,
            public_key: &self.credential.public_key,
            dynamic_state: &self.credential.dynamic_state,
        };
        self.rp
            .finish_authentication(&self.challenge_state, &assertion, stored)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Per-verification cost of `batches` single-threaded batches of `per_batch`.
    pub fn samples(&self, batches: usize, per_batch: usize) -> Vec<Duration> {
        for _ in 0..per_batch.min(20) {
            std::hint::black_box(self.verify());
        }
        let per_batch = per_batch.max(1);
        (0..batches)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..per_batch {
                    std::hint::black_box(self.verify());
                }
                t.elapsed() / per_batch as u32
            })
            .collect()
    }

    pub fn parallel_rate(&self, threads: usize, each: usize) -> f64 {
        crate::limits::parallel(threads, each, || {
            std::hint::black_box(self.verify());
        })
    }
}

/// A probe whose own assertion verifies (a probe that measures failures would understate).
async fn sound_probe() -> Result<PasskeyProbe, String> {
    let probe = PasskeyProbe::new().await?;
    probe.try_verify().map_err(|e| {
        format!("the in-process WebAuthn probe does not verify its own assertion: {e}")
    })?;
    Ok(probe)
}

/// Scenario 6: `concurrency` workers, each on one keep-alive connection, run discoverable
/// passkey flows back to back ([`flow_workers`]).
pub async fn run(
    addr: SocketAddr,
    server_pid: u32,
    database: bool,
    users: Arc<Vec<PasskeyUser>>,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
) -> Result<Run, String> {
    if users.len() < concurrency {
        return Err(format!(
            "passkey needs at least one user per worker ({} < {concurrency})",
            users.len()
        ));
    }
    let before = sound_probe().await?.samples(10, 100);
    let (outcome, usage) = measure(server_pid, database, warmup, duration, |window: Window| {
        flow_workers(
            addr,
            users,
            concurrency,
            window,
            STEPS.len(),
            |mut conn, users, i| async move {
                let r = flow(&mut conn, &users[i]).await;
                (conn, r)
            },
        )
    })
    .await?;
    let probe = sound_probe().await?;
    let after = probe.samples(10, 100);
    let parallel = probe.parallel_rate(cores(), 1000);
    Ok(Run {
        concurrency,
        window: duration,
        outcome,
        usage,
        bound: Bound::new(before, after, parallel),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_probe_verifies_its_assertion_and_refuses_a_tampered_one() {
        let mut probe = sound_probe().await.expect("probe");
        assert_eq!(probe.samples(1, 1).len(), 1);
        probe.assertion = vestibule_client::flip_signature_byte(&probe.assertion).expect("tamper");
        assert!(!probe.verify());
    }
}
