//! Parsing and checking each hasher's digest format.
//!
//! Formats follow Clerk's createUser reference (`clerk/clerk-docs`, `docs/reference/backend/user/create-user.mdx`)
//! and, where it is vague, the system that produces the digest (Werkzeug, Django, Firebase, phpass).
//! Parsing is strict about structure and bounds every cost parameter: an imported digest decides how much work a
//! sign-in does, so a digest that would take seconds of CPU or gigabytes of memory is refused at import.

use aes::cipher::{KeyIvInit, StreamCipher};
use argon2::{Algorithm, Argon2, Version};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest as _, Sha256, Sha512};

use super::{ct_eq, Argon2Params, DigestError, PasswordHasher, NATIVE_HASH_LEN, NATIVE_SALT_LEN};

/// Largest argon2 memory an import may ask for: 2 GiB, RFC 9106's "high memory" profile.
const MAX_ARGON2_MEMORY_KIB: u32 = 2 * 1024 * 1024;
const MAX_ARGON2_ITERATIONS: u32 = 32;
const MAX_ARGON2_PARALLELISM: u32 = 64;
/// bcrypt cost 16 is about four seconds on one core; every doubling past it is refused.
const MAX_BCRYPT_COST: u32 = 16;
/// PBKDF2 rounds: ten million SHA-256 rounds is a few seconds.
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
/// Clerk: pbkdf2_sha512 "iterations must be an integer less than 420000", salt and key "less than 1024 bytes".
const MAX_PBKDF2_SHA512_ITERATIONS: u32 = 419_999;
const MAX_PBKDF2_SHA512_LEN: usize = 1023;
/// scrypt memory is 128·r·N bytes.
const MAX_SCRYPT_MEMORY: u64 = 256 * 1024 * 1024;
const MAX_SCRYPT_PARALLELISM: u32 = 16;
/// phpass doubles its MD5 rounds per step; 2^24 rounds is a few seconds.
const MAX_PHPASS_LOG2: u32 = 24;
/// Shorter outputs would make wrong passwords match by chance.
const MIN_OUTPUT_LEN: usize = 16;
/// No real digest comes near this; it bounds the work of parsing and of producing long outputs.
const MAX_OUTPUT_LEN: usize = 1024;

/// Cost bounds that depend on who made the digest.
pub(super) struct Limits {
    argon2_memory_kib: u32,
    argon2_iterations: u32,
    argon2_parallelism: u32,
}

impl Limits {
    pub(super) const IMPORT: Limits = Limits {
        argon2_memory_kib: MAX_ARGON2_MEMORY_KIB,
        argon2_iterations: MAX_ARGON2_ITERATIONS,
        argon2_parallelism: MAX_ARGON2_PARALLELISM,
    };

    /// Import bounds, raised to whatever the configured native parameters are.
    pub(super) fn with_native(params: &Argon2Params) -> Limits {
        Limits {
            argon2_memory_kib: MAX_ARGON2_MEMORY_KIB.max(params.memory_kib),
            argon2_iterations: MAX_ARGON2_ITERATIONS.max(params.iterations),
            argon2_parallelism: MAX_ARGON2_PARALLELISM.max(params.parallelism),
        }
    }
}

/// A parsed digest, ready to check a password against.
pub(super) enum Digest {
    Argon2(Argon2Digest),
    /// The digest string itself, already checked; the bcrypt crate re-reads it.
    Bcrypt {
        digest: String,
        sha256_prehash: bool,
    },
    Pbkdf2 {
        prf: Prf,
        iterations: u32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    Scrypt {
        log_n: u8,
        r: u32,
        p: u32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    ScryptFirebase {
        log_n: u8,
        r: u32,
        salt: Vec<u8>,
        signer_key: Vec<u8>,
        hash: Vec<u8>,
    },
    Phpass {
        log2_rounds: u32,
        salt: Vec<u8>,
        /// 22 characters of phpass's own base64, compared as text.
        checksum: String,
    },
    Md5(Vec<u8>),
    Sha256(Vec<u8>),
}

#[derive(Clone, Copy)]
pub(super) enum Prf {
    Sha1,
    Sha256,
    Sha512,
}

impl Digest {
    pub(super) fn parse(
        hasher: PasswordHasher,
        digest: &str,
        limits: &Limits,
    ) -> Result<Digest, DigestError> {
        let p = Parser { hasher };
        match hasher {
            PasswordHasher::Argon2id => {
                Argon2Digest::parse(&p, digest, Algorithm::Argon2id, limits).map(Digest::Argon2)
            }
            PasswordHasher::Argon2i => {
                Argon2Digest::parse(&p, digest, Algorithm::Argon2i, limits).map(Digest::Argon2)
            }
            PasswordHasher::Bcrypt => p.bcrypt(digest, false),
            PasswordHasher::BcryptSha256Django => match digest.strip_prefix("bcrypt_sha256$") {
                Some(inner) => p.bcrypt(inner, true),
                None => Err(p.malformed("expected bcrypt_sha256$ followed by a bcrypt digest")),
            },
            PasswordHasher::Pbkdf2Sha1 => p.pbkdf2_sha1(digest),
            PasswordHasher::Pbkdf2Sha256 => p.pbkdf2(digest, &PBKDF2_SHA256),
            PasswordHasher::Pbkdf2Sha256Django => p.pbkdf2(digest, &PBKDF2_SHA256_DJANGO),
            PasswordHasher::Pbkdf2Sha512 => p.pbkdf2(digest, &PBKDF2_SHA512),
            PasswordHasher::Pbkdf2Sha512Hex => p.pbkdf2(digest, &PBKDF2_SHA512_HEX),
            PasswordHasher::ScryptWerkzeug => p.scrypt_werkzeug(digest),
            PasswordHasher::ScryptFirebase => p.scrypt_firebase(digest),
            PasswordHasher::Phpass => p.phpass(digest),
            PasswordHasher::Md5 => p.plain_hex(digest, 16).map(Digest::Md5),
            PasswordHasher::Sha256 => p.plain_hex(digest, 32).map(Digest::Sha256),
        }
    }

    /// Whether `password` (bytes exactly as they should be hashed) produces this digest.
    pub(super) fn matches(&self, password: &[u8]) -> bool {
        match self {
            Digest::Argon2(argon) => argon.matches(password),
            Digest::Bcrypt {
                digest,
                sha256_prehash,
            } => {
                if *sha256_prehash {
                    // Django hashes hex(SHA-256(password)), 64 bytes, so long passwords are never cut.
                    let prehash = hex::encode(Sha256::digest(password));
                    bcrypt::verify(prehash.as_bytes(), digest).unwrap_or(false)
                } else if password.len() > 72 {
                    // bcrypt reads 72 bytes at most; a longer password would match on its prefix alone, which
                    // would be truncation. Spend the same work, then refuse.
                    let _ = std::hint::black_box(bcrypt::verify(password, digest));
                    false
                } else {
                    // Constant-time comparison inside (subtle).
                    bcrypt::verify(password, digest).unwrap_or(false)
                }
            }
            Digest::Pbkdf2 {
                prf,
                iterations,
                salt,
                hash,
            } => {
                let mut out = vec![0u8; hash.len()];
                match prf {
                    Prf::Sha1 => pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, *iterations, &mut out),
                    Prf::Sha256 => {
                        pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, *iterations, &mut out)
                    }
                    Prf::Sha512 => {
                        pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, *iterations, &mut out)
                    }
                }
                ct_eq(&out, hash)
            }
            Digest::Scrypt {
                log_n,
                r,
                p,
                salt,
                hash,
            } => {
                let mut out = vec![0u8; hash.len()];
                scrypt_into(password, salt, *log_n, *r, *p, &mut out) && ct_eq(&out, hash)
            }
            Digest::ScryptFirebase {
                log_n,
                r,
                salt,
                signer_key,
                hash,
            } => {
                // Firebase's variant: the first 32 bytes of scrypt(password, salt ‖ separator) key AES-256-CTR
                // (zero IV), which encrypts the project's signer key; the ciphertext is the stored hash.
                let mut key = [0u8; 32];
                if !scrypt_into(password, salt, *log_n, *r, 1, &mut key) {
                    return false;
                }
                let mut out = signer_key.clone();
                let mut cipher = ctr::Ctr128BE::<aes::Aes256>::new(&key.into(), &[0u8; 16].into());
                cipher.apply_keystream(&mut out);
                ct_eq(&out, hash)
            }
            Digest::Phpass {
                log2_rounds,
                salt,
                checksum,
            } => {
                // phpass: h = MD5(salt ‖ password), then 2^rounds times h = MD5(h ‖ password).
                let mut h = Md5::new()
                    .chain_update(salt)
                    .chain_update(password)
                    .finalize();
                for _ in 0..(1u64 << log2_rounds) {
                    h = Md5::new().chain_update(h).chain_update(password).finalize();
                }
                ct_eq(phpass_encode64(&h).as_bytes(), checksum.as_bytes())
            }
            Digest::Md5(hash) => ct_eq(&Md5::digest(password), hash),
            Digest::Sha256(hash) => ct_eq(&Sha256::digest(password), hash),
        }
    }
}

/// Largest argon2 memory (in 1 KiB blocks) a hashing thread keeps between hashes: 64 MiB.
const REUSED_BLOCKS_MAX: usize = 64 * 1024;

thread_local! {
    /// Each hashing thread reuses one argon2 work area. Allocating 19 MiB per hash made the
    /// allocator keep hundreds of MiB after a burst of sign-ins; reuse bounds memory to
    /// threads × parameters and saves the allocation.
    static ARGON2_MEMORY: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// An argon2 PHC string, parsed.
pub(super) struct Argon2Digest {
    pub(super) algorithm: Algorithm,
    pub(super) version: Version,
    pub(super) memory_kib: u32,
    pub(super) iterations: u32,
    pub(super) parallelism: u32,
    pub(super) salt: Vec<u8>,
    pub(super) hash: Vec<u8>,
}

impl Argon2Digest {
    fn parse(
        p: &Parser,
        digest: &str,
        algorithm: Algorithm,
        limits: &Limits,
    ) -> Result<Argon2Digest, DigestError> {
        let prefix = format!("${}$", algorithm.ident());
        let rest = digest
            .strip_prefix(prefix.as_str())
            .ok_or_else(|| p.malformed(&format!("expected a PHC string starting with {prefix}")))?;
        let mut parts: Vec<&str> = rest.split('$').collect();
        // Clerk: "version 19 is assumed" when `v=` is absent.
        let version = match parts.first().and_then(|s| s.strip_prefix("v=")) {
            Some(v) => {
                parts.remove(0);
                match v {
                    "19" => Version::V0x13,
                    "16" => Version::V0x10,
                    _ => return Err(p.malformed("version must be v=19 or v=16")),
                }
            }
            None => Version::V0x13,
        };
        let [params, salt, hash] = parts[..] else {
            return Err(p.malformed("expected $<params>$<salt>$<hash> after the algorithm"));
        };
        let (mut m, mut t, mut par) = (None, None, None);
        for pair in params.split(',') {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| p.malformed("parameters must be key=value pairs"))?;
            let slot = match key {
                "m" => &mut m,
                "t" => &mut t,
                "p" => &mut par,
                // keyid/data need a secret or associated data that an export does not carry.
                _ => return Err(p.unsupported(&format!("parameter {key} is not supported"))),
            };
            if slot.replace(p.decimal(value, key)?).is_some() {
                return Err(p.malformed(&format!("parameter {key} appears twice")));
            }
        }
        let (Some(memory_kib), Some(iterations), Some(parallelism)) = (m, t, par) else {
            return Err(p.malformed("parameters m, t and p are all required"));
        };
        let salt = STANDARD_NO_PAD
            .decode(salt)
            .map_err(|_| p.malformed("salt is not unpadded base64"))?;
        let hash = STANDARD_NO_PAD
            .decode(hash)
            .map_err(|_| p.malformed("hash is not unpadded base64"))?;
        if !(8..=64).contains(&salt.len()) {
            return Err(p.malformed("salt must be 8 to 64 bytes"));
        }
        if !(MIN_OUTPUT_LEN..=64).contains(&hash.len()) {
            return Err(p.malformed("hash must be 16 to 64 bytes"));
        }
        if memory_kib > limits.argon2_memory_kib
            || iterations > limits.argon2_iterations
            || parallelism > limits.argon2_parallelism
        {
            return Err(p.too_costly(&format!(
                "m={memory_kib},t={iterations},p={parallelism} exceeds m={},t={},p={}",
                limits.argon2_memory_kib, limits.argon2_iterations, limits.argon2_parallelism
            )));
        }
        argon2::Params::new(memory_kib, iterations, parallelism, Some(hash.len()))
            .map_err(|e| p.malformed(&format!("invalid parameters: {e}")))?;
        Ok(Argon2Digest {
            algorithm,
            version,
            memory_kib,
            iterations,
            parallelism,
            salt,
            hash,
        })
    }

    /// The hash of `password` with this digest's parameters, salt and output length.
    pub(super) fn compute(&self, password: &[u8]) -> Option<Vec<u8>> {
        let params = argon2::Params::new(
            self.memory_kib,
            self.iterations,
            self.parallelism,
            Some(self.hash.len()),
        )
        .ok()?;
        let mut out = vec![0u8; self.hash.len()];
        let argon = Argon2::new(self.algorithm, self.version, params.clone());
        let blocks = params.block_count();
        if blocks > REUSED_BLOCKS_MAX {
            // A rare imported digest with huge parameters: its memory is not kept afterwards.
            let mut memory = vec![argon2::Block::default(); blocks];
            argon
                .hash_password_into_with_memory(password, &self.salt, &mut out, &mut memory)
                .ok()?;
        } else {
            ARGON2_MEMORY
                .with(|cell| {
                    let mut memory = cell.borrow_mut();
                    if memory.len() < blocks {
                        memory.resize(blocks, argon2::Block::default());
                    }
                    argon.hash_password_into_with_memory(
                        password,
                        &self.salt,
                        &mut out,
                        &mut memory[..blocks],
                    )
                })
                .ok()?;
        }
        Some(out)
    }

    pub(super) fn matches(&self, password: &[u8]) -> bool {
        self.compute(password)
            .is_some_and(|out| ct_eq(&out, &self.hash))
    }

    /// True when this is not a current argon2id hash at least as strong as `params` in every dimension.
    pub(super) fn weaker_than(&self, params: &Argon2Params) -> bool {
        self.algorithm != Algorithm::Argon2id
            || self.version != Version::V0x13
            || self.memory_kib < params.memory_kib
            || self.iterations < params.iterations
            || self.parallelism < params.parallelism
            || self.salt.len() < NATIVE_SALT_LEN
            || self.hash.len() < NATIVE_HASH_LEN
    }

    pub(super) fn to_phc(&self) -> String {
        let version = match self.version {
            Version::V0x10 => 16,
            Version::V0x13 => 19,
        };
        format!(
            "${}$v={version}$m={},t={},p={}${}${}",
            self.algorithm.ident(),
            self.memory_kib,
            self.iterations,
            self.parallelism,
            STANDARD_NO_PAD.encode(&self.salt),
            STANDARD_NO_PAD.encode(&self.hash),
        )
    }
}

/// One of the `<ident>$<iterations>$<salt>$<hash>` PBKDF2 formats.
struct Pbkdf2Format {
    ident: &'static str,
    prf: Prf,
    salt_encoding: Encoding,
    hash_encoding: Encoding,
    max_iterations: u32,
    max_len: usize,
}

/// Clerk's own: salt and hash both base64.
const PBKDF2_SHA256: Pbkdf2Format = Pbkdf2Format {
    ident: "pbkdf2_sha256",
    prf: Prf::Sha256,
    salt_encoding: Encoding::Base64,
    hash_encoding: Encoding::Base64,
    max_iterations: MAX_PBKDF2_ITERATIONS,
    max_len: MAX_OUTPUT_LEN,
};

/// Django's: the salt is the text itself, the hash base64.
const PBKDF2_SHA256_DJANGO: Pbkdf2Format = Pbkdf2Format {
    salt_encoding: Encoding::Text,
    ..PBKDF2_SHA256
};

/// Salt as text, hash hex, with Clerk's documented bounds.
const PBKDF2_SHA512: Pbkdf2Format = Pbkdf2Format {
    ident: "pbkdf2_sha512",
    prf: Prf::Sha512,
    salt_encoding: Encoding::Text,
    hash_encoding: Encoding::Hex,
    max_iterations: MAX_PBKDF2_SHA512_ITERATIONS,
    max_len: MAX_PBKDF2_SHA512_LEN,
};

const PBKDF2_SHA512_HEX: Pbkdf2Format = Pbkdf2Format {
    ident: "pbkdf2_sha512_hex",
    salt_encoding: Encoding::Hex,
    ..PBKDF2_SHA512
};

/// How a salt or hash field is written.
#[derive(Clone, Copy)]
enum Encoding {
    /// The field's own UTF-8 bytes.
    Text,
    Hex,
    Base64,
}

/// Error construction and field decoding for one hasher.
struct Parser {
    hasher: PasswordHasher,
}

impl Parser {
    fn malformed(&self, reason: &str) -> DigestError {
        DigestError::Malformed {
            hasher: self.hasher,
            reason: reason.to_owned(),
        }
    }

    fn too_costly(&self, reason: &str) -> DigestError {
        DigestError::TooCostly {
            hasher: self.hasher,
            reason: reason.to_owned(),
        }
    }

    fn unsupported(&self, reason: &str) -> DigestError {
        DigestError::Unsupported {
            hasher: self.hasher,
            reason: reason.to_owned(),
        }
    }

    /// A plain decimal (no sign, no spaces) that fits in u32.
    fn decimal(&self, s: &str, what: &str) -> Result<u32, DigestError> {
        if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.malformed(&format!("{what} must be a decimal number")));
        }
        s.parse()
            .map_err(|_| self.malformed(&format!("{what} is out of range")))
    }

    fn decode(&self, s: &str, encoding: Encoding, what: &str) -> Result<Vec<u8>, DigestError> {
        if s.is_empty() {
            return Err(self.malformed(&format!("{what} is empty")));
        }
        match encoding {
            Encoding::Text => Ok(s.as_bytes().to_vec()),
            Encoding::Hex => {
                hex::decode(s).map_err(|_| self.malformed(&format!("{what} is not hex")))
            }
            Encoding::Base64 => {
                decode_base64(s).ok_or_else(|| self.malformed(&format!("{what} is not base64")))
            }
        }
    }

    fn output_len(&self, hash: &[u8], max: usize) -> Result<(), DigestError> {
        if hash.len() < MIN_OUTPUT_LEN {
            return Err(self.malformed(&format!(
                "hash is {} bytes; at least {MIN_OUTPUT_LEN} are needed",
                hash.len()
            )));
        }
        if hash.len() > max {
            return Err(self.malformed(&format!("hash is longer than {max} bytes")));
        }
        Ok(())
    }

    fn iterations(&self, s: &str, max: u32) -> Result<u32, DigestError> {
        let n = self.decimal(s, "iterations")?;
        if n == 0 {
            return Err(self.malformed("iterations must be at least 1"));
        }
        if n > max {
            return Err(self.too_costly(&format!("{n} iterations exceeds {max}")));
        }
        Ok(n)
    }

    fn bcrypt(&self, digest: &str, sha256_prehash: bool) -> Result<Digest, DigestError> {
        // `$<version>$<2-digit cost>$<22 chars salt><31 chars hash>`
        let b = digest.as_bytes();
        let shape = b.len() == 60
            && b[0] == b'$'
            && b[3] == b'$'
            && b[6] == b'$'
            && b[4..6].iter().all(u8::is_ascii_digit)
            && b[7..]
                .iter()
                .all(|&c| c == b'.' || c == b'/' || c.is_ascii_alphanumeric());
        if !shape {
            return Err(
                self.malformed("expected $<version>$<cost>$<53 characters of salt and hash>")
            );
        }
        match &digest[1..3] {
            "2a" | "2b" | "2y" => {}
            // crypt_blowfish's sign-extension bug mode: the bcrypt crate would give different results.
            "2x" => return Err(self.unsupported("$2x$ (crypt_blowfish bug compatibility)")),
            _ => return Err(self.malformed("version must be 2a, 2b or 2y")),
        }
        let cost = self.decimal(&digest[4..6], "cost")?;
        if cost < 4 {
            return Err(self.malformed("cost must be 4 to 31"));
        }
        if cost > MAX_BCRYPT_COST {
            return Err(self.too_costly(&format!("cost {cost} exceeds {MAX_BCRYPT_COST}")));
        }
        // The salt must be 16 bytes in bcrypt's base64, canonical in its last character.
        if bcrypt::BASE_64
            .decode(&digest[7..29])
            .map_or(true, |salt| salt.len() != 16)
        {
            return Err(self.malformed("salt is not 16 bytes of bcrypt base64"));
        }
        if bcrypt::BASE_64.decode(&digest[29..]).is_err() {
            return Err(self.malformed("hash is not bcrypt base64"));
        }
        Ok(Digest::Bcrypt {
            digest: digest.to_owned(),
            sha256_prehash,
        })
    }

    fn pbkdf2(&self, digest: &str, format: &Pbkdf2Format) -> Result<Digest, DigestError> {
        let Pbkdf2Format {
            ident,
            prf,
            salt_encoding,
            hash_encoding,
            max_iterations,
            max_len,
        } = *format;
        let parts: Vec<&str> = digest.split('$').collect();
        let [name, iterations, salt, hash] = parts[..] else {
            return Err(self.malformed(&format!("expected {ident}$<iterations>$<salt>$<hash>")));
        };
        if name != ident {
            return Err(self.malformed(&format!("expected the prefix {ident}$")));
        }
        let iterations = self.iterations(iterations, max_iterations)?;
        let salt = self.decode(salt, salt_encoding, "salt")?;
        let hash = self.decode(hash, hash_encoding, "hash")?;
        if salt.len() > max_len {
            return Err(self.malformed(&format!("salt is longer than {max_len} bytes")));
        }
        self.output_len(&hash, max_len)?;
        Ok(Digest::Pbkdf2 {
            prf,
            iterations,
            salt,
            hash,
        })
    }

    /// `pbkdf2_sha1$<iterations>$<salt>$<hash hex>` or the same with `$<key length>` appended. Clerk: the salt is
    /// hex-decoded when it is valid hex, used as raw bytes otherwise; the key length defaults to 32.
    fn pbkdf2_sha1(&self, digest: &str) -> Result<Digest, DigestError> {
        let parts: Vec<&str> = digest.split('$').collect();
        let (iterations, salt, hash, key_len) = match parts[..] {
            ["pbkdf2_sha1", i, s, h] => (i, s, h, None),
            ["pbkdf2_sha1", i, s, h, k] => (i, s, h, Some(k)),
            _ => {
                return Err(self.malformed(
                    "expected pbkdf2_sha1$<iterations>$<salt>$<hash hex>[$<key length>]",
                ))
            }
        };
        let iterations = self.iterations(iterations, MAX_PBKDF2_ITERATIONS)?;
        if salt.is_empty() {
            return Err(self.malformed("salt is empty"));
        }
        let salt = hex::decode(salt).unwrap_or_else(|_| salt.as_bytes().to_vec());
        let hash = self.decode(hash, Encoding::Hex, "hash")?;
        self.output_len(&hash, MAX_OUTPUT_LEN)?;
        if let Some(key_len) = key_len {
            // The hash is the whole derived key, so a stated length must agree with it.
            if usize::try_from(self.decimal(key_len, "key length")?).ok() != Some(hash.len()) {
                return Err(self.malformed("key length does not match the hash length"));
            }
        }
        if salt.len() > MAX_OUTPUT_LEN {
            return Err(self.malformed("salt is too long"));
        }
        Ok(Digest::Pbkdf2 {
            prf: Prf::Sha1,
            iterations,
            salt,
            hash,
        })
    }

    /// Werkzeug writes `scrypt:<n>:<r>:<p>$<salt>$<hex hash>`; Clerk documents `$<args>$<salt>$<base64 hash>`.
    /// Both are read: a leading `$` is optional, and the hash is hex when it is valid hex, base64 otherwise.
    fn scrypt_werkzeug(&self, digest: &str) -> Result<Digest, DigestError> {
        let body = digest.strip_prefix('$').unwrap_or(digest);
        let parts: Vec<&str> = body.split('$').collect();
        let [method, salt, hash] = parts[..] else {
            return Err(self.malformed("expected scrypt:<n>:<r>:<p>$<salt>$<hash>"));
        };
        let (n, r, p) = match method.split(':').collect::<Vec<_>>()[..] {
            // Werkzeug's defaults for a bare "scrypt".
            ["scrypt"] => (1u64 << 15, 8, 1),
            ["scrypt", n, r, p] => (
                u64::from(self.decimal(n, "n")?),
                self.decimal(r, "r")?,
                self.decimal(p, "p")?,
            ),
            _ => return Err(self.malformed("method must be scrypt or scrypt:<n>:<r>:<p>")),
        };
        if n < 2 || !n.is_power_of_two() {
            return Err(self.malformed("n must be a power of two"));
        }
        let log_n = n.trailing_zeros();
        if salt.is_empty() {
            return Err(self.malformed("salt is empty"));
        }
        // All-hex text is read as hex (odd lengths are then malformed, not reread as base64).
        let hash = if hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            self.decode(hash, Encoding::Hex, "hash")?
        } else {
            self.decode(hash, Encoding::Base64, "hash")?
        };
        self.output_len(&hash, MAX_OUTPUT_LEN)?;
        let log_n = self.scrypt_cost(log_n, r, p)?;
        Ok(Digest::Scrypt {
            log_n,
            r,
            p,
            salt: salt.as_bytes().to_vec(),
            hash,
        })
    }

    /// `<hash>$<salt>$<signer key>$<salt separator>$<rounds>$<memory cost>` (Clerk's Firebase guide builds it
    /// from `firebase auth:export` and the project's password hash parameters).
    fn scrypt_firebase(&self, digest: &str) -> Result<Digest, DigestError> {
        let parts: Vec<&str> = digest.split('$').collect();
        let [hash, salt, signer_key, separator, rounds, mem_cost] = parts[..] else {
            return Err(self.malformed(
                "expected <hash>$<salt>$<signer key>$<salt separator>$<rounds>$<memory cost>",
            ));
        };
        let hash = self.decode(hash, Encoding::Base64, "hash")?;
        let mut salt = self.decode(salt, Encoding::Base64, "salt")?;
        let signer_key = self.decode(signer_key, Encoding::Base64, "signer key")?;
        // An empty separator is possible in principle; Firebase's is one byte.
        let separator = if separator.is_empty() {
            Vec::new()
        } else {
            self.decode(separator, Encoding::Base64, "salt separator")?
        };
        let r = self.decimal(rounds, "rounds")?;
        let log_n = self.decimal(mem_cost, "memory cost")?;
        self.output_len(&hash, MAX_OUTPUT_LEN)?;
        if signer_key.len() != hash.len() {
            // AES-CTR keeps length: the hash is the encrypted signer key.
            return Err(self.malformed("hash and signer key differ in length"));
        }
        if log_n == 0 {
            return Err(self.malformed("memory cost must be at least 1"));
        }
        let log_n = self.scrypt_cost(log_n, r, 1)?;
        salt.extend_from_slice(&separator);
        Ok(Digest::ScryptFirebase {
            log_n,
            r,
            salt,
            signer_key,
            hash,
        })
    }

    /// Checks scrypt parameters against scrypt's own rules and the memory bound.
    fn scrypt_cost(&self, log_n: u32, r: u32, p: u32) -> Result<u8, DigestError> {
        if r == 0 || p == 0 {
            return Err(self.malformed("r and p must be at least 1"));
        }
        let memory = 128u64
            .checked_mul(u64::from(r))
            .and_then(|m| m.checked_shl(log_n))
            .filter(|_| log_n < 64);
        match memory {
            Some(memory) if memory <= MAX_SCRYPT_MEMORY && p <= MAX_SCRYPT_PARALLELISM => {}
            _ => {
                return Err(self.too_costly(&format!(
                    "N=2^{log_n}, r={r}, p={p} exceeds {} MiB or p={MAX_SCRYPT_PARALLELISM}",
                    MAX_SCRYPT_MEMORY >> 20
                )))
            }
        }
        let log_n = u8::try_from(log_n).map_err(|_| self.malformed("N is out of range"))?;
        scrypt::Params::new(log_n, r, p, 32)
            .map_err(|_| self.malformed("invalid scrypt parameters"))?;
        Ok(log_n)
    }

    fn phpass(&self, digest: &str) -> Result<Digest, DigestError> {
        // `$P$` + rounds character + 8 salt characters + 22 checksum characters, all from phpass's itoa64.
        let valid = digest.len() == 34
            && (digest.starts_with("$P$") || digest.starts_with("$H$"))
            && digest.bytes().skip(3).all(|c| PHPASS_ITOA64.contains(&c));
        if !valid {
            return Err(self.malformed("expected $P$ and 31 characters from [./0-9A-Za-z]"));
        }
        let log2_rounds = PHPASS_ITOA64
            .iter()
            .position(|&c| c == digest.as_bytes()[3])
            .and_then(|i| u32::try_from(i).ok())
            .unwrap_or(u32::MAX);
        if !(7..=30).contains(&log2_rounds) {
            return Err(self.malformed("rounds must be 2^7 to 2^30"));
        }
        if log2_rounds > MAX_PHPASS_LOG2 {
            return Err(self.too_costly(&format!(
                "2^{log2_rounds} rounds exceeds 2^{MAX_PHPASS_LOG2}"
            )));
        }
        Ok(Digest::Phpass {
            log2_rounds,
            salt: digest.as_bytes()[4..12].to_vec(),
            checksum: digest[12..].to_owned(),
        })
    }

    fn plain_hex(&self, digest: &str, len: usize) -> Result<Vec<u8>, DigestError> {
        if digest.len() != 2 * len {
            return Err(self.malformed(&format!("expected {} hex characters", 2 * len)));
        }
        self.decode(digest, Encoding::Hex, "hash")
    }
}

/// Standard base64, padded or not; URL-safe base64 is accepted too, since exports use either. Unused trailing
/// bits must be zero, as every encoder writes them, which catches many truncated values.
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    const CONFIG: GeneralPurposeConfig =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, CONFIG);
    const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, CONFIG);
    STANDARD.decode(s).or_else(|_| URL_SAFE.decode(s)).ok()
}

/// scrypt into `out`; false if the parameters are invalid (parsing has already ruled that out).
fn scrypt_into(password: &[u8], salt: &[u8], log_n: u8, r: u32, p: u32, out: &mut [u8]) -> bool {
    scrypt::Params::new(log_n, r, p, 32)
        .ok()
        .is_some_and(|params| scrypt::scrypt(password, salt, &params, out).is_ok())
}

const PHPASS_ITOA64: &[u8; 64] =
    b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// phpass's little-endian base64 of `input` (22 characters for 16 bytes).
fn phpass_encode64(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let value = chunk
            .iter()
            .enumerate()
            .fold(0u32, |v, (i, &b)| v | u32::from(b) << (8 * i));
        // One character per started 6 bits: 2 for one byte, 3 for two, 4 for three.
        for i in 0..=chunk.len() {
            out.push(char::from(
                PHPASS_ITOA64[((value >> (6 * i)) & 0x3f) as usize],
            ));
        }
    }
    out
}
