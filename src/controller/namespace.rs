//! The pass over one namespace: Workspaces (spec from the groups, status from every user's plan;
//! with native RBAC, each one's namespace claimed), orphaned workspaces, Group statuses, bindings
//! of users that are gone, and Directory statuses.
//!
//! It is O(users) and runs after changes are coalesced (see [`super::run`]), never once per event.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{ObjectReference, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::ObjectRef;

use super::apply::{managed_labels, metadata_matches};
use super::metrics::NamespaceLabels;
use super::status::{DirectoryCounts, Standing, directory_status, group_status, token_condition, workspace_status};
use super::{Context, Result, native};
use crate::api::{Directory, Group, RoleBinding, Workspace, WorkspaceDeletionPolicy, WorkspaceSpec, labels, reason};
use crate::rules::{GroupIndex, NamespacePlan, PlanSettings, WorkspaceSummary, plan_namespace};

/// Reconciles one namespace: dereference (the caches) → plan ([`plan_namespace`], pure) → apply
/// the Workspaces, retire the ones no group feeds, Group statuses, bindings of users that are
/// gone, native orphans → Directory statuses and metrics.
pub(crate) async fn reconcile(ctx: &Context, ns: &str) -> Result<()> {
    let _timer = ctx.metrics.time("Namespace");
    ctx.caches.ready().await?;
    let now = Time(jiff::Timestamp::now());
    let in_ns = |o: &dyn ResourceNs| o.ns() == Some(ns);
    let directories = ctx.caches.store.directories(ns);
    // The oldest is in charge, unless it is being deleted: then nobody is (SPEC §3.8).
    let directory = directories.first().filter(|d| !d.is_deleting());
    let settings = directory.map(|d| PlanSettings::from_directory(&d.spec));
    let dir_name = directory.map(|d| d.name_any());
    report_missing_directory(ctx, ns, directory.is_none()).await;

    let groups = ctx.caches.groups.state_filter(|g| in_ns(g));
    let index = GroupIndex::new(
        groups
            .iter()
            .filter_map(|g| Some((g.metadata.name.as_deref()?, &g.spec))),
    );
    let mut users = ctx.caches.users(Some(ns));
    users.retain(|u| !u.is_deleting());
    let plan = plan_namespace(&index, users.iter().map(|u| u.plan_input()), settings.as_ref());

    apply_workspaces(ctx, ns, directory, &plan, &now).await?;
    // Retain, the default, deletes nothing.
    let deletion = directory.map(|d| d.spec.workspace_deletion_policy).unwrap_or_default();
    retire_workspaces(ctx, ns, &plan, deletion, dir_name.as_deref(), &now).await?;
    write_groups(ctx, ns, &groups, &index, &plan, &now).await?;
    let role_bindings = delete_bindings_of_gone_users(ctx, ns).await?;
    native::prune_orphans(ctx, ns).await?;

    let counts = DirectoryCounts {
        users: users.len() as u32,
        groups: groups.len() as u32,
        workspaces: plan.workspaces.len() as u32,
        role_bindings,
        conflicts: plan.conflicts(),
    };
    write_directories(ctx, ns, &directories, &counts, &now).await?;
    ctx.metrics
        .conflicts
        .get_or_create(&NamespaceLabels {
            namespace: ns.to_string(),
        })
        .set(counts.conflicts as i64);
    ctx.metrics.set_workspace_conflicts(ns, &plan.conflicts_per_workspace());
    ctx.metrics.set_objects(ns, "User", counts.users);
    ctx.metrics.set_objects(ns, "Group", counts.groups);
    ctx.metrics.set_objects(ns, "Workspace", counts.workspaces);
    ctx.metrics.set_objects(ns, "RoleBinding", counts.role_bindings);
    ctx.metrics.reconciled("Namespace");
    Ok(())
}

/// Writes every planned Workspace; with native RBAC, each one's namespace is claimed first (a
/// namespace that is not ours is reported in the Workspace status).
async fn apply_workspaces(
    ctx: &Context,
    ns: &str,
    directory: Option<&Arc<Directory>>,
    plan: &NamespacePlan,
    now: &Time,
) -> Result<()> {
    let dir_name = directory.map(|d| d.name_any());
    let native = directory.and_then(|d| native::config(d));
    for (name, ws) in &plan.workspaces {
        let summary = plan.summary(name);
        let collision = ws.name_collision().then_some(ws.keys.as_slice());
        let claim = match (native, &dir_name) {
            (Some(config), Some(dir)) => {
                let namespace = native::namespace_name(&config.namespace_prefix, name);
                native::claim(ctx, ns, dir, name, &namespace).await?
            }
            _ => native::Claim::Ours,
        };
        let not_owned = match &claim {
            native::Claim::Ours => None,
            native::Claim::NotOurs(why) => Some(why.as_str()),
        };
        write_workspace(
            ctx,
            ns,
            name,
            &ws.spec,
            dir_name.as_deref(),
            Some(&summary),
            collision,
            not_owned,
            now,
        )
        .await?;
    }
    Ok(())
}

/// Workspaces no group feeds any more: deleted, or kept without groups under `Retain`.
async fn retire_workspaces(
    ctx: &Context,
    ns: &str,
    plan: &NamespacePlan,
    deletion: WorkspaceDeletionPolicy,
    dir_name: Option<&str>,
    now: &Time,
) -> Result<()> {
    let existing = ctx
        .caches
        .workspaces
        .state_filter(|w| w.ns() == Some(ns) && is_managed(w.labels()));
    for ws in existing.iter().filter(|w| !plan.workspaces.contains_key(&w.name_any())) {
        match deletion {
            WorkspaceDeletionPolicy::Delete => {
                ctx.writer.delete::<Workspace>(ns, &ws.name_any()).await?;
            }
            WorkspaceDeletionPolicy::Retain => {
                let spec = WorkspaceSpec {
                    display_name: ws.spec.display_name.clone(),
                    groups: Vec::new(),
                };
                let name = ws.name_any();
                write_workspace(ctx, ns, &name, &spec, dir_name, None, None, None, now).await?;
            }
        }
    }
    Ok(())
}

/// Each Group's status: its kind, member count and rivals.
async fn write_groups(
    ctx: &Context,
    ns: &str,
    groups: &[Arc<Group>],
    index: &GroupIndex,
    plan: &NamespacePlan,
    now: &Time,
) -> Result<()> {
    for group in groups {
        let id = group.name_any();
        let Some(info) = index.get(&id) else { continue };
        let members = ctx.caches.store.read(ns, |n| n.member_count(&id)) as u32;
        let status = group_status(
            group.status.as_ref(),
            info,
            members,
            plan.rivals(&info.display_name),
            group.metadata.generation,
            now,
        );
        if group.status.as_ref() != Some(&status) {
            ctx.writer.apply_status::<Group, _>(ns, &id, &status).await?;
        }
    }
    Ok(())
}

/// Deletes the bindings whose user is gone (deleted while we were down, or between two passes);
/// returns how many managed bindings the namespace had.
async fn delete_bindings_of_gone_users(ctx: &Context, ns: &str) -> Result<u32> {
    let bindings = ctx.caches.bindings.managed_in(ns);
    for (name, user) in &bindings {
        let exists = user.as_ref().is_some_and(|u| ctx.caches.user(ns, u).is_some());
        if !exists {
            ctx.writer.delete::<RoleBinding>(ns, name).await?;
        }
    }
    Ok(bindings.len() as u32)
}

/// Applies a Workspace's spec and status where they differ from the cache; see
/// [`workspace_status`] for `summary`, `collision` and `not_owned`.
#[allow(clippy::too_many_arguments)]
async fn write_workspace(
    ctx: &Context,
    ns: &str,
    name: &str,
    spec: &WorkspaceSpec,
    directory: Option<&str>,
    summary: Option<&WorkspaceSummary>,
    collision: Option<&[String]>,
    not_owned: Option<&str>,
    now: &Time,
) -> Result<()> {
    let mut ws = Workspace::new(name, spec.clone());
    ws.metadata.namespace = Some(ns.to_string());
    ws.metadata.labels = Some(managed_labels(directory));
    let cached = ctx.caches.workspaces.get(&ObjectRef::new(name).within(ns));
    let stored = match cached {
        Some(c) if c.spec == ws.spec && metadata_matches(c.as_ref(), &ws) => c,
        _ => Arc::new(ctx.writer.apply(&ws).await?),
    };
    let status = workspace_status(
        stored.status.as_ref(),
        summary,
        collision,
        not_owned,
        stored.metadata.generation,
        now,
    );
    if stored.status.as_ref() != Some(&status) {
        ctx.writer.apply_status::<Workspace, _>(ns, name, &status).await?;
    }
    Ok(())
}

/// The name of a Directory's token Secret and how many of its tokens are too short, when the
/// Secret can be read (the chart lets it be read only in the namespaces it lists).
async fn short_tokens(ctx: &Context, ns: &str, dir: &Directory) -> Option<(String, usize)> {
    let secret_ref = dir.spec.token_secret_ref.as_ref()?;
    let secret = ctx.writer.get_opt::<Secret>(ns, &secret_ref.name).await.ok()??;
    let value = secret.data.as_ref()?.get(secret_ref.key())?;
    Some((secret_ref.name.clone(), crate::api::short_tokens(&value.0)))
}

/// The oldest Directory is in charge (unless being deleted); any other is reported as a duplicate.
async fn write_directories(
    ctx: &Context,
    ns: &str,
    directories: &[Arc<Directory>],
    counts: &DirectoryCounts,
    now: &Time,
) -> Result<()> {
    let oldest = directories.first().map(|d| d.name_any()).unwrap_or_default();
    for (i, dir) in directories.iter().enumerate() {
        let standing = if i > 0 {
            Standing::Duplicate { older: &oldest }
        } else if dir.is_deleting() {
            Standing::Deleting
        } else {
            let prefix_problem = dir.spec.native_rbac.as_ref().and_then(|c| c.prefix_problem());
            Standing::InCharge { prefix_problem }
        };
        let name = dir.name_any();
        let in_charge = matches!(standing, Standing::InCharge { .. });
        let mut status = directory_status(
            dir.status.as_ref(),
            &ctx.external_url,
            ns,
            &name,
            standing,
            counts,
            dir.metadata.generation,
            now,
        );
        if in_charge && let Some((secret, short)) = short_tokens(ctx, ns, dir).await {
            token_condition(&mut status, dir.status.as_ref(), &secret, short, now);
        }
        if dir.status.as_ref() != Some(&status) {
            ctx.writer.apply_status::<Directory, _>(ns, &name, &status).await?;
        }
    }
    Ok(())
}

/// Publishes one `DirectoryMissing` Event when `ns` is first seen without an active Directory
/// (in this process); the Users' conditions say it too. Best effort, like every Event.
async fn report_missing_directory(ctx: &Context, ns: &str, missing: bool) {
    let new = {
        let mut known = ctx.directory_missing.lock().expect("directory_missing lock");
        if missing {
            known.insert(ns.to_string())
        } else {
            known.remove(ns);
            false
        }
    };
    if !new {
        return;
    }
    let event = Event {
        type_: EventType::Warning,
        reason: reason::DIRECTORY_MISSING.into(),
        note: Some(format!(
            "namespace {ns:?} has no active Directory (none, or it is being deleted): every RoleBinding made for its users, native ones included, is removed until one exists"
        )),
        action: "WithdrawBindings".into(),
        secondary: None,
    };
    let regarding = ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Namespace".into()),
        name: Some(ns.to_string()),
        namespace: Some(ns.to_string()),
        ..Default::default()
    };
    ctx.metrics.write("Event", "create");
    if let Err(error) = ctx.recorder.publish(&event, &regarding).await {
        tracing::warn!(%error, namespace = %ns, "could not publish DirectoryMissing event");
    }
}

fn is_managed(meta_labels: &BTreeMap<String, String>) -> bool {
    meta_labels.get(labels::MANAGED_BY).map(String::as_str) == Some(labels::MANAGER)
}

/// The namespace of any cached object, for filters.
trait ResourceNs {
    fn ns(&self) -> Option<&str>;
}

impl<K: kube::Resource> ResourceNs for K {
    fn ns(&self) -> Option<&str> {
        self.meta().namespace.as_deref()
    }
}
