//! Authenticated encryption of small secrets at rest (outgoing messages carry codes and links).
//!
//! AES-256-GCM with a fresh random 96-bit nonce per message, laid out as `nonce ‖ ciphertext ‖ tag`.
//! Random nonces are safe for far more messages than one key will ever seal here (the bound is about
//! 2^32 per key), and they need no counter kept in sync between nodes.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use vestibule_model::Rng;
use zeroize::Zeroize;

/// Bytes a sealed value adds to its plaintext: the nonce in front and the tag behind.
pub const SEAL_OVERHEAD: usize = NONCE_LEN + 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("sealed data is too short to hold a nonce and a tag")]
    Truncated,
    /// One error for a changed byte and for a different key: GCM cannot tell them apart, and
    /// saying more would help no one but an attacker.
    #[error("sealed data failed authentication (altered, or sealed under another key)")]
    Rejected,
}

/// Seals and opens with one 256-bit key.
#[derive(Clone)]
pub struct Sealer {
    key: LessSafeKey,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("algorithm", &"AES-256-GCM")
            .finish_non_exhaustive()
    }
}

impl Sealer {
    pub fn new(mut key: [u8; 32]) -> Sealer {
        // AES-256 accepts any 32 bytes, so ring never refuses this key length.
        let key_result = UnboundKey::new(&AES_256_GCM, &key);
        // Our copy of the raw key goes as soon as ring holds its own expanded form.
        key.zeroize();
        match key_result {
            Ok(unbound) => Sealer {
                key: LessSafeKey::new(unbound),
            },
            Err(_) => unreachable!("AES-256-GCM takes a 32-byte key"),
        }
    }

    /// `nonce ‖ ciphertext ‖ tag`, with a nonce drawn from `rng`.
    pub fn seal(&self, plaintext: &[u8], rng: &dyn Rng) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill(&mut nonce);
        let mut out = Vec::with_capacity(plaintext.len() + SEAL_OVERHEAD);
        out.extend_from_slice(&nonce);
        let mut in_out = plaintext.to_vec();
        let tag = self.key.seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::empty(),
            &mut in_out,
        );
        match tag {
            Ok(tag) => {
                out.extend_from_slice(&in_out);
                out.extend_from_slice(tag.as_ref());
                in_out.zeroize();
                out
            }
            // ring refuses only inputs beyond GCM's limit of about 64 GiB, which no message reaches.
            Err(_) => unreachable!("plaintext larger than AES-GCM allows"),
        }
    }

    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        if sealed.len() < SEAL_OVERHEAD {
            return Err(SealError::Truncated);
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Truncated)?;
        let mut in_out = rest.to_vec();
        let len = self
            .key
            .open_in_place(nonce, Aad::empty(), &mut in_out)
            .map_err(|_| SealError::Rejected)?
            .len();
        in_out.truncate(len);
        Ok(in_out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vestibule_model::rng::SeqRng;
    use vestibule_model::OsRng;

    fn sealer(byte: u8) -> Sealer {
        Sealer::new([byte; 32])
    }

    #[test]
    fn round_trip() {
        let s = sealer(7);
        let sealed = s.seal(b"your code is 123456", &OsRng);
        assert_eq!(sealed.len(), 19 + SEAL_OVERHEAD);
        assert!(
            !sealed.windows(6).any(|w| w == b"123456"),
            "ciphertext hides the code"
        );
        assert_eq!(s.open(&sealed).unwrap(), b"your code is 123456");
        assert_eq!(s.open(&s.seal(b"", &OsRng)).unwrap(), b"");
    }

    #[test]
    fn nonces_are_fresh() {
        let s = sealer(7);
        let rng = SeqRng::new(3);
        assert_ne!(s.seal(b"same", &rng), s.seal(b"same", &rng));
    }

    #[test]
    fn any_altered_byte_is_rejected() {
        let s = sealer(7);
        let sealed = s.seal(b"reset link", &OsRng);
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert_eq!(s.open(&bad), Err(SealError::Rejected), "byte {i}");
        }
    }

    #[test]
    fn wrong_key_is_rejected() {
        let sealed = sealer(7).seal(b"secret", &OsRng);
        assert_eq!(sealer(8).open(&sealed), Err(SealError::Rejected));
    }

    #[test]
    fn truncated_input_is_rejected() {
        let s = sealer(7);
        let sealed = s.seal(b"secret", &OsRng);
        assert_eq!(
            s.open(&sealed[..sealed.len() - 1]),
            Err(SealError::Rejected)
        );
        assert_eq!(
            s.open(&sealed[..SEAL_OVERHEAD - 1]),
            Err(SealError::Truncated)
        );
        assert_eq!(s.open(&[]), Err(SealError::Truncated));
    }

    #[test]
    fn debug_shows_no_key() {
        let text = format!("{:?}", Sealer::new([0xAB; 32]));
        assert!(!text.to_lowercase().contains("ab, ") && !text.contains("171"));
        assert!(text.starts_with("Sealer"));
    }
}
