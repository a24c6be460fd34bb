//! The example requests of `scim-clients.md` (TV06–TV20) and the Entra/Okta quirks.

use serde_json::json;

use super::*;

#[test]
fn tv06_replace_work_email_value_and_family_name() {
    let got = patch_user(json!([
        {"op":"Replace","path":"emails[type eq \"work\"].value","value":"updatedEmail@microsoft.com"},
        {"op":"Replace","path":"name.familyName","value":"updatedFamilyName"}
    ]));
    let mut want = user();
    want["emails"][0]["value"] = json!("updatedEmail@microsoft.com");
    want["name"]["familyName"] = json!("updatedFamilyName");
    assert_eq!(got, want);
}

#[test]
fn tv07_disable_with_capitalised_op_and_string_false() {
    let got = patch_user(json!([{"op":"Replace","path":"active","value":"False"}]));
    let mut want = user();
    want["active"] = json!(false);
    assert_eq!(got, want);
    // The flagged and MS-Tut variants store the same thing.
    assert_eq!(
        patch_user(json!([{"op":"replace","path":"active","value":false}])),
        want
    );
    assert_eq!(
        patch_user(json!([{"op":"Replace","path":"active","value":false}])),
        want
    );
}

#[test]
fn tv08_pathless_replace_with_dotted_and_urn_keys() {
    let got = patch_user(json!([
        {"op":"replace","path":"emails[type eq \"work\"].value","value":"TestMhvaes@test.microsoft.com"},
        {"op":"replace","value":{"displayName":"Bjfe","name.givenName":"Kkom","name.familyName":"Unua",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"Aklq"}}
    ]));
    let mut want = user();
    want["emails"][0]["value"] = json!("TestMhvaes@test.microsoft.com");
    want["displayName"] = json!("Bjfe");
    want["name"] = json!({"givenName":"Kkom","familyName":"Unua"});
    want[ENT]["employeeNumber"] = json!("Aklq");
    assert_eq!(got, want);
    assert!(got.get("name.givenName").is_none(), "dotted key stored literally");
}

#[test]
fn tv08_default_one_replace_per_path_and_single_add() {
    let got = patch_user(json!([
        {"op":"Replace","path":"externalId","value":"ext-2"},
        {"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":"42"},
        {"op":"Add","path":"nickName","value":"Babs"}
    ]));
    let mut want = user();
    want["externalId"] = json!("ext-2");
    want[ENT]["employeeNumber"] = json!("42");
    want["nickName"] = json!("Babs");
    assert_eq!(got, want);
}

#[test]
fn tv10_stringified_role_objects_are_unwrapped() {
    let got = patch_user(json!([{"op":"Add","path":"roles","value":[
        {"value":"{\"id\":\"06b07648-ecfe-589f-9d2f-6325724a46ee\",\"value\":\"Admin\",\"displayName\":\"Admin\"}"},
        {"value":"{\"id\":\"06b07648-ecfe-599f-9d2f-6325724a46ee\",\"value\":\"User\",\"displayName\":\"User\"}"}
    ]}]));
    assert_eq!(
        got["roles"],
        json!([{"value":"member"},{"value":"Admin","display":"Admin"},{"value":"User","display":"User"}])
    );
}

#[test]
fn stringified_role_keeps_outer_type_and_primary() {
    let got = patch_user(json!([{"op":"add","path":"roles","value":[{"primary":"False",
        "type":"WindowsAzureActiveDirectoryRole","value":"{\"id\":\"x\",\"value\":\"admin\",\"displayName\":\"Admin\"}"}]}]));
    assert_eq!(
        got["roles"][1],
        json!({"value":"admin","display":"Admin","type":"WindowsAzureActiveDirectoryRole","primary":false})
    );
}

#[test]
fn role_add_is_deduplicated_by_value_case_insensitively() {
    let got = patch_user(
        json!([{"op":"Add","path":"roles","value":[{"value":"MEMBER"},{"value":"admin"},{"value":"Admin"}]}]),
    );
    assert_eq!(got["roles"], json!([{"value":"MEMBER"},{"value":"Admin"}]));
}

#[test]
fn role_display_name_maps_to_display() {
    let got = patch_user(json!([{"op":"replace","path":"roles","value":[
        {"primary":false,"type":"WindowsAzureActiveDirectoryRole","displayName":"Admin","value":"Admin"}]}]));
    assert_eq!(
        got["roles"],
        json!([{"primary":false,"type":"WindowsAzureActiveDirectoryRole","display":"Admin","value":"Admin"}])
    );
}

#[test]
fn tv12_assertive_replace_sets_exactly_these_roles() {
    let got = patch_user(json!([{"op":"replace","path":"roles","value":[
        {"primary":false,"type":"WindowsAzureActiveDirectoryRole","display":"User","value":"User"},
        {"primary":false,"type":"WindowsAzureActiveDirectoryRole","display":"Test","value":"Test"}]}]));
    assert_eq!(
        got["roles"],
        json!([{"primary":false,"type":"WindowsAzureActiveDirectoryRole","display":"User","value":"User"},
               {"primary":false,"type":"WindowsAzureActiveDirectoryRole","display":"Test","value":"Test"}])
    );
}

#[test]
fn single_app_role_replace_via_primary_true_string_filter() {
    let mut u = user();
    u["roles"] = json!([{"value":"member","primary":true},{"value":"x"}]);
    let b = body(json!([{"op":"Replace","path":"roles[primary eq \"True\"].value","value":"admin"}]));
    let got = apply_patch(&u, &USER_RESOURCE, &b).unwrap();
    assert_eq!(got["roles"], json!([{"value":"admin","primary":true},{"value":"x"}]));
    // Without a primary role yet, one is created from the filter.
    let got = patch_user(json!([{"op":"Replace","path":"roles[primary eq \"True\"].value","value":"owner"}]));
    assert_eq!(
        got["roles"],
        json!([{"value":"member"},{"primary":true,"value":"owner"}])
    );
}

#[test]
fn tv15_add_member_with_null_ref() {
    let got =
        patch_group(json!([{"op":"Add","path":"members","value":[{"$ref":null,"value":"f648f8d5ea4e4cd38e9c"}]}]));
    let mut want = group();
    want["members"] = json!([{"value":"u1","display":"Alice"},{"value":"u2"},{"value":"f648f8d5ea4e4cd38e9c"}]);
    assert_eq!(got, want);
}

#[test]
fn re_adding_an_existing_member_is_a_no_op() {
    let got = patch_group(json!([{"op":"add","path":"members","value":[{"value":"u2"},{"value":"u2"}]}]));
    assert_eq!(got, group());
}

#[test]
fn tv16_remove_member_by_value_list_removes_only_that_member() {
    let got = patch_group(json!([{"op":"Remove","path":"members","value":[{"$ref":null,"value":"u1"}]}]));
    let mut want = group();
    want["members"] = json!([{"value":"u2"}]);
    assert_eq!(got, want);
}

#[test]
fn tv16_remove_member_by_filter_without_value() {
    let got = patch_group(json!([{"op":"remove","path":"members[value eq \"u2\"]"}]));
    let mut want = group();
    want["members"] = json!([{"value":"u1","display":"Alice"}]);
    assert_eq!(got, want);
}

#[test]
fn remove_with_an_empty_value_list_removes_nothing() {
    for value in [json!([]), json!([{"$ref": null}]), json!({})] {
        let got = patch_group(json!([{"op":"Remove","path":"members","value":value}]));
        assert_eq!(got, group(), "{value}");
    }
    // Without a value (or with null), `remove members` is RFC 7644's "remove all".
    let got = patch_group(json!([{"op":"remove","path":"members","value":null}]));
    assert!(got.get("members").is_none());
}

#[test]
fn removing_the_last_member_unassigns_members() {
    let got = patch_group(json!([{"op":"Remove","path":"members","value":[{"value":"u1"},{"value":"u2"}]}]));
    assert!(got.get("members").is_none(), "{got}");
}

#[test]
fn remove_with_value_list_works_for_any_multi_valued_attribute() {
    let got = patch_user(json!([{"op":"remove","path":"emails","value":[{"value":"BABS@HOME.EXAMPLE"}]}]));
    assert_eq!(
        got["emails"],
        json!([{"value":"bjensen@example.com","type":"work","primary":true}])
    );
}

#[test]
fn okta_remove_by_filter_then_add_in_one_patch() {
    let got = patch_group(json!([
        {"op":"remove","path":"members[value eq \"u1\"]"},
        {"op":"add","path":"members","value":[{"value":"u3","display":"Carol"}]}
    ]));
    assert_eq!(member_ids(&got), ["u2", "u3"]);
}

#[test]
fn okta_full_replace_of_members() {
    let got = patch_group(json!([{"op":"replace","path":"members","value":[{"value":"u9"}]}]));
    assert_eq!(got["members"], json!([{"value":"u9"}]));
    let emptied = patch_group(json!([{"op":"replace","path":"members","value":[]}]));
    assert!(emptied.get("members").is_none());
}

#[test]
fn tv17_rename_group() {
    let got = patch_group(json!([{"op":"Replace","path":"displayName","value":"1879db59-updatedDisplayName"}]));
    let mut want = group();
    want["displayName"] = json!("1879db59-updatedDisplayName");
    assert_eq!(got, want);
}

#[test]
fn tv17_okta_pathless_rename_ignores_read_only_id() {
    let got = patch_group(
        json!([{"op":"replace","value":{"id":"abf4dd94","displayName":"Test SCIMv2",
        "meta":{"version":"x"},"schemas":["y"]}}]),
    );
    let mut want = group();
    want["displayName"] = json!("Test SCIMv2");
    assert_eq!(got, want);
}

#[test]
fn tv18_manager_as_bare_string_on_urn_path() {
    let got = patch_user(json!([{"op":"Add",
        "path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        "value":"26118915-6090-4610-87e4-49d8ca9f808d"}]));
    let mut want = user();
    want[ENT]["manager"] = json!({"value":"26118915-6090-4610-87e4-49d8ca9f808d"});
    assert_eq!(got, want);
}

#[test]
fn tv18_manager_as_array_of_one_and_removal() {
    let got = patch_user(json!([{"op":"Add","path":"manager","value":[{"$ref":"../Users/00aa","value":"00aa"}]}]));
    assert_eq!(got[ENT]["manager"], json!({"$ref":"../Users/00aa","value":"00aa"}));
    let b = body(json!([{"op":"Remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}]));
    let removed = apply_patch(&got, &USER_RESOURCE, &b).unwrap();
    assert_eq!(removed, user());
}

#[test]
fn new_manager_replaces_the_old_reference_whole() {
    let mut u = user();
    u[ENT]["manager"] = json!({"value":"m1","$ref":"../Users/m1"});
    let b = body(json!([{"op":"replace","path":"manager","value":"m2"}]));
    let got = apply_patch(&u, &USER_RESOURCE, &b).unwrap();
    assert_eq!(got[ENT]["manager"], json!({"value":"m2"}));
}

#[test]
fn tv20_okta_pathless_deactivate() {
    let got = patch_user(json!([{"op":"replace","value":{"active":false}}]));
    let mut want = user();
    want["active"] = json!(false);
    assert_eq!(got, want);
}

#[test]
fn op_names_are_case_insensitive() {
    for op in ["Add", "ADD", "add", "aDd"] {
        let got = patch_user(json!([{"op":op,"path":"nickName","value":"B"}]));
        assert_eq!(got["nickName"], "B", "{op}");
    }
    for op in ["Replace", "REPLACE"] {
        assert_eq!(patch_user(json!([{"op":op,"path":"title","value":"T"}]))["title"], "T");
    }
    for op in ["Remove", "REMOVE"] {
        assert!(
            patch_user(json!([{"op":op,"path":"displayName"}]))
                .get("displayName")
                .is_none()
        );
    }
}

#[test]
fn boolean_strings_in_sub_attributes() {
    let got =
        patch_user(json!([{"op":"add","path":"emails","value":[{"value":"n@x.org","type":"other","primary":"True"}]}]));
    assert_eq!(got["emails"][2]["primary"], json!(true));
    assert_eq!(got["emails"][0]["primary"], json!(false), "the old primary is cleared");
}

#[test]
fn replace_work_email_value_creates_it_when_missing() {
    let mut u = user();
    u["emails"] = json!([{"value":"babs@home.example","type":"home"}]);
    let b = body(json!([{"op":"Replace","path":"emails[type eq \"work\"].value","value":"w@x.org"}]));
    let got = apply_patch(&u, &USER_RESOURCE, &b).unwrap();
    assert_eq!(
        got["emails"],
        json!([{"value":"babs@home.example","type":"home"},{"type":"work","value":"w@x.org"}])
    );
}

#[test]
fn entra_add_with_filter_and_sub_creates_phone_number() {
    let got = patch_user(json!([{"op":"Add","path":"phoneNumbers[type eq \"mobile\"].value","value":"+1 555"}]));
    assert_eq!(got["phoneNumbers"], json!([{"type":"mobile","value":"+1 555"}]));
}

#[test]
fn legacy_typo_enterprise_urn_in_path_and_pathless_value() {
    let got = patch_user(json!([
        {"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0User:department","value":"D"},
        {"op":"replace","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0User":{"costCenter":"C"}}}
    ]));
    assert_eq!(
        got[ENT],
        json!({"employeeNumber":"701984","department":"D","costCenter":"C"})
    );
}

#[test]
fn password_is_accepted_and_discarded() {
    let got = patch_user(json!([
        {"op":"replace","path":"password","value":"hunter2"},
        {"op":"replace","value":{"password":"hunter3","nickName":"N"}}
    ]));
    let mut want = user();
    want["nickName"] = json!("N");
    assert_eq!(got, want);
    assert!(!got.to_string().contains("hunter"));
}
