//! Evaluator and validation tests against SCIM JSON as Entra and Okta send it.

use serde_json::{Value, json};

use super::{Filter, parse_filter};
use crate::scim::schema::{
    AttrType, Attribute, GROUP_RESOURCE, Mutability, ResourceType, Returned, Schema, USER_RESOURCE, Uniqueness,
};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "bjensen-ext",
        "userName": "BJensen@Example.com",
        "name": {"familyName": "O'Malley", "givenName": "Barbara"},
        "displayName": "Babs Jensen",
        "nickName": "",
        "title": "Tour Guide",
        "userType": "Employee",
        "active": true,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "ims": [{"value": "someaimhandle", "type": "aim"}],
        "phoneNumbers": [],
        ENTERPRISE: {"employeeNumber": "701984", "manager": {"value": "26118915"}},
        "meta": {
            "resourceType": "User",
            "created": "2010-01-23T04:56:22Z",
            "lastModified": "2011-05-13T04:42:34Z",
            "version": "W/\"3694e05e9dff591\""
        }
    })
}

fn group() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "927fa2c08dcb4a7fae9e",
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": "ws-Sales-role-admin",
        "members": [{"value": "f648f8d5ea4e4cd38e9c"}, {"value": "u2", "display": "Two"}]
    })
}

fn matches(filter: &str, resource: &Value, rt: &ResourceType) -> bool {
    parse_filter(filter)
        .unwrap_or_else(|e| panic!("{filter}: {e}"))
        .matches(resource, rt)
}

/// Asserts which of `cases` match the user fixture.
fn check_user(cases: &[(&str, bool)]) {
    let u = user();
    for (filter, expected) in cases {
        assert_eq!(matches(filter, &u, &USER_RESOURCE), *expected, "{filter}");
    }
}

fn check_group(cases: &[(&str, bool)]) {
    let g = group();
    for (filter, expected) in cases {
        assert_eq!(matches(filter, &g, &GROUP_RESOURCE), *expected, "{filter}");
    }
}

fn invalid(filter: &str, rt: &ResourceType) -> String {
    match parse_filter(filter).unwrap().validate(rt) {
        Ok(()) => panic!("{filter} validated"),
        Err(e) => e.0,
    }
}

#[test]
fn eq_and_ne_honour_case_exact() {
    check_user(&[
        // userName and user displayName: caseExact false.
        (r#"userName eq "bjensen@example.com""#, true),
        (r#"userName eq "BJENSEN@EXAMPLE.COM""#, true),
        (r#"userName eq "bjensen""#, false),
        (r#"displayName eq "babs jensen""#, true),
        // externalId and id: caseExact true.
        (r#"externalId eq "bjensen-ext""#, true),
        (r#"externalId eq "BJENSEN-EXT""#, false),
        (r#"id eq "2819c223-7f76-453a-919d-413861904646""#, true),
        (r#"id eq "2819C223-7F76-453A-919D-413861904646""#, false),
        (r#"userName ne "bjensen@EXAMPLE.com""#, false),
        (r#"userName ne "someone""#, true),
        (r#"externalId ne "BJENSEN-EXT""#, true),
    ]);
    check_group(&[
        // Group displayName: caseExact true.
        (r#"displayName eq "ws-Sales-role-admin""#, true),
        (r#"displayName eq "WS-SALES-ROLE-ADMIN""#, false),
        (r#"externalId eq "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159""#, true),
    ]);
}

#[test]
fn unicode_case_folding() {
    let u = json!({"userName": "ÉLODIE"});
    assert!(matches(r#"userName eq "élodie""#, &u, &USER_RESOURCE));
    assert!(matches(r#"userName sw "élo""#, &u, &USER_RESOURCE));
    assert!(!matches(
        r#"externalId eq "élodie""#,
        &json!({"externalId": "ÉLODIE"}),
        &USER_RESOURCE
    ));
}

#[test]
fn substring_operators() {
    check_user(&[
        (r#"userName co "JENSEN@""#, true),
        (r#"userName co "smith""#, false),
        (r#"userName sw "bj""#, true),
        (r#"userName sw "jensen""#, false),
        (r#"userName ew ".COM""#, true),
        (r#"userName ew "example""#, false),
        (r#"externalId sw "bj""#, true),
        (r#"externalId sw "BJ""#, false),
        (r#"externalId ew "-ext""#, true),
        (r#"externalId ew "-EXT""#, false),
        (r#"externalId co "sen-e""#, true),
        (r#"externalId co "SEN-E""#, false),
        (r#"name.familyName co "O'Malley""#, true),
        (r#"userName co """#, true),
    ]);
}

#[test]
fn string_ordering_honours_case_exact() {
    check_user(&[
        (r#"userName gt "a""#, true),
        (r#"userName gt "c""#, false),
        // Case-insensitive: "bjensen…" < "c" although 'B' < 'c' < 'b' in ASCII.
        (r#"userName lt "C""#, true),
        (r#"userName ge "BJENSEN@EXAMPLE.COM""#, true),
        (r#"userName le "bjensen@example.com""#, true),
        (r#"userName lt "bjensen@example.com""#, false),
        // Case-exact: "bjensen-ext" > "C" in code point order.
        (r#"externalId lt "C""#, false),
        (r#"externalId gt "C""#, true),
    ]);
}

#[test]
fn date_times_compare_chronologically() {
    check_user(&[
        (r#"meta.lastModified gt "2011-05-13T04:42:33Z""#, true),
        (r#"meta.lastModified gt "2011-05-13T04:42:34Z""#, false),
        (r#"meta.lastModified ge "2011-05-13T04:42:34Z""#, true),
        (r#"meta.lastModified lt "2011-05-13T04:42:34Z""#, false),
        (r#"meta.lastModified le "2011-05-13T04:42:34Z""#, true),
        // The same instant written with an offset: lexicographically it would be greater.
        (r#"meta.lastModified eq "2011-05-13T06:42:34+02:00""#, true),
        (r#"meta.lastModified lt "2011-05-13T06:42:34+02:00""#, false),
        (r#"meta.lastModified ge "2011-05-13T06:42:34+02:00""#, true),
        (r#"meta.created lt "2010-01-23T04:56:22.001Z""#, true),
        (r#"meta.created gt "2009-12-31T23:59:59-08:00""#, true),
        (r#"meta.lastModified pr"#, true),
        (r#"meta.resourceType eq "User""#, true),
        (r#"meta.resourceType eq "user""#, false),
    ]);
}

/// A resource type with numeric attributes: the built-in schemas have none.
static NUMERIC_ATTRS: [Attribute; 2] = [number("age", AttrType::Integer), number("score", AttrType::Decimal)];
static NUMERIC_SCHEMA: Schema = Schema {
    id: "urn:example:Numbers",
    name: "Numbers",
    description: "",
    attributes: &NUMERIC_ATTRS,
};
static NUMERIC: ResourceType = ResourceType {
    name: "Numbers",
    endpoint: "/Numbers",
    description: "",
    schema: &NUMERIC_SCHEMA,
    extensions: &[],
};

const fn number(name: &'static str, ty: AttrType) -> Attribute {
    Attribute {
        name,
        ty,
        multi_valued: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        uniqueness: Uniqueness::None,
        sub_attributes: &[],
        canonical_values: &[],
        reference_types: &[],
        description: "",
    }
}

#[test]
fn numbers_compare_numerically() {
    let r = json!({"age": 42, "score": 9.5});
    for (filter, expected) in [
        ("age eq 42", true),
        ("age eq 42.0", true),
        ("age ne 42", false),
        ("age gt 9", true), // lexicographically "42" < "9"
        ("age gt 42", false),
        ("age ge 42", true),
        ("age lt 100", true),
        ("age le 41", false),
        ("score gt 9.25", true),
        ("score lt 1e1", true),
        ("score eq 9.5", true),
        (r#"age eq "42""#, false),
    ] {
        assert_eq!(matches(filter, &r, &NUMERIC), expected, "{filter}");
    }
    assert_eq!(
        invalid(r#"age eq "42""#, &NUMERIC),
        r#""age" eq "42": "age" is a number; compare it with a number"#
    );
    assert_eq!(
        invalid("age co 4", &NUMERIC),
        r#""age" co 4: "co" applies to strings, and "age" is a number"#
    );
    assert!(
        parse_filter("age ge 1 and score lt 2.5")
            .unwrap()
            .validate(&NUMERIC)
            .is_ok()
    );
}

#[test]
fn booleans() {
    check_user(&[
        ("active eq true", true),
        ("active eq TRUE", true),
        ("active eq false", false),
        ("active ne false", true),
        ("active ne true", false),
        // The compValue's type must match the attribute's (RFC 7644 §3.4.2.2).
        (r#"active eq "true""#, false),
        ("emails[primary eq true]", true),
        (r#"emails[primary eq true].type eq "work""#, true),
        (r#"emails[primary eq true].type eq "home""#, false),
    ]);
    let inactive = json!({"userName": "x", "active": false});
    assert!(matches("active eq false", &inactive, &USER_RESOURCE));
    assert!(!matches("active eq true", &inactive, &USER_RESOURCE));
}

#[test]
fn present() {
    check_user(&[
        ("title pr", true),
        ("nickName pr", false),     // ""
        ("phoneNumbers pr", false), // []
        ("locale pr", false),       // absent
        ("emails pr", true),
        ("name pr", true),
        ("name.givenName pr", true),
        ("name.middleName pr", false),
        ("emails.type pr", true),
        ("ims.display pr", false),
        (&format!("{ENTERPRISE}:manager pr"), true),
        ("not (locale pr)", true),
    ]);
    let r = json!({"title": null, "name": {}, "emails": [null, {"value": ""}]});
    for f in ["title pr", "name pr", "emails pr", "emails.value pr"] {
        assert!(!matches(f, &r, &USER_RESOURCE), "{f}");
    }
}

#[test]
fn absent_attributes_and_null() {
    check_user(&[
        (r#"locale eq "en""#, false),
        (r#"locale ne "en""#, true),
        (r#"locale gt "a""#, false),
        (r#"locale co "e""#, false),
        ("locale eq null", true),
        ("locale ne null", false),
        ("userName eq null", false),
        ("userName ne null", true),
        (r#"name.middleName ne "x""#, true),
    ]);
}

#[test]
fn multi_valued_any_match() {
    check_user(&[
        (r#"emails co "@jensen.org""#, true),
        (r#"emails ew ".ORG""#, true),
        (r#"emails eq "bjensen@example.com""#, true),
        (r#"emails.value eq "babs@jensen.org""#, true),
        (r#"emails.value eq "nobody@jensen.org""#, false),
        (r#"emails.type eq "home""#, true),
        (r#"emails.type eq "other""#, false),
        // `ne` is "no value equals".
        (r#"emails.type ne "home""#, false),
        (r#"emails.type ne "other""#, true),
        (r#"ims eq "someaimhandle""#, true),
    ]);
    check_group(&[
        (r#"members.value eq "u2""#, true),
        (r#"members.value eq "U2""#, false), // member value is caseExact
        (r#"members eq "f648f8d5ea4e4cd38e9c""#, true),
        (r#"members.value ne "u3""#, true),
        (r#"members.value ne "u2""#, false),
        (r#"members[value eq "u2" and display eq "two"]"#, true),
        (r#"members[value eq "f648f8d5ea4e4cd38e9c" and display pr]"#, false),
    ]);
}

#[test]
fn value_paths_match_within_one_value() {
    check_user(&[
        (r#"emails[type eq "work" and value co "@example.com"]"#, true),
        // No single email is both "home" and @example.com…
        (r#"emails[type eq "home" and value co "@example.com"]"#, false),
        // …while the flat form may match across values.
        (r#"emails.type eq "home" and emails.value co "@example.com""#, true),
        (r#"emails[type eq "work"].value eq "bjensen@example.com""#, true),
        (r#"emails[type eq "work"].value eq "babs@jensen.org""#, false),
        (r#"emails[TYPE eq "WORK"].VALUE eq "BJENSEN@example.com""#, true),
        (r#"emails[not (type eq "work")].value ew "jensen.org""#, true),
        (r#"emails[type eq "work" or type eq "home"].value sw "babs""#, true),
        (r#"ims[type eq "xmpp"]"#, false),
        (r#"phoneNumbers[type eq "work"]"#, false),
        (r#"addresses[type eq "work"]"#, false),
        (r#"name[givenName eq "barbara"]"#, true),
        // Unknown sub-attribute inside the brackets, or a value path on a simple attribute.
        (r#"emails[foo eq "work"]"#, false),
        (r#"userName[value eq "x"]"#, false),
    ]);
}

#[test]
fn extension_and_urn_paths() {
    check_user(&[
        (&format!(r#"{ENTERPRISE}:employeeNumber eq "701984""#), true),
        (&format!(r#"{ENTERPRISE}:employeeNumber eq "1""#), false),
        (r#"employeeNumber eq "701984""#, true),
        (&format!(r#"{ENTERPRISE}:manager.value eq "26118915""#), true),
        (r#"manager.value eq "26118915""#, true),
        (r#"manager eq "26118915""#, true),
        (r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "B""#, true),
        (r#"URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER:userName sw "B""#, true),
        // userName is not in the enterprise schema, nor department in the core one.
        (&format!(r#"{ENTERPRISE}:userName pr"#), false),
        (r#"urn:ietf:params:scim:schemas:core:2.0:User:department pr"#, false),
        (&format!(r#"schemas eq "{ENTERPRISE}""#), true),
        (r#"schemas eq "urn:ietf:params:scim:schemas:core:2.0:Group""#, false),
    ]);
    // Extension values live under the URN key only.
    let flat = json!({"userName": "x", "employeeNumber": "701984"});
    assert!(!matches(r#"employeeNumber eq "701984""#, &flat, &USER_RESOURCE));
}

#[test]
fn attribute_names_are_case_insensitive() {
    check_user(&[
        (r#"USERNAME eq "bjensen@example.com""#, true),
        (r#"Name.GivenName eq "barbara""#, true),
        (r#"EMAILS.Value eq "babs@jensen.org""#, true),
        (r#"META.LASTMODIFIED gt "2000-01-01T00:00:00Z""#, true),
        (r#"EMPLOYEENUMBER eq "701984""#, true),
    ]);
    // …in the JSON too, including the extension's URN key.
    let odd = json!({
        "UserName": "x",
        "NAME": {"GIVENNAME": "Y"},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user": {"EmployeeNumber": "7"}
    });
    for f in [
        r#"userName eq "x""#,
        r#"name.givenName eq "y""#,
        r#"employeeNumber eq "7""#,
    ] {
        assert!(matches(f, &odd, &USER_RESOURCE), "{f}");
    }
}

#[test]
fn logic() {
    check_user(&[
        (r#"title pr and userType eq "Employee""#, true),
        (r#"title pr and userType eq "Intern""#, false),
        (r#"title pr or userType eq "Intern""#, true),
        (r#"locale pr or userType eq "Intern""#, false),
        (r#"not (userType eq "Intern")"#, true),
        (r#"not (title pr)"#, false),
        // and binds tighter: true or (false and false) = true; (true or false) and false = false.
        (r#"title pr or locale pr and timezone pr"#, true),
        (r#"(title pr or locale pr) and timezone pr"#, false),
        (
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            true,
        ),
        (
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            false,
        ),
        (r#"userType eq "Employee" and (emails.type eq "work")"#, true),
        (
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
            true,
        ),
    ]);
}

#[test]
fn unknown_attributes_never_match() {
    check_user(&[
        (r#"foo eq "x""#, false),
        (r#"foo ne "x""#, false),
        ("foo pr", false),
        (r#"not (foo eq "x")"#, true),
        (r#"name.nickName pr"#, false),
        (r#"urn:example:Other:userName pr"#, false),
    ]);
    assert!(!matches("title pr", &json!("not an object"), &USER_RESOURCE));
    assert!(!matches("title pr", &json!([{"title": "x"}]), &USER_RESOURCE));
}

#[test]
fn validate_accepts_valid_filters() {
    for f in [
        r#"userName eq "bjensen""#,
        r#"name.familyName co "O'Malley""#,
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
        "title pr",
        r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
        r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
        r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
        r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
        r#"emails[type eq "work"].value eq "x@y.com""#,
        "active eq true",
        "active ne null",
        "emails pr",
        r#"manager eq "26118915""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "1""#,
        r#"meta.created co "2010""#,
    ] {
        let parsed = parse_filter(f).unwrap();
        assert_eq!(parsed.validate(&USER_RESOURCE), Ok(()), "{f}");
    }
    for f in [
        r#"displayName eq "ws-Sales-role-admin""#,
        r#"members.value eq "x""#,
        r#"members[value eq "x"]"#,
        r#"externalId eq "x" and id eq "y""#,
    ] {
        assert_eq!(parse_filter(f).unwrap().validate(&GROUP_RESOURCE), Ok(()), "{f}");
    }
}

#[test]
fn validate_rejects_with_clear_messages() {
    let u = &USER_RESOURCE;
    let cases = [
        (r#"foo eq "x""#, r#"unknown attribute "foo" for User resources"#),
        (
            r#"title pr and name.nickName pr"#,
            r#"unknown attribute "name.nickName" for User resources"#,
        ),
        (
            "active gt true",
            r#""active" gt true: "gt" is not defined for the boolean attribute "active""#,
        ),
        (
            r#"active co "t""#,
            r#""active" co "t": "co" is not defined for the boolean attribute "active""#,
        ),
        (
            r#"active eq "true""#,
            r#""active" eq "true": "active" is a boolean; compare it with true or false"#,
        ),
        (
            r#"name eq "x""#,
            r#""name" is complex: compare one of its sub-attributes, such as name.formatted"#,
        ),
        (
            "userName eq 1",
            r#""userName" eq 1: "userName" is a string; compare it with a string in double quotes"#,
        ),
        (
            "userName gt null",
            r#""userName" gt null: "gt" needs a value to compare with, not null"#,
        ),
        (
            r#"meta.lastModified gt "yesterday""#,
            r#""meta.lastModified" gt "yesterday": "yesterday" is not an RFC 3339 timestamp such as "2011-05-13T04:42:34Z""#,
        ),
        (
            "meta.lastModified gt 5",
            r#""meta.lastModified" gt 5: "meta.lastModified" is a dateTime; compare it with a quoted RFC 3339 timestamp"#,
        ),
        (
            r#"userName[value eq "x"]"#,
            r#""userName" is not a complex attribute, so it takes no value filter "[…]""#,
        ),
        (
            r#"emails[foo eq "x"]"#,
            r#""foo" is not a sub-attribute of "emails"; inside "[…]" name sub-attributes such as value"#,
        ),
        (
            "emails[primary gt true]",
            r#""primary" gt true: "gt" is not defined for the boolean attribute "primary""#,
        ),
        (
            r#"emails[type eq "work"].foo eq "x""#,
            r#""foo" is not a sub-attribute of "emails"; inside "[…]" name sub-attributes such as value"#,
        ),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:userName eq "x""#,
            r#"unknown attribute "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:userName" for User resources"#,
        ),
    ];
    for (filter, message) in cases {
        assert_eq!(invalid(filter, u), message, "{filter}");
    }
    assert_eq!(
        invalid(r#"employeeNumber eq "1""#, &GROUP_RESOURCE),
        r#"unknown attribute "employeeNumber" for Group resources"#
    );
}

#[test]
fn simple_eq_only_for_plain_string_equality() {
    let f = parse_filter(r#"members.value eq "id-1""#).unwrap();
    let (path, value) = f.simple_eq().unwrap();
    assert_eq!(
        (path.attr.as_str(), path.sub_attr.as_deref(), value),
        ("members", Some("value"), "id-1")
    );
    for other in [
        r#"userName ne "x""#,
        r#"userName co "x""#,
        "active eq true",
        "userName eq null",
        r#"userName eq "x" and title pr"#,
        r#"not (userName eq "x")"#,
        r#"emails[value eq "x"]"#,
    ] {
        assert_eq!(parse_filter(other).unwrap().simple_eq(), None, "{other}");
    }
}

#[test]
fn conjuncts_flatten_top_level_ands_in_order() {
    let f = parse_filter(r#"userName eq "a" and (title pr and active eq true) and (b pr or c pr)"#).unwrap();
    let parts: Vec<String> = f.conjuncts().iter().map(|c| c.to_string()).collect();
    assert_eq!(
        parts,
        [r#"userName eq "a""#, "title pr", "active eq true", "b pr or c pr"]
    );
    let single = parse_filter("a pr or b pr").unwrap();
    assert_eq!(single.conjuncts(), vec![&single]);
    // The index candidate, then the full filter on it: the Entra pattern.
    let f = parse_filter(r#"title pr and externalId eq "bjensen-ext""#).unwrap();
    let indexable = f.conjuncts().into_iter().find_map(Filter::simple_eq);
    assert_eq!(
        indexable.map(|(p, v)| (p.attr.as_str(), v)),
        Some(("externalId", "bjensen-ext"))
    );
    assert!(f.matches(&user(), &USER_RESOURCE));
}
