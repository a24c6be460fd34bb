//! `POST /.search` at a directory's root (RFC 7644 §3.4.3): Users and Groups in one
//! ListResponse, with the filter, paging, sorting and attribute selection of a GET.
//! `POST /Users/.search` and `POST /Groups/.search` live with their resources.

use axum::extract::State;
use axum::response::Response;

use super::error::ScimResult;
use super::list::{self, ListRequest, Query};
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
    // Pointers under the store's lock; rendering, filtering and sorting after it, off the async
    // workers (see `list::Taken`).
    let with_members = groups_request.as_ref().is_some_and(groups::needs_members);
    let (users, groups) = state.store.read(&auth.namespace, |ns| {
        let users: Vec<_> = match users_request {
            Some(_) => ns
                .users
                .values()
                .map(|u| (u.clone(), users::groups_of(ns, &u.groups)))
                .collect(),
            None => Vec::new(),
        };
        let groups: Vec<_> = match groups_request {
            Some(_) => ns
                .groups
                .values()
                .map(|g| (g.clone(), groups::members_of(ns, g, with_members)))
                .collect(),
            None => Vec::new(),
        };
        (users, groups)
    });
    let base_url = auth.base_url.clone();
    list::off_the_workers(users.len() + groups.len(), move || {
        let mut matched = Vec::new();
        if let Some(request) = &users_request {
            matched.extend(
                users
                    .iter()
                    .map(|(u, groups)| users::render(&u.to_user(), groups, &base_url))
                    .filter(|r| request.matches(r, &USER_RESOURCE)),
            );
        }
        if let Some(request) = &groups_request {
            matched.extend(
                groups
                    .iter()
                    .map(|(g, members)| groups::render(g, members.as_deref(), &base_url))
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
    })
    .await
}
