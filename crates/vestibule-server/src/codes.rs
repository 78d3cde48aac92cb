//! One-time codes and email links, whichever flow sends them (sign-in steps, reverification,
//! confirming a new phone number): stored as keyed hashes, sent through the outbox in the caller's
//! transaction, and checked with every guess counted first.

use crate::error::ApiResult;
use crate::fapi::record_failure;
use crate::messages::{self, Secret};
use crate::params::Params;
use crate::state::AppState;
use vestibule_courier::Purpose;
use vestibule_crypto::{random_token, token_hash};
use vestibule_model::user::Factor;
use vestibule_model::verification::is_email;
use vestibule_model::verification::{new_code, CodeVerification};
use vestibule_model::{Error, IdentificationId, Strategy, Timestamp, User, VerificationId};
use vestibule_store::{verifications, Connection};

/// Bytes of randomness in an email link's token (256 bits).
const LINK_TOKEN_BYTES: usize = 32;

/// Stores a prepared verification (only a keyed hash of its code, or a hash of its link's token)
/// and queues the message for `purpose` carrying the code or link to `to`. Without `to`, nothing
/// is sent and no guess can ever match.
pub(crate) async fn deliver(
    state: &AppState,
    tx: &mut Connection,
    v: &CodeVerification,
    purpose: Purpose,
    to: Option<&str>,
    now: Timestamp,
) -> ApiResult<()> {
    let lifetime = v.expire_at.millis().saturating_sub(now.millis()) / 1000;
    let strategy = &v.strategy;
    let Some(to) = to else {
        verifications::insert(tx, v, None, None).await?;
        return Ok(());
    };
    if strategy == &Strategy::EmailLink {
        let token = random_token(state.rng.as_ref(), LINK_TOKEN_BYTES);
        verifications::insert(tx, v, None, Some(&token_hash(&token))).await?;
        let link = format!(
            "{}/v1/verify?token={token}",
            state.instance.frontend_api_url
        );
        messages::queue(
            state,
            tx,
            purpose,
            strategy,
            to,
            Secret::Link(&link),
            lifetime,
        )
        .await?;
    } else {
        let code = zeroize::Zeroizing::new(new_code(state.rng.as_ref()));
        verifications::insert(
            tx,
            v,
            Some(&state.secrets.code_hash(v.id.as_str(), &code)),
            None,
        )
        .await?;
        messages::queue(
            state,
            tx,
            purpose,
            strategy,
            to,
            Secret::Code(&code),
            lifetime,
        )
        .await?;
    }
    Ok(())
}

/// Counts a guess at a delivered code and checks it: the stored verification when it is right.
/// The guess is counted before it is compared, in one conditional statement, so parallel guesses
/// cannot exceed the code's limit. A wrong guess counts toward the account's lockout.
pub(crate) async fn check_code(
    state: &AppState,
    vid: &VerificationId,
    guess: &str,
    user: Option<&User>,
) -> ApiResult<CodeVerification> {
    let guess = guess.trim();
    let now = state.now();
    let counted = {
        let mut conn = state.store.write().await?;
        verifications::count_attempt(&mut conn, vid, now).await?
    };
    let Some(counted) = counted else {
        // No guess may be checked: say why.
        let mut conn = state.store.read().await?;
        let stored = verifications::get(&mut conn, vid)
            .await?
            .ok_or(Error::VerificationMissing)?;
        stored.check_attempt(now)?;
        return Err(Error::VerificationFailed.into());
    };
    let right = user.is_some()
        && guess.len() <= 16
        && state
            .secrets
            .code_matches(vid.as_str(), guess, &counted.code_hash);
    if !right {
        if counted.attempts >= counted.max_attempts {
            let mut conn = state.store.write().await?;
            verifications::fail_if_exhausted(&mut conn, vid).await?;
        }
        if let Some(u) = user {
            record_failure(state, u).await?;
        }
        return Err(Error::CodeIncorrect.into());
    }
    let mut conn = state.store.read().await?;
    Ok(verifications::get(&mut conn, vid)
        .await?
        .ok_or(Error::VerificationMissing)?)
}

/// The email address or phone number a prepare call sends to: the one it names, or else the
/// default (or primary) one among `offered` for that strategy, since clerk-js names it but other
/// clients may not.
pub(crate) fn target(
    params: &Params,
    strategy: &Strategy,
    offered: &[Factor],
) -> ApiResult<IdentificationId> {
    let param = if is_email(strategy) {
        "email_address_id"
    } else {
        "phone_number_id"
    };
    if let Some(raw) = params.non_empty(param)? {
        return IdentificationId::parse(raw).ok_or_else(|| {
            Error::param_format_invalid(param, "is not an identification id").into()
        });
    }
    let mut candidates = offered.iter().filter(|f| &f.strategy == strategy);
    let chosen = candidates
        .clone()
        .find(|f| f.default == Some(true) || f.primary == Some(true))
        .or_else(|| candidates.next())
        .ok_or(Error::StrategyForUserInvalid)?;
    chosen
        .email_address_id
        .clone()
        .or_else(|| chosen.phone_number_id.clone())
        .ok_or_else(|| Error::param_missing(param).into())
}
