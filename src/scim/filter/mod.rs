//! SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths (RFC 7644 §3.5.2): parse, then evaluate.

mod ast;
mod eval;
mod parse;

pub use ast::{AttrPath, CompareOp, Filter, PatchPath};
pub use parse::{FilterError, parse_filter, parse_patch_path};
