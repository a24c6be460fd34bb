//! The controller: turns Users and Groups into Workspaces and RoleBindings, with status.
//!
//! The pipeline, one way:
//!
//! 1. **watch** (`cache`): one watch per kind. Users go straight into the process's
//!    [`crate::watch::Store`], their only cache, as compact [`crate::watch::CachedUser`]s; the
//!    other kinds into reflectors (Groups and Directories passed on to the store, which keeps a
//!    group's members and the active Directory), and RoleBindings, the largest kind, into
//!    compact records of what the user reconcile compares. An index of a user's native bindings
//!    is kept beside them. Events fire triggers: a User spec change re-plans that user; a Group
//!    change re-plans only its members; a Directory change re-plans its namespace's users; any
//!    change marks its namespace for a (coalesced) namespace pass.
//! 2. **plan** ([`crate::rules`], pure): a user's state, organisation role and workspace roles
//!    with conflicts resolved by the directory's policy; the workspaces fed by the groups.
//! 3. **apply** (`apply`): server-side apply with field manager `scim-operator`, only where the
//!    desired object differs from the cached one, so a resync with no change writes nothing
//!    (a RoleBinding, spec and status, is one apply: it has no status subresource);
//!    stale derived objects are deleted by label from the caches (tests run without a garbage
//!    collector, and owner references are only a backstop), never before every cache has synced.
//! 4. **status** ([`status`], pure builders): User, RoleBinding, Workspace, Group and Directory
//!    statuses with kstatus conditions; an Event when a user's role conflict first appears.
//!
//! With a Directory's `nativeRbac`, [`native`] also gives each workspace a namespace and each
//! workspace binding an `rbac.authorization.k8s.io` RoleBinding to a ClusterRole.
//!
//! Only the holder of the leader Lease ([`lease`]) reconciles. Its first term starts with a full
//! pass (every namespace, then every user), then follows the triggers; once a full pass has
//! completed, a term it wins back starts with the users triggered and not reconciled since
//! (recorded while not leading) and a pass per namespace.
//!
//! Decisions:
//! - Users are reconciled by a work queue of our own (`queue`: dedup, per-user exclusion,
//!   debounce, retry with backoff, scheduled as kube-runtime's `applier` schedules) that reads
//!   the one User cache. The applier reads a reflector store of its own, a second map of every
//!   User keyed by `ObjectRef`s (name, namespace, uid and resourceVersion copied per user:
//!   ~19 MiB at 67,000 users); `Controller::watches` would even open a second watch of Users,
//!   and shared streams do not carry deletions, which a group deletion must trigger.
//! - A namespace without an active Directory (none, or the oldest is being deleted) gets no
//!   bindings at all (SPEC §3.8): never the default settings, which could grant what the
//!   Directory withheld. Its users say `DirectoryMissing`, and so does one Event. "Missing" is
//!   decided only once the Directory cache has listed. With several, the oldest is in charge
//!   and the others report `DuplicateDirectory`.
//! - Workspace counts and conflicts come from every user's plan (the same pure function the user
//!   reconcile applies), so a Deny-ed user, who has no binding, is still reported.

mod apply;
mod cache;
mod error;
mod index;
pub mod lease;
mod memberships;
mod metrics;
mod namespace;
pub mod native;
mod queue;
pub mod status;
mod user;

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::Client;
use kube::runtime::events::{Recorder, Reporter};

pub use apply::FIELD_MANAGER;
pub use error::{Error, Result};
pub use metrics::Metrics;

use crate::watch;
use cache::{Caches, Term};
use lease::LeaderElector;
use queue::UserKey;

/// Controller settings; [`Config::new`] gives the defaults.
#[derive(Clone, Debug)]
pub struct Config {
    /// Reconcile only this namespace; every namespace when `None`.
    pub namespace: Option<String>,
    /// Namespace of the leader Lease.
    pub lease_namespace: String,
    /// Name of the leader Lease.
    pub lease_name: String,
    /// This candidate's identity in the Lease (e.g. the pod name).
    pub identity: String,
    /// How long a Lease holds without renewal.
    pub lease_duration: Duration,
    /// How often the leader renews, and how often a candidate retries.
    pub renew_interval: Duration,
    /// Every so often every object is checked again (drift repair); a no-op resync writes nothing.
    pub resync_interval: Duration,
    /// Users reconciled at once.
    pub concurrency: u16,
    /// Delay before a user is reconciled, so that a burst of triggers (a user's own write, then
    /// the events of the bindings it created) costs one reconcile, reading caches that caught up.
    pub debounce: Duration,
    /// Pause after a namespace pass, so that a burst of events costs one pass, not one per event;
    /// after a slow pass the pause is three times as long as the pass took, up to
    /// 15 seconds (`MAX_PASS_PAUSE`; never below this debounce).
    pub namespace_debounce: Duration,
    /// Metrics, shared with `/metrics` and tests.
    pub metrics: Metrics,
    /// The process's shared [`watch::Store`], fed by the controller's watches (with
    /// [`Config::namespace`] set, only that namespace): the SCIM endpoint serves from it and the
    /// controller reads memberships and the active Directory from it.
    pub store: watch::Store,
    /// The URL clients reach the SCIM endpoint at (`--external-url`, no trailing `/`): makes a
    /// Directory's `status.scimBaseUrl` absolute. `None`: the path alone.
    pub external_url: Option<String>,
}

impl Config {
    /// Defaults, with the Lease in `lease_namespace` and an identity from `POD_NAME` or the host.
    pub fn new(lease_namespace: &str) -> Self {
        let identity = std::env::var("POD_NAME")
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| "scim-operator".into());
        Config {
            namespace: None,
            lease_namespace: lease_namespace.to_string(),
            lease_name: "scim-operator-leader".into(),
            identity: format!("{identity}-{:08x}", rand::random::<u32>()),
            lease_duration: Duration::from_secs(15),
            renew_interval: Duration::from_secs(5),
            resync_interval: Duration::from_secs(600),
            concurrency: 8,
            debounce: Duration::from_millis(250),
            namespace_debounce: Duration::from_millis(500),
            metrics: Metrics::default(),
            store: watch::Store::default(),
            external_url: None,
        }
    }
}

/// What every reconcile shares.
pub(crate) struct Context {
    caches: Arc<Caches>,
    writer: apply::Writer,
    metrics: Metrics,
    recorder: Recorder,
    /// Reads the caches cannot answer: a native-RBAC namespace that is not ours.
    client: Client,
    /// Consecutive failures per user, for exponential backoff.
    failures: Mutex<HashMap<UserKey, u32>>,
    /// Namespaces last seen without an active Directory, so that its Event is published once.
    directory_missing: Mutex<BTreeSet<String>>,
    /// Prefix of the SCIM base URLs in Directory status (see [`Config::external_url`]).
    external_url: String,
}

/// Runs the controller until the process ends: caches, leader election, and, while leading, the
/// reconcilers. Returns only on an error that cannot be retried.
pub async fn run(client: Client, config: Config) -> Result<()> {
    run_until(client, config, std::future::pending()).await
}

/// Like [`run`], stopping when `shutdown` resolves; the Lease is released so that another
/// replica takes over at once.
pub async fn run_until(client: Client, config: Config, shutdown: impl Future<Output = ()>) -> Result<()> {
    let store = config.store.clone();
    let caches = Caches::start(&client, config.namespace.as_deref(), store, config.metrics.clone());
    let reporter = Reporter {
        controller: FIELD_MANAGER.into(),
        instance: Some(config.identity.clone()),
    };
    let ctx = Arc::new(Context {
        caches,
        writer: apply::Writer::new(client.clone(), config.metrics.clone()),
        metrics: config.metrics.clone(),
        recorder: Recorder::new(client.clone(), reporter),
        client: client.clone(),
        failures: Mutex::default(),
        directory_missing: Mutex::default(),
        external_url: config.external_url.clone().unwrap_or_default(),
    });
    let elector = LeaderElector::new(
        client,
        &config.lease_namespace,
        &config.lease_name,
        &config.identity,
        config.lease_duration,
        config.metrics.clone(),
    );
    let mut shutdown = std::pin::pin!(shutdown);
    let mut denied = AccessDenied::default();
    loop {
        // Campaign; leadership counts from the start of the attempt that won.
        let acquired = loop {
            let attempt = tokio::time::Instant::now();
            match elector.try_acquire_or_renew().await {
                Ok(true) => break attempt,
                Ok(false) => denied.clear(),
                Err(error) => denied.report(&error, "leader election failed; retrying"),
            }
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                _ = tokio::time::sleep(config.renew_interval) => {}
            }
        };
        tracing::info!(identity = %config.identity, "acquired leader lease");
        config.metrics.set_leader(&config.identity, true);
        let outcome = tokio::select! {
            result = lead(ctx.clone(), &config) => Some(result),
            _ = elector.hold(config.renew_interval, acquired) => None,
            _ = &mut shutdown => {
                ctx.caches.triggers.end_term();
                config.metrics.set_leader(&config.identity, false);
                match elector.release().await {
                    Ok(()) => {}
                    // Uninstalling: the release's RBAC and ServiceAccount are gone before its Pods.
                    Err(error) if error.is_access_denied() => {
                        tracing::info!(%error, "leader lease not released: access already revoked (release uninstalled?)")
                    }
                    Err(error) => tracing::warn!(%error, "could not release the leader lease"),
                }
                return Ok(());
            }
        };
        ctx.caches.triggers.end_term();
        config.metrics.set_leader(&config.identity, false);
        match outcome {
            Some(result) => return result,
            None => tracing::warn!("lost the leader lease; stopped reconciling"),
        }
    }
}

/// Everything the leader runs: a full pass (or, in a term won back, what changed since the
/// last), then the user reconciler, the namespace worker and the periodic resync. Returns only
/// if the caches die.
async fn lead(ctx: Arc<Context>, config: &Config) -> Result<()> {
    ctx.caches.ready().await?;
    let (queue, requests) = futures::channel::mpsc::unbounded::<UserKey>();
    match ctx.caches.triggers.begin_term(queue) {
        Term::Full => full_pass(&ctx, config.concurrency).await,
        // The users are queued; a namespace pass cut short by the lost term is redone, and one
        // that changes nothing writes nothing.
        Term::Resumed => ctx.caches.mark_every_namespace(),
    }

    let users = queue::run(requests, usize::from(config.concurrency), config.debounce, |user| {
        let ctx = ctx.clone();
        async move {
            let error = reconcile_user(&user, &ctx).await.err()?;
            tracing::warn!(%error, %user, "user reconcile failed; will retry");
            Some(error_policy(&user, &error, &ctx))
        }
    });
    let resync = async {
        let mut tick = tokio::time::interval(config.resync_interval);
        tick.tick().await;
        loop {
            tick.tick().await;
            enqueue_everything(&ctx);
        }
    };
    tokio::join!(users, namespace_worker(&ctx, config.namespace_debounce), resync);
    Err(Error::CachesGone)
}

/// Reconciles a user as cached now and, if that succeeds, settles the triggers it has seen.
async fn reconcile_user(key: &UserKey, ctx: &Arc<Context>) -> Result<()> {
    let ticket = ctx.caches.triggers.ticket(key);
    // Read after the ticket: the user as cached at or after that trigger.
    let Some(user) = ctx.caches.user(&key.namespace, &key.name) else {
        // Deleted before its turn (or while another replica led).
        ctx.caches.triggers.forget(key);
        return Ok(());
    };
    user::reconcile(user, ctx.clone()).await?;
    ctx.failures.lock().expect("failures lock").remove(key);
    ctx.caches.triggers.reconciled(key, ticket);
    Ok(())
}

/// How long a failed user waits: exponential backoff (1s, 2s, 4s … up to 5 minutes).
fn error_policy(user: &UserKey, error: &Error, ctx: &Context) -> Duration {
    ctx.metrics.failed("User", error);
    let mut failures = ctx.failures.lock().expect("failures lock");
    let n = failures.entry(user.clone()).or_default();
    *n = n.saturating_add(1);
    backoff(*n)
}

fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.saturating_sub(1).min(9)).min(Duration::from_secs(300))
}

/// Every namespace, then every user, each once. Counted in [`Metrics::resyncs`] when done.
async fn full_pass(ctx: &Arc<Context>, concurrency: u16) {
    for ns in ctx.caches.namespaces() {
        if let Err(error) = namespace::reconcile(ctx, &ns).await {
            ctx.metrics.failed("Namespace", &error);
            tracing::warn!(%error, namespace = %ns, "namespace pass failed; will retry");
            ctx.caches.triggers.namespace(&ns);
        }
    }
    futures::stream::iter(ctx.caches.users(None))
        .for_each_concurrent(usize::from(concurrency.max(1)), |user| async move {
            let key = UserKey::new(user.namespace(), user.name());
            drop(user);
            if let Err(error) = reconcile_user(&key, ctx).await {
                ctx.metrics.failed("User", &error);
                tracing::warn!(%error, user = %key, "user reconcile failed; will retry");
                ctx.caches.triggers.user(&key.namespace, &key.name);
            }
        })
        .await;
    ctx.caches.triggers.full_pass_done();
    ctx.metrics.full_pass_done();
}

fn enqueue_everything(ctx: &Context) {
    ctx.caches.mark_every_namespace();
    for user in ctx.caches.users(None) {
        ctx.caches.triggers.user(user.namespace(), user.name());
    }
}

/// Runs namespace passes as namespaces are marked; a failed pass is retried with backoff.
async fn namespace_worker(ctx: &Arc<Context>, debounce: Duration) {
    let mut failures: HashMap<String, u32> = HashMap::new();
    loop {
        let dirty = ctx.caches.triggers.dirty_namespaces().await;
        let started = tokio::time::Instant::now();
        for ns in dirty {
            match namespace::reconcile(ctx, &ns).await {
                Ok(()) => {
                    failures.remove(&ns);
                }
                Err(error) => {
                    ctx.metrics.failed("Namespace", &error);
                    let n = failures.entry(ns.clone()).or_default();
                    *n = n.saturating_add(1);
                    let delay = backoff(*n);
                    tracing::warn!(%error, namespace = %ns, ?delay, "namespace pass failed; will retry");
                    let ctx = ctx.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        ctx.caches.triggers.namespace(&ns);
                    });
                }
            }
        }
        let spent = started.elapsed();
        tokio::time::sleep(pass_pause(debounce, spent)).await;
    }
}

/// The pause after namespace passes that took `spent`: at least `debounce`, and three times the
/// pass, so that passes (O(users) each) take at most a quarter of a core while a large directory
/// changes constantly, leaving the CPU to the API server that must take the writes.
/// Capped at [`MAX_PASS_PAUSE`]: a pass that was slow because its writes waited on a busy API
/// server must not leave counts stale for minutes.
fn pass_pause(debounce: Duration, spent: Duration) -> Duration {
    debounce.max(spent * 3).min(debounce.max(MAX_PASS_PAUSE))
}

/// The longest pause between namespace passes: how stale Workspace and Directory counts may get
/// while a large directory changes constantly.
const MAX_PASS_PAUSE: Duration = Duration::from_secs(15);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_namespace_passes_pause_longer() {
        let debounce = Duration::from_millis(500);
        assert_eq!(pass_pause(debounce, Duration::from_millis(10)), debounce);
        assert_eq!(
            pass_pause(debounce, Duration::from_millis(400)),
            Duration::from_millis(1200)
        );
        assert_eq!(pass_pause(debounce, Duration::from_secs(60)), MAX_PASS_PAUSE);
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(4));
        assert_eq!(backoff(100), Duration::from_secs(300));
    }
}

/// How long the API server may refuse this process's credentials before it is a warning: while
/// a release is uninstalled its RBAC and ServiceAccount go first and its Pods follow within a
/// grace period, which is no one's problem; a refusal that lasts is broken RBAC.
const ACCESS_DENIED_GRACE: Duration = Duration::from_secs(60);

/// Reports leader-election errors: refusals (401/403) at `info` until they last
/// [`ACCESS_DENIED_GRACE`], everything else at `warn`.
#[derive(Default)]
struct AccessDenied {
    since: Option<tokio::time::Instant>,
}

impl AccessDenied {
    fn report(&mut self, error: &Error, message: &str) {
        if !error.is_access_denied() {
            self.since = None;
            tracing::warn!(%error, "{message}");
            return;
        }
        let since = *self.since.get_or_insert_with(tokio::time::Instant::now);
        if since.elapsed() < ACCESS_DENIED_GRACE {
            tracing::info!(%error, "{message} (access refused; a warning if it lasts {ACCESS_DENIED_GRACE:?})");
        } else {
            tracing::warn!(%error, "{message}");
        }
    }

    fn clear(&mut self) {
        self.since = None;
    }
}
