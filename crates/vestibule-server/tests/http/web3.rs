//! Wallet sign-in: `create {identifier: <address>}`, `prepare_first_factor` hands out a message,
//! `attempt_first_factor {signature}` by real signers (k256 for the four Ethereum wallets, ring's
//! ed25519 for Solana); wallets on users through the Backend API and `/v1/me/web3_wallets`.

use crate::harness::{each_backend, test_settings, verify, Fapi, TestServer};
use base64::Engine as _;
use reqwest::Method;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{json, Value};
use std::sync::Arc;
use vestibule_crypto::web3::{personal_sign_hash, EthAddress};
use vestibule_model::Settings;

/// An Ethereum wallet: what its `personal_sign` answers.
pub struct EthWallet(k256::ecdsa::SigningKey);

impl EthWallet {
    pub fn new(seed: u8) -> EthWallet {
        EthWallet(k256::ecdsa::SigningKey::from_slice(&[seed; 32]).expect("key"))
    }

    /// EIP-55 mixed case, as wallets show it.
    pub fn address(&self) -> String {
        EthAddress::of_key(self.0.verifying_key()).checksummed()
    }

    pub fn sign(&self, message: &str) -> String {
        let (sig, recovery) = self
            .0
            .sign_prehash_recoverable(&personal_sign_hash(message.as_bytes()))
            .expect("sign");
        let mut raw = sig.to_bytes().to_vec();
        raw.push(27 + recovery.to_byte());
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        format!("0x{hex}")
    }
}

/// A Solana wallet: ed25519 over the message's bytes, the signature in base64 as clerk-js sends it.
pub struct SolWallet(Ed25519KeyPair);

impl SolWallet {
    pub fn new(seed: u8) -> SolWallet {
        SolWallet(Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).expect("key"))
    }

    pub fn address(&self) -> String {
        bs58::encode(self.0.public_key().as_ref()).into_string()
    }

    pub fn sign(&self, message: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0.sign(message.as_bytes()))
    }
}

fn wallet_settings() -> Settings {
    let mut s = test_settings();
    s.web3.metamask = true;
    s.web3.coinbase_wallet = true;
    s.web3.okx_wallet = true;
    s.web3.base = true;
    s.web3.solana = true;
    s
}

async fn wallet_user(server: &TestServer, wallets: &[String]) -> Value {
    let (status, user) = server
        .bapi(
            Method::POST,
            "/v1/users",
            Some(json!({ "web3_wallet": wallets, "skip_password_requirement": true })),
        )
        .await;
    assert_eq!(status, 200, "{user}");
    user
}

/// `create` with the address, then `prepare_first_factor` for `strategy`: the sign-in's id and
/// the message to sign.
async fn prepare(fapi: &Fapi, address: &str, strategy: &str) -> (String, String) {
    let r = fapi
        .post("/v1/client/sign_ins", &[("identifier", address)])
        .await;
    let si = &r.ok()["response"];
    assert_eq!(si["status"], "needs_first_factor", "{si}");
    let factor = si["supported_first_factors"]
        .as_array()
        .expect("factors")
        .iter()
        .find(|f| f["strategy"] == strategy)
        .unwrap_or_else(|| panic!("{strategy} offered: {si}"))
        .clone();
    let wallet_id = factor["web3_wallet_id"].as_str().expect("web3_wallet_id");
    assert!(wallet_id.starts_with("idn_"), "{factor}");
    let id = si["id"].as_str().expect("id").to_owned();
    let r = fapi
        .post(
            &format!("/v1/client/sign_ins/{id}/prepare_first_factor"),
            &[("strategy", strategy), ("web3_wallet_id", wallet_id)],
        )
        .await;
    let v = &r.ok()["response"]["first_factor_verification"];
    assert_eq!(v["status"], "unverified", "{v}");
    assert_eq!(v["strategy"], strategy);
    let message = v["message"].as_str().expect("message").to_owned();
    assert!(
        message.len() >= 40 && message.is_ascii(),
        "a 256-bit ASCII nonce: {message}"
    );
    (id, message)
}

async fn attempt(fapi: &Fapi, id: &str, strategy: &str, signature: &str) -> crate::harness::Reply {
    fapi.post(
        &format!("/v1/client/sign_ins/{id}/attempt_first_factor"),
        &[("strategy", strategy), ("signature", signature)],
    )
    .await
}

#[tokio::test]
async fn each_wallet_signs_in_and_each_refusal_says_why() {
    each_backend(|b| async move {
        let server = TestServer::with_settings(b, wallet_settings()).await;
        let eth = EthWallet::new(7);
        let sol = SolWallet::new(8);
        let user = wallet_user(&server, &[eth.address(), sol.address()]).await;
        let uid = user["id"].as_str().expect("id");
        let wallets = user["web3_wallets"].as_array().expect("wallets");
        assert_eq!(wallets.len(), 2, "{user}");
        assert_eq!(
            wallets[0]["web3_wallet"],
            eth.address().to_ascii_lowercase(),
            "Ethereum addresses are kept lowercase"
        );
        assert_eq!(wallets[1]["web3_wallet"], sol.address());
        assert_eq!(user["primary_web3_wallet_id"], wallets[0]["id"]);

        for (strategy, address) in [
            ("web3_metamask_signature", eth.address()),
            ("web3_coinbase_wallet_signature", eth.address()),
            (
                "web3_okx_wallet_signature",
                eth.address().to_ascii_lowercase(),
            ),
            (
                "web3_base_signature",
                eth.address().to_ascii_uppercase().replace("0X", "0x"),
            ),
            ("web3_solana_signature", sol.address()),
        ] {
            let fapi = server.native();
            let (id, message) = prepare(&fapi, &address, strategy).await;
            let signature = if strategy == "web3_solana_signature" {
                sol.sign(&message)
            } else {
                eth.sign(&message)
            };
            let r = attempt(&fapi, &id, strategy, &signature).await;
            let si = &r.ok()["response"];
            assert_eq!(si["status"], "complete", "{strategy}: {si}");
            assert_eq!(si["first_factor_verification"]["status"], "verified");
            assert_eq!(si["first_factor_verification"]["strategy"], strategy);
            let sid = si["created_session_id"].as_str().expect("session");
            let jwt = fapi.token_for(sid).await.ok()["jwt"]
                .as_str()
                .expect("jwt")
                .to_owned();
            assert_eq!(verify(&server, &jwt).await["sub"], uid, "{strategy}");
            // The same signature again: the sign-in is done, nothing more to prove.
            attempt(&fapi, &id, strategy, &signature)
                .await
                .err(400, "client_state_invalid");
        }

        // The Solana wallet offers only its own strategy, the Ethereum one only theirs.
        let fapi = server.native();
        let r = fapi
            .post("/v1/client/sign_ins", &[("identifier", &sol.address())])
            .await;
        let offered: Vec<String> = r.ok()["response"]["supported_first_factors"]
            .as_array()
            .expect("factors")
            .iter()
            .map(|f| f["strategy"].as_str().expect("strategy").to_owned())
            .collect();
        assert_eq!(offered, ["web3_solana_signature"]);

        // Another wallet's signature, a malformed one, and a message handed out before the
        // current one are refused, and each counts.
        let fapi = server.native();
        let (id, message) = prepare(&fapi, &eth.address(), "web3_metamask_signature").await;
        let stranger = EthWallet::new(9);
        let r = attempt(
            &fapi,
            &id,
            "web3_metamask_signature",
            &stranger.sign(&message),
        )
        .await;
        r.err(422, "form_param_value_invalid");
        assert_eq!(r.param(), "signature");
        let r = attempt(&fapi, &id, "web3_metamask_signature", "0x1234").await;
        r.err(422, "form_param_format_invalid");
        assert_eq!(r.param(), "signature");
        let r = fapi.get(&format!("/v1/client/sign_ins/{id}")).await;
        assert_eq!(
            r.ok()["response"]["first_factor_verification"]["attempts"],
            2
        );
        let r = fapi
            .post(
                &format!("/v1/client/sign_ins/{id}/prepare_first_factor"),
                &[
                    ("strategy", "web3_metamask_signature"),
                    ("web3_wallet_id", wallets[0]["id"].as_str().expect("id")),
                ],
            )
            .await;
        let fresh = r.ok()["response"]["first_factor_verification"]["message"]
            .as_str()
            .expect("message")
            .to_owned();
        assert_ne!(fresh, message, "every preparation hands out a new message");
        attempt(&fapi, &id, "web3_metamask_signature", &eth.sign(&message))
            .await
            .err(422, "form_param_value_invalid");
        // Solana: base58 address, base64 signature; hex is malformed there.
        let fapi_sol = server.native();
        let (sid, smsg) = prepare(&fapi_sol, &sol.address(), "web3_solana_signature").await;
        attempt(&fapi_sol, &sid, "web3_solana_signature", &eth.sign(&smsg))
            .await
            .err(422, "form_param_format_invalid");
        attempt(
            &fapi_sol,
            &sid,
            "web3_solana_signature",
            &SolWallet::new(10).sign(&smsg),
        )
        .await
        .err(422, "form_param_value_invalid");

        // A message allows as many attempts as a code, then it is spent: even its right
        // signature is refused.
        let max = server.state.settings.codes.max_attempts;
        for _ in 1..max {
            attempt(&fapi, &id, "web3_metamask_signature", "0x00")
                .await
                .err(422, "form_param_format_invalid");
        }
        attempt(&fapi, &id, "web3_metamask_signature", &eth.sign(&fresh))
            .await
            .err(400, "verification_failed");

        // An expired message.
        let fapi = server.native();
        let (id, message) = prepare(&fapi, &eth.address(), "web3_base_signature").await;
        server
            .clock
            .advance_seconds(server.state.settings.codes.lifetime_seconds + 1);
        attempt(&fapi, &id, "web3_base_signature", &eth.sign(&message))
            .await
            .err(400, "verification_expired");

        // A wallet nobody has: not found, so clerk-js can offer sign-up.
        server
            .native()
            .post(
                "/v1/client/sign_ins",
                &[("identifier", &EthWallet::new(11).address())],
            )
            .await
            .err(422, "form_identifier_not_found");
        // Attempting without preparing, and a strategy switched off.
        let fapi = server.native();
        let r = fapi
            .post("/v1/client/sign_ins", &[("identifier", &eth.address())])
            .await;
        let id = r.ok()["response"]["id"].as_str().expect("id").to_owned();
        attempt(&fapi, &id, "web3_okx_wallet_signature", &eth.sign("x"))
            .await
            .err(400, "verification_missing");
    })
    .await;
}

#[tokio::test]
async fn wallets_are_off_until_switched_on() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let eth = EthWallet::new(12);
        wallet_user(&server, &[eth.address()]).await;
        server
            .native()
            .post("/v1/client/sign_ins", &[("identifier", &eth.address())])
            .await
            .err(422, "form_identifier_not_found");
        let env = server.native().get("/v1/environment").await;
        let attr = &env.body["user_settings"]["attributes"]["web3_wallet"];
        assert_eq!(attr["enabled"], false, "{attr}");

        let mut settings = test_settings();
        settings.web3.solana = true;
        settings.web3.metamask = true;
        let on = TestServer::with_settings(server.backend(), settings).await;
        let env = on.native().get("/v1/environment").await;
        let attr = &env.body["user_settings"]["attributes"]["web3_wallet"];
        assert_eq!(attr["enabled"], true, "{attr}");
        assert_eq!(attr["used_for_first_factor"], true);
        assert_eq!(
            attr["first_factors"],
            json!(["web3_metamask_signature", "web3_solana_signature"])
        );
    })
    .await;
}

/// Fifty requests carrying the one right signature for one message: exactly one signs in.
#[tokio::test]
async fn fifty_parallel_attempts_with_one_signature_sign_in_once() {
    each_backend(|b| async move {
        let server = TestServer::with_settings(b, wallet_settings()).await;
        let eth = EthWallet::new(13);
        let user = wallet_user(&server, &[eth.address()]).await;
        let uid = user["id"].as_str().expect("id").to_owned();
        let fapi = Arc::new(server.native());
        let (id, message) = prepare(&fapi, &eth.address(), "web3_metamask_signature").await;
        let signature = Arc::new(eth.sign(&message));
        let mut handles = Vec::new();
        for _ in 0..50 {
            let (fapi, id, signature) = (Arc::clone(&fapi), id.clone(), Arc::clone(&signature));
            handles.push(tokio::spawn(async move {
                let r = attempt(&fapi, &id, "web3_metamask_signature", &signature).await;
                (r.status.as_u16(), r.code().to_owned())
            }));
        }
        let mut outcomes = Vec::new();
        for h in handles {
            outcomes.push(h.await.expect("join"));
        }
        assert_eq!(
            outcomes.iter().filter(|(s, _)| *s == 200).count(),
            1,
            "{outcomes:?}"
        );
        // The losers find the message used or spent (400), or, after the winner rotated the
        // client token they share, no sign-in on the client their old token names (404).
        assert!(
            outcomes
                .iter()
                .all(|(s, _)| *s == 200 || *s == 400 || *s == 404),
            "{outcomes:?}"
        );
        let (_, sessions) = server
            .bapi(Method::GET, &format!("/v1/sessions?user_id={uid}"), None)
            .await;
        assert_eq!(
            sessions.as_array().expect("sessions").len(),
            1,
            "{sessions}"
        );
    })
    .await;
}

/// The user's own wallets: added, proven by a signature, then a sign-in factor; removed.
#[tokio::test]
async fn a_user_adds_proves_and_removes_a_wallet() {
    each_backend(|b| async move {
        let server = TestServer::with_settings(b, wallet_settings()).await;
        server.user(1).await;
        let fapi = server.native();
        fapi.sign_in("user1@example.com").await;
        let sol = SolWallet::new(14);
        let r = fapi
            .post("/v1/me/web3_wallets", &[("web3_wallet", &sol.address())])
            .await;
        let w = &r.ok()["response"];
        assert_eq!(w["object"], "web3_wallet");
        assert_eq!(w["verification"]["status"], "unverified", "{w}");
        let wid = w["id"].as_str().expect("id").to_owned();
        // Unproven, it names nobody.
        server
            .native()
            .post("/v1/client/sign_ins", &[("identifier", &sol.address())])
            .await
            .err(422, "form_identifier_not_found");
        fapi.post(
            &format!("/v1/me/web3_wallets/{wid}/prepare_verification"),
            &[("strategy", "web3_metamask_signature")],
        )
        .await
        .err(422, "form_param_value_invalid");
        let r = fapi
            .post(
                &format!("/v1/me/web3_wallets/{wid}/prepare_verification"),
                &[("strategy", "web3_solana_signature")],
            )
            .await;
        let v = &r.ok()["response"]["verification"];
        assert_eq!(v["status"], "unverified", "{v}");
        let message = v["message"].as_str().expect("message").to_owned();
        let path = format!("/v1/me/web3_wallets/{wid}/attempt_verification");
        fapi.post(&path, &[("signature", &SolWallet::new(15).sign(&message))])
            .await
            .err(422, "form_param_value_invalid");
        let r = fapi
            .post(&path, &[("signature", &sol.sign(&message))])
            .await;
        let w = &r.ok()["response"];
        assert_eq!(w["verification"]["status"], "verified", "{w}");
        let me = fapi.get("/v1/me").await;
        assert_eq!(me.ok()["response"]["primary_web3_wallet_id"], wid.as_str());
        fapi.post(&path, &[("signature", &sol.sign(&message))])
            .await
            .err(400, "verification_already_verified");

        // Now it signs in.
        let other = server.native();
        let (id, message) = prepare(&other, &sol.address(), "web3_solana_signature").await;
        let r = attempt(&other, &id, "web3_solana_signature", &sol.sign(&message)).await;
        assert_eq!(r.ok()["response"]["status"], "complete");

        // Removed, it names nobody again.
        let r = fapi
            .post(&format!("/v1/me/web3_wallets/{wid}?_method=DELETE"), &[])
            .await;
        assert_eq!(r.ok()["response"]["deleted"], true);
        server
            .native()
            .post("/v1/client/sign_ins", &[("identifier", &sol.address())])
            .await
            .err(422, "form_identifier_not_found");
    })
    .await;
}
