//! What is cached of a User: the fields its readers look at decoded, the rest of its spec as
//! JSON, a digest of its status instead of the status itself, and of its metadata the fields a
//! User has.
//!
//! At 50,000 users every byte of a cached User counts. Decoded, a spec is ~0.8 KiB of mostly
//! empty fields before its strings; most of it is read only to render the User, which happens
//! a page at a time. What is read for every user — the store's indexes (userName, externalId,
//! memberships), a group's member list (displayName) and the planner (userName, active, emails,
//! roles, groups) — stays decoded. The status is read by one reader, the controller's user
//! reconcile, which asks "is the status I would write the stored one?" and needs the previous
//! conditions' transition times: a [`StatusDigest`] answers both. An `ObjectMeta` is 360 bytes
//! of mostly empty fields too; a [`CachedUser`] keeps the ones a User has, and the rest (labels,
//! annotations, finalizers or owners of other hands) only when there is any. What every SCIM
//! write stamps again is not kept.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kube::Resource;

use crate::api::{
    MultiValue, Transitions, User, UserSpec, UserStatus, annotations, condition, hash_conditions, labels,
};
use crate::rules::UserInput;

/// A cached User, built from a [`User`] as a watch or a write delivers it.
#[derive(Clone, Debug, PartialEq)]
pub struct CachedUser {
    /// The object's name: the user's SCIM id.
    name: Box<str>,
    /// The object's namespace: its directory's.
    namespace: Box<str>,
    meta: Meta,
    pub user_name: String,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    active: Option<bool>,
    emails: Vec<MultiValue>,
    roles: Vec<MultiValue>,
    /// Ids of the Groups the user is a member of.
    pub groups: Vec<String>,
    /// The other fields of the spec, as JSON; `None` when there are none.
    rest: Option<Box<str>>,
    /// `None` while the User has no status.
    pub status: Option<StatusDigest>,
    /// Whether this is what the watch delivered, not what a SCIM write's response recorded ahead
    /// of it: the controller compares generations only with what it has seen delivered.
    pub(crate) watched: bool,
}

/// What is kept of a User's metadata.
#[derive(Clone, Debug, Default, PartialEq)]
struct Meta {
    uid: Option<Box<str>>,
    resource_version: Option<Box<str>>,
    generation: Option<i64>,
    created: Option<Time>,
    deleted: Option<Time>,
    /// The `scim-operator.io/last-modified` annotation, kept out of the annotations: alone in
    /// them it is a 0.6 KiB B-tree node.
    last_modified: Option<Box<str>>,
    /// Whatever else the metadata holds, as it came; `None` when nothing (nearly always).
    other: Option<Box<ObjectMeta>>,
}

impl CachedUser {
    /// The object's name: the user's SCIM id.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn uid(&self) -> Option<&str> {
        self.meta.uid.as_deref()
    }

    pub fn resource_version(&self) -> Option<&str> {
        self.meta.resource_version.as_deref()
    }

    pub fn generation(&self) -> Option<i64> {
        self.meta.generation
    }

    /// Whether the User is being deleted (a finalizer holds it).
    pub fn is_deleting(&self) -> bool {
        self.meta.deleted.is_some()
    }

    /// A controller owner reference to this User, for the objects derived from it; `None`
    /// before the API server has given it a uid.
    pub fn controller_owner_ref(&self) -> Option<OwnerReference> {
        Some(OwnerReference {
            api_version: User::api_version(&()).into(),
            kind: User::kind(&()).into(),
            name: self.name.to_string(),
            uid: self.meta.uid.as_deref()?.to_string(),
            controller: Some(true),
            ..Default::default()
        })
    }

    /// The spec, decoded whole: for rendering and rewriting one User, not for scanning many.
    pub fn spec(&self) -> UserSpec {
        let mut spec = match &self.rest {
            Some(json) => serde_json::from_str(json).expect("written by CachedUser::from"),
            None => UserSpec::default(),
        };
        spec.user_name = self.user_name.clone();
        spec.external_id = self.external_id.clone();
        spec.display_name = self.display_name.clone();
        spec.active = self.active;
        spec.emails = self.emails.clone();
        spec.roles = self.roles.clone();
        spec.groups = self.groups.clone();
        spec
    }

    /// The User as SCIM renders and rewrites it: metadata and spec, no status (a write of the
    /// User never carries one: it has a status subresource).
    pub fn to_user(&self) -> User {
        let meta = &self.meta;
        let mut metadata = meta.other.as_deref().cloned().unwrap_or_default();
        let given = |value: &str| (!value.is_empty()).then(|| value.to_string());
        metadata.name = given(&self.name);
        metadata.namespace = given(&self.namespace);
        metadata.uid = meta.uid.as_deref().map(str::to_string);
        metadata.resource_version = meta.resource_version.as_deref().map(str::to_string);
        metadata.generation = meta.generation;
        metadata.creation_timestamp = meta.created.clone();
        metadata.deletion_timestamp = meta.deleted.clone();
        if let Some(modified) = &meta.last_modified {
            let annotations = metadata.annotations.get_or_insert_default();
            annotations.insert(annotations::LAST_MODIFIED.into(), modified.to_string());
        }
        User {
            metadata,
            spec: self.spec(),
            status: None,
        }
    }

    /// The user as the rules see it.
    pub fn plan_input(&self) -> UserInput<'_> {
        UserInput {
            id: &self.name,
            user_name: &self.user_name,
            active: self.active != Some(false),
            emails: &self.emails,
            roles: &self.roles,
            groups: &self.groups,
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
            mut spec,
            status,
        } = user;
        let take_key = |map: &mut Option<BTreeMap<String, String>>, key: &str| {
            let entries = map.as_mut()?;
            let value = entries.remove(key);
            if entries.is_empty() {
                *map = None;
            }
            value
        };
        take_key(&mut metadata.labels, labels::DIRECTORY);
        take_key(&mut metadata.annotations, annotations::LAST_REQUEST);
        let name = metadata.name.take().unwrap_or_default().into_boxed_str();
        let namespace = metadata.namespace.take().unwrap_or_default().into_boxed_str();
        metadata.managed_fields = None;
        let boxed = |value: Option<String>| value.map(String::into_boxed_str);
        let mut meta = Meta {
            uid: boxed(metadata.uid.take()),
            resource_version: boxed(metadata.resource_version.take()),
            generation: metadata.generation.take(),
            created: metadata.creation_timestamp.take(),
            deleted: metadata.deletion_timestamp.take(),
            last_modified: boxed(take_key(&mut metadata.annotations, annotations::LAST_MODIFIED)),
            other: None,
        };
        // What is left once the fields above are taken.
        meta.other = (metadata != ObjectMeta::default()).then(|| Box::new(metadata));
        let user_name = std::mem::take(&mut spec.user_name);
        let external_id = spec.external_id.take();
        let display_name = spec.display_name.take();
        let active = spec.active.take();
        let emails = exact(std::mem::take(&mut spec.emails));
        let roles = exact(std::mem::take(&mut spec.roles));
        let groups = exact(std::mem::take(&mut spec.groups));
        // Kept only when something is left; its JSON names the required userName, as "".
        let rest = (spec != UserSpec::default()).then(|| {
            serde_json::to_string(&spec)
                .expect("UserSpec serialises")
                .into_boxed_str()
        });
        CachedUser {
            name,
            namespace,
            meta,
            user_name,
            external_id,
            display_name,
            active,
            emails,
            roles,
            groups,
            rest,
            status: status.as_ref().map(StatusDigest::of),
            watched: false,
        }
    }
}

/// `list` without spare room. A decoded list has room for four entries whatever it holds (serde
/// grows it push by push): ~0.3 KiB per User of nothing, kept as long as the User is cached.
fn exact<T>(mut list: Vec<T>) -> Vec<T> {
    list.shrink_to_fit();
    list
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
        (
            status.observed_generation,
            status.org_role,
            &status.workspaces,
            status.workspace_count,
        )
            .hash(&mut hasher);
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
                condition(
                    condition::CONFLICT,
                    "True",
                    "ws a: admin and member",
                    "2026-12-01T10:00:00Z",
                ),
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
            .map(|c| {
                (
                    c.type_.as_str(),
                    c.status.as_str(),
                    c.last_transition_time.0.to_string(),
                )
            })
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
        user.spec.user_name = "a@x.io".into();
        user.status = Some(status());
        let cached = CachedUser::from(user.clone());
        let other = cached.meta.other.as_deref().expect("another hand's annotation");
        assert_eq!(other.labels, None, "an empty map still holds a node");
        let kept: Vec<&String> = other.annotations.iter().flatten().map(|(k, _)| k).collect();
        assert_eq!(kept, ["example.com/note"], "last-modified is kept apart");
        assert!(cached.status.as_ref().is_some_and(|d| d.matches(&status())));
        let back = cached.to_user();
        assert_eq!(back.status, None);
        assert_eq!(back.spec, user.spec);
        let back: Vec<(&String, &String)> = back.metadata.annotations.iter().flatten().collect();
        let modified = (
            &annotations::LAST_MODIFIED.to_string(),
            &"2026-12-02T10:00:00Z".to_string(),
        );
        assert_eq!(back, [(&"example.com/note".to_string(), &"kept".to_string()), modified]);
        let alone = CachedUser::from(User {
            metadata: ObjectMeta {
                annotations: Some([(annotations::LAST_MODIFIED.into(), "2026-12-02T10:00:00Z".into())].into()),
                ..Default::default()
            },
            ..user
        });
        assert_eq!(alone.meta.other, None, "nothing else: no ObjectMeta kept");
    }

    #[test]
    fn a_cached_user_decoded_from_json_keeps_no_spare_room() {
        // From text, as a watch decodes it (a decoded `Value` would tell the list's length).
        let json = r#"{"apiVersion": "scim-operator.io/v1alpha1", "kind": "User",
            "metadata": {"name": "u1", "namespace": "entra"},
            "spec": {"userName": "a@x.io", "emails": [{"value": "a@x.io"}], "groups": ["g1"],
                     "roles": [{"value": "admin"}]}}"#;
        let user: User = serde_json::from_str(json).expect("a valid User");
        assert!(
            user.spec.emails.capacity() > 1,
            "serde leaves spare room (else this test proves nothing)"
        );
        let cached = CachedUser::from(user);
        let capacities = (
            cached.emails.capacity(),
            cached.roles.capacity(),
            cached.groups.capacity(),
        );
        assert_eq!(capacities, (1, 1, 1));
    }

    #[test]
    fn a_cached_user_gives_back_its_metadata() {
        let mut user = User::new("u1", UserSpec::default());
        user.metadata = ObjectMeta {
            name: Some("u1".into()),
            namespace: Some("entra".into()),
            uid: Some("7c0f".into()),
            resource_version: Some("42".into()),
            generation: Some(3),
            creation_timestamp: Some(Time("2026-12-01T10:00:00Z".parse().unwrap())),
            deletion_timestamp: Some(Time("2026-12-02T10:00:00Z".parse().unwrap())),
            finalizers: Some(vec!["example.com/hold".into()]),
            labels: Some([("team".into(), "a".into())].into()),
            ..Default::default()
        };
        let cached = CachedUser::from(user.clone());
        assert_eq!(cached.to_user().metadata, user.metadata);
        assert_eq!(
            (
                cached.name(),
                cached.namespace(),
                cached.uid(),
                cached.resource_version()
            ),
            ("u1", "entra", Some("7c0f"), Some("42"))
        );
        assert_eq!((cached.generation(), cached.is_deleting()), (Some(3), true));
        assert_eq!(cached.controller_owner_ref(), user.controller_owner_ref(&()));
        user.metadata.uid = None;
        assert_eq!(CachedUser::from(user).controller_owner_ref(), None);
    }

    #[test]
    fn a_cached_user_gives_back_every_field_of_its_spec() {
        let spec: UserSpec = serde_json::from_value(serde_json::json!({
            "userName": "Ann@x.io", "externalId": "e1", "displayName": "Ann", "active": false,
            "name": {"givenName": "Ann", "familyName": "Lee"}, "title": "CTO", "locale": "fr-FR",
            "emails": [{"value": "ann@x.io", "type": "work", "primary": true}],
            "phoneNumbers": [{"value": "+33 1"}], "addresses": [{"locality": "Paris"}],
            "roles": [{"value": "admin"}], "groups": ["g1", "g2"],
            "enterprise": {"department": "R&D", "manager": {"value": "u2"}},
        }))
        .expect("a valid spec");
        let cached = CachedUser::from(User::new("u1", spec.clone()));
        assert_eq!(cached.spec(), spec);
        let input = cached.plan_input();
        assert_eq!((input.id, input.user_name, input.active), ("u1", "Ann@x.io", false));
        assert_eq!(
            (input.emails.len(), input.roles.len(), input.groups),
            (1, 1, &spec.groups[..])
        );
        // Only the hot fields: nothing else to keep as JSON.
        let bare = UserSpec {
            user_name: "bob@x.io".into(),
            groups: vec!["g1".into()],
            ..Default::default()
        };
        let cached = CachedUser::from(User::new("u2", bare.clone()));
        assert_eq!(cached.rest, None);
        assert_eq!(cached.spec(), bare);
    }
}
