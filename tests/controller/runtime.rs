//! The runtime: duplicate directories, quiet resyncs, leader election.

use std::time::Duration;

use kube::api::{Api, ListParams};
use scim_operator::api::*;

use super::env::*;

#[tokio::test]
async fn duplicate_directory_is_reported() {
    let env = Env::start("dupdir", Some(DirectorySpec::default())).await;
    env.expect("entra", "Ready", |d: &Directory| {
        d.status
            .as_ref()
            .is_some_and(|s| has_condition(&s.conditions, "Ready", "True", "Ready"))
    })
    .await;
    create(
        &env.client,
        &env.ns,
        Directory::new("second", DirectorySpec::default()),
    )
    .await;
    let dir: Directory = env
        .expect("second", "DuplicateDirectory", |d: &Directory| {
            d.status.as_ref().is_some_and(|s| {
                has_condition(&s.conditions, "Ready", "False", "DuplicateDirectory")
            })
        })
        .await;
    let status = dir.status.unwrap();
    let message = &condition(&status.conditions, "Ready").unwrap().message;
    assert!(message.contains("entra"), "{message}");
}

#[tokio::test]
async fn resync_without_change_writes_nothing() {
    let mut env = Env::start(
        "quiet",
        Some(DirectorySpec {
            conflict_policy: ConflictPolicy::LeastPrivilege,
            // Native RBAC too, under a prefix of its own (namespaces are cluster-wide).
            native_rbac: Some(NativeRbac {
                namespace_prefix: format!("q{:06x}-", rand::random::<u32>() & 0xff_ffff),
                username_prefix: String::new(),
                cluster_roles: Default::default(),
            }),
            ..Default::default()
        }),
    )
    .await;
    sales_groups(&env).await;
    env.group("g-plain", "Engineering").await;
    env.user("sam", &["g-admin", "g-plain"], &["admin"]).await;
    env.user("tess", &["g-admin", "g-member"], &[]).await;
    env.user("uma", &["g-manager"], &[]).await;
    env.expect_bindings("tess", &[("org", Role::Member), ("sales", Role::Member)])
        .await;
    env.expect("sales", "converged", |ws: &Workspace| {
        counts(ws) == (1, 1, 1, 1)
    })
    .await;
    env.expect("entra", "converged", |d: &Directory| {
        d.status
            .as_ref()
            .is_some_and(|s| s.users == 3 && s.role_bindings == 6)
    })
    .await;
    env.expect("g-plain", "converged", |g: &Group| {
        g.status.as_ref().is_some_and(|s| s.member_count == 1)
    })
    .await;
    let all_written = eventually(|| async {
        let users = env
            .api::<User>()
            .list(&ListParams::default())
            .await
            .expect("users");
        let rbs = env
            .api::<RoleBinding>()
            .list(&ListParams::default())
            .await
            .expect("bindings");
        let native = Api::<k8s_openapi::api::rbac::v1::RoleBinding>::all(env.client.clone())
            .list(
                &ListParams::default()
                    .labels(&format!("scim-operator.io/source-namespace={}", env.ns)),
            )
            .await
            .expect("native bindings");
        users.items.iter().all(|u| u.status.is_some())
            && rbs.items.len() == 6
            && rbs.items.iter().all(|rb| rb.status.is_some())
            && native.items.len() == 3
    })
    .await;
    assert!(all_written, "statuses not written");
    env.stop_controller().await;

    // A new leader: its full pass, then periodic resyncs every second, must write nothing.
    let controller = Controller::start(&env.client, &env.ns, Duration::from_secs(1));
    let metrics = controller.metrics.clone();
    let passes = eventually(|| async {
        metrics.resyncs() >= 1
            && metrics.reconciles_of("User") >= 9
            && metrics.reconciles_of("Namespace") >= 3
    })
    .await;
    assert!(
        passes,
        "no full pass and resyncs: {} users, {} namespaces",
        metrics.reconciles_of("User"),
        metrics.reconciles_of("Namespace")
    );
    assert_eq!(
        metrics.object_writes(),
        0,
        "a resync with no change must not write: {:?}",
        metrics.writes
    );
    controller.stop().await;
}

#[tokio::test]
async fn only_the_leader_reconciles() {
    let env = Env::start("leader", Some(DirectorySpec::default())).await;
    env.expect("entra", "Ready", |d: &Directory| d.status.is_some())
        .await;
    let first = env.controller.as_ref().unwrap().metrics.clone();
    assert_eq!(first.leader.get(), 1);

    let standby = Controller::start(&env.client, &env.ns, Duration::from_secs(600));
    sales_groups(&env).await;
    env.user("vera", &["g-admin"], &[]).await;
    env.expect_bindings("vera", &[("org", Role::Member), ("sales", Role::Admin)])
        .await;
    assert_eq!(standby.metrics.leader.get(), 0);
    assert_eq!(
        standby.metrics.object_writes(),
        0,
        "a standby must not write"
    );

    // The leader steps down (releasing the Lease); the standby takes over and reconciles.
    let mut env = env;
    env.stop_controller().await;
    env.user("walt", &["g-member"], &[]).await;
    env.expect_bindings("walt", &[("org", Role::Member), ("sales", Role::Member)])
        .await;
    assert_eq!(standby.metrics.leader.get(), 1);
    standby.stop().await;
}
