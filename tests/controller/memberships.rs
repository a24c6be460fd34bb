//! Memberships of deleted groups are purged (issue 11.4): ids are never reused, so an entry naming
//! a deleted group can never become valid, and the leader removes it.

use scim_operator::api::*;

use super::env::*;

#[tokio::test]
async fn memberships_of_deleted_groups_are_purged() {
    let env = Env::start("purge", Some(DirectorySpec::default())).await;
    sales_groups(&env).await;
    // One membership of a live group, one of a group deleted before this user was even written.
    env.user("mia", &["g-admin", "g9f00000000000000000000000000dead"], &[])
        .await;
    env.expect("mia", "the never-existing group dropped", |u: &User| {
        u.spec.groups == ["g-admin".to_string()]
    })
    .await;
    env.expect_bindings("mia", &[("org", Role::Member), ("sales", Role::Admin)])
        .await;

    env.delete::<Group>("g-admin").await;
    env.expect("mia", "the deleted group dropped", |u: &User| u.spec.groups.is_empty())
        .await;
    env.expect_bindings("mia", &[("org", Role::Member)]).await;
}
