//! Password sign-in through the Frontend API.

use crate::harness::*;
use serde_json::Value;

#[tokio::test]
async fn identifier_first_then_password() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let user = server.user(1).await;
        let fapi = server.native();

        let r = fapi
            .post(
                "/v1/client/sign_ins",
                &[("identifier", "user1@example.com"), ("locale", "en-US")],
            )
            .await;
        let body = r.ok();
        let si = &body["response"];
        assert_eq!(si["object"], "sign_in");
        assert_eq!(si["status"], "needs_first_factor");
        assert_eq!(si["identifier"], "user1@example.com");
        let factors = si["supported_first_factors"].as_array().expect("factors");
        let names: Vec<&str> = factors
            .iter()
            .filter_map(|f| f["strategy"].as_str())
            .collect();
        assert_eq!(
            names,
            [
                "password",
                "email_code",
                "email_link",
                "phone_code",
                "reset_password_email_code",
                "reset_password_phone_code"
            ]
        );
        assert_eq!(
            factors[1]["safe_identifier"], "user1@example.com",
            "the typed email, in full"
        );
        assert_eq!(
            factors[1]["email_address_id"],
            user["email_addresses"][0]["id"]
        );
        assert_eq!(
            factors[3]["safe_identifier"], "+*********01",
            "the phone, masked"
        );
        assert_eq!(si["user_data"]["first_name"], "First1");
        assert_eq!(
            si["supported_identifiers"],
            serde_json::json!(["email_address", "phone_number", "username"])
        );
        assert_eq!(
            body["client"]["sign_in"]["id"], si["id"],
            "the client carries the sign-in"
        );
        assert!(body["client"]["sessions"]
            .as_array()
            .expect("sessions")
            .is_empty());
        let id = si["id"].as_str().expect("id");
        let token_before = fapi.token().expect("client token issued");

        let wrong = fapi
            .post(
                &format!("/v1/client/sign_ins/{id}/attempt_first_factor"),
                &[("strategy", "password"), ("password", "wrong password")],
            )
            .await;
        wrong.err(422, "form_password_incorrect");
        assert_eq!(wrong.param(), "password");
        assert_eq!(
            wrong.body["errors"][0]["long_message"],
            "Password is incorrect. Try again, or use another method."
        );
        assert!(wrong.body["clerk_trace_id"].is_string());

        let r = fapi
            .post(
                &format!("/v1/client/sign_ins/{id}/attempt_first_factor"),
                &[("strategy", "password"), ("password", PASSWORD)],
            )
            .await;
        let body = r.ok();
        assert_eq!(body["response"]["status"], "complete");
        assert_eq!(
            body["response"]["first_factor_verification"]["status"],
            "verified"
        );
        let sid = body["response"]["created_session_id"]
            .as_str()
            .expect("sid");
        let sessions = body["client"]["sessions"].as_array().expect("sessions");
        assert_eq!(sessions.len(), 1);
        assert_eq!(sessions[0]["id"], sid);
        assert_eq!(sessions[0]["status"], "active");
        assert_eq!(sessions[0]["user"]["id"], user["id"]);
        assert_eq!(
            sessions[0]["public_user_data"]["identifier"],
            "user1@example.com"
        );
        assert_eq!(body["client"]["last_active_session_id"], sid);
        let jwt = sessions[0]["last_active_token"]["jwt"]
            .as_str()
            .expect("token seeded");
        let claims = verify(&server, jwt).await;
        assert_eq!(claims["sid"], sid);
        assert_eq!(claims["sub"], user["id"]);

        let token_after = fapi.token().expect("token");
        assert_ne!(
            token_before, token_after,
            "the client token rotates on sign-in"
        );
    })
    .await;
}

#[tokio::test]
async fn one_step_with_each_identifier_kind() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        server.user(2).await;
        for identifier in ["USER2@example.com", "+1 555 010 0002", "User2"] {
            let fapi = server.native();
            let sid = fapi.sign_in(identifier).await;
            assert!(sid.starts_with("sess_"), "{identifier}");
        }
    })
    .await;
}

#[tokio::test]
async fn unknown_identifiers_are_not_found_with_or_without_password() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        server.user(3).await;
        let fapi = server.native();
        for form in [
            vec![("identifier", "nobody@example.com")],
            vec![("identifier", "nobody@example.com"), ("password", PASSWORD)],
            vec![("identifier", "+15559999999"), ("password", "whatever")],
            vec![("identifier", "nobody")],
        ] {
            let r = fapi.post("/v1/client/sign_ins", &form).await;
            r.err(422, "form_identifier_not_found");
            assert_eq!(r.param(), "identifier");
        }
        // Nothing was created for the caller.
        assert!(fapi.token().is_none(), "no client for failed requests");
    })
    .await;
}

#[tokio::test]
async fn wrong_password_in_one_step_creates_nothing() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        server.user(4).await;
        let fapi = server.native();
        let r = fapi
            .post(
                "/v1/client/sign_ins",
                &[("identifier", "user4"), ("password", "nope nope nope")],
            )
            .await;
        r.err(422, "form_password_incorrect");
        assert!(fapi.token().is_none());
        let r = fapi.get("/v1/client").await;
        assert_eq!(r.ok()["response"], Value::Null);
    })
    .await;
}

#[tokio::test]
async fn sign_in_without_identifier_waits_for_one() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let fapi = server.native();
        let r = fapi.post("/v1/client/sign_ins", &[]).await;
        let si = &r.ok()["response"];
        assert_eq!(si["status"], "needs_identifier");
        assert_eq!(si["supported_first_factors"], serde_json::json!([]));
        let id = si["id"].as_str().expect("id");
        let r = fapi
            .post(
                &format!("/v1/client/sign_ins/{id}/attempt_first_factor"),
                &[("strategy", "password"), ("password", PASSWORD)],
            )
            .await;
        r.err(400, "client_state_invalid");
        let r = fapi
            .post("/v1/client/sign_ins", &[("password", PASSWORD)])
            .await;
        r.err(422, "form_param_missing");
        assert_eq!(r.param(), "identifier");
    })
    .await;
}

#[tokio::test]
async fn single_session_mode_refuses_a_second_sign_in() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        server.user(5).await;
        server.user(6).await;
        let fapi = server.native();
        fapi.sign_in("user5").await;
        let r = fapi
            .post("/v1/client/sign_ins", &[("identifier", "user6")])
            .await;
        r.err(400, "session_exists");
    })
    .await;
}

#[tokio::test]
async fn multi_session_mode_allows_other_accounts_but_not_the_same_twice() {
    each_backend(|b| async move {
        let mut settings = crate::harness::test_settings();
        settings.sessions.single_session_mode = false;
        let server = TestServer::with_settings(b, settings).await;
        server.user(7).await;
        server.user(8).await;
        let fapi = server.native();
        let first = fapi.sign_in("user7").await;
        let second = fapi.sign_in("user8").await;
        assert_ne!(first, second);
        let r = fapi
            .post("/v1/client/sign_ins", &[("identifier", "user7")])
            .await;
        r.err(400, "identifier_already_signed_in");
        assert_eq!(r.body["errors"][0]["meta"]["session_id"], first.as_str());
        let client = fapi.get("/v1/client").await;
        assert_eq!(
            client.ok()["response"]["sessions"]
                .as_array()
                .expect("sessions")
                .len(),
            2
        );
    })
    .await;
}

#[tokio::test]
async fn racing_correct_attempts_complete_the_sign_in_once() {
    each_backend(|b| async move {
        // Every guess is counted before it is judged: with the default lockout the 11th of 12
        // parallel guesses would be refused before the first is judged right. The race here is
        // between right guesses, not against the lockout.
        let mut settings = crate::harness::test_settings();
        settings.lockout.max_attempts = 100;
        let server = TestServer::with_settings(b, settings).await;
        server.user(9).await;
        let fapi = std::sync::Arc::new(server.native());
        let r = fapi
            .post("/v1/client/sign_ins", &[("identifier", "user9")])
            .await;
        let id = r.ok()["response"]["id"].as_str().expect("id").to_owned();
        let mut handles = Vec::new();
        for _ in 0..12 {
            let fapi = std::sync::Arc::clone(&fapi);
            let path = format!("/v1/client/sign_ins/{id}/attempt_first_factor");
            handles.push(tokio::spawn(async move {
                fapi.post(&path, &[("strategy", "password"), ("password", PASSWORD)])
                    .await
                    .status
                    .as_u16()
            }));
        }
        let mut statuses = Vec::new();
        for h in handles {
            statuses.push(h.await.expect("join"));
        }
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "{statuses:?}"
        );
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 400),
            "{statuses:?}"
        );
        let client = fapi.get("/v1/client").await;
        assert_eq!(
            client.ok()["response"]["sessions"]
                .as_array()
                .expect("sessions")
                .len(),
            1,
            "exactly one session"
        );
    })
    .await;
}

#[tokio::test]
async fn imported_bcrypt_password_works_and_is_upgraded() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        // bcrypt("correct horse battery", cost 10), made with Python's bcrypt module.
        let digest = "$2b$10$ANfCfzpdFQX3oabFuyoezOHCvOKTslhDh.PzAmn1kQTap43rxbJ5S";
        let (status, user) = server
            .bapi(
                reqwest::Method::POST,
                "/v1/users",
                Some(serde_json::json!({"email_address": ["imported@example.com"], "password_digest": digest, "password_hasher": "bcrypt"})),
            )
            .await;
        assert_eq!(status, 200, "{user}");
        let fapi = server.native();
        fapi.sign_in("imported@example.com").await;
        let id = vestibule_model::UserId::parse(user["id"].as_str().expect("id")).expect("user id");
        let mut conn = server.state.store.read().await.expect("read");
        let stored = vestibule_store::users::get(&mut conn, &id).await.expect("get").expect("user");
        let password = stored.password.expect("password");
        assert_eq!(password.hasher, "argon2id");
        assert!(password.digest.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", password.digest);
        drop(conn);
        // The upgraded digest still accepts the same password.
        server.native().sign_in("imported@example.com").await;
    })
    .await;
}

#[tokio::test]
async fn locked_and_banned_users() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let user = server.user(10).await;
        let id = user["id"].as_str().expect("id");
        let (s, _) = server
            .bapi(reqwest::Method::POST, &format!("/v1/users/{id}/lock"), None)
            .await;
        assert_eq!(s, 200);
        let fapi = server.native();
        let r = fapi
            .post(
                "/v1/client/sign_ins",
                &[("identifier", "user10"), ("password", PASSWORD)],
            )
            .await;
        r.err(403, "user_locked");
        let (s, _) = server
            .bapi(
                reqwest::Method::POST,
                &format!("/v1/users/{id}/unlock"),
                None,
            )
            .await;
        assert_eq!(s, 200);
        let sid = fapi.sign_in("user10").await;
        let (s, _) = server
            .bapi(reqwest::Method::POST, &format!("/v1/users/{id}/ban"), None)
            .await;
        assert_eq!(s, 200);
        fapi.token_for(&sid).await.err(401, "signed_out");
        let other = server.native();
        let r = other
            .post(
                "/v1/client/sign_ins",
                &[("identifier", "user10"), ("password", PASSWORD)],
            )
            .await;
        r.err(403, "user_banned");
        let r = other
            .post(
                "/v1/client/sign_ins",
                &[("identifier", "user10"), ("password", "wrong wrong")],
            )
            .await;
        r.err(422, "form_password_incorrect");
    })
    .await;
}
