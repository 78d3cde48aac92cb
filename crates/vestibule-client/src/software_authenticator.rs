//! A passkey authenticator in memory (feature `software-authenticator`), for tests and
//! benchmarks that drive real WebAuthn ceremonies: 1Password's `passkey-authenticator` and
//! `passkey-client`, behind [`PasskeyAuthenticator`], acting for a page at a fixed origin.
//!
//! It holds one passkey (the last one created), which it finds with or without
//! `allowCredentials`, so it serves the identified and the discoverable flow alike. Its user is
//! always present and, unless told otherwise, verified. For negative tests it can answer from
//! another origin ([`SoftwareAuthenticator::at_origin`]), without user verification
//! ([`SoftwareAuthenticator::set_user_verification`]), or with a broken signature
//! ([`SoftwareAuthenticator::flipping_signatures`], [`flip_signature_byte`]).

use crate::passkey::{PasskeyAuthenticator, PasskeyError};
use passkey_authenticator::{Authenticator, UiHint, UserCheck, UserValidationMethod};
use passkey_client::{Client, DefaultClientData, WebauthnError};
use passkey_crypto::AvailableBackend;
use passkey_types::ctap2::{Aaguid, Ctap2Error};
use passkey_types::{encoding, webauthn, Passkey};
use serde_json::Value;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Mutex;
use url::Url;

/// A user who is always there and passes any verification asked for (a PIN or biometric that
/// always succeeds). Whether verification is asked for is the client's decision, from the options.
struct AlwaysConsenting;

#[async_trait::async_trait]
impl UserValidationMethod for AlwaysConsenting {
    type PasskeyItem = Passkey;

    async fn check_user<'a>(
        &self,
        _hint: UiHint<'a, Passkey>,
        presence: bool,
        verification: bool,
    ) -> Result<UserCheck, Ctap2Error> {
        Ok(UserCheck {
            presence,
            verification,
        })
    }

    fn is_presence_enabled(&self) -> bool {
        true
    }

    fn is_verification_enabled(&self) -> Option<bool> {
        Some(true)
    }
}

type SoftwareCtap2 = Authenticator<Option<Passkey>, AlwaysConsenting, AvailableBackend>;

/// A CTAP2 authenticator over `store`; no attestation (an empty AAGUID), as most passkey
/// providers answer.
/// An authenticator making ES256 (ECDSA P-256) credentials, as platform passkeys do; offered
/// Ed25519 first, it would otherwise pick that.
fn ctap2(store: Option<Passkey>) -> SoftwareCtap2 {
    let mut authenticator = Authenticator::new(
        Aaguid::new_empty(),
        store,
        AlwaysConsenting,
        AvailableBackend,
    );
    // Every backend has ES256; were it missing, the authenticator would keep its own list.
    let _ = authenticator.set_algorithms(&[passkey_crypto::iana::Algorithm::ES256]);
    // A signature counter, moving on at each assertion, as hardware and Chromium's virtual
    // authenticator keep one: the server must follow it.
    authenticator.set_make_credentials_with_signature_counter(true);
    authenticator
}

fn webauthn_error(e: WebauthnError) -> PasskeyError {
    format!("the software authenticator refused: {e:?}").into()
}

fn origin_url(origin: &str) -> Result<Url, PasskeyError> {
    Url::parse(origin).map_err(|e| format!("the origin {origin:?} is not a URL: {e}").into())
}

/// The options JSON the server handed out, as the `{ publicKey }` argument of
/// `navigator.credentials.*`; without user verification, with its requirement turned to
/// `discouraged` (what a client that skips it would do).
fn public_key_options(
    options: &str,
    user_verification: bool,
    selection: Option<&str>,
) -> Result<Value, PasskeyError> {
    let mut options: Value = serde_json::from_str(options)
        .map_err(|e| format!("the passkey options are not JSON: {e}"))?;
    if !user_verification {
        let target = match selection {
            Some(key) => options.get_mut(key),
            None => Some(&mut options),
        };
        if let Some(object) = target.and_then(Value::as_object_mut) {
            object.insert("userVerification".into(), "discouraged".into());
        }
    }
    Ok(serde_json::json!({ "publicKey": options }))
}

/// An authenticator holding at most one passkey, acting for a page at one origin. See the module
/// documentation.
pub struct SoftwareAuthenticator {
    origin: String,
    /// Held across a ceremony, so concurrent ceremonies of one authenticator take turns.
    passkey: Mutex<Option<Passkey>>,
    user_verification: AtomicBool,
}

impl fmt::Debug for SoftwareAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftwareAuthenticator")
            .field("origin", &self.origin)
            .field(
                "user_verification",
                &self.user_verification.load(Ordering::Relaxed),
            )
            .finish_non_exhaustive()
    }
}

impl SoftwareAuthenticator {
    /// An empty authenticator for pages at `origin`, e.g. `http://localhost:5173` (plain-http
    /// localhost is allowed, as browsers allow it). The origin must be a URL whose host the
    /// server's RP ID covers.
    pub fn new(origin: &str) -> Result<SoftwareAuthenticator, PasskeyError> {
        origin_url(origin)?;
        Ok(SoftwareAuthenticator {
            origin: origin.to_owned(),
            passkey: Mutex::new(None),
            user_verification: AtomicBool::new(true),
        })
    }

    /// The origin its ceremonies claim, unless told otherwise.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Whether the user is verified from now on (on by default). Off, ceremonies still succeed,
    /// with the UV flag unset, even when the options require verification: a server must refuse
    /// them.
    pub fn set_user_verification(&self, verify: bool) {
        self.user_verification.store(verify, Ordering::Relaxed);
    }

    fn verifies_user(&self) -> bool {
        self.user_verification.load(Ordering::Relaxed)
    }

    /// The credential id of the passkey held (base64url, as the credential JSON's `id`).
    pub async fn credential_id(&self) -> Option<String> {
        self.passkey
            .lock()
            .await
            .as_ref()
            .map(|p| encoding::base64url(&p.credential_id))
    }

    /// The user handle the relying party gave the passkey held (`user.id` of the creation
    /// options, base64url).
    pub async fn user_handle(&self) -> Option<String> {
        self.passkey
            .lock()
            .await
            .as_ref()
            .and_then(|p| p.user_handle.as_ref())
            .map(|h| encoding::base64url(h))
    }

    /// [`PasskeyAuthenticator::create_credential`] for a page at `origin`. The new passkey
    /// replaces the one held.
    pub async fn create_credential_at(
        &self,
        origin: &str,
        creation_options: &str,
    ) -> Result<String, PasskeyError> {
        let origin = origin_url(origin)?;
        let uv = self.verifies_user();
        let request: webauthn::CredentialCreationOptions = serde_json::from_value(
            public_key_options(creation_options, uv, Some("authenticatorSelection"))?,
        )
        .map_err(|e| format!("not PublicKeyCredentialCreationOptions: {e}"))?;
        let mut held = self.passkey.lock().await;
        let mut client = Client::new(ctap2(held.take()))
            .allows_insecure_localhost(true)
            .user_verification_when_preferred(uv);
        let created = client.register(&origin, request, DefaultClientData).await;
        // Whatever happened, the store goes back: the new passkey, or the old one untouched.
        *held = client.authenticator_mut().store_mut().take();
        let created = created.map_err(webauthn_error)?;
        Ok(serde_json::to_string(&created)?)
    }

    /// [`PasskeyAuthenticator::get_assertion`] for a page at `origin`.
    pub async fn get_assertion_at(
        &self,
        origin: &str,
        request_options: &str,
    ) -> Result<String, PasskeyError> {
        let origin = origin_url(origin)?;
        let uv = self.verifies_user();
        let request: webauthn::CredentialRequestOptions =
            serde_json::from_value(public_key_options(request_options, uv, None)?)
                .map_err(|e| format!("not PublicKeyCredentialRequestOptions: {e}"))?;
        let mut held = self.passkey.lock().await;
        let mut client = Client::new(ctap2(held.take()))
            .allows_insecure_localhost(true)
            .user_verification_when_preferred(uv);
        let asserted = client
            .authenticate(&origin, request, DefaultClientData)
            .await;
        // The signature counter may have moved.
        *held = client.authenticator_mut().store_mut().take();
        let asserted = asserted.map_err(webauthn_error)?;
        Ok(serde_json::to_string(&asserted)?)
    }

    /// A second authenticator holding a copy of this one's passkey, as a cloned authenticator
    /// would: its signature counter stays where the copy was taken.
    pub async fn duplicate(&self) -> SoftwareAuthenticator {
        SoftwareAuthenticator {
            origin: self.origin.clone(),
            passkey: Mutex::new(self.passkey.lock().await.clone()),
            user_verification: AtomicBool::new(self.verifies_user()),
        }
    }

    /// This authenticator acting for a page at `origin` instead (same passkey).
    pub fn at_origin(&self, origin: &str) -> AtOrigin<'_> {
        AtOrigin {
            authenticator: self,
            origin: origin.to_owned(),
        }
    }

    /// This authenticator with every assertion's signature broken by [`flip_signature_byte`].
    pub fn flipping_signatures(&self) -> FlippedSignatures<'_> {
        FlippedSignatures(self)
    }
}

impl PasskeyAuthenticator for SoftwareAuthenticator {
    async fn create_credential(&self, creation_options: &str) -> Result<String, PasskeyError> {
        self.create_credential_at(&self.origin, creation_options)
            .await
    }

    async fn get_assertion(&self, request_options: &str) -> Result<String, PasskeyError> {
        self.get_assertion_at(&self.origin, request_options).await
    }
}

/// A [`SoftwareAuthenticator`] claiming another origin; from [`SoftwareAuthenticator::at_origin`].
#[derive(Debug)]
pub struct AtOrigin<'a> {
    authenticator: &'a SoftwareAuthenticator,
    origin: String,
}

impl PasskeyAuthenticator for AtOrigin<'_> {
    async fn create_credential(&self, creation_options: &str) -> Result<String, PasskeyError> {
        self.authenticator
            .create_credential_at(&self.origin, creation_options)
            .await
    }

    async fn get_assertion(&self, request_options: &str) -> Result<String, PasskeyError> {
        self.authenticator
            .get_assertion_at(&self.origin, request_options)
            .await
    }
}

/// A [`SoftwareAuthenticator`] whose assertions carry a broken signature; from
/// [`SoftwareAuthenticator::flipping_signatures`]. Credentials it creates are sound.
#[derive(Debug)]
pub struct FlippedSignatures<'a>(&'a SoftwareAuthenticator);

impl PasskeyAuthenticator for FlippedSignatures<'_> {
    async fn create_credential(&self, creation_options: &str) -> Result<String, PasskeyError> {
        self.0.create_credential(creation_options).await
    }

    async fn get_assertion(&self, request_options: &str) -> Result<String, PasskeyError> {
        flip_signature_byte(&self.0.get_assertion(request_options).await?)
    }
}

/// The assertion `public_key_credential` with the last byte of its signature flipped: still a
/// well-formed DER ECDSA signature (the byte is the low end of `s`), no longer a valid one.
/// Everything else is left exactly as it was.
pub fn flip_signature_byte(public_key_credential: &str) -> Result<String, PasskeyError> {
    let mut credential: Value = serde_json::from_str(public_key_credential)?;
    let signature = credential
        .pointer_mut("/response/signature")
        .ok_or("the credential has no response.signature")?;
    let mut bytes = signature
        .as_str()
        .and_then(encoding::try_from_base64url)
        .ok_or("response.signature is not base64url")?;
    let last = bytes.last_mut().ok_or("response.signature is empty")?;
    *last ^= 0x01;
    *signature = Value::String(encoding::base64url(&bytes));
    Ok(serde_json::to_string(&credential)?)
}

#[cfg(test)]
mod tests {
    //! Against `webauthn_rp`, the relying party the server verifies with, directly.

    use super::*;
    use webauthn_rp::bin::{Decode, Encode};
    use webauthn_rp::request::auth::{
        AuthenticationVerificationOptions, DiscoverableCredentialRequestOptions,
    };
    use webauthn_rp::request::register::{
        PublicKeyCredentialUserEntity, RegistrationVerificationOptions, UserHandle16, Username,
    };
    use webauthn_rp::request::{AsciiDomain, RpId};
    use webauthn_rp::response::auth::ser_relaxed::DiscoverableAuthenticationRelaxed16;
    use webauthn_rp::response::register::ser_relaxed::RegistrationRelaxed;
    use webauthn_rp::response::register::{CompressedPubKey, DynamicState, StaticState};
    use webauthn_rp::response::CredentialId;
    use webauthn_rp::{
        AuthenticatedCredential, DiscoverableAuthenticationServerState,
        PublicKeyCredentialCreationOptions,
    };

    const ORIGIN: &str = "http://localhost:5173";

    /// A relying party at `localhost` accepting `ORIGIN`, with one registered credential,
    /// stored as the server stores it (encoded).
    struct RelyingParty {
        rp_id: RpId,
        user_handle: UserHandle16,
        credential_id: Vec<u8>,
        static_state: Vec<u8>,
        dynamic_state: [u8; 7],
    }

    fn rp_id() -> RpId {
        RpId::Domain(AsciiDomain::try_from("localhost".to_owned()).expect("domain"))
    }

    /// Registers `authenticator`'s new passkey with a fresh relying party.
    async fn register(authenticator: &SoftwareAuthenticator) -> RelyingParty {
        let rp_id = rp_id();
        let user_handle = UserHandle16::new();
        let user = PublicKeyCredentialUserEntity {
            name: Username::try_from("ada@example.com").expect("username"),
            id: &user_handle,
            display_name: None,
        };
        let (server, options) = PublicKeyCredentialCreationOptions::passkey(&rp_id, user, vec![])
            .start_ceremony()
            .expect("ceremony");
        let nonce = serde_json::to_string(&options).expect("options JSON");
        let created = authenticator
            .create_credential(&nonce)
            .await
            .expect("registration");
        let registration = serde_json::from_str::<RegistrationRelaxed>(&created)
            .expect("the registration JSON the server parses")
            .0;
        let origins = [ORIGIN];
        let credential = server
            .verify(
                &rp_id,
                &registration,
                &RegistrationVerificationOptions::<&str, &str> {
                    allowed_origins: &origins,
                    ..Default::default()
                },
            )
            .expect("registration verified");
        let credential_id = credential.id().as_ref().to_vec();
        assert_eq!(
            authenticator.credential_id().await,
            Some(encoding::base64url(&credential_id))
        );
        RelyingParty {
            rp_id,
            user_handle,
            credential_id,
            static_state: credential.static_state().encode().expect("static"),
            dynamic_state: credential.dynamic_state().encode().expect("dynamic"),
        }
    }

    impl RelyingParty {
        /// A discoverable ceremony: the server state (encoded, as stored) and the nonce.
        fn challenge(&self) -> (Vec<u8>, String) {
            let (server, options) = DiscoverableCredentialRequestOptions::passkey(&self.rp_id)
                .start_ceremony()
                .expect("ceremony");
            (
                server.encode().expect("state"),
                serde_json::to_string(&options).expect("options JSON"),
            )
        }

        /// Verifies `assertion` as the answer to the challenge `state`, accepting `ORIGIN`.
        fn verify(&self, state: &[u8], assertion: &str) -> Result<(), String> {
            let assertion = serde_json::from_str::<DiscoverableAuthenticationRelaxed16>(assertion)
                .map_err(|e| format!("parse: {e}"))?
                .0;
            let handle =
                UserHandle16::decode(self.user_handle.encode().expect("handle")).expect("handle");
            let mut credential = AuthenticatedCredential::new(
                <CredentialId<&[u8]> as Decode>::decode(self.credential_id.as_slice()).expect("id"),
                &handle,
                StaticState::<CompressedPubKey<[u8; 32], [u8; 32], [u8; 48], Vec<u8>>>::decode(
                    self.static_state.as_slice(),
                )
                .expect("static"),
                DynamicState::decode(self.dynamic_state).expect("dynamic"),
            )
            .expect("credential");
            let server = DiscoverableAuthenticationServerState::decode(state).expect("state");
            let origins = [ORIGIN];
            server
                .verify(
                    &self.rp_id,
                    &assertion,
                    &mut credential,
                    &AuthenticationVerificationOptions::<&str, &str> {
                        allowed_origins: &origins,
                        ..Default::default()
                    },
                )
                .map(|_| ())
                .map_err(|e| format!("verify: {e}"))
        }
    }

    #[tokio::test]
    async fn a_registered_passkey_signs_a_discoverable_assertion_that_verifies() {
        let authenticator = SoftwareAuthenticator::new(ORIGIN).expect("authenticator");
        let rp = register(&authenticator).await;
        for _ in 0..2 {
            let (state, nonce) = rp.challenge();
            let assertion = authenticator
                .get_assertion(&nonce)
                .await
                .expect("assertion");
            rp.verify(&state, &assertion).expect("verified");
        }
    }

    #[tokio::test]
    async fn tampered_assertions_are_refused() {
        let authenticator = SoftwareAuthenticator::new(ORIGIN).expect("authenticator");
        let rp = register(&authenticator).await;

        let (state, nonce) = rp.challenge();
        let flipped = authenticator
            .flipping_signatures()
            .get_assertion(&nonce)
            .await
            .expect("assertion");
        let err = rp.verify(&state, &flipped).expect_err("a broken signature");
        assert!(err.starts_with("verify"), "still well-formed: {err}");

        let (state, nonce) = rp.challenge();
        let elsewhere = authenticator
            .at_origin("http://localhost:6666")
            .get_assertion(&nonce)
            .await
            .expect("assertion");
        assert!(rp.verify(&state, &elsewhere).is_err(), "another origin");

        let (state, nonce) = rp.challenge();
        authenticator.set_user_verification(false);
        let unverified = authenticator
            .get_assertion(&nonce)
            .await
            .expect("assertion");
        assert!(
            rp.verify(&state, &unverified).is_err(),
            "no user verification"
        );
        authenticator.set_user_verification(true);

        // Another challenge's answer does not answer this one.
        let (state, _) = rp.challenge();
        let (_, other_nonce) = rp.challenge();
        let replayed = authenticator
            .get_assertion(&other_nonce)
            .await
            .expect("assertion");
        assert!(rp.verify(&state, &replayed).is_err(), "another challenge");

        // And the untampered one still verifies.
        let (state, nonce) = rp.challenge();
        let sound = authenticator
            .get_assertion(&nonce)
            .await
            .expect("assertion");
        rp.verify(&state, &sound).expect("verified");
    }

    #[tokio::test]
    async fn an_empty_authenticator_answers_nothing() {
        let authenticator = SoftwareAuthenticator::new(ORIGIN).expect("authenticator");
        let rp_id = rp_id();
        let (_, options) = DiscoverableCredentialRequestOptions::passkey(&rp_id)
            .start_ceremony()
            .expect("ceremony");
        let nonce = serde_json::to_string(&options).expect("options JSON");
        assert!(
            authenticator.get_assertion(&nonce).await.is_err(),
            "no passkey"
        );
        assert!(SoftwareAuthenticator::new("not a url").is_err());
        assert!(flip_signature_byte("{}").is_err());
    }
}
