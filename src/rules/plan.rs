//! The desired state of one user: its state, organisation binding and workspace bindings.
//!
//! Conflict, precisely: a user is in conflict in a workspace when it is a member of two or more
//! distinct role groups feeding that workspace — whatever their roles, as SPEC §3.4 says. So a user
//! in two groups claiming the same role (`ws-Sales-role-admin`, `ws-sales-role-admin`) is in
//! conflict too: it binds that role under LeastPrivilege and HighestPrivilege, nothing under Deny.
//! Only active users within the allowed domains have bindings or conflicts: a suspended user's
//! memberships are not reported, since nothing is bound from them.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::{
    ConflictPolicy, DirectorySpec, MultiValue, OrgRoleNames, Role, RoleBindingSpec, UserSpec, UserWorkspaceRole,
    WorkspaceConflict,
};

use super::domains::{AllowedDomains, DomainRejection};
use super::groups::GroupInfo;
use super::names::{org_binding_name, workspace_binding_name};
use super::roles::{org_role, resolve};
use crate::api::reason;

/// The directory settings the user rules depend on, normalised once per pass.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlanSettings {
    pub conflict_policy: ConflictPolicy,
    pub allowed_domains: AllowedDomains,
    pub org_roles: OrgRoleNames,
}

impl PlanSettings {
    /// The settings of a Directory.
    pub fn from_directory(spec: &DirectorySpec) -> Self {
        PlanSettings {
            conflict_policy: spec.conflict_policy,
            allowed_domains: AllowedDomains::new(spec.allowed_domains.iter().map(String::as_str)),
            org_roles: spec.org_roles.clone(),
        }
    }
}

/// A user as the rules see it: borrowed from the User spec, cheap to build for 50,000 users.
#[derive(Clone, Copy, Debug)]
pub struct UserInput<'a> {
    /// The User's object name (SCIM id).
    pub id: &'a str,
    pub user_name: &'a str,
    pub active: bool,
    pub emails: &'a [MultiValue],
    /// `roles`, already normalised to `value`s by the SCIM layer.
    pub roles: &'a [MultiValue],
    /// Ids of the Groups the user is a member of.
    pub groups: &'a [String],
}

impl<'a> UserInput<'a> {
    /// Borrows a User's spec.
    pub fn from_spec(id: &'a str, spec: &'a UserSpec) -> Self {
        UserInput {
            id,
            user_name: &spec.user_name,
            active: spec.is_active(),
            emails: &spec.emails,
            roles: &spec.roles,
            groups: &spec.groups,
        }
    }
}

/// Whether a user gets bindings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserState {
    /// Bound.
    Active,
    /// `active: false`: no bindings until reactivated. Takes precedence over the domain check.
    Suspended,
    /// Outside the directory's allowed domains: no bindings.
    DomainNotAllowed(DomainRejection),
    /// The namespace has no active Directory (none, or the one in charge is being deleted): no
    /// bindings, whatever the user's roles and groups (SPEC §3.8). Takes precedence over all.
    DirectoryMissing,
}

impl UserState {
    /// The condition reason (CamelCase).
    pub fn reason(&self) -> &'static str {
        match self {
            UserState::Active => reason::ACTIVE,
            UserState::Suspended => reason::SUSPENDED,
            UserState::DomainNotAllowed(_) => reason::DOMAIN_NOT_ALLOWED,
            UserState::DirectoryMissing => reason::DIRECTORY_MISSING,
        }
    }

    /// A human message for the condition.
    pub fn message(&self) -> String {
        match self {
            UserState::Active => "user is active and bound".into(),
            UserState::Suspended => "user is inactive (active: false); its bindings are removed".into(),
            UserState::DomainNotAllowed(why) => format!("{why}; the user gets no bindings"),
            UserState::DirectoryMissing => {
                "the namespace has no active Directory (none, or it is being deleted); the user's bindings are removed until one exists".into()
            }
        }
    }
}

/// A user's place in one workspace.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct WorkspaceBinding {
    /// The Workspace object name.
    pub workspace: String,
    /// The role bound; `None` when [`ConflictPolicy::Deny`] leaves the user unbound.
    pub role: Option<Role>,
    /// Display names of the user's role groups in this workspace, sorted.
    pub source_groups: Vec<String>,
    /// In two or more role groups of this workspace.
    pub conflict: bool,
}

impl WorkspaceBinding {
    /// This conflict as listed in the Workspace status; `None` without a conflict.
    pub fn workspace_conflict(&self, user_name: &str) -> Option<WorkspaceConflict> {
        self.conflict.then(|| WorkspaceConflict {
            user_name: Some(user_name.to_string()),
            groups: self.source_groups.clone(),
            applied_role: self.role,
        })
    }

    /// A message for the User and RoleBinding `Conflict` conditions.
    pub fn conflict_message(&self, policy: ConflictPolicy) -> String {
        let applied = match self.role {
            Some(role) => format!("bound as {role}"),
            None => "nothing bound".into(),
        };
        format!(
            "in {} role groups of workspace {:?} ({}); {applied} under {policy:?}",
            self.source_groups.len(),
            self.workspace,
            self.source_groups.join(", "),
        )
    }
}

/// A RoleBinding to write.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredBinding {
    /// The object name.
    pub name: String,
    pub spec: RoleBindingSpec,
    /// Display names of the groups that produced it, sorted; empty for the organisation binding.
    pub source_groups: Vec<String>,
    pub conflict: bool,
}

/// Everything the controller needs for one user's RoleBindings and status.
#[derive(Clone, Debug, PartialEq)]
pub struct UserPlan {
    /// The User's object name.
    pub user: String,
    pub user_name: String,
    pub state: UserState,
    /// The organisation role; `None` unless the user is [`UserState::Active`].
    pub org_role: Option<Role>,
    /// One entry per workspace the user is in, sorted by workspace; empty unless active.
    pub workspaces: Vec<WorkspaceBinding>,
    /// Group ids in the user's `groups` that are not (yet) known; ignored.
    pub unknown_groups: usize,
}

impl UserPlan {
    /// The RoleBindings to write, sorted by name: the organisation binding, then one per workspace
    /// with a bound role. Any other binding of this user is to be deleted.
    pub fn bindings(&self) -> Vec<DesiredBinding> {
        let Some(org_role) = self.org_role else {
            return Vec::new();
        };
        let spec = |workspace: Option<&str>, role| RoleBindingSpec {
            user: self.user.clone(),
            user_name: self.user_name.clone(),
            workspace: workspace.map(str::to_string),
            role,
        };
        let org = DesiredBinding {
            name: org_binding_name(&self.user),
            spec: spec(None, org_role),
            source_groups: Vec::new(),
            conflict: false,
        };
        let mut bindings: Vec<_> = std::iter::once(org)
            .chain(self.workspaces.iter().filter_map(|ws| {
                Some(DesiredBinding {
                    name: workspace_binding_name(&self.user, &ws.workspace),
                    spec: spec(Some(&ws.workspace), ws.role?),
                    source_groups: ws.source_groups.clone(),
                    conflict: ws.conflict,
                })
            }))
            .collect();
        bindings.sort_by(|a, b| a.name.cmp(&b.name));
        bindings
    }

    /// The user's workspaces for `status.workspaces`, sorted by workspace.
    pub fn workspace_roles(&self) -> Vec<UserWorkspaceRole> {
        self.workspaces
            .iter()
            .map(|ws| UserWorkspaceRole {
                workspace: ws.workspace.clone(),
                role: ws.role,
                conflict: ws.conflict,
            })
            .collect()
    }

    /// The workspaces where the user is in conflict, sorted by workspace.
    pub fn conflicts(&self) -> impl Iterator<Item = &WorkspaceBinding> {
        self.workspaces.iter().filter(|ws| ws.conflict)
    }

    /// Whether the user is in conflict anywhere.
    pub fn has_conflict(&self) -> bool {
        self.conflicts().next().is_some()
    }
}

/// Plans one user. `groups` looks a group up by id (e.g. `|id| index.get(id)`); ids it does not
/// know are counted in [`UserPlan::unknown_groups`] and otherwise ignored, so a membership that
/// arrives before its group settles on the next pass. `settings` are the active Directory's;
/// `None` (no active Directory) plans [`UserState::DirectoryMissing`]: never the defaults, which
/// could grant what the Directory withholds.
pub fn plan_user<'g>(
    user: &UserInput<'_>,
    groups: impl Fn(&str) -> Option<&'g GroupInfo>,
    settings: Option<&PlanSettings>,
) -> UserPlan {
    let mut plan = UserPlan {
        user: user.id.to_string(),
        user_name: user.user_name.to_string(),
        state: UserState::Active,
        org_role: None,
        workspaces: Vec::new(),
        unknown_groups: 0,
    };
    // Group ids may repeat in a hand-edited spec; each group counts once.
    let ids: BTreeSet<&str> = user.groups.iter().map(String::as_str).collect();
    // Workspace object name → (display name, role) of each of the user's groups feeding it.
    let mut by_workspace: BTreeMap<&str, Vec<(&str, Role)>> = BTreeMap::new();
    for id in ids {
        match groups(id) {
            None => plan.unknown_groups += 1,
            Some(info) => {
                if let Some((workspace, role)) = info.workspace() {
                    let entry = by_workspace.entry(workspace).or_default();
                    entry.push((info.display_name.as_str(), role));
                }
            }
        }
    }

    let Some(settings) = settings else {
        plan.state = UserState::DirectoryMissing;
        return plan;
    };
    if !user.active {
        plan.state = UserState::Suspended;
        return plan;
    }
    if let Err(why) = settings.allowed_domains.check(user.emails, user.user_name) {
        plan.state = UserState::DomainNotAllowed(why);
        return plan;
    }

    let role_values = user.roles.iter().filter_map(|r| r.value.as_deref());
    plan.org_role = Some(org_role(role_values, &settings.org_roles));
    plan.workspaces = by_workspace
        .into_iter()
        .map(|(workspace, members)| {
            let roles: Vec<Role> = members.iter().map(|(_, role)| *role).collect();
            let mut source_groups: Vec<String> = members.iter().map(|(name, _)| name.to_string()).collect();
            source_groups.sort();
            WorkspaceBinding {
                workspace: workspace.to_string(),
                role: resolve(settings.conflict_policy, &roles),
                conflict: members.len() > 1,
                source_groups,
            }
        })
        .collect();
    plan
}

#[cfg(test)]
mod tests;
