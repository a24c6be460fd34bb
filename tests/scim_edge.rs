//! The SCIM endpoint's edge, over real HTTP on a real kube-apiserver: metric labels stay bounded
//! whatever clients send, authentication fails closed without hammering the API server, and slow
//! clients can neither hold connections nor take other directories' capacity.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use reqwest::{Method, StatusCode};
use scim_operator::scim::request::ScimConfig;
use serde_json::json;
use support::scim::{Scim, ServerOptions, create_directory, spawn_server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A request body that sends `first` and then nothing until the sender is dropped.
fn trickle(
    first: &str,
) -> (
    futures::channel::mpsc::UnboundedSender<Result<Vec<u8>, std::io::Error>>,
    reqwest::Body,
) {
    let (tx, rx) = futures::channel::mpsc::unbounded();
    tx.unbounded_send(Ok(first.as_bytes().to_vec())).unwrap();
    (tx, reqwest::Body::wrap_stream(rx))
}

#[tokio::test]
async fn made_up_methods_and_paths_add_no_metric_series() {
    let client = support::client().await;
    let namespace = support::fresh_namespace(&client, "metrics").await;
    let token = create_directory(&client, &namespace, "entra").await;
    let options = ServerOptions::default();
    let metrics = options.metrics.clone();
    let addr = spawn_server(client, options).await;
    let scim = Scim::connect(addr, &namespace, "entra", &token).await;
    let http = reqwest::Client::new();
    // Unauthenticated requests with a made-up method to each shape of path.
    let round = |i: usize| {
        let http = http.clone();
        let base = scim.base.clone();
        async move {
            let method = Method::from_bytes(format!("M{i}X").as_bytes()).unwrap();
            for url in [
                format!("{base}/Users"),
                format!("{base}/Users/u-{i}"),
                format!("http://{addr}/scim/v2/ns-{i}/dir-{i}/Groups"),
                format!("http://{addr}/made-up-{i}"),
            ] {
                let reply = http.request(method.clone(), url).send().await.unwrap();
                assert!(reply.status().is_client_error(), "{}", reply.status());
            }
        }
    };
    let series = |text: &str| text.lines().filter(|l| !l.starts_with('#')).count();
    round(0).await;
    let before = metrics.encode();
    for i in 1..=50 {
        round(i).await;
    }
    let after = metrics.encode();
    assert_eq!(series(&after), series(&before), "new series:\n{after}");
    assert!(after.contains(r#"method="other""#), "{after}");
}

/// A client authenticating as `user`, with no rights but those granted to it, that counts its
/// requests for Secrets.
async fn counting_client(user: &str, secret_reads: Arc<AtomicUsize>) -> kube::Client {
    let path = support::control_plane().await.user_kubeconfig(user, &[]).unwrap();
    let kubeconfig = kube::config::Kubeconfig::read_from(path).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    let count = tower::ServiceBuilder::new().map_request(move |request: axum::http::Request<kube::client::Body>| {
        if request.uri().path().contains("/secrets") {
            secret_reads.fetch_add(1, Ordering::SeqCst);
        }
        request
    });
    kube::client::ClientBuilder::try_from(config)
        .unwrap()
        .with_layer(&count)
        .build()
}

/// Lets `user` read the SCIM custom resources, and nothing else (no Secrets).
async fn grant_crd_read(admin: &kube::Client, user: &str) {
    let name = user.to_string();
    let role = ClusterRole {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            ..Default::default()
        },
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec![scim_operator::api::GROUP.to_string()]),
            resources: Some(vec!["*".to_string()]),
            verbs: ["get", "list", "watch"].map(String::from).to_vec(),
            ..Default::default()
        }]),
        ..Default::default()
    };
    let binding = ClusterRoleBinding {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            ..Default::default()
        },
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "ClusterRole".into(),
            name: name.clone(),
        },
        subjects: Some(vec![Subject {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "User".into(),
            name,
            ..Default::default()
        }]),
    };
    let post = PostParams::default();
    Api::<ClusterRole>::all(admin.clone())
        .create(&post, &role)
        .await
        .unwrap();
    Api::<ClusterRoleBinding>::all(admin.clone())
        .create(&post, &binding)
        .await
        .unwrap();
}

async fn revoke(admin: &kube::Client, user: &str) {
    let _ = Api::<ClusterRoleBinding>::all(admin.clone())
        .delete(user, &DeleteParams::default())
        .await;
    let _ = Api::<ClusterRole>::all(admin.clone())
        .delete(user, &DeleteParams::default())
        .await;
}

#[tokio::test]
async fn an_unreadable_secret_costs_one_read_at_a_time_and_answers_503() {
    let admin = support::client().await;
    let namespace = support::fresh_namespace(&admin, "forbidden").await;
    let token = create_directory(&admin, &namespace, "entra").await;
    let user = format!("scim-edge-{namespace}");
    grant_crd_read(&admin, &user).await;
    let reads = Arc::new(AtomicUsize::new(0));
    let client = counting_client(&user, reads.clone()).await;
    let addr = spawn_server(client, ServerOptions::default()).await;
    let url = format!("http://{addr}/scim/v2/{namespace}/entra/Users");
    let http = reqwest::Client::new();

    // No token, or nothing long enough to be one: 401 without asking the API server.
    let short = "s".repeat(31);
    for authorization in [
        None,
        Some("Bearer"),
        Some("Bearer  "),
        Some(format!("Bearer {short}").as_str()),
    ] {
        let mut request = http.get(&url);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        assert_eq!(request.send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        reads.load(Ordering::SeqCst),
        0,
        "a request without a token read the Secret"
    );

    // Concurrent requests with a token share one read; all answer 503 with Retry-After.
    let started = tokio::time::Instant::now();
    let replies = futures::future::join_all((0..20).map(|_| http.get(&url).bearer_auth(&token).send())).await;
    for reply in replies {
        let reply = reply.unwrap();
        assert_eq!(reply.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(reply.headers()["retry-after"], "5");
    }
    // The failure is remembered: later requests do not read again at once.
    for _ in 0..20 {
        let reply = http.get(&url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(reply.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
    let allowed = 1 + started.elapsed().as_secs() as usize / 5;
    let made = reads.load(Ordering::SeqCst);
    assert!(
        (1..=allowed).contains(&made),
        "{made} Secret reads for 40 requests (allowed {allowed})"
    );
    revoke(&admin, &user).await;
}

#[tokio::test]
async fn tokens_shorter_than_32_characters_are_refused() {
    let client = support::client().await;
    let namespace = support::fresh_namespace(&client, "short").await;
    let token = create_directory(&client, &namespace, "entra").await;
    let addr = spawn_server(client.clone(), ServerOptions::default()).await;
    let scim = Scim::connect(addr, &namespace, "entra", &token).await;
    let short = format!("{:031}", rand::random::<u64>());
    let long = format!("{:032}", rand::random::<u64>());
    let secrets = Api::<Secret>::namespaced(client, &namespace);
    let tokens = json!({"stringData": {"token": format!("{short}\n{long}")}});
    secrets
        .patch("entra-token", &PatchParams::default(), &Patch::Merge(&tokens))
        .await
        .unwrap();
    // Once the 32-character token of the edited Secret works, the 31-character one must not.
    let deadline = tokio::time::Instant::now() + support::WAIT;
    while scim.with_token(&long).get("/Users").await.status != StatusCode::OK {
        assert!(
            tokio::time::Instant::now() < deadline,
            "32-character token never accepted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        scim.with_token(&short).get("/Users").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_client_slow_to_send_headers_is_disconnected() {
    let client = support::client().await;
    let addr = spawn_server(
        client,
        ServerOptions {
            header_timeout: Duration::from_secs(1),
            ..Default::default()
        },
    )
    .await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    // Headers begun but never finished.
    stream
        .write_all(b"GET /scim/v2/a/b/Users HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    let closed = tokio::time::timeout(support::WAIT, async {
        let mut buf = [0u8; 1024];
        while let Ok(n) = stream.read(&mut buf).await
            && n > 0
        {}
    })
    .await;
    assert!(
        closed.is_ok(),
        "connection with unfinished headers still open after {:?}",
        support::WAIT
    );
}

#[tokio::test]
async fn a_body_slower_than_the_timeout_gets_408() {
    let client = support::client().await;
    let namespace = support::fresh_namespace(&client, "slowbody").await;
    let token = create_directory(&client, &namespace, "entra").await;
    let options = ServerOptions {
        config: ScimConfig {
            body_timeout: Duration::from_secs(1),
            ..Default::default()
        },
        ..Default::default()
    };
    let addr = spawn_server(client, options).await;
    let scim = Scim::connect(addr, &namespace, "entra", &token).await;
    let (_tx, body) = trickle("{\"userName\":");
    let request = reqwest::Client::new()
        .post(format!("{}/Users", scim.base))
        .bearer_auth(&token)
        .header("content-type", "application/scim+json")
        .body(body)
        .send();
    let reply = tokio::time::timeout(support::WAIT, request)
        .await
        .expect("no answer to a trickling body")
        .unwrap();
    assert_eq!(reply.status(), StatusCode::REQUEST_TIMEOUT);
    assert_eq!(reply.headers()["content-type"], "application/scim+json");
    let body: serde_json::Value = reply.json().await.unwrap();
    assert_eq!(body["status"], "408");
}

#[tokio::test]
async fn one_directory_trickling_bodies_cannot_take_the_others_capacity() {
    let client = support::client().await;
    let busy_ns = support::fresh_namespace(&client, "busy").await;
    let calm_ns = support::fresh_namespace(&client, "calm").await;
    let busy_token = create_directory(&client, &busy_ns, "entra").await;
    let calm_token = create_directory(&client, &calm_ns, "entra").await;
    let options = ServerOptions {
        max_in_flight: 3,
        max_in_flight_per_directory: 2,
        ..Default::default()
    };
    let addr = spawn_server(client, options).await;
    let busy = Scim::connect(addr, &busy_ns, "entra", &busy_token).await;
    let calm = Scim::connect(addr, &calm_ns, "entra", &calm_token).await;
    // The busy directory opens more slow requests than the whole server may serve at once.
    let mut held = Vec::new();
    for _ in 0..3 {
        let (tx, body) = trickle("{\"userName\":");
        let request = reqwest::Client::new()
            .post(format!("{}/Users", busy.base))
            .bearer_auth(&busy_token)
            .body(body)
            .send();
        held.push((tx, tokio::spawn(request)));
    }
    let deadline = tokio::time::Instant::now() + support::WAIT;
    while busy.get("/Users").await.status != StatusCode::TOO_MANY_REQUESTS {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the busy directory never saw 429"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The other directory is still served.
    assert_eq!(calm.get("/Users").await.status, StatusCode::OK);
    for (tx, request) in held {
        drop(tx);
        request.abort();
    }
}
