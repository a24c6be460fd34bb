//! With the API server gone, the SCIM endpoint answers 503 with Retry-After, never a false 2xx, and
//! valid tokens keep working for a bounded time. A control plane of its own, since this test stops it.

mod support;

use std::time::Duration;

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
    // Last-good token digests outlive failing Secret reads by STALE (the test TTL is 1 s).
    const STALE: Duration = Duration::from_secs(4);
    let options = ServerOptions {
        secret_stale: STALE,
        ..Default::default()
    };
    let addr = spawn_server(client.clone(), options).await;
    let scim = Scim::connect(addr, &namespace, "entra", &token).await;
    scim.create_user("before@x.io").await;

    control_plane.stop();
    let stopped = tokio::time::Instant::now();

    let reply = scim.post("/Users", &json!({"userName": "after@x.io"})).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", reply.body);
    assert_eq!(reply.headers["retry-after"], "5");
    assert_eq!(reply.headers["content-type"], "application/scim+json");
    assert_eq!(reply.body["status"], "503");

    // Past the TTL, the token read before the outage still authenticates (a request that needs no
    // API call answers 200) and a wrong one is still refused; STALE after the last read, 503.
    let wrong = scim.with_token(&"w".repeat(40));
    let refused_after = loop {
        let wrong_status = wrong.get("/ServiceProviderConfig").await.status;
        let reply = scim.get("/ServiceProviderConfig").await;
        if reply.status == StatusCode::SERVICE_UNAVAILABLE {
            break stopped.elapsed();
        }
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        assert_eq!(wrong_status, StatusCode::UNAUTHORIZED);
        assert!(
            stopped.elapsed() < STALE + support::WAIT,
            "token accepted long after the outage"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The last good read was at most a TTL (1 s) before the stop.
    assert!(
        refused_after >= STALE - Duration::from_secs(2),
        "token refused {refused_after:?} into the outage, before the {STALE:?} window"
    );
}
