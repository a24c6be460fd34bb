//! scim-operator: a SCIM 2.0 endpoint whose store is the Kubernetes API server, and a controller
//! that turns the provisioned Users and Groups into Workspaces and RoleBindings.
//!
//! Data flows one way: SCIM request → validation → custom resource (`scim`) → watch →
//! pure plan (`rules`) → server-side apply (`controller`) → status.
#![deny(unsafe_code)]

pub mod api;
pub mod audit;
pub mod controller;
pub mod dev;
pub mod envtest;
pub mod export;
pub mod metrics;
pub mod request_target;
pub mod rules;
pub mod scim;
pub mod serve;
pub mod telemetry;
pub mod watch;
pub mod yaml;
