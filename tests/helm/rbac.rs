//! The chart's ServiceAccount and RBAC are enough for the operator, and no more: the SCIM server
//! runs with the ServiceAccount's identity and serves writes; what it was not granted is forbidden.

use std::io::Write;
use std::process::Stdio;

use k8s_openapi::ByteString;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, ObjectMeta, PostParams};
use reqwest::StatusCode;
use serde_json::json;

use super::chart::*;
use super::support::{self, scim};

/// Applies the chart (without CRDs: the shared control plane has them) as release `ns` in `ns`.
pub async fn apply_chart(ns: &str, sets: &[&str]) {
    let mut all = vec!["crds.install=false"];
    all.extend(sets);
    let yaml = template(ns, ns, &all).unwrap_or_else(|e| panic!("{e}"));
    let mut command = support::control_plane()
        .await
        .kubectl(["apply", "--server-side", "-f", "-"]);
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("kubectl");
    child.stdin.take().unwrap().write_all(yaml.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

/// `kubectl auth can-i` as the ServiceAccount.
async fn can_i(sa: &str, args: &[&str]) -> bool {
    let mut all = vec!["auth", "can-i", "--as", sa];
    all.extend(args);
    let output = support::control_plane().await.kubectl(all).output().unwrap();
    String::from_utf8_lossy(&output.stdout).trim() == "yes"
}

async fn secret(client: &kube::Client, ns: &str, name: &str) {
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some([("token".to_string(), ByteString(b"x".to_vec()))].into()),
        ..Default::default()
    };
    Api::<Secret>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
}

fn is_forbidden<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> bool {
    matches!(result, Err(kube::Error::Api(ref s)) if s.code == 403)
}

#[tokio::test]
async fn scim_server_runs_with_the_chart_service_account() {
    let admin = support::client().await;
    let ns = support::fresh_namespace(&admin, "helm-op").await;
    let dir_ns = support::fresh_namespace(&admin, "helm-dir").await;
    let other_ns = support::fresh_namespace(&admin, "helm-other").await;
    let secret_ns = format!("rbac.secretNamespaces={{{dir_ns}}}");
    apply_chart(&ns, &[&secret_ns, "rbac.secretNames={entra-token}"]).await;

    let sa_name = format!("system:serviceaccount:{ns}:{ns}-scim-operator");
    let groups = [
        "system:serviceaccounts",
        &format!("system:serviceaccounts:{ns}"),
        "system:authenticated",
    ];
    let cp = support::control_plane().await;
    // The envtest certificate carries at most two groups; the ServiceAccount groups are the ones
    // RBAC could match (system:authenticated is added by the API server to every authenticated user).
    let sa = cp
        .client_for_user(&sa_name, &groups[..2])
        .await
        .expect("ServiceAccount client");

    // The SCIM server, as the ServiceAccount: cache, token Secret, writes.
    let addr = scim::spawn_server(sa.clone(), scim::ServerOptions::default()).await;
    let token = scim::create_directory(&admin, &dir_ns, "entra").await;
    let client = scim::Scim::connect(addr, &dir_ns, "entra", &token).await;
    let user = client.create_user("ada@example.com").await;
    let reply = client.get(&format!("/Users/{user}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let reply = client
        .post(
            "/Groups",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "ws-Sales-role-admin"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    let group = reply.body["id"].as_str().unwrap().to_string();
    let patch = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Add", "path": "members", "value": [{"value": user}]}]
    });
    let reply = client.patch(&format!("/Groups/{group}"), &patch).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{:?}", reply.body);
    let reply = client.filter("/Users", "userName eq \"ada@example.com\"", "").await;
    assert_eq!(reply.body["totalResults"], 1, "{:?}", reply.body);
    let user_patch = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "active", "value": "False"}]
    });
    let reply = client.patch(&format!("/Users/{user}"), &user_patch).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(
        client.delete(&format!("/Groups/{group}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        client.delete(&format!("/Users/{user}")).await.status,
        StatusCode::NO_CONTENT
    );

    // Secrets: only `get`, only the named Secret, only in the granted namespace.
    secret(&admin, &other_ns, "entra-token").await;
    secret(&admin, &dir_ns, "unrelated").await;
    let secrets = |n: &str| Api::<Secret>::namespaced(sa.clone(), n);
    secrets(&dir_ns)
        .get("entra-token")
        .await
        .expect("the Directory's token Secret is readable");
    assert!(
        is_forbidden(secrets(&other_ns).get("entra-token").await),
        "other namespace"
    );
    assert!(
        is_forbidden(secrets(&dir_ns).get("unrelated").await),
        "other Secret name"
    );
    assert!(
        is_forbidden(secrets(&dir_ns).list(&ListParams::default()).await),
        "listing Secrets"
    );

    // Leader election: the Lease in the release namespace (the chart creates it, so that
    // uninstall removes it), nowhere else.
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some("scim-operator-leader".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let leases = Api::<Lease>::namespaced(sa.clone(), &ns);
    let current = leases.get("scim-operator-leader").await.expect("read the Lease");
    leases
        .replace("scim-operator-leader", &PostParams::default(), &current)
        .await
        .expect("renew the Lease");
    let elsewhere = Api::<Lease>::namespaced(sa.clone(), &dir_ns)
        .create(&PostParams::default(), &lease)
        .await;
    assert!(is_forbidden(elsewhere), "Lease outside the release namespace");
}

/// What the controller does (checked with `kubectl auth can-i` as the ServiceAccount), and what
/// neither it nor the SCIM server may do.
#[tokio::test]
async fn controller_permissions_and_denials() {
    let admin = support::client().await;
    let ns = support::fresh_namespace(&admin, "helm-ctl").await;
    let dir_ns = support::fresh_namespace(&admin, "helm-cdir").await;
    let secret_ns = format!("rbac.secretNamespaces={{{dir_ns}}}");
    apply_chart(&ns, &[&secret_ns]).await;
    let sa = format!("system:serviceaccount:{ns}:{ns}-scim-operator");
    let allowed: &[&[&str]] = &[
        &["watch", "users.scim-operator.io", "--all-namespaces"],
        &["list", "directories.scim-operator.io", "--all-namespaces"],
        &["create", "workspaces.scim-operator.io", "-n", &dir_ns],
        &["patch", "workspaces.scim-operator.io", "-n", &dir_ns],
        &["delete", "rolebindings.scim-operator.io", "-n", &dir_ns],
        &["patch", "users.scim-operator.io", "--subresource=status", "-n", &dir_ns],
        &[
            "patch",
            "directories.scim-operator.io",
            "--subresource=status",
            "-n",
            &dir_ns,
        ],
        &[
            "patch",
            "workspaces.scim-operator.io",
            "--subresource=status",
            "-n",
            &dir_ns,
        ],
        &["create", "events.events.k8s.io", "-n", &dir_ns],
        &["patch", "events", "-n", &dir_ns],
        &["get", "leases.coordination.k8s.io/scim-operator-leader", "-n", &ns],
        &["update", "leases.coordination.k8s.io/scim-operator-leader", "-n", &ns],
        &["get", "secrets", "-n", &dir_ns],
        &["watch", "namespaces"],
        &["watch", "rolebindings.rbac.authorization.k8s.io", "--all-namespaces"],
    ];
    for args in allowed {
        assert!(can_i(&sa, args).await, "{sa} must be allowed: {args:?}");
    }
    let denied: &[&[&str]] = &[
        &["get", "secrets", "-n", &ns],
        &["list", "secrets", "-n", &dir_ns],
        &["get", "secrets", "--all-namespaces"],
        &["update", "directories.scim-operator.io", "-n", &dir_ns],
        &["delete", "directories.scim-operator.io", "-n", &dir_ns],
        &["get", "leases.coordination.k8s.io/other", "-n", &ns],
        &["create", "leases.coordination.k8s.io", "-n", &dir_ns],
        &["create", "namespaces"],
        &["create", "rolebindings.rbac.authorization.k8s.io", "-n", &dir_ns],
        &["bind", "clusterroles.rbac.authorization.k8s.io/admin"],
        &["delete", "customresourcedefinitions.apiextensions.k8s.io"],
        &["create", "pods", "-n", &ns],
    ];
    for args in denied {
        assert!(!can_i(&sa, args).await, "{sa} must be denied: {args:?}");
    }
    // nativeRbac.enabled grants the native-RBAC extras, and only `bind` on the configured roles.
    let native_ns = support::fresh_namespace(&admin, "helm-nat").await;
    apply_chart(&native_ns, &["nativeRbac.enabled=true"]).await;
    let sa = format!("system:serviceaccount:{native_ns}:{native_ns}-scim-operator");
    for args in [
        &["create", "namespaces"][..],
        &["create", "rolebindings.rbac.authorization.k8s.io", "-n", &dir_ns],
        &["delete", "rolebindings.rbac.authorization.k8s.io", "-n", &dir_ns],
        &["bind", "clusterroles.rbac.authorization.k8s.io/edit"],
    ] {
        assert!(can_i(&sa, args).await, "native RBAC: {args:?}");
    }
    assert!(!can_i(&sa, &["bind", "clusterroles.rbac.authorization.k8s.io/cluster-admin"]).await);
    assert!(!can_i(&sa, &["delete", "namespaces"]).await);
    // Created, never patched: no taking over or relabelling a namespace that exists.
    assert!(!can_i(&sa, &["patch", "namespaces"]).await);
}
