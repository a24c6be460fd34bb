//! Condition types and reasons, shared by every status (kstatus-compatible).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// Condition types.
pub mod condition {
    /// The object is fully reconciled and healthy.
    pub const READY: &str = "Ready";
    /// The controller is working towards the desired state (kstatus).
    pub const RECONCILING: &str = "Reconciling";
    /// Reconciliation cannot progress without a change to the object (kstatus).
    pub const STALLED: &str = "Stalled";
    /// A user is in several role groups of one workspace.
    pub const CONFLICT: &str = "Conflict";
    /// Directory: every token in its Secret is long enough to be accepted.
    pub const TOKENS_ACCEPTED: &str = "TokensAccepted";
}

/// Condition reasons (CamelCase), and the reasons of the Events that go with them.
pub mod reason {
    // What the rules decide, per user and per group.
    /// User: active and bound.
    pub const ACTIVE: &str = "Active";
    /// User: `active: false`, no bindings.
    pub const SUSPENDED: &str = "Suspended";
    /// User: outside the directory's allowed email domains, no bindings.
    pub const DOMAIN_NOT_ALLOWED: &str = "DomainNotAllowed";
    /// User: the namespace has no active Directory, no bindings. Also the Event's reason.
    pub const DIRECTORY_MISSING: &str = "DirectoryMissing";
    /// Group: `ws-{group}-role-{role}`, feeds a workspace.
    pub const WORKSPACE_GROUP: &str = "WorkspaceGroup";
    /// Group: display name does not start with `ws-`.
    pub const NO_WORKSPACE_PREFIX: &str = "NoWorkspacePrefix";
    /// Group: no `-role-` after `ws-`.
    pub const NO_ROLE_SEPARATOR: &str = "NoRoleSeparator";
    /// Group: nothing between `ws-` and `-role-`.
    pub const EMPTY_WORKSPACE_NAME: &str = "EmptyWorkspaceName";
    /// Group: the role is not admin, manager or member.
    pub const UNKNOWN_WORKSPACE_ROLE: &str = "UnknownWorkspaceRole";
    /// User, RoleBinding, Workspace: in several role groups of one workspace (or several groups
    /// claim one role).
    pub const CONFLICT: &str = "MultipleRoleGroups";
    /// No conflict.
    pub const NO_CONFLICT: &str = "NoConflict";
    /// Workspace: two different workspace names hashed to the same object name.
    pub const NAME_COLLISION: &str = "NameCollision";

    // What the controller finds, per directory, workspace and binding.
    /// Directory: every token of its Secret is accepted.
    pub const TOKENS_LONG_ENOUGH: &str = "LongEnough";
    /// Directory: some tokens of its Secret are too short and refused.
    pub const TOKENS_TOO_SHORT: &str = "TooShort";
    /// RoleBinding: applied.
    pub const BOUND: &str = "Bound";
    /// Group: not a `ws-{group}-role-{role}` group.
    pub const PLAIN_GROUP: &str = "PlainGroup";
    /// Workspace: fed by at least one group.
    pub const PROVISIONED: &str = "Provisioned";
    /// Workspace: no group feeds it any more; kept under `workspaceDeletionPolicy: Retain`.
    pub const ORPHANED: &str = "Orphaned";
    /// Directory: in charge of its namespace.
    pub const READY: &str = "Ready";
    /// Directory: an older Directory in the namespace is in charge.
    pub const DUPLICATE_DIRECTORY: &str = "DuplicateDirectory";
    /// Directory: being deleted; its namespace gets no bindings.
    pub const DELETING: &str = "Deleting";
    /// Directory: `nativeRbac.namespacePrefix` could reach `default` or `kube-*`; no native RBAC.
    pub const INVALID_NAMESPACE_PREFIX: &str = "InvalidNamespacePrefix";
    /// Workspace: its native-RBAC namespace exists and was not created for this Directory.
    pub const NAMESPACE_NOT_OWNED: &str = "NamespaceNotOwned";
    /// Event reason when a user's conflict first appears.
    pub const ROLE_CONFLICT: &str = "RoleConflict";
}

#[allow(clippy::too_many_arguments)] // mirrors the fields of a Condition
/// Builds a condition whose `lastTransitionTime` is kept from `previous` when the status did not change,
/// so a resync with no change writes the same status and is skipped.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    previous: &[Condition],
    type_: &str,
    status: bool,
    reason: &str,
    message: impl Into<String>,
    observed_generation: Option<i64>,
    now: &Time,
) {
    let status = if status { "True" } else { "False" }.to_string();
    let last_transition_time = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| now.clone());
    conditions.retain(|c| c.type_ != type_);
    conditions.push(Condition {
        type_: type_.to_string(),
        status,
        reason: reason.to_string(),
        message: message.into(),
        observed_generation,
        last_transition_time,
    });
    conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
}

/// Hashes `conditions` but for their transition times: what a compact record compares to tell
/// whether a status it would write is the one stored.
pub fn hash_conditions(conditions: &[Condition], state: &mut impl std::hash::Hasher) {
    use std::hash::Hash;
    for c in conditions {
        (&c.type_, &c.status, &c.reason, &c.message, c.observed_generation).hash(state);
    }
}

/// What a cached status keeps of its conditions: each one's type, status and transition time,
/// which is all [`set_condition`] reads of the previous conditions. Compact records of cached
/// objects (RoleBindings, Users) keep these instead of the conditions themselves.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Transitions(Box<[Transition]>);

/// One condition's transition, in 24 bytes: its type and status as indexes into the ones this
/// operator writes.
#[derive(Clone, Debug, PartialEq)]
struct Transition {
    since: Time,
    type_: u8,
    status: u8,
}

/// The condition types and statuses a [`Transition`] can hold.
const TYPES: [&str; 4] = [
    condition::READY,
    condition::CONFLICT,
    condition::STALLED,
    condition::RECONCILING,
];
const STATUSES: [&str; 3] = ["True", "False", "Unknown"];

impl Transitions {
    /// The transitions of `conditions`, of the types this operator writes; others (added by
    /// hand) are never read back.
    pub fn of<'a>(conditions: impl IntoIterator<Item = &'a Condition>) -> Transitions {
        let index = |all: &[&str], value: &str| all.iter().position(|v| *v == value).map(|i| i as u8);
        let kept = conditions.into_iter().filter_map(|c| {
            Some(Transition {
                since: c.last_transition_time.clone(),
                type_: index(&TYPES, &c.type_)?,
                status: index(&STATUSES, &c.status)?,
            })
        });
        Transitions(kept.collect())
    }

    /// The conditions as [`set_condition`] reads them as the previous ones: type, status and
    /// transition time, no reason or message.
    pub fn previous(&self) -> Vec<Condition> {
        self.0
            .iter()
            .map(|t| Condition {
                type_: TYPES[usize::from(t.type_)].to_string(),
                status: STATUSES[usize::from(t.status)].to_string(),
                last_transition_time: t.since.clone(),
                reason: String::new(),
                message: String::new(),
                observed_generation: None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_keep_what_set_condition_reads_in_24_bytes_each() {
        let condition = |type_: &str, status: &str, since: &str| Condition {
            type_: type_.into(),
            status: status.into(),
            reason: "Why".into(),
            message: "what".into(),
            observed_generation: Some(3),
            last_transition_time: Time(since.parse().expect("timestamp")),
        };
        let kept = [
            condition(condition::READY, "True", "2026-12-01T09:00:00Z"),
            condition(condition::RECONCILING, "Unknown", "2026-12-01T10:00:00Z"),
        ];
        let by_hand = condition("example.com/Custom", "True", "2026-12-01T11:00:00Z");
        let odd = condition(condition::CONFLICT, "Maybe", "2026-12-01T12:00:00Z");
        let previous = Transitions::of(kept.iter().chain([&by_hand, &odd])).previous();
        let seen: Vec<_> = previous
            .iter()
            .map(|c| (c.type_.as_str(), c.status.as_str(), &c.last_transition_time))
            .collect();
        let expected: Vec<_> = kept
            .iter()
            .map(|c| (c.type_.as_str(), c.status.as_str(), &c.last_transition_time))
            .collect();
        assert_eq!(seen, expected, "other types and statuses are not kept");
        assert!(std::mem::size_of::<Transition>() <= 24);
    }
}
