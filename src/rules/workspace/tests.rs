use super::*;

fn infos(groups: &[(&'static str, &str)]) -> Vec<(&'static str, GroupInfo)> {
    groups.iter().map(|(id, name)| (*id, GroupInfo::new(name))).collect()
}

fn plan(groups: &[(&'static str, &str)]) -> BTreeMap<String, PlannedWorkspace> {
    let infos = infos(groups);
    plan_workspaces(infos.iter().map(|(id, info)| (*id, info)))
}

fn group(role: Role, id: &str, display_name: &str) -> WorkspaceGroup {
    WorkspaceGroup {
        role,
        group: id.into(),
        display_name: display_name.into(),
    }
}

#[test]
fn sales_groups_feed_one_workspace() {
    let planned = plan(&[
        ("g3", "ws-Sales-role-member"),
        ("g1", "ws-Sales-role-admin"),
        ("g2", "ws-Sales-role-manager"),
        ("g4", "Everyone"),
        ("g5", "ws-Sales-EU-role-admin"),
    ]);
    let names: Vec<_> = planned.keys().map(String::as_str).collect();
    assert_eq!(names, ["sales", "sales-eu"]);
    let sales = &planned["sales"];
    assert_eq!(sales.spec.display_name, "Sales");
    assert_eq!(
        sales.spec.groups,
        [
            group(Role::Member, "g3", "ws-Sales-role-member"),
            group(Role::Manager, "g2", "ws-Sales-role-manager"),
            group(Role::Admin, "g1", "ws-Sales-role-admin"),
        ]
    );
    assert!(sales.group_conflicts.is_empty());
    assert!(!sales.name_collision());
    assert_eq!(planned["sales-eu"].spec.display_name, "Sales-EU");
}

#[test]
fn display_name_is_the_spelling_of_the_smallest_group_id() {
    let planned = plan(&[("g2", "ws-SALES-role-member"), ("g1", "ws-sales-role-admin")]);
    assert_eq!(planned["sales"].spec.display_name, "sales");
    // Input order does not matter.
    let planned = plan(&[("g1", "ws-sales-role-admin"), ("g2", "ws-SALES-role-member")]);
    assert_eq!(planned["sales"].spec.display_name, "sales");
}

#[test]
fn two_groups_claiming_one_role_are_a_group_conflict() {
    let planned = plan(&[
        ("g1", "ws-Sales-role-admin"),
        ("g2", "WS-sales-ROLE-Admin"),
        ("g3", "ws-Sales-role-member"),
    ]);
    let sales = &planned["sales"];
    assert_eq!(
        sales.group_conflicts,
        [WorkspaceConflict {
            user_name: None,
            groups: vec!["WS-sales-ROLE-Admin".into(), "ws-Sales-role-admin".into()],
            applied_role: Some(Role::Admin),
        }]
    );
    assert_eq!(sales.spec.groups.len(), 3);
}

#[test]
fn odd_names_get_valid_object_names() {
    let planned = plan(&[
        ("g1", "ws-Sales & Marketing-role-admin"),
        ("g2", "ws-Ventes-Équipe-role-member"),
        ("g3", "ws--role-admin"),
        ("g4", "ws-A-role-owner"),
    ]);
    assert_eq!(planned.len(), 2, "{:?}", planned.keys());
    for (name, ws) in &planned {
        assert!(crate::rules::is_dns1123_label(name), "{name}");
        assert_eq!(ws.spec.groups.len(), 1);
    }
    let displays: BTreeSet<_> = planned.values().map(|w| w.spec.display_name.as_str()).collect();
    assert_eq!(displays, BTreeSet::from(["Sales & Marketing", "Ventes-Équipe"]));
}

#[test]
fn a_hash_collision_is_reported_not_silent() {
    // Forge two groups whose (computed) object names coincide, as a hash collision would.
    let mut infos = infos(&[("g1", "ws-A & B-role-admin"), ("g2", "ws-A + B-role-member")]);
    infos[1].1.workspace_name = infos[0].1.workspace_name.clone();
    let planned = plan_workspaces(infos.iter().map(|(id, info)| (*id, info)));
    let ws = planned.values().next().unwrap();
    assert!(ws.name_collision());
    assert_eq!(ws.keys, ["a & b", "a + b"]);
}

fn binding(role: Option<Role>, groups: &[&str]) -> WorkspaceBinding {
    WorkspaceBinding {
        workspace: "sales".into(),
        role,
        source_groups: groups.iter().map(|g| g.to_string()).collect(),
        conflict: groups.len() > 1,
    }
}

#[test]
fn summary_counts_roles_and_conflicts() {
    let admin = binding(Some(Role::Admin), &["ws-Sales-role-admin"]);
    let manager = binding(Some(Role::Manager), &["ws-Sales-role-manager"]);
    let member = binding(Some(Role::Member), &["ws-Sales-role-member"]);
    let least = binding(Some(Role::Member), &["ws-Sales-role-admin", "ws-Sales-role-member"]);
    let denied = binding(None, &["ws-Sales-role-admin", "ws-Sales-role-member"]);
    let group_conflict = WorkspaceConflict {
        user_name: None,
        groups: vec!["a".into(), "b".into()],
        applied_role: Some(Role::Admin),
    };
    let summary = workspace_summary(
        std::slice::from_ref(&group_conflict),
        [
            ("zoe", &denied),
            ("alice", &admin),
            ("bob", &manager),
            ("carol", &member),
            ("dave", &least),
        ],
    );
    assert_eq!((summary.admins, summary.managers, summary.members), (1, 1, 2));
    assert_eq!(summary.conflicts, 3);
    let users: Vec<_> = summary
        .conflict_details
        .iter()
        .map(|c| c.user_name.as_deref())
        .collect();
    assert_eq!(users, [None, Some("dave"), Some("zoe")]);
    assert_eq!(summary.conflict_details[2].applied_role, None);
    assert_eq!(summary.conflict_details[1].applied_role, Some(Role::Member));
}

#[test]
fn summary_details_are_bounded_and_sorted() {
    let conflicted = binding(Some(Role::Member), &["x", "y"]);
    let names: Vec<String> = (0..200).rev().map(|i| format!("user{i:03}")).collect();
    let summary = workspace_summary(&[], names.iter().map(|n| (n.as_str(), &conflicted)));
    assert_eq!(summary.conflicts, 200);
    assert_eq!(summary.members, 200);
    assert_eq!(summary.conflict_details.len(), MAX_CONFLICT_DETAILS);
    let kept: Vec<_> = summary
        .conflict_details
        .iter()
        .map(|c| c.user_name.clone().unwrap())
        .collect();
    let expected: Vec<_> = (0..MAX_CONFLICT_DETAILS).map(|i| format!("user{i:03}")).collect();
    assert_eq!(kept, expected);
}

#[test]
fn summaries_of_all_workspaces_in_one_pass() {
    use crate::rules::{UserState, plan::UserPlan};
    let planned = plan(&[
        ("g1", "ws-Sales-role-admin"),
        ("g2", "ws-sales-role-admin"),
        ("g3", "ws-Sales-role-member"),
        ("g4", "ws-Empty-role-member"),
    ]);
    let user = |name: &str, workspaces: Vec<WorkspaceBinding>| UserPlan {
        user: format!("id-{name}"),
        user_name: name.into(),
        state: UserState::Active,
        org_role: Some(Role::Member),
        workspaces,
        unknown_groups: 0,
    };
    let users = [
        user("alice", vec![binding(Some(Role::Admin), &["ws-Sales-role-admin"])]),
        user(
            "bob",
            vec![binding(
                Some(Role::Member),
                &["ws-Sales-role-admin", "ws-Sales-role-member"],
            )],
        ),
    ];
    let summaries = workspace_summaries(&planned, &users);
    let names: Vec<_> = summaries.keys().map(String::as_str).collect();
    assert_eq!(names, ["empty", "sales"]);
    assert_eq!(summaries["empty"], WorkspaceSummary::default());
    let sales = &summaries["sales"];
    assert_eq!((sales.admins, sales.members), (1, 1));
    // One group conflict (two admin groups) and bob's.
    assert_eq!(sales.conflicts, 2);
    assert_eq!(sales.conflict_details[0].user_name, None);
    assert_eq!(sales.conflict_details[1].user_name.as_deref(), Some("bob"));
}
