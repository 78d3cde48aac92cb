//! Sign-in tokens: issued through the Backend API, used once through `create` with the ticket
//! strategy; reused, revoked, expired and forged tickets refused with Clerk's codes.

use crate::harness::{each_backend, verify, TestServer};
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;

async fn issue(server: &TestServer, user_id: &str, lifetime: Option<i64>) -> Value {
    let mut body = json!({ "user_id": user_id });
    if let Some(s) = lifetime {
        body["expires_in_seconds"] = json!(s);
    }
    let (status, token) = server
        .bapi(Method::POST, "/v1/sign_in_tokens", Some(body))
        .await;
    assert_eq!(status, 200, "{token}");
    token
}

fn ticket_of(token: &Value) -> String {
    token["token"].as_str().expect("token").to_owned()
}

async fn use_ticket(server: &TestServer, ticket: &str) -> crate::harness::Reply {
    server
        .native()
        .post(
            "/v1/client/sign_ins",
            &[("strategy", "ticket"), ("ticket", ticket)],
        )
        .await
}

#[tokio::test]
async fn a_ticket_signs_its_user_in_once_and_each_refusal_says_why() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let user = server.user(1).await;
        let uid = user["id"].as_str().expect("id");
        let token = issue(&server, uid, Some(600)).await;
        assert_eq!(token["object"], "sign_in_token");
        assert_eq!(token["status"], "pending");
        assert_eq!(token["user_id"], uid);
        assert!(token["id"].as_str().expect("id").starts_with("sit_"));
        let ticket = ticket_of(&token);
        assert!(ticket.len() >= 40, "a 256-bit secret: {ticket}");

        let fapi = server.native();
        let r = fapi
            .post(
                "/v1/client/sign_ins",
                &[("strategy", "ticket"), ("ticket", &ticket)],
            )
            .await;
        let si = &r.ok()["response"];
        assert_eq!(si["status"], "complete", "{si}");
        assert_eq!(si["identifier"], "user1@example.com");
        assert_eq!(si["first_factor_verification"]["strategy"], "ticket");
        assert_eq!(si["first_factor_verification"]["status"], "verified");
        let sid = si["created_session_id"].as_str().expect("session");
        let jwt = fapi.token_for(sid).await.ok()["jwt"]
            .as_str()
            .expect("jwt")
            .to_owned();
        assert_eq!(verify(&server, &jwt).await["sub"], uid);

        use_ticket(&server, &ticket)
            .await
            .err(400, "sign_in_token_already_used_code");
        use_ticket(&server, "not-a-ticket")
            .await
            .err(400, "ticket_invalid_code");
        use_ticket(&server, &"x".repeat(5000))
            .await
            .err(400, "ticket_invalid_code");

        // Revoked before use.
        let revoked = issue(&server, uid, None).await;
        let path = format!(
            "/v1/sign_in_tokens/{}/revoke",
            revoked["id"].as_str().expect("id")
        );
        let (status, body) = server.bapi(Method::POST, &path, None).await;
        assert_eq!((status.as_u16(), &body["status"]), (200, &json!("revoked")));
        assert_eq!(body["token"], "", "the ticket is shown only when issued");
        use_ticket(&server, &ticket_of(&revoked))
            .await
            .err(400, "sign_in_token_revoked_code");
        let (status, _) = server.bapi(Method::POST, &path, None).await;
        assert_eq!(status, 400, "only a pending token can be revoked");
        let (status, _) = server
            .bapi(Method::POST, "/v1/sign_in_tokens/sit_nope/revoke", None)
            .await;
        assert_eq!(status, 404);

        // Expired.
        let short = issue(&server, uid, Some(60)).await;
        server.clock.advance_seconds(61);
        use_ticket(&server, &ticket_of(&short))
            .await
            .err(400, "ticket_expired_code");

        // Bad requests and bad issues.
        let fresh = ticket_of(&issue(&server, uid, None).await);
        let fapi = server.native();
        let r = fapi
            .post(
                "/v1/client/sign_ins",
                &[("identifier", "user1@example.com")],
            )
            .await;
        let id = r.ok()["response"]["id"].as_str().expect("id").to_owned();
        fapi.post(
            &format!("/v1/client/sign_ins/{id}/attempt_first_factor"),
            &[("strategy", "ticket"), ("ticket", &fresh)],
        )
        .await
        .err(400, "strategy_for_user_invalid");
        server
            .native()
            .post(
                "/v1/client/sign_ins",
                &[
                    ("strategy", "ticket"),
                    ("ticket", &fresh),
                    ("identifier", "user1"),
                ],
            )
            .await
            .err(422, "form_param_value_invalid");
        server
            .native()
            .post("/v1/client/sign_ins", &[("strategy", "ticket")])
            .await
            .err(422, "form_param_missing");
        server
            .native()
            .post("/v1/client/sign_ins", &[("ticket", &fresh)])
            .await
            .err(422, "form_param_value_invalid");
        for body in [
            json!({ "user_id": uid, "expires_in_seconds": 0 }),
            json!({ "user_id": uid, "expires_in_seconds": 2_592_001 }),
            json!({}),
        ] {
            let (status, _) = server
                .bapi(Method::POST, "/v1/sign_in_tokens", Some(body))
                .await;
            assert_eq!(status, 422);
        }
        let (status, _) = server
            .bapi(
                Method::POST,
                "/v1/sign_in_tokens",
                Some(json!({ "user_id": "user_nobody" })),
            )
            .await;
        assert_eq!(status, 404);
        // The unused ticket still works, and a deleted account's tickets go with it.
        let (status, _) = server
            .bapi(Method::DELETE, &format!("/v1/users/{uid}"), None)
            .await;
        assert_eq!(status, 200);
        use_ticket(&server, &fresh)
            .await
            .err(400, "ticket_invalid_code");
    })
    .await;
}

#[tokio::test]
async fn a_locked_account_uses_its_ticket_only_once_unlocked() {
    each_backend(|b| async move {
        let mut settings = crate::harness::test_settings();
        settings.sign_in.page_url = Some("https://app.example.com/sign-in?from=mail".into());
        let server = TestServer::with_settings(b, settings).await;
        let user = server.user(2).await;
        let uid = user["id"].as_str().expect("id");
        let (status, body) = server
            .bapi(Method::POST, &format!("/v1/users/{uid}/lock"), None)
            .await;
        assert_eq!(status, 200, "{body}");
        let token = issue(&server, uid, None).await;
        let ticket = ticket_of(&token);
        assert_eq!(
            token["url"],
            format!("https://app.example.com/sign-in?from=mail&__clerk_ticket={ticket}"),
            "the application's sign-in page, which Clerk's <SignIn/> reads the ticket from"
        );
        use_ticket(&server, &ticket).await.err(403, "user_locked");
        let (status, _) = server
            .bapi(Method::POST, &format!("/v1/users/{uid}/unlock"), None)
            .await;
        assert_eq!(status, 200);
        let r = use_ticket(&server, &ticket).await;
        assert_eq!(
            r.ok()["response"]["status"],
            "complete",
            "a refused ticket stays unused"
        );
    })
    .await;
}

#[tokio::test]
async fn fifty_parallel_uses_of_one_ticket_sign_in_once() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let user = server.user(3).await;
        let uid = user["id"].as_str().expect("id");
        let ticket = Arc::new(ticket_of(&issue(&server, uid, None).await));
        let mut handles = Vec::new();
        for _ in 0..50 {
            let fapi = server.native();
            let ticket = Arc::clone(&ticket);
            handles.push(tokio::spawn(async move {
                let r = fapi
                    .post(
                        "/v1/client/sign_ins",
                        &[("strategy", "ticket"), ("ticket", &ticket)],
                    )
                    .await;
                (r.status.as_u16(), r.code().to_owned())
            }));
        }
        let mut outcomes = Vec::new();
        for h in handles {
            outcomes.push(h.await.expect("join"));
        }
        let won = outcomes.iter().filter(|(s, _)| *s == 200).count();
        assert_eq!(won, 1, "{outcomes:?}");
        assert!(
            outcomes
                .iter()
                .all(|(s, c)| *s == 200 || (*s == 400 && c == "sign_in_token_already_used_code")),
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
