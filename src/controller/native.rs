//! Optional native RBAC (a Directory's `nativeRbac`): each workspace gets a namespace, and each
//! workspace binding of a user an `rbac.authorization.k8s.io` RoleBinding there, binding the user
//! (by userName, as the cluster's OIDC username claim names it) to a configurable ClusterRole.
//!
//! Only namespaces this operator created for this Directory are used: they are created with a
//! plain create (never a forced apply) carrying the [`OWNER`] annotation, `namespace/name` of the
//! Directory. A namespace that exists without it (made by hand, by an earlier version, or for
//! another Directory with the same prefix) is refused: no native bindings there, and the
//! Workspace says `NamespaceNotOwned`. A prefix that could reach `default` or `kube-*` turns
//! native RBAC off ([`NativeRbac::prefix_problem`]).
//!
//! Namespaces are created but never deleted: they may hold workloads, so removing one is left to
//! a human. Their RoleBindings are pruned like the custom ones: by label, from the caches.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{RoleBinding as RbacBinding, RoleRef, Subject};
use kube::api::ObjectMeta;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};
use sha2::{Digest, Sha256};

use super::apply::{managed_labels, metadata_matches};
use super::{Context, Result};
use crate::api::annotations::OWNER;
use crate::api::labels::SOURCE_NAMESPACE;
use crate::api::{Directory, NativeRbac, Role, labels};
use crate::rules::{UserPlan, is_dns1123_label};

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// The label selector of the native objects this controller manages (of one source namespace
/// when the controller is scoped to one).
pub(crate) fn selector(source: Option<&str>) -> String {
    let mut selector = format!("{}={}", labels::MANAGED_BY, labels::MANAGER);
    if let Some(ns) = source {
        selector.push_str(&format!(",{SOURCE_NAMESPACE}={ns}"));
    }
    selector
}

/// How a native RoleBinding is keyed in the caches' index: `namespace/name`.
pub(crate) fn key(rb: &RbacBinding) -> String {
    format!("{}/{}", rb.namespace().unwrap_or_default(), rb.name_any())
}

/// The namespace of a workspace: `{prefix}{workspace}`, shortened with a hash when too long.
pub fn namespace_name(prefix: &str, workspace: &str) -> String {
    let name = format!("{prefix}{workspace}");
    if is_dns1123_label(&name) {
        return name;
    }
    let hash = hex::encode(&Sha256::digest(name.as_bytes())[..4]);
    let head: String = name.chars().take(63 - 9).collect();
    format!("{}-{hash}", head.trim_end_matches('-'))
}

/// The ClusterRole bound for a workspace role.
fn cluster_role(config: &NativeRbac, role: Role) -> &str {
    match role {
        Role::Admin | Role::Owner => &config.cluster_roles.admin,
        Role::Manager => &config.cluster_roles.manager,
        Role::Member => &config.cluster_roles.member,
    }
}

fn native_labels(source: &str, directory: &str, workspace: &str) -> BTreeMap<String, String> {
    let mut labels = managed_labels(Some(directory));
    labels.insert(SOURCE_NAMESPACE.into(), source.into());
    labels.insert(labels::WORKSPACE.into(), workspace.into());
    labels
}

/// The native settings of a Directory, unless off or refused for its prefix.
pub(crate) fn config(directory: &Directory) -> Option<&NativeRbac> {
    directory
        .spec
        .native_rbac
        .as_ref()
        .filter(|c| c.prefix_problem().is_none())
}

/// The native RoleBindings a user's plan asks for, with their workspaces.
pub(crate) fn desired(source: &str, directory: &Directory, plan: &UserPlan) -> Vec<(String, RbacBinding)> {
    let Some(config) = config(directory) else {
        return Vec::new();
    };
    let dir = directory.name_any();
    plan.workspaces
        .iter()
        .filter_map(|ws| {
            let role = ws.role?;
            let ns_name = namespace_name(&config.namespace_prefix, &ws.workspace);
            let mut labels = native_labels(source, &dir, &ws.workspace);
            labels.insert(labels::USER.into(), plan.user.clone());
            let cluster_role = cluster_role(config, role).to_string();
            // roleRef is immutable: the ClusterRole is part of the name, so a role change is a
            // new binding plus the deletion of the old one.
            let binding = RbacBinding {
                metadata: ObjectMeta {
                    name: Some(format!("scim-{}-{cluster_role}", plan.user)),
                    namespace: Some(ns_name),
                    labels: Some(labels),
                    ..Default::default()
                },
                role_ref: RoleRef {
                    api_group: Some(RBAC_GROUP.into()),
                    kind: "ClusterRole".into(),
                    name: cluster_role,
                },
                subjects: Some(vec![Subject {
                    api_group: Some(RBAC_GROUP.into()),
                    kind: "User".into(),
                    name: format!("{}{}", config.username_prefix, plan.user_name),
                    namespace: None,
                }]),
            };
            Some((ws.workspace.clone(), binding))
        })
        .collect()
}

/// Whether a workspace namespace may hold this Directory's native bindings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Claim {
    /// Created by this operator for this Directory (now, or before).
    Ours,
    /// Exists and is not ours; why, for the Workspace condition.
    NotOurs(String),
}

/// Claims namespace `name` of `workspace` for Directory `source/directory`: ours if it carries
/// our [`OWNER`] annotation, created (plain create) if it does not exist, refused otherwise.
/// Answered from the cache when the namespace is ours; a namespace the cache does not hold is
/// read from the API server.
pub(crate) async fn claim(ctx: &Context, source: &str, directory: &str, workspace: &str, name: &str) -> Result<Claim> {
    let owner = format!("{source}/{directory}");
    let decide = |ns: &Namespace| match ns.annotations().get(OWNER) {
        Some(o) if *o == owner => Claim::Ours,
        Some(other) => Claim::NotOurs(format!("namespace {name:?} belongs to Directory {other}")),
        None => Claim::NotOurs(format!(
            "namespace {name:?} exists and was not created by scim-operator for Directory {owner}"
        )),
    };
    if let Some(cached) = ctx.caches.native_namespaces.get(&ObjectRef::new(name)) {
        return Ok(decide(&cached));
    }
    let api = Api::<Namespace>::all(ctx.client.clone());
    if let Some(found) = api.get_opt(name).await? {
        return Ok(decide(&found));
    }
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(native_labels(source, directory, workspace)),
            annotations: Some(BTreeMap::from([(OWNER.to_string(), owner.clone())])),
            ..Default::default()
        },
        ..Default::default()
    };
    if ctx.writer.create_cluster(&namespace).await?.is_some() {
        return Ok(Claim::Ours);
    }
    // Created by someone else since the read: whoever it was, decide by what is there.
    Ok(match api.get_opt(name).await? {
        Some(found) => decide(&found),
        None => Claim::NotOurs(format!(
            "namespace {name:?} is being created or deleted by someone else"
        )),
    })
}

/// Applies a user's native RoleBindings where they differ from the caches, in the namespaces
/// that are ours, and deletes its other native RoleBindings.
pub(crate) async fn reconcile_user(
    ctx: &Context,
    source: &str,
    directory: Option<&Arc<Directory>>,
    plan: &UserPlan,
) -> Result<()> {
    let desired = directory.map_or_else(Vec::new, |d| desired(source, d, plan));
    let dir = directory.map(|d| d.name_any()).unwrap_or_default();
    let mut keep = BTreeSet::new();
    for (workspace, binding) in desired {
        let ns = binding.namespace().unwrap_or_default();
        if claim(ctx, source, &dir, &workspace, &ns).await? != Claim::Ours {
            continue;
        }
        let cached = ctx
            .caches
            .native_bindings
            .get(&ObjectRef::new(&binding.name_any()).within(&ns));
        let same = cached.is_some_and(|c| {
            c.role_ref == binding.role_ref && c.subjects == binding.subjects && metadata_matches(c.as_ref(), &binding)
        });
        if !same {
            ctx.writer.apply(&binding).await?;
        }
        keep.insert(key(&binding));
    }
    for stale in ctx.caches.user_native_bindings.objects(source, &plan.user) {
        if !keep.contains(&stale) {
            let (ns, name) = stale.split_once('/').unwrap_or_default();
            ctx.writer.delete::<RbacBinding>(ns, name).await?;
        }
    }
    Ok(())
}

/// Deletes the native RoleBindings of users of `source` that no longer exist.
pub(crate) async fn prune_orphans(ctx: &Context, source: &str) -> Result<()> {
    let orphans = ctx.caches.native_bindings.state_filter(|rb| {
        rb.labels().get(SOURCE_NAMESPACE).map(String::as_str) == Some(source)
            && rb
                .labels()
                .get(labels::USER)
                .is_none_or(|u| ctx.caches.user(source, u).is_none())
    });
    for rb in orphans {
        let ns = rb.namespace().unwrap_or_default();
        ctx.writer.delete::<RbacBinding>(&ns, &rb.name_any()).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_names_are_labels() {
        assert_eq!(namespace_name("ws-", "sales"), "ws-sales");
        let long = namespace_name("team-", &"a".repeat(63));
        assert!(is_dns1123_label(&long), "{long}");
        assert_ne!(long, namespace_name("team-", &"a".repeat(62)));
    }

    #[test]
    fn a_role_change_is_a_new_binding_name() {
        let spec = crate::api::UserSpec {
            user_name: "alice@example.com".into(),
            groups: vec!["g".into()],
            active: Some(true),
            ..Default::default()
        };
        let info = crate::rules::GroupInfo::new("ws-Sales-role-manager");
        let plan = crate::rules::plan_user(
            &crate::rules::UserInput::from_spec("alice", &spec),
            |_| Some(&info),
            Some(&Default::default()),
        );
        let mut dir = Directory::new("entra", Default::default());
        dir.spec.native_rbac = Some(NativeRbac {
            namespace_prefix: "ws-".into(),
            username_prefix: "oidc:".into(),
            cluster_roles: Default::default(),
        });
        let desired = desired("idp", &dir, &plan);
        assert_eq!(desired.len(), 1);
        let (workspace, rb) = &desired[0];
        assert_eq!(workspace, "sales");
        assert_eq!(rb.namespace().as_deref(), Some("ws-sales"));
        assert_eq!(rb.name_any(), "scim-alice-edit");
        assert_eq!(rb.role_ref.name, "edit");
        assert_eq!(rb.subjects.as_ref().unwrap()[0].name, "oidc:alice@example.com");
    }
}
