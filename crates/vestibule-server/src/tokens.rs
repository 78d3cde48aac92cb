//! Session tokens: RS256 JWTs with Clerk's claims, minted for signed-in sessions only.
//!
//! Client responses carry each session's `last_active_token` so clerk-js needs no extra request;
//! a small per-node cache reuses a token while most of its life remains, because signing costs
//! far more than anything else such a response does. The tokens endpoint always mints afresh.

use crate::keys::KeyRing;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Mutex;
use vestibule_model::{Error, Session, SessionStatus, Timestamp};

#[derive(Debug, Serialize)]
struct Claims<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    azp: Option<&'a str>,
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

/// Clerk backdates `nbf` by 10 s so slightly slow verifier clocks still accept fresh tokens.
const NBF_BACKDATE_SECONDS: i64 = 10;

/// Tokens are cached per session and `azp` (the page origin goes into the token).
type CacheKey = (String, Option<String>);

struct Cached {
    jwt: String,
    exp: i64,
    /// What the token's `sts` and `fva` were made from: when the session changes (its
    /// `setup-mfa` task done, a factor verified again), the cached token no longer says the truth.
    made_from: (SessionStatus, Timestamp, Option<Timestamp>),
}

fn made_from(
    session: &Session,
    status: SessionStatus,
) -> (SessionStatus, Timestamp, Option<Timestamp>) {
    (
        status,
        session.first_factor_verified_at,
        session.second_factor_verified_at,
    )
}

pub struct Minter {
    issuer: String,
    lifetime_seconds: i64,
    cache: Mutex<HashMap<CacheKey, Cached>>,
}

const CACHE_LIMIT: usize = 50_000;

impl Minter {
    pub fn new(issuer: String, lifetime_seconds: i64) -> Minter {
        Minter {
            issuer,
            lifetime_seconds,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// A new token for a session the caller has checked is signed in.
    pub fn mint(
        &self,
        keys: &KeyRing,
        session: &Session,
        status: SessionStatus,
        azp: Option<&str>,
        now: Timestamp,
    ) -> Result<String, Error> {
        let iat = now.seconds();
        let claims = Claims {
            azp,
            exp: iat + self.lifetime_seconds,
            fva: session.factor_verification_age(now),
            iat,
            iss: &self.issuer,
            nbf: iat - NBF_BACKDATE_SECONDS,
            sid: session.id.as_str(),
            sts: status.as_str(),
            sub: session.user_id.as_str(),
            v: 2,
        };
        let jwt = keys
            .active()
            .sign_jwt(&claims)
            .map_err(|e| Error::internal(format!("signing a session token: {e}")))?;
        self.remember(session, status, azp, &jwt, claims.exp);
        Ok(jwt)
    }

    /// A token with at least half its life left from the cache, or a new one.
    pub fn current(
        &self,
        keys: &KeyRing,
        session: &Session,
        status: SessionStatus,
        azp: Option<&str>,
        now: Timestamp,
    ) -> Result<String, Error> {
        let key = (session.id.as_str().to_owned(), azp.map(str::to_owned));
        if let Ok(cache) = self.cache.lock() {
            if let Some(c) = cache.get(&key) {
                if c.exp - now.seconds() > self.lifetime_seconds / 2
                    && c.made_from == made_from(session, status)
                {
                    return Ok(c.jwt.clone());
                }
            }
        }
        self.mint(keys, session, status, azp, now)
    }

    fn remember(
        &self,
        session: &Session,
        status: SessionStatus,
        azp: Option<&str>,
        jwt: &str,
        exp: i64,
    ) {
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(
                (session.id.as_str().to_owned(), azp.map(str::to_owned)),
                Cached {
                    jwt: jwt.to_owned(),
                    exp,
                    made_from: made_from(session, status),
                },
            );
        }
    }

    /// Drops cached tokens of a session that ended, so this node never hands them out again.
    pub fn forget(&self, session_id: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.retain(|(sid, _), _| sid != session_id);
        }
    }
}
