//! Public keys an identity provider publishes (Google's, for One Tap), fetched from its JWKS URL
//! and kept for an hour. A token signed by a key not in the copy held triggers one early
//! refetch, at most once a minute, so a provider's key rotation is picked up without letting
//! forged tokens make this server hammer the provider.

use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use vestibule_crypto::{Jwk, Jwks};
use vestibule_model::Error;

/// How long a fetched key set is used before it is fetched again.
const FRESH_FOR: Duration = Duration::from_secs(3600);
/// The least time between two fetches, however many unknown keys are presented.
const REFETCH_AFTER: Duration = Duration::from_secs(60);
/// A provider that does not answer within this makes the sign-in fail, not hang.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Far above any real key set.
const MAX_JWKS_BYTES: usize = 256 * 1024;

struct Held {
    keys: Arc<Jwks>,
    fetched: Instant,
}

pub struct ProviderKeys {
    url: String,
    http: reqwest::Client,
    held: Mutex<Option<Held>>,
}

impl std::fmt::Debug for ProviderKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderKeys")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl ProviderKeys {
    pub fn new(url: &str) -> ProviderKeys {
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .unwrap_or_default();
        ProviderKeys {
            url: url.to_owned(),
            http,
            held: Mutex::new(None),
        }
    }

    /// The key set, fetched when none is held or the one held is over an hour old; with
    /// `unknown_kid`, fetched again unless the copy held is under a minute old.
    pub async fn get(&self, unknown_kid: bool) -> Result<Arc<Jwks>, Error> {
        let mut held = self.held.lock().await;
        let stale = |h: &Held| {
            let age = h.fetched.elapsed();
            age >= FRESH_FOR || (unknown_kid && age >= REFETCH_AFTER)
        };
        if let Some(h) = held.as_ref().filter(|h| !stale(h)) {
            return Ok(Arc::clone(&h.keys));
        }
        match self.fetch().await {
            Ok(keys) => {
                let keys = Arc::new(keys);
                *held = Some(Held {
                    keys: Arc::clone(&keys),
                    fetched: Instant::now(),
                });
                Ok(keys)
            }
            // A provider briefly down: the keys held still verify what they signed.
            Err(e) => match held.as_ref() {
                Some(h) => {
                    tracing::warn!(url = %self.url, error = %e, "identity provider keys not refreshed");
                    Ok(Arc::clone(&h.keys))
                }
                None => {
                    tracing::warn!(url = %self.url, error = %e, "identity provider keys unavailable");
                    Err(Error::Unavailable {
                        detail: "the identity provider's keys could not be fetched".into(),
                    })
                }
            },
        }
    }

    async fn fetch(&self) -> Result<Jwks, String> {
        let res = self
            .http
            .get(&self.url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !res.status().is_success() {
            return Err(format!("HTTP {}", res.status()));
        }
        let body = res.bytes().await.map_err(|e| e.to_string())?;
        if body.len() > MAX_JWKS_BYTES {
            return Err("key set too large".into());
        }
        parse_jwks(&body)
    }
}

/// The RS256 signing keys of a published key set. Keys of other types or uses are skipped, and
/// `alg` and `use`, optional in RFC 7517, default to what an RSA signing key means.
fn parse_jwks(body: &[u8]) -> Result<Jwks, String> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let keys = v["keys"].as_array().ok_or("no keys array")?;
    let text = |k: &serde_json::Value, f: &str| k[f].as_str().map(str::to_owned);
    let keys = keys
        .iter()
        .filter(|k| k["kty"] == "RSA")
        .filter(|k| k["alg"].is_null() || k["alg"] == "RS256")
        .filter(|k| k["use"].is_null() || k["use"] == "sig")
        .filter_map(|k| {
            Some(Jwk {
                kid: text(k, "kid")?,
                kty: "RSA".into(),
                alg: "RS256".into(),
                use_: "sig".into(),
                n: text(k, "n")?,
                e: text(k, "e")?,
            })
        })
        .collect();
    Ok(Jwks { keys })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rs256_signing_keys_are_kept() {
        let body = br#"{"keys":[
            {"kty":"RSA","kid":"a","n":"nn","e":"AQAB","alg":"RS256","use":"sig"},
            {"kty":"RSA","kid":"b","n":"nn","e":"AQAB"},
            {"kty":"RSA","kid":"c","n":"nn","e":"AQAB","use":"enc"},
            {"kty":"EC","kid":"d","crv":"P-256","x":"x","y":"y"},
            {"kty":"RSA","kid":"e","n":"nn","e":"AQAB","alg":"RS512"}
        ]}"#;
        let kids: Vec<String> = parse_jwks(body)
            .expect("parsed")
            .keys
            .into_iter()
            .map(|k| k.kid)
            .collect();
        assert_eq!(kids, ["a", "b"]);
        assert!(parse_jwks(b"{}").is_err());
    }
}
