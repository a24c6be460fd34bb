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

fn drain(queue: &mut UnboundedReceiver<ObjectRef<User>>) -> Vec<String> {
    let mut names = Vec::new();
    while let Ok(r) = queue.try_recv() {
        names.push(r.name);
    }
    names.sort();
    names
}

fn leading() -> (Caches, Writers, UnboundedReceiver<ObjectRef<User>>) {
    let (caches, writers) = Caches::new();
    let (tx, rx) = futures::channel::mpsc::unbounded();
    caches.triggers.set_user_queue(Some(tx));
    (caches, writers, rx)
}

#[test]
fn a_group_change_re_plans_only_its_members() {
    let (caches, _writers, mut queue) = leading();
    on_user(&caches, Change::Spec(&user("alice", &["sales"])));
    on_user(&caches, Change::Spec(&user("bob", &["sales", "eng"])));
    on_user(&caches, Change::Spec(&user("carol", &["eng"])));
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
    let (caches, _writers, mut queue) = leading();
    on_user(&caches, Change::Spec(&user("alice", &["sales"])));
    assert_eq!(drain(&mut queue), ["alice"]);
    on_user(&caches, Change::Spec(&user("alice", &["eng"])));
    assert_eq!(drain(&mut queue), ["alice"]);
    assert_eq!(caches.memberships.objects("ns", "sales"), Vec::<String>::new());
    assert_eq!(caches.memberships.objects("ns", "eng"), ["alice"]);
    let dirty = std::mem::take(&mut *caches.triggers.dirty.lock().unwrap());
    assert_eq!(dirty.into_iter().collect::<Vec<_>>(), ["ns"]);
}

#[test]
fn no_user_is_queued_while_not_leading() {
    let (caches, _writers) = Caches::new();
    on_user(&caches, Change::Spec(&user("alice", &["sales"])));
    let (tx, mut rx) = futures::channel::mpsc::unbounded();
    caches.triggers.set_user_queue(Some(tx));
    assert!(drain(&mut rx).is_empty());
    // The index is kept up to date regardless, for the new leader.
    assert_eq!(caches.memberships.count("ns", "sales"), 1);
}

#[test]
fn the_scim_store_shares_the_cached_objects() {
    let scim = ScimStore::default();
    let share = share::<User>(Some(scim.clone()));
    let (reader, mut writer) = reflector::store::<User>();
    let mut feed = |event: watcher::Event<User>| {
        writer.apply_watcher_event(&event);
        share(&reader, &event);
    };
    feed(watcher::Event::Init);
    feed(watcher::Event::InitApply(user("alice", &[])));
    assert!(
        scim.get::<User>("ns", "alice").is_none(),
        "nothing before the list is complete"
    );
    feed(watcher::Event::InitDone);
    feed(watcher::Event::Apply(user("bob", &["sales"])));

    for name in ["alice", "bob"] {
        let cached = reader.get(&ObjectRef::new(name).within("ns")).unwrap();
        let served = scim.get::<User>("ns", name).unwrap();
        assert!(Arc::ptr_eq(&cached, &served), "{name} is held once, not copied");
    }
    scim.read("ns", |ns| assert_eq!(ns.member_count("sales"), 1));
    feed(watcher::Event::Delete(user("bob", &["sales"])));
    assert!(scim.get::<User>("ns", "bob").is_none());
    scim.read("ns", |ns| assert_eq!(ns.member_count("sales"), 0));
}

#[test]
fn a_relist_rebuilds_the_index_of_its_own_kind_only() {
    let (caches, _writers) = Caches::new();
    caches.memberships.set("ns", "alice", vec!["sales".into()]);
    caches.user_native_bindings.set("ns", "ws/alice", vec!["alice".into()]);

    // A native-binding relist that lists nothing drops the native bindings, not the memberships.
    begin_relist::<RbacBinding>(&caches);
    end_relist::<RbacBinding>(&caches);
    assert!(caches.user_native_bindings.objects("ns", "alice").is_empty());
    assert_eq!(caches.memberships.objects("ns", "sales"), ["alice"]);
    begin_relist::<User>(&caches);
    end_relist::<User>(&caches);
    assert!(caches.memberships.objects("ns", "sales").is_empty());
    // Kinds without an index relist without touching any.
    begin_relist::<Group>(&caches);
    end_relist::<Group>(&caches);
}
