//! Property tests: canonical printing round-trips, and no input makes the parser panic.

use proptest::prelude::*;
use serde_json::Value;

use super::{AttrPath, CompareOp, Filter, PatchPath, parse_filter, parse_patch_path};
use crate::scim::schema::{GROUP_RESOURCE, USER_RESOURCE};

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[a-zA-Z][a-zA-Z0-9_-]{0,6}",
        // Names that are also keywords, operators or literals elsewhere.
        1 => prop::sample::select(vec!["and", "or", "not", "pr", "eq", "true", "null", "$ref"])
            .prop_map(String::from),
    ]
}

fn schema() -> impl Strategy<Value = Option<String>> {
    prop::option::weighted(
        0.2,
        prop::sample::select(vec![
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "urn:x",
        ])
        .prop_map(String::from),
    )
}

fn attr_path() -> impl Strategy<Value = AttrPath> {
    (schema(), name(), prop::option::of(name())).prop_map(|(schema, attr, sub_attr)| AttrPath {
        schema,
        attr,
        sub_attr,
    })
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<String>().prop_map(Value::String),
        "[ -~]{0,8}".prop_map(Value::String),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ]
}

fn op() -> impl Strategy<Value = CompareOp> {
    use CompareOp::*;
    prop::sample::select(vec![Eq, Ne, Co, Sw, Ew, Gt, Ge, Lt, Le])
}

fn leaf() -> impl Strategy<Value = Filter> {
    prop_oneof![
        3 => (attr_path(), op(), value()).prop_map(|(path, op, value)| Filter::Compare {
            path,
            op,
            value
        }),
        1 => attr_path().prop_map(Filter::Present),
    ]
}

/// Filters built from `leaf` with `and`, `or` and `not`.
fn logic(leaf: BoxedStrategy<Filter>) -> BoxedStrategy<Filter> {
    leaf.prop_recursive(5, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(l, r)| Filter::And(Box::new(l), Box::new(r))),
            (inner.clone(), inner.clone()).prop_map(|(l, r)| Filter::Or(Box::new(l), Box::new(r))),
            inner.prop_map(|f| Filter::Not(Box::new(f))),
        ]
    })
    .boxed()
}

/// Any filter the parser can produce: value paths contain no value paths.
fn filter() -> BoxedStrategy<Filter> {
    let value_path = (schema(), name(), logic(leaf().boxed())).prop_map(|(schema, attr, f)| Filter::ValuePath {
        attr: AttrPath {
            schema,
            attr,
            sub_attr: None,
        },
        filter: Box::new(f),
    });
    logic(prop_oneof![4 => leaf(), 1 => value_path].boxed())
}

/// Strings from the grammar's tokens, glued with or without spaces: mostly near-misses.
fn token_soup() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec![
        "userName",
        "emails",
        "name.givenName",
        ".value",
        "urn:ietf:params:scim:schemas:core:2.0:User:",
        "urn:a:b:c",
        "eq",
        "EQ",
        "ne",
        "co",
        "sw",
        "ew",
        "gt",
        "ge",
        "lt",
        "le",
        "pr",
        "and",
        "OR",
        "not",
        "(",
        ")",
        "[",
        "]",
        "\"x\"",
        "\"\\\"\"",
        "\"\\u00e9\"",
        "\"",
        "\\",
        "true",
        "null",
        "-1.5e3",
        "01",
        "1e",
        "$ref",
        ":",
        ".",
        " ",
        "é",
        "\u{0}",
    ]);
    prop::collection::vec((token, prop::bool::ANY), 0..24).prop_map(|parts| {
        parts
            .into_iter()
            .map(|(t, space)| if space { format!("{t} ") } else { t.to_string() })
            .collect()
    })
}

/// Whatever parses must print canonically, reparse to the same AST, and evaluate quietly.
fn exercise(input: &str) {
    if let Ok(f) = parse_filter(input) {
        let printed = f.to_string();
        assert_eq!(parse_filter(&printed).as_ref(), Ok(&f), "{input} → {printed}");
        let _ = f.validate(&USER_RESOURCE);
        let user = serde_json::json!({"userName": "x", "emails": [{"value": "a"}]});
        let _ = f.matches(&user, &USER_RESOURCE);
        let _ = f.matches(&user, &GROUP_RESOURCE);
    }
    if let Ok(p) = parse_patch_path(input) {
        assert_eq!(parse_patch_path(&p.to_string()).as_ref(), Ok(&p), "{input}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn printed_filters_parse_back_to_the_same_ast(f in filter()) {
        let printed = f.to_string();
        prop_assert_eq!(parse_filter(&printed), Ok(f), "{}", printed);
    }

    #[test]
    fn printed_patch_paths_parse_back(
        attr in attr_path(),
        vf in prop::option::of(logic(leaf().boxed())),
        sub in prop::option::of(name()),
    ) {
        // `attr.sub[…]` is not a path; a sub-attribute after "]" needs a filter.
        let attr = if vf.is_some() { AttrPath { sub_attr: None, ..attr } } else { attr };
        let sub_attr = vf.as_ref().and(sub);
        let p = PatchPath { attr, value_filter: vf, sub_attr };
        prop_assert_eq!(parse_patch_path(&p.to_string()), Ok(p));
    }

    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>()) {
        exercise(&s);
    }

    #[test]
    fn token_soup_never_panics(s in token_soup()) {
        exercise(&s);
    }
}
