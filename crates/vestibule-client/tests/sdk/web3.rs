//! Sign-in without a shared secret: wallets through the SDK's `authenticate_with_*` helpers,
//! with real signers (k256 for `personal_sign`, ring for Solana's ed25519), and Google One Tap.

use crate::harness::*;
use base64::Engine as _;
use ring::signature::{Ed25519KeyPair, KeyPair};
use vestibule_client::{ClerkError, SignInStatus, SignatureRequest, SignerError, Web3Wallet};
use vestibule_crypto::web3::{personal_sign_hash, EthAddress};

fn eth_key(seed: u8) -> k256::ecdsa::SigningKey {
    k256::ecdsa::SigningKey::from_slice(&[seed; 32]).expect("key")
}

fn eth_address(key: &k256::ecdsa::SigningKey) -> String {
    EthAddress::of_key(key.verifying_key()).checksummed()
}

/// What a wallet's `personal_sign` answers.
fn personal_sign(key: &k256::ecdsa::SigningKey, message: &str) -> String {
    let (sig, recovery) = key
        .sign_prehash_recoverable(&personal_sign_hash(message.as_bytes()))
        .expect("sign");
    let mut raw = sig.to_bytes().to_vec();
    raw.push(27 + recovery.to_byte());
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    format!("0x{hex}")
}

async fn sign_eth(
    key: &k256::ecdsa::SigningKey,
    req: SignatureRequest,
) -> Result<String, SignerError> {
    Ok(personal_sign(key, &req.nonce))
}

#[tokio::test]
async fn each_wallet_helper_signs_in() {
    let server = TestServer::start_with(|c| {
        let w = &mut c.settings.web3;
        (
            w.metamask,
            w.coinbase_wallet,
            w.okx_wallet,
            w.base,
            w.solana,
        ) = (true, true, true, true, true);
    })
    .await;
    let key = eth_key(21);
    let sol = Ed25519KeyPair::from_seed_unchecked(&[22; 32]).expect("key");
    let sol_address = bs58::encode(sol.public_key().as_ref()).into_string();
    let user = server
        .wallet_user(&[eth_address(&key), sol_address.clone()])
        .await;

    for wallet in [
        Web3Wallet::Metamask,
        Web3Wallet::CoinbaseWallet,
        Web3Wallet::OkxWallet,
        Web3Wallet::Base,
        Web3Wallet::Solana,
    ] {
        let clerk = server.clerk();
        clerk.load().await.expect("load");
        let sign_in = clerk.sign_in();
        let si = match wallet {
            Web3Wallet::Metamask => {
                sign_in
                    .authenticate_with_metamask(&eth_address(&key), |r| sign_eth(&key, r))
                    .await
            }
            Web3Wallet::CoinbaseWallet => {
                sign_in
                    .authenticate_with_coinbase_wallet(&eth_address(&key), |r| sign_eth(&key, r))
                    .await
            }
            Web3Wallet::OkxWallet => {
                sign_in
                    .authenticate_with_okx_wallet(&eth_address(&key), |r| sign_eth(&key, r))
                    .await
            }
            Web3Wallet::Base => {
                sign_in
                    .authenticate_with_base(&eth_address(&key), |r| sign_eth(&key, r))
                    .await
            }
            Web3Wallet::Solana => {
                sign_in
                    .authenticate_with_solana(&sol_address, |r: SignatureRequest| {
                        let sig = sol.sign(r.nonce.as_bytes());
                        async move {
                            Ok::<_, SignerError>(
                                base64::engine::general_purpose::STANDARD.encode(sig),
                            )
                        }
                    })
                    .await
            }
        }
        .unwrap_or_else(|e| panic!("{wallet:?}: {e}"));
        assert_eq!(si.status, SignInStatus::Complete, "{wallet:?}");
        let sid = si.created_session_id.clone().expect("session");
        clerk.set_active(&sid).await.expect("set_active");
        let jwt = clerk.get_token().await.expect("token").expect("a token");
        assert_eq!(claims(&jwt)["sub"], user["id"], "{wallet:?}");
    }

    // Another wallet's signature is the server's refusal; a wallet that declines is the SDK's.
    let clerk = server.clerk();
    clerk.load().await.expect("load");
    let stranger = eth_key(23);
    let err = clerk
        .sign_in()
        .authenticate_with_metamask(&eth_address(&key), |r| sign_eth(&stranger, r))
        .await
        .expect_err("not the wallet's signature");
    assert_eq!(err.code(), Some("form_param_value_invalid"));
    assert_eq!(err.errors()[0].param_name(), Some("signature"));
    let err = clerk
        .sign_in()
        .authenticate_with_base(&eth_address(&key), |_| async {
            Err::<String, SignerError>("the user rejected the request".into())
        })
        .await
        .expect_err("declined");
    assert!(matches!(err, ClerkError::Wallet(_)), "{err:?}");
    let err = clerk
        .sign_in()
        .authenticate_with_metamask(&eth_address(&eth_key(24)), |r| sign_eth(&key, r))
        .await
        .expect_err("nobody's wallet");
    assert_eq!(err.code(), Some("form_identifier_not_found"));
}

/// One Tap through `SignInCreateParams::google_one_tap`, with ID tokens signed by a key a local
/// JWKS endpoint publishes.
#[tokio::test]
async fn a_google_one_tap_token_signs_in_once() {
    let key = vestibule_crypto::SigningKey::generate("google-sdk-1".into()).expect("key");
    let jwks = serde_json::json!({ "keys": [key.public_jwk()] });
    let app = axum::Router::new().route(
        "/certs",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            async move { axum::Json(jwks) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let jwks_url = format!("http://{}/certs", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client_id = "sdk-test.apps.googleusercontent.com";
    let server = TestServer::start_with(|c| {
        c.settings.google_one_tap.client_id = Some(client_id.into());
        c.settings.google_one_tap.jwks_url = jwks_url;
    })
    .await;
    let user = server.user("tap@example.com").await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs() as i64;
    let token = key
        .sign_jwt(&serde_json::json!({
            "iss": "https://accounts.google.com", "aud": client_id, "sub": "1",
            "email": "tap@example.com", "email_verified": true, "iat": now, "exp": now + 600,
        }))
        .expect("sign");

    let clerk = server.clerk();
    clerk.load().await.expect("load");
    let si = clerk
        .sign_in()
        .create(vestibule_client::SignInCreateParams::google_one_tap(&token))
        .await
        .expect("one tap");
    assert_eq!(si.status, SignInStatus::Complete);
    clerk
        .set_active(&si.created_session_id.clone().expect("session"))
        .await
        .expect("set_active");
    let jwt = clerk.get_token().await.expect("token").expect("a token");
    assert_eq!(claims(&jwt)["sub"], user["id"]);

    let again = server
        .clerk()
        .sign_in()
        .create(vestibule_client::SignInCreateParams::google_one_tap(&token))
        .await
        .expect_err("used once");
    assert_eq!(again.code(), Some("form_param_value_invalid"));
    assert_eq!(again.errors()[0].param_name(), Some("token"));
}
