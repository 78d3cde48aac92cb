//! A code from the account's authenticator app (RFC 6238).

use super::{count, Claim, Verdict};
use crate::error::ApiResult;
use crate::state::AppState;
use vestibule_crypto::otp;
use vestibule_model::UserId;
use vestibule_store::second_factors;

/// A code from the account's authenticator app: `enrolling` checks the app being set up (its
/// factor unverified), otherwise the one in use. Right for the current time step or one either
/// side, and later than any accepted before. `None` when there is no such app (nothing counted).
pub(crate) async fn totp(
    state: &AppState,
    user: &UserId,
    guess: &str,
    enrolling: bool,
) -> ApiResult<Option<Verdict>> {
    let factor = {
        let mut conn = state.store.read().await?;
        second_factors::totp(&mut conn, user).await?
    };
    let Some(factor) = factor.filter(|f| f.verified != enrolling) else {
        return Ok(None);
    };
    let counted = count(state, user).await?;
    let secret = state.secrets.open_totp(&factor.secret)?;
    let now = state.now();
    Ok(Some(
        match otp::verify_totp(&secret, guess, now.seconds(), factor.last_used_step) {
            Some(step) => {
                Verdict::Right(counted.right_when_settled(Claim::TotpStep { step, enrolling }))
            }
            None => {
                counted.wrong();
                Verdict::Wrong
            }
        },
    ))
}
