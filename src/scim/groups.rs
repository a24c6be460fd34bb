//! `/Groups`: list, get, create, replace (PUT), patch, delete.
//!
//! Members live on the member Users (`spec.groups`), so a membership change writes only the users
//! it concerns and a group of any size stays a small object. Group PATCH answers 204, as Entra expects.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::Value;

use super::error::{ScimError, ScimResult};
use super::filter::Filter;
use super::list::{self, ListRequest, Selection};
use super::patch;
use super::request::{AppState, Authorized, IdPath, IfMatch, ScimJson, scim_response};
use super::resource::{Reference, etag, group_from_scim, group_to_scim};
use super::schema::GROUP_RESOURCE;
use super::write::{
    self, Created, Precondition, USER_ID_PREFIX, create_claimed, find, is_valid_id, replace_edited, set_membership,
    stamp, unknown_member,
};
use crate::api::annotations::PENDING_MEMBERS;
use crate::api::{Group, GroupSpec, User};
use crate::watch::{CachedUser, Namespace};

/// The members of `group`, taken from the store under its lock so that the group can be rendered
/// after the lock is released; `None` when they are not wanted.
pub(super) fn members_of(ns: &Namespace, group: &Group, with_members: bool) -> Option<Vec<Arc<CachedUser>>> {
    with_members.then(|| {
        ns.members(&group.name_any())
            .filter_map(|id| ns.users.get(id).cloned())
            .collect()
    })
}

/// A Group as SCIM JSON, with its members when they were taken (see [`members_of`]).
pub(super) fn render(group: &Group, members: Option<&[Arc<CachedUser>]>, base_url: &str) -> Value {
    let members: Option<Vec<Reference<'_>>> = members.map(|users| {
        users
            .iter()
            .map(|user| Reference {
                id: user.name(),
                display: user.display_name.as_deref().or(Some(&user.user_name)),
            })
            .collect()
    });
    group_to_scim(group, base_url, members.as_deref())
}

fn conflict(display_name: &str) -> ScimError {
    ScimError::uniqueness(format!("a group with displayName {display_name:?} already exists"))
}

/// Whether a filter needs `members` to be evaluated.
pub(super) fn mentions_members(filter: &Filter) -> bool {
    match filter {
        Filter::Compare { path, .. } | Filter::Present(path) | Filter::ValuePath { attr: path, .. } => {
            path.attr.eq_ignore_ascii_case("members")
        }
        Filter::And(a, b) | Filter::Or(a, b) => mentions_members(a) || mentions_members(b),
        Filter::Not(f) => mentions_members(f),
    }
}

/// `GET /Groups`: indexed lookups for `displayName eq`, `externalId eq`, `id eq` and
/// `members.value eq`; `excludedAttributes=members` never touches the members.
pub async fn list(
    auth: Authorized,
    State(state): State<AppState>,
    Query(query): Query<list::Query>,
) -> ScimResult<Response> {
    respond_list(&state, &auth, &query).await
}

/// `POST /Groups/.search`: the same as `GET /Groups`, with the query in the body.
pub async fn search(auth: Authorized, State(state): State<AppState>, ScimJson(body): ScimJson) -> ScimResult<Response> {
    respond_list(&state, &auth, &list::Query::from_search(&body)?).await
}

/// Whether a list request needs the groups' members: to return or to filter them.
pub(super) fn needs_members(request: &ListRequest) -> bool {
    request.projection.wants("members") || request.filter.as_ref().is_some_and(mentions_members)
}

/// As `GET /Users`: pointers under the lock, rendering after it (see [`ListRequest::take`]).
async fn respond_list(state: &AppState, auth: &Authorized, query: &list::Query) -> ScimResult<Response> {
    let request = ListRequest::parse(query, &GROUP_RESOURCE, state.config.max_results)?;
    let with_members = needs_members(&request);
    let taken = state.store.read(&auth.namespace, |ns| {
        let indexed = |filter: &Filter| indexed_candidates(ns, filter);
        request.take(ns.groups.values(), indexed, |group| {
            (group.clone(), members_of(ns, group, with_members))
        })
    });
    let base_url = auth.base_url.clone();
    let render = move |(group, members): &(Arc<Group>, Option<Vec<Arc<CachedUser>>>)| {
        render(group, members.as_deref(), &base_url)
    };
    request.respond_taken(taken, render, &GROUP_RESOURCE).await
}

fn indexed_candidates<'a>(ns: &'a Namespace, filter: &Filter) -> Option<Vec<&'a Arc<Group>>> {
    filter.conjuncts().into_iter().find_map(|c| {
        let (path, value) = c.simple_eq()?;
        if path
            .schema
            .as_deref()
            .is_some_and(|s| !s.eq_ignore_ascii_case(GROUP_RESOURCE.schema.id))
        {
            return None;
        }
        match (
            path.attr.to_ascii_lowercase().as_str(),
            path.sub_attr.as_deref().map(str::to_ascii_lowercase),
        ) {
            ("displayname", None) => Some(ns.group_by_name(value).into_iter().collect()),
            ("externalid", None) => Some(ns.groups_by_external_id(value).collect()),
            ("id", None) => Some(ns.groups.get(value).into_iter().collect()),
            ("members", Some(sub)) if sub == "value" => Some(
                ns.users
                    .get(value)
                    .map(|u| u.groups.iter().filter_map(|g| ns.groups.get(g)).collect())
                    .unwrap_or_default(),
            ),
            _ => None,
        }
    })
}

fn respond(state: &AppState, auth: &Authorized, group: &Group, status: StatusCode, selection: &Selection) -> Response {
    let members = state
        .store
        .read(&auth.namespace, |ns| members_of(ns, group, selection.wants("members")));
    let mut body = render(group, members.as_deref(), &auth.base_url);
    selection.apply(&mut body, &GROUP_RESOURCE);
    scim_response(status, &body, Some(&etag(group)))
}

/// `GET /Groups/{id}`
pub async fn get(
    auth: Authorized,
    State(state): State<AppState>,
    Path(IdPath { id }): Path<IdPath>,
    Query(query): Query<list::Query>,
) -> ScimResult<Response> {
    let group = find(state.writer(), &auth.namespace, &id).await?;
    Ok(respond(
        &state,
        &auth,
        &group,
        StatusCode::OK,
        &Selection::parse(&query, &GROUP_RESOURCE),
    ))
}

fn parse_body(mut body: Value) -> ScimResult<(GroupSpec, Option<Vec<String>>)> {
    patch::normalize(&mut body, &GROUP_RESOURCE).map_err(|e| ScimError::bad_request(e.scim_type(), e.to_string()))?;
    group_from_scim(body)
}

fn is_pending(group: &Group) -> bool {
    group.annotations().contains_key(PENDING_MEMBERS)
}

/// The 400 for a member id that is no User: nested groups get a message of their own.
fn refused_member(state: &AppState, namespace: &str, id: &str) -> ScimError {
    if state.store.read(namespace, |ns| ns.groups.contains_key(id)) {
        return ScimError::bad_request(
            "invalidValue",
            format!("member {id:?} is a Group: nested groups are not supported, only Users can be members"),
        );
    }
    unknown_member(id)
}

/// Refuses members that are not Users of this directory, before anything is written. An id this
/// replica has not seen yet (created on another replica a moment ago) is looked up in the API
/// server before it is refused: a 400 is permanent for Entra.
async fn check_members_exist(state: &AppState, namespace: &str, members: &BTreeSet<String>) -> ScimResult<()> {
    let unseen: Vec<String> = state.store.read(namespace, |ns| {
        members
            .iter()
            .filter(|m| !ns.users.contains_key(m.as_str()))
            .cloned()
            .collect()
    });
    let api = Api::<User>::namespaced(state.client.clone(), namespace);
    for id in unseen {
        let exists = is_valid_id(USER_ID_PREFIX, &id)
            && api
                .get_opt(&id)
                .await?
                .is_some_and(|u| u.metadata.deletion_timestamp.is_none());
        if !exists {
            return Err(refused_member(state, namespace, &id));
        }
    }
    Ok(())
}

/// After members were added: when the group was deleted meanwhile (a concurrent DELETE), takes
/// the additions back and answers 404, so no membership of a deleted group outlives the request.
async fn ensure_group_exists(state: &AppState, namespace: &str, id: &str, added: &[String]) -> ScimResult<()> {
    if added.is_empty() {
        return Ok(());
    }
    let group = Api::<Group>::namespaced(state.client.clone(), namespace)
        .get_opt(id)
        .await?;
    if group.is_some_and(|g| g.metadata.deletion_timestamp.is_none()) {
        return Ok(());
    }
    set_membership(state.writer(), namespace, id, added, false).await?;
    Err(ScimError::not_found(format!("Group {id} was deleted")))
}

/// `POST /Groups` → 201, or 409 `uniqueness` when the displayName is taken. A group with members
/// is created first (marked [`PENDING_MEMBERS`]), then its members are written, then the mark is
/// removed; if that fails midway, the client's retry continues the same group.
pub async fn create(auth: Authorized, State(state): State<AppState>, ScimJson(body): ScimJson) -> ScimResult<Response> {
    let (spec, members) = parse_body(body)?;
    let members: BTreeSet<String> = members.unwrap_or_default().into_iter().collect();
    let display_name = spec.display_name.clone();
    check_members_exist(&state, &auth.namespace, &members).await?;
    let directory = auth.directory.name_any();
    let cached = state
        .store
        .read(&auth.namespace, |ns| ns.group_by_name(&display_name).cloned());
    let group = match cached {
        Some(g) if is_pending(&g) => (*g).clone(),
        Some(_) => return Err(conflict(&display_name)),
        None => {
            let make = |id: String| {
                let mut group = Group::new(&id, spec.clone());
                group.metadata.namespace = Some(auth.namespace.clone());
                stamp(&mut group, &directory);
                if !members.is_empty() {
                    group.annotations_mut().insert(PENDING_MEMBERS.into(), "true".into());
                }
                group
            };
            match create_claimed(state.writer(), &auth.namespace, make).await? {
                Created::New(group) => group,
                Created::Taken(g) if is_pending(&g) && g.spec.display_name == display_name => g,
                Created::Taken(_) => return Err(conflict(&display_name)),
            }
        }
    };
    let id = group.name_any();
    let group = if is_pending(&group) {
        // Exactly the request's members, also when continuing an earlier attempt.
        let current: BTreeSet<String> = state
            .store
            .read(&auth.namespace, |ns| ns.members(&id).map(String::from).collect());
        let added: Vec<String> = members.difference(&current).cloned().collect();
        let removed: Vec<String> = current.difference(&members).cloned().collect();
        set_membership(state.writer(), &auth.namespace, &id, &added, true).await?;
        set_membership(state.writer(), &auth.namespace, &id, &removed, false).await?;
        ensure_group_exists(&state, &auth.namespace, &id, &added).await?;
        let done = serde_json::json!({
            "metadata": {"annotations": {PENDING_MEMBERS: null}},
            "spec": spec,
        });
        let group = Api::<Group>::namespaced(state.client.clone(), &auth.namespace)
            .patch(&id, &PatchParams::default(), &Patch::Merge(&done))
            .await?;
        state.store.record(group.clone());
        group
    } else {
        group
    };
    tracing::info!(namespace = %auth.namespace, %id, members = members.len(), "group created");
    Ok(respond(
        &state,
        &auth,
        &group,
        StatusCode::CREATED,
        &Selection::default(),
    ))
}

/// Applies a new spec and member set to a group: the group object only when its spec changed
/// (see [`replace_edited`]), and only the users whose membership changed.
async fn update(
    state: &AppState,
    auth: &Authorized,
    id: &str,
    precondition: Option<&Precondition>,
    edit: impl Fn(&Group, Vec<String>) -> ScimResult<(GroupSpec, Option<Vec<String>>)>,
) -> ScimResult<()> {
    // Members the edit adds that this replica has not seen are looked up in the API server first,
    // so that nothing is written when one is refused.
    let verified: BTreeSet<String> = {
        let current: Group = find(state.writer(), &auth.namespace, id).await?;
        let old: BTreeSet<String> = state
            .store
            .read(&auth.namespace, |ns| ns.members(id).map(String::from).collect());
        let (_, new) = edit(&current, old.iter().cloned().collect())?;
        let added: BTreeSet<String> = new.into_iter().flatten().filter(|m| !old.contains(m)).collect();
        check_members_exist(state, &auth.namespace, &added).await?;
        added
    };
    // The member change decided by the edit that succeeded: (members before, members after).
    let mut members = None;
    let taken = |next: &Group| conflict(&next.spec.display_name);
    replace_edited(
        state.writer(),
        &auth.namespace,
        id,
        precondition,
        taken,
        |current: &Group| {
            let old_members: BTreeSet<String> = state
                .store
                .read(&auth.namespace, |ns| ns.members(id).map(String::from).collect());
            let (spec, new_members) = edit(current, old_members.iter().cloned().collect())?;
            let new_members: Option<BTreeSet<String>> = new_members.map(|m| m.into_iter().collect());
            if let Some(new) = &new_members
                && let Some(unknown) = state.store.read(&auth.namespace, |ns| {
                    new.difference(&old_members)
                        .find(|m| !verified.contains(*m) && !ns.users.contains_key(m.as_str()))
                        .cloned()
                })
            {
                return Err(refused_member(state, &auth.namespace, &unknown));
            }
            members = new_members.map(|new| (old_members, new));
            if spec == current.spec {
                return Ok(None);
            }
            if spec.display_name != current.spec.display_name
                && state.store.read(&auth.namespace, |ns| {
                    ns.group_by_name(&spec.display_name).is_some_and(|g| g.name_any() != id)
                })
            {
                return Err(conflict(&spec.display_name));
            }
            let mut next = current.clone();
            next.spec = spec;
            stamp(&mut next, &auth.directory.name_any());
            Ok(Some(next))
        },
    )
    .await?;
    if let Some((old, new)) = members {
        let added: Vec<String> = new.difference(&old).cloned().collect();
        let removed: Vec<String> = old.difference(&new).cloned().collect();
        set_membership(state.writer(), &auth.namespace, id, &added, true).await?;
        set_membership(state.writer(), &auth.namespace, id, &removed, false).await?;
        ensure_group_exists(state, &auth.namespace, id, &added).await?;
    }
    tracing::info!(namespace = %auth.namespace, %id, "group updated");
    Ok(())
}

/// `PUT /Groups/{id}`: replaces displayName, externalId and the member list.
pub async fn replace(
    auth: Authorized,
    State(state): State<AppState>,
    Path(IdPath { id }): Path<IdPath>,
    IfMatch(precondition): IfMatch,
    ScimJson(body): ScimJson,
) -> ScimResult<Response> {
    let (spec, members) = parse_body(body)?;
    update(&state, &auth, &id, precondition.as_ref(), |_, _| {
        Ok((spec.clone(), Some(members.clone().unwrap_or_default())))
    })
    .await?;
    let group = find(state.writer(), &auth.namespace, &id).await?;
    Ok(respond(&state, &auth, &group, StatusCode::OK, &Selection::default()))
}

/// Whether a PATCH body can touch `members` (so the member list must be materialised).
fn patch_touches_members(body: &Value) -> bool {
    let ops = body
        .get("Operations")
        .or_else(|| body.get("operations"))
        .and_then(Value::as_array);
    ops.into_iter().flatten().any(|op| {
        let path = op.get("path").and_then(Value::as_str).unwrap_or("");
        let path_less_members = op
            .get("value")
            .and_then(Value::as_object)
            .is_some_and(|v| v.keys().any(|k| k.eq_ignore_ascii_case("members")));
        path.trim_start()
            .get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("members"))
            || (path.is_empty() && path_less_members)
    })
}

/// `PATCH /Groups/{id}` → 204.
pub async fn patch(
    auth: Authorized,
    State(state): State<AppState>,
    Path(IdPath { id }): Path<IdPath>,
    IfMatch(precondition): IfMatch,
    ScimJson(body): ScimJson,
) -> ScimResult<StatusCode> {
    if let Some(ops) = member_value_ops(&body) {
        return patch_members(&state, &auth, &id, precondition.as_ref(), &ops).await;
    }
    let touches_members = patch_touches_members(&body);
    update(&state, &auth, &id, precondition.as_ref(), |current, members| {
        let refs: Vec<Reference<'_>> = members.iter().map(|id| Reference { id, display: None }).collect();
        let scim = group_to_scim(current, &auth.base_url, touches_members.then_some(refs.as_slice()));
        let patched = patch::apply_patch(&scim, &GROUP_RESOURCE, &body)
            .map_err(|e| ScimError::bad_request(e.scim_type(), e.to_string()))?;
        let (spec, new_members) = group_from_scim(patched)?;
        Ok((
            spec,
            if touches_members {
                Some(new_members.unwrap_or_default())
            } else {
                None
            },
        ))
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One `add` or `remove` of listed members: `{"op":"Add","path":"members","value":[{"value":"…"}]}`.
#[derive(Debug, Clone, PartialEq)]
struct MemberOp {
    add: bool,
    ids: Vec<String>,
}

/// The operations of a PATCH body when every one adds or removes members by a non-empty value list
/// (what Entra sends for membership changes, TV15/TV16); `None` for anything else, which takes the
/// general path. This fast path never materialises the member list, so its cost is proportional
/// to the members in the request, not to the size of the group.
fn member_value_ops(body: &Value) -> Option<Vec<MemberOp>> {
    let body = body.as_object()?;
    let get = |obj: &'_ serde_json::Map<String, Value>, key: &str| -> Option<Value> {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.clone())
    };
    if body
        .keys()
        .any(|k| !k.eq_ignore_ascii_case("schemas") && !k.eq_ignore_ascii_case("Operations"))
    {
        return None;
    }
    if let Some(schemas) = get(body, "schemas") {
        let ok = schemas.as_array()?.iter().any(|u| {
            u.as_str()
                .is_some_and(|u| u.eq_ignore_ascii_case(patch::PATCH_OP_SCHEMA))
        });
        if !ok {
            return None;
        }
    }
    let ops = get(body, "Operations")?;
    let ops = ops.as_array()?;
    if ops.is_empty() {
        return None;
    }
    ops.iter()
        .map(|op| {
            let op = op.as_object()?;
            if op.len() != 3 {
                return None;
            }
            let add = match get(op, "op")?.as_str()?.to_ascii_lowercase().as_str() {
                "add" => true,
                "remove" => false,
                _ => return None,
            };
            if !get(op, "path")?.as_str()?.trim().eq_ignore_ascii_case("members") {
                return None;
            }
            let values = get(op, "value")?;
            let values = values.as_array()?;
            if values.is_empty() {
                return None;
            }
            let ids = values
                .iter()
                .map(|v| v.as_object()?.get("value")?.as_str().map(str::to_string))
                .collect::<Option<Vec<String>>>()?;
            Some(MemberOp { add, ids })
        })
        .collect()
}

/// Applies member operations in order to a membership given by `is_member`: the ids to add and
/// to remove, sorted. Adding a member or removing a non-member is a no-op, as on the general path.
fn member_delta(ops: &[MemberOp], is_member: impl Fn(&str) -> bool) -> (Vec<String>, Vec<String>) {
    let (mut added, mut removed) = (BTreeSet::new(), BTreeSet::new());
    for op in ops {
        for id in &op.ids {
            let now = added.contains(id) || (is_member(id) && !removed.contains(id));
            if op.add == now {
                continue;
            }
            // Undo an opposite change made earlier in this request, or record this one.
            let (undo, record) = if op.add {
                (&mut removed, &mut added)
            } else {
                (&mut added, &mut removed)
            };
            if !undo.remove(id) {
                record.insert(id.clone());
            }
        }
    }
    (added.into_iter().collect(), removed.into_iter().collect())
}

/// The fast path of `PATCH /Groups/{id}` for member additions and removals by value list: writes
/// only the Users whose membership changes.
async fn patch_members(
    state: &AppState,
    auth: &Authorized,
    id: &str,
    precondition: Option<&Precondition>,
    ops: &[MemberOp],
) -> ScimResult<StatusCode> {
    let current: Group = find(state.writer(), &auth.namespace, id).await?;
    write::check(precondition, &current)?;
    let (added, removed) = state.store.read(&auth.namespace, |ns| {
        member_delta(ops, |user| {
            ns.users
                .get(user)
                // Not a binary search: a list edited by other hands may be out of order.
                .is_some_and(|u| u.groups.iter().any(|g| g == id))
        })
    });
    check_members_exist(state, &auth.namespace, &added.iter().cloned().collect()).await?;
    set_membership(state.writer(), &auth.namespace, id, &added, true).await?;
    set_membership(state.writer(), &auth.namespace, id, &removed, false).await?;
    ensure_group_exists(state, &auth.namespace, id, &added).await?;
    tracing::info!(namespace = %auth.namespace, %id, added = added.len(), removed = removed.len(), "group members updated");
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /Groups/{id}` → 204. Memberships are removed first, so that a group later created with
/// the same displayName (and so the same id) never inherits stale members.
pub async fn delete(
    auth: Authorized,
    State(state): State<AppState>,
    Path(IdPath { id }): Path<IdPath>,
    IfMatch(precondition): IfMatch,
) -> ScimResult<StatusCode> {
    let current: Group = find(state.writer(), &auth.namespace, &id).await?;
    write::check(precondition.as_ref(), &current)?;
    let members: Vec<String> = state
        .store
        .read(&auth.namespace, |ns| ns.members(&id).map(String::from).collect());
    set_membership(state.writer(), &auth.namespace, &id, &members, false).await?;
    write::delete(state.writer(), &auth.namespace, &current).await?;
    tracing::info!(namespace = %auth.namespace, %id, members = members.len(), "group deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::patch::member_changes;

    fn members(ids: &[&str]) -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "id": "g1",
            "displayName": "ws-a-role-member",
            "members": ids.iter().map(|i| json!({"value": i})).collect::<Vec<_>>(),
        })
    }

    /// The fast path must agree with the general PATCH engine on every body it accepts.
    #[test]
    fn member_fast_path_agrees_with_the_patch_engine() {
        let before = ["u1", "u2", "u3"];
        let bodies = [
            json!({"schemas":[patch::PATCH_OP_SCHEMA],"Operations":[{"op":"Add","path":"members","value":[{"$ref":null,"value":"u4"},{"value":"u1"}]}]}),
            json!({"schemas":[patch::PATCH_OP_SCHEMA],"Operations":[{"op":"Remove","path":"members","value":[{"$ref":null,"value":"u2"},{"value":"u9"}]}]}),
            json!({"Operations":[{"op":"add","path":"members","value":[{"value":"u5"}]},{"op":"remove","path":"members","value":[{"value":"u5"},{"value":"u1"}]}]}),
            json!({"operations":[{"OP":"remove","Path":"Members","Value":[{"value":"u3"}]},{"op":"add","path":"members","value":[{"value":"u3"},{"value":"u6"}]}]}),
        ];
        for body in &bodies {
            let ops = member_value_ops(body).unwrap_or_else(|| panic!("fast path for {body}"));
            let (added, removed) = member_delta(&ops, |id| before.contains(&id));
            let patched = patch::apply_patch(&members(&before), &GROUP_RESOURCE, body).expect("patch applies");
            let expected = member_changes(&members(&before), &patched);
            assert_eq!((added, removed), (expected.added, expected.removed), "{body}");
        }
    }

    #[test]
    fn other_bodies_take_the_general_path() {
        for body in [
            json!({"Operations":[{"op":"remove","path":"members[value eq \"u1\"]"}]}),
            json!({"Operations":[{"op":"remove","path":"members"}]}),
            json!({"Operations":[{"op":"add","path":"members","value":[]}]}),
            json!({"Operations":[{"op":"replace","path":"members","value":[{"value":"u1"}]}]}),
            json!({"Operations":[{"op":"add","value":{"members":[{"value":"u1"}]}}]}),
            json!({"Operations":[{"op":"add","path":"members","value":[{"display":"x"}]}]}),
            json!({"Operations":[{"op":"Replace","path":"displayName","value":"x"}]}),
            json!({"schemas":["urn:other"],"Operations":[{"op":"add","path":"members","value":[{"value":"u1"}]}]}),
            json!({"Operations":[]}),
        ] {
            assert!(member_value_ops(&body).is_none(), "{body}");
        }
    }
}
