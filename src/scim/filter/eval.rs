//! Evaluating a filter against a resource's SCIM JSON (schema checks are in `validate.rs`).
//!
//! Rules (RFC 7644 §3.4.2.2), and the choices where the RFC leaves room:
//! - JSON keys are looked up case-insensitively; extension attributes live under their schema
//!   URN key (`"urn:…:enterprise:2.0:User": {"employeeNumber": …}`).
//! - Strings compare per the attribute's `caseExact`; an attribute the schema does not know
//!   never matches (not even `ne`), and `validate` reports it.
//! - A multi-valued attribute matches when any value does; a complex multi-valued attribute
//!   compared without a sub-attribute compares its `value` (`emails co "@x"`).
//! - `ne` is `not eq`: it matches an absent attribute and, for multi-valued attributes, means
//!   "no value equals" (`members.value ne "id"`: groups without that member).
//! - `eq null` matches an absent (or null) attribute, `ne null` a present one.
//! - The compValue's JSON type must fit the attribute: `active eq "true"` never matches and
//!   `validate` rejects it (booleans compare with `true`/`false`). `gt`/`ge`/`lt`/`le` order
//!   strings lexicographically (per `caseExact`), numbers numerically and dateTimes
//!   chronologically (RFC 3339); they are undefined on booleans and complex attributes.

use std::cmp::Ordering;

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::ast::{AttrPath, CompareOp, Filter};
use crate::scim::schema::{AttrType, Attribute, Mutability, ResourceType, Returned, Uniqueness};

/// `schemas` (RFC 7643 §3) is not in the schema table but is filterable: RFC 7644's examples
/// include `schemas eq "urn:…:enterprise:2.0:User"`. URIs compare case-insensitively.
static SCHEMAS: Attribute = Attribute {
    name: "schemas",
    ty: AttrType::Reference,
    multi_valued: true,
    required: true,
    case_exact: false,
    mutability: Mutability::ReadWrite,
    returned: Returned::Always,
    uniqueness: Uniqueness::None,
    sub_attributes: &[],
    canonical_values: &[],
    reference_types: &["uri"],
    description: "The schema URIs the resource uses.",
};

/// What paths are relative to: the resource, or one value of a multi-valued attribute
/// inside `attr[…]`.
#[derive(Clone, Copy)]
pub(super) enum Scope<'a> {
    Resource(&'a ResourceType),
    Element(&'static Attribute),
}

/// A path resolved against the schema.
#[derive(Clone, Copy)]
pub(super) struct Found {
    pub attr: &'static Attribute,
    /// The sub-attribute, when the path names one.
    pub sub: Option<&'static Attribute>,
    /// The URN of the extension schema holding `attr`: its values sit under that key.
    ext: Option<&'static str>,
}

/// A path resolved to the JSON values it selects and the definition to compare them by.
struct Target<'v> {
    def: &'static Attribute,
    values: Vec<&'v Value>,
}

impl Filter {
    /// Does `resource` (a resource in its SCIM JSON form) match this filter?
    pub fn matches(&self, resource: &Value, rt: &ResourceType) -> bool {
        match resource {
            Value::Object(obj) => self.eval(obj, Scope::Resource(rt)),
            _ => false,
        }
    }

    /// The path and value when this filter is exactly `attr eq "string"`, for index lookups.
    pub fn simple_eq(&self) -> Option<(&AttrPath, &str)> {
        match self {
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                value: Value::String(s),
            } => Some((path, s)),
            _ => None,
        }
    }

    /// The operands of the top-level `and`s (the filter itself when it is no `and`), left to
    /// right: the caller may serve one from an index, then evaluate the whole filter.
    pub fn conjuncts(&self) -> Vec<&Filter> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(f) = stack.pop() {
            match f {
                Filter::And(l, r) => {
                    stack.push(r);
                    stack.push(l);
                }
                other => out.push(other),
            }
        }
        out
    }

    fn eval(&self, obj: &Map<String, Value>, scope: Scope<'_>) -> bool {
        match self {
            Filter::And(l, r) => l.eval(obj, scope) && r.eval(obj, scope),
            Filter::Or(l, r) => l.eval(obj, scope) || r.eval(obj, scope),
            Filter::Not(inner) => !inner.eval(obj, scope),
            Filter::Present(path) => {
                let Some(found) = resolve(scope, path) else {
                    return false;
                };
                values(obj, found, found.sub).iter().any(|v| present(v))
            }
            Filter::Compare { path, op, value } => {
                let Some(target) = target(obj, scope, path) else {
                    return false;
                };
                let any = |op| target.values.iter().any(|v| compare(target.def, v, op, value));
                match op {
                    // Only non-null values are collected: `eq null` means absent.
                    CompareOp::Eq if value.is_null() => target.values.is_empty(),
                    CompareOp::Ne if value.is_null() => !target.values.is_empty(),
                    CompareOp::Ne => !any(CompareOp::Eq),
                    op => any(*op),
                }
            }
            Filter::ValuePath { attr, filter } => {
                let Some(found) = resolve(scope, attr) else {
                    return false;
                };
                if found.sub.is_some() || found.attr.ty != AttrType::Complex {
                    return false;
                }
                let def = found.attr;
                values(obj, found, None)
                    .iter()
                    .filter_map(|v| v.as_object())
                    .any(|element| filter.eval(element, Scope::Element(def)))
            }
        }
    }
}

/// Resolves `path` in `scope`.
pub(super) fn resolve(scope: Scope<'_>, path: &AttrPath) -> Option<Found> {
    match scope {
        Scope::Resource(rt) => {
            let Some(r) = rt.resolve(path) else {
                let core = path
                    .schema
                    .as_ref()
                    .is_none_or(|s| s.eq_ignore_ascii_case(rt.schema.id));
                return (core && path.sub_attr.is_none() && path.attr.eq_ignore_ascii_case("schemas")).then_some(
                    Found {
                        attr: &SCHEMAS,
                        sub: None,
                        ext: None,
                    },
                );
            };
            Some(Found {
                attr: r.attribute,
                sub: r.sub_attribute,
                ext: r.extension.map(|s| s.id),
            })
        }
        // Inside `emails[…]` a path names a sub-attribute of an email, nothing deeper.
        Scope::Element(parent) => {
            if path.schema.is_some() || path.sub_attr.is_some() {
                return None;
            }
            Some(Found {
                attr: parent.sub_attribute(&path.attr)?,
                sub: None,
                ext: None,
            })
        }
    }
}

/// The definition a comparison uses: the sub-attribute, else the attribute itself, else (for a
/// complex attribute) its `value` sub-attribute; `None` for a complex one without `value`.
pub(super) fn compared(attr: &'static Attribute, sub: Option<&'static Attribute>) -> Option<&'static Attribute> {
    match sub {
        Some(sub) => Some(sub),
        None if attr.ty == AttrType::Complex => attr.sub_attribute("value"),
        None => Some(attr),
    }
}

/// The non-null JSON values of `found.attr` (or of its sub-attribute `sub`), arrays flattened.
fn values<'v>(obj: &'v Map<String, Value>, found: Found, sub: Option<&Attribute>) -> Vec<&'v Value> {
    let container = match found.ext {
        Some(urn) => match get(obj, urn) {
            Some(Value::Object(ext)) => ext,
            _ => return Vec::new(),
        },
        None => obj,
    };
    let mut out = Vec::new();
    let Some(top) = get(container, found.attr.name) else {
        return out;
    };
    let top: Vec<&Value> = flatten(top);
    match sub {
        None => out = top,
        Some(sub) => {
            for v in top {
                if let Some(inner) = v.as_object().and_then(|o| get(o, sub.name)) {
                    out.extend(flatten(inner));
                }
            }
        }
    }
    out
}

/// The values a comparison sees: a complex attribute without a sub-attribute compares `value`.
fn target<'v>(obj: &'v Map<String, Value>, scope: Scope<'_>, path: &AttrPath) -> Option<Target<'v>> {
    let found = resolve(scope, path)?;
    let def = compared(found.attr, found.sub)?;
    // `emails eq "x"` compares each email's `value`, so select that sub-attribute.
    let sub = if found.sub.is_none() && found.attr.ty == AttrType::Complex {
        Some(def)
    } else {
        found.sub
    };
    Some(Target {
        def,
        values: values(obj, found, sub),
    })
}

fn flatten(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().filter(|v| !v.is_null()).collect(),
        Value::Null => Vec::new(),
        v => vec![v],
    }
}

/// `obj[key]`, the key compared case-insensitively (an exact match wins).
fn get<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    obj.get(key)
        .or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

/// `pr`: present and not null, not "", not an empty array or object.
fn present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => a.iter().any(present),
        Value::Object(o) => o.values().any(present),
        _ => true,
    }
}

/// One stored value `v` against the filter's `value` (never called with `ne`).
fn compare(def: &Attribute, v: &Value, op: CompareOp, value: &Value) -> bool {
    match (v, value) {
        (Value::String(a), Value::String(b)) => {
            if def.ty == AttrType::DateTime
                && let (Ok(a), Ok(b)) = (a.parse::<Timestamp>(), b.parse::<Timestamp>())
            {
                return ordered(a.cmp(&b), op);
            }
            compare_str(a, b, def.case_exact, op)
        }
        (Value::Number(a), Value::Number(b)) => match (a.as_i64(), b.as_i64()) {
            (Some(a), Some(b)) => ordered(a.cmp(&b), op),
            _ => match (a.as_f64(), b.as_f64()) {
                (Some(a), Some(b)) => a.partial_cmp(&b).is_some_and(|o| ordered(o, op)),
                _ => false,
            },
        },
        (Value::Bool(a), Value::Bool(b)) => op == CompareOp::Eq && a == b,
        _ => false,
    }
}

/// `eq`/`gt`/`ge`/`lt`/`le` from an ordering; `co`/`sw`/`ew` are string-only.
fn ordered(o: Ordering, op: CompareOp) -> bool {
    match op {
        CompareOp::Eq => o.is_eq(),
        CompareOp::Ne => o.is_ne(),
        CompareOp::Gt => o.is_gt(),
        CompareOp::Ge => o.is_ge(),
        CompareOp::Lt => o.is_lt(),
        CompareOp::Le => o.is_le(),
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

/// `s` lower-cased lazily, for allocation-free case-insensitive ordering.
fn lower(s: &str) -> impl Iterator<Item = char> + '_ {
    s.chars().flat_map(char::to_lowercase)
}

fn compare_str(a: &str, b: &str, case_exact: bool, op: CompareOp) -> bool {
    if case_exact {
        return match op {
            CompareOp::Co => a.contains(b),
            CompareOp::Sw => a.starts_with(b),
            CompareOp::Ew => a.ends_with(b),
            op => ordered(a.cmp(b), op),
        };
    }
    // Unicode lower-casing, so "ÉLODIE" equals "élodie" too.
    match op {
        CompareOp::Co => a.to_lowercase().contains(&b.to_lowercase()),
        CompareOp::Sw => a.to_lowercase().starts_with(&b.to_lowercase()),
        CompareOp::Ew => a.to_lowercase().ends_with(&b.to_lowercase()),
        op => ordered(lower(a).cmp(lower(b)), op),
    }
}
