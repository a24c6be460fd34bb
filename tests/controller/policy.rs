//! The rules end to end: the Sales example, conflict policies, organisation roles, domains, names.

use std::collections::BTreeMap;

use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::RoleBinding as RbacBinding;
use kube::api::{Api, ListParams};
use scim_operator::api::*;
use serde_json::json;

use super::env::*;
use super::native::native_bindings;

#[tokio::test]
async fn sales_example() {
    let env = Env::start("sales", Some(DirectorySpec::default())).await;
    sales_groups(&env).await;
    env.user("alice", &["g-admin"], &[]).await;
    env.user("bob", &["g-manager"], &[]).await;
    env.user("carol", &["g-member"], &[]).await;

    let ws: Workspace = env
        .expect("sales", "counts 1/1/1 and Ready", |ws: &Workspace| {
            counts(ws) == (1, 1, 1, 0)
                && has_condition(&ws.status.as_ref().unwrap().conditions, "Ready", "True", "Provisioned")
        })
        .await;
    assert_eq!(ws.spec.display_name, "Sales");
    assert_eq!(ws.spec.groups.len(), 3);
    env.expect_bindings("alice", &[("org", Role::Member), ("sales", Role::Admin)])
        .await;
    env.expect_bindings("bob", &[("org", Role::Member), ("sales", Role::Manager)])
        .await;
    env.expect_bindings("carol", &[("org", Role::Member), ("sales", Role::Member)])
        .await;

    env.expect("g-admin", "group status", |g: &Group| {
        g.status.as_ref().is_some_and(|s| {
            s.workspace.as_deref() == Some("sales") && s.role == Some(Role::Admin) && s.member_count == 1
        })
    })
    .await;
    env.expect("alice", "user status", |u: &User| {
        u.status.as_ref().is_some_and(|s| {
            s.workspace_count == 1
                && s.org_role == Some(Role::Member)
                && has_condition(&s.conditions, "Ready", "True", "Active")
                && has_condition(&s.conditions, "Conflict", "False", "NoConflict")
        })
    })
    .await;
    let dir: Directory = env
        .expect("entra", "directory status", |d: &Directory| {
            d.status
                .as_ref()
                .is_some_and(|s| s.users == 3 && s.groups == 3 && s.workspaces == 1 && s.role_bindings == 6)
        })
        .await;
    let status = dir.status.unwrap();
    assert_eq!(
        status.scim_base_url.as_deref(),
        Some(format!("/scim/v2/{}/entra", env.ns).as_str())
    );
    assert!(has_condition(&status.conditions, "Ready", "True", "Ready"));
}

/// A user in the admin and member groups of Sales under one policy: the bound role (if any),
/// and the conflict in the Workspace status, the User condition and an Event.
async fn conflict_under(policy: ConflictPolicy, expected: Option<Role>) {
    let env = Env::start(
        "conflict",
        Some(DirectorySpec {
            conflict_policy: policy,
            ..Default::default()
        }),
    )
    .await;
    sales_groups(&env).await;
    env.user("dave", &["g-admin", "g-member"], &[]).await;

    let mut want = vec![("org", Role::Member)];
    if let Some(role) = expected {
        want.push(("sales", role));
    }
    env.expect_bindings("dave", &want).await;
    let ws: Workspace = env
        .expect("sales", "one conflict", |ws: &Workspace| counts(ws).3 == 1)
        .await;
    let detail = &ws.status.unwrap().conflict_details[0];
    assert_eq!(detail.user_name.as_deref(), Some("dave@example.com"));
    assert_eq!(detail.groups, vec!["ws-Sales-role-admin", "ws-Sales-role-member"]);
    assert_eq!(detail.applied_role, expected);

    let user: User = env
        .expect("dave", "Conflict condition", |u: &User| {
            u.status
                .as_ref()
                .is_some_and(|s| has_condition(&s.conditions, "Conflict", "True", "MultipleRoleGroups"))
        })
        .await;
    let status = user.status.unwrap();
    let message = &condition(&status.conditions, "Conflict").unwrap().message;
    assert!(
        message.contains("sales")
            && message.contains("ws-Sales-role-admin")
            && message.contains("ws-Sales-role-member"),
        "{message}"
    );

    if expected.is_some() {
        env.expect("dave.sales", "RoleBinding conflict", |rb: &RoleBinding| {
            rb.status
                .as_ref()
                .is_some_and(|s| s.conflict && has_condition(&s.conditions, "Conflict", "True", "MultipleRoleGroups"))
        })
        .await;
    }
    let events = env.api::<Event>();
    let found = eventually(|| async {
        let list = events.list(&ListParams::default()).await.expect("events");
        list.items.iter().any(|e| {
            e.reason.as_deref() == Some("RoleConflict")
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("dave")
        })
    })
    .await;
    assert!(found, "no RoleConflict event for dave");
    assert_eq!(
        env.metrics.writes_of("Event", "create"),
        1,
        "one event per new conflict"
    );

    // Leaving one group settles the conflict.
    env.patch_user("dave", json!({ "groups": ["g-admin"] })).await;
    env.expect_bindings("dave", &[("org", Role::Member), ("sales", Role::Admin)])
        .await;
    env.expect("sales", "conflict gone", |ws: &Workspace| counts(ws) == (1, 0, 0, 0))
        .await;
    env.expect("dave", "Conflict False", |u: &User| {
        u.status
            .as_ref()
            .is_some_and(|s| has_condition(&s.conditions, "Conflict", "False", "NoConflict"))
    })
    .await;
    // The binding's spec and status are one write (no status subresource): its status still
    // describes the generation it is at, after it was rewritten for the settled conflict.
    let settled = |rb: &RoleBinding| {
        rb.status.as_ref().is_some_and(|s| {
            !s.conflict
                && has_condition(&s.conditions, "Conflict", "False", "NoConflict")
                && has_condition(&s.conditions, "Ready", "True", "Bound")
                && s.observed_generation == rb.metadata.generation
        })
    };
    let rb: RoleBinding = env.expect("dave.sales", "conflict settled", settled).await;
    let generation = rb.metadata.generation.expect("generation");
    if expected.is_some() {
        assert!(generation > 1, "the binding was rewritten, not recreated: {rb:#?}");
    }

    // The status belongs to the controller: an edit of it is put back, observedGeneration with it.
    env.api::<RoleBinding>()
        .patch(
            "dave.sales",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({ "status": { "conflict": true, "sourceGroups": ["forged"] } })),
        )
        .await
        .expect("edit the binding's status");
    let restored: RoleBinding = env
        .expect("dave.sales", "status put back", |rb: &RoleBinding| {
            settled(rb) && rb.metadata.generation > Some(generation + 1)
        })
        .await;
    assert_eq!(restored.status.unwrap().source_groups, vec!["ws-Sales-role-admin"]);
}

#[tokio::test]
async fn conflict_least_privilege() {
    conflict_under(ConflictPolicy::LeastPrivilege, Some(Role::Member)).await;
}

#[tokio::test]
async fn conflict_highest_privilege() {
    conflict_under(ConflictPolicy::HighestPrivilege, Some(Role::Admin)).await;
}

#[tokio::test]
async fn conflict_deny() {
    conflict_under(ConflictPolicy::Deny, None).await;
}

#[tokio::test]
async fn organisation_roles() {
    let env = Env::start("orgroles", Some(DirectorySpec::default())).await;
    env.user("erin", &[], &["admin", "member"]).await;
    env.user("frank", &[], &["superuser"]).await;
    env.user("grace", &[], &["Owner"]).await;
    env.expect_bindings("erin", &[("org", Role::Admin)]).await;
    env.expect_bindings("frank", &[("org", Role::Member)]).await;
    env.expect_bindings("grace", &[("org", Role::Owner)]).await;
}

#[tokio::test]
async fn allowed_domains() {
    let env = Env::start(
        "domains",
        Some(DirectorySpec {
            allowed_domains: vec!["example.org".into()],
            ..Default::default()
        }),
    )
    .await;
    sales_groups(&env).await;
    env.user("ivan", &["g-admin"], &[]).await;
    env.expect("ivan", "DomainNotAllowed", |u: &User| {
        u.status
            .as_ref()
            .is_some_and(|s| has_condition(&s.conditions, "Ready", "False", "DomainNotAllowed"))
    })
    .await;
    assert_eq!(env.bindings("ivan").await, BTreeMap::new());
}

#[tokio::test]
async fn odd_group_names() {
    let env = Env::start("oddnames", Some(DirectorySpec::default())).await;
    env.group("g-amp", "ws-Sales & Marketing-role-admin").await;
    env.group("g-caps", "WS-sales-ROLE-Admin").await;
    env.group("g-plain", "ws-Sales-role-member").await;
    env.user("pat", &["g-amp"], &[]).await;
    env.user("quinn", &["g-caps"], &[]).await;
    env.user("rita", &["g-plain"], &[]).await;

    let amp: Group = env
        .expect("g-amp", "parsed", |g: &Group| {
            g.status.as_ref().is_some_and(|s| s.workspace.is_some())
        })
        .await;
    let ws_name = amp.status.unwrap().workspace.unwrap();
    assert!(ws_name.starts_with("sales-marketing"), "{ws_name}");
    let ws: Workspace = env
        .expect(&ws_name, "one admin", |ws: &Workspace| counts(ws).0 == 1)
        .await;
    assert_eq!(ws.spec.display_name, "Sales & Marketing");
    env.expect_bindings("pat", &[("org", Role::Member), (ws_name.as_str(), Role::Admin)])
        .await;

    // `WS-sales-ROLE-Admin` and `ws-Sales-role-member` feed the same workspace.
    env.expect("sales", "admin and member", |ws: &Workspace| counts(ws) == (1, 0, 1, 0))
        .await;
    env.expect_bindings("quinn", &[("org", Role::Member), ("sales", Role::Admin)])
        .await;
    env.expect_bindings("rita", &[("org", Role::Member), ("sales", Role::Member)])
        .await;
}

#[tokio::test]
async fn two_groups_claiming_one_role_are_a_conflict() {
    let env = Env::start("claims", Some(DirectorySpec::default())).await;
    env.group("g1", "ws-Sales-role-admin").await;
    env.group("g2", "WS-sales-ROLE-Admin").await;
    env.user("yuri", &["g2"], &[]).await;
    env.expect_bindings("yuri", &[("org", Role::Member), ("sales", Role::Admin)])
        .await;
    let ws: Workspace = env
        .expect("sales", "a group conflict", |ws: &Workspace| counts(ws).3 == 1)
        .await;
    let detail = &ws.status.unwrap().conflict_details[0];
    assert_eq!(detail.user_name, None);
    assert_eq!(detail.groups, vec!["WS-sales-ROLE-Admin", "ws-Sales-role-admin"]);
    for (id, rival) in [("g1", "WS-sales-ROLE-Admin"), ("g2", "ws-Sales-role-admin")] {
        let group: Group = env
            .expect(id, "Conflict condition", |g: &Group| {
                g.status
                    .as_ref()
                    .is_some_and(|s| has_condition(&s.conditions, "Conflict", "True", "MultipleRoleGroups"))
            })
            .await;
        let status = group.status.unwrap();
        let message = &condition(&status.conditions, "Conflict").unwrap().message;
        assert!(message.contains(rival), "{message}");
    }
}

/// Issue 11.3, SPEC §3.8: a namespace without an active Directory (deleted, or being deleted)
/// gets no bindings at all — it is never planned with the defaults, which would have granted
/// mallory@evil.test the owner role that `allowedDomains` withheld. Custom and native bindings
/// are withdrawn, the Users say why, an Event says it once; the Directory's return restores its
/// own settings (here `Deny`, not the default `LeastPrivilege`).
#[tokio::test]
async fn a_missing_directory_withdraws_every_binding() {
    let prefix = format!("m{:06x}-", rand::random::<u32>() & 0xff_ffff);
    let spec = DirectorySpec {
        allowed_domains: vec!["example.com".into()],
        conflict_policy: ConflictPolicy::Deny,
        native_rbac: Some(NativeRbac {
            namespace_prefix: prefix.clone(),
            username_prefix: String::new(),
            cluster_roles: Default::default(),
        }),
        ..Default::default()
    };
    let env = Env::start("nodir", Some(spec.clone())).await;
    sales_groups(&env).await;
    env.user("alice", &["g-admin"], &[]).await;
    env.user("dave", &["g-admin", "g-member"], &[]).await;
    let mallory = UserSpec {
        user_name: "mallory@evil.test".into(),
        active: Some(true),
        roles: vec![MultiValue {
            value: Some("owner".into()),
            ..Default::default()
        }],
        groups: vec!["g-admin".into()],
        ..Default::default()
    };
    create(&env.client, &env.ns, User::new("mallory", mallory)).await;
    let native = Api::<RbacBinding>::namespaced(env.client.clone(), &format!("{prefix}sales"));
    bound_under_directory(&env, &native).await;

    // Deleted: every user is re-planned, and none is bound.
    env.delete::<Directory>("entra").await;
    withdrawn(&env, &native).await;
    let events = env.api::<Event>();
    let reported = eventually(|| async {
        let list = events.list(&ListParams::default()).await.expect("events");
        list.items
            .iter()
            .any(|e| e.reason.as_deref() == Some("DirectoryMissing"))
    })
    .await;
    assert!(reported, "no DirectoryMissing event");

    // Back: bindings recomputed under its own settings.
    create(&env.client, &env.ns, Directory::new("entra", spec)).await;
    bound_under_directory(&env, &native).await;

    // Being deleted (a finalizer holds it): no longer in charge, the same as gone.
    let hold = json!({ "metadata": { "finalizers": ["scim-operator.io/test-hold"] } });
    let directories = env.api::<Directory>();
    let params = kube::api::PatchParams::default();
    directories
        .patch("entra", &params, &kube::api::Patch::Merge(hold))
        .await
        .expect("hold the directory");
    env.delete::<Directory>("entra").await;
    withdrawn(&env, &native).await;
    let held: Directory = env
        .expect("entra", "Ready False, Deleting", |d: &Directory| {
            d.status
                .as_ref()
                .is_some_and(|s| has_condition(&s.conditions, "Ready", "False", "Deleting"))
        })
        .await;
    assert!(held.metadata.deletion_timestamp.is_some());
    let release = json!({ "metadata": { "finalizers": null } });
    directories
        .patch("entra", &params, &kube::api::Patch::Merge(release))
        .await
        .expect("release the directory");
    env.expect_gone::<Directory>("entra").await;
}

/// The bindings of [`a_missing_directory_withdraws_every_binding`] under its Directory: alice
/// bound, dave denied in sales (`Deny`), mallory outside the allowed domains.
async fn bound_under_directory(env: &Env, native: &Api<RbacBinding>) {
    env.expect_bindings("alice", &[("org", Role::Member), ("sales", Role::Admin)])
        .await;
    env.expect_bindings("dave", &[("org", Role::Member)]).await;
    user_reason(env, "mallory", "DomainNotAllowed").await;
    assert_eq!(env.bindings("mallory").await, BTreeMap::new());
    let bound = poll(|| native_bindings(native), |n| n == &["scim-alice-admin"]).await;
    assert!(bound.is_ok(), "native bindings: {bound:?}");
}

/// Waits until every user of [`a_missing_directory_withdraws_every_binding`] says
/// `DirectoryMissing` (written after its bindings), then checks that none has any binding.
async fn withdrawn(env: &Env, native: &Api<RbacBinding>) {
    for user in ["alice", "dave", "mallory"] {
        user_reason(env, user, "DirectoryMissing").await;
        assert_eq!(env.bindings(user).await, BTreeMap::new(), "bindings of {user}");
    }
    let gone = poll(|| native_bindings(native), Vec::is_empty).await;
    assert!(gone.is_ok(), "native bindings left: {gone:?}");
}

/// Waits until the user's Ready condition is False with `reason`.
async fn user_reason(env: &Env, user: &str, reason: &str) {
    env.expect(user, reason, |u: &User| {
        u.status
            .as_ref()
            .is_some_and(|s| has_condition(&s.conditions, "Ready", "False", reason))
    })
    .await;
}
