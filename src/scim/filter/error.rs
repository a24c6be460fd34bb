//! The error of the filter pipeline, shared by the lexer, the parser and validation.

/// A filter or path that does not parse (or, from `Filter::validate`, does not fit the schema).
///
/// The message is meant for the client (the SCIM `detail`); positions are 1-based characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(pub String);
