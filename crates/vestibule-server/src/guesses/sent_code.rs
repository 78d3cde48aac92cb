//! A code this server sent by email or SMS.

use super::{counted, Claim, Counted, Proven};
use crate::error::ApiResult;
use crate::state::AppState;
use vestibule_model::verification::CodeVerification;
use vestibule_model::{Error, User, VerificationId};
use vestibule_store::{users, verifications};

/// A code this server sent (`vid`), for `user` or, for an unknown account under enumeration
/// protection, for nobody. The guess is counted against the code's own limit and the account's
/// lockout together, in one transaction, before it is compared. Right: the stored verification,
/// and the proof to settle.
pub(crate) async fn code(
    state: &AppState,
    vid: &VerificationId,
    guess: &str,
    user: Option<&User>,
) -> ApiResult<(CodeVerification, Proven)> {
    let guess = guess.trim();
    let now = state.now();
    let lockout = &state.settings.lockout;
    let mut tx = state.store.begin().await?;
    let Some(taken) = verifications::count_attempt(&mut tx, vid, now).await? else {
        drop(tx);
        // No guess may be checked: say why.
        let mut conn = state.store.read().await?;
        let stored = verifications::get(&mut conn, vid)
            .await?
            .ok_or(Error::VerificationMissing)?;
        stored.check_attempt(now)?;
        return Err(Error::VerificationFailed.into());
    };
    let counted = match user {
        Some(u) if lockout.enabled => {
            let attempt = users::take_attempt(
                &mut tx,
                &u.id,
                now,
                lockout.threshold(),
                lockout.lock_until(now),
            )
            .await?;
            // A locked account's refusal leaves the code's own count untouched too.
            Some(counted(&u.id, attempt, now)?)
        }
        Some(u) => Some(Counted {
            user: u.id.clone(),
            free: true,
            locked_by_it: false,
        }),
        None => None,
    };
    let exhausted = taken.attempts >= taken.max_attempts;
    let right = counted.is_some()
        && guess.len() <= 16
        && state
            .secrets
            .code_matches(vid.as_str(), guess, &taken.code_hash);
    let proven = match counted {
        Some(c) if right => Some(c.right(&mut tx, Claim::Code { id: vid.clone() }).await?),
        Some(c) => {
            c.wrong();
            None
        }
        None => None,
    };
    if !right && exhausted {
        verifications::fail_if_exhausted(&mut tx, vid).await?;
    }
    tx.commit().await?;
    let proven = proven.ok_or(Error::CodeIncorrect)?;
    let mut conn = state.store.read().await?;
    let stored = verifications::get(&mut conn, vid)
        .await?
        .ok_or(Error::VerificationMissing)?;
    Ok((stored, proven))
}
