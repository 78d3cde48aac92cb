//! Passkeys with a real software authenticator (1Password's passkey-client over an in-memory
//! CTAP2 authenticator): registration through `/v1/me/passkeys`, sign-in by both flows,
//! reverification, and every relying-party check refusing what it must.

use crate::harness::{each_backend, test_settings, verify, Fapi, TestServer};
use reqwest::Method;
use serde_json::Value;
use std::sync::Arc;
use vestibule_client::{flip_signature_byte, PasskeyAuthenticator, SoftwareAuthenticator};
use vestibule_model::Settings;

const ORIGIN: &str = "http://localhost:5173";
/// An allowed origin outside the RP ID, to isolate the RP ID check: what a credential scoped to
/// another relying party answers from its own site.
const OTHER_SITE: &str = "https://app.example.com";

fn passkey_settings() -> Settings {
    let mut s = test_settings();
    s.passkeys.enabled = true;
    s.passkeys.rp_id = Some("localhost".into());
    s.passkeys.origins = vec![ORIGIN.into(), OTHER_SITE.into()];
    s
}

fn json_of(s: &str) -> Value {
    serde_json::from_str(s).expect("JSON")
}

/// Signs user `n` in with a password on a fresh client: the client and `_clerk_session_id=…`.
async fn signed_in(server: &TestServer, n: u32) -> (Fapi, String, Value) {
    let user = server.user(n).await;
    let fapi = server.native();
    let sid = fapi.sign_in(&format!("user{n}@example.com")).await;
    (fapi, format!("_clerk_session_id={sid}"), user)
}

/// Registers a passkey for the signed-in user; returns the passkey's JSON.
async fn register(fapi: &Fapi, me: &str, authenticator: &SoftwareAuthenticator) -> Value {
    let started = fapi.post(&format!("/v1/me/passkeys?{me}"), &[]).await;
    let pk = started.ok()["response"].clone();
    assert_eq!(pk["object"], "passkey", "{pk}");
    assert_eq!(pk["verification"]["status"], "unverified");
    let nonce = pk["verification"]["nonce"].as_str().expect("nonce");
    let options = json_of(nonce);
    assert_eq!(options["rp"]["id"], "localhost", "{options}");
    assert_eq!(options["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(
        options["authenticatorSelection"]["userVerification"],
        "required"
    );
    let credential = authenticator
        .create_credential(nonce)
        .await
        .expect("created");
    let id = pk["id"].as_str().expect("id");
    let done = fapi
        .post(
            &format!("/v1/me/passkeys/{id}/attempt_verification?{me}"),
            &[
                ("strategy", "passkey"),
                ("public_key_credential", &credential),
            ],
        )
        .await;
    let pk = done.ok()["response"].clone();
    assert_eq!(pk["verification"]["status"], "verified", "{pk}");
    assert!(pk["verification"]["nonce"].is_null());
    pk
}

/// `create {strategy: passkey}` on a fresh client: the sign-in id and the request options.
async fn discoverable(fapi: &Fapi) -> (String, String) {
    let r = fapi
        .post("/v1/client/sign_ins", &[("strategy", "passkey")])
        .await;
    let si = &r.ok()["response"];
    assert_eq!(si["status"], "needs_first_factor", "{si}");
    assert!(si["identifier"].is_null());
    let v = &si["first_factor_verification"];
    assert_eq!(
        (v["strategy"].as_str(), v["status"].as_str()),
        (Some("passkey"), Some("unverified"))
    );
    let nonce = v["nonce"].as_str().expect("nonce").to_owned();
    (si["id"].as_str().expect("id").to_owned(), nonce)
}

async fn refused_on(fapi: &Fapi, id: &str, credential: &str, code: &str) {
    attempt(fapi, id, credential).await.err(422, code);
}

async fn attempt(fapi: &Fapi, id: &str, credential: &str) -> crate::harness::Reply {
    fapi.post(
        &format!("/v1/client/sign_ins/{id}/attempt_first_factor"),
        &[
            ("strategy", "passkey"),
            ("public_key_credential", credential),
        ],
    )
    .await
}

#[tokio::test]
async fn a_registered_passkey_signs_in_by_both_flows() {
    each_backend(|b| async move {
        let server = TestServer::with_settings(b, passkey_settings()).await;
        let env = server.native().get("/v1/environment").await;
        let us = &env.ok()["user_settings"];
        assert_eq!(us["attributes"]["passkey"]["enabled"], true, "{us}");
        assert_eq!(us["attributes"]["passkey"]["first_factors"][0], "passkey");
        assert_eq!(us["passkey_settings"]["allow_autofill"], true);

        let (fapi, me, user) = signed_in(&server, 1).await;
        let email = "user1@example.com";
        let authenticator = SoftwareAuthenticator::new(ORIGIN).expect("authenticator");
        let pk = register(&fapi, &me, &authenticator).await;
        let r = fapi.get(&format!("/v1/me?{me}")).await;
        let passkeys = r.ok()["response"]["passkeys"].clone();
        assert_eq!(passkeys.as_array().map(Vec::len), Some(1), "{passkeys}");
        assert_eq!(passkeys[0]["id"], pk["id"]);
        assert!(passkeys[0]["last_used_at"].is_null());

        // Identified: the account's factors list the passkey, its options name the credential.
        let fresh = server.native();
        let r = fresh
            .post("/v1/client/sign_ins", &[("identifier", email)])
            .await;
        let si = r.ok()["response"].clone();
        assert!(
            si["supported_first_factors"]
                .as_array()
                .expect("factors")
                .iter()
                .any(|f| f["strategy"] == "passkey"),
            "{si}"
        );
        let id = si["id"].as_str().expect("id");
        let r = fresh
            .post(
                &format!("/v1/client/sign_ins/{id}/prepare_first_factor"),
                &[("strategy", "passkey")],
            )
            .await;
        let nonce = r.ok()["response"]["first_factor_verification"]["nonce"]
            .as_str()
            .expect("nonce")
            .to_owned();
        let options = json_of(&nonce);
        let credential_id = authenticator.credential_id().await.expect("held");
        assert_eq!(
            options["allowCredentials"][0]["id"],
            credential_id.as_str(),
            "{options}"
        );
        assert_eq!(options["userVerification"], "required");
        let assertion = authenticator.get_assertion(&nonce).await.expect("asserted");
        let done = attempt(&fresh, id, &assertion).await;
        let si = done.ok()["response"].clone();
        assert_eq!(si["status"], "complete", "{si}");
        assert_eq!(si["first_factor_verification"]["strategy"], "passkey");
        let sid = si["created_session_id"].as_str().expect("session");
        let jwt = fresh.token_for(sid).await.ok()["jwt"]
            .as_str()
            .expect("jwt")
            .to_owned();
        assert_eq!(verify(&server, &jwt).await["sub"], user["id"]);

        // Discoverable: no identifier; the credential names the account.
        let other = server.native();
        let (id, nonce) = discoverable(&other).await;
        assert_eq!(json_of(&nonce)["allowCredentials"], serde_json::json!([]));
        let assertion = authenticator.get_assertion(&nonce).await.expect("asserted");
        let done = attempt(&other, &id, &assertion).await;
        let si = done.ok()["response"].clone();
        assert_eq!(si["status"], "complete", "{si}");
        assert_eq!(si["identifier"], email);
        assert_eq!(si["user_data"]["first_name"], "First1");

        // The passkey's last use shows, to the user and to the operator.
        let uid = user["id"].as_str().expect("id");
        let (_, seen) = server
            .bapi(Method::GET, &format!("/v1/users/{uid}"), None)
            .await;
        assert!(seen["passkeys"][0]["last_used_at"].is_i64(), "{seen}");
    })
    .await;
}

#[tokio::test]
async fn the_relying_party_refuses_what_it_must() {
    each_backend(|b| async move {
        let server = TestServer::with_settings(b, passkey_settings()).await;
        let (fapi, me, user) = signed_in(&server, 2).await;
        let authenticator = SoftwareAuthenticator::new(ORIGIN).expect("authenticator");
        let pk = register(&fapi, &me, &authenticator).await;

        let client = server.native();
        // Each refusal says which check failed.
        let refused =
            |(id, credential): (String, String), code: &'static str, why: &'static str| {
                let client = &client;
                async move {
                    let r = attempt(client, &id, &credential).await;
                    r.err(422, code);
                    assert!(r.body.to_string().contains(why), "{why}: {}", r.body);
                    r
                }
            };
        // Another origin than the instance's.
        let (id, nonce) = discoverable(&client).await;
        let wrong = authenticator
            .at_origin("http://localhost:9999")
            .get_assertion(&nonce)
            .await
            .expect("asserted");
        let r = refused(
            (id, wrong),
            "form_param_value_invalid",
            "not an allowed origin",
        )
        .await;
        assert_eq!(r.param(), "public_key_credential");
        // An allowed origin, but a credential scoped to another RP ID.
        let (id, nonce) = discoverable(&client).await;
        let mut options = json_of(&nonce);
        options["rpId"] = "app.example.com".into();
        let wrong = authenticator
            .get_assertion_at(OTHER_SITE, &options.to_string())
            .await
            .expect("asserted");
        refused((id, wrong), "form_param_value_invalid", "hash of the RP ID").await;
        // A tampered signature.
        let (id, nonce) = discoverable(&client).await;
        let right = authenticator.get_assertion(&nonce).await.expect("asserted");
        let tampered = flip_signature_byte(&right).expect("flipped");
        refused(
            (id.clone(), tampered),
            "form_param_value_invalid",
            "signature",
        )
        .await;
        // Not JSON at all.
        refused(
            (id.clone(), "{\"id\":".into()),
            "form_param_format_invalid",
            "public_key_credential",
        )
        .await;
        // The user not verified, which every passkey ceremony here requires.
        let (id, nonce) = discoverable(&client).await;
        authenticator.set_user_verification(false);
        let unverified = authenticator.get_assertion(&nonce).await.expect("asserted");
        authenticator.set_user_verification(true);
        refused((id, unverified), "form_param_value_invalid", "not verified").await;
        // An assertion for one challenge replayed on another.
        let (id, nonce) = discoverable(&client).await;
        let first = authenticator.get_assertion(&nonce).await.expect("asserted");
        let (other_id, _) = discoverable(&client).await;
        refused(
            (other_id, first.clone()),
            "form_param_value_invalid",
            "challenge",
        )
        .await;
        // A challenge answered once cannot be answered again.
        attempt(&client, &id, &first).await.ok();
        let again = attempt(&client, &id, &first).await;
        assert!(again.status.is_client_error(), "{}", again.body);
        // An expired challenge.
        let late = server.native();
        let (id, nonce) = discoverable(&late).await;
        let assertion = authenticator.get_assertion(&nonce).await.expect("asserted");
        server.clock.advance_seconds(301);
        attempt(&late, &id, &assertion)
            .await
            .err(400, "verification_expired");
        // An unknown credential: made for a registration that never completed.
        let started = fapi.post(&format!("/v1/me/passkeys?{me}"), &[]).await;
        let nonce = started.ok()["response"]["verification"]["nonce"]
            .as_str()
            .expect("nonce")
            .to_owned();
        let stranger = SoftwareAuthenticator::new(ORIGIN).expect("authenticator");
        stranger.create_credential(&nonce).await.expect("created");
        let other = server.native();
        let (id, nonce) = discoverable(&other).await;
        let unknown = stranger.get_assertion(&nonce).await.expect("asserted");
        refused_on(&other, &id, &unknown, "form_identifier_not_found").await;
        let (id, nonce) = discoverable(&other).await;
        let foreign = authenticator.get_assertion(&nonce).await.expect("asserted");
        // Deleted by the operator: it signs nobody in from then on.
        let uid = user["id"].as_str().expect("id");
        let pid = pk["id"].as_str().expect("passkey id");
        let (status, deleted) = server
            .bapi(
                Method::DELETE,
                &format!("/v1/users/{uid}/passkeys/{pid}"),
                None,
            )
            .await;
        assert_eq!(
            (status.as_u16(), &deleted["deleted"]),
            (200, &Value::Bool(true))
        );
        attempt(&other, &id, &foreign)
            .await
            .err(422, "form_identifier_not_found");
        // With no passkey left, the account offers none.
        let r = other
            .post(
                "/v1/client/sign_ins",
                &[("identifier", "user2@example.com")],
            )
            .await;
        assert!(!r.ok()["response"]["supported_first_factors"]
            .to_string()
            .contains("passkey"));
    })
    .await;
}

/// One account's passkey cannot finish another account's identified sign-in; registration
/// answers once; rename and delete through the user's own calls.
#[tokio::test]
async fn passkeys_belong_to_their_account() {
    each_backend(|b| async move {
        let server = TestServer::with_settings(b, passkey_settings()).await;
        let (fapi, me, _) = signed_in(&server, 3).await;
        let mine = SoftwareAuthenticator::new(ORIGIN).expect("authenticator");
        let pk = register(&fapi, &me, &mine).await;
        let (fapi4, me4, _) = signed_in(&server, 4).await;
        let theirs = SoftwareAuthenticator::new(ORIGIN).expect("authenticator");
        register(&fapi4, &me4, &theirs).await;

        let client = server.native();
        let r = client
            .post(
                "/v1/client/sign_ins",
                &[("identifier", "user3@example.com")],
            )
            .await;
        let id = r.ok()["response"]["id"].as_str().expect("id").to_owned();
        let r = client
            .post(
                &format!("/v1/client/sign_ins/{id}/prepare_first_factor"),
                &[("strategy", "passkey")],
            )
            .await;
        let nonce = r.ok()["response"]["first_factor_verification"]["nonce"]
            .as_str()
            .expect("nonce")
            .to_owned();
        // A client that ignores allowCredentials and answers with another account's passkey.
        let mut options = json_of(&nonce);
        options["allowCredentials"] = serde_json::json!([]);
        let wrong_account = theirs
            .get_assertion(&options.to_string())
            .await
            .expect("asserted");
        attempt(&client, &id, &wrong_account)
            .await
            .err(422, "form_identifier_not_found");

        // A registration completes once.
        let started = fapi.post(&format!("/v1/me/passkeys?{me}"), &[]).await;
        let second = started.ok()["response"].clone();
        let nonce = second["verification"]["nonce"].as_str().expect("nonce");
        let extra = SoftwareAuthenticator::new(ORIGIN).expect("authenticator");
        let credential = extra.create_credential(nonce).await.expect("created");
        let path = format!(
            "/v1/me/passkeys/{}/attempt_verification?{me}",
            second["id"].as_str().expect("id")
        );
        let form = [
            ("strategy", "passkey"),
            ("public_key_credential", credential.as_str()),
        ];
        fapi.post(&path, &form).await.ok();
        fapi.post(&path, &form)
            .await
            .err(400, "verification_already_verified");

        // Renamed and deleted by its owner.
        let pid = pk["id"].as_str().expect("id");
        let r = fapi
            .call(
                "PATCH",
                &format!("/v1/me/passkeys/{pid}?{me}"),
                &[("name", "Laptop")],
            )
            .await;
        assert_eq!(r.ok()["response"]["name"], "Laptop");
        fapi.call(
            "PATCH",
            &format!("/v1/me/passkeys/{pid}?{me}"),
            &[("name", " ")],
        )
        .await
        .err(422, "form_param_value_invalid");
        fapi4
            .call("DELETE", &format!("/v1/me/passkeys/{pid}?{me4}"), &[])
            .await
            .err(404, "resource_not_found");
        let r = fapi
            .call("DELETE", &format!("/v1/me/passkeys/{pid}?{me}"), &[])
            .await;
        assert_eq!(r.ok()["response"]["deleted"], true);
        let r = fapi.get(&format!("/v1/me?{me}")).await;
        assert_eq!(
            r.ok()["response"]["passkeys"].as_array().map(Vec::len),
            Some(1)
        );
    })
    .await;
}

/// A cloned authenticator: its counter falls behind the one the server follows, and its
/// assertion is refused.
#[tokio::test]
async fn a_signature_counter_that_goes_backwards_is_refused() {
    let server = TestServer::with_settings(
        vestibule_store::testing::Backend::Sqlite,
        passkey_settings(),
    )
    .await;
    let (fapi, me, _) = signed_in(&server, 7).await;
    let original = SoftwareAuthenticator::new(ORIGIN).expect("authenticator");
    register(&fapi, &me, &original).await;
    let clone = original.duplicate().await;
    for _ in 0..2 {
        let client = server.native();
        let (id, nonce) = discoverable(&client).await;
        let assertion = original.get_assertion(&nonce).await.expect("asserted");
        assert_eq!(
            attempt(&client, &id, &assertion).await.ok()["response"]["status"],
            "complete"
        );
    }
    let client = server.native();
    let (id, nonce) = discoverable(&client).await;
    let behind = clone.get_assertion(&nonce).await.expect("asserted");
    let r = attempt(&client, &id, &behind).await;
    r.err(422, "form_param_value_invalid");
    assert!(
        r.body.to_string().contains("counter went backwards"),
        "{}",
        r.body
    );
}

/// A passkey reverifies a session whose factor has aged.
#[tokio::test]
async fn a_passkey_reverifies_a_session() {
    each_backend(|b| async move {
        let server = TestServer::with_settings(b, passkey_settings()).await;
        let (fapi, me, _) = signed_in(&server, 5).await;
        let authenticator = SoftwareAuthenticator::new(ORIGIN).expect("authenticator");
        register(&fapi, &me, &authenticator).await;
        let sid = me.trim_start_matches("_clerk_session_id=");
        let verify_path = format!("/v1/client/sessions/{sid}/verify");
        let started = fapi.post(&verify_path, &[("level", "first_factor")]).await;
        let sv = started.ok()["response"].clone();
        assert!(
            sv["supported_first_factors"]
                .to_string()
                .contains("passkey"),
            "{sv}"
        );
        let r = fapi
            .post(
                &format!("{verify_path}/prepare_first_factor"),
                &[("strategy", "passkey")],
            )
            .await;
        let nonce = r.ok()["response"]["first_factor_verification"]["nonce"]
            .as_str()
            .expect("nonce")
            .to_owned();
        let assertion = authenticator.get_assertion(&nonce).await.expect("asserted");
        let r = fapi
            .post(
                &format!("{verify_path}/attempt_first_factor"),
                &[
                    ("strategy", "passkey"),
                    ("public_key_credential", &assertion),
                ],
            )
            .await;
        assert_eq!(r.ok()["response"]["status"], "complete", "{}", r.body);
    })
    .await;
}

/// Fifty requests carrying one right assertion for one challenge: exactly one signs in.
#[tokio::test]
async fn fifty_parallel_attempts_with_one_assertion_sign_in_once() {
    each_backend(|b| async move {
        let server = TestServer::with_settings(b, passkey_settings()).await;
        let (fapi, me, user) = signed_in(&server, 6).await;
        let authenticator = SoftwareAuthenticator::new(ORIGIN).expect("authenticator");
        register(&fapi, &me, &authenticator).await;
        let uid = user["id"].as_str().expect("id").to_owned();
        let client = Arc::new(server.native());
        let (id, nonce) = discoverable(&client).await;
        let assertion = Arc::new(authenticator.get_assertion(&nonce).await.expect("asserted"));
        let mut handles = Vec::new();
        for _ in 0..50 {
            let (client, id, assertion) = (Arc::clone(&client), id.clone(), Arc::clone(&assertion));
            handles.push(tokio::spawn(async move {
                let r = attempt(&client, &id, &assertion).await;
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
        assert!(
            outcomes
                .iter()
                .all(|(s, _)| matches!(s, 200 | 400 | 404 | 409)),
            "{outcomes:?}"
        );
        let (_, sessions) = server
            .bapi(Method::GET, &format!("/v1/sessions?user_id={uid}"), None)
            .await;
        // The password sign-in's session and the passkey's.
        assert_eq!(
            sessions.as_array().expect("sessions").len(),
            2,
            "{sessions}"
        );
    })
    .await;
}
