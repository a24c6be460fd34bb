//! Leader election on a `coordination.k8s.io/v1` Lease: only the holder runs the controllers.
//!
//! Every update is a compare-and-swap on the Lease's resourceVersion (a `replace` of the object as
//! read), so two candidates can never both believe they took it. A holder that cannot renew
//! within the lease duration stops reconciling before another candidate may take over.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};

use super::{Error, Metrics, Result};

/// A candidate for the leader Lease.
#[derive(Clone)]
pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
    metrics: Metrics,
}

impl LeaderElector {
    /// A candidate named `identity` for Lease `namespace/name`, held for `duration` per renewal.
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        duration: Duration,
        metrics: Metrics,
    ) -> Self {
        LeaderElector {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            identity: identity.to_string(),
            duration,
            metrics,
        }
    }

    /// Takes the Lease if it is free, expired or already ours, and renews it; `Ok(true)` while we
    /// hold it. A lost race (409) is `Ok(false)`.
    pub async fn try_acquire_or_renew(&self) -> Result<bool> {
        let now = jiff::Timestamp::now();
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..Default::default()
                },
                spec: Some(self.spec(now, now, 0)),
            };
            self.metrics.write("Lease", "create");
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e.into()),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let ours = spec.holder_identity.as_deref() == Some(self.identity.as_str());
        let spec = if ours {
            LeaseSpec {
                renew_time: Some(MicroTime(now)),
                lease_duration_seconds: Some(self.duration.as_secs() as i32),
                ..spec
            }
        } else if is_free(&spec, now) {
            let transitions = spec.lease_transitions.unwrap_or(0) + 1;
            self.spec(now, now, transitions)
        } else {
            return Ok(false);
        };
        lease.spec = Some(spec);
        self.metrics.write("Lease", "replace");
        // `replace` sends the resourceVersion we read: the compare-and-swap.
        match self.api.replace(&self.name, &PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Gives the Lease up so that another candidate takes over at once (on shutdown).
    pub async fn release(&self) -> Result<()> {
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            return Ok(());
        };
        let mut spec = lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        lease.spec = Some(spec);
        self.metrics.write("Lease", "replace");
        self.api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
            .map_err(|e| Error::Lease(e.to_string()))?;
        Ok(())
    }

    fn spec(&self, acquired: jiff::Timestamp, renewed: jiff::Timestamp, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.duration.as_secs() as i32),
            acquire_time: Some(MicroTime(acquired)),
            renew_time: Some(MicroTime(renewed)),
            lease_transitions: Some(transitions),
            ..Default::default()
        }
    }
}

/// Whether a Lease held by someone else may be taken: no holder, or not renewed within its duration.
fn is_free(spec: &LeaseSpec, now: jiff::Timestamp) -> bool {
    let Some(holder) = spec.holder_identity.as_deref() else {
        return true;
    };
    if holder.is_empty() {
        return true;
    }
    let (Some(renewed), Some(secs)) = (&spec.renew_time, spec.lease_duration_seconds) else {
        return true;
    };
    renewed.0 + jiff::SignedDuration::from_secs(secs.into()) < now
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(renewed_secs_ago: i64, duration: i32) -> (LeaseSpec, jiff::Timestamp) {
        let now = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let spec = LeaseSpec {
            holder_identity: Some("other".into()),
            renew_time: Some(MicroTime(now - jiff::SignedDuration::from_secs(renewed_secs_ago))),
            lease_duration_seconds: Some(duration),
            ..Default::default()
        };
        (spec, now)
    }

    #[test]
    fn a_lease_is_free_only_when_unheld_or_expired() {
        let (spec, now) = held(5, 15);
        assert!(!is_free(&spec, now));
        let (spec, now) = held(16, 15);
        assert!(is_free(&spec, now));
        assert!(is_free(&LeaseSpec::default(), now));
    }
}
