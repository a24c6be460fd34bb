//! Pure rules: from Users and Groups as stored to the desired Workspaces and RoleBindings.
//! No I/O and no Kubernetes client; every function here is deterministic (sorted outputs, no
//! clocks), so the controller can compare desired with actual and write nothing when they match.
//!
//! The controller's pass, with the pure steps here:
//! 1. dereference (I/O): the Directory, Groups and Users from the watch caches;
//! 2. [`PlanSettings::from_directory`] and [`GroupIndex::new`] — each group's display name parsed
//!    once ([`parse_group_name`]) with its workspace object name ([`workspace_object_name`]);
//! 3. [`plan_workspaces`] — the Workspace specs and the group-level conflicts;
//! 4. [`plan_user`] per user — state, organisation role ([`org_role`]), workspace roles with
//!    conflicts resolved by the policy ([`resolve`]); [`UserPlan::bindings`] gives the
//!    RoleBindings to apply, [`UserPlan::workspace_roles`] the User status;
//! 5. [`workspace_summaries`] in one pass over all user plans (or [`workspace_summary`] /
//!    [`WorkspaceTally`] per workspace) — counts per role and the first conflicts for the
//!    Workspace status; [`plan_namespace`] does 3 to 5 for a whole namespace, with each group's
//!    rivals for the Group status;
//! 6. apply and update status (I/O).

mod domains;
mod group_name;
mod groups;
mod names;
mod namespace;
mod plan;
mod roles;
mod workspace;

pub use domains::{AllowedDomains, DomainRejection, user_address};
pub use group_name::{GroupKind, NotWorkspaceGroup, ROLE_SEPARATOR, WORKSPACE_PREFIX, parse_group_name};
pub use groups::{GroupIndex, GroupInfo};
pub use names::{
    MAX_LABEL_LEN, MAX_SUBDOMAIN_LEN, is_dns1123_label, is_dns1123_subdomain, org_binding_name, workspace_binding_name,
    workspace_key, workspace_object_name,
};
pub use namespace::{NamespacePlan, plan_namespace};
pub use plan::{DesiredBinding, PlanSettings, UserInput, UserPlan, UserState, WorkspaceBinding, plan_user};
pub use roles::{org_role, resolve, workspace_role};
pub use workspace::{
    MAX_CONFLICT_DETAILS, PlannedWorkspace, WorkspaceSummary, WorkspaceTally, plan_workspaces, workspace_summaries,
    workspace_summary,
};
