//! Native RBAC: a namespace per workspace and `rbac.authorization.k8s.io` RoleBindings in it.

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::RoleBinding as RbacBinding;
use kube::api::{Api, ListParams};
use scim_operator::api::*;
use serde_json::json;

use super::env::*;

/// The names of the native RoleBindings in `ns`.
pub(super) async fn native_bindings(api: &Api<RbacBinding>) -> Vec<String> {
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

/// Waits until Workspace `name` says Ready False with reason NamespaceNotOwned; returns the message.
async fn refused(env: &Env, name: &str) -> String {
    let ws: Workspace = env
        .expect(name, "NamespaceNotOwned", |ws: &Workspace| {
            ws.status
                .as_ref()
                .is_some_and(|s| has_condition(&s.conditions, "Ready", "False", "NamespaceNotOwned"))
        })
        .await;
    let status = ws.status.unwrap();
    condition(&status.conditions, "Ready").unwrap().message.clone()
}

/// Issue 11.8: native RBAC binds only in namespaces this operator created for this Directory. A
/// namespace made by hand, or one created for another Directory with the same prefix, is refused
/// (a condition on the Workspace, no native bindings there) and left exactly as it was.
#[tokio::test]
async fn native_rbac_takes_only_namespaces_it_created() {
    let prefix = format!("o{:06x}-", rand::random::<u32>() & 0xff_ffff);
    let spec = DirectorySpec {
        native_rbac: Some(NativeRbac {
            namespace_prefix: prefix.clone(),
            username_prefix: String::new(),
            cluster_roles: Default::default(),
        }),
        ..Default::default()
    };
    let client = super::support::client().await;
    let namespaces = Api::<Namespace>::all(client.clone());
    let payments = format!("{prefix}payments");
    let by_hand = Namespace {
        metadata: kube::api::ObjectMeta {
            name: Some(payments.clone()),
            labels: Some([("team".to_string(), "payments-prod".to_string())].into()),
            ..Default::default()
        },
        ..Default::default()
    };
    namespaces
        .create(&Default::default(), &by_hand)
        .await
        .expect("namespace made by hand");

    let env = Env::start("owned", Some(spec.clone())).await;
    sales_groups(&env).await;
    env.group("g-pay", "ws-Payments-role-admin").await;
    env.user("mallory", &["g-pay", "g-manager"], &[]).await;

    // Sales: created for this directory, and bound.
    let sales = format!("{prefix}sales");
    let sales_api: Api<RbacBinding> = Api::namespaced(env.client.clone(), &sales);
    let bound = poll(|| native_bindings(&sales_api), |n| n == &["scim-mallory-edit"]).await;
    assert!(bound.is_ok(), "{bound:?}");
    let owner = format!("{}/entra", env.ns);
    let created = namespaces.get(&sales).await.expect("sales namespace");
    assert_eq!(
        created
            .metadata
            .annotations
            .unwrap_or_default()
            .get("scim-operator.io/owner"),
        Some(&owner)
    );

    // Payments: refused, unbound, untouched. Mallory's status is written after her native
    // bindings, and it lists payments: no binding there was made in that reconcile.
    let message = refused(&env, "payments").await;
    assert!(message.contains(&payments), "{message}");
    env.expect("mallory", "both workspaces", |u: &User| {
        u.status.as_ref().is_some_and(|s| s.workspace_count == 2)
    })
    .await;
    let pay_api: Api<RbacBinding> = Api::namespaced(env.client.clone(), &payments);
    assert_eq!(native_bindings(&pay_api).await, Vec::<String>::new());
    let after = namespaces.get(&payments).await.expect("payments namespace");
    assert_eq!(after.metadata.annotations, None);
    let labels = after.metadata.labels.unwrap_or_default();
    assert_eq!(labels.get("team").map(String::as_str), Some("payments-prod"));
    assert!(!labels.contains_key(labels::MANAGED_BY), "{labels:?}");

    // A second Directory with the same prefix cannot share sales.
    let other = Env::start("owned2", Some(spec)).await;
    sales_groups(&other).await;
    other.user("oscar", &["g-admin"], &[]).await;
    other
        .expect_bindings("oscar", &[("org", Role::Member), ("sales", Role::Admin)])
        .await;
    let message = refused(&other, "sales").await;
    assert!(message.contains(&owner), "{message}");
    other
        .expect("oscar", "status", |u: &User| {
            u.status.as_ref().is_some_and(|s| s.workspace_count == 1)
        })
        .await;
    assert_eq!(native_bindings(&sales_api).await, vec!["scim-mallory-edit"]);
    let after = namespaces.get(&sales).await.expect("sales namespace");
    assert_eq!(
        after
            .metadata
            .annotations
            .unwrap_or_default()
            .get("scim-operator.io/owner"),
        Some(&owner)
    );
}

/// Issue 11.8: a namespace prefix that could reach `kube-*` or `default` is refused by the API
/// server (the CRD's validation rule), so no workspace can ever be `kube-system`.
#[tokio::test]
async fn prefixes_reaching_system_namespaces_are_refused() {
    let client = super::support::client().await;
    let ns = super::support::fresh_namespace(&client, "prefix").await;
    let api: Api<Directory> = Api::namespaced(client, &ns);
    let directory = |name: &str, prefix: &str| {
        Directory::new(
            name,
            DirectorySpec {
                native_rbac: Some(NativeRbac {
                    namespace_prefix: prefix.into(),
                    username_prefix: String::new(),
                    cluster_roles: Default::default(),
                }),
                ..Default::default()
            },
        )
    };
    for (i, prefix) in ["k", "kube", "kube-", "kube-sys", "d", "defaul"].iter().enumerate() {
        let refused = api
            .create(&Default::default(), &directory(&format!("bad{i}"), prefix))
            .await;
        match refused {
            Err(kube::Error::Api(status)) => {
                assert_eq!(status.code, 422, "{prefix}: {status:?}");
                assert!(status.message.contains("kube-"), "{prefix}: {}", status.message);
            }
            other => panic!("prefix {prefix:?} was accepted: {other:?}"),
        }
    }
    for (i, prefix) in ["ws-", "kubes-", "default-", "team"].iter().enumerate() {
        api.create(&Default::default(), &directory(&format!("good{i}"), prefix))
            .await
            .unwrap_or_else(|e| panic!("prefix {prefix:?} refused: {e}"));
    }
}
