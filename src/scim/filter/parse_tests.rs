//! Parser tests: every grammar form, precedence, the RFC's examples, client forms, errors.

use serde_json::{Value, json};

use super::{AttrPath, CompareOp, Filter, PatchPath, parse_filter, parse_patch_path};
use CompareOp::*;

fn path(attr: &str) -> AttrPath {
    AttrPath::new(attr)
}

fn sub(attr: &str, sub: &str) -> AttrPath {
    AttrPath {
        sub_attr: Some(sub.into()),
        ..AttrPath::new(attr)
    }
}

fn urn(schema: &str, attr: &str) -> AttrPath {
    AttrPath {
        schema: Some(schema.into()),
        ..AttrPath::new(attr)
    }
}

fn cmp(path: AttrPath, op: CompareOp, value: Value) -> Filter {
    Filter::Compare { path, op, value }
}

fn pr(attr: &str) -> Filter {
    Filter::Present(path(attr))
}

fn and(l: Filter, r: Filter) -> Filter {
    Filter::And(Box::new(l), Box::new(r))
}

fn or(l: Filter, r: Filter) -> Filter {
    Filter::Or(Box::new(l), Box::new(r))
}

fn not(f: Filter) -> Filter {
    Filter::Not(Box::new(f))
}

fn vp(attr: AttrPath, f: Filter) -> Filter {
    Filter::ValuePath {
        attr,
        filter: Box::new(f),
    }
}

fn parse(input: &str) -> Filter {
    parse_filter(input).unwrap_or_else(|e| panic!("{input}: {e}"))
}

fn err(input: &str) -> String {
    match parse_filter(input) {
        Ok(f) => panic!("{input} parsed as {f:?}"),
        Err(e) => e.0,
    }
}

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

#[test]
fn every_operator() {
    for (text, op) in [
        ("eq", Eq),
        ("ne", Ne),
        ("co", Co),
        ("sw", Sw),
        ("ew", Ew),
        ("gt", Gt),
        ("ge", Ge),
        ("lt", Lt),
        ("le", Le),
    ] {
        assert_eq!(
            parse(&format!("title {text} \"x\"")),
            cmp(path("title"), op, json!("x"))
        );
        assert_eq!(
            parse(&format!("title {} \"x\"", text.to_uppercase())),
            cmp(path("title"), op, json!("x"))
        );
    }
    assert_eq!(parse("title pr"), pr("title"));
    assert_eq!(parse("title PR"), pr("title"));
}

#[test]
fn values() {
    let v = |input: &str| match parse(&format!("a eq {input}")) {
        Filter::Compare { value, .. } => value,
        f => panic!("{f:?}"),
    };
    assert_eq!(v("true"), json!(true));
    assert_eq!(v("False"), json!(false));
    assert_eq!(v("NULL"), Value::Null);
    assert_eq!(v("42"), json!(42));
    assert_eq!(v("-7"), json!(-7));
    assert_eq!(v("1.5"), json!(1.5));
    assert_eq!(v("2e3"), json!(2000.0));
    assert_eq!(v("1E-2"), json!(0.01));
    // Correctly rounded (serde_json's default float parsing is off by an ulp here).
    assert_eq!(v("1.9366897190842377e166"), json!(1.9366897190842377e166));
    assert_eq!(v(r#""O'Malley""#), json!("O'Malley"));
    assert_eq!(v(r#""say \"hi\"""#), json!("say \"hi\""));
    assert_eq!(v(r#""\u00e9\ud83d\ude00\/\t""#), json!("é😀/\t"));
    assert_eq!(v(r#""""#), json!(""));
    assert_eq!(v(r#""a and b or (c)""#), json!("a and b or (c)"));
}

#[test]
fn precedence_and_grouping() {
    let (a, b, c) = (pr("a"), pr("b"), pr("c"));
    assert_eq!(parse("a pr or b pr and c pr"), or(a.clone(), and(b.clone(), c.clone())));
    assert_eq!(parse("a pr and b pr or c pr"), or(and(a.clone(), b.clone()), c.clone()));
    assert_eq!(
        parse("(a pr or b pr) and c pr"),
        and(or(a.clone(), b.clone()), c.clone())
    );
    // Same-operator chains group to the left.
    assert_eq!(
        parse("a pr and b pr and c pr"),
        and(and(a.clone(), b.clone()), c.clone())
    );
    assert_eq!(parse("a pr or b pr or c pr"), or(or(a.clone(), b.clone()), c.clone()));
    assert_eq!(parse("((a pr))"), a.clone());
    assert_eq!(parse("  a pr\t\n"), a.clone());
    assert_eq!(parse("(a pr)and(b pr)"), and(a.clone(), b.clone()));
}

#[test]
fn not_and_keywords_in_any_case() {
    assert_eq!(parse("not (a pr)"), not(pr("a")));
    assert_eq!(parse("NOT(a pr)"), not(pr("a")));
    assert_eq!(
        parse("Not (a pr Or b pr) AnD c pr"),
        and(not(or(pr("a"), pr("b"))), pr("c"))
    );
    assert_eq!(parse("not (not (a pr))"), not(not(pr("a"))));
    // Keywords are keywords only where one is expected: these are attribute names.
    assert_eq!(parse("not pr"), pr("not"));
    assert_eq!(parse("and eq 1"), cmp(path("and"), Eq, json!(1)));
    assert_eq!(parse("or pr or pr pr"), or(pr("or"), pr("pr")));
}

#[test]
fn attribute_paths() {
    assert_eq!(
        parse(r#"name.familyName co "O'Malley""#),
        cmp(sub("name", "familyName"), Co, json!("O'Malley"))
    );
    assert_eq!(parse(r#"UserName Eq "x""#), cmp(path("UserName"), Eq, json!("x")));
    assert_eq!(
        parse(r#"x-custom_Attr2 eq "x""#),
        cmp(path("x-custom_Attr2"), Eq, json!("x"))
    );
    assert_eq!(
        parse(r#"members.$ref eq "x""#),
        cmp(sub("members", "$ref"), Eq, json!("x"))
    );
    assert_eq!(
        parse(&format!(r#"{ENTERPRISE}:employeeNumber eq "42""#)),
        cmp(urn(ENTERPRISE, "employeeNumber"), Eq, json!("42"))
    );
    assert_eq!(
        parse(&format!(r#"{CORE_USER}:userName sw "J""#)),
        cmp(urn(CORE_USER, "userName"), Sw, json!("J"))
    );
    assert_eq!(
        parse(&format!(r#"{ENTERPRISE}:manager.value eq "m""#)),
        cmp(
            AttrPath {
                schema: Some(ENTERPRISE.into()),
                attr: "manager".into(),
                sub_attr: Some("value".into()),
            },
            Eq,
            json!("m")
        )
    );
}

#[test]
fn value_paths() {
    assert_eq!(
        parse(r#"emails[type eq "work" and primary eq true]"#),
        vp(
            path("emails"),
            and(
                cmp(path("type"), Eq, json!("work")),
                cmp(path("primary"), Eq, json!(true))
            )
        )
    );
    assert_eq!(
        parse(r#"emails[not (type eq "work")] or a pr"#),
        or(vp(path("emails"), not(cmp(path("type"), Eq, json!("work")))), pr("a"))
    );
    assert_eq!(
        parse(&format!(r#"{CORE_USER}:emails[type eq "work"]"#)),
        vp(urn(CORE_USER, "emails"), cmp(path("type"), Eq, json!("work")))
    );
    assert_eq!(
        parse(r#"emails[(type eq "a" or type eq "b")]"#),
        vp(
            path("emails"),
            or(cmp(path("type"), Eq, json!("a")), cmp(path("type"), Eq, json!("b")))
        )
    );
}

#[test]
fn value_path_with_sub_attribute_becomes_a_conjunction_inside() {
    assert_eq!(
        parse(r#"emails[type eq "work"].value eq "x@y.com""#),
        vp(
            path("emails"),
            and(
                cmp(path("type"), Eq, json!("work")),
                cmp(path("value"), Eq, json!("x@y.com"))
            )
        )
    );
    assert_eq!(
        parse(r#"emails[type eq "a" or type eq "b"].value pr"#),
        vp(
            path("emails"),
            and(
                or(cmp(path("type"), Eq, json!("a")), cmp(path("type"), Eq, json!("b"))),
                pr("value")
            )
        )
    );
}

#[test]
fn entra_and_okta_filters() {
    for (input, attr, value) in [
        (
            r#"userName eq "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee""#,
            "userName",
            "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
        ),
        (
            r#"externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef""#,
            "externalId",
            "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        ),
        (
            r#"displayName eq "ws-Sales-role-admin""#,
            "displayName",
            "ws-Sales-role-admin",
        ),
        (
            r#"userName eq "test.user@okta.local""#,
            "userName",
            "test.user@okta.local",
        ),
    ] {
        let f = parse(input);
        assert_eq!(f, cmp(path(attr), Eq, json!(value)));
        assert_eq!(f.simple_eq(), Some((&path(attr), value)));
    }
    let f = parse(r#"emails[type eq "work"].value eq "x@y.com""#);
    assert_eq!(f.simple_eq(), None);
    assert!(matches!(f, Filter::ValuePath { .. }));
}

/// Every example filter of RFC 7644 §3.4.2.2.
#[test]
fn rfc_7644_examples_parse() {
    let examples = [
        r#"userName eq "bjensen""#,
        r#"name.familyName co "O'Malley""#,
        r#"userName sw "J""#,
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
        r#"title pr"#,
        r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
        r#"title pr and userType eq "Employee""#,
        r#"title pr or userType eq "Intern""#,
        r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
        r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
        r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
        r#"userType eq "Employee" and (emails.type eq "work")"#,
        r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
        r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
    ];
    for input in examples {
        let f = parse(input);
        // And the canonical form means the same thing.
        assert_eq!(parse(&f.to_string()), f, "{input}");
    }
    assert_eq!(
        parse(examples[13]),
        and(
            cmp(path("userType"), Ne, json!("Employee")),
            not(or(
                cmp(path("emails"), Co, json!("example.com")),
                cmp(sub("emails", "value"), Co, json!("example.org"))
            ))
        )
    );
}

/// Unquoted values, as Microsoft's documentation and test collection write them: a bare word is
/// a string unless it reads as true, false, null or a number.
#[test]
fn bare_words_are_string_values() {
    assert_eq!(parse("userName sw O"), cmp(path("userName"), Sw, json!("O")));
    assert_eq!(
        parse("externalId eq jyoung"),
        cmp(path("externalId"), Eq, json!("jyoung"))
    );
    assert_eq!(
        parse("meta.lastModified gt 2015-10-10T14:38:21.8617979-07:00"),
        cmp(
            sub("meta", "lastModified"),
            Gt,
            json!("2015-10-10T14:38:21.8617979-07:00")
        )
    );
    assert_eq!(
        parse("name.FamilyName eq Employee and (emails.Value co example.com or emails.Value co a@example.org)"),
        and(
            cmp(sub("name", "FamilyName"), Eq, json!("Employee")),
            or(
                cmp(sub("emails", "Value"), Co, json!("example.com")),
                cmp(sub("emails", "Value"), Co, json!("a@example.org"))
            )
        )
    );
    assert_eq!(
        parse("emails[type eq work]"),
        vp(path("emails"), cmp(path("type"), Eq, json!("work")))
    );
    // Literals keep their meaning; a word that is not a JSON number is a string.
    assert_eq!(parse("active eq True"), cmp(path("active"), Eq, json!(true)));
    assert_eq!(parse("a eq -1.5"), cmp(path("a"), Eq, json!(-1.5)));
    assert_eq!(parse("a eq 01"), cmp(path("a"), Eq, json!("01")));
    assert_eq!(parse("a eq null"), cmp(path("a"), Eq, Value::Null));
    // A quoted value works as before, and the canonical form quotes it.
    assert_eq!(parse("title eq Employee"), parse(r#"title eq "Employee""#));
    assert_eq!(parse("title eq Employee").to_string(), r#"title eq "Employee""#);
}

#[test]
fn syntax_errors_say_where_and_what() {
    let cases = [
        ("", "the filter is empty"),
        ("  \t", "the filter is empty"),
        (
            "userName",
            r#"expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) after "userName" at position 9, found the end of the input"#,
        ),
        (
            r#"userName foo "x""#,
            r#"expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) after "userName" at position 10, found "foo""#,
        ),
        (
            "userName eq",
            r#"expected a value (a string, a number, true, false or null) after "eq" at position 12, found the end of the input"#,
        ),
        (
            "userName eq )",
            r#"expected a value (a string, a number, true, false or null) after "eq" at position 13, found ")""#,
        ),
        (
            r#"userName eq "x" foo"#,
            r#"expected "and", "or" or the end of the filter at position 17, found "foo""#,
        ),
        (
            r#"title pr "x""#,
            r#""pr" takes no value, but the string "x" follows it at position 10"#,
        ),
        (
            "title pr true",
            r#""pr" takes no value, but "true" follows it at position 10"#,
        ),
        (
            "(a pr",
            r#"expected "and", "or" or ")" at position 6, found the end of the input"#,
        ),
        (
            "a pr)",
            r#"expected "and", "or" or the end of the filter at position 5, found ")""#,
        ),
        ("not a pr", r#"expected "(" after "not" at position 5, found "a""#),
        (
            "not",
            r#"expected "(" after "not" at position 4, found the end of the input"#,
        ),
        (
            "a pr and",
            r#"expected an attribute path, "not" or "(" at position 9, found the end of the input"#,
        ),
        (
            "()",
            r#"expected an attribute path, "not" or "(" at position 2, found ")""#,
        ),
        (
            r#""userName" eq "x""#,
            r#"expected an attribute path, "not" or "(" at position 1, found the string "userName""#,
        ),
        (
            r#"a eq "x"#,
            r#"unterminated string starting at position 6: add the closing '"'"#,
        ),
        (
            r#"emails[type eq "work""#,
            r#"expected "and", "or" or "]" at position 22, found the end of the input"#,
        ),
        (
            "emails[]",
            r#"expected an attribute path, "not" or "(" at position 8, found "]""#,
        ),
        (
            r#"emails[type eq "work"] eq "x""#,
            r#"expected "and", "or" or the end of the filter at position 24, found "eq""#,
        ),
        (
            r#"emails[type eq "work"] .value eq "x""#,
            r#"expected "and", "or" or the end of the filter at position 24, found ".value""#,
        ),
        (
            "emails[types[x pr]]",
            r#"a value filter cannot contain another value filter ("[") at position 13"#,
        ),
        (
            "name.givenName[x pr]",
            r#"a value filter "[…]" applies to an attribute, not to the sub-attribute "givenName" at position 1"#,
        ),
        (
            "1abc eq 1",
            r#"invalid attribute name "1abc" at position 1: a name starts with a letter and has only letters, digits, "-" and "_""#,
        ),
        (
            "a.b.c eq 1",
            r#"invalid sub-attribute name "b.c" at position 3: a name starts with a letter and has only letters, digits, "-" and "_""#,
        ),
        (
            r#"emails[type eq "work"].1 eq "x""#,
            r#"invalid sub-attribute name "1" at position 24: a name starts with a letter and has only letters, digits, "-" and "_""#,
        ),
        (
            "foo:bar eq 1",
            r#"invalid attribute path "foo:bar" at position 1: a qualified path is a schema URN (urn:…), ":" and an attribute name"#,
        ),
        ("urn:a:b: eq 1", "missing attribute name at position 9"),
        ("a. eq 1", "missing sub-attribute name at position 3"),
    ];
    for (input, message) in cases {
        assert_eq!(err(input), message, "{input}");
    }
}

#[test]
fn security_bounds() {
    // Nesting: 64 levels parse, 65 do not, and deep hostile input fails fast.
    let nested = |n: usize| format!("{}a pr{}", "(".repeat(n), ")".repeat(n));
    assert_eq!(parse(&nested(64)), pr("a"));
    assert_eq!(
        err(&nested(65)),
        "the filter nests deeper than 64 levels at position 65"
    );
    assert_eq!(
        err(&"not (".repeat(100)),
        "the filter nests deeper than 64 levels at position 325"
    );
    let brackets = format!("e[{}a pr{}]", "(".repeat(63), ")".repeat(63));
    assert!(parse_filter(&brackets).is_ok());
    let brackets = format!("e[{}a pr{}]", "(".repeat(64), ")".repeat(64));
    assert!(err(&brackets).starts_with("the filter nests deeper than 64 levels"));
    // Length: 4096 bytes are fine, one more is not.
    let long = |n: usize| format!("a eq \"{}\"", "x".repeat(n - 7));
    assert!(parse_filter(&long(4096)).is_ok());
    assert_eq!(
        err(&long(4097)),
        "the filter is 4097 bytes long; at most 4096 are accepted"
    );
    // A long flat chain is fine (no recursion per operand) and stays left-grouped.
    let chain = vec!["a pr"; 400].join(" and ");
    assert_eq!(parse(&chain).conjuncts().len(), 400);
    // The deepest tree the length bound allows (a left-grouped `or` chain of 512) can be
    // evaluated, validated, printed, compared and dropped without exhausting the stack.
    let widest = vec!["a pr"; 512].join(" or ");
    assert!(widest.len() <= 4096);
    let f = parse(&widest);
    assert!(!f.matches(&json!({}), &crate::scim::schema::USER_RESOURCE));
    assert!(f.validate(&crate::scim::schema::USER_RESOURCE).is_err());
    assert_eq!(parse(&f.to_string()), f);
    // Error messages do not echo unbounded input.
    let e = err(&format!("{} foo", "y".repeat(1000)));
    assert!(e.len() < 250, "{e}");
}

#[test]
fn patch_paths() {
    let pp = |input: &str| parse_patch_path(input).unwrap_or_else(|e| panic!("{input}: {e}"));
    assert_eq!(
        pp("members"),
        PatchPath {
            attr: path("members"),
            value_filter: None,
            sub_attr: None
        }
    );
    assert_eq!(
        pp("name.givenName"),
        PatchPath {
            attr: sub("name", "givenName"),
            value_filter: None,
            sub_attr: None
        }
    );
    assert_eq!(
        pp(r#"members[value eq "7f4bc1a3-285e-48ae-8202-5accb43efb0e"]"#),
        PatchPath {
            attr: path("members"),
            value_filter: Some(cmp(path("value"), Eq, json!("7f4bc1a3-285e-48ae-8202-5accb43efb0e"))),
            sub_attr: None
        }
    );
    assert_eq!(
        pp(r#"emails[type EQ "work" and primary eq true].value"#),
        PatchPath {
            attr: path("emails"),
            value_filter: Some(and(
                cmp(path("type"), Eq, json!("work")),
                cmp(path("primary"), Eq, json!(true))
            )),
            sub_attr: Some("value".into())
        }
    );
    assert_eq!(
        pp(&format!("{ENTERPRISE}:manager")),
        PatchPath {
            attr: urn(ENTERPRISE, "manager"),
            value_filter: None,
            sub_attr: None
        }
    );
    // A bare schema URN splits at its last ":"; the PATCH engine must recognise it.
    assert_eq!(
        pp(ENTERPRISE).attr,
        urn("urn:ietf:params:scim:schemas:extension:enterprise:2.0", "User")
    );
}

#[test]
fn patch_path_errors() {
    let e = |input: &str| parse_patch_path(input).unwrap_err().0;
    assert_eq!(e(""), "the path is empty");
    assert_eq!(
        e(r#"members[value eq "x"] x"#),
        r#"unexpected "x" at position 23 after the path; a path is attr, attr[filter] or attr[filter].subAttr"#
    );
    assert_eq!(
        e("members eq 1"),
        r#"unexpected "eq" at position 9 after the path; a path is attr, attr[filter] or attr[filter].subAttr"#
    );
    assert_eq!(
        e(r#"a[b pr].c.d"#),
        r#"invalid sub-attribute name "c.d" at position 9: a name starts with a letter and has only letters, digits, "-" and "_""#
    );
    assert_eq!(
        e(r#"members[value eq "x"]."#),
        "missing sub-attribute name at position 23"
    );
    assert_eq!(
        e(r#"members[value eq "x""#),
        r#"expected "and", "or" or "]" at position 21, found the end of the input"#
    );
    assert_eq!(
        e(r#"a[b[c pr]]"#),
        r#"a value filter cannot contain another value filter ("[") at position 4"#
    );
    assert_eq!(
        e(r#""members""#),
        r#"expected a path at position 1, found the string "members""#
    );
}
