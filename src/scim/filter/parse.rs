//! Placeholder: the filter parser is being written (see the filter work item).

use super::ast::{Filter, PatchPath};

/// A filter or path that does not parse; the message is meant for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(pub String);

/// Parses a `filter` query parameter.
pub fn parse_filter(_input: &str) -> Result<Filter, FilterError> {
    Err(FilterError("filters are not implemented yet".into()))
}

/// Parses a PATCH operation's `path`.
pub fn parse_patch_path(_input: &str) -> Result<PatchPath, FilterError> {
    Err(FilterError("paths are not implemented yet".into()))
}
