//! One of the account's backup codes.

use super::{count, Claim, Verdict};
use crate::error::ApiResult;
use crate::mfa::IMPORTED_BACKUP_CODE_LENGTHS;
use crate::passwords;
use crate::state::AppState;
use vestibule_crypto::otp;
use vestibule_model::UserId;
use vestibule_store::second_factors;

/// Longest input looked at as a backup code: generous for spaces and dashes, short enough that
/// nobody makes the server hash megabytes.
const MAX_BACKUP_CODE_INPUT: usize = 64;

/// One of the account's unused backup codes, hashed (argon2id) with the account's salt on the
/// bounded hash pool, so a flood of guesses is answered 429 like a flood of passwords. `None`
/// when the account has no backup codes (nothing counted).
pub(crate) async fn backup_code(
    state: &AppState,
    user: &UserId,
    guess: &str,
) -> ApiResult<Option<Verdict>> {
    let salt = {
        let mut conn = state.store.read().await?;
        second_factors::backup_codes(&mut conn, user).await?
    };
    let Some((salt, _)) = salt else {
        return Ok(None);
    };
    let counted = count(state, user).await?;
    let normalized = otp::normalize_backup_code(guess);
    if guess.len() > MAX_BACKUP_CODE_INPUT
        || !IMPORTED_BACKUP_CODE_LENGTHS.contains(&normalized.len())
    {
        counted.wrong();
        return Ok(Some(Verdict::Wrong));
    }
    let hash = state
        .passwords
        .pool()
        .run(move || otp::backup_code_hash(&normalized, salt.as_bytes()))
        .await
        .map_err(passwords::pool_error)?;
    let unused = {
        let mut conn = state.store.read().await?;
        second_factors::backup_code_unused(&mut conn, user, &hash).await?
    };
    Ok(Some(if unused {
        Verdict::Right(counted.right_when_settled(Claim::BackupCode { hash }))
    } else {
        counted.wrong();
        Verdict::Wrong
    }))
}
