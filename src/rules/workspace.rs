//! Workspaces: which groups feed each, its display name, group-level conflicts, and the status
//! summary of the users bound in it.
//!
//! The display name is `{group}` as spelled by the group with the smallest id (object name): ids
//! are stable for a group's life, so the spelling changes only when that group is renamed or
//! deleted, never with the order groups arrive in.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use crate::api::{Role, WorkspaceConflict, WorkspaceGroup, WorkspaceSpec};

use super::group_name::GroupKind;
use super::groups::GroupInfo;
use super::names::workspace_key;
use super::plan::{UserPlan, WorkspaceBinding};

/// The most conflicts listed in a Workspace status; the count is always complete.
pub const MAX_CONFLICT_DETAILS: usize = 50;

/// A Workspace to write, with what its status needs from the groups alone.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedWorkspace {
    pub spec: WorkspaceSpec,
    /// One per role claimed by two or more groups (`user_name` unset, `applied_role` that role),
    /// sorted.
    pub group_conflicts: Vec<WorkspaceConflict>,
    /// The distinct `{group}` keys sharing this object name, sorted. More than one only on a hash
    /// collision of two lossy names (see [`super::names`]); report it, never expected.
    pub keys: Vec<String>,
}

impl PlannedWorkspace {
    /// Whether two different workspaces hashed to this object name.
    pub fn name_collision(&self) -> bool {
        self.keys.len() > 1
    }
}

/// The workspaces fed by `groups` (id, parsed group), by object name. Plain groups are skipped.
pub fn plan_workspaces<'a>(
    groups: impl IntoIterator<Item = (&'a str, &'a GroupInfo)>,
) -> BTreeMap<String, PlannedWorkspace> {
    // Object name → (display-name candidate as (id, {group}), keys, role groups).
    struct Acc<'a> {
        display: (&'a str, &'a str),
        keys: BTreeSet<String>,
        groups: Vec<WorkspaceGroup>,
    }
    let mut acc: BTreeMap<&str, Acc> = BTreeMap::new();
    for (id, info) in groups {
        let (GroupKind::Workspace { group, role }, Some(name)) = (&info.kind, &info.workspace_name) else {
            continue;
        };
        let entry = acc.entry(name).or_insert_with(|| Acc {
            display: (id, group),
            keys: BTreeSet::new(),
            groups: Vec::new(),
        });
        entry.display = entry.display.min((id, group));
        entry.keys.insert(workspace_key(group));
        entry.groups.push(WorkspaceGroup {
            role: *role,
            group: id.to_string(),
            display_name: info.display_name.clone(),
        });
    }
    acc.into_iter()
        .map(|(name, mut ws)| {
            // By role, then group id: the order the spec documents.
            ws.groups.sort();
            ws.groups.dedup();
            let group_conflicts = group_conflicts(&ws.groups);
            let planned = PlannedWorkspace {
                spec: WorkspaceSpec {
                    display_name: ws.display.1.to_string(),
                    groups: ws.groups,
                },
                group_conflicts,
                keys: ws.keys.into_iter().collect(),
            };
            (name.to_string(), planned)
        })
        .collect()
}

/// Roles claimed by two or more groups, from groups sorted by role.
fn group_conflicts(groups: &[WorkspaceGroup]) -> Vec<WorkspaceConflict> {
    groups
        .chunk_by(|a, b| a.role == b.role)
        .filter(|same_role| same_role.len() > 1)
        .map(|same_role| {
            let mut names: Vec<String> = same_role.iter().map(|g| g.display_name.clone()).collect();
            names.sort();
            WorkspaceConflict {
                user_name: None,
                groups: names,
                applied_role: Some(same_role[0].role),
            }
        })
        .collect()
}

/// The status numbers of one workspace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkspaceSummary {
    /// Users bound as admin (resp. manager, member); users left unbound by Deny count in none.
    pub admins: u32,
    pub managers: u32,
    pub members: u32,
    /// User conflicts plus roles claimed by several groups.
    pub conflicts: u32,
    /// The first [`MAX_CONFLICT_DETAILS`] conflicts, sorted: group conflicts (no userName) first,
    /// then by userName.
    pub conflict_details: Vec<WorkspaceConflict>,
}

/// Accumulates a [`WorkspaceSummary`] over the users of a workspace in any order, keeping only the
/// first [`MAX_CONFLICT_DETAILS`] conflicts in memory.
#[derive(Clone, Debug, Default)]
pub struct WorkspaceTally {
    summary: WorkspaceSummary,
    // Max-heap: the greatest of the kept details is dropped first when over the bound.
    details: BinaryHeap<WorkspaceConflict>,
}

impl WorkspaceTally {
    /// An empty tally.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the conflicts found among the groups ([`PlannedWorkspace::group_conflicts`]).
    pub fn add_group_conflicts(&mut self, conflicts: &[WorkspaceConflict]) {
        for conflict in conflicts {
            self.add_conflict(conflict.clone());
        }
    }

    /// Adds one user's binding in this workspace.
    pub fn add_user(&mut self, user_name: &str, binding: &WorkspaceBinding) {
        let count = match binding.role {
            // Owner is never a workspace role; counted with admins rather than lost.
            Some(Role::Admin | Role::Owner) => Some(&mut self.summary.admins),
            Some(Role::Manager) => Some(&mut self.summary.managers),
            Some(Role::Member) => Some(&mut self.summary.members),
            None => None,
        };
        if let Some(count) = count {
            *count += 1;
        }
        if let Some(conflict) = binding.workspace_conflict(user_name) {
            self.add_conflict(conflict);
        }
    }

    fn add_conflict(&mut self, conflict: WorkspaceConflict) {
        self.summary.conflicts += 1;
        self.details.push(conflict);
        if self.details.len() > MAX_CONFLICT_DETAILS {
            self.details.pop();
        }
    }

    /// The summary, details sorted.
    pub fn finish(mut self) -> WorkspaceSummary {
        self.summary.conflict_details = self.details.into_sorted_vec();
        self.summary
    }
}

/// The summary of a workspace from its group conflicts and its users' bindings in it.
pub fn workspace_summary<'a>(
    group_conflicts: &[WorkspaceConflict],
    users: impl IntoIterator<Item = (&'a str, &'a WorkspaceBinding)>,
) -> WorkspaceSummary {
    let mut tally = WorkspaceTally::new();
    tally.add_group_conflicts(group_conflicts);
    for (user_name, binding) in users {
        tally.add_user(user_name, binding);
    }
    tally.finish()
}

/// The summaries of all workspaces in one pass over every user's plan: each planned workspace
/// (with its group conflicts, even when no user is in it) and any workspace a user is bound in.
pub fn workspace_summaries(
    planned: &BTreeMap<String, PlannedWorkspace>,
    users: impl IntoIterator<Item = impl Borrow<UserPlan>>,
) -> BTreeMap<String, WorkspaceSummary> {
    let mut tallies: BTreeMap<String, WorkspaceTally> = planned
        .iter()
        .map(|(name, ws)| {
            let mut tally = WorkspaceTally::new();
            tally.add_group_conflicts(&ws.group_conflicts);
            (name.clone(), tally)
        })
        .collect();
    for user in users {
        let user = user.borrow();
        for binding in &user.workspaces {
            // Owned keys (plans may be dropped as they are tallied); a name is copied only for a
            // workspace no group plans.
            let tally = match tallies.get_mut(&binding.workspace) {
                Some(tally) => tally,
                None => tallies.entry(binding.workspace.clone()).or_default(),
            };
            tally.add_user(&user.user_name, binding);
        }
    }
    tallies
        .into_iter()
        .map(|(name, tally)| (name, tally.finish()))
        .collect()
}

#[cfg(test)]
mod tests;
