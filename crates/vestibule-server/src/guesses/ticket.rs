//! A sign-in token presented as a ticket. It is a 256-bit random bearer secret, so it is not
//! guessed but looked up; the request presenting it was counted against the caller's attempt
//! limit before the lookup.

use super::{Claim, Proven};
use crate::error::ApiResult;
use crate::state::AppState;
use vestibule_crypto::token_hash;
use vestibule_model::sign_in_token::SignInToken;
use vestibule_model::{Error, TicketRefusal};
use vestibule_store::sign_in_tokens;

/// The token `ticket` is, if it can sign its account in now.
pub(crate) async fn ticket_token(state: &AppState, ticket: &str) -> ApiResult<SignInToken> {
    let invalid = || Error::TicketRefused(TicketRefusal::Invalid);
    if ticket.len() > 256 {
        return Err(invalid().into());
    }
    let mut conn = state.store.read().await?;
    let token = sign_in_tokens::find_by_hash(&mut conn, &token_hash(ticket))
        .await?
        .ok_or_else(invalid)?;
    token.check_usable(state.now())?;
    Ok(token)
}

/// The ticket, for the account `user`: right when it is usable and names that account. The
/// proof accepts it when settled, once.
pub(crate) async fn ticket(
    state: &AppState,
    user: Option<&vestibule_model::User>,
    ticket: &str,
) -> ApiResult<Proven> {
    let token = ticket_token(state, ticket).await?;
    match user {
        Some(u) if u.id == token.user_id => Ok(Proven {
            user: u.id.clone(),
            claim: Claim::Ticket { id: token.id },
            refund: None,
        }),
        _ => Err(Error::TicketRefused(TicketRefusal::Invalid).into()),
    }
}
