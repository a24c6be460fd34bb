//! Errors: each scimType, message quality, atomicity.

use serde_json::json;

use super::*;

#[track_caller]
fn scim_type(r: Result<serde_json::Value, PatchError>) -> (&'static str, String) {
    let e = r.expect_err("the patch should fail");
    (e.scim_type(), e.to_string())
}

#[test]
fn invalid_syntax_for_malformed_bodies_and_ops() {
    let rt = &USER_RESOURCE;
    for b in [
        json!([]),
        json!({"schemas":[PATCH_OP_SCHEMA]}),
        json!({"schemas":[PATCH_OP_SCHEMA],"Operations":{}}),
        json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"Operations":[]}),
        body(json!(["add"])),
        body(json!([{"path":"title","value":"x"}])),
        body(json!([{"op":"merge","path":"title","value":"x"}])),
        body(json!([{"op":"add","path":"title"}])),
        body(json!([{"op":"add","path":7,"value":"x"}])),
    ] {
        let e = apply_patch(&user(), rt, &b).expect_err(&b.to_string());
        assert_eq!(e.scim_type(), "invalidSyntax", "{b}: {e}");
    }
}

#[test]
fn invalid_path_names_the_path_and_the_parser_message() {
    let (t, m) = scim_type(try_user(json!([{"op":"add","path":"favouriteColour","value":"x"}])));
    assert_eq!(t, "invalidPath");
    assert!(m.contains("favouriteColour"), "{m}");
    let (t, m) = scim_type(try_user(json!([{"op":"add","path":"emails[type eq]","value":"x"}])));
    assert_eq!(t, "invalidPath");
    assert!(m.contains("emails[type eq]"), "{m}");
    let (t, m) = scim_type(try_user(json!([{"op":"add","path":"name.nickname","value":"x"}])));
    assert_eq!(t, "invalidPath", "{m}");
    let (t, _) = scim_type(try_user(json!([{"op":"replace","value":{"shoeSize":"44"}}])));
    assert_eq!(
        t, "invalidPath",
        "PATCH is strict about unknown keys in path-less values"
    );
    let (t, _) = scim_type(try_user(
        json!([{"op":"replace","path":"title[value eq \"x\"]","value":"x"}]),
    ));
    assert_eq!(t, "invalidPath", "a filter on a single-valued attribute");
}

#[test]
fn no_target_for_remove_without_path_and_unmatched_replace() {
    let (t, _) = scim_type(try_user(json!([{"op":"remove"}])));
    assert_eq!(t, "noTarget");
    let (t, m) = scim_type(try_user(
        json!([{"op":"replace","path":"emails[value co \"nowhere\"].type","value":"work"}]),
    ));
    assert_eq!(t, "noTarget");
    assert!(m.contains("emails"), "{m}");
    let (t, _) = scim_type(try_group(
        json!([{"op":"replace","path":"members[value eq \"zz\"]","value":{"value":"u3"}}]),
    ));
    assert_eq!(t, "noTarget", "values are only created for `attr[eq…].sub`");
}

#[test]
fn invalid_value_for_wrong_types() {
    for (ops, needle) in [
        (json!([{"op":"replace","path":"active","value":"maybe"}]), "active"),
        (
            json!([{"op":"replace","path":"emails","value":"a@x.org"}]),
            "\"emails\" value must be an array of objects",
        ),
        (
            json!([{"op":"replace","path":"emails","value":["a@x.org"]}]),
            "array of objects",
        ),
        (
            json!([{"op":"replace","path":"name","value":"Barbara Jensen"}]),
            "\"name\" value must be an object",
        ),
        (json!([{"op":"replace","path":"userName","value":{"a":1}}]), "userName"),
        (
            json!([{"op":"replace","path":"emails[type eq \"work\"].primary","value":"yes"}]),
            "emails.primary",
        ),
        (json!([{"op":"replace","value":"active"}]), "object value"),
        (
            json!([{"op":"replace","path":"manager","value":[{"value":"a"},{"value":"b"}]}]),
            "manager",
        ),
    ] {
        let (t, m) = scim_type(try_user(ops.clone()));
        assert_eq!(t, "invalidValue", "{ops}: {m}");
        assert!(m.contains(needle), "{m:?} lacks {needle:?}");
    }
}

#[test]
fn mutability_for_read_only_targets_and_required_removal() {
    for path in [
        "id",
        "meta",
        "meta.version",
        "groups",
        "schemas",
        "members[value eq \"u1\"].value",
    ] {
        let rt = if path.starts_with("members") {
            &GROUP_RESOURCE
        } else {
            &USER_RESOURCE
        };
        let src = if path.starts_with("members") { group() } else { user() };
        let b = body(json!([{"op":"replace","path":path,"value":"x"}]));
        let e = apply_patch(&src, rt, &b).expect_err(path);
        assert_eq!(e.scim_type(), "mutability", "{path}: {e}");
    }
    let (t, m) = scim_type(try_user(json!([{"op":"remove","path":"userName"}])));
    assert_eq!((t, m.contains("userName")), ("mutability", true), "{m}");
    let (t, _) = scim_type(try_user(json!([{"op":"replace","path":"userName","value":null}])));
    assert_eq!(t, "mutability");
    let (t, _) = scim_type(try_group(json!([{"op":"Remove","path":"displayName"}])));
    assert_eq!(t, "mutability");
}

#[test]
fn errors_name_the_failing_operation() {
    let e = try_user(json!([{"op":"add","path":"title","value":"x"},{"op":"Replace","path":"active","value":"nope"}]))
        .unwrap_err();
    assert!(e.to_string().starts_with("Operations[1] (Replace \"active\")"), "{e}");
}

#[test]
fn errors_never_echo_values() {
    let e = try_user(json!([{"op":"replace","path":"active","value":"s3cr3t-token"}])).unwrap_err();
    assert!(!e.to_string().contains("s3cr3t"), "{e}");
    let e = try_user(json!([{"op":"replace","path":"userName","value":["s3cr3t"]}])).unwrap_err();
    assert!(!e.to_string().contains("s3cr3t"), "{e}");
}

#[test]
fn atomic_when_a_later_operation_fails() {
    let original = user();
    let b = body(json!([
        {"op":"replace","path":"displayName","value":"Changed"},
        {"op":"remove","path":"emails"},
        {"op":"replace","path":"id","value":"hijack"}
    ]));
    assert!(apply_patch(&original, &USER_RESOURCE, &b).is_err());
    assert_eq!(original, user(), "the input is never modified");
}

#[test]
fn a_non_object_resource_is_rejected() {
    let e = apply_patch(&json!([]), &USER_RESOURCE, &body(json!([]))).unwrap_err();
    assert_eq!(e.scim_type(), "invalidValue");
}
