//! One-time codes and email links, whichever flow sends them (sign-in steps, reverification,
//! confirming a new phone number): stored as keyed hashes, sent through the outbox in the caller's
//! transaction; guesses at them are judged in [`crate::guesses`].

use crate::error::ApiResult;
use crate::messages::{self, Secret};
use crate::params::Params;
use crate::state::AppState;
use vestibule_courier::Purpose;
use vestibule_crypto::{random_token, token_hash};
use vestibule_model::user::Factor;
use vestibule_model::verification::{new_code, CodeRequest, CodeVerification};
use vestibule_model::{Channel, Error, IdentificationId, Proof, Strategy, Timestamp};
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

/// What a prepare call (a sign-in's first or second step, a reverification, or `create` with a
/// code or link strategy) asks to send: links need a `redirect_url` this instance allows.
pub(crate) fn request(
    state: &AppState,
    strategy: Strategy,
    identification: IdentificationId,
    redirect_url: Option<&str>,
) -> ApiResult<CodeRequest> {
    let redirect_url = match (strategy.proof(), redirect_url) {
        (Proof::SentLink(_), Some(url)) => Some(allowed_redirect(state, url)?),
        (Proof::SentLink(_), None) => return Err(Error::param_missing("redirect_url").into()),
        _ => None,
    };
    Ok(CodeRequest {
        strategy,
        identification,
        redirect_url,
    })
}

/// Where an email link may send the browser: an absolute http(s) URL on an origin this instance
/// serves, so the link cannot be turned into an open redirect.
pub(crate) fn allowed_redirect(state: &AppState, url: &str) -> ApiResult<String> {
    let parsed = url::Url::parse(url)
        .map_err(|_| Error::param_format_invalid("redirect_url", "must be an absolute URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") || !state.instance.origin_allowed(url) {
        return Err(Error::param_value_invalid(
            "redirect_url",
            "is not on an origin this instance allows",
        )
        .into());
    }
    if url.len() > 2048 {
        return Err(
            Error::param_value_invalid("redirect_url", "must be at most 2048 characters").into(),
        );
    }
    Ok(parsed.to_string())
}

/// The email address or phone number a prepare call sends to: the one it names, or else the
/// default (or primary) one among `offered` for that strategy, since clerk-js names it but other
/// clients may not.
pub(crate) fn target(
    params: &Params,
    strategy: &Strategy,
    offered: &[Factor],
) -> ApiResult<IdentificationId> {
    let param = identification_param(strategy)?;
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
        .identification()
        .cloned()
        .ok_or_else(|| Error::param_missing(param).into())
}

/// The channel a prepare call sends by; strategies the server sends nothing for are refused.
pub(crate) fn channel_of(strategy: &Strategy) -> ApiResult<Channel> {
    strategy.channel().ok_or_else(|| {
        Error::param_value_invalid(
            "strategy",
            format!(
                "{} needs no preparation; attempt it directly",
                strategy.as_str()
            ),
        )
        .into()
    })
}

/// The parameter a prepare call names its address or wallet in.
pub(crate) fn identification_param(strategy: &Strategy) -> ApiResult<&'static str> {
    match strategy.identification_param() {
        Some(p) => Ok(p),
        None => channel_of(strategy).map(Channel::identification_param),
    }
}
