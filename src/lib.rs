//! scim-operator: a SCIM 2.0 endpoint whose store is the Kubernetes API server, and a controller
//! that turns the provisioned Users and Groups into Workspaces and RoleBindings.
//!
//! Data flows one way: SCIM request → validation → custom resource (`scim`) → watch →
//! pure plan (`rules`) → server-side apply (`controller`) → status.
#![deny(unsafe_code)]

pub mod api;
#[cfg(feature = "operator")]
pub mod audit;
#[cfg(feature = "operator")]
pub mod controller;
#[cfg(feature = "operator")]
pub mod dev;
#[cfg(feature = "operator")]
pub mod envtest;
#[cfg(feature = "operator")]
pub mod export;
#[cfg(feature = "operator")]
pub mod metrics;
#[cfg(feature = "operator")]
pub mod request_target;
pub mod rules;
pub mod scim;
#[cfg(feature = "operator")]
pub mod serve;
#[cfg(feature = "operator")]
pub mod telemetry;
#[cfg(feature = "operator")]
pub mod watch;
#[cfg(feature = "operator")]
pub mod yaml;
