//! `scim-operator export`: a directory's provisioned state as clean, stable YAML for GitOps review.
//!
//! One file per object, `<out>/<namespace>/<plural>/<name>.yaml`, holding `apiVersion`, `kind`,
//! `metadata` (name, namespace, labels, annotations) and `spec`: no status, no server-assigned or
//! volatile fields. Keys are sorted (after `apiVersion`, `kind`, `metadata`, `spec` at the top), so
//! exporting twice without a change gives byte-identical files, and one provisioning change
//! changes one file by the lines that changed. Files of objects that are gone are removed; files
//! that did not change are not rewritten.
//!
//! Dropped from `metadata`: everything but name, namespace, labels and annotations (uid,
//! resourceVersion, generation, creationTimestamp, managedFields, ownerReferences — they hold
//! cluster-specific UIDs —, finalizers); the [`VOLATILE_ANNOTATIONS`] and the
//! [`TRACKING_LABELS`] that GitOps tools add.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use kube::api::{Api, ListParams};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::api::annotations::LAST_MODIFIED;
use crate::api::{Directory, Group, RoleBinding, User, Workspace, labels};

/// Annotations that change without a provisioning change; never exported.
pub const VOLATILE_ANNOTATIONS: &[&str] = &[
    LAST_MODIFIED,
    crate::scim::trace::LAST_REQUEST,
    "kubectl.kubernetes.io/last-applied-configuration",
    "argocd.argoproj.io/tracking-id",
];

/// Labels set by Argo CD or Flux to track what they applied; never exported. The operator itself
/// never sets `app.kubernetes.io/instance` on the objects it writes, so that label can only come
/// from a GitOps tool (Argo CD's default label tracking).
pub const TRACKING_LABELS: &[&str] = &[
    "argocd.argoproj.io/instance",
    "app.kubernetes.io/instance",
    "kustomize.toolkit.fluxcd.io/name",
    "kustomize.toolkit.fluxcd.io/namespace",
];

/// The kinds' folder names, written (or cleaned) on every export.
const WORKSPACES: &str = "workspaces";
const ROLEBINDINGS: &str = "rolebindings";
const USERS: &str = "users";
const GROUPS: &str = "groups";

/// What to export.
#[derive(Clone, Debug, Default)]
pub struct ExportOptions {
    /// Only objects of this Directory (label `scim-operator.io/directory`); it must exist. All of
    /// the namespace's when unset (a namespace holds at most one Directory).
    pub directory: Option<String>,
    /// Also export Users and Groups. Users hold personal data (names, emails): mind where the
    /// export goes. Without this flag, `users/` and `groups/` of an earlier export are removed.
    pub include_users_groups: bool,
}

/// What an export did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// Files whose content changed or that are new.
    pub written: Vec<PathBuf>,
    /// Files that were already up to date.
    pub unchanged: usize,
    /// Files of objects that are gone, removed.
    pub removed: Vec<PathBuf>,
}

/// Exports `namespace`'s provisioned state into `out_dir/<namespace>/`.
pub async fn export(
    client: &Client,
    namespace: &str,
    options: &ExportOptions,
    out_dir: &Path,
) -> anyhow::Result<ExportSummary> {
    let mut params = ListParams::default();
    if let Some(directory) = &options.directory {
        Api::<Directory>::namespaced(client.clone(), namespace)
            .get_opt(directory)
            .await?
            .with_context(|| format!("no Directory {namespace}/{directory}"))?;
        params = params.labels(&format!("{}={directory}", labels::DIRECTORY));
    }
    let root = out_dir.join(safe_segment(namespace)?);
    let mut summary = ExportSummary::default();
    let mut kinds = vec![
        (WORKSPACES, list::<Workspace>(client, namespace, &params).await?),
        (ROLEBINDINGS, list::<RoleBinding>(client, namespace, &params).await?),
    ];
    if options.include_users_groups {
        kinds.push((USERS, list::<User>(client, namespace, &params).await?));
        kinds.push((GROUPS, list::<Group>(client, namespace, &params).await?));
    } else {
        kinds.push((USERS, BTreeMap::new()));
        kinds.push((GROUPS, BTreeMap::new()));
    }
    for (folder, files) in kinds {
        sync_folder(&root.join(folder), &files, &mut summary)?;
    }
    Ok(summary)
}

/// Lists one kind and renders each object: file name → YAML.
async fn list<K>(client: &Client, namespace: &str, params: &ListParams) -> anyhow::Result<BTreeMap<String, String>>
where
    K: Resource<Scope = kube::core::NamespaceResourceScope> + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
    K::DynamicType: Default,
{
    let objects = Api::<K>::namespaced(client.clone(), namespace)
        .list(params)
        .await
        .with_context(|| format!("listing {}", K::plural(&Default::default())))?;
    let mut files = BTreeMap::new();
    for object in objects {
        let name = object.meta().name.clone().unwrap_or_default();
        let value = serde_json::to_value(&object)?;
        files.insert(format!("{}.yaml", safe_segment(&name)?), to_yaml(&clean(value))?);
    }
    Ok(files)
}

/// An object without status, server-assigned metadata, volatile annotations and tracking labels.
pub fn clean(mut object: Value) -> Value {
    let Some(map) = object.as_object_mut() else {
        return object;
    };
    map.remove("status");
    if let Some(Value::Object(meta)) = map.get_mut("metadata") {
        meta.retain(|k, _| matches!(k.as_str(), "name" | "namespace" | "labels" | "annotations"));
        for (field, drop) in [("labels", TRACKING_LABELS), ("annotations", VOLATILE_ANNOTATIONS)] {
            if let Some(Value::Object(entries)) = meta.get_mut(field) {
                entries.retain(|k, _| !drop.contains(&k.as_str()));
            }
            if meta
                .get(field)
                .is_some_and(|v| v.as_object().is_none_or(|m| m.is_empty()))
            {
                meta.remove(field);
            }
        }
    }
    object
}

/// YAML with the top-level keys in Kubernetes order and every other map sorted by key.
pub fn to_yaml(object: &Value) -> anyhow::Result<String> {
    let Value::Object(map) = object else {
        bail!("not an object");
    };
    let yaml = crate::yaml::to_string(&Top(map))?;
    Ok(if yaml.ends_with('\n') {
        yaml
    } else {
        format!("{yaml}\n")
    })
}

/// The top-level keys Kubernetes writes first, in its order; the rest follow sorted.
const HEAD: [&str; 4] = ["apiVersion", "kind", "metadata", "spec"];

/// An object serialised with [`HEAD`] first and every other key (at any depth) sorted.
struct Top<'a>(&'a serde_json::Map<String, Value>);

impl Serialize for Top<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let rest: BTreeMap<&String, &Value> = self.0.iter().filter(|(k, _)| !HEAD.contains(&k.as_str())).collect();
        let mut out = serializer.serialize_map(Some(self.0.len()))?;
        for key in HEAD {
            if let Some(value) = self.0.get(key) {
                out.serialize_entry(key, &Sorted(value))?;
            }
        }
        for (key, value) in rest {
            out.serialize_entry(key, &Sorted(value))?;
        }
        out.end()
    }
}

/// A value whose maps serialise with their keys sorted; lists keep their (already
/// deterministic) order.
struct Sorted<'a>(&'a Value);

impl Serialize for Sorted<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            Value::Object(map) => {
                let ordered: BTreeMap<&String, &Value> = map.iter().collect();
                let mut out = serializer.serialize_map(Some(ordered.len()))?;
                for (key, value) in ordered {
                    out.serialize_entry(key, &Sorted(value))?;
                }
                out.end()
            }
            Value::Array(items) => {
                let mut out = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    out.serialize_element(&Sorted(item))?;
                }
                out.end()
            }
            scalar => scalar.serialize(serializer),
        }
    }
}

/// Makes `dir` hold exactly `files` (its other `*.yaml` files are removed; nothing else is
/// touched), rewriting only files whose content changed. An empty folder is removed.
fn sync_folder(dir: &Path, files: &BTreeMap<String, String>, summary: &mut ExportSummary) -> anyhow::Result<()> {
    let existing: BTreeSet<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".yaml"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeSet::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    for stale in existing.iter().filter(|n| !files.contains_key(*n)) {
        let path = dir.join(stale);
        std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        summary.removed.push(path);
    }
    if !files.is_empty() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    for (name, content) in files {
        let path = dir.join(name);
        if std::fs::read(&path).is_ok_and(|old| old == content.as_bytes()) {
            summary.unchanged += 1;
            continue;
        }
        // Written next to the target and renamed over it: a reader never sees half a file.
        let temp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&temp, content).with_context(|| format!("writing {}", temp.display()))?;
        std::fs::rename(&temp, &path).with_context(|| format!("writing {}", path.display()))?;
        summary.written.push(path);
    }
    if files.is_empty() && std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none()) {
        std::fs::remove_dir(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    Ok(())
}

/// A namespace or object name as one path segment (they are DNS names; anything else is refused).
fn safe_segment(name: &str) -> anyhow::Result<&str> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    if ok {
        Ok(name)
    } else {
        bail!("{name:?} is not a DNS name")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn clean_keeps_only_reviewable_fields() {
        let object = json!({
            "apiVersion": "scim-operator.io/v1alpha1",
            "kind": "RoleBinding",
            "metadata": {
                "name": "rb", "namespace": "ns", "uid": "u", "resourceVersion": "7", "generation": 3,
                "creationTimestamp": "2026-01-01T00:00:00Z", "managedFields": [{}],
                "ownerReferences": [{"uid": "x"}], "finalizers": ["f"],
                "labels": {"team": "a", "argocd.argoproj.io/instance": "app", "app.kubernetes.io/instance": "app"},
                "annotations": {"scim-operator.io/last-modified": "now", "kubectl.kubernetes.io/last-applied-configuration": "{}"}
            },
            "spec": {"role": "admin"},
            "status": {"conflict": true}
        });
        let cleaned = clean(object);
        assert_eq!(
            cleaned,
            json!({
                "apiVersion": "scim-operator.io/v1alpha1",
                "kind": "RoleBinding",
                "metadata": {"name": "rb", "namespace": "ns", "labels": {"team": "a"}},
                "spec": {"role": "admin"}
            })
        );
    }

    #[test]
    fn yaml_has_kubernetes_order_then_sorted_keys() {
        let object = json!({
            "spec": {"z": 1, "a": [{"y": 1, "b": 2}]},
            "metadata": {"namespace": "ns", "name": "n"},
            "kind": "Workspace",
            "apiVersion": "v"
        });
        assert_eq!(
            to_yaml(&object).unwrap(),
            "apiVersion: v\nkind: Workspace\nmetadata:\n  name: \"n\"\n  namespace: ns\nspec:\n  a:\n  - b: 2\n    \"y\": 1\n  z: 1\n"
        );
    }

    /// Strings that YAML 1.1 readers (sigs.k8s.io/yaml, so kubectl, Argo CD, Flux) take for
    /// booleans are quoted, so an exported name `n` or `yes` reads back as a string.
    #[test]
    fn yaml_quotes_what_go_readers_take_for_booleans() {
        let object =
            json!({"apiVersion": "v", "kind": "K", "metadata": {"name": "yes"}, "spec": {"a": "on", "b": "plain"}});
        assert_eq!(
            to_yaml(&object).unwrap(),
            "apiVersion: v\nkind: K\nmetadata:\n  name: \"yes\"\nspec:\n  a: \"on\"\n  b: plain\n"
        );
    }

    #[test]
    fn path_segments_are_dns_names() {
        assert!(safe_segment("ws-sales.eu").is_ok());
        for bad in ["", ".", "..", "a/b", "A", "a b"] {
            assert!(safe_segment(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sync_folder_writes_changes_and_removes_stale_files() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("ws");
        let mut summary = ExportSummary::default();
        let files = BTreeMap::from([
            ("a.yaml".to_string(), "a\n".to_string()),
            ("b.yaml".into(), "b\n".into()),
        ]);
        sync_folder(&folder, &files, &mut summary).unwrap();
        assert_eq!(summary.written.len(), 2);
        std::fs::write(folder.join("README.md"), "kept").unwrap();
        let mut summary = ExportSummary::default();
        let files = BTreeMap::from([("a.yaml".to_string(), "a2\n".to_string())]);
        sync_folder(&folder, &files, &mut summary).unwrap();
        assert_eq!(summary.written, [folder.join("a.yaml")]);
        assert_eq!(summary.removed, [folder.join("b.yaml")]);
        assert!(folder.join("README.md").exists(), "only *.yaml files are managed");
        let mut summary = ExportSummary::default();
        sync_folder(&folder, &BTreeMap::new(), &mut summary).unwrap();
        assert!(folder.exists(), "a folder with other files stays");
    }
}
