//! The JSON shapes of Clerk's Frontend API (FAPI) and Backend API (BAPI).
//!
//! Field names are Clerk's; timestamps are Unix milliseconds. The server serialises these, the
//! Rust SDK deserialises them, and neither side needs the other's internals. Every optional field
//! deserialises from absent or null, because the official clients tolerate both.

pub mod environment;
pub mod error;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use environment::*;
pub use error::*;

/// Reads `null` as the type's default, for lists and flags that Clerk may send as null.
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `{response, client}`: how every mutating FAPI call answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub response: T,
    pub client: Option<Client>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Client {
    pub object: String,
    pub id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub sessions: Vec<Session>,
    #[serde(default)]
    pub sign_in: Option<SignIn>,
    #[serde(default)]
    pub sign_up: Option<Value>,
    #[serde(default)]
    pub last_active_session_id: Option<String>,
    #[serde(default)]
    pub last_authentication_strategy: Option<String>,
    /// Always null: a near date makes clerk-js route Safari through a cookie-refresh redirect.
    #[serde(default)]
    pub cookie_expires_at: Option<i64>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub captcha_bypass: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub object: String,
    pub id: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    pub expire_at: i64,
    pub abandon_at: i64,
    pub last_active_at: i64,
    #[serde(default)]
    pub last_active_organization_id: Option<String>,
    /// FAPI only: seeds clerk-js's token cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_active_token: Option<Token>,
    #[serde(default)]
    pub actor: Option<Value>,
    #[serde(default)]
    pub tasks: Option<Vec<SessionTask>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor_verification_age: Option<[i64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_user_data: Option<PublicUserData>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A session as the user's own session list shows it (clerk-js `getSessions()`): the session
/// without its user, and where it was last used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionWithActivities {
    #[serde(flatten)]
    pub session: Session,
    pub latest_activity: SessionActivity,
}

/// Where a session was last used. Only the id is known: devices and places are not recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionActivity {
    pub object: String,
    pub id: String,
    #[serde(default)]
    pub browser_name: Option<String>,
    #[serde(default)]
    pub browser_version: Option<String>,
    #[serde(default)]
    pub device_type: Option<String>,
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub is_mobile: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionTask {
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublicUserData {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub image_url: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub has_image: bool,
    pub identifier: String,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    pub object: String,
    pub jwt: String,
}

impl Token {
    pub fn new(jwt: String) -> Token {
        Token {
            object: "token".into(),
            jwt,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignIn {
    pub object: String,
    pub id: String,
    pub status: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub supported_identifiers: Vec<String>,
    #[serde(default)]
    pub identifier: Option<String>,
    #[serde(default)]
    pub supported_first_factors: Option<Vec<Factor>>,
    #[serde(default)]
    pub supported_second_factors: Option<Vec<Factor>>,
    #[serde(default)]
    pub first_factor_verification: Option<Verification>,
    #[serde(default)]
    pub second_factor_verification: Option<Verification>,
    #[serde(default)]
    pub user_data: Option<UserData>,
    #[serde(default)]
    pub created_session_id: Option<String>,
    pub abandon_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_trust_state: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Factor {
    pub strategy: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safe_identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_address_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web3_wallet_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wallet_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enterprise_connection_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enterprise_connection_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserData {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub image_url: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub has_image: bool,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Verification {
    /// `verification`, or `verification_admin` for identifiers an operator vouched for.
    pub object: String,
    pub status: String,
    pub strategy: String,
    #[serde(default)]
    pub attempts: Option<u32>,
    #[serde(default)]
    pub expire_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_at_client: Option<String>,
    /// Passkeys: the request options as a JSON string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Web3: the text to sign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// OAuth and SSO: where to send the browser (absolute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_verification_redirect_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ApiError>,
}

/// A user, as FAPI shows it to its owner and BAPI to the operator. BAPI-only fields are `None`
/// (and absent) on FAPI, notably `private_metadata`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub object: String,
    pub id: String,
    pub external_id: Option<String>,
    pub primary_email_address_id: Option<String>,
    pub primary_phone_number_id: Option<String>,
    pub primary_web3_wallet_id: Option<String>,
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub image_url: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub has_image: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub email_addresses: Vec<EmailAddress>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub phone_numbers: Vec<PhoneNumber>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub web3_wallets: Vec<Web3Wallet>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub external_accounts: Vec<Value>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub enterprise_accounts: Vec<Value>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub saml_accounts: Vec<Value>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub passkeys: Vec<Value>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub organization_memberships: Vec<Value>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub password_enabled: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub totp_enabled: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub backup_code_enabled: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub two_factor_enabled: bool,
    pub public_metadata: Value,
    pub unsafe_metadata: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_metadata: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub banned: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lockout_expires_in_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_attempts_remaining: Option<i64>,
    pub last_sign_in_at: Option<i64>,
    pub last_active_at: Option<i64>,
    pub legal_accepted_at: Option<i64>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub create_organization_enabled: bool,
    pub create_organizations_limit: Option<i64>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub delete_self_enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailAddress {
    pub object: String,
    pub id: String,
    pub email_address: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub reserved: bool,
    pub verification: Option<Verification>,
    /// Required by @clerk/backend, which crashes when it is missing.
    #[serde(default, deserialize_with = "null_as_default")]
    pub linked_to: Vec<IdentificationLink>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub matches_sso_connection: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhoneNumber {
    pub object: String,
    pub id: String,
    pub phone_number: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub reserved: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub reserved_for_second_factor: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub default_second_factor: bool,
    pub verification: Option<Verification>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub linked_to: Vec<IdentificationLink>,
    #[serde(default)]
    pub backup_codes: Option<Vec<String>>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Web3Wallet {
    pub object: String,
    pub id: String,
    pub web3_wallet: String,
    pub verification: Option<Verification>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A passkey, as `/v1/me/passkeys` and the user's `passkeys` show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Passkey {
    pub object: String,
    pub id: String,
    pub name: String,
    pub last_used_at: Option<i64>,
    pub verification: Option<Verification>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentificationLink {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// An authenticator app being enrolled (`POST /v1/me/totp`, with `secret` and `uri` once) or
/// verified (`…/attempt_verification`, with fresh `backup_codes` when they are enabled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totp {
    pub object: String,
    pub id: String,
    pub secret: Option<String>,
    pub uri: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub verified: bool,
    pub backup_codes: Option<Vec<String>>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A session's reverification (`session.startVerification` and its steps in clerk-js).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionVerification {
    pub object: String,
    pub id: String,
    pub status: String,
    pub level: String,
    pub session: Session,
    #[serde(default, deserialize_with = "null_as_default")]
    pub supported_first_factors: Vec<Factor>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub supported_second_factors: Vec<Factor>,
    pub first_factor_verification: Option<Verification>,
    pub second_factor_verification: Option<Verification>,
}

/// A new set of backup codes (`POST /v1/me/backup_codes`), shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupCodes {
    pub object: String,
    pub id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub codes: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// BAPI `DELETE` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletedObject {
    pub object: String,
    pub id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub deleted: bool,
}

/// BAPI `/sign_in_tokens`: a ticket for one user. `token` is the ticket itself, shown only when
/// it is created (the server keeps a hash); `url` opens the application's sign-in page with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInToken {
    pub object: String,
    pub id: String,
    pub user_id: String,
    pub token: String,
    pub status: String,
    pub url: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// BAPI `/users/count`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotalCount {
    pub object: String,
    pub total_count: i64,
}

/// BAPI paginated lists (`paginated=true`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Paginated<T> {
    pub data: Vec<T>,
    pub total_count: i64,
}

/// `/.well-known/jwks.json` and BAPI `/v1/jwks`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Jwks {
    #[serde(default, deserialize_with = "null_as_default")]
    pub keys: Vec<Jwk>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kid: String,
    pub kty: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub use_: String,
    pub n: String,
    pub e: String,
}

/// `POST /v1/dev_browser`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevBrowser {
    pub object: String,
    pub id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nulls_in_lists_and_flags_read_as_defaults() {
        let c: Client = serde_json::from_str(
            r#"{"object":"client","id":"client_1","sessions":null,"sign_in":{"object":"sign_in","id":"sia_1","status":"needs_identifier","supported_identifiers":null,"abandon_at":0},"captcha_bypass":null,"created_at":0,"updated_at":0}"#,
        )
        .expect("lenient");
        assert!(c.sessions.is_empty());
        assert!(!c.captcha_bypass);
        assert!(c.sign_in.expect("sign in").supported_identifiers.is_empty());
    }

    #[test]
    fn errors_without_long_message_and_sparse_environments_read() {
        let e: ErrorEnvelope =
            serde_json::from_str(r#"{"errors":[{"code":"x","message":"m"}]}"#).expect("lenient");
        assert_eq!(e.errors[0].code, "x");
        let env: Environment =
            serde_json::from_str(r#"{"object":"environment","id":"env_1"}"#).expect("sparse");
        assert!(!env.auth_config.single_session_mode);
        assert_eq!(env.user_settings.password_settings.min_length, 0);
    }
}
