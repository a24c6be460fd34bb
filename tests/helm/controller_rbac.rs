//! The controller, run as the chart's ServiceAccount across all namespaces (as in production),
//! reconciles Users and Groups into Workspaces and RoleBindings with statuses, holds its Lease,
//! and — with `nativeRbac.enabled` — creates namespaces and RBAC RoleBindings.

use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::RoleBinding as RbacBinding;
use kube::api::{Api, ListParams, PostParams};
use scim_operator::api::*;
use scim_operator::controller::{self, Config};
use serde_json::json;

use super::support;

/// Polls `check` until it returns Some, or fails after the support timeout.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + support::WAIT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn controller_runs_with_the_chart_service_account() {
    let admin = support::client().await;
    let ns = support::fresh_namespace(&admin, "helm-ctlsa").await;
    let dir_ns = support::fresh_namespace(&admin, "helm-ctldir").await;
    super::rbac::apply_chart(&ns, &["nativeRbac.enabled=true"]).await;
    let sa_name = format!("system:serviceaccount:{ns}:{ns}-scim-operator");
    let cp = support::control_plane().await;
    let groups = ["system:serviceaccounts", &format!("system:serviceaccounts:{ns}")];
    let sa = cp.client_for_user(&sa_name, &groups).await.unwrap();

    // A Directory with native RBAC (token hashes: no Secret access needed), a user in a role group.
    let prefix = format!("h{:06x}-", rand::random::<u32>() & 0xffffff);
    let spec: DirectorySpec = serde_json::from_value(json!({
        "tokenHashes": [format!("sha256:{}", "0".repeat(64))],
        "nativeRbac": {"namespacePrefix": prefix}
    }))
    .unwrap();
    Api::<Directory>::namespaced(admin.clone(), &dir_ns)
        .create(&PostParams::default(), &Directory::new("entra", spec))
        .await
        .unwrap();
    let group: Group = serde_json::from_value(json!({
        "apiVersion": "scim-operator.io/v1alpha1", "kind": "Group",
        "metadata": {"name": "g1", "labels": {labels::DIRECTORY: "entra"}},
        "spec": {"displayName": "ws-Sales-role-admin"}
    }))
    .unwrap();
    Api::<Group>::namespaced(admin.clone(), &dir_ns)
        .create(&PostParams::default(), &group)
        .await
        .unwrap();
    let user: User = serde_json::from_value(json!({
        "apiVersion": "scim-operator.io/v1alpha1", "kind": "User",
        "metadata": {"name": "u1", "labels": {labels::DIRECTORY: "entra"}},
        "spec": {"userName": "ada@example.com", "active": true, "groups": ["g1"]}
    }))
    .unwrap();
    Api::<User>::namespaced(admin.clone(), &dir_ns)
        .create(&PostParams::default(), &user)
        .await
        .unwrap();

    let mut config = Config::new(&ns);
    config.lease_duration = Duration::from_secs(4);
    config.renew_interval = Duration::from_millis(500);
    config.namespace_debounce = Duration::from_millis(50);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(controller::run_until(sa.clone(), config, async {
        let _ = stopped.await;
    }));

    let workspaces = Api::<Workspace>::namespaced(admin.clone(), &dir_ns);
    let ws = eventually("a Ready Workspace", || async {
        let list = workspaces.list(&ListParams::default()).await.ok()?;
        let ws = list.items.into_iter().next()?;
        let ready = ws
            .status
            .as_ref()?
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        ready.then_some(ws)
    })
    .await;
    assert_eq!(ws.spec.display_name, "Sales");
    let bindings = Api::<RoleBinding>::namespaced(admin.clone(), &dir_ns);
    eventually("a workspace RoleBinding with status", || async {
        let list = bindings.list(&ListParams::default()).await.ok()?;
        list.items
            .into_iter()
            .find(|rb| rb.spec.workspace.is_some() && rb.status.is_some())
    })
    .await;
    eventually("the User's status", || async {
        let user = Api::<User>::namespaced(admin.clone(), &dir_ns).get("u1").await.ok()?;
        user.status.filter(|s| !s.conditions.is_empty())
    })
    .await;
    eventually("the Directory's status", || async {
        let dir = Api::<Directory>::namespaced(admin.clone(), &dir_ns)
            .get("entra")
            .await
            .ok()?;
        dir.status.filter(|s| s.observed_generation.is_some())
    })
    .await;
    // Native RBAC: the workspace's namespace and a RoleBinding of the user to `admin` in it.
    let native_ns = eventually("the workspace namespace", || async {
        let list = Api::<Namespace>::all(admin.clone())
            .list(&ListParams::default())
            .await
            .ok()?;
        list.items
            .into_iter()
            .map(|n| n.metadata.name.unwrap_or_default())
            .find(|n| n.starts_with(&prefix))
    })
    .await;
    let rbac = eventually("a native RoleBinding", || async {
        let list = Api::<RbacBinding>::namespaced(admin.clone(), &native_ns)
            .list(&ListParams::default())
            .await
            .ok()?;
        list.items.into_iter().next()
    })
    .await;
    assert_eq!(rbac.role_ref.name, "admin");
    assert!(!task.is_finished(), "the controller keeps running: {:?}", task);
    let _ = stop.send(());
    let result = tokio::time::timeout(support::WAIT, task)
        .await
        .expect("stops")
        .expect("joins");
    assert!(result.is_ok(), "controller error: {result:?}");
}
