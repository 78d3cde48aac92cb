//! The three ways a client is identified, the environment, CORS and origins.

use crate::harness::*;
use vestibule_model::{InstanceMode, Settings};

#[tokio::test]
async fn cookie_mode_sets_an_httponly_client_cookie_and_rotates_it() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        server.user(1).await;
        let fapi = server.cookie();
        let r = fapi
            .post("/v1/client/sign_ins", &[("identifier", "user1")])
            .await;
        let cookie = r
            .headers
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .expect("cookie set")
            .to_owned();
        assert!(cookie.starts_with("__client="), "{cookie}");
        assert!(
            cookie.contains("HttpOnly")
                && cookie.contains("SameSite=Lax")
                && cookie.contains("Path=/"),
            "{cookie}"
        );
        assert!(
            !cookie.contains("Secure"),
            "plain-http development instance: {cookie}"
        );
        let first_token = cookie
            .trim_start_matches("__client=")
            .split(';')
            .next()
            .expect("value")
            .to_owned();
        let id = r.ok()["response"]["id"].as_str().expect("id").to_owned();

        let r = fapi
            .post(
                &format!("/v1/client/sign_ins/{id}/attempt_first_factor"),
                &[("strategy", "password"), ("password", PASSWORD)],
            )
            .await;
        r.ok();
        let rotated = r
            .headers
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .expect("rotated cookie")
            .to_owned();
        assert!(!rotated.contains(&first_token), "a new token after sign-in");

        // The browser's jar now holds the new token: the client is found with its session.
        let client = fapi.get("/v1/client").await;
        assert_eq!(
            client.ok()["response"]["sessions"]
                .as_array()
                .expect("sessions")
                .len(),
            1
        );

        // The token from before sign-in (a fixation attempt) no longer names the client.
        let stale = server
            .http
            .get(format!("{}/v1/client", server.base))
            .header("cookie", format!("__client={first_token}"))
            .send()
            .await
            .expect("send");
        let body: serde_json::Value = stale.json().await.expect("json");
        assert_eq!(body["response"], serde_json::Value::Null);
    })
    .await;
}

#[tokio::test]
async fn native_mode_uses_the_authorization_header_both_ways() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        server.user(2).await;
        let fapi = server.native();
        let none = fapi.get("/v1/client").await;
        assert_eq!(none.ok()["response"], serde_json::Value::Null);
        assert!(none.headers.get("authorization").is_none());
        let sid = fapi.sign_in("user2").await;
        let token = fapi.token().expect("token");
        // Echoed on later responses, and accepted with a Bearer prefix too.
        let r = server
            .http
            .get(format!("{}/v1/client?_is_native=1", server.base))
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .expect("send");
        assert_eq!(
            r.headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok()),
            Some(token.as_str())
        );
        let body: serde_json::Value = r.json().await.expect("json");
        assert_eq!(body["response"]["sessions"][0]["id"], sid.as_str());
        // Cookies play no part in native mode.
        let touched = fapi
            .post(&format!("/v1/client/sessions/{sid}/touch"), &[])
            .await;
        touched.ok();
        assert!(touched.headers.get("set-cookie").is_none());
    })
    .await;
}

#[tokio::test]
async fn dev_browser_mode_binds_rotates_and_rejects_unknown_tokens() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        server.user(3).await;
        let fapi = server.dev_browser().await;
        let initial = fapi.token().expect("dev browser id");
        let r = fapi
            .post("/v1/client/sign_ins", &[("identifier", "user3")])
            .await;
        let id = r.ok()["response"]["id"].as_str().expect("id").to_owned();
        assert!(
            r.headers.get("set-cookie").is_none(),
            "dev browsers need no cookie"
        );
        // Same dev browser, same client: the sign-in is found.
        fapi.get(&format!("/v1/client/sign_ins/{id}")).await.ok();
        let r = fapi
            .post(
                &format!("/v1/client/sign_ins/{id}/attempt_first_factor"),
                &[("strategy", "password"), ("password", PASSWORD)],
            )
            .await;
        r.ok();
        let rotated = fapi.token().expect("token");
        assert_ne!(
            rotated, initial,
            "Clerk-Db-Jwt carries a new dev browser token after sign-in"
        );
        assert_eq!(
            fapi.get("/v1/client").await.ok()["response"]["sessions"]
                .as_array()
                .expect("sessions")
                .len(),
            1
        );
        let old = server
            .http
            .get(format!(
                "{}/v1/client?__clerk_db_jwt={initial}",
                server.base
            ))
            .send()
            .await
            .expect("send");
        assert_eq!(old.status(), 401);
        let body: serde_json::Value = old.json().await.expect("json");
        assert_eq!(body["errors"][0]["code"], "dev_browser_unauthenticated");
    })
    .await;
}

#[tokio::test]
async fn environment_reflects_the_settings_and_accepts_the_tunnelled_patch() {
    each_backend(|b| async move {
        let mut settings = crate::harness::test_settings();
        settings.password.min_length = 12;
        settings.password.require_numbers = true;
        settings.identifiers.phone_number = false;
        settings.sessions.single_session_mode = false;
        let server = TestServer::with_settings(b, settings).await;
        let fapi = server.cookie();
        for r in [
            fapi.get("/v1/environment").await,
            fapi.call("PATCH", "/v1/environment", &[]).await,
        ] {
            let env = r.ok();
            assert_eq!(env["object"], "environment");
            assert_eq!(env["auth_config"]["single_session_mode"], false);
            assert_eq!(
                env["display_config"]["instance_environment_type"],
                "development"
            );
            let ps = &env["user_settings"]["password_settings"];
            assert_eq!(
                (ps["min_length"].as_u64(), ps["max_length"].as_u64()),
                (Some(12), Some(72))
            );
            assert_eq!(ps["require_numbers"], true);
            let attrs = &env["user_settings"]["attributes"];
            assert_eq!(attrs["email_address"]["used_for_first_factor"], true);
            assert_eq!(attrs["phone_number"]["used_for_first_factor"], false);
            assert_eq!(
                attrs["phone_number"]["second_factors"],
                serde_json::json!(["phone_code"])
            );
            assert_eq!(
                attrs["authenticator_app"]["second_factors"],
                serde_json::json!(["totp"])
            );
            assert_eq!(attrs["password"]["enabled"], true);
            assert!(
                env.get("commerce_settings").is_none(),
                "clerk-js throws on a partial commerce_settings"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn cors_allows_localhost_origins_in_development_and_refuses_others() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let allowed = server.cookie().with_origin("http://localhost:3000");
        let r = allowed.get("/v1/environment").await;
        r.ok();
        assert_eq!(
            r.headers
                .get("access-control-allow-origin")
                .and_then(|v| v.to_str().ok()),
            Some("http://localhost:3000")
        );
        assert_eq!(
            r.headers
                .get("access-control-allow-credentials")
                .and_then(|v| v.to_str().ok()),
            Some("true")
        );
        let exposed = r
            .headers
            .get("access-control-expose-headers")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(
            exposed.contains("authorization") && exposed.contains("clerk-db-jwt"),
            "{exposed}"
        );

        let preflight = server
            .http
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/v1/client/sign_ins", server.base),
            )
            .header("origin", "http://127.0.0.1:5173")
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
            .await
            .expect("preflight");
        assert_eq!(preflight.status(), 204);
        assert_eq!(
            preflight
                .headers()
                .get("access-control-allow-headers")
                .and_then(|v| v.to_str().ok()),
            Some("authorization, content-type")
        );

        let evil = server.cookie().with_origin("https://evil.example");
        let r = evil
            .post("/v1/client/sign_ins", &[("identifier", "x")])
            .await;
        r.err(403, "origin_invalid");
        assert!(r.headers.get("access-control-allow-origin").is_none());
    })
    .await;
}

#[tokio::test]
async fn production_instances_use_secure_cookies_and_configured_origins_only() {
    each_backend(|b| async move {
        let store = std::sync::Arc::new(vestibule_store::testing::fresh(b).await);
        let settings = Settings {
            mode: InstanceMode::Production,
            ..crate::harness::test_settings()
        };
        let mut config = config("unused", settings);
        config.secret_key = Some("sk_live_0123456789abcdefghijklmnopqrstuv".into());
        config.allowed_origins = vec!["https://app.example.com".into()];
        let server =
            TestServer::on_store(store, config, vestibule_model::TestClock::starting_now()).await;
        assert!(server
            .state
            .instance
            .publishable_key
            .starts_with("pk_live_"));
        server.user(4).await;
        let fapi = server.cookie().with_origin("https://app.example.com");
        let r = fapi
            .post(
                "/v1/client/sign_ins",
                &[("identifier", "user4"), ("password", PASSWORD)],
            )
            .await;
        r.ok();
        let cookies: Vec<_> = r
            .headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let client = cookies
            .iter()
            .find(|c| c.starts_with("__client="))
            .expect("client cookie");
        assert!(
            client.contains("Secure") && client.contains("HttpOnly"),
            "{client}"
        );
        assert!(
            cookies.iter().any(|c| c.starts_with("__client_uat=")),
            "{cookies:?}"
        );
        let local = server.cookie().with_origin("http://localhost:3000");
        local
            .get("/v1/environment")
            .await
            .err(403, "origin_invalid");
        let dev = server
            .http
            .post(format!("{}/v1/dev_browser", server.base))
            .send()
            .await
            .expect("send");
        assert_eq!(dev.status(), 404, "no dev browsers in production");
    })
    .await;
}

#[tokio::test]
async fn put_client_makes_a_fresh_client() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let fapi = server.cookie();
        assert_eq!(
            fapi.get("/v1/client").await.ok()["response"],
            serde_json::Value::Null
        );
        let r = fapi.call("PUT", "/v1/client", &[]).await;
        let body = r.ok();
        assert_eq!(body["response"]["object"], "client");
        assert_eq!(body["response"]["id"], body["client"]["id"]);
        assert!(r.headers.get("set-cookie").is_some());
        let id = body["response"]["id"].clone();
        assert_eq!(fapi.get("/v1/client").await.ok()["response"]["id"], id);
        let again = fapi.call("PUT", "/v1/client", &[]).await;
        assert_ne!(
            again.ok()["response"]["id"],
            id,
            "a new client replaces the old one"
        );
    })
    .await;
}
