//! Pure status builders: from a plan and the previous status to the status to write. Conditions
//! keep their `lastTransitionTime` when unchanged, so equal input gives an equal status and the
//! write is skipped.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::{ConflictPolicy, MIN_TOKEN_LENGTH};
use crate::api::{
    DirectoryStatus, GroupStatus, Role, RoleBindingStatus, UserStatus, WorkspaceStatus, condition, reason,
    set_condition,
};
use crate::rules::{DesiredBinding, GroupInfo, GroupKind, UserPlan, UserState, WorkspaceSummary};

/// The conditions of `previous`, for [`set_condition`].
fn prev(conditions: Option<&Vec<Condition>>) -> &[Condition] {
    conditions.map(Vec::as_slice).unwrap_or(&[])
}

/// Adds kstatus's `Stalled` (`stalled`: progress needs a change by someone) or `Reconciling`
/// (`reconciling`: work under way), each with the `Ready` condition's reason and message, when
/// true. Both have "abnormal-true" polarity, so they are left out otherwise, as kstatus expects.
fn kstatus(conditions: &mut Vec<Condition>, old: &[Condition], stalled: bool, reconciling: bool, now: &Time) {
    let Some(ready) = conditions.iter().find(|c| c.type_ == condition::READY).cloned() else {
        return;
    };
    for (type_, on) in [(condition::STALLED, stalled), (condition::RECONCILING, reconciling)] {
        if on {
            let generation = ready.observed_generation;
            set_condition(
                conditions,
                old,
                type_,
                true,
                &ready.reason,
                ready.message.clone(),
                generation,
                now,
            );
        }
    }
}

/// The message of the User `Conflict` condition: one sentence per workspace in conflict.
pub fn user_conflict_message(plan: &UserPlan, policy: ConflictPolicy) -> String {
    plan.conflicts()
        .map(|ws| ws.conflict_message(policy))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A User's status from its plan.
pub fn user_status(
    previous: Option<&UserStatus>,
    plan: &UserPlan,
    policy: ConflictPolicy,
    generation: Option<i64>,
    now: &Time,
) -> UserStatus {
    let old = prev(previous.map(|s| &s.conditions));
    let mut conditions = Vec::new();
    // Suspended is a settled state, not a failure; outside the allowed domains or without a
    // Directory needs an admin.
    let ready = !matches!(plan.state, UserState::DomainNotAllowed(_) | UserState::DirectoryMissing);
    let mut message = plan.state.message();
    if plan.unknown_groups > 0 {
        message.push_str(&format!(
            "; {} group id(s) in spec.groups are not known yet",
            plan.unknown_groups
        ));
    }
    set_condition(
        &mut conditions,
        old,
        condition::READY,
        ready,
        plan.state.reason(),
        message,
        generation,
        now,
    );
    let conflict = plan.has_conflict();
    let (reason, message) = if conflict {
        (reason::CONFLICT, user_conflict_message(plan, policy))
    } else {
        (reason::NO_CONFLICT, String::new())
    };
    set_condition(
        &mut conditions,
        old,
        condition::CONFLICT,
        conflict,
        reason,
        message,
        generation,
        now,
    );
    let workspaces = plan.workspace_roles();
    UserStatus {
        observed_generation: generation,
        conditions,
        org_role: plan.org_role,
        workspace_count: workspaces.iter().filter(|w| w.role.is_some()).count() as u32,
        workspaces,
    }
}

/// A RoleBinding's status.
pub fn binding_status(
    previous: Option<&RoleBindingStatus>,
    binding: &DesiredBinding,
    conflict_message: &str,
    generation: Option<i64>,
    now: &Time,
) -> RoleBindingStatus {
    let old = prev(previous.map(|s| &s.conditions));
    let mut conditions = Vec::new();
    let role = binding.spec.role;
    let target = binding
        .spec
        .workspace
        .as_deref()
        .map_or("the organisation".to_string(), |w| format!("workspace {w:?}"));
    set_condition(
        &mut conditions,
        old,
        condition::READY,
        true,
        reason::BOUND,
        format!("bound as {role} in {target}"),
        generation,
        now,
    );
    let (why, message) = if binding.conflict {
        (reason::CONFLICT, conflict_message.to_string())
    } else {
        (reason::NO_CONFLICT, String::new())
    };
    set_condition(
        &mut conditions,
        old,
        condition::CONFLICT,
        binding.conflict,
        why,
        message,
        generation,
        now,
    );
    RoleBindingStatus {
        observed_generation: generation,
        conditions,
        source_groups: binding.source_groups.clone(),
        conflict: binding.conflict,
    }
}

/// A Workspace's status; `summary` is `None` for an orphaned workspace, `not_owned` says why its
/// native-RBAC namespace is refused.
pub fn workspace_status(
    previous: Option<&WorkspaceStatus>,
    summary: Option<&WorkspaceSummary>,
    collision: Option<&[String]>,
    not_owned: Option<&str>,
    generation: Option<i64>,
    now: &Time,
) -> WorkspaceStatus {
    let old = prev(previous.map(|s| &s.conditions));
    let mut conditions = Vec::new();
    let empty = WorkspaceSummary::default();
    let s = summary.unwrap_or(&empty);
    match (summary, collision) {
        (None, _) => set_condition(
            &mut conditions,
            old,
            condition::READY,
            false,
            reason::ORPHANED,
            "no group feeds this workspace any more; kept because the directory's workspaceDeletionPolicy is Retain",
            generation,
            now,
        ),
        (Some(_), Some(keys)) => set_condition(
            &mut conditions,
            old,
            condition::READY,
            false,
            reason::NAME_COLLISION,
            format!("different workspace names share this object name: {}", keys.join(", ")),
            generation,
            now,
        ),
        (Some(_), None) if not_owned.is_some() => set_condition(
            &mut conditions,
            old,
            condition::READY,
            false,
            reason::NAMESPACE_NOT_OWNED,
            format!(
                "{}; no native RoleBindings are made there",
                not_owned.unwrap_or_default()
            ),
            generation,
            now,
        ),
        (Some(_), None) => set_condition(
            &mut conditions,
            old,
            condition::READY,
            true,
            reason::PROVISIONED,
            format!("{} admins, {} managers, {} members", s.admins, s.managers, s.members),
            generation,
            now,
        ),
    }
    // A name collision or a namespace that is not ours cannot settle without a change elsewhere.
    let stalled = summary.is_some() && (collision.is_some() || not_owned.is_some());
    kstatus(&mut conditions, old, stalled, false, now);
    let conflict = s.conflicts > 0;
    let (why, message) = if conflict {
        let first: Vec<String> = s
            .conflict_details
            .iter()
            .take(3)
            .map(|c| match &c.user_name {
                Some(user) => format!("{user} in {}", c.groups.join(" and ")),
                None => format!("groups {} claim one role", c.groups.join(" and ")),
            })
            .collect();
        (
            reason::CONFLICT,
            format!("{} conflict(s): {}", s.conflicts, first.join("; ")),
        )
    } else {
        (reason::NO_CONFLICT, String::new())
    };
    set_condition(
        &mut conditions,
        old,
        condition::CONFLICT,
        conflict,
        why,
        message,
        generation,
        now,
    );
    WorkspaceStatus {
        observed_generation: generation,
        conditions,
        admins: s.admins,
        managers: s.managers,
        members: s.members,
        conflicts: s.conflicts,
        conflict_details: s.conflict_details.clone(),
        orphaned: summary.is_none(),
    }
}

/// A Group's status: what it feeds (or why it is plain), its member count, and the other groups
/// claiming the same workspace and role (`rivals`; a conflict when not empty).
pub fn group_status(
    previous: Option<&GroupStatus>,
    info: &GroupInfo,
    member_count: u32,
    rivals: &[String],
    generation: Option<i64>,
    now: &Time,
) -> GroupStatus {
    let old = prev(previous.map(|s| &s.conditions));
    let mut conditions = Vec::new();
    let (workspace, role): (Option<String>, Option<Role>) = match info.workspace() {
        Some((ws, role)) => (Some(ws.to_string()), Some(role)),
        None => (None, None),
    };
    match &info.kind {
        GroupKind::Workspace { group, role } => set_condition(
            &mut conditions,
            old,
            condition::READY,
            true,
            reason::WORKSPACE_GROUP,
            format!("feeds workspace {group:?} as {role}"),
            generation,
            now,
        ),
        GroupKind::Plain { reason: why } => set_condition(
            &mut conditions,
            old,
            condition::READY,
            true,
            reason::PLAIN_GROUP,
            format!("plain group ({}: {why}); kept, no bindings", why.reason()),
            generation,
            now,
        ),
    }
    let (why, message) = match (&workspace, role) {
        (Some(ws), Some(role)) if !rivals.is_empty() => (
            reason::CONFLICT,
            format!("also grants {role} in workspace {ws:?}: {}", rivals.join(", ")),
        ),
        _ => (reason::NO_CONFLICT, String::new()),
    };
    set_condition(
        &mut conditions,
        old,
        condition::CONFLICT,
        !rivals.is_empty(),
        why,
        message,
        generation,
        now,
    );
    GroupStatus {
        observed_generation: generation,
        conditions,
        workspace,
        role,
        member_count,
    }
}

/// Counts shown in a Directory status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirectoryCounts {
    /// Users in the namespace.
    pub users: u32,
    /// Groups in the namespace.
    pub groups: u32,
    /// Workspaces fed by at least one group.
    pub workspaces: u32,
    /// RoleBindings (custom resources) in the namespace.
    pub role_bindings: u32,
    /// Conflicts over every workspace.
    pub conflicts: u32,
}

/// Where a Directory stands in its namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing<'a> {
    /// The oldest: in charge. `prefix_problem` says why its native RBAC is off, if it is.
    InCharge { prefix_problem: Option<&'a str> },
    /// The oldest, but being deleted: in charge of nothing, its namespace gets no bindings.
    Deleting,
    /// An older Directory (named) is in charge.
    Duplicate { older: &'a str },
}

/// A Directory's status; `external_url` (empty for none) prefixes its SCIM base URL.
#[allow(clippy::too_many_arguments)] // one call site; a parameter struct would only rename them
pub fn directory_status(
    previous: Option<&DirectoryStatus>,
    external_url: &str,
    namespace: &str,
    name: &str,
    standing: Standing<'_>,
    counts: &DirectoryCounts,
    generation: Option<i64>,
    now: &Time,
) -> DirectoryStatus {
    let old = prev(previous.map(|s| &s.conditions));
    let mut conditions = Vec::new();
    let url = format!("{external_url}/scim/v2/{namespace}/{name}");
    let (ready, why, message) = match standing {
        Standing::InCharge { prefix_problem: None } => (true, reason::READY, format!("serving SCIM at {url}")),
        Standing::InCharge {
            prefix_problem: Some(problem),
        } => (
            false,
            reason::INVALID_NAMESPACE_PREFIX,
            format!(
                "{problem}; native RBAC is off until it is changed (SCIM at {url} and the custom RoleBindings work)"
            ),
        ),
        Standing::Deleting => (
            false,
            reason::DELETING,
            format!("being deleted; namespace {namespace:?} gets no bindings, and those made are removed"),
        ),
        Standing::Duplicate { older } => (
            false,
            reason::DUPLICATE_DIRECTORY,
            format!(
                "namespace {namespace:?} already has Directory {older:?} (older); a namespace holds at most one Directory, so this one is ignored"
            ),
        ),
    };
    set_condition(
        &mut conditions,
        old,
        condition::READY,
        ready,
        why,
        message,
        generation,
        now,
    );
    // A duplicate or a bad prefix needs the admin to change something; a deletion is under way.
    let stalled = matches!(
        standing,
        Standing::Duplicate { .. }
            | Standing::InCharge {
                prefix_problem: Some(_)
            }
    );
    kstatus(
        &mut conditions,
        old,
        stalled,
        matches!(standing, Standing::Deleting),
        now,
    );
    let duplicate = matches!(standing, Standing::Duplicate { .. });
    let counts = if duplicate {
        DirectoryCounts::default()
    } else {
        counts.clone()
    };
    DirectoryStatus {
        observed_generation: generation,
        conditions,
        scim_base_url: (!duplicate).then_some(url),
        users: counts.users,
        groups: counts.groups,
        workspaces: counts.workspaces,
        role_bindings: counts.role_bindings,
        conflicts: counts.conflicts,
    }
}

/// Adds `TokensAccepted` to a Directory's status from its token Secret, when that could be read:
/// False while `short` of its tokens are shorter than [`MIN_TOKEN_LENGTH`], which the SCIM
/// endpoint refuses.
pub fn token_condition(
    status: &mut DirectoryStatus,
    previous: Option<&DirectoryStatus>,
    secret: &str,
    short: usize,
    now: &Time,
) {
    let old = prev(previous.map(|s| &s.conditions));
    let (ok, why, message) = match short {
        0 => (
            true,
            reason::TOKENS_LONG_ENOUGH,
            format!("every token in Secret {secret:?} has at least {MIN_TOKEN_LENGTH} characters"),
        ),
        n => (
            false,
            reason::TOKENS_TOO_SHORT,
            format!(
                "{n} token(s) in Secret {secret:?} have fewer than {MIN_TOKEN_LENGTH} characters and are refused; use long random tokens"
            ),
        ),
    };
    let generation = status.observed_generation;
    set_condition(
        &mut status.conditions,
        old,
        condition::TOKENS_ACCEPTED,
        ok,
        why,
        message,
        generation,
        now,
    );
}

#[cfg(test)]
mod tests;
