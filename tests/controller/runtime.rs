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
    create(&env.client, &env.ns, Directory::new("second", DirectorySpec::default())).await;
    let dir: Directory = env
        .expect("second", "DuplicateDirectory", |d: &Directory| {
            d.status
                .as_ref()
                .is_some_and(|s| has_condition(&s.conditions, "Ready", "False", "DuplicateDirectory"))
        })
        .await;
    let status = dir.status.unwrap();
    let message = &condition(&status.conditions, "Ready").unwrap().message;
    assert!(message.contains("entra"), "{message}");
    // kstatus: only the admin can fix a duplicate, so it is Stalled, at the generation it saw;
    // `kubectl wait` (what a pipeline runs) sees it.
    let stalled = condition(&status.conditions, "Stalled").expect("Stalled");
    assert_eq!(
        (stalled.status.as_str(), stalled.reason.as_str()),
        ("True", "DuplicateDirectory")
    );
    assert_eq!(stalled.observed_generation, dir.metadata.generation);
    let waited = super::support::kubectl(&[
        "wait",
        "-n",
        &env.ns,
        "--for=condition=Stalled",
        "--timeout=30s",
        "directory/second",
    ])
    .await;
    assert!(waited.is_ok(), "{waited:?}");
    let first: Directory = Api::namespaced(env.client.clone(), &env.ns).get("entra").await.unwrap();
    let first = first.status.unwrap().conditions;
    assert!(
        condition(&first, "Stalled").is_none() && condition(&first, "Reconciling").is_none(),
        "{first:?}"
    );
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
    env.expect("sales", "converged", |ws: &Workspace| counts(ws) == (1, 1, 1, 1))
        .await;
    env.expect("entra", "converged", |d: &Directory| {
        d.status.as_ref().is_some_and(|s| s.users == 3 && s.role_bindings == 6)
    })
    .await;
    env.expect("g-plain", "converged", |g: &Group| {
        g.status.as_ref().is_some_and(|s| s.member_count == 1)
    })
    .await;
    let all_written = eventually(|| async {
        let users = env.api::<User>().list(&ListParams::default()).await.expect("users");
        let rbs = env
            .api::<RoleBinding>()
            .list(&ListParams::default())
            .await
            .expect("bindings");
        let native = Api::<k8s_openapi::api::rbac::v1::RoleBinding>::all(env.client.clone())
            .list(&ListParams::default().labels(&format!("scim-operator.io/source-namespace={}", env.ns)))
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
        metrics.resyncs() >= 1 && metrics.reconciles_of("User") >= 9 && metrics.reconciles_of("Namespace") >= 3
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
    env.expect("entra", "Ready", |d: &Directory| d.status.is_some()).await;
    let first = env.controller.as_ref().unwrap().metrics.clone();
    assert_eq!(first.leader.get(), 1);

    let standby = Controller::start(&env.client, &env.ns, Duration::from_secs(600));
    sales_groups(&env).await;
    env.user("vera", &["g-admin"], &[]).await;
    env.expect_bindings("vera", &[("org", Role::Member), ("sales", Role::Admin)])
        .await;
    assert_eq!(standby.metrics.leader.get(), 0);
    assert_eq!(standby.metrics.object_writes(), 0, "a standby must not write");

    // The leader steps down (releasing the Lease); the standby takes over and reconciles.
    let mut env = env;
    env.stop_controller().await;
    env.user("walt", &["g-member"], &[]).await;
    env.expect_bindings("walt", &[("org", Role::Member), ("sales", Role::Member)])
        .await;
    assert_eq!(standby.metrics.leader.get(), 1);
    standby.stop().await;
}

#[tokio::test]
async fn one_change_to_a_big_group_writes_a_few_objects() {
    const MEMBERS: usize = 60;
    let env = Env::start("biggroup", Some(DirectorySpec::default())).await;
    env.group("g-all", "ws-Everyone-role-member").await;
    for i in 0..MEMBERS {
        env.user(&format!("u{i:03}"), &["g-all"], &[]).await;
    }
    env.expect("everyone", "all members", |ws: &Workspace| {
        ws.status.as_ref().is_some_and(|s| s.members == MEMBERS as u32)
    })
    .await;
    let settled = eventually(|| async {
        let rbs = env
            .api::<RoleBinding>()
            .list(&ListParams::default())
            .await
            .expect("bindings");
        rbs.items.len() == 2 * MEMBERS && rbs.items.iter().all(|rb| rb.status.is_some())
    })
    .await;
    assert!(settled, "bindings not settled");
    env.expect("g-all", "member count", |g: &Group| {
        g.status.as_ref().is_some_and(|s| s.member_count == MEMBERS as u32)
    })
    .await;
    env.expect("entra", "counts", |d: &Directory| {
        d.status.as_ref().is_some_and(|s| s.role_bindings == 2 * MEMBERS as u32)
    })
    .await;

    // A group change that changes no binding (externalId) re-plans its members, which write
    // nothing; wait until every member was reconciled again.
    // Only member writes are counted: the namespace pass may still be settling its O(1) statuses.
    let member_writes = |m: &scim_operator::controller::Metrics| {
        m.writes_of("User", "status")
            + m.writes_of("RoleBinding", "apply")
            + m.writes_of("RoleBinding", "patch")
            + m.writes_of("RoleBinding", "delete")
    };
    let before = member_writes(&env.metrics);
    let reconciled = env.metrics.reconciles_of("User");
    env.api::<Group>()
        .patch(
            "g-all",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(serde_json::json!({ "spec": { "externalId": "x-1" } })),
        )
        .await
        .expect("patch group");
    let replanned = eventually(|| async { env.metrics.reconciles_of("User") >= reconciled + MEMBERS as u64 }).await;
    assert!(replanned, "members not re-planned after a group change");
    let writes = member_writes(&env.metrics) - before;
    assert_eq!(writes, 0, "{:?}", env.metrics.write_counts());

    // One new member: its two bindings (spec and status in one write each), its status, the
    // group's member count, the workspace counts and the directory counts — not one write per
    // member.
    let before = env.metrics.object_writes();
    let before_members = member_writes(&env.metrics);
    env.user("newcomer", &["g-all"], &[]).await;
    env.expect("g-all", "member count", |g: &Group| {
        g.status.as_ref().is_some_and(|s| s.member_count == MEMBERS as u32 + 1)
    })
    .await;
    env.expect("entra", "counts", |d: &Directory| {
        d.status
            .as_ref()
            .is_some_and(|s| s.role_bindings == 2 * MEMBERS as u32 + 2)
    })
    .await;
    env.expect("newcomer", "status", |u: &User| u.status.is_some()).await;
    let writes = env.metrics.object_writes() - before;
    let member = member_writes(&env.metrics) - before_members;
    // 2 bindings + 1 user status; the rest are the O(1) counts.
    assert!(
        member <= 3 && writes < 20,
        "{member} member writes, {writes} in all, for one new member: {:?}",
        env.metrics.write_counts()
    );
}
