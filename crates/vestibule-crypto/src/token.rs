//! Opaque bearer secrets: client tokens, dev-browser tokens, email-link and ticket tokens.
//!
//! The holder gets the token; the store keeps only its SHA-256, so a leaked database does not hand out
//! sessions. A plain hash suffices (no salt or stretching) because tokens carry at least 128 random bits.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use vestibule_model::Rng;

/// `bytes` random bytes from `rng`, base64url without padding (safe in URLs, cookies and headers).
pub fn random_token(rng: &dyn Rng, bytes: usize) -> String {
    let mut buf = zeroize::Zeroizing::new(vec![0u8; bytes]);
    rng.fill(&mut buf);
    URL_SAFE_NO_PAD.encode(&*buf)
}

/// Lowercase hex SHA-256 of the token's text: the form the store keeps and looks up.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Equality whose time depends only on the lengths, not on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use vestibule_model::rng::SeqRng;
    use vestibule_model::OsRng;

    #[test]
    fn random_token_is_base64url_of_the_requested_length() {
        let token = random_token(&OsRng, 32);
        assert_eq!(token.len(), 43); // ceil(32 * 4 / 3), no padding
        assert!(token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(
            URL_SAFE_NO_PAD.decode(&token).map(|b| b.len()).ok(),
            Some(32)
        );
        assert_ne!(random_token(&OsRng, 32), token);
    }

    #[test]
    fn random_token_uses_the_injected_rng() {
        assert_eq!(
            random_token(&SeqRng::new(1), 24),
            random_token(&SeqRng::new(1), 24)
        );
        assert_ne!(
            random_token(&SeqRng::new(1), 24),
            random_token(&SeqRng::new(2), 24)
        );
    }

    #[test]
    fn token_hash_is_lowercase_hex_sha256() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn constant_time_eq_compares_contents_and_length() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(constant_time_eq(b"", b""));
    }
}
