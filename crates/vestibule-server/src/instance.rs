//! Who this instance is: its Frontend API URL, its keys, and the origins it serves.

use base64::Engine;
use vestibule_model::rng::base62;
use vestibule_model::{InstanceMode, Rng};

#[derive(Debug, Clone)]
pub struct Instance {
    pub mode: InstanceMode,
    /// Without a trailing slash; the session token's `iss`.
    pub frontend_api_url: String,
    /// `host[:port]`, what the publishable key encodes.
    pub frontend_api_host: String,
    pub publishable_key: String,
    pub secret_key: String,
    /// Normalised `scheme://host[:port]` origins allowed to call from a browser.
    pub allowed_origins: Vec<String>,
    /// Whether cookies get `Secure` (production, or an https Frontend API).
    pub secure_cookies: bool,
}

impl Instance {
    pub fn new(
        mode: InstanceMode,
        frontend_api_url: &str,
        secret_key: String,
        allowed_origins: &[String],
    ) -> Result<Instance, String> {
        let url = url::Url::parse(frontend_api_url)
            .map_err(|e| format!("frontend API URL {frontend_api_url:?}: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "frontend API URL {frontend_api_url:?} must be http or https"
            ));
        }
        let host = url
            .host_str()
            .ok_or_else(|| format!("frontend API URL {frontend_api_url:?} has no host"))?;
        let host_port = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        if !host.contains('.') {
            return Err(format!(
                "the frontend API host {host:?} has no dot, and clerk-js rejects publishable keys for such hosts; \
                 use an address like 127.0.0.1 or a name like fapi.localhost"
            ));
        }
        check_secret_key(&secret_key, mode)?;
        let mut origins = Vec::new();
        for o in allowed_origins {
            origins.push(
                normalize_origin(o)
                    .ok_or_else(|| format!("allowed origin {o:?} is not scheme://host[:port]"))?,
            );
        }
        // The Frontend API's own origin may always call it.
        if let Some(own) = normalize_origin(url.as_str()) {
            origins.push(own);
        }
        let trimmed = url.as_str().trim_end_matches('/').to_owned();
        Ok(Instance {
            mode,
            publishable_key: publishable_key(mode, &host_port),
            frontend_api_url: trimmed,
            frontend_api_host: host_port,
            secret_key,
            allowed_origins: origins,
            secure_cookies: mode == InstanceMode::Production || url.scheme() == "https",
        })
    }

    /// Whether a browser page at `origin` may call the Frontend API.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        let Some(o) = normalize_origin(origin) else {
            return false;
        };
        if self.allowed_origins.contains(&o) {
            return true;
        }
        self.mode == InstanceMode::Development && is_localhost_origin(&o)
    }
}

/// `pk_test_`/`pk_live_` + unpadded base64 of `"<host>$"`, the format clerk-js decodes.
pub fn publishable_key(mode: InstanceMode, host: &str) -> String {
    let prefix = match mode {
        InstanceMode::Development => "pk_test_",
        InstanceMode::Production => "pk_live_",
    };
    let encoded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(format!("{host}$"));
    format!("{prefix}{encoded}")
}

pub fn secret_key_prefix(mode: InstanceMode) -> &'static str {
    match mode {
        InstanceMode::Development => "sk_test_",
        InstanceMode::Production => "sk_live_",
    }
}

pub fn generate_secret_key(mode: InstanceMode, rng: &dyn Rng) -> String {
    format!("{}{}", secret_key_prefix(mode), base62(rng, 40))
}

/// A secret key must match the instance mode and be long enough to resist guessing.
pub fn check_secret_key(key: &str, mode: InstanceMode) -> Result<(), String> {
    let prefix = secret_key_prefix(mode);
    let Some(rest) = key.strip_prefix(prefix) else {
        return Err(format!(
            "the secret key must start with {prefix} on a {} instance",
            mode.as_str()
        ));
    };
    if rest.len() < 24 || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err("the secret key needs at least 24 letters or digits after its prefix".into());
    }
    Ok(())
}

/// `scheme://host[:port]` in lower case, default ports dropped; `None` for anything else.
pub fn normalize_origin(s: &str) -> Option<String> {
    let url = url::Url::parse(s).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let origin = url.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

fn is_localhost_origin(origin: &str) -> bool {
    let Ok(url) = url::Url::parse(origin) else {
        return false;
    };
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SK: &str = "sk_test_abcdefghijklmnopqrstuvwxyz0123";

    #[test]
    fn publishable_key_decodes_to_host_and_dollar() {
        let pk = publishable_key(InstanceMode::Development, "127.0.0.1:8080");
        let b64 = pk.strip_prefix("pk_test_").expect("prefix");
        let decoded = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(b64)
            .expect("b64");
        assert_eq!(decoded, b"127.0.0.1:8080$");
        assert!(
            publishable_key(InstanceMode::Production, "clerk.example.com").starts_with("pk_live_")
        );
    }

    #[test]
    fn hosts_without_a_dot_are_refused() {
        assert!(Instance::new(
            InstanceMode::Development,
            "http://localhost:8080",
            SK.into(),
            &[]
        )
        .is_err());
        let i = Instance::new(
            InstanceMode::Development,
            "http://127.0.0.1:8080/",
            SK.into(),
            &[],
        )
        .expect("ok");
        assert_eq!(i.frontend_api_url, "http://127.0.0.1:8080");
        assert_eq!(i.frontend_api_host, "127.0.0.1:8080");
        assert!(!i.secure_cookies);
    }

    #[test]
    fn development_allows_localhost_origins_production_only_configured() {
        let dev = Instance::new(
            InstanceMode::Development,
            "http://127.0.0.1:8080",
            SK.into(),
            &[],
        )
        .expect("ok");
        assert!(dev.origin_allowed("http://localhost:3000"));
        assert!(dev.origin_allowed("http://127.0.0.1:5173"));
        assert!(dev.origin_allowed("http://app.localhost:3000"));
        assert!(!dev.origin_allowed("https://evil.example"));
        assert!(!dev.origin_allowed("null"));
        let live = "sk_live_abcdefghijklmnopqrstuvwxyz0123".to_owned();
        let prod = Instance::new(
            InstanceMode::Production,
            "https://clerk.example.com",
            live,
            &["https://app.example.com".into()],
        )
        .expect("ok");
        assert!(prod.origin_allowed("https://app.example.com"));
        assert!(prod.origin_allowed("https://APP.example.com:443"));
        assert!(prod.origin_allowed("https://clerk.example.com"));
        assert!(!prod.origin_allowed("http://localhost:3000"));
        assert!(prod.secure_cookies);
    }

    #[test]
    fn secret_keys_must_match_the_mode() {
        assert!(check_secret_key(SK, InstanceMode::Development).is_ok());
        assert!(check_secret_key(SK, InstanceMode::Production).is_err());
        assert!(check_secret_key("sk_test_short", InstanceMode::Development).is_err());
        let generated = generate_secret_key(InstanceMode::Production, &vestibule_model::OsRng);
        assert!(check_secret_key(&generated, InstanceMode::Production).is_ok());
    }
}
