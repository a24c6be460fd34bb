//! One namespace's plan, beyond each user's own bindings: the Workspaces its groups feed, each
//! one's status numbers from every user's plan, and each group's rivals (the groups claiming the
//! same workspace and role). The controller's namespace pass fetches, calls this, and applies.

use std::collections::BTreeMap;

use super::groups::GroupIndex;
use super::plan::{PlanSettings, UserInput, plan_user};
use super::workspace::{PlannedWorkspace, WorkspaceSummary, plan_workspaces, workspace_summaries};

/// What one namespace's pass writes for its Workspaces and Groups.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NamespacePlan {
    /// The Workspaces the groups feed, by object name.
    pub workspaces: BTreeMap<String, PlannedWorkspace>,
    /// The status numbers of each planned workspace (and of any other a user is bound in).
    pub summaries: BTreeMap<String, WorkspaceSummary>,
    /// By group display name: the display names of the other groups claiming the same workspace
    /// and role.
    pub rivals: BTreeMap<String, Vec<String>>,
}

impl NamespacePlan {
    /// The status numbers of workspace `name` (empty when nothing is bound in it).
    pub fn summary(&self, name: &str) -> WorkspaceSummary {
        self.summaries.get(name).cloned().unwrap_or_default()
    }

    /// Conflicts over the planned workspaces, for the Directory status and the metric.
    pub fn conflicts(&self) -> u32 {
        self.workspaces.keys().map(|name| self.summary(name).conflicts).sum()
    }

    /// Conflicts per planned workspace, by object name, for the per-Workspace metric.
    pub fn conflicts_per_workspace(&self) -> BTreeMap<String, u32> {
        self.workspaces
            .keys()
            .map(|name| (name.clone(), self.summary(name).conflicts))
            .collect()
    }

    /// The rivals of the group with this display name.
    pub fn rivals(&self, display_name: &str) -> &[String] {
        self.rivals.get(display_name).map(Vec::as_slice).unwrap_or_default()
    }
}

/// Plans a namespace from its groups and its users, with the settings of its active
/// Directory (`None`: no active Directory). Each user's plan is the same pure function the user
/// reconcile applies; plans are tallied as they are made, so memory is O(workspaces), not O(users).
pub fn plan_namespace<'a>(
    groups: &GroupIndex,
    users: impl IntoIterator<Item = UserInput<'a>>,
    settings: Option<&PlanSettings>,
) -> NamespacePlan {
    let workspaces = plan_workspaces(groups.iter());
    let plans = users
        .into_iter()
        .map(|user| plan_user(&user, |g| groups.get(g), settings));
    let summaries = workspace_summaries(&workspaces, plans);
    let mut rivals: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for conflict in workspaces.values().flat_map(|ws| &ws.group_conflicts) {
        for name in &conflict.groups {
            let others = conflict.groups.iter().filter(|g| *g != name).cloned();
            rivals.entry(name.clone()).or_default().extend(others);
        }
    }
    NamespacePlan {
        workspaces,
        summaries,
        rivals,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{GroupSpec, UserSpec};

    fn index(groups: &[(&str, &str)]) -> GroupIndex {
        let specs: Vec<(&str, GroupSpec)> = groups
            .iter()
            .map(|(id, name)| {
                (
                    *id,
                    GroupSpec {
                        display_name: name.to_string(),
                        external_id: None,
                    },
                )
            })
            .collect();
        GroupIndex::new(specs.iter().map(|(id, spec)| (*id, spec)))
    }

    fn user(name: &str, groups: &[&str]) -> UserSpec {
        UserSpec {
            user_name: name.into(),
            active: Some(true),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..UserSpec::default()
        }
    }

    #[test]
    fn tallies_users_per_workspace_and_counts_group_and_user_conflicts() {
        let groups = index(&[
            ("g1", "ws-Sales-role-admin"),
            ("g2", "ws-sales-role-admin"),
            ("g3", "ws-Sales-role-member"),
            ("g4", "ws-Ops-role-manager"),
            ("g5", "Everyone"),
        ]);
        let users = [
            ("u1", user("alice", &["g1"])),
            ("u2", user("bob", &["g3", "g4"])),
            ("u3", user("carol", &["g1", "g3"])),
            ("u4", user("dan", &["g5"])),
        ];
        let plan = plan_namespace(
            &groups,
            users.iter().map(|(id, spec)| UserInput::from_spec(id, spec)),
            Some(&PlanSettings::default()),
        );
        let names: Vec<&str> = plan.workspaces.keys().map(String::as_str).collect();
        assert_eq!(names, ["ops", "sales"], "the plain group feeds nothing");
        let sales = plan.summary("sales");
        // carol is in an admin and a member group: the default policy (least privilege) binds her
        // as member.
        assert_eq!((sales.admins, sales.managers, sales.members), (1, 0, 2));
        // Two groups claim admin of Sales; carol is in two role groups of it.
        assert_eq!(sales.conflicts, 2);
        let ops = plan.summary("ops");
        assert_eq!((ops.managers, ops.conflicts), (1, 0));
        assert_eq!(plan.conflicts(), 2);
        assert_eq!(plan.rivals("ws-Sales-role-admin"), ["ws-sales-role-admin"]);
        assert_eq!(plan.rivals("ws-sales-role-admin"), ["ws-Sales-role-admin"]);
        assert!(plan.rivals("ws-Sales-role-member").is_empty());
        assert_eq!(plan.summary("nowhere"), WorkspaceSummary::default());
    }

    #[test]
    fn without_a_directory_workspaces_are_planned_but_nobody_is_bound() {
        let groups = index(&[("g1", "ws-Sales-role-admin")]);
        let alice = user("alice", &["g1"]);
        let plan = plan_namespace(&groups, [UserInput::from_spec("u1", &alice)], None);
        assert!(plan.workspaces.contains_key("sales"));
        assert_eq!(plan.summary("sales"), WorkspaceSummary::default());
        assert_eq!(plan.conflicts(), 0);
    }
}
