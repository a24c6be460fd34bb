//! The SCIM 2.0 endpoint (RFC 7643 / RFC 7644).

pub mod filter;
pub mod patch;
pub mod schema;
