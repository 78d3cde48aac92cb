//! Sessions: setActive, tokens and their claims, signing out, expiry, key rotation.

use crate::harness::*;

#[tokio::test]
async fn touch_and_tokens_with_clerk_claims() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let user = server.user(1).await;
        let fapi = server.native().with_origin("http://localhost:3000");
        let sid = fapi.sign_in("user1").await;
        let r = fapi
            .post(
                &format!("/v1/client/sessions/{sid}/touch"),
                &[("active_organization_id", ""), ("intent", "select_session")],
            )
            .await;
        let body = r.ok();
        assert_eq!(body["response"]["id"], sid.as_str());
        assert_eq!(body["response"]["object"], "session");
        assert!(body["response"]["last_active_token"]["jwt"].is_string());
        assert_eq!(body["client"]["last_active_session_id"], sid.as_str());

        let r = fapi.token_for(&sid).await;
        let body = r.ok();
        assert_eq!(body["object"], "token", "bare token, not wrapped");
        let jwt = body["jwt"].as_str().expect("jwt");
        let claims = verify(&server, jwt).await;
        assert_eq!(claims["sub"], user["id"]);
        assert_eq!(claims["sid"], sid.as_str());
        assert_eq!(claims["iss"], server.base.as_str());
        assert_eq!(claims["azp"], "http://localhost:3000");
        assert_eq!(claims["v"], 2);
        assert_eq!(claims["sts"], "active");
        assert_eq!(claims["fva"], serde_json::json!([0, -1]));
        let iat = claims["iat"].as_i64().expect("iat");
        assert_eq!(claims["exp"].as_i64(), Some(iat + 60));
        assert_eq!(claims["nbf"].as_i64(), Some(iat - 10));
        assert_eq!(kid(jwt), server.state.keys.active().kid());

        // Same JWKS over the Backend API, behind the secret key.
        let (status, jwks) = server.bapi(reqwest::Method::GET, "/v1/jwks", None).await;
        assert_eq!(status, 200);
        assert_eq!(jwks["keys"][0]["kty"], "RSA");
        assert_eq!(jwks["keys"][0]["e"], "AQAB");
        assert_eq!(jwks["keys"][0]["alg"], "RS256");
        // The fva claim ages with the clock.
        server.clock.advance_seconds(125);
        let later = fapi.token_for(&sid).await;
        let claims = verify(&server, later.ok()["jwt"].as_str().expect("jwt")).await;
        assert_eq!(claims["fva"], serde_json::json!([2, -1]));
    })
    .await;
}

#[tokio::test]
async fn ended_removed_and_all_removed_sessions_mint_no_more_tokens() {
    each_backend(|b| async move {
        let mut settings = crate::harness::test_settings();
        settings.sessions.single_session_mode = false;
        let server = TestServer::with_settings(b, settings).await;
        for n in 2..=4 {
            server.user(n).await;
        }
        let fapi = server.native();
        let a = fapi.sign_in("user2").await;
        let b2 = fapi.sign_in("user3").await;
        let c = fapi.sign_in("user4").await;

        let r = fapi
            .post(&format!("/v1/client/sessions/{a}/end"), &[])
            .await;
        assert_eq!(r.ok()["response"]["status"], "ended");
        fapi.token_for(&a).await.err(401, "signed_out");
        let r = fapi
            .post(&format!("/v1/client/sessions/{b2}/remove"), &[])
            .await;
        assert_eq!(r.ok()["response"]["status"], "removed");
        fapi.token_for(&b2).await.err(401, "signed_out");
        fapi.token_for(&c).await.ok();
        assert_eq!(
            r.body["client"]["sessions"]
                .as_array()
                .expect("sessions")
                .len(),
            1
        );

        let r = fapi.call("DELETE", "/v1/client/sessions", &[]).await;
        let body = r.ok();
        assert_eq!(body["response"]["object"], "client");
        assert!(body["response"]["sessions"]
            .as_array()
            .expect("sessions")
            .is_empty());
        fapi.token_for(&c).await.err(401, "signed_out");
        fapi.post(&format!("/v1/client/sessions/{c}/touch"), &[])
            .await
            .err(401, "signed_out");
        // The client survives and can sign in again.
        fapi.sign_in("user2").await;
    })
    .await;
}

#[tokio::test]
async fn deleting_the_client_forgets_it() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        server.user(5).await;
        let fapi = server.cookie();
        let sid = fapi.sign_in("user5").await;
        let r = fapi.call("DELETE", "/v1/client", &[]).await;
        r.ok();
        let cleared = r
            .headers
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .expect("cookie cleared");
        assert!(
            cleared.starts_with("__client=;") && cleared.contains("Max-Age=0"),
            "{cleared}"
        );
        assert_eq!(
            fapi.get("/v1/client").await.ok()["response"],
            serde_json::Value::Null
        );
        fapi.token_for(&sid).await.err(404, "resource_not_found");
    })
    .await;
}

#[tokio::test]
async fn sessions_of_other_clients_are_not_found() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        server.user(6).await;
        let owner = server.native();
        let sid = owner.sign_in("user6").await;
        let stranger = server.native();
        stranger.sign_in("user6").await;
        stranger
            .token_for(&sid)
            .await
            .err(404, "resource_not_found");
        stranger
            .post(&format!("/v1/client/sessions/{sid}/touch"), &[])
            .await
            .err(404, "resource_not_found");
        stranger
            .post(&format!("/v1/client/sessions/{sid}/end"), &[])
            .await
            .err(404, "resource_not_found");
        owner.token_for(&sid).await.ok();
        owner
            .token_for("sess_nonexistent")
            .await
            .err(404, "resource_not_found");
        owner
            .token_for("not-an-id")
            .await
            .err(404, "resource_not_found");
        owner
            .post(
                &format!("/v1/client/sessions/{sid}/tokens/integration"),
                &[],
            )
            .await
            .err(404, "resource_not_found");
    })
    .await;
}

#[tokio::test]
async fn sessions_expire_after_their_lifetime() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        server.user(7).await;
        let fapi = server.native();
        let sid = fapi.sign_in("user7").await;
        let lifetime = server.state.settings.sessions.lifetime_seconds;
        server.clock.advance_seconds(lifetime - 5);
        fapi.token_for(&sid).await.ok();
        server.clock.advance_seconds(5);
        fapi.token_for(&sid).await.err(401, "signed_out");
        let client = fapi.get("/v1/client").await;
        assert!(client.ok()["response"]["sessions"]
            .as_array()
            .expect("sessions")
            .is_empty());
        vestibule_server::sweep(&server.state).await.expect("sweep");
        let (_, s) = server
            .bapi(reqwest::Method::GET, &format!("/v1/sessions/{sid}"), None)
            .await;
        assert_eq!(s["status"], "expired");
        let (_, list) = server
            .bapi(
                reqwest::Method::GET,
                &format!(
                    "/v1/sessions?user_id={}&status=active",
                    s["user_id"].as_str().expect("user")
                ),
                None,
            )
            .await;
        assert_eq!(
            list.as_array().expect("array").len(),
            0,
            "the sweep recorded the expiry"
        );
    })
    .await;
}

#[tokio::test]
async fn key_rotation_keeps_old_tokens_verifiable_until_they_expire() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        server.user(8).await;
        let fapi = server.native();
        let sid = fapi.sign_in("user8").await;
        let old_jwt = fapi.token_for(&sid).await.ok()["jwt"]
            .as_str()
            .expect("jwt")
            .to_owned();
        let old_kid = kid(&old_jwt);

        let new_kid = vestibule_server::keys::insert_new_key(
            &server.state.store,
            &server.clock,
            &vestibule_model::OsRng,
            true,
        )
        .await
        .expect("rotate");
        server
            .state
            .keys
            .refresh(&server.state.store, &server.clock)
            .await
            .expect("refresh");
        let new_jwt = fapi.token_for(&sid).await.ok()["jwt"]
            .as_str()
            .expect("jwt")
            .to_owned();
        assert_eq!(kid(&new_jwt), new_kid);
        assert_ne!(new_kid, old_kid);
        // Both verify against the published set.
        verify(&server, &old_jwt).await;
        verify(&server, &new_jwt).await;
        let jwks = server.state.keys.jwks();
        assert!(jwks.keys.iter().any(|k| k.kid == old_kid));

        // Long after the old key's last token expired, it is no longer published.
        server
            .clock
            .advance_seconds(vestibule_server::keys::RETIRED_KEY_PUBLISHED_FOR_SECONDS + 1);
        server
            .state
            .keys
            .refresh(&server.state.store, &server.clock)
            .await
            .expect("refresh");
        let jwks = server.state.keys.jwks();
        assert!(!jwks.keys.iter().any(|k| k.kid == old_kid));
        assert!(jwks.keys.iter().any(|k| k.kid == new_kid));
    })
    .await;
}

#[tokio::test]
async fn session_reload_and_me() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let created = server.user(9).await;
        let fapi = server.native();
        fapi.get("/v1/me").await.err(401, "signed_out");
        let sid = fapi.sign_in("user9").await;

        let r = fapi.get(&format!("/v1/client/sessions/{sid}")).await;
        let body = r.ok();
        assert_eq!(
            (
                body["response"]["id"].as_str(),
                body["response"]["status"].as_str()
            ),
            (Some(sid.as_str()), Some("active"))
        );
        assert!(body["response"]["last_active_token"]["jwt"].is_string());

        let me = fapi.get(&format!("/v1/me?_clerk_session_id={sid}")).await;
        assert_eq!(me.ok()["response"]["id"], created["id"]);
        assert!(me.body["response"].get("private_metadata").is_none());
        let me = fapi.get("/v1/me").await;
        assert_eq!(
            me.ok()["response"]["id"],
            created["id"],
            "defaults to the last active session"
        );

        let r = fapi
            .call(
                "PATCH",
                &format!("/v1/me?_clerk_session_id={sid}"),
                &[
                    ("first_name", "Renamed"),
                    ("last_name", ""),
                    ("unsafe_metadata", r#"{"theme":"dark"}"#),
                    ("username", "Renamed_9"),
                ],
            )
            .await;
        let u = &r.ok()["response"];
        assert_eq!(
            (
                u["first_name"].as_str(),
                u["last_name"].as_str(),
                u["username"].as_str()
            ),
            (Some("Renamed"), None, Some("renamed_9"))
        );
        assert_eq!(u["unsafe_metadata"]["theme"], "dark");
        assert_eq!(
            r.body["client"]["sessions"][0]["user"]["first_name"], "Renamed",
            "the piggybacked client agrees"
        );
        let r = fapi
            .call(
                "PATCH",
                "/v1/me/metadata",
                &[("unsafe_metadata", r#"{"theme":null,"lang":"fr"}"#)],
            )
            .await;
        assert_eq!(
            r.ok()["response"]["unsafe_metadata"],
            serde_json::json!({"lang": "fr"}),
            "deep merge, null deletes"
        );
        fapi.call(
            "PATCH",
            "/v1/me",
            &[("public_metadata", r#"{"role":"admin"}"#)],
        )
        .await
        .err(422, "form_param_unknown");
        fapi.call("PATCH", "/v1/me", &[("username", "x")])
            .await
            .err(422, "form_param_format_invalid");
        server.user(10).await;
        fapi.call("PATCH", "/v1/me", &[("username", "user10")])
            .await
            .err(422, "form_identifier_exists");

        fapi.call("DELETE", "/v1/client/sessions", &[]).await.ok();
        fapi.get(&format!("/v1/me?_clerk_session_id={sid}"))
            .await
            .err(401, "signed_out");
        let r = fapi.get(&format!("/v1/client/sessions/{sid}")).await;
        assert_eq!(r.ok()["response"]["status"], "removed");
        assert!(r.body["response"]["last_active_token"].is_null());
    })
    .await;
}
