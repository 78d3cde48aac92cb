//! Randomness is injected like time. Production uses the operating system's CSPRNG.

pub trait Rng: Send + Sync + 'static {
    /// Fills `buf` with cryptographically secure random bytes.
    fn fill(&self, buf: &mut [u8]);
}

/// The operating system's generator (getrandom).
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRng;

impl Rng for OsRng {
    fn fill(&self, buf: &mut [u8]) {
        // Without a working OS generator no secret can be made safely; refuse rather than degrade.
        if let Err(e) = getrandom::getrandom(buf) {
            panic!("OS random source failed: {e}");
        }
    }
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `len` characters from [0-9A-Za-z], uniformly (rejection sampling, no modulo bias).
pub fn base62(rng: &dyn Rng, len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        rng.fill(&mut buf);
        for b in buf {
            // 248 = 62 * 4: accept only bytes below it so each symbol is equally likely.
            if b < 248 {
                out.push(BASE62[(b % 62) as usize] as char);
                if out.len() == len {
                    break;
                }
            }
        }
    }
    out
}

/// `len` decimal digits, uniformly.
pub fn digits(rng: &dyn Rng, len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 32];
    while out.len() < len {
        rng.fill(&mut buf);
        for b in buf {
            if b < 250 {
                out.push((b'0' + b % 10) as char);
                if out.len() == len {
                    break;
                }
            }
        }
    }
    out
}

/// A deterministic generator for tests: a counter run through a simple mixer. Not secure.
#[derive(Debug, Default)]
pub struct SeqRng(std::sync::atomic::AtomicU64);

impl SeqRng {
    pub fn new(seed: u64) -> Self {
        SeqRng(std::sync::atomic::AtomicU64::new(seed))
    }
}

impl Rng for SeqRng {
    fn fill(&self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let n = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // splitmix64
            let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            let bytes = z.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base62_has_requested_length_and_alphabet() {
        let s = base62(&OsRng, 100);
        assert_eq!(s.len(), 100);
        assert!(s.bytes().all(|b| b.is_ascii_alphanumeric()));
    }

    #[test]
    fn digits_are_digits() {
        let s = digits(&SeqRng::new(7), 40);
        assert_eq!(s.len(), 40);
        assert!(s.bytes().all(|b| b.is_ascii_digit()));
    }

    #[test]
    fn os_rng_differs_between_calls() {
        assert_ne!(base62(&OsRng, 32), base62(&OsRng, 32));
    }
}
