//! Google One Tap: `create {strategy: google_one_tap, token}` with ID tokens signed by a test key
//! that a local JWKS endpoint publishes, as Google's does; every check a forged or misdirected
//! token must fail is tried.

use crate::harness::{each_backend, test_settings, verify, Fapi, TestServer};
use serde_json::{json, Value};
use std::sync::Arc;
use vestibule_crypto::SigningKey;
use vestibule_model::Clock;

const CLIENT_ID: &str = "vestibule-test.apps.googleusercontent.com";

/// A stand-in for Google's key endpoint: serves `keys` as a JWKS on a loopback port.
struct Google {
    key: SigningKey,
    url: String,
}

impl Google {
    async fn start() -> Google {
        let key = SigningKey::generate("google-test-1".into()).expect("key");
        let jwks = json!({ "keys": [key.public_jwk()] });
        let app = axum::Router::new().route(
            "/oauth2/v3/certs",
            axum::routing::get(move || {
                let jwks = jwks.clone();
                async move { axum::Json(jwks) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!(
            "http://{}/oauth2/v3/certs",
            listener.local_addr().expect("addr")
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Google { key, url }
    }

    /// An ID token as Google issues one for `email`, with `changes` applied to its claims.
    fn token(&self, email: &str, now_seconds: i64, changes: Value) -> String {
        let mut claims = json!({
            "iss": "https://accounts.google.com",
            "aud": CLIENT_ID,
            "azp": CLIENT_ID,
            "sub": "110169484474386276334",
            "email": email,
            "email_verified": true,
            "name": "Ada Lovelace",
            "iat": now_seconds,
            "nbf": now_seconds - 10,
            "exp": now_seconds + 3600,
            "jti": format!("{now_seconds}-{email}"),
        });
        if let (Some(c), Some(changes)) = (claims.as_object_mut(), changes.as_object()) {
            for (k, v) in changes {
                c.insert(k.clone(), v.clone());
            }
        }
        self.key.sign_jwt(&claims).expect("sign")
    }
}

async fn one_tap(fapi: &Fapi, token: &str) -> crate::harness::Reply {
    fapi.post(
        "/v1/client/sign_ins",
        &[("strategy", "google_one_tap"), ("token", token)],
    )
    .await
}

#[tokio::test]
async fn a_google_id_token_signs_in_the_account_with_its_verified_email_once() {
    let google = Google::start().await;
    each_backend(|b| {
        let google = &google;
        async move {
            let mut settings = test_settings();
            settings.google_one_tap.client_id = Some(CLIENT_ID.into());
            settings.google_one_tap.jwks_url = google.url.clone();
            let server = TestServer::with_settings(b, settings).await;
            let user = server.user(1).await;
            let uid = user["id"].as_str().expect("id");
            let env = server.native().get("/v1/environment").await;
            assert_eq!(
                env.body["display_config"]["google_one_tap_client_id"],
                CLIENT_ID
            );
            let now = server.clock.now().0 / 1000;

            let token = google.token("USER1@example.com", now, json!({}));
            let fapi = server.native();
            let r = one_tap(&fapi, &token).await;
            let si = &r.ok()["response"];
            assert_eq!(si["status"], "complete", "{si}");
            assert_eq!(
                si["first_factor_verification"]["strategy"],
                "google_one_tap"
            );
            let sid = si["created_session_id"].as_str().expect("session");
            let jwt = fapi.token_for(sid).await.ok()["jwt"]
                .as_str()
                .expect("jwt")
                .to_owned();
            assert_eq!(verify(&server, &jwt).await["sub"], uid);

            // The same token again.
            let again = one_tap(&server.native(), &token).await;
            again.err(422, "form_param_value_invalid");
            assert_eq!(again.param(), "token");

            // Each check a token must pass.
            let other_key = SigningKey::generate("google-test-1".into()).expect("key");
            let forged = other_key
                .sign_jwt(
                    &json!({"iss": "https://accounts.google.com", "aud": CLIENT_ID,
                    "email": "user1@example.com", "email_verified": true, "exp": now + 3600}),
                )
                .expect("sign");
            // A character inside the signature changed (the last one may carry only padding bits).
            let mut tampered = google.token("user1@example.com", now + 1, json!({}));
            let at = tampered.len() - 10;
            let was = tampered.as_bytes()[at];
            tampered.replace_range(at..=at, if was == b'A' { "B" } else { "A" });
            for (what, token) in [
                (
                    "another audience",
                    google.token(
                        "user1@example.com",
                        now + 2,
                        json!({"aud": "someone-else.apps.googleusercontent.com"}),
                    ),
                ),
                (
                    "another issuer",
                    google.token(
                        "user1@example.com",
                        now + 3,
                        json!({"iss": "https://evil.example.com"}),
                    ),
                ),
                (
                    "expired",
                    google.token("user1@example.com", now - 7200, json!({})),
                ),
                (
                    "unverified email",
                    google.token(
                        "user1@example.com",
                        now + 4,
                        json!({"email_verified": false}),
                    ),
                ),
                ("a key Google does not publish", forged),
                ("a tampered signature", tampered),
                ("not a token", "not-a-jwt".to_owned()),
            ] {
                let r = one_tap(&server.native(), &token).await;
                assert_eq!(
                    (r.status.as_u16(), r.code(), r.param()),
                    (422, "form_param_value_invalid", "token"),
                    "{what}: {}",
                    r.body
                );
            }
            // A verified email no account has: clerk-js then signs up with the token.
            let stranger = google.token("nobody@example.com", now + 5, json!({}));
            one_tap(&server.native(), &stranger)
                .await
                .err(422, "external_account_not_found");
            // Not with another strategy's parameter.
            server
                .native()
                .post(
                    "/v1/client/sign_ins",
                    &[("strategy", "ticket"), ("token", &stranger)],
                )
                .await
                .err(422, "form_param_value_invalid");
        }
    })
    .await;
}

#[tokio::test]
async fn one_tap_is_off_without_a_client_id_and_fifty_uses_of_one_token_sign_in_once() {
    let google = Google::start().await;
    each_backend(|b| {
        let google = &google;
        async move {
            let server = TestServer::start(b).await;
            let now = server.clock.now().0 / 1000;
            let r = one_tap(
                &server.native(),
                &google.token("user1@example.com", now, json!({})),
            )
            .await;
            assert_eq!(r.status.as_u16(), 422, "{}", r.body);
            let env = server.native().get("/v1/environment").await;
            assert!(env.body["display_config"]["google_one_tap_client_id"].is_null());

            let mut settings = test_settings();
            settings.google_one_tap.client_id = Some(CLIENT_ID.into());
            settings.google_one_tap.jwks_url = google.url.clone();
            let server = TestServer::with_settings(b, settings).await;
            let user = server.user(2).await;
            let uid = user["id"].as_str().expect("id").to_owned();
            let token = Arc::new(google.token("user2@example.com", now, json!({})));
            let mut handles = Vec::new();
            for _ in 0..50 {
                let fapi = server.native();
                let token = Arc::clone(&token);
                handles.push(tokio::spawn(async move {
                    let r = fapi
                        .post(
                            "/v1/client/sign_ins",
                            &[("strategy", "google_one_tap"), ("token", &token)],
                        )
                        .await;
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
                    .all(|(s, c)| *s == 200 || (*s == 422 && c == "form_param_value_invalid")),
                "{outcomes:?}"
            );
            let (_, sessions) = server
                .bapi(
                    reqwest::Method::GET,
                    &format!("/v1/sessions?user_id={uid}"),
                    None,
                )
                .await;
            assert_eq!(
                sessions.as_array().expect("sessions").len(),
                1,
                "{sessions}"
            );
        }
    })
    .await;
}
