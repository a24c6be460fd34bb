//! Users, Groups and Directories in memory, with the indexes every reader needs (userName,
//! externalId, displayName, a group's members; Directories by age).
//!
//! SCIM handlers read only from here, never list the API server per request. After a successful
//! write a handler records the returned object too, so a GET right after a write sees it even
//! before the watch event arrives; resourceVersions keep a late watch event from rolling it back.
//!
//! Fed by the controller's watches ([`Store::relisted`], [`Store::applied`], [`Store::deleted`])
//! or, in a process without a controller, by its own ([`Store::run`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use futures::{StreamExt, TryStreamExt};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use tokio::sync::watch;

use super::CachedUser;
use crate::api::{Directory, Group, User, fold_user_name};

/// Users and Groups of one namespace (one directory), with their indexes.
#[derive(Default)]
pub struct Namespace {
    /// By id; a BTreeMap so that listings come in a stable order. A user's id is one string
    /// shared by every index that names the user (four or more of them at 50,000 users add up).
    pub users: BTreeMap<Arc<str>, Arc<CachedUser>>,
    pub groups: BTreeMap<String, Arc<Group>>,
    user_by_name: HashMap<String, Arc<str>>,
    /// `(externalId, id)` pairs in one tree: externalIds are nearly always unique, and a set per
    /// value would cost a B-tree node (~0.3 KiB) per user.
    user_by_external_id: BTreeSet<(String, Arc<str>)>,
    group_by_name: HashMap<String, String>,
    group_by_external_id: BTreeSet<(String, String)>,
    members: HashMap<String, BTreeSet<Arc<str>>>,
}

impl Namespace {
    /// The user whose userName equals `user_name`, compared case-insensitively.
    pub fn user_by_name(&self, user_name: &str) -> Option<&Arc<CachedUser>> {
        self.users.get(self.user_by_name.get(&fold_user_name(user_name))?)
    }

    /// Users whose externalId is exactly `external_id`.
    pub fn users_by_external_id<'a>(&'a self, external_id: &str) -> impl Iterator<Item = &'a Arc<CachedUser>> + 'a {
        ids_under(&self.user_by_external_id, external_id).filter_map(|id| self.users.get(id))
    }

    /// The group whose displayName is exactly `display_name`.
    pub fn group_by_name(&self, display_name: &str) -> Option<&Arc<Group>> {
        self.groups.get(self.group_by_name.get(display_name)?)
    }

    /// Groups whose externalId is exactly `external_id`.
    pub fn groups_by_external_id<'a>(&'a self, external_id: &str) -> impl Iterator<Item = &'a Arc<Group>> + 'a {
        ids_under(&self.group_by_external_id, external_id).filter_map(|id| self.groups.get(id))
    }

    /// Ids of the members of a group, sorted.
    pub fn members(&self, group_id: &str) -> impl Iterator<Item = &str> {
        self.members.get(group_id).into_iter().flatten().map(|id| &**id)
    }

    /// Number of members of a group.
    pub fn member_count(&self, group_id: &str) -> usize {
        self.members.get(group_id).map_or(0, BTreeSet::len)
    }

    fn insert_user(&mut self, user: Arc<CachedUser>) {
        let id: Arc<str> = user.name().into();
        self.remove_user(&id);
        self.user_by_name.insert(fold_user_name(&user.user_name), id.clone());
        if let Some(ext) = &user.external_id {
            self.user_by_external_id.insert((ext.clone(), id.clone()));
        }
        for group in &user.groups {
            self.members.entry(group.clone()).or_default().insert(id.clone());
        }
        self.users.insert(id, user);
    }

    fn remove_user(&mut self, id: &str) -> Option<Arc<CachedUser>> {
        let (id, user) = self.users.remove_entry(id)?;
        let key = fold_user_name(&user.user_name);
        if self.user_by_name.get(&key).is_some_and(|v| *v == id) {
            self.user_by_name.remove(&key);
        }
        if let Some(ext) = &user.external_id {
            self.user_by_external_id.remove(&(ext.clone(), id.clone()));
        }
        for group in &user.groups {
            remove_from_set(&mut self.members, group, &id);
        }
        Some(user)
    }

    fn insert_group(&mut self, group: Arc<Group>) {
        let id = group.name_any();
        self.remove_group(&id);
        self.group_by_name.insert(group.spec.display_name.clone(), id.clone());
        if let Some(ext) = &group.spec.external_id {
            self.group_by_external_id.insert((ext.clone(), id.clone()));
        }
        self.groups.insert(id, group);
    }

    fn remove_group(&mut self, id: &str) -> Option<Arc<Group>> {
        let group = self.groups.remove(id)?;
        if self
            .group_by_name
            .get(&group.spec.display_name)
            .is_some_and(|v| v == id)
        {
            self.group_by_name.remove(&group.spec.display_name);
        }
        if let Some(ext) = &group.spec.external_id {
            self.group_by_external_id.remove(&(ext.clone(), id.to_string()));
        }
        Some(group)
    }
}

/// The ids paired with `key` in a `(key, id)` index, sorted. The range ends before `key + "\0"`,
/// the next string after `key`, so the iterator does not borrow `key`.
fn ids_under<'a, Id: Ord + Default>(index: &'a BTreeSet<(String, Id)>, key: &str) -> impl Iterator<Item = &'a Id> + 'a {
    let start = (key.to_string(), Id::default());
    let end = (format!("{key}\0"), Id::default());
    index.range(start..end).map(|(_, id)| id)
}

fn remove_from_set(index: &mut HashMap<String, BTreeSet<Arc<str>>>, key: &str, id: &str) {
    if let Some(set) = index.get_mut(key) {
        set.remove(id);
        if set.is_empty() {
            index.remove(key);
        }
    }
}

/// An API kind the store holds, and the form it keeps: the object itself but for what no reader
/// needs, or a compact record (Users, see [`CachedUser`]).
pub(crate) trait Cached:
    Resource<DynamicType = ()> + Clone + Send + Sync + 'static + serde::de::DeserializeOwned + std::fmt::Debug
{
    /// What the store keeps of an object.
    type Entry: Entry + Clone + Send + Sync + 'static + std::fmt::Debug;
    /// This kind's bit in [`Store`]'s sync mask.
    const SYNCED: u8;
    /// What the store keeps of `self`.
    fn entry(self) -> Self::Entry;
    /// The object an entry stands for, as SCIM reads and rewrites it.
    fn object(entry: &Self::Entry) -> Self;
    fn upsert(state: &mut State, obj: Arc<Self::Entry>);
    fn remove(state: &mut State, namespace: &str, name: &str);
    fn current<'a>(state: &'a State, namespace: &str, name: &str) -> Option<&'a Arc<Self::Entry>>;
    fn clear(state: &mut State);
}

/// Where the store files an entry, and which version of its object it is.
pub(crate) trait Entry {
    /// Namespace and name.
    fn store_key(&self) -> (&str, &str);
    /// The resourceVersion, as a number to compare.
    fn store_version(&self) -> Option<u64>;
}

impl<K: Resource> Entry for K {
    fn store_key(&self) -> (&str, &str) {
        let meta = self.meta();
        (
            meta.namespace.as_deref().unwrap_or_default(),
            meta.name.as_deref().unwrap_or_default(),
        )
    }
    fn store_version(&self) -> Option<u64> {
        self.meta().resource_version.as_deref()?.parse().ok()
    }
}

impl Entry for CachedUser {
    fn store_key(&self) -> (&str, &str) {
        (self.namespace(), self.name())
    }
    fn store_version(&self) -> Option<u64> {
        self.resource_version()?.parse().ok()
    }
}

/// Drops managedFields, the largest part of most objects, which no reader of a cache needs.
pub(crate) fn slim<K: Resource>(obj: &mut K) {
    obj.meta_mut().managed_fields = None;
}

#[derive(Default)]
pub(crate) struct State {
    namespaces: HashMap<String, Namespace>,
    directories: BTreeMap<(String, String), Arc<Directory>>,
    /// resourceVersions of objects this process deleted, so a late watch event cannot revive them.
    tombstones: HashMap<(String, String, String), u64>,
}

impl Cached for User {
    type Entry = CachedUser;
    const SYNCED: u8 = 1;
    fn entry(self) -> CachedUser {
        CachedUser::from(self)
    }
    fn object(entry: &CachedUser) -> User {
        entry.to_user()
    }
    fn upsert(state: &mut State, obj: Arc<Self::Entry>) {
        state
            .namespaces
            .entry(obj.namespace().to_string())
            .or_default()
            .insert_user(obj);
    }
    fn remove(state: &mut State, namespace: &str, name: &str) {
        if let Some(ns) = state.namespaces.get_mut(namespace) {
            ns.remove_user(name);
        }
    }
    fn current<'a>(state: &'a State, namespace: &str, name: &str) -> Option<&'a Arc<Self::Entry>> {
        state.namespaces.get(namespace)?.users.get(name)
    }
    fn clear(state: &mut State) {
        for ns in state.namespaces.values_mut() {
            let ids: Vec<Arc<str>> = ns.users.keys().cloned().collect();
            ids.iter().for_each(|id| drop(ns.remove_user(id)));
        }
    }
}

impl Cached for Group {
    type Entry = Group;
    fn entry(mut self) -> Group {
        slim(&mut self);
        self
    }
    fn object(entry: &Group) -> Group {
        entry.clone()
    }
    const SYNCED: u8 = 2;
    fn upsert(state: &mut State, obj: Arc<Self::Entry>) {
        state
            .namespaces
            .entry(obj.namespace().unwrap_or_default())
            .or_default()
            .insert_group(obj);
    }
    fn remove(state: &mut State, namespace: &str, name: &str) {
        if let Some(ns) = state.namespaces.get_mut(namespace) {
            ns.remove_group(name);
        }
    }
    fn current<'a>(state: &'a State, namespace: &str, name: &str) -> Option<&'a Arc<Self::Entry>> {
        state.namespaces.get(namespace)?.groups.get(name)
    }
    fn clear(state: &mut State) {
        for ns in state.namespaces.values_mut() {
            let ids: Vec<String> = ns.groups.keys().cloned().collect();
            ids.iter().for_each(|id| drop(ns.remove_group(id)));
        }
    }
}

impl Cached for Directory {
    type Entry = Directory;
    fn entry(mut self) -> Directory {
        slim(&mut self);
        self
    }
    fn object(entry: &Directory) -> Directory {
        entry.clone()
    }
    const SYNCED: u8 = 4;
    fn upsert(state: &mut State, obj: Arc<Self::Entry>) {
        state
            .directories
            .insert((obj.namespace().unwrap_or_default(), obj.name_any()), obj);
    }
    fn remove(state: &mut State, namespace: &str, name: &str) {
        state.directories.remove(&(namespace.to_string(), name.to_string()));
    }
    fn current<'a>(state: &'a State, namespace: &str, name: &str) -> Option<&'a Arc<Self::Entry>> {
        state.directories.get(&(namespace.to_string(), name.to_string()))
    }
    fn clear(state: &mut State) {
        state.directories.clear();
    }
}

/// The shared cache. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    state: Arc<RwLock<State>>,
    synced: watch::Sender<u8>,
}

/// The sync mask once every kind has listed once.
const ALL_SYNCED: u8 = User::SYNCED | Group::SYNCED | Directory::SYNCED;

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("synced", &*self.synced.borrow())
            .finish_non_exhaustive()
    }
}

impl Default for Store {
    fn default() -> Self {
        Store {
            state: Default::default(),
            synced: watch::Sender::new(0),
        }
    }
}

impl Store {
    /// Runs `f` with the namespace's users and groups (an empty namespace when there are none).
    pub fn read<R>(&self, namespace: &str, f: impl FnOnce(&Namespace) -> R) -> R {
        let state = self.state.read().expect("store lock");
        match state.namespaces.get(namespace) {
            Some(ns) => f(ns),
            None => f(&Namespace::default()),
        }
    }

    /// One cached object by namespace and name.
    pub(crate) fn get<K: Cached>(&self, namespace: &str, name: &str) -> Option<Arc<K::Entry>> {
        K::current(&self.state.read().expect("store lock"), namespace, name).cloned()
    }

    /// The Directories of a namespace, oldest first (creationTimestamp, then name): the first is
    /// the active one, the others are reported as superseded.
    pub fn directories(&self, namespace: &str) -> Vec<Arc<Directory>> {
        let state = self.state.read().expect("store lock");
        let mut dirs: Vec<Arc<Directory>> = state
            .directories
            .iter()
            .filter(|((ns, _), _)| ns == namespace)
            .map(|(_, d)| d.clone())
            .collect();
        dirs.sort_by(|a, b| {
            (a.metadata.creation_timestamp.as_ref().map(|t| t.0), a.name_any())
                .cmp(&(b.metadata.creation_timestamp.as_ref().map(|t| t.0), b.name_any()))
        });
        dirs
    }

    /// The Directory in charge of a namespace: the oldest.
    pub fn active_directory(&self, namespace: &str) -> Option<Arc<Directory>> {
        self.directories(namespace).into_iter().next()
    }

    /// Records an object this process just wrote, unless the cache already has a newer version.
    pub(crate) fn record<K: Cached>(&self, obj: K) {
        self.applied::<K>(Arc::new(obj.entry()));
    }

    /// Forgets an object this process just deleted; `version` is its last known resourceVersion.
    pub(crate) fn forget<K: Cached>(&self, namespace: &str, name: &str, version: Option<u64>) {
        let mut state = self.state.write().expect("store lock");
        K::remove(&mut state, namespace, name);
        if let Some(v) = version {
            state
                .tombstones
                .insert((K::kind(&()).to_string(), namespace.into(), name.into()), v);
        }
    }

    /// A watch event: `obj` was added or changed.
    pub(crate) fn applied<K: Cached>(&self, obj: Arc<K::Entry>) {
        let (ns, name) = obj.store_key();
        let (ns, name) = (ns.to_string(), name.to_string());
        let mut state = self.state.write().expect("store lock");
        let new = obj.store_version();
        let key = (K::kind(&()).to_string(), ns.clone(), name.clone());
        if let (Some(dead), Some(new)) = (state.tombstones.get(&key), new) {
            if new <= *dead {
                return;
            }
            state.tombstones.remove(&key);
        }
        if let (Some(old), Some(new)) = (K::current(&state, &ns, &name).and_then(|o| o.store_version()), new)
            && old > new
        {
            return;
        }
        K::upsert(&mut state, obj);
    }

    /// A watch event: `obj` was deleted.
    pub(crate) fn deleted<K: Cached>(&self, obj: &K::Entry) {
        let mut state = self.state.write().expect("store lock");
        let (ns, name) = obj.store_key();
        K::remove(&mut state, ns, name);
    }

    /// A watch (re)listed every object of a kind: they replace what the store held.
    pub(crate) fn relisted<K: Cached>(&self, objects: impl IntoIterator<Item = Arc<K::Entry>>) {
        {
            let mut state = self.state.write().expect("store lock");
            K::clear(&mut state);
            state.tombstones.retain(|(kind, _, _), _| kind != K::kind(&()).as_ref());
            for obj in objects {
                K::upsert(&mut state, obj);
            }
        }
        self.synced.send_if_modified(|mask| {
            let before = *mask;
            *mask |= K::SYNCED;
            *mask != before
        });
    }

    /// A store filled by one list of each kind and never updated by a watch: a replica that lags
    /// behind every later change. Tests use it to pin races between replicas.
    pub async fn snapshot(client: Client) -> kube::Result<Store> {
        let store = Store::default();
        store.relist_once::<User>(Api::all(client.clone())).await?;
        store.relist_once::<Group>(Api::all(client.clone())).await?;
        store.relist_once::<Directory>(Api::all(client)).await?;
        Ok(store)
    }

    /// One list of a kind, kept as a watch keeps it, replaces what the store held of it.
    async fn relist_once<K: Cached>(&self, api: Api<K>) -> kube::Result<()> {
        let listed = api.list(&kube::api::ListParams::default()).await?;
        self.relisted::<K>(listed.items.into_iter().map(|obj| Arc::new(obj.entry())));
        Ok(())
    }

    /// Whether every kind has been listed at least once.
    pub fn is_ready(&self) -> bool {
        *self.synced.borrow() == ALL_SYNCED
    }

    /// Waits until every kind has been listed once.
    pub async fn wait_ready(&self) {
        let mut rx = self.synced.subscribe();
        let _ = rx.wait_for(|n| *n == ALL_SYNCED).await;
    }

    /// The cached Users of `namespace`, or of every namespace.
    pub(crate) fn users(&self, namespace: Option<&str>) -> Vec<Arc<CachedUser>> {
        let state = self.state.read().expect("store lock");
        let held = state.namespaces.iter();
        let chosen = held.filter(|(ns, _)| namespace.is_none_or(|wanted| wanted == ns.as_str()));
        chosen.flat_map(|(_, ns)| ns.users.values().cloned()).collect()
    }

    /// The namespaces with at least one cached User.
    pub(crate) fn user_namespaces(&self) -> Vec<String> {
        let state = self.state.read().expect("store lock");
        let held = state.namespaces.iter().filter(|(_, ns)| !ns.users.is_empty());
        held.map(|(name, _)| name.clone()).collect()
    }

    /// Waits until kind `K` has been listed once.
    pub(crate) async fn wait_listed<K: Cached>(&self) {
        let mut rx = self.synced.subscribe();
        let _ = rx.wait_for(|mask| mask & K::SYNCED != 0).await;
    }

    /// Watches Users, Groups and Directories in all namespaces and keeps the cache current, for a
    /// process without a controller (whose caches would feed it otherwise). Runs until the
    /// process stops; watch errors are retried with backoff.
    pub async fn run(self, client: Client) {
        tokio::join!(
            self.clone().watch::<User>(Api::all(client.clone())),
            self.clone().watch::<Group>(Api::all(client.clone())),
            self.clone().watch::<Directory>(Api::all(client)),
        );
    }

    async fn watch<K: Cached>(self, api: Api<K>) {
        let mut initial = Vec::new();
        let mut events = watcher(api, watcher::Config::default().any_semantic())
            .default_backoff()
            .boxed();
        loop {
            match events.try_next().await {
                Ok(Some(Event::Apply(obj))) => self.applied::<K>(Arc::new(obj.entry())),
                Ok(Some(Event::Delete(obj))) => self.deleted::<K>(&obj.entry()),
                Ok(Some(Event::Init)) => initial.clear(),
                Ok(Some(Event::InitApply(obj))) => initial.push(Arc::new(obj.entry())),
                Ok(Some(Event::InitDone)) => self.relisted::<K>(std::mem::take(&mut initial)),
                Ok(None) => return,
                Err(err) => tracing::warn!(kind = %K::kind(&()), error = %err, "watch failed; retrying"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{GroupSpec, UserSpec};

    fn user(name: &str, rv: u64, user_name: &str, groups: &[&str]) -> User {
        let mut u = User::new(
            name,
            UserSpec {
                user_name: user_name.into(),
                external_id: Some(format!("ext-{name}")),
                groups: groups.iter().map(|g| g.to_string()).collect(),
                ..Default::default()
            },
        );
        u.metadata.namespace = Some("ns".into());
        u.metadata.resource_version = Some(rv.to_string());
        u
    }

    fn group(name: &str, rv: u64, display: &str) -> Group {
        let mut g = Group::new(
            name,
            GroupSpec {
                display_name: display.into(),
                external_id: None,
            },
        );
        g.metadata.namespace = Some("ns".into());
        g.metadata.resource_version = Some(rv.to_string());
        g
    }

    #[test]
    fn every_index_shares_the_users_one_id_string() {
        let store = Store::default();
        store.record(user("u1", 1, "alice@x.io", &["g1", "g2"]));
        let state = store.state.read().unwrap();
        let ns = &state.namespaces["ns"];
        let (id, _) = ns.users.first_key_value().unwrap();
        let held = [
            ns.user_by_name["alice@x.io"].clone(),
            ns.user_by_external_id.first().unwrap().1.clone(),
            ns.members["g1"].first().unwrap().clone(),
            ns.members["g2"].first().unwrap().clone(),
        ];
        assert!(held.iter().all(|other| Arc::ptr_eq(id, other)));
    }

    #[test]
    fn indexes_follow_upserts_and_removals() {
        let store = Store::default();
        store.record(user("u1", 1, "Alice@X.io", &["g1"]));
        store.record(user("u2", 2, "bob@x.io", &["g1", "g2"]));
        store.record(group("g1", 3, "ws-Sales-role-admin"));
        store.read("ns", |ns| {
            assert_eq!(ns.user_by_name("alice@x.io").map(|u| u.name()), Some("u1"));
            assert_eq!(ns.users_by_external_id("ext-u2").count(), 1);
            assert_eq!(ns.users_by_external_id("ext-u").count(), 0, "a prefix is not a match");
            assert_eq!(ns.members("g1").collect::<Vec<_>>(), ["u1", "u2"]);
            assert_eq!(ns.member_count("g2"), 1);
            assert!(ns.group_by_name("ws-Sales-role-admin").is_some());
            assert!(
                ns.group_by_name("ws-sales-role-admin").is_none(),
                "group displayName is case-exact"
            );
        });
        // A rename and a membership change move the index entries.
        store.record(user("u1", 4, "alice2@x.io", &[]));
        store.read("ns", |ns| {
            assert!(ns.user_by_name("alice@x.io").is_none());
            assert!(ns.user_by_name("ALICE2@x.io").is_some());
            assert_eq!(ns.members("g1").collect::<Vec<_>>(), ["u2"]);
        });
        // An externalId is not unique: every holder is found, and a removal drops only its own.
        let mut twin = user("u3", 5, "carol@x.io", &[]);
        twin.spec.external_id = Some("ext-u2".into());
        store.record(twin);
        let holders = |store: &Store| {
            store.read("ns", |ns| {
                ns.users_by_external_id("ext-u2")
                    .map(|u| u.name().to_string())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(holders(&store), ["u2", "u3"]);
        store.forget::<User>("ns", "u2", None);
        assert_eq!(holders(&store), ["u3"]);
    }

    #[test]
    fn older_versions_never_replace_newer_ones() {
        let store = Store::default();
        store.record(user("u1", 10, "new@x.io", &[]));
        store.applied::<User>(Arc::new(user("u1", 9, "old@x.io", &[]).entry()));
        store.read("ns", |ns| assert_eq!(ns.users["u1"].user_name, "new@x.io"));
    }

    #[test]
    fn deleted_objects_are_not_revived_by_late_events() {
        let store = Store::default();
        store.record(user("u1", 5, "gone@x.io", &["g1"]));
        store.forget::<User>("ns", "u1", Some(6));
        store.applied::<User>(Arc::new(user("u1", 6, "gone@x.io", &["g1"]).entry()));
        store.read("ns", |ns| {
            assert!(ns.users.is_empty());
            assert_eq!(ns.member_count("g1"), 0);
        });
        // Recreated later (a higher version): visible again.
        store.applied::<User>(Arc::new(user("u1", 7, "gone@x.io", &[]).entry()));
        store.read("ns", |ns| assert!(ns.users.contains_key("u1")));
    }

    #[test]
    fn a_relist_replaces_the_kind_wholesale() {
        let store = Store::default();
        store.record(user("u1", 1, "a@x.io", &[]));
        store.record(group("g1", 2, "G"));
        store.relisted::<User>([Arc::new(user("u2", 3, "b@x.io", &[]).entry())]);
        store.read("ns", |ns| {
            assert_eq!(ns.users.keys().map(|id| &**id).collect::<Vec<_>>(), ["u2"]);
            assert!(ns.user_by_name("a@x.io").is_none());
            assert_eq!(ns.groups.len(), 1, "other kinds are untouched");
        });
    }

    #[test]
    fn ready_once_every_kind_has_listed() {
        let store = Store::default();
        store.relisted::<User>([]);
        store.relisted::<User>([]);
        store.relisted::<Group>([]);
        assert!(!store.is_ready(), "Directories have not listed yet");
        store.relisted::<Directory>([]);
        assert!(store.is_ready());
    }
}
