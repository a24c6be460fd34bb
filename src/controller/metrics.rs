//! Prometheus metrics of the controller, shared with the binary's `/metrics` and readable by tests.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Workspaces of one namespace that get a series of their own in
/// `scim_operator_workspace_conflicts`; conflicts of any further ones are summed under
/// [`OTHER_WORKSPACES`], so a directory's groups cannot grow the series without bound.
pub const MAX_WORKSPACE_SERIES: usize = 50;
/// The `workspace` label of conflicts beyond [`MAX_WORKSPACE_SERIES`].
pub const OTHER_WORKSPACES: &str = "_other";

/// Labels of [`Metrics::writes`]: the kind written and the verb (`apply`, `status`, `delete`, `create`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WriteLabels {
    pub kind: String,
    pub verb: String,
}

/// Labels of per-namespace gauges.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NamespaceLabels {
    pub namespace: String,
}

/// Labels of [`Metrics::objects`]: a namespace and a kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ObjectLabels {
    pub namespace: String,
    pub kind: String,
}

/// Labels of reconcile counters: the reconciled kind (`User`, `Namespace`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileLabels {
    pub kind: String,
}

/// Labels of reconcile errors: the kind and [`super::Error::metric_label`].
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub kind: String,
    pub error: String,
}

/// Labels of [`Metrics::workspace_conflicts`]: a namespace and a Workspace's object name (derived
/// from a group name: directory data, never a person's).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WorkspaceLabels {
    pub namespace: String,
    pub workspace: String,
}

/// Labels of [`Metrics::leader_identity`]: this process's identity in the Lease (pod name and a
/// random suffix), one series per process.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IdentityLabels {
    pub identity: String,
}

/// Builds the reconcile-duration histograms: 1 ms to ~33 s.
#[derive(Clone, Debug)]
pub struct DurationBuckets;

impl MetricConstructor<Histogram> for DurationBuckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(exponential_buckets(0.001, 2.0, 16))
    }
}

/// Labels of [`Metrics::relists`]: a watched kind's API group (empty for the core group) and kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WatchLabels {
    pub group: String,
    pub kind: String,
}

impl WatchLabels {
    fn new(group: &str, kind: &str) -> WatchLabels {
        WatchLabels {
            group: group.into(),
            kind: kind.into(),
        }
    }
}

/// The controller's metrics. Cheap to clone: every field is shared.
#[derive(Clone, Debug)]
pub struct Metrics {
    /// `scim_operator_api_writes_total{kind,verb}`: every write the controller sends to the API server.
    pub writes: Family<WriteLabels, Counter>,
    /// `scim_operator_conflicts{namespace}`: role conflicts currently reported in a namespace.
    /// This and the other state gauges are exported by the leader only (cleared when it stops).
    pub conflicts: Family<NamespaceLabels, Gauge>,
    /// `scim_operator_objects{namespace,kind}`: Users, Groups, Workspaces and RoleBindings per namespace.
    pub objects: Family<ObjectLabels, Gauge>,
    /// `scim_operator_reconciles_total{kind}`: finished reconciles.
    pub reconciles: Family<ReconcileLabels, Counter>,
    /// `scim_operator_reconcile_errors_total{kind,error}`: failed reconciles.
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    /// `scim_operator_watch_relists_total{group,kind}`: complete lists of a watched kind, the first
    /// one and each relist after a watch broke (e.g. 410 from a restarted API server).
    pub relists: Family<WatchLabels, Counter>,
    /// `scim_operator_watch_events_total{group,kind}`: events of a watched kind (listed objects too).
    pub watch_events: Family<WatchLabels, Counter>,
    /// `scim_operator_watch_last_event_timestamp_seconds{group,kind}`: Unix time of the last event
    /// of a watched kind; with SCIM writes going on, an old one means the watch has stalled.
    pub watch_last_event: Family<WatchLabels, Gauge<f64, AtomicU64>>,
    /// `scim_operator_watch_errors_total{group,kind}`: failed watch or list calls (each is retried).
    pub watch_errors: Family<WatchLabels, Counter>,
    /// `scim_operator_reconcile_duration_seconds{kind}`: how long reconciles take, failed ones too.
    pub reconcile_duration: Family<ReconcileLabels, Histogram, DurationBuckets>,
    /// `scim_operator_workspace_conflicts{namespace,workspace}`: role conflicts of each Workspace
    /// that has any (see [`MAX_WORKSPACE_SERIES`]); a Workspace without conflicts has no series.
    pub workspace_conflicts: Family<WorkspaceLabels, Gauge>,
    /// Workspaces with a conflict series, per namespace, so that settled ones are removed.
    conflicted: Arc<Mutex<BTreeMap<String, BTreeSet<String>>>>,
    /// `scim_operator_leader`: 1 while this process holds the leader Lease.
    pub leader: Gauge,
    /// `scim_operator_leader_identity{identity}`: the same, labelled with this process's Lease
    /// identity, so that a dashboard shows who leads.
    pub leader_identity: Family<IdentityLabels, Gauge>,
    /// Completed passes over every object after the caches synced (see [`Metrics::resyncs`]).
    full_passes: Arc<Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            writes: Family::default(),
            conflicts: Family::default(),
            objects: Family::default(),
            reconciles: Family::default(),
            reconcile_errors: Family::default(),
            relists: Family::default(),
            watch_events: Family::default(),
            watch_last_event: Family::default(),
            watch_errors: Family::default(),
            reconcile_duration: Family::new_with_constructor(DurationBuckets),
            workspace_conflicts: Family::default(),
            conflicted: Arc::default(),
            leader: Gauge::default(),
            leader_identity: Family::default(),
            full_passes: Arc::default(),
        }
    }
}

/// Observes a reconcile's duration when dropped, so that failed and cancelled ones count too.
pub(crate) struct ReconcileTimer {
    histogram: Histogram,
    started: Instant,
}

impl Drop for ReconcileTimer {
    fn drop(&mut self) {
        self.histogram.observe(self.started.elapsed().as_secs_f64());
    }
}

impl Metrics {
    /// Registers every metric in `registry`, which is expected to carry the `scim_operator` prefix
    /// (as the binary's does: `Registry::with_prefix("scim_operator")`).
    pub fn register(&self, registry: &mut Registry) {
        // Error counters start at 0, so that `rate()` and `increase()` see the first error.
        for kind in RECONCILED {
            for error in super::Error::METRIC_LABELS {
                let labels = ErrorLabels {
                    kind: (*kind).into(),
                    error: (*error).into(),
                };
                let _ = self.reconcile_errors.get_or_create(&labels);
            }
        }
        let r = registry;
        r.register(
            "api_writes",
            "Writes sent to the API server by the controller",
            self.writes.clone(),
        );
        r.register("conflicts", "Role conflicts currently reported", self.conflicts.clone());
        r.register("objects", "Objects per namespace and kind", self.objects.clone());
        r.register("reconciles", "Finished reconciles", self.reconciles.clone());
        r.register("reconcile_errors", "Failed reconciles", self.reconcile_errors.clone());
        r.register(
            "watch_relists",
            "Complete lists of a watched kind",
            self.relists.clone(),
        );
        r.register(
            "watch_events",
            "Events of a watched kind, listed objects included",
            self.watch_events.clone(),
        );
        r.register(
            "watch_last_event_timestamp_seconds",
            "Unix time of the last event of a watched kind",
            self.watch_last_event.clone(),
        );
        r.register(
            "watch_errors",
            "Failed watch or list calls of a watched kind (each is retried)",
            self.watch_errors.clone(),
        );
        r.register(
            "reconcile_duration_seconds",
            "Duration of reconciles, failed ones included",
            self.reconcile_duration.clone(),
        );
        r.register(
            "workspace_conflicts",
            "Role conflicts currently reported per Workspace that has any",
            self.workspace_conflicts.clone(),
        );
        r.register(
            "leader",
            "1 while this process holds the leader Lease",
            self.leader.clone(),
        );
        r.register(
            "leader_identity",
            "1 while this process (its Lease identity) holds the leader Lease",
            self.leader_identity.clone(),
        );
    }

    /// Records whether the process known in the Lease as `identity` leads.
    pub(crate) fn set_leader(&self, identity: &str, leading: bool) {
        let value = i64::from(leading);
        self.leader.set(value);
        let labels = IdentityLabels {
            identity: identity.into(),
        };
        self.leader_identity.get_or_create(&labels).set(value);
        if !leading {
            // Only the leader's state gauges are current: a former leader's would keep reporting
            // conflicts that have since settled.
            self.conflicts.clear();
            self.objects.clear();
            self.workspace_conflicts.clear();
            self.conflicted.lock().expect("conflicted lock").clear();
        }
    }

    /// Starts timing a reconcile of `kind`; the duration is recorded when the timer is dropped.
    pub(crate) fn time(&self, kind: &str) -> ReconcileTimer {
        let labels = ReconcileLabels { kind: kind.into() };
        ReconcileTimer {
            histogram: self.reconcile_duration.get_or_create(&labels).clone(),
            started: Instant::now(),
        }
    }

    /// Counts one event of a watched kind and stamps its time.
    pub(crate) fn watch_event(&self, group: &str, kind: &str) {
        let labels = WatchLabels::new(group, kind);
        self.watch_events.get_or_create(&labels).inc();
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.watch_last_event.get_or_create(&labels).set(now);
    }

    /// Serves the watch error counter of a kind at 0 until its first error.
    pub(crate) fn watch_started(&self, group: &str, kind: &str) {
        let _ = self.watch_errors.get_or_create(&WatchLabels::new(group, kind));
    }

    /// Counts a failed watch or list call of a watched kind.
    pub(crate) fn watch_error(&self, group: &str, kind: &str) {
        self.watch_errors.get_or_create(&WatchLabels::new(group, kind)).inc();
    }

    /// Replaces namespace `namespace`'s per-Workspace conflict series with `conflicts` (Workspace
    /// name, conflicts), dropping those of Workspaces that no longer have any. The first
    /// [`MAX_WORKSPACE_SERIES`] by name get a series each; the rest are summed under
    /// [`OTHER_WORKSPACES`].
    pub(crate) fn set_workspace_conflicts(&self, namespace: &str, conflicts: &BTreeMap<String, u32>) {
        let mut series: BTreeMap<String, i64> = BTreeMap::new();
        for (i, (workspace, &n)) in conflicts.iter().filter(|(_, n)| **n > 0).enumerate() {
            let name = if i < MAX_WORKSPACE_SERIES {
                workspace.as_str()
            } else {
                OTHER_WORKSPACES
            };
            *series.entry(name.to_string()).or_default() += i64::from(n);
        }
        let labels = |workspace: &str| WorkspaceLabels {
            namespace: namespace.into(),
            workspace: workspace.into(),
        };
        let mut conflicted = self.conflicted.lock().expect("conflicted lock");
        let previous = conflicted.entry(namespace.to_string()).or_default();
        for gone in previous.iter().filter(|w| !series.contains_key(*w)) {
            self.workspace_conflicts.remove(&labels(gone));
        }
        for (workspace, n) in &series {
            self.workspace_conflicts.get_or_create(&labels(workspace)).set(*n);
        }
        *previous = series.into_keys().collect();
    }

    /// Conflicts in the `workspace_conflicts` series of `namespace`/`workspace`, if it has one.
    pub fn workspace_conflicts_of(&self, namespace: &str, workspace: &str) -> Option<i64> {
        let labels = WorkspaceLabels {
            namespace: namespace.into(),
            workspace: workspace.into(),
        };
        self.workspace_conflicts.get(&labels).map(|g| g.get())
    }

    pub(crate) fn write(&self, kind: &str, verb: &str) {
        self.writes
            .get_or_create(&WriteLabels {
                kind: kind.into(),
                verb: verb.into(),
            })
            .inc();
    }

    pub(crate) fn set_objects(&self, namespace: &str, kind: &str, count: u32) {
        let labels = ObjectLabels {
            namespace: namespace.into(),
            kind: kind.into(),
        };
        self.objects.get_or_create(&labels).set(count.into());
    }

    pub(crate) fn reconciled(&self, kind: &str) {
        self.reconciles
            .get_or_create(&ReconcileLabels { kind: kind.into() })
            .inc();
    }

    pub(crate) fn failed(&self, kind: &str, error: &super::Error) {
        self.reconcile_errors
            .get_or_create(&ErrorLabels {
                kind: kind.into(),
                error: error.metric_label().into(),
            })
            .inc();
    }

    pub(crate) fn relisted(&self, group: &str, kind: &str) {
        self.relists.get_or_create(&WatchLabels::new(group, kind)).inc();
    }

    /// How many complete lists the watch of `group`/`kind` has had.
    pub fn relists_of(&self, group: &str, kind: &str) -> u64 {
        self.relists.get(&WatchLabels::new(group, kind)).map_or(0, |c| c.get())
    }

    /// How many events the watch of `group`/`kind` has passed on (counted once handled).
    pub fn watch_events_of(&self, group: &str, kind: &str) -> u64 {
        self.watch_events
            .get(&WatchLabels::new(group, kind))
            .map_or(0, |c| c.get())
    }

    pub(crate) fn full_pass_done(&self) {
        self.full_passes.inc();
    }

    /// Writes of reconciled objects (every kind but the leader `Lease`), for tests of quiet resyncs.
    pub fn object_writes(&self) -> u64 {
        self.sum_writes(|l| l.kind != "Lease")
    }

    /// Writes of one kind and verb.
    pub fn writes_of(&self, kind: &str, verb: &str) -> u64 {
        self.sum_writes(|l| l.kind == kind && l.verb == verb)
    }

    /// Every non-zero write counter as `("kind/verb", count)`, for test failure messages.
    pub fn write_counts(&self) -> Vec<(String, u64)> {
        self.each_write()
            .filter(|(_, n)| *n > 0)
            .map(|(l, n)| (format!("{}/{}", l.kind, l.verb), n))
            .collect()
    }

    fn sum_writes(&self, keep: impl Fn(&WriteLabels) -> bool) -> u64 {
        self.each_write().filter(|(l, _)| keep(l)).map(|(_, n)| n).sum()
    }

    /// Every (kind, verb) write counter. Family has no iterator; the label space is tiny and
    /// known, so ask for each pair.
    fn each_write(&self) -> impl Iterator<Item = (WriteLabels, u64)> + '_ {
        KINDS.iter().flat_map(move |kind| {
            VERBS.iter().map(move |verb| {
                let labels = WriteLabels {
                    kind: (*kind).into(),
                    verb: (*verb).into(),
                };
                let n = self.writes.get(&labels).map(|c| c.get()).unwrap_or(0);
                (labels, n)
            })
        })
    }

    /// Finished reconciles of a kind (`User`, `Namespace`).
    pub fn reconciles_of(&self, kind: &str) -> u64 {
        self.reconciles
            .get(&ReconcileLabels { kind: kind.into() })
            .map(|c| c.get())
            .unwrap_or(0)
    }

    /// Completed full passes: every user reconciled and every namespace reconciled, counted after
    /// the caches synced and after each periodic resync. Tests wait on it instead of sleeping.
    pub fn resyncs(&self) -> u64 {
        self.full_passes.get()
    }
}

/// Every kind the controller reconciles.
pub(crate) const RECONCILED: &[&str] = &["User", "Namespace"];
/// Every kind the controller writes.
pub(crate) const KINDS: &[&str] = &[
    "User",
    "Group",
    "Workspace",
    "RoleBinding",
    "Directory",
    "Event",
    "Lease",
    "Namespace",
    "rbac.authorization.k8s.io/RoleBinding",
];
/// Every verb the controller uses.
pub(crate) const VERBS: &[&str] = &["apply", "status", "patch", "delete", "create", "replace"];

#[cfg(test)]
mod tests {
    use super::*;

    fn conflicts(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
        pairs.iter().map(|(w, n)| (w.to_string(), *n)).collect()
    }

    #[test]
    fn settled_workspaces_lose_their_conflict_series() {
        let metrics = Metrics::default();
        metrics.set_workspace_conflicts("ns", &conflicts(&[("sales", 2), ("ops", 1), ("hr", 0)]));
        assert_eq!(metrics.workspace_conflicts_of("ns", "sales"), Some(2));
        assert_eq!(
            metrics.workspace_conflicts_of("ns", "hr"),
            None,
            "no series without conflicts"
        );
        metrics.set_workspace_conflicts("ns", &conflicts(&[("sales", 0), ("ops", 3)]));
        assert_eq!(metrics.workspace_conflicts_of("ns", "sales"), None);
        assert_eq!(metrics.workspace_conflicts_of("ns", "ops"), Some(3));
    }

    #[test]
    fn workspace_conflict_series_are_bounded_per_namespace() {
        let metrics = Metrics::default();
        let many: BTreeMap<String, u32> = (0..MAX_WORKSPACE_SERIES + 7)
            .map(|i| (format!("ws-{i:03}"), 1))
            .collect();
        metrics.set_workspace_conflicts("ns", &many);
        let last_own = format!("ws-{:03}", MAX_WORKSPACE_SERIES - 1);
        assert_eq!(metrics.workspace_conflicts_of("ns", &last_own), Some(1));
        assert_eq!(
            metrics.workspace_conflicts_of("ns", &format!("ws-{MAX_WORKSPACE_SERIES:03}")),
            None
        );
        assert_eq!(metrics.workspace_conflicts_of("ns", OTHER_WORKSPACES), Some(7));
    }
}
