//! The PATCH engine as the endpoint runs it: the stored resource rendered as SCIM →
//! `apply_patch` with the request body → back to a spec. Any body is applied or refused with a
//! SCIM error, never a panic; a refused patch leaves nothing half-applied to store.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use scim_operator::api::{Group, GroupSpec, User};
use scim_operator::scim::patch::{apply_patch, member_changes, normalize};
use scim_operator::scim::resource::{Reference, group_from_scim, group_to_scim, user_from_scim, user_to_scim};
use scim_operator::scim::schema::{GROUP_RESOURCE, USER_RESOURCE};
use serde_json::{Value, json};

const BASE_URL: &str = "/scim/v2/demo/entra";

/// A user as Entra provisions one, stored and rendered the way `PATCH /Users/{id}` sees it.
static USER: LazyLock<Value> = LazyLock::new(|| {
    let mut body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": "0a1b2c3d",
        "userName": "alice@example.com",
        "active": true,
        "displayName": "Alice Example",
        "name": {"givenName": "Alice", "familyName": "Example", "formatted": "Alice Example"},
        "emails": [{"type": "work", "primary": true, "value": "alice@example.com"}],
        "phoneNumbers": [{"type": "mobile", "value": "+1 555 0100"}],
        "addresses": [{"type": "work", "locality": "Springfield", "country": "US", "primary": false}],
        "roles": [{"value": "admin", "primary": false}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "department": "Sales", "employeeNumber": "42", "manager": {"value": "u-boss"}
        }
    });
    normalize(&mut body, &USER_RESOURCE).expect("the fixture user is valid");
    let spec = user_from_scim(body).expect("the fixture user is valid");
    user_to_scim(&User::new("u-alice", spec), BASE_URL, &[])
});

/// A workspace group with two members, as `PATCH /Groups/{id}` sees it.
static GROUP: LazyLock<Value> = LazyLock::new(|| {
    let group = Group::new(
        "g-sales",
        GroupSpec {
            display_name: "ws-Sales-role-manager".into(),
            external_id: Some("5e6f".into()),
        },
    );
    let members = [
        Reference {
            id: "u-alice",
            display: Some("Alice Example"),
        },
        Reference {
            id: "u-bob",
            display: None,
        },
    ];
    group_to_scim(&group, BASE_URL, Some(&members))
});

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if let Ok(patched) = apply_patch(&USER, &USER_RESOURCE, &body)
        && let Ok(spec) = user_from_scim(patched)
    {
        let _ = user_to_scim(&User::new("u-alice", spec), BASE_URL, &[]);
    }
    if let Ok(patched) = apply_patch(&GROUP, &GROUP_RESOURCE, &body) {
        let _ = member_changes(&GROUP, &patched);
        let _ = group_from_scim(patched);
    }
});
