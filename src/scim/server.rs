//! The HTTP surface: router, shared state, authentication of each request, SCIM JSON in and out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kube::{Client, ResourceExt};
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::auth::Authenticator;
use super::error::{SCIM_JSON, ScimError, ScimResult};
use super::request::DirectoryPath;
use super::store::Store;
use super::{discovery, groups, search, users};
use crate::api::Directory;

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

/// Builds the SCIM router: `/scim/v2/{namespace}/{directory}/…`. Paths reach it as written;
/// [`canonical_paths`] wrapped around it makes `/users/` route as `/Users`.
pub fn router(state: AppState) -> Router {
    let base = "/scim/v2/{namespace}/{directory}";
    Router::new()
        .route(&format!("{base}/.search"), post(search::root))
        .route(&format!("{base}/Users/.search"), post(users::search))
        .route(&format!("{base}/Groups/.search"), post(groups::search))
        .route(&format!("{base}/Users"), get(users::list).post(users::create))
        .route(
            &format!("{base}/Users/{{id}}"),
            get(users::get)
                .put(users::replace)
                .patch(users::patch)
                .delete(users::delete),
        )
        .route(&format!("{base}/Groups"), get(groups::list).post(groups::create))
        .route(
            &format!("{base}/Groups/{{id}}"),
            get(groups::get)
                .put(groups::replace)
                .patch(groups::patch)
                .delete(groups::delete),
        )
        .route(
            &format!("{base}/ServiceProviderConfig"),
            get(discovery::service_provider_config),
        )
        .route(&format!("{base}/ResourceTypes"), get(discovery::resource_types))
        .route(&format!("{base}/ResourceTypes/{{name}}"), get(discovery::resource_type))
        .route(&format!("{base}/Schemas"), get(discovery::schemas))
        .route(&format!("{base}/Schemas/{{id}}"), get(discovery::schema))
        .fallback(|| async { ScimError::not_found("no such SCIM endpoint") })
        .with_state(state)
}

/// The endpoint names under a directory's base URL, spelled as routed.
const ENDPOINTS: [&str; 6] = [
    "Users",
    "Groups",
    "ServiceProviderConfig",
    "ResourceTypes",
    "Schemas",
    ".search",
];

/// Wraps `app` so that clients' spellings of a path route as the canonical one: the endpoint
/// name in any case (`/users`, `/GROUPS`) and a trailing `/` (`/Users/?filter=…`). This runs
/// before routing, so route labels in metrics stay the canonical ones.
pub fn canonical_paths(app: Router) -> Router {
    let rewrite = |mut request: Request| {
        if let Some(uri) = canonical_uri(request.uri()) {
            *request.uri_mut() = uri;
        }
        request
    };
    Router::new().fallback_service(tower::ServiceBuilder::new().map_request(rewrite).service(app))
}

/// The URI with its path made canonical by [`canonical_path`]; `None` when it already is.
fn canonical_uri(uri: &Uri) -> Option<Uri> {
    let path = canonical_path(uri.path())?;
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse().ok()?);
    Uri::from_parts(parts).ok()
}

/// `/scim/v2/{namespace}/{directory}/{endpoint}[/…]` with one trailing `/` removed and the
/// endpoint name (and a `.search` after it) in canonical case; `None` when nothing changes.
fn canonical_path(path: &str) -> Option<String> {
    let trimmed = match path.strip_suffix('/') {
        Some(p) if !p.is_empty() => p,
        _ => path,
    };
    let mut segments: Vec<&str> = trimmed.split('/').collect();
    if segments.len() > 5 && segments[1] == "scim" && segments[2] == "v2" {
        // The endpoint, and `.search` after `Users`/`Groups`; ids and names keep their case.
        for (i, names) in [(5, &ENDPOINTS[..]), (6, &ENDPOINTS[5..])] {
            let Some(segment) = segments.get(i) else { break };
            if let Some(canonical) = names.iter().find(|e| e.eq_ignore_ascii_case(segment)) {
                segments[i] = canonical;
            } else if i == 5 && segment.eq_ignore_ascii_case("serviceConfiguration") {
                // The name Microsoft's SCIM reference server (and its test collection) uses.
                segments[i] = "ServiceProviderConfig";
            }
        }
    }
    let canonical = segments.join("/");
    (canonical != path).then_some(canonical)
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

/// Fails with 412 when `If-Match` is present and names none of the current version's ETags.
pub fn check_if_match(headers: &HeaderMap, current_etag: &str) -> ScimResult<()> {
    let Some(value) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let strip = |e: &str| e.trim().trim_start_matches("W/").trim_matches('"').to_string();
    let current = strip(current_etag);
    if value.split(',').any(|e| e.trim() == "*" || strip(e) == current) {
        Ok(())
    } else {
        Err(ScimError::precondition_failed(format!(
            "If-Match does not match the current version {current_etag}"
        )))
    }
}

/// Health: the process is alive.
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the cache has synced, so SCIM reads are complete.
pub async fn readyz(State(store): State<Store>) -> Response {
    if store.is_ready() {
        "ok".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "cache not synced").into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_names_in_any_case_and_trailing_slashes_are_canonicalised() {
        let cases = [
            ("/scim/v2/ns/dir/users", Some("/scim/v2/ns/dir/Users")),
            ("/scim/v2/ns/dir/Users/", Some("/scim/v2/ns/dir/Users")),
            ("/scim/v2/ns/dir/GROUPS/g1", Some("/scim/v2/ns/dir/Groups/g1")),
            ("/scim/v2/ns/dir/groups/.SEARCH", Some("/scim/v2/ns/dir/Groups/.search")),
            (
                "/scim/v2/ns/dir/serviceproviderconfig",
                Some("/scim/v2/ns/dir/ServiceProviderConfig"),
            ),
            ("/scim/v2/ns/dir/.Search", Some("/scim/v2/ns/dir/.search")),
            (
                "/scim/v2/ns/dir/serviceConfiguration",
                Some("/scim/v2/ns/dir/ServiceProviderConfig"),
            ),
            ("/scim/v2/ns/dir/Users/u1/", Some("/scim/v2/ns/dir/Users/u1")),
            // Already canonical, or not an endpoint: untouched (ids and names keep their case).
            ("/scim/v2/ns/dir/Users", None),
            ("/scim/v2/NS/Dir/Users/U1", None),
            ("/scim/v2/ns/dir/Other", None),
            ("/", None),
            ("/healthz", None),
        ];
        for (path, expected) in cases {
            assert_eq!(canonical_path(path).as_deref(), expected, "{path}");
        }
        let uri: Uri = "/scim/v2/ns/dir/users/?filter=userName%20eq%20%22a%22".parse().unwrap();
        assert_eq!(
            canonical_uri(&uri).unwrap().to_string(),
            "/scim/v2/ns/dir/Users?filter=userName%20eq%20%22a%22"
        );
    }
}
