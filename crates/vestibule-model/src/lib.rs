//! Vestibule's domain: the types and rules of signing in, free of IO.
//!
//! Everything here is synchronous and deterministic given a [`Clock`] and an [`Rng`]:
//! handlers gather facts (the user, the verification outcome), the domain decides, the store records.

pub mod client;
pub mod clock;
pub mod common_passwords;
pub mod error;
pub mod identifier;
pub mod ids;
pub mod lockout;
pub mod rate_limit;
pub mod rng;
pub mod session;
pub mod session_verification;
pub mod settings;
pub mod sign_in;
pub mod sign_in_token;
pub mod strategy;
pub mod user;
pub mod verification;

pub use client::Client;
pub use clock::{Clock, SystemClock, TestClock, Timestamp};
pub use error::{Error, ErrorMeta, PasswordRule, TicketRefusal};
pub use identifier::{Identifier, IdentifierKind};
pub use ids::*;
pub use rng::{OsRng, Rng};
pub use session::{Session, SessionStatus};
pub use settings::{InstanceMode, Settings};
pub use sign_in::{SignIn, SignInStatus, Verification, VerificationStatus};
pub use strategy::{Chain, Channel, Proof, Purpose, Step, Strategy};
pub use user::User;
