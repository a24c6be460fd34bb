//! The rendered chart against a real API server: server-side dry-run of every object, and
//! `helm install` → `helm upgrade` with a changed CRD → `helm uninstall` on a control plane of its own.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use scim_operator::api::{ConflictPolicy, Directory};
use scim_operator::envtest::ControlPlane;

use super::chart::*;
use super::render::ALL_ON;
use super::support;

/// Minimal ServiceMonitor and PrometheusRule CRDs (the real ones come with the Prometheus
/// operator), so that the chart's ServiceMonitor and PrometheusRule can be validated by the API
/// server too.
const SERVICE_MONITOR_CRD: &str = "\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: servicemonitors.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {kind: ServiceMonitor, listKind: ServiceMonitorList, plural: servicemonitors, singular: servicemonitor}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: prometheusrules.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {kind: PrometheusRule, listKind: PrometheusRuleList, plural: prometheusrules, singular: prometheusrule}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
";

/// `kubectl <args>` with `stdin` piped in; its stdout, or an error with its stderr.
fn kubectl_stdin(cp: &ControlPlane, args: &[&str], stdin: &str) -> Result<String, String> {
    kubectl_output(cp, args, stdin).map(|(stdout, _)| stdout)
}

/// `kubectl <args>` with `stdin` piped in; (stdout, stderr), or an error with its stderr.
fn kubectl_output(cp: &ControlPlane, args: &[&str], stdin: &str) -> Result<(String, String), String> {
    let mut command = cp.kubectl(args);
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("kubectl runs");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).expect("stdin");
    let output = child.wait_with_output().expect("kubectl output");
    if output.status.success() {
        Ok((
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ))
    } else {
        Err(format!("kubectl {args:?}: {}", String::from_utf8_lossy(&output.stderr)))
    }
}

#[tokio::test]
async fn every_rendered_object_passes_server_side_dry_run() {
    let client = support::client().await;
    let cp = support::control_plane().await;
    kubectl_stdin(cp, &["apply", "--server-side", "-f", "-"], SERVICE_MONITOR_CRD).expect("ServiceMonitor CRD");
    kubectl_stdin(
        cp,
        &[
            "wait",
            "--for=condition=Established",
            "crd/servicemonitors.monitoring.coreos.com",
            "crd/prometheusrules.monitoring.coreos.com",
        ],
        "",
    )
    .expect("established");
    let ns = support::fresh_namespace(&client, "helm-dry").await;
    // Pod Security "restricted": the API server warns about a Deployment whose pods would violate it.
    support::kubectl(&["label", "namespace", &ns, "pod-security.kubernetes.io/warn=restricted"])
        .await
        .unwrap();
    let secret_ns = format!("rbac.secretNamespaces={{{ns}}}");
    for sets in [
        &[][..],
        ALL_ON,
        &["nativeRbac.enabled=true", "rbac.clusterWideSecrets=true"],
    ] {
        let mut sets = sets.to_vec();
        sets.push(&secret_ns);
        let yaml = template(&ns, &ns, &sets).unwrap_or_else(|e| panic!("{e}"));
        let (applied, warnings) = kubectl_output(
            cp,
            &[
                "apply",
                "--server-side",
                "--force-conflicts",
                "--dry-run=server",
                "-f",
                "-",
            ],
            &yaml,
        )
        .unwrap_or_else(|e| panic!("{sets:?}: {e}"));
        assert_eq!(
            applied.lines().count(),
            objects(&yaml).len(),
            "one line per object:\n{applied}"
        );
        assert!(!warnings.contains("PodSecurity"), "{sets:?}: {warnings}");
    }
    // The check above can fail: a privilege escalation is reported.
    let sets = ["securityContext.allowPrivilegeEscalation=true"];
    let yaml = template(&ns, &ns, &sets).unwrap();
    let args = ["apply", "--server-side", "--dry-run=server", "-f", "-"];
    let (_, warnings) = kubectl_output(cp, &args, &yaml).unwrap();
    assert!(
        warnings.contains("would violate PodSecurity \"restricted:latest\""),
        "{warnings}"
    );
}

/// Copies a directory tree.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A copy of the chart whose Workspace CRD has one more spec field, `addedByUpgrade`.
fn chart_with_new_workspace_field(dir: &Path) -> String {
    copy_dir(&chart_dir(), dir);
    let file = dir.join("templates/crds/scim-operator.io_workspaces.yaml");
    let crd = std::fs::read_to_string(&file).unwrap();
    let anchor = "            properties:\n              displayName:\n";
    assert!(crd.contains(anchor), "Workspace CRD layout changed; update this test");
    let added = "            properties:\n              addedByUpgrade:\n                type: string\n              displayName:\n";
    std::fs::write(&file, crd.replacen(anchor, added, 1)).unwrap();
    dir.display().to_string()
}

fn spec_properties(crd: &CustomResourceDefinition) -> Vec<String> {
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .unwrap()
        .open_api_v3_schema
        .as_ref()
        .unwrap();
    let spec = &schema.properties.as_ref().unwrap()["spec"];
    spec.properties.as_ref().unwrap().keys().cloned().collect()
}

#[tokio::test]
async fn install_upgrade_with_a_crd_change_and_uninstall_keeps_crds() {
    // A control plane of its own: the release owns the (cluster-scoped) CRDs.
    let cp = ControlPlane::start().await.expect("control plane");
    let client = cp.client().await.expect("client");
    let kubeconfig = cp.kubeconfig_path().display().to_string();
    let helm_in = |args: &[&str]| {
        let mut command = helm(args);
        command.args(["--kubeconfig", &kubeconfig, "--namespace", "ops"]);
        command.env("KUBECACHEDIR", cp.dir().join("helm-kube-cache"));
        run(command)
    };
    let chart = chart_dir().display().to_string();
    let values = [
        "--set",
        "directory.create=true",
        "--set",
        "directory.token=tok",
        "--set",
        "ingress.enabled=true",
        "--set",
        "ingress.host=scim.example.org",
    ];

    let mut install = vec!["install", "rel", &chart, "--create-namespace"];
    install.extend(values);
    let notes = helm_in(&install).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        notes.contains("https://scim.example.org/scim/v2/ops/entra"),
        "NOTES show the Tenant URL:\n{notes}"
    );
    assert!(
        notes.contains("ACTION NEEDED"),
        "NOTES ask for the upgrade that creates the Directory:\n{notes}"
    );
    assert!(
        notes.contains("kubectl get secret -n ops entra-token"),
        "NOTES show the token:\n{notes}"
    );

    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let workspaces = crds.get("workspaces.scim-operator.io").await.expect("CRD installed");
    assert!(!spec_properties(&workspaces).contains(&"addedByUpgrade".to_string()));
    let directories: Api<Directory> = Api::namespaced(client.clone(), "ops");
    assert!(
        directories.get_opt("entra").await.unwrap().is_none(),
        "no Directory before its CRD is served"
    );

    // Upgrade with a changed CRD and a changed Directory: both reach the API server.
    let temp = tempfile::tempdir().unwrap();
    let changed = chart_with_new_workspace_field(&temp.path().join("scim-operator"));
    let mut upgrade = vec!["upgrade", "rel", &changed];
    upgrade.extend(values);
    upgrade.extend(["--set", "directory.conflictPolicy=HighestPrivilege"]);
    helm_in(&upgrade).unwrap_or_else(|e| panic!("{e}"));
    let workspaces = crds.get("workspaces.scim-operator.io").await.unwrap();
    assert!(
        spec_properties(&workspaces).contains(&"addedByUpgrade".to_string()),
        "the upgrade changed the CRD"
    );
    let directory = directories.get("entra").await.unwrap();
    assert_eq!(
        directory.spec.conflict_policy,
        ConflictPolicy::HighestPrivilege,
        "the upgrade created the Directory"
    );
    let manifest = helm_in(&["get", "manifest", "rel"]).unwrap();
    assert!(
        manifest.contains("kind: Directory"),
        "the Directory is a release object"
    );
    // Changing a value changes the Directory.
    upgrade.extend(["--set", "directory.conflictPolicy=Deny"]);
    helm_in(&upgrade).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        directories.get("entra").await.unwrap().spec.conflict_policy,
        ConflictPolicy::Deny
    );

    // Uninstall removes the workload and keeps the CRDs and the Directory.
    helm_in(&["uninstall", "rel"]).unwrap_or_else(|e| panic!("{e}"));
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "ops");
    assert!(
        deployments.get_opt("rel-scim-operator").await.unwrap().is_none(),
        "Deployment removed"
    );
    for crd in ["directories", "users", "groups", "workspaces", "rolebindings"] {
        crds.get(&format!("{crd}.scim-operator.io"))
            .await
            .expect("CRD kept on uninstall");
    }
    directories.get("entra").await.expect("Directory kept on uninstall");
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), "ops");
    secrets.get("entra-token").await.expect("its token Secret is kept too");
    // Installing again adopts the kept objects and updates the CRDs in place.
    let mut again = vec!["install", "rel", &chart];
    again.extend(values);
    let notes = helm_in(&again).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !notes.contains("ACTION NEEDED"),
        "the CRDs are served: the Directory is created at once\n{notes}"
    );
    cp.stop();
}
