//! The SignIn object through its password flows, and the errors the server answers with.

use crate::harness::*;
use vestibule_client::{
    AttemptFirstFactor, AttemptSecondFactor, Clerk, ClerkError, MemoryTokenStore,
    PrepareFirstFactor, SignInCreateParams, SignInStatus, Strategy, TokenStore,
};

#[tokio::test]
async fn identifier_first_then_wrong_and_right_password() {
    let server = TestServer::start().await;
    server.user("ada@example.com").await;
    let clerk = server.clerk();
    clerk.load().await.expect("load");
    assert!(
        clerk.client().is_none(),
        "no client before the first sign-in"
    );

    let si = clerk
        .sign_in()
        .create(SignInCreateParams::identifier("ada@example.com"))
        .await
        .expect("create");
    assert_eq!(si.status, SignInStatus::NeedsFirstFactor);
    assert_eq!(si.identifier.as_deref(), Some("ada@example.com"));
    assert!(
        si.first_factor(&Strategy::Password).is_some(),
        "password is offered: {:?}",
        si.supported_first_factors
    );
    assert!(si
        .supported_identifiers
        .contains(&"email_address".to_owned()));
    assert_eq!(
        si.user_data.as_ref().and_then(|u| u.first_name.as_deref()),
        Some("Ada")
    );
    assert!(si.created_session_id.is_none());
    let current = clerk.sign_in().current().expect("the client carries it");
    assert_eq!(current.id, si.id);

    let wrong = si
        .attempt_first_factor(AttemptFirstFactor::Password {
            password: "not it".into(),
        })
        .await
        .expect_err("wrong password");
    assert!(
        matches!(wrong, ClerkError::Api { status: 422, .. }),
        "{wrong:?}"
    );
    assert_eq!(wrong.code(), Some("form_password_incorrect"));
    assert!(wrong.is("form_password_incorrect"));
    assert_eq!(wrong.errors()[0].param_name(), Some("password"));
    assert_eq!(
        si.status,
        SignInStatus::NeedsFirstFactor,
        "a failed step leaves the value as it was"
    );

    let reloaded = si.reload().await.expect("reload");
    assert_eq!(reloaded.status, SignInStatus::NeedsFirstFactor);

    let done = si
        .attempt_first_factor(AttemptFirstFactor::Password {
            password: PASSWORD.into(),
        })
        .await
        .expect("right password");
    assert_eq!(done.status, SignInStatus::Complete);
    assert_eq!(done.id, si.id);
    let sid = done.created_session_id.clone().expect("session created");
    assert_eq!(
        done.first_factor_verification
            .as_ref()
            .map(|v| v.status.as_str()),
        Some("verified")
    );
    let client = clerk.client().expect("client");
    assert!(client.sessions.iter().any(|s| s.id == sid));
    assert!(
        clerk.session().is_none(),
        "a completed sign-in is not active until set_active, as in clerk-js"
    );
}

#[tokio::test]
async fn one_step_create_with_password() {
    let server = TestServer::start().await;
    server.user("grace@example.com").await;
    let clerk = server.clerk();
    clerk.load().await.expect("load");
    let si = clerk
        .sign_in()
        .create(SignInCreateParams::password("grace@example.com", PASSWORD))
        .await
        .expect("create");
    assert_eq!(si.status, SignInStatus::Complete);
    let sid = si.created_session_id.expect("session");
    let session = clerk.set_active(&sid).await.expect("set_active");
    assert_eq!(session.id, sid);
}

#[tokio::test]
async fn one_step_create_with_a_wrong_password_is_refused() {
    let server = TestServer::start().await;
    server.user("grace@example.com").await;
    let clerk = server.clerk();
    let e = clerk
        .sign_in()
        .create(SignInCreateParams::password("grace@example.com", "nope"))
        .await
        .expect_err("wrong password");
    assert_eq!(
        (e.status(), e.code()),
        (Some(422), Some("form_password_incorrect"))
    );
}

#[tokio::test]
async fn unknown_identifier_is_a_form_error() {
    let server = TestServer::start().await;
    let clerk = server.clerk();
    clerk.load().await.expect("load");
    let e = clerk
        .sign_in()
        .create(SignInCreateParams::identifier("nobody@example.com"))
        .await
        .expect_err("unknown");
    assert!(matches!(e, ClerkError::Api { status: 422, .. }), "{e:?}");
    assert_eq!(e.code(), Some("form_identifier_not_found"));
    assert!(e.to_string().contains("form_identifier_not_found"), "{e}");
}

#[tokio::test]
async fn client_token_rotates_on_sign_in() {
    let server = TestServer::start().await;
    server.user("ada@example.com").await;
    let (clerk, store) = server.clerk_with_store();
    clerk.load().await.expect("load");
    assert_eq!(store.get(), None);

    let si = clerk
        .sign_in()
        .create(SignInCreateParams::identifier("ada@example.com"))
        .await
        .expect("create");
    let before = store
        .get()
        .expect("the first sign-in call creates a client");
    si.reload().await.expect("reload");
    assert_eq!(
        store.get().as_deref(),
        Some(before.as_str()),
        "unchanged without a sign-in"
    );

    si.attempt_first_factor(AttemptFirstFactor::Password {
        password: PASSWORD.into(),
    })
    .await
    .expect("sign in");
    let after = store.get().expect("token");
    assert_ne!(after, before, "signing in replaces the client token");

    clerk.load().await.expect("reload client");
    let last = server.requests().pop().expect("a request");
    assert_eq!(
        last.authorization.as_deref(),
        Some(after.as_str()),
        "the new token is the one sent"
    );

    // The token from before the sign-in no longer names the client (no session fixation).
    let stale = Clerk::builder(&server.fapi_url)
        .token_store(std::sync::Arc::new(MemoryTokenStore::with_token(before)))
        .build()
        .expect("clerk");
    stale.load().await.expect("load");
    assert!(stale.client().is_none());
    assert!(stale.session().is_none());
}

#[tokio::test]
async fn strategies_the_server_does_not_offer_surface_as_api_errors() {
    let server = TestServer::start().await;
    server.user("ada@example.com").await;
    let clerk = server.clerk();
    let si = clerk
        .sign_in()
        .create(SignInCreateParams::identifier("ada@example.com"))
        .await
        .expect("create");

    let e = si
        .prepare_first_factor(PrepareFirstFactor::Passkey)
        .await
        .expect_err("passkeys are not offered");
    assert_eq!(e.status(), Some(422), "{e:?}");
    assert_eq!(e.errors()[0].param_name(), Some("strategy"));

    let e = si
        .attempt_first_factor(AttemptFirstFactor::Passkey {
            public_key_credential: "{}".into(),
        })
        .await
        .expect_err("nor attempted");
    assert_eq!(e.status(), Some(422), "{e:?}");

    let e = si
        .attempt_second_factor(AttemptSecondFactor::Totp {
            code: "000000".into(),
        })
        .await
        .expect_err("no second factors here");
    assert!(
        matches!(e, ClerkError::Api { status: 400..=499, ref errors, .. } if !errors.is_empty()),
        "{e:?}"
    );

    // None of this disturbed the sign-in.
    let si = si.reload().await.expect("reload");
    assert_eq!(si.status, SignInStatus::NeedsFirstFactor);
}

#[tokio::test]
async fn email_code_sign_in_through_the_sdk() {
    let server = TestServer::start().await;
    let user = server.user("grace@example.com").await;
    let clerk = server.clerk();
    let si = clerk
        .sign_in()
        .create(SignInCreateParams::identifier("grace@example.com"))
        .await
        .expect("create");
    let email_id = user["email_addresses"][0]["id"]
        .as_str()
        .expect("email id")
        .to_owned();
    let si = si
        .prepare_first_factor(PrepareFirstFactor::EmailCode {
            email_address_id: email_id,
        })
        .await
        .expect("prepare");
    let code = server.latest_code("grace@example.com").await;
    let e = si
        .attempt_first_factor(AttemptFirstFactor::EmailCode {
            code: if code == "000000" {
                "111111".into()
            } else {
                "000000".into()
            },
        })
        .await
        .expect_err("a wrong code");
    assert!(e.is("form_code_incorrect"), "{e:?}");
    let si = si
        .attempt_first_factor(AttemptFirstFactor::EmailCode { code })
        .await
        .expect("the right code");
    assert_eq!(si.status, SignInStatus::Complete);
    clerk
        .set_active(si.created_session_id.as_deref().expect("session"))
        .await
        .expect("set active");
    assert!(clerk.get_token().await.expect("token").is_some());
}

#[tokio::test]
async fn a_busy_server_says_when_to_retry() {
    // One hashing thread and one queue place: concurrent password checks beyond two get 429.
    let server = TestServer::start_with(|c| {
        c.hashing.threads = 1;
        c.hashing.queue = 1;
    })
    .await;
    server.user("ada@example.com").await;
    let attempts = (0..12).map(|_| {
        let clerk = server.clerk();
        async move {
            clerk
                .sign_in()
                .create(SignInCreateParams::password("ada@example.com", "wrong"))
                .await
        }
    });
    let mut handles = Vec::new();
    for a in attempts {
        handles.push(tokio::spawn(a));
    }
    let mut busy = Vec::new();
    for h in handles {
        if let Err(e) = h.await.expect("join") {
            if e.status() == Some(429) {
                busy.push(e);
            } else {
                assert_eq!(e.code(), Some("form_password_incorrect"), "{e:?}");
            }
        }
    }
    let e = busy
        .first()
        .expect("at least one request found the pool busy");
    assert_eq!(e.code(), Some("too_many_requests"));
    assert!(e.retry_after().is_some(), "{e:?}");
}

#[tokio::test]
async fn a_ticket_from_the_backend_signs_in_once() {
    let server = TestServer::start().await;
    let user = server.user("tick@example.com").await;
    let ticket = server
        .sign_in_ticket(user["id"].as_str().expect("id"))
        .await;

    let clerk = server.clerk();
    clerk.load().await.expect("load");
    let si = clerk
        .sign_in()
        .create(SignInCreateParams::ticket(&ticket))
        .await
        .expect("ticket sign-in");
    assert_eq!(si.status, SignInStatus::Complete);
    let sid = si.created_session_id.clone().expect("session");
    clerk.set_active(&sid).await.expect("set_active");
    let jwt = clerk.get_token().await.expect("token").expect("a token");
    assert_eq!(claims(&jwt)["sub"], user["id"]);

    let again = server
        .clerk()
        .sign_in()
        .create(SignInCreateParams::ticket(&ticket))
        .await
        .expect_err("used once");
    assert_eq!(again.code(), Some("sign_in_token_already_used_code"));
    assert_eq!(again.errors()[0].param_name(), Some("ticket"));
}
