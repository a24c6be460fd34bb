//! Memberships of deleted groups.
//!
//! Members are recorded on the Users, so a group deleted outside SCIM (`kubectl delete`, a GitOps
//! prune), or a member PATCH racing a DELETE on another replica, can leave a User naming a group
//! that no longer exists. Such an entry grants nothing (a plan counts only groups that exist) and
//! SCIM never shows it; ids are never reused, so it can never become valid again. Once the API
//! server confirms the group is gone, the leader removes the entry.

use std::collections::BTreeSet;

use kube::runtime::reflector::ObjectRef;

use super::{Context, Error, Result};
use crate::api::{Group, User};
use crate::watch::CachedUser;

/// Removes from `user` the groups its namespace no longer has. Reads the API server only for
/// groups missing from the (synced) cache, which is rare; writes only when one is really gone.
pub(crate) async fn purge_deleted_groups(ctx: &Context, user: &CachedUser, ns: &str) -> Result<()> {
    let unseen: Vec<&String> = user
        .groups
        .iter()
        .filter(|g| ctx.caches.groups.get(&ObjectRef::new(g).within(ns)).is_none())
        .collect();
    let mut gone = BTreeSet::new();
    for group in unseen {
        if ctx.writer.get_opt::<Group>(ns, group).await?.is_none() {
            gone.insert(group.as_str());
        }
    }
    if gone.is_empty() {
        return Ok(());
    }
    let kept: Vec<&String> = user.groups.iter().filter(|g| !gone.contains(g.as_str())).collect();
    // Conditional on the version planned from: a newer version is reconciled on its own.
    let patch = serde_json::json!({
        "metadata": {"resourceVersion": user.resource_version()},
        "spec": {"groups": kept},
    });
    match ctx.writer.merge_patch::<User>(ns, user.name(), &patch).await {
        Err(Error::Kube(kube::Error::Api(s))) if s.is_conflict() || s.is_not_found() => Ok(()),
        result => {
            tracing::info!(namespace = %ns, user = %user.name(), removed = gone.len(), "memberships of deleted groups removed");
            result
        }
    }
}
