//! WebAuthn relying-party ceremonies for passkeys, over the `webauthn_rp` crate: creation and
//! request options for the browser, and verification of what the authenticator answers
//! (clientDataJSON type, challenge, origin, RP ID hash, user presence and verification flags,
//! the attestation or assertion signature, the signature counter).
//!
//! A ceremony's server half is returned as bytes for the caller to store between the options it
//! hands out and the answer it gets, so any node can finish a ceremony another started. Single use
//! is the caller's: the store marks the ceremony's verification used in the step's transaction.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use webauthn_rp::bin::{Decode, Encode};
use webauthn_rp::request::auth::{
    AuthenticationVerificationOptions, DiscoverableCredentialRequestOptions,
};
use webauthn_rp::request::register::{
    CredProtect, PublicKeyCredentialUserEntity, RegistrationVerificationOptions, UserHandle,
    Username,
};
use webauthn_rp::request::{AsciiDomain, PublicKeyCredentialDescriptor, RpId};
use webauthn_rp::response::auth::error::AuthCeremonyErr;
use webauthn_rp::response::auth::ser_relaxed::DiscoverableAuthenticationRelaxed16;
use webauthn_rp::response::register::error::RegCeremonyErr;
use webauthn_rp::response::register::ser_relaxed::RegistrationRelaxed;
use webauthn_rp::response::register::{CompressedPubKey, DynamicState, StaticState};
use webauthn_rp::response::{AuthTransports, CredentialId};
use webauthn_rp::{
    AuthenticatedCredential, DiscoverableAuthentication16, DiscoverableAuthenticationServerState,
    PublicKeyCredentialCreationOptions, RegistrationServerState,
};

/// Bytes in a user handle: 128 random-looking bits, no personal data (WebAuthn §14.6.1).
pub const USER_HANDLE_LEN: usize = 16;

/// Why a ceremony failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasskeyError {
    /// The relying party is misconfigured (an RP ID that is not a domain).
    #[error("passkey settings: {0}")]
    Config(String),
    /// What the client sent is not a credential of the expected shape.
    #[error("malformed credential: {0}")]
    Malformed(String),
    /// The ceremony's time ran out.
    #[error("the passkey ceremony expired")]
    Expired,
    /// The authenticator's signature counter went backwards: a cloned authenticator, likely.
    #[error("the passkey's signature counter went backwards")]
    CounterRegressed,
    /// Well formed but not valid for this ceremony: origin, RP ID, challenge, flags, signature.
    #[error("{0}")]
    Refused(String),
}

/// Options to hand to the browser, and the server half of the ceremony to keep until it answers.
#[derive(Debug, Clone)]
pub struct Ceremony {
    /// The options as JSON (`PublicKeyCredentialCreationOptionsJSON` or
    /// `…RequestOptionsJSON`), which clerk-js reads from a verification's `nonce`.
    pub options_json: String,
    /// The server state to keep, opaque.
    pub state: Vec<u8>,
}

/// A credential the authenticator created and the server verified, to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCredential {
    pub credential_id: Vec<u8>,
    /// The public key and what else never changes (`StaticState`, encoded).
    pub public_key: Vec<u8>,
    /// The signature counter and flags (`DynamicState`, encoded).
    pub dynamic_state: Vec<u8>,
}

/// A stored credential, as an assertion is checked against it.
#[derive(Debug, Clone, Copy)]
pub struct StoredCredential<'a> {
    pub credential_id: &'a [u8],
    pub user_handle: &'a [u8; USER_HANDLE_LEN],
    pub public_key: &'a [u8],
    pub dynamic_state: &'a [u8],
}

/// An assertion the client sent, parsed but not yet verified.
#[derive(Debug)]
pub struct Assertion(DiscoverableAuthentication16);

impl Assertion {
    /// Parses a `PublicKeyCredential` JSON answer to a request.
    pub fn parse(json: &str) -> Result<Assertion, PasskeyError> {
        serde_json::from_str::<DiscoverableAuthenticationRelaxed16>(json)
            .map(|a| Assertion(a.0))
            .map_err(|e| PasskeyError::Malformed(e.to_string()))
    }

    /// The credential it claims to come from.
    pub fn credential_id(&self) -> &[u8] {
        self.0.raw_id().into_inner()
    }
}

/// The relying party: which RP ID credentials are scoped to and which origins may use them.
#[derive(Debug, Clone)]
pub struct RelyingParty {
    rp_id: RpId,
    origins: Vec<String>,
}

fn refused_reg(e: RegCeremonyErr) -> PasskeyError {
    match e {
        RegCeremonyErr::Timeout => PasskeyError::Expired,
        other => PasskeyError::Refused(other.to_string()),
    }
}

fn refused_auth(e: AuthCeremonyErr) -> PasskeyError {
    match e {
        AuthCeremonyErr::Timeout => PasskeyError::Expired,
        AuthCeremonyErr::SignatureCounter => PasskeyError::CounterRegressed,
        other => PasskeyError::Refused(other.to_string()),
    }
}

fn encoded(state: DynamicState) -> Vec<u8> {
    match state.encode() {
        Ok(bytes) => bytes.to_vec(),
        Err(never) => match never {},
    }
}

fn corrupt(what: &str) -> PasskeyError {
    PasskeyError::Config(format!("stored {what} cannot be read"))
}

impl RelyingParty {
    /// `rp_id` must be a domain (IP addresses are not RP IDs); `origins` are the exact origins
    /// (scheme, host, port) clientDataJSON may name.
    pub fn new(rp_id: &str, origins: Vec<String>) -> Result<RelyingParty, PasskeyError> {
        let domain = AsciiDomain::try_from(rp_id.to_owned())
            .map_err(|e| PasskeyError::Config(format!("RP ID {rp_id:?}: {e}")))?;
        if rp_id.parse::<std::net::IpAddr>().is_ok() {
            return Err(PasskeyError::Config(format!(
                "RP ID {rp_id:?} is an IP address; WebAuthn needs a domain"
            )));
        }
        Ok(RelyingParty {
            rp_id: RpId::Domain(domain),
            origins,
        })
    }

    /// Options to create a passkey for the account `user_handle` names, called `name` on the
    /// authenticator, excluding the account's credentials `exclude` (so one authenticator holds
    /// one passkey per account).
    pub fn start_registration(
        &self,
        user_handle: &[u8; USER_HANDLE_LEN],
        name: &str,
        exclude: &[Vec<u8>],
    ) -> Result<Ceremony, PasskeyError> {
        let handle = UserHandle::<USER_HANDLE_LEN>::decode(*user_handle)
            .map_err(|_| PasskeyError::Config("user handle".into()))?;
        let name = Username::try_from(name)
            .or_else(|_| Username::try_from("user"))
            .map_err(|e| PasskeyError::Config(format!("user name: {e}")))?;
        let exclude = exclude
            .iter()
            .filter_map(|id| {
                let id = <CredentialId<Vec<u8>> as Decode>::decode(id.clone()).ok()?;
                Some(PublicKeyCredentialDescriptor {
                    id,
                    transports: AuthTransports::NONE,
                })
            })
            .collect();
        let mut options = PublicKeyCredentialCreationOptions::passkey(
            &self.rp_id,
            PublicKeyCredentialUserEntity {
                name,
                id: &handle,
                display_name: None,
            },
            exclude,
        );
        // User verification is required at every assertion anyway; asking authenticators to
        // enforce credProtect as well makes some (Chromium's virtual one) refuse to create.
        options.extensions.cred_protect = CredProtect::None;
        let (server, client) = options
            .start_ceremony()
            .map_err(|e| PasskeyError::Config(e.to_string()))?;
        let options_json =
            serde_json::to_string(&client).map_err(|e| PasskeyError::Config(e.to_string()))?;
        let state = server
            .encode()
            .map_err(|_| PasskeyError::Config("registration state".into()))?;
        Ok(Ceremony {
            options_json,
            state,
        })
    }

    /// Verifies the authenticator's answer to [`Self::start_registration`].
    pub fn finish_registration(
        &self,
        state: &[u8],
        response_json: &str,
    ) -> Result<NewCredential, PasskeyError> {
        let registration = serde_json::from_str::<RegistrationRelaxed>(response_json)
            .map_err(|e| PasskeyError::Malformed(e.to_string()))?
            .0;
        let server = RegistrationServerState::<USER_HANDLE_LEN>::decode(state)
            .map_err(|_| corrupt("registration ceremony"))?;
        let origins: Vec<&str> = self.origins.iter().map(String::as_str).collect();
        let options = RegistrationVerificationOptions::<&str, &str> {
            allowed_origins: &origins,
            ..RegistrationVerificationOptions::default()
        };
        let credential = server
            .verify(&self.rp_id, &registration, &options)
            .map_err(refused_reg)?;
        Ok(NewCredential {
            credential_id: credential.id().as_ref().to_vec(),
            public_key: credential
                .static_state()
                .encode()
                .map_err(|_| PasskeyError::Config("public key".into()))?,
            dynamic_state: encoded(credential.dynamic_state()),
        })
    }

    /// Options to ask an authenticator for an assertion: any of the RP's discoverable passkeys
    /// when `allow` is empty, else one of the credentials listed.
    pub fn start_authentication(&self, allow: &[Vec<u8>]) -> Result<Ceremony, PasskeyError> {
        let (server, client) = DiscoverableCredentialRequestOptions::passkey(&self.rp_id)
            .start_ceremony()
            .map_err(|e| PasskeyError::Config(e.to_string()))?;
        let mut options =
            serde_json::to_value(&client).map_err(|e| PasskeyError::Config(e.to_string()))?;
        // The server half checks the credential against the account itself, so listing the
        // account's credentials is only a hint that spares the browser a chooser.
        if !allow.is_empty() {
            let listed: Vec<serde_json::Value> = allow
                .iter()
                .map(|id| serde_json::json!({"type": "public-key", "id": URL_SAFE_NO_PAD.encode(id)}))
                .collect();
            options["allowCredentials"] = serde_json::Value::Array(listed);
        }
        let state = server
            .encode()
            .map_err(|_| PasskeyError::Config("authentication state".into()))?;
        Ok(Ceremony {
            options_json: options.to_string(),
            state,
        })
    }

    /// Verifies `assertion` against the ceremony `state` and the stored `credential`: returns the
    /// credential's new dynamic state when it changed (the counter moved on).
    pub fn finish_authentication(
        &self,
        state: &[u8],
        assertion: &Assertion,
        credential: StoredCredential<'_>,
    ) -> Result<Option<Vec<u8>>, PasskeyError> {
        let server = DiscoverableAuthenticationServerState::decode(state)
            .map_err(|_| corrupt("authentication ceremony"))?;
        let handle = UserHandle::<USER_HANDLE_LEN>::decode(*credential.user_handle)
            .map_err(|_| corrupt("user handle"))?;
        let dynamic: [u8; 7] = credential
            .dynamic_state
            .try_into()
            .map_err(|_| corrupt("passkey state"))?;
        let mut stored = AuthenticatedCredential::new(
            <CredentialId<&[u8]> as Decode>::decode(credential.credential_id)
                .map_err(|_| corrupt("credential id"))?,
            &handle,
            StaticState::<CompressedPubKey<[u8; 32], [u8; 32], [u8; 48], Vec<u8>>>::decode(
                credential.public_key,
            )
            .map_err(|_| corrupt("public key"))?,
            DynamicState::decode(dynamic).map_err(|_| corrupt("passkey state"))?,
        )
        .map_err(|e| PasskeyError::Refused(e.to_string()))?;
        let origins: Vec<&str> = self.origins.iter().map(String::as_str).collect();
        let options = AuthenticationVerificationOptions::<&str, &str> {
            allowed_origins: &origins,
            ..AuthenticationVerificationOptions::default()
        };
        let changed = server
            .verify(&self.rp_id, &assertion.0, &mut stored, &options)
            .map_err(refused_auth)?;
        Ok(changed.then(|| encoded(stored.dynamic_state())))
    }
}
