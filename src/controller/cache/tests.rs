use super::*;
use crate::api::{GroupSpec, UserSpec};
use futures::channel::mpsc::UnboundedReceiver;

fn user(name: &str, groups: &[&str]) -> User {
    let mut user = User::new(
        name,
        UserSpec {
            user_name: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..Default::default()
        },
    );
    user.metadata.namespace = Some("ns".into());
    user.metadata.generation = Some(1);
    user
}

fn group(name: &str) -> Group {
    let mut group = Group::new(
        name,
        GroupSpec {
            display_name: "ws-Sales-role-admin".into(),
            external_id: None,
        },
    );
    group.metadata.namespace = Some("ns".into());
    group
}

/// The members of group `group` in namespace `ns`, as the store indexes them.
fn members(caches: &Caches, group: &str) -> Vec<String> {
    caches
        .store
        .read("ns", |n| n.members(group).map(String::from).collect())
}

fn drain(queue: &mut UnboundedReceiver<UserKey>) -> Vec<String> {
    let mut names = Vec::new();
    while let Ok(r) = queue.try_recv() {
        names.push(r.name);
    }
    names.sort();
    names
}

/// Feeds one event as the watch loop does: compare with the cache, store, relay.
fn feed<K: Watched>(caches: &Caches, writer: &mut Writer<K>, relay: &mut Relay<K>, event: watcher::Event<K>) {
    let changed = match &event {
        watcher::Event::Apply(obj) | watcher::Event::InitApply(obj) => spec_changed_from(K::cache(caches), obj),
        _ => false,
    };
    writer.apply_watcher_event(&event);
    relay.event(caches, &event, changed);
}

/// Lists `objects` as a (re)started watch does.
fn list<K: Watched>(caches: &Caches, writer: &mut Writer<K>, relay: &mut Relay<K>, objects: Vec<K>) {
    feed(caches, writer, relay, watcher::Event::Init);
    for obj in objects {
        feed(caches, writer, relay, watcher::Event::InitApply(obj));
    }
    feed(caches, writer, relay, watcher::Event::InitDone);
}

/// Feeds one User event as the User watch does.
fn feed_users(caches: &Caches, relay: &mut UserRelay, event: watcher::Event<User>) {
    relay.event(caches, event);
}

/// Lists `users` as a (re)started User watch does.
fn list_users(caches: &Caches, relay: &mut UserRelay, users: Vec<User>) {
    feed_users(caches, relay, watcher::Event::Init);
    for user in users {
        feed_users(caches, relay, watcher::Event::InitApply(user));
    }
    feed_users(caches, relay, watcher::Event::InitDone);
}

/// A native RoleBinding of `user` from source namespace `ns`, in workspace namespace `ws`.
fn native_binding(user: &str) -> RbacBinding {
    let mut rb = RbacBinding::default();
    rb.metadata.name = Some(format!("scim-{user}-admin"));
    rb.metadata.namespace = Some("ws".into());
    rb.metadata.labels = Some(
        [(labels::SOURCE_NAMESPACE, "ns"), (labels::USER, user)]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into(),
    );
    rb
}

fn leading() -> (Caches, Writers, UnboundedReceiver<UserKey>) {
    let (caches, writers) = Caches::new(Default::default());
    let (tx, rx) = futures::channel::mpsc::unbounded();
    assert_eq!(caches.triggers.begin_term(tx), Term::Full);
    (caches, writers, rx)
}

#[test]
fn a_group_change_re_plans_only_its_members() {
    let (caches, _w, mut queue) = leading();
    let relay = &mut UserRelay::default();
    let users = vec![
        user("alice", &["sales"]),
        user("bob", &["sales", "eng"]),
        user("carol", &["eng"]),
    ];
    list_users(&caches, relay, users);
    drain(&mut queue);

    on_group(&caches, Change::Spec(&group("sales")));
    assert_eq!(drain(&mut queue), ["alice", "bob"]);
    // Our own status write on the group changes no generation: nobody is re-planned.
    on_group(&caches, Change::Other);
    assert!(drain(&mut queue).is_empty());
    on_group(&caches, Change::Deleted(&group("eng")));
    assert_eq!(drain(&mut queue), ["bob", "carol"]);
}

#[test]
fn a_membership_change_re_plans_that_user_and_marks_the_namespace() {
    let (caches, _w, mut queue) = leading();
    let relay = &mut UserRelay::default();
    list_users(&caches, relay, vec![user("alice", &["sales"])]);
    assert_eq!(drain(&mut queue), ["alice"]);
    let mut moved = user("alice", &["eng"]);
    moved.metadata.generation = Some(2);
    feed_users(&caches, relay, watcher::Event::Apply(moved));
    assert_eq!(drain(&mut queue), ["alice"]);
    assert_eq!(members(&caches, "sales"), Vec::<String>::new());
    assert_eq!(members(&caches, "eng"), ["alice"]);
    let dirty = std::mem::take(&mut *caches.triggers.dirty.lock().unwrap());
    assert_eq!(dirty.into_iter().collect::<Vec<_>>(), ["ns"]);
}

#[test]
fn terms_start_with_a_full_pass_until_one_completes() {
    let (caches, _w) = Caches::new(Default::default());
    list_users(&caches, &mut UserRelay::default(), vec![user("alice", &["sales"])]);
    assert_eq!(caches.triggers.outstanding(), 0, "a standby records users");
    let (tx, mut rx) = futures::channel::mpsc::unbounded();
    // Its full pass covers alice: she is not queued as well.
    assert_eq!(caches.triggers.begin_term(tx), Term::Full);
    assert!(drain(&mut rx).is_empty());
    assert_eq!(caches.triggers.outstanding(), 0);
    // The index is kept up to date regardless, for the new leader.
    assert_eq!(members(&caches, "sales").len(), 1);

    // A term lost before its full pass completed leaves users it never reached: the next term
    // passes over every user again.
    caches.triggers.end_term();
    let (tx, _rx) = futures::channel::mpsc::unbounded();
    assert_eq!(caches.triggers.begin_term(tx), Term::Full);
    caches.triggers.full_pass_done();
    caches.triggers.end_term();
    let (tx, _rx) = futures::channel::mpsc::unbounded();
    assert_eq!(caches.triggers.begin_term(tx), Term::Resumed);
}

#[test]
fn a_term_won_back_resumes_with_the_users_not_reconciled_since() {
    let (caches, _w, mut queue) = leading();
    let triggers = &caches.triggers;
    triggers.full_pass_done();
    let key = |name: &str| UserKey::new("ns", name);
    for name in ["alice", "bob", "carol"] {
        triggers.user("ns", name);
    }
    assert_eq!(drain(&mut queue), ["alice", "bob", "carol"]);
    // alice is reconciled; bob's reconcile read the cache before his second trigger.
    triggers.reconciled(&key("alice"), triggers.ticket(&key("alice")));
    let bob_read = triggers.ticket(&key("bob"));
    triggers.user("ns", "bob");
    triggers.reconciled(&key("bob"), bob_read);
    assert_eq!(drain(&mut queue), ["bob"]);
    // The term ends with carol and bob outstanding; dave changes and erin is deleted meanwhile.
    triggers.end_term();
    triggers.user("ns", "dave");
    triggers.user("ns", "erin");
    triggers.forget(&key("erin"));
    assert!(drain(&mut queue).is_empty(), "queued while not leading");

    let (tx, mut resumed) = futures::channel::mpsc::unbounded();
    assert_eq!(triggers.begin_term(tx), Term::Resumed);
    assert_eq!(drain(&mut resumed), ["bob", "carol", "dave"]);
}

#[test]
fn the_user_watch_feeds_the_store_a_relist_only_once_complete() {
    let (caches, _w) = Caches::new(Default::default());
    let relay = &mut UserRelay::default();
    feed_users(&caches, relay, watcher::Event::Init);
    feed_users(&caches, relay, watcher::Event::InitApply(user("alice", &[])));
    assert!(
        caches.user("ns", "alice").is_none(),
        "nothing before the list is complete"
    );
    feed_users(&caches, relay, watcher::Event::InitDone);
    feed_users(&caches, relay, watcher::Event::Apply(user("bob", &["sales"])));

    for name in ["alice", "bob"] {
        assert!(caches.user("ns", name).is_some_and(|u| u.watched), "{name}");
    }
    assert_eq!(caches.users(Some("ns")).len(), 2);
    assert_eq!(members(&caches, "sales"), ["bob"]);
    feed_users(&caches, relay, watcher::Event::Delete(user("bob", &["sales"])));
    assert!(caches.user("ns", "bob").is_none());
    assert!(members(&caches, "sales").is_empty());
}

#[test]
fn a_change_a_scim_write_recorded_ahead_of_the_watch_is_still_a_change() {
    let (caches, _w, mut queue) = leading();
    let relay = &mut UserRelay::default();
    list_users(&caches, relay, vec![user("alice", &["sales"])]);
    drain(&mut queue);
    // The SCIM endpoint records its write's response (generation 2) before the watch delivers it.
    let mut moved = user("alice", &["eng"]);
    moved.metadata.generation = Some(2);
    moved.metadata.resource_version = Some("2".into());
    caches.store.record::<User>(moved.clone());
    assert!(drain(&mut queue).is_empty(), "a write alone triggers nothing");
    feed_users(&caches, relay, watcher::Event::Apply(moved));
    assert_eq!(drain(&mut queue), ["alice"]);
    assert!(caches.user("ns", "alice").unwrap().watched);
}

#[test]
fn the_active_directory_is_the_oldest() {
    let (caches, mut w) = Caches::new(Default::default());
    let directory = |name: &str, created: i64| {
        let mut d = Directory::new(name, Default::default());
        d.metadata.namespace = Some("ns".into());
        d.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            jiff::Timestamp::from_second(created).unwrap(),
        ));
        d
    };
    let dirs = vec![directory("b", 10), directory("c", 20), directory("a", 10)];
    list(&caches, &mut w.directories, &mut Relay::default(), dirs);
    assert_eq!(caches.directory("ns").map(|d| d.name_any()).as_deref(), Some("a"));
    assert!(caches.directory("other").is_none());
}

#[test]
fn a_relist_rebuilds_the_index_of_its_own_kind_only() {
    let (caches, mut w) = Caches::new(Default::default());
    let (users, natives) = (&mut UserRelay::default(), &mut Relay::default());
    list_users(&caches, users, vec![user("alice", &["sales"])]);
    list(&caches, &mut w.native_bindings, natives, vec![native_binding("alice")]);
    assert_eq!(
        caches.user_native_bindings.objects("ns", "alice"),
        ["ws/scim-alice-admin"]
    );

    // A native-binding relist that lists nothing drops the native bindings, not the memberships.
    list(&caches, &mut w.native_bindings, natives, vec![]);
    assert!(caches.user_native_bindings.objects("ns", "alice").is_empty());
    assert_eq!(members(&caches, "sales"), ["alice"]);
    list_users(&caches, users, vec![]);
    assert!(members(&caches, "sales").is_empty());
}

#[test]
fn objects_a_relist_lists_unchanged_stay_in_the_index() {
    // Issue 11, item 6: after a relist (410 from a restarted API server) unchanged objects are
    // no spec change, and were dropped from the index: a group lost its members and a suspended
    // user kept the native bindings the index no longer knew.
    let (caches, mut w, mut queue) = leading();
    let (users, natives) = (&mut UserRelay::default(), &mut Relay::default());
    list_users(&caches, users, vec![user("alice", &["sales"])]);
    list(&caches, &mut w.native_bindings, natives, vec![native_binding("alice")]);
    drain(&mut queue);

    list_users(&caches, users, vec![user("alice", &["sales"])]);
    list(&caches, &mut w.native_bindings, natives, vec![native_binding("alice")]);
    assert_eq!(members(&caches, "sales").len(), 1);
    assert_eq!(
        caches.user_native_bindings.objects("ns", "alice"),
        ["ws/scim-alice-admin"]
    );
    assert!(drain(&mut queue).is_empty(), "nothing changed, nobody is re-planned");
}

#[test]
fn a_change_listed_by_a_relist_is_handled_once_the_cache_holds_it() {
    let (caches, _w, mut queue) = leading();
    let relay = &mut UserRelay::default();
    list_users(&caches, relay, vec![user("alice", &["sales"])]);
    drain(&mut queue);

    // Suspended while the watch was down: the relist lists a new generation.
    let mut suspended = user("alice", &["sales"]);
    suspended.metadata.generation = Some(2);
    feed_users(&caches, relay, watcher::Event::Init);
    feed_users(&caches, relay, watcher::Event::InitApply(suspended));
    assert!(drain(&mut queue).is_empty(), "the cache still serves generation 1");
    feed_users(&caches, relay, watcher::Event::InitDone);
    assert_eq!(drain(&mut queue), ["alice"]);
    let cached = caches.user("ns", "alice").unwrap();
    assert_eq!(cached.generation(), Some(2));
}

#[test]
fn an_object_created_again_under_its_name_is_a_change() {
    let (caches, _w, mut queue) = leading();
    let relay = &mut UserRelay::default();
    let mut first = user("alice", &["sales"]);
    first.metadata.uid = Some("1".into());
    list_users(&caches, relay, vec![first]);
    drain(&mut queue);
    // Deleted and created again while the watch was down: generation 1 again, another uid.
    let mut second = user("alice", &["eng"]);
    second.metadata.uid = Some("2".into());
    list_users(&caches, relay, vec![second]);
    assert_eq!(drain(&mut queue), ["alice"]);
    assert_eq!(members(&caches, "eng"), ["alice"]);
    assert!(members(&caches, "sales").is_empty());
}
