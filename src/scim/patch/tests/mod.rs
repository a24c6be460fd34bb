//! Tests of the PATCH engine and of normalisation: fixtures and helpers.

mod entra;
mod errors;
mod normalize;
mod props;
mod rfc;

use serde_json::{Value, json};

use super::{PATCH_OP_SCHEMA, PatchError, apply_patch};
use crate::scim::schema::{GROUP_RESOURCE, USER_RESOURCE};

pub(super) const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// A stored user with the enterprise extension, two emails and one role.
pub(super) fn user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
        "id": "2819c223",
        "externalId": "0a21f0f2",
        "userName": "bjensen@example.com",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "displayName": "Babs Jensen",
        "active": true,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@home.example", "type": "home"}
        ],
        "roles": [{"value": "member"}],
        ENT: {"employeeNumber": "701984", "department": "Tour Operations"},
        "meta": {"resourceType": "User", "version": "W/\"1\""}
    })
}

/// A stored group with two members.
pub(super) fn group() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "a99962b9f99d4c4fac67",
        "externalId": "8aa1a0c0",
        "displayName": "ws-Sales-role-admin",
        "members": [{"value": "u1", "display": "Alice"}, {"value": "u2"}],
        "meta": {"resourceType": "Group"}
    })
}

/// A PatchOp body around `operations`.
pub(super) fn body(operations: Value) -> Value {
    json!({"schemas": [PATCH_OP_SCHEMA], "Operations": operations})
}

pub(super) fn try_user(operations: Value) -> Result<Value, PatchError> {
    apply_patch(&user(), &USER_RESOURCE, &body(operations))
}

pub(super) fn try_group(operations: Value) -> Result<Value, PatchError> {
    apply_patch(&group(), &GROUP_RESOURCE, &body(operations))
}

#[track_caller]
pub(super) fn patch_user(operations: Value) -> Value {
    try_user(operations).unwrap_or_else(|e| panic!("patch failed: {e}"))
}

#[track_caller]
pub(super) fn patch_group(operations: Value) -> Value {
    try_group(operations).unwrap_or_else(|e| panic!("patch failed: {e}"))
}

/// The `value`s of a group's members, in order.
pub(super) fn member_ids(group: &Value) -> Vec<&str> {
    group["members"]
        .as_array()
        .map(|m| m.iter().filter_map(|v| v["value"].as_str()).collect())
        .unwrap_or_default()
}
