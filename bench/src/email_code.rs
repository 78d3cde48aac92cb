//! Scenario 4: email-code sign-in end to end, each flow a new native client. Creating the sign-in
//! with `strategy=email_code` sends the code (a message in the outbox, delivered by the courier);
//! the flow reads it from the development inbox with the secret key, attempts it, and mints a
//! session token.

use crate::http::{Conn, FORM};
use crate::limits::{cores, Bound, RsaProbe};
use crate::scenarios::{
    created_session, form_encode, measure, session_uri, Fail, Outcome, Run, Window,
};
use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::{Method, Uri};
use serde::Deserialize;
use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SIGN_INS: &str = "/v1/client/sign_ins?_is_native=1";

/// RS256 signatures the server makes per flow: the new session's `last_active_token` in the
/// attempt's client view (a new session is never in the token cache), and the tokens request.
pub const SIGNATURES_PER_FLOW: u32 = 2;

/// The flow's timed steps, in order.
pub const STEPS: [&str; 4] = ["create", "inbox", "attempt", "tokens"];

/// A user of this scenario (no password), with its requests built once.
pub struct CodeUser {
    /// `strategy=email_code&identifier=<address>`.
    create: Bytes,
    /// `/v1/dev/messages?recipient=<address>&limit=1`: the newest message to the address.
    inbox: Uri,
}

/// The email address of email-code user `i` of run `tag` (apart from the password users).
pub fn email(i: usize, tag: &str) -> String {
    format!("c{i}.{tag}@bench.test")
}

pub fn users(emails: &[String]) -> Result<Vec<CodeUser>, String> {
    emails
        .iter()
        .map(|e| {
            let e = form_encode(e);
            Ok(CodeUser {
                create: Bytes::from(format!("strategy=email_code&identifier={e}")),
                inbox: Uri::try_from(format!("/v1/dev/messages?recipient={e}&limit=1"))
                    .map_err(|x| format!("inbox URI for {e}: {x}"))?,
            })
        })
        .collect()
}

#[derive(Deserialize)]
struct CreatedEnvelope<'a> {
    #[serde(borrow)]
    response: Created<'a>,
}

#[derive(Deserialize)]
struct Created<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    status: Cow<'a, str>,
    #[serde(borrow, default)]
    first_factor_verification: Option<Verification<'a>>,
}

#[derive(Deserialize)]
struct Verification<'a> {
    #[serde(borrow)]
    status: Cow<'a, str>,
    #[serde(borrow, default)]
    strategy: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Inbox<'a> {
    #[serde(borrow)]
    data: Vec<InboxEntry<'a>>,
}

#[derive(Deserialize)]
struct InboxEntry<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    purpose: Cow<'a, str>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
}

/// The first run of exactly six ASCII digits in `text`: the code in the built-in template.
fn six_digits(text: &str) -> Option<&str> {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i - start == 6 {
                return text.get(start..i);
            }
        } else {
            i += 1;
        }
    }
    None
}

/// One flow: create (sends the code) → read it from the inbox → attempt → tokens. `last_message`
/// is the id of the message the previous flow of this user read: the newest message must be a
/// new one, or the inbox did not show this flow's own. Each step's latency goes to `steps`.
async fn flow(
    conn: &mut Conn,
    sign_ins: &Uri,
    secret: &HeaderValue,
    user: &CodeUser,
    last_message: &mut String,
    steps: &mut [u128; 4],
) -> Result<(), Fail> {
    let t = Instant::now();
    let r = conn
        .send(
            Method::POST,
            sign_ins,
            None,
            Some((FORM, user.create.clone())),
        )
        .await
        .map_err(|e| Fail::transport("create", e))?;
    if r.status != 200 {
        return Err(Fail::status("create", &r));
    }
    let created: CreatedEnvelope<'_> = serde_json::from_slice(&r.body)
        .map_err(|e| Fail::other("create", "unparsable", e.to_string()))?;
    let c = &created.response;
    let sent = c
        .first_factor_verification
        .as_ref()
        .is_some_and(|v| v.status == "unverified" && v.strategy.as_deref() == Some("email_code"));
    if c.status != "needs_first_factor" || !sent {
        return Err(Fail::other(
            "create",
            "unexpected",
            format!("status {}, code sent: {sent}", c.status),
        ));
    }
    let attempt = Uri::try_from(format!(
        "/v1/client/sign_ins/{}/attempt_first_factor?_is_native=1",
        c.id
    ))
    .map_err(|e| Fail::other("create", "invalid-id", e.to_string()))?;
    let authorization = r.authorization.ok_or_else(|| {
        Fail::other(
            "create",
            "no-token",
            "no authorization response header".into(),
        )
    })?;
    steps[0] = t.elapsed().as_micros();

    let t = Instant::now();
    let r = conn
        .send(Method::GET, &user.inbox, Some(secret), None)
        .await
        .map_err(|e| Fail::transport("inbox", e))?;
    if r.status != 200 {
        return Err(Fail::status("inbox", &r));
    }
    let inbox: Inbox<'_> = serde_json::from_slice(&r.body)
        .map_err(|e| Fail::other("inbox", "unparsable", e.to_string()))?;
    let Some(m) = inbox.data.first() else {
        return Err(Fail::other("inbox", "empty", "no message".into()));
    };
    if m.purpose != "sign_in_code" || *m.id == **last_message {
        return Err(Fail::other(
            "inbox",
            "stale",
            format!("newest message {} ({}) is not this flow's", m.id, m.purpose),
        ));
    }
    let code = m
        .text
        .as_deref()
        .and_then(six_digits)
        .ok_or_else(|| Fail::other("inbox", "no-code", "no 6-digit code in the text".into()))?;
    let body = Bytes::from(format!("strategy=email_code&code={code}"));
    last_message.clear();
    last_message.push_str(&m.id);
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
    // The client token rotates when the sign-in completes (against session fixation).
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
    Ok(())
}

/// Scenario 4: `concurrency` workers, each on one keep-alive connection, run email-code flows
/// back to back. Worker `w` owns users `w`, `w + concurrency`, … and cycles through them, so no
/// two flows of one user overlap and the newest message to an address is the running flow's.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    addr: SocketAddr,
    server_pid: u32,
    database: bool,
    frontend_api: &str,
    secret_key: &str,
    users: Arc<Vec<CodeUser>>,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
) -> Result<Run, String> {
    if users.len() < concurrency {
        return Err(format!(
            "email-code needs at least one user per worker ({} < {concurrency})",
            users.len()
        ));
    }
    let secret = HeaderValue::from_str(&format!("Bearer {secret_key}"))
        .map_err(|e| format!("secret key header: {e}"))?;
    let probe = RsaProbe::new(frontend_api)?;
    let before = probe.samples(10, 50);

    let expected = (duration.as_secs() as usize + 1) * 64;
    let (outcome, usage) = measure(server_pid, database, warmup, duration, |window: Window| {
        (0..concurrency)
            .map(|w| {
                let users = Arc::clone(&users);
                let secret = secret.clone();
                tokio::spawn(async move {
                    let sign_ins = Uri::from_static(SIGN_INS);
                    let mine: Vec<usize> = (w..users.len()).step_by(concurrency).collect();
                    let mut last = vec![String::new(); mine.len()];
                    let mut conn = Conn::new(addr);
                    let mut out = Outcome::with_capacity(expected, STEPS.len());
                    let mut steps = [0u128; 4];
                    let mut k = 0;
                    while Instant::now() < window.end {
                        let (user, last) = (&users[mine[k]], &mut last[k]);
                        k = (k + 1) % mine.len();
                        let t = Instant::now();
                        let r = flow(&mut conn, &sign_ins, &secret, user, last, &mut steps).await;
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

    let after = probe.samples(10, 50);
    let parallel = probe.parallel_rate(cores(), 400);
    Ok(Run {
        concurrency,
        window: duration,
        outcome,
        usage,
        bound: Bound::new(before, after, parallel).per_op(SIGNATURES_PER_FLOW),
    })
}

#[cfg(test)]
mod tests {
    use super::six_digits;

    #[test]
    fn finds_the_code_and_only_a_six_digit_run() {
        let text = "Your Vestibule sign-in code is:\n\n    882133\n\nIt expires in 10 minutes.\n";
        assert_eq!(six_digits(text), Some("882133"));
        assert_eq!(
            six_digits("in 10 minutes: 1234567 then 012345."),
            Some("012345")
        );
        assert_eq!(six_digits("no code"), None);
    }
}
