//! Rust SDK for Vestibule, or any server that speaks Clerk's Frontend API (FAPI).
//!
//! It offers the `SignIn` object Clerk documents for its JavaScript and Android SDKs, over HTTP,
//! as a *native* client: the client is identified by a token sent in the `Authorization` header
//! (never by cookies), and every request carries `_is_native=1`. Requests are what clerk-js
//! sends: GETs, and form-urlencoded POSTs with PATCH/PUT/DELETE tunnelled through `_method`.
//!
//! ```no_run
//! use vestibule_client::{AttemptFirstFactor, Clerk, ClerkError, SignInCreateParams, SignInStatus};
//!
//! # async fn run() -> Result<(), ClerkError> {
//! let clerk = Clerk::new("https://clerk.example.com")?;
//! clerk.load().await?;
//!
//! let sign_in = clerk
//!     .sign_in()
//!     .create(SignInCreateParams::identifier("ada@example.com"))
//!     .await?;
//! let sign_in = match sign_in
//!     .attempt_first_factor(AttemptFirstFactor::Password { password: "…".into() })
//!     .await
//! {
//!     Err(e) if e.is("form_password_incorrect") => return Err(e), // ask again
//!     other => other?,
//! };
//! if sign_in.status == SignInStatus::Complete {
//!     if let Some(id) = &sign_in.created_session_id {
//!         clerk.set_active(id).await?;
//!     }
//! }
//! let jwt = clerk.get_token().await?; // send it to your backend as a Bearer token
//! # let _ = jwt;
//! # Ok(())
//! # }
//! ```
//!
//! The JSON shapes are those of the `vestibule-wire` crate, re-exported as [`wire`].

mod clerk;
mod decode;
mod error;
mod passkey;
mod publishable_key;
mod session;
mod sign_in;
#[cfg(feature = "software-authenticator")]
mod software_authenticator;
mod strategy;
mod token_store;
mod transport;
mod web3;

pub use clerk::{Clerk, ClerkBuilder, GetTokenOptions};
pub use error::ClerkError;
pub use passkey::{Passkey, PasskeyAuthenticator, PasskeyError, PasskeyFlow};
pub use publishable_key::{InstanceType, PublishableKey};
pub use session::{Session, SessionStatus};
pub use sign_in::{
    AttemptFirstFactor, AttemptSecondFactor, PrepareFirstFactor, PrepareSecondFactor,
    ResetPasswordParams, SignIn, SignInBuilder, SignInCreateParams, SignInStatus,
};
#[cfg(feature = "software-authenticator")]
pub use software_authenticator::{
    flip_signature_byte, AtOrigin, FlippedSignatures, SoftwareAuthenticator,
};
pub use strategy::{Strategy, Web3Wallet};
pub use token_store::{MemoryTokenStore, TokenStore};
pub use vestibule_wire as wire;
pub use web3::{SignatureRequest, SignerError};
