//! Vestibule's cryptography.
//!
//! - [`password`]: argon2id hashing of passwords, and verification of digests imported in any of the formats
//!   Clerk's Backend API accepts (`password_hasher` + `password_digest`).
//! - [`pool`]: a bounded thread pool for that work, refusing at once when full.
//! - [`jwt`]: RS256 session tokens, their signing keys and JWKS.
//! - [`token`]: opaque random bearer tokens and the hashes the store keeps of them.
//! - [`web3`]: wallet signatures: EIP-191 `personal_sign` with secp256k1 key recovery, and
//!   Solana's ed25519.
//! - [`passkey`]: WebAuthn ceremonies for passkeys (`webauthn_rp`).
//! - [`seal`]: AES-256-GCM for secrets kept at rest that must be read back (outgoing messages).
//!
//! Nothing here does IO beyond reading the OS random generator for key generation; randomness for salts and
//! tokens is injected as a [`vestibule_model::Rng`].

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod jwt;
pub mod otp;
pub mod passkey;
pub mod password;
pub mod pool;
pub mod seal;
pub mod token;
pub mod web3;

pub use jwt::{verify_jwt, Jwk, Jwks, JwtError, KeyError, SigningKey};
pub use password::{
    dummy_verify, hash_password, validate_digest, verify_password, Argon2Params, DigestError,
    PasswordCheck, PasswordHasher,
};
pub use pool::{HashPool, PoolBusy, PoolError};
pub use seal::{SealError, Sealer};
pub use token::{constant_time_eq, random_token, token_hash};
