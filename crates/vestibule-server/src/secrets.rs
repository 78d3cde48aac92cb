//! Keys derived from the instance's data key: one random secret, generated on first start and
//! shared by every node through the store, from which each use gets its own key.

use base64::Engine;
use ring::hmac;
use vestibule_model::rng::base62;
use vestibule_model::{IdentificationId, Rng};
use vestibule_store::{instance, Store};

const DATA_KEY: &str = "data_key";

pub struct Secrets {
    codes: hmac::Key,
    signing_messages: hmac::Key,
    unknown_accounts: hmac::Key,
    passkey_users: hmac::Key,
    seal_key: [u8; 32],
    totp: vestibule_crypto::Sealer,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(<redacted>)")
    }
}

fn derive(root: &[u8], label: &str) -> [u8; 32] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, root), label.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

impl Secrets {
    pub fn from_data_key(root: &[u8]) -> Secrets {
        Secrets {
            codes: hmac::Key::new(
                hmac::HMAC_SHA256,
                &derive(root, "vestibule one-time code hashes"),
            ),
            signing_messages: hmac::Key::new(
                hmac::HMAC_SHA256,
                &derive(root, "vestibule messages for wallets to sign"),
            ),
            unknown_accounts: hmac::Key::new(
                hmac::HMAC_SHA256,
                &derive(root, "vestibule unknown account identifiers"),
            ),
            passkey_users: hmac::Key::new(
                hmac::HMAC_SHA256,
                &derive(root, "vestibule passkey user handles"),
            ),
            seal_key: derive(root, "vestibule outbox sealing"),
            totp: vestibule_crypto::Sealer::new(derive(root, "vestibule totp secrets")),
        }
    }

    /// Loads the data key, generating it on first start (every node agrees on the first one stored).
    pub async fn load(store: &Store, rng: &dyn Rng) -> Result<Secrets, String> {
        let mut fresh = [0u8; 32];
        rng.fill(&mut fresh);
        let candidate = base64::engine::general_purpose::STANDARD.encode(fresh);
        let mut tx = store.begin().await.map_err(|e| e.to_string())?;
        let stored = instance::get_or_insert(&mut tx, DATA_KEY, &candidate)
            .await
            .map_err(|e| e.to_string())?;
        tx.commit().await.map_err(|e| e.to_string())?;
        let root = base64::engine::general_purpose::STANDARD
            .decode(stored)
            .map_err(|_| "the stored data key is not base64".to_owned())?;
        Ok(Secrets::from_data_key(&root))
    }

    /// The message a wallet signs for the verification `verification_id`: derived from it, so
    /// nothing needs storing beyond the verification (which makes it single use), and
    /// unpredictable without the data key. ASCII (base64url), so every wallet signs the bytes
    /// clerk-js shows, whether it encodes the text per character or as UTF-8.
    pub fn message_to_sign(&self, verification_id: &str) -> String {
        let tag = hmac::sign(&self.signing_messages, verification_id.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag.as_ref())
    }

    /// The WebAuthn user handle of an account: stable, so an authenticator keeps one passkey
    /// per account, and free of the account's id or any personal data (WebAuthn §14.6.1).
    pub fn passkey_user_handle(
        &self,
        user_id: &str,
    ) -> [u8; vestibule_crypto::passkey::USER_HANDLE_LEN] {
        let tag = hmac::sign(&self.passkey_users, user_id.as_bytes());
        let mut handle = [0u8; vestibule_crypto::passkey::USER_HANDLE_LEN];
        let n = handle.len();
        handle.copy_from_slice(&tag.as_ref()[..n]);
        handle
    }

    /// What the store keeps of a code: a keyed hash bound to its verification, so a stolen
    /// database does not let anyone test the 10^6 possible codes offline.
    pub fn code_hash(&self, verification_id: &str, code: &str) -> String {
        let tag = hmac::sign(&self.codes, format!("{verification_id}:{code}").as_bytes());
        hex::encode(tag.as_ref())
    }

    /// Constant-time check of a guess against a stored code hash.
    pub fn code_matches(&self, verification_id: &str, guess: &str, stored_hash: &str) -> bool {
        let Ok(expected) = hex::decode(stored_hash) else {
            return false;
        };
        hmac::verify(
            &self.codes,
            format!("{verification_id}:{guess}").as_bytes(),
            &expected,
        )
        .is_ok()
    }

    /// A stable, made-up identification id for an identifier that names no account, so enumeration
    /// protection answers with the same id every time.
    pub fn unknown_identification_id(&self, identifier: &str) -> IdentificationId {
        let tag = hmac::sign(&self.unknown_accounts, identifier.as_bytes());
        let seeded = SeededRng(
            tag.as_ref().to_vec(),
            std::sync::atomic::AtomicUsize::new(0),
        );
        IdentificationId::from_trusted(format!("idn_{}", base62(&seeded, 27)))
    }

    /// A made-up email address for a username that names no account, on one of `domains`:
    /// stable per username, so the masked address shown is the same every time, and not
    /// derivable without the instance secret.
    pub fn stand_in_email(&self, username: &str, domains: &[String]) -> String {
        let tag = hmac::sign(
            &self.unknown_accounts,
            format!("stand-in email\0{username}").as_bytes(),
        );
        let bytes = tag.as_ref();
        let local: String = bytes[..8]
            .iter()
            .map(|b| char::from(b'a' + b % 26))
            .collect();
        let domain = match domains {
            [] => "example.com",
            _ => &domains[usize::from(bytes[8]) % domains.len()],
        };
        format!("{local}@{domain}")
    }

    /// A TOTP secret as stored: sealed, so a copy of the database alone yields no codes.
    pub fn seal_totp(&self, secret: &[u8], rng: &dyn Rng) -> Vec<u8> {
        self.totp.seal(secret, rng)
    }

    pub fn open_totp(
        &self,
        sealed: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, vestibule_model::Error> {
        self.totp
            .open(sealed)
            .map(zeroize::Zeroizing::new)
            .map_err(|e| vestibule_model::Error::internal(format!("opening a TOTP secret: {e}")))
    }

    pub fn seal_key(&self) -> [u8; 32] {
        self.seal_key
    }
}

/// Bytes from a tag, repeated, for deriving ids deterministically.
struct SeededRng(Vec<u8>, std::sync::atomic::AtomicUsize);

impl Rng for SeededRng {
    fn fill(&self, buf: &mut [u8]) {
        for b in buf {
            let i = self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            *b = self.0[i % self.0.len()].wrapping_add((i / self.0.len()) as u8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_hashes_are_bound_to_their_verification() {
        let s = Secrets::from_data_key(b"root key for tests");
        let h = s.code_hash("ver_1", "123456");
        assert!(s.code_matches("ver_1", "123456", &h));
        assert!(!s.code_matches("ver_1", "123457", &h));
        assert!(
            !s.code_matches("ver_2", "123456", &h),
            "a code of one verification fits no other"
        );
        assert!(!s.code_matches("ver_1", "123456", "not hex"));
        let other = Secrets::from_data_key(b"another root");
        assert!(!other.code_matches("ver_1", "123456", &h));
    }

    #[test]
    fn unknown_ids_are_stable_and_well_formed() {
        let s = Secrets::from_data_key(b"root");
        let a = s.unknown_identification_id("nobody@example.com");
        assert_eq!(a, s.unknown_identification_id("nobody@example.com"));
        assert_ne!(a, s.unknown_identification_id("other@example.com"));
        assert!(IdentificationId::parse(a.as_str()).is_some());
    }

    #[test]
    fn stand_in_emails_are_stable_and_on_the_given_domains() {
        let s = Secrets::from_data_key(b"root");
        let domains = vec!["gmail.com".to_owned(), "corp.example".to_owned()];
        let a = s.stand_in_email("ghost", &domains);
        assert_eq!(a, s.stand_in_email("ghost", &domains));
        assert_ne!(a, s.stand_in_email("ghost2", &domains));
        assert_ne!(
            a,
            Secrets::from_data_key(b"other").stand_in_email("ghost", &domains)
        );
        let (local, domain) = a.split_once('@').expect("an address");
        assert!(local.len() == 8 && local.chars().all(|c| c.is_ascii_lowercase()));
        assert!(domains.iter().any(|d| d == domain), "{a}");
        let spread: std::collections::HashSet<String> = (0..64)
            .map(|i| s.stand_in_email(&format!("u{i}"), &domains))
            .filter_map(|e| e.split_once('@').map(|(_, d)| d.to_owned()))
            .collect();
        assert_eq!(spread.len(), 2, "every domain is used");
    }
}
