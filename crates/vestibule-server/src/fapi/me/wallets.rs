//! The user's own wallets, as clerk-js's `User` and `Web3Wallet` manage them: add one
//! (`createWeb3Wallet`), prove it by signing the message handed out (`prepareVerification`,
//! `attemptVerification`), and remove it (`destroy`).
//!
//! Adding and removing need a recent factor, as for phone numbers. A wallet added here is no
//! identifier or factor until a signature proves it; its verification is counted and single use
//! exactly as a sign-in's is (`guesses::signature`).

use super::{current, envelope, Me};
use crate::error::{ApiError, ApiResult};
use crate::guesses;
use crate::identity::ClientIdentity;
use crate::limits::{self, ClientIp};
use crate::mfa;
use crate::params::Params;
use crate::present;
use crate::state::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::{Extension, Json};
use vestibule_model::identifier::normalize_wallet;
use vestibule_model::rate_limit::LimitKey;
use vestibule_model::user::Web3Wallet;
use vestibule_model::verification::{
    start_code, CodeRequest, CodeVerification, NewCode, Slot, VerificationOwner,
};
use vestibule_model::{Chain, Error, IdentificationId, Strategy, User, VerificationId};
use vestibule_store::{users, verifications};
use vestibule_wire as wire;

/// Wallets one account may hold, verified or not.
const MAX_WALLETS: usize = 10;

type WalletResponse = Json<wire::Envelope<wire::Web3Wallet>>;

fn find<'a>(user: &'a User, id: &str) -> ApiResult<&'a Web3Wallet> {
    user.web3_wallets
        .iter()
        .find(|w| w.id.as_str() == id)
        .ok_or_else(|| Error::not_found_id("web3 wallet", id).into())
}

/// The wallet as clerk-js reads it; while it is being proven, its verification carries the
/// message to sign.
fn wallet_wire(
    state: &AppState,
    wallet: &Web3Wallet,
    pending: Option<&CodeVerification>,
) -> wire::Web3Wallet {
    let now = state.now();
    let verification = pending.map(|v| wire::Verification {
        object: "verification".into(),
        status: v.status_at(now).as_str().into(),
        strategy: v.strategy.as_str().into_owned(),
        attempts: Some(v.attempts),
        expire_at: Some(v.expire_at.millis()),
        message: (v.status_at(now) == vestibule_model::VerificationStatus::Unverified)
            .then(|| state.secrets.message_to_sign(v.id.as_str())),
        ..wire::Verification::default()
    });
    present::web3_wallet(wallet, now, verification)
}

/// `POST /v1/me/web3_wallets` with `web3_wallet`: added unverified.
pub async fn create(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    RawQuery(query): RawQuery,
    params: Params,
) -> ApiResult<WalletResponse> {
    let Me {
        client,
        session,
        user,
    } = current(&state, &identity, query.as_deref()).await?;
    if !state.settings.web3.any() {
        return Err(Error::ResourceForbidden {
            reason: "Web3 wallets are not enabled on this instance".into(),
        }
        .into());
    }
    mfa::check_recent_verification(&state, &session, &user, state.now())?;
    let address = normalize_wallet(params.required("web3_wallet")?).ok_or_else(|| {
        ApiError(Error::param_format_invalid(
            "web3_wallet",
            "must be an Ethereum address (0x and 40 hex digits) or a Solana address",
        ))
    })?;
    if user.web3_wallets.len() >= MAX_WALLETS {
        return Err(Error::param_value_invalid(
            "web3_wallet",
            format!("cannot be added: an account holds at most {MAX_WALLETS} wallets"),
        )
        .into());
    }
    let now = state.now();
    let wallet = Web3Wallet {
        id: IdentificationId::generate(state.rng.as_ref()),
        web3_wallet: address,
        verified: false,
        verification_strategy: None,
        created_at: now,
    };
    let mut tx = state.store.begin().await?;
    users::insert_web3_wallet(&mut tx, &user.id, &wallet).await?;
    tx.commit().await?;
    let response = wallet_wire(&state, &wallet, None);
    envelope(&state, &identity, &client, response).await
}

/// `POST /v1/me/web3_wallets/{id}/prepare_verification` with `strategy` (one of the wallet
/// strategies switched on, of the wallet's chain): hands out a message to sign.
pub async fn prepare_verification(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    params: Params,
) -> ApiResult<WalletResponse> {
    let Me { client, user, .. } = current(&state, &identity, query.as_deref()).await?;
    let wallet = find(&user, &id)?;
    if wallet.verified {
        return Err(Error::VerificationAlreadyVerified.into());
    }
    let raw = params.required("strategy")?;
    let strategy = Strategy::parse(raw)
        .filter(|s| wallet.strategies(&state.settings).contains(s))
        .ok_or_else(|| {
            Error::param_value_invalid(
                "strategy",
                format!("{raw} is not a wallet strategy this instance takes for this address"),
            )
        })?;
    limits::check(&state, LimitKey::AttemptByUser(user.id.to_string())).await?;
    let (v, _) = start_code(
        NewCode {
            id: VerificationId::generate(state.rng.as_ref()),
            owner: VerificationOwner::Identification(wallet.id.clone()),
            user_id: Some(user.id.clone()),
            slot: Slot::FirstFactor,
            request: CodeRequest {
                strategy,
                identification: wallet.id.clone(),
                redirect_url: None,
            },
        },
        None,
        &state.settings,
        state.now(),
    )?;
    let mut tx = state.store.begin().await?;
    verifications::insert(&mut tx, &v, None, None).await?;
    tx.commit().await?;
    let response = wallet_wire(&state, wallet, Some(&v));
    envelope(&state, &identity, &client, response).await
}

/// `POST /v1/me/web3_wallets/{id}/attempt_verification` with `signature`: the wallet is the
/// user's. The first verified wallet becomes the primary one.
pub async fn attempt_verification(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Extension(ip): Extension<ClientIp>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    params: Params,
) -> ApiResult<WalletResponse> {
    let Me {
        client, mut user, ..
    } = current(&state, &identity, query.as_deref()).await?;
    let signature = params.required("signature")?;
    let wallet = find(&user, &id)?.clone();
    if wallet.verified {
        return Err(Error::VerificationAlreadyVerified.into());
    }
    limits::check_all(
        &state,
        [
            LimitKey::AttemptByIp(ip.0.clone()),
            LimitKey::AttemptByUser(user.id.to_string()),
        ],
    )
    .await?;
    let mut conn = state.store.read().await?;
    let pending = verifications::latest_for_owner(
        &mut conn,
        &VerificationOwner::Identification(wallet.id.clone()),
    )
    .await?
    .filter(|v| v.strategy.chain() == Some(Chain::of_address(&wallet.web3_wallet)))
    .ok_or(Error::VerificationMissing)?;
    drop(conn);
    let (mut checked, proven) = guesses::signature(
        &state,
        &pending.strategy,
        &pending.id,
        &wallet.id,
        &user,
        signature,
    )
    .await?;
    let now = state.now();
    let strategy = pending.strategy.as_str();
    let mut tx = state.store.begin().await?;
    proven.settle(&state, &mut tx, Some(&client.id)).await?;
    if !users::mark_web3_wallet_verified(&mut tx, &user.id, &wallet.id, &strategy).await? {
        return Err(Error::not_found_id("web3 wallet", id).into());
    }
    if user.primary_web3_wallet_id.is_none() {
        user.primary_web3_wallet_id = Some(wallet.id.clone());
        user.updated_at = now;
        users::update(&mut tx, &user).await?;
    }
    tx.commit().await?;
    let mut verified = wallet;
    verified.verified = true;
    verified.verification_strategy = Some(strategy.into_owned());
    checked.status = vestibule_model::VerificationStatus::Verified;
    let response = wallet_wire(&state, &verified, Some(&checked));
    envelope(&state, &identity, &client, response).await
}

/// `DELETE /v1/me/web3_wallets/{id}` (clerk-js sends `POST …?_method=DELETE`)
pub async fn delete(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<wire::Envelope<wire::DeletedObject>>> {
    let Me {
        client,
        session,
        mut user,
    } = current(&state, &identity, query.as_deref()).await?;
    mfa::check_recent_verification(&state, &session, &user, state.now())?;
    let wallet = find(&user, &id)?.clone();
    if wallet.verified && !user.identifiable_without(&wallet.id) {
        return Err(Error::LastIdentificationDeletionFailed.into());
    }
    let mut tx = state.store.begin().await?;
    if !users::delete_web3_wallet(&mut tx, &user.id, &wallet.id).await? {
        return Err(Error::not_found_id("web3 wallet", id).into());
    }
    if user.primary_web3_wallet_id.as_ref() == Some(&wallet.id) {
        user.primary_web3_wallet_id = user
            .web3_wallets
            .iter()
            .find(|w| w.verified && w.id != wallet.id)
            .map(|w| w.id.clone());
        user.updated_at = state.now();
        users::update(&mut tx, &user).await?;
    }
    tx.commit().await?;
    let deleted = wire::DeletedObject {
        object: "web3_wallet".into(),
        id: wallet.id.to_string(),
        deleted: true,
    };
    envelope(&state, &identity, &client, deleted).await
}
