//! Sign-in endpoints. Each handler reads, lets the domain decide, verifies expensive factors
//! outside any transaction, then writes everything in one transaction that is conditional on the
//! sign-in's version, so two racing attempts cannot both take effect.

mod factors;
mod first_factor;
mod reset;
mod second_factor;
mod step;

pub use first_factor::{attempt_first_factor, prepare_first_factor};
pub use reset::reset_password;
pub use second_factor::{attempt_second_factor, prepare_second_factor};

pub(crate) use factors::offered;

use super::view::{self, Parts};
use crate::error::{ApiError, ApiResult};
use crate::guesses;
use crate::identity::ClientIdentity;
use crate::limits::{self, ClientIp};
use crate::params::Params;
use crate::present;
use crate::state::AppState;
use crate::steps::{self, Flow};
use axum::extract::{Path, State};
use axum::{Extension, Json};
use step::{SignInStep, Write};
use vestibule_model::rate_limit::LimitKey;
use vestibule_model::sign_in::{Progress, Ready, SignedInSession};
use vestibule_model::verification::Slot;
use vestibule_model::{
    Channel, Client, ClientId, Error, Identifier, IdentifierKind, Session, SessionId, SignIn,
    SignInId, SignInStatus, Step, Strategy, TicketRefusal, Timestamp, User,
};
use vestibule_store::{
    clients, second_factors, sessions, sign_ins, users, verifications, Connection,
};
use vestibule_wire as wire;

pub(crate) type SignInResponse = Json<wire::Envelope<wire::SignIn>>;

pub(super) fn parse_strategy(state: &AppState, params: &Params) -> ApiResult<Option<Strategy>> {
    let Some(name) = params.non_empty("strategy")? else {
        return Ok(None);
    };
    let strategy = Strategy::parse(name).ok_or_else(|| {
        Error::param_value_invalid("strategy", format!("{name:?} is not a known strategy"))
    })?;
    if !strategy.enabled(&state.settings, Step::FirstFactor) {
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

/// Replaces a digest from an import or weaker parameters by a current argon2id one. Best effort:
/// the sign-in already succeeded, and the next one tries again.
pub(super) async fn upgrade_password(state: &AppState, user: &User, password: &str) {
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

/// How a completed sign-in writes its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientWrite {
    /// Created by this request; the caller inserts it afterwards.
    Fresh,
    /// Written with a new token, against session fixation.
    Rotate,
    /// Written as is: the sign-in was completed from elsewhere (an email link opened in another
    /// browser), which cannot hand the client a new token.
    Keep,
}

/// A sign-in whose factors are all in, about to get its session.
pub(crate) struct Completion<'a> {
    pub si: &'a mut SignIn,
    pub ready: Box<Ready>,
    pub user: &'a User,
    pub client: &'a mut Client,
    pub write: ClientWrite,
}

/// Creates the session for a sign-in whose factors are all in, inside `tx`, and points the client
/// at it; returns all of the client's signed-in sessions, the new one last. An existing client is
/// written first (on PostgreSQL that locks its row, serialising concurrent sign-ins on one client);
/// then what it holds is checked again.
pub(crate) async fn complete(
    state: &AppState,
    identity: &ClientIdentity,
    tx: &mut Connection,
    c: Completion<'_>,
) -> ApiResult<Vec<Session>> {
    let Completion {
        si,
        ready,
        user,
        client,
        write,
    } = c;
    let now = state.now();
    let session = ready.session(
        SessionId::generate(state.rng.as_ref()),
        client.id.clone(),
        user,
        &state.settings,
        now,
    );
    si.complete(ready, session.id.clone(), now)?;
    client.last_active_session_id = Some(session.id.clone());
    client.sign_in_id = Some(si.id.clone());
    client.updated_at = now;
    let mut sessions = Vec::new();
    if write != ClientWrite::Fresh {
        if write == ClientWrite::Rotate {
            identity.save_with_new_token(state, tx, client).await?;
        } else if !clients::update(tx, client).await? {
            return Err(Error::ClientNotFound.into());
        }
        sessions = signed_in(state, sessions::for_client(tx, &client.id).await?, now);
        SignIn::check_client_may_sign_in(&state.settings, &held(&sessions), Some(&user.id))?;
    }
    sessions::insert(tx, &session).await?;
    if !users::record_sign_in(tx, &user.id, now).await? {
        return Err(refused(tx, user, now).await);
    }
    second_factors::trust(tx, &client.id, &user.id, now).await?;
    sessions.push(session);
    Ok(sessions)
}

/// Why the account may not sign in after all: banned or locked since the step's reads.
async fn refused(tx: &mut Connection, user: &User, now: Timestamp) -> ApiError {
    let current = match users::get(tx, &user.id).await {
        Ok(current) => current,
        Err(e) => return e.into(),
    };
    match current {
        Some(u) if u.banned => Error::UserBanned.into(),
        Some(u) => match u.lock_state(now) {
            vestibule_model::user::LockState::Locked(expires_in_seconds) => {
                Error::UserLocked { expires_in_seconds }.into()
            }
            vestibule_model::user::LockState::Unlocked => {
                Error::client_state("the account changed while signing in; try again").into()
            }
        },
        None => {
            Error::client_state("the account of this sign-in no longer exists; start over").into()
        }
    }
}

/// The sign-in and its client. `sessions` are the client's signed-in sessions when the handler
/// knows them all; otherwise the client is read back.
pub(super) async fn respond(
    state: &AppState,
    identity: &ClientIdentity,
    si: &SignIn,
    user: Option<&User>,
    client: &Client,
    sessions: Option<Vec<Session>>,
) -> ApiResult<SignInResponse> {
    let mut conn = state.store.read().await?;
    let origin = identity.origin.as_deref();
    let wire_sign_in = present_sign_in(state, &mut conn, si, user).await?;
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
        response: wire_sign_in,
        client: Some(wire_client),
    }))
}

/// A sign-in in wire form, with its factors and the stored state of its current code or link.
pub(crate) async fn present_sign_in(
    state: &AppState,
    conn: &mut Connection,
    si: &SignIn,
    user: Option<&User>,
) -> ApiResult<wire::SignIn> {
    let mut stored = Vec::new();
    for step in [
        si.first_factor_verification(),
        si.second_factor_verification(),
    ] {
        if let Some(id) = step.and_then(|v| v.verification_id) {
            stored.extend(verifications::get(conn, &id).await?);
        }
    }
    let second_factors = match (si.status(), user) {
        (SignInStatus::NeedsSecondFactor | SignInStatus::NeedsClientTrust, Some(u)) => {
            Some(si.awaited_second_factors(u, &state.settings))
        }
        _ => None,
    };
    Ok(present::sign_in(
        si,
        offered(state, si, user),
        second_factors,
        user,
        &state.settings,
        &stored,
        state.now(),
    ))
}

/// The caller's client, its sign-in `id` with the version read, and the sign-in's user.
/// Someone else's sign-in is "not found".
pub(super) struct Loaded {
    pub client: Client,
    pub si: SignIn,
    pub version: i64,
    pub user: Option<User>,
}

pub(super) async fn load(
    state: &AppState,
    identity: &ClientIdentity,
    id: &str,
) -> ApiResult<Loaded> {
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
    let user = match &si.user_id() {
        Some(uid) => Some(users::get(&mut conn, uid).await?.ok_or_else(|| {
            Error::client_state("the account of this sign-in no longer exists; start over")
        })?),
        None => None,
    };
    Ok(Loaded {
        client,
        si,
        version,
        user,
    })
}

/// The email address or phone number a delivered strategy named at creation goes to: the one
/// typed when it fits the channel, else the user's primary one.
fn identification_for(
    strategy: &Strategy,
    typed: &Identifier,
    user: &User,
) -> Option<vestibule_model::IdentificationId> {
    let email = strategy.channel() == Some(Channel::Email);
    let typed_id = match typed.kind {
        IdentifierKind::EmailAddress if email => user
            .email_addresses
            .iter()
            .find(|e| e.email_address == typed.value)
            .map(|e| e.id.clone()),
        IdentifierKind::PhoneNumber if !email => user
            .phone_numbers
            .iter()
            .find(|p| p.phone_number == typed.value)
            .map(|p| p.id.clone()),
        _ => None,
    };
    typed_id.or_else(|| {
        if email {
            user.primary_email_address_id.clone()
        } else {
            user.primary_phone_number_id.clone()
        }
    })
}

/// What `create` was asked, checked for consistency before anything is read.
struct Asked<'p> {
    ident: Option<Identifier>,
    /// A secret presented with the request, attempted in the same step: a password (with its
    /// identifier), or a proof that names its account (a ticket, a Google ID token).
    secret: Option<(Strategy, &'p str)>,
    /// A code or link strategy, prepared in the same step.
    delivered: Option<Strategy>,
    /// `strategy=passkey`: a challenge handed out in the same step, for the identified account's
    /// passkeys or, with no identifier, for any (discoverable and autofill sign-in).
    passkey: bool,
    redirect_url: Option<&'p str>,
}

impl<'p> Asked<'p> {
    fn parse(state: &AppState, params: &'p Params) -> ApiResult<Asked<'p>> {
        let strategy = parse_strategy(state, params)?;
        let identifier = params.non_empty("identifier")?;
        let password = params.non_empty("password")?;
        let named = strategy.clone().filter(Strategy::names_account);
        let only_with = |param: &str, strategy: &str| {
            Err(Error::param_value_invalid(
                param,
                format!("is only used with the {strategy} strategy"),
            )
            .into())
        };
        if password.is_some() && strategy.as_ref().is_some_and(|s| s != &Strategy::Password) {
            return only_with("password", "password");
        }
        for owner in [Strategy::Ticket, Strategy::GoogleOneTap] {
            let param = owner.guess_param().unwrap_or_default();
            if params.non_empty(param)?.is_some() && named.as_ref() != Some(&owner) {
                return only_with(param, &owner.as_str());
            }
        }
        if let (Some(s), Some(_)) = (&named, identifier) {
            return Err(Error::param_value_invalid(
                "identifier",
                format!(
                    "is not used with the {} strategy, which names the account itself",
                    s.as_str()
                ),
            )
            .into());
        }
        let secret = match (password, named) {
            (Some(pw), _) => Some((Strategy::Password, pw)),
            (None, Some(s)) => {
                let param = s.guess_param().unwrap_or_default();
                let proof = params
                    .non_empty(param)?
                    .ok_or_else(|| Error::param_missing(param))?;
                Some((s, proof))
            }
            (None, None) => None,
        };
        let passkey = strategy == Some(Strategy::Passkey);
        let delivered = strategy.filter(|s| s.needs_preparation() && !passkey);
        if identifier.is_none() && (password.is_some() || delivered.is_some()) {
            return Err(Error::param_missing("identifier").into());
        }
        Ok(Asked {
            ident: identifier.map(Identifier::classify).transpose()?,
            secret,
            delivered,
            passkey,
            redirect_url: params.non_empty("redirect_url")?,
        })
    }

    /// The proof presented that names its account, if one was.
    fn naming(&self) -> Option<(&Strategy, &'p str)> {
        match &self.secret {
            Some((s, proof)) if s.names_account() => Some((s, proof)),
            _ => None,
        }
    }
}

/// Whose account a proof presented at `create` names.
enum Owner {
    /// A ticket's account.
    Id(vestibule_model::UserId),
    /// The account with this verified email address (a Google ID token's).
    Email(Identifier),
}

/// What `create` reads before it decides anything.
struct Admitted {
    /// The requesting client, if it has one yet.
    existing: Option<Client>,
    /// Its signed-in sessions.
    holding: Vec<Session>,
    /// The account the identifier (or the ticket) names.
    found: Option<User>,
    /// Whether the client is trusted for that account.
    known: bool,
    /// Where a code or link strategy sends its message (or why it cannot).
    message_to: Option<Result<vestibule_model::IdentificationId, Error>>,
}

/// Reads everything `create` needs and counts every limit the request is subject to in one
/// write, before anything is decided or any password is hashed. A proof that names its account
/// (a ticket, a Google ID token) is checked to find that account, so its request is counted
/// first.
async fn admit(
    state: &AppState,
    identity: &ClientIdentity,
    ip: &ClientIp,
    asked: &Asked<'_>,
    now: Timestamp,
) -> ApiResult<Admitted> {
    let owner = match asked.naming() {
        Some((strategy, proof)) => {
            limits::check_all(
                state,
                [
                    LimitKey::SignInCreateByIp(ip.0.clone()),
                    LimitKey::AttemptByIp(ip.0.clone()),
                ],
            )
            .await?;
            Some(match strategy {
                Strategy::GoogleOneTap => {
                    Owner::Email(guesses::google_identity(state, proof).await?.email)
                }
                _ => Owner::Id(guesses::ticket_token(state, proof).await?.user_id),
            })
        }
        None => None,
    };
    let existing = identity.client(state).await?;
    let mut conn = state.store.read().await?;
    let holding = match &existing {
        Some(c) => signed_in(state, sessions::for_client(&mut conn, &c.id).await?, now),
        None => Vec::new(),
    };
    let found = match (&asked.ident, &owner) {
        (Some(i), _) => users::find_by_identifier(&mut conn, i).await?,
        (None, Some(Owner::Id(id))) => Some(
            users::get(&mut conn, id)
                .await?
                .ok_or(Error::TicketRefused(TicketRefusal::Invalid))?,
        ),
        (None, Some(Owner::Email(email))) => Some(
            users::find_by_identifier(&mut conn, email)
                .await?
                .ok_or(Error::ExternalAccountNotFound)?,
        ),
        (None, None) => None,
    };
    let known = match (&found, &existing) {
        (Some(u), Some(c)) => second_factors::is_trusted(&mut conn, &c.id, &u.id).await?,
        _ => false,
    };
    drop(conn);
    if owner.is_some() {
        return Ok(Admitted {
            existing,
            holding,
            found,
            known,
            message_to: None,
        });
    }
    let message_to = match (&asked.delivered, &asked.ident) {
        (Some(strategy), Some(typed)) => {
            let stand_in;
            let account = match &found {
                Some(u) => u,
                None => {
                    stand_in = factors::stand_in(state, typed, now);
                    &stand_in
                }
            };
            Some(identification_for(strategy, typed, account).ok_or(Error::StrategyForUserInvalid))
        }
        _ => None,
    };
    let mut limited = vec![LimitKey::SignInCreateByIp(ip.0.clone())];
    if let Some(i) = &asked.ident {
        limited.push(LimitKey::SignInCreateByIdentifier(i.value.clone()));
    }
    if asked.secret.is_some() {
        limited.push(LimitKey::AttemptByIp(ip.0.clone()));
        if let Some(u) = &found {
            limited.push(LimitKey::AttemptByUser(u.id.to_string()));
        }
    }
    if let Some(Ok(identification)) = &message_to {
        limited.push(LimitKey::MessagesToIdentification(
            identification.to_string(),
        ));
    }
    limits::check_all(state, limited).await?;
    Ok(Admitted {
        existing,
        holding,
        found,
        known,
        message_to,
    })
}

/// `POST /v1/client/sign_ins`
pub async fn create(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Extension(ip): Extension<ClientIp>,
    params: Params,
) -> ApiResult<SignInResponse> {
    let now = state.now();
    let asked = Asked::parse(&state, &params)?;
    let Admitted {
        existing,
        holding,
        found,
        known,
        message_to,
    } = admit(&state, &identity, &ip, &asked, now).await?;

    SignIn::check_client_may_sign_in(&state.settings, &held(&holding), None)?;

    let fresh_client = existing.is_none();
    let client =
        existing.unwrap_or_else(|| Client::new(ClientId::generate(state.rng.as_ref()), now));
    let mut si = SignIn::new(
        SignInId::generate(state.rng.as_ref()),
        client.id.clone(),
        now,
        &state.settings,
    );
    match (&asked.ident, &found) {
        (Some(ident), _) => si.identify(ident.clone(), found.as_ref(), &state.settings, now)?,
        (None, Some(u)) => si.identify_account(u, now)?,
        (None, None) => {}
    }
    if let Some(u) = &found {
        SignIn::check_client_may_sign_in(&state.settings, &held(&holding), Some(&u.id))?;
    }
    si.note_client_trust(known);
    let mut step = SignInStep {
        identity: &identity,
        slot: Slot::FirstFactor,
        client,
        si,
        user: found,
        write: Write::Insert {
            fresh_client,
            holding,
        },
        progress: Progress::NeedsMore,
    };

    // `create` with a password, a ticket or an ID token attempts it, and with a code or link strategy
    // prepares it, in the same step; the limits were all counted by `admit`.
    let sessions = match (asked.secret, asked.delivered, message_to) {
        _ if asked.passkey => steps::challenge(&state, &mut step).await?,
        (Some((strategy, secret)), _, _) => {
            let done = steps::attempt(&state, &mut step, strategy, secret).await?;
            if let (true, Some(u)) = (done.rehash, step.user.as_ref()) {
                upgrade_password(&state, u, secret).await;
            }
            done.saved
        }
        (None, Some(strategy), Some(identification)) => {
            let request =
                crate::codes::request(&state, strategy, identification?, asked.redirect_url)?;
            let outgoing = steps::begin(&state, &mut step, request)?;
            outgoing.send(&state, &mut step).await?
        }
        _ => {
            let tx = state.store.begin().await?;
            step.save(&state, tx).await?
        }
    };
    step.respond(&state, sessions).await
}

/// `GET /v1/client/sign_ins/{id}`: also what clerk-js polls while an email link is out.
pub async fn get(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
) -> ApiResult<SignInResponse> {
    let l = load(&state, &identity, &id).await?;
    respond(&state, &identity, &l.si, l.user.as_ref(), &l.client, None).await
}
