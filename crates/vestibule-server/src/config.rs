//! Configuration: a TOML file, overridden by `VESTIBULE_*` environment variables, overridden by
//! flags (the binary merges the three into [`Overrides`]). Zero configuration works.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::Path;
use vestibule_courier::{CourierConfig, EmailConfig, SmsConfig};
use vestibule_crypto::Argon2Params;
use vestibule_model::{InstanceMode, Settings};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://./vestibule.db";

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    /// The URL clients reach the Frontend API at; its host goes into the publishable key.
    /// `None` means `http://<listen address>`.
    pub frontend_api_url: Option<String>,
    /// Shared by every node of a deployment; generated and stored on first start if not given.
    pub secret_key: Option<String>,
    /// Origins allowed to call the Frontend API from a browser (a development instance also
    /// allows any localhost origin).
    pub allowed_origins: Vec<String>,
    pub settings: Settings,
    pub hashing: HashingConfig,
    pub database_max_connections: u32,
    /// How email and SMS leave (SMTP, SMS webhook) and their templates.
    pub courier: CourierConfig,
    /// Behind a reverse proxy: the header carrying the client's address (e.g. `x-forwarded-for`).
    /// Unset, the TCP peer is the client, and rate limits count per peer.
    pub trusted_proxy_header: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HashingConfig {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    /// Threads hashing passwords; 0 means one per CPU.
    pub threads: usize,
    /// Hash jobs allowed to wait for a thread; beyond that requests get 429 at once.
    pub queue: usize,
}

impl Default for HashingConfig {
    fn default() -> Self {
        let p = Argon2Params::default();
        HashingConfig {
            memory_kib: p.memory_kib,
            iterations: p.iterations,
            parallelism: p.parallelism,
            threads: 0,
            queue: 64,
        }
    }
}

impl HashingConfig {
    pub fn argon2(&self) -> Argon2Params {
        Argon2Params {
            memory_kib: self.memory_kib,
            iterations: self.iterations,
            parallelism: self.parallelism,
        }
    }

    pub fn thread_count(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: DEFAULT_LISTEN
                .parse()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8080))),
            database_url: DEFAULT_DATABASE_URL.into(),
            frontend_api_url: None,
            secret_key: None,
            allowed_origins: Vec::new(),
            settings: Settings::default(),
            hashing: HashingConfig::default(),
            database_max_connections: 16,
            courier: CourierConfig::default(),
            trusted_proxy_header: None,
        }
    }
}

/// The TOML file. Every key is optional.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub frontend_api_url: Option<String>,
    pub mode: Option<InstanceMode>,
    pub secret_key: Option<String>,
    pub allowed_origins: Option<Vec<String>>,
    pub database_max_connections: Option<u32>,
    pub password_hashing: Option<HashingConfig>,
    pub settings: Option<Settings>,
    pub email: Option<EmailConfig>,
    pub sms: Option<SmsConfig>,
    pub templates_dir: Option<std::path::PathBuf>,
    pub trusted_proxy_header: Option<String>,
}

impl FileConfig {
    pub fn read(path: &Path) -> Result<FileConfig, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// Values from the environment or flags, which win over the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub frontend_api_url: Option<String>,
    pub mode: Option<InstanceMode>,
    pub secret_key: Option<String>,
    pub allowed_origins: Option<Vec<String>>,
    pub smtp_url: Option<String>,
    pub email_from: Option<String>,
    pub sms_webhook_url: Option<String>,
    pub sms_webhook_secret: Option<String>,
}

impl Config {
    /// Defaults, then the file, then the overrides; then checks the result.
    pub fn resolve(file: FileConfig, over: Overrides) -> Result<Config, String> {
        let mut c = Config::default();
        if let Some(s) = file.settings {
            c.settings = s;
        }
        if let Some(h) = file.password_hashing {
            c.hashing = h;
        }
        if let Some(n) = file.database_max_connections {
            c.database_max_connections = n;
        }
        let listen = over.listen.or(file.listen);
        if let Some(l) = listen {
            c.listen = l.parse().map_err(|_| {
                format!("listen address {l:?} is not HOST:PORT (e.g. 127.0.0.1:8080)")
            })?;
        }
        if let Some(u) = over.database_url.or(file.database_url) {
            c.database_url = u;
        }
        c.frontend_api_url = over.frontend_api_url.or(file.frontend_api_url);
        if let Some(m) = over.mode.or(file.mode) {
            c.settings.mode = m;
        }
        c.secret_key = over.secret_key.or(file.secret_key);
        c.allowed_origins = over
            .allowed_origins
            .or(file.allowed_origins)
            .unwrap_or_default();
        c.courier.email = file.email.unwrap_or_default();
        c.courier.sms = file.sms.unwrap_or_default();
        c.courier.templates_dir = file.templates_dir;
        if let Some(u) = over.smtp_url {
            c.courier.email.smtp_url = Some(u);
        }
        if let Some(f) = over.email_from {
            c.courier.email.from = Some(f);
        }
        if let Some(u) = over.sms_webhook_url {
            c.courier.sms.webhook_url = Some(u);
        }
        if let Some(s) = over.sms_webhook_secret {
            c.courier.sms.webhook_secret = Some(s);
        }
        c.trusted_proxy_header = file.trusted_proxy_header.map(|h| h.to_ascii_lowercase());
        c.validate()?;
        Ok(c)
    }

    pub fn validate(&self) -> Result<(), String> {
        self.settings.validate()?;
        self.hashing.argon2().validate()?;
        if self.hashing.queue == 0 {
            return Err("password_hashing.queue must be at least 1".into());
        }
        if let Some(k) = &self.secret_key {
            crate::instance::check_secret_key(k, self.settings.mode)?;
        }
        // A production instance must be able to deliver what it offers; a development one keeps
        // undeliverable messages in its inbox.
        let production = self.settings.mode == InstanceMode::Production;
        let ids = &self.settings.identifiers;
        let f = &self.settings.factors;
        let needs_email =
            production && ids.email_address && (f.email_code || f.email_link || f.reset_password);
        let needs_sms = production && ids.phone_number && (f.phone_code || f.reset_password);
        self.courier.validate(needs_email, needs_sms).map_err(|e| {
            format!("{e} (or turn the factors that need it off under [settings.factors])")
        })?;
        if let Some(h) = &self.trusted_proxy_header {
            if axum::http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                return Err(format!("trusted_proxy_header {h:?} is not a header name"));
            }
        }
        for o in &self.allowed_origins {
            crate::instance::normalize_origin(o)
                .ok_or_else(|| format!("allowed origin {o:?} is not scheme://host[:port]"))?;
        }
        Ok(())
    }
}

/// Parses `development`/`production`.
pub fn parse_mode(s: &str) -> Result<InstanceMode, String> {
    match s {
        "development" | "dev" => Ok(InstanceMode::Development),
        "production" | "prod" => Ok(InstanceMode::Production),
        other => Err(format!(
            "mode {other:?} is neither development nor production"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_file_beats_defaults() {
        let file: FileConfig = toml::from_str(
            r#"
            listen = "127.0.0.1:9000"
            database_url = "sqlite://file.db"
            mode = "production"
            secret_key = "sk_live_abcdefghijklmnopqrstuvwxyz0123"
            [settings.sessions]
            single_session_mode = false
            [settings.factors]
            email_code = false
            email_link = false
            phone_code = false
            reset_password = false
            "#,
        )
        .expect("toml");
        let over = Overrides {
            listen: Some("0.0.0.0:7000".into()),
            ..Overrides::default()
        };
        let c = Config::resolve(file, over).expect("resolve");
        assert_eq!(c.listen.to_string(), "0.0.0.0:7000");
        assert_eq!(c.database_url, "sqlite://file.db");
        assert_eq!(c.settings.mode, InstanceMode::Production);
        assert!(!c.settings.sessions.single_session_mode);
        assert_eq!(
            Config::resolve(FileConfig::default(), Overrides::default())
                .expect("defaults")
                .listen
                .to_string(),
            DEFAULT_LISTEN
        );
    }

    #[test]
    fn production_needs_transports_for_the_factors_it_offers() {
        let prod = |extra: &str| -> Result<Config, String> {
            let file: FileConfig = toml::from_str(&format!("mode = \"production\"\nsecret_key = \"sk_live_abcdefghijklmnopqrstuvwxyz0123\"\n{extra}")).map_err(|e| e.to_string())?;
            Config::resolve(file, Overrides::default())
        };
        let err = prod("").expect_err("no SMTP");
        assert!(err.contains("smtp_url"), "{err}");
        let email_only = "[email]\nsmtp_url = \"smtp://mail.example.com:587\"\nfrom = \"Acme <no-reply@example.com>\"\n[settings.identifiers]\nphone_number = false\n";
        assert!(prod(email_only).is_ok());
        let no_delivery = "[settings.factors]\nemail_code = false\nemail_link = false\nphone_code = false\nreset_password = false\n";
        assert!(
            prod(no_delivery).is_ok(),
            "password-only production needs no transport"
        );
        assert!(
            Config::resolve(FileConfig::default(), Overrides::default()).is_ok(),
            "development keeps messages in its inbox"
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        assert!(toml::from_str::<FileConfig>("lissen = \"x\"").is_err());
        assert!(toml::from_str::<FileConfig>("[settings.password]\nmin_len = 3").is_err());
        let bad = Overrides {
            listen: Some("nonsense".into()),
            ..Overrides::default()
        };
        assert!(Config::resolve(FileConfig::default(), bad).is_err());
        let weak: FileConfig =
            toml::from_str("[password_hashing]\nmemory_kib = 1024").expect("toml");
        assert!(Config::resolve(weak, Overrides::default()).is_err());
        let wrong_key = Overrides {
            secret_key: Some("sk_live_abc".into()),
            ..Overrides::default()
        };
        assert!(
            Config::resolve(FileConfig::default(), wrong_key).is_err(),
            "live key on a development instance"
        );
    }
}
