//! `normalize`: POST/PUT bodies.

use serde_json::json;

use super::*;
use crate::scim::patch::normalize;

#[test]
fn tv03_create_user_body_is_normalised() {
    let mut b = json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:User",ENT],
        "externalId":"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef","userName":"Test_User_00aa","active":true,
        "emails":[{"primary":true,"type":"work","value":"Test_User_11bb@testuser.com"}],
        "meta":{"resourceType":"User"},
        "name":{"formatted":"givenName familyName","familyName":"familyName","givenName":"givenName"},"roles":[]});
    let dropped = normalize(&mut b, &USER_RESOURCE).unwrap();
    assert!(dropped.is_empty(), "{dropped:?}");
    assert_eq!(
        b,
        json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
        "externalId":"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef","userName":"Test_User_00aa","active":true,
        "emails":[{"primary":true,"type":"work","value":"Test_User_11bb@testuser.com"}],
        "name":{"formatted":"givenName familyName","familyName":"familyName","givenName":"givenName"}})
    );
}

#[test]
fn tv09_and_tv11_role_items_on_post() {
    let mut b = json!({"userName":"u","roles":[
        {"primary":false,"type":"WindowsAzureActiveDirectoryRole","displayName":"Admin","value":"Admin"},
        {"primary":"True","type":"WindowsAzureActiveDirectoryRole","value":"User"}]});
    normalize(&mut b, &USER_RESOURCE).unwrap();
    assert_eq!(
        b["roles"],
        json!([
        {"primary":false,"type":"WindowsAzureActiveDirectoryRole","display":"Admin","value":"Admin"},
        {"primary":true,"type":"WindowsAzureActiveDirectoryRole","value":"User"}])
    );
}

#[test]
fn tv13_create_group_tolerates_unknown_schema_urns() {
    let mut b = json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group",
        "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
        "externalId":"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159","displayName":"ws-Sales-role-admin",
        "meta":{"resourceType":"Group"}});
    let dropped = normalize(&mut b, &GROUP_RESOURCE).unwrap();
    assert!(dropped.is_empty());
    assert_eq!(
        b,
        json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group",
        "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
        "externalId":"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159","displayName":"ws-Sales-role-admin"})
    );
}

#[test]
fn legacy_entra_post_with_nulls_typo_urn_and_string_booleans() {
    let mut b = json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"],
        "USERNAME":"Test_User","Active":"True","displayName":null,"nickName":7,
        "emails":[{"Primary":"true","Type":"work","value":"t@x.org","display":null}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0User":{"Department":"D","manager":"m-1","costCenter":null},
        "password":"P@ss","groups":[],"id":"client-chosen","favouriteColour":"blue"});
    let dropped = normalize(&mut b, &USER_RESOURCE).unwrap();
    assert_eq!(dropped, ["favouriteColour"]);
    assert_eq!(
        b,
        json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:User",ENT],
        "userName":"Test_User","active":true,"nickName":"7",
        "emails":[{"primary":true,"type":"work","value":"t@x.org"}],
        ENT:{"department":"D","manager":{"value":"m-1"}}})
    );
}

#[test]
fn urn_qualified_and_unqualified_extension_attributes_move_under_the_extension() {
    let mut b = json!({"userName":"u","employeeNumber":"1",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division":"Div",
        "manager":[{"value":"m"}]});
    normalize(&mut b, &USER_RESOURCE).unwrap();
    assert_eq!(
        b,
        json!({"userName":"u",ENT:{"employeeNumber":"1","division":"Div","manager":{"value":"m"}}})
    );
}

#[test]
fn unknown_sub_attributes_are_dropped_and_reported() {
    let mut b = json!({"userName":"u","emails":[{"value":"a@x.org","label":"x"}]});
    let dropped = normalize(&mut b, &USER_RESOURCE).unwrap();
    assert_eq!(dropped, ["emails.label"]);
    assert_eq!(b["emails"], json!([{"value":"a@x.org"}]));
}

#[test]
fn normalize_errors() {
    let e = normalize(&mut json!({"displayName":"g"}), &USER_RESOURCE).unwrap_err();
    assert_eq!(
        (e.scim_type(), e.to_string().contains("userName")),
        ("invalidValue", true)
    );
    let e = normalize(&mut json!({"userName":"u","active":"yes"}), &USER_RESOURCE).unwrap_err();
    assert_eq!(e.scim_type(), "invalidValue");
    let e = normalize(&mut json!({"members":[]}), &GROUP_RESOURCE).unwrap_err();
    assert!(e.to_string().contains("displayName"), "{e}");
    let e = normalize(&mut json!("x"), &GROUP_RESOURCE).unwrap_err();
    assert_eq!(e.scim_type(), "invalidSyntax");
}

#[test]
fn stringified_roles_and_duplicate_values_on_post() {
    let mut b = json!({"userName":"u","roles":[
        {"value":"{\"id\":\"06b0\",\"value\":\"Admin\",\"displayName\":\"Admin\"}","type":"T"},
        {"value":"admin"}]});
    normalize(&mut b, &USER_RESOURCE).unwrap();
    assert_eq!(b["roles"], json!([{"value":"admin","display":"Admin","type":"T"}]));
}
