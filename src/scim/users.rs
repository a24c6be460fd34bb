//! `/Users`: list, get, create, replace (PUT), patch, delete.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use kube::ResourceExt;
use serde_json::Value;

use super::error::{ScimError, ScimResult};
use super::filter::Filter;
use super::list::{self, ListRequest, Selection};
use super::patch;
use super::request::{AppState, Authorized, IdPath, IfMatch, ScimJson, scim_response};
use super::resource::{Reference, etag, user_from_scim, user_to_scim};
use super::schema::USER_RESOURCE;
use super::write::{self, Created, Precondition, create_claimed, find, replace_edited, stamp};
use crate::api::fold_user_name;
use crate::api::{Group, User, UserSpec};
use crate::watch::{CachedUser, Namespace};

/// The groups of `user` that exist, taken from the store under its lock so that the user can be
/// rendered after the lock is released.
pub(super) fn groups_of(ns: &Namespace, ids: &[String]) -> Vec<Arc<Group>> {
    ids.iter().filter_map(|id| ns.groups.get(id).cloned()).collect()
}

/// A User as SCIM JSON, with the groups it belongs to (see [`groups_of`]).
pub(super) fn render(user: &User, groups: &[Arc<Group>], base_url: &str) -> Value {
    let groups: Vec<Reference<'_>> = groups
        .iter()
        .map(|g| Reference {
            id: g.metadata.name.as_deref().unwrap_or_default(),
            display: Some(&g.spec.display_name),
        })
        .collect();
    user_to_scim(user, base_url, &groups)
}

fn conflict(user_name: &str) -> ScimError {
    ScimError::uniqueness(format!("a user with userName {user_name:?} already exists"))
}

/// `GET /Users`: indexed lookups for `userName eq`, `externalId eq` and `id eq`; a scan otherwise.
pub async fn list(
    auth: Authorized,
    State(state): State<AppState>,
    Query(query): Query<list::Query>,
) -> ScimResult<Response> {
    respond_list(&state, &auth, &query).await
}

/// `POST /Users/.search`: the same as `GET /Users`, with the query in the body.
pub async fn search(auth: Authorized, State(state): State<AppState>, ScimJson(body): ScimJson) -> ScimResult<Response> {
    respond_list(&state, &auth, &list::Query::from_search(&body)?).await
}

/// Under the store's lock only pointers are taken: the page itself when nothing has to be rendered
/// to choose it, else every candidate. Rendering happens after the lock is released.
async fn respond_list(state: &AppState, auth: &Authorized, query: &list::Query) -> ScimResult<Response> {
    let request = ListRequest::parse(query, &USER_RESOURCE, state.config.max_results)?;
    let taken = state.store.read(&auth.namespace, |ns| {
        let indexed = |filter: &Filter| indexed_candidates(ns, filter);
        request.take(ns.users.values(), indexed, |user| {
            (user.clone(), groups_of(ns, &user.groups))
        })
    });
    let base_url = auth.base_url.clone();
    let render = move |(user, groups): &(Arc<CachedUser>, Vec<Arc<Group>>)| render(&user.to_user(), groups, &base_url);
    request.respond_taken(taken, render, &USER_RESOURCE).await
}

/// Candidates from an index when some top-level conjunct is `userName|externalId|id eq "…"`.
fn indexed_candidates<'a>(ns: &'a Namespace, filter: &Filter) -> Option<Vec<&'a Arc<CachedUser>>> {
    filter.conjuncts().into_iter().find_map(|c| {
        let (path, value) = c.simple_eq()?;
        if path.sub_attr.is_some()
            || path
                .schema
                .as_deref()
                .is_some_and(|s| !s.eq_ignore_ascii_case(USER_RESOURCE.schema.id))
        {
            return None;
        }
        match path.attr.to_ascii_lowercase().as_str() {
            "username" => Some(ns.user_by_name(value).into_iter().collect()),
            "externalid" => Some(ns.users_by_external_id(value).collect()),
            "id" => Some(ns.users.get(value).into_iter().collect()),
            _ => None,
        }
    })
}

fn respond(
    state: &AppState,
    auth: &Authorized,
    user: &User,
    status: StatusCode,
    selection: Option<&Selection>,
) -> Response {
    let groups = state.store.read(&auth.namespace, |ns| groups_of(ns, &user.spec.groups));
    let mut body = render(user, &groups, &auth.base_url);
    if let Some(selection) = selection {
        selection.apply(&mut body, &USER_RESOURCE);
    }
    scim_response(status, &body, Some(&etag(user)))
}

/// `GET /Users/{id}`
pub async fn get(
    auth: Authorized,
    State(state): State<AppState>,
    Path(IdPath { id }): Path<IdPath>,
    Query(query): Query<list::Query>,
) -> ScimResult<Response> {
    let user = find(state.writer(), &auth.namespace, &id).await?;
    let selection = Selection::parse(&query, &USER_RESOURCE);
    Ok(respond(&state, &auth, &user, StatusCode::OK, Some(&selection)))
}

fn parse_body(mut body: Value) -> ScimResult<UserSpec> {
    patch::normalize(&mut body, &USER_RESOURCE).map_err(|e| ScimError::bad_request(e.scim_type(), e.to_string()))?;
    user_from_scim(body)
}

/// `POST /Users` → 201, or 409 `uniqueness` when the userName (case-insensitive) is taken.
pub async fn create(auth: Authorized, State(state): State<AppState>, ScimJson(body): ScimJson) -> ScimResult<Response> {
    let spec = parse_body(body)?;
    let user_name = spec.user_name.clone();
    if state
        .store
        .read(&auth.namespace, |ns| ns.user_by_name(&user_name).is_some())
    {
        return Err(conflict(&user_name));
    }
    let directory = auth.directory.name_any();
    let make = |id: String| {
        let mut user = User::new(&id, spec.clone());
        user.metadata.namespace = Some(auth.namespace.clone());
        stamp(&mut user, &directory);
        user
    };
    let created = match create_claimed(state.writer(), &auth.namespace, make).await? {
        Created::New(user) => user,
        Created::Taken(_) => return Err(conflict(&user_name)),
    };
    tracing::info!(namespace = %auth.namespace, id = %created.name_any(), "user created");
    Ok(respond(&state, &auth, &created, StatusCode::CREATED, None))
}

/// Rewrites a user's spec with `edit` (see [`replace_edited`]). Membership (`spec.groups`) is
/// kept: it is changed only through /Groups.
async fn update(
    state: &AppState,
    auth: &Authorized,
    id: &str,
    precondition: Option<&Precondition>,
    edit: impl Fn(&User) -> ScimResult<UserSpec>,
) -> ScimResult<User> {
    let taken = |next: &User| conflict(&next.spec.user_name);
    let updated = replace_edited(
        state.writer(),
        &auth.namespace,
        id,
        precondition,
        taken,
        |current: &User| {
            let mut spec = edit(current)?;
            spec.groups = current.spec.groups.clone();
            if spec == current.spec {
                return Ok(None);
            }
            if fold_user_name(&spec.user_name) != fold_user_name(&current.spec.user_name)
                && state.store.read(&auth.namespace, |ns| {
                    ns.user_by_name(&spec.user_name).is_some_and(|u| u.name() != id)
                })
            {
                return Err(conflict(&spec.user_name));
            }
            let mut next = current.clone();
            next.spec = spec;
            stamp(&mut next, &auth.directory.name_any());
            Ok(Some(next))
        },
    )
    .await?;
    tracing::info!(namespace = %auth.namespace, %id, "user updated");
    Ok(updated)
}

/// `PUT /Users/{id}`: replaces every writable attribute (Okta updates this way).
pub async fn replace(
    auth: Authorized,
    State(state): State<AppState>,
    Path(IdPath { id }): Path<IdPath>,
    IfMatch(precondition): IfMatch,
    ScimJson(body): ScimJson,
) -> ScimResult<Response> {
    let spec = parse_body(body)?;
    let user = update(&state, &auth, &id, precondition.as_ref(), |_| Ok(spec.clone())).await?;
    Ok(respond(&state, &auth, &user, StatusCode::OK, None))
}

/// `PATCH /Users/{id}` → 200 with the resource (what Entra and the SCIM validator expect).
pub async fn patch(
    auth: Authorized,
    State(state): State<AppState>,
    Path(IdPath { id }): Path<IdPath>,
    IfMatch(precondition): IfMatch,
    ScimJson(body): ScimJson,
) -> ScimResult<Response> {
    let user = update(&state, &auth, &id, precondition.as_ref(), |current| {
        let scim = user_to_scim(current, &auth.base_url, &[]);
        let patched = patch::apply_patch(&scim, &USER_RESOURCE, &body)
            .map_err(|e| ScimError::bad_request(e.scim_type(), e.to_string()))?;
        user_from_scim(patched)
    })
    .await?;
    Ok(respond(&state, &auth, &user, StatusCode::OK, None))
}

/// `DELETE /Users/{id}` → 204; its bindings go with it.
pub async fn delete(
    auth: Authorized,
    State(state): State<AppState>,
    Path(IdPath { id }): Path<IdPath>,
    IfMatch(precondition): IfMatch,
) -> ScimResult<StatusCode> {
    let current: User = find(state.writer(), &auth.namespace, &id).await?;
    write::check(precondition.as_ref(), &current)?;
    write::delete(state.writer(), &auth.namespace, &current).await?;
    tracing::info!(namespace = %auth.namespace, %id, "user deleted");
    Ok(StatusCode::NO_CONTENT)
}
