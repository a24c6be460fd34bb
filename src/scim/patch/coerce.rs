//! Value coercion by schema: what a client sent → what we store.
//!
//! Shared by PATCH values and POST/PUT bodies so both accept the same client quirks:
//! `"True"`/`"False"` strings for Booleans, nulls (= unassigned), stringified role objects,
//! `displayName` for `display`, a bare-string or array-of-one `manager`, case-insensitive
//! sub-attribute names. `None` means "unassigned" (null, empty array, empty object).

use serde_json::{Map, Value};

use super::error::{PatchError, kind};
use crate::scim::schema::{AttrType, Attribute};

/// Sub-attribute names that were not in the schema and were dropped (`"roles.id"`).
pub(super) type Dropped = Vec<String>;

/// A whole attribute value: an array for multi-valued attributes, else one value.
pub(super) fn attr_value(attr: &Attribute, v: Value, dropped: &mut Dropped) -> Result<Option<Value>, PatchError> {
    if !attr.multi_valued {
        return element(attr, v, dropped);
    }
    let items = match v {
        Value::Null => return Ok(None),
        Value::Array(items) => items,
        // One object where an array is expected: a common client slip, harmless to accept.
        obj @ Value::Object(_) => vec![obj],
        id @ Value::String(_) if takes_bare_ids(attr) => vec![id],
        other => return Err(not_array(attr, &other)),
    };
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for item in items {
        let bare_id = item.is_string() && takes_bare_ids(attr);
        if attr.ty == AttrType::Complex && !item.is_object() && !item.is_null() && !bare_id {
            return Err(not_array(attr, &item));
        }
        let Some(item) = element(attr, item, dropped)? else {
            continue;
        };
        // Duplicates in one request collapse into the first occurrence.
        match out.iter_mut().find(|e| same_value(attr, e, &item)) {
            Some(existing) => merge(existing, item),
            None => out.push(item),
        }
    }
    Ok((!out.is_empty()).then_some(Value::Array(out)))
}

/// One value: an item of a multi-valued attribute, or the value of a single-valued one.
pub(super) fn element(attr: &Attribute, v: Value, dropped: &mut Dropped) -> Result<Option<Value>, PatchError> {
    if attr.ty != AttrType::Complex {
        return simple(attr, attr.name, v);
    }
    let has_value_sub = attr.sub_attribute("value").is_some();
    let obj = match v {
        Value::Null => return Ok(None),
        Value::Object(obj) => obj,
        // Entra sends `manager` as a bare id string; some clients send members so.
        Value::String(s) if has_value_sub && (!attr.multi_valued || takes_bare_ids(attr)) => {
            Map::from_iter([("value".to_string(), Value::String(s))])
        }
        // …or as an array of one object (the documented legacy form).
        Value::Array(mut items) if !attr.multi_valued && items.len() <= 1 => {
            return match items.pop() {
                Some(item) => element(attr, item, dropped),
                None => Ok(None),
            };
        }
        other if attr.multi_valued => return Err(not_array(attr, &other)),
        other => {
            return Err(PatchError::InvalidValue(format!(
                "attribute \"{}\" value must be an object, got {}",
                attr.name,
                kind(&other)
            )));
        }
    };
    let obj = unwrap_stringified(attr, obj);
    let mut out = Map::new();
    for (key, value) in obj {
        let sub = attr.sub_attribute(&key).or_else(|| {
            // Entra's AppRoleAssignmentsComplex items say `displayName` where the schema says `display`.
            let alias = key.eq_ignore_ascii_case("displayName");
            alias.then(|| attr.sub_attribute("display")).flatten()
        });
        let Some(sub) = sub else {
            dropped.push(format!("{}.{key}", attr.name));
            continue;
        };
        if out.contains_key(sub.name) {
            continue; // the canonical spelling, seen first, wins over an alias
        }
        let label = format!("{}.{}", attr.name, sub.name);
        if let Some(value) = simple(sub, &label, value)? {
            out.insert(sub.name.to_string(), value);
        }
    }
    Ok((!out.is_empty()).then_some(Value::Object(out)))
}

/// Whether items of `attr` may be given as their id alone (`"members": "<id>"` or
/// `["<id>", …]`, as Microsoft's reference tests and hand-written clients send). Only `members`:
/// for `emails` and the like a bare string is more likely a mistake than an id.
fn takes_bare_ids(attr: &Attribute) -> bool {
    attr.name == "members"
}

/// A value of a non-complex attribute or sub-attribute, checked against its type.
pub(super) fn simple(attr: &Attribute, label: &str, v: Value) -> Result<Option<Value>, PatchError> {
    let bad = |v: &Value, want: &str| {
        PatchError::InvalidValue(format!("attribute \"{label}\" must be {want}, got {}", kind(v)))
    };
    match (attr.ty, v) {
        (_, Value::Null) => Ok(None),
        (AttrType::Complex, v) => Err(bad(&v, "an object")),
        (AttrType::Boolean, Value::Bool(b)) => Ok(Some(Value::Bool(b))),
        // Entra's default (un-flagged) PATCH sends "True"/"False".
        (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(Value::Bool(true))),
        (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(Value::Bool(false))),
        (AttrType::Boolean, v) => Err(bad(&v, "a boolean (true/false)")),
        (AttrType::Integer | AttrType::Decimal, Value::Number(n)) => Ok(Some(Value::Number(n))),
        (AttrType::Integer | AttrType::Decimal, v) => Err(bad(&v, "a number")),
        (_, Value::String(s)) => Ok(Some(Value::String(s))),
        // A numeric employeeNumber is still an employee number.
        (_, Value::Number(n)) => Ok(Some(Value::String(n.to_string()))),
        (_, v) => Err(bad(&v, "a string")),
    }
}

/// Whether two items of a multi-valued attribute are "the same value": equal `value`
/// sub-attributes (compared per `caseExact`), or equal as a whole when there is no `value`.
pub(super) fn same_value(attr: &Attribute, a: &Value, b: &Value) -> bool {
    let (Some(x), Some(y)) = (a.get("value"), b.get("value")) else {
        return a == b;
    };
    let case_exact = attr.sub_attribute("value").is_some_and(|s| s.case_exact);
    match (x.as_str(), y.as_str()) {
        (Some(x), Some(y)) if !case_exact => x.eq_ignore_ascii_case(y),
        _ => x == y,
    }
}

/// Copies `from`'s sub-attributes over `into` (both objects; otherwise `from` replaces `into`).
pub(super) fn merge(into: &mut Value, from: Value) {
    match (into.as_object_mut(), from) {
        (Some(dst), Value::Object(src)) => dst.extend(src),
        (_, from) => *into = from,
    }
}

/// Entra's AppRoleAssignmentsComplex PATCH sends `{"value": "{\"id\":…,\"value\":\"Admin\",
/// \"displayName\":\"Admin\"}"}`: the real item is JSON inside the string. Unwrap it, keeping
/// the outer item's other sub-attributes (`type`, `primary`).
fn unwrap_stringified(attr: &Attribute, mut obj: Map<String, Value>) -> Map<String, Value> {
    if !attr.multi_valued {
        return obj;
    }
    let Some(key) = obj.keys().find(|k| k.eq_ignore_ascii_case("value")).cloned() else {
        return obj;
    };
    let inner = match obj.get(&key).and_then(Value::as_str) {
        Some(s) if s.trim_start().starts_with('{') => serde_json::from_str::<Value>(s).ok(),
        _ => None,
    };
    let Some(Value::Object(inner)) = inner else {
        return obj;
    };
    if !inner.keys().any(|k| k.eq_ignore_ascii_case("value")) {
        return obj;
    }
    obj.remove(&key);
    for (k, v) in inner {
        // `id` is Entra's app-role id; roles are keyed on `value`.
        if !k.eq_ignore_ascii_case("id") && !obj.keys().any(|o| o.eq_ignore_ascii_case(&k)) {
            obj.insert(k, v);
        }
    }
    obj
}

fn not_array(attr: &Attribute, got: &Value) -> PatchError {
    let what = if attr.ty == AttrType::Complex {
        "an array of objects"
    } else {
        "an array"
    };
    PatchError::InvalidValue(format!(
        "attribute \"{}\" value must be {what}, got {}",
        attr.name,
        kind(got)
    ))
}
