//! Resolving a PATCH `path` (or a key of a path-less value) against the schema.

use super::bridge;
use super::error::PatchError;
use crate::scim::filter::{CompareOp, Filter, PatchPath};
use crate::scim::schema::{AttrType, Attribute, Mutability, ResourceType, Schema};

/// The legacy Entra spelling of the enterprise extension URN (missing the last colon).
pub(super) const ENTERPRISE_TYPO: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0User";

/// What a path resolved to.
pub(super) enum Target {
    /// A whole extension object (`urn:…:enterprise:2.0:User`).
    Extension(&'static Schema),
    /// An attribute that is accepted and discarded (`password`: this server stores none).
    Discard,
    /// An attribute, possibly narrowed by a value filter and/or to a sub-attribute.
    Attr(Box<AttrTarget>),
}

pub(super) struct AttrTarget {
    /// The extension holding the attribute; `None` for the core schema.
    pub ext: Option<&'static Schema>,
    pub attr: &'static Attribute,
    /// `attr[filter]`, as a whole-resource `ValuePath` filter for the evaluator.
    pub filter: Option<Filter>,
    /// The bare value filter, to build a new item from its `eq` terms.
    pub raw_filter: Option<Filter>,
    pub sub: Option<&'static Attribute>,
}

/// The extension schema a URN names, tolerating case and Entra's legacy typo.
pub(super) fn extension_by_urn(rt: &ResourceType, urn: &str) -> Option<&'static Schema> {
    let urn = if urn.eq_ignore_ascii_case(ENTERPRISE_TYPO) {
        crate::scim::schema::ENTERPRISE_USER_SCHEMA_ID
    } else {
        urn
    };
    rt.extensions.iter().copied().find(|s| s.id.eq_ignore_ascii_case(urn))
}

/// Resolves an operation's `path`: readOnly targets are refused, `password` is discarded.
pub(super) fn resolve(rt: &ResourceType, path: &str) -> Result<Target, PatchError> {
    let path = path.trim();
    if let Some(ext) = extension_by_urn(rt, path) {
        return Ok(Target::Extension(ext));
    }
    // Entra's typo'd URN as a prefix: `urn:…:2.0User:employeeNumber`.
    let fixed;
    let path = match path.get(..ENTERPRISE_TYPO.len()) {
        Some(p) if p.eq_ignore_ascii_case(ENTERPRISE_TYPO) => {
            let rest = &path[ENTERPRISE_TYPO.len()..];
            fixed = format!("{}{rest}", crate::scim::schema::ENTERPRISE_USER_SCHEMA_ID);
            fixed.as_str()
        }
        _ => path,
    };
    let parsed: PatchPath =
        bridge::parse_path(path).map_err(|e| PatchError::InvalidPath(format!("invalid path \"{path}\": {e}")))?;
    let is_core = parsed
        .attr
        .schema
        .as_deref()
        .is_none_or(|s| s.eq_ignore_ascii_case(rt.schema.id));
    if is_core
        && ["id", "meta", "schemas"]
            .iter()
            .any(|n| parsed.attr.attr.eq_ignore_ascii_case(n))
    {
        return Err(read_only(&parsed.attr.attr));
    }
    let resolved = rt.resolve(&parsed.attr).ok_or_else(|| {
        PatchError::InvalidPath(format!(
            "path \"{path}\" names no attribute of the {} resource",
            rt.name
        ))
    })?;
    let attr = resolved.attribute;
    if attr.mutability == Mutability::WriteOnly {
        return Ok(Target::Discard);
    }
    if attr.mutability == Mutability::ReadOnly {
        return Err(read_only(attr.name));
    }
    let mut sub = resolved.sub_attribute;
    if let Some(name) = &parsed.sub_attr {
        sub = Some(attr.sub_attribute(name).ok_or_else(|| {
            PatchError::InvalidPath(format!(
                "path \"{path}\": attribute \"{}\" has no sub-attribute \"{name}\"",
                attr.name
            ))
        })?);
    }
    if let Some(s) = sub
        && matches!(s.mutability, Mutability::ReadOnly | Mutability::Immutable)
    {
        // Changing `members[value eq "x"].value` in place would change who the member is.
        return Err(PatchError::Mutability(format!(
            "sub-attribute \"{}.{}\" cannot be modified in place",
            attr.name, s.name
        )));
    }
    if parsed.value_filter.is_some() && !attr.multi_valued {
        return Err(PatchError::InvalidPath(format!(
            "path \"{path}\": a value filter needs a multi-valued attribute, and \"{}\" is single-valued",
            attr.name
        )));
    }
    let raw_filter = parsed.value_filter.map(|f| booleans(f, attr));
    let filter = raw_filter
        .as_ref()
        .map(|f| bridge::value_path(resolved.extension, attr, f));
    Ok(Target::Attr(Box::new(AttrTarget {
        ext: resolved.extension,
        attr,
        filter,
        raw_filter,
        sub,
    })))
}

fn read_only(name: &str) -> PatchError {
    PatchError::Mutability(format!("attribute \"{name}\" is readOnly"))
}

/// The `(sub-attribute, value)` pairs of a filter made only of `eq` terms joined by `and`
/// (`type eq "work"`), from which a missing item can be created; `None` for anything else.
pub(super) fn eq_terms(filter: &Filter) -> Option<Vec<(String, serde_json::Value)>> {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } if path.schema.is_none() && path.sub_attr.is_none() => Some(vec![(path.attr.clone(), value.clone())]),
        Filter::And(a, b) => {
            let mut terms = eq_terms(a)?;
            terms.extend(eq_terms(b)?);
            Some(terms)
        }
        _ => None,
    }
}

/// Entra filters on `roles[primary eq "True"]`: compare Boolean sub-attributes with real
/// Booleans, as the evaluator (rightly, for GET filters) only matches `true` with `true`.
fn booleans(filter: Filter, attr: &Attribute) -> Filter {
    let rec = |f: Box<Filter>| Box::new(booleans(*f, attr));
    match filter {
        Filter::Compare {
            path,
            op,
            value: serde_json::Value::String(s),
        } if path.sub_attr.is_none()
            && attr
                .sub_attribute(&path.attr)
                .is_some_and(|a| a.ty == AttrType::Boolean)
            && (s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false")) =>
        {
            Filter::Compare {
                path,
                op,
                value: serde_json::Value::Bool(s.eq_ignore_ascii_case("true")),
            }
        }
        Filter::And(a, b) => Filter::And(rec(a), rec(b)),
        Filter::Or(a, b) => Filter::Or(rec(a), rec(b)),
        Filter::Not(a) => Filter::Not(rec(a)),
        other => other,
    }
}
