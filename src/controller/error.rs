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
    /// Every value [`Error::metric_label`] returns, so that the error counters can be served at 0
    /// before the first error (an alert's `rate()` then sees the first one).
    pub const METRIC_LABELS: &[&str] = &[
        "conflict",
        "not_found",
        "api",
        "transport",
        "missing_field",
        "caches_gone",
        "lease",
    ];

    /// A short, bounded label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(status)) if status.code == 409 => "conflict",
            // The object was deleted while it was reconciled (e.g. a user deleted through SCIM
            // during its reconcile): transient by nature, the deletion is handled on its own.
            Error::Kube(kube::Error::Api(status)) if status.code == 404 => "not_found",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_labels_lists_every_label() {
        let api = |code| {
            let mut status = kube::core::Status::failure("x", "x");
            status.code = code;
            Error::Kube(kube::Error::Api(status.boxed()))
        };
        assert_eq!(api(404).metric_label(), "not_found");
        let errors = [
            api(409),
            api(404),
            api(403),
            Error::MissingField("x"),
            Error::CachesGone,
            Error::LeaseTimeout,
            Error::Kube(kube::Error::LinesCodecMaxLineLengthExceeded),
        ];
        for error in &errors {
            assert!(Error::METRIC_LABELS.contains(&error.metric_label()), "{error}");
        }
    }
}
