//! The controller's error type; its kinds become metric labels and log fields.

/// Errors of one reconcile step. A failing object is retried with backoff and never stops others.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the API server failed.
    #[error("kubernetes API call failed: {0}")]
    Kube(#[from] kube::Error),
    /// An object read from the cache lacks a field the API server always sets.
    #[error("object is missing {0}")]
    MissingField(&'static str),
    /// The reflectors stopped, so the caches can no longer be trusted.
    #[error("the watch caches are gone")]
    CachesGone,
    /// The API server did not answer a Lease request within the renew deadline.
    #[error("leader election failed: no answer from the API server in time")]
    LeaseTimeout,
}

impl Error {
    /// A short, bounded label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(status)) if status.code == 409 => "conflict",
            Error::Kube(kube::Error::Api(_)) => "api",
            Error::Kube(_) => "transport",
            Error::MissingField(_) => "missing_field",
            Error::CachesGone => "caches_gone",
            Error::LeaseTimeout => "lease",
        }
    }

    /// Whether the API server refused this process's credentials (401) or permissions (403):
    /// what a Pod sees while its release is uninstalled (RBAC and ServiceAccount go first), and
    /// what a broken RBAC setup looks like when it lasts.
    pub fn is_access_denied(&self) -> bool {
        matches!(self, Error::Kube(kube::Error::Api(status)) if status.code == 401 || status.code == 403)
    }
}

/// The controller's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
