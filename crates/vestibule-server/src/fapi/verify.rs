//! `GET /v1/verify?token=…`: where an email link lands. It verifies the link, completes the
//! sign-in on the client that asked for it (which sees the result by polling the sign-in), and
//! sends the browser to the sign-in's `redirect_url` with `__clerk_status` (`verified`,
//! `expired`, `failed` or `client_mismatch`) and `__clerk_created_session`.

use super::sign_ins::{complete, ClientWrite, Completion};
use crate::identity::ClientIdentity;
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Extension;
use vestibule_model::sign_in::{Progress, VerificationStatus};
use vestibule_model::verification::{CodeVerification, VerificationOwner};
use vestibule_model::SessionId;
use vestibule_store::{clients, sessions, sign_ins, users, verifications};

fn redirect(to: &str, status: &str, session: Option<&SessionId>) -> Response {
    let mut url = match url::Url::parse(to) {
        Ok(u) => u,
        Err(_) => return page(StatusCode::BAD_REQUEST, "This link cannot be used."),
    };
    url.query_pairs_mut().append_pair("__clerk_status", status);
    if let Some(s) = session {
        url.query_pairs_mut()
            .append_pair("__clerk_created_session", s.as_str());
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, url.to_string()),
            (header::REFERRER_POLICY, "no-referrer".to_owned()),
        ],
    )
        .into_response()
}

fn page(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<!doctype html><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>Sign-in link</title><p style=\"font-family:sans-serif;margin:3em auto;max-width:30em\">{message}</p>"
    );
    (
        status,
        [(header::REFERRER_POLICY, "no-referrer")],
        Html(body),
    )
        .into_response()
}

pub async fn verify(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    RawQuery(query): RawQuery,
) -> Response {
    let token = query.as_deref().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
    });
    let Some(token) = token.filter(|t| !t.is_empty() && t.len() <= 128) else {
        return page(
            StatusCode::BAD_REQUEST,
            "This link is incomplete. Open the link from the email again.",
        );
    };
    match land(&state, &identity, &token).await {
        Ok(response) => response,
        Err(e) => {
            tracing::warn!(error = %e, "email link could not be completed");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong. Please try signing in again.",
            )
        }
    }
}

async fn land(
    state: &AppState,
    identity: &ClientIdentity,
    token: &str,
) -> Result<Response, String> {
    let now = state.now();
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let found = {
        let mut conn = state.store.read().await.map_err(|e| err(&e))?;
        verifications::get_by_link_token(&mut conn, &vestibule_crypto::token_hash(token))
            .await
            .map_err(|e| err(&e))?
    };
    let Some(v) = found else {
        return Ok(page(
            StatusCode::NOT_FOUND,
            "This link is not valid. Ask for a new one where you were signing in.",
        ));
    };
    let Some(to) = v.redirect_url.clone() else {
        return Ok(page(StatusCode::BAD_REQUEST, "This link cannot be used."));
    };
    match v.status_at(now) {
        VerificationStatus::Unverified => {}
        VerificationStatus::Expired => return Ok(redirect(&to, "expired", None)),
        _ => return Ok(redirect(&to, "failed", None)),
    }
    // Links are sent for sign-ins and for email addresses users add to their account.
    let sign_in_id = match &v.owner {
        VerificationOwner::SignIn(id) => id,
        VerificationOwner::Identification(email) => {
            return Ok(match prove_email(state, identity, &v, email).await {
                Ok(()) => redirect(&to, "verified", None),
                Err(e) => {
                    tracing::info!(code = e.0.code(), "email link refused");
                    redirect(&to, "failed", None)
                }
            });
        }
        VerificationOwner::SessionVerification(_) => return Ok(redirect(&to, "failed", None)),
    };
    let mut conn = state.store.read().await.map_err(|e| err(&e))?;
    let Some((mut si, version)) = sign_ins::get(&mut conn, sign_in_id)
        .await
        .map_err(|e| err(&e))?
    else {
        return Ok(redirect(&to, "failed", None));
    };
    if state.settings.email_link.require_same_client {
        let visitor = identity.client(state).await.map_err(|e| e.0.to_string())?;
        if visitor.as_ref().map(|c| &c.id) != Some(&si.client_id) {
            return Ok(redirect(&to, "client_mismatch", None));
        }
    }
    let (Some(user_id), Some(mut client)) = (
        si.user_id().cloned(),
        clients::get(&mut conn, &si.client_id)
            .await
            .map_err(|e| err(&e))?,
    ) else {
        return Ok(redirect(&to, "failed", None));
    };
    let Some(user) = users::get(&mut conn, &user_id).await.map_err(|e| err(&e))? else {
        return Ok(redirect(&to, "failed", None));
    };
    drop(conn);
    Ok(
        match finish(state, identity, &v, &mut si, version, &user, &mut client).await {
            Ok(session) => redirect(&to, "verified", session.as_ref()),
            Err(e) => {
                tracing::info!(code = e.0.code(), "email link refused");
                redirect(&to, "failed", None)
            }
        },
    )
}

/// A link sent to prove an email address a user added: the address is theirs. The user polling
/// the address (`createEmailLinkFlow`) sees it verified.
async fn prove_email(
    state: &AppState,
    identity: &ClientIdentity,
    v: &CodeVerification,
    email: &vestibule_model::IdentificationId,
) -> Result<(), crate::error::ApiError> {
    let gone = || vestibule_model::Error::not_found_id("email address", email.as_str());
    let user_id = v.user_id.as_ref().ok_or_else(gone)?;
    let mut conn = state.store.read().await?;
    let user = users::get(&mut conn, user_id).await?.ok_or_else(gone)?;
    drop(conn);
    if state.settings.email_link.require_same_client {
        let visitor = identity.client(state).await?;
        let signed_in_there = match &visitor {
            Some(c) => {
                let mut conn = state.store.read().await?;
                sessions::for_client(&mut conn, &c.id)
                    .await?
                    .iter()
                    .any(|s| s.user_id == user.id)
            }
            None => false,
        };
        if !signed_in_there {
            return Err(vestibule_model::Error::client_state("opened on another device").into());
        }
    }
    let now = state.now();
    let visitor = identity.client(state).await?.map(|c| c.id);
    let mut tx = state.store.begin().await?;
    if !verifications::mark_verified(&mut tx, &v.id, now, visitor.as_ref()).await? {
        return Err(vestibule_model::Error::VerificationAlreadyVerified.into());
    }
    super::me::emails::verified(&mut tx, &user, email, &v.strategy, now).await?;
    tx.commit().await?;
    Ok(())
}

async fn finish(
    state: &AppState,
    identity: &ClientIdentity,
    v: &CodeVerification,
    si: &mut vestibule_model::SignIn,
    version: i64,
    user: &vestibule_model::User,
    client: &mut vestibule_model::Client,
) -> Result<Option<SessionId>, crate::error::ApiError> {
    let now = state.now();
    let visitor = identity.client(state).await?.map(|c| c.id);
    let progress = si.delivered_verified(v, user, &state.settings, now)?;
    let mut tx = state.store.begin().await?;
    if !verifications::mark_verified(&mut tx, &v.id, now, visitor.as_ref()).await? {
        return Err(vestibule_model::Error::VerificationAlreadyVerified.into());
    }
    if let Progress::ReadyForSession(ready) = progress {
        // The browser here may not be the client that signs in, so its token is left as it is.
        let completion = Completion {
            si,
            ready,
            user,
            client,
            write: ClientWrite::Keep,
        };
        complete(state, identity, &mut tx, completion).await?;
    }
    if !sign_ins::update(&mut tx, si, version).await? {
        return Err(vestibule_model::Error::changed_elsewhere("sign-in").into());
    }
    tx.commit().await?;
    Ok(si.created_session_id().cloned())
}
