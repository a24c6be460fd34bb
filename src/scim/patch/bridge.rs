//! The PATCH engine's only two contacts with the filter module: parsing a `path`, and asking
//! whether one item of a multi-valued attribute matches a value filter.

use serde_json::{Map, Value, json};

use crate::scim::filter::{AttrPath, Filter, FilterError, PatchPath};
use crate::scim::schema::{Attribute, ResourceType, Schema};

/// Parses a PATCH `path` (or a key of a path-less value such as `name.givenName`).
pub(super) fn parse_path(path: &str) -> Result<PatchPath, FilterError> {
    crate::scim::filter::parse_patch_path(path)
}

/// `attr[filter]` as a whole-resource filter, built once per operation.
pub(super) fn value_path(ext: Option<&Schema>, attr: &Attribute, filter: &Filter) -> Filter {
    Filter::ValuePath {
        attr: AttrPath {
            schema: ext.map(|s| s.id.to_string()),
            attr: attr.name.to_string(),
            sub_attr: None,
        },
        filter: Box::new(filter.clone()),
    }
}

/// Whether `item`, one value of `attr`, matches `value_path` (from [`value_path`]).
///
/// The item is evaluated inside a one-item resource so the evaluator resolves sub-attributes
/// (and their `caseExact`) exactly as it does for `GET ?filter=emails[type eq "work"]`.
pub(super) fn item_matches(
    value_path: &Filter,
    ext: Option<&Schema>,
    attr: &Attribute,
    item: &Value,
    rt: &ResourceType,
) -> bool {
    let mut one = Map::new();
    one.insert(attr.name.to_string(), json!([item]));
    let resource = match ext {
        Some(s) => json!({ s.id: one }),
        None => Value::Object(one),
    };
    value_path.matches(&resource, rt)
}
