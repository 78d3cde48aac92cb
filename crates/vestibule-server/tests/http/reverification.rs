//! A user's own phone numbers (added, proven by SMS, kept for MFA, removed) and session
//! reverification (`/v1/client/sessions/{id}/verify…`), as clerk-js calls them.

use crate::harness::{each_backend, verify, Fapi, TestServer, PASSWORD};
use serde_json::{json, Value};
use vestibule_crypto::otp;

fn strategies(factors: &Value) -> Vec<String> {
    factors
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| f["strategy"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Signs user `n` in on a fresh native client: the client and `_clerk_session_id=…`.
async fn signed_in(server: &TestServer, n: u32) -> (Fapi, String, String) {
    server.user(n).await;
    let fapi = server.native();
    let sid = fapi.sign_in(&format!("user{n}@example.com")).await;
    let me = format!("_clerk_session_id={sid}");
    (fapi, sid, me)
}

/// Adds `number` to the signed-in user and proves it with the SMS code; returns its id.
async fn add_verified_phone(server: &TestServer, fapi: &Fapi, me: &str, number: &str) -> String {
    let created = fapi
        .post(
            &format!("/v1/me/phone_numbers/?{me}"),
            &[("phone_number", number)],
        )
        .await;
    let phone = created.ok()["response"].clone();
    let id = phone["id"].as_str().expect("id").to_owned();
    fapi.post(
        &format!("/v1/me/phone_numbers/{id}/prepare_verification?{me}"),
        &[("strategy", "phone_code")],
    )
    .await
    .ok();
    let code = server.latest_code(number).await;
    let r = fapi
        .post(
            &format!("/v1/me/phone_numbers/{id}/attempt_verification?{me}"),
            &[("code", &code)],
        )
        .await;
    assert_eq!(r.ok()["response"]["verification"]["status"], "verified");
    id
}

fn base32_decode(s: &str) -> Vec<u8> {
    vestibule_crypto::otp::base32_decode(s).expect("base32")
}

fn app_code(server: &TestServer, secret: &[u8]) -> String {
    let now = vestibule_model::Clock::now(&server.clock).seconds();
    otp::totp_code(secret, otp::totp_step(now))
}

/// Enrols an authenticator app for the signed-in user; returns its secret.
async fn enrol_totp(server: &TestServer, fapi: &Fapi, me: &str) -> Vec<u8> {
    let created = fapi.post(&format!("/v1/me/totp?{me}"), &[]).await;
    let secret = base32_decode(created.ok()["response"]["secret"].as_str().expect("secret"));
    fapi.post(
        &format!("/v1/me/totp/attempt_verification?{me}"),
        &[("code", &app_code(server, &secret))],
    )
    .await
    .ok();
    secret
}

#[tokio::test]
async fn a_phone_is_added_proven_by_sms_and_kept_for_mfa() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let (fapi, _, me) = signed_in(&server, 30).await;
        let number = "+15550300030";
        let created = fapi
            .post(
                &format!("/v1/me/phone_numbers/?{me}"),
                &[("phone_number", number)],
            )
            .await;
        let body = created.ok();
        let phone = &body["response"];
        assert_eq!(phone["object"], "phone_number");
        assert_eq!(phone["verification"]["status"], "unverified", "{phone}");
        assert_eq!(phone["verification"]["strategy"], "phone_code");
        let id = phone["id"].as_str().expect("id").to_owned();

        // Unproven, it names nobody at sign-in.
        server
            .native()
            .post("/v1/client/sign_ins", &[("identifier", number)])
            .await
            .err(422, "form_identifier_not_found");
        // Taken is taken.
        fapi.post(
            &format!("/v1/me/phone_numbers?{me}"),
            &[("phone_number", number)],
        )
        .await
        .err(422, "form_identifier_exists");
        fapi.post(
            &format!("/v1/me/phone_numbers?{me}"),
            &[("phone_number", "555-0100")],
        )
        .await
        .err(422, "form_param_format_invalid");
        // Kept for MFA only once proven.
        fapi.post(
            &format!("/v1/me/phone_numbers/{id}?_method=PATCH&{me}"),
            &[("reserved_for_second_factor", "true")],
        )
        .await
        .err(400, "identification_update_second_factor_unverified");

        let prepared = fapi
            .post(
                &format!("/v1/me/phone_numbers/{id}/prepare_verification?{me}"),
                &[("strategy", "phone_code")],
            )
            .await;
        let v = &prepared.ok()["response"]["verification"];
        assert_eq!(v["status"], "unverified", "{v}");
        assert_eq!(v["attempts"], 0);
        assert!(v["expire_at"].as_i64().is_some());
        // One code at a time.
        fapi.post(
            &format!("/v1/me/phone_numbers/{id}/prepare_verification?{me}"),
            &[("strategy", "phone_code")],
        )
        .await
        .err(429, "too_many_requests");
        let code = server.latest_code(number).await;
        assert_eq!(
            server.inbox(number).await[0]["purpose"],
            "second_factor_code",
            "a verification code, not a sign-in code"
        );
        let wrong = if code == "000000" { "111111" } else { "000000" };
        fapi.post(
            &format!("/v1/me/phone_numbers/{id}/attempt_verification?{me}"),
            &[("code", wrong)],
        )
        .await
        .err(422, "form_code_incorrect");
        let r = fapi
            .post(
                &format!("/v1/me/phone_numbers/{id}/attempt_verification?{me}"),
                &[("code", &code)],
            )
            .await;
        assert_eq!(r.ok()["response"]["verification"]["status"], "verified");
        fapi.post(
            &format!("/v1/me/phone_numbers/{id}/attempt_verification?{me}"),
            &[("code", &code)],
        )
        .await
        .err(400, "verification_already_verified");

        // Kept for MFA: the first second factor brings backup codes, shown once.
        let r = fapi
            .post(
                &format!("/v1/me/phone_numbers/{id}?_method=PATCH&{me}"),
                &[("reserved_for_second_factor", "true")],
            )
            .await;
        let body = r.ok();
        assert_eq!(body["response"]["reserved_for_second_factor"], true);
        assert_eq!(body["response"]["default_second_factor"], true);
        let backup_codes = body["response"]["backup_codes"]
            .as_array()
            .expect("backup codes")
            .len();
        assert_eq!(backup_codes, 10);
        let user = &body["client"]["sessions"][0]["user"];
        assert_eq!(user["two_factor_enabled"], true, "{user}");
        assert_eq!(user["backup_code_enabled"], true);

        // A new sign-in asks for a code to that phone.
        let other = server.native();
        let r = other
            .post(
                "/v1/client/sign_ins",
                &[("identifier", "user30@example.com"), ("password", PASSWORD)],
            )
            .await;
        let si = r.ok()["response"].clone();
        assert_eq!(si["status"], "needs_second_factor", "{si}");
        assert_eq!(
            strategies(&si["supported_second_factors"]),
            ["phone_code", "backup_code"]
        );
        assert_eq!(si["supported_second_factors"][0]["phone_number_id"], id);

        // No longer kept: no second step, and the backup codes are gone with it.
        let r = fapi
            .post(
                &format!("/v1/me/phone_numbers/{id}?_method=PATCH&{me}"),
                &[("reserved_for_second_factor", "false")],
            )
            .await;
        let body = r.ok();
        assert_eq!(body["response"]["reserved_for_second_factor"], false);
        let user = &body["client"]["sessions"][0]["user"];
        assert_eq!(user["two_factor_enabled"], false, "{user}");
        assert_eq!(user["backup_code_enabled"], false);

        let r = fapi
            .post(
                &format!("/v1/me/phone_numbers/{id}?_method=DELETE&{me}"),
                &[],
            )
            .await;
        let body = r.ok();
        assert_eq!(
            body["response"],
            json!({"object": "phone_number", "id": id, "deleted": true})
        );
        let phones = body["client"]["sessions"][0]["user"]["phone_numbers"]
            .as_array()
            .expect("phones")
            .iter()
            .filter(|p| p["id"] == id.as_str())
            .count();
        assert_eq!(phones, 0);
        fapi.post(
            &format!("/v1/me/phone_numbers/{id}?_method=DELETE&{me}"),
            &[],
        )
        .await
        .err(404, "resource_not_found");
    })
    .await;
}

#[tokio::test]
async fn phone_changes_need_a_recent_verification_but_proving_one_does_not() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let (fapi, _, me) = signed_in(&server, 31).await;
        let created = fapi
            .post(
                &format!("/v1/me/phone_numbers/?{me}"),
                &[("phone_number", "+15550300031")],
            )
            .await;
        let id = created.ok()["response"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        server.clock.advance_seconds(11 * 60);
        fapi.post(
            &format!("/v1/me/phone_numbers/?{me}"),
            &[("phone_number", "+15550300131")],
        )
        .await
        .err(403, "session_reverification_required");
        fapi.post(
            &format!("/v1/me/phone_numbers/{id}?_method=DELETE&{me}"),
            &[],
        )
        .await
        .err(403, "session_reverification_required");
        fapi.post(
            &format!("/v1/me/phone_numbers/{id}/prepare_verification?{me}"),
            &[("strategy", "phone_code")],
        )
        .await
        .ok();
    })
    .await;
}

#[tokio::test]
async fn reverifying_the_second_factor_restarts_its_age() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let (fapi, sid, me) = signed_in(&server, 32).await;
        let secret = enrol_totp(&server, &fapi, &me).await;
        server.clock.advance_seconds(11 * 60);
        fapi.post(&format!("/v1/me/backup_codes/?{me}"), &[])
            .await
            .err(403, "session_reverification_required");

        let verify_path = format!("/v1/client/sessions/{sid}/verify");
        // Nothing to attempt before a verification is started.
        fapi.post(
            &format!("{verify_path}/attempt_second_factor"),
            &[("strategy", "totp"), ("code", "123456")],
        )
        .await
        .err(400, "session_reverification_missing");
        fapi.post(&verify_path, &[("level", "strongest")])
            .await
            .err(422, "form_param_value_invalid");

        let started = fapi.post(&verify_path, &[("level", "second_factor")]).await;
        let sv = started.ok()["response"].clone();
        assert_eq!(sv["object"], "session_reverification");
        assert_eq!(sv["status"], "needs_second_factor", "{sv}");
        assert_eq!(sv["level"], "second_factor");
        assert_eq!(sv["session"]["id"], sid);
        assert_eq!(
            strategies(&sv["supported_second_factors"]),
            ["totp", "backup_code"]
        );
        assert_eq!(sv["supported_first_factors"], json!([]));
        // The first factor is not what this level waits for.
        fapi.post(
            &format!("{verify_path}/attempt_first_factor"),
            &[("strategy", "password"), ("password", PASSWORD)],
        )
        .await
        .err(400, "invalid_action_for_session_reverification");

        server.clock.advance_seconds(30);
        let right = app_code(&server, &secret);
        let wrong = if right == "000000" {
            "111111"
        } else {
            "000000"
        };
        fapi.post(
            &format!("{verify_path}/attempt_second_factor"),
            &[("strategy", "totp"), ("code", wrong)],
        )
        .await
        .err(422, "form_code_incorrect");
        let done = fapi
            .post(
                &format!("{verify_path}/attempt_second_factor"),
                &[("strategy", "totp"), ("code", &right)],
            )
            .await;
        let body = done.ok();
        let sv = &body["response"];
        assert_eq!(sv["status"], "complete", "{sv}");
        assert_eq!(sv["second_factor_verification"]["status"], "verified");
        assert_eq!(sv["session"]["factor_verification_age"], json!([11, 0]));
        let claims = verify(
            &server,
            sv["session"]["last_active_token"]["jwt"]
                .as_str()
                .expect("jwt"),
        )
        .await;
        assert_eq!(claims["fva"], json!([11, 0]), "a token with the new age");

        // The change that needed it goes through now.
        let r = fapi.post(&format!("/v1/me/backup_codes/?{me}"), &[]).await;
        assert_eq!(
            r.ok()["response"]["codes"].as_array().map(Vec::len),
            Some(10)
        );
        // And the finished verification takes no more attempts.
        fapi.post(
            &format!("{verify_path}/attempt_second_factor"),
            &[("strategy", "totp"), ("code", &right)],
        )
        .await
        .err(400, "session_reverification_missing");
    })
    .await;
}

#[tokio::test]
async fn without_mfa_reverification_takes_the_password_or_an_email_code() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let (fapi, sid, me) = signed_in(&server, 33).await;
        server.clock.advance_seconds(20 * 60);
        let verify_path = format!("/v1/client/sessions/{sid}/verify");

        let started = fapi.post(&verify_path, &[("level", "multi_factor")]).await;
        let sv = started.ok()["response"].clone();
        assert_eq!(sv["level"], "first_factor", "no second factor to ask: {sv}");
        assert_eq!(sv["status"], "needs_first_factor");
        let first = strategies(&sv["supported_first_factors"]);
        assert!(first.contains(&"password".to_owned()), "{first:?}");
        assert!(first.contains(&"email_code".to_owned()), "{first:?}");
        assert!(!first.iter().any(|s| s.starts_with("reset_password")));

        fapi.post(
            &format!("{verify_path}/attempt_first_factor"),
            &[("strategy", "password"), ("password", "not it at all")],
        )
        .await
        .err(422, "form_password_incorrect");

        // An email code completes it as well as the password would.
        let email_id = sv["supported_first_factors"]
            .as_array()
            .expect("factors")
            .iter()
            .find(|f| f["strategy"] == "email_code")
            .expect("email code")["email_address_id"]
            .as_str()
            .expect("id")
            .to_owned();
        let prepared = fapi
            .post(
                &format!("{verify_path}/prepare_first_factor"),
                &[("strategy", "email_code"), ("email_address_id", &email_id)],
            )
            .await;
        let v = &prepared.ok()["response"]["first_factor_verification"];
        assert_eq!(v["status"], "unverified", "{v}");
        assert_eq!(v["strategy"], "email_code");
        let code = server.latest_code("user33@example.com").await;
        let done = fapi
            .post(
                &format!("{verify_path}/attempt_first_factor"),
                &[("strategy", "email_code"), ("code", &code)],
            )
            .await;
        let sv = done.ok()["response"].clone();
        assert_eq!(sv["status"], "complete", "{sv}");
        assert_eq!(sv["session"]["factor_verification_age"], json!([0, -1]));

        // Recent enough now to add a phone number.
        fapi.post(
            &format!("/v1/me/phone_numbers/?{me}"),
            &[("phone_number", "+15550300033")],
        )
        .await
        .ok();
    })
    .await;
}

#[tokio::test]
async fn multi_factor_reverification_takes_both_factors_in_order() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let (fapi, sid, me) = signed_in(&server, 34).await;
        let phone = add_verified_phone(&server, &fapi, &me, "+15550300034").await;
        let r = fapi
            .post(
                &format!("/v1/me/phone_numbers/{phone}?_method=PATCH&{me}"),
                &[("reserved_for_second_factor", "true")],
            )
            .await;
        assert_eq!(r.ok()["response"]["reserved_for_second_factor"], true);
        server.clock.advance_seconds(30 * 60);
        let verify_path = format!("/v1/client/sessions/{sid}/verify");
        let started = fapi.post(&verify_path, &[("level", "multi_factor")]).await;
        let sv = started.ok()["response"].clone();
        assert_eq!(sv["level"], "multi_factor");
        assert_eq!(sv["status"], "needs_first_factor");
        fapi.post(
            &format!("{verify_path}/prepare_second_factor"),
            &[("strategy", "phone_code"), ("phone_number_id", &phone)],
        )
        .await
        .err(400, "invalid_action_for_session_reverification");

        let r = fapi
            .post(
                &format!("{verify_path}/attempt_first_factor"),
                &[("strategy", "password"), ("password", PASSWORD)],
            )
            .await;
        let sv = r.ok()["response"].clone();
        assert_eq!(sv["status"], "needs_second_factor", "{sv}");
        assert_eq!(sv["session"]["factor_verification_age"], json!([0, -1]));

        server.clock.advance_seconds(1);
        let r = fapi
            .post(
                &format!("{verify_path}/prepare_second_factor"),
                &[("strategy", "phone_code"), ("phone_number_id", &phone)],
            )
            .await;
        assert_eq!(
            r.ok()["response"]["second_factor_verification"]["strategy"],
            "phone_code"
        );
        let code = server.latest_code("+15550300034").await;
        let r = fapi
            .post(
                &format!("{verify_path}/attempt_second_factor"),
                &[("strategy", "phone_code"), ("code", &code)],
            )
            .await;
        let sv = r.ok()["response"].clone();
        assert_eq!(sv["status"], "complete", "{sv}");
        assert_eq!(sv["session"]["factor_verification_age"], json!([0, 0]));

        // Another client cannot reverify this session.
        server
            .native()
            .post(&verify_path, &[("level", "first_factor")])
            .await
            .err(404, "resource_not_found");
    })
    .await;
}

#[tokio::test]
async fn removing_and_adding_a_number_again_does_not_reset_its_text_budget() {
    each_backend(|b| async move {
        use vestibule_model::rate_limit::{Limit, RateLimitSettings};
        let store = std::sync::Arc::new(vestibule_store::testing::fresh(b).await);
        let mut c = crate::harness::config("unused", crate::harness::test_settings());
        let generous = Limit::new(100_000, 10);
        c.settings.rate_limits = RateLimitSettings {
            enabled: true,
            sign_in_create_per_ip: generous,
            attempts_per_ip: generous,
            sign_in_create_per_identifier: generous,
            attempts_per_user: generous,
            messages_per_identification: Limit::new(1, 3600),
        };
        let server =
            TestServer::on_store(store, c, vestibule_model::TestClock::starting_now()).await;
        let (fapi, _, me) = signed_in(&server, 35).await;
        let number = "+15550300035";
        for round in 0..2 {
            let created = fapi
                .post(
                    &format!("/v1/me/phone_numbers/?{me}"),
                    &[("phone_number", number)],
                )
                .await;
            let id = created.ok()["response"]["id"]
                .as_str()
                .expect("id")
                .to_owned();
            let prepared = fapi
                .post(
                    &format!("/v1/me/phone_numbers/{id}/prepare_verification?{me}"),
                    &[("strategy", "phone_code")],
                )
                .await;
            if round == 0 {
                prepared.ok();
            } else {
                prepared.err(429, "too_many_requests");
            }
            fapi.post(
                &format!("/v1/me/phone_numbers/{id}?_method=DELETE&{me}"),
                &[],
            )
            .await
            .ok();
        }
        assert_eq!(server.inbox(number).await.len(), 1, "one text, not two");
    })
    .await;
}

#[tokio::test]
async fn wrong_backup_codes_in_a_reverification_count_toward_the_lockout() {
    each_backend(|b| async move {
        let mut settings = crate::harness::test_settings();
        settings.lockout.max_attempts = 2;
        let server = TestServer::with_settings(b, settings).await;
        let (fapi, sid, me) = signed_in(&server, 36).await;
        enrol_totp(&server, &fapi, &me).await;
        let verify_path = format!("/v1/client/sessions/{sid}/verify");
        fapi.post(&verify_path, &[("level", "second_factor")])
            .await
            .ok();
        for guess in ["wrongcode", "wrongcod2"] {
            fapi.post(
                &format!("{verify_path}/attempt_second_factor"),
                &[("strategy", "backup_code"), ("code", guess)],
            )
            .await
            .err(422, "form_code_incorrect");
        }
        fapi.post(
            &format!("{verify_path}/attempt_second_factor"),
            &[("strategy", "backup_code"), ("code", "wrongcod3")],
        )
        .await
        .err(403, "user_locked");
    })
    .await;
}

#[tokio::test]
async fn after_the_last_second_factor_goes_the_password_is_enough_to_reverify() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let (fapi, sid, me) = signed_in(&server, 37).await;
        enrol_totp(&server, &fapi, &me).await;
        fapi.post(&format!("/v1/me/totp?_method=DELETE&{me}"), &[])
            .await
            .ok();
        server.clock.advance_seconds(11 * 60);
        let add_path = format!("/v1/me/phone_numbers/?{me}");
        let add = || fapi.post(&add_path, &[("phone_number", "+15550300037")]);
        add().await.err(403, "session_reverification_required");
        let verify_path = format!("/v1/client/sessions/{sid}/verify");
        let started = fapi.post(&verify_path, &[("level", "second_factor")]).await;
        assert_eq!(started.ok()["response"]["level"], "first_factor");
        let done = fapi
            .post(
                &format!("{verify_path}/attempt_first_factor"),
                &[("strategy", "password"), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(done.ok()["response"]["status"], "complete");
        add().await.ok();
    })
    .await;
}
