//! The only place that writes to the API server: server-side apply of specs and statuses with
//! field manager `scim-operator`, the rare merge patch, and deletes. Every write is counted in
//! `scim_operator_api_writes_total{kind,verb}`; callers compare desired with cached first, so a
//! resync with no change never gets here.

use std::collections::BTreeMap;
use std::fmt::Debug;

use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::core::NamespaceResourceScope;
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Metrics;
use super::Result;
use crate::api::labels;

/// The field manager of every write.
pub const FIELD_MANAGER: &str = "scim-operator";

/// Writes objects and counts the writes.
#[derive(Clone)]
pub(crate) struct Writer {
    client: Client,
    metrics: Metrics,
}

impl Writer {
    pub fn new(client: Client, metrics: Metrics) -> Self {
        Writer { client, metrics }
    }

    fn api<K>(&self, namespace: &str) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// Server-side applies `obj` and returns the object as stored. Its status is ignored by the
    /// API server for kinds with a status subresource (all but RoleBinding).
    pub async fn apply<K>(&self, obj: &K) -> Result<K>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()> + Clone + Debug + Serialize + DeserializeOwned,
    {
        let ns = obj.namespace().unwrap_or_default();
        self.metrics.write(&kind_label::<K>(), "apply");
        let params = PatchParams::apply(FIELD_MANAGER).force();
        Ok(self
            .api::<K>(&ns)
            .patch(&obj.name_any(), &params, &Patch::Apply(obj))
            .await?)
    }

    /// Creates a cluster-scoped object (a native-RBAC Namespace) with a plain create, so that
    /// one that exists is never taken over: `None` when the name is taken.
    pub async fn create_cluster<K>(&self, obj: &K) -> Result<Option<K>>
    where
        K: Resource<Scope = kube::core::ClusterResourceScope, DynamicType = ()>
            + Clone
            + Debug
            + Serialize
            + DeserializeOwned,
    {
        self.metrics.write(&kind_label::<K>(), "create");
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PostParams::default()
        };
        match Api::<K>::all(self.client.clone()).create(&params, obj).await {
            Ok(created) => Ok(Some(created)),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// Server-side applies the status subresource of `name`.
    pub async fn apply_status<K, S>(&self, namespace: &str, name: &str, status: &S) -> Result<()>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()> + Clone + Debug + DeserializeOwned,
        S: Serialize,
    {
        self.metrics.write(&kind_label::<K>(), "status");
        let body = serde_json::json!({
            "apiVersion": K::api_version(&()),
            "kind": K::kind(&()),
            "metadata": { "name": name, "namespace": namespace },
            "status": status,
        });
        let params = PatchParams::apply(FIELD_MANAGER).force();
        self.api::<K>(namespace)
            .patch_status(name, &params, &Patch::Apply(&body))
            .await?;
        Ok(())
    }

    /// JSON-merge-patches `name` (a correction server-side apply cannot make).
    pub async fn merge_patch<K>(&self, namespace: &str, name: &str, patch: &serde_json::Value) -> Result<()>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()> + Clone + Debug + DeserializeOwned,
    {
        self.metrics.write(&kind_label::<K>(), "patch");
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PatchParams::default()
        };
        self.api::<K>(namespace)
            .patch(name, &params, &Patch::Merge(patch))
            .await?;
        Ok(())
    }

    /// Reads `name` from the API server (not the cache): `None` when it does not exist.
    pub async fn get_opt<K>(&self, namespace: &str, name: &str) -> Result<Option<K>>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()> + Clone + Debug + DeserializeOwned,
    {
        Ok(self.api::<K>(namespace).get_opt(name).await?)
    }

    /// Deletes `name`; an object already gone is fine.
    pub async fn delete<K>(&self, namespace: &str, name: &str) -> Result<()>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()> + Clone + Debug + DeserializeOwned,
    {
        self.metrics.write(&kind_label::<K>(), "delete");
        match self.api::<K>(namespace).delete(name, &DeleteParams::background()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(error) => Err(error.into()),
        }
    }
}

/// The `kind` label of a write: our kinds by name, others qualified by API group
/// (`rbac.authorization.k8s.io/RoleBinding`), core ones by name (`Namespace`).
pub(crate) fn kind_label<K: Resource<DynamicType = ()>>() -> String {
    let group = K::group(&());
    if group.is_empty() || group == crate::api::GROUP {
        K::kind(&()).into_owned()
    } else {
        format!("{group}/{}", K::kind(&()))
    }
}

/// The labels every derived object carries.
pub(crate) fn managed_labels(directory: Option<&str>) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([(labels::MANAGED_BY.to_string(), labels::MANAGER.to_string())]);
    if let Some(dir) = directory {
        labels.insert(labels::DIRECTORY.to_string(), dir.to_string());
    }
    labels
}

/// Whether the cached object already carries the desired labels and owner references, so that
/// re-applying its metadata would change nothing.
pub(crate) fn metadata_matches<K: Resource>(cached: &K, desired: &K) -> bool {
    let have = cached.labels();
    let labels_ok = desired
        .labels()
        .iter()
        .all(|(k, v)| have.get(k) == Some(v))
        // A label we set before (e.g. the directory) and no longer want must be removed.
        && have
            .keys()
            .filter(|k| k.starts_with(labels::PREFIX))
            .all(|k| desired.labels().contains_key(k));
    let owners_ok = desired
        .owner_references()
        .iter()
        .all(|o| cached.owner_references().iter().any(|c| c.uid == o.uid));
    labels_ok && owners_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Role, RoleBinding, RoleBindingSpec};

    fn rb(labels: &[(&str, &str)]) -> RoleBinding {
        let mut rb = RoleBinding::new(
            "u1",
            RoleBindingSpec {
                user: "u1".into(),
                user_name: "a".into(),
                workspace: None,
                role: Role::Member,
            },
        );
        rb.metadata.labels = Some(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
        rb
    }

    #[test]
    fn metadata_matches_ignores_foreign_labels_but_not_stale_own_ones() {
        let desired = rb(&[(labels::USER, "u1")]);
        assert!(metadata_matches(&rb(&[(labels::USER, "u1"), ("team", "x")]), &desired));
        assert!(!metadata_matches(&rb(&[(labels::USER, "u2")]), &desired));
        assert!(!metadata_matches(
            &rb(&[(labels::USER, "u1"), (labels::DIRECTORY, "old")]),
            &desired
        ));
    }
}
