//! Clerk's Frontend API: what clerk-js and the mobile SDKs call.

mod client;
mod me;
mod reverification;
mod sessions;
mod sign_ins;
mod verify;
mod view;

use crate::identity::fapi_identity;
use crate::state::AppState;
use axum::routing::{get, post};
use axum::Router;

pub use view::client_view;

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/v1/dev_browser", post(client::create_dev_browser))
        .route(
            "/v1/environment",
            get(client::environment).patch(client::environment),
        )
        .route(
            "/v1/client",
            get(client::get_client)
                .put(client::put_client)
                .delete(client::delete_client),
        )
        .route("/v1/verify", get(verify::verify))
        .route(
            "/v1/me",
            get(me::get).patch(me::update).delete(me::account::delete),
        )
        .route("/v1/me/change_password", post(me::account::change_password))
        .route("/v1/me/remove_password", post(me::account::remove_password))
        .route("/v1/me/sessions", get(me::sessions::list))
        .route("/v1/me/sessions/active", get(me::sessions::active))
        .route("/v1/me/sessions/{id}/revoke", post(me::sessions::revoke))
        .route("/v1/me/email_addresses", post(me::emails::create))
        .route("/v1/me/email_addresses/", post(me::emails::create))
        .route(
            "/v1/me/email_addresses/{id}",
            get(me::emails::get).delete(me::emails::delete),
        )
        .route(
            "/v1/me/email_addresses/{id}/prepare_verification",
            post(me::emails::prepare_verification),
        )
        .route(
            "/v1/me/email_addresses/{id}/attempt_verification",
            post(me::emails::attempt_verification),
        )
        .route("/v1/me/metadata", axum::routing::patch(me::merge_metadata))
        .route(
            "/v1/me/totp",
            post(me::mfa::create_totp).delete(me::mfa::delete_totp),
        )
        .route(
            "/v1/me/totp/attempt_verification",
            post(me::mfa::verify_totp),
        )
        .route("/v1/me/backup_codes", post(me::mfa::create_backup_codes))
        .route("/v1/me/backup_codes/", post(me::mfa::create_backup_codes))
        .route("/v1/me/phone_numbers", post(me::phones::create))
        .route("/v1/me/phone_numbers/", post(me::phones::create))
        .route(
            "/v1/me/phone_numbers/{id}",
            axum::routing::patch(me::phones::update).delete(me::phones::delete),
        )
        .route(
            "/v1/me/phone_numbers/{id}/prepare_verification",
            post(me::phones::prepare_verification),
        )
        .route(
            "/v1/me/phone_numbers/{id}/attempt_verification",
            post(me::phones::attempt_verification),
        )
        .route("/v1/me/passkeys", post(me::passkeys::create))
        .route("/v1/me/passkeys/", post(me::passkeys::create))
        .route(
            "/v1/me/passkeys/{id}",
            axum::routing::patch(me::passkeys::update).delete(me::passkeys::delete),
        )
        .route(
            "/v1/me/passkeys/{id}/attempt_verification",
            post(me::passkeys::attempt_verification),
        )
        .route("/v1/me/web3_wallets", post(me::wallets::create))
        .route("/v1/me/web3_wallets/", post(me::wallets::create))
        .route(
            "/v1/me/web3_wallets/{id}",
            axum::routing::delete(me::wallets::delete),
        )
        .route(
            "/v1/me/web3_wallets/{id}/prepare_verification",
            post(me::wallets::prepare_verification),
        )
        .route(
            "/v1/me/web3_wallets/{id}/attempt_verification",
            post(me::wallets::attempt_verification),
        )
        .route("/v1/client/sign_ins", post(sign_ins::create))
        .route("/v1/client/sign_ins/{id}", get(sign_ins::get))
        .route(
            "/v1/client/sign_ins/{id}/prepare_first_factor",
            post(sign_ins::prepare_first_factor),
        )
        .route(
            "/v1/client/sign_ins/{id}/attempt_first_factor",
            post(sign_ins::attempt_first_factor),
        )
        .route(
            "/v1/client/sign_ins/{id}/prepare_second_factor",
            post(sign_ins::prepare_second_factor),
        )
        .route(
            "/v1/client/sign_ins/{id}/attempt_second_factor",
            post(sign_ins::attempt_second_factor),
        )
        .route(
            "/v1/client/sign_ins/{id}/reset_password",
            post(sign_ins::reset_password),
        )
        .route(
            "/v1/client/sessions",
            axum::routing::delete(sessions::remove_all),
        )
        .route("/v1/client/sessions/{id}", get(sessions::get))
        .route("/v1/client/sessions/{id}/touch", post(sessions::touch))
        .route("/v1/client/sessions/{id}/tokens", post(sessions::tokens))
        .route(
            "/v1/client/sessions/{id}/tokens/{template}",
            post(sessions::template_tokens),
        )
        .route("/v1/client/sessions/{id}/end", post(sessions::end))
        .route(
            "/v1/client/sessions/{id}/verify",
            post(reverification::start),
        )
        .route(
            "/v1/client/sessions/{id}/verify/prepare_first_factor",
            post(reverification::prepare_first_factor),
        )
        .route(
            "/v1/client/sessions/{id}/verify/attempt_first_factor",
            post(reverification::attempt_first_factor),
        )
        .route(
            "/v1/client/sessions/{id}/verify/prepare_second_factor",
            post(reverification::prepare_second_factor),
        )
        .route(
            "/v1/client/sessions/{id}/verify/attempt_second_factor",
            post(reverification::attempt_second_factor),
        )
        .route("/v1/client/sessions/{id}/remove", post(sessions::remove))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            fapi_identity,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            crate::limits::client_ip,
        ))
}
