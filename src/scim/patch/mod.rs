//! SCIM PATCH (RFC 7644 §3.5.2) and input normalisation, as pure functions over JSON.
//!
//! A resource is its SCIM representation: core attributes by their schema names, extension
//! attributes under the extension's URN key, plus `id`, `schemas` and `meta`.
//!
//! Conventions the HTTP layer relies on:
//! - An unassigned attribute is **absent**: `null`, `[]` and `{}` values unassign; an empty
//!   `members` is stored as no `members` key. Render `"members": []` on output if wanted.
//! - [`apply_patch`] is atomic: it works on a copy and returns it only if every operation
//!   succeeded. For membership changes use [`member_changes`] on input and output.
//! - `schemas`, when present on the resource, is kept listing exactly the extensions present.
//! - `password` is accepted and discarded (this server stores no passwords).
//!
//! - `id` and `meta` are never changed; the caller bumps `meta.lastModified`/`version` and
//!   checks uniqueness (`userName`, group `displayName`) on the result.
//!
//! Decisions where the RFC or the clients leave room:
//! - A body without `schemas` is accepted (some clients omit it), but a `schemas` without the
//!   PatchOp URN is `invalidSyntax` (it is some other message).
//! - PATCH is strict about unknown attributes (`invalidPath`), since "2xx only if stored" must
//!   hold; unknown *sub*-attributes inside values are dropped. POST/PUT bodies ([`normalize`])
//!   drop unknown attributes, as RFC 7644 §3.3 allows, and report them.
//! - Read-only keys (`id`, `meta`, `schemas`, `groups`) in a path-less value are ignored (Okta
//!   sends `id`); targeting them by `path` is `mutability`.
//! - `remove` with a filter that matches nothing succeeds (idempotent, so Entra does not retry
//!   a removal of an already-removed member forever); `replace`/`add` on `attr[filter].sub` with
//!   no match creates the value when the filter is `eq` terms joined by `and`, else `noTarget`.
//! - `replace` whose path is an extension's URN replaces that extension object whole; `add`
//!   merges into it; `remove` clears it.
//! - Adding a value equal (by `value`, per its `caseExact`) to an existing one merges into it;
//!   a `primary: true` set by an operation clears `primary` on the other values.

mod bridge;
mod coerce;
mod error;
mod members;
mod normalize;
mod ops;
mod target;

#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

pub use error::PatchError;
pub use members::{MemberChanges, member_changes};
pub use normalize::normalize;

use error::kind;
use ops::Op;
use target::{Target, extension_by_urn};

use crate::scim::schema::{ResourceType, Schema};

/// The URN a PatchOp body's `schemas` must contain.
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

struct Operation {
    op: Op,
    path: Option<String>,
    value: Option<Value>,
}

/// Applies a PatchOp `body` to `resource` and returns the patched copy; on any error the
/// resource is left as it was (the caller simply keeps its original).
///
/// Accepts what Entra ID and Okta send (see `shared/reference/scim-clients.md`): `op` in any
/// case, `"True"`/`"False"` for Booleans, path-less values with dotted and URN-qualified keys,
/// member removal by value list or by filter, stringified role objects, bare-string `manager`.
pub fn apply_patch(resource: &Value, rt: &ResourceType, body: &Value) -> Result<Value, PatchError> {
    let operations = parse_body(body)?;
    let mut doc = match resource {
        Value::Object(obj) => obj.clone(),
        other => {
            return Err(PatchError::InvalidValue(format!(
                "the resource to patch must be an object, got {}",
                kind(other)
            )));
        }
    };
    for (i, operation) in operations.into_iter().enumerate() {
        let context = match &operation.path {
            Some(p) => format!("Operations[{i}] ({:?} \"{p}\")", operation.op),
            None => format!("Operations[{i}] ({:?})", operation.op),
        };
        apply_one(&mut doc, rt, operation).map_err(|e| e.context(&context))?;
    }
    ops::tidy(&mut doc, rt);
    Ok(Value::Object(doc))
}

fn apply_one(doc: &mut Map<String, Value>, rt: &ResourceType, o: Operation) -> Result<(), PatchError> {
    let Some(path) = o.path else {
        return match o.value {
            Some(Value::Object(value)) => pathless(doc, rt, o.op, value, None),
            Some(other) => Err(PatchError::InvalidValue(format!(
                "an operation without \"path\" needs an object value, got {}",
                kind(&other)
            ))),
            None => unreachable!("parse_body requires a value without a path"),
        };
    };
    match target::resolve(rt, &path)? {
        Target::Discard => Ok(()),
        Target::Extension(ext) => match (o.op, o.value) {
            (Op::Add, Some(Value::Null)) => Ok(()),
            (Op::Remove, _) | (Op::Replace, Some(Value::Null)) => {
                doc.remove(ext.id);
                Ok(())
            }
            // `replace` with the extension's URN as path replaces the extension as a whole;
            // `add` merges into it (RFC 7644 §3.5.2.1).
            (Op::Replace, Some(Value::Object(value))) => {
                doc.remove(ext.id);
                pathless(doc, rt, Op::Replace, value, Some(ext))
            }
            (op, Some(Value::Object(value))) => pathless(doc, rt, op, value, Some(ext)),
            (_, other) => Err(PatchError::InvalidValue(format!(
                "extension \"{}\" value must be an object, got {}",
                ext.id,
                other.as_ref().map_or("nothing", kind)
            ))),
        },
        Target::Attr(t) => ops::apply_attr(doc, &t, o.op, o.value, rt),
    }
}

/// A path-less add/replace (or one whose path is a whole extension): each key is a path of its
/// own (`name.givenName`, `urn:…:User:employeeNumber`), never a literal attribute name.
fn pathless(
    doc: &mut Map<String, Value>,
    rt: &ResourceType,
    op: Op,
    value: Map<String, Value>,
    scope: Option<&'static Schema>,
) -> Result<(), PatchError> {
    for (key, v) in value {
        if scope.is_none()
            && let Some(ext) = extension_by_urn(rt, &key)
        {
            // Inside a path-less value an extension's object sets the attributes it names (Entra),
            // unlike a `replace` whose path is the URN, which replaces the extension whole.
            if let Value::Object(attributes) = v {
                pathless(doc, rt, op, attributes, Some(ext))?;
                continue;
            }
            apply_one(
                doc,
                rt,
                Operation {
                    op,
                    path: Some(key),
                    value: Some(v),
                },
            )?;
            continue;
        }
        let path = match scope {
            Some(ext) => format!("{}:{key}", ext.id),
            None => key,
        };
        match target::resolve(rt, &path) {
            // Okta renames a group with `{"id": …, "displayName": …}`: read-only keys are ignored.
            Err(PatchError::Mutability(_)) | Ok(Target::Discard) => {}
            Err(e) => return Err(e),
            Ok(Target::Extension(_)) => {
                apply_one(
                    doc,
                    rt,
                    Operation {
                        op,
                        path: Some(path),
                        value: Some(v),
                    },
                )?;
            }
            Ok(Target::Attr(t)) => ops::apply_attr(doc, &t, op, Some(v), rt)?,
        }
    }
    Ok(())
}

/// Reads the PatchOp envelope; member names are matched case-insensitively.
fn parse_body(body: &Value) -> Result<Vec<Operation>, PatchError> {
    let syntax = |m: &str| PatchError::InvalidSyntax(m.to_string());
    let Value::Object(body) = body else {
        return Err(syntax("a PATCH body must be a JSON object with \"Operations\""));
    };
    if let Some(schemas) = get_ci(body, "schemas") {
        let ok = schemas.as_array().is_some_and(|s| {
            s.iter()
                .any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(PATCH_OP_SCHEMA)))
        });
        if !ok {
            return Err(syntax(
                "\"schemas\" must be an array containing \"urn:ietf:params:scim:api:messages:2.0:PatchOp\"",
            ));
        }
    }
    let Some(operations) = get_ci(body, "Operations") else {
        return Err(syntax("a PATCH body needs an \"Operations\" array"));
    };
    let Value::Array(operations) = operations else {
        return Err(syntax("\"Operations\" must be an array"));
    };
    let mut out = Vec::with_capacity(operations.len());
    for (i, o) in operations.iter().enumerate() {
        let err = |m: &str| PatchError::InvalidSyntax(format!("Operations[{i}]: {m}"));
        let Value::Object(o) = o else {
            return Err(err("each operation must be an object"));
        };
        let op = match get_ci(o, "op").and_then(Value::as_str).map(str::to_ascii_lowercase) {
            Some(op) if op == "add" => Op::Add,
            Some(op) if op == "remove" => Op::Remove,
            Some(op) if op == "replace" => Op::Replace,
            Some(_) => return Err(err("\"op\" must be \"add\", \"remove\" or \"replace\"")),
            None => return Err(err("\"op\" is required and must be a string")),
        };
        let path = match get_ci(o, "path") {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) if p.trim().is_empty() => None,
            Some(Value::String(p)) => Some(p.clone()),
            Some(_) => return Err(err("\"path\" must be a string")),
        };
        let value = get_ci(o, "value").cloned();
        match (op, &path, &value) {
            (Op::Remove, None, _) => {
                return Err(PatchError::NoTarget(format!(
                    "Operations[{i}]: \"remove\" needs a \"path\""
                )));
            }
            (Op::Add | Op::Replace, _, None) => {
                return Err(err("\"value\" is required for add and replace"));
            }
            _ => {}
        }
        out.push(Operation { op, path, value });
    }
    Ok(out)
}

fn get_ci<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name)
        .or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v))
}
