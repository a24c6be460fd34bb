//! `/ServiceProviderConfig`, `/ResourceTypes` and `/Schemas` (RFC 7644 §4), generated from the
//! same schema table the server enforces, so a client that trusts them is never surprised.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::error::{ScimError, ScimResult};
use super::list::LIST_RESPONSE;
use super::request::{AppState, Authorized, IdPath, NamePath, scim_response};
use super::schema::{
    AttrType, Attribute, GROUP_RESOURCE, Mutability, ResourceType, Returned, Schema, USER_RESOURCE, Uniqueness,
};

const RESOURCE_TYPES: [&ResourceType; 2] = [&USER_RESOURCE, &GROUP_RESOURCE];

fn list(resources: Vec<Value>) -> Response {
    let body = json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": resources.len(),
        "startIndex": 1,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    });
    scim_response(StatusCode::OK, &body, None)
}

/// `GET /ServiceProviderConfig`
pub async fn service_provider_config(auth: Authorized, State(state): State<AppState>) -> Response {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://github.com/scim-operator/scim-operator#scim-endpoint",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": state.config.max_results},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "A long-lived bearer token from the Directory's token Secret.",
            "primary": true,
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{}/ServiceProviderConfig", auth.base_url)},
    });
    scim_response(StatusCode::OK, &body, None)
}

fn resource_type_json(rt: &ResourceType, base_url: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": rt.name,
        "name": rt.name,
        "endpoint": rt.endpoint,
        "description": rt.description,
        "schema": rt.schema.id,
        "schemaExtensions": rt.extensions.iter().map(|s| json!({"schema": s.id, "required": false})).collect::<Vec<_>>(),
        "meta": {"resourceType": "ResourceType", "location": format!("{base_url}/ResourceTypes/{}", rt.name)},
    })
}

/// `GET /ResourceTypes`
pub async fn resource_types(auth: Authorized) -> Response {
    list(
        RESOURCE_TYPES
            .iter()
            .map(|rt| resource_type_json(rt, &auth.base_url))
            .collect(),
    )
}

/// `GET /ResourceTypes/{name}`
pub async fn resource_type(auth: Authorized, Path(NamePath { name }): Path<NamePath>) -> ScimResult<Response> {
    let rt = RESOURCE_TYPES
        .iter()
        .find(|rt| rt.name == name)
        .ok_or_else(|| ScimError::not_found(format!("resource type {name:?} not found")))?;
    Ok(scim_response(
        StatusCode::OK,
        &resource_type_json(rt, &auth.base_url),
        None,
    ))
}

fn camel<T: std::fmt::Debug>(value: T) -> String {
    let text = format!("{value:?}");
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_ascii_lowercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

fn attribute_json(a: &Attribute) -> Value {
    let ty = match a.ty {
        AttrType::DateTime => "dateTime".to_string(),
        other => camel(other),
    };
    let mut out = json!({
        "name": a.name,
        "type": ty,
        "multiValued": a.multi_valued,
        "description": a.description,
        "required": a.required,
        "caseExact": a.case_exact,
        "mutability": camel::<Mutability>(a.mutability),
        "returned": camel::<Returned>(a.returned),
        "uniqueness": camel::<Uniqueness>(a.uniqueness),
    });
    if !a.canonical_values.is_empty() {
        out["canonicalValues"] = json!(a.canonical_values);
    }
    if a.ty == AttrType::Reference {
        out["referenceTypes"] = json!(a.reference_types);
    }
    if !a.sub_attributes.is_empty() {
        out["subAttributes"] = a.sub_attributes.iter().map(attribute_json).collect();
    }
    out
}

fn schema_json(schema: &Schema, base_url: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": schema.id,
        "name": schema.name,
        "description": schema.description,
        "attributes": schema.attributes.iter().map(attribute_json).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{base_url}/Schemas/{}", schema.id)},
    })
}

fn all_schemas() -> impl Iterator<Item = &'static Schema> {
    RESOURCE_TYPES.into_iter().flat_map(|rt| rt.schemas())
}

/// `GET /Schemas`
pub async fn schemas(auth: Authorized) -> Response {
    list(all_schemas().map(|s| schema_json(s, &auth.base_url)).collect())
}

/// `GET /Schemas/{id}`
pub async fn schema(auth: Authorized, Path(IdPath { id }): Path<IdPath>) -> ScimResult<Response> {
    let schema = all_schemas()
        .find(|s| s.id.eq_ignore_ascii_case(&id))
        .ok_or_else(|| ScimError::not_found(format!("schema {id:?} not found")))?;
    Ok(scim_response(
        StatusCode::OK,
        &schema_json(schema, &auth.base_url),
        None,
    ))
}
