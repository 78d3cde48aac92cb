//! Passkeys through the SDK with the software authenticator: registered by a signed-in user
//! (`create_passkey`), then signing in by the identified and the discoverable flow, and the
//! server's refusals of tampered ceremonies.

use crate::harness::*;
use vestibule_client::{
    Clerk, ClerkError, PasskeyFlow, SignIn, SignInCreateParams, SignInStatus,
    SoftwareAuthenticator, Strategy,
};
use vestibule_model::settings::PasskeySettings;

const ORIGIN: &str = "http://localhost:5173";

async fn passkey_server() -> TestServer {
    TestServer::start_with(|c| {
        c.settings.passkeys = PasskeySettings {
            enabled: true,
            rp_id: Some("localhost".into()),
            origins: vec![ORIGIN.into()],
            ..Default::default()
        };
    })
    .await
}

/// A client signed in as `email` (by password), its session active.
async fn signed_in(server: &TestServer, email: &str) -> Clerk {
    let clerk = server.clerk();
    clerk.load().await.expect("load");
    let si = clerk
        .sign_in()
        .create(SignInCreateParams::password(email, PASSWORD))
        .await
        .expect("sign in");
    clerk
        .set_active(&si.created_session_id.expect("session"))
        .await
        .expect("set_active");
    clerk
}

/// Activates a completed sign-in's session; returns its token's `sub`.
async fn token_subject(clerk: &Clerk, si: &SignIn) -> serde_json::Value {
    assert_eq!(si.status, SignInStatus::Complete, "{si:?}");
    clerk
        .set_active(si.created_session_id.as_deref().expect("session"))
        .await
        .expect("set_active");
    let jwt = clerk.get_token().await.expect("token").expect("a token");
    claims(&jwt)["sub"].clone()
}

#[tokio::test]
async fn a_registered_passkey_signs_in_by_either_flow() {
    let server = passkey_server().await;
    let user = server.user("pk@example.com").await;
    let authenticator = SoftwareAuthenticator::new(ORIGIN).expect("authenticator");

    let clerk = signed_in(&server, "pk@example.com").await;
    let passkey = clerk
        .create_passkey(&authenticator)
        .await
        .expect("register");
    assert!(passkey.is_verified(), "{passkey:?}");
    assert!(!passkey.name.is_empty());
    assert_eq!(clerk.passkeys().len(), 1, "the user lists it");
    let registration = server
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/attempt_verification"))
        .expect("attempt_verification sent");
    assert_eq!(
        registration.form_keys(),
        ["strategy", "public_key_credential"]
    );
    assert!(registration.query_param("_clerk_session_id").is_some());
    clerk.sign_out().await.expect("sign out");

    // Identified: the identifier first, then its passkey.
    let started = clerk
        .sign_in()
        .create(SignInCreateParams::identifier("pk@example.com"))
        .await
        .expect("create");
    assert!(started.first_factor(&Strategy::Passkey).is_some());
    let si = started
        .authenticate_with_passkey(&authenticator, PasskeyFlow::Identified)
        .await
        .expect("identified flow");
    assert_eq!(token_subject(&clerk, &si).await, user["id"]);
    clerk.sign_out().await.expect("sign out");

    // Discoverable: no identifier; the credential names the account.
    let si = clerk
        .sign_in()
        .authenticate_with_passkey(&authenticator)
        .await
        .expect("discoverable flow");
    assert_eq!(token_subject(&clerk, &si).await, user["id"]);

    // From a fresh client, through SignIn::authenticate_with_passkey too.
    let other = server.clerk();
    other.load().await.expect("load");
    let si = other
        .sign_in()
        .create(SignInCreateParams::identifier("pk@example.com"))
        .await
        .expect("create")
        .authenticate_with_passkey(&authenticator, PasskeyFlow::Discoverable)
        .await
        .expect("discoverable from a sign-in in progress");
    assert_eq!(token_subject(&other, &si).await, user["id"]);
}

fn assert_credential_refused(err: &ClerkError, what: &str) {
    assert_eq!(
        err.code(),
        Some("form_param_value_invalid"),
        "{what}: {err}"
    );
    assert_eq!(
        err.errors()[0].param_name(),
        Some("public_key_credential"),
        "{what}"
    );
}

#[tokio::test]
async fn tampered_ceremonies_and_deleted_passkeys_are_refused() {
    let server = passkey_server().await;
    server.user("tamper@example.com").await;
    server.user("nokey@example.com").await;
    let authenticator = SoftwareAuthenticator::new(ORIGIN).expect("authenticator");
    let clerk = signed_in(&server, "tamper@example.com").await;
    let passkey = clerk
        .create_passkey(&authenticator)
        .await
        .expect("register");
    let renamed = passkey.rename("Work laptop").await.expect("rename");
    assert_eq!(renamed.name, "Work laptop");
    assert_eq!(clerk.passkeys()[0].name, "Work laptop");

    let fresh = server.clerk();
    fresh.load().await.expect("load");
    let err = fresh
        .sign_in()
        .authenticate_with_passkey(&authenticator.flipping_signatures())
        .await
        .expect_err("a broken signature");
    assert_credential_refused(&err, "signature");
    let err = fresh
        .sign_in()
        .authenticate_with_passkey(&authenticator.at_origin("http://localhost:6666"))
        .await
        .expect_err("another origin");
    assert_credential_refused(&err, "origin");
    authenticator.set_user_verification(false);
    let err = fresh
        .sign_in()
        .authenticate_with_passkey(&authenticator)
        .await
        .expect_err("no user verification");
    assert_credential_refused(&err, "user verification");
    authenticator.set_user_verification(true);

    // An account without a passkey offers none: the SDK says so before asking the authenticator.
    let started = fresh
        .sign_in()
        .create(SignInCreateParams::identifier("nokey@example.com"))
        .await
        .expect("create");
    let err = started
        .authenticate_with_passkey(&authenticator, PasskeyFlow::Identified)
        .await
        .expect_err("no passkey factor");
    assert!(matches!(err, ClerkError::Passkey(_)), "{err:?}");

    // Deleted, the credential names nobody.
    renamed.delete().await.expect("delete");
    assert!(clerk.passkeys().is_empty());
    let err = fresh
        .sign_in()
        .authenticate_with_passkey(&authenticator)
        .await
        .expect_err("a deleted passkey");
    assert_eq!(err.code(), Some("form_identifier_not_found"), "{err}");
}
