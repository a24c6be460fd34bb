use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A claim on a unique SCIM key in one namespace: a User's case-folded `userName` or a Group's
/// `displayName`. Its object name is derived from the key, so the API server lets exactly one
/// claim per key exist: that is how uniqueness holds across replicas and concurrent requests,
/// while the User or Group itself keeps a random id that is never handed to another resource.
///
/// Written only by the SCIM endpoint; not part of the `scim` category, since it is bookkeeping.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "scim-operator.io",
    version = "v1alpha1",
    kind = "NameClaim",
    namespaced,
    shortname = "scimclaim",
    printcolumn = r#"{"name":"Kind","type":"string","jsonPath":".spec.kind"}"#,
    printcolumn = r#"{"name":"Holder","type":"string","jsonPath":".spec.holder"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct NameClaimSpec {
    /// The kind whose key is claimed.
    pub kind: ClaimedKind,
    /// The claimed key, as compared: a lowercased userName or an exact displayName.
    pub key: String,
    /// The id (object name) of the User or Group holding the key.
    pub holder: String,
    /// When the holder took the claim (RFC 3339, the writing replica's clock): a claim whose
    /// holder does not hold the key yet is left alone for a grace period after this.
    pub since: String,
}

/// The kinds with a unique key.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ClaimedKind {
    User,
    Group,
}
