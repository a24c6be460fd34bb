//! The envtest harness itself: identities, audit log and teardown of a control plane of its own.

use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ObjectMeta, PostParams};
use scim_operator::envtest::{ControlPlane, Options};

#[tokio::test]
async fn users_audit_log_and_stop() {
    let cp = ControlPlane::start_with(Options {
        audit: true,
        ..Default::default()
    })
    .await
    .expect("control plane starts");
    let dir = cp.dir().to_path_buf();

    // A certificate user has exactly the identity asked for, and no permissions.
    let alice = cp.client_for_user("alice", &["team-a", "team-b"]).await.unwrap();
    let review = Api::<SelfSubjectReview>::all(alice.clone())
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .expect("anyone may review themselves");
    let user = review.status.unwrap().user_info.unwrap();
    assert_eq!(user.username.as_deref(), Some("alice"));
    let groups = user.groups.unwrap_or_default();
    for group in ["team-a", "team-b", "system:authenticated"] {
        assert!(groups.iter().any(|g| g == group), "{group} not in {groups:?}");
    }
    let err = Api::<Namespace>::all(alice)
        .list(&Default::default())
        .await
        .unwrap_err();
    assert!(matches!(&err, kube::Error::Api(s) if s.code == 403), "{err:?}");

    // A ServiceAccount token identifies the account as it would be in a cluster.
    let operator = cp.client_for_service_account("default", "scim-operator").await.unwrap();
    let review = Api::<SelfSubjectReview>::all(operator)
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .unwrap();
    let user = review.status.unwrap().user_info.unwrap();
    assert_eq!(
        user.username.as_deref(),
        Some("system:serviceaccount:default:scim-operator")
    );

    // Writes are in the audit log (blocking mode: written before the response).
    let admin = cp.client().await.unwrap();
    let config_map = ConfigMap {
        metadata: ObjectMeta {
            name: Some("audited".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<ConfigMap>::namespaced(admin, "default")
        .create(&PostParams::default(), &config_map)
        .await
        .unwrap();
    let log = std::fs::read_to_string(cp.audit_log_path().unwrap()).unwrap();
    let created = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["verb"] == "create" && e["objectRef"]["name"] == "audited")
        .count();
    assert_eq!(created, 1, "{log}");

    // kubectl is preconfigured for the admin.
    let out = cp
        .kubectl(["get", "configmap", "audited", "-o", "name"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "configmap/audited");

    cp.stop();
    assert!(!dir.exists(), "stop removes {}", dir.display());
}
