//! The physical limits the server is compared to, measured in this process on this machine:
//! one argon2id verification (OWASP parameters) and one RS256 signature with RSA-2048.
//!
//! Each cost is the 25th percentile of single-threaded samples taken right before and right after
//! a scenario; the bound is `cores / cost`. Other processes can only make a sample slower, never
//! faster, so a low percentile is what this machine does when undisturbed, while one lucky sample
//! (the minimum) would not be. A second, informational figure runs the same work on every core at
//! once, which shows how far the machine falls short of the ideal `cores ×` at that moment.

use serde::Serialize;
use std::sync::Barrier;
use std::time::{Duration, Instant};
use vestibule_crypto::{hash_password, verify_password, Argon2Params, PasswordHasher, SigningKey};
use vestibule_model::OsRng;

pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Nearest-rank percentile `p` (0–100) of `samples`; zero when there are none.
pub fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

/// The percentile of all samples that [`Bound::cost`] uses.
pub const COST_PERCENTILE: f64 = 25.0;

/// A stored digest as the server has one for each bench user, and the password that matches it.
pub struct Argon2Probe {
    password: String,
    digest: String,
    params: Argon2Params,
}

impl Argon2Probe {
    pub fn new(password: &str) -> Argon2Probe {
        let params = Argon2Params::default();
        Argon2Probe {
            password: password.to_owned(),
            digest: hash_password(password, &params, &OsRng),
            params,
        }
    }

    /// One verification, exactly as the server runs it (`verify_password`, argon2id m=19456 KiB,
    /// t=2, p=1, NFKC check included). Returns whether it matched.
    fn verify(&self) -> bool {
        matches!(
            verify_password(
                &self.password,
                PasswordHasher::Argon2id,
                &self.digest,
                &self.params
            ),
            Ok(vestibule_crypto::PasswordCheck::Match { .. })
        )
    }

    /// `n` single-threaded verifications, each timed, after one warm-up.
    pub fn samples(&self, n: usize) -> Vec<Duration> {
        std::hint::black_box(self.verify());
        (0..n)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(self.verify());
                t.elapsed()
            })
            .collect()
    }

    /// Verifications per second with `threads` threads each doing `each`.
    pub fn parallel_rate(&self, threads: usize, each: usize) -> f64 {
        parallel(threads, each, || {
            std::hint::black_box(self.verify());
        })
    }
}

/// Mirrors the server's session-token claims, so the signature covers a realistic payload.
#[derive(Serialize)]
struct Claims<'a> {
    exp: i64,
    fva: [i64; 2],
    iat: i64,
    iss: &'a str,
    nbf: i64,
    sid: &'a str,
    sts: &'a str,
    sub: &'a str,
    v: u8,
}

pub struct RsaProbe {
    key: SigningKey,
    issuer: String,
}

impl RsaProbe {
    pub fn new(issuer: &str) -> Result<RsaProbe, String> {
        let key = SigningKey::generate("ins_bench_key".into()).map_err(|e| e.to_string())?;
        Ok(RsaProbe {
            key,
            issuer: issuer.to_owned(),
        })
    }

    fn sign(&self) -> usize {
        let iat = 1_760_000_000;
        let claims = Claims {
            exp: iat + 60,
            fva: [0, -1],
            iat,
            iss: &self.issuer,
            nbf: iat - 10,
            sid: "sess_2x4Kq9VbQm7TzR1cW8nHjYpLdE3",
            sts: "active",
            sub: "user_2x4Kq9VbQm7TzR1cW8nHjYpLdE4",
            v: 2,
        };
        self.key.sign_jwt(&claims).map(|t| t.len()).unwrap_or(0)
    }

    /// Per-signature cost of `batches` single-threaded batches of `per_batch` signatures.
    pub fn samples(&self, batches: usize, per_batch: usize) -> Vec<Duration> {
        for _ in 0..per_batch.min(20) {
            std::hint::black_box(self.sign());
        }
        let per_batch = per_batch.max(1);
        (0..batches)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..per_batch {
                    std::hint::black_box(self.sign());
                }
                t.elapsed() / per_batch as u32
            })
            .collect()
    }

    pub fn parallel_rate(&self, threads: usize, each: usize) -> f64 {
        parallel(threads, each, || {
            std::hint::black_box(self.sign());
        })
    }
}

/// Operations per second with `threads` threads each doing `each` operations at once. Each
/// thread warms up with one operation first (its allocator arena, its caches); the clock runs
/// between two barriers, so thread start-up is not counted.
pub(crate) fn parallel(threads: usize, each: usize, work: impl Fn() + Sync) -> f64 {
    let ready = Barrier::new(threads + 1);
    let done = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                work();
                ready.wait();
                for _ in 0..each {
                    work();
                }
                done.wait();
            });
        }
        ready.wait();
        let start = Instant::now();
        done.wait();
        (threads * each) as f64 / start.elapsed().as_secs_f64()
    })
}

/// A bound measured before and after a scenario.
#[derive(Debug, Clone)]
pub struct Bound {
    pub cores: usize,
    /// Median of the samples before, and of those after (to show drift).
    pub median_before: Duration,
    pub median_after: Duration,
    pub samples: usize,
    /// [`COST_PERCENTILE`] of all samples, before and after: the cost the bound divides by.
    pub cost: Duration,
    /// Operations per second on all cores at once, measured (informational).
    pub parallel_rate: f64,
    /// How many times one scenario operation does the measured work (2 RS256 signatures per
    /// email-code flow); 1 unless set with [`Bound::per_op`].
    pub per_op: u32,
}

impl Bound {
    pub fn new(mut before: Vec<Duration>, mut after: Vec<Duration>, parallel_rate: f64) -> Bound {
        let mut all: Vec<Duration> = before.iter().chain(after.iter()).copied().collect();
        Bound {
            cores: cores(),
            median_before: percentile(&mut before, 50.0),
            median_after: percentile(&mut after, 50.0),
            samples: all.len(),
            cost: percentile(&mut all, COST_PERCENTILE),
            parallel_rate,
            per_op: 1,
        }
    }

    /// Each operation does the measured work `n` times.
    pub fn per_op(self, n: u32) -> Bound {
        Bound {
            per_op: n.max(1),
            ..self
        }
    }

    /// The measured work one operation does: cost × per_op.
    pub fn op_cost(&self) -> Duration {
        self.cost * self.per_op
    }

    /// cores / (cost × per_op), operations per second.
    pub fn per_second(&self) -> f64 {
        let c = self.op_cost().as_secs_f64();
        if c > 0.0 {
            self.cores as f64 / c
        } else {
            0.0
        }
    }
}
