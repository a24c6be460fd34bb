//! SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths (RFC 7644 §3.5.2): parse, then evaluate.
//!
//! `parse_filter` / `parse_patch_path` turn text into the AST of `ast.rs`; `Filter::validate`
//! checks it against a resource type's schema (for a 400 `invalidFilter`), `Filter::matches`
//! evaluates it against a resource's SCIM JSON, and `Display` prints it back canonically.

mod ast;
mod display;
mod error;
mod eval;
mod lexer;
mod parse;
mod validate;

pub use ast::{AttrPath, CompareOp, Filter, PatchPath};
pub use error::FilterError;
pub use parse::{MAX_DEPTH, MAX_FILTER_LEN, parse_filter, parse_patch_path};

#[cfg(test)]
mod eval_tests;
#[cfg(test)]
mod parse_tests;
#[cfg(test)]
mod proptests;
