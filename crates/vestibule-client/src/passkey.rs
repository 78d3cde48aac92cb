//! Passkeys, as clerk-js drives them: signing in with `signIn.authenticateWithPasskey`, and a
//! signed-in user's `user.createPasskey()`, `passkey.update({ name })` and `passkey.destroy()`.
//!
//! The SDK does not talk to authenticators: a [`PasskeyAuthenticator`] does, as
//! `navigator.credentials` does for clerk-js. The server hands out WebAuthn options as JSON text
//! (a verification's `nonce`); the authenticator answers with the `PublicKeyCredential` as JSON
//! text (base64url binary fields), which the SDK sends back as `public_key_credential`.
//! `SoftwareAuthenticator` (feature `software-authenticator`) is one, for tests.

use crate::clerk::Clerk;
use crate::error::ClerkError;
use crate::sign_in::{
    AttemptFirstFactor, PrepareFirstFactor, SignIn, SignInBuilder, SignInCreateParams,
};
use crate::strategy::Strategy;
use crate::transport::{Call, Verb};
use serde::Deserialize;
use std::fmt;
use std::future::Future;
use vestibule_wire::Verification;

/// An authenticator that did not answer: the user declined, no credential matched, the options
/// were not understood.
pub type PasskeyError = Box<dyn std::error::Error + Send + Sync>;

/// What `navigator.credentials` is to clerk-js: makes and uses passkeys.
pub trait PasskeyAuthenticator: Sync {
    /// `navigator.credentials.create({ publicKey })`: a new credential for the creation options
    /// `creation_options` (the JSON of `PublicKeyCredentialCreationOptions`), answered as the
    /// JSON of the registration `PublicKeyCredential`.
    fn create_credential(
        &self,
        creation_options: &str,
    ) -> impl Future<Output = Result<String, PasskeyError>> + Send;

    /// `navigator.credentials.get({ publicKey })`: an assertion for the request options
    /// `request_options` (the JSON of `PublicKeyCredentialRequestOptions`; an empty
    /// `allowCredentials` lets the authenticator pick a discoverable credential), answered as the
    /// JSON of the assertion `PublicKeyCredential`.
    fn get_assertion(
        &self,
        request_options: &str,
    ) -> impl Future<Output = Result<String, PasskeyError>> + Send;
}

/// How [`SignIn::authenticate_with_passkey`] finds the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyFlow {
    /// The sign-in already names the account (created with an identifier): its passkeys are
    /// offered, and the authenticator must hold one of them (clerk-js's default flow).
    Identified,
    /// No identifier: a new sign-in with `strategy=passkey`, and the credential the authenticator
    /// picks names the account (clerk-js's `discoverable` and `autofill` flows).
    Discoverable,
}

fn no_nonce() -> ClerkError {
    ClerkError::Decode("no passkey options (nonce) were handed out".into())
}

/// The options a passkey step handed out, in its verification's `nonce`.
fn nonce(verification: Option<&Verification>) -> Result<&str, ClerkError> {
    verification
        .and_then(|v| v.nonce.as_deref())
        .ok_or_else(no_nonce)
}

/// The second half of every passkey sign-in: the assertion for the options handed out, attempted.
async fn assert_and_attempt(
    awaiting: SignIn,
    authenticator: &impl PasskeyAuthenticator,
) -> Result<SignIn, ClerkError> {
    let options = nonce(awaiting.first_factor_verification.as_ref())?;
    let public_key_credential = authenticator
        .get_assertion(options)
        .await
        .map_err(ClerkError::Passkey)?;
    awaiting
        .attempt_first_factor(AttemptFirstFactor::Passkey {
            public_key_credential,
        })
        .await
}

impl SignIn {
    /// Signs in with a passkey, as clerk-js's `signIn.authenticateWithPasskey({ flow })`.
    /// [`PasskeyFlow::Identified`] continues this sign-in (prepare, assert, attempt);
    /// [`PasskeyFlow::Discoverable`] starts a new one without an identifier. Errors: the server's
    /// (a credential no account has: `form_identifier_not_found`; a wrong signature, origin or
    /// challenge: `form_param_value_invalid`), [`ClerkError::Passkey`] when the authenticator
    /// fails or this sign-in offers no passkey factor.
    pub async fn authenticate_with_passkey(
        &self,
        authenticator: &impl PasskeyAuthenticator,
        flow: PasskeyFlow,
    ) -> Result<SignIn, ClerkError> {
        let awaiting = match flow {
            PasskeyFlow::Identified => {
                if self.first_factor(&Strategy::Passkey).is_none() {
                    return Err(ClerkError::Passkey(
                        "the sign-in offers no passkey factor".into(),
                    ));
                }
                self.prepare_first_factor(PrepareFirstFactor::Passkey)
                    .await?
            }
            PasskeyFlow::Discoverable => {
                self.clerk()
                    .sign_in()
                    .create(SignInCreateParams::passkey())
                    .await?
            }
        };
        assert_and_attempt(awaiting, authenticator).await
    }
}

impl SignInBuilder {
    /// A discoverable passkey sign-in from scratch: `create` with `strategy=passkey` (no
    /// identifier), the authenticator's assertion, `attempt_first_factor`.
    pub async fn authenticate_with_passkey(
        &self,
        authenticator: &impl PasskeyAuthenticator,
    ) -> Result<SignIn, ClerkError> {
        let awaiting = self.create(SignInCreateParams::passkey()).await?;
        assert_and_attempt(awaiting, authenticator).await
    }
}

/// A passkey of the signed-in user, as the server last described it.
#[derive(Clone)]
pub struct Passkey {
    /// `idn_…`.
    pub id: String,
    /// What the user calls it; the server names new ones.
    pub name: String,
    /// Unix milliseconds.
    pub last_used_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// `unverified` with the creation options in `nonce` until registered, then `verified`.
    pub verification: Option<Verification>,
    clerk: Clerk,
}

impl fmt::Debug for Passkey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Passkey")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("last_used_at", &self.last_used_at)
            .field("verification", &self.verification)
            .finish_non_exhaustive()
    }
}

/// What a delete answers: `{object, id, deleted}`.
#[derive(Deserialize)]
struct Deleted {
    deleted: bool,
}

impl Passkey {
    fn from_wire(p: vestibule_wire::Passkey, clerk: Clerk) -> Passkey {
        Passkey {
            id: p.id,
            name: p.name,
            last_used_at: p.last_used_at,
            created_at: p.created_at,
            updated_at: p.updated_at,
            verification: p.verification,
            clerk,
        }
    }

    /// Whether the passkey is registered (its verification `verified`), and so a factor.
    pub fn is_verified(&self) -> bool {
        self.verification
            .as_ref()
            .is_some_and(|v| v.status == "verified")
    }

    /// Renames it (`PATCH /v1/me/passkeys/{id}`), as clerk-js's `passkey.update({ name })`.
    pub async fn rename(&self, name: &str) -> Result<Passkey, ClerkError> {
        let path = ["me", "passkeys", self.id.as_str()];
        let call = self
            .clerk
            .me_call(Verb::Patch, &path)
            .form(vec![("name", name.to_owned())]);
        let p: vestibule_wire::Passkey = self.clerk.resource(call).await?;
        Ok(Passkey::from_wire(p, self.clerk.clone()))
    }

    /// Deletes it (`DELETE /v1/me/passkeys/{id}`), as clerk-js's `passkey.delete()`; it no
    /// longer signs anyone in.
    pub async fn delete(&self) -> Result<(), ClerkError> {
        let path = ["me", "passkeys", self.id.as_str()];
        let call = self.clerk.me_call(Verb::Delete, &path);
        let answer: Deleted = self.clerk.resource(call).await?;
        if answer.deleted {
            Ok(())
        } else {
            Err(ClerkError::Decode(format!(
                "deleting passkey {} answered deleted: false",
                self.id
            )))
        }
    }
}

impl Clerk {
    /// A call on the signed-in user (`/v1/me/…`) in the active session, which clerk-js names in
    /// `_clerk_session_id` (the server would otherwise pick the client's last active one).
    fn me_call<'a>(&self, verb: Verb, path: &'a [&'a str]) -> Call<'a> {
        let call = Call::new(verb, path);
        match self.session() {
            Some(s) => call.query("_clerk_session_id", s.id),
            None => call,
        }
    }

    /// Registers a new passkey for the signed-in user, as clerk-js's `user.createPasskey()`:
    /// `POST /v1/me/passkeys` hands out creation options, `authenticator` makes the credential,
    /// `POST /v1/me/passkeys/{id}/attempt_verification` registers it. Returns the verified
    /// passkey.
    pub async fn create_passkey(
        &self,
        authenticator: &impl PasskeyAuthenticator,
    ) -> Result<Passkey, ClerkError> {
        let created: vestibule_wire::Passkey = self
            .resource(self.me_call(Verb::Post, &["me", "passkeys"]))
            .await?;
        let options = nonce(created.verification.as_ref())?;
        let public_key_credential = authenticator
            .create_credential(options)
            .await
            .map_err(ClerkError::Passkey)?;
        let path = [
            "me",
            "passkeys",
            created.id.as_str(),
            "attempt_verification",
        ];
        let call = self.me_call(Verb::Post, &path).form(vec![
            ("strategy", Strategy::Passkey.as_str().into_owned()),
            ("public_key_credential", public_key_credential),
        ]);
        let verified: vestibule_wire::Passkey = self.resource(call).await?;
        Ok(Passkey::from_wire(verified, self.clone()))
    }

    /// The signed-in user's passkeys, as last seen (the user's `passkeys`); entries in a shape
    /// this SDK does not read are left out.
    pub fn passkeys(&self) -> Vec<Passkey> {
        self.user()
            .map(|u| u.passkeys)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| serde_json::from_value::<vestibule_wire::Passkey>(v).ok())
            .map(|p| Passkey::from_wire(p, self.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_passkey_as_the_contract_describes_it() {
        let json = serde_json::json!({
            "object": "passkey", "id": "idn_1", "name": "Passkey 1", "last_used_at": null,
            "created_at": 1, "updated_at": 2,
            "verification": {"object": "verification", "status": "unverified",
                "strategy": "passkey", "nonce": "{\"challenge\":\"AAAA\"}", "attempts": null,
                "expire_at": 3},
        });
        let p: vestibule_wire::Passkey = serde_json::from_value(json).expect("passkey");
        let clerk = Clerk::new("https://clerk.example.com").expect("clerk");
        let p = Passkey::from_wire(p, clerk);
        assert!(!p.is_verified());
        assert_eq!(
            nonce(p.verification.as_ref()).expect("nonce"),
            "{\"challenge\":\"AAAA\"}"
        );
        assert!(nonce(None).is_err());
    }
}
