//! The Argo CD health checks in `docs/argocd/` run by a real Lua interpreter (`lua5.1`, the
//! dialect of Argo CD's gopher-lua, and `lua5.4` when installed; both need lua-cjson — hack/test.sh
//! installs them) against objects serialised from the operator's own types.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use scim_operator::api::*;
use serde_json::{Value, json};

fn argocd_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/argocd")
}

/// The Lua interpreters on this machine that can load lua-cjson.
fn interpreters() -> Vec<&'static str> {
    let found: Vec<&str> = ["lua5.1", "lua5.4", "lua"]
        .into_iter()
        .filter(|lua| {
            Command::new(lua)
                .args(["-e", "require('cjson')"])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect();
    assert!(
        !found.is_empty(),
        "no Lua interpreter with lua-cjson: apt-get install -y lua5.1 lua-cjson (hack/test.sh does)"
    );
    // `lua` is an alias of one of the others when they are installed.
    if found.len() > 1 {
        found.into_iter().filter(|l| *l != "lua").collect()
    } else {
        found
    }
}

/// Runs `script` on `object` with every interpreter; (status, message), the same for all.
fn health(script: &str, object: &Value) -> (String, String) {
    let mut results = Vec::new();
    for lua in interpreters() {
        let mut child = Command::new(lua)
            .arg(argocd_dir().join("harness.lua"))
            .arg(argocd_dir().join(script))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("lua runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(object.to_string().as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{lua} {script}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8(output.stdout).unwrap();
        let (status, message) = text.split_once('\n').expect("two lines");
        results.push((status.to_string(), message.trim_end().to_string()));
    }
    assert!(
        results.windows(2).all(|w| w[0] == w[1]),
        "interpreters disagree: {results:?}"
    );
    results.remove(0)
}

fn condition(type_: &str, status: bool, reason: &str, message: &str) -> Condition {
    Condition {
        type_: type_.into(),
        status: if status { "True" } else { "False" }.into(),
        reason: reason.into(),
        message: message.into(),
        observed_generation: Some(1),
        last_transition_time: Time(Default::default()),
    }
}

/// `object` as JSON with `metadata.generation` set.
fn with_generation<T: serde::Serialize>(object: &T, generation: i64) -> Value {
    let mut value = serde_json::to_value(object).unwrap();
    value["metadata"]["generation"] = json!(generation);
    value
}

fn workspace(status: Option<WorkspaceStatus>) -> Workspace {
    let mut ws = Workspace::new(
        "sales",
        WorkspaceSpec {
            display_name: "Sales".into(),
            groups: Vec::new(),
        },
    );
    ws.status = status;
    ws
}

fn ready_workspace() -> WorkspaceStatus {
    WorkspaceStatus {
        observed_generation: Some(1),
        conditions: vec![condition(
            "Ready",
            true,
            "Provisioned",
            "1 admins, 0 managers, 2 members",
        )],
        admins: 1,
        members: 2,
        ..Default::default()
    }
}

#[test]
fn workspace_health() {
    let script = "health-workspace.lua";
    let (status, message) = health(script, &with_generation(&workspace(None), 1));
    assert_eq!(
        (status.as_str(), message.as_str()),
        ("Progressing", "Waiting for the operator to reconcile")
    );

    let (status, message) = health(script, &with_generation(&workspace(Some(ready_workspace())), 1));
    assert_eq!(status, "Healthy");
    assert_eq!(message, "Provisioned: 1 admins, 0 managers, 2 members");

    let (status, message) = health(script, &with_generation(&workspace(Some(ready_workspace())), 2));
    assert_eq!(
        (status.as_str(), message.as_str()),
        ("Progressing", "Waiting for the operator to observe generation 2")
    );

    let mut conflicted = ready_workspace();
    conflicted.conflicts = 2;
    conflicted.conflict_details = vec![WorkspaceConflict {
        user_name: Some("ada@example.com".into()),
        groups: vec!["ws-Sales-role-admin".into(), "ws-Sales-role-member".into()],
        applied_role: Some(Role::Member),
    }];
    let (status, message) = health(script, &with_generation(&workspace(Some(conflicted)), 1));
    assert_eq!(status, "Degraded");
    assert_eq!(
        message,
        "2 conflict(s), e.g. ada@example.com in ws-Sales-role-admin, ws-Sales-role-member (bound as member)"
    );

    let orphaned = WorkspaceStatus {
        observed_generation: Some(1),
        conditions: vec![condition(
            "Ready",
            false,
            "Orphaned",
            "no group feeds this workspace any more",
        )],
        orphaned: true,
        ..Default::default()
    };
    let (status, message) = health(script, &with_generation(&workspace(Some(orphaned)), 1));
    assert_eq!(
        (status.as_str(), message.as_str()),
        ("Suspended", "Orphaned: no group feeds this workspace any more")
    );

    let collision = WorkspaceStatus {
        observed_generation: Some(1),
        conditions: vec![condition("Ready", false, "NameCollision", "Sales, SALES!")],
        ..Default::default()
    };
    let (status, message) = health(script, &with_generation(&workspace(Some(collision)), 1));
    assert_eq!(
        (status.as_str(), message.as_str()),
        ("Degraded", "NameCollision: Sales, SALES!")
    );

    let mut stalled = ready_workspace();
    stalled
        .conditions
        .push(condition("Stalled", true, "InvalidSpec", "cannot apply"));
    let (status, message) = health(script, &with_generation(&workspace(Some(stalled)), 1));
    assert_eq!(
        (status.as_str(), message.as_str()),
        ("Degraded", "InvalidSpec: cannot apply")
    );

    let mut reconciling = ready_workspace();
    reconciling.conditions = vec![condition("Reconciling", true, "Applying", "")];
    let (status, message) = health(script, &with_generation(&workspace(Some(reconciling)), 1));
    assert_eq!((status.as_str(), message.as_str()), ("Progressing", "Applying"));

    let no_ready = WorkspaceStatus {
        observed_generation: Some(1),
        ..Default::default()
    };
    assert_eq!(
        health(script, &with_generation(&workspace(Some(no_ready)), 1)).0,
        "Progressing"
    );
}

fn binding(status: Option<RoleBindingStatus>) -> RoleBinding {
    let mut rb = RoleBinding::new(
        "ada-sales",
        RoleBindingSpec {
            user: "ada".into(),
            user_name: "ada@example.com".into(),
            workspace: Some("sales".into()),
            role: Role::Member,
        },
    );
    rb.status = status;
    rb
}

#[test]
fn rolebinding_health() {
    let script = "health-rolebinding.lua";
    assert_eq!(health(script, &with_generation(&binding(None), 1)).0, "Progressing");
    let bound = RoleBindingStatus {
        observed_generation: Some(1),
        conditions: vec![
            condition("Conflict", false, "NoConflict", ""),
            condition("Ready", true, "Bound", "member in sales"),
        ],
        source_groups: vec!["ws-Sales-role-member".into()],
        conflict: false,
    };
    let (status, message) = health(script, &with_generation(&binding(Some(bound.clone())), 1));
    assert_eq!(
        (status.as_str(), message.as_str()),
        ("Healthy", "Bound: member in sales")
    );
    assert_eq!(
        health(script, &with_generation(&binding(Some(bound.clone())), 3)).0,
        "Progressing"
    );

    let mut conflict = bound.clone();
    conflict.conflict = true;
    conflict.conditions[0] = condition(
        "Conflict",
        true,
        "Conflict",
        "in ws-Sales-role-admin and ws-Sales-role-member",
    );
    let (status, message) = health(script, &with_generation(&binding(Some(conflict.clone())), 1));
    assert_eq!(status, "Degraded");
    assert_eq!(message, "Conflict: in ws-Sales-role-admin and ws-Sales-role-member");
    // The flag alone (no condition) is enough.
    conflict.conditions.remove(0);
    let (status, message) = health(script, &with_generation(&binding(Some(conflict)), 1));
    assert_eq!(
        (status.as_str(), message.as_str()),
        ("Degraded", "Conflict: in ws-Sales-role-member")
    );

    let mut not_ready = bound;
    not_ready.conditions[1] = condition("Ready", false, "Suspended", "user is not active");
    let (status, message) = health(script, &with_generation(&binding(Some(not_ready)), 1));
    assert_eq!(
        (status.as_str(), message.as_str()),
        ("Degraded", "Suspended: user is not active")
    );
}

#[test]
fn directory_health() {
    let script = "health-directory.lua";
    let mut directory = Directory::new("entra", DirectorySpec::default());
    assert_eq!(health(script, &with_generation(&directory, 1)).0, "Progressing");
    directory.status = Some(DirectoryStatus {
        observed_generation: Some(1),
        conditions: vec![condition("Ready", true, "Ready", "serving SCIM at /scim/v2/ns/entra")],
        conflicts: 3,
        ..Default::default()
    });
    let (status, message) = health(script, &with_generation(&directory, 1));
    assert_eq!(status, "Healthy");
    assert_eq!(
        message,
        "Ready: serving SCIM at /scim/v2/ns/entra (3 conflict(s): see the Degraded Workspaces)"
    );
    directory.status.as_mut().unwrap().conditions = vec![condition(
        "Ready",
        false,
        "DuplicateDirectory",
        "namespace already has Directory \"okta\"",
    )];
    let (status, message) = health(script, &with_generation(&directory, 1));
    assert_eq!(status, "Degraded");
    assert_eq!(message, "DuplicateDirectory: namespace already has Directory \"okta\"");
}

/// The three scripts share one prelude (kstatus: observedGeneration, Stalled, Reconciling),
/// stamped in from `prelude.lua` by `hack/argocd-prelude.py`; a hand edit of one copy fails here.
#[test]
fn each_script_carries_the_current_prelude() {
    let prelude = std::fs::read_to_string(argocd_dir().join("prelude.lua")).unwrap();
    assert!(prelude.contains("condition(\"Stalled\")") && prelude.contains("observedGeneration"));
    for file in ["health-directory.lua", "health-rolebinding.lua", "health-workspace.lua"] {
        let script = std::fs::read_to_string(argocd_dir().join(file)).unwrap();
        let begin = script.find("\n-- BEGIN prelude").expect("BEGIN prelude line");
        let body = &script[begin + 1..];
        let body = &body[body.find('\n').unwrap() + 1..];
        let end = body.find("-- END prelude\n").expect("END prelude line");
        assert!(
            body[..end] == prelude,
            "docs/argocd/{file}: its prelude differs from prelude.lua; run hack/argocd-prelude.py"
        );
    }
}

/// The docs show the scripts verbatim: the argocd-cm snippet is generated from them.
#[test]
fn argocd_cm_snippet_matches_the_scripts() {
    let snippet = std::fs::read_to_string(argocd_dir().join("argocd-cm.yaml")).unwrap_or_default();
    let mut expected = String::from(
        "# Generated from docs/argocd/health-*.lua by tests/argocd.rs (SCIM_OPERATOR_BLESS=1 rewrites it).\n\
         # Merge into the argocd-cm ConfigMap of the Argo CD namespace.\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cm\n  namespace: argocd\n  labels:\n    app.kubernetes.io/part-of: argocd\ndata:\n",
    );
    for (kind, file) in [
        ("Directory", "health-directory.lua"),
        ("RoleBinding", "health-rolebinding.lua"),
        ("Workspace", "health-workspace.lua"),
    ] {
        let script = std::fs::read_to_string(argocd_dir().join(file)).unwrap();
        expected.push_str(&format!(
            "  resource.customizations.health.scim-operator.io_{kind}: |\n"
        ));
        for line in script.lines() {
            if line.is_empty() {
                expected.push('\n');
            } else {
                expected.push_str(&format!("    {line}\n"));
            }
        }
    }
    if std::env::var_os("SCIM_OPERATOR_BLESS").is_some() {
        std::fs::write(argocd_dir().join("argocd-cm.yaml"), &expected).unwrap();
        return;
    }
    assert!(
        snippet == expected,
        "docs/argocd/argocd-cm.yaml is stale: SCIM_OPERATOR_BLESS=1 cargo test --test argocd"
    );
    // And it is valid YAML whose values are the scripts.
    let parsed: serde_json::Value = serde_saphyr::from_str(&snippet).unwrap();
    let workspace = parsed["data"]["resource.customizations.health.scim-operator.io_Workspace"]
        .as_str()
        .unwrap();
    assert_eq!(
        workspace,
        std::fs::read_to_string(argocd_dir().join("health-workspace.lua")).unwrap()
    );
}
