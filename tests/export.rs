//! `scim-operator export` against a real API server: objects are created directly with the kube
//! client (no controller needed), exported, changed, and exported again.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Client, Resource};
use scim_operator::api::*;
use scim_operator::export::{ExportOptions, export};
use serde_json::json;

/// Every file under `dir`, relative path → content.
fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let relative = path.strip_prefix(root).unwrap().display().to_string();
                out.insert(relative, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Metadata as the operator writes it, plus what a cluster and Argo CD add.
fn meta(ns: &str, name: &str, extra_labels: &[(&str, &str)]) -> ObjectMeta {
    let mut labels: BTreeMap<String, String> = [
        (labels::DIRECTORY, "entra"),
        (labels::MANAGED_BY, labels::MANAGER),
        ("argocd.argoproj.io/instance", "provisioned"),
    ]
    .iter()
    .chain(extra_labels)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    labels.insert("app.kubernetes.io/instance".into(), "provisioned".into());
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(ns.into()),
        labels: Some(labels),
        annotations: Some(BTreeMap::from([(
            "scim-operator.io/last-modified".to_string(),
            "2026-11-28T10:00:00Z".to_string(),
        )])),
        ..Default::default()
    }
}

async fn create<K>(client: &Client, ns: &str, object: K, status: serde_json::Value) -> K
where
    K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api = Api::<K>::namespaced(client.clone(), ns);
    let created = api.create(&PostParams::default(), &object).await.expect("create");
    let name = created.meta().name.clone().unwrap();
    let patch = Patch::Merge(json!({ "status": status }));
    // A RoleBinding has no status subresource: its status is written with the object.
    if K::kind(&()) == "RoleBinding" {
        api.patch(&name, &PatchParams::default(), &patch).await
    } else {
        api.patch_status(&name, &PatchParams::default(), &patch).await
    }
    .expect("status")
}

fn binding(ns: &str, name: &str, user: &str, workspace: Option<&str>, role: Role) -> RoleBinding {
    let mut extra = vec![(labels::USER, user)];
    if let Some(ws) = workspace {
        extra.push((labels::WORKSPACE, ws));
    }
    RoleBinding {
        metadata: meta(ns, name, &extra),
        spec: RoleBindingSpec {
            user: user.into(),
            user_name: format!("{user}@example.com"),
            workspace: workspace.map(str::to_string),
            role,
        },
        status: None,
    }
}

/// A namespace with a Directory, two Workspaces, three RoleBindings, a User and a Group.
async fn provisioned(client: &Client) -> String {
    let ns = support::fresh_namespace(client, "export").await;
    let directory = Directory::new("entra", DirectorySpec::default());
    Api::<Directory>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &directory)
        .await
        .unwrap();
    for (name, display) in [("sales", "Sales"), ("sales-eu", "Sales-EU")] {
        let ws = Workspace {
            metadata: meta(&ns, name, &[]),
            spec: WorkspaceSpec {
                display_name: display.into(),
                groups: vec![WorkspaceGroup {
                    role: Role::Admin,
                    group: format!("g-{name}"),
                    display_name: format!("ws-{display}-role-admin"),
                }],
            },
            status: None,
        };
        let status = json!({"observedGeneration": 1, "admins": 1, "conditions": [{
            "type": "Ready", "status": "True", "reason": "Reconciled", "message": "",
            "lastTransitionTime": "2026-11-28T10:00:00Z"}]});
        create(client, &ns, ws, status).await;
    }
    for rb in [
        binding(&ns, "ada-org", "ada", None, Role::Member),
        binding(&ns, "ada-sales", "ada", Some("sales"), Role::Member),
        binding(&ns, "bob-sales-eu", "bob", Some("sales-eu"), Role::Manager),
    ] {
        create(client, &ns, rb, json!({"sourceGroups": ["ws-Sales-role-member"]})).await;
    }
    let user = User {
        metadata: meta(&ns, "ada", &[]),
        spec: UserSpec {
            user_name: "ada@example.com".into(),
            active: Some(true),
            groups: vec!["g-sales".into()],
            ..Default::default()
        },
        status: None,
    };
    create(client, &ns, user, json!({})).await;
    let group = Group {
        metadata: meta(&ns, "g-sales", &[]),
        spec: GroupSpec {
            display_name: "ws-Sales-role-admin".into(),
            external_id: None,
        },
        status: None,
    };
    create(client, &ns, group, json!({"memberCount": 1})).await;
    ns
}

fn options(users_groups: bool) -> ExportOptions {
    ExportOptions {
        directory: Some("entra".into()),
        include_users_groups: users_groups,
    }
}

#[tokio::test]
async fn export_is_clean_and_byte_identical_when_nothing_changed() {
    let client = support::client().await;
    let ns = provisioned(&client).await;
    let out = tempfile::tempdir().unwrap();
    let summary = export(&client, &ns, &options(false), out.path()).await.expect("export");
    assert_eq!(summary.written.len(), 5);
    let first = snapshot(out.path());
    let names: Vec<&String> = first.keys().collect();
    assert_eq!(
        names,
        [
            &format!("{ns}/rolebindings/ada-org.yaml"),
            &format!("{ns}/rolebindings/ada-sales.yaml"),
            &format!("{ns}/rolebindings/bob-sales-eu.yaml"),
            &format!("{ns}/workspaces/sales-eu.yaml"),
            &format!("{ns}/workspaces/sales.yaml"),
        ]
    );
    let expected = format!(
        "apiVersion: scim-operator.io/v1alpha1
kind: RoleBinding
metadata:
  labels:
    app.kubernetes.io/managed-by: scim-operator
    scim-operator.io/directory: entra
    scim-operator.io/user: ada
    scim-operator.io/workspace: sales
  name: ada-sales
  namespace: {ns}
spec:
  role: member
  user: ada
  userName: ada@example.com
  workspace: sales
"
    );
    assert_eq!(first[&format!("{ns}/rolebindings/ada-sales.yaml")], expected);
    for (path, content) in &first {
        for volatile in [
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "managedFields",
            "status",
            "last-modified",
            "argocd",
            "instance",
        ] {
            assert!(!content.contains(volatile), "{path} holds {volatile}:\n{content}");
        }
        assert!(content.ends_with('\n'));
    }

    // A status change and a SCIM timestamp change are not provisioning changes.
    let bindings = Api::<RoleBinding>::namespaced(client.clone(), &ns);
    bindings
        .patch(
            "ada-sales",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"conflict": true}})),
        )
        .await
        .unwrap();
    let touch = json!({"metadata": {"annotations": {"scim-operator.io/last-modified": "2026-11-28T11:00:00Z"}}});
    bindings
        .patch("ada-sales", &PatchParams::default(), &Patch::Merge(touch))
        .await
        .unwrap();
    let summary = export(&client, &ns, &options(false), out.path()).await.unwrap();
    assert!(summary.written.is_empty() && summary.removed.is_empty(), "{summary:?}");
    assert_eq!(summary.unchanged, 5);
    assert_eq!(snapshot(out.path()), first, "byte-identical");
}

#[tokio::test]
async fn one_role_change_is_a_one_line_diff() {
    let client = support::client().await;
    let ns = provisioned(&client).await;
    let out = tempfile::tempdir().unwrap();
    export(&client, &ns, &options(false), out.path()).await.unwrap();
    let before = snapshot(out.path());

    let bindings = Api::<RoleBinding>::namespaced(client.clone(), &ns);
    let change = json!({"spec": {"role": "admin"}});
    bindings
        .patch("ada-sales", &PatchParams::default(), &Patch::Merge(change))
        .await
        .unwrap();
    let summary = export(&client, &ns, &options(false), out.path()).await.unwrap();
    let file = format!("{ns}/rolebindings/ada-sales.yaml");
    assert_eq!(summary.written, [out.path().join(&file)]);
    let after = snapshot(out.path());
    let changed: Vec<&String> = after.keys().filter(|k| before.get(*k) != after.get(*k)).collect();
    assert_eq!(changed, [&file], "exactly one file changes");
    let old: Vec<&str> = before[&file].lines().collect();
    let new: Vec<&str> = after[&file].lines().collect();
    assert_eq!(old.len(), new.len());
    let diff: Vec<(&str, &str)> = old
        .iter()
        .zip(&new)
        .filter(|(a, b)| a != b)
        .map(|(a, b)| (*a, *b))
        .collect();
    assert_eq!(
        diff,
        [("  role: member", "  role: admin")],
        "only the role line changes"
    );

    // A deleted binding's file is removed.
    bindings.delete("bob-sales-eu", &DeleteParams::default()).await.unwrap();
    let summary = export(&client, &ns, &options(false), out.path()).await.unwrap();
    assert_eq!(
        summary.removed,
        [out.path().join(format!("{ns}/rolebindings/bob-sales-eu.yaml"))]
    );
    assert_eq!(snapshot(out.path()).len(), 4);
}

#[tokio::test]
async fn users_and_groups_on_request_and_an_unknown_directory_fails() {
    let client = support::client().await;
    let ns = provisioned(&client).await;
    let out = tempfile::tempdir().unwrap();
    export(&client, &ns, &options(true), out.path()).await.unwrap();
    let files = snapshot(out.path());
    let user = &files[&format!("{ns}/users/ada.yaml")];
    assert!(
        user.contains("userName: ada@example.com") && user.contains("- g-sales"),
        "{user}"
    );
    assert!(files.contains_key(&format!("{ns}/groups/g-sales.yaml")));
    assert_eq!(files.len(), 7);
    // Exporting without them removes the earlier files (the folder mirrors the request).
    export(&client, &ns, &options(false), out.path()).await.unwrap();
    assert_eq!(snapshot(out.path()).len(), 5);
    assert!(!out.path().join(&ns).join("users").exists());

    let missing = ExportOptions {
        directory: Some("okta".into()),
        include_users_groups: false,
    };
    let error = export(&client, &ns, &missing, out.path())
        .await
        .expect_err("no such Directory");
    assert!(format!("{error:#}").contains("no Directory"), "{error:#}");
}

#[tokio::test]
async fn the_cli_writes_what_the_library_writes() {
    let client = support::client().await;
    let ns = provisioned(&client).await;
    let library = tempfile::tempdir().unwrap();
    export(&client, &ns, &options(false), library.path()).await.unwrap();
    let cli = tempfile::tempdir().unwrap();
    let kubeconfig = support::control_plane().await.kubeconfig_path();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_scim-operator"))
        .args(["export", "--namespace", &ns, "--directory", "entra", "--out"])
        .arg(cli.path())
        .env("KUBECONFIG", kubeconfig)
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(snapshot(cli.path()), snapshot(library.path()));
}
