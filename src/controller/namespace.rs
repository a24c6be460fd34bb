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
use super::cache::directories_by_age;
use super::metrics::NamespaceLabels;
use super::status::{DirectoryCounts, Standing, directory_status, group_status, token_condition, workspace_status};
use super::{Context, Result, native};
use crate::api::{
    Directory, Group, RoleBinding, User, Workspace, WorkspaceDeletionPolicy, WorkspaceSpec, labels, reason,
};
use crate::rules::{GroupIndex, PlanSettings, UserInput, WorkspaceSummary, WorkspaceTally, plan_user, plan_workspaces};

/// Reconciles one namespace.
pub(crate) async fn reconcile(ctx: &Context, ns: &str) -> Result<()> {
    ctx.caches.ready().await?;
    let now = Time(jiff::Timestamp::now());
    let in_ns = |o: &dyn ResourceNs| o.ns() == Some(ns);
    let directories = directories_by_age(&ctx.caches.directories, ns);
    // The oldest is in charge, unless it is being deleted: then nobody is (SPEC §3.8).
    let directory = directories.first().filter(|d| !d.is_deleting());
    let settings = directory.map(|d| PlanSettings::from_directory(&d.spec));
    // Retain, the default, deletes nothing.
    let deletion = directory.map(|d| d.spec.workspace_deletion_policy).unwrap_or_default();
    let dir_name = directory.map(|d| d.name_any());
    let native = directory.and_then(|d| native::config(d));
    report_missing_directory(ctx, ns, directory.is_none()).await;

    let groups = ctx.caches.groups.state_filter(|g| in_ns(g));
    let index = GroupIndex::new(
        groups
            .iter()
            .filter_map(|g| Some((g.metadata.name.as_deref()?, &g.spec))),
    );
    let planned = plan_workspaces(index.iter());

    // Every user's plan, tallied per workspace: counts and conflicts come from what is planned,
    // the same pure function the user reconcile applies.
    let users = ctx
        .caches
        .users
        .state_filter(|u| in_ns(u) && u.metadata.deletion_timestamp.is_none());
    let mut tallies: BTreeMap<String, WorkspaceTally> = BTreeMap::new();
    for (name, ws) in &planned {
        tallies
            .entry(name.clone())
            .or_default()
            .add_group_conflicts(&ws.group_conflicts);
    }
    for user in &users {
        let id = user.name_any();
        let plan = plan_user(
            &UserInput::from_spec(&id, &user.spec),
            |g| index.get(g),
            settings.as_ref(),
        );
        for binding in &plan.workspaces {
            tallies
                .entry(binding.workspace.clone())
                .or_default()
                .add_user(&plan.user_name, binding);
        }
    }
    let summaries: BTreeMap<String, WorkspaceSummary> = tallies.into_iter().map(|(k, t)| (k, t.finish())).collect();

    let mut conflicts = 0;
    for (name, ws) in &planned {
        let summary = summaries.get(name).cloned().unwrap_or_default();
        conflicts += summary.conflicts;
        let collision = ws.name_collision().then_some(ws.keys.as_slice());
        // Each workspace gets its namespace, unless one that is not ours holds the name.
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
            &now,
        )
        .await?;
    }

    // Workspaces no group feeds any more.
    let existing = ctx
        .caches
        .workspaces
        .state_filter(|w| in_ns(w) && is_managed(w.labels()));
    for ws in existing.iter().filter(|w| !planned.contains_key(&w.name_any())) {
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
                write_workspace(ctx, ns, &name, &spec, dir_name.as_deref(), None, None, None, &now).await?;
            }
        }
    }

    // Groups claiming the same workspace and role, by display name: each one's rivals.
    let mut rivals: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for conflict in planned.values().flat_map(|ws| &ws.group_conflicts) {
        for name in &conflict.groups {
            let others = conflict.groups.iter().filter(|g| *g != name).cloned();
            rivals.entry(name.as_str()).or_default().extend(others);
        }
    }
    for group in &groups {
        let id = group.name_any();
        let Some(info) = index.get(&id) else { continue };
        let members = ctx.caches.memberships.count(ns, &id) as u32;
        let rivals = rivals
            .get(info.display_name.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let status = group_status(
            group.status.as_ref(),
            info,
            members,
            rivals,
            group.metadata.generation,
            &now,
        );
        if group.status.as_ref() != Some(&status) {
            ctx.writer.apply_status::<Group, _>(ns, &id, &status).await?;
        }
    }

    // Bindings whose user is gone (deleted while we were down, or between two passes).
    let bindings = ctx.caches.bindings.managed_in(ns);
    for (name, user) in &bindings {
        let exists = user
            .as_ref()
            .is_some_and(|u| ctx.caches.users.get(&ObjectRef::<User>::new(u).within(ns)).is_some());
        if !exists {
            ctx.writer.delete::<RoleBinding>(ns, name).await?;
        }
    }

    native::prune_orphans(ctx, ns).await?;

    let counts = DirectoryCounts {
        users: users.len() as u32,
        groups: groups.len() as u32,
        workspaces: planned.len() as u32,
        role_bindings: bindings.len() as u32,
        conflicts,
    };
    write_directories(ctx, ns, &directories, &counts, &now).await?;
    ctx.metrics
        .conflicts
        .get_or_create(&NamespaceLabels {
            namespace: ns.to_string(),
        })
        .set(conflicts as i64);
    ctx.metrics.set_objects(ns, "User", counts.users);
    ctx.metrics.set_objects(ns, "Group", counts.groups);
    ctx.metrics.set_objects(ns, "Workspace", counts.workspaces);
    ctx.metrics.set_objects(ns, "RoleBinding", counts.role_bindings);
    ctx.metrics.reconciled("Namespace");
    Ok(())
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
