//! RFC 7644 §3.5.2: add / remove / replace × no path, attr, attr.sub, URN, filter, filter.sub.

use serde_json::json;

use super::*;

#[test]
fn add_without_path_merges_attributes() {
    let got = patch_user(json!([{"op":"add","value":{"nickName":"Babs","name":{"middleName":"J"},
        "emails":[{"value":"b@x.org","type":"other"}], ENT:{"division":"Div"}}}]));
    let mut want = user();
    want["nickName"] = json!("Babs");
    want["name"]["middleName"] = json!("J");
    want["emails"]
        .as_array_mut()
        .unwrap()
        .push(json!({"value":"b@x.org","type":"other"}));
    want[ENT]["division"] = json!("Div");
    assert_eq!(got, want);
}

#[test]
fn replace_without_path_replaces_multi_valued_and_merges_complex() {
    let got =
        patch_user(json!([{"op":"replace","value":{"emails":[{"value":"only@x.org"}],"name":{"givenName":"B"}}}]));
    assert_eq!(got["emails"], json!([{"value":"only@x.org"}]));
    assert_eq!(got["name"], json!({"givenName":"B","familyName":"Jensen"}));
}

#[test]
fn add_attr_sets_single_and_appends_multi() {
    let got = patch_user(json!([
        {"op":"add","path":"title","value":"Tour Guide"},
        {"op":"add","path":"emails","value":[{"value":"new@x.org","type":"other"}]}
    ]));
    assert_eq!(got["title"], "Tour Guide");
    assert_eq!(got["emails"].as_array().unwrap().len(), 3);
    assert_eq!(got["emails"][2], json!({"value":"new@x.org","type":"other"}));
}

#[test]
fn replace_attr_multi_valued_replaces_all_values() {
    let got = patch_user(json!([{"op":"replace","path":"emails","value":[{"value":"a@x.org","primary":true}]}]));
    assert_eq!(got["emails"], json!([{"value":"a@x.org","primary":true}]));
}

#[test]
fn remove_attr_removes_whole_attribute() {
    let got = patch_user(json!([{"op":"remove","path":"emails"},{"op":"remove","path":"name"}]));
    let mut want = user();
    want.as_object_mut().unwrap().remove("emails");
    want.as_object_mut().unwrap().remove("name");
    assert_eq!(got, want);
}

#[test]
fn sub_attribute_add_replace_remove() {
    let got = patch_user(json!([
        {"op":"add","path":"name.honorificPrefix","value":"Ms."},
        {"op":"replace","path":"name.givenName","value":"Barb"},
        {"op":"remove","path":"name.familyName"}
    ]));
    assert_eq!(got["name"], json!({"givenName":"Barb","honorificPrefix":"Ms."}));
    let gone = patch_user(json!([{"op":"remove","path":"name.givenName"},{"op":"remove","path":"name.familyName"}]));
    assert!(gone.get("name").is_none(), "an emptied complex attribute is unassigned");
}

#[test]
fn add_sub_attribute_creates_the_complex_attribute() {
    let mut u = user();
    u.as_object_mut().unwrap().remove("name");
    let b = body(json!([{"op":"add","path":"name.givenName","value":"G"}]));
    assert_eq!(
        apply_patch(&u, &USER_RESOURCE, &b).unwrap()["name"],
        json!({"givenName":"G"})
    );
}

#[test]
fn urn_qualified_attribute_add_replace_remove() {
    let got = patch_user(json!([
        {"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter","value":"4130"},
        {"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"R&D"},
        {"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"},
        {"op":"replace","path":"urn:ietf:params:scim:schemas:core:2.0:User:displayName","value":"B"}
    ]));
    assert_eq!(got[ENT], json!({"department":"R&D","costCenter":"4130"}));
    assert_eq!(got["displayName"], "B");
}

#[test]
fn whole_extension_path_add_replace_remove() {
    let got = patch_user(json!([{"op":"add","path":ENT,"value":{"division":"D","manager":{"value":"m"}}}]));
    assert_eq!(
        got[ENT],
        json!({"employeeNumber":"701984","department":"Tour Operations","division":"D","manager":{"value":"m"}})
    );
    let got = patch_user(json!([{"op":"replace","path":ENT,"value":{"department":"X"}}]));
    assert_eq!(
        got[ENT],
        json!({"department":"X"}),
        "replace is of the extension as a whole"
    );
    let got = patch_user(json!([{"op":"Replace","path":ENT,"value":{"Department":"X","manager":"m"}}]));
    assert_eq!(got[ENT], json!({"department":"X","manager":{"value":"m"}}));
    let got = patch_user(json!([{"op":"replace","path":ENT,"value":{}}]));
    assert!(got.get(ENT).is_none(), "an empty replacement clears it");
    let got = patch_user(json!([{"op":"remove","path":ENT}]));
    assert!(got.get(ENT).is_none());
    assert_eq!(
        got["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:User"]),
        "schemas follow"
    );
}

#[test]
fn extension_urn_is_added_to_schemas_when_first_used() {
    let mut u = user();
    u.as_object_mut().unwrap().remove(ENT);
    u["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:User"]);
    let b = body(
        json!([{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division","value":"D"}]),
    );
    let got = apply_patch(&u, &USER_RESOURCE, &b).unwrap();
    assert_eq!(
        got["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:User", ENT])
    );
}

#[test]
fn filter_replace_replaces_matching_values() {
    let got = patch_user(
        json!([{"op":"replace","path":"emails[type eq \"home\"]","value":{"value":"h2@x.org","type":"home"}}]),
    );
    assert_eq!(got["emails"][1], json!({"value":"h2@x.org","type":"home"}));
    assert_eq!(got["emails"][0], user()["emails"][0]);
}

#[test]
fn filter_add_merges_into_matching_values() {
    let got = patch_user(json!([{"op":"add","path":"emails[type eq \"home\"]","value":{"display":"Home"}}]));
    assert_eq!(
        got["emails"][1],
        json!({"value":"babs@home.example","type":"home","display":"Home"})
    );
}

#[test]
fn filter_remove_removes_matching_values() {
    let got = patch_user(json!([{"op":"remove","path":"emails[type eq \"work\" or value co \"home\"]"}]));
    assert!(got.get("emails").is_none());
    let got = patch_user(json!([{"op":"remove","path":"emails[type eq \"home\"]"}]));
    assert_eq!(got["emails"], json!([user()["emails"][0]]));
}

#[test]
fn filter_remove_without_match_is_an_idempotent_no_op() {
    let got = patch_group(json!([{"op":"remove","path":"members[value eq \"gone\"]"}]));
    assert_eq!(got, group());
}

#[test]
fn filter_sub_add_replace_remove() {
    let got = patch_user(json!([
        {"op":"add","path":"emails[type eq \"home\"].display","value":"Home"},
        {"op":"replace","path":"emails[value eq \"BJENSEN@example.com\"].type","value":"other"},
        {"op":"remove","path":"emails[type eq \"other\"].primary"}
    ]));
    assert_eq!(
        got["emails"],
        json!([{"value":"bjensen@example.com","type":"other"},
               {"value":"babs@home.example","type":"home","display":"Home"}])
    );
}

#[test]
fn member_value_filter_is_case_exact() {
    // members.value is caseExact: "U1" is not "u1".
    let got = patch_group(json!([{"op":"remove","path":"members[value eq \"U1\"]"}]));
    assert_eq!(member_ids(&got), ["u1", "u2"]);
}

#[test]
fn setting_primary_clears_the_other_primaries() {
    let got = patch_user(json!([{"op":"replace","path":"emails[type eq \"home\"].primary","value":true}]));
    assert_eq!(got["emails"][0]["primary"], json!(false));
    assert_eq!(got["emails"][1]["primary"], json!(true));
}

#[test]
fn empty_operations_leave_the_resource_unchanged() {
    assert_eq!(patch_user(json!([])), user());
}

#[test]
fn body_without_schemas_and_lowercase_operations_key_is_accepted() {
    let b = json!({"operations":[{"op":"add","path":"nickName","value":"N"}]});
    assert_eq!(apply_patch(&user(), &USER_RESOURCE, &b).unwrap()["nickName"], "N");
}

#[test]
fn replace_with_null_unassigns() {
    let got = patch_user(json!([{"op":"replace","path":"displayName","value":null}]));
    assert!(got.get("displayName").is_none());
    assert_eq!(
        patch_user(json!([{"op":"add","path":"displayName","value":null}])),
        user()
    );
}

#[test]
fn attribute_names_are_case_insensitive_in_paths() {
    let got = patch_user(json!([{"op":"replace","path":"NAME.GIVENNAME","value":"G"},
                                {"op":"replace","path":"DisplayName","value":"D"}]));
    assert_eq!(got["name"]["givenName"], "G");
    assert_eq!(got["displayName"], "D");
    assert!(got.get("DisplayName").is_none());
}

#[test]
fn pathless_add_with_dotted_core_urn_and_filtered_keys() {
    // Azure also sends path-less `add` (pond/scimitar#123); keys are paths, never literal names.
    let got = patch_user(json!([{"op":"Add","value":{
        "urn:ietf:params:scim:schemas:core:2.0:User:name.middleName":"M",
        "addresses[type eq \"work\"].locality":"Oslo",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value":"m-7"}}]));
    assert_eq!(got["name"]["middleName"], "M");
    assert_eq!(got["addresses"], json!([{"type":"work","locality":"Oslo"}]));
    assert_eq!(got[ENT]["manager"], json!({"value":"m-7"}));
    let keys: Vec<&String> = got.as_object().unwrap().keys().collect();
    assert!(keys.iter().all(|k| !k.contains('.') || k.as_str() == ENT), "{keys:?}");
}

#[test]
fn patch_leaves_id_and_meta_alone() {
    let got = patch_user(json!([{"op":"replace","value":{"id":"x","meta":{"version":"W/\"9\""},"title":"T"}}]));
    assert_eq!((&got["id"], &got["meta"]), (&user()["id"], &user()["meta"]));
    assert_eq!(got["title"], "T");
}

/// Members in every shape clients send: a bare id, one object, an array of either.
#[test]
fn members_as_bare_ids_single_objects_or_arrays() {
    for value in [
        json!("u3"),
        json!({"value": "u3"}),
        json!(["u3"]),
        json!([{"value": "u3", "type": "User"}]),
    ] {
        let got = patch_group(json!([{"op":"add","path":"members","value":value.clone()}]));
        assert_eq!(member_ids(&got), ["u1", "u2", "u3"], "{value}");
        let got = patch_group(json!([{"op":"remove","path":"members","value":value.clone()}]));
        assert_eq!(member_ids(&got), ["u1", "u2"], "{value}");
    }
    let got = patch_group(json!([{"op":"replace","path":"members","value":["u9", {"value": "u8"}]}]));
    assert_eq!(member_ids(&got), ["u9", "u8"]);
    let got = patch_group(json!([{"op":"add","value":{"members":"u7"}}]));
    assert_eq!(member_ids(&got), ["u1", "u2", "u7"]);
    // Other attributes keep refusing bare strings, which are more likely mistakes.
    assert!(try_user(json!([{"op":"add","path":"emails","value":"x@y.z"}])).is_err());
}
