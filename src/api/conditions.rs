//! Condition types and reasons, shared by every status (kstatus-compatible).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// Condition types.
pub mod condition {
    /// The object is fully reconciled and healthy.
    pub const READY: &str = "Ready";
    /// The controller is working towards the desired state (kstatus).
    pub const RECONCILING: &str = "Reconciling";
    /// Reconciliation cannot progress without a change to the object (kstatus).
    pub const STALLED: &str = "Stalled";
    /// A user is in several role groups of one workspace.
    pub const CONFLICT: &str = "Conflict";
    /// Directory: every token in its Secret is long enough to be accepted.
    pub const TOKENS_ACCEPTED: &str = "TokensAccepted";
}

#[allow(clippy::too_many_arguments)] // mirrors the fields of a Condition
/// Builds a condition whose `lastTransitionTime` is kept from `previous` when the status did not change,
/// so a resync with no change writes the same status and is skipped.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    previous: &[Condition],
    type_: &str,
    status: bool,
    reason: &str,
    message: impl Into<String>,
    observed_generation: Option<i64>,
    now: &Time,
) {
    let status = if status { "True" } else { "False" }.to_string();
    let last_transition_time = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| now.clone());
    conditions.retain(|c| c.type_ != type_);
    conditions.push(Condition {
        type_: type_.to_string(),
        status,
        reason: reason.to_string(),
        message: message.into(),
        observed_generation,
        last_transition_time,
    });
    conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
}
