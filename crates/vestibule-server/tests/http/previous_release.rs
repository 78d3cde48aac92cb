//! A database written by the previous release, opened by this one: flows its users left half
//! done finish here, and their sessions keep minting tokens.
//!
//! `previous_release/db.sql` and `flows.json` were written by
//! `scripts/previous-release-fixture.py` running the previous release's binary (named in
//! `flows.json`); the script's header says how to refresh them. SQLite only: PostgreSQL holds the
//! same rows, and the stored sign-in records of the previous release are read on both through
//! the same code (`vestibule-model`'s `sign_in/stored_before.txt` tests).

use crate::harness::{config, test_settings, verify, Fapi, TestServer, PASSWORD};
use crate::second_factors::{app_code, base32_decode};
use serde_json::Value;
use std::sync::Arc;
use vestibule_model::{TestClock, Timestamp};

const DB: &str = include_str!("previous_release/db.sql");
const FLOWS: &str = include_str!("previous_release/flows.json");

/// A native caller presenting a client token the previous release handed out.
fn client(server: &TestServer, flow: &Value) -> Fapi {
    let fapi = server.native();
    *fapi.token.lock().expect("lock") =
        Some(flow["client_token"].as_str().expect("token").to_owned());
    fapi
}

async fn minted_token(server: &TestServer, fapi: &Fapi, session_id: &str) -> Value {
    let r = fapi
        .post(&format!("/v1/client/sessions/{session_id}/tokens"), &[])
        .await;
    let jwt = r.ok()["jwt"].as_str().expect("jwt").to_owned();
    verify(server, &jwt).await
}

#[tokio::test]
async fn flows_left_half_done_by_the_previous_release_finish_on_this_one() {
    let flows: Value = serde_json::from_str(FLOWS).expect("flows.json");
    let written_at = flows["written_at_seconds"].as_i64().expect("written_at");
    let store = Arc::new(vestibule_store::testing::sqlite_from_script(DB).await);
    // A minute after the old release stopped: its codes are still fresh, as after an upgrade.
    let clock = TestClock::new(Timestamp((written_at + 60) * 1000));
    let server = TestServer::on_store(store, config("unused", test_settings()), clock).await;

    // Waiting for the authenticator app.
    let flow = &flows["totp"];
    let secret = base32_decode(flow["totp_secret"].as_str().expect("secret"));
    let fapi = client(&server, flow);
    let id = flow["sign_in_id"].as_str().expect("id");
    let r = fapi
        .post(
            &format!("/v1/client/sign_ins/{id}/attempt_second_factor"),
            &[("strategy", "totp"), ("code", &app_code(&server, &secret))],
        )
        .await;
    let si = &r.ok()["response"];
    assert_eq!(si["status"], "complete", "{si}");
    let sid = si["created_session_id"].as_str().expect("session");
    let claims = minted_token(&server, &fapi, sid).await;
    assert_eq!(claims["sid"], sid);

    // Waiting for a backup code; the old release stored its hash.
    let flow = &flows["backup_code"];
    let fapi = client(&server, flow);
    let id = flow["sign_in_id"].as_str().expect("id");
    let r = fapi
        .post(
            &format!("/v1/client/sign_ins/{id}/attempt_second_factor"),
            &[
                ("strategy", "backup_code"),
                ("code", flow["code"].as_str().expect("code")),
            ],
        )
        .await;
    assert_eq!(r.ok()["response"]["status"], "complete");

    // An emailed code sent by the old release: a wrong guess is counted, the right one signs in.
    let flow = &flows["code"];
    let fapi = client(&server, flow);
    let id = flow["sign_in_id"].as_str().expect("id");
    let attempt = |code: String| {
        let fapi = &fapi;
        async move {
            fapi.post(
                &format!("/v1/client/sign_ins/{id}/attempt_first_factor"),
                &[("strategy", "email_code"), ("code", &code)],
            )
            .await
        }
    };
    let right = flow["code"].as_str().expect("code").to_owned();
    let wrong = if right == "000000" {
        "000001"
    } else {
        "000000"
    };
    attempt(wrong.to_owned())
        .await
        .err(422, "form_code_incorrect");
    let r = attempt(right).await;
    let si = &r.ok()["response"];
    assert_eq!(si["status"], "complete", "{si}");
    assert_eq!(si["first_factor_verification"]["attempts"], 2);

    // A password-reset code sent by the old release, then the new password.
    let flow = &flows["reset"];
    let fapi = client(&server, flow);
    let id = flow["sign_in_id"].as_str().expect("id");
    let r = fapi
        .post(
            &format!("/v1/client/sign_ins/{id}/attempt_first_factor"),
            &[
                ("strategy", "reset_password_email_code"),
                ("code", flow["code"].as_str().expect("code")),
            ],
        )
        .await;
    assert_eq!(r.ok()["response"]["status"], "needs_new_password");
    let new_password = "a new horse battery staple";
    let r = fapi
        .post(
            &format!("/v1/client/sign_ins/{id}/reset_password"),
            &[("password", new_password)],
        )
        .await;
    assert_eq!(r.ok()["response"]["status"], "complete");
    let fresh = server.native();
    fresh
        .post(
            "/v1/client/sign_ins",
            &[("identifier", "reset@example.com"), ("password", PASSWORD)],
        )
        .await
        .err(422, "form_password_incorrect");
    let r = fresh
        .post(
            "/v1/client/sign_ins",
            &[
                ("identifier", "reset@example.com"),
                ("password", new_password),
            ],
        )
        .await;
    assert_eq!(r.ok()["response"]["status"], "complete");

    // A session the old release created: still active, still minting tokens.
    let flow = &flows["session"];
    let fapi = client(&server, flow);
    let sid = flow["session_id"].as_str().expect("session");
    let r = fapi.get("/v1/client").await;
    let sessions = r.ok()["response"]["sessions"].as_array().expect("sessions");
    assert!(
        sessions
            .iter()
            .any(|s| s["id"] == sid && s["status"] == "active"),
        "{sessions:?}"
    );
    let claims = minted_token(&server, &fapi, sid).await;
    assert_eq!(claims["sid"], sid);
}
