//! Normalisation of POST/PUT bodies: the same client quirks PATCH values get, plus canonical
//! attribute names and placement of extension attributes.

use serde_json::{Map, Value};

use super::coerce::attr_value;
use super::error::{PatchError, kind};
use super::ops::tidy;
use super::target::{ENTERPRISE_TYPO, extension_by_urn};
use crate::scim::filter::AttrPath;
use crate::scim::schema::{ENTERPRISE_USER_SCHEMA_ID, Mutability, ResourceType};

/// Normalises a POST/PUT body in place and returns the names of the attributes it dropped
/// because the schema does not know them (for the caller to log as a count; RFC 7644 §3.3
/// lets a server ignore unknown attributes).
///
/// - names are canonicalised (`USERNAME` → `userName`), sub-attributes too;
/// - `"True"`/`"False"` strings become Booleans where the schema says Boolean;
/// - nulls, `[]` and `{}` are dropped (unassigned); stringified role objects are unwrapped and a
///   role's `displayName` becomes `display`; a bare-string or array-of-one `manager` becomes
///   `{"value": …}`;
/// - extension attributes land under the extension URN key, whether sent there, URN-qualified
///   at the top level, or unqualified; Entra's typo URN `…:2.0User` counts as the enterprise one;
/// - read-only `id`, `meta`, `groups` are removed (the server sets them), `password` silently;
/// - `schemas` is kept (unknown URNs tolerated) and made to list exactly the extensions present.
///
/// Errors: `invalidSyntax` if the body is not an object, `invalidValue` for a wrongly typed
/// value or a missing required attribute (`userName`, a group's `displayName`).
pub fn normalize(resource: &mut Value, rt: &ResourceType) -> Result<Vec<String>, PatchError> {
    let Value::Object(body) = resource else {
        return Err(PatchError::InvalidSyntax(format!(
            "the request body must be a JSON object, got {}",
            kind(resource)
        )));
    };
    let input = std::mem::take(body);
    let mut dropped = Vec::new();
    for (key, value) in input {
        if key.eq_ignore_ascii_case("schemas") {
            body.insert("schemas".to_string(), schemas(value)?);
        } else if let Some(ext) = extension_by_urn(rt, &key) {
            match value {
                Value::Object(obj) => {
                    for (k, v) in obj {
                        put(body, rt, Some(ext.id), &k, v, &mut dropped)?;
                    }
                }
                Value::Null => {}
                other => {
                    return Err(PatchError::InvalidValue(format!(
                        "extension \"{}\" must be an object, got {}",
                        ext.id,
                        kind(&other)
                    )));
                }
            }
        } else if !["id", "meta"].iter().any(|n| key.eq_ignore_ascii_case(n)) {
            match key.rsplit_once(':') {
                Some((urn, name)) => put(body, rt, Some(urn), name, value, &mut dropped)?,
                None => put(body, rt, None, &key, value, &mut dropped)?,
            }
        }
    }
    for attr in rt.schema.attributes.iter().filter(|a| a.required) {
        if !body.contains_key(attr.name) {
            return Err(PatchError::InvalidValue(format!(
                "attribute \"{}\" is required",
                attr.name
            )));
        }
    }
    tidy(body, rt);
    Ok(dropped)
}

/// Stores one attribute `name` (of schema `urn`, if qualified) under its canonical name.
fn put(
    body: &mut Map<String, Value>,
    rt: &ResourceType,
    urn: Option<&str>,
    name: &str,
    value: Value,
    dropped: &mut Vec<String>,
) -> Result<(), PatchError> {
    let urn = urn.map(|u| match u.eq_ignore_ascii_case(ENTERPRISE_TYPO) {
        true => ENTERPRISE_USER_SCHEMA_ID,
        false => u,
    });
    let path = AttrPath {
        schema: urn.map(str::to_string),
        attr: name.to_string(),
        sub_attr: None,
    };
    let Some(resolved) = rt.resolve(&path) else {
        dropped.push(match urn {
            Some(u) => format!("{u}:{name}"),
            None => name.to_string(),
        });
        return Ok(());
    };
    let attr = resolved.attribute;
    if matches!(attr.mutability, Mutability::ReadOnly | Mutability::WriteOnly) {
        return Ok(());
    }
    let Some(value) = attr_value(attr, value, dropped)? else {
        return Ok(());
    };
    let container = match resolved.extension {
        None => body,
        Some(ext) => {
            let slot = body.entry(ext.id).or_insert_with(|| Value::Object(Map::new()));
            match slot {
                Value::Object(obj) => obj,
                _ => unreachable!("extension slots are only created as objects"),
            }
        }
    };
    container.insert(attr.name.to_string(), value);
    Ok(())
}

/// `schemas` as an array of strings with the typo URN corrected and duplicates removed.
fn schemas(value: Value) -> Result<Value, PatchError> {
    let bad = || PatchError::InvalidValue("\"schemas\" must be an array of strings".to_string());
    let Value::Array(items) = value else {
        return Err(bad());
    };
    let mut out: Vec<Value> = Vec::new();
    for item in items {
        let s = item.as_str().ok_or_else(bad)?;
        let s = match s.eq_ignore_ascii_case(ENTERPRISE_TYPO) {
            true => ENTERPRISE_USER_SCHEMA_ID,
            false => s,
        };
        if !out
            .iter()
            .any(|o| o.as_str().is_some_and(|o| o.eq_ignore_ascii_case(s)))
        {
            out.push(Value::String(s.to_string()));
        }
    }
    Ok(Value::Array(out))
}
