//! Session-token signing keys, shared by every node through the store.
//!
//! The newest unretired key signs. Rotation adds a key and retires the others; a retired key stays
//! in the JWKS for [`RETIRED_KEY_PUBLISHED_FOR_SECONDS`], far longer than any token it signed can
//! live and than it takes other nodes to notice the rotation ([`REFRESH_EVERY_SECONDS`]), so no
//! valid token ever fails to verify.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use vestibule_crypto::{Jwks, SigningKey};
use vestibule_model::{Clock, KeyId, Rng, Timestamp};
use vestibule_store::{keys, Store, StoreError};

pub const REFRESH_EVERY_SECONDS: u64 = 30;
pub const RETIRED_KEY_PUBLISHED_FOR_SECONDS: i64 = 600;
/// Retired keys are deleted after a day (long after they stopped being published).
pub const RETIRED_KEY_DELETED_AFTER_SECONDS: i64 = 24 * 3600;

#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing key {kid}: {reason}")]
    Key { kid: String, reason: String },
}

struct KeySet {
    active: Arc<SigningKey>,
    jwks: Jwks,
    /// Parsed keys by kid, so a refresh does not re-parse unchanged keys.
    parsed: HashMap<String, Arc<SigningKey>>,
}

pub struct KeyRing {
    set: RwLock<Arc<KeySet>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("active", &self.active().kid())
            .finish()
    }
}

impl KeyRing {
    /// Loads the keys, creating the first one if the store has none.
    pub async fn load_or_create(
        store: &Store,
        clock: &dyn Clock,
        rng: &dyn Rng,
    ) -> Result<KeyRing, KeyRingError> {
        let mut stored = {
            let mut c = store.read().await?;
            keys::all(&mut c).await?
        };
        if !stored.iter().any(|k| k.retired_at.is_none()) {
            insert_new_key(store, clock, rng, false).await?;
            let mut c = store.read().await?;
            stored = keys::all(&mut c).await?;
        }
        let set = build(&stored, &HashMap::new(), clock.now())?;
        Ok(KeyRing {
            set: RwLock::new(Arc::new(set)),
        })
    }

    fn current(&self) -> Arc<KeySet> {
        match self.set.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// The key that signs new tokens.
    pub fn active(&self) -> Arc<SigningKey> {
        Arc::clone(&self.current().active)
    }

    pub fn jwks(&self) -> Jwks {
        self.current().jwks.clone()
    }

    /// Re-reads the keys (another node may have rotated).
    pub async fn refresh(&self, store: &Store, clock: &dyn Clock) -> Result<(), KeyRingError> {
        let stored = {
            let mut c = store.read().await?;
            keys::all(&mut c).await?
        };
        if !stored.iter().any(|k| k.retired_at.is_none()) {
            return Ok(()); // mid-rotation elsewhere; keep what we have
        }
        let set = build(&stored, &self.current().parsed, clock.now())?;
        match self.set.write() {
            Ok(mut g) => *g = Arc::new(set),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(set),
        }
        Ok(())
    }
}

/// Generates a key and stores it; with `retire_others`, it becomes the only active key.
pub async fn insert_new_key(
    store: &Store,
    clock: &dyn Clock,
    rng: &dyn Rng,
    retire_others: bool,
) -> Result<String, KeyRingError> {
    let kid = KeyId::generate(rng).into_string();
    let key = tokio::task::spawn_blocking({
        let kid = kid.clone();
        move || SigningKey::generate(kid)
    })
    .await
    .map_err(|e| KeyRingError::Key {
        kid: kid.clone(),
        reason: e.to_string(),
    })?
    .map_err(|e| KeyRingError::Key {
        kid: kid.clone(),
        reason: e.to_string(),
    })?;
    let now = clock.now();
    let mut tx = store.begin().await?;
    keys::insert(
        &mut tx,
        &keys::StoredKey {
            kid: kid.clone(),
            private_key: key.pkcs8_der().to_vec(),
            created_at: now,
            retired_at: None,
        },
    )
    .await?;
    if retire_others {
        keys::retire_all_except(&mut tx, &kid, now).await?;
    }
    tx.commit().await?;
    Ok(kid)
}

fn build(
    stored: &[keys::StoredKey],
    known: &HashMap<String, Arc<SigningKey>>,
    now: Timestamp,
) -> Result<KeySet, KeyRingError> {
    let mut parsed = HashMap::new();
    let mut jwks = Jwks::default();
    let mut active: Option<Arc<SigningKey>> = None;
    // Newest first: the first unretired key signs.
    for k in stored {
        let published = match k.retired_at {
            None => true,
            Some(at) => now < at.plus_seconds(RETIRED_KEY_PUBLISHED_FOR_SECONDS),
        };
        if !published {
            continue;
        }
        let key = match known.get(&k.kid) {
            Some(existing) => Arc::clone(existing),
            None => Arc::new(
                SigningKey::from_pkcs8_der(k.kid.clone(), &k.private_key).map_err(|e| {
                    KeyRingError::Key {
                        kid: k.kid.clone(),
                        reason: e.to_string(),
                    }
                })?,
            ),
        };
        jwks.keys.push(key.public_jwk());
        if active.is_none() && k.retired_at.is_none() {
            active = Some(Arc::clone(&key));
        }
        parsed.insert(k.kid.clone(), key);
    }
    let active = active.ok_or_else(|| KeyRingError::Key {
        kid: String::new(),
        reason: "no active signing key".into(),
    })?;
    Ok(KeySet {
        active,
        jwks,
        parsed,
    })
}
