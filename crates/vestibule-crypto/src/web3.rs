//! Web3 wallet signatures, as the wallets clerk-js drives produce them:
//!
//! - Ethereum-style wallets (MetaMask, Coinbase Wallet, OKX Wallet, Base): EIP-191
//!   `personal_sign`, a 65-byte secp256k1 signature `r ‖ s ‖ v` in hex over
//!   Keccak-256(`"\x19Ethereum Signed Message:\n" ‖ len ‖ message`). The signer's public key is
//!   recovered (`k256`) and its address (the last 20 bytes of the Keccak-256 of the key, `sha3`)
//!   compared with the wallet's. Addresses are accepted in any case; a mixed-case address must
//!   carry a valid EIP-55 checksum.
//! - Solana: ed25519 (`ring`) over the exact message bytes, the 64-byte signature in base64 as
//!   clerk-js sends it, the address the base58 (`bs58`) public key.
//!
//! Malformed input is an error, never a panic; a well-formed signature by someone else is
//! `false`.

use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};
use sha3::{Digest, Keccak256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Web3Error {
    #[error("the signature is malformed")]
    MalformedSignature,
    #[error("the wallet address is malformed")]
    MalformedAddress,
}

/// An Ethereum address, 20 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EthAddress(pub [u8; 20]);

impl EthAddress {
    /// `0x` and 40 hex digits, all lower case, all upper case, or with a valid EIP-55 checksum.
    pub fn parse(s: &str) -> Result<EthAddress, Web3Error> {
        let digits = s
            .strip_prefix("0x")
            .or_else(|| s.strip_prefix("0X"))
            .ok_or(Web3Error::MalformedAddress)?;
        if digits.len() != 40 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Web3Error::MalformedAddress);
        }
        let mut bytes = [0u8; 20];
        hex::decode_to_slice(digits, &mut bytes).map_err(|_| Web3Error::MalformedAddress)?;
        let address = EthAddress(bytes);
        let lower = digits.bytes().all(|b| !b.is_ascii_uppercase());
        let upper = digits.bytes().all(|b| !b.is_ascii_lowercase());
        if !lower && !upper && address.checksummed()[2..] != *digits {
            return Err(Web3Error::MalformedAddress);
        }
        Ok(address)
    }

    /// The EIP-55 form: a hex digit is upper case where the Keccak-256 of the lower-case address
    /// has a nibble of 8 or more.
    pub fn checksummed(&self) -> String {
        let lower = hex::encode(self.0);
        let hash = Keccak256::digest(lower.as_bytes());
        let mut out = String::with_capacity(42);
        out.push_str("0x");
        for (i, c) in lower.chars().enumerate() {
            let nibble = (hash[i / 2] >> if i % 2 == 0 { 4 } else { 0 }) & 0x0f;
            out.push(if nibble >= 8 {
                c.to_ascii_uppercase()
            } else {
                c
            });
        }
        out
    }

    /// The address of a public key: the last 20 bytes of the Keccak-256 of its uncompressed point.
    pub fn of_key(key: &VerifyingKey) -> EthAddress {
        let point = key.to_encoded_point(false);
        let hash = Keccak256::digest(&point.as_bytes()[1..]);
        let mut bytes = [0u8; 20];
        bytes.copy_from_slice(&hash[12..]);
        EthAddress(bytes)
    }
}

/// The EIP-191 hash `personal_sign` signs.
pub fn personal_sign_hash(message: &[u8]) -> [u8; 32] {
    let mut h = Keccak256::new();
    h.update(format!("\x19Ethereum Signed Message:\n{}", message.len()).as_bytes());
    h.update(message);
    h.finalize().into()
}

/// The address whose key made `signature` (hex, `0x` optional) over `message` with
/// `personal_sign`. High-s signatures are refused (EIP-2), so each signature has one form.
pub fn recover_personal_sign(message: &[u8], signature: &str) -> Result<EthAddress, Web3Error> {
    let digits = signature.strip_prefix("0x").unwrap_or(signature);
    if digits.len() != 130 {
        return Err(Web3Error::MalformedSignature);
    }
    let mut raw = [0u8; 65];
    hex::decode_to_slice(digits, &mut raw).map_err(|_| Web3Error::MalformedSignature)?;
    let v = match raw[64] {
        27 | 28 => raw[64] - 27,
        0 | 1 => raw[64],
        _ => return Err(Web3Error::MalformedSignature),
    };
    let sig = Signature::from_slice(&raw[..64]).map_err(|_| Web3Error::MalformedSignature)?;
    if sig.normalize_s().is_some() {
        return Err(Web3Error::MalformedSignature);
    }
    let recovery = RecoveryId::from_byte(v).ok_or(Web3Error::MalformedSignature)?;
    let key = VerifyingKey::recover_from_prehash(&personal_sign_hash(message), &sig, recovery)
        .map_err(|_| Web3Error::MalformedSignature)?;
    Ok(EthAddress::of_key(&key))
}

/// Whether `signature` over `message` was made by the wallet at `address`.
pub fn verify_personal_sign(
    message: &[u8],
    signature: &str,
    address: &str,
) -> Result<bool, Web3Error> {
    let expected = EthAddress::parse(address)?;
    Ok(recover_personal_sign(message, signature)? == expected)
}

/// A Solana address: a base58 ed25519 public key.
pub fn parse_solana_address(address: &str) -> Result<[u8; 32], Web3Error> {
    let bytes = bs58::decode(address)
        .into_vec()
        .map_err(|_| Web3Error::MalformedAddress)?;
    bytes.try_into().map_err(|_| Web3Error::MalformedAddress)
}

/// Whether `signature` (base64 of 64 bytes, as clerk-js sends it) over the exact `message` bytes
/// was made by the Solana wallet at `address`.
pub fn verify_solana(message: &[u8], signature: &str, address: &str) -> Result<bool, Web3Error> {
    use base64::Engine as _;
    let key = parse_solana_address(address)?;
    let sig = base64::engine::general_purpose::STANDARD
        .decode(signature)
        .map_err(|_| Web3Error::MalformedSignature)?;
    if sig.len() != 64 {
        return Err(Web3Error::MalformedSignature);
    }
    let key = ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, key);
    Ok(key.verify(message, &sig).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k256::ecdsa::SigningKey;

    /// A real signer: what a wallet's `personal_sign` answers, in hex with `v` of 27 or 28.
    fn personal_sign(key: &SigningKey, message: &[u8]) -> String {
        let (sig, recovery) = key
            .sign_prehash_recoverable(&personal_sign_hash(message))
            .expect("sign");
        let mut raw = sig.to_bytes().to_vec();
        raw.push(27 + recovery.to_byte());
        format!("0x{}", hex::encode(raw))
    }

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_slice(&[seed; 32]).expect("key")
    }

    #[test]
    fn the_eip55_examples_round_trip() {
        // The test vectors of EIP-55.
        for a in [
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
            "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
            "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        ] {
            let parsed = EthAddress::parse(a).expect(a);
            assert_eq!(parsed.checksummed(), a);
            assert_eq!(EthAddress::parse(&a.to_lowercase()).expect("lower"), parsed);
            assert_eq!(
                EthAddress::parse(&format!("0x{}", a[2..].to_uppercase())).expect("upper"),
                parsed
            );
        }
        // One digit's case flipped breaks the checksum.
        assert_eq!(
            EthAddress::parse("0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),
            Err(Web3Error::MalformedAddress)
        );
        for bad in [
            "",
            "0x",
            "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0xzz",
            "0x1234",
        ] {
            assert_eq!(
                EthAddress::parse(bad),
                Err(Web3Error::MalformedAddress),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_personal_sign_signature_recovers_its_wallet_only() {
        let (alice, bob) = (key(7), key(9));
        let alice_address = EthAddress::of_key(alice.verifying_key()).checksummed();
        let message = b"Sign in with nonce 4f1c";
        let signed = personal_sign(&alice, message);
        assert_eq!(
            verify_personal_sign(message, &signed, &alice_address),
            Ok(true)
        );
        assert_eq!(
            verify_personal_sign(message, &signed, &alice_address.to_lowercase()),
            Ok(true),
            "addresses compare case-insensitively"
        );
        let bob_address = EthAddress::of_key(bob.verifying_key()).checksummed();
        assert_eq!(
            verify_personal_sign(message, &signed, &bob_address),
            Ok(false)
        );
        assert_eq!(
            verify_personal_sign(b"another message", &signed, &alice_address),
            Ok(false)
        );
        // v as 0/1 is accepted too; without the 0x prefix as well.
        let mut raw = hex::decode(&signed[2..]).expect("hex");
        raw[64] -= 27;
        assert_eq!(
            verify_personal_sign(message, &hex::encode(&raw), &alice_address),
            Ok(true)
        );
    }

    #[test]
    fn malformed_or_malleable_signatures_are_errors_not_panics() {
        let alice = key(7);
        let address = EthAddress::of_key(alice.verifying_key()).checksummed();
        let message = b"nonce";
        let signed = personal_sign(&alice, message);
        let mut high_s = hex::decode(&signed[2..]).expect("hex");
        // s' = n - s, with the parity flipped: valid math, the other form of the signature.
        let sig = Signature::from_slice(&high_s[..64]).expect("sig");
        let (r, s) = sig.split_scalars();
        let flipped = Signature::from_scalars(r.to_bytes(), (-*s).to_bytes()).expect("flip");
        high_s[..64].copy_from_slice(&flipped.to_bytes());
        high_s[64] ^= 1;
        for bad in [
            String::new(),
            "0x".into(),
            "0x1234".into(),
            format!("{}zz", &signed[..130]),
            format!("{}1d", &signed[..130]),
            format!("0x{}", "00".repeat(65)),
            format!("0x{}", hex::encode(&high_s)),
        ] {
            assert_eq!(
                verify_personal_sign(message, &bad, &address),
                Err(Web3Error::MalformedSignature),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_solana_signature_verifies_for_its_wallet_only() {
        use base64::Engine as _;
        use ring::signature::{Ed25519KeyPair, KeyPair};
        let alice = Ed25519KeyPair::from_seed_unchecked(&[3; 32]).expect("key");
        let bob = Ed25519KeyPair::from_seed_unchecked(&[4; 32]).expect("key");
        let address = bs58::encode(alice.public_key().as_ref()).into_string();
        let message = "Sign in with nonce 77aa".as_bytes();
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let signed = b64(alice.sign(message).as_ref());
        assert_eq!(verify_solana(message, &signed, &address), Ok(true));
        let bob_address = bs58::encode(bob.public_key().as_ref()).into_string();
        assert_eq!(verify_solana(message, &signed, &bob_address), Ok(false));
        assert_eq!(verify_solana(b"other", &signed, &address), Ok(false));
        assert_eq!(
            verify_solana(message, "not base64!", &address),
            Err(Web3Error::MalformedSignature)
        );
        assert_eq!(
            verify_solana(message, &b64(&[1; 10]), &address),
            Err(Web3Error::MalformedSignature)
        );
        assert_eq!(
            verify_solana(message, &signed, "0OIl"),
            Err(Web3Error::MalformedAddress)
        );
        assert_eq!(
            verify_solana(message, &signed, &bs58::encode([1u8; 31]).into_string()),
            Err(Web3Error::MalformedAddress)
        );
    }
}
