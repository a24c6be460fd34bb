//! The SCIM write path: object ids, uniqueness under concurrency, optimistic updates, membership.
//!
//! Ids are random and never reused; unique keys (userName, displayName) are held by name claims
//! (see [`super::claims`]) that the API server arbitrates, so uniqueness holds across replicas
//! without a lock, for creates and renames alike.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;

use super::claims::{self, Keyed};
use super::error::{ScimError, ScimResult, is_conflict};
use super::resource::{etag, now};
use super::trace;
use crate::api::annotations::LAST_MODIFIED;
use crate::api::{User, labels};
use crate::watch::{Cached, CachedUser, Store};

/// How many times an update is retried after losing a race with another writer.
const UPDATE_ATTEMPTS: usize = 10;
/// Parallel member updates of one group request.
pub const MEMBERSHIP_PARALLELISM: usize = 16;

/// Where writes go: the API server, the cache that records what was written (read-your-writes),
/// and how long a name claim whose holder does not hold the name is left alone.
#[derive(Clone, Copy)]
pub struct Writer<'a> {
    pub client: &'a Client,
    pub store: &'a Store,
    pub claim_grace: Duration,
}

/// A precondition on the version a write applies to (SCIM's `If-Match`, RFC 7644 §3.14): `*` or
/// a list of ETags, weak or strong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Precondition {
    /// `*`: any current version.
    any: bool,
    /// The named versions, without `W/` and quotes.
    etags: Vec<String>,
}

impl Precondition {
    /// An `If-Match` header value.
    pub fn if_match(value: &str) -> Self {
        Precondition {
            any: value.split(',').any(|e| e.trim() == "*"),
            etags: value.split(',').map(bare_etag).collect(),
        }
    }

    /// Fails with 412 when `current` has none of the named versions.
    pub fn check(&self, current: &impl ResourceExt) -> ScimResult<()> {
        let current_etag = etag(current);
        if self.any || self.etags.contains(&bare_etag(&current_etag)) {
            Ok(())
        } else {
            Err(ScimError::precondition_failed(format!(
                "If-Match does not match the current version {current_etag}"
            )))
        }
    }
}

/// An ETag without `W/` and quotes.
fn bare_etag(etag: &str) -> String {
    etag.trim().trim_start_matches("W/").trim_matches('"').to_string()
}

/// Checks `precondition`, when there is one, against the current version.
pub fn check(precondition: Option<&Precondition>, current: &impl ResourceExt) -> ScimResult<()> {
    precondition.map_or(Ok(()), |p| p.check(current))
}

/// The id prefix of Users.
pub const USER_ID_PREFIX: char = 'u';
/// The id prefix of Groups.
pub const GROUP_ID_PREFIX: char = 'g';

/// A new id: the kind's prefix and 128 random bits in hex. Never derived from the resource, so
/// never handed to another resource after a delete.
pub fn new_id(prefix: char) -> String {
    format!("{prefix}{:032x}", rand::random::<u128>())
}

/// Whether `id` has the shape of an id this server issues for the kind: its prefix, then lowercase
/// letters, digits and inner hyphens, 63 characters at most (a DNS label; older releases issued
/// `{prefix}{20 hex}` and `-{n}` suffixes, which still match). Anything else — `/`, `?`, `%`,
/// uppercase — never reaches the API server's URLs.
pub fn is_valid_id(prefix: char, id: &str) -> bool {
    id.len() <= 63
        && id.starts_with(prefix)
        && id.len() > 1
        && !id.ends_with('-')
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Labels and annotations of an object the SCIM endpoint writes: its directory, the time, and
/// (inside a request) the request's trace, [`trace::LAST_REQUEST`].
pub fn stamp<K: Resource<DynamicType = ()>>(obj: &mut K, directory: &str) {
    let resource = format!("{}s", K::kind(&()));
    let request = trace::last_request(&resource, obj.meta().name.as_deref().unwrap_or_default());
    let meta = obj.meta_mut();
    meta.labels
        .get_or_insert_with(BTreeMap::new)
        .insert(labels::DIRECTORY.into(), directory.into());
    let annotations = meta.annotations.get_or_insert_with(BTreeMap::new);
    annotations.insert(LAST_MODIFIED.into(), now());
    if let Some(request) = request {
        annotations.insert(trace::LAST_REQUEST.into(), request);
    }
}

/// The outcome of [`create_claimed`].
pub enum Created<K> {
    /// Stored under a new id.
    New(K),
    /// The key is held by this object, as the API server has it now.
    Taken(K),
}

/// Creates `make(id)` under a new id once the object's key is claimed for it. When the create is
/// refused for certain, the claim is released again; when its outcome is unknown (the API server
/// failed midway), the claim stays and becomes stale if the object was never stored.
pub(crate) async fn create_claimed<K>(
    w: Writer<'_>,
    namespace: &str,
    make: impl Fn(String) -> K,
) -> ScimResult<Created<K>>
where
    K: Keyed + Cached + serde::Serialize,
{
    let id = new_id(id_prefix::<K>());
    let object = make(id.clone());
    let key = object.unique_key();
    let started = tokio::time::Instant::now();
    if let Some(holder) = claims::acquire::<K>(w.client, namespace, &key, &id, w.claim_grace).await? {
        return Ok(taken(w, holder));
    }
    let api = Api::<K>::namespaced(w.client.clone(), namespace);
    match api.create(&PostParams::default(), &object).await {
        Ok(created) => {
            // Another request takes a claim over only once it is older than the grace period and
            // its holder still missing. A create that took a fair part of that (a slow API server)
            // may have lost its claim meanwhile: then exactly one of the two objects must stay.
            // A quicker one cannot have, and is spared the read.
            let may_have_lost = started.elapsed() >= w.claim_grace / 4;
            if may_have_lost
                && !claims::is_held_by::<K>(w.client, namespace, &key, &id).await?
                && let Some(holder) = claims::acquire::<K>(w.client, namespace, &key, &id, w.claim_grace).await?
            {
                match api.delete(&id, &DeleteParams::default()).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.is_not_found() => {}
                    Err(e) => return Err(e.into()),
                }
                return Ok(taken(w, holder));
            }
            record(w, &id, created.clone());
            Ok(Created::New(created))
        }
        Err(kube::Error::Api(s)) if s.code < 500 && s.code != 429 => {
            claims::release::<K>(w.client, namespace, &key, &id).await;
            Err(kube::Error::Api(s).into())
        }
        Err(e) => Err(e.into()),
    }
}

/// The answer for a key held by `holder`, which is recorded so that this replica's lookups find
/// it at once (a client looks the key up after a 409).
fn taken<K: Cached + Clone>(w: Writer<'_>, holder: K) -> Created<K> {
    w.store.record(holder.clone());
    Created::Taken(holder)
}

/// Records a written object in the cache, only when it is the object the request named: what a
/// real write of that id returned.
fn record<K: Cached>(w: Writer<'_>, id: &str, obj: K) {
    if obj.meta().name.as_deref() == Some(id) && obj.meta().resource_version.is_some() {
        w.store.record(obj);
    }
}

/// Adds users to (or removes them from) a group by editing each member's `spec.groups`.
/// Unknown users are refused when adding; removing a user that is gone is a no-op.
pub async fn set_membership(
    w: Writer<'_>,
    namespace: &str,
    group: &str,
    users: &[String],
    member: bool,
) -> ScimResult<()> {
    // Futures are built eagerly (not in a stream closure) so the handler future stays `Send`.
    let updates: Vec<_> = users
        .iter()
        .map(|user| set_one(w, namespace, group, user, member))
        .collect();
    futures::stream::iter(updates)
        .buffer_unordered(MEMBERSHIP_PARALLELISM)
        .try_collect::<()>()
        .await
}

async fn set_one(w: Writer<'_>, namespace: &str, group: &str, user: &str, member: bool) -> ScimResult<()> {
    if !is_valid_id(USER_ID_PREFIX, user) {
        return if member { Err(unknown_member(user)) } else { Ok(()) };
    }
    let api = Api::<User>::namespaced(w.client.clone(), namespace);
    // Only the member list and the version are read: the cached record as it is, no decoding.
    for attempt in 0..UPDATE_ATTEMPTS {
        let cached = match attempt {
            0 => w.store.read(namespace, |ns| ns.users.get(user).cloned()),
            _ => None,
        };
        let current = match cached {
            Some(u) => Some(u),
            None => api.get_opt(user).await?.map(|u| Arc::new(CachedUser::from(u))),
        };
        let Some(current) = current.filter(|u| !u.is_deleting()) else {
            return if member { Err(unknown_member(user)) } else { Ok(()) };
        };
        // Sorted and unique as SCIM writes it; an edit by other hands (kubectl, GitOps) may have
        // left it otherwise, and a search of an unsorted list could miss a membership to remove.
        let mut groups = current.groups.clone();
        groups.sort_unstable();
        groups.dedup();
        match (groups.binary_search_by(|g| g.as_str().cmp(group)), member) {
            (Ok(_), true) | (Err(_), false) => return Ok(()),
            (Err(at), true) => groups.insert(at, group.to_string()),
            (Ok(at), false) => {
                groups.remove(at);
            }
        }
        // A merge patch carrying the resourceVersion is a compare-and-swap on the member list.
        // Membership changes only through /Groups: the trace names the group's request.
        let mut metadata = json!({"resourceVersion": current.resource_version()});
        if let Some(request) = trace::last_request("Groups", group) {
            metadata["annotations"] = json!({ trace::LAST_REQUEST: request });
        }
        let patch = json!({"metadata": metadata, "spec": {"groups": groups}});
        match api.patch(user, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(updated) => {
                record(w, user, updated);
                return Ok(());
            }
            Err(e) if is_conflict(&e) => continue,
            Err(kube::Error::Api(s)) if s.is_not_found() && !member => return Ok(()),
            Err(kube::Error::Api(s)) if s.is_not_found() => return Err(unknown_member(user)),
            Err(e) => return Err(e.into()),
        }
    }
    Err(ScimError::unavailable("too many concurrent updates of a member; retry"))
}

/// 400 `invalidValue` for a member id that names no User of the directory.
pub(crate) fn unknown_member(user: &str) -> ScimError {
    ScimError::bad_request(
        "invalidValue",
        format!("member {user:?} is not a User of this directory"),
    )
}

/// Rewrites an object optimistically: `edit` turns the current version into the next one (`None`:
/// nothing to change), which replaces it at the resourceVersion it was read at. When another
/// writer got there first, the object is read again and edited again, except under `If-Match`,
/// which then fails with 412 (`precondition`). A changed unique key is claimed before the write (`conflict` when it
/// is taken) and the old one released after it. Returns the object as stored.
pub(crate) async fn replace_edited<K: Keyed + Cached + serde::Serialize>(
    w: Writer<'_>,
    namespace: &str,
    id: &str,
    precondition: Option<&Precondition>,
    conflict: impl Fn(&K) -> ScimError,
    mut edit: impl FnMut(&K) -> ScimResult<Option<K>>,
) -> ScimResult<K> {
    let api = Api::<K>::namespaced(w.client.clone(), namespace);
    let noun = K::kind(&()).to_lowercase();
    // A key claimed by an earlier attempt of this request, to release if the write goes elsewhere.
    let mut claimed: Option<String> = None;
    let result = async {
        for attempt in 0..UPDATE_ATTEMPTS {
            let current = match attempt {
                0 => find(w, namespace, id).await?,
                _ => api
                    .get_opt(id)
                    .await?
                    .filter(|o| o.meta().deletion_timestamp.is_none())
                    .ok_or_else(|| ScimError::not_found(format!("{} {id} not found", K::kind(&()))))?,
            };
            check(precondition, &current)?;
            let Some(next) = edit(&current)? else {
                return Ok((current, None));
            };
            let (old_key, new_key) = (current.unique_key(), next.unique_key());
            if new_key != old_key && claimed.as_deref() != Some(new_key.as_str()) {
                if let Some(stale) = claimed.take() {
                    claims::release::<K>(w.client, namespace, &stale, id).await;
                }
                if let Some(holder) = claims::acquire::<K>(w.client, namespace, &new_key, id, w.claim_grace).await? {
                    w.store.record(holder);
                    return Err(conflict(&next));
                }
                claimed = Some(new_key.clone());
            }
            match api.replace(id, &PostParams::default(), &next).await {
                Ok(updated) => {
                    record(w, id, updated.clone());
                    let released = (new_key != old_key).then_some(old_key);
                    return Ok((updated, released));
                }
                Err(e) if is_conflict(&e) && precondition.is_some() => {
                    return Err(ScimError::precondition_failed(format!(
                        "the {noun} changed while this request was applied"
                    )));
                }
                Err(e) if is_conflict(&e) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ScimError::unavailable(format!(
            "too many concurrent updates of this {noun}; retry"
        )))
    }
    .await;
    match result {
        Ok((updated, released)) => {
            if let Some(old_key) = released {
                claims::release::<K>(w.client, namespace, &old_key, id).await;
            }
            // A claim taken for a key the stored object does not have (the edit changed course).
            if let Some(key) = claimed.filter(|k| *k != updated.unique_key()) {
                claims::release::<K>(w.client, namespace, &key, id).await;
            }
            Ok(updated)
        }
        Err(e) => {
            // Not written: give back a key claimed for it (if the write's outcome is unknown and it
            // did land, the object holds the key anyway, and a claim it lacks is recreated by the
            // next rename or found missing by nobody: the cache check still guards the key).
            if let Some(key) = claimed {
                claims::release::<K>(w.client, namespace, &key, id).await;
            }
            Err(e)
        }
    }
}

/// The object from the cache, or from the API server when this replica has not seen it yet
/// (read-your-writes across replicas). Objects being deleted count as gone; so does an id of a
/// shape this server never issues, which never reaches the API server.
pub(crate) async fn find<K: Keyed + Cached>(w: Writer<'_>, namespace: &str, id: &str) -> ScimResult<K> {
    let not_found = || ScimError::not_found(format!("{} {id} not found", K::kind(&())));
    if !is_valid_id(id_prefix::<K>(), id) {
        return Err(not_found());
    }
    if let Some(entry) = w.store.get::<K>(namespace, id) {
        return Ok(K::object(&entry));
    }
    let found = Api::<K>::namespaced(w.client.clone(), namespace).get_opt(id).await?;
    let obj = found
        .filter(|o| o.meta().deletion_timestamp.is_none())
        .ok_or_else(not_found)?;
    record(w, id, obj.clone());
    Ok(obj)
}

/// The id prefix of a kind.
pub fn id_prefix<K: Keyed>() -> char {
    match K::CLAIMED {
        crate::api::ClaimedKind::User => USER_ID_PREFIX,
        crate::api::ClaimedKind::Group => GROUP_ID_PREFIX,
    }
}

/// Deletes an object found by [`find`], forgets it, so a late watch event cannot revive it, and
/// releases its key.
pub(crate) async fn delete<K: Keyed + Cached>(w: Writer<'_>, namespace: &str, current: &K) -> ScimResult<()> {
    let id = current.name_any();
    let api = Api::<K>::namespaced(w.client.clone(), namespace);
    let deleted_version = match api.delete(&id, &DeleteParams::default()).await {
        Ok(deleted) => deleted.left().and_then(|o| o.resource_version()),
        Err(kube::Error::Api(s)) if s.is_not_found() => {
            return Err(ScimError::not_found(format!("{} {id} not found", K::kind(&()))));
        }
        Err(e) => return Err(e.into()),
    };
    let version = deleted_version
        .or_else(|| current.resource_version())
        .and_then(|v| v.parse().ok());
    w.store.forget::<K>(namespace, &id, version);
    claims::release::<K>(w.client, namespace, &current.unique_key(), &id).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_names_versions_weak_or_strong_or_any() {
        let mut user = User::new("u1", Default::default());
        user.metadata.resource_version = Some("42".into());
        for matching in ["W/\"42\"", "\"42\"", "42", "W/\"1\", W/\"42\"", "*", "W/\"1\", *"] {
            assert!(Precondition::if_match(matching).check(&user).is_ok(), "{matching}");
        }
        let err = Precondition::if_match("W/\"41\"").check(&user).unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::PRECONDITION_FAILED);
        assert!(check(None, &user).is_ok(), "no If-Match, no precondition");
    }

    #[test]
    fn new_ids_are_valid_and_distinct() {
        let (a, b) = (new_id(USER_ID_PREFIX), new_id(USER_ID_PREFIX));
        assert_ne!(a, b);
        assert!(is_valid_id(USER_ID_PREFIX, &a), "{a}");
        assert!(!is_valid_id(GROUP_ID_PREFIX, &a), "a user id is no group id");
        assert_eq!(a.len(), 33);
    }

    #[test]
    fn ids_that_could_reach_other_urls_are_invalid() {
        for id in [
            "u0123?dryRun=All&x=",
            "u0123/status",
            "u0123%2Fstatus",
            "U0123",
            "u",
            "u0123-",
            "u0123 ",
            "u..",
            "g0123",
            &format!("u{}", "a".repeat(63)),
        ] {
            assert!(!is_valid_id(USER_ID_PREFIX, id), "{id:?}");
        }
        // Ids issued by earlier releases stay valid.
        assert!(is_valid_id(USER_ID_PREFIX, "u0123456789abcdef0123"));
        assert!(is_valid_id(USER_ID_PREFIX, "u0123456789abcdef0123-2"));
    }
}
