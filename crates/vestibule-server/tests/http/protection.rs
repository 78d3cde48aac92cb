//! Brute force and enumeration: lockout, rate limits, races against the counters, and answers
//! that do not reveal which accounts exist.

use crate::harness::*;
use std::sync::Arc;
use vestibule_model::rate_limit::{Limit, RateLimitSettings};

async fn failed_attempts(server: &TestServer, user: &serde_json::Value) -> u32 {
    let id = vestibule_model::UserId::parse(user["id"].as_str().expect("id")).expect("user id");
    let mut conn = server.state.store.read().await.expect("read");
    vestibule_store::users::get(&mut conn, &id)
        .await
        .expect("get")
        .expect("user")
        .failed_verification_attempts
}

#[tokio::test]
async fn ten_failures_lock_for_an_hour_even_against_the_right_password() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let user = server.user(1).await;
        let fapi = server.native();
        for _ in 0..10 {
            fapi.post(
                "/v1/client/sign_ins",
                &[("identifier", "user1"), ("password", "wrong wrong wrong")],
            )
            .await
            .err(422, "form_password_incorrect");
        }
        let r = fapi
            .post(
                "/v1/client/sign_ins",
                &[("identifier", "user1"), ("password", PASSWORD)],
            )
            .await;
        r.err(403, "user_locked");
        assert_eq!(
            r.body["errors"][0]["meta"]["lockout_expires_in_seconds"],
            3600
        );
        // Codes count too, and a locked account is sent none.
        fapi.post(
            "/v1/client/sign_ins",
            &[
                ("identifier", "user1@example.com"),
                ("strategy", "email_code"),
            ],
        )
        .await
        .err(403, "user_locked");
        server.clock.advance_seconds(1800);
        let r = fapi
            .post(
                "/v1/client/sign_ins",
                &[("identifier", "user1"), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(
            r.body["errors"][0]["meta"]["lockout_expires_in_seconds"],
            1800
        );
        server.clock.advance_seconds(1800);
        fapi.sign_in("user1").await;
        assert_eq!(
            failed_attempts(&server, &user).await,
            0,
            "success resets the count"
        );
    })
    .await;
}

#[tokio::test]
async fn wrong_codes_count_and_an_operator_can_unlock() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let user = server.user(2).await;
        let id = user["id"].as_str().expect("id").to_owned();
        let fapi = server.native();
        let r = fapi
            .post(
                "/v1/client/sign_ins",
                &[
                    ("identifier", "user2@example.com"),
                    ("strategy", "email_code"),
                ],
            )
            .await;
        let sign_in = r.ok()["response"]["id"].as_str().expect("id").to_owned();
        let code = server.latest_code("user2@example.com").await;
        let wrong = if code == "000000" { "111111" } else { "000000" };
        for _ in 0..3 {
            fapi.post(
                &format!("/v1/client/sign_ins/{sign_in}/attempt_first_factor"),
                &[("strategy", "email_code"), ("code", wrong)],
            )
            .await
            .err(422, "form_code_incorrect");
        }
        assert_eq!(failed_attempts(&server, &user).await, 3);
        for _ in 0..7 {
            fapi.post(
                "/v1/client/sign_ins",
                &[("identifier", "user2"), ("password", "nope nope nope")],
            )
            .await
            .err(422, "form_password_incorrect");
        }
        fapi.post(
            "/v1/client/sign_ins",
            &[("identifier", "user2"), ("password", PASSWORD)],
        )
        .await
        .err(403, "user_locked");
        let (_, u) = server
            .bapi(reqwest::Method::GET, &format!("/v1/users/{id}"), None)
            .await;
        assert_eq!(
            (
                u["locked"].as_bool(),
                u["lockout_expires_in_seconds"].as_i64()
            ),
            (Some(true), Some(3600))
        );
        let (s, _) = server
            .bapi(
                reqwest::Method::POST,
                &format!("/v1/users/{id}/unlock"),
                None,
            )
            .await;
        assert_eq!(s, 200);
        fapi.sign_in("user2").await;
    })
    .await;
}

/// Sends `guesses` in parallel and sorts the answers: how many were judged wrong (`wrong`, 422),
/// how many refused because the account was locked (403 `user_locked`) or by a rate limit (429).
async fn race(guesses: Vec<tokio::task::JoinHandle<Answer>>, wrong: &str) -> (usize, usize) {
    let (mut judged, mut refused) = (0, 0);
    for h in guesses {
        let (status, code) = h.await.expect("join");
        match (status, code.as_str()) {
            (422, c) if c == wrong => judged += 1,
            (403, "user_locked") | (429, "too_many_requests") => refused += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    (judged, refused)
}

type Answer = (u16, String);

fn answer(r: Reply) -> Answer {
    (r.status.as_u16(), r.code().to_owned())
}

/// However many wrong guesses race, the account judges at most `max_attempts` of them; the
/// rest are refused as locked, and then so is the right one.
#[tokio::test]
async fn fifty_parallel_wrong_passwords_judge_at_most_the_lockout() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let user = server.user(3).await;
        let mut handles = Vec::new();
        for _ in 0..50 {
            let fapi = server.native();
            handles.push(tokio::spawn(async move {
                answer(
                    fapi.post(
                        "/v1/client/sign_ins",
                        &[("identifier", "user3"), ("password", "not the password")],
                    )
                    .await,
                )
            }));
        }
        let (judged, refused) = race(handles, "form_password_incorrect").await;
        assert_eq!((judged, refused), (10, 40), "on {b:?}");
        assert_eq!(failed_attempts(&server, &user).await, 10);
        server
            .native()
            .post(
                "/v1/client/sign_ins",
                &[("identifier", "user3"), ("password", PASSWORD)],
            )
            .await
            .err(403, "user_locked");
    })
    .await;
}

#[tokio::test]
async fn fifty_parallel_wrong_second_factors_judge_at_most_the_lockout() {
    use crate::second_factors::{app_code, enrol_totp, password_needs_second_factor};
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        for (n, strategy) in [(40, "totp"), (41, "backup_code")] {
            let user = server.user(n).await;
            let (secret, codes) = enrol_totp(&server, &server.native(), n).await;
            let (fapi, id) = password_needs_second_factor(&server, n).await;
            let before = failed_attempts(&server, &user).await;
            // Wrong for every time step the server accepts.
            let now = vestibule_model::Clock::now(&server.clock).seconds();
            let step = vestibule_crypto::otp::totp_step(now);
            let accepted: Vec<String> = (step - 1..=step + 1)
                .map(|s| vestibule_crypto::otp::totp_code(&secret, s))
                .collect();
            let wrong = match strategy {
                "totp" => (0..10u32)
                    .map(|d| d.to_string().repeat(6))
                    .find(|c| !accepted.contains(c))
                    .expect("a wrong code"),
                _ => "zzzz9999".to_owned(),
            };
            let fapi = Arc::new(fapi);
            let path = format!("/v1/client/sign_ins/{id}/attempt_second_factor");
            let mut handles = Vec::new();
            for _ in 0..50 {
                let (fapi, path, wrong) = (Arc::clone(&fapi), path.clone(), wrong.clone());
                handles.push(tokio::spawn(async move {
                    answer(
                        fapi.post(&path, &[("strategy", strategy), ("code", &wrong)])
                            .await,
                    )
                }));
            }
            let (judged, refused) = race(handles, "form_code_incorrect").await;
            let allowed = 10 - before as usize;
            assert_eq!(
                (judged, refused),
                (allowed, 50 - allowed),
                "{strategy} on {b:?}"
            );
            assert_eq!(failed_attempts(&server, &user).await, 10);
            let right = match strategy {
                "totp" => app_code(&server, &secret),
                _ => codes[0].clone(),
            };
            fapi.post(&path, &[("strategy", strategy), ("code", &right)])
                .await
                .err(403, "user_locked");
        }
    })
    .await;
}

#[tokio::test]
async fn fifty_parallel_right_codes_complete_the_sign_in_once() {
    each_backend(|b| async move {
        let mut settings = crate::harness::test_settings();
        // Every guess may be checked: the race is between right guesses, not against the code's
        // limit or the lockout.
        settings.codes.max_attempts = 10;
        settings.lockout.max_attempts = 100;
        let server = TestServer::with_settings(b, settings).await;
        server.user(4).await;
        let fapi = Arc::new(server.native());
        let r = fapi
            .post(
                "/v1/client/sign_ins",
                &[
                    ("identifier", "user4@example.com"),
                    ("strategy", "email_code"),
                ],
            )
            .await;
        let id = r.ok()["response"]["id"].as_str().expect("id").to_owned();
        let code = server.latest_code("user4@example.com").await;
        let mut handles = Vec::new();
        for _ in 0..50 {
            let fapi = Arc::clone(&fapi);
            let path = format!("/v1/client/sign_ins/{id}/attempt_first_factor");
            let code = code.clone();
            handles.push(tokio::spawn(async move {
                let r = fapi
                    .post(&path, &[("strategy", "email_code"), ("code", &code)])
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
        // The losers see the code already used (400), or, arriving after the winner rotated the
        // client token they all share, no sign-in on the client their old token names (404).
        assert!(
            outcomes
                .iter()
                .all(|(s, c)| *s == 200 || *s == 400 || (*s == 404 && c == "resource_not_found")),
            "{outcomes:?}"
        );
        let client = fapi.get("/v1/client").await;
        assert_eq!(
            client.ok()["response"]["sessions"]
                .as_array()
                .expect("sessions")
                .len(),
            1
        );
    })
    .await;
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    each_backend(|b| async move {
        let store = Arc::new(vestibule_store::testing::fresh(b).await);
        let mut c = config("unused", crate::harness::test_settings());
        c.settings.rate_limits = RateLimitSettings {
            sign_in_create_per_ip: Limit::new(5, 10),
            attempts_per_ip: Limit::new(3, 10),
            ..RateLimitSettings::default()
        };
        let server =
            TestServer::on_store(store, c, vestibule_model::TestClock::starting_now()).await;
        server.user(5).await;
        let fapi = server.native();
        for _ in 0..5 {
            fapi.post("/v1/client/sign_ins", &[("identifier", "user5")])
                .await
                .ok();
        }
        let r = fapi
            .post("/v1/client/sign_ins", &[("identifier", "user5")])
            .await;
        r.err(429, "too_many_requests");
        let retry: u64 = r
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("Retry-After");
        assert!((1..=10).contains(&retry), "{retry}");
        server.clock.advance_seconds(10);
        let r = fapi
            .post("/v1/client/sign_ins", &[("identifier", "user5")])
            .await;
        let id = r.ok()["response"]["id"].as_str().expect("id").to_owned();
        let attempt = format!("/v1/client/sign_ins/{id}/attempt_first_factor");
        for _ in 0..3 {
            fapi.post(
                &attempt,
                &[("strategy", "password"), ("password", "wrong wrong wrong")],
            )
            .await
            .err(422, "form_password_incorrect");
        }
        fapi.post(
            &attempt,
            &[("strategy", "password"), ("password", PASSWORD)],
        )
        .await
        .err(429, "too_many_requests");
    })
    .await;
}

#[tokio::test]
async fn enumeration_protection_answers_unknown_identifiers_like_real_ones() {
    each_backend(|b| async move {
        let mut settings = crate::harness::test_settings();
        settings.sign_in.enumeration_protection = true;
        let server = TestServer::with_settings(b, settings).await;
        server.user(6).await;
        let known = server
            .native()
            .post(
                "/v1/client/sign_ins",
                &[("identifier", "user6@example.com")],
            )
            .await;
        let unknown = server
            .native()
            .post(
                "/v1/client/sign_ins",
                &[("identifier", "ghost@example.com")],
            )
            .await;
        let (k, u) = (&known.ok()["response"], &unknown.ok()["response"]);
        assert_eq!(k["status"], u["status"]);
        let shape = |si: &serde_json::Value| -> Vec<String> {
            si["supported_first_factors"]
                .as_array()
                .expect("factors")
                .iter()
                .map(|f| f["strategy"].as_str().unwrap_or("").to_owned())
                .collect()
        };
        assert_eq!(
            shape(k)[..3],
            shape(u)[..3],
            "password, email code, email link for both"
        );
        assert_eq!(
            u["supported_first_factors"][1]["safe_identifier"],
            "ghost@example.com"
        );

        // Every attempt fails as a wrong answer would; no message goes out.
        let fapi = server.native();
        let r = fapi
            .post(
                "/v1/client/sign_ins",
                &[("identifier", "ghost@example.com")],
            )
            .await;
        let si = r.ok()["response"].clone();
        let id = si["id"].as_str().expect("id");
        let email_id = si["supported_first_factors"][1]["email_address_id"]
            .as_str()
            .expect("id");
        fapi.post(
            &format!("/v1/client/sign_ins/{id}/attempt_first_factor"),
            &[("strategy", "password"), ("password", PASSWORD)],
        )
        .await
        .err(422, "form_password_incorrect");
        fapi.post(
            &format!("/v1/client/sign_ins/{id}/prepare_first_factor"),
            &[("strategy", "email_code"), ("email_address_id", email_id)],
        )
        .await
        .ok();
        fapi.post(
            &format!("/v1/client/sign_ins/{id}/attempt_first_factor"),
            &[("strategy", "email_code"), ("code", "123456")],
        )
        .await
        .err(422, "form_code_incorrect");
        let (_, inbox) = server
            .bapi(
                reqwest::Method::GET,
                "/v1/dev/messages?recipient=ghost%40example.com",
                None,
            )
            .await;
        assert_eq!(
            inbox["data"].as_array().map(Vec::len),
            Some(0),
            "nothing sent to an address with no account"
        );
        // One step with a password: the same error as a wrong password.
        server
            .native()
            .post(
                "/v1/client/sign_ins",
                &[("identifier", "ghost@example.com"), ("password", PASSWORD)],
            )
            .await
            .err(422, "form_password_incorrect");

        // A username: a real account lists codes to its masked email address, and so does an
        // unknown one, at a made-up address that stays the same.
        let masked = |si: &serde_json::Value| -> Vec<String> {
            si["supported_first_factors"]
                .as_array()
                .expect("factors")
                .iter()
                .map(|f| {
                    let shown = f["safe_identifier"].as_str().unwrap_or("");
                    let shape = match shown.split_once("***@") {
                        Some((first, _)) if first.chars().count() == 1 => "?***@domain",
                        _ => shown,
                    };
                    format!("{} {shape}", f["strategy"].as_str().unwrap_or(""))
                })
                .collect()
        };
        let create = |who: &'static str| {
            let fapi = server.native();
            async move {
                fapi.post("/v1/client/sign_ins", &[("identifier", who)])
                    .await
                    .ok()["response"]
                    .clone()
            }
        };
        let (status, body) = server
            .bapi(
                reqwest::Method::POST,
                "/v1/users",
                Some(serde_json::json!({"email_address": ["solo@example.com"], "username": "solo", "password": PASSWORD})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let (real, ghost) = (create("solo").await, create("ghostuser").await);
        assert_eq!(real["status"], ghost["status"]);
        assert_eq!(masked(&real), masked(&ghost));
        assert!(
            masked(&ghost).contains(&"email_code ?***@domain".to_owned()),
            "{ghost}"
        );
        let again = create("ghostuser").await;
        assert_eq!(
            again["supported_first_factors"],
            ghost["supported_first_factors"],
            "the same made-up address every time"
        );
        // Naming an address that is not the account's is refused alike; its own is accepted.
        for si in [&real, &ghost] {
            let fapi = server.native();
            let id = fapi
                .post("/v1/client/sign_ins", &[("identifier", si["identifier"].as_str().expect("typed"))])
                .await
                .ok()["response"]["id"]
                .as_str()
                .expect("id")
                .to_owned();
            let own = si["supported_first_factors"]
                .as_array()
                .expect("factors")
                .iter()
                .find(|f| f["strategy"] == "email_code")
                .and_then(|f| f["email_address_id"].as_str())
                .expect("an email code factor");
            fapi.post(
                &format!("/v1/client/sign_ins/{id}/prepare_first_factor"),
                &[("strategy", "email_code"), ("email_address_id", "idn_2xfakefakefakefakefakefake")],
            )
            .await
            .err(400, "strategy_for_user_invalid");
            fapi.post(
                &format!("/v1/client/sign_ins/{id}/prepare_first_factor"),
                &[("strategy", "email_code"), ("email_address_id", own)],
            )
            .await
            .ok();
        }
    })
    .await;
}

#[tokio::test]
async fn common_passwords_are_refused_where_passwords_are_set() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let (s, v) = server
            .bapi(reqwest::Method::POST, "/v1/users", Some(serde_json::json!({"email_address": ["p@example.com"], "password": "password123"})))
            .await;
        assert_eq!((s.as_u16(), v["errors"][0]["code"].as_str()), (422, Some("form_password_pwned")));
        let env = server.native().get("/v1/environment").await;
        assert_eq!(env.ok()["user_settings"]["password_settings"]["disable_hibp"], false);
    })
    .await;
}
