//! The account's password, hashed on the bounded pool.

use super::{count, Claim, Verdict};
use crate::error::ApiResult;
use crate::passwords::Verified;
use crate::state::AppState;
use vestibule_model::User;

/// The account's password. Without an account (an unknown one under enumeration protection),
/// or an account without a password, the guess costs what a real one costs and is wrong.
pub(crate) async fn password(
    state: &AppState,
    user: Option<&User>,
    guess: &str,
) -> ApiResult<Verdict> {
    let Some(user) = user else {
        state.passwords.dummy(guess).await?;
        return Ok(Verdict::Wrong);
    };
    let counted = count(state, &user.id).await?;
    let verified = match &user.password {
        Some(digest) => state.passwords.verify(guess, digest).await?,
        None => {
            state.passwords.dummy(guess).await?;
            Verified::Mismatch
        }
    };
    Ok(match verified {
        Verified::Match { needs_rehash } => {
            Verdict::Right(counted.right_when_settled(Claim::Password { needs_rehash }))
        }
        Verified::Mismatch => {
            counted.wrong();
            Verdict::Wrong
        }
    })
}
