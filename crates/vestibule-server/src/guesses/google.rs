//! A Google ID token from One Tap. It is a signed statement, not a guess: verified against
//! Google's published keys (RS256), its issuer, its audience (this instance's client id), its
//! expiry, and that Google verified the email address it names. The request presenting it was
//! counted against the caller's attempt limit before the check; a token signs in once (its hash
//! is recorded when the step is settled).

use super::{Claim, Proven};
use crate::error::ApiResult;
use crate::state::AppState;
use vestibule_crypto::{token_hash, verify_jwt, JwtError};
use vestibule_model::identifier::normalize_email;
use vestibule_model::{Error, Identifier, IdentifierKind, Timestamp, User};

/// Seconds of clock difference tolerated with Google.
const LEEWAY_SECONDS: i64 = 30;
/// Far above a real ID token (about 1 KiB).
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Who a verified token says the person is.
#[derive(Debug, Clone)]
pub(crate) struct GoogleIdentity {
    /// The email address Google verified, as an identifier.
    pub email: Identifier,
    token_hash: String,
    expire_at: Timestamp,
}

fn refused(reason: &str) -> Error {
    Error::param_value_invalid("token", reason)
}

/// Verifies `token` as a Google ID token for this instance.
pub(crate) async fn google_identity(state: &AppState, token: &str) -> ApiResult<GoogleIdentity> {
    let settings = &state.settings.google_one_tap;
    let client_id = settings
        .client_id
        .as_deref()
        .ok_or(Error::StrategyForUserInvalid)?;
    if token.len() > MAX_TOKEN_LEN {
        return Err(refused("is not a Google ID token").into());
    }
    let now = state.now().0 / 1000;
    let keys = state.google_keys.get(false).await?;
    let claims = match verify_jwt(token, &keys, now, LEEWAY_SECONDS) {
        Err(JwtError::UnknownKey) => {
            let keys = state.google_keys.get(true).await?;
            verify_jwt(token, &keys, now, LEEWAY_SECONDS)
        }
        other => other,
    }
    .map_err(|e| match e {
        JwtError::Expired => refused("has expired"),
        JwtError::NotYetValid => refused("is not valid yet"),
        JwtError::InvalidSignature | JwtError::UnknownKey => {
            refused("is not signed by Google's keys")
        }
        JwtError::Malformed(_) | JwtError::UnsupportedAlgorithm(_) => {
            refused("is not a Google ID token")
        }
    })?;
    let iss = claims["iss"].as_str().unwrap_or_default();
    if !settings.issuers.iter().any(|i| i == iss) {
        return Err(refused("was not issued by Google").into());
    }
    let audience_matches = match &claims["aud"] {
        serde_json::Value::String(a) => a == client_id,
        serde_json::Value::Array(all) => all.iter().any(|a| a == client_id),
        _ => false,
    };
    if !audience_matches {
        return Err(refused("was issued for another application").into());
    }
    // Google sends a boolean; older tokens carried the string "true".
    let verified = matches!(&claims["email_verified"], serde_json::Value::Bool(true))
        || claims["email_verified"] == "true";
    let email = claims["email"]
        .as_str()
        .and_then(normalize_email)
        .ok_or_else(|| refused("names no email address"))?;
    if !verified {
        return Err(refused("names an email address Google has not verified").into());
    }
    let exp = claims["exp"].as_i64().unwrap_or(now);
    Ok(GoogleIdentity {
        email: Identifier {
            kind: IdentifierKind::EmailAddress,
            value: email,
        },
        token_hash: token_hash(token),
        expire_at: Timestamp(exp.saturating_add(LEEWAY_SECONDS).saturating_mul(1000)),
    })
}

/// The token, for the account `user`: right when it verifies and its email address is one of
/// the account's verified addresses. The proof records it used when settled, once.
pub(crate) async fn google_one_tap(
    state: &AppState,
    user: Option<&User>,
    token: &str,
) -> ApiResult<Proven> {
    let identity = google_identity(state, token).await?;
    let owns = |u: &User| {
        u.email_addresses
            .iter()
            .any(|e| e.verified && e.email_address == identity.email.value)
    };
    match user {
        Some(u) if owns(u) => Ok(Proven {
            user: u.id.clone(),
            claim: Claim::IdToken {
                hash: identity.token_hash,
                expire_at: identity.expire_at,
            },
            refund: None,
        }),
        _ => Err(Error::ExternalAccountNotFound.into()),
    }
}
