//! A wallet's signature over the message this server handed out for one step: EIP-191
//! `personal_sign` for the Ethereum wallets, ed25519 for Solana (`vestibule_crypto::web3`).
//!
//! A signature cannot be guessed, but it is still counted before it is judged: against the
//! handed-out message's own attempts, in one conditional statement, so a message allows a few
//! tries and then none. What makes it single use is settling: the right signature marks the
//! message's verification used, conditionally, in the step's transaction, so of any number of
//! requests carrying the same signature exactly one takes effect.

use super::{Claim, Proven};
use crate::error::ApiResult;
use crate::state::AppState;
use vestibule_crypto::web3::{verify_personal_sign, verify_solana};
use vestibule_model::verification::CodeVerification;
use vestibule_model::{Chain, Error, IdentificationId, Strategy, User, VerificationId};
use vestibule_store::verifications;

/// Judges `signature` for `strategy` over the message handed out with the verification `vid`,
/// by `user`'s wallet `wallet`. Malformed: `form_param_format_invalid`; well formed but not the
/// wallet's: `form_param_value_invalid`; both stay counted.
pub(crate) async fn signature(
    state: &AppState,
    strategy: &Strategy,
    vid: &VerificationId,
    wallet: &IdentificationId,
    user: &User,
    signature: &str,
) -> ApiResult<(CodeVerification, Proven)> {
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
    let address = user
        .web3_wallets
        .iter()
        .find(|w| &w.id == wallet)
        .map(|w| w.web3_wallet.as_str())
        .ok_or(Error::StrategyForUserInvalid)?;
    let message = state.secrets.message_to_sign(vid.as_str());
    let message = message.as_bytes();
    let verdict = match strategy.chain() {
        Some(Chain::Ethereum) => verify_personal_sign(message, signature.trim(), address),
        Some(Chain::Solana) => verify_solana(message, signature.trim(), address),
        None => return Err(Error::StrategyForUserInvalid.into()),
    };
    let wrong = |e: Error| async {
        if taken.attempts >= taken.max_attempts {
            let mut conn = state.store.write().await?;
            verifications::fail_if_exhausted(&mut conn, vid).await?;
        }
        Err(e.into())
    };
    match verdict {
        Ok(true) => {}
        Ok(_) => {
            return wrong(Error::param_value_invalid(
                "signature",
                "is not this wallet's signature of the message handed out",
            ))
            .await
        }
        Err(_) => {
            return wrong(Error::param_format_invalid(
                "signature",
                "is not a signature this wallet makes",
            ))
            .await
        }
    }
    let mut conn = state.store.read().await?;
    let stored = verifications::get(&mut conn, vid)
        .await?
        .ok_or(Error::VerificationMissing)?;
    let proven = Proven {
        user: user.id.clone(),
        claim: Claim::Code { id: vid.clone() },
        refund: None,
    };
    Ok((stored, proven))
}
