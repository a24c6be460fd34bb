//! add / remove / replace on one resolved attribute (RFC 7644 §3.5.2.1–3).

use serde_json::{Map, Value};

use super::bridge;
use super::coerce::{attr_value, element, merge, same_value, simple};
use super::error::PatchError;
use super::target::{AttrTarget, eq_terms};
use crate::scim::schema::{AttrType, ResourceType, Schema};

/// A PATCH operation's `op`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Add,
    Remove,
    Replace,
}

/// Applies `op` with the client's `value` (`None`: absent, for `remove`) to the target.
pub(super) fn apply_attr(
    doc: &mut Map<String, Value>,
    t: &AttrTarget,
    op: Op,
    value: Option<Value>,
    rt: &ResourceType,
) -> Result<(), PatchError> {
    let whole = t.filter.is_none() && t.sub.is_none();
    // A value on `remove` only means something for `members` + `[{"value": …}]` (Entra).
    let value_list = op == Op::Remove && whole && t.attr.multi_valued && value.as_ref().is_some_and(|v| !v.is_null());
    let value = match value {
        Some(v) if op != Op::Remove || value_list => coerce_for(t, v)?,
        _ => None,
    };
    if value_list && value.is_none() {
        // `[]` or `[{"$ref": null}]`: nothing named, nothing removed (never "all members").
        return Ok(());
    }
    let unassigns = (op == Op::Remove && !value_list) || (op == Op::Replace && value.is_none());
    if t.attr.required && whole && unassigns {
        return Err(PatchError::Mutability(format!(
            "attribute \"{}\" is required and cannot be removed",
            t.attr.name
        )));
    }
    let map = container(doc, t.ext);
    canon_key(map, t.attr.name);
    if t.attr.multi_valued {
        multi(map, t, op, value, rt)
    } else {
        single(map, t, op, value);
        Ok(())
    }
}

/// The client's value, coerced for the shape the path selects.
fn coerce_for(t: &AttrTarget, v: Value) -> Result<Option<Value>, PatchError> {
    let mut dropped = Vec::new(); // unknown sub-attributes are ignored in PATCH values
    match (t.sub, &t.filter) {
        (Some(sub), _) => simple(sub, &format!("{}.{}", t.attr.name, sub.name), v),
        (None, Some(_)) => element(t.attr, v, &mut dropped),
        (None, None) => attr_value(t.attr, v, &mut dropped),
    }
}

fn single(map: &mut Map<String, Value>, t: &AttrTarget, op: Op, value: Option<Value>) {
    let key = t.attr.name;
    match (t.sub, op, value) {
        (_, Op::Add, None) => {}
        (Some(sub), _, None) | (Some(sub), Op::Remove, _) => {
            if let Some(Value::Object(obj)) = map.get_mut(key) {
                remove_ci(obj, sub.name);
                if obj.is_empty() {
                    map.remove(key);
                }
            }
        }
        (None, _, None) | (None, Op::Remove, _) => {
            map.remove(key);
        }
        (Some(sub), _, Some(v)) => {
            let slot = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(obj) = slot {
                set_ci(obj, sub.name, v);
            }
        }
        (None, _, Some(v)) => {
            // RFC 7644 §3.5.2.1/3: a complex value merges into the existing one (`name`), but a
            // reference (`manager`, which has `value`) is one thing: a new one replaces it whole.
            let merges = t.attr.ty == AttrType::Complex && t.attr.sub_attribute("value").is_none();
            match map.get_mut(key) {
                Some(existing) if merges => merge(existing, v),
                _ => {
                    map.insert(key.to_string(), v);
                }
            }
        }
    }
}

fn multi(
    map: &mut Map<String, Value>,
    t: &AttrTarget,
    op: Op,
    value: Option<Value>,
    rt: &ResourceType,
) -> Result<(), PatchError> {
    let attr = t.attr;
    let mut items = match map.remove(attr.name) {
        Some(Value::Array(items)) => items,
        None | Some(Value::Null) => Vec::new(),
        Some(other) => vec![other],
    };
    let selected: Vec<usize> = match &t.filter {
        Some(f) => (0..items.len())
            .filter(|&i| bridge::item_matches(f, t.ext, attr, &items[i], rt))
            .collect(),
        None => (0..items.len()).collect(),
    };
    let mut touched = Vec::new();
    match (t.filter.is_some(), t.sub, op, value) {
        (_, _, Op::Add, None) => {}
        // Whole attribute.
        (false, None, Op::Add, Some(new)) => {
            let new = match new {
                Value::Array(new) => new,
                one => vec![one],
            };
            for item in new {
                match items.iter().position(|e| same_value(attr, e, &item)) {
                    Some(i) => {
                        merge(&mut items[i], item);
                        touched.push(i);
                    }
                    None => {
                        items.push(item);
                        touched.push(items.len() - 1);
                    }
                }
            }
        }
        (false, None, Op::Replace, new) => {
            items = match new {
                Some(Value::Array(new)) => new,
                _ => Vec::new(),
            };
            touched = (0..items.len()).collect();
        }
        (false, None, Op::Remove, Some(Value::Array(gone))) => {
            items.retain(|e| !gone.iter().any(|g| same_value(attr, e, g)));
        }
        (false, None, Op::Remove, _) => items.clear(),
        // Selected items, whole.
        (true, None, Op::Remove, _) | (true, None, Op::Replace, None) => {
            let mut keep = vec![true; items.len()];
            for &i in &selected {
                keep[i] = false;
            }
            let mut keep = keep.into_iter();
            items.retain(|_| keep.next().unwrap_or(true));
        }
        (true, None, _, Some(_)) if selected.is_empty() => return Err(no_target(t)),
        (true, None, op, Some(v)) => {
            for &i in &selected {
                match op {
                    Op::Add => merge(&mut items[i], v.clone()),
                    _ => items[i] = v.clone(),
                }
            }
            touched = selected;
        }
        // A sub-attribute of the selected (or, without a filter, of all) items.
        (_, Some(sub), Op::Remove, _) | (_, Some(sub), Op::Replace, None) => {
            for &i in &selected {
                if let Value::Object(obj) = &mut items[i] {
                    remove_ci(obj, sub.name);
                }
            }
            items.retain(|e| e.as_object().is_none_or(|o| !o.is_empty()));
        }
        (_, Some(sub), _, Some(v)) if selected.is_empty() => {
            // Entra: `replace emails[type eq "work"].value` for a user with no work email yet.
            let mut item = new_item(t)?;
            if let Value::Object(obj) = &mut item {
                obj.insert(sub.name.to_string(), v);
            }
            items.push(item);
            touched.push(items.len() - 1);
        }
        (_, Some(sub), _, Some(v)) => {
            for &i in &selected {
                if let Value::Object(obj) = &mut items[i] {
                    set_ci(obj, sub.name, v.clone());
                }
            }
            touched = selected;
        }
    }
    enforce_primary(&mut items, &touched);
    if !items.is_empty() {
        map.insert(attr.name.to_string(), Value::Array(items));
    }
    Ok(())
}

/// A new item built from a filter of `eq` terms on sub-attributes, for a write that matched
/// nothing; any other filter (or none, on an empty attribute) has no target.
fn new_item(t: &AttrTarget) -> Result<Value, PatchError> {
    let terms = t.raw_filter.as_ref().and_then(eq_terms).ok_or_else(|| no_target(t))?;
    let mut item = Map::new();
    for (name, value) in terms {
        let sub = t.attr.sub_attribute(&name).ok_or_else(|| no_target(t))?;
        let label = format!("{}.{}", t.attr.name, sub.name);
        if let Some(v) = simple(sub, &label, value)? {
            item.insert(sub.name.to_string(), v);
        }
    }
    Ok(Value::Object(item))
}

fn no_target(t: &AttrTarget) -> PatchError {
    let what = if t.filter.is_some() {
        "matches the path's filter"
    } else {
        "exists"
    };
    PatchError::NoTarget(format!("no value of \"{}\" {what}", t.attr.name))
}

/// RFC 7643 §2.4: at most one item is `primary`; the one this operation set wins.
fn enforce_primary(items: &mut [Value], touched: &[usize]) {
    let is_primary = |v: &Value| v.get("primary") == Some(&Value::Bool(true));
    let Some(&keep) = touched.iter().rev().find(|&&i| is_primary(&items[i])) else {
        return;
    };
    for (i, item) in items.iter_mut().enumerate() {
        if i != keep && is_primary(item) {
            item["primary"] = Value::Bool(false);
        }
    }
}

/// The object holding the attribute: the resource itself, or its extension object.
fn container<'a>(doc: &'a mut Map<String, Value>, ext: Option<&Schema>) -> &'a mut Map<String, Value> {
    let Some(ext) = ext else { return doc };
    canon_key(doc, ext.id);
    let slot = doc.entry(ext.id).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(obj) => obj,
        _ => unreachable!("just made an object"),
    }
}

/// Renames a key matching `name` case-insensitively to exactly `name`.
fn canon_key(map: &mut Map<String, Value>, name: &str) {
    if map.contains_key(name) {
        return;
    }
    if let Some(k) = map.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
        && let Some(v) = map.remove(&k)
    {
        map.insert(name.to_string(), v);
    }
}

fn remove_ci(map: &mut Map<String, Value>, name: &str) {
    map.retain(|k, _| !k.eq_ignore_ascii_case(name));
}

fn set_ci(map: &mut Map<String, Value>, name: &str, v: Value) {
    remove_ci(map, name);
    map.insert(name.to_string(), v);
}

/// Drops empty extension objects and keeps `schemas` (when present) listing exactly the
/// extensions the resource carries.
pub(super) fn tidy(doc: &mut Map<String, Value>, rt: &ResourceType) {
    for ext in rt.extensions {
        if doc.get(ext.id).is_some_and(|v| v.as_object().is_none_or(Map::is_empty)) {
            doc.remove(ext.id);
        }
        let present = doc.contains_key(ext.id);
        if let Some(Value::Array(schemas)) = doc.get_mut("schemas") {
            let is_ext = |s: &Value| {
                s.as_str().is_some_and(|s| {
                    s.eq_ignore_ascii_case(ext.id) || s.eq_ignore_ascii_case(super::target::ENTERPRISE_TYPO)
                })
            };
            schemas.retain(|s| !is_ext(s));
            if present {
                schemas.push(Value::String(ext.id.to_string()));
            }
        }
    }
}
