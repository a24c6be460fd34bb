//! The router: which path goes to which handler, paths spelled as clients spell them, health.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::error::ScimError;
use super::request::AppState;
use super::{discovery, groups, search, users};
use crate::watch::Store;

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
