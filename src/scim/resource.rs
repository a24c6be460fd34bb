//! Conversion between the custom resources and their SCIM representation, and attribute
//! projection (`attributes` / `excludedAttributes`, RFC 7644 §3.9).

use kube::ResourceExt;
use serde_json::{Map, Value, json};

use super::error::{ScimError, ScimResult};
use super::filter::{AttrPath, Filter, parse_patch_path};
use super::schema::{ENTERPRISE_USER_SCHEMA_ID, GROUP_SCHEMA_ID, ResourceType, Returned, USER_SCHEMA_ID};
use crate::api::annotations::LAST_MODIFIED;
use crate::api::{Group, GroupSpec, User, UserSpec};

/// The current time as SCIM and Kubernetes write it (RFC 3339, UTC).
pub fn now() -> String {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second()).unwrap_or(now).to_string()
}

/// A group member as shown in `members` (or a group in a user's `groups`).
pub struct Reference<'a> {
    pub id: &'a str,
    pub display: Option<&'a str>,
}

/// `meta` of a resource: created and modified times, location, and the version from resourceVersion.
fn meta(obj: &impl ResourceExt, resource_type: &str, location: String) -> Value {
    let created = obj.meta().creation_timestamp.as_ref().map(|t| t.0.to_string());
    // Our clock stamps the annotation before the API server stamps creation; never show a
    // modification before the creation.
    let modified = match (obj.annotations().get(LAST_MODIFIED), &created) {
        (Some(m), Some(c)) => Some(m.max(c).clone()),
        (m, c) => m.or(c.as_ref()).cloned(),
    };
    json!({
        "resourceType": resource_type,
        "created": created,
        "lastModified": modified,
        "location": location,
        "version": etag(obj),
    })
}

/// The weak ETag of an object: its resourceVersion.
pub fn etag(obj: &impl ResourceExt) -> String {
    format!("W/\"{}\"", obj.resource_version().unwrap_or_default())
}

/// A User as SCIM JSON. `groups` are the groups it belongs to, resolved by the caller.
pub fn user_to_scim(user: &User, base_url: &str, groups: &[Reference<'_>]) -> Value {
    let mut spec = serde_json::to_value(&user.spec).expect("UserSpec serialises");
    let fields = spec.as_object_mut().expect("UserSpec is an object");
    fields.remove("groups");
    let mut schemas = vec![USER_SCHEMA_ID];
    if let Some(enterprise) = fields.remove("enterprise") {
        schemas.push(ENTERPRISE_USER_SCHEMA_ID);
        fields.insert(ENTERPRISE_USER_SCHEMA_ID.into(), enterprise);
    }
    if !fields.contains_key("displayName")
        && let Some(name) = fallback_display_name(&user.spec)
    {
        fields.insert("displayName".into(), name.into());
    }
    let id = user.name_any();
    if !groups.is_empty() {
        let list = groups
            .iter()
            .map(|g| json!({"value": g.id, "display": g.display, "$ref": format!("{base_url}/Groups/{}", g.id), "type": "direct"}))
            .collect();
        fields.insert("groups".into(), Value::Array(list));
    }
    fields.insert("schemas".into(), json!(schemas));
    fields.insert("meta".into(), meta(user, "User", format!("{base_url}/Users/{id}")));
    fields.insert("id".into(), id.into());
    strip_nulls(&mut spec);
    spec
}

/// `name.givenName + " " + name.familyName`, for users provisioned without a displayName.
fn fallback_display_name(spec: &UserSpec) -> Option<String> {
    let name = spec.name.as_ref()?;
    let parts: Vec<&str> = [&name.given_name, &name.family_name]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// A Group as SCIM JSON; `members` is `None` when the caller skipped them (`excludedAttributes=members`).
pub fn group_to_scim(group: &Group, base_url: &str, members: Option<&[Reference<'_>]>) -> Value {
    let id = group.name_any();
    let mut out = json!({
        "schemas": [GROUP_SCHEMA_ID],
        "id": id,
        "displayName": group.spec.display_name,
        "meta": meta(group, "Group", format!("{base_url}/Groups/{id}")),
    });
    if let Some(external_id) = &group.spec.external_id {
        out["externalId"] = external_id.as_str().into();
    }
    if let Some(members) = members {
        out["members"] = members
            .iter()
            .map(|m| json!({"value": m.id, "display": m.display, "$ref": format!("{base_url}/Users/{}", m.id), "type": "User"}))
            .collect();
    }
    strip_nulls(&mut out);
    out
}

/// Reads a normalised SCIM User body into a spec (membership is not part of the body).
pub fn user_from_scim(mut body: Value) -> ScimResult<UserSpec> {
    let fields = body
        .as_object_mut()
        .ok_or_else(|| ScimError::bad_request("invalidSyntax", "a User must be a JSON object"))?;
    for read_only in ["id", "meta", "schemas", "groups", "password"] {
        fields.remove(read_only);
    }
    if let Some(enterprise) = fields.remove(ENTERPRISE_USER_SCHEMA_ID) {
        fields.insert("enterprise".into(), enterprise);
    }
    match fields.get("userName") {
        Some(Value::String(s)) if !s.trim().is_empty() => {}
        _ => {
            return Err(ScimError::bad_request(
                "invalidValue",
                "userName is required and must be a non-empty string",
            ));
        }
    }
    deserialize(body)
}

/// Reads a normalised SCIM Group body into a spec and the member ids it lists (`None`: no `members` key).
pub fn group_from_scim(mut body: Value) -> ScimResult<(GroupSpec, Option<Vec<String>>)> {
    let fields = body
        .as_object_mut()
        .ok_or_else(|| ScimError::bad_request("invalidSyntax", "a Group must be a JSON object"))?;
    let members = match fields.remove("members") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|m| match m.get("value") {
                    Some(Value::String(id)) => Ok(id.clone()),
                    _ => Err(ScimError::bad_request(
                        "invalidValue",
                        "each member needs a string \"value\" (the user's id)",
                    )),
                })
                .collect::<ScimResult<Vec<_>>>()?,
        ),
        Some(_) => return Err(ScimError::bad_request("invalidValue", "members must be an array")),
    };
    for read_only in ["id", "meta", "schemas"] {
        fields.remove(read_only);
    }
    match fields.get("displayName") {
        Some(Value::String(s)) if !s.trim().is_empty() => {}
        _ => {
            return Err(ScimError::bad_request(
                "invalidValue",
                "displayName is required and must be a non-empty string",
            ));
        }
    }
    Ok((deserialize(body)?, members))
}

fn deserialize<T: serde::de::DeserializeOwned>(body: Value) -> ScimResult<T> {
    serde_path_to_error::deserialize(body)
        .map_err(|e| ScimError::bad_request("invalidValue", format!("attribute {}: {}", e.path(), e.inner())))
}

fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// One entry of `attributes` / `excludedAttributes`: a top-level key of the representation
/// (an attribute, or an extension's URN), optionally one of its sub-attributes, and optionally
/// a value filter (`emails[type eq "work"]`) that narrows a multi-valued attribute to the
/// values it matches.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    key: String,
    sub: Option<String>,
    /// `key[filter]` as a whole-resource filter, evaluated on `{key: [one value]}`.
    filter: Option<Filter>,
}

impl Projection {
    /// Parses a comma-separated list such as `userName,name.givenName,urn:…:enterprise:2.0:User:department`.
    pub fn parse_list(list: &str, rt: &ResourceType) -> Vec<Projection> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| Projection::parse(s, rt))
            .collect()
    }

    fn parse(item: &str, rt: &ResourceType) -> Projection {
        for schema in rt.schemas() {
            let Some(rest) = strip_prefix_ignore_case(item, schema.id) else {
                continue;
            };
            let rest = rest.strip_prefix(':').filter(|r| !r.is_empty());
            if std::ptr::eq(schema, rt.schema)
                && let Some(rest) = rest
            {
                return Projection::parse_core(rest);
            }
            return Projection {
                key: schema.id.to_string(),
                sub: rest.map(str::to_string),
                filter: None,
            };
        }
        Projection::parse_core(item)
    }

    fn parse_core(item: &str) -> Projection {
        // `emails[type eq "work"]` and `emails[type eq "work"].value`; a value filter that does
        // not parse leaves the item a plain name, which then selects nothing.
        if item.contains('[')
            && let Ok(path) = parse_patch_path(item)
            && path.attr.schema.is_none()
            && path.attr.sub_attr.is_none()
            && let Some(filter) = path.value_filter
        {
            return Projection {
                filter: Some(Filter::ValuePath {
                    attr: AttrPath::new(&path.attr.attr),
                    filter: Box::new(filter),
                }),
                key: path.attr.attr,
                sub: path.sub_attr,
            };
        }
        match item.split_once('.') {
            Some((key, sub)) => Projection {
                key: key.into(),
                sub: Some(sub.into()),
                filter: None,
            },
            None => Projection {
                key: item.into(),
                sub: None,
                filter: None,
            },
        }
    }

    /// Whether `item`, one value of the multi-valued attribute `key`, passes the value filter.
    fn selects(&self, key: &str, item: &Value, rt: &ResourceType) -> bool {
        self.filter
            .as_ref()
            .is_none_or(|f| f.matches(&json!({ key: [item] }), rt))
    }

    fn names(&self, key: &str) -> bool {
        self.key.eq_ignore_ascii_case(key)
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

/// Applies `attributes` / `excludedAttributes` (RFC 7644 §3.9) to a SCIM resource.
/// `id`, `schemas` and other `returned: always` attributes stay.
pub fn project(resource: &mut Value, rt: &ResourceType, attributes: &[Projection], excluded: &[Projection]) {
    let Some(fields) = resource.as_object_mut() else { return };
    let always = |key: &str| {
        key == "schemas"
            || rt
                .resolve(&AttrPath::new(key))
                .is_some_and(|r| r.attribute.returned == Returned::Always)
    };
    if !attributes.is_empty() {
        let mut kept = Map::new();
        for (key, mut value) in std::mem::take(fields) {
            let wanted: Vec<&Projection> = attributes.iter().filter(|p| p.names(&key)).collect();
            if !always(&key) && wanted.is_empty() {
                continue;
            }
            // `emails[type eq "work"]` keeps the matching values only (none: no attribute).
            if !wanted.is_empty()
                && wanted.iter().all(|p| p.filter.is_some())
                && let Value::Array(items) = &mut value
            {
                items.retain(|item| wanted.iter().any(|p| p.selects(&key, item, rt)));
                if items.is_empty() {
                    continue;
                }
            }
            // `name.givenName` keeps only that sub-attribute; `name` keeps it whole.
            if !wanted.is_empty() && wanted.iter().all(|p| p.sub.is_some()) {
                let subs: Vec<&str> = wanted.iter().filter_map(|p| p.sub.as_deref()).collect();
                keep_sub_attributes(&mut value, &subs);
            }
            kept.insert(key, value);
        }
        *fields = kept;
    }
    for path in excluded {
        fields.retain(|key, value| {
            if always(key) || !path.names(key) {
                return true;
            }
            if path.filter.is_some() {
                // `excludedAttributes=emails[type eq "home"]` drops the matching values.
                if let Value::Array(items) = value {
                    items.retain(|item| !path.selects(key, item, rt));
                    return !items.is_empty();
                }
                return true;
            }
            match &path.sub {
                Some(sub) => {
                    drop_sub_attribute(value, sub);
                    true
                }
                None => false,
            }
        });
    }
}

fn keep_sub_attributes(value: &mut Value, subs: &[&str]) {
    match value {
        Value::Object(map) => map.retain(|k, _| subs.iter().any(|s| s.eq_ignore_ascii_case(k))),
        Value::Array(items) => items.iter_mut().for_each(|v| keep_sub_attributes(v, subs)),
        _ => {}
    }
}

fn drop_sub_attribute(value: &mut Value, sub: &str) {
    match value {
        Value::Object(map) => map.retain(|k, _| !k.eq_ignore_ascii_case(sub)),
        Value::Array(items) => items.iter_mut().for_each(|v| drop_sub_attribute(v, sub)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::USER_RESOURCE;

    fn user() -> Value {
        json!({
            "schemas": [USER_SCHEMA_ID],
            "id": "u1",
            "userName": "bjensen",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [
                {"value": "b@work.example", "type": "work", "primary": true},
                {"value": "b@home.example", "type": "home"}
            ],
        })
    }

    fn projected(attributes: &str, excluded: &str) -> Value {
        let mut resource = user();
        let rt = &USER_RESOURCE;
        project(
            &mut resource,
            rt,
            &Projection::parse_list(attributes, rt),
            &Projection::parse_list(excluded, rt),
        );
        resource
    }

    #[test]
    fn value_filters_select_the_matching_values() {
        let got = projected(r#"emails[type eq "work"]"#, "");
        assert_eq!(got["emails"], json!([user()["emails"][0]]));
        assert!(got.get("userName").is_none(), "only what was asked for, and id");
        assert_eq!(got["id"], "u1");
        let got = projected(r#"emails[value eq "b@home.example"].value,userName"#, "");
        assert_eq!(got["emails"], json!([{"value": "b@home.example"}]));
        assert_eq!(got["userName"], "bjensen");
        // Unquoted, and nothing matching: no attribute at all.
        assert_eq!(
            projected("emails[type eq work]", "")["emails"],
            json!([user()["emails"][0]])
        );
        assert!(projected(r#"emails[type eq "other"]"#, "").get("emails").is_none());
        // A plain name next to a filtered one keeps every value.
        assert_eq!(
            projected(r#"emails[type eq "work"],emails"#, "")["emails"],
            user()["emails"]
        );
        // excludedAttributes drops the matching values.
        assert_eq!(
            projected("", r#"emails[type eq "home"]"#)["emails"],
            json!([user()["emails"][0]])
        );
        assert!(projected("", r#"emails[value co "example"]"#).get("emails").is_none());
    }

    #[test]
    fn plain_projections_are_unchanged() {
        let got = projected("name.givenName", "");
        assert_eq!(got["name"], json!({"givenName": "Barbara"}));
        let got = projected("", "emails,name.familyName");
        assert!(got.get("emails").is_none());
        assert_eq!(got["name"], json!({"givenName": "Barbara"}));
    }
}
