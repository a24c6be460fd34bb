//! Checking a filter against a resource type's schema, for a 400 `invalidFilter`.
//!
//! `Filter::matches` never fails (an unknown attribute just does not match); this is where the
//! HTTP layer learns that a filter cannot mean anything, with a message for the client.

use jiff::Timestamp;
use serde_json::Value;

use super::ast::{AttrPath, CompareOp, Filter};
use super::error::FilterError;
use super::eval::{Found, Scope, compared, resolve};
use super::lexer::quote;
use crate::scim::schema::{AttrType, Attribute, ResourceType};

impl Filter {
    /// Checks the filter against `rt`'s schema: every attribute exists, value paths apply to
    /// complex attributes, and each comparison fits its attribute's type. The error is meant
    /// for a 400 `invalidFilter` response.
    pub fn validate(&self, rt: &ResourceType) -> Result<(), FilterError> {
        self.check(Scope::Resource(rt))
    }

    fn check(&self, scope: Scope<'_>) -> Result<(), FilterError> {
        match self {
            Filter::And(l, r) | Filter::Or(l, r) => {
                l.check(scope)?;
                r.check(scope)
            }
            Filter::Not(inner) => inner.check(scope),
            Filter::Present(path) => resolve_or_err(scope, path).map(drop),
            Filter::Compare { path, op, value } => {
                let Found { attr, sub, .. } = resolve_or_err(scope, path)?;
                let def = match compared(attr, sub) {
                    Some(def) => def,
                    None => {
                        return Err(FilterError(format!(
                            "{} is complex: compare one of its sub-attributes, such as {path}.{}",
                            quote(&path.to_string()),
                            attr.sub_attributes.first().map_or("value", |a| a.name)
                        )));
                    }
                };
                check_compare(path, def, *op, value)
            }
            Filter::ValuePath { attr, filter } => {
                let Found { attr: def, sub, .. } = resolve_or_err(scope, attr)?;
                if sub.is_some() || def.ty != AttrType::Complex {
                    return Err(FilterError(format!(
                        "{} is not a complex attribute, so it takes no value filter \"[…]\"",
                        quote(&attr.to_string())
                    )));
                }
                filter.check(Scope::Element(def))
            }
        }
    }
}

fn resolve_or_err(scope: Scope<'_>, path: &AttrPath) -> Result<Found, FilterError> {
    resolve(scope, path).ok_or_else(|| {
        FilterError(match scope {
            Scope::Resource(rt) => format!(
                "unknown attribute {} for {} resources",
                quote(&path.to_string()),
                rt.name
            ),
            Scope::Element(parent) => format!(
                "{} is not a sub-attribute of {}; inside \"[…]\" name sub-attributes such as {}",
                quote(&path.to_string()),
                quote(parent.name),
                parent.sub_attributes.first().map_or("value", |a| a.name)
            ),
        })
    })
}

/// Does `op value` make sense for the attribute `def`?
fn check_compare(path: &AttrPath, def: &Attribute, op: CompareOp, value: &Value) -> Result<(), FilterError> {
    let name = quote(&path.to_string());
    let fail = |why: String| Err(FilterError(format!("{name} {op} {value}: {why}")));
    let ordering = matches!(op, CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le);
    let substring = matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew);
    if value.is_null() {
        if matches!(op, CompareOp::Eq | CompareOp::Ne) {
            return Ok(());
        }
        return fail(format!("\"{op}\" needs a value to compare with, not null"));
    }
    match def.ty {
        AttrType::Boolean => {
            if ordering || substring {
                return fail(format!("\"{op}\" is not defined for the boolean attribute {name}"));
            }
            if !value.is_boolean() {
                return fail(format!("{name} is a boolean; compare it with true or false"));
            }
        }
        AttrType::Integer | AttrType::Decimal => {
            if substring {
                return fail(format!("\"{op}\" applies to strings, and {name} is a number"));
            }
            if !value.is_number() {
                return fail(format!("{name} is a number; compare it with a number"));
            }
        }
        AttrType::Complex => {
            return fail(format!("\"{op}\" is not defined for the complex attribute {name}"));
        }
        AttrType::DateTime => {
            let Some(s) = value.as_str() else {
                return fail(format!(
                    "{name} is a dateTime; compare it with a quoted RFC 3339 timestamp"
                ));
            };
            if !substring && s.parse::<Timestamp>().is_err() {
                return fail(format!(
                    "{} is not an RFC 3339 timestamp such as \"2011-05-13T04:42:34Z\"",
                    quote(s)
                ));
            }
        }
        AttrType::String | AttrType::Reference | AttrType::Binary => {
            if !value.is_string() {
                return fail(format!("{name} is a string; compare it with a string in double quotes"));
            }
        }
    }
    Ok(())
}
