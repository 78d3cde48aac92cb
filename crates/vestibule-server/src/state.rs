//! The state every handler shares, and building it from a [`Config`].

use crate::config::Config;
use crate::instance::{generate_secret_key, Instance};
use crate::keys::KeyRing;
use crate::passwords::Passwords;
use crate::provider_keys::ProviderKeys;
use crate::secrets::Secrets;
use crate::tokens::Minter;
use std::sync::Arc;
use vestibule_courier::{Courier, Templates};
use vestibule_crypto::HashPool;
use vestibule_model::{Clock, OsRng, Rng, Settings, SystemClock};
use vestibule_store::{instance as instance_values, Store, StoreOptions};

pub struct Inner {
    pub store: Store,
    pub settings: Settings,
    pub instance: Instance,
    pub keys: KeyRing,
    pub passwords: Passwords,
    pub minter: Minter,
    pub secrets: Secrets,
    pub courier: Courier,
    pub templates: Templates,
    pub trusted_proxy_header: Option<String>,
    /// Google's ID-token keys, for One Tap.
    pub google_keys: ProviderKeys,
    /// The WebAuthn relying party, when passkeys are on.
    pub passkeys: Option<vestibule_crypto::passkey::RelyingParty>,
    pub clock: Arc<dyn Clock>,
    pub rng: Arc<dyn Rng>,
}

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// Time and randomness, injected so tests can move the clock.
#[derive(Clone)]
pub struct Deps {
    pub clock: Arc<dyn Clock>,
    pub rng: Arc<dyn Rng>,
}

impl Default for Deps {
    fn default() -> Self {
        Deps {
            clock: Arc::new(SystemClock),
            rng: Arc::new(OsRng),
        }
    }
}

const SECRET_KEY: &str = "secret_key";

impl AppState {
    /// Opens (and migrates) the store, settles the instance's keys and builds the state.
    /// `frontend_api_url` is the resolved URL (the binary fills it from the bound address).
    pub async fn build(
        config: &Config,
        frontend_api_url: &str,
        deps: Deps,
    ) -> Result<AppState, String> {
        let options = StoreOptions {
            max_connections: config.database_max_connections,
            ..StoreOptions::default()
        };
        let store = Store::open(&config.database_url, &options)
            .await
            .map_err(|e| format!("database {}: {e}", redact_url(&config.database_url)))?;
        AppState::with_store(config, frontend_api_url, store, deps).await
    }

    pub async fn with_store(
        config: &Config,
        frontend_api_url: &str,
        store: Store,
        deps: Deps,
    ) -> Result<AppState, String> {
        let mode = config.settings.mode;
        let secret_key = match &config.secret_key {
            Some(k) => k.clone(),
            None => stored_secret_key(&store, mode, deps.rng.as_ref()).await?,
        };
        let instance = Instance::new(mode, frontend_api_url, secret_key, &config.allowed_origins)?;
        let passkeys = crate::passkeys::relying_party(&config.settings.passkeys, &instance)?;
        let keys = KeyRing::load_or_create(&store, deps.clock.as_ref(), deps.rng.as_ref())
            .await
            .map_err(|e| format!("signing keys: {e}"))?;
        let pool = HashPool::new(config.hashing.thread_count(), config.hashing.queue);
        let passwords = Passwords::new(pool, config.hashing.argon2(), Arc::clone(&deps.rng));
        let minter = Minter::new(
            instance.frontend_api_url.clone(),
            config.settings.sessions.token_lifetime_seconds,
        );
        let secrets = Secrets::load(&store, deps.rng.as_ref()).await?;
        let templates = config.courier.templates().map_err(|e| e.to_string())?;
        let transports = config
            .courier
            .transports(Arc::clone(&deps.clock))
            .map_err(|e| e.to_string())?;
        let courier = Courier::new(
            store.clone(),
            Arc::new(vestibule_crypto::Sealer::new(secrets.seal_key())),
            transports,
            Arc::clone(&deps.clock),
            Arc::clone(&deps.rng),
            config.settings.mode == vestibule_model::InstanceMode::Development,
        );
        Ok(AppState(Arc::new(Inner {
            store,
            settings: config.settings.clone(),
            instance,
            keys,
            passwords,
            minter,
            secrets,
            courier,
            templates,
            trusted_proxy_header: config.trusted_proxy_header.clone(),
            google_keys: ProviderKeys::new(&config.settings.google_one_tap.jwks_url),
            passkeys,
            clock: deps.clock,
            rng: deps.rng,
        })))
    }

    pub fn now(&self) -> vestibule_model::Timestamp {
        self.clock.now()
    }
}

/// The instance's secret key from the store, generated on first start. Every node sharing the
/// database agrees on it.
pub async fn stored_secret_key(
    store: &Store,
    mode: vestibule_model::InstanceMode,
    rng: &dyn Rng,
) -> Result<String, String> {
    let candidate = generate_secret_key(mode, rng);
    let mut tx = store.begin().await.map_err(|e| e.to_string())?;
    let key = instance_values::get_or_insert(&mut tx, SECRET_KEY, &candidate)
        .await
        .map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())?;
    crate::instance::check_secret_key(&key, mode).map_err(|e| {
        format!("the stored secret key does not fit this instance ({e}); was the database made for the other mode?")
    })?;
    Ok(key)
}

const FRONTEND_API_URL: &str = "frontend_api_url";

/// Records the Frontend API URL a server answers at, so `vestibule keys show` prints the
/// publishable key clients of that server need.
pub async fn remember_frontend_api_url(store: &Store, url: &str) -> Result<(), String> {
    let mut tx = store.begin().await.map_err(|e| e.to_string())?;
    instance_values::set(&mut tx, FRONTEND_API_URL, url)
        .await
        .map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())
}

/// The Frontend API URL the last server on this database answered at.
pub async fn remembered_frontend_api_url(store: &Store) -> Result<Option<String>, String> {
    let mut conn = store.read().await.map_err(|e| e.to_string())?;
    instance_values::get(&mut conn, FRONTEND_API_URL)
        .await
        .map_err(|e| e.to_string())
}

/// A database URL with any password hidden, for messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}
