use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Role;

/// One workspace `{group}` of the `ws-{group}-role-{role}` groups. Written by the controller.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "scim-operator.io",
    version = "v1alpha1",
    kind = "Workspace",
    namespaced,
    status = "WorkspaceStatus",
    shortname = "ws",
    category = "scim",
    printcolumn = r#"{"name":"Display","type":"string","jsonPath":".spec.displayName"}"#,
    printcolumn = r#"{"name":"Admins","type":"integer","jsonPath":".status.admins"}"#,
    printcolumn = r#"{"name":"Managers","type":"integer","jsonPath":".status.managers"}"#,
    printcolumn = r#"{"name":"Members","type":"integer","jsonPath":".status.members"}"#,
    printcolumn = r#"{"name":"Conflicts","type":"integer","jsonPath":".status.conflicts"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceSpec {
    /// `{group}` as spelled by the feeding group with the smallest id (deterministic).
    pub display_name: String,
    /// The role groups that feed this workspace, sorted by role then group id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<WorkspaceGroup>,
}

/// A role group feeding a workspace.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceGroup {
    pub role: Role,
    /// The Group's object name (SCIM id).
    pub group: String,
    pub display_name: String,
}

/// Observed state of a Workspace.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub admins: u32,
    #[serde(default)]
    pub managers: u32,
    #[serde(default)]
    pub members: u32,
    /// Users in several role groups of this workspace, plus roles claimed by several groups.
    #[serde(default)]
    pub conflicts: u32,
    /// The first conflicts, sorted by userName (bounded; `conflicts` has the full count).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflict_details: Vec<WorkspaceConflict>,
    /// Set when no group feeds this workspace any more.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub orphaned: bool,
}

/// One conflict in a workspace.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceConflict {
    /// The User's userName; unset for a role claimed by several groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// Display names of the groups involved, sorted.
    pub groups: Vec<String>,
    /// The role applied under the directory's policy; unset when nothing is bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_role: Option<Role>,
}
