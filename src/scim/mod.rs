//! The SCIM 2.0 endpoint (RFC 7643 / RFC 7644).
//!
//! request → `server` (routes) → `users` / `groups` handlers, which receive what `request`
//! extracts (auth, body limits, path, If-Match) → `patch` / `filter` (pure) → `write` (custom
//! resources via the API server); reads come from [`crate::watch::Store`].

pub mod auth;
pub mod claims;
mod discovery;
pub mod error;
pub mod filter;
mod groups;
mod list;
pub mod patch;
pub mod request;
pub mod resource;
pub mod schema;
mod search;
pub mod server;
pub mod trace;
mod users;
pub mod write;
