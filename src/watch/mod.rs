//! The shared picture of the cluster, beneath both wings: `scim` reads it to answer requests,
//! `controller` reads it to plan and is woken by its changes. Neither wing owns it, so each rule
//! about what the cluster holds lives here once: the case folding of userNames, a group's members
//! (from the Users that name it), and which Directory of a namespace is active (the oldest).
//!
//! One [`Store`] per process holds every User, Group and Directory once. With a controller in the
//! process, the controller's watches feed it (Users straight from their watch: the store is their
//! only cache; Groups and Directories as the very `Arc`s its reflectors hold); without one,
//! [`Store::run`] runs watches of its own. Users are kept as compact [`CachedUser`]s: the fields
//! every reader scans, decoded; the rest of the spec as JSON; a digest of the status; the
//! metadata fields a User has.

mod store;
mod user;

pub(crate) use store::Cached;
pub use store::{Namespace, Store};
pub use user::{CachedUser, StatusDigest};
