//! The custom resources of `scim-operator.io/v1alpha1`.
//!
//! `Directory` is written by the platform admin; `User` and `Group` by the SCIM endpoint;
//! `Workspace` and `RoleBinding` by the controller. `NameClaim` is the SCIM endpoint's
//! bookkeeping of unique keys.

mod claim;
mod conditions;
mod directory;
mod group;
mod rolebinding;
mod user;
mod workspace;

pub use claim::*;
pub use conditions::*;
pub use directory::*;
pub use group::*;
pub use rolebinding::*;
pub use user::*;
pub use workspace::*;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The API group of every kind here.
pub const GROUP: &str = "scim-operator.io";
/// The API version of every kind here.
pub const VERSION: &str = "v1alpha1";

/// Labels and annotations this operator puts on the objects it writes.
pub mod labels {
    /// The prefix of this operator's own labels.
    pub const PREFIX: &str = "scim-operator.io/";
    /// The `Directory` an object belongs to.
    pub const DIRECTORY: &str = "scim-operator.io/directory";
    /// The `User` a `RoleBinding` was derived from.
    pub const USER: &str = "scim-operator.io/user";
    /// The `Workspace` a `RoleBinding` or `Group` feeds.
    pub const WORKSPACE: &str = "scim-operator.io/workspace";
    /// Standard label naming the writer of derived objects.
    pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
    /// The value of [`MANAGED_BY`].
    pub const MANAGER: &str = "scim-operator";
}

/// A role: organisation level (`owner`, `admin`, `member`) or in a workspace
/// (`admin`, `manager`, `member`).
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Member,
    Manager,
    Admin,
    Owner,
}

impl Role {
    /// The lowercase name used on the wire and in object names.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Manager => "manager",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The CRDs of all kinds, in a stable order.
pub fn crds() -> Vec<CustomResourceDefinition> {
    [
        Directory::crd(),
        User::crd(),
        Group::crd(),
        Workspace::crd(),
        without_status_subresource(RoleBinding::crd()),
        NameClaim::crd(),
    ]
    .into_iter()
    .map(kubernetes_formats)
    .collect()
}

/// A RoleBinding is written only by the controller, spec and status together: without a status
/// subresource that is one write instead of two (half the controller's writes at SPEC §7 scale).
/// Its status stays a status — conditions and observedGeneration, see `controller::user`.
fn without_status_subresource(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    for version in &mut crd.spec.versions {
        if let Some(subresources) = &mut version.subresources {
            subresources.status = None;
            if subresources.scale.is_none() {
                version.subresources = None;
            }
        }
    }
    crd
}

/// Rewrites what schemars emits but Kubernetes does not know, so applying the CRDs prints no
/// warnings: unsigned integer formats become signed ones (schemars keeps `minimum: 0`), and `null`
/// leaves the `enum` of optional enums (the field is optional already).
fn kubernetes_formats(crd: CustomResourceDefinition) -> CustomResourceDefinition {
    fn walk(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(format)) = map.get_mut("format") {
                    match format.as_str() {
                        "uint8" | "uint16" | "uint32" => *format = "int32".into(),
                        "uint64" | "uint" => *format = "int64".into(),
                        _ => {}
                    }
                }
                if let Some(serde_json::Value::Array(values)) = map.get_mut("enum") {
                    values.retain(|v| !v.is_null());
                }
                map.values_mut().for_each(walk);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(&crd).expect("CRDs serialise");
    walk(&mut value);
    serde_json::from_value(value).expect("a rewritten CRD is still a CRD")
}

/// File name of a kind's CRD under `crds/`, e.g. `scim-operator.io_workspaces.yaml`.
pub fn crd_file_name(
    crd: &k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
) -> String {
    format!("{}_{}.yaml", crd.spec.group, crd.spec.names.plural)
}

/// A CRD as YAML, as written to `crds/`.
pub fn crd_yaml(
    crd: &k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
) -> String {
    format!(
        "# Generated by `scim-operator crd --write crds`; do not edit.\n{}",
        crate::yaml::to_string(crd).expect("CRDs serialise")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checked-in CRDs must match the Rust types; regenerate with `cargo run -- crd --write crds`.
    #[test]
    fn checked_in_crds_are_fresh() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
        for crd in crds() {
            let path = dir.join(crd_file_name(&crd));
            let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                on_disk == crd_yaml(&crd),
                "{} is stale: run `cargo run -- crd --write crds`",
                path.display()
            );
        }
    }
}
