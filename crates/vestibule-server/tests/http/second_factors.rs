//! Second factors: enrolling an authenticator app and backup codes through `/v1/me`, signing in
//! with them, phone codes as a second factor, client trust, required MFA, reverification, and the
//! operator's MFA endpoints.

use crate::harness::{each_backend, test_settings, verify, Fapi, TestServer, PASSWORD};
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;
use vestibule_crypto::otp;

/// RFC 4648 base32 (no padding) back to bytes, as an authenticator app reads the secret.
pub(crate) fn base32_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = ALPHABET.iter().position(|a| *a == c).expect("base32") as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

/// The code an authenticator app shows now.
pub(crate) fn app_code(server: &TestServer, secret: &[u8]) -> String {
    let now = vestibule_model::Clock::now(&server.clock).seconds();
    otp::totp_code(secret, otp::totp_step(now))
}

/// Signs user `n` in on `fapi` and enrols an authenticator app; returns its secret and the
/// backup codes the verification answered with.
pub(crate) async fn enrol_totp(server: &TestServer, fapi: &Fapi, n: u32) -> (Vec<u8>, Vec<String>) {
    let sid = fapi.sign_in(&format!("user{n}@example.com")).await;
    let me = format!("_clerk_session_id={sid}");
    let created = fapi.post(&format!("/v1/me/totp?{me}"), &[]).await;
    let totp = created.ok()["response"].clone();
    assert_eq!(totp["object"], "totp");
    assert_eq!(totp["verified"], false);
    let uri = totp["uri"].as_str().expect("uri");
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    let secret = base32_decode(totp["secret"].as_str().expect("secret"));
    assert!(
        uri.contains(&format!(
            "secret={}",
            totp["secret"].as_str().unwrap_or_default()
        )),
        "{uri}"
    );
    assert_eq!(secret.len(), 20);

    // A wrong code does not enable it.
    let right = app_code(server, &secret);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    fapi.post(
        &format!("/v1/me/totp/attempt_verification?{me}"),
        &[("code", wrong)],
    )
    .await
    .err(422, "form_code_incorrect");

    let verified = fapi
        .post(
            &format!("/v1/me/totp/attempt_verification?{me}"),
            &[("code", &right)],
        )
        .await;
    let body = verified.ok();
    assert_eq!(body["response"]["verified"], true, "{body}");
    assert!(
        body["response"]["secret"].is_null(),
        "the secret is shown once"
    );
    let codes: Vec<String> = body["response"]["backup_codes"]
        .as_array()
        .expect("backup codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    assert!(codes.iter().all(|c| c.len() >= 8));
    let user = &body["client"]["sessions"][0]["user"];
    assert_eq!(user["totp_enabled"], true, "{user}");
    assert_eq!(user["two_factor_enabled"], true);
    assert_eq!(user["backup_code_enabled"], true);
    (secret, codes)
}

/// A password sign-in on a fresh client that stops at `needs_second_factor`; returns the client
/// and the sign-in id.
pub(crate) async fn password_needs_second_factor(server: &TestServer, n: u32) -> (Fapi, String) {
    let fapi = server.native();
    let r = fapi
        .post(
            "/v1/client/sign_ins",
            &[
                ("identifier", &format!("user{n}@example.com")),
                ("password", PASSWORD),
            ],
        )
        .await;
    let body = r.ok();
    assert_eq!(body["response"]["status"], "needs_second_factor", "{body}");
    assert!(body["response"]["created_session_id"].is_null());
    assert_eq!(
        body["client"]["sessions"].as_array().map(Vec::len),
        Some(0),
        "no session before the second factor"
    );
    let id = body["response"]["id"].as_str().expect("id").to_owned();
    (fapi, id)
}

fn strategies(factors: &Value) -> Vec<String> {
    factors
        .as_array()
        .expect("factors")
        .iter()
        .map(|f| f["strategy"].as_str().expect("strategy").to_owned())
        .collect()
}

#[tokio::test]
async fn totp_enrolment_then_sign_in_with_the_app_and_with_backup_codes() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        server.user(1).await;
        let (secret, codes) = enrol_totp(&server, &server.native(), 1).await;

        // The code used to enable the app cannot be used again, even within its step.
        let (fapi, id) = password_needs_second_factor(&server, 1).await;
        let si = fapi.get(&format!("/v1/client/sign_ins/{id}")).await;
        assert_eq!(
            strategies(&si.ok()["response"]["supported_second_factors"]),
            ["totp", "backup_code"]
        );
        let attempt = format!("/v1/client/sign_ins/{id}/attempt_second_factor");
        let used = app_code(&server, &secret);
        fapi.post(&attempt, &[("strategy", "totp"), ("code", &used)])
            .await
            .err(422, "form_code_incorrect");

        // The next step's code works, once.
        server.clock.advance_seconds(30);
        let next = app_code(&server, &secret);
        let r = fapi
            .post(&attempt, &[("strategy", "totp"), ("code", &next)])
            .await;
        let body = r.ok();
        assert_eq!(body["response"]["status"], "complete", "{body}");
        let sid = body["response"]["created_session_id"]
            .as_str()
            .expect("session")
            .to_owned();
        let token = fapi.token_for(&sid).await;
        let claims = verify(&server, token.ok()["jwt"].as_str().expect("jwt")).await;
        assert_eq!(claims["fva"], json!([0, 0]), "both factors just verified");

        let (other, id) = password_needs_second_factor(&server, 1).await;
        other
            .post(
                &format!("/v1/client/sign_ins/{id}/attempt_second_factor"),
                &[("strategy", "totp"), ("code", &next)],
            )
            .await
            .err(422, "form_code_incorrect");

        // A backup code, typed with a dash and in capitals, works once.
        let typed = format!("{}-{}", &codes[3][..4], &codes[3][4..]).to_uppercase();
        let r = other
            .post(
                &format!("/v1/client/sign_ins/{id}/attempt_second_factor"),
                &[("strategy", "backup_code"), ("code", &typed)],
            )
            .await;
        assert_eq!(r.ok()["response"]["status"], "complete");
        let (again, id) = password_needs_second_factor(&server, 1).await;
        again
            .post(
                &format!("/v1/client/sign_ins/{id}/attempt_second_factor"),
                &[("strategy", "backup_code"), ("code", &codes[3])],
            )
            .await
            .err(422, "form_code_incorrect");
        // A phone code is not one of this account's second factors.
        again
            .post(
                &format!("/v1/client/sign_ins/{id}/prepare_second_factor"),
                &[("strategy", "phone_code")],
            )
            .await
            .err(400, "strategy_for_user_invalid");

        let (_, user) = server
            .bapi(
                Method::GET,
                "/v1/users?email_address=user1@example.com",
                None,
            )
            .await;
        assert_eq!(user[0]["totp_enabled"], true, "{user}");
    })
    .await;
}

#[tokio::test]
async fn the_same_backup_code_in_parallel_completes_one_sign_in() {
    each_backend(|b| async move {
        // The race is between right guesses, not against the lockout they are counted toward.
        let mut settings = crate::harness::test_settings();
        settings.lockout.max_attempts = 100;
        let server = TestServer::with_settings(b, settings).await;
        server.user(2).await;
        let (_, codes) = enrol_totp(&server, &server.native(), 2).await;
        let mut sign_ins = Vec::new();
        for _ in 0..10 {
            sign_ins.push(password_needs_second_factor(&server, 2).await);
        }
        let code = Arc::new(codes[0].clone());
        let handles: Vec<_> = sign_ins
            .into_iter()
            .map(|(fapi, id)| {
                let code = Arc::clone(&code);
                tokio::spawn(async move {
                    let r = fapi
                        .post(
                            &format!("/v1/client/sign_ins/{id}/attempt_second_factor"),
                            &[("strategy", "backup_code"), ("code", &code)],
                        )
                        .await;
                    r.status.as_u16()
                })
            })
            .collect();
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
            statuses.iter().all(|s| *s == 200 || *s == 422),
            "{statuses:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn enrolment_changes_need_a_recent_verification() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        server.user(3).await;
        let fapi = server.native();
        enrol_totp(&server, &fapi, 3).await;
        let sid = fapi.get("/v1/client").await.ok()["response"]["last_active_session_id"]
            .as_str()
            .expect("session")
            .to_owned();
        let me = format!("_clerk_session_id={sid}");

        // Within ten minutes of verifying the app, new backup codes replace the old ones.
        let r = fapi.post(&format!("/v1/me/backup_codes/?{me}"), &[]).await;
        let body = r.ok();
        assert_eq!(body["response"]["object"], "backup_code");
        assert_eq!(body["response"]["codes"].as_array().map(Vec::len), Some(10));

        server.clock.advance_seconds(11 * 60);
        for (method, path) in [
            ("POST", format!("/v1/me/backup_codes?{me}")),
            ("POST", format!("/v1/me/totp?{me}")),
            ("DELETE", format!("/v1/me/totp?{me}")),
        ] {
            let r = fapi.call(method, &path, &[]).await;
            r.err(403, "session_reverification_required");
        }
        // Still enrolled: nothing changed.
        let (_, user) = server
            .bapi(
                Method::GET,
                "/v1/users?email_address=user3@example.com",
                None,
            )
            .await;
        assert_eq!(user[0]["totp_enabled"], true);
        assert_eq!(user[0]["backup_code_enabled"], true);
    })
    .await;
}

#[tokio::test]
async fn removing_the_app_removes_the_second_step_and_backup_codes_need_a_factor() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        server.user(4).await;
        let fapi = server.native();
        enrol_totp(&server, &fapi, 4).await;
        let sid = fapi.get("/v1/client").await.ok()["response"]["last_active_session_id"]
            .as_str()
            .expect("session")
            .to_owned();
        let me = format!("_clerk_session_id={sid}");
        // A second enrolment while one is active is refused.
        fapi.post(&format!("/v1/me/totp?{me}"), &[])
            .await
            .err(400, "totp_already_enabled");
        // clerk-js tunnels DELETE as POST with _method.
        let r = fapi
            .post(&format!("/v1/me/totp?_method=DELETE&{me}"), &[])
            .await;
        let body = r.ok();
        assert_eq!(body["response"]["deleted"], true, "{body}");
        assert_eq!(body["response"]["object"], "totp");
        let user = &body["client"]["sessions"][0]["user"];
        assert_eq!(user["totp_enabled"], false, "{user}");
        assert_eq!(
            user["backup_code_enabled"], false,
            "backup codes went with it"
        );

        fapi.post(&format!("/v1/me/backup_codes?{me}"), &[])
            .await
            .err(400, "backup_codes_not_available");
        // A password alone signs in again.
        server.native().sign_in("user4@example.com").await;
    })
    .await;
}

#[tokio::test]
async fn a_phone_kept_for_mfa_gets_a_code_by_sms() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let user = server.user(5).await;
        let user_id = user["id"].as_str().expect("id");
        let (status, phone) = server
            .bapi(
                Method::POST,
                "/v1/phone_numbers",
                Some(json!({
                    "user_id": user_id,
                    "phone_number": "+15550199005",
                    "verified": true,
                    "reserved_for_second_factor": true,
                })),
            )
            .await;
        assert_eq!(status, 200, "{phone}");
        assert_eq!(phone["reserved_for_second_factor"], true);
        assert_eq!(
            phone["default_second_factor"], true,
            "the first one is the default"
        );

        let (fapi, id) = password_needs_second_factor(&server, 5).await;
        let si = fapi.get(&format!("/v1/client/sign_ins/{id}")).await;
        let factors = si.ok()["response"]["supported_second_factors"].clone();
        assert_eq!(strategies(&factors), ["phone_code"]);
        assert_eq!(factors[0]["phone_number_id"], phone["id"]);
        assert!(
            !factors[0]["safe_identifier"]
                .as_str()
                .unwrap_or_default()
                .contains("0199005"),
            "masked: {factors}"
        );
        // The number kept for MFA is not a first factor any more.
        let first: Vec<String> = strategies(&si.ok()["response"]["supported_first_factors"]);
        assert!(first.contains(&"phone_code".to_owned()), "{first:?}");

        let prepared = fapi
            .post(
                &format!("/v1/client/sign_ins/{id}/prepare_second_factor"),
                &[
                    ("strategy", "phone_code"),
                    ("phone_number_id", phone["id"].as_str().expect("id")),
                ],
            )
            .await;
        let v = &prepared.ok()["response"]["second_factor_verification"];
        assert_eq!(v["status"], "unverified", "{v}");
        assert_eq!(v["strategy"], "phone_code");
        let code = server.latest_code("+15550199005").await;
        let r = fapi
            .post(
                &format!("/v1/client/sign_ins/{id}/attempt_second_factor"),
                &[("strategy", "phone_code"), ("code", &code)],
            )
            .await;
        assert_eq!(r.ok()["response"]["status"], "complete");

        // The operator turns MFA off: the password is enough again.
        let (status, body) = server
            .bapi(Method::DELETE, &format!("/v1/users/{user_id}/mfa"), None)
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["user_id"], user_id);
        server.native().sign_in("user5@example.com").await;
    })
    .await;
}

#[tokio::test]
async fn operators_verify_and_remove_a_users_totp() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let user = server.user(6).await;
        let user_id = user["id"].as_str().expect("id").to_owned();
        let verify_path = format!("/v1/users/{user_id}/verify_totp");
        let (status, body) = server
            .bapi(Method::POST, &verify_path, Some(json!({"code": "123456"})))
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["errors"][0]["code"], "totp_disabled");

        let (secret, codes) = enrol_totp(&server, &server.native(), 6).await;
        server.clock.advance_seconds(30);
        let code = app_code(&server, &secret);
        let (status, body) = server
            .bapi(Method::POST, &verify_path, Some(json!({"code": code})))
            .await;
        assert_eq!((status.as_u16(), &body["verified"]), (200, &json!(true)));
        assert_eq!(body["code_type"], "totp");
        let (status, body) = server
            .bapi(Method::POST, &verify_path, Some(json!({"code": code})))
            .await;
        assert_eq!(status, 422, "used once: {body}");
        assert_eq!(body["errors"][0]["code"], "totp_incorrect_code");
        let (status, body) = server
            .bapi(Method::POST, &verify_path, Some(json!({"code": codes[1]})))
            .await;
        assert_eq!(body["code_type"], "backup_code", "{status} {body}");

        let (status, _) = server
            .bapi(
                Method::DELETE,
                &format!("/v1/users/{user_id}/backup_code"),
                None,
            )
            .await;
        assert_eq!(status, 200);
        let (status, body) = server
            .bapi(Method::DELETE, &format!("/v1/users/{user_id}/totp"), None)
            .await;
        assert_eq!(status, 200, "{body}");
        let (_, u) = server
            .bapi(Method::GET, &format!("/v1/users/{user_id}"), None)
            .await;
        assert_eq!(u["totp_enabled"], false);
        assert_eq!(u["backup_code_enabled"], false);
        assert_eq!(u["two_factor_enabled"], false);
    })
    .await;
}

#[tokio::test]
async fn a_new_client_confirms_a_password_with_an_email_code_once() {
    each_backend(|b| async move {
        let mut settings = test_settings();
        settings.sign_in.client_trust = true;
        let server = TestServer::with_settings(b, settings).await;
        server.user(7).await;
        let fapi = server.native();
        let start = |password: &'static str| {
            let fapi = &fapi;
            async move {
                fapi.post(
                    "/v1/client/sign_ins",
                    &[("identifier", "user7@example.com"), ("password", password)],
                )
                .await
            }
        };
        // A wrong password is the ordinary error.
        start("not the password")
            .await
            .err(422, "form_password_incorrect");

        let r = start(PASSWORD).await;
        let body = r.ok();
        let si = &body["response"];
        assert_eq!(si["status"], "needs_client_trust", "{body}");
        assert_eq!(si["client_trust_state"], "new");
        assert!(si["created_session_id"].is_null());
        let factors = strategies(&si["supported_second_factors"]);
        assert!(factors.contains(&"email_code".to_owned()), "{factors:?}");
        assert!(!factors.contains(&"totp".to_owned()));
        let id = si["id"].as_str().expect("id").to_owned();
        // No token or session yet.
        assert_eq!(body["client"]["sessions"].as_array().map(Vec::len), Some(0));

        fapi.post(
            &format!("/v1/client/sign_ins/{id}/prepare_second_factor"),
            &[("strategy", "email_code")],
        )
        .await
        .ok();
        let code = server.latest_code("user7@example.com").await;
        let message = &server.inbox("user7@example.com").await[0];
        assert_eq!(message["purpose"], "client_trust_code");
        assert!(
            message["text"]
                .as_str()
                .unwrap_or_default()
                .contains("new device"),
            "{message}"
        );
        let r = fapi
            .post(
                &format!("/v1/client/sign_ins/{id}/attempt_second_factor"),
                &[("strategy", "email_code"), ("code", &code)],
            )
            .await;
        let body = r.ok();
        assert_eq!(body["response"]["status"], "complete", "{body}");
        let sid = body["response"]["created_session_id"]
            .as_str()
            .expect("sid")
            .to_owned();

        // Signed out and in again on the same client: no second step.
        fapi.post(&format!("/v1/client/sessions/{sid}/end"), &[])
            .await
            .ok();
        let r = start(PASSWORD).await;
        let body = r.ok();
        assert_eq!(body["response"]["status"], "complete", "{body}");
        assert_eq!(body["response"]["client_trust_state"], "known");

        // Code-based first factors are not affected on a new client.
        let other = server.native();
        let seen = server.inbox("user7@example.com").await.len();
        // The inbox lists newest first by time; the test clock must move for "newest" to mean it.
        server.clock.advance_seconds(1);
        let r = other
            .post(
                "/v1/client/sign_ins",
                &[
                    ("identifier", "user7@example.com"),
                    ("strategy", "email_code"),
                ],
            )
            .await;
        let id = r.ok()["response"]["id"].as_str().expect("id").to_owned();
        let code = server.next_code("user7@example.com", seen).await;
        let r = other
            .post(
                &format!("/v1/client/sign_ins/{id}/attempt_first_factor"),
                &[("strategy", "email_code"), ("code", &code)],
            )
            .await;
        assert_eq!(r.ok()["response"]["status"], "complete");
    })
    .await;
}

#[tokio::test]
async fn required_mfa_leaves_sessions_pending_until_an_app_is_enrolled() {
    each_backend(|b| async move {
        let mut settings = test_settings();
        settings.mfa.required = true;
        let server = TestServer::with_settings(b, settings).await;
        server.user(8).await;
        let fapi = server.native();
        let sid = fapi.sign_in("user8@example.com").await;
        let client = fapi.get("/v1/client").await;
        let session = &client.ok()["response"]["sessions"][0];
        assert_eq!(session["status"], "pending", "{session}");
        assert_eq!(session["tasks"], json!([{"key": "setup-mfa"}]));
        let token = fapi.token_for(&sid).await;
        let claims = verify(&server, token.ok()["jwt"].as_str().expect("jwt")).await;
        assert_eq!(claims["sts"], "pending");

        let env = fapi.get("/v1/environment").await;
        assert_eq!(
            env.ok()["user_settings"]["sign_up"]["mfa"]["required"],
            true
        );

        let me = format!("_clerk_session_id={sid}");
        // Its task is to enrol a factor: no reverification asked, however long ago it signed in.
        server.clock.advance_seconds(3600);
        let created = fapi.post(&format!("/v1/me/totp?{me}"), &[]).await;
        let secret = base32_decode(created.ok()["response"]["secret"].as_str().expect("secret"));
        let r = fapi
            .post(
                &format!("/v1/me/totp/attempt_verification?{me}"),
                &[("code", &app_code(&server, &secret))],
            )
            .await;
        let body = r.ok();
        let session = &body["client"]["sessions"][0];
        assert_eq!(session["status"], "active", "{session}");
        assert!(session["tasks"].as_array().is_none_or(Vec::is_empty));
        let claims = verify(
            &server,
            session["last_active_token"]["jwt"].as_str().expect("jwt"),
        )
        .await;
        assert_eq!(claims["sts"], "active", "a fresh token, not the cached one");
        assert_eq!(
            claims["fva"],
            json!([60, 0]),
            "the app just verified, the password an hour ago"
        );

        // With MFA required, the last second factor cannot be removed.
        server.clock.advance_seconds(60);
        fapi.post(&format!("/v1/me/totp?_method=DELETE&{me}"), &[])
            .await
            .err(400, "second_factor_deletion_not_allowed");
    })
    .await;
}

#[tokio::test]
async fn operators_import_a_totp_secret_and_backup_codes_with_a_user() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let create = |body: Value| server.bapi(Method::POST, "/v1/users", Some(body));
        let (status, body) = create(json!({
            "email_address": ["imported@example.com"],
            "password": PASSWORD,
            "totp_secret": "not base32!",
        }))
        .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["errors"][0]["meta"]["param_name"], "totp_secret");
        let (status, body) = create(json!({
            "email_address": ["imported@example.com"],
            "password": PASSWORD,
            "backup_codes": ["abcdefgh"],
        }))
        .await;
        assert_eq!(status, 400, "backup codes alone: {body}");
        assert_eq!(body["errors"][0]["code"], "backup_codes_not_available");

        let (status, user) = create(json!({
            "email_address": ["imported@example.com"],
            "password": PASSWORD,
            "totp_secret": "jbsw y3dp ehpk 3pxp",
            "backup_codes": ["imported-code-1", "imported-code-2"],
        }))
        .await;
        assert_eq!(status, 200, "{user}");
        assert_eq!(user["totp_enabled"], true);
        assert_eq!(user["backup_code_enabled"], true);

        let secret = base32_decode("JBSWY3DPEHPK3PXP");
        let fapi = server.native();
        let r = fapi
            .post(
                "/v1/client/sign_ins",
                &[
                    ("identifier", "imported@example.com"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        let id = r.ok()["response"]["id"].as_str().expect("id").to_owned();
        assert_eq!(r.ok()["response"]["status"], "needs_second_factor");
        let r = fapi
            .post(
                &format!("/v1/client/sign_ins/{id}/attempt_second_factor"),
                &[("strategy", "totp"), ("code", &app_code(&server, &secret))],
            )
            .await;
        assert_eq!(r.ok()["response"]["status"], "complete");

        let other = server.native();
        let r = other
            .post(
                "/v1/client/sign_ins",
                &[
                    ("identifier", "imported@example.com"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        let id = r.ok()["response"]["id"].as_str().expect("id").to_owned();
        let r = other
            .post(
                &format!("/v1/client/sign_ins/{id}/attempt_second_factor"),
                &[("strategy", "backup_code"), ("code", "IMPORTED-CODE-2")],
            )
            .await;
        assert_eq!(r.ok()["response"]["status"], "complete");
    })
    .await;
}

#[tokio::test]
async fn operators_import_second_factors_into_an_existing_user() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let user = server.user(9).await;
        let user_id = user["id"].as_str().expect("id").to_owned();
        let path = format!("/v1/users/{user_id}");
        let (status, body) = server
            .bapi(
                Method::PATCH,
                &path,
                Some(json!({"backup_codes": ["abcdefgh"]})),
            )
            .await;
        assert_eq!(status, 400, "backup codes need a second factor: {body}");
        assert_eq!(body["errors"][0]["code"], "backup_codes_not_available");

        let (status, body) = server
            .bapi(
                Method::PATCH,
                &path,
                Some(json!({"totp_secret": "JBSWY3DPEHPK3PXP", "first_name": "Nine"})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["totp_enabled"], true);
        assert_eq!(body["backup_code_enabled"], false);
        assert_eq!(body["first_name"], "Nine");
        // With an app in place, a set of backup codes may come alone.
        let (status, body) = server
            .bapi(
                Method::PATCH,
                &path,
                Some(json!({"backup_codes": ["update-code-1"]})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["backup_code_enabled"], true);

        let secret = base32_decode("JBSWY3DPEHPK3PXP");
        let (fapi, id) = password_needs_second_factor(&server, 9).await;
        let r = fapi
            .post(
                &format!("/v1/client/sign_ins/{id}/attempt_second_factor"),
                &[("strategy", "totp"), ("code", &app_code(&server, &secret))],
            )
            .await;
        assert_eq!(r.ok()["response"]["status"], "complete");
        let (fapi, id) = password_needs_second_factor(&server, 9).await;
        let r = fapi
            .post(
                &format!("/v1/client/sign_ins/{id}/attempt_second_factor"),
                &[("strategy", "backup_code"), ("code", "update-code-1")],
            )
            .await;
        assert_eq!(r.ok()["response"]["status"], "complete");
    })
    .await;
}
