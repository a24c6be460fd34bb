//! Watch caches (one watch per kind, shared by every reconciler; RoleBindings as compact
//! records, see `bindings`), the indexes kept beside them, and the triggers they fire: a user
//! to re-plan, a namespace to re-summarise.
//!
//! One watch per kind, not one per controller: at 50,000 users a second copy of the User cache
//! would double the memory. For the same reason Users are cached only in the process's
//! [`watch::Store`] (what the SCIM endpoint serves, and where memberships and the active
//! Directory are read), and Groups and Directories are passed to it with the very `Arc`s their
//! reflectors cache. The caches keep running while this process is not the leader, so a new
//! leader starts warm; triggered users are queued while leading and recorded always, so a term
//! this process wins back resumes where the last one stopped.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use futures::channel::mpsc::UnboundedSender;
use kube::runtime::reflector::store::Writer;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::RoleBinding as RbacBinding;

use super::index::Index;
use super::native;
use super::queue::UserKey;
use super::{Error, Metrics, Result};
use crate::api::{Directory, Group, RoleBinding, User, Workspace, labels};
use crate::watch::{self, Cached, CachedUser};

mod bindings;
pub(crate) use bindings::{BindingCache, Record as CachedBinding, fingerprint};

/// The shared caches and indexes.
pub(crate) struct Caches {
    pub groups: Store<Group>,
    pub workspaces: Store<Workspace>,
    pub bindings: BindingCache,
    pub directories: Store<Directory>,
    /// Native RBAC RoleBindings we manage (any namespace, by label).
    pub native_bindings: Store<RbacBinding>,
    /// Namespaces we manage for native RBAC (by label).
    pub native_namespaces: Store<Namespace>,
    /// Native RoleBinding (`namespace/name`, under its source namespace) → its user.
    pub user_native_bindings: Index,
    /// Users (cached nowhere else), Groups and Directories with their indexes (a group's
    /// members, the active Directory), fed by the watches.
    pub store: watch::Store,
    pub triggers: Triggers,
    pub metrics: Metrics,
}

/// The writing halves of the caches, each driven by its reflector.
struct Writers {
    groups: Writer<Group>,
    workspaces: Writer<Workspace>,
    directories: Writer<Directory>,
    native_bindings: Writer<RbacBinding>,
    native_namespaces: Writer<Namespace>,
}

/// Where cache events send work.
#[derive(Default)]
pub(crate) struct Triggers {
    users: Mutex<UserTriggers>,
    /// Namespaces whose workspaces, group and directory statuses need a pass.
    dirty: Mutex<BTreeSet<String>>,
    notify: Notify,
}

/// Users to reconcile. They are recorded while not leading too: a process that loses its term
/// (a Lease renewal late under load) and wins it back resumes with what changed meanwhile,
/// instead of starting over with a full pass over every user.
#[derive(Default)]
struct UserTriggers {
    /// Where triggered users go while leading; `None` otherwise.
    queue: Option<UnboundedSender<UserKey>>,
    /// Users triggered and not reconciled since, each with the number of its latest trigger, so
    /// that a reconcile clears only the triggers it has seen.
    outstanding: HashMap<UserKey, u64>,
    triggered: u64,
    /// Whether a full pass has completed in this process; until then each term starts with one.
    passed: bool,
}

impl UserTriggers {
    fn settle(&mut self, user: &UserKey) {
        self.outstanding.remove(user);
        // An initial sync leaves a table sized for every user behind (~0.1 KiB each); once
        // drained it is given back rather than kept for the next burst.
        if self.outstanding.is_empty() {
            self.outstanding.shrink_to_fit();
        }
    }
}

/// How a leadership term starts.
#[derive(Debug, PartialEq)]
pub(crate) enum Term {
    /// With a full pass: none has completed in this process yet, so what it recorded before is
    /// not known to be all that changed.
    Full,
    /// With the users triggered and not reconciled since this process last led, already queued.
    Resumed,
}

impl Triggers {
    /// Starts a term that queues triggered users on `queue`.
    pub fn begin_term(&self, queue: UnboundedSender<UserKey>) -> Term {
        let mut users = self.users.lock().expect("trigger lock");
        let term = if users.passed {
            for user in users.outstanding.keys() {
                let _ = queue.unbounded_send(user.clone());
            }
            Term::Resumed
        } else {
            // The full pass covers everything triggered before it; what is triggered from here
            // on is queued.
            users.outstanding = HashMap::new();
            Term::Full
        };
        users.queue = Some(queue);
        term
    }

    /// A full pass has completed: later terms resume from the recorded users.
    pub fn full_pass_done(&self) {
        self.users.lock().expect("trigger lock").passed = true;
    }

    /// Ends the term: users are recorded, not queued.
    pub fn end_term(&self) {
        self.users.lock().expect("trigger lock").queue = None;
    }

    pub fn user(&self, namespace: &str, name: &str) {
        let user = UserKey::new(namespace, name);
        let mut users = self.users.lock().expect("trigger lock");
        users.triggered += 1;
        let number = users.triggered;
        if let Some(queue) = &users.queue {
            let _ = queue.unbounded_send(user.clone());
        } else if !users.passed {
            // No full pass has completed here, so the next term starts with one anyway: a
            // standby that never led keeps no record of every user.
            return;
        }
        users.outstanding.insert(user, number);
    }

    /// The latest trigger of `user` not yet reconciled; read before reconciling it.
    pub fn ticket(&self, user: &UserKey) -> Option<u64> {
        self.users.lock().expect("trigger lock").outstanding.get(user).copied()
    }

    /// `user` was reconciled from a cache read after trigger `ticket`: that trigger and the
    /// ones before it are settled, later ones are not.
    pub fn reconciled(&self, user: &UserKey, ticket: Option<u64>) {
        let mut users = self.users.lock().expect("trigger lock");
        if ticket.is_some() && users.outstanding.get(user).copied() == ticket {
            users.settle(user);
        }
    }

    /// `user` is gone: nothing is left to reconcile for it.
    pub fn forget(&self, user: &UserKey) {
        self.users.lock().expect("trigger lock").settle(user);
    }

    /// Users triggered and not reconciled since.
    #[cfg(test)]
    fn outstanding(&self) -> usize {
        self.users.lock().expect("trigger lock").outstanding.len()
    }

    pub fn namespace(&self, namespace: &str) {
        self.dirty.lock().expect("trigger lock").insert(namespace.to_string());
        self.notify.notify_one();
    }

    /// Waits for dirty namespaces and takes them all.
    pub async fn dirty_namespaces(&self) -> BTreeSet<String> {
        loop {
            let taken = std::mem::take(&mut *self.dirty.lock().expect("trigger lock"));
            if !taken.is_empty() {
                return taken;
            }
            self.notify.notified().await;
        }
    }
}

impl Caches {
    /// Starts one reflector per kind (all namespaces, or only `namespace`) and returns the caches;
    /// they fill in the background (see [`Caches::ready`]). Users, Groups and Directories are
    /// passed on to `store`.
    pub fn start(client: &Client, namespace: Option<&str>, store: watch::Store, metrics: Metrics) -> Arc<Caches> {
        let (mut caches, writers) = Caches::new(store);
        caches.metrics = metrics;
        let caches = Arc::new(caches);
        let all = watcher::Config::default();
        let w = writers;
        spawn_users(api(client, namespace), &all, &caches);
        spawn(api(client, namespace), &all, w.groups, &caches);
        spawn(api(client, namespace), &all, w.workspaces, &caches);
        spawn_bindings(api(client, namespace), &all, &caches);
        spawn(api(client, namespace), &all, w.directories, &caches);
        // Native RBAC lives in other namespaces: watched cluster-wide, only what we manage.
        let ours = watcher::Config::default().labels(&native::selector(namespace));
        spawn(Api::all(client.clone()), &ours, w.native_bindings, &caches);
        spawn(Api::all(client.clone()), &ours, w.native_namespaces, &caches);
        caches
    }

    /// Empty caches, passing Users, Groups and Directories on to `store`, and the writers that
    /// fill them.
    fn new(store: watch::Store) -> (Caches, Writers) {
        let (groups, groups_w) = reflector::store();
        let (workspaces, workspaces_w) = reflector::store();
        let (directories, directories_w) = reflector::store();
        let (native_bindings, native_bindings_w) = reflector::store();
        let (native_namespaces, native_namespaces_w) = reflector::store();
        let caches = Caches {
            native_bindings,
            native_namespaces,
            user_native_bindings: Index::default(),
            groups,
            workspaces,
            bindings: BindingCache::default(),
            directories,
            store,
            triggers: Triggers::default(),
            metrics: Metrics::default(),
        };
        let writers = Writers {
            groups: groups_w,
            workspaces: workspaces_w,
            directories: directories_w,
            native_bindings: native_bindings_w,
            native_namespaces: native_namespaces_w,
        };
        (caches, writers)
    }

    /// Waits until every cache has listed once. Nothing is deleted before: a half-filled cache
    /// would make every binding look stale (the classic false-positive prune).
    pub async fn ready(&self) -> Result<()> {
        let gone = |_| Error::CachesGone;
        self.store.wait_listed::<User>().await;
        self.groups.wait_until_ready().await.map_err(gone)?;
        self.workspaces.wait_until_ready().await.map_err(gone)?;
        self.bindings.wait_until_listed().await;
        self.directories.wait_until_ready().await.map_err(gone)?;
        self.native_bindings.wait_until_ready().await.map_err(gone)?;
        self.native_namespaces.wait_until_ready().await.map_err(gone)?;
        Ok(())
    }

    /// A cached User.
    pub fn user(&self, namespace: &str, name: &str) -> Option<Arc<CachedUser>> {
        self.store.get::<User>(namespace, name)
    }

    /// The cached Users of `namespace`, or of every namespace.
    pub fn users(&self, namespace: Option<&str>) -> Vec<Arc<CachedUser>> {
        self.store.users(namespace)
    }

    /// The Directory in charge of a namespace (see [`watch::Store::active_directory`]).
    pub fn directory(&self, namespace: &str) -> Option<Arc<Directory>> {
        self.store.active_directory(namespace)
    }

    /// Marks every namespace for a pass: what changed while a watch was down (a relist) or while
    /// another replica led is settled by one pass per namespace, as is the periodic resync.
    pub fn mark_every_namespace(&self) {
        for ns in self.namespaces() {
            self.triggers.namespace(&ns);
        }
    }

    /// Every namespace holding any cached object of ours.
    pub fn namespaces(&self) -> BTreeSet<String> {
        let mut all = BTreeSet::new();
        all.extend(self.store.user_namespaces());
        all.extend(self.groups.state().iter().filter_map(|o| o.namespace()));
        all.extend(self.workspaces.state().iter().filter_map(|o| o.namespace()));
        all.extend(self.bindings.namespaces());
        all.extend(self.directories.state().iter().filter_map(|o| o.namespace()));
        all
    }
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// What a cache event means for the controller.
enum Change<'a, K> {
    /// Created (or first listed), or its generation (spec) changed.
    Spec(&'a K),
    /// Only metadata or status changed (e.g. our own status write).
    Other,
    Deleted(&'a K),
}

/// Passes a watch event of kind `K`, once the reflector has stored it, on to the [`watch::Store`]
/// with the `Arc`s of the kind's cache, not copies. A relist reaches the store whole, at its end.
fn share<K: Cached>(caches: &Caches, event: &watcher::Event<K::Entry>)
where
    K::Entry: Watched,
{
    let cache = K::Entry::cache(caches);
    match event {
        watcher::Event::Apply(obj) => {
            if let Some(shared) = cache.get(&ObjectRef::from_obj(obj)) {
                caches.store.applied::<K>(shared);
            }
        }
        watcher::Event::Delete(obj) => caches.store.deleted::<K>(obj),
        watcher::Event::InitDone => caches.store.relisted::<K>(cache.state()),
        watcher::Event::Init | watcher::Event::InitApply(_) => {}
    }
}

/// Runs one reflector into `writer`; a [`Relay`] passes each event on to the store, keeps the
/// kind's index and calls its handler.
fn spawn<K: Watched>(api: Api<K>, config: &watcher::Config, writer: reflector::store::Writer<K>, caches: &Arc<Caches>) {
    caches.metrics.watch_started(&K::group(&()), &K::kind(&()));
    let cache = K::cache(caches).clone();
    let caches = Arc::downgrade(caches);
    let config = config.clone();
    tokio::spawn(async move {
        // Whether the event about to be cached changes the cached object's spec; read before the
        // reflector replaces it, so no second map of 50,000 generations is kept.
        let spec_changed = Arc::new(AtomicBool::new(false));
        let compare = spec_changed.clone();
        let stream = watcher(api, config)
            .default_backoff()
            .modify(K::slim)
            .inspect(move |event| {
                if let Ok(watcher::Event::Apply(obj) | watcher::Event::InitApply(obj)) = event {
                    compare.store(spec_changed_from(&cache, obj), Ordering::Relaxed);
                }
            })
            .reflect(writer);
        let mut stream = std::pin::pin!(stream);
        let mut relay = Relay::default();
        while let Some(event) = stream.next().await {
            let Some(caches) = caches.upgrade() else {
                return;
            };
            let event = match event {
                Ok(event) => event,
                Err(error) => {
                    caches.metrics.watch_error(&K::group(&()), &K::kind(&()));
                    tracing::warn!(kind = %K::kind(&()), %error, "watch failed; retrying");
                    continue;
                }
            };
            relay.event(&caches, &event, spec_changed.load(Ordering::Relaxed));
            caches.metrics.watch_event(&K::group(&()), &K::kind(&()));
        }
    });
}

/// Whether `obj` is new to `cache` or changes the cached object's spec: another generation, or
/// another uid (deleted and created again under the same name while the watch was down).
fn spec_changed_from<K: Resource<DynamicType = ()> + Clone>(cache: &Store<K>, obj: &K) -> bool {
    let cached = cache.get(&ObjectRef::from_obj(obj));
    cached.is_none_or(|c| c.meta().generation != obj.meta().generation || c.meta().uid != obj.meta().uid)
}

/// Turns one kind's watch events, once the reflector has stored them, into index updates and
/// handler calls.
///
/// The index is kept here for every event, changed or not, never by the handlers: during a
/// relist the reflector still holds the old objects, so an unchanged object is not a spec
/// change, yet the index must see it listed or [`Index::end_relist`] drops it (and with it a
/// group's members or a user's native bindings, which revocation then misses).
struct Relay<K: Watched> {
    /// Objects whose spec changed during the running relist. Their handlers run when it is
    /// complete: until then the cache serves the old objects, and a reconcile triggered now
    /// would act on the old spec (e.g. bind a user who was suspended while the watch was down).
    changed_in_relist: Option<Vec<ObjectRef<K>>>,
}

impl<K: Watched> Default for Relay<K> {
    fn default() -> Self {
        Relay {
            changed_in_relist: None,
        }
    }
}

impl<K: Watched> Relay<K> {
    fn event(&mut self, caches: &Caches, event: &watcher::Event<K>, spec_changed: bool) {
        // First the store, so that handlers read memberships and Directories as of this event.
        K::share(caches, event);
        let index = K::index(caches);
        match event {
            watcher::Event::Init => {
                self.changed_in_relist = Some(Vec::new());
                if let Some(index) = index {
                    index.begin_relist();
                }
            }
            watcher::Event::InitApply(obj) | watcher::Event::Apply(obj) => {
                if let (Some(index), Some(((ns, name), keys))) = (index, obj.index_entry()) {
                    index.set(&ns, &name, keys);
                }
                match (&mut self.changed_in_relist, spec_changed) {
                    (_, false) => K::on(caches, Change::Other),
                    (Some(later), true) if matches!(event, watcher::Event::InitApply(_)) => {
                        later.push(ObjectRef::from_obj(obj))
                    }
                    (_, true) => K::on(caches, Change::Spec(obj)),
                }
            }
            watcher::Event::InitDone => {
                if let Some(index) = index {
                    index.end_relist();
                }
                for changed in self.changed_in_relist.take().unwrap_or_default() {
                    if let Some(obj) = K::cache(caches).get(&changed) {
                        K::on(caches, Change::Spec(&obj));
                    }
                }
                caches.metrics.relisted(&K::group(&()), &K::kind(&()));
                caches.mark_every_namespace();
            }
            watcher::Event::Delete(obj) => {
                if let (Some(index), Some(((ns, name), _))) = (index, obj.index_entry()) {
                    index.remove(&ns, &name);
                }
                K::on(caches, Change::Deleted(obj));
            }
        }
    }
}

/// Runs the User watch straight into the [`watch::Store`], the one cache of Users, with the
/// events [`spawn`] gives the other kinds: a spec change triggers the user, and a relist replaces
/// the cached Users only once complete, its changes triggered then (see [`Relay`]).
fn spawn_users(api: Api<User>, config: &watcher::Config, caches: &Arc<Caches>) {
    let (group, kind) = (User::group(&()), User::kind(&()));
    caches.metrics.watch_started(&group, &kind);
    let caches = Arc::downgrade(caches);
    let config = config.clone();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(watcher(api, config).default_backoff());
        let mut relay = UserRelay::default();
        while let Some(event) = stream.next().await {
            let Some(caches) = caches.upgrade() else {
                return;
            };
            match event {
                Ok(event) => {
                    relay.event(&caches, event);
                    caches.metrics.watch_event(&group, &kind);
                }
                Err(error) => {
                    caches.metrics.watch_error(&group, &kind);
                    tracing::warn!(%kind, %error, "watch failed; retrying");
                }
            }
        }
    });
}

/// Turns User watch events into the store's Users and the controller's triggers.
#[derive(Default)]
struct UserRelay {
    /// The relist under way: what it has listed, and the users whose spec it changed.
    relist: Option<(Vec<Arc<CachedUser>>, Vec<UserKey>)>,
}

impl UserRelay {
    fn event(&mut self, caches: &Caches, event: watcher::Event<User>) {
        let delivered = |user: User| {
            let mut user = CachedUser::from(user);
            user.watched = true;
            user
        };
        match event {
            watcher::Event::Init => self.relist = Some(Default::default()),
            watcher::Event::InitApply(user) => {
                let user = delivered(user);
                let (listed, changed) = self.relist.get_or_insert_default();
                if spec_changed(caches, &user) {
                    changed.push(UserKey::new(user.namespace(), user.name()));
                }
                listed.push(Arc::new(user));
            }
            watcher::Event::InitDone => {
                let (listed, changed) = self.relist.take().unwrap_or_default();
                caches.store.relisted::<User>(listed);
                for key in changed {
                    if let Some(user) = caches.user(&key.namespace, &key.name) {
                        on_user(caches, Change::Spec(&user));
                    }
                }
                caches.metrics.relisted(&User::group(&()), &User::kind(&()));
                caches.mark_every_namespace();
            }
            watcher::Event::Apply(user) => {
                let user = delivered(user);
                let changed = spec_changed(caches, &user);
                let user = Arc::new(user);
                caches.store.applied::<User>(user.clone());
                on_user(caches, if changed { Change::Spec(&user) } else { Change::Other });
            }
            watcher::Event::Delete(user) => {
                let user = CachedUser::from(user);
                caches.store.deleted::<User>(&user);
                on_user(caches, Change::Deleted(&user));
            }
        }
    }
}

/// Whether a watched User is new to the store or changes the spec the controller last saw
/// delivered: another generation, or another uid (deleted and created again under the same name
/// while the watch was down). An entry a SCIM write recorded ahead of the watch counts as unseen.
fn spec_changed(caches: &Caches, user: &CachedUser) -> bool {
    let cached = caches.user(user.namespace(), user.name());
    cached.is_none_or(|c| !c.watched || c.generation() != user.generation() || c.uid() != user.uid())
}

/// Runs the RoleBinding watch into the compact [`BindingCache`], with the same events as [`spawn`].
fn spawn_bindings(api: Api<RoleBinding>, config: &watcher::Config, caches: &Arc<Caches>) {
    caches.metrics.watch_started(&RoleBinding::group(&()), "RoleBinding");
    let caches = Arc::downgrade(caches);
    let config = config.clone();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(watcher(api, config).default_backoff());
        while let Some(event) = stream.next().await {
            let Some(caches) = caches.upgrade() else {
                return;
            };
            let group = RoleBinding::group(&());
            match &event {
                Ok(_) => caches.metrics.watch_event(&group, "RoleBinding"),
                Err(_) => caches.metrics.watch_error(&group, "RoleBinding"),
            }
            match event {
                Ok(watcher::Event::Init) => {
                    caches.bindings.begin_relist();
                }
                Ok(watcher::Event::InitDone) => {
                    caches.bindings.end_relist();
                    caches.metrics.relisted(RoleBinding::group(&()).as_ref(), "RoleBinding");
                    caches.mark_every_namespace();
                }
                Ok(watcher::Event::Apply(rb) | watcher::Event::InitApply(rb)) => {
                    let new_generation = caches.bindings.apply(&rb);
                    on_binding(
                        &caches,
                        if new_generation {
                            Change::Spec(&rb)
                        } else {
                            Change::Other
                        },
                    );
                }
                Ok(watcher::Event::Delete(rb)) => {
                    caches.bindings.delete(&rb);
                    on_binding(&caches, Change::Deleted(&rb));
                }
                Err(error) => tracing::warn!(kind = "RoleBinding", %error, "watch failed; retrying"),
            }
        }
    });
}

/// A kind the controller watches: its cache, what its events mean, and what its cached objects
/// need not keep (at 50,000 users every field of every cached object counts).
trait Watched: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static {
    fn cache(caches: &Caches) -> &Store<Self>;
    fn on(caches: &Caches, change: Change<'_, Self>);
    /// Passes the event on to the [`watch::Store`], for the kinds it holds.
    fn share(_caches: &Caches, _event: &watcher::Event<Self>) {}
    /// The index kept from this kind's objects, which a relist must rebuild.
    fn index(_caches: &Caches) -> Option<&Index> {
        None
    }
    /// Where this object goes in that index: its `(namespace, name)` there and the keys it
    /// points at; `None` for an object the index does not hold.
    fn index_entry(&self) -> Option<(Key, Vec<String>)> {
        None
    }
    /// managedFields are the largest part of most objects and never read here.
    fn slim(&mut self) {
        self.managed_fields_mut().clear();
    }
}

/// `(namespace, name)` of an object in an index.
type Key = (String, String);

macro_rules! watched {
    ($kind:ty, $cache:ident, $on:expr, shared: $api:ty) => {
        watched!(@impl $kind, $cache, $on, fn share(caches: &Caches, event: &watcher::Event<Self>) {
            share::<$api>(caches, event)
        });
    };
    ($kind:ty, $cache:ident, $on:expr $(, index: $index:ident => $entry:expr)?) => {
        watched!(@impl $kind, $cache, $on, $(fn index(caches: &Caches) -> Option<&Index> {
            Some(&caches.$index)
        }
        fn index_entry(&self) -> Option<(Key, Vec<String>)> {
            $entry(self)
        })?);
    };
    (@impl $kind:ty, $cache:ident, $on:expr, $($extra:item)*) => {
        impl Watched for $kind {
            fn cache(caches: &Caches) -> &Store<Self> {
                &caches.$cache
            }
            fn on(caches: &Caches, change: Change<'_, Self>) {
                $on(caches, change)
            }
            $($extra)*
        }
    };
}

watched!(Group, groups, on_group, shared: Group);
watched!(Workspace, workspaces, on_workspace);
watched!(Directory, directories, on_directory, shared: Directory);
watched!(RbacBinding, native_bindings, on_native_binding, index: user_native_bindings => native_entry);
watched!(Namespace, native_namespaces, |_, _| {});

fn ns_name<K: Resource>(obj: &K) -> (String, String) {
    (obj.namespace().unwrap_or_default(), obj.name_any())
}

fn on_user(caches: &Caches, change: Change<'_, CachedUser>) {
    match change {
        Change::Spec(user) => {
            caches.triggers.user(user.namespace(), user.name());
            caches.triggers.namespace(user.namespace());
        }
        Change::Other => {}
        Change::Deleted(user) => {
            caches.triggers.forget(&UserKey::new(user.namespace(), user.name()));
            // The namespace pass deletes the bindings of users that are gone.
            caches.triggers.namespace(user.namespace());
        }
    }
}

fn on_group(caches: &Caches, change: Change<'_, Group>) {
    let (Change::Spec(group) | Change::Deleted(group)) = change else {
        return;
    };
    let (ns, name) = ns_name(group);
    // Only the members are re-planned: one change to a group never re-plans the whole directory.
    for user in caches
        .store
        .read(&ns, |n| n.members(&name).map(String::from).collect::<Vec<_>>())
    {
        caches.triggers.user(&ns, &user);
    }
    caches.triggers.namespace(&ns);
}

fn on_directory(caches: &Caches, change: Change<'_, Directory>) {
    let (Change::Spec(dir) | Change::Deleted(dir)) = change else {
        return;
    };
    let ns = dir.namespace().unwrap_or_default();
    // Policies, domains and role names apply to every user of the namespace.
    for user in caches.users(Some(&ns)) {
        caches.triggers.user(&ns, user.name());
    }
    caches.triggers.namespace(&ns);
}

fn on_workspace(caches: &Caches, change: Change<'_, Workspace>) {
    if let Change::Spec(ws) | Change::Deleted(ws) = change {
        caches.triggers.namespace(&ws.namespace().unwrap_or_default());
    }
}

fn on_binding(caches: &Caches, change: Change<'_, RoleBinding>) {
    let (Change::Spec(rb) | Change::Deleted(rb)) = change else {
        return;
    };
    let ns = rb.namespace().unwrap_or_default();
    let user = rb.labels().get(labels::USER);
    // A binding edited or deleted by someone else is put back by its user's reconcile.
    if let Some(user) = user
        && caches.user(&ns, user).is_some()
    {
        caches.triggers.user(&ns, user);
    }
    // The namespace pass counts bindings (Directory status) and deletes those of users gone.
    caches.triggers.namespace(&ns);
}

/// A native RoleBinding's place in `user_native_bindings`: under its source namespace, keyed
/// `namespace/name`, pointing at its user.
fn native_entry(rb: &RbacBinding) -> Option<(Key, Vec<String>)> {
    let source = rb.labels().get(labels::SOURCE_NAMESPACE)?.clone();
    let user = rb.labels().get(labels::USER).cloned();
    Some(((source, native::key(rb)), user.into_iter().collect()))
}

fn on_native_binding(caches: &Caches, change: Change<'_, RbacBinding>) {
    let (Change::Spec(rb) | Change::Deleted(rb)) = change else {
        return;
    };
    let Some(source) = rb.labels().get(labels::SOURCE_NAMESPACE) else {
        return;
    };
    match rb.labels().get(labels::USER) {
        Some(user) if caches.user(source, user).is_some() => caches.triggers.user(source, user),
        _ => caches.triggers.namespace(source),
    }
}

#[cfg(test)]
mod tests;
