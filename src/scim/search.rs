//! `POST /.search` at a directory's root (RFC 7644 §3.4.3): Users and Groups in one
//! ListResponse, with the filter, paging, sorting and attribute selection of a GET.
//! `POST /Users/.search` and `POST /Groups/.search` live with their resources.

use axum::extract::State;
use axum::response::Response;

use super::error::ScimResult;
use super::list::{ListRequest, Query};
use super::request::{AppState, Authorized, ScimJson};
use super::schema::{GROUP_RESOURCE, USER_RESOURCE};
use super::{groups, users};

/// `POST /.search`. A filter or attribute that only one resource type has (`userName`) selects
/// from that type alone; one that neither has is a 400, as on `GET /Users`.
pub async fn root(auth: Authorized, State(state): State<AppState>, ScimJson(body): ScimJson) -> ScimResult<Response> {
    let query = Query::from_search(&body)?;
    let max = state.config.max_results;
    let (users_request, groups_request) = match (
        ListRequest::parse(&query, &USER_RESOURCE, max),
        ListRequest::parse(&query, &GROUP_RESOURCE, max),
    ) {
        (Err(e), Err(_)) => return Err(e),
        (u, g) => (u.ok(), g.ok()),
    };
    Ok(state.store.read(&auth.namespace, |ns| {
        let mut matched = Vec::new();
        if let Some(request) = &users_request {
            matched.extend(
                ns.users
                    .values()
                    .map(|u| users::render(ns, u, &auth.base_url))
                    .filter(|r| request.matches(r, &USER_RESOURCE)),
            );
        }
        if let Some(request) = &groups_request {
            let with_members = groups::needs_members(request);
            matched.extend(
                ns.groups
                    .values()
                    .map(|g| groups::render(ns, g, &auth.base_url, with_members))
                    .filter(|r| request.matches(r, &GROUP_RESOURCE)),
            );
        }
        // Paging and sorting parameters are the same in both requests; at least one parsed.
        let paging = users_request.as_ref().or(groups_request.as_ref());
        let paging = paging.expect("one request parsed");
        paging.page(matched, |resource| {
            let is_group = resource["meta"]["resourceType"] == "Group";
            match (is_group, &users_request, &groups_request) {
                (false, Some(request), _) => request.projection.apply(resource, &USER_RESOURCE),
                (true, _, Some(request)) => request.projection.apply(resource, &GROUP_RESOURCE),
                _ => {}
            }
        })
    }))
}
