//! Properties over generated operations.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        prop_oneof![Just("True".to_string()), Just("x".to_string()), "[a-z{}\":]{0,12}"].prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("value".to_string()),
                    Just("type".to_string()),
                    Just("primary".to_string()),
                    "[a-zA-Z.]{1,8}"
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn any_path() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        prop::sample::select(vec![
            "userName",
            "active",
            "name",
            "name.givenName",
            "emails",
            "emails[type eq \"work\"]",
            "emails[type eq \"work\"].value",
            "emails[primary eq true].primary",
            "roles",
            "roles[value eq \"member\"]",
            "manager",
            "id",
            "meta",
            "groups",
            "password",
            "x[",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            "emails[not (type eq \"home\") or value co \"@\"].display",
        ])
        .prop_map(|p| json!(p)),
        "[a-zA-Z.\\[\\]\" ]{0,16}".prop_map(Value::String),
    ]
}

fn any_op() -> impl Strategy<Value = Value> {
    let op = prop::sample::select(vec!["add", "Remove", "REPLACE", "merge"]);
    (op, any_path(), prop::option::of(any_json())).prop_map(|(op, path, value)| {
        let mut o = json!({"op": op, "path": path});
        if let Some(v) = value {
            o["value"] = v;
        }
        o
    })
}

proptest! {
    #[test]
    fn apply_patch_never_panics(ops in prop::collection::vec(any_op(), 0..6)) {
        let got = try_user(Value::Array(ops));
        if let Ok(v) = got {
            prop_assert!(v.is_object());
            prop_assert_eq!(&v["id"], &user()["id"], "id is read-only");
        }
    }

    #[test]
    fn add_then_remove_member_restores_the_member_set(id in "[a-z0-9-]{1,12}") {
        prop_assume!(id != "u1" && id != "u2");
        let added = patch_group(json!([{"op":"add","path":"members","value":[{"value": id}]}]));
        prop_assert!(member_ids(&added).contains(&id.as_str()));
        let b = body(json!([{"op":"remove","path": format!("members[value eq \"{id}\"]")}]));
        let removed = apply_patch(&added, &GROUP_RESOURCE, &b).unwrap();
        prop_assert_eq!(removed, group());
        let b = body(json!([{"op":"Remove","path":"members","value":[{"value": id}]}]));
        prop_assert_eq!(apply_patch(&added, &GROUP_RESOURCE, &b).unwrap(), group());
    }

    #[test]
    fn replacing_with_the_current_value_is_idempotent(
        path in prop::sample::select(vec!["userName", "name", "emails", "roles", "active", "displayName",
            "name.familyName", "externalId", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"])
    ) {
        let u = user();
        let current = match path.split_once('.') {
            _ if path.starts_with("urn:") => u[ENT]["department"].clone(),
            Some((a, s)) => u[a][s].clone(),
            None => u[path].clone(),
        };
        prop_assert!(!current.is_null());
        let once = patch_user(json!([{"op":"replace","path":path,"value":current.clone()}]));
        prop_assert_eq!(&once, &u);
        let b = body(json!([{"op":"replace","path":path,"value":current}]));
        prop_assert_eq!(apply_patch(&once, &USER_RESOURCE, &b).unwrap(), u);
    }
}

#[test]
fn large_group_membership_changes_stay_fast() {
    let members: Vec<Value> = (0..20_000)
        .map(|i| json!({"value": format!("u{i}"), "type": "User"}))
        .collect();
    let g = json!({"displayName": "big", "members": members});
    let start = std::time::Instant::now();
    let b = body(json!([
        {"op":"remove","path":"members[type eq \"User\" and not (value eq \"u7\")]"},
        {"op":"add","path":"members","value":[{"value":"new"}]}
    ]));
    let got = apply_patch(&g, &GROUP_RESOURCE, &b).unwrap();
    assert_eq!(member_ids(&got), ["u7", "new"]);
    assert!(
        start.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}
