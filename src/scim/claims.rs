//! Unique keys across replicas and concurrent requests.
//!
//! A User's `userName` (case-folded) and a Group's `displayName` are unique in a directory. Each key
//! is held by a [`NameClaim`] whose object name is derived from the key, so the API server — not a
//! cache — decides who gets a key, for creates and renames alike. The User or Group itself gets a
//! random id, so a deleted resource's id is never handed to the next one with the same key
//! (RFC 7643 §3.1), and nothing stored under the old id (such as memberships) can reattach.
//!
//! A claim outlives its holder only after a crash, an API failure or a deletion outside SCIM. Such a
//! stale claim is taken over by the next request for the key: at once when its holder is being
//! deleted, and [`CLAIM_GRACE`] after it was taken when its holder is missing or has another key
//! (a create or rename may still be in flight on another replica; replicas' clocks are assumed to
//! agree within that). Until then a request for the key is answered 503 with `Retry-After`: 409
//! only when the holder exists with the key, so a client that looks the key up after a 409 finds
//! it. A create that took so long that its claim may have been judged stale meanwhile (a slow API
//! server) checks its claim after its write and steps back if it lost it, so one object keeps the
//! key.

use std::time::Duration;

use k8s_openapi::NamespaceResourceScope;
use kube::api::{DeleteParams, PostParams, Preconditions};
use kube::{Api, Client, Resource, ResourceExt};
use sha2::{Digest, Sha256};

use super::error::{ScimError, ScimResult};
use crate::api::{ClaimedKind, Group, NameClaim, NameClaimSpec, User, fold_user_name};

/// How long a claim whose holder does not (yet) hold its key is left to its holder (tests shorten
/// it through `ScimConfig::claim_grace`).
pub const CLAIM_GRACE: Duration = Duration::from_secs(30);
/// How many times a claim is retried after losing a race for it.
const CLAIM_ATTEMPTS: usize = 5;

/// A kind whose objects hold a unique key.
pub trait Keyed:
    Resource<DynamicType = (), Scope = NamespaceResourceScope> + Clone + serde::de::DeserializeOwned + std::fmt::Debug
{
    /// The kind, as recorded in claims.
    const CLAIMED: ClaimedKind;
    /// The key as compared.
    fn unique_key(&self) -> String;
}

impl Keyed for User {
    const CLAIMED: ClaimedKind = ClaimedKind::User;
    fn unique_key(&self) -> String {
        fold_user_name(&self.spec.user_name)
    }
}

impl Keyed for Group {
    const CLAIMED: ClaimedKind = ClaimedKind::Group;
    fn unique_key(&self) -> String {
        self.spec.display_name.clone()
    }
}

/// The object name of the claim on `key`: the kind and 128 bits of the key's SHA-256.
pub fn claim_name(kind: ClaimedKind, key: &str) -> String {
    let kind = match kind {
        ClaimedKind::User => "user",
        ClaimedKind::Group => "group",
    };
    format!("{kind}-{}", &hex::encode(Sha256::digest(key.as_bytes()))[..32])
}

/// Claims `key` for the object `id` of kind `K`. `Ok(None)`: `id` holds the key now (also when it
/// already did). `Ok(Some(holder))`: another object holds it, as the API server has it now. 503
/// while a create or rename of another object may still be taking it.
pub async fn acquire<K: Keyed>(
    client: &Client,
    namespace: &str,
    key: &str,
    id: &str,
    grace: Duration,
) -> ScimResult<Option<K>> {
    let api = Api::<NameClaim>::namespaced(client.clone(), namespace);
    let name = claim_name(K::CLAIMED, key);
    for _ in 0..CLAIM_ATTEMPTS {
        let mut claim = NameClaim::new(
            &name,
            NameClaimSpec {
                kind: K::CLAIMED,
                key: key.to_string(),
                holder: id.to_string(),
                since: super::resource::now(),
            },
        );
        claim.metadata.namespace = Some(namespace.to_string());
        match api.create(&PostParams::default(), &claim).await {
            Ok(_) => return Ok(None),
            Err(kube::Error::Api(s)) if s.is_already_exists() => {}
            Err(e) => return Err(e.into()),
        }
        let Some(current) = api.get_opt(&name).await? else {
            continue; // released meanwhile: try again
        };
        if current.spec.holder == id {
            return Ok(None);
        }
        if current.spec.key != key {
            // Two keys with one 128-bit hash prefix: never seen, but never silently shared.
            tracing::error!(claim = %name, "two keys share one claim name");
            return Err(ScimError::internal());
        }
        match settled_holder_state::<K>(client, namespace, &current, grace).await? {
            HolderState::Holds(holder) => return Ok(Some(holder)),
            // Not holding it after a create's usual time: a create or rename that failed midway
            // (its replica crashed), or one still in flight on a slow API server. The claim is left
            // to it for the grace period; the key is not known to be taken, so the answer is
            // "retry" (503), not 409 — after a 409 a client looks the key up and finds nothing.
            HolderState::Missing | HolderState::HoldsOtherKey if within_grace(&current.spec.since, grace) => {
                return Err(ScimError::unavailable(
                    "another request is taking this name, or failed while taking it; retry",
                ));
            }
            HolderState::Missing | HolderState::HoldsOtherKey | HolderState::Deleting => {}
        }
        // Stale: take it over at the version just read, so two takers cannot both win.
        let mut next = current.clone();
        next.spec.holder = id.to_string();
        next.spec.since = super::resource::now();
        match api.replace(&name, &PostParams::default(), &next).await {
            Ok(_) => {
                tracing::info!(claim = %name, "stale name claim taken over");
                return Ok(None);
            }
            Err(e) if super::error::is_conflict(&e) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ScimError::unavailable(
        "too many concurrent requests for one name; retry",
    ))
}

/// Releases `id`'s claim on `key`, if it still has it. Best effort: a claim left behind is stale
/// and taken over later, so a failure here is logged, not returned.
pub async fn release<K: Keyed>(client: &Client, namespace: &str, key: &str, id: &str) {
    let api = Api::<NameClaim>::namespaced(client.clone(), namespace);
    let name = claim_name(K::CLAIMED, key);
    let result = async {
        let Some(current) = api.get_opt(&name).await? else {
            return Ok(());
        };
        if current.spec.holder != id {
            return Ok(());
        }
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                resource_version: current.resource_version(),
                uid: current.uid(),
            }),
            ..DeleteParams::default()
        };
        match api.delete(&name, &params).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.is_not_found() || s.is_conflict() => Ok(()),
            Err(e) => Err(e),
        }
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(claim = %name, error = %ErrorKind(&e), "could not release a name claim; it will be taken over when stale");
    }
}

/// Whether `id` holds its claim on `key`, as the API server says now.
pub async fn is_held_by<K: Keyed>(client: &Client, namespace: &str, key: &str, id: &str) -> ScimResult<bool> {
    let claim = Api::<NameClaim>::namespaced(client.clone(), namespace)
        .get_opt(&claim_name(K::CLAIMED, key))
        .await?;
    Ok(claim.is_some_and(|c| c.spec.holder == id))
}

enum HolderState<K> {
    /// The holder exists, is not being deleted, and has the claimed key.
    Holds(K),
    /// The holder exists with another key.
    HoldsOtherKey,
    /// The holder is being deleted.
    Deleting,
    /// The holder does not exist: deleted, or not created yet.
    Missing,
}

/// How long a claim's holder is given to appear with its key before the claim is judged: a
/// create or rename in flight on another replica normally lands within milliseconds.
const HOLDER_SETTLE: [Duration; 4] = [
    Duration::from_millis(50),
    Duration::from_millis(150),
    Duration::from_millis(300),
    Duration::from_millis(500),
];

/// [`holder_state`], read again after short pauses while the holder does not hold the key yet
/// and the claim is within its grace period.
async fn settled_holder_state<K: Keyed>(
    client: &Client,
    namespace: &str,
    claim: &NameClaim,
    grace: Duration,
) -> ScimResult<HolderState<K>> {
    let mut state = holder_state::<K>(client, namespace, claim).await?;
    for pause in HOLDER_SETTLE {
        let pending = matches!(state, HolderState::Missing | HolderState::HoldsOtherKey);
        if !pending || !within_grace(&claim.spec.since, grace) {
            break;
        }
        tokio::time::sleep(pause).await;
        state = holder_state::<K>(client, namespace, claim).await?;
    }
    Ok(state)
}

async fn holder_state<K: Keyed>(client: &Client, namespace: &str, claim: &NameClaim) -> ScimResult<HolderState<K>> {
    let holder = Api::<K>::namespaced(client.clone(), namespace)
        .get_opt(&claim.spec.holder)
        .await?;
    Ok(match holder {
        Some(h) if h.meta().deletion_timestamp.is_some() => HolderState::Deleting,
        Some(h) if h.unique_key() == claim.spec.key => HolderState::Holds(h),
        Some(_) => HolderState::HoldsOtherKey,
        None => HolderState::Missing,
    })
}

fn within_grace(since: &str, grace: Duration) -> bool {
    match since.parse::<jiff::Timestamp>() {
        Ok(since) => {
            let age = jiff::Timestamp::now().duration_since(since);
            age < jiff::SignedDuration::try_from(grace).unwrap_or(jiff::SignedDuration::MAX)
        }
        Err(_) => false,
    }
}

/// An API error for logs: its code and reason, never its message (which may echo a name).
struct ErrorKind<'a>(&'a kube::Error);

impl std::fmt::Display for ErrorKind<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            kube::Error::Api(s) => write!(f, "{} {}", s.code, s.reason),
            _ => f.write_str("API server unreachable"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_names_fold_nothing_themselves_and_separate_kinds() {
        assert_ne!(claim_name(ClaimedKind::User, "a"), claim_name(ClaimedKind::Group, "a"));
        assert_ne!(claim_name(ClaimedKind::Group, "A"), claim_name(ClaimedKind::Group, "a"));
        assert!(claim_name(ClaimedKind::User, "x").starts_with("user-"));
        assert_eq!(claim_name(ClaimedKind::User, "x").len(), "user-".len() + 32);
    }

    #[test]
    fn user_names_fold_beyond_ascii() {
        assert_eq!(fold_user_name("ÉLODIE1@x.io"), fold_user_name("élodie1@x.io"));
        assert_eq!(fold_user_name("Alice@Example.COM"), "alice@example.com");
    }

    #[test]
    fn grace_is_judged_from_since() {
        assert!(within_grace(&jiff::Timestamp::now().to_string(), CLAIM_GRACE));
        let old = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(120);
        assert!(!within_grace(&old.to_string(), CLAIM_GRACE));
        assert!(!within_grace("not a time", CLAIM_GRACE));
    }
}
