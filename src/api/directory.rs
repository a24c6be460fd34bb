use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One identity-provider connection. At most one per namespace; the SCIM base URL is
/// `/scim/v2/{namespace}/{name}`.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "scim-operator.io",
    version = "v1alpha1",
    kind = "Directory",
    namespaced,
    status = "DirectoryStatus",
    shortname = "scimdir",
    category = "scim",
    printcolumn = r#"{"name":"Users","type":"integer","jsonPath":".status.users"}"#,
    printcolumn = r#"{"name":"Groups","type":"integer","jsonPath":".status.groups"}"#,
    printcolumn = r#"{"name":"Workspaces","type":"integer","jsonPath":".status.workspaces"}"#,
    printcolumn = r#"{"name":"Conflicts","type":"integer","jsonPath":".status.conflicts"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"SCIM URL","type":"string","jsonPath":".status.scimBaseUrl","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct DirectorySpec {
    /// Secret in this namespace holding the bearer token(s) the identity provider sends, one per line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_secret_ref: Option<SecretKeyRef>,
    /// SHA-256 hashes of accepted bearer tokens (`sha256:<64 hex digits>`), an alternative to a Secret.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(regex(pattern = r"^sha256:[0-9a-f]{64}$")))]
    pub token_hashes: Vec<String>,
    /// How a user in several role groups of one workspace is bound.
    #[serde(default)]
    pub conflict_policy: ConflictPolicy,
    /// What happens to a workspace whose last group is deleted.
    #[serde(default)]
    pub workspace_deletion_policy: WorkspaceDeletionPolicy,
    /// Email domains whose users get bindings; empty allows every domain.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(regex(
        pattern = r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
    )))]
    pub allowed_domains: Vec<String>,
    /// The `roles` values (case-insensitive) that grant each organisation role.
    #[serde(default)]
    pub org_roles: OrgRoleNames,
    /// Native Kubernetes RBAC for workspaces: a namespace per workspace and RoleBindings in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native_rbac: Option<NativeRbac>,
}

impl Directory {
    /// Whether the Directory is being deleted (a finalizer holds it). It is no longer in charge:
    /// its namespace gets no bindings, as if it were gone (SPEC §3.8).
    pub fn is_deleting(&self) -> bool {
        self.metadata.deletion_timestamp.is_some()
    }
}

/// A key of a Secret in the Directory's namespace.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key in the Secret; `token` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// The shortest bearer token the SCIM endpoint accepts, in characters: shorter ones are guessable.
pub const MIN_TOKEN_LENGTH: usize = 32;

/// The tokens of a token Secret's value: one per non-empty line, trimmed.
pub fn secret_tokens(value: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(value)
        .lines()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// How many tokens of a token Secret's value are shorter than [`MIN_TOKEN_LENGTH`].
pub fn short_tokens(value: &[u8]) -> usize {
    secret_tokens(value)
        .iter()
        .filter(|t| t.chars().count() < MIN_TOKEN_LENGTH)
        .count()
}

impl SecretKeyRef {
    /// The key to read, defaulting to `token`.
    pub fn key(&self) -> &str {
        self.key.as_deref().unwrap_or("token")
    }
}

/// Resolution of a user in several role groups of one workspace. The conflict is reported either way.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ConflictPolicy {
    /// Bind the lowest of the roles (member < manager < admin).
    #[default]
    LeastPrivilege,
    /// Bind the highest of the roles.
    HighestPrivilege,
    /// Bind nothing in that workspace while the conflict lasts.
    Deny,
}

/// What happens to a workspace whose last group is deleted.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum WorkspaceDeletionPolicy {
    /// Keep it, marked orphaned.
    #[default]
    Retain,
    /// Delete it.
    Delete,
}

/// The `roles` values that grant each organisation role; compared case-insensitively.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgRoleNames {
    #[serde(default = "default_owner")]
    #[schemars(length(min = 1))]
    pub owner: String,
    #[serde(default = "default_admin")]
    #[schemars(length(min = 1))]
    pub admin: String,
    #[serde(default = "default_member")]
    #[schemars(length(min = 1))]
    pub member: String,
}

fn default_owner() -> String {
    "owner".into()
}
fn default_admin() -> String {
    "admin".into()
}
fn default_member() -> String {
    "member".into()
}

impl Default for OrgRoleNames {
    fn default() -> Self {
        OrgRoleNames {
            owner: default_owner(),
            admin: default_admin(),
            member: default_member(),
        }
    }
}

/// Native RBAC settings: each workspace gets a namespace, each binding an `rbac.authorization.k8s.io`
/// RoleBinding of the user (by userName) to a ClusterRole.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NativeRbac {
    /// Prefix of the namespace created per workspace. It must not be able to reach `default` or
    /// a `kube-*` namespace (`k`, `kube-`, `de` are refused).
    #[serde(default = "default_namespace_prefix")]
    #[schemars(regex(pattern = r"^[a-z0-9]([a-z0-9-]{0,20})?$"), length(max = 21))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": RESERVED_PREFIX_RULE,
        "message": RESERVED_PREFIX_MESSAGE,
    }]))]
    pub namespace_prefix: String,
    /// Prefix added to userName in the subject, to match the API server's `--oidc-username-prefix`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username_prefix: String,
    /// ClusterRole bound for each workspace role.
    #[serde(default)]
    pub cluster_roles: ClusterRoles,
}

fn default_namespace_prefix() -> String {
    "ws-".into()
}

/// The CEL form of [`NativeRbac::prefix_problem`], checked by the API server.
const RESERVED_PREFIX_RULE: &str =
    "!('kube-'.startsWith(self) || self.startsWith('kube-') || ('default'.startsWith(self) && self != 'default'))";
const RESERVED_PREFIX_MESSAGE: &str =
    "namespacePrefix must not be able to reach the namespace default or a kube-* namespace";

impl NativeRbac {
    /// Why `namespacePrefix` is refused, if it is: some `{prefix}{workspace}` could be `default`
    /// or a `kube-*` namespace (`kube-system`, …). The CRD refuses such a prefix too; this check
    /// covers a Directory stored before that rule.
    pub fn prefix_problem(&self) -> Option<&'static str> {
        let p = self.namespace_prefix.as_str();
        let reaches = "kube-".starts_with(p) || p.starts_with("kube-") || ("default".starts_with(p) && p != "default");
        reaches.then_some(RESERVED_PREFIX_MESSAGE)
    }
}

/// ClusterRoles bound per workspace role.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRoles {
    #[serde(default = "default_admin")]
    pub admin: String,
    #[serde(default = "default_edit")]
    pub manager: String,
    #[serde(default = "default_view")]
    pub member: String,
}

fn default_edit() -> String {
    "edit".into()
}
fn default_view() -> String {
    "view".into()
}

impl Default for ClusterRoles {
    fn default() -> Self {
        ClusterRoles {
            admin: default_admin(),
            manager: default_edit(),
            member: default_view(),
        }
    }
}

/// Observed state of a Directory.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Path of the SCIM endpoint of this directory, relative to the server's external URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim_base_url: Option<String>,
    #[serde(default)]
    pub users: u32,
    #[serde(default)]
    pub groups: u32,
    #[serde(default)]
    pub workspaces: u32,
    #[serde(default)]
    pub role_bindings: u32,
    #[serde(default)]
    pub conflicts: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_tokens_count_trimmed_lines_by_characters() {
        let long = "é".repeat(MIN_TOKEN_LENGTH);
        let value = format!("  short \n\n{long}\n{}\n", "x".repeat(MIN_TOKEN_LENGTH - 1));
        assert_eq!(secret_tokens(value.as_bytes()).len(), 3);
        assert_eq!(short_tokens(value.as_bytes()), 2, "é counts once, though two bytes");
        assert_eq!(short_tokens(b""), 0);
    }

    #[test]
    fn prefixes_reaching_system_namespaces_are_refused() {
        let problem = |prefix: &str| {
            NativeRbac {
                namespace_prefix: prefix.into(),
                username_prefix: String::new(),
                cluster_roles: ClusterRoles::default(),
            }
            .prefix_problem()
        };
        for bad in ["", "k", "kube", "kube-", "kube-sys", "d", "defaul"] {
            assert!(problem(bad).is_some(), "{bad:?} accepted");
        }
        for good in ["ws-", "kubes-", "kubex", "default", "default-", "team", "dx"] {
            assert_eq!(problem(good), None, "{good:?} refused");
        }
    }
}
