//! The user's own passkeys, as clerk-js's `User.createPasskey` and `Passkey` manage them:
//! registration (creation options in the verification's `nonce`, then the authenticator's answer
//! checked by the relying party), rename, and delete.
//!
//! A registration is single use: completing it is one conditional statement on the unverified
//! row, so of two answers to one ceremony at most one registers a credential, and a credential
//! already registered (to anyone) is refused.

use super::{current, envelope, Me};
use crate::error::ApiResult;
use crate::identity::ClientIdentity;
use crate::limits;
use crate::mfa;
use crate::params::Params;
use crate::present;
use crate::state::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::{Extension, Json};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use vestibule_crypto::passkey::PasskeyError;
use vestibule_model::rate_limit::LimitKey;
use vestibule_model::user::Passkey;
use vestibule_model::verification::PASSKEY_CHALLENGE_SECONDS;
use vestibule_model::{Error, IdentificationId, User};
use vestibule_store::passkeys::{self, Credential, NewRegistration};
use vestibule_store::StoreError;
use vestibule_wire as wire;

type PasskeyResponse = Json<wire::Envelope<wire::Passkey>>;

const PARAM: &str = "public_key_credential";
/// Characters in a passkey's name.
const MAX_NAME_CHARS: usize = 100;

fn find<'a>(user: &'a User, id: &str) -> ApiResult<&'a Passkey> {
    user.passkeys
        .iter()
        .find(|p| p.id.as_str() == id)
        .ok_or_else(|| Error::not_found_id("passkey", id).into())
}

/// What the authenticator shows the account as: its primary email address, phone number or
/// username.
fn account_name(user: &User) -> String {
    user.primary_identifier()
        .map(|i| i.value)
        .unwrap_or_else(|| user.id.to_string())
}

/// `POST /v1/me/passkeys`: starts a registration; the passkey's verification carries the
/// creation options.
pub async fn create(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    RawQuery(query): RawQuery,
) -> ApiResult<PasskeyResponse> {
    let Me { client, user, .. } = current(&state, &identity, query.as_deref()).await?;
    let rp = state
        .relying_party()
        .map_err(|_| Error::ResourceForbidden {
            reason: "passkeys are not enabled on this instance".into(),
        })?;
    let registered = user.passkeys.iter().filter(|p| p.verified).count();
    let max = state.settings.passkeys.max_per_user;
    if registered >= max {
        return Err(Error::param_value_invalid(
            "passkey",
            format!("cannot be added: an account holds at most {max} passkeys"),
        )
        .into());
    }
    limits::check(&state, LimitKey::AttemptByUser(user.id.to_string())).await?;
    let mut conn = state.store.read().await?;
    let exclude: Vec<Vec<u8>> = passkeys::credential_ids(&mut conn, &user.id)
        .await?
        .iter()
        .filter_map(|id| URL_SAFE_NO_PAD.decode(id).ok())
        .collect();
    drop(conn);
    let handle = state.secrets.passkey_user_handle(user.id.as_str());
    let ceremony = rp
        .start_registration(&handle, &account_name(&user), &exclude)
        .map_err(|e| Error::internal(e.to_string()))?;
    let now = state.now();
    let passkey = Passkey {
        id: IdentificationId::generate(state.rng.as_ref()),
        name: format!("Passkey {}", registered + 1),
        verified: false,
        last_used_at: None,
        created_at: now,
        updated_at: now,
    };
    let expire_at = now.plus_seconds(PASSKEY_CHALLENGE_SECONDS);
    let mut tx = state.store.begin().await?;
    // One registration in flight per account: an abandoned one is forgotten.
    passkeys::delete_unfinished(&mut tx, &user.id).await?;
    passkeys::insert_registration(
        &mut tx,
        &NewRegistration {
            id: &passkey.id,
            user_id: &user.id,
            name: &passkey.name,
            ceremony: &URL_SAFE_NO_PAD.encode(&ceremony.state),
            nonce: &ceremony.options_json,
            expire_at,
            now,
        },
    )
    .await?;
    tx.commit().await?;
    let response = present::passkey(&passkey, Some((&ceremony.options_json, expire_at)));
    envelope(&state, &identity, &client, response).await
}

/// `POST /v1/me/passkeys/{id}/attempt_verification` with `strategy=passkey` and
/// `public_key_credential`: the authenticator's answer, verified and registered once.
pub async fn attempt_verification(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    params: Params,
) -> ApiResult<PasskeyResponse> {
    let Me { client, user, .. } = current(&state, &identity, query.as_deref()).await?;
    let rp = state.relying_party()?;
    if let Some(s) = params.non_empty("strategy")? {
        if s != "passkey" {
            return Err(Error::param_value_invalid("strategy", "must be passkey").into());
        }
    }
    let credential = params.required(PARAM)?;
    let passkey = find(&user, &id)?.clone();
    let now = state.now();
    let mut conn = state.store.read().await?;
    let pending = passkeys::pending_registration(&mut conn, &user.id, &passkey.id).await?;
    drop(conn);
    let pending = pending.ok_or(Error::VerificationAlreadyVerified)?;
    if now >= pending.expire_at {
        return Err(Error::VerificationExpired.into());
    }
    let state_bytes = URL_SAFE_NO_PAD
        .decode(&pending.ceremony)
        .map_err(|_| Error::internal("stored passkey ceremony is unreadable"))?;
    let created = rp
        .finish_registration(&state_bytes, credential)
        .map_err(|e| match e {
            PasskeyError::Malformed(_) => Error::param_format_invalid(
                PARAM,
                "is not a WebAuthn credential (PublicKeyCredential JSON)",
            ),
            PasskeyError::Expired => Error::VerificationExpired,
            other => Error::param_value_invalid(
                PARAM,
                format!("does not answer this registration: {other}"),
            ),
        })?;
    let mut tx = state.store.begin().await?;
    let done = passkeys::complete_registration(
        &mut tx,
        &user.id,
        &passkey.id,
        Credential {
            credential_id: &URL_SAFE_NO_PAD.encode(&created.credential_id),
            public_key: &URL_SAFE_NO_PAD.encode(&created.public_key),
            dynamic_state: &URL_SAFE_NO_PAD.encode(&created.dynamic_state),
        },
        now,
    )
    .await
    .map_err(|e| match e {
        StoreError::Conflict { .. } => {
            Error::param_value_invalid(PARAM, "is a passkey registered already").into()
        }
        other => crate::error::ApiError::from(other),
    })?;
    if !done {
        return Err(Error::VerificationAlreadyVerified.into());
    }
    tx.commit().await?;
    let registered = Passkey {
        verified: true,
        updated_at: now,
        ..passkey
    };
    let response = present::passkey(&registered, None);
    envelope(&state, &identity, &client, response).await
}

/// `PATCH /v1/me/passkeys/{id}` with `name` (clerk-js sends `POST …?_method=PATCH`).
pub async fn update(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    params: Params,
) -> ApiResult<PasskeyResponse> {
    let Me { client, user, .. } = current(&state, &identity, query.as_deref()).await?;
    let passkey = find(&user, &id)?.clone();
    let name = params.required("name")?.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::param_value_invalid(
            "name",
            format!("must be 1 to {MAX_NAME_CHARS} characters"),
        )
        .into());
    }
    let now = state.now();
    let mut tx = state.store.begin().await?;
    if !passkeys::rename(&mut tx, &user.id, &passkey.id, name, now).await? {
        return Err(Error::not_found_id("passkey", id).into());
    }
    tx.commit().await?;
    let renamed = Passkey {
        name: name.to_owned(),
        updated_at: now,
        ..passkey
    };
    let response = present::passkey(&renamed, None);
    envelope(&state, &identity, &client, response).await
}

/// `DELETE /v1/me/passkeys/{id}` (clerk-js sends `POST …?_method=DELETE`, also for the
/// unfinished registration of a failed `createPasskey`). A registered passkey needs a recent
/// factor to delete.
pub async fn delete(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<wire::Envelope<wire::DeletedObject>>> {
    let Me {
        client,
        session,
        user,
    } = current(&state, &identity, query.as_deref()).await?;
    let passkey = find(&user, &id)?.clone();
    if passkey.verified {
        mfa::check_recent_verification(&state, &session, &user, state.now())?;
    }
    let mut tx = state.store.begin().await?;
    if !passkeys::delete(&mut tx, &user.id, &passkey.id).await? {
        return Err(Error::not_found_id("passkey", id).into());
    }
    tx.commit().await?;
    let deleted = wire::DeletedObject {
        object: "passkey".into(),
        id: passkey.id.to_string(),
        deleted: true,
    };
    envelope(&state, &identity, &client, deleted).await
}
