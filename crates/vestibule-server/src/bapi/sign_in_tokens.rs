//! Sign-in tokens: `@clerk/backend`'s `signInTokens.createSignInToken` and `revokeSignInToken`.
//! The ticket is a random 256-bit secret shown once, in the creation's answer; the store keeps
//! its hash. `SignIn.create({strategy: 'ticket', ticket})` uses it (see `guesses/ticket.rs`).

use super::users::load;
use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Json;
use vestibule_crypto::{random_token, token_hash};
use vestibule_model::sign_in_token::{SignInToken, MAX_LIFETIME_SECONDS};
use vestibule_model::{Error, SignInTokenId};
use vestibule_store::sign_in_tokens;
use vestibule_wire as wire;

/// Bytes of randomness in a ticket (256 bits).
const TICKET_BYTES: usize = 32;

fn present(state: &AppState, t: &SignInToken, ticket: Option<&str>) -> wire::SignInToken {
    wire::SignInToken {
        object: "sign_in_token".into(),
        id: t.id.to_string(),
        user_id: t.user_id.to_string(),
        token: ticket.unwrap_or_default().to_owned(),
        status: t.status.as_str().into(),
        url: ticket.and_then(|ticket| page_url(state, ticket)),
        created_at: t.created_at.0,
        updated_at: t.updated_at.0,
    }
}

/// The application's sign-in page with the ticket, as Clerk's `<SignIn/>` reads it.
fn page_url(state: &AppState, ticket: &str) -> Option<String> {
    let page = match &state.settings.sign_in.page_url {
        Some(page) => page.clone(),
        None => format!("{}/sign-in", state.instance.allowed_origins.first()?),
    };
    let mut url = url::Url::parse(&page).ok()?;
    url.query_pairs_mut().append_pair("__clerk_ticket", ticket);
    Some(url.to_string())
}

/// `POST /v1/sign_in_tokens` with `user_id` and optionally `expires_in_seconds` (default and
/// most: 30 days).
pub async fn create(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<Json<wire::SignInToken>> {
    params.only(&["user_id", "expires_in_seconds"])?;
    let user_id = params.required("user_id")?;
    let lifetime = params.int("expires_in_seconds", 1..=MAX_LIFETIME_SECONDS)?;
    let user = load(&state, user_id).await?;
    let now = state.now();
    let token = SignInToken::issue(
        SignInTokenId::generate(state.rng.as_ref()),
        user.id.clone(),
        lifetime,
        now,
    )?;
    let ticket = zeroize::Zeroizing::new(random_token(state.rng.as_ref(), TICKET_BYTES));
    let mut tx = state.store.begin().await?;
    sign_in_tokens::insert(&mut tx, &token, &token_hash(&ticket)).await?;
    tx.commit().await?;
    tracing::info!(user = %user.id, token = %token.id, "sign-in token issued");
    Ok(Json(present(&state, &token, Some(&ticket))))
}

/// `POST /v1/sign_in_tokens/{id}/revoke`: a pending token can no longer sign anyone in.
pub async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<wire::SignInToken>> {
    let not_found = || ApiError(Error::not_found_id("sign in token", &id));
    let token_id = SignInTokenId::parse(&id).ok_or_else(not_found)?;
    let mut conn = state.store.read().await?;
    let mut token = sign_in_tokens::get(&mut conn, &token_id)
        .await?
        .ok_or_else(not_found)?;
    drop(conn);
    token.revoke(state.now())?;
    let mut tx = state.store.begin().await?;
    if !sign_in_tokens::revoke(&mut tx, &token).await? {
        return Err(Error::changed_elsewhere("sign-in token").into());
    }
    tx.commit().await?;
    Ok(Json(present(&state, &token, None)))
}
