//! Prometheus metrics of the controller, shared with the binary's `/metrics` and readable by tests.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

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

/// Labels of [`Metrics::relists`]: a watched kind's API group (empty for the core group) and kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WatchLabels {
    pub group: String,
    pub kind: String,
}

/// The controller's metrics. Cheap to clone: every field is shared.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    /// `scim_operator_api_writes_total{kind,verb}`: every write the controller sends to the API server.
    pub writes: Family<WriteLabels, Counter>,
    /// `scim_operator_conflicts{namespace}`: role conflicts currently reported in a namespace.
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
    /// `scim_operator_leader`: 1 while this process holds the leader Lease.
    pub leader: Gauge,
    /// Completed passes over every object after the caches synced (see [`Metrics::resyncs`]).
    full_passes: Arc<Counter>,
}

impl Metrics {
    /// Registers every metric in `registry`, which is expected to carry the `scim_operator` prefix
    /// (as the binary's does: `Registry::with_prefix("scim_operator")`).
    pub fn register(&self, registry: &mut Registry) {
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
            "leader",
            "1 while this process holds the leader Lease",
            self.leader.clone(),
        );
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
        let labels = WatchLabels {
            group: group.into(),
            kind: kind.into(),
        };
        self.relists.get_or_create(&labels).inc();
    }

    /// How many complete lists the watch of `group`/`kind` has had.
    pub fn relists_of(&self, group: &str, kind: &str) -> u64 {
        let labels = WatchLabels {
            group: group.into(),
            kind: kind.into(),
        };
        self.relists.get(&labels).map_or(0, |c| c.get())
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
