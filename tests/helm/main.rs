//! The Helm chart `charts/scim-operator` with the real `helm` and `kubectl` against a real API
//! server: lint, rendering, the values schema, server-side dry-run, install/upgrade/uninstall with a
//! CRD change, the container image, and whether the chart's RBAC is enough (and no more) for the operator.

#[path = "../support/mod.rs"]
mod support;

mod binary;
mod chart;
mod controller_rbac;
mod image;
mod install;
mod monitoring;
mod rbac;
mod releases;
mod render;
