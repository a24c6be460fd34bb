//! The controller against a real API server (envtest): Users, Groups and Directories are created
//! directly, `scim_operator::controller::run` reconciles them, and each test waits (by polling
//! with a timeout, never a fixed sleep) for the Workspaces, RoleBindings and statuses it expects.
//! Every test has a namespace, a controller and a Lease of its own, so they run in parallel.

#[path = "../support/mod.rs"]
mod support;

mod env;
mod lease;
mod lifecycle;
mod memberships;
mod native;
mod policy;
mod runtime;
mod tokens;
