//! Lifecycle: suspension, deletions, orphaned workspaces, renames.

use kube::ResourceExt;
use scim_operator::api::*;
use serde_json::json;

use super::env::*;

#[tokio::test]
async fn disable_and_enable() {
    let env = Env::start("suspend", Some(DirectorySpec::default())).await;
    sales_groups(&env).await;
    env.user("heidi", &["g-manager"], &[]).await;
    env.expect_bindings("heidi", &[("org", Role::Member), ("sales", Role::Manager)])
        .await;

    env.patch_user("heidi", json!({ "active": false })).await;
    env.expect_bindings("heidi", &[]).await;
    env.expect("heidi", "Suspended", |u: &User| {
        u.status
            .as_ref()
            .is_some_and(|s| s.org_role.is_none() && has_condition(&s.conditions, "Ready", "True", "Suspended"))
    })
    .await;
    env.expect("sales", "no managers", |ws: &Workspace| counts(ws).1 == 0)
        .await;

    env.patch_user("heidi", json!({ "active": true })).await;
    env.expect_bindings("heidi", &[("org", Role::Member), ("sales", Role::Manager)])
        .await;
}

#[tokio::test]
async fn deleting_a_user_deletes_its_bindings() {
    let env = Env::start("deluser", Some(DirectorySpec::default())).await;
    sales_groups(&env).await;
    env.user("judy", &["g-admin"], &[]).await;
    env.expect_bindings("judy", &[("org", Role::Member), ("sales", Role::Admin)])
        .await;
    env.delete::<User>("judy").await;
    env.expect_bindings("judy", &[]).await;
    env.expect("sales", "no admins", |ws: &Workspace| counts(ws).0 == 0)
        .await;
}

#[tokio::test]
async fn deleting_a_group_deletes_its_bindings() {
    let env = Env::start("delgroup", Some(DirectorySpec::default())).await;
    sales_groups(&env).await;
    env.user("ken", &["g-admin"], &[]).await;
    env.user("lena", &["g-member"], &[]).await;
    env.expect_bindings("ken", &[("org", Role::Member), ("sales", Role::Admin)])
        .await;
    env.delete::<Group>("g-admin").await;
    env.expect_bindings("ken", &[("org", Role::Member)]).await;
    env.expect_bindings("lena", &[("org", Role::Member), ("sales", Role::Member)])
        .await;
    env.expect("sales", "two groups left", |ws: &Workspace| ws.spec.groups.len() == 2)
        .await;
}

#[tokio::test]
async fn last_group_deleted_under_retain_orphans_the_workspace() {
    let env = Env::start("retain", Some(DirectorySpec::default())).await;
    env.group("g-eu", "ws-Sales-EU-role-member").await;
    env.user("mia", &["g-eu"], &[]).await;
    env.expect_bindings("mia", &[("org", Role::Member), ("sales-eu", Role::Member)])
        .await;
    env.delete::<Group>("g-eu").await;
    let ws: Workspace = env
        .expect("sales-eu", "orphaned", |ws: &Workspace| {
            ws.status.as_ref().is_some_and(|s| s.orphaned)
        })
        .await;
    assert!(has_condition(
        &ws.status.unwrap().conditions,
        "Ready",
        "False",
        "Orphaned"
    ));
    assert_eq!(ws.spec.display_name, "Sales-EU");
    assert!(ws.spec.groups.is_empty());
    env.expect_bindings("mia", &[("org", Role::Member)]).await;
}

#[tokio::test]
async fn last_group_deleted_under_delete_removes_the_workspace() {
    let spec = DirectorySpec {
        workspace_deletion_policy: WorkspaceDeletionPolicy::Delete,
        ..Default::default()
    };
    let env = Env::start("wsdelete", Some(spec)).await;
    env.group("g-eu", "ws-Sales-EU-role-member").await;
    env.user("nina", &["g-eu"], &[]).await;
    env.expect("sales-eu", "created", |_: &Workspace| true).await;
    env.delete::<Group>("g-eu").await;
    env.expect_gone::<Workspace>("sales-eu").await;
    env.expect_bindings("nina", &[("org", Role::Member)]).await;
}

#[tokio::test]
async fn renaming_a_group_to_plain_and_back() {
    let env = Env::start("rename", Some(DirectorySpec::default())).await;
    env.group("g1", "ws-Sales-role-admin").await;
    env.user("oscar", &["g1"], &[]).await;
    env.expect_bindings("oscar", &[("org", Role::Member), ("sales", Role::Admin)])
        .await;

    env.rename_group("g1", "Sales Admins").await;
    env.expect_bindings("oscar", &[("org", Role::Member)]).await;
    env.expect("g1", "PlainGroup", |g: &Group| {
        g.status.as_ref().is_some_and(|s| {
            s.workspace.is_none() && s.member_count == 1 && has_condition(&s.conditions, "Ready", "True", "PlainGroup")
        })
    })
    .await;

    env.rename_group("g1", "ws-Sales-role-admin").await;
    env.expect_bindings("oscar", &[("org", Role::Member), ("sales", Role::Admin)])
        .await;
}

/// A hand edit that server-side apply cannot take back (a field or label our manager never set)
/// is restated once with a merge patch, and then the binding stays quiet: every write bumps a
/// RoleBinding's generation, so an endless apply would show as a growing generation.
#[tokio::test]
async fn hand_edited_binding_is_restated_once() {
    let env = Env::start("handedit", Some(DirectorySpec::default())).await;
    env.user("olga", &[], &[]).await;
    env.expect_bindings("olga", &[("org", Role::Member)]).await;
    let api = env.api::<RoleBinding>();
    let list = api
        .list(&kube::api::ListParams::default().labels(&format!("{}=olga", labels::USER)))
        .await
        .expect("list bindings");
    let name = list.items[0].metadata.name.clone().expect("name");

    let edit = json!({
        "metadata": { "labels": { labels::WORKSPACE: "sales" } },
        "spec": { "workspace": "sales" },
    });
    let params = kube::api::PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..Default::default()
    };
    api.patch(&name, &params, &kube::api::Patch::Merge(edit))
        .await
        .expect("edit the binding");
    let restored: RoleBinding = env
        .expect(&name, "restated", |rb: &RoleBinding| {
            rb.spec.workspace.is_none()
                && !rb.labels().contains_key(labels::WORKSPACE)
                && rb.status.as_ref().and_then(|s| s.observed_generation) == rb.metadata.generation
        })
        .await;
    assert_eq!(
        env.metrics.writes_of("RoleBinding", "patch"),
        1,
        "{:?}",
        env.metrics.write_counts()
    );

    // Another reconcile of the user finds nothing to write.
    let reconciled = env.metrics.reconciles_of("User");
    env.patch_user("olga", json!({ "displayName": "Olga" })).await;
    let replanned = eventually(|| async { env.metrics.reconciles_of("User") > reconciled }).await;
    assert!(replanned, "olga was not reconciled again");
    let now = api.get(&name).await.expect("get binding");
    assert_eq!(now.metadata.generation, restored.metadata.generation, "{now:#?}");
    assert_eq!(env.metrics.writes_of("RoleBinding", "patch"), 1);
}
