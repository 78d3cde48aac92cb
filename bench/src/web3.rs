//! Scenario 5: Web3 wallet sign-in end to end, each flow a new native client, as clerk-js's
//! `authenticateWithWeb3` runs it: `create` with the wallet's address, `prepare_first_factor`
//! (the message to sign), the wallet's `personal_sign` (here, in the generator, with k256),
//! `attempt_first_factor` with the signature, and a session token.
//!
//! The bound is the server's one EIP-191 verification per flow (secp256k1 public-key recovery and
//! Keccak-256, `vestibule_crypto::web3::verify_personal_sign`), measured in this process; the rest
//! of the server's CPU per flow is printed beside it.

use crate::http::{Conn, FORM};
use crate::limits::{cores, Bound};
use crate::scenarios::{
    created_session, flow_workers, form_encode, measure, session_uri, Fail, Run, Window,
};
use bytes::Bytes;
use hyper::{Method, Uri};
use k256::ecdsa::SigningKey;
use rand::Rng;
use serde::Deserialize;
use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vestibule_crypto::web3::{personal_sign_hash, verify_personal_sign, EthAddress};

const SIGN_INS: &str = "/v1/client/sign_ins?_is_native=1";
const STRATEGY: &str = "web3_metamask_signature";

/// The flow's timed steps, in order.
pub const STEPS: [&str; 5] = ["create", "prepare", "sign (bench)", "attempt", "tokens"];

/// A wallet user of this scenario, with its request built once.
pub struct WalletUser {
    key: SigningKey,
    address: String,
    /// `identifier=<address>`.
    create: Bytes,
}

fn random_key() -> SigningKey {
    loop {
        let bytes: [u8; 32] = rand::thread_rng().gen();
        // Fails only for the zero scalar or one at or above the curve order.
        if let Ok(k) = SigningKey::from_slice(&bytes) {
            return k;
        }
    }
}

/// `n` fresh wallets.
pub fn users(n: usize) -> Vec<WalletUser> {
    (0..n)
        .map(|_| {
            let key = random_key();
            let address = EthAddress::of_key(key.verifying_key()).checksummed();
            let create = Bytes::from(format!("identifier={}", form_encode(&address)));
            WalletUser {
                key,
                address,
                create,
            }
        })
        .collect()
}

/// The Backend API bodies that create them (`POST /v1/users`).
pub fn user_bodies(users: &[WalletUser]) -> Vec<String> {
    users
        .iter()
        .map(|u| {
            serde_json::json!({ "web3_wallet": [u.address], "skip_password_requirement": true })
                .to_string()
        })
        .collect()
}

/// What a wallet's `personal_sign` answers: 65 bytes, `v` of 27 or 28, in `0x` hex.
fn personal_sign(key: &SigningKey, message: &[u8]) -> Option<String> {
    let (sig, recovery) = key
        .sign_prehash_recoverable(&personal_sign_hash(message))
        .ok()?;
    let mut out = String::with_capacity(132);
    out.push_str("0x");
    for b in sig
        .to_bytes()
        .iter()
        .chain([27 + recovery.to_byte()].iter())
    {
        out.push_str(&format!("{b:02x}"));
    }
    Some(out)
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
    supported_first_factors: Vec<FactorView<'a>>,
    #[serde(borrow, default)]
    first_factor_verification: Option<VerificationView<'a>>,
}

#[derive(Deserialize)]
struct FactorView<'a> {
    #[serde(borrow)]
    strategy: Cow<'a, str>,
    #[serde(borrow, default)]
    web3_wallet_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct VerificationView<'a> {
    #[serde(borrow, default)]
    message: Option<Cow<'a, str>>,
}

fn parse<'a>(step: &'static str, body: &'a [u8]) -> Result<SignInView<'a>, Fail> {
    serde_json::from_slice::<Envelope<'_>>(body)
        .map(|e| e.response)
        .map_err(|e| Fail::other(step, "unparsable", e.to_string()))
}

fn step_uri(id: &str, action: &str) -> Result<Uri, Fail> {
    Uri::try_from(format!("/v1/client/sign_ins/{id}/{action}?_is_native=1"))
        .map_err(|e| Fail::other("create", "invalid-id", e.to_string()))
}

/// One flow: create → prepare → sign → attempt → tokens; each step's latency goes to `steps`.
async fn flow(
    conn: &mut Conn,
    sign_ins: &Uri,
    user: &WalletUser,
    steps: &mut [u128; 5],
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
    let si = parse("create", &r.body)?;
    let wallet_id = si
        .supported_first_factors
        .iter()
        .find(|f| f.strategy == STRATEGY)
        .and_then(|f| f.web3_wallet_id.as_deref())
        .ok_or_else(|| Fail::other("create", "no-factor", format!("status {}", si.status)))?;
    let prepare = step_uri(&si.id, "prepare_first_factor")?;
    let attempt = step_uri(&si.id, "attempt_first_factor")?;
    let body = Bytes::from(format!(
        "strategy={STRATEGY}&web3_wallet_id={}",
        form_encode(wallet_id)
    ));
    let authorization = r.authorization.clone().ok_or_else(|| {
        Fail::other(
            "create",
            "no-token",
            "no authorization response header".into(),
        )
    })?;
    steps[0] = t.elapsed().as_micros();

    let t = Instant::now();
    let r = conn
        .send(
            Method::POST,
            &prepare,
            Some(&authorization),
            Some((FORM, body)),
        )
        .await
        .map_err(|e| Fail::transport("prepare", e))?;
    if r.status != 200 {
        return Err(Fail::status("prepare", &r));
    }
    let si = parse("prepare", &r.body)?;
    let message = si
        .first_factor_verification
        .and_then(|v| v.message)
        .ok_or_else(|| Fail::other("prepare", "no-message", "nothing to sign".into()))?;
    steps[1] = t.elapsed().as_micros();

    let t = Instant::now();
    let signature = personal_sign(&user.key, message.as_bytes())
        .ok_or_else(|| Fail::other("sign", "signer", "k256 could not sign".into()))?;
    let body = Bytes::from(format!("strategy={STRATEGY}&signature={signature}"));
    steps[2] = t.elapsed().as_micros();

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
    steps[3] = t.elapsed().as_micros();

    let t = Instant::now();
    let tokens = session_uri(&session_id, "tokens")?;
    let r = conn
        .send(Method::POST, &tokens, Some(&authorization), None)
        .await
        .map_err(|e| Fail::transport("tokens", e))?;
    if r.status != 200 || r.body.is_empty() {
        return Err(Fail::status("tokens", &r));
    }
    steps[4] = t.elapsed().as_micros();
    Ok(())
}

/// One EIP-191 verification, as the server runs it, over a message shaped like the server's.
pub struct Web3Probe {
    message: Vec<u8>,
    signature: String,
    address: String,
}

impl Web3Probe {
    pub fn new() -> Result<Web3Probe, String> {
        let key = random_key();
        let message = b"0Qx3m9VbQm7TzR1cW8nHjYpLdE3-Kq9VbQm7TzR1cW8".to_vec();
        let signature = personal_sign(&key, &message).ok_or("k256 could not sign")?;
        Ok(Web3Probe {
            message,
            signature,
            address: EthAddress::of_key(key.verifying_key()).checksummed(),
        })
    }

    fn verify(&self) -> bool {
        verify_personal_sign(&self.message, &self.signature, &self.address).unwrap_or(false)
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

/// Scenario 5: `concurrency` workers, each on one keep-alive connection, run wallet flows back
/// to back ([`flow_workers`]).
pub async fn run(
    addr: SocketAddr,
    server_pid: u32,
    database: bool,
    users: Arc<Vec<WalletUser>>,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
) -> Result<Run, String> {
    if users.len() < concurrency {
        return Err(format!(
            "web3 needs at least one user per worker ({} < {concurrency})",
            users.len()
        ));
    }
    let probe = Web3Probe::new()?;
    if !probe.verify() {
        return Err("the in-process EIP-191 probe does not verify its own signature".into());
    }
    let before = probe.samples(10, 200);
    let (outcome, usage) = measure(server_pid, database, warmup, duration, |window: Window| {
        flow_workers(
            addr,
            users,
            concurrency,
            window,
            STEPS.len(),
            |mut conn, users, i| async move {
                let sign_ins = Uri::from_static(SIGN_INS);
                let mut steps = [0u128; 5];
                let r = flow(&mut conn, &sign_ins, &users[i], &mut steps).await;
                (conn, r.map(|()| steps.to_vec()))
            },
        )
    })
    .await?;
    let after = probe.samples(10, 200);
    let parallel = probe.parallel_rate(cores(), 2000);
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

    #[test]
    fn the_generators_signature_is_what_the_server_accepts() {
        let u = &users(1)[0];
        let sig = personal_sign(&u.key, b"hello").expect("sign");
        assert_eq!(sig.len(), 132);
        assert_eq!(verify_personal_sign(b"hello", &sig, &u.address), Ok(true));
        assert_eq!(verify_personal_sign(b"hellO", &sig, &u.address), Ok(false));
    }
}
