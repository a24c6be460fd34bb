//! Installing as the README says, on a control plane of its own (CRDs are cluster-wide): a
//! secret namespace that does not exist fails cleanly, the NOTES follow the values, the leader
//! Lease goes with the release, and a release of another name installs over the CRDs an
//! uninstalled one kept.

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use scim_operator::envtest::ControlPlane;

use super::chart::*;

const LEASE: &str = "scim-operator-leader";

/// The Helm release that owns a live object, from its annotation.
fn owner(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Option<String> {
    meta.annotations.as_ref()?.get("meta.helm.sh/release-name").cloned()
}

#[tokio::test]
async fn install_uninstall_and_install_under_another_name() {
    let cp = ControlPlane::start().await.expect("control plane");
    let client = cp.client().await.expect("client");
    let kubeconfig = cp.kubeconfig_path().display().to_string();
    let helm_in = |namespace: &str, args: &[&str]| {
        let mut command = helm(args);
        command.args(["--kubeconfig", &kubeconfig, "--namespace", namespace]);
        command.env("KUBECACHEDIR", cp.dir().join("helm-kube-cache"));
        run(command)
    };
    let kubectl = |args: &[&str]| {
        let output = cp.kubectl(args).output().unwrap();
        assert!(output.status.success(), "kubectl {args:?}: {output:?}");
    };
    let chart = chart_dir().display().to_string();

    // 1. The README's install, before the secret namespace exists: a clear error, no release left.
    let install_a = [
        "install",
        "a",
        &chart,
        "--create-namespace",
        "--set",
        "rbac.secretNamespaces={idp}",
    ];
    let error = helm_in("ops-a", &install_a).expect_err("idp does not exist");
    assert!(
        error.contains(r#"rbac.secretNamespaces: namespace "idp" does not exist"#),
        "{error}"
    );
    let releases = helm_in("ops-a", &["list", "--all", "--short"]).unwrap();
    assert_eq!(releases.trim(), "", "no failed release blocks a retry");
    kubectl(&["create", "namespace", "idp"]);
    let notes = helm_in("ops-a", &install_a).unwrap_or_else(|e| panic!("{e}"));
    // The NOTES use the namespace given and do not ask for it again.
    assert!(!notes.contains("rbac.secretNamespaces={<namespace>}"), "{notes}");
    assert!(notes.contains("may read token Secrets in: idp"), "{notes}");
    assert!(
        notes.contains("kubectl create secret generic entra-token -n idp"),
        "{notes}"
    );
    assert!(!notes.contains("CRDs: they exist already"), "{notes}");

    // 2. The leader Lease belongs to the release; an upgrade keeps the holder the Pods wrote.
    let leases_a: Api<Lease> = Api::namespaced(client.clone(), "ops-a");
    let lease = leases_a.get(LEASE).await.expect("the chart creates the Lease");
    assert_eq!(owner(&lease.metadata).as_deref(), Some("a"));
    let holder = serde_json::json!({"spec": {"holderIdentity": "a-scim-operator-0", "leaseDurationSeconds": 15}});
    leases_a
        .patch(LEASE, &PatchParams::default(), &Patch::Merge(&holder))
        .await
        .unwrap();
    helm_in(
        "ops-a",
        &["upgrade", "a", &chart, "--reuse-values", "--set", "replicaCount=3"],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let lease = leases_a.get(LEASE).await.unwrap();
    assert_eq!(
        lease.spec.unwrap().holder_identity.as_deref(),
        Some("a-scim-operator-0"),
        "the upgrade leaves the holder alone"
    );

    // 3. Uninstall: the Lease goes with the release, the CRDs stay.
    helm_in("ops-a", &["uninstall", "a"]).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        leases_a.get_opt(LEASE).await.unwrap().is_none(),
        "no Lease left naming a Pod that is gone"
    );
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let users_crd = "users.scim-operator.io";
    assert_eq!(
        owner(&crds.get(users_crd).await.unwrap().metadata).as_deref(),
        Some("a")
    );

    // 4. Another release name installs over the kept CRDs, and says who owns them. A Lease made by
    // an older chart's Pods (no Helm ownership) is left alone rather than failing the install.
    kubectl(&["create", "namespace", "ops-b"]);
    let leases_b: Api<Lease> = Api::namespaced(client.clone(), "ops-b");
    let mut old = Lease::default();
    old.metadata.name = Some(LEASE.into());
    leases_b.create(&PostParams::default(), &old).await.unwrap();
    let notes = helm_in("ops-b", &["install", "b", &chart]).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        notes.contains("CRDs: they exist already and belong to release a in namespace ops-a"),
        "{notes}"
    );
    assert!(notes.contains("--take-ownership --set crds.adopt=true"), "{notes}");
    let manifest = helm_in("ops-b", &["get", "manifest", "b"]).unwrap();
    assert!(!manifest.contains("kind: CustomResourceDefinition"), "{manifest}");
    assert!(!manifest.contains("kind: Lease"), "{manifest}");
    assert_eq!(owner(&leases_b.get(LEASE).await.unwrap().metadata), None);

    // 5. Taking the CRDs over, as the NOTES say: release b manages them from then on.
    let adopt = [
        "upgrade",
        "b",
        &chart,
        "--reuse-values",
        "--take-ownership",
        "--set",
        "crds.adopt=true",
    ];
    helm_in("ops-b", &adopt).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        owner(&crds.get(users_crd).await.unwrap().metadata).as_deref(),
        Some("b")
    );
    let notes = helm_in("ops-b", &["upgrade", "b", &chart, "--reuse-values"]).unwrap_or_else(|e| panic!("{e}"));
    assert!(!notes.contains("CRDs: they exist already"), "{notes}");
    let manifest = helm_in("ops-b", &["get", "manifest", "b"]).unwrap();
    assert!(
        manifest.contains("kind: CustomResourceDefinition"),
        "b manages the CRDs"
    );
    cp.stop();
}
