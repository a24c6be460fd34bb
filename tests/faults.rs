//! Fail closed when the control plane itself fails: each test starts a control plane of its own
//! and breaks it (`envtest::ControlPlane::restart_apiserver`, `stop_etcd`), so no other test
//! shares the outage.

#[path = "support/mod.rs"]
mod support;

#[allow(dead_code)] // the fixture of the controller tests; this binary uses a part of it
#[path = "controller/env.rs"]
mod env;

use std::time::Duration;

use k8s_openapi::api::rbac::v1::RoleBinding as RbacBinding;
use kube::api::{Api, ListParams};
use scim_operator::api::*;
use scim_operator::controller::Metrics;
use scim_operator::envtest::ControlPlane;
use serde_json::json;

use env::{Controller, Env, create, poll};

/// Every kind the controller watches, as `(group, kind)` of its relist counter.
const WATCHED: [(&str, &str); 7] = [
    (GROUP, "User"),
    (GROUP, "Group"),
    (GROUP, "Workspace"),
    (GROUP, "RoleBinding"),
    (GROUP, "Directory"),
    ("rbac.authorization.k8s.io", "RoleBinding"),
    ("", "Namespace"),
];

/// Waits until every watch of the controller has completed `n` lists.
async fn listed(metrics: &Metrics, n: u64) {
    let counts = || async { WATCHED.map(|(group, kind)| metrics.relists_of(group, kind)) };
    let result = poll(counts, |c| c.iter().all(|&c| c >= n)).await;
    assert!(result.is_ok(), "lists per watch {WATCHED:?}: {result:?}, want {n} each");
}

/// The names of the native RoleBindings in `api`'s namespace.
async fn native_bindings(api: &Api<RbacBinding>) -> Vec<String> {
    let list = api.list(&ListParams::default()).await.expect("list native bindings");
    let mut names: Vec<String> = list.items.into_iter().filter_map(|rb| rb.metadata.name).collect();
    names.sort();
    names
}

/// Issue 11, item 6: after kube-apiserver restarted on the same etcd, the controller's watches
/// relist (410, too old resource version); a suspension after that must still reach every binding
/// of the user, native ones included, and a group must keep counting its members.
#[tokio::test]
async fn revocation_reaches_every_binding_after_the_watches_relist() {
    let mut cp = ControlPlane::start().await.expect("control plane starts");
    let client = cp.client().await.expect("admin client");
    support::apply_crds(&client).await.expect("CRDs applied");
    let ns = support::fresh_namespace(&client, "relist").await;
    let native = NativeRbac {
        namespace_prefix: "relist-".into(),
        username_prefix: "oidc:".into(),
        cluster_roles: Default::default(),
    };
    let spec = DirectorySpec {
        native_rbac: Some(native),
        ..Default::default()
    };
    create(&client, &ns, Directory::new("entra", spec)).await;
    let controller = Controller::start(&client, &ns, Duration::from_secs(600));
    let mut env = Env {
        client: client.clone(),
        ns,
        metrics: controller.metrics.clone(),
        controller: Some(controller),
    };
    env.group("g-admin", "ws-Sales-role-admin").await;
    env.user("xena", &["g-admin"], &[]).await;
    env.user("yuri", &["g-admin"], &[]).await;
    let both = ["scim-xena-admin", "scim-yuri-admin"];
    let natives = Api::<RbacBinding>::namespaced(client.clone(), "relist-sales");
    let bound = poll(|| native_bindings(&natives), |names| names == &both).await;
    assert!(bound.is_ok(), "native bindings before the restart: {bound:?}");
    env.expect::<Group>("g-admin", "two members", |g| {
        g.status.as_ref().is_some_and(|s| s.member_count == 2)
    })
    .await;
    listed(&env.metrics, 1).await;

    cp.restart_apiserver().await.expect("kube-apiserver restarts");
    // A client of its own for the test: the old one's pooled connections died with the server.
    env.client = cp.client().await.expect("admin client");
    listed(&env.metrics, 2).await;

    env.patch_user("xena", json!({ "active": false })).await;
    env.expect_bindings("xena", &[]).await;
    let natives = Api::<RbacBinding>::namespaced(env.client.clone(), "relist-sales");
    let revoked = poll(|| native_bindings(&natives), |names| names == &["scim-yuri-admin"]).await;
    assert!(revoked.is_ok(), "native bindings after the suspension: {revoked:?}");
    env.expect_bindings("yuri", &[("org", Role::Member), ("sales", Role::Admin)])
        .await;
    env.expect::<Group>("g-admin", "two members still counted", |g| {
        g.status.as_ref().is_some_and(|s| s.member_count == 2)
    })
    .await;
    env.stop_controller().await;
}
