//! `scim-operator export --watch --git <dir>`: a provisioning audit trail in Git.
//!
//! The watcher keeps `<dir>/<namespace>/` equal to what [`export`] writes, and commits every
//! change: one commit per burst of changes (a quiet period, bounded by a maximum delay), whose
//! message lists each changed file and the SCIM requests behind it (see [`message`]). So
//! `git log -p` is the audit trail, and a pull request from that branch can gate it.
//!
//! It keeps no state outside the tree: on start it syncs once and commits only what differs, and
//! a sync that changes no file commits nothing. Only `<dir>/<namespace>/` is staged and committed;
//! the rest of the repository is left alone.

pub mod git;
pub mod message;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use futures::{Stream, StreamExt};
use kube::api::{Api, ListParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use crate::api::{Group, RoleBinding, User, Workspace, labels};
use crate::export::{self, ExportOptions};
use crate::scim::trace::LAST_REQUEST;
pub use git::{Author, Git};
use message::{Ledger, Source, Sources, Status};

/// How the watcher runs.
#[derive(Clone, Debug)]
pub struct AuditOptions {
    /// What to export (as `export` without `--watch`).
    pub export: ExportOptions,
    /// Quiet time after a change before it is committed; changes within it share a commit.
    pub quiet: Duration,
    /// Longest a change waits for quiet: a steady trickle still gets committed.
    pub max_delay: Duration,
    /// Author and committer of the commits.
    pub author: Author,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions {
            export: ExportOptions::default(),
            quiet: Duration::from_millis(1500),
            max_delay: Duration::from_secs(10),
            author: Author::default(),
        }
    }
}

/// What the watcher has done so far, for callers (and tests) to wait on instead of sleeping.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Watch events received.
    pub observed: u64,
    /// Of those, how many had been received when the last finished sync started: every event
    /// up to here is reflected in the tree.
    pub synced: u64,
    /// Syncs finished, the start-up one included.
    pub syncs: u64,
    /// Commits made.
    pub commits: u64,
    /// The error of the last sync, when it failed (retried after a pause).
    pub last_error: Option<String>,
}

/// Retry delay after a failed sync (API server or git unavailable).
const RETRY: Duration = Duration::from_secs(5);

/// Keeps `tree/<namespace>/` in step with the cluster and commits each change, until `shutdown`.
pub async fn watch(
    client: Client,
    namespace: &str,
    options: &AuditOptions,
    tree: &Path,
    progress: watch::Sender<Progress>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let git = Git::open(tree, options.author.clone()).await?;
    let mut events = events(&client, namespace, options.export.directory.as_deref());
    let mut ledger = Ledger::default();
    let mut shutdown = std::pin::pin!(shutdown);
    // The start-up sync (until one succeeds): resumes from whatever the tree holds.
    let outcome = sync(&client, namespace, options, &git, &mut ledger, true).await;
    let mut failed = report(namespace, outcome, &progress, 0);
    let mut started = !failed;
    loop {
        let retry = failed.then_some(RETRY);
        let seen = || progress.send_modify(|p| p.observed += 1);
        tokio::select! {
            burst = burst(&mut events, options.quiet, options.max_delay, retry, seen) => burst?,
            () = &mut shutdown => return Ok(()),
        }
        let seen = progress.borrow().observed;
        let outcome = sync(&client, namespace, options, &git, &mut ledger, !started).await;
        failed = report(namespace, outcome, &progress, seen);
        started |= !failed;
    }
}

/// Waits for a burst of events: the first one (or `retry`, when set, passing without one), then
/// more until `quiet` passes without an event, or `max_delay` after the first. Calls `seen` for
/// each event. Fails when the stream ends.
async fn burst(
    events: &mut (impl Stream<Item = ()> + Unpin),
    quiet: Duration,
    max_delay: Duration,
    retry: Option<Duration>,
    mut seen: impl FnMut(),
) -> anyhow::Result<()> {
    let retry_after = tokio::time::sleep(retry.unwrap_or(Duration::MAX));
    tokio::select! {
        event = events.next() => {
            event.context("watch ended")?;
            seen();
        }
        () = retry_after, if retry.is_some() => {}
    }
    let deadline = tokio::time::Instant::now() + max_delay;
    loop {
        tokio::select! {
            event = events.next() => {
                event.context("watch ended")?;
                seen();
            }
            () = tokio::time::sleep(quiet) => return Ok(()),
            () = tokio::time::sleep_until(deadline) => return Ok(()),
        }
    }
}

/// Logs and reports the outcome of a [`sync`] that started after `seen` events; whether it failed.
fn report(
    namespace: &str,
    outcome: anyhow::Result<Option<String>>,
    progress: &watch::Sender<Progress>,
    seen: u64,
) -> bool {
    match outcome {
        Ok(commit) => {
            if let Some(commit) = &commit {
                tracing::info!(%namespace, %commit, "provisioning change committed");
            }
            progress.send_modify(|p| {
                p.syncs += 1;
                p.synced = seen;
                p.commits += u64::from(commit.is_some());
                p.last_error = None;
            });
            false
        }
        Err(error) => {
            let error = format!("{error:#}");
            tracing::warn!(%namespace, %error, "audit sync failed; retrying");
            progress.send_modify(|p| p.last_error = Some(error));
            true
        }
    }
}

/// One round: export, stage, and commit what changed with its causes. Returns the new commit,
/// `None` when the tree was already in step. `first`: the start-up round, which, finding the
/// tree in step, takes every request found on Users and Groups as already recorded.
pub async fn sync(
    client: &Client,
    namespace: &str,
    options: &AuditOptions,
    git: &Git,
    ledger: &mut Ledger,
    first: bool,
) -> anyhow::Result<Option<String>> {
    // Sources are read before the export: a request seen here is older than the state exported.
    let directory = options.export.directory.as_deref();
    let mut sources = sources(client, namespace, directory).await?;
    ledger.observe(&sources);
    export::export(client, namespace, &options.export, git.dir()).await?;
    let changes = git.stage(namespace).await?;
    if changes.iter().any(|c| !ledger.knows(c)) {
        // An object created between the two reads: read again to learn where it comes from.
        sources = self::sources(client, namespace, directory).await?;
        ledger.observe(&sources);
    }
    for change in &changes {
        if change.status != Status::Deleted || ledger.knows(change) {
            continue;
        }
        // Removed while the watcher was down: its last committed content names its sources.
        let content = git.show_head(&change.path).await?;
        ledger.learn_from_file(change, &content);
    }
    if changes.is_empty() {
        if first {
            ledger.settle(&sources);
        }
        return Ok(None);
    }
    let attributed = ledger.attribute(&changes, &sources);
    let commit = git.commit(namespace, &message::render(namespace, &attributed)).await?;
    ledger.committed(&changes, &sources);
    Ok(Some(commit))
}

/// Watch events of the four kinds of the directory, as one stream of "something changed".
fn events(client: &Client, namespace: &str, directory: Option<&str>) -> impl Stream<Item = ()> + Unpin + use<> {
    let mut config = watcher::Config::default();
    if let Some(directory) = directory {
        config = config.labels(&format!("{}={directory}", labels::DIRECTORY));
    }
    fn kind<K>(client: &Client, namespace: &str, config: &watcher::Config) -> futures::stream::BoxStream<'static, ()>
    where
        K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug
            + Send
            + 'static,
    {
        watcher(Api::<K>::namespaced(client.clone(), namespace), config.clone())
            .default_backoff()
            .filter_map(|event| async move {
                match event {
                    Ok(_) => Some(()),
                    Err(error) => {
                        tracing::warn!(error = %error, kind = K::kind(&()).as_ref(), "audit watch failed; retrying");
                        None
                    }
                }
            })
            .boxed()
    }
    futures::stream::select_all([
        kind::<Workspace>(client, namespace, &config),
        kind::<RoleBinding>(client, namespace, &config),
        kind::<User>(client, namespace, &config),
        kind::<Group>(client, namespace, &config),
    ])
}

/// The Users and Groups, their traces, and what each Workspace and RoleBinding derives from.
async fn sources(client: &Client, namespace: &str, directory: Option<&str>) -> anyhow::Result<Sources> {
    let mut params = ListParams::default();
    if let Some(directory) = directory {
        params = params.labels(&format!("{}={directory}", labels::DIRECTORY));
    }
    let users = Api::<User>::namespaced(client.clone(), namespace).list(&params).await?;
    let groups = Api::<Group>::namespaced(client.clone(), namespace)
        .list(&params)
        .await?;
    let workspaces = Api::<Workspace>::namespaced(client.clone(), namespace)
        .list(&params)
        .await?;
    let bindings = Api::<RoleBinding>::namespaced(client.clone(), namespace)
        .list(&params)
        .await?;
    let mut out = Sources::default();
    for user in &users {
        out.traces.insert(Source::User(user.name_any()), trace(user));
    }
    for group in &groups {
        out.traces.insert(Source::Group(group.name_any()), trace(group));
    }
    let mut feeding: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for ws in &workspaces {
        let ids: BTreeSet<String> = ws.spec.groups.iter().map(|g| g.group.clone()).collect();
        let from = ids.iter().cloned().map(Source::Group).collect();
        out.derived.insert(("workspaces".into(), ws.name_any()), from);
        feeding.insert(ws.name_any(), ids);
    }
    let user_groups: BTreeMap<String, &Vec<String>> = users.iter().map(|u| (u.name_any(), &u.spec.groups)).collect();
    for rb in &bindings {
        // The user, and those of its groups that feed the binding's workspace (all of them for
        // the organisation-level binding).
        let mut from = BTreeSet::from([Source::User(rb.spec.user.clone())]);
        let feeds = rb.spec.workspace.as_ref().and_then(|ws| feeding.get(ws));
        for group in user_groups.get(&rb.spec.user).into_iter().flat_map(|g| g.iter()) {
            if feeds.is_none_or(|f| f.contains(group)) {
                from.insert(Source::Group(group.clone()));
            }
        }
        out.derived.insert(("rolebindings".into(), rb.name_any()), from);
    }
    Ok(out)
}

/// The trace annotation of an object.
fn trace(object: &impl ResourceExt) -> Option<String> {
    object.annotations().get(LAST_REQUEST).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    const SECOND: Duration = Duration::from_secs(1);

    /// Sends an event after each delay (virtual time), then keeps the stream open.
    fn events_after(delays: &[u64]) -> futures::channel::mpsc::UnboundedReceiver<()> {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        let delays = delays.to_vec();
        tokio::spawn(async move {
            for ms in delays {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                tx.unbounded_send(()).unwrap();
            }
            std::future::pending::<()>().await;
        });
        rx
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_ends_after_a_quiet_period() {
        let start = Instant::now();
        let mut events = events_after(&[100, 500, 500]);
        let mut count = 0;
        burst(&mut events, SECOND, 10 * SECOND, None, || count += 1)
            .await
            .unwrap();
        assert_eq!(count, 3, "three events, one burst");
        assert_eq!(start.elapsed(), Duration::from_millis(2100), "1 s after the last");
    }

    #[tokio::test(start_paused = true)]
    async fn a_steady_trickle_is_cut_at_the_maximum_delay() {
        let start = Instant::now();
        let mut delays = vec![100];
        delays.extend([400; 100]);
        let mut events = events_after(&delays);
        let mut count = 0;
        burst(&mut events, SECOND, 3 * SECOND, None, || count += 1)
            .await
            .unwrap();
        assert_eq!(start.elapsed(), Duration::from_millis(3100), "3 s after the first");
        assert_eq!(count, 8, "the events at 0.1 s, 0.5 s, … 2.9 s");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_sync_is_retried_without_an_event_and_an_ended_watch_fails() {
        let start = Instant::now();
        let mut events = events_after(&[]);
        let mut count = 0;
        burst(&mut events, SECOND, 10 * SECOND, Some(5 * SECOND), || count += 1)
            .await
            .unwrap();
        assert_eq!((count, start.elapsed()), (0, 6 * SECOND), "the retry pause, then quiet");
        let mut ended = futures::stream::empty::<()>();
        let error = burst(&mut ended, SECOND, SECOND, None, || {}).await.unwrap_err();
        assert!(error.to_string().contains("watch ended"));
    }
}
