//! Fail-closed writes, over real HTTP on a real kube-apiserver: ids that cannot reach other API
//! URLs, ids never reassigned, uniqueness decided by the API server across replicas, and member
//! writes that agree between replicas and never outlive their group; updates that keep what other
//! hands wrote.
//!
//! A second "replica" is a server on its own cache; a lagging one is a server on
//! `Store::snapshot`, a cache that never sees a later change, so each race is pinned, not hoped for.

mod support;

use std::time::Duration;

use kube::Api;
use kube::ResourceExt;
use kube::api::{DeleteParams, Patch, PatchParams};
use reqwest::StatusCode;
use scim_operator::api::{ClaimedKind, Group, NameClaim, NameClaimSpec, User, annotations, fold_user_name, labels};
use scim_operator::scim::claims::claim_name;
use scim_operator::scim::resource::now;
use scim_operator::scim::trace::LAST_REQUEST;
use scim_operator::scim::write::{USER_ID_PREFIX, new_id};
use scim_operator::watch::Store;
use serde_json::{Value, json};
use support::scim::{Scim, ServerOptions, create_directory, spawn_server, spawn_server_on};

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Servers whose stale name claims are taken over after 2 s rather than 30, so that a name whose
/// holder was deleted outside SCIM comes back within a test's patience.
fn options() -> ServerOptions {
    let mut options = ServerOptions::default();
    options.config.claim_grace = Duration::from_secs(2);
    options
}

/// A fresh namespace with a directory and two replicas on their own (live) caches.
async fn two_replicas(prefix: &str) -> (kube::Client, String, Scim, Scim) {
    let client = support::client().await;
    let namespace = support::fresh_namespace(&client, prefix).await;
    let token = create_directory(&client, &namespace, "entra").await;
    let a = spawn_server(client.clone(), options()).await;
    let b = spawn_server(client.clone(), options()).await;
    let a = Scim::connect(a, &namespace, "entra", &token).await;
    let b = Scim::connect(b, &namespace, "entra", &token).await;
    (client, namespace, a, b)
}

/// A replica whose cache is what the API server holds now, and never anything later.
async fn lagging_replica(client: &kube::Client, namespace: &str, like: &Scim) -> Scim {
    let store = Store::snapshot(client.clone()).await.expect("snapshot");
    let addr = spawn_server_on(client.clone(), store, options()).await;
    Scim::connect(addr, namespace, "entra", &like.token).await
}

fn user(user_name: &str) -> Value {
    json!({"schemas": [USER_SCHEMA], "userName": user_name, "active": true})
}

fn group(display_name: &str, members: &[&str]) -> Value {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    json!({"schemas": [GROUP_SCHEMA], "displayName": display_name, "members": members})
}

fn add_members(ids: &[&str]) -> Value {
    let values: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    json!({"schemas": [PATCH_OP], "Operations": [{"op": "Add", "path": "members", "value": values}]})
}

fn id_of(reply: &support::scim::Reply) -> String {
    reply.body["id"].as_str().expect("id").to_string()
}

/// POSTs `body` until the answer is not 503 (each 503 with `Retry-After`), as a client retries
/// while a name's claim is left to a holder that may still appear; fails after `support::WAIT`.
async fn post_past_retries(scim: &Scim, path: &str, body: &Value) -> support::scim::Reply {
    let deadline = tokio::time::Instant::now() + support::WAIT;
    loop {
        let reply = scim.post(path, body).await;
        if reply.status != StatusCode::SERVICE_UNAVAILABLE {
            return reply;
        }
        assert!(reply.headers.contains_key("retry-after"), "{:?}", reply.headers);
        assert!(
            tokio::time::Instant::now() < deadline,
            "still 503 after {:?}: {path}",
            support::WAIT
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Merge-patches User `id` straight through the API server, as other hands (kubectl, GitOps) do,
/// and waits until `scim`'s cache serves the edited version.
async fn hand_edit(client: &kube::Client, namespace: &str, scim: &Scim, id: &str, patch: &Value) {
    let edited = Api::<User>::namespaced(client.clone(), namespace)
        .patch(id, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .expect("hand edit");
    let version = scim_operator::scim::resource::etag(&edited);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while scim.get(&format!("/Users/{id}")).await.body["meta"]["version"] != version.as_str() {
        assert!(
            std::time::Instant::now() < deadline,
            "the edit never reached the server's cache"
        );
        tokio::task::yield_now().await;
    }
}

async fn stored_user(client: &kube::Client, namespace: &str, id: &str) -> User {
    Api::<User>::namespaced(client.clone(), namespace)
        .get(id)
        .await
        .expect("user stored")
}

/// Issue 11.1: an id carrying `?`, `/` or `%` never reaches the API server's URLs — no dry run
/// answered as a write, no subresource written — and nothing unstored is ever served.
#[tokio::test]
async fn ids_outside_the_issued_grammar_are_404_and_change_nothing() {
    let (client, namespace, scim, _) = two_replicas("ids-grammar").await;
    let id = scim.create_user("grammar@example.com").await;
    let before = stored_user(&client, &namespace, &id).await;

    let mut renamed = user("grammar@example.com");
    renamed["displayName"] = "Phantom".into();
    for path in [
        format!("/Users/{id}%3FdryRun%3DAll%26x%3D"),
        format!("/Users/{id}%2Fstatus"),
        format!("/Users/{}", id.to_uppercase()),
    ] {
        let put = scim.put(&path, &renamed).await;
        assert_eq!(put.status, StatusCode::NOT_FOUND, "PUT {path}: {:?}", put.body);
        let patch = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "displayName", "value": "Phantom"}]});
        let patched = scim.patch(&path, &patch).await;
        assert_eq!(patched.status, StatusCode::NOT_FOUND, "PATCH {path}");
        assert_eq!(scim.get(&path).await.status, StatusCode::NOT_FOUND, "GET {path}");
        assert_eq!(scim.delete(&path).await.status, StatusCode::NOT_FOUND, "DELETE {path}");
    }

    let after = stored_user(&client, &namespace, &id).await;
    assert_eq!(
        after.metadata.resource_version, before.metadata.resource_version,
        "nothing was written"
    );
    let served = scim.get(&format!("/Users/{id}")).await;
    assert_eq!(served.status, StatusCode::OK);
    assert_ne!(served.body["displayName"], "Phantom", "no unstored value is served");

    // A member id of the wrong shape is an unknown member, not a URL.
    let g = scim.post("/Groups", &group("plain-grammar", &[])).await;
    assert_eq!(g.status, StatusCode::CREATED, "{:?}", g.body);
    let bad = format!("{id}?dryRun=All");
    let added = scim
        .patch(&format!("/Groups/{}", id_of(&g)), &add_members(&[bad.as_str()]))
        .await;
    assert_eq!(added.status, StatusCode::BAD_REQUEST, "{:?}", added.body);
    assert_eq!(added.scim_type(), "invalidValue");
    assert!(stored_user(&client, &namespace, &id).await.spec.groups.is_empty());
}

/// Issue 11.4: a group deleted outside SCIM and POSTed again is a new group: a new id, no members,
/// and the old id is never served again.
#[tokio::test]
async fn a_recreated_group_gets_a_new_id_and_no_old_members() {
    let (client, namespace, scim, _) = two_replicas("ids-recreate").await;
    let member = scim.create_user("recreate@example.com").await;
    let first = scim
        .post("/Groups", &group("ws-Recreate-role-admin", &[member.as_str()]))
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    let old_id = id_of(&first);
    assert!(
        stored_user(&client, &namespace, &member)
            .await
            .spec
            .groups
            .contains(&old_id)
    );

    // A GitOps prune: the Group goes, the membership recorded on the User stays behind.
    Api::<Group>::namespaced(client.clone(), &namespace)
        .delete(&old_id, &DeleteParams::default())
        .await
        .expect("deleted outside SCIM");
    let deadline = tokio::time::Instant::now() + support::WAIT;
    while scim.get(&format!("/Groups/{old_id}")).await.status != StatusCode::NOT_FOUND {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the deletion never reached the cache"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The deleted group's name claim is stale once the grace period has passed; until then the
    // name is not known to be taken, so the answer is "retry".
    let again = post_past_retries(&scim, "/Groups", &group("ws-Recreate-role-admin", &[])).await;
    assert_eq!(again.status, StatusCode::CREATED, "{:?}", again.body);
    let new_id = id_of(&again);
    assert_ne!(new_id, old_id, "a deleted group's id is never handed to the next one");
    let fetched = scim.get(&format!("/Groups/{new_id}")).await;
    assert_eq!(
        fetched.body.get("members").cloned().unwrap_or(json!([])),
        json!([]),
        "{:?}",
        fetched.body
    );
    let by_member = scim
        .filter("/Groups", &format!("members.value eq \"{member}\""), "")
        .await;
    assert_eq!(by_member.body["totalResults"], 0, "{:?}", by_member.body);
    let groups_of_user = scim.get(&format!("/Users/{member}")).await;
    assert!(groups_of_user.body.get("groups").is_none(), "{:?}", groups_of_user.body);

    // The same holds for users: deleted and created again, a new id.
    let deleted = scim.delete(&format!("/Users/{member}")).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let recreated = scim.create_user("recreate@example.com").await;
    assert_ne!(recreated, member);
}

/// Issue 11.7: one case folding everywhere, and the API server decides: racing creates of
/// `ÉLODIE{i}` and `élodie{i}` on two replicas store one user, answer one 201 and one 409.
#[tokio::test]
async fn racing_creates_across_replicas_store_one_user_per_folded_name() {
    let (client, namespace, a, b) = two_replicas("ids-race").await;
    for i in 0..10 {
        let (upper, lower) = (format!("ÉLODIE{i}@x.io"), format!("élodie{i}@x.io"));
        let (body_a, body_b) = (user(&upper), user(&lower));
        let (ra, rb) = tokio::join!(a.post("/Users", &body_a), b.post("/Users", &body_b));
        let mut statuses = [ra.status, rb.status];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::CREATED, StatusCode::CONFLICT],
            "pair {i}: {:?} / {:?}",
            ra.body,
            rb.body
        );
        let loser = if ra.status == StatusCode::CONFLICT { &ra } else { &rb };
        assert_eq!(loser.scim_type(), "uniqueness");
    }
    let users = Api::<User>::namespaced(client.clone(), &namespace)
        .list(&Default::default())
        .await
        .expect("list");
    assert_eq!(users.items.len(), 10, "exactly one user per folded name");
}

/// Issue 11.7: renames are decided by the API server too: two replicas renaming different users
/// to one new userName at once answer one 200 and one 409.
#[tokio::test]
async fn racing_renames_across_replicas_give_the_name_to_one_user() {
    let (client, namespace, a, b) = two_replicas("ids-rename").await;
    for i in 0..10 {
        let first = a.create_user(&format!("first{i}@x.io")).await;
        let second = b.create_user(&format!("second{i}@x.io")).await;
        let target = format!("Taken{i}@x.io");
        let rename =
            json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "userName", "value": target}]});
        let (path_a, path_b) = (format!("/Users/{first}"), format!("/Users/{second}"));
        let (ra, rb) = tokio::join!(a.patch(&path_a, &rename), b.patch(&path_b, &rename));
        let mut statuses = [ra.status, rb.status];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::CONFLICT],
            "pair {i}: {:?} / {:?}",
            ra.body,
            rb.body
        );
    }
    let users = Api::<User>::namespaced(client.clone(), &namespace)
        .list(&Default::default())
        .await
        .expect("list");
    let mut taken: Vec<String> = users
        .items
        .iter()
        .map(|u| u.spec.user_name.to_lowercase())
        .filter(|n| n.starts_with("taken"))
        .collect();
    taken.sort();
    taken.dedup();
    assert_eq!(taken.len(), 10);
    assert_eq!(
        users
            .items
            .iter()
            .filter(|u| u.spec.user_name.starts_with("Taken"))
            .count(),
        10
    );
}

/// Issue 11.7: no name is lost for good — renamed away from many times, deleted outside SCIM,
/// a name can always be created again.
#[tokio::test]
async fn a_name_is_never_lost() {
    let (client, namespace, scim, _) = two_replicas("ids-lost").await;
    for round in 0..10 {
        let id = scim.create_user("reused@x.io").await;
        let rename = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "userName", "value": format!("moved{round}@x.io")}]});
        let moved = scim.patch(&format!("/Users/{id}"), &rename).await;
        assert_eq!(moved.status, StatusCode::OK, "round {round}: {:?}", moved.body);
    }
    // Deleted with kubectl rather than SCIM: its claim is left behind, stale, and taken over.
    let id = scim.create_user("pruned@x.io").await;
    Api::<User>::namespaced(client.clone(), &namespace)
        .delete(&id, &DeleteParams::default())
        .await
        .expect("deleted outside SCIM");
    let deadline = tokio::time::Instant::now() + support::WAIT;
    loop {
        let again = scim.post("/Users", &user("pruned@x.io")).await;
        if again.status == StatusCode::CREATED {
            assert_ne!(id_of(&again), id);
            break;
        }
        // Until the deletion reaches this replica's cache, its fast check still sees the user
        // (409); then the claim is left to its missing holder for the grace period (503).
        assert!(
            [StatusCode::CONFLICT, StatusCode::SERVICE_UNAVAILABLE].contains(&again.status),
            "{:?}",
            again.body
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "the pruned name never came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let claims = Api::<NameClaim>::namespaced(client.clone(), &namespace)
        .list(&Default::default())
        .await
        .expect("claims");
    let users = Api::<User>::namespaced(client.clone(), &namespace)
        .list(&Default::default())
        .await
        .expect("users");
    assert_eq!(claims.items.len(), users.items.len(), "one claim per user, none leaked");
}

/// A replica killed between claiming a userName and storing the User leaves a claim with no
/// holder. A retry of that create is told to retry (503 with Retry-After), never 409 — after a
/// 409 a client looks the name up and finds nothing — and once the grace period has passed it
/// takes the claim over and stores the user once.
#[tokio::test]
async fn a_create_whose_replica_died_after_claiming_is_retried_not_refused() {
    let client = support::client().await;
    let namespace = support::fresh_namespace(&client, "ids-orphan").await;
    let token = create_directory(&client, &namespace, "entra").await;
    // Long enough that the first request surely falls within it (claims record whole seconds,
    // and a busy test machine is slow), short enough to wait for.
    let mut options = options();
    options.config.claim_grace = Duration::from_secs(8);
    let scim = Scim::connect(spawn_server(client.clone(), options).await, &namespace, "entra", &token).await;
    let key = fold_user_name("Orphan@x.io");
    let orphan = new_id(USER_ID_PREFIX);
    let mut claim = NameClaim::new(
        &claim_name(ClaimedKind::User, &key),
        NameClaimSpec {
            kind: ClaimedKind::User,
            key,
            holder: orphan.clone(),
            since: now(),
        },
    );
    claim.metadata.namespace = Some(namespace.clone());
    let claims = Api::<NameClaim>::namespaced(client.clone(), &namespace);
    claims
        .create(&Default::default(), &claim)
        .await
        .expect("the dead replica's claim");

    let first = scim.post("/Users", &user("orphan@x.io")).await;
    assert_eq!(first.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", first.body);
    assert!(first.headers.contains_key("retry-after"), "{:?}", first.headers);
    let created = post_past_retries(&scim, "/Users", &user("orphan@x.io")).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let id = id_of(&created);
    assert_ne!(id, orphan);
    let found = scim.filter("/Users", "userName eq \"orphan@x.io\"", "").await;
    assert_eq!(found.body["Resources"][0]["id"], json!(id), "{:?}", found.body);
    let users = Api::<User>::namespaced(client.clone(), &namespace)
        .list(&Default::default())
        .await
        .expect("users");
    assert_eq!(users.items.len(), 1, "stored once");
    let held = claims.get(&claim.metadata.name.clone().unwrap()).await.expect("claim");
    assert_eq!(held.spec.holder, id);
}

/// A 409 names a user that the same replica then finds: a replica whose cache has not seen a
/// user created on another one learns of it from the claim it lost, so the lookup a client makes
/// after a 409 (as Entra matches) does not come back empty.
#[tokio::test]
async fn a_409_from_a_lagging_replica_is_followed_by_a_lookup_that_finds_the_user() {
    let (client, namespace, a, _) = two_replicas("ids-409").await;
    let lagging = lagging_replica(&client, &namespace, &a).await;
    let id = a.create_user("seen-elsewhere@x.io").await;

    let again = lagging.post("/Users", &user("Seen-Elsewhere@x.io")).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{:?}", again.body);
    assert_eq!(again.scim_type(), "uniqueness");
    let found = lagging
        .filter("/Users", "userName eq \"seen-elsewhere@x.io\"", "")
        .await;
    assert_eq!(found.body["Resources"][0]["id"], json!(id), "{:?}", found.body);
}

/// Issue 11.10: a user created on one replica and added to a group on another that has not seen
/// it yet is added (the API server is asked before a 400, which Entra treats as permanent).
#[tokio::test]
async fn a_member_unseen_by_this_replica_is_looked_up_before_a_400() {
    let (client, namespace, a, _) = two_replicas("ids-unseen").await;
    let g = a.post("/Groups", &group("plain-unseen", &[])).await;
    assert_eq!(g.status, StatusCode::CREATED);
    let lagging = lagging_replica(&client, &namespace, &a).await;
    let fresh = a.create_user("fresh@x.io").await;

    let added = lagging
        .patch(&format!("/Groups/{}", id_of(&g)), &add_members(&[fresh.as_str()]))
        .await;
    assert_eq!(added.status, StatusCode::NO_CONTENT, "{:?}", added.body);
    assert!(
        stored_user(&client, &namespace, &fresh)
            .await
            .spec
            .groups
            .contains(&id_of(&g))
    );
    let posted = lagging
        .post("/Groups", &group("plain-unseen-2", &[fresh.as_str()]))
        .await;
    assert_eq!(posted.status, StatusCode::CREATED, "{:?}", posted.body);

    // A member that really does not exist is still refused, and nothing is written.
    let missing = "u0000000000000000000000000000dead";
    let refused = lagging
        .patch(&format!("/Groups/{}", id_of(&g)), &add_members(&[missing]))
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.scim_type(), "invalidValue");
}

/// Issue 11.10: a group POST with members that fails midway is not a 409 forever: the retry
/// continues the same group, and ends with exactly the requested members.
#[tokio::test]
async fn a_group_post_that_failed_midway_is_continued_by_its_retry() {
    let (client, namespace, a, _) = two_replicas("ids-midway").await;
    let kept = a.create_user("kept@x.io").await;
    let gone = a.create_user("gone@x.io").await;
    // The lagging replica still believes in `gone`, so its POST passes the member check, creates
    // the group, and fails on the second member.
    let lagging = lagging_replica(&client, &namespace, &a).await;
    Api::<User>::namespaced(client.clone(), &namespace)
        .delete(&gone, &DeleteParams::default())
        .await
        .expect("deleted");
    let failed = lagging
        .post(
            "/Groups",
            &group("ws-Midway-role-member", &[kept.as_str(), gone.as_str()]),
        )
        .await;
    assert_eq!(failed.status, StatusCode::BAD_REQUEST, "{:?}", failed.body);

    let retried = a
        .post("/Groups", &group("ws-Midway-role-member", &[kept.as_str()]))
        .await;
    assert_eq!(
        retried.status,
        StatusCode::CREATED,
        "the retry continues: {:?}",
        retried.body
    );
    let id = id_of(&retried);
    let members: Vec<&str> = retried.body["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| m["value"].as_str())
        .collect();
    assert_eq!(members, vec![kept.as_str()]);
    let groups = Api::<Group>::namespaced(client.clone(), &namespace)
        .list(&Default::default())
        .await
        .expect("groups");
    assert_eq!(groups.items.len(), 1, "one group, not a leftover and a new one");
    assert!(
        !groups.items[0]
            .metadata
            .annotations
            .clone()
            .unwrap_or_default()
            .keys()
            .any(|k| k.contains("pending")),
        "the finished group is no longer pending"
    );
    // Once finished, the same POST is a plain uniqueness conflict again.
    let twice = a
        .post("/Groups", &group("ws-Midway-role-member", &[kept.as_str()]))
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    assert_eq!(id, groups.items[0].metadata.name.clone().unwrap());
}

/// Issue 11.4: a member PATCH that lands after its group was deleted takes its write back: no
/// membership of a deleted group is left on a User. (Entries a race leaves anyway are purged by
/// the controller: tests/controller/memberships.rs.)
#[tokio::test]
async fn a_member_patch_racing_a_group_delete_leaves_no_membership() {
    let (client, namespace, a, _) = two_replicas("ids-delete-race").await;
    let member = a.create_user("racer@x.io").await;
    let g = a.post("/Groups", &group("ws-Race-role-admin", &[])).await;
    let gid = id_of(&g);
    // The lagging replica still sees the group after the DELETE below has completed.
    let lagging = lagging_replica(&client, &namespace, &a).await;
    assert_eq!(a.delete(&format!("/Groups/{gid}")).await.status, StatusCode::NO_CONTENT);

    let added = lagging
        .patch(&format!("/Groups/{gid}"), &add_members(&[member.as_str()]))
        .await;
    assert_eq!(added.status, StatusCode::NOT_FOUND, "{:?}", added.body);
    let stored = stored_user(&client, &namespace, &member).await;
    assert!(!stored.spec.groups.contains(&gid), "{:?}", stored.spec.groups);
}

/// A membership removed through SCIM is removed even when `spec.groups` was edited by other hands
/// (kubectl, GitOps) out of SCIM's order: access never outlives a removal.
#[tokio::test]
async fn a_member_removed_from_a_hand_edited_group_list_loses_the_membership() {
    let (client, namespace, scim, _) = two_replicas("hand-edited").await;
    let member = scim.create_user("edited@x.io").await;
    let mut gids = Vec::new();
    for name in ["ws-Edited-role-admin", "plain-edited-1", "plain-edited-2"] {
        let g = scim.post("/Groups", &group(name, &[member.as_str()])).await;
        assert_eq!(g.status, StatusCode::CREATED, "{:?}", g.body);
        gids.push(id_of(&g));
    }
    let stored = stored_user(&client, &namespace, &member).await.spec.groups;
    assert_eq!(stored.len(), 3, "{stored:?}");
    // The others in order, the group to leave where a binary search cannot find it: first if it
    // sorts last, else last.
    let mut edited: Vec<String> = stored.iter().filter(|g| **g != gids[0]).cloned().collect();
    if stored.last() == Some(&gids[0]) {
        edited.insert(0, gids[0].clone());
    } else {
        edited.push(gids[0].clone());
    }
    // The server's cache must hold the edit, or it would decide on the list SCIM wrote.
    hand_edit(
        &client,
        &namespace,
        &scim,
        &member,
        &json!({"spec": {"groups": edited}}),
    )
    .await;

    // Entra's form (a value list) for one group, a value filter for another.
    let by_value = json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "Remove", "path": "members", "value": [{"value": member}]}]});
    let by_filter = json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "Remove", "path": format!("members[value eq \"{member}\"]")}]});
    for (gid, remove) in [(&gids[0], by_value), (&gids[1], by_filter)] {
        let removed = scim.patch(&format!("/Groups/{gid}"), &remove).await;
        assert_eq!(removed.status, StatusCode::NO_CONTENT, "{:?}", removed.body);
    }
    let groups = stored_user(&client, &namespace, &member).await.spec.groups;
    assert_eq!(groups, [gids[2].clone()], "memberships left behind");
}

/// The cache keeps neither the directory label nor the last-request annotation of a User (every
/// SCIM write stamps them afresh; kept, they cost ~0.6 KiB per cached user), yet an update
/// stores both again, and keeps the labels and annotations other hands set. The last-modified
/// annotation, kept apart in the cache, is served as `meta.lastModified`.
#[tokio::test]
async fn an_update_stamps_its_own_metadata_again_and_keeps_other_hands() {
    let (client, namespace, scim, _) = two_replicas("restamp").await;
    let id = scim.create_user("stamped@x.io").await;
    let created = stored_user(&client, &namespace, &id).await;
    assert_eq!(
        created.labels().get(labels::DIRECTORY).map(String::as_str),
        Some("entra")
    );
    let hand = json!({"metadata": {
        "labels": {"example.com/team": "blue"},
        "annotations": {"example.com/note": "kept", annotations::LAST_MODIFIED: "2099-01-01T00:00:00Z"},
    }});
    hand_edit(&client, &namespace, &scim, &id, &hand).await;
    let by_id = scim.get(&format!("/Users/{id}")).await;
    let listed = scim.filter("/Users", r#"userName eq "stamped@x.io""#, "").await;
    for meta in [&by_id.body["meta"], &listed.body["Resources"][0]["meta"]] {
        assert_eq!(meta["lastModified"], "2099-01-01T00:00:00Z", "{meta:?}");
    }

    let rename = json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": "displayName", "value": "Stamped Again"}]});
    let reply = scim.patch(&format!("/Users/{id}"), &rename).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let request_id = reply.headers["x-request-id"].to_str().expect("request id");

    let stored = stored_user(&client, &namespace, &id).await;
    assert_eq!(stored.spec.display_name.as_deref(), Some("Stamped Again"));
    let stored_labels = stored.labels();
    let label = |key: &str| stored_labels.get(key).map(String::as_str);
    assert_eq!(label(labels::DIRECTORY), Some("entra"), "{stored_labels:?}");
    assert_eq!(label("example.com/team"), Some("blue"), "{stored_labels:?}");
    let notes = stored.annotations();
    assert_eq!(
        notes.get(LAST_REQUEST),
        Some(&format!("PATCH Users/{id} {request_id}")),
        "{notes:?}"
    );
    assert_eq!(notes.get("example.com/note").map(String::as_str), Some("kept"));
    assert!(notes.contains_key(annotations::LAST_MODIFIED), "{notes:?}");
}
