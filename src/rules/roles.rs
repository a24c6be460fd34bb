//! Roles: the organisation role from `roles` values, workspace role names, and the resolution of
//! a user in several role groups of one workspace.

use crate::api::{ConflictPolicy, OrgRoleNames, Role};

/// The organisation role from a user's `roles` values: `owner` > `admin` > `member` (names from
/// `names`, compared case-insensitively after trimming); the highest present wins; any other value
/// (`group` included) or none gives [`Role::Member`].
pub fn org_role<'a>(role_values: impl IntoIterator<Item = &'a str>, names: &OrgRoleNames) -> Role {
    let mut best = Role::Member;
    for value in role_values {
        let value = value.trim();
        // Checked from the top so that overlapping configured names resolve to the higher role.
        let role = if eq_ci(value, &names.owner) {
            Role::Owner
        } else if eq_ci(value, &names.admin) {
            Role::Admin
        } else {
            Role::Member
        };
        best = best.max(role);
    }
    best
}

/// Unicode case-insensitive equality by per-character lowercase mapping, without allocating.
fn eq_ci(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.trim().chars().flat_map(char::to_lowercase))
}

/// A workspace role name (`admin`, `manager`, `member`, ASCII case-insensitive).
pub fn workspace_role(value: &str) -> Option<Role> {
    [Role::Admin, Role::Manager, Role::Member]
        .into_iter()
        .find(|role| value.eq_ignore_ascii_case(role.as_str()))
}

/// The role bound for a user whose role groups in one workspace claim `roles` (one entry per
/// distinct group). Two or more groups are a conflict, resolved by `policy`: the lowest role, the
/// highest, or none under [`ConflictPolicy::Deny`]. No groups bind nothing.
pub fn resolve(policy: ConflictPolicy, roles: &[Role]) -> Option<Role> {
    match roles {
        [] => None,
        [only] => Some(*only),
        _ => match policy {
            ConflictPolicy::LeastPrivilege => roles.iter().min().copied(),
            ConflictPolicy::HighestPrivilege => roles.iter().max().copied(),
            ConflictPolicy::Deny => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn role_of(values: &[&str]) -> Role {
        org_role(values.iter().copied(), &OrgRoleNames::default())
    }

    #[test]
    fn highest_org_role_wins() {
        assert_eq!(role_of(&["admin", "member"]), Role::Admin);
        assert_eq!(role_of(&["member", "owner", "admin"]), Role::Owner);
        assert_eq!(role_of(&["member"]), Role::Member);
    }

    #[test]
    fn org_role_is_case_insensitive() {
        assert_eq!(role_of(&["Admin"]), Role::Admin);
        assert_eq!(role_of(&["OWNER"]), Role::Owner);
        assert_eq!(role_of(&[" owner "]), Role::Owner);
    }

    #[test]
    fn unknown_group_or_no_role_is_member() {
        assert_eq!(role_of(&["superuser"]), Role::Member);
        assert_eq!(role_of(&["group"]), Role::Member);
        assert_eq!(role_of(&["group", "admin"]), Role::Admin);
        assert_eq!(role_of(&[]), Role::Member);
        assert_eq!(role_of(&[""]), Role::Member);
        // A workspace role name is not an organisation role.
        assert_eq!(role_of(&["manager"]), Role::Member);
    }

    #[test]
    fn configured_names_are_used() {
        let names = OrgRoleNames {
            owner: "Org.Owner".into(),
            admin: "Org.Admin".into(),
            member: "Org.Member".into(),
        };
        assert_eq!(org_role(["org.admin"], &names), Role::Admin);
        assert_eq!(org_role(["ORG.OWNER"], &names), Role::Owner);
        assert_eq!(org_role(["admin"], &names), Role::Member);
        let unicode = OrgRoleNames {
            owner: "Propriétaire".into(),
            ..OrgRoleNames::default()
        };
        assert_eq!(org_role(["PROPRIÉTAIRE"], &unicode), Role::Owner);
    }

    #[test]
    fn workspace_roles() {
        assert_eq!(workspace_role("Admin"), Some(Role::Admin));
        assert_eq!(workspace_role("MANAGER"), Some(Role::Manager));
        assert_eq!(workspace_role("member"), Some(Role::Member));
        assert_eq!(workspace_role("owner"), None);
        assert_eq!(workspace_role(""), None);
    }

    #[test]
    fn resolution_by_policy() {
        let both = [Role::Admin, Role::Member];
        assert_eq!(resolve(ConflictPolicy::LeastPrivilege, &both), Some(Role::Member));
        assert_eq!(resolve(ConflictPolicy::HighestPrivilege, &both), Some(Role::Admin));
        assert_eq!(resolve(ConflictPolicy::Deny, &both), None);
        // Two groups with the same role are still two groups: Deny binds nothing.
        assert_eq!(resolve(ConflictPolicy::Deny, &[Role::Admin, Role::Admin]), None);
        assert_eq!(resolve(ConflictPolicy::Deny, &[Role::Manager]), Some(Role::Manager));
        assert_eq!(resolve(ConflictPolicy::LeastPrivilege, &[]), None);
    }

    fn workspace_roles_strategy() -> impl Strategy<Value = Vec<Role>> {
        proptest::collection::vec(
            prop_oneof![Just(Role::Admin), Just(Role::Manager), Just(Role::Member)],
            0..5,
        )
    }

    proptest! {
        #[test]
        fn least_privilege_never_exceeds_highest(roles in workspace_roles_strategy()) {
            let least = resolve(ConflictPolicy::LeastPrivilege, &roles);
            let highest = resolve(ConflictPolicy::HighestPrivilege, &roles);
            prop_assert!(least <= highest);
            prop_assert_eq!(least.is_some(), !roles.is_empty());
            if let Some(least) = least {
                prop_assert!(roles.contains(&least));
            }
            let deny = resolve(ConflictPolicy::Deny, &roles);
            prop_assert_eq!(deny.is_some(), roles.len() == 1);
        }
    }
}
