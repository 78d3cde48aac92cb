//! Bad input: every kind answers a 4xx in Clerk's envelope naming the parameter, never a 500,
//! and changes nothing.

use crate::harness::*;
use serde_json::Value;

/// Sends raw bytes to a FAPI path in native mode.
async fn raw(
    server: &TestServer,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
    token: Option<&str>,
) -> (u16, Value) {
    let mut req = server.http.post(format!(
        "{}{path}{}_is_native=1",
        server.base,
        if path.contains('?') { "&" } else { "?" }
    ));
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    if let Some(t) = token {
        req = req.header("authorization", t);
    }
    let res = req.body(body).send().await.expect("send");
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let v: Value = res.json().await.unwrap_or(Value::Null);
    assert_eq!(ct, "application/json", "every error is JSON ({path})");
    (status, v)
}

type BodyCase = (
    Option<&'static str>,
    Vec<u8>,
    u16,
    &'static str,
    &'static str,
);
type FormCase = (Form, u16, &'static str, &'static str);
type Form = Vec<(&'static str, &'static str)>;

fn code(v: &Value) -> (&str, &str) {
    (
        v["errors"][0]["code"].as_str().unwrap_or(""),
        v["errors"][0]["meta"]["param_name"].as_str().unwrap_or(""),
    )
}

#[tokio::test]
async fn malformed_bodies_and_parameters() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        server.user(1).await;
        let path = "/v1/client/sign_ins";
        // (content type, body, status, code, parameter named)
        let cases: Vec<BodyCase> = vec![
            (
                Some("application/json"),
                b"{\"identifier\":".to_vec(),
                400,
                "malformed_request_parameters",
                "",
            ),
            (
                Some("application/json"),
                b"[\"identifier\"]".to_vec(),
                400,
                "malformed_request_parameters",
                "",
            ),
            (
                Some("application/json"),
                b"{\"identifier\": 42}".to_vec(),
                422,
                "form_param_value_invalid",
                "identifier",
            ),
            (
                Some("application/json"),
                b"{\"identifier\": [\"a\", \"b\"]}".to_vec(),
                422,
                "form_param_value_invalid",
                "identifier",
            ),
            (
                Some("application/json"),
                b"{\"identifier\": \"user1\", \"password\": {\"x\": 1}}".to_vec(),
                422,
                "form_param_value_invalid",
                "password",
            ),
            (
                None,
                b"identifier=user1&identifier=user2".to_vec(),
                422,
                "form_param_value_invalid",
                "identifier",
            ),
            (
                None,
                b"identifier=%FF%FE".to_vec(),
                422,
                "form_param_value_invalid",
                "identifier",
            ),
            (
                None,
                b"identifier=\xff\xfe".to_vec(),
                400,
                "malformed_request_parameters",
                "",
            ),
            (
                Some("application/json"),
                b"\xff\xfe".to_vec(),
                400,
                "malformed_request_parameters",
                "",
            ),
            (
                Some("text/xml"),
                b"<identifier/>".to_vec(),
                415,
                "unsupported_content_type",
                "",
            ),
            (None, vec![b'a'; 70_000], 413, "request_body_too_large", ""),
            (
                None,
                b"strategy=hunter2&identifier=user1".to_vec(),
                422,
                "form_param_value_invalid",
                "strategy",
            ),
            (
                None,
                b"strategy=totp&identifier=user1".to_vec(),
                422,
                "form_param_value_invalid",
                "strategy",
            ),
            (
                None,
                b"identifier=bad%20name%21".to_vec(),
                422,
                "form_param_format_invalid",
                "identifier",
            ),
            (
                None,
                b"identifier=a%40b".to_vec(),
                422,
                "form_param_format_invalid",
                "identifier",
            ),
            (
                None,
                format!("identifier={}", "a".repeat(500)).into_bytes(),
                422,
                "form_param_format_invalid",
                "identifier",
            ),
        ];
        for (ct, body, status, expected_code, param) in cases {
            let shown = String::from_utf8_lossy(&body)
                .chars()
                .take(60)
                .collect::<String>();
            let (s, v) = raw(&server, path, ct, body, None).await;
            assert_eq!(
                (s, code(&v)),
                (status, (expected_code, param)),
                "{ct:?} {shown}: {v}"
            );
        }
        // No request above created a client, a sign-in or a session.
        let mut conn = server.state.store.read().await.expect("read");
        let (_, sessions) = vestibule_store::sessions::list(
            &mut conn,
            &vestibule_store::sessions::ListFilter {
                limit: 1,
                ..Default::default()
            },
        )
        .await
        .expect("list");
        assert_eq!(sessions, 0);
    })
    .await;
}

#[tokio::test]
async fn attempt_errors_name_the_parameter_and_leave_the_sign_in_as_it_was() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        server.user(2).await;
        let fapi = server.native();
        let r = fapi
            .post("/v1/client/sign_ins", &[("identifier", "user2")])
            .await;
        let before = r.ok()["response"].clone();
        let id = before["id"].as_str().expect("id").to_owned();
        let attempt = format!("/v1/client/sign_ins/{id}/attempt_first_factor");
        // (form, status, code, parameter named)
        let cases: Vec<FormCase> = vec![
            (vec![], 422, "form_param_missing", "strategy"),
            (
                vec![("strategy", "password")],
                422,
                "form_param_missing",
                "password",
            ),
            (
                vec![("strategy", "password"), ("password", "")],
                422,
                "form_param_missing",
                "password",
            ),
            (
                vec![("strategy", "totp"), ("code", "123456")],
                422,
                "form_param_value_invalid",
                "strategy",
            ),
            (
                vec![("strategy", "nonsense")],
                422,
                "form_param_value_invalid",
                "strategy",
            ),
        ];
        for (form, status, expected, param) in cases {
            let r = fapi.post(&attempt, &form).await;
            assert_eq!(
                (r.status.as_u16(), r.code(), r.param()),
                (status, expected, param),
                "{form:?}: {}",
                r.body
            );
        }
        let prepare = fapi
            .post(
                &format!("/v1/client/sign_ins/{id}/prepare_first_factor"),
                &[("strategy", "password")],
            )
            .await;
        prepare.err(422, "form_param_value_invalid");
        for step in [
            "prepare_second_factor",
            "attempt_second_factor",
            "reset_password",
        ] {
            fapi.post(
                &format!("/v1/client/sign_ins/{id}/{step}"),
                &[("strategy", "totp"), ("code", "123456")],
            )
            .await
            .err(400, "client_state_invalid");
        }
        let after = fapi.get(&format!("/v1/client/sign_ins/{id}")).await;
        assert_eq!(after.ok()["response"], before, "nothing changed");
        // Unknown or malformed ids, and other clients' sign-ins, are not found.
        for bad in ["sia_doesnotexist", "../../etc", "sia_'%20OR%201=1"] {
            fapi.post(
                &format!("/v1/client/sign_ins/{bad}/attempt_first_factor"),
                &[("strategy", "password"), ("password", PASSWORD)],
            )
            .await
            .err(404, "resource_not_found");
        }
        let stranger = server.native();
        stranger
            .get(&format!("/v1/client/sign_ins/{id}"))
            .await
            .err(404, "resource_not_found");
        stranger
            .post(
                &attempt,
                &[("strategy", "password"), ("password", PASSWORD)],
            )
            .await
            .err(404, "resource_not_found");
    })
    .await;
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_envelope() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let fapi = server.native();
        fapi.get("/v1/nonexistent")
            .await
            .err(404, "resource_not_found");
        fapi.get("/v1/client/sign_ins")
            .await
            .err(405, "method_not_allowed");
        fapi.call("PUT", "/v1/client/sign_ins", &[])
            .await
            .err(405, "method_not_allowed");
        let r = server
            .http
            .get(format!("{}/v1/users", server.base))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 401);
    })
    .await;
}

#[tokio::test]
async fn a_full_hashing_queue_answers_429_at_once() {
    each_backend(|b| async move {
        let store = std::sync::Arc::new(vestibule_store::testing::fresh(b).await);
        let mut c = config("unused", crate::harness::test_settings());
        c.hashing.threads = 1;
        // Two may wait: even when the thread has not yet taken the first job off the queue (a
        // busy machine), a second one is admitted.
        c.hashing.queue = 2;
        // The lockout would refuse guesses past the 10th before the queue does.
        c.settings.lockout.max_attempts = 100;
        // Slow hashes keep the single thread busy while the burst arrives.
        c.hashing.memory_kib = 65_536;
        c.hashing.iterations = 4;
        let server =
            TestServer::on_store(store, c, vestibule_model::TestClock::starting_now()).await;
        server.user(3).await;
        let mut handles = Vec::new();
        for _ in 0..12 {
            let fapi = server.native();
            handles.push(tokio::spawn(async move {
                fapi.post(
                    "/v1/client/sign_ins",
                    &[("identifier", "user3"), ("password", "not it at all")],
                )
                .await
            }));
        }
        let mut limited = 0;
        for h in handles {
            let r = h.await.expect("join");
            match r.status.as_u16() {
                422 => assert_eq!(r.code(), "form_password_incorrect"),
                429 => {
                    limited += 1;
                    assert_eq!(r.code(), "too_many_requests");
                    let retry: u64 = r
                        .headers
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse().ok())
                        .expect("Retry-After");
                    assert!(retry >= 1);
                }
                other => panic!("unexpected {other}: {}", r.body),
            }
        }
        assert!(limited >= 1, "some requests were refused");
        assert!(limited <= 10, "at least two were admitted");
    })
    .await;
}
