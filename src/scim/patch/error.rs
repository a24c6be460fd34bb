//! Errors of the PATCH engine and of input normalisation, one variant per RFC 7644 §3.12 scimType.

/// Why a PATCH or a POST/PUT body was rejected; the message is written for the client.
///
/// Messages name attributes and paths but never echo values, so a `password` or a token pasted
/// into the wrong field does not end up in an error body or a log line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The body or an operation is malformed (not JSON-shaped as a PatchOp, unknown `op`, …).
    #[error("{0}")]
    InvalidSyntax(String),
    /// A `path` (or a key of a path-less value) does not parse or names no attribute.
    #[error("{0}")]
    InvalidPath(String),
    /// The path selects nothing that could be operated on.
    #[error("{0}")]
    NoTarget(String),
    /// A value has the wrong type for its attribute.
    #[error("{0}")]
    InvalidValue(String),
    /// The operation would modify a read-only attribute or remove a required one.
    #[error("{0}")]
    Mutability(String),
}

impl PatchError {
    /// The RFC 7644 §3.12 `scimType` for the error response (always with status 400).
    pub fn scim_type(&self) -> &'static str {
        match self {
            PatchError::InvalidSyntax(_) => "invalidSyntax",
            PatchError::InvalidPath(_) => "invalidPath",
            PatchError::NoTarget(_) => "noTarget",
            PatchError::InvalidValue(_) => "invalidValue",
            PatchError::Mutability(_) => "mutability",
        }
    }

    /// The same error with `context` in front of its message ("Operations[1]: …").
    pub(super) fn context(self, context: &str) -> Self {
        let wrap = |m: String| format!("{context}: {m}");
        match self {
            PatchError::InvalidSyntax(m) => PatchError::InvalidSyntax(wrap(m)),
            PatchError::InvalidPath(m) => PatchError::InvalidPath(wrap(m)),
            PatchError::NoTarget(m) => PatchError::NoTarget(wrap(m)),
            PatchError::InvalidValue(m) => PatchError::InvalidValue(wrap(m)),
            PatchError::Mutability(m) => PatchError::Mutability(wrap(m)),
        }
    }
}

/// A short description of a JSON value's type for messages (never the value itself).
pub(super) fn kind(v: &serde_json::Value) -> &'static str {
    use serde_json::Value::*;
    match v {
        Null => "null",
        Bool(_) => "a boolean",
        Number(_) => "a number",
        String(_) => "a string",
        Array(_) => "an array",
        Object(_) => "an object",
    }
}
