use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Role;

/// One user's role, in a workspace or, without `workspace`, at organisation level.
/// Written by the controller and owned by the User.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "scim-operator.io",
    version = "v1alpha1",
    kind = "RoleBinding",
    namespaced,
    status = "RoleBindingStatus",
    shortname = "scimrb",
    category = "scim",
    printcolumn = r#"{"name":"UserName","type":"string","jsonPath":".spec.userName"}"#,
    printcolumn = r#"{"name":"Workspace","type":"string","jsonPath":".spec.workspace"}"#,
    printcolumn = r#"{"name":"Role","type":"string","jsonPath":".spec.role"}"#,
    printcolumn = r#"{"name":"Conflict","type":"string","jsonPath":".status.conditions[?(@.type==\"Conflict\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct RoleBindingSpec {
    /// The User's object name (SCIM id).
    pub user: String,
    pub user_name: String,
    /// The Workspace object name; unset for the organisation-level binding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    pub role: Role,
}

/// Observed state of a RoleBinding. Written with the spec in one server-side apply, so every
/// field is always sent: a value another field manager set (an edit of the status) is then
/// taken back, not kept beside ours.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleBindingStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Display names of the groups that produced this binding, sorted.
    #[serde(default)]
    pub source_groups: Vec<String>,
    #[serde(default)]
    pub conflict: bool,
}
