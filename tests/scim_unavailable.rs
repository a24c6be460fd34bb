//! With the API server gone, the SCIM endpoint answers 503 with Retry-After, never a false 2xx.
//! A control plane of its own, since this test stops it.

mod support;

use reqwest::StatusCode;
use scim_operator::envtest::ControlPlane;
use serde_json::json;
use support::scim::{Scim, ServerOptions, create_directory, spawn_server};

#[tokio::test]
async fn writes_fail_with_503_when_the_api_server_is_unreachable() {
    let control_plane = ControlPlane::start().await.expect("control plane");
    let client = control_plane.client().await.expect("client");
    support::apply_crds(&client).await.expect("CRDs");
    let namespace = support::fresh_namespace(&client, "down").await;
    let token = create_directory(&client, &namespace, "entra").await;
    let addr = spawn_server(client.clone(), ServerOptions::default()).await;
    let scim = Scim::connect(addr, &namespace, "entra", &token).await;
    scim.create_user("before@x.io").await;

    control_plane.stop();

    let reply = scim.post("/Users", &json!({"userName": "after@x.io"})).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", reply.body);
    assert_eq!(reply.headers["retry-after"], "5");
    assert_eq!(reply.headers["content-type"], "application/scim+json");
    assert_eq!(reply.body["status"], "503");
}
