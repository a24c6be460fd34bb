//! The RoleBinding cache. Two bindings per user make it the largest cache, and the controller
//! never reads a cached binding back, it only asks "is it still what I would write?". So each
//! binding is kept as a [`Record`] of a few hundred bytes (with its key and small allocations)
//! instead of a decoded object of about 1.4 KiB: its generation, its user, a fingerprint of
//! everything the user reconcile compares, and its conditions' transition times.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, RwLock};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use tokio::sync::watch;

use crate::api::{RoleBinding, RoleBindingSpec, RoleBindingStatus, Transitions, hash_conditions, labels};

/// What is kept of one cached RoleBinding.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Record {
    pub generation: i64,
    /// The `scim-operator.io/user` label; once cached, the one string of the user's key in
    /// its namespace's `by_user` index.
    pub user: Option<Arc<str>>,
    /// Labelled `app.kubernetes.io/managed-by: scim-operator`.
    pub managed: bool,
    /// See [`fingerprint`].
    pub fingerprint: u64,
    /// When each known condition last changed status, so a rewrite keeps the transition times.
    transitions: Transitions,
}

impl Record {
    pub fn new(rb: &RoleBinding) -> Record {
        Record {
            generation: rb.metadata.generation.unwrap_or_default(),
            user: rb.labels().get(labels::USER).map(|u| u.as_str().into()),
            managed: rb.labels().get(labels::MANAGED_BY).map(String::as_str) == Some(labels::MANAGER),
            fingerprint: fingerprint(&rb.metadata, &rb.spec, rb.status.as_ref()),
            transitions: Transitions::of(rb.status.iter().flat_map(|s| &s.conditions)),
        }
    }

    /// The cached status as far as [`crate::controller::status::binding_status`] reads it as the
    /// previous one: each condition's type, status and transition time.
    pub fn previous_status(&self) -> RoleBindingStatus {
        RoleBindingStatus {
            conditions: self.transitions.previous(),
            ..Default::default()
        }
    }
}

/// A hash of what the user reconcile compares between a binding it would write and the stored
/// one: the spec, our labels (`app.kubernetes.io/managed-by` and every `scim-operator.io/` one,
/// so a stale one of ours shows), the controller owner's uid, and the status but for transition
/// times. Foreign labels and owners do not count: they are not ours to remove. 64 bits make a
/// collision, which would hide one needed write, practically impossible.
pub(crate) fn fingerprint(meta: &ObjectMeta, spec: &RoleBindingSpec, status: Option<&RoleBindingStatus>) -> u64 {
    let mut hasher = DefaultHasher::new();
    (&spec.user, &spec.user_name, &spec.workspace, spec.role).hash(&mut hasher);
    for (key, value) in meta.labels.iter().flatten() {
        if key == labels::MANAGED_BY || key.starts_with(labels::PREFIX) {
            (key, value).hash(&mut hasher);
        }
    }
    let owners = meta.owner_references.iter().flatten();
    owners
        .filter(|o| o.controller == Some(true))
        .for_each(|o| o.uid.hash(&mut hasher));
    if let Some(status) = status {
        (status.observed_generation, &status.source_groups, status.conflict).hash(&mut hasher);
        hash_conditions(&status.conditions, &mut hasher);
    }
    hasher.finish()
}

/// The bindings of one namespace. A binding's name and its user's id are each stored once and
/// shared by the records and the index (two bindings per user make these strings add up).
#[derive(Debug, Default)]
struct Namespace {
    records: HashMap<Arc<str>, Record>,
    /// User → its bindings (by the user label), for the user reconcile's prune.
    by_user: HashMap<Arc<str>, Vec<Arc<str>>>,
}

impl Namespace {
    fn insert(&mut self, name: &str, mut record: Record) {
        // The strings already held, if any.
        let name: Arc<str> = match self.records.get_key_value(name) {
            Some((held, _)) => held.clone(),
            None => name.into(),
        };
        if let Some(user) = &mut record.user
            && let Some((held, _)) = self.by_user.get_key_value(user)
        {
            *user = held.clone();
        }
        let user = record.user.clone();
        let old_user = self.records.insert(name.clone(), record).and_then(|r| r.user);
        if old_user != user {
            self.unlink(&name, old_user.as_deref());
            if let Some(user) = user {
                self.by_user.entry(user).or_default().push(name);
            }
        }
    }

    fn remove(&mut self, name: &str) {
        if let Some(record) = self.records.remove(name) {
            self.unlink(name, record.user.as_deref());
        }
    }

    fn unlink(&mut self, name: &str, user: Option<&str>) {
        let Some(user) = user else { return };
        if let Some(names) = self.by_user.get_mut(user) {
            names.retain(|n| &**n != name);
            if names.is_empty() {
                self.by_user.remove(user);
            }
        }
    }
}

type Records = HashMap<String, Namespace>;

/// Records by namespace and name, filled by the RoleBinding watch.
#[derive(Debug)]
pub(crate) struct BindingCache {
    inner: RwLock<Inner>,
    listed: watch::Sender<bool>,
}

#[derive(Debug, Default)]
struct Inner {
    live: Records,
    /// What a relist has listed so far; replaces `live` when it is complete.
    relist: Option<Records>,
}

impl Default for BindingCache {
    fn default() -> Self {
        BindingCache {
            inner: RwLock::default(),
            listed: watch::Sender::new(false),
        }
    }
}

impl BindingCache {
    pub fn get(&self, namespace: &str, name: &str) -> Option<Record> {
        let inner = self.inner.read().expect("binding cache lock");
        inner.live.get(namespace)?.records.get(name).cloned()
    }

    /// The bindings labelled with `user`, sorted.
    pub fn of_user(&self, namespace: &str, user: &str) -> Vec<String> {
        let inner = self.inner.read().expect("binding cache lock");
        let names = inner.live.get(namespace).and_then(|ns| ns.by_user.get(user));
        let mut names: Vec<String> = names.into_iter().flatten().map(|n| n.to_string()).collect();
        names.sort();
        names
    }

    /// Name and user of every binding of ours in `namespace`.
    pub fn managed_in(&self, namespace: &str) -> Vec<(String, Option<String>)> {
        let inner = self.inner.read().expect("binding cache lock");
        let records = inner.live.get(namespace).into_iter().flat_map(|ns| &ns.records);
        records
            .filter(|(_, r)| r.managed)
            .map(|(name, r)| (name.to_string(), r.user.as_deref().map(str::to_string)))
            .collect()
    }

    pub fn namespaces(&self) -> Vec<String> {
        let inner = self.inner.read().expect("binding cache lock");
        let held = inner.live.iter().filter(|(_, ns)| !ns.records.is_empty());
        held.map(|(ns, _)| ns.clone()).collect()
    }

    /// Stores a watched binding; returns whether its generation is new (a create or a change
    /// to spec or status, both of which bump a RoleBinding's generation).
    pub fn apply(&self, rb: &RoleBinding) -> bool {
        let record = Record::new(rb);
        let (ns, name) = (rb.namespace().unwrap_or_default(), rb.name_any());
        let mut inner = self.inner.write().expect("binding cache lock");
        let cached = inner.live.get(&ns).and_then(|n| n.records.get(name.as_str()));
        let changed = cached.map(|r| r.generation) != Some(record.generation);
        let target = match inner.relist.as_mut() {
            Some(relist) => relist,
            None => &mut inner.live,
        };
        target.entry(ns).or_default().insert(&name, record);
        changed
    }

    pub fn delete(&self, rb: &RoleBinding) {
        let ns = rb.namespace().unwrap_or_default();
        let mut inner = self.inner.write().expect("binding cache lock");
        if let Some(records) = inner.live.get_mut(&ns) {
            records.remove(&rb.name_any());
        }
    }

    /// A relist begins: until it is complete, readers keep seeing what was cached before.
    pub fn begin_relist(&self) {
        self.inner.write().expect("binding cache lock").relist = Some(Records::new());
    }

    /// A relist is complete: it replaces the cache, and the cache counts as listed.
    pub fn end_relist(&self) {
        let mut inner = self.inner.write().expect("binding cache lock");
        if let Some(relist) = inner.relist.take() {
            inner.live = relist;
        }
        drop(inner);
        self.listed.send_replace(true);
    }

    /// Waits until the first list is complete.
    pub async fn wait_until_listed(&self) {
        let mut listed = self.listed.subscribe();
        // The sender lives as long as `self`, so waiting cannot fail.
        let _ = listed.wait_for(|done| *done).await;
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, OwnerReference, Time};

    use super::*;
    use crate::api::{Role, condition};

    fn time(s: &str) -> Time {
        Time(s.parse().expect("timestamp"))
    }

    fn condition(type_: &str, status: &str, message: &str, since: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: crate::api::reason::BOUND.into(),
            message: message.into(),
            observed_generation: Some(2),
            last_transition_time: time(since),
        }
    }

    /// What the controller would write for alice's Sales admin binding.
    fn desired() -> RoleBinding {
        let mut rb = RoleBinding::new(
            "alice.sales",
            RoleBindingSpec {
                user: "alice".into(),
                user_name: "alice@example.com".into(),
                workspace: Some("sales".into()),
                role: Role::Admin,
            },
        );
        rb.metadata.namespace = Some("ns".into());
        rb.metadata.labels = Some(
            [
                (labels::MANAGED_BY, labels::MANAGER),
                (labels::USER, "alice"),
                (labels::WORKSPACE, "sales"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into(),
        );
        rb.metadata.owner_references = Some(vec![OwnerReference {
            uid: "0b0c".into(),
            controller: Some(true),
            ..Default::default()
        }]);
        rb.status = Some(RoleBindingStatus {
            observed_generation: Some(2),
            conditions: vec![
                condition(condition::CONFLICT, "False", "", "2026-11-28T10:00:00Z"),
                condition(condition::READY, "True", "bound", "2026-11-28T10:00:00Z"),
            ],
            source_groups: vec!["ws-Sales-role-admin".into()],
            conflict: false,
        });
        rb
    }

    fn fingerprint_of(rb: &RoleBinding) -> u64 {
        fingerprint(&rb.metadata, &rb.spec, rb.status.as_ref())
    }

    #[test]
    fn a_stored_binding_matches_what_would_be_written_despite_volatile_and_foreign_fields() {
        let mut stored = desired();
        let meta = &mut stored.metadata;
        meta.uid = Some("9f2e".into());
        meta.resource_version = Some("42".into());
        meta.generation = Some(2);
        meta.labels.get_or_insert_default().insert("team".into(), "x".into());
        meta.owner_references.get_or_insert_default().push(OwnerReference {
            uid: "other".into(),
            ..Default::default()
        });
        for c in &mut stored.status.as_mut().unwrap().conditions {
            c.last_transition_time = time("2026-11-01T00:00:00Z");
        }
        let record = Record::new(&stored);
        assert_eq!(record.fingerprint, fingerprint_of(&desired()));
        assert_eq!((record.generation, record.managed), (2, true));
        assert_eq!(record.user.as_deref(), Some("alice"));
    }

    #[test]
    fn what_the_controller_must_correct_changes_the_fingerprint() {
        let want = fingerprint_of(&desired());
        let edits: [fn(&mut RoleBinding); 6] = [
            |rb| rb.spec.role = Role::Member,
            |rb| {
                rb.labels_mut().insert(labels::DIRECTORY.into(), "stale".into());
            },
            |rb| {
                rb.labels_mut().remove(labels::WORKSPACE);
            },
            |rb| rb.metadata.owner_references.as_mut().unwrap()[0].uid = "someone-else".into(),
            |rb| rb.status.as_mut().unwrap().conditions[1].message = "forged".into(),
            |rb| rb.status.as_mut().unwrap().observed_generation = Some(1),
        ];
        for (i, edit) in edits.into_iter().enumerate() {
            let mut rb = desired();
            edit(&mut rb);
            assert_ne!(fingerprint_of(&rb), want, "edit {i} went unnoticed");
        }
    }

    #[test]
    fn the_previous_status_keeps_each_conditions_transition_time() {
        let record = Record::new(&desired());
        let previous = record.previous_status();
        let ready = previous
            .conditions
            .iter()
            .find(|c| c.type_ == condition::READY)
            .unwrap();
        assert_eq!(
            (ready.status.as_str(), &ready.last_transition_time),
            ("True", &time("2026-11-28T10:00:00Z"))
        );
        assert_eq!(previous.conditions.len(), 2);
    }

    #[test]
    fn a_relist_replaces_the_cache_only_when_complete() {
        let cache = BindingCache::default();
        let mut first = desired();
        first.metadata.generation = Some(1);
        assert!(cache.apply(&first), "a new binding is a change");
        assert!(!cache.apply(&first), "the same generation is not");
        cache.begin_relist();
        let mut second = desired();
        second.metadata.name = Some("alice.org".into());
        cache.apply(&second);
        assert!(
            cache.get("ns", "alice.sales").is_some(),
            "readers see the old state meanwhile"
        );
        assert!(cache.get("ns", "alice.org").is_none());
        assert_eq!(cache.of_user("ns", "alice"), ["alice.sales"]);
        cache.end_relist();
        assert_eq!(cache.of_user("ns", "alice"), ["alice.org"]);
        assert!(
            cache.get("ns", "alice.sales").is_none(),
            "not listed again: deleted while away"
        );
        assert_eq!(
            cache.managed_in("ns"),
            [("alice.org".to_string(), Some("alice".to_string()))]
        );
        cache.delete(&second);
        assert!(cache.managed_in("ns").is_empty());
        assert!(cache.of_user("ns", "alice").is_empty());
    }

    #[test]
    fn a_users_bindings_follow_the_user_label() {
        let cache = BindingCache::default();
        let mut sales = desired();
        cache.apply(&sales);
        let mut org = desired();
        org.metadata.name = Some("alice.org".into());
        cache.apply(&org);
        assert_eq!(cache.of_user("ns", "alice"), ["alice.org", "alice.sales"]);
        sales.labels_mut().insert(labels::USER.into(), "bob".into());
        cache.apply(&sales);
        assert_eq!(cache.of_user("ns", "alice"), ["alice.org"]);
        assert_eq!(cache.of_user("ns", "bob"), ["alice.sales"]);
    }

    #[test]
    fn names_and_users_are_stored_once() {
        let cache = BindingCache::default();
        let mut org = desired();
        org.metadata.name = Some("alice.org".into());
        for rb in [&desired(), &org, &desired()] {
            cache.apply(rb);
        }
        let inner = cache.inner.read().unwrap();
        let ns = &inner.live["ns"];
        let (user, names) = ns.by_user.get_key_value("alice").expect("indexed");
        for name in names {
            let (key, record) = ns.records.get_key_value(name).expect("recorded");
            assert!(
                Arc::ptr_eq(key, name),
                "{name}: one string for the record and the index"
            );
            let held = record.user.as_ref().expect("labelled");
            assert!(Arc::ptr_eq(held, user), "{name}: one string for the user");
        }
        assert_eq!(names.len(), 2, "applied again, not indexed twice");
    }
}
