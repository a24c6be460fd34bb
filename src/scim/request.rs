//! What a SCIM handler receives and answers with: the shared state, the authenticated
//! directory, the bounded JSON body, typed path parameters, `If-Match`, and the SCIM response.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kube::{Client, ResourceExt};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::auth::Authenticator;
use super::error::{SCIM_JSON, ScimError, ScimResult};
use super::write::{Precondition, Writer};
use crate::api::Directory;
use crate::watch::Store;

/// Settings of the SCIM endpoint.
#[derive(Clone, Debug)]
pub struct ScimConfig {
    /// Largest accepted request body, in bytes (larger → 413).
    pub max_body_bytes: usize,
    /// Largest page of a list response, advertised as `filter.maxResults`.
    pub max_results: usize,
    /// How long a name claim whose holder does not hold the name is left alone (see `claims`).
    pub claim_grace: std::time::Duration,
    /// How long a client may take to send a whole request body (longer → 408).
    pub body_timeout: Duration,
    /// Scheme, host and optional path prefix clients reach this server at (`--external-url`,
    /// no trailing `/`): when set, `Location`, `meta.location` and `$ref` are absolute URIs
    /// (RFC 7643 §3.1); when unset, they are paths.
    pub external_url: Option<String>,
}

impl Default for ScimConfig {
    fn default() -> Self {
        ScimConfig {
            max_body_bytes: 1024 * 1024,
            max_results: 1000,
            claim_grace: super::claims::CLAIM_GRACE,
            body_timeout: Duration::from_secs(30),
            external_url: None,
        }
    }
}

/// Per-directory in-flight limits: each Directory gets its own `limit` slots, so one tenant's load
/// (or slow bodies) answers 429 to that tenant only. Slots are taken after authentication, so the
/// map holds only Directories that exist, whatever URLs clients make up.
#[derive(Clone)]
pub struct DirectorySlots {
    limit: usize,
    directories: Arc<Mutex<HashMap<DirectoryKey, Arc<Semaphore>>>>,
}

/// A Directory by namespace and name.
type DirectoryKey = (String, String);

impl DirectorySlots {
    /// `limit` concurrent authenticated requests per Directory.
    pub fn new(limit: usize) -> Self {
        DirectorySlots {
            limit,
            directories: Arc::default(),
        }
    }

    /// A slot of directory `namespace/name`, held until dropped; 429 when all are taken.
    fn acquire(&self, namespace: &str, name: &str) -> ScimResult<OwnedSemaphorePermit> {
        let semaphore = self
            .directories
            .lock()
            .expect("directory slots lock")
            .entry((namespace.to_string(), name.to_string()))
            .or_insert_with(|| Arc::new(Semaphore::new(self.limit)))
            .clone();
        semaphore.try_acquire_owned().map_err(|_| ScimError::overloaded())
    }
}

/// State shared by all handlers.
#[derive(Clone)]
pub struct AppState {
    pub client: Client,
    pub store: Store,
    pub auth: Arc<Authenticator>,
    pub slots: DirectorySlots,
    pub config: ScimConfig,
}

impl AppState {
    /// What the write path needs of this state.
    pub fn writer(&self) -> Writer<'_> {
        Writer {
            client: &self.client,
            store: &self.store,
            claim_grace: self.config.claim_grace,
        }
    }
}

/// An authenticated request to one directory's endpoint.
pub struct Authorized {
    pub namespace: String,
    pub directory: Arc<Directory>,
    /// `/scim/v2/{namespace}/{directory}` (after `--external-url`, when set): the prefix of
    /// `Location`, `meta.location` and `$ref`.
    pub base_url: String,
    /// This request's slot of the directory's in-flight limit, released when the request ends.
    _slot: OwnedSemaphorePermit,
}

impl FromRequestParts<AppState> for Authorized {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ScimResult<Self> {
        let Path(DirectoryPath { namespace, directory }) = Path::<DirectoryPath>::from_request_parts(parts, state)
            .await
            .map_err(|_| ScimError::not_found("no such SCIM endpoint"))?;
        let (namespace, name) = (namespace.as_str(), directory.as_str());
        if !state.store.is_ready() {
            return Err(ScimError::unavailable("the server is still loading its cache"));
        }
        // The oldest Directory of a namespace is the active one; a token of another directory never
        // reaches this one's data, because the lookup is by the URL's namespace and name.
        let directories = state.store.directories(namespace);
        let directory = directories
            .iter()
            .find(|d| d.name_any() == name)
            .cloned()
            // 401 rather than 404: an unauthenticated client learns nothing about which directories exist.
            .ok_or_else(ScimError::unauthorized)?;
        // Counted per Directory from here on, failed authentication included: a wrong token is
        // what gets an Entra app quarantined. Only existing Directories get series.
        if let Some(slot) = parts.extensions.get::<crate::metrics::DirectorySlot>() {
            slot.set(namespace, name);
        }
        let authorization = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        state.auth.check(&directory, authorization).await?;
        if let Some(active) = directories.first()
            && active.name_any() != name
        {
            return Err(ScimError::not_found(format!(
                "directory {namespace}/{name} is not active: namespace {namespace} already has directory {}",
                active.name_any()
            )));
        }
        // Taken before the body is read: a tenant trickling bodies holds only its own slots.
        let slot = state.slots.acquire(namespace, name)?;
        Ok(Authorized {
            namespace: namespace.to_string(),
            directory,
            base_url: format!(
                "{}/scim/v2/{namespace}/{name}",
                state.config.external_url.as_deref().unwrap_or("")
            ),
            _slot: slot,
        })
    }
}

/// A JSON request body, bounded by `max_body_bytes`, with SCIM errors for bad input.
pub struct ScimJson(pub Value);

impl FromRequest<AppState> for ScimJson {
    type Rejection = ScimError;

    async fn from_request(req: Request<Body>, state: &AppState) -> ScimResult<Self> {
        let limit = state.config.max_body_bytes;
        let timeout = state.config.body_timeout;
        let bytes: Bytes = tokio::time::timeout(timeout, axum::body::to_bytes(req.into_body(), limit))
            .await
            .map_err(|_| ScimError::request_timeout(timeout))?
            .map_err(|_| ScimError::too_large(limit))?;
        if bytes.is_empty() {
            return Err(ScimError::bad_request("invalidSyntax", "the request body is empty"));
        }
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| ScimError::bad_request("invalidSyntax", format!("the body is not valid JSON: {e}")))?;
        if !value.is_object() {
            return Err(ScimError::bad_request(
                "invalidSyntax",
                "the body must be a JSON object",
            ));
        }
        Ok(ScimJson(value))
    }
}

/// A SCIM resource response with `Content-Type: application/scim+json`, an `ETag` when given,
/// and on 201 the `Location` of the new resource (RFC 7644 §3.3: its `meta.location`).
pub fn scim_response(status: StatusCode, body: &Value, etag: Option<&str>) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    if let Some(etag) = etag.and_then(|e| HeaderValue::from_str(e).ok()) {
        headers.insert(header::ETAG, etag);
    }
    if status == StatusCode::CREATED
        && let Some(location) = body["meta"]["location"]
            .as_str()
            .and_then(|l| HeaderValue::from_str(l).ok())
    {
        headers.insert(header::LOCATION, location);
    }
    response
}

/// The request's `If-Match` as a write precondition; `None` without the header.
pub struct IfMatch(pub Option<Precondition>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> ScimResult<Self> {
        // A value that is not visible ASCII names no ETag of ours; it never fails the check, but
        // a lost race under it still answers 412, as under any If-Match.
        Ok(IfMatch(
            parts
                .headers
                .get(header::IF_MATCH)
                .map(|v| Precondition::if_match(v.to_str().unwrap_or("*"))),
        ))
    }
}

/// `/scim/v2/{namespace}/{directory}/…`: the directory every endpoint is under.
#[derive(Debug, Deserialize)]
pub struct DirectoryPath {
    pub namespace: String,
    pub directory: String,
}

/// `…/Users/{id}`, `…/Groups/{id}`, `…/Schemas/{id}`: one resource by its id.
#[derive(Debug, Deserialize)]
pub struct IdPath {
    pub id: String,
}

/// `…/ResourceTypes/{name}`: one resource type by its name.
#[derive(Debug, Deserialize)]
pub struct NamePath {
    pub name: String,
}
