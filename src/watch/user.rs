//! What is cached of a User: its metadata and spec, which the SCIM renderer, the store's indexes
//! and the planner read, and a digest of its status instead of the status itself.
//!
//! At 50,000 users every byte of a cached User counts, and the status is read by one reader only:
//! the controller's user reconcile, which asks "is the status I would write the stored one?" and
//! needs the previous conditions' transition times. A [`StatusDigest`] answers both.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::{Deserialize, Deserializer};

use crate::api::{Transitions, User, UserSpec, UserStatus, annotations, condition, hash_conditions, labels};

/// A cached User. Decoded from the API server's JSON like a [`User`] (see its `Deserialize`), so
/// a watch of `CachedUser` compacts each object as it arrives and no full copy is kept.
#[derive(Clone, Debug, PartialEq)]
pub struct CachedUser {
    pub metadata: ObjectMeta,
    pub spec: UserSpec,
    /// `None` while the User has no status.
    pub status: Option<StatusDigest>,
}

impl CachedUser {
    /// The User as SCIM reads and rewrites it: metadata and spec, no status (a write of the User
    /// never carries one: it has a status subresource).
    pub fn to_user(&self) -> User {
        User {
            metadata: self.metadata.clone(),
            spec: self.spec.clone(),
            status: None,
        }
    }
}

impl From<User> for CachedUser {
    /// Keeps what readers need. Dropped besides the status: managedFields, the largest part of
    /// most objects, and the directory label and last-request annotation, which every SCIM
    /// write of a User stamps afresh (`scim::write::stamp`) over the cached copy and whose
    /// readers (the audit trail, the export) read the API server; kept, the label alone is a
    /// B-tree node (~0.5 KiB) per cached User. Labels and annotations of other hands stay.
    fn from(user: User) -> CachedUser {
        let User {
            mut metadata,
            spec,
            status,
        } = user;
        metadata.managed_fields = None;
        let drop_key = |map: &mut Option<BTreeMap<String, String>>, key: &str| {
            if let Some(entries) = map {
                entries.remove(key);
                if entries.is_empty() {
                    *map = None;
                }
            }
        };
        drop_key(&mut metadata.labels, labels::DIRECTORY);
        drop_key(&mut metadata.annotations, annotations::LAST_REQUEST);
        CachedUser {
            metadata,
            spec,
            status: status.as_ref().map(StatusDigest::of),
        }
    }
}

impl<'de> Deserialize<'de> for CachedUser {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        User::deserialize(deserializer).map(CachedUser::from)
    }
}

/// The API type's identity, so a watch, a reflector and an applier of `CachedUser` address Users.
impl Resource for CachedUser {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        User::kind(dt)
    }
    fn group(dt: &()) -> Cow<'_, str> {
        User::group(dt)
    }
    fn version(dt: &()) -> Cow<'_, str> {
        User::version(dt)
    }
    fn plural(dt: &()) -> Cow<'_, str> {
        User::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// What the controller reads back of a User's status.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusDigest {
    /// See [`StatusDigest::fingerprint`].
    fingerprint: u64,
    transitions: Transitions,
    /// A hash of the `Conflict` condition's message while it is `True`.
    conflict: Option<u64>,
}

impl StatusDigest {
    pub fn of(status: &UserStatus) -> StatusDigest {
        let conflict = status
            .conditions
            .iter()
            .find(|c| c.type_ == condition::CONFLICT && c.status == "True")
            .map(|c| hash_one(&c.message));
        StatusDigest {
            fingerprint: StatusDigest::fingerprint(status),
            transitions: Transitions::of(&status.conditions),
            conflict,
        }
    }

    /// A hash of everything in `status` but its conditions' transition times, which a status
    /// built over the previous one keeps. 64 bits make a collision, which would hide one needed
    /// write, practically impossible.
    fn fingerprint(status: &UserStatus) -> u64 {
        let mut hasher = DefaultHasher::new();
        (status.observed_generation, status.org_role, &status.workspaces, status.workspace_count).hash(&mut hasher);
        hash_conditions(&status.conditions, &mut hasher);
        hasher.finish()
    }

    /// Whether `status` is the stored one, transition times aside.
    pub fn matches(&self, status: &UserStatus) -> bool {
        self.fingerprint == StatusDigest::fingerprint(status)
    }

    /// The stored status as far as a status builder reads the previous one: the conditions'
    /// types, statuses and transition times.
    pub fn previous(&self) -> UserStatus {
        UserStatus {
            conditions: self.transitions.previous(),
            ..Default::default()
        }
    }

    /// Whether the stored status says the user is in conflict with this `message`.
    pub fn in_conflict_with(&self, message: &str) -> bool {
        self.conflict == Some(hash_one(message))
    }
}

fn hash_one(value: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

    use super::*;
    use crate::api::{Role, UserWorkspaceRole};

    fn condition(type_: &str, status: &str, message: &str, since: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: "Reason".into(),
            message: message.into(),
            observed_generation: Some(2),
            last_transition_time: Time(since.parse().expect("timestamp")),
        }
    }

    fn status() -> UserStatus {
        UserStatus {
            observed_generation: Some(2),
            conditions: vec![
                condition(condition::CONFLICT, "True", "ws a: admin and member", "2026-12-01T10:00:00Z"),
                condition(condition::READY, "True", "active", "2026-12-01T09:00:00Z"),
            ],
            org_role: Some(Role::Member),
            workspaces: vec![UserWorkspaceRole {
                workspace: "a".into(),
                role: Some(Role::Member),
                conflict: true,
            }],
            workspace_count: 1,
        }
    }

    #[test]
    fn a_digest_tells_every_change_but_transition_times() {
        let digest = StatusDigest::of(&status());
        assert!(digest.matches(&status()));
        let mut later = status();
        later.conditions[1].last_transition_time = Time("2026-12-02T09:00:00Z".parse().unwrap());
        assert!(digest.matches(&later), "a transition time alone is not a change");
        let changes: [fn(&mut UserStatus); 5] = [
            |s| s.observed_generation = Some(3),
            |s| s.org_role = Some(Role::Admin),
            |s| s.workspaces[0].role = Some(Role::Admin),
            |s| s.conditions[1].message = "suspended".into(),
            |s| s.conditions[0].status = "False".into(),
        ];
        for change in changes {
            let mut changed = status();
            change(&mut changed);
            assert!(!digest.matches(&changed), "{changed:?}");
        }
    }

    #[test]
    fn a_digest_keeps_transitions_and_the_conflict_message() {
        let digest = StatusDigest::of(&status());
        let previous = digest.previous();
        let times: Vec<(&str, &str, String)> = previous
            .conditions
            .iter()
            .map(|c| (c.type_.as_str(), c.status.as_str(), c.last_transition_time.0.to_string()))
            .collect();
        assert_eq!(
            times,
            [
                (condition::CONFLICT, "True", "2026-12-01T10:00:00Z".to_string()),
                (condition::READY, "True", "2026-12-01T09:00:00Z".to_string()),
            ]
        );
        assert!(digest.in_conflict_with("ws a: admin and member"));
        assert!(!digest.in_conflict_with("ws b: admin and member"));
        let mut settled = status();
        settled.conditions[0].status = "False".into();
        assert!(!StatusDigest::of(&settled).in_conflict_with("ws a: admin and member"));
    }

    #[test]
    fn a_cached_user_drops_what_every_write_stamps_again() {
        let mut user = User::new("u1", UserSpec::default());
        user.metadata.labels = Some([(labels::DIRECTORY.into(), "entra".into())].into());
        user.metadata.annotations = Some(
            [
                (annotations::LAST_MODIFIED.into(), "2026-12-02T10:00:00Z".into()),
                (annotations::LAST_REQUEST.into(), "POST Users/u1 00ff".into()),
                ("example.com/note".into(), "kept".into()),
            ]
            .into(),
        );
        user.status = Some(status());
        let json = serde_json::to_value(&user).expect("serialize");
        let cached: CachedUser = serde_json::from_value(json).expect("a User decodes as a CachedUser");
        assert_eq!(cached.metadata.labels, None, "an empty map still holds a node");
        let kept: Vec<&String> = cached.metadata.annotations.iter().flatten().map(|(k, _)| k).collect();
        assert_eq!(kept, ["example.com/note", annotations::LAST_MODIFIED]);
        assert!(cached.status.as_ref().is_some_and(|d| d.matches(&status())));
        assert_eq!(cached.to_user().status, None);
        assert_eq!(cached.to_user().spec, user.spec);
    }
}
