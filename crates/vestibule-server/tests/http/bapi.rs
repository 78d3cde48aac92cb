//! The Backend API in the shapes @clerk/backend parses.

use crate::harness::*;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn the_secret_key_is_required() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let none = server
            .http
            .get(format!("{}/v1/users", server.base))
            .send()
            .await
            .expect("send");
        assert_eq!(none.status(), 401);
        let v: Value = none.json().await.expect("json");
        assert_eq!(v["errors"][0]["code"], "authentication_invalid");
        let wrong = server
            .http
            .get(format!("{}/v1/users", server.base))
            .bearer_auth("sk_test_wrongwrongwrongwrongwrongwrong")
            .send()
            .await
            .expect("send");
        assert_eq!(wrong.status(), 401);
        let v: Value = wrong.json().await.expect("json");
        assert_eq!(v["errors"][0]["code"], "clerk_key_invalid");
        let jwks = server
            .http
            .get(format!("{}/v1/jwks", server.base))
            .send()
            .await
            .expect("send");
        assert_eq!(
            jwks.status(),
            401,
            "BAPI JWKS needs the key; /.well-known/jwks.json does not"
        );
    })
    .await;
}

#[tokio::test]
async fn create_user_answers_the_shape_the_sdk_needs() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let res = server
            .http
            .post(format!("{}/v1/users", server.base))
            .bearer_auth(SECRET_KEY)
            .json(&json!({
                "email_address": ["Ada@Example.com", "ada.work@example.com"],
                "phone_number": ["+44 20 7946 0000"],
                "username": "Ada_L",
                "password": PASSWORD,
                "first_name": "Ada",
                "last_name": "Lovelace",
                "external_id": "crm-1",
                "public_metadata": {"plan": "pro"},
                "private_metadata": {"note": "vip"},
                "unsafe_metadata": {"theme": "dark"}
            }))
            .send()
            .await
            .expect("send");
        assert_eq!(res.status(), 200);
        // @clerk/backend parses JSON only for exactly this content type.
        assert_eq!(
            res.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/json")
        );
        let u: Value = res.json().await.expect("json");
        assert_eq!(u["object"], "user");
        assert!(u["id"].as_str().expect("id").starts_with("user_"));
        assert_eq!(u["username"], "ada_l");
        assert_eq!(u["email_addresses"][0]["email_address"], "ada@example.com");
        assert_eq!(
            u["email_addresses"][0]["linked_to"],
            json!([]),
            "@clerk/backend crashes without linked_to"
        );
        assert_eq!(
            u["email_addresses"][0]["verification"]["status"],
            "verified"
        );
        assert_eq!(u["primary_email_address_id"], u["email_addresses"][0]["id"]);
        assert_eq!(u["phone_numbers"][0]["phone_number"], "+442079460000");
        assert_eq!(u["phone_numbers"][0]["linked_to"], json!([]));
        assert_eq!(u["password_enabled"], true);
        assert_eq!(u["private_metadata"]["note"], "vip");
        assert_eq!(
            (u["banned"].as_bool(), u["locked"].as_bool()),
            (Some(false), Some(false))
        );
        assert!(
            u.get("deleted").is_none(),
            "a `deleted` key would turn it into a DeletedObject"
        );
        assert_eq!(u["external_accounts"], json!([]));
        // The frontend view of the same user hides private metadata.
        let fapi = server.native();
        let r = fapi
            .post(
                "/v1/client/sign_ins",
                &[("identifier", "ada_l"), ("password", PASSWORD)],
            )
            .await;
        let me = &r.ok()["client"]["sessions"][0]["user"];
        assert_eq!(me["id"], u["id"]);
        assert!(me.get("private_metadata").is_none());
        assert_eq!(me["public_metadata"]["plan"], "pro");
    })
    .await;
}

#[tokio::test]
async fn create_user_refuses_bad_input_without_creating_anything() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        server.user(1).await;
        let cases = [
            (json!({"email_address": ["user1@example.com"], "password": PASSWORD}), "form_identifier_exists", "email_address"),
            (json!({"email_address": ["fresh@example.com"], "username": "user1", "password": PASSWORD}), "form_identifier_exists", "username"),
            (json!({"phone_number": ["+15550100001"], "password": PASSWORD}), "form_identifier_exists", "phone_number"),
            (json!({"email_address": ["not-an-email"], "password": PASSWORD}), "form_param_format_invalid", "email_address"),
            (json!({"phone_number": ["555-1234"], "password": PASSWORD}), "form_param_format_invalid", "phone_number"),
            (json!({"username": "ab", "password": PASSWORD}), "form_param_format_invalid", "username"),
            (json!({"email_address": ["a@example.com", "A@example.com"], "password": PASSWORD}), "form_param_value_invalid", "email_address"),
            (json!({"email_address": ["b@example.com"], "password": "short"}), "form_password_length_too_short", "password"),
            (json!({"email_address": ["b@example.com"], "password": "x".repeat(80)}), "form_password_length_too_long", "password"),
            (json!({"email_address": ["b@example.com"]}), "form_param_missing", "password"),
            (json!({"password": PASSWORD}), "form_param_missing", "email_address"),
            (json!({"email_address": ["b@example.com"], "password": PASSWORD, "totp_secret": "x"}), "form_param_format_invalid", "totp_secret"),
            (json!({"email_address": ["b@example.com"], "password": PASSWORD, "favorite_color": "x"}), "form_param_unknown", "favorite_color"),
            (json!({"email_address": ["b@example.com"], "password_digest": "nonsense", "password_hasher": "bcrypt"}), "form_password_digest_invalid_code", "password_digest"),
            (json!({"email_address": ["b@example.com"], "password_digest": "x", "password_hasher": "rot13"}), "form_param_value_invalid", "password_hasher"),
            (json!({"email_address": ["b@example.com"], "password_digest": "x"}), "form_param_missing", "password_hasher"),
            (json!({"email_address": ["b@example.com"], "password": PASSWORD, "public_metadata": "[1]"}), "form_param_value_invalid", "public_metadata"),
            (json!({"email_address": "b@example.com", "password": PASSWORD, "first_name": {"a": 1}}), "form_param_value_invalid", "first_name"),
        ];
        for (body, code, param) in cases {
            let (status, v) = server.bapi(Method::POST, "/v1/users", Some(body.clone())).await;
            assert_eq!((status.as_u16(), v["errors"][0]["code"].as_str(), v["errors"][0]["meta"]["param_name"].as_str()), (422, Some(code), Some(param)), "{body}: {v}");
        }
        let (_, count) = server.bapi(Method::GET, "/v1/users/count", None).await;
        assert_eq!(count, json!({"object": "total_count", "total_count": 1}));
        // Skipping the checks allows a short password, as Clerk's skip_password_checks does.
        let (status, _) = server
            .bapi(Method::POST, "/v1/users", Some(json!({"email_address": ["c@example.com"], "password": "short", "skip_password_checks": true})))
            .await;
        assert_eq!(status, 200);
        let (status, _) = server
            .bapi(Method::POST, "/v1/users", Some(json!({"email_address": ["d@example.com"], "skip_password_requirement": true})))
            .await;
        assert_eq!(status, 200);
    })
    .await;
}

#[tokio::test]
async fn list_count_get_and_filters() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        for n in 1..=5 {
            server.user(n).await;
            server.clock.advance_seconds(1);
        }
        let (s, list) = server.bapi(Method::GET, "/v1/users?limit=2", None).await;
        assert_eq!(s, 200);
        let list = list.as_array().expect("a bare array");
        assert_eq!(list.len(), 2);
        assert_eq!(list[0]["username"], "user5", "newest first");
        let (_, page) = server
            .bapi(
                Method::GET,
                "/v1/users?limit=2&offset=4&order_by=%2Bcreated_at",
                None,
            )
            .await;
        assert_eq!(page[0]["username"], "user5");
        let (_, found) = server
            .bapi(
                Method::GET,
                "/v1/users?email_address=USER2%40example.com&email_address=user4%40example.com",
                None,
            )
            .await;
        assert_eq!(found.as_array().expect("array").len(), 2);
        let (_, count) = server
            .bapi(
                Method::GET,
                "/v1/users/count?email_address=user2%40example.com",
                None,
            )
            .await;
        assert_eq!(count["total_count"], 1);
        let (_, q) = server
            .bapi(Method::GET, "/v1/users?query=first3", None)
            .await;
        assert_eq!(q[0]["username"], "user3");
        let id = list[0]["id"].as_str().expect("id");
        let (s, one) = server
            .bapi(Method::GET, &format!("/v1/users/{id}"), None)
            .await;
        assert_eq!((s.as_u16(), one["id"].as_str()), (200, Some(id)));
        let (s, v) = server
            .bapi(Method::GET, "/v1/users/user_missing", None)
            .await;
        assert_eq!(
            (s.as_u16(), v["errors"][0]["code"].as_str()),
            (404, Some("resource_not_found"))
        );
        for bad in [
            "/v1/users?limit=0",
            "/v1/users?limit=9999",
            "/v1/users?offset=-1",
            "/v1/users?order_by=password",
            "/v1/users?unknown=1",
        ] {
            let (s, v) = server.bapi(Method::GET, bad, None).await;
            assert_eq!(s.as_u16(), 422, "{bad}: {v}");
        }
    })
    .await;
}

#[tokio::test]
async fn update_metadata_password_and_sessions() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let u = server.user(1).await;
        let id = u["id"].as_str().expect("id");
        let fapi = server.native();
        let sid = fapi.sign_in("user1").await;

        let (s, v) = server
            .bapi(Method::PATCH, &format!("/v1/users/{id}"), Some(json!({"first_name": "Renamed", "last_name": null, "public_metadata": {"a": {"b": 1}}})))
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!((v["first_name"].as_str(), v["last_name"].as_str()), (Some("Renamed"), None));
        let (_, v) = server
            .bapi(Method::PATCH, &format!("/v1/users/{id}/metadata"), Some(json!({"public_metadata": {"a": {"c": 2}}, "private_metadata": {"k": "v"}})))
            .await;
        assert_eq!(v["public_metadata"], json!({"a": {"b": 1, "c": 2}}));
        let (_, v) = server.bapi(Method::PUT, &format!("/v1/users/{id}/metadata"), Some(json!({"public_metadata": {"fresh": true}}))).await;
        assert_eq!(v["public_metadata"], json!({"fresh": true}));
        assert_eq!(v["private_metadata"], json!({"k": "v"}), "untouched kinds stay");

        let (s, v) = server.bapi(Method::PATCH, &format!("/v1/users/{id}"), Some(json!({"sign_out_of_other_sessions": true}))).await;
        assert_eq!(s.as_u16(), 422, "{v}");
        let (s, v) = server.bapi(Method::PATCH, &format!("/v1/users/{id}"), Some(json!({"password": "a brand new passphrase", "sign_out_of_other_sessions": true}))).await;
        assert_eq!(s, 200, "{v}");
        fapi.token_for(&sid).await.err(401, "signed_out");
        let other = server.native();
        other.post("/v1/client/sign_ins", &[("identifier", "user1"), ("password", PASSWORD)]).await.err(422, "form_password_incorrect");
        other.post("/v1/client/sign_ins", &[("identifier", "user1"), ("password", "a brand new passphrase")]).await.ok();

        let primary = u["email_addresses"][0]["id"].as_str().expect("email id");
        let (s, _) = server.bapi(Method::PATCH, &format!("/v1/users/{id}"), Some(json!({"primary_email_address_id": primary}))).await;
        assert_eq!(s, 200);
        let (s, _) = server.bapi(Method::PATCH, &format!("/v1/users/{id}"), Some(json!({"primary_email_address_id": "idn_other"}))).await;
        assert_eq!(s.as_u16(), 422);
    })
    .await;
}

#[tokio::test]
async fn sessions_list_revoke_and_user_deletion() {
    each_backend(|b| async move {
        let server = TestServer::start(b).await;
        let u = server.user(1).await;
        let id = u["id"].as_str().expect("id");
        let one = server.native();
        let two = server.native();
        let s1 = one.sign_in("user1").await;
        let s2 = two.sign_in("user1").await;

        let (s, page) = server
            .bapi(
                Method::GET,
                &format!("/v1/sessions?user_id={id}&paginated=true&limit=1"),
                None,
            )
            .await;
        assert_eq!(s, 200);
        assert_eq!(page["total_count"], 2);
        assert_eq!(page["data"].as_array().expect("data").len(), 1);
        assert_eq!(page["data"][0]["object"], "session");
        assert_eq!(page["data"][0]["user_id"], id);
        let (_, bare) = server
            .bapi(Method::GET, &format!("/v1/sessions?user_id={id}"), None)
            .await;
        assert_eq!(bare.as_array().expect("bare array").len(), 2);
        let (s, _) = server.bapi(Method::GET, "/v1/sessions", None).await;
        assert_eq!(s.as_u16(), 422, "a user or client is required");

        let (s, v) = server
            .bapi(Method::POST, &format!("/v1/sessions/{s1}/revoke"), None)
            .await;
        assert_eq!((s.as_u16(), v["status"].as_str()), (200, Some("revoked")));
        one.token_for(&s1).await.err(401, "signed_out");
        two.token_for(&s2).await.ok();

        let (s, v) = server
            .bapi(Method::DELETE, &format!("/v1/users/{id}"), None)
            .await;
        assert_eq!(s, 200);
        assert_eq!(v, json!({"object": "user", "id": id, "deleted": true}));
        two.token_for(&s2).await.err(404, "resource_not_found");
        server
            .native()
            .post("/v1/client/sign_ins", &[("identifier", "user1")])
            .await
            .err(422, "form_identifier_not_found");
        let (s, _) = server
            .bapi(Method::DELETE, &format!("/v1/users/{id}"), None)
            .await;
        assert_eq!(s.as_u16(), 404);
    })
    .await;
}
