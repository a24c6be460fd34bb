//! Native RBAC: a namespace per workspace and `rbac.authorization.k8s.io` RoleBindings in it.

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::RoleBinding as RbacBinding;
use kube::api::{Api, ListParams};
use scim_operator::api::*;
use serde_json::json;

use super::env::*;

/// The names of the native RoleBindings in `ns`.
async fn native_bindings(api: &Api<RbacBinding>) -> Vec<String> {
    let list = api.list(&ListParams::default()).await.expect("list");
    let mut names: Vec<String> = list
        .items
        .into_iter()
        .filter_map(|rb| rb.metadata.name)
        .filter(|n| n.starts_with("scim-"))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn native_rbac_follows_the_workspace_bindings() {
    // Namespaces are cluster-wide: a prefix of its own keeps this test apart from the others.
    let prefix = format!("n{:06x}-", rand::random::<u32>() & 0xff_ffff);
    let spec = DirectorySpec {
        native_rbac: Some(NativeRbac {
            namespace_prefix: prefix.clone(),
            username_prefix: "oidc:".into(),
            cluster_roles: Default::default(),
        }),
        ..Default::default()
    };
    let env = Env::start("native", Some(spec)).await;
    sales_groups(&env).await;
    env.user("xena", &["g-manager"], &[]).await;

    let ns = format!("{prefix}sales");
    let api: Api<RbacBinding> = Api::namespaced(env.client.clone(), &ns);
    let probe = || async { api.get_opt("scim-xena-edit").await.ok().flatten() };
    let rb = poll(probe, Option::is_some)
        .await
        .expect("native RoleBinding scim-xena-edit")
        .unwrap();
    assert_eq!(rb.role_ref.kind, "ClusterRole");
    assert_eq!(rb.role_ref.name, "edit");
    assert_eq!(rb.subjects.unwrap()[0].name, "oidc:xena@example.com");
    let namespace = Api::<Namespace>::all(env.client.clone())
        .get(&ns)
        .await
        .expect("workspace namespace");
    let labels = namespace.metadata.labels.unwrap();
    assert_eq!(labels.get(labels::WORKSPACE).map(String::as_str), Some("sales"));

    // A role change replaces the binding (roleRef is immutable).
    env.patch_user("xena", json!({ "groups": ["g-admin"] })).await;
    let converged = poll(|| native_bindings(&api), |names| names == &["scim-xena-admin"]).await;
    assert!(converged.is_ok(), "{converged:?}");

    // Suspension removes it; deleting the user too.
    env.patch_user("xena", json!({ "active": false })).await;
    let gone = poll(|| native_bindings(&api), Vec::is_empty).await;
    assert!(gone.is_ok(), "{gone:?}");
    env.patch_user("xena", json!({ "active": true })).await;
    let back = poll(|| native_bindings(&api), |names| names == &["scim-xena-admin"]).await;
    assert!(back.is_ok(), "{back:?}");
    env.delete::<User>("xena").await;
    let gone = poll(|| native_bindings(&api), Vec::is_empty).await;
    assert!(gone.is_ok(), "{gone:?}");
}
