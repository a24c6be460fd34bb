//! Reconcile of one User: plan (pure rules) → apply its RoleBindings → delete its stale ones →
//! write its status, and publish an Event when a role conflict first appears.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};

use super::apply::managed_labels;
use super::cache::{CachedBinding, fingerprint};
use super::status::{binding_status, user_conflict_message, user_status};
use super::{Context, Error, Result, memberships, native};
use crate::api::{ConflictPolicy, RoleBinding, User, labels, reason};
use crate::rules::{GroupInfo, PlanSettings, UserPlan, plan_user};
use crate::watch::CachedUser;

/// Reconciles one User. Called by the controller runtime, never twice at once for one user.
pub(crate) async fn reconcile(user: Arc<CachedUser>, ctx: Arc<Context>) -> Result<()> {
    let _timer = ctx.metrics.time("User");
    ctx.caches.ready().await?;
    if user.namespace().is_empty() {
        return Err(Error::MissingField("metadata.namespace"));
    }
    let (ns, id) = (user.namespace().to_string(), user.name().to_string());
    memberships::purge_deleted_groups(&ctx, &user, &ns).await?;
    // The caches have listed (above), so no Directory here means none, not "not seen yet".
    let directory = ctx.caches.directory(&ns).filter(|d| !d.is_deleting());
    let settings = directory.as_ref().map(|d| PlanSettings::from_directory(&d.spec));
    // Without a Directory nobody is in conflict: the policy only words conflict messages.
    let policy = settings.as_ref().map(|s| s.conflict_policy).unwrap_or_default();
    let dir_name = directory.as_ref().map(|d| d.name_any());

    // Only this user's groups are parsed: planning one user never walks the whole directory.
    let infos: HashMap<&str, GroupInfo> = user
        .groups
        .iter()
        .filter_map(|g| {
            let group = ctx.caches.groups.get(&ObjectRef::new(g).within(&ns))?;
            Some((g.as_str(), GroupInfo::from(&group.spec)))
        })
        .collect();
    let plan = plan_user(&user.plan_input(), |g| infos.get(g), settings.as_ref());
    let now = Time(jiff::Timestamp::now());

    let desired = apply_bindings(&ctx, &user, &ns, dir_name.as_deref(), &plan, policy, &now).await?;
    // Anything else labelled with this user is stale (left a workspace, suspended, ...).
    for name in ctx.caches.bindings.of_user(&ns, &id) {
        if !desired.contains(&name) {
            ctx.writer.delete::<RoleBinding>(&ns, &name).await?;
        }
    }
    native::reconcile_user(&ctx, &ns, directory.as_ref(), &plan).await?;

    let previous = user.status.as_ref().map(|s| s.previous());
    let status = user_status(previous.as_ref(), &plan, policy, user.generation(), &now);
    if !user.status.as_ref().is_some_and(|s| s.matches(&status)) {
        ctx.writer.apply_status::<User, _>(&ns, &id, &status).await?;
    }
    publish_conflict(&ctx, &user, &plan, policy).await;
    ctx.metrics.reconciled("User");
    Ok(())
}

/// Applies each desired binding whose spec, metadata or status differs from the cache; returns
/// the desired names.
async fn apply_bindings(
    ctx: &Context,
    user: &CachedUser,
    ns: &str,
    directory: Option<&str>,
    plan: &UserPlan,
    policy: ConflictPolicy,
    now: &Time,
) -> Result<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    for binding in plan.bindings() {
        let mut rb = RoleBinding::new(&binding.name, binding.spec.clone());
        rb.metadata.namespace = Some(ns.to_string());
        let mut labels = managed_labels(directory);
        labels.insert(labels::USER.into(), plan.user.clone());
        if let Some(ws) = &binding.spec.workspace {
            labels.insert(labels::WORKSPACE.into(), ws.clone());
        }
        rb.metadata.labels = Some(labels);
        // A backstop for real clusters; the controller deletes bindings itself (no GC in tests).
        rb.metadata.owner_references = user.controller_owner_ref().map(|o| vec![o]);

        let message = binding
            .spec
            .workspace
            .as_deref()
            .and_then(|w| plan.workspaces.iter().find(|b| b.workspace == w))
            .map(|b| b.conflict_message(policy))
            .unwrap_or_default();
        // The binding's status as it would be written over `have` (the cached state, if any),
        // at `generation`.
        let status_over = |have: Option<&CachedBinding>, generation| {
            let previous = have.map(CachedBinding::previous_status);
            binding_status(previous.as_ref(), &binding, &message, Some(generation), now)
        };
        // Whether `have` is what would be written now, at its own generation.
        let holds = |have: &CachedBinding| {
            let status = status_over(Some(have), have.generation);
            fingerprint(&rb.metadata, &rb.spec, Some(&status)) == have.fingerprint
        };
        let cached = ctx.caches.bindings.get(ns, &binding.name);
        if !cached.as_ref().is_some_and(holds) {
            // Spec and status go in one write (a RoleBinding has no status subresource), and
            // any write bumps the generation: the status describes the generation it creates.
            let mut write = rb.clone();
            let generation = cached.as_ref().map_or(1, |c| c.generation + 1);
            write.status = Some(status_over(cached.as_ref(), generation));
            let stored = ctx.writer.apply(&write).await?;
            let record = CachedBinding::new(&stored);
            if !holds(&record) {
                write.status = Some(status_over(Some(&record), record.generation + 1));
                restate_binding(ctx, &write, &stored).await?;
            }
        }
        names.insert(binding.name);
    }
    Ok(names)
}

/// Makes `stored` exactly `desired` with a merge patch, when the apply did not. Two causes: the
/// cache had not yet seen an earlier write, so the status named the wrong generation; or someone
/// set a field by hand (`spec.workspace` on an organisation binding, a `scim-operator.io/`
/// label), which server-side apply cannot remove since its manager never set it — and as every
/// apply bumps the generation, each would trigger the next. The patch is conditional on the
/// stored resourceVersion, so the generation it creates is the one its status names.
async fn restate_binding(ctx: &Context, desired: &RoleBinding, stored: &RoleBinding) -> Result<()> {
    let mut labels = serde_json::json!(desired.labels());
    for key in stored.labels().keys() {
        if key.starts_with(labels::PREFIX) && !desired.labels().contains_key(key) {
            labels[key] = serde_json::Value::Null;
        }
    }
    let mut spec = serde_json::json!(desired.spec);
    if desired.spec.workspace.is_none() {
        spec["workspace"] = serde_json::Value::Null;
    }
    let patch = serde_json::json!({
        "metadata": { "labels": labels, "resourceVersion": stored.resource_version() },
        "spec": spec,
        "status": desired.status,
    });
    tracing::info!(binding = %desired.name_any(), "RoleBinding differs after apply; restating it");
    ctx.writer
        .merge_patch::<RoleBinding>(&desired.namespace().unwrap_or_default(), &desired.name_any(), &patch)
        .await
}

/// Publishes a `RoleConflict` Event when the user's conflict is new: the Conflict condition in
/// the cached status was not already True with the same message. Resyncs and restarts are quiet.
async fn publish_conflict(ctx: &Context, user: &CachedUser, plan: &UserPlan, policy: ConflictPolicy) {
    if !plan.has_conflict() {
        return;
    }
    let message = user_conflict_message(plan, policy);
    if user.status.as_ref().is_some_and(|s| s.in_conflict_with(&message)) {
        return;
    }
    let mut note = message;
    note.truncate(1000);
    let event = Event {
        type_: EventType::Warning,
        reason: reason::ROLE_CONFLICT.into(),
        note: Some(note),
        action: "BindRoles".into(),
        secondary: None,
    };
    ctx.metrics.write("Event", "create");
    if let Err(error) = ctx.recorder.publish(&event, &user.to_user().object_ref(&())).await {
        // An Event is best effort: the conflict is in the statuses and the metric either way.
        tracing::warn!(%error, user = %user.name(), "could not publish RoleConflict event");
    }
}
