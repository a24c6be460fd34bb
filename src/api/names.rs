//! The names of the labels and annotations this operator puts on the objects it writes, in one
//! place (condition types and reasons are in `conditions.rs`).

/// Labels.
pub mod labels {
    /// The prefix of this operator's own labels.
    pub const PREFIX: &str = "scim-operator.io/";
    /// The `Directory` an object belongs to.
    pub const DIRECTORY: &str = "scim-operator.io/directory";
    /// The `User` a `RoleBinding` was derived from.
    pub const USER: &str = "scim-operator.io/user";
    /// The `Workspace` a `RoleBinding` or `Group` feeds.
    pub const WORKSPACE: &str = "scim-operator.io/workspace";
    /// Standard label naming the writer of derived objects.
    pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
    /// The value of [`MANAGED_BY`].
    pub const MANAGER: &str = "scim-operator";
    /// Native RBAC objects: the namespace of the Directory (and Users) they come from.
    pub const SOURCE_NAMESPACE: &str = "scim-operator.io/source-namespace";
}

/// Annotations.
pub mod annotations {
    /// The time of the last SCIM write (`meta.lastModified`).
    pub const LAST_MODIFIED: &str = "scim-operator.io/last-modified";
    /// A group created with members, until all of them are written: a retried `POST /Groups`
    /// with its displayName then continues that creation instead of answering 409.
    pub const PENDING_MEMBERS: &str = "scim-operator.io/pending-members";
    /// A workspace namespace (native RBAC): `namespace/name` of the Directory that created it,
    /// the only one that binds there.
    pub const OWNER: &str = "scim-operator.io/owner";
    /// On Users and Groups: the last SCIM request that wrote the object,
    /// `"{METHOD} {Users|Groups}/{id} {request-id}"` (the audit trail reads it; see `scim::trace`).
    pub const LAST_REQUEST: &str = "scim-operator.io/last-request";
}
