//! The user's own account (`/v1/me…`), as clerk-js's `User`, `EmailAddress` and
//! `SessionWithActivities` call it: email addresses, profile, password, sessions and deleting the
//! account; and the operator's side of it (`verify_password`, email addresses and phone numbers
//! by id).

use crate::harness::{each_backend, test_settings, Fapi, TestServer, PASSWORD};
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;

/// Signs user `n` in on a fresh native client: the client, its session and
/// `_clerk_session_id=…`.
async fn signed_in(server: &TestServer, n: u32) -> (Fapi, String, String) {
    server.user(n).await;
    let fapi = server.native();
    let sid = fapi.sign_in(&format!("user{n}@example.com")).await;
    let me = format!("_clerk_session_id={sid}");
    (fapi, sid, me)
}

async fn add_email(fapi: &Fapi, me: &str, address: &str) -> String {
    let r = fapi
        .post(
            &format!("/v1/me/email_addresses/?{me}"),
            &[("email_address", address)],
        )
        .await;
    let email = r.ok()["response"].clone();
    assert_eq!(email["object"], "email_address");
    assert_eq!(email["email_address"], address.to_lowercase());
    assert_eq!(email["verification"]["status"], "unverified", "{email}");
    email["id"].as_str().expect("id").to_owned()
}

async fn failed_attempts(server: &TestServer, user_id: &str) -> u32 {
    let id = vestibule_model::UserId::parse(user_id).expect("user id");
    let mut conn = server.state.store.read().await.expect("read");
    vestibule_store::users::get(&mut conn, &id)
        .await
        .expect("get")
        .expect("user")
        .failed_verification_attempts
}

/// Reverifies the session with the password, so sensitive changes go through again.
async fn reverify(fapi: &Fapi, sid: &str) {
    let verify_path = format!("/v1/client/sessions/{sid}/verify");
    fapi.post(&verify_path, &[("level", "first_factor")])
        .await
        .ok();
    let done = fapi
        .post(
            &format!("{verify_path}/attempt_first_factor"),
            &[("strategy", "password"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(done.ok()["response"]["status"], "complete");
}

#[tokio::test]
async fn an_email_is_added_proven_by_code_made_primary_and_removed() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        server.user(2).await;
        let (fapi, _sid, me) = signed_in(&server, 1).await;
        let id = add_email(&fapi, &me, "New.One@Example.com").await;
        let add = |address: &'static str| {
            let path = format!("/v1/me/email_addresses?{me}");
            let fapi = &fapi;
            async move { fapi.post(&path, &[("email_address", address)]).await }
        };
        for taken in [
            "new.one@example.com",
            "user1@example.com",
            "user2@example.com",
        ] {
            let r = add(taken).await;
            r.err(422, "form_identifier_exists");
            assert_eq!(r.param(), "email_address");
        }
        add("not an address")
            .await
            .err(422, "form_param_format_invalid");
        // Unverified, it names nobody and cannot be primary.
        server
            .native()
            .post(
                "/v1/client/sign_ins",
                &[
                    ("identifier", "new.one@example.com"),
                    ("password", PASSWORD),
                ],
            )
            .await
            .err(422, "form_identifier_not_found");
        fapi.post(
            &format!("/v1/me?_method=PATCH&{me}"),
            &[("primary_email_address_id", &id)],
        )
        .await
        .err(422, "form_param_value_invalid");
        fapi.post(
            &format!("/v1/me/email_addresses/{id}/attempt_verification?{me}"),
            &[("code", "123456")],
        )
        .await
        .err(400, "verification_missing");

        let prepare = format!("/v1/me/email_addresses/{id}/prepare_verification?{me}");
        let prepared = fapi.post(&prepare, &[("strategy", "email_code")]).await;
        let v = &prepared.ok()["response"]["verification"];
        assert_eq!(
            (&v["status"], &v["strategy"], &v["attempts"]),
            (&json!("unverified"), &json!("email_code"), &json!(0)),
            "{v}"
        );
        assert!(v["expire_at"].as_i64().is_some(), "{v}");
        // Asking again at once is paced.
        fapi.post(&prepare, &[("strategy", "email_code")])
            .await
            .err(429, "too_many_requests");
        fapi.post(&prepare, &[("strategy", "phone_code")])
            .await
            .err(422, "form_param_value_invalid");
        let code = server.latest_code("new.one@example.com").await;
        let wrong = if code == "000000" { "111111" } else { "000000" };
        let attempt = format!("/v1/me/email_addresses/{id}/attempt_verification?{me}");
        fapi.post(&attempt, &[("code", wrong)])
            .await
            .err(422, "form_code_incorrect");
        let read = fapi.get(&format!("/v1/me/email_addresses/{id}?{me}")).await;
        assert_eq!(read.ok()["response"]["verification"]["attempts"], 1);
        let done = fapi.post(&attempt, &[("code", &code)]).await;
        let body = done.ok();
        assert_eq!(body["response"]["verification"]["status"], "verified");
        let user = &body["client"]["sessions"][0]["user"];
        let listed: Vec<&Value> = user["email_addresses"]
            .as_array()
            .expect("emails")
            .iter()
            .filter(|e| e["id"] == json!(id))
            .collect();
        assert_eq!(listed[0]["verification"]["status"], "verified", "{user}");
        fapi.post(&attempt, &[("code", &code)])
            .await
            .err(400, "verification_already_verified");
        fapi.post(&prepare, &[("strategy", "email_code")])
            .await
            .err(400, "verification_already_verified");

        // Verified, it signs in.
        server.native().sign_in("new.one@example.com").await;

        let made_primary = fapi
            .post(
                &format!("/v1/me?_method=PATCH&{me}"),
                &[("primary_email_address_id", &id)],
            )
            .await;
        assert_eq!(
            made_primary.ok()["response"]["primary_email_address_id"],
            id
        );
        let old = user["email_addresses"]
            .as_array()
            .expect("emails")
            .iter()
            .find(|e| e["email_address"] == "user1@example.com")
            .expect("old")["id"]
            .as_str()
            .expect("id")
            .to_owned();
        // The primary address goes only once another one is primary.
        fapi.post(
            &format!("/v1/me/email_addresses/{id}?_method=DELETE&{me}"),
            &[],
        )
        .await
        .err(400, "identification_deletion_failed");
        let gone = fapi
            .post(
                &format!("/v1/me/email_addresses/{old}?_method=DELETE&{me}"),
                &[],
            )
            .await;
        let body = gone.ok();
        assert_eq!(
            body["response"],
            json!({"object": "email_address", "id": old, "deleted": true})
        );
        let emails = body["client"]["sessions"][0]["user"]["email_addresses"]
            .as_array()
            .expect("emails")
            .len();
        assert_eq!(emails, 1);
        fapi.post(
            &format!("/v1/me/email_addresses/{old}?_method=DELETE&{me}"),
            &[],
        )
        .await
        .err(404, "resource_not_found");
        fapi.get(&format!("/v1/me/email_addresses/{old}?{me}"))
            .await
            .err(404, "resource_not_found");
    })
    .await;
}

#[tokio::test]
async fn an_email_link_proves_an_address_the_user_polls() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let (fapi, _sid, me) = signed_in(&server, 3).await;
        let id = add_email(&fapi, &me, "linked3@example.com").await;
        let prepare = format!("/v1/me/email_addresses/{id}/prepare_verification?{me}");
        fapi.post(&prepare, &[("strategy", "email_link")])
            .await
            .err(422, "form_param_missing");
        fapi.post(
            &prepare,
            &[
                ("strategy", "email_link"),
                ("redirect_url", "https://evil.example/x"),
            ],
        )
        .await
        .err(422, "form_param_value_invalid");
        let prepared = fapi
            .post(
                &prepare,
                &[
                    ("strategy", "email_link"),
                    ("redirect_url", "http://localhost:3000/verified"),
                ],
            )
            .await;
        assert_eq!(
            prepared.ok()["response"]["verification"]["strategy"],
            "email_link"
        );
        let link = server.latest_link("linked3@example.com").await;
        let landed = server.http.get(&link).send().await.expect("open link");
        assert_eq!(landed.status(), 303);
        let to = landed.headers()["location"].to_str().expect("location");
        assert!(
            to.starts_with("http://localhost:3000/verified?__clerk_status=verified"),
            "{to}"
        );
        let polled = fapi.get(&format!("/v1/me/email_addresses/{id}?{me}")).await;
        assert_eq!(
            polled.ok()["response"]["verification"]["status"],
            "verified"
        );
        // Used once.
        let again = server.http.get(&link).send().await.expect("open again");
        let to = again.headers()["location"].to_str().expect("location");
        assert!(to.contains("__clerk_status=failed"), "{to}");
    })
    .await;
}

#[tokio::test]
async fn adding_or_removing_an_email_or_choosing_a_primary_needs_a_recent_verification() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let (fapi, sid, me) = signed_in(&server, 4).await;
        let id = add_email(&fapi, &me, "second4@example.com").await;
        server.clock.advance_seconds(11 * 60);
        let add_path = format!("/v1/me/email_addresses?{me}");
        fapi.post(&add_path, &[("email_address", "third4@example.com")])
            .await
            .err(403, "session_reverification_required");
        let delete_path = format!("/v1/me/email_addresses/{id}?_method=DELETE&{me}");
        fapi.post(&delete_path, &[])
            .await
            .err(403, "session_reverification_required");
        let patch = format!("/v1/me?_method=PATCH&{me}");
        fapi.post(&patch, &[("username", "renamed4")])
            .await
            .err(403, "session_reverification_required");
        // Proving an address and changing names need no reverification.
        fapi.post(
            &format!("/v1/me/email_addresses/{id}/prepare_verification?{me}"),
            &[("strategy", "email_code")],
        )
        .await
        .ok();
        let code = server.latest_code("second4@example.com").await;
        fapi.post(
            &format!("/v1/me/email_addresses/{id}/attempt_verification?{me}"),
            &[("code", &code)],
        )
        .await
        .ok();
        fapi.post(&patch, &[("first_name", "Fourth")]).await.ok();
        fapi.post(&patch, &[("primary_email_address_id", &id)])
            .await
            .err(403, "session_reverification_required");
        reverify(&fapi, &sid).await;
        fapi.post(&patch, &[("primary_email_address_id", &id)])
            .await
            .ok();
        fapi.post(&add_path, &[("email_address", "third4@example.com")])
            .await
            .ok();
    })
    .await;
}

#[tokio::test]
async fn the_last_identifier_cannot_be_removed() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let (status, user) = server
            .bapi(
                Method::POST,
                "/v1/users",
                Some(json!({"email_address": ["only5@example.com"], "password": PASSWORD})),
            )
            .await;
        assert_eq!(status, 200, "{user}");
        let fapi = server.native();
        let sid = fapi.sign_in("only5@example.com").await;
        let me = format!("_clerk_session_id={sid}");
        let email = user["email_addresses"][0]["id"].as_str().expect("id");
        fapi.post(
            &format!("/v1/me/email_addresses/{email}?_method=DELETE&{me}"),
            &[],
        )
        .await
        .err(400, "identification_deletion_failed");
        // An unverified address may go.
        let added = add_email(&fapi, &me, "extra5@example.com").await;
        fapi.post(
            &format!("/v1/me/email_addresses/{added}?_method=DELETE&{me}"),
            &[],
        )
        .await
        .ok();
    })
    .await;
}

/// However many wrong codes race, one address's code judges at most its own attempt limit; the
/// others are refused as failed, and so is the right code then.
#[tokio::test]
async fn fifty_parallel_wrong_codes_for_an_email_judge_at_most_the_codes_limit() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let (fapi, _sid, me) = signed_in(&server, 6).await;
        let id = add_email(&fapi, &me, "race6@example.com").await;
        fapi.post(
            &format!("/v1/me/email_addresses/{id}/prepare_verification?{me}"),
            &[("strategy", "email_code")],
        )
        .await
        .ok();
        let code = server.latest_code("race6@example.com").await;
        let wrong = if code == "000000" { "111111" } else { "000000" };
        let fapi = Arc::new(fapi);
        let path = format!("/v1/me/email_addresses/{id}/attempt_verification?{me}");
        let mut handles = Vec::new();
        for _ in 0..50 {
            let (fapi, path) = (Arc::clone(&fapi), path.clone());
            handles.push(tokio::spawn(async move {
                let r = fapi.post(&path, &[("code", wrong)]).await;
                (r.status.as_u16(), r.code().to_owned())
            }));
        }
        let (mut judged, mut refused) = (0, 0);
        for h in handles {
            match h.await.expect("join") {
                (422, c) if c == "form_code_incorrect" => judged += 1,
                (400, c) if c == "verification_failed" => refused += 1,
                other => panic!("unexpected answer {other:?}"),
            }
        }
        let limit = server.state.settings.codes.max_attempts as usize;
        assert_eq!((judged, refused), (limit, 50 - limit), "on {b:?}");
        fapi.post(&path, &[("code", &code)])
            .await
            .err(400, "verification_failed");
    })
    .await;
}

#[tokio::test]
async fn names_and_username_are_the_users_to_change() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        server.user(8).await;
        let (fapi, _sid, me) = signed_in(&server, 7).await;
        let patch = format!("/v1/me?_method=PATCH&{me}");
        let r = fapi
            .post(
                &patch,
                &[
                    ("first_name", "Ada"),
                    ("last_name", "Lovelace"),
                    ("username", "Ada_7"),
                ],
            )
            .await;
        let u = r.ok()["response"].clone();
        assert_eq!(
            (&u["first_name"], &u["last_name"], &u["username"]),
            (&json!("Ada"), &json!("Lovelace"), &json!("ada_7"))
        );
        let taken = fapi.post(&patch, &[("username", "user8")]).await;
        taken.err(422, "form_identifier_exists");
        assert_eq!(taken.param(), "username");
        fapi.post(&patch, &[("username", "a b")])
            .await
            .err(422, "form_param_format_invalid");
        fapi.post(&patch, &[("public_metadata", "{}")])
            .await
            .err(422, "form_param_unknown");
        server.native().sign_in("ada_7").await;
        let me_now = fapi.get(&format!("/v1/me?{me}")).await;
        assert_eq!(me_now.ok()["response"]["last_name"], "Lovelace");
    })
    .await;
}

#[tokio::test]
async fn a_password_change_checks_the_current_one_and_the_policy_and_can_sign_out_elsewhere() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let (fapi, sid, me) = signed_in(&server, 9).await;
        let elsewhere = server.native();
        let other_sid = elsewhere.sign_in("user9@example.com").await;
        let path = format!("/v1/me/change_password?{me}");
        let new = "a fresh and long passphrase";
        let r = fapi
            .post(
                &path,
                &[("current_password", "not it at all"), ("new_password", new)],
            )
            .await;
        r.err(422, "form_password_incorrect");
        assert_eq!(r.param(), "current_password");
        let r = fapi.post(&path, &[("new_password", new)]).await;
        r.err(422, "form_param_missing");
        assert_eq!(r.param(), "current_password");
        for (weak, code) in [
            ("short", "form_password_length_too_short"),
            ("password123", "form_password_pwned"),
        ] {
            let r = fapi
                .post(
                    &path,
                    &[("current_password", PASSWORD), ("new_password", weak)],
                )
                .await;
            r.err(422, code);
            assert_eq!(r.param(), "new_password");
        }
        let r = fapi
            .post(
                &path,
                &[("current_password", PASSWORD), ("new_password", PASSWORD)],
            )
            .await;
        r.err(422, "form_new_password_matches_current");
        let done = fapi
            .post(
                &path,
                &[
                    ("current_password", PASSWORD),
                    ("new_password", new),
                    ("sign_out_of_other_sessions", "true"),
                ],
            )
            .await;
        let body = done.ok();
        assert_eq!(body["response"]["password_enabled"], true);
        assert_eq!(body["client"]["sessions"][0]["id"], json!(sid));
        // The other session is over; this one goes on.
        let other = elsewhere.get("/v1/client").await;
        assert_eq!(other.ok()["response"]["sessions"], json!([]));
        let sessions = fapi.get(&format!("/v1/me/sessions?{me}")).await;
        let revoked = sessions
            .ok()
            .as_array()
            .expect("array")
            .iter()
            .find(|s| s["id"] == json!(other_sid))
            .expect("listed")["status"]
            .clone();
        assert_eq!(revoked, "revoked");
        fapi.token_for(&sid).await.ok();
        server
            .native()
            .post(
                "/v1/client/sign_ins",
                &[("identifier", "user9"), ("password", PASSWORD)],
            )
            .await
            .err(422, "form_password_incorrect");
        let r = server
            .native()
            .post(
                "/v1/client/sign_ins",
                &[("identifier", "user9"), ("password", new)],
            )
            .await;
        assert_eq!(r.ok()["response"]["status"], "complete");
    })
    .await;
}

/// Wrong current passwords are guesses at the account's password like a sign-in's: however
/// many race, at most the lockout's worth are judged, and then even the right one is refused.
#[tokio::test]
async fn fifty_parallel_wrong_current_passwords_judge_at_most_the_lockout() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let user = server.user(10).await;
        let user_id = user["id"].as_str().expect("id").to_owned();
        let fapi = server.native();
        let sid = fapi.sign_in("user10@example.com").await;
        let fapi = Arc::new(fapi);
        let path = format!("/v1/me/change_password?_clerk_session_id={sid}");
        let mut handles = Vec::new();
        for _ in 0..50 {
            let (fapi, path) = (Arc::clone(&fapi), path.clone());
            handles.push(tokio::spawn(async move {
                let r = fapi
                    .post(
                        &path,
                        &[
                            ("current_password", "not the password"),
                            ("new_password", "a fresh and long passphrase"),
                        ],
                    )
                    .await;
                (r.status.as_u16(), r.code().to_owned())
            }));
        }
        let (mut judged, mut refused) = (0, 0);
        for h in handles {
            match h.await.expect("join") {
                (422, c) if c == "form_password_incorrect" => judged += 1,
                (403, c) if c == "user_locked" => refused += 1,
                (429, c) if c == "too_many_requests" => refused += 1,
                other => panic!("unexpected answer {other:?}"),
            }
        }
        let lockout = server.state.settings.lockout.max_attempts as usize;
        assert!(judged <= lockout, "{judged} judged on {b:?}");
        assert_eq!(judged + refused, 50);
        assert_eq!(failed_attempts(&server, &user_id).await as usize, lockout);
        fapi.post(
            &path,
            &[
                ("current_password", PASSWORD),
                ("new_password", "a fresh and long passphrase"),
            ],
        )
        .await
        .err(403, "user_locked");
    })
    .await;
}

#[tokio::test]
async fn a_password_is_removed_only_while_there_is_another_way_in() {
    each_backend(|b| async move {
        let mut settings = test_settings();
        settings.factors.phone_code = false;
        let server = TestServer::with_settings(b, settings).await;
        let (fapi, _sid, me) = signed_in(&server, 11).await;
        let path = format!("/v1/me/remove_password?{me}");
        fapi.post(&path, &[("current_password", "not it at all")])
            .await
            .err(422, "form_password_incorrect");
        let r = fapi.post(&path, &[("current_password", PASSWORD)]).await;
        assert_eq!(r.ok()["response"]["password_enabled"], false);
        fapi.post(&path, &[("current_password", PASSWORD)])
            .await
            .err(422, "form_param_value_invalid");
        // A password set again without one to give needs a recent verification instead.
        let change = format!("/v1/me/change_password?{me}");
        fapi.post(&change, &[("new_password", PASSWORD)]).await.ok();
    })
    .await;
    each_backend(|b| async move {
        let mut settings = test_settings();
        settings.factors.email_code = false;
        settings.factors.email_link = false;
        settings.factors.phone_code = false;
        let server = TestServer::with_settings(b, settings).await;
        let (fapi, _sid, me) = signed_in(&server, 12).await;
        fapi.post(
            &format!("/v1/me/remove_password?{me}"),
            &[("current_password", PASSWORD)],
        )
        .await
        .err(422, "form_password_removal_not_allowed");
    })
    .await;
}

#[tokio::test]
async fn the_user_lists_their_sessions_and_revokes_their_own_only() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let (fapi, sid, me) = signed_in(&server, 13).await;
        let laptop = server.native();
        let laptop_sid = laptop.sign_in("user13@example.com").await;
        let (stranger, stranger_sid, _) = signed_in(&server, 14).await;
        let active = fapi.get(&format!("/v1/me/sessions/active?{me}")).await;
        let list = active.ok().as_array().expect("bare array").clone();
        let mut ids: Vec<&str> = list.iter().filter_map(|s| s["id"].as_str()).collect();
        ids.sort_unstable();
        let mut expected = vec![sid.as_str(), laptop_sid.as_str()];
        expected.sort_unstable();
        assert_eq!(ids, expected);
        for s in &list {
            assert_eq!(s["status"], "active");
            assert_eq!(s["latest_activity"]["object"], "session_activity", "{s}");
            assert!(s.get("user").is_none_or(Value::is_null), "{s}");
            assert!(s["expire_at"].as_i64().is_some());
        }
        fapi.post(&format!("/v1/me/sessions/{stranger_sid}/revoke?{me}"), &[])
            .await
            .err(404, "resource_not_found");
        let revoked = fapi
            .post(&format!("/v1/me/sessions/{laptop_sid}/revoke?{me}"), &[])
            .await;
        assert_eq!(revoked.ok()["response"]["status"], "revoked");
        assert_eq!(
            laptop.get("/v1/client").await.ok()["response"]["sessions"],
            json!([])
        );
        stranger.token_for(&stranger_sid).await.ok();
        let active = fapi.get(&format!("/v1/me/sessions/active?{me}")).await;
        assert_eq!(active.ok().as_array().expect("array").len(), 1);
        let all = fapi.get(&format!("/v1/me/sessions?{me}")).await;
        assert_eq!(all.ok().as_array().expect("array").len(), 2);
        // Ending a session elsewhere is a sensitive change.
        let phone = server.native();
        let phone_sid = phone.sign_in("user13@example.com").await;
        server.clock.advance_seconds(11 * 60);
        fapi.post(&format!("/v1/me/sessions/{phone_sid}/revoke?{me}"), &[])
            .await
            .err(403, "session_reverification_required");
    })
    .await;
}

#[tokio::test]
async fn a_user_deletes_themself_after_a_recent_verification() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let env = server.native().get("/v1/environment").await;
        assert_eq!(env.ok()["user_settings"]["actions"]["delete_self"], true);
        let (fapi, sid, me) = signed_in(&server, 15).await;
        let user = fapi.get(&format!("/v1/me?{me}")).await.ok()["response"].clone();
        assert_eq!(user["delete_self_enabled"], true);
        let other = server.native();
        other.sign_in("user15@example.com").await;
        server.clock.advance_seconds(11 * 60);
        let path = format!("/v1/me?_method=DELETE&{me}");
        fapi.post(&path, &[])
            .await
            .err(403, "session_reverification_required");
        reverify(&fapi, &sid).await;
        let done = fapi.post(&path, &[]).await;
        let body = done.ok();
        assert_eq!(
            body["response"],
            json!({"object": "user", "id": user["id"], "deleted": true})
        );
        assert_eq!(body["client"]["sessions"], json!([]));
        assert_eq!(
            other.get("/v1/client").await.ok()["response"]["sessions"],
            json!([])
        );
        let (status, _) = server
            .bapi(
                Method::GET,
                &format!("/v1/users/{}", user["id"].as_str().expect("id")),
                None,
            )
            .await;
        assert_eq!(status, 404);
        server
            .native()
            .post(
                "/v1/client/sign_ins",
                &[("identifier", "user15@example.com"), ("password", PASSWORD)],
            )
            .await
            .err(422, "form_identifier_not_found");
    })
    .await;
    each_backend(|b| async move {
        let mut settings = test_settings();
        settings.actions.delete_self = false;
        let server = TestServer::with_settings(b, settings).await;
        let env = server.native().get("/v1/environment").await;
        assert_eq!(env.ok()["user_settings"]["actions"]["delete_self"], false);
        let (fapi, _sid, me) = signed_in(&server, 16).await;
        let user = fapi.get(&format!("/v1/me?{me}")).await;
        assert_eq!(user.ok()["response"]["delete_self_enabled"], false);
        fapi.post(&format!("/v1/me?_method=DELETE&{me}"), &[])
            .await
            .err(403, "resource_forbidden");
    })
    .await;
}

#[tokio::test]
async fn operators_verify_passwords_as_guesses_and_read_and_remove_identifications() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let user = server.user(17).await;
        let uid = user["id"].as_str().expect("id");
        let verify = format!("/v1/users/{uid}/verify_password");
        let (status, body) = server
            .bapi(Method::POST, &verify, Some(json!({"password": PASSWORD})))
            .await;
        assert_eq!((status.as_u16(), body), (200, json!({"verified": true})));
        let (status, body) = server
            .bapi(
                Method::POST,
                &verify,
                Some(json!({"password": "nope nope"})),
            )
            .await;
        assert_eq!(status, 422);
        assert_eq!(body["errors"][0]["code"], "form_password_incorrect");
        assert_eq!(failed_attempts(&server, uid).await, 1);
        let (status, _) = server
            .bapi(
                Method::POST,
                "/v1/users/user_nobody/verify_password",
                Some(json!({"password": PASSWORD})),
            )
            .await;
        assert_eq!(status, 404);

        let email = user["email_addresses"][0]["id"].as_str().expect("email");
        let phone = user["phone_numbers"][0]["id"].as_str().expect("phone");
        for (path, object, value) in [
            (
                format!("/v1/email_addresses/{email}"),
                "email_address",
                ("email_address", "user17@example.com"),
            ),
            (
                format!("/v1/phone_numbers/{phone}"),
                "phone_number",
                ("phone_number", "+15550100017"),
            ),
        ] {
            let (status, body) = server.bapi(Method::GET, &path, None).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["object"], object);
            assert_eq!(body[value.0], value.1);
            let (status, body) = server.bapi(Method::DELETE, &path, None).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["deleted"], true);
            let (status, body) = server.bapi(Method::GET, &path, None).await;
            assert_eq!(status, 404, "{body}");
            let (status, _) = server.bapi(Method::DELETE, &path, None).await;
            assert_eq!(status, 404);
        }
        let (_, after) = server
            .bapi(Method::GET, &format!("/v1/users/{uid}"), None)
            .await;
        assert_eq!(after["email_addresses"], json!([]));
        assert_eq!(after["phone_numbers"], json!([]));
        assert_eq!(after["primary_email_address_id"], Value::Null);
    })
    .await;
}
