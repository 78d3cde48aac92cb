//! Activating sessions, session tokens and their cache, signing out, restoring a sign-in.

use crate::harness::*;
use std::sync::Arc;
use vestibule_client::{
    Clerk, ClerkError, GetTokenOptions, MemoryTokenStore, SessionStatus, SignInCreateParams,
    TokenStore,
};

/// Signs `email` in and makes the session active; returns the session id.
async fn signed_in(clerk: &Clerk, email: &str) -> String {
    clerk.load().await.expect("load");
    let si = clerk
        .sign_in()
        .create(SignInCreateParams::password(email, PASSWORD))
        .await
        .expect("sign in");
    let sid = si.created_session_id.expect("session");
    clerk.set_active(&sid).await.expect("set_active");
    sid
}

#[tokio::test]
async fn set_active_then_get_token_names_user_and_session() {
    let server = TestServer::start().await;
    let user = server.user("ada@example.com").await;
    let clerk = server.clerk();
    let sid = signed_in(&clerk, "ada@example.com").await;

    let session = clerk.session().expect("active session");
    assert_eq!(session.id, sid);
    assert_eq!(session.status, SessionStatus::Active);
    let me = clerk.user().expect("user");
    assert_eq!(me.id, user["id"].as_str().expect("id"));
    assert_eq!(me.email_addresses[0].email_address, "ada@example.com");

    let jwt = clerk.get_token().await.expect("token").expect("signed in");
    let c = claims(&jwt);
    assert_eq!(c["sub"], user["id"]);
    assert_eq!(c["sid"], sid.as_str());
    assert!(c["exp"].as_i64().expect("exp") > c["iat"].as_i64().expect("iat"));
    assert_eq!(
        server.count("/tokens"),
        0,
        "the token that came with the session seeds the cache"
    );
}

#[tokio::test]
async fn cached_token_is_reused_until_near_expiry() {
    let server = TestServer::start().await;
    server.user("ada@example.com").await;
    let clerk = server.clerk();
    signed_in(&clerk, "ada@example.com").await;
    server.clear_requests();

    let first = clerk.get_token().await.expect("token").expect("jwt");
    let second = clerk.get_token().await.expect("token").expect("jwt");
    assert_eq!(first, second);
    assert!(
        server.requests().is_empty(),
        "cached tokens cost no request: {:?}",
        server.requests()
    );

    let fresh = clerk
        .get_token_with(&GetTokenOptions {
            skip_cache: true,
            ..Default::default()
        })
        .await
        .expect("token")
        .expect("jwt");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert!(reqs[0].path.ends_with("/tokens"));
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].query_param("debug").as_deref(), Some("skip_cache"));
    assert_eq!(reqs[0].form_keys(), ["organization_id"]);
    assert_eq!(claims(&fresh)["sid"], claims(&first)["sid"]);

    let again = clerk.get_token().await.expect("token").expect("jwt");
    assert_eq!(again, fresh, "the fresh token replaced the cached one");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn tokens_close_to_expiry_are_fetched_anew() {
    // Tokens live 10 s, all of it inside the refresh margin: every call must ask the server.
    let server = TestServer::start_with(|c| c.settings.sessions.token_lifetime_seconds = 10).await;
    server.user("ada@example.com").await;
    let clerk = server.clerk();
    let sid = signed_in(&clerk, "ada@example.com").await;
    server.clear_requests();

    let a = clerk.get_token().await.expect("token").expect("jwt");
    let b = clerk.get_token().await.expect("token").expect("jwt");
    assert_eq!(server.count("/tokens"), 2);
    assert_eq!(claims(&a)["sid"], sid.as_str());
    assert_eq!(claims(&b)["sid"], sid.as_str());
}

#[tokio::test]
async fn sign_out_ends_sessions_and_tokens() {
    let server = TestServer::start().await;
    server.user("ada@example.com").await;
    let (clerk, store) = server.clerk_with_store();
    signed_in(&clerk, "ada@example.com").await;
    let session = clerk.session().expect("session");
    server.clear_requests();

    clerk.sign_out().await.expect("sign out");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].path.as_str()),
        ("POST", "/v1/client/sessions")
    );
    assert_eq!(reqs[0].query_param("_method").as_deref(), Some("DELETE"));

    assert!(clerk.session().is_none());
    assert!(clerk.user().is_none());
    assert!(clerk.sessions().is_empty());
    assert_eq!(clerk.get_token().await.expect("no error"), None);
    assert!(
        store.get().is_some(),
        "the client outlives its sessions, and so does its token"
    );

    let e = session
        .get_token()
        .await
        .expect_err("an old handle cannot mint tokens");
    assert!(matches!(e, ClerkError::Api { status: 401, .. }), "{e:?}");
    assert_eq!(e.code(), Some("signed_out"));

    // The same client can sign in again.
    let si = clerk
        .sign_in()
        .create(SignInCreateParams::password("ada@example.com", PASSWORD))
        .await
        .expect("sign in again");
    assert!(si.created_session_id.is_some());
}

#[tokio::test]
async fn ending_a_session_deactivates_it() {
    let server = TestServer::start().await;
    server.user("ada@example.com").await;
    let clerk = server.clerk();
    let sid = signed_in(&clerk, "ada@example.com").await;
    let session = clerk.session().expect("session");

    let ended = session.end().await.expect("end");
    assert_eq!(ended.id, sid);
    assert_eq!(ended.status, SessionStatus::Ended);
    assert!(clerk.session().is_none());
    assert_eq!(clerk.get_token().await.expect("no error"), None);
}

#[tokio::test]
async fn removing_a_session_deactivates_it() {
    let server = TestServer::start().await;
    server.user("ada@example.com").await;
    let clerk = server.clerk();
    signed_in(&clerk, "ada@example.com").await;
    let removed = clerk
        .session()
        .expect("session")
        .remove()
        .await
        .expect("remove");
    assert_eq!(removed.status, SessionStatus::Removed);
    assert!(clerk.session().is_none());
}

#[tokio::test]
async fn a_stored_token_restores_the_sign_in_on_load() {
    let server = TestServer::start().await;
    let user = server.user("ada@example.com").await;
    let store = Arc::new(MemoryTokenStore::new());
    let first = Clerk::builder(&server.fapi_url)
        .token_store(Arc::clone(&store) as Arc<dyn TokenStore>)
        .build()
        .expect("clerk");
    let sid = signed_in(&first, "ada@example.com").await;
    drop(first);

    // A new process with the persisted token.
    let saved = store.get().expect("token");
    let again = Clerk::builder(&server.fapi_url)
        .token_store(Arc::new(MemoryTokenStore::with_token(saved)))
        .build()
        .expect("clerk");
    assert!(again.session().is_none(), "nothing before load");
    again.load().await.expect("load");
    assert_eq!(again.session().map(|s| s.id), Some(sid));
    assert_eq!(
        again.user().map(|u| u.id),
        user["id"].as_str().map(str::to_owned)
    );
    let env = again.environment().expect("environment");
    assert_eq!(env.object, "environment");
    assert!(env.user_settings.attributes["password"].enabled);
    assert!(again.get_token().await.expect("token").is_some());
}

#[tokio::test]
async fn set_active_on_an_unknown_session_is_not_found() {
    let server = TestServer::start().await;
    server.user("ada@example.com").await;
    let clerk = server.clerk();
    signed_in(&clerk, "ada@example.com").await;
    let e = clerk
        .set_active("sess_doesnotexist")
        .await
        .expect_err("unknown");
    assert_eq!(e.status(), Some(404), "{e:?}");
    assert_eq!(e.code(), Some("resource_not_found"));
    assert!(clerk.session().is_some(), "the active session is unchanged");
}
