//! Sign-in endpoints. Each handler reads, lets the domain decide, verifies expensive factors
//! outside any transaction, then writes everything in one transaction that is conditional on the
//! sign-in's version, so two racing attempts cannot both take effect.

use super::view::{self, Parts};
use crate::error::{ApiError, ApiResult};
use crate::identity::ClientIdentity;
use crate::params::Params;
use crate::passwords::Verified;
use crate::present;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use vestibule_model::sign_in::{Progress, SignedInSession};
use vestibule_model::{
    Client, ClientId, Error, Identifier, Session, SessionId, SignIn, SignInId, Strategy, Timestamp,
    User,
};
use vestibule_store::{clients, sessions, sign_ins, users, Connection};
use vestibule_wire as wire;

type SignInResponse = Json<wire::Envelope<wire::SignIn>>;

/// Strategies this server verifies. Others are Clerk's names for things not offered here.
fn supported_first_factor(s: &Strategy) -> bool {
    matches!(s, Strategy::Password)
}

fn parse_strategy(params: &Params) -> ApiResult<Option<Strategy>> {
    let Some(name) = params.non_empty("strategy")? else {
        return Ok(None);
    };
    let strategy = Strategy::parse(name).ok_or_else(|| {
        Error::param_value_invalid("strategy", format!("{name:?} is not a known strategy"))
    })?;
    if !supported_first_factor(&strategy) {
        return Err(Error::param_value_invalid(
            "strategy",
            format!("{name:?} is not enabled on this instance"),
        )
        .into());
    }
    Ok(Some(strategy))
}

fn signed_in(state: &AppState, sessions: Vec<Session>, now: Timestamp) -> Vec<Session> {
    sessions
        .into_iter()
        .filter(|s| s.is_signed_in_at(now, &state.settings.sessions))
        .collect()
}

fn held(sessions: &[Session]) -> Vec<SignedInSession> {
    sessions
        .iter()
        .map(|s| SignedInSession {
            session_id: s.id.clone(),
            user_id: s.user_id.clone(),
        })
        .collect()
}

/// Verifies a password for `user`, or burns the same time when there is no user.
async fn check_password(
    state: &AppState,
    user: Option<&User>,
    password: &str,
) -> ApiResult<Verified> {
    match user.and_then(|u| u.password.as_ref()) {
        Some(digest) => Ok(state.passwords.verify(password, digest).await?),
        None => {
            state.passwords.dummy(password).await?;
            Ok(Verified::Mismatch)
        }
    }
}

/// Replaces a digest from an import or weaker parameters by a current argon2id one. Best effort:
/// the sign-in already succeeded, and the next one tries again.
async fn upgrade_password(state: &AppState, user: &User, password: &str) {
    let Some(old) = &user.password else { return };
    let Ok(new) = state.passwords.hash(password).await else {
        return;
    };
    let result = async {
        let mut tx = state.store.begin().await?;
        users::upgrade_password(&mut tx, &user.id, &old.digest, &new).await?;
        tx.commit().await
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(user = %user.id, error = %e, "password digest upgrade failed");
    }
}

/// Creates the session for a sign-in whose factors are all in, inside `tx`, and points the client
/// at it; returns all of the client's signed-in sessions, the new one last. An existing client is
/// written first, with a new token against session fixation (on PostgreSQL the write also locks
/// its row, serialising concurrent sign-ins on one client); then what it holds is checked again.
/// A client created by this very request is inserted by the caller afterwards.
#[allow(clippy::too_many_arguments)]
async fn complete(
    state: &AppState,
    identity: &ClientIdentity,
    tx: &mut Connection,
    si: &mut SignIn,
    user: &User,
    client: &mut Client,
    fresh_client: bool,
    now: Timestamp,
) -> ApiResult<Vec<Session>> {
    let session = Session::new(
        SessionId::generate(state.rng.as_ref()),
        client.id.clone(),
        user.id.clone(),
        now,
        &state.settings.sessions,
        si.first_factor_verified_at.unwrap_or(now),
        si.second_factor_verified_at,
    );
    si.complete(session.id.clone(), now);
    client.last_active_session_id = Some(session.id.clone());
    client.sign_in_id = Some(si.id.clone());
    client.updated_at = now;
    let mut sessions = Vec::new();
    if !fresh_client {
        identity.save_with_new_token(state, tx, client).await?;
        sessions = signed_in(state, sessions::for_client(tx, &client.id).await?, now);
        SignIn::check_client_may_sign_in(&state.settings, &held(&sessions), Some(&user.id))?;
    }
    sessions::insert(tx, &session).await?;
    users::record_sign_in(tx, &user.id, now).await?;
    sessions.push(session);
    Ok(sessions)
}

/// The sign-in and its client. `sessions` are the client's signed-in sessions when the handler
/// knows them all; otherwise the client is read back.
async fn respond(
    state: &AppState,
    identity: &ClientIdentity,
    si: &SignIn,
    user: Option<&User>,
    client: &Client,
    sessions: Option<Vec<Session>>,
) -> ApiResult<SignInResponse> {
    let mut conn = state.store.read().await?;
    let origin = identity.origin.as_deref();
    let wire_client = match sessions {
        Some(sessions) => {
            let parts = Parts {
                client,
                sessions,
                sign_in: Some(si.clone()),
                users: user.into_iter().cloned().collect(),
            };
            view::build(state, &mut conn, parts, origin).await?
        }
        None => view::client_view(state, &mut conn, client, origin).await?,
    };
    Ok(Json(wire::Envelope {
        response: present::sign_in(si, user, &state.settings),
        client: Some(wire_client),
    }))
}

/// `POST /v1/client/sign_ins`
pub async fn create(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    params: Params,
) -> ApiResult<SignInResponse> {
    let now = state.now();
    // Only password is offered yet: naming it changes nothing, naming another is refused.
    parse_strategy(&params)?;
    let identifier = params.non_empty("identifier")?;
    let password = params.non_empty("password")?;
    if password.is_some() && identifier.is_none() {
        return Err(Error::param_missing("identifier").into());
    }

    let existing = identity.client(&state).await?;
    let mut conn = state.store.read().await?;
    let holding = match &existing {
        Some(c) => signed_in(&state, sessions::for_client(&mut conn, &c.id).await?, now),
        None => Vec::new(),
    };
    SignIn::check_client_may_sign_in(&state.settings, &held(&holding), None)?;

    let fresh = existing.is_none();
    let mut client =
        existing.unwrap_or_else(|| Client::new(ClientId::generate(state.rng.as_ref()), now));
    let mut si = SignIn::new(
        SignInId::generate(state.rng.as_ref()),
        client.id.clone(),
        now,
        &state.settings,
    );

    let mut user = None;
    if let Some(raw) = identifier {
        let ident = Identifier::classify(raw)?;
        let found = users::find_by_identifier(&mut conn, &ident).await?;
        if found.is_none() {
            if let Some(pw) = password {
                // Unknown accounts cost what wrong passwords cost.
                check_password(&state, None, pw).await?;
            }
        }
        si.identify(ident, found.as_ref(), &state.settings, now)?;
        let u = found.ok_or(Error::IdentifierNotFound)?;
        SignIn::check_client_may_sign_in(&state.settings, &held(&holding), Some(&u.id))?;
        user = Some(u);
    }
    drop(conn);

    let mut progress = Progress::NeedsMore;
    let mut upgrade = None;
    if let (Some(pw), Some(u)) = (password, user.as_ref()) {
        si.check_first_factor_attempt(&Strategy::Password, u, &state.settings, now)?;
        match check_password(&state, Some(u), pw).await? {
            Verified::Mismatch => return Err(Error::PasswordIncorrect.into()),
            Verified::Match { needs_rehash } => {
                progress = si.first_factor_verified(Strategy::Password, u, state.now())?;
                if needs_rehash {
                    upgrade = Some(pw);
                }
            }
        }
    }

    let now = state.now();
    client.sign_in_id = Some(si.id.clone());
    client.updated_at = now;
    let mut tx = state.store.begin().await?;
    let sessions = match (progress, user.as_ref()) {
        (Progress::ReadyForSession, Some(u)) => Some(
            complete(
                &state,
                &identity,
                &mut tx,
                &mut si,
                u,
                &mut client,
                fresh,
                now,
            )
            .await?,
        ),
        _ if fresh => Some(Vec::new()),
        _ => {
            clients::update(&mut tx, &client).await?;
            Some(holding)
        }
    };
    sign_ins::insert(&mut tx, &si).await?;
    if fresh {
        identity.insert_client(&state, &mut tx, &client).await?;
    }
    tx.commit().await?;

    if let (Some(pw), Some(u)) = (upgrade, user.as_ref()) {
        upgrade_password(&state, u, pw).await;
    }
    respond(&state, &identity, &si, user.as_ref(), &client, sessions).await
}

/// The caller's client, its sign-in `id` with the version read, and the sign-in's user.
/// Someone else's sign-in is "not found".
async fn load(
    state: &AppState,
    identity: &ClientIdentity,
    id: &str,
) -> ApiResult<(Client, SignIn, i64, Option<User>)> {
    let not_found = || ApiError(Error::not_found_id("sign in", id));
    let client = identity.client(state).await?.ok_or_else(not_found)?;
    let sign_in_id = SignInId::parse(id).ok_or_else(not_found)?;
    let mut conn = state.store.read().await?;
    let (si, version) = sign_ins::get(&mut conn, &sign_in_id)
        .await?
        .ok_or_else(not_found)?;
    if si.client_id != client.id {
        return Err(not_found());
    }
    let user = match &si.user_id {
        Some(uid) => Some(users::get(&mut conn, uid).await?.ok_or_else(|| {
            Error::client_state("the account of this sign-in no longer exists; start over")
        })?),
        None => None,
    };
    Ok((client, si, version, user))
}

/// `GET /v1/client/sign_ins/{id}`
pub async fn get(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
) -> ApiResult<SignInResponse> {
    let (client, si, _, user) = load(&state, &identity, &id).await?;
    respond(&state, &identity, &si, user.as_ref(), &client, None).await
}

/// `POST /v1/client/sign_ins/{id}/prepare_first_factor`. Every first factor offered so far is
/// attempted directly, so there is nothing to prepare.
pub async fn prepare_first_factor(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<SignInResponse> {
    load(&state, &identity, &id).await?;
    let strategy = parse_strategy(&params)?.ok_or_else(|| Error::param_missing("strategy"))?;
    Err(Error::param_value_invalid(
        "strategy",
        format!(
            "{} needs no preparation; attempt it directly",
            strategy.as_str()
        ),
    )
    .into())
}

/// `POST /v1/client/sign_ins/{id}/attempt_first_factor`
pub async fn attempt_first_factor(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<SignInResponse> {
    let (mut client, mut si, version, user) = load(&state, &identity, &id).await?;
    let strategy = parse_strategy(&params)?.ok_or_else(|| Error::param_missing("strategy"))?;
    let password = params.required("password")?;
    let user = user.ok_or_else(|| Error::client_state("an identifier is needed first"))?;
    si.check_first_factor_attempt(&strategy, &user, &state.settings, state.now())?;

    let needs_rehash = match check_password(&state, Some(&user), password).await? {
        Verified::Mismatch => return Err(Error::PasswordIncorrect.into()),
        Verified::Match { needs_rehash } => needs_rehash,
    };
    let now = state.now();
    let progress = si.first_factor_verified(strategy, &user, now)?;

    let mut tx = state.store.begin().await?;
    let sessions = match progress {
        Progress::ReadyForSession => Some(
            complete(
                &state,
                &identity,
                &mut tx,
                &mut si,
                &user,
                &mut client,
                false,
                now,
            )
            .await?,
        ),
        Progress::NeedsMore => None,
    };
    // Last, and conditional: if another request changed the sign-in meanwhile, nothing above counts.
    if !sign_ins::update(&mut tx, &si, version).await? {
        return Err(Error::client_state("this sign-in was changed by another request").into());
    }
    tx.commit().await?;

    if needs_rehash {
        upgrade_password(&state, &user, password).await;
    }
    respond(&state, &identity, &si, Some(&user), &client, sessions).await
}

/// Steps whose state no sign-in is in: answered as Clerk answers a step out of order.
async fn not_awaited(
    state: &AppState,
    identity: &ClientIdentity,
    id: &str,
    what: &str,
) -> ApiResult<SignInResponse> {
    let (_, si, _, _) = load(state, identity, id).await?;
    Err(Error::client_state(format!(
        "{what} is not awaited; the sign-in status is {}",
        si.status.as_str()
    ))
    .into())
}

/// `POST /v1/client/sign_ins/{id}/prepare_second_factor`
pub async fn prepare_second_factor(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
) -> ApiResult<SignInResponse> {
    not_awaited(&state, &identity, &id, "a second factor").await
}

/// `POST /v1/client/sign_ins/{id}/attempt_second_factor`
pub async fn attempt_second_factor(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
) -> ApiResult<SignInResponse> {
    not_awaited(&state, &identity, &id, "a second factor").await
}

/// `POST /v1/client/sign_ins/{id}/reset_password`
pub async fn reset_password(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
) -> ApiResult<SignInResponse> {
    not_awaited(&state, &identity, &id, "a new password").await
}
