//! Second-factor secrets: TOTP (RFC 6238) and backup codes (NIST 800-63B look-up secrets).

use argon2::{Algorithm, Argon2, Params, Version};
use ring::hmac;
use vestibule_model::Rng;

/// TOTP time step (RFC 6238 default; ASVS 5.0 6.5.5 asks for at most 30 s).
pub const TOTP_STEP_SECONDS: i64 = 30;
pub const TOTP_DIGITS: u32 = 6;
/// Secret length: 160 bits, RFC 4226's recommendation (NIST asks for at least 112).
pub const TOTP_SECRET_BYTES: usize = 20;

/// A new TOTP secret.
pub fn new_totp_secret(rng: &dyn Rng) -> Vec<u8> {
    let mut s = vec![0u8; TOTP_SECRET_BYTES];
    rng.fill(&mut s);
    s
}

/// RFC 4648 base32 without padding, as authenticator apps expect the secret.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Base32 back to bytes, as secrets are typed or imported: case, spaces and `=` padding ignored.
/// `None` for any other character or leftover bits that are not zero.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for c in text.bytes().filter(|c| !matches!(c, b' ' | b'=' | b'-')) {
        let v = match c.to_ascii_uppercase() {
            c @ b'A'..=b'Z' => c - b'A',
            c @ b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        buffer = (buffer << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
        buffer &= (1 << bits) - 1;
    }
    (buffer == 0).then_some(out)
}

/// `otpauth://totp/…` for QR codes (the Key Uri Format authenticator apps read).
pub fn otpauth_uri(secret: &[u8], issuer: &str, account: &str) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'@' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={TOTP_DIGITS}&period={TOTP_STEP_SECONDS}",
        enc(issuer),
        enc(account),
        base32(secret),
        enc(issuer)
    )
}

/// The HOTP value (RFC 4226) of `secret` at `counter`, with `digits` digits.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let h = tag.as_ref();
    let offset = usize::from(h[h.len() - 1] & 0x0f);
    let binary = (u32::from(h[offset] & 0x7f) << 24)
        | (u32::from(h[offset + 1]) << 16)
        | (u32::from(h[offset + 2]) << 8)
        | u32::from(h[offset + 3]);
    let value = binary % 10u32.pow(digits);
    format!("{value:0width$}", width = digits as usize)
}

/// The time step a moment falls in.
pub fn totp_step(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(TOTP_STEP_SECONDS)
}

/// The six-digit TOTP code for a step.
pub fn totp_code(secret: &[u8], step: i64) -> String {
    hotp(secret, u64::try_from(step).unwrap_or(0), TOTP_DIGITS)
}

/// Checks a TOTP code at `unix_seconds`, accepting one step either side for clock drift
/// (RFC 6238 §5.2), but never a step at or before `last_used_step`: a code, or an older one, is
/// accepted once. Returns the step that matched, to be stored as the new `last_used_step`.
pub fn verify_totp(
    secret: &[u8],
    code: &str,
    unix_seconds: i64,
    last_used_step: Option<i64>,
) -> Option<i64> {
    let code = code.trim();
    if code.len() != TOTP_DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = totp_step(unix_seconds);
    let mut matched = None;
    // Every candidate is computed and compared, so timing does not say which step matched.
    for step in [now - 1, now, now + 1] {
        let fresh = last_used_step.is_none_or(|last| step > last);
        let equal = crate::constant_time_eq(totp_code(secret, step).as_bytes(), code.as_bytes());
        if equal && fresh && matched.is_none() {
            matched = Some(step);
        }
    }
    matched
}

/// Backup codes per generation.
pub const BACKUP_CODE_COUNT: usize = 10;
/// Characters per backup code: 8 of 36, about 41 bits each.
pub const BACKUP_CODE_LENGTH: usize = 8;

/// Ten fresh backup codes (lower-case letters and digits).
pub fn new_backup_codes(rng: &dyn Rng) -> Vec<String> {
    const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..BACKUP_CODE_COUNT)
        .map(|_| {
            let mut out = String::with_capacity(BACKUP_CODE_LENGTH);
            let mut buf = [0u8; 32];
            while out.len() < BACKUP_CODE_LENGTH {
                rng.fill(&mut buf);
                // 252 = 36 * 7: reject the rest so every character is equally likely.
                for b in buf.iter().filter(|b| **b < 252) {
                    if out.len() < BACKUP_CODE_LENGTH {
                        out.push(ALPHABET[usize::from(*b % 36)] as char);
                    }
                }
            }
            out
        })
        .collect()
}

/// A backup code as people type it: lower case, without spaces or dashes.
pub fn normalize_backup_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// What is stored of a backup code: argon2id of the normalised code with the account's salt.
/// Under 112 bits, NIST wants look-up secrets salted and hashed with a password hash; one salt per
/// account (not per code) lets a guess be hashed once and compared with every stored code.
/// Lighter parameters than passwords: the code is random, not chosen, and guesses are limited.
pub fn backup_code_hash(code: &str, salt: &[u8]) -> String {
    let params = Params::new(4096, 1, 1, Some(32)).unwrap_or_default();
    let mut out = [0u8; 32];
    let normalized = normalize_backup_code(code);
    // Both inputs are short and fixed in size; argon2 refuses neither.
    let _ = Argon2::new(Algorithm::Argon2id, Version::V0x13, params).hash_password_into(
        normalized.as_bytes(),
        salt,
        &mut out,
    );
    hex::encode(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vestibule_model::rng::SeqRng;

    /// RFC 6238 Appendix B, SHA-1: secret "12345678901234567890", 8 digits.
    #[test]
    fn rfc_6238_sha1_vectors() {
        let secret = b"12345678901234567890";
        for (time, expected) in [
            (59i64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            let step = u64::try_from(totp_step(time)).expect("positive");
            assert_eq!(hotp(secret, step, 8), expected, "T = {time}");
        }
    }

    #[test]
    fn rfc_4226_hotp_vectors() {
        let secret = b"12345678901234567890";
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(hotp(secret, counter as u64, 6), *code);
        }
    }

    #[test]
    fn window_is_one_step_each_side_and_no_replay() {
        let secret = new_totp_secret(&SeqRng::new(1));
        let t = 1_700_000_015;
        let now = totp_step(t);
        for offset in [-1, 0, 1] {
            let code = totp_code(&secret, now + offset);
            assert_eq!(
                verify_totp(&secret, &code, t, None),
                Some(now + offset),
                "offset {offset}"
            );
        }
        for offset in [-2, 2] {
            let code = totp_code(&secret, now + offset);
            assert_eq!(
                verify_totp(&secret, &code, t, None),
                None,
                "offset {offset}"
            );
        }
        let code = totp_code(&secret, now);
        assert_eq!(
            verify_totp(&secret, &code, t, Some(now)),
            None,
            "the same code twice"
        );
        let older = totp_code(&secret, now - 1);
        assert_eq!(
            verify_totp(&secret, &older, t, Some(now)),
            None,
            "an older step after a newer one"
        );
        assert_eq!(verify_totp(&secret, "12345", t, None), None);
        assert_eq!(verify_totp(&secret, "12345a", t, None), None);
    }

    #[test]
    fn base32_and_uri() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(
            base32(b"12345678901234567890"),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
        assert_eq!(base32_decode("MZXW6YTBOI").as_deref(), Some(&b"foobar"[..]));
        assert_eq!(
            base32_decode("gezd gnbv gy3t qojq gezd gnbv gy3t qojq").as_deref(),
            Some(&b"12345678901234567890"[..])
        );
        assert_eq!(base32_decode("MZXW6YTBO1"), None, "1 is not base32");
        let uri = otpauth_uri(b"12345678901234567890", "Acme Inc", "ada@example.com");
        assert!(uri.starts_with("otpauth://totp/Acme%20Inc:ada@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme%20Inc"), "{uri}");
    }

    #[test]
    fn backup_codes_are_random_hashed_and_tolerant_of_typing() {
        let codes = new_backup_codes(&SeqRng::new(9));
        assert_eq!(codes.len(), 10);
        assert!(codes.iter().all(|c| c.len() == 8
            && c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())));
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 10);
        let salt = b"per-account salt";
        let h = backup_code_hash(&codes[0], salt);
        assert_eq!(
            backup_code_hash(
                &format!(" {}-{} ", &codes[0][..4].to_uppercase(), &codes[0][4..]),
                salt
            ),
            h
        );
        assert_ne!(backup_code_hash(&codes[1], salt), h);
        assert_ne!(backup_code_hash(&codes[0], b"another salt!!"), h);
    }
}
