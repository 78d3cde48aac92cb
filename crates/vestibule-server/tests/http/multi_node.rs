//! Two nodes on one database: any node serves any step of any flow.

use crate::harness::*;

#[tokio::test]
async fn a_flow_moves_between_nodes() {
    each_backend(|b| async move {
        let a = TestServer::start(b).await;
        let node_b = a.another_node().await;
        a.user(1).await;
        let on_a = a.native();
        let r = on_a
            .post("/v1/client/sign_ins", &[("identifier", "user1")])
            .await;
        let id = r.ok()["response"]["id"].as_str().expect("id").to_owned();

        // The same client continues on node B.
        let on_b = node_b.native();
        *on_b.token.lock().expect("lock") = on_a.token();
        let r = on_b
            .post(
                &format!("/v1/client/sign_ins/{id}/attempt_first_factor"),
                &[("strategy", "password"), ("password", PASSWORD)],
            )
            .await;
        let sid = r.ok()["response"]["created_session_id"]
            .as_str()
            .expect("sid")
            .to_owned();
        *on_a.token.lock().expect("lock") = on_b.token();

        // Tokens from either node verify against either node's JWKS; both share the signing key.
        let from_a = on_a.token_for(&sid).await.ok()["jwt"]
            .as_str()
            .expect("jwt")
            .to_owned();
        let from_b = on_b.token_for(&sid).await.ok()["jwt"]
            .as_str()
            .expect("jwt")
            .to_owned();
        verify(&node_b, &from_a).await;
        verify(&a, &from_b).await;
        assert_eq!(
            a.state.keys.active().kid(),
            node_b.state.keys.active().kid()
        );

        // Signing out on A stops B from minting.
        on_a.call("DELETE", "/v1/client/sessions", &[]).await.ok();
        on_b.token_for(&sid).await.err(401, "signed_out");
    })
    .await;
}
