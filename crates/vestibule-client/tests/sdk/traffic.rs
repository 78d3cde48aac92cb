//! What goes over the wire: native mode, form bodies, method tunnelling, publishable keys.

use crate::harness::*;
use vestibule_client::{
    AttemptFirstFactor, Clerk, ClerkError, InstanceType, PublishableKey, SignInCreateParams,
};

#[tokio::test]
async fn every_request_is_native_and_shaped_like_clerk_js() {
    let server = TestServer::start().await;
    server.user("ada@example.com").await;
    let clerk = server.clerk();
    clerk.load().await.expect("load");
    let si = clerk
        .sign_in()
        .create(SignInCreateParams::identifier("ada@example.com"))
        .await
        .expect("create");
    si.attempt_first_factor(AttemptFirstFactor::Password {
        password: PASSWORD.into(),
    })
    .await
    .expect("attempt");
    clerk.sign_out().await.expect("sign out");

    let reqs = server.requests();
    let summary: Vec<(String, String)> = reqs
        .iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    let mut expected_load = vec![
        ("GET".to_owned(), "/v1/client".to_owned()),
        ("GET".to_owned(), "/v1/environment".to_owned()),
    ];
    let mut load = summary[..2].to_vec();
    load.sort();
    expected_load.sort();
    assert_eq!(load, expected_load, "load fetches both, in parallel");
    assert_eq!(
        summary[2..],
        [
            ("POST".to_owned(), "/v1/client/sign_ins".to_owned()),
            (
                "POST".to_owned(),
                format!("/v1/client/sign_ins/{}/attempt_first_factor", si.id)
            ),
            ("POST".to_owned(), "/v1/client/sessions".to_owned()),
        ]
    );
    for r in &reqs {
        assert_eq!(r.query_param("_is_native").as_deref(), Some("1"), "{r:?}");
        assert!(r.query_param("__clerk_api_version").is_some(), "{r:?}");
        if r.method == "POST" {
            assert_eq!(
                r.content_type.as_deref(),
                Some("application/x-www-form-urlencoded"),
                "{r:?}"
            );
        }
    }
    assert!(
        reqs[..3].iter().all(|r| r.authorization.is_none()),
        "no token until the server issues one"
    );
    assert!(reqs[3..].iter().all(|r| r.authorization.is_some()));
    assert_eq!(reqs[2].form_keys(), ["identifier"]);
    assert_eq!(reqs[3].form_keys(), ["strategy", "password"]);
    assert_eq!(reqs[4].query_param("_method").as_deref(), Some("DELETE"));
}

#[tokio::test]
async fn publishable_key_with_a_proxy_url_signs_in() {
    let server = TestServer::start().await;
    server.user("ada@example.com").await;

    let key = PublishableKey::parse(&server.publishable_key).expect("the server's key");
    assert_eq!(key.instance_type, InstanceType::Development);
    assert_eq!(
        format!("http://{}", key.frontend_api_host),
        server.server_url,
        "the key names the server's host"
    );
    let direct = Clerk::from_publishable_key(&server.publishable_key, None).expect("clerk");
    assert_eq!(
        direct.frontend_api_url().as_str(),
        format!("https://{}/", key.frontend_api_host),
        "without a proxy, clerk-js always uses https"
    );

    let proxied = Clerk::from_publishable_key(&server.publishable_key, Some(&server.fapi_url))
        .expect("clerk");
    proxied.load().await.expect("load");
    let si = proxied
        .sign_in()
        .create(SignInCreateParams::password("ada@example.com", PASSWORD))
        .await
        .expect("sign in");
    proxied
        .set_active(&si.created_session_id.expect("session"))
        .await
        .expect("set_active");
    assert!(proxied.get_token().await.expect("token").is_some());
}

#[tokio::test]
async fn bad_keys_and_urls_are_configuration_errors() {
    for bad in ["sk_test_abc", "pk_test_bG9jYWxob3N0JA", "nonsense"] {
        let e = Clerk::from_publishable_key(bad, None).expect_err("bad key");
        assert!(matches!(e, ClerkError::Config(_)), "{bad}: {e:?}");
    }
    let e = Clerk::new("clerk.example.com").expect_err("not absolute");
    assert!(matches!(e, ClerkError::Config(_)), "{e:?}");
}

#[tokio::test]
async fn an_unreachable_server_is_a_network_error() {
    // Bind then drop, so the port is (almost certainly) closed.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let clerk = Clerk::new(&format!("http://{addr}")).expect("clerk");
    let e = clerk.load().await.expect_err("nobody listens");
    assert!(matches!(e, ClerkError::Network(_)), "{e:?}");
}
