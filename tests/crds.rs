//! The generated CRDs against a real kube-apiserver: accepted, round-trip every kind, validate
//! enums server-side, and read well in `kubectl get`.

mod support;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::Resource;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::ApiResource;
use scim_operator::api::*;
use serde_json::json;

fn directory(name: &str) -> Directory {
    Directory::new(
        name,
        DirectorySpec {
            token_secret_ref: Some(SecretKeyRef {
                name: "entra-token".into(),
                key: None,
            }),
            conflict_policy: ConflictPolicy::HighestPrivilege,
            allowed_domains: vec!["example.com".into()],
            ..Default::default()
        },
    )
}

fn user(name: &str) -> User {
    User::new(
        name,
        UserSpec {
            user_name: "alice@example.com".into(),
            external_id: Some("a1b2".into()),
            active: Some(true),
            emails: vec![MultiValue {
                value: Some("alice@example.com".into()),
                type_: Some("work".into()),
                primary: Some(true),
                ..Default::default()
            }],
            roles: vec![MultiValue {
                value: Some("admin".into()),
                ..Default::default()
            }],
            enterprise: Some(EnterpriseUser {
                department: Some("Platform".into()),
                manager: Some(Manager {
                    value: Some("boss".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            groups: vec!["g1".into()],
            ..Default::default()
        },
    )
}

fn group(name: &str) -> Group {
    Group::new(
        name,
        GroupSpec {
            display_name: "ws-platform-role-admin".into(),
            external_id: Some("grp-1".into()),
        },
    )
}

fn workspace(name: &str) -> Workspace {
    Workspace::new(
        name,
        WorkspaceSpec {
            display_name: "Platform".into(),
            groups: vec![WorkspaceGroup {
                role: Role::Admin,
                group: "g1".into(),
                display_name: "ws-platform-role-admin".into(),
            }],
        },
    )
}

fn role_binding(name: &str) -> RoleBinding {
    RoleBinding::new(
        name,
        RoleBindingSpec {
            user: "u1".into(),
            user_name: "alice@example.com".into(),
            workspace: Some("platform".into()),
            role: Role::Admin,
        },
    )
}

/// Creates `object` in `namespace` and reads it back.
async fn create_and_get<K>(client: &kube::Client, namespace: &str, object: &K) -> K
where
    K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::Serialize
        + serde::de::DeserializeOwned,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let created = api.create(&PostParams::default(), object).await.expect("create");
    api.get(created.meta().name.as_deref().unwrap()).await.expect("get")
}

/// Creates one object of each kind in `namespace`.
async fn create_one_of_each(client: &kube::Client, namespace: &str) {
    create_and_get(client, namespace, &directory("entra")).await;
    create_and_get(client, namespace, &user("u1")).await;
    create_and_get(client, namespace, &group("g1")).await;
    create_and_get(client, namespace, &workspace("platform")).await;
    create_and_get(client, namespace, &role_binding("u1-platform")).await;
}

#[tokio::test]
async fn every_kind_round_trips_through_the_api_server() {
    let client = support::client().await;
    let ns = support::fresh_namespace(&client, "roundtrip").await;

    let got = create_and_get(&client, &ns, &directory("entra")).await;
    assert_eq!(got.spec, directory("entra").spec);
    // Structural defaults from the schema are applied by the server.
    let raw: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ApiResource::erase::<Directory>(&()));
    let stored = raw.get("entra").await.unwrap();
    assert_eq!(
        stored.data["spec"]["orgRoles"],
        json!({"owner": "owner", "admin": "admin", "member": "member"})
    );
    assert_eq!(stored.data["spec"]["workspaceDeletionPolicy"], json!("Retain"));

    assert_eq!(create_and_get(&client, &ns, &user("u1")).await.spec, user("u1").spec);
    assert_eq!(create_and_get(&client, &ns, &group("g1")).await.spec, group("g1").spec);
    assert_eq!(
        create_and_get(&client, &ns, &workspace("platform")).await.spec,
        workspace("platform").spec
    );
    let rb = create_and_get(&client, &ns, &role_binding("u1-platform")).await;
    assert_eq!(rb.spec, role_binding("u1-platform").spec);
    assert_eq!(rb.metadata.namespace.as_deref(), Some(ns.as_str()));
}

#[tokio::test]
async fn api_server_rejects_an_unknown_conflict_policy() {
    let client = support::client().await;
    let ns = support::fresh_namespace(&client, "invalid").await;
    let resource = ApiResource::erase::<Directory>(&());
    let api: Api<DynamicObject> = Api::namespaced_with(client, &ns, &resource);
    let mut object = DynamicObject::new("entra", &resource);
    object.data = json!({"spec": {"conflictPolicy": "Sometimes"}});

    let err = api
        .create(&PostParams::default(), &object)
        .await
        .expect_err("an unknown conflictPolicy must be refused");
    let kube::Error::Api(status) = &err else {
        panic!("expected an API error, got {err:?}");
    };
    let message = &status.message;
    assert_eq!(status.code, 422, "{message}");
    for expected in [
        "spec.conflictPolicy",
        r#"Unsupported value: "Sometimes""#,
        r#""LeastPrivilege", "HighestPrivilege", "Deny""#,
    ] {
        assert!(message.contains(expected), "{expected:?} not in {message:?}");
    }
}

#[tokio::test]
async fn kubectl_get_shows_printer_columns_category_and_short_name() {
    let client = support::client().await;
    let ns = support::fresh_namespace(&client, "kubectl").await;
    create_one_of_each(&client, &ns).await;
    let workspaces: Api<Workspace> = Api::namespaced(client.clone(), &ns);
    let status = WorkspaceStatus {
        admins: 2,
        managers: 1,
        members: 5,
        conflicts: 3,
        conditions: vec![Condition {
            type_: "Ready".into(),
            status: "True".into(),
            reason: "Reconciled".into(),
            message: String::new(),
            observed_generation: Some(1),
            last_transition_time: Time(jiff::Timestamp::now()),
        }],
        ..Default::default()
    };
    workspaces
        .patch_status(
            "platform",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status})),
        )
        .await
        .expect("status subresource accepts the status");

    let table = support::kubectl(&["get", "workspaces", "-n", &ns]).await.unwrap();
    let rows: Vec<Vec<&str>> = table.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(
        rows[0],
        [
            "NAME",
            "DISPLAY",
            "ADMINS",
            "MANAGERS",
            "MEMBERS",
            "CONFLICTS",
            "READY",
            "AGE"
        ],
        "{table}"
    );
    assert_eq!(
        rows[1][..7],
        ["platform", "Platform", "2", "1", "5", "3", "True"],
        "{table}"
    );

    let all = support::kubectl(&["get", "scim", "-n", &ns, "-o", "name"])
        .await
        .unwrap();
    let mut names: Vec<&str> = all.lines().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "directory.scim-operator.io/entra",
            "group.scim-operator.io/g1",
            "rolebinding.scim-operator.io/u1-platform",
            "user.scim-operator.io/u1",
            "workspace.scim-operator.io/platform",
        ],
        "{all}"
    );

    let short = support::kubectl(&["get", "ws", "-n", &ns, "-o", "name"]).await.unwrap();
    assert_eq!(short.trim(), "workspace.scim-operator.io/platform");
}

/// The API server accepts the CRDs without warnings (no unknown formats such as `uint32`).
#[tokio::test]
async fn crds_apply_without_warnings() {
    support::client().await;
    let crds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let command = support::control_plane().await.kubectl([
        "apply",
        "--server-side",
        "--force-conflicts",
        "--dry-run=server",
        "-f",
        crds.to_str().unwrap(),
    ]);
    let output = tokio::process::Command::from(command).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("Warning"), "warnings when applying CRDs: {stderr}");
}
