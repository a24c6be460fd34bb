//! The SCIM write path: object ids, uniqueness under concurrency, optimistic updates, membership.
//!
//! Uniqueness holds across replicas without a lock: a new object's name is derived from its unique
//! key (lowercased userName, exact group displayName), so two concurrent creates of the same key
//! race for the same name and the API server lets exactly one win. When the name is held by an
//! object whose key has since changed (a renamed user), the next name in a fixed sequence is tried.

use std::collections::BTreeMap;

use axum::http::HeaderMap;
use axum::http::header::IF_MATCH;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::NamespaceResourceScope;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::error::{ScimError, ScimResult};
use super::resource::{LAST_MODIFIED, etag};
use super::server::{AppState, check_if_match};
use super::store::Cached;
use crate::api::{User, labels};

/// How many alternative names a create tries before giving up.
const NAME_ATTEMPTS: usize = 8;
/// How many times an update is retried after losing a race with another writer.
const UPDATE_ATTEMPTS: usize = 10;
/// Parallel member updates of one group request.
const MEMBERSHIP_PARALLELISM: usize = 16;

/// The object name for a unique key: `{prefix}{20 hex of sha256(key)}`, then `-1`, `-2`, ….
pub fn object_name(prefix: &str, key: &str, attempt: usize) -> String {
    let hash = hex::encode(Sha256::digest(key.as_bytes()));
    match attempt {
        0 => format!("{prefix}{}", &hash[..20]),
        n => format!("{prefix}{}-{n}", &hash[..20]),
    }
}

/// The current time as SCIM and Kubernetes write it (RFC 3339, UTC).
pub fn now() -> String {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second()).unwrap_or(now).to_string()
}

/// Labels and annotations of an object the SCIM endpoint writes.
pub fn stamp<K: Resource>(obj: &mut K, directory: &str) {
    let meta = obj.meta_mut();
    meta.labels
        .get_or_insert_with(BTreeMap::new)
        .insert(labels::DIRECTORY.into(), directory.into());
    meta.annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(LAST_MODIFIED.into(), now());
}

/// Creates `make(name)` under the first free name for `key`. `same_key` tells whether an existing
/// holder of a name has the same key (→ 409) or has moved on (→ try the next name).
pub async fn create_unique<K>(
    api: &Api<K>,
    prefix: &str,
    key: &str,
    make: impl Fn(String) -> K,
    same_key: impl Fn(&K) -> bool,
    conflict: impl Fn() -> ScimError,
) -> ScimResult<K>
where
    K: Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    for attempt in 0..NAME_ATTEMPTS {
        let name = object_name(prefix, key, attempt);
        match api.create(&PostParams::default(), &make(name.clone())).await {
            Ok(created) => return Ok(created),
            Err(kube::Error::Api(s)) if s.is_already_exists() => match api.get_opt(&name).await? {
                Some(holder) if same_key(&holder) && holder.meta().deletion_timestamp.is_none() => {
                    return Err(conflict());
                }
                // Deleted meanwhile: the same name is free again.
                None => return Box::pin(create_unique(api, prefix, key, make, same_key, conflict)).await,
                Some(_) => continue,
            },
            Err(e) => return Err(e.into()),
        }
    }
    Err(ScimError::uniqueness(format!(
        "no free object name for this resource after {NAME_ATTEMPTS} attempts"
    )))
}

/// Whether an API error is a lost optimistic-concurrency race.
pub fn is_conflict(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.is_conflict())
}

/// Adds users to (or removes them from) a group by editing each member's `spec.groups`.
/// Unknown users are refused when adding; removing a user that is gone is a no-op.
pub async fn set_membership(
    state: &AppState,
    namespace: &str,
    group: &str,
    users: &[String],
    member: bool,
) -> ScimResult<()> {
    // Futures are built eagerly (not in a stream closure) so the handler future stays `Send`.
    let updates: Vec<_> = users
        .iter()
        .map(|user| set_one(state, namespace, group, user, member))
        .collect();
    futures::stream::iter(updates)
        .buffer_unordered(MEMBERSHIP_PARALLELISM)
        .try_collect::<()>()
        .await
}

async fn set_one(state: &AppState, namespace: &str, group: &str, user: &str, member: bool) -> ScimResult<()> {
    let api = Api::<User>::namespaced(state.client.clone(), namespace);
    for attempt in 0..UPDATE_ATTEMPTS {
        let current = match attempt {
            0 => match state.store.read(namespace, |ns| ns.users.get(user).cloned()) {
                Some(u) => Some((*u).clone()),
                None => api.get_opt(user).await?,
            },
            _ => api.get_opt(user).await?,
        };
        let Some(current) = current else {
            return if member { Err(unknown_member(user)) } else { Ok(()) };
        };
        let mut groups = current.spec.groups.clone();
        match (groups.binary_search_by(|g| g.as_str().cmp(group)), member) {
            (Ok(_), true) | (Err(_), false) => return Ok(()),
            (Err(at), true) => groups.insert(at, group.to_string()),
            (Ok(at), false) => {
                groups.remove(at);
            }
        }
        // A merge patch carrying the resourceVersion is a compare-and-swap on the member list.
        let patch = json!({
            "metadata": {"resourceVersion": current.resource_version()},
            "spec": {"groups": groups},
        });
        match api.patch(user, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(updated) => {
                state.store.record(updated);
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

fn unknown_member(user: &str) -> ScimError {
    ScimError::bad_request(
        "invalidValue",
        format!("member {user:?} is not a User of this directory"),
    )
}

/// Rewrites an object optimistically: `edit` turns the current version into the next one (`None`:
/// nothing to change), which replaces it at the resourceVersion it was read at. When another
/// writer got there first, the object is read again and edited again, except under `If-Match`,
/// which then fails with 412. Returns the object as stored.
pub(crate) async fn replace_edited<K: Cached + Resource<Scope = NamespaceResourceScope> + serde::Serialize>(
    state: &AppState,
    namespace: &str,
    id: &str,
    headers: &HeaderMap,
    mut edit: impl FnMut(&K) -> ScimResult<Option<K>>,
) -> ScimResult<K> {
    let api = Api::<K>::namespaced(state.client.clone(), namespace);
    let noun = K::kind(&()).to_lowercase();
    for attempt in 0..UPDATE_ATTEMPTS {
        let current = match attempt {
            0 => find(state, namespace, id).await?,
            _ => api
                .get_opt(id)
                .await?
                .ok_or_else(|| ScimError::not_found(format!("{} {id} not found", K::kind(&()))))?,
        };
        check_if_match(headers, &etag(&current))?;
        let Some(next) = edit(&current)? else {
            return Ok(current);
        };
        match api.replace(id, &PostParams::default(), &next).await {
            Ok(updated) => {
                state.store.record(updated.clone());
                return Ok(updated);
            }
            Err(e) if is_conflict(&e) && headers.contains_key(IF_MATCH) => {
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

/// The object from the cache, or from the API server when this replica has not seen it yet
/// (read-your-writes across replicas). Objects being deleted count as gone.
pub(crate) async fn find<K: Cached + Resource<Scope = NamespaceResourceScope>>(
    state: &AppState,
    namespace: &str,
    id: &str,
) -> ScimResult<K> {
    if let Some(obj) = state.store.get::<K>(namespace, id) {
        return Ok((*obj).clone());
    }
    let found = Api::<K>::namespaced(state.client.clone(), namespace)
        .get_opt(id)
        .await?;
    let obj = found
        .filter(|o| o.meta().deletion_timestamp.is_none())
        .ok_or_else(|| ScimError::not_found(format!("{} {id} not found", K::kind(&()))))?;
    state.store.record(obj.clone());
    Ok(obj)
}

/// Deletes an object found by [`find`] and forgets it, so a late watch event cannot revive it.
pub(crate) async fn delete<K: Cached + Resource<Scope = NamespaceResourceScope>>(
    state: &AppState,
    namespace: &str,
    current: &K,
) -> ScimResult<()> {
    let id = current.name_any();
    let api = Api::<K>::namespaced(state.client.clone(), namespace);
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
    state.store.forget::<K>(namespace, &id, version);
    Ok(())
}
