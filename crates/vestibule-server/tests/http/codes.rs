//! One-time codes and email links: delivery, expiry, attempts, resend cooldown, binding,
//! password reset, and the courier's real transports.

use crate::harness::*;
use serde_json::Value;

/// The id of the first factor with `strategy` in a sign-in response.
fn factor_id(si: &Value, strategy: &str) -> String {
    let f = si["supported_first_factors"]
        .as_array()
        .and_then(|fs| fs.iter().find(|f| f["strategy"] == strategy))
        .unwrap_or_else(|| panic!("no {strategy} factor in {si}"));
    f["email_address_id"]
        .as_str()
        .or(f["phone_number_id"].as_str())
        .expect("identification id")
        .to_owned()
}

async fn prepare_email_code(fapi: &Fapi, prepare: &str, email_id: &str) -> Reply {
    fapi.post(
        prepare,
        &[("strategy", "email_code"), ("email_address_id", email_id)],
    )
    .await
}

async fn send_link(fapi: &Fapi, id: &str, email_id: &str) {
    fapi.post(
        &format!("/v1/client/sign_ins/{id}/prepare_first_factor"),
        &[
            ("strategy", "email_link"),
            ("email_address_id", email_id),
            ("redirect_url", "http://localhost:3000/done"),
        ],
    )
    .await
    .ok();
}

async fn started(fapi: &Fapi, identifier: &str) -> (String, Value) {
    let r = fapi
        .post("/v1/client/sign_ins", &[("identifier", identifier)])
        .await;
    let si = r.ok()["response"].clone();
    (si["id"].as_str().expect("id").to_owned(), si)
}

#[tokio::test]
async fn email_code_sign_in_from_prepare_to_session() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        server.user(1).await;
        let fapi = server.native();
        let (id, si) = started(&fapi, "user1").await;
        let email_id = factor_id(&si, "email_code");
        let r = fapi
            .post(
                &format!("/v1/client/sign_ins/{id}/prepare_first_factor"),
                &[("strategy", "email_code"), ("email_address_id", &email_id)],
            )
            .await;
        let v = &r.ok()["response"]["first_factor_verification"];
        assert_eq!(
            (
                v["status"].as_str(),
                v["strategy"].as_str(),
                v["attempts"].as_u64()
            ),
            (Some("unverified"), Some("email_code"), Some(0))
        );
        let expire_at = v["expire_at"].as_i64().expect("expire_at");
        let now = vestibule_model::Clock::now(&server.clock).millis();
        assert_eq!(expire_at - now, 600_000, "ten minutes");

        let code = server.latest_code("user1@example.com").await;
        let inbox = server.inbox("user1@example.com").await;
        assert_eq!(inbox[0]["purpose"], "sign_in_code");
        assert!(inbox[0]["html"]
            .as_str()
            .unwrap_or_default()
            .contains(&code));

        let attempt = format!("/v1/client/sign_ins/{id}/attempt_first_factor");
        let wrong = if code == "000000" { "111111" } else { "000000" };
        let r = fapi
            .post(&attempt, &[("strategy", "email_code"), ("code", wrong)])
            .await;
        r.err(422, "form_code_incorrect");
        assert_eq!(r.param(), "code");
        let after = fapi.get(&format!("/v1/client/sign_ins/{id}")).await;
        assert_eq!(
            after.ok()["response"]["first_factor_verification"]["attempts"],
            1,
            "the wrong guess is counted"
        );

        let r = fapi
            .post(&attempt, &[("strategy", "email_code"), ("code", &code)])
            .await;
        let body = r.ok();
        assert_eq!(body["response"]["status"], "complete");
        assert_eq!(
            body["response"]["first_factor_verification"]["status"],
            "verified"
        );
        let sid = body["response"]["created_session_id"]
            .as_str()
            .expect("session")
            .to_owned();
        fapi.token_for(&sid).await.ok();
        // Single use: the sign-in is done, and the code cannot complete another one.
        fapi.post(&attempt, &[("strategy", "email_code"), ("code", &code)])
            .await
            .err(400, "client_state_invalid");
    })
    .await;
}

#[tokio::test]
async fn create_with_a_strategy_prepares_in_one_step_and_phone_codes_go_by_sms() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        server.user(2).await;
        let fapi = server.native();
        let r = fapi
            .post(
                "/v1/client/sign_ins",
                &[("identifier", "+15550100002"), ("strategy", "phone_code")],
            )
            .await;
        let si = r.ok()["response"].clone();
        assert_eq!(si["first_factor_verification"]["strategy"], "phone_code");
        let inbox = server.inbox("+15550100002").await;
        assert_eq!(inbox[0]["channel"], "sms");
        let code = server.latest_code("+15550100002").await;
        let id = si["id"].as_str().expect("id");
        let r = fapi
            .post(
                &format!("/v1/client/sign_ins/{id}/attempt_first_factor"),
                &[("strategy", "phone_code"), ("code", &code)],
            )
            .await;
        assert_eq!(r.ok()["response"]["status"], "complete");

        // A username names no address: the code goes to the primary email.
        let other = server.native();
        let r = other
            .post(
                "/v1/client/sign_ins",
                &[("identifier", "user2"), ("strategy", "email_code")],
            )
            .await;
        r.ok();
        assert_eq!(server.inbox("user2@example.com").await.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn codes_expire_fail_after_the_attempt_limit_and_wait_out_the_cooldown() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        server.user(3).await;
        let fapi = server.native();
        let (id, si) = started(&fapi, "user3@example.com").await;
        let email_id = factor_id(&si, "email_code");
        let prepare = format!("/v1/client/sign_ins/{id}/prepare_first_factor");
        let attempt = format!("/v1/client/sign_ins/{id}/attempt_first_factor");

        prepare_email_code(&fapi, &prepare, &email_id).await.ok();
        let first = server.latest_code("user3@example.com").await;
        // Resend cooldown: 30 s.
        server.clock.advance_seconds(10);
        let r = prepare_email_code(&fapi, &prepare, &email_id).await;
        r.err(429, "too_many_requests");
        assert_eq!(
            r.headers.get("retry-after").and_then(|v| v.to_str().ok()),
            Some("20")
        );
        server.clock.advance_seconds(20);
        prepare_email_code(&fapi, &prepare, &email_id).await.ok();
        let second = server.latest_code("user3@example.com").await;
        if first != second {
            // The older code belongs to a verification the sign-in no longer waits for.
            fapi.post(&attempt, &[("strategy", "email_code"), ("code", &first)])
                .await
                .err(422, "form_code_incorrect");
        }

        // Expiry after ten minutes.
        server.clock.advance_seconds(601);
        fapi.post(&attempt, &[("strategy", "email_code"), ("code", &second)])
            .await
            .err(400, "verification_expired");

        // A fresh code allows five wrong guesses, then is failed, right code or not.
        prepare_email_code(&fapi, &prepare, &email_id).await.ok();
        let third = server.latest_code("user3@example.com").await;
        let wrong = if third == "999999" {
            "888888"
        } else {
            "999999"
        };
        for _ in 0..5 {
            fapi.post(&attempt, &[("strategy", "email_code"), ("code", wrong)])
                .await
                .err(422, "form_code_incorrect");
        }
        fapi.post(&attempt, &[("strategy", "email_code"), ("code", &third)])
            .await
            .err(400, "verification_failed");
        let si = fapi.get(&format!("/v1/client/sign_ins/{id}")).await;
        assert_eq!(
            si.ok()["response"]["first_factor_verification"]["status"],
            "failed"
        );
    })
    .await;
}

#[tokio::test]
async fn a_code_is_bound_to_its_sign_in() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        server.user(4).await;
        let a = server.native();
        let (id_a, si_a) = started(&a, "user4").await;
        a.post(
            &format!("/v1/client/sign_ins/{id_a}/prepare_first_factor"),
            &[
                ("strategy", "email_code"),
                ("email_address_id", &factor_id(&si_a, "email_code")),
            ],
        )
        .await
        .ok();
        let code_a = server.latest_code("user4@example.com").await;
        server.clock.advance_seconds(31);
        let b2 = server.native();
        let (id_b, si_b) = started(&b2, "user4").await;
        b2.post(
            &format!("/v1/client/sign_ins/{id_b}/prepare_first_factor"),
            &[
                ("strategy", "email_code"),
                ("email_address_id", &factor_id(&si_b, "email_code")),
            ],
        )
        .await
        .ok();
        let code_b = server.latest_code("user4@example.com").await;
        if code_a != code_b {
            b2.post(
                &format!("/v1/client/sign_ins/{id_b}/attempt_first_factor"),
                &[("strategy", "email_code"), ("code", &code_a)],
            )
            .await
            .err(422, "form_code_incorrect");
        }
        // Preparing for an address of another account, or an unknown id, is refused.
        server.user(5).await;
        let user5 = server
            .bapi(reqwest::Method::GET, "/v1/users?username=user5", None)
            .await
            .1;
        let foreign = user5[0]["email_addresses"][0]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        a.post(
            &format!("/v1/client/sign_ins/{id_a}/prepare_first_factor"),
            &[("strategy", "email_code"), ("email_address_id", &foreign)],
        )
        .await
        .err(400, "strategy_for_user_invalid");
        a.post(
            &format!("/v1/client/sign_ins/{id_a}/prepare_first_factor"),
            &[("strategy", "email_code")],
        )
        .await
        .err(422, "form_param_missing");
        a.post(
            &format!("/v1/client/sign_ins/{id_a}/attempt_first_factor"),
            &[("strategy", "phone_code"), ("code", "123456")],
        )
        .await
        .err(400, "verification_missing");
        // Codes are never stored in clear.
        let mut conn = server.state.store.read().await.expect("read");
        let outbox = vestibule_store::outbox::recent(&mut conn, None, 10)
            .await
            .expect("outbox");
        for m in outbox {
            let raw = String::from_utf8_lossy(&m.payload);
            assert!(
                !raw.contains(&code_a) && !raw.contains(&code_b),
                "sealed at rest"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn email_link_verifies_in_another_browser_and_the_first_one_polls_to_complete() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        server.user(6).await;
        let fapi = server.cookie();
        let (id, si) = started(&fapi, "user6@example.com").await;
        let email_id = factor_id(&si, "email_link");
        let prepare = format!("/v1/client/sign_ins/{id}/prepare_first_factor");
        fapi.post(&prepare, &[("strategy", "email_link"), ("email_address_id", &email_id), ("redirect_url", "https://evil.example/x")])
            .await
            .err(422, "form_param_value_invalid");
        let r = fapi
            .post(&prepare, &[("strategy", "email_link"), ("email_address_id", &email_id), ("redirect_url", "http://localhost:3000/verified?x=1")])
            .await;
        assert_eq!(r.ok()["response"]["first_factor_verification"]["status"], "unverified");
        let link = server.latest_link("user6@example.com").await;
        assert!(link.starts_with(&format!("{}/v1/verify?token=", server.base)), "{link}");
        let token = link.split("token=").nth(1).expect("token");
        assert!(token.len() >= 43, "at least 256 bits, base64url");

        // Opened elsewhere: another HTTP client, no cookie of the signing-in browser.
        let opened = server.http.get(&link).send().await.expect("open");
        assert_eq!(opened.status(), 303);
        let location = opened.headers().get("location").and_then(|v| v.to_str().ok()).expect("location").to_owned();
        assert!(location.starts_with("http://localhost:3000/verified?x=1&__clerk_status=verified&__clerk_created_session=sess_"), "{location}");

        // The first browser sees the sign-in complete by polling it.
        let polled = fapi.get(&format!("/v1/client/sign_ins/{id}")).await;
        let body = polled.ok();
        assert_eq!(body["response"]["status"], "complete");
        assert_eq!(body["response"]["first_factor_verification"]["status"], "verified");
        let sid = body["response"]["created_session_id"].as_str().expect("sid");
        assert!(location.ends_with(sid));
        fapi.token_for(sid).await.ok();

        // Single use.
        let again = server.http.get(&link).send().await.expect("open");
        let location = again.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        assert!(location.contains("__clerk_status=failed"), "{location}");
        let bogus = server.http.get(format!("{}/v1/verify?token=nonsense", server.base)).send().await.expect("open");
        assert_eq!(bogus.status(), 404);
    })
    .await;
}

#[tokio::test]
async fn email_links_expire_and_can_require_the_same_browser() {
    each_backend(|b| async move {
        let mut settings = crate::harness::test_settings();
        settings.email_link.require_same_client = true;
        let server = TestServer::with_settings(b, settings).await;
        server.user(7).await;
        let fapi = server.cookie();
        let (id, si) = started(&fapi, "user7@example.com").await;
        let email_id = factor_id(&si, "email_link");
        send_link(&fapi, &id, &email_id).await;
        let link = server.latest_link("user7@example.com").await;
        let elsewhere = server.http.get(&link).send().await.expect("open");
        let location = elsewhere
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            location.contains("__clerk_status=client_mismatch"),
            "{location}"
        );
        // The same browser (the client's cookie) may use it.
        let same = fapi.http.get(&link).send().await.expect("open");
        let location = same
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(location.contains("__clerk_status=verified"), "{location}");

        let other = server.cookie();
        let seen = server.inbox("user7@example.com").await.len();
        server.clock.advance_seconds(1);
        let (id2, si2) = started(&other, "user7@example.com").await;
        send_link(&other, &id2, &factor_id(&si2, "email_link")).await;
        let text = server.next_text("user7@example.com", seen).await;
        let link2 = crate::harness::link_in(&text).expect("link");
        server.clock.advance_seconds(601);
        let late = other.http.get(&link2).send().await.expect("open");
        let location = late
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(location.contains("__clerk_status=expired"), "{location}");
    })
    .await;
}

#[tokio::test]
async fn password_reset_by_email_code_sets_a_policy_checked_password_and_can_sign_out_elsewhere() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        server.user(8).await;
        let elsewhere = server.native();
        let old_session = elsewhere.sign_in("user8").await;

        let fapi = server.native();
        let r = fapi
            .post(
                "/v1/client/sign_ins",
                &[
                    ("identifier", "user8@example.com"),
                    ("strategy", "reset_password_email_code"),
                ],
            )
            .await;
        let id = r.ok()["response"]["id"].as_str().expect("id").to_owned();
        let inbox = server.inbox("user8@example.com").await;
        assert_eq!(inbox[0]["purpose"], "reset_password_code");
        let code = server.latest_code("user8@example.com").await;
        fapi.post(
            &format!("/v1/client/sign_ins/{id}/reset_password"),
            &[("password", "new passphrase 1")],
        )
        .await
        .err(400, "client_state_invalid");
        let r = fapi
            .post(
                &format!("/v1/client/sign_ins/{id}/attempt_first_factor"),
                &[("strategy", "reset_password_email_code"), ("code", &code)],
            )
            .await;
        assert_eq!(r.ok()["response"]["status"], "needs_new_password");
        assert!(
            r.body["client"]["sessions"]
                .as_array()
                .expect("sessions")
                .is_empty(),
            "no session yet"
        );

        let reset = format!("/v1/client/sign_ins/{id}/reset_password");
        fapi.post(&reset, &[("password", "short")])
            .await
            .err(422, "form_password_length_too_short");
        fapi.post(&reset, &[("password", "password123")])
            .await
            .err(422, "form_password_pwned");
        let r = fapi
            .post(
                &reset,
                &[
                    ("password", "a fresh long passphrase"),
                    ("sign_out_of_other_sessions", "true"),
                ],
            )
            .await;
        let body = r.ok();
        assert_eq!(body["response"]["status"], "complete");
        let sid = body["response"]["created_session_id"]
            .as_str()
            .expect("sid")
            .to_owned();
        fapi.token_for(&sid).await.ok();
        elsewhere
            .token_for(&old_session)
            .await
            .err(401, "signed_out");

        let fresh = server.native();
        fresh
            .post(
                "/v1/client/sign_ins",
                &[("identifier", "user8"), ("password", PASSWORD)],
            )
            .await
            .err(422, "form_password_incorrect");
        fresh
            .post(
                "/v1/client/sign_ins",
                &[
                    ("identifier", "user8"),
                    ("password", "a fresh long passphrase"),
                ],
            )
            .await
            .ok();
    })
    .await;
}

#[tokio::test]
async fn codes_travel_by_real_smtp_and_the_signed_sms_webhook() {
    each_backend(|b| async move {
        let smtp = SmtpSink::start();
        let sms = SmsSink::start().await;
        let store = std::sync::Arc::new(vestibule_store::testing::fresh(b).await);
        let mut c = config("unused", crate::harness::test_settings());
        c.courier.email.smtp_url = Some(smtp.url());
        c.courier.email.from = Some("Vestibule <no-reply@vestibule.test>".into());
        c.courier.sms.webhook_url = Some(sms.url.clone());
        c.courier.sms.webhook_secret = Some("webhook secret for tests".into());
        let server =
            TestServer::on_store(store, c, vestibule_model::TestClock::starting_now()).await;
        server.user(9).await;

        let fapi = server.native();
        let r = fapi
            .post(
                "/v1/client/sign_ins",
                &[
                    ("identifier", "user9@example.com"),
                    ("strategy", "email_code"),
                ],
            )
            .await;
        let id = r.ok()["response"]["id"].as_str().expect("id").to_owned();
        let mail = smtp.wait_for("user9@example.com").await;
        assert!(
            mail.contains("multipart/alternative"),
            "text and HTML parts"
        );
        let code = code_in(&mail).expect("code in the mail");
        let r = fapi
            .post(
                &format!("/v1/client/sign_ins/{id}/attempt_first_factor"),
                &[("strategy", "email_code"), ("code", &code)],
            )
            .await;
        assert_eq!(r.ok()["response"]["status"], "complete");

        let phone = server.native();
        phone
            .post(
                "/v1/client/sign_ins",
                &[("identifier", "+15550100009"), ("strategy", "phone_code")],
            )
            .await
            .ok();
        let (signature, payload) = sms.wait_for("+15550100009").await;
        assert_eq!(payload["purpose"], "sign_in_code");
        assert!(payload["message_id"]
            .as_str()
            .unwrap_or_default()
            .starts_with("msg_"));
        assert!(code_in(payload["body"].as_str().unwrap_or_default()).is_some());
        let signature = signature.expect("signed");
        assert!(
            signature.starts_with("t=") && signature.contains(",v1="),
            "{signature}"
        );
    })
    .await;
}
