//! Password hashing and verification on the bounded pool. A full queue answers 429 at once.

use std::sync::Arc;
use vestibule_crypto::{Argon2Params, HashPool, PasswordCheck, PasswordHasher, PoolError};
use vestibule_model::user::PasswordDigest;
use vestibule_model::{Error, Rng};

/// Longest password we spend a hash on. Far above any policy maximum, but it keeps a single
/// request from buying minutes of CPU with a megabyte password.
pub const MAX_PASSWORD_BYTES: usize = 4096;

#[derive(Clone)]
pub struct Passwords {
    pool: HashPool,
    params: Argon2Params,
    rng: Arc<dyn Rng>,
}

/// A password that matched, and whether its digest should be replaced by a current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    Match { needs_rehash: bool },
    Mismatch,
}

pub(crate) fn pool_error(e: PoolError) -> Error {
    match e {
        PoolError::Busy(b) => Error::TooManyRequests {
            retry_after_seconds: b.retry_after_seconds,
        },
        PoolError::JobPanicked => Error::internal("password hashing job panicked"),
    }
}

impl Passwords {
    pub fn new(pool: HashPool, params: Argon2Params, rng: Arc<dyn Rng>) -> Passwords {
        Passwords { pool, params, rng }
    }

    pub fn params(&self) -> Argon2Params {
        self.params
    }

    pub fn pool(&self) -> &HashPool {
        &self.pool
    }

    pub async fn hash(&self, password: &str) -> Result<PasswordDigest, Error> {
        let password = password.to_owned();
        let params = self.params;
        let rng = Arc::clone(&self.rng);
        let digest = self
            .pool
            .run(move || vestibule_crypto::hash_password(&password, &params, rng.as_ref()))
            .await
            .map_err(pool_error)?;
        Ok(PasswordDigest {
            hasher: PasswordHasher::Argon2id.as_str().to_owned(),
            digest,
        })
    }

    /// Checks `password` against a stored digest. An unreadable digest is an internal error (it was
    /// validated when stored), never a match.
    pub async fn verify(&self, password: &str, stored: &PasswordDigest) -> Result<Verified, Error> {
        if password.len() > MAX_PASSWORD_BYTES {
            return self.dummy(password).await.map(|_| Verified::Mismatch);
        }
        let hasher = PasswordHasher::parse(&stored.hasher).ok_or_else(|| {
            Error::internal(format!(
                "stored password hasher {:?} unknown",
                stored.hasher
            ))
        })?;
        let password = password.to_owned();
        let digest = stored.digest.clone();
        let params = self.params;
        let check = self
            .pool
            .run(move || vestibule_crypto::verify_password(&password, hasher, &digest, &params))
            .await
            .map_err(pool_error)?
            .map_err(|e| Error::internal(format!("stored password digest unreadable: {e}")))?;
        Ok(match check {
            PasswordCheck::Match { needs_rehash } => Verified::Match { needs_rehash },
            PasswordCheck::Mismatch => Verified::Mismatch,
        })
    }

    /// Spends what a real verification costs, for identifiers that name nobody.
    pub async fn dummy(&self, password: &str) -> Result<(), Error> {
        let password: String = password.chars().take(MAX_PASSWORD_BYTES).collect();
        let params = self.params;
        self.pool
            .run(move || vestibule_crypto::dummy_verify(&password, &params))
            .await
            .map_err(pool_error)
    }
}
