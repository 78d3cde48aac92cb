//! Publishable keys: `pk_test_…` / `pk_live_…` followed by base64 of `"<frontend API host>$"`.

use crate::decode;
use crate::error::ClerkError;
use url::Url;

/// Which kind of instance a publishable key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceType {
    /// `pk_test_`
    Development,
    /// `pk_live_`
    Production,
}

/// A decoded publishable key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishableKey {
    pub instance_type: InstanceType,
    /// `host[:port]` of the Frontend API.
    pub frontend_api_host: String,
}

impl PublishableKey {
    /// Decodes a key with the same checks clerk-js applies, so a key works here exactly when it
    /// works there: three `_`-separated parts, text ending in exactly one `$`, a host with a dot.
    pub fn parse(key: &str) -> Result<PublishableKey, ClerkError> {
        let invalid = |why: &str| ClerkError::Config(format!("invalid publishable key: {why}"));
        let parts: Vec<&str> = key.trim().split('_').collect();
        let [prefix, kind, encoded] = parts.as_slice() else {
            return Err(invalid("expected pk_test_<base64> or pk_live_<base64>"));
        };
        if *prefix != "pk" {
            return Err(invalid("it does not start with pk_"));
        }
        let instance_type = match *kind {
            "test" => InstanceType::Development,
            "live" => InstanceType::Production,
            _ => return Err(invalid("the prefix is neither pk_test_ nor pk_live_")),
        };
        let decoded = decode::base64(encoded)
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| invalid("the part after the prefix is not base64 of text"))?;
        let host = decoded
            .strip_suffix('$')
            .filter(|h| !h.ends_with('$'))
            .ok_or_else(|| invalid("the decoded host must end in exactly one '$'"))?;
        if !host.contains('.') {
            return Err(invalid("the decoded host has no '.'"));
        }
        // Anything beyond host[:port] would let a key redirect requests to another path or user.
        if host
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "/\\?#@".contains(c))
        {
            return Err(invalid("the decoded host is not host[:port]"));
        }
        Ok(PublishableKey {
            instance_type,
            frontend_api_host: host.to_owned(),
        })
    }

    /// The Frontend API URL: the proxy URL if one is given, else `https://<host>` (clerk-js never
    /// uses plain http for a decoded host).
    pub fn frontend_api_url(&self, proxy_url: Option<&str>) -> Result<Url, ClerkError> {
        match proxy_url {
            Some(proxy) => crate::transport::parse_base_url(proxy),
            None => {
                crate::transport::parse_base_url(&format!("https://{}", self.frontend_api_host))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // base64("clerk.example.com$") without padding, as Clerk writes it.
    const LIVE: &str = "pk_live_Y2xlcmsuZXhhbXBsZS5jb20k";

    #[test]
    fn decodes_test_and_live_keys() {
        let live = PublishableKey::parse(LIVE).expect("live key");
        assert_eq!(live.instance_type, InstanceType::Production);
        assert_eq!(live.frontend_api_host, "clerk.example.com");
        let ip = PublishableKey::parse("pk_test_MTI3LjAuMC4xOjg3ODck").expect("test key");
        assert_eq!(ip.instance_type, InstanceType::Development);
        assert_eq!(ip.frontend_api_host, "127.0.0.1:8787");
        // base64("fapi.localhost:8080$") needs one '='; keys are written without it, and both decode.
        for key in [
            "pk_test_ZmFwaS5sb2NhbGhvc3Q6ODA4MCQ",
            "pk_test_ZmFwaS5sb2NhbGhvc3Q6ODA4MCQ=",
        ] {
            let k = PublishableKey::parse(key).expect("padded or not");
            assert_eq!(k.frontend_api_host, "fapi.localhost:8080");
        }
    }

    #[test]
    fn builds_the_frontend_api_url() {
        let k = PublishableKey::parse(LIVE).expect("key");
        assert_eq!(
            k.frontend_api_url(None).expect("url").as_str(),
            "https://clerk.example.com/"
        );
        assert_eq!(
            k.frontend_api_url(Some("http://127.0.0.1:8787/fapi"))
                .expect("proxy")
                .as_str(),
            "http://127.0.0.1:8787/fapi"
        );
        assert!(
            k.frontend_api_url(Some("/fapi")).is_err(),
            "no page origin to resolve against"
        );
    }

    #[test]
    fn refuses_what_clerk_js_refuses() {
        for bad in [
            "",
            "pk_test",
            "sk_test_Y2xlcmsuZXhhbXBsZS5jb20k",
            "pk_prod_Y2xlcmsuZXhhbXBsZS5jb20k",
            "pk_test_Y2xlcmsuZXhhbXBsZS5jb20k_extra",
            "pk_test_bG9jYWxob3N0JA",             // "localhost$": no dot
            "pk_test_Y2xlcmsuZXhhbXBsZS5jb20",    // "clerk.example.com": no '$'
            "pk_test_Y2xlcmsuZXhhbXBsZS5jb20kJA", // "clerk.example.com$$"
            "pk_test_ZXZpbC5jb20vcGF0aCQ",        // "evil.com/path$"
            "pk_test_!!!",
        ] {
            assert!(
                matches!(PublishableKey::parse(bad), Err(ClerkError::Config(_))),
                "{bad:?} should be refused"
            );
        }
    }
}
