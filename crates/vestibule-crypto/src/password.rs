//! Password hashing.
//!
//! Vestibule's own hashes are argon2id (PHC strings) over the NFKC form of the password, as NIST 800-63B
//! §5.1.1.2 recommends, so that the same password typed on different keyboards or input methods verifies.
//! Digests imported through the Backend API (`password_digest` + `password_hasher` on createUser/updateUser)
//! are verified in the format Clerk documents for each hasher, over the raw password bytes, because the system
//! that made them did not normalise. After a successful sign-in with anything but a current-strength argon2id
//! hash, [`PasswordCheck::Match::needs_rehash`] tells the caller to store a fresh [`hash_password`].

mod digests;

use std::borrow::Cow;
use std::fmt;

use argon2::{Algorithm, Version};
use subtle::ConstantTimeEq;
use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};
use vestibule_model::Rng;

use digests::{Argon2Digest, Digest, Limits};

/// Salt length of native hashes (bytes). RFC 9106 recommends 16.
const NATIVE_SALT_LEN: usize = 16;
/// Output length of native hashes (bytes).
const NATIVE_HASH_LEN: usize = 32;

/// Cost parameters of native argon2id hashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Argon2Params {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Params {
    /// OWASP Password Storage Cheat Sheet: m = 19 MiB, t = 2, p = 1.
    fn default() -> Self {
        Argon2Params {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl Argon2Params {
    /// Refuses parameters weaker than the OWASP default in any dimension, and any that argon2 itself rejects.
    pub fn validate(&self) -> Result<(), String> {
        let floor = Argon2Params::default();
        if self.memory_kib < floor.memory_kib {
            return Err(format!(
                "argon2 memory_kib {} is below the minimum of {} (OWASP)",
                self.memory_kib, floor.memory_kib
            ));
        }
        if self.iterations < floor.iterations {
            return Err(format!(
                "argon2 iterations {} is below the minimum of {} (OWASP)",
                self.iterations, floor.iterations
            ));
        }
        if self.parallelism < floor.parallelism {
            return Err(format!(
                "argon2 parallelism {} is below the minimum of {}",
                self.parallelism, floor.parallelism
            ));
        }
        argon2::Params::new(
            self.memory_kib,
            self.iterations,
            self.parallelism,
            Some(NATIVE_HASH_LEN),
        )
        .map(|_| ())
        .map_err(|e| format!("invalid argon2 parameters: {e}"))
    }

    /// Parameters for hashing. Ones that [`Argon2Params::validate`] refuses are replaced by the default, which is
    /// never weaker than anything `validate` accepts: configuration loading is where bad values get reported.
    fn effective(&self) -> Argon2Params {
        if self.validate().is_ok() {
            *self
        } else {
            Argon2Params::default()
        }
    }
}

/// Clerk's `password_hasher` names (BAPI createUser/updateUser with `password_digest`), for the hashers Vestibule
/// can verify. Formats are those of Clerk's createUser reference; see each variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PasswordHasher {
    /// PHC string `$argon2id$v=19$m=..,t=..,p=..$<salt b64>$<hash b64>`; also Vestibule's native format.
    Argon2id,
    /// PHC string `$argon2i$v=19$m=..,t=..,p=..$<salt b64>$<hash b64>`.
    Argon2i,
    /// `$<2a|2b|2y>$<cost>$<22 chars salt><31 chars hash>`.
    Bcrypt,
    /// Django's `bcrypt_sha256$` followed by a bcrypt digest of the hex SHA-256 of the password.
    BcryptSha256Django,
    /// Unsalted hex MD5 (insecure; rehashed at first sign-in).
    Md5,
    /// `pbkdf2_sha1$<iterations>$<salt>$<hash hex>[$<key length>]`; the salt is hex-decoded when it is valid hex.
    Pbkdf2Sha1,
    /// Clerk's own `pbkdf2_sha256$<iterations>$<salt base64>$<hash base64>`.
    Pbkdf2Sha256,
    /// Django's `pbkdf2_sha256$<iterations>$<salt as text>$<hash base64>`.
    Pbkdf2Sha256Django,
    /// `pbkdf2_sha512$<iterations>$<salt as text>$<hash hex>`.
    Pbkdf2Sha512,
    /// `pbkdf2_sha512_hex$<iterations>$<salt hex>$<hash hex>`.
    Pbkdf2Sha512Hex,
    /// phpass portable hashes, `$P$<rounds char><8 salt chars><22 hash chars>` (`$H$`, phpBB's name, too).
    Phpass,
    /// `<hash>$<salt>$<signer key>$<salt separator>$<rounds>$<memory cost>`, all base64 but the two numbers.
    ScryptFirebase,
    /// Werkzeug's `scrypt:<n>:<r>:<p>$<salt>$<hash hex>` (Clerk writes `$<args>$<salt>$<hash>`; both are read).
    ScryptWerkzeug,
    /// Unsalted hex SHA-256 (insecure; rehashed at first sign-in).
    Sha256,
}

impl PasswordHasher {
    /// Every hasher, in the order of Clerk's documentation.
    pub const ALL: [PasswordHasher; 14] = [
        PasswordHasher::Argon2i,
        PasswordHasher::Argon2id,
        PasswordHasher::Bcrypt,
        PasswordHasher::BcryptSha256Django,
        PasswordHasher::Md5,
        PasswordHasher::Pbkdf2Sha1,
        PasswordHasher::Pbkdf2Sha256,
        PasswordHasher::Pbkdf2Sha256Django,
        PasswordHasher::Pbkdf2Sha512,
        PasswordHasher::Pbkdf2Sha512Hex,
        PasswordHasher::Phpass,
        PasswordHasher::ScryptFirebase,
        PasswordHasher::ScryptWerkzeug,
        PasswordHasher::Sha256,
    ];

    /// The hasher with Clerk's name `name`; `None` for names Clerk does not use or Vestibule cannot verify.
    pub fn parse(name: &str) -> Option<Self> {
        PasswordHasher::ALL
            .into_iter()
            .find(|hasher| hasher.as_str() == name)
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            PasswordHasher::Argon2id => "argon2id",
            PasswordHasher::Argon2i => "argon2i",
            PasswordHasher::Bcrypt => "bcrypt",
            PasswordHasher::BcryptSha256Django => "bcrypt_sha256_django",
            PasswordHasher::Md5 => "md5",
            PasswordHasher::Pbkdf2Sha1 => "pbkdf2_sha1",
            PasswordHasher::Pbkdf2Sha256 => "pbkdf2_sha256",
            PasswordHasher::Pbkdf2Sha256Django => "pbkdf2_sha256_django",
            PasswordHasher::Pbkdf2Sha512 => "pbkdf2_sha512",
            PasswordHasher::Pbkdf2Sha512Hex => "pbkdf2_sha512_hex",
            PasswordHasher::Phpass => "phpass",
            PasswordHasher::ScryptFirebase => "scrypt_firebase",
            PasswordHasher::ScryptWerkzeug => "scrypt_werkzeug",
            PasswordHasher::Sha256 => "sha256",
        }
    }
}

impl fmt::Display for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a digest cannot be used. Messages name the hasher, never the digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// Not in the format Clerk documents for the hasher (Clerk: `form_password_digest_invalid`).
    #[error("not a valid {hasher} digest: {reason}")]
    Malformed {
        hasher: PasswordHasher,
        reason: String,
    },
    /// Well-formed, but its cost parameters would let one sign-in tie up a hashing thread (or gigabytes of
    /// memory) for too long.
    #[error("{hasher} digest is too costly to verify: {reason}")]
    TooCostly {
        hasher: PasswordHasher,
        reason: String,
    },
    /// Well-formed, but a variant Vestibule cannot verify faithfully (a secret key, bcrypt's `$2x$` bug mode).
    #[error("unsupported {hasher} digest: {reason}")]
    Unsupported {
        hasher: PasswordHasher,
        reason: String,
    },
}

/// The outcome of [`verify_password`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordCheck {
    /// The password is right. `needs_rehash`: store [`hash_password`] of it, because the digest is not argon2id
    /// or is weaker than the configured parameters.
    Match {
        needs_rehash: bool,
    },
    Mismatch,
}

/// A native argon2id PHC string for `password` (after NFKC), with a 16-byte salt from `rng`.
///
/// # Panics
///
/// Only if `password` is longer than 4 GiB, which argon2 cannot take; request body limits keep that out.
pub fn hash_password(password: &str, params: &Argon2Params, rng: &dyn Rng) -> String {
    let params = params.effective();
    let mut salt = [0u8; NATIVE_SALT_LEN];
    rng.fill(&mut salt);
    let digest = Argon2Digest {
        algorithm: Algorithm::Argon2id,
        version: Version::V0x13,
        memory_kib: params.memory_kib,
        iterations: params.iterations,
        parallelism: params.parallelism,
        salt: salt.to_vec(),
        hash: vec![0u8; NATIVE_HASH_LEN],
    };
    let hash = match digest.compute(nfkc(password).as_bytes()) {
        Some(hash) => hash,
        // Every failure argon2 knows besides an over-long password is ruled out by `effective` and the fixed
        // salt and output lengths; a 4 GiB password cannot reach here through any request.
        None => panic!("argon2id refused a password of {} bytes", password.len()),
    };
    Argon2Digest { hash, ..digest }.to_phc()
}

/// Checks `password` against a digest made by `hasher`. Native argon2id digests are checked against the NFKC form
/// first and then, if that differs, against the raw password (an imported argon2id digest was made from raw
/// bytes; a match that way asks for a rehash so the stored hash becomes the normalised one). Every other hasher
/// sees the raw bytes. Comparisons are constant-time.
pub fn verify_password(
    password: &str,
    hasher: PasswordHasher,
    digest: &str,
    params: &Argon2Params,
) -> Result<PasswordCheck, DigestError> {
    // Hashes this server made with its configured parameters must always be verifiable, however large.
    let limits = Limits::with_native(params);
    let parsed = Digest::parse(hasher, digest, &limits)?;
    let check = match &parsed {
        Digest::Argon2(argon) if hasher == PasswordHasher::Argon2id => {
            let normalised = nfkc(password);
            if argon.matches(normalised.as_bytes()) {
                PasswordCheck::Match {
                    needs_rehash: argon.weaker_than(params),
                }
            } else if normalised != password && argon.matches(password.as_bytes()) {
                PasswordCheck::Match { needs_rehash: true }
            } else {
                PasswordCheck::Mismatch
            }
        }
        other => {
            if other.matches(password.as_bytes()) {
                PasswordCheck::Match { needs_rehash: true }
            } else {
                PasswordCheck::Mismatch
            }
        }
    };
    Ok(check)
}

/// Checks at import time that `digest` is well-formed for `hasher` and affordable to verify.
pub fn validate_digest(hasher: PasswordHasher, digest: &str) -> Result<(), DigestError> {
    Digest::parse(hasher, digest, &Limits::IMPORT).map(|_| ())
}

/// Spends what [`verify_password`] spends on a native argon2id hash with `params`, including the second attempt
/// for a password that NFKC changes, so an unknown identifier takes as long as a wrong password.
pub fn dummy_verify(password: &str, params: &Argon2Params) {
    let params = params.effective();
    let dummy = Argon2Digest {
        algorithm: Algorithm::Argon2id,
        version: Version::V0x13,
        memory_kib: params.memory_kib,
        iterations: params.iterations,
        parallelism: params.parallelism,
        salt: vec![0x5a; NATIVE_SALT_LEN],
        hash: vec![0u8; NATIVE_HASH_LEN],
    };
    let normalised = nfkc(password);
    let mut hit = dummy.matches(normalised.as_bytes());
    if normalised != password {
        hit |= dummy.matches(password.as_bytes());
    }
    std::hint::black_box(hit);
}

/// NFKC form of `password`, borrowing when it is already normal (always, for ASCII).
fn nfkc(password: &str) -> Cow<'_, str> {
    if is_nfkc_quick(password.chars()) == IsNormalized::Yes {
        Cow::Borrowed(password)
    } else {
        Cow::Owned(password.nfkc().collect())
    }
}

/// Constant-time equality for secrets of public length.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests;
