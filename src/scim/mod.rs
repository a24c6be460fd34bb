//! The SCIM 2.0 endpoint (RFC 7643 / RFC 7644).
//!
//! request → `server` (routes) → `users` / `groups` handlers, which receive what `request`
//! extracts (auth, body limits, path, If-Match) → `patch` / `filter` (pure) → `write` (custom
//! resources via the API server); reads come from [`crate::watch::Store`].

#[cfg(feature = "operator")]
pub mod auth;
#[cfg(feature = "operator")]
pub mod claims;
#[cfg(feature = "operator")]
mod discovery;
pub mod error;
pub mod filter;
#[cfg(feature = "operator")]
mod groups;
#[cfg(feature = "operator")]
mod list;
pub mod patch;
#[cfg(feature = "operator")]
pub mod request;
pub mod resource;
pub mod schema;
#[cfg(feature = "operator")]
mod search;
#[cfg(feature = "operator")]
pub mod server;
#[cfg(feature = "operator")]
pub mod trace;
#[cfg(feature = "operator")]
mod users;
#[cfg(feature = "operator")]
pub mod write;
