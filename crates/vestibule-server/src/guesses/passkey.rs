//! A passkey's assertion over the challenge this server handed out for one step
//! (`vestibule_crypto::passkey`, over `webauthn_rp`).
//!
//! An assertion cannot be guessed, but it is counted before it is judged, against the
//! challenge's own attempts in one conditional statement, so a challenge allows a few tries and
//! then none. Single use is settling's: the right assertion marks the challenge's verification
//! used, conditionally, in the step's transaction, so of any number of requests carrying the same
//! assertion exactly one takes effect; a replay on a later challenge fails the challenge check.

use super::{Claim, Proven};
use crate::error::ApiResult;
use crate::state::AppState;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use vestibule_crypto::passkey::{Assertion, PasskeyError, StoredCredential};
use vestibule_model::verification::CodeVerification;
use vestibule_model::{Error, User, UserId, VerificationId};
use vestibule_store::{passkeys, users, verifications};

const PARAM: &str = "public_key_credential";

fn unreadable(what: &str) -> Error {
    Error::internal(format!("stored passkey {what} is unreadable"))
}

/// Judges the assertion `credential` against the challenge of the verification `vid`, for
/// `account`'s passkeys (`None`: any account's; the credential then names the account). Returns
/// the stored verification, the proof to settle, and the account whose passkey answered.
pub(crate) async fn passkey(
    state: &AppState,
    vid: &VerificationId,
    account: Option<&UserId>,
    credential: &str,
) -> ApiResult<(CodeVerification, Proven, User)> {
    let rp = state.relying_party()?;
    let now = state.now();
    let mut conn = state.store.write().await?;
    let Some(taken) = verifications::count_attempt(&mut conn, vid, now).await? else {
        // No attempt may be judged: say why.
        let stored = verifications::get(&mut conn, vid)
            .await?
            .ok_or(Error::VerificationMissing)?;
        stored.check_attempt(now)?;
        return Err(Error::VerificationFailed.into());
    };
    drop(conn);
    let wrong = |e: Error| async {
        if taken.attempts >= taken.max_attempts {
            let mut conn = state.store.write().await?;
            verifications::fail_if_exhausted(&mut conn, vid).await?;
        }
        Err(e.into())
    };
    let assertion = match Assertion::parse(credential) {
        Ok(a) => a,
        Err(_) => {
            return wrong(Error::param_format_invalid(
                PARAM,
                "is not a WebAuthn assertion (PublicKeyCredential JSON)",
            ))
            .await
        }
    };
    let credential_id = URL_SAFE_NO_PAD.encode(assertion.credential_id());
    let mut conn = state.store.read().await?;
    let stored = passkeys::by_credential(&mut conn, &credential_id).await?;
    let ceremony = verifications::ceremony(&mut conn, vid).await?;
    drop(conn);
    // Unknown, deleted, or another account's passkey: all the same to the caller.
    let Some(stored) = stored.filter(|p| account.is_none_or(|a| a == &p.user_id)) else {
        return wrong(Error::IdentifierNotFound).await;
    };
    let decode = |what: &str, v: &str| URL_SAFE_NO_PAD.decode(v).map_err(|_| unreadable(what));
    let ceremony = decode("ceremony", &ceremony.ok_or(Error::VerificationMissing)?)?;
    let public_key = decode("public key", &stored.public_key)?;
    let dynamic_state = decode("state", &stored.dynamic_state)?;
    let credential_bytes = decode("credential id", &stored.credential_id)?;
    let handle = state.secrets.passkey_user_handle(stored.user_id.as_str());
    let verdict = rp.finish_authentication(
        &ceremony,
        &assertion,
        StoredCredential {
            credential_id: &credential_bytes,
            user_handle: &handle,
            public_key: &public_key,
            dynamic_state: &dynamic_state,
        },
    );
    let changed = match verdict {
        Ok(changed) => changed,
        Err(PasskeyError::Expired) => return wrong(Error::VerificationExpired).await,
        Err(PasskeyError::Malformed(_)) => {
            return wrong(Error::param_format_invalid(
                PARAM,
                "is not a WebAuthn assertion",
            ))
            .await
        }
        Err(PasskeyError::CounterRegressed) => {
            tracing::warn!(passkey = %stored.id, user = %stored.user_id,
                "passkey signature counter went backwards: the authenticator may be cloned");
            return wrong(Error::param_value_invalid(
                PARAM,
                "comes from an authenticator whose signature counter went backwards",
            ))
            .await;
        }
        Err(PasskeyError::Refused(why)) => {
            return wrong(Error::param_value_invalid(
                PARAM,
                format!("does not answer this challenge: {why}"),
            ))
            .await
        }
        Err(PasskeyError::Config(why)) => return Err(Error::internal(why).into()),
    };
    let mut conn = state.store.read().await?;
    let verification = verifications::get(&mut conn, vid)
        .await?
        .ok_or(Error::VerificationMissing)?;
    let user = users::get(&mut conn, &stored.user_id)
        .await?
        .ok_or(Error::IdentifierNotFound)?;
    let proven = Proven {
        user: stored.user_id.clone(),
        claim: Claim::Passkey {
            verification: vid.clone(),
            passkey: stored.id,
            dynamic_state: changed.map(|s| URL_SAFE_NO_PAD.encode(s)),
        },
        refund: None,
    };
    Ok((verification, proven, user))
}
