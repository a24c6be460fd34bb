//! Leader election on a `coordination.k8s.io/v1` Lease: only the holder runs the controllers.
//!
//! Every update is a compare-and-swap on the Lease's resourceVersion (a `replace` of the object as
//! read), so two candidates can never both believe they took it. Two clocks are never compared,
//! as in client-go:
//! - A follower judges expiry by its own monotonic clock: it records when it last saw the
//!   Lease's holder, renewTime or resourceVersion change, and takes the Lease only when nothing
//!   changed for the Lease's duration. The holder's renewTime is never compared with the local
//!   time, so a skewed clock on either side cannot make a follower steal a Lease being renewed.
//! - The leader counts its term from the start of its last successful renewal, bounds every
//!   renewal by what is left of the renew deadline (two thirds of the duration), and stops
//!   reconciling once that deadline passes, even when a renewal hangs: before any follower, which
//!   saw the renewal land after it started, may take over.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tokio::time::Instant;

use super::{Error, Metrics, Result};

/// A candidate for the leader Lease.
#[derive(Clone)]
pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
    metrics: Metrics,
    /// What this candidate last saw of the Lease, and when (see [`observe`]).
    observed: Arc<Mutex<Option<Observed>>>,
}

/// What identifies one state of the Lease, as far as expiry is concerned.
#[derive(Clone, Debug, PartialEq)]
struct Record {
    holder: Option<String>,
    renew_time: Option<MicroTime>,
    resource_version: Option<String>,
    /// The holder's lease duration (`leaseDurationSeconds`).
    duration: Option<Duration>,
}

/// A [`Record`] and the moment, by this candidate's monotonic clock, it was first seen.
#[derive(Clone, Debug, PartialEq)]
struct Observed {
    record: Record,
    since: Instant,
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
            observed: Arc::default(),
        }
    }

    /// How long after the start of its last successful renewal the leader stops: two thirds of
    /// the duration, leaving a third for in-flight work to stop before a follower may take over.
    pub fn renew_deadline(&self) -> Duration {
        self.duration.mul_f64(2.0 / 3.0)
    }

    /// Takes the Lease if it is free, expired or already ours, and renews it; `Ok(true)` while we
    /// hold it. A lost race (409) is `Ok(false)`; no answer within [`Self::renew_deadline`] is an
    /// error. Leadership counts from the moment this call started.
    pub async fn try_acquire_or_renew(&self) -> Result<bool> {
        tokio::time::timeout(self.renew_deadline(), self.attempt())
            .await
            .map_err(|_| Error::LeaseTimeout)?
    }

    /// Renews the Lease every `interval` while we hold it. Returns when it is lost, or when the
    /// renew deadline passed since the start of the last successful renewal (`acquired`, the start
    /// of the acquiring call, at first) without another: a hung renewal is abandoned then.
    pub async fn hold(&self, interval: Duration, acquired: Instant) {
        let mut deadline = acquired + self.renew_deadline();
        loop {
            tokio::time::sleep_until((Instant::now() + interval).min(deadline)).await;
            let started = Instant::now();
            if started >= deadline {
                return;
            }
            match tokio::time::timeout_at(deadline, self.attempt()).await {
                Ok(Ok(true)) => deadline = started + self.renew_deadline(),
                Ok(Ok(false)) => return,
                // Refused while the release is uninstalled; if it lasts, the deadline says so.
                Ok(Err(error)) if error.is_access_denied() => {
                    tracing::info!(%error, "could not renew the leader lease: access refused")
                }
                Ok(Err(error)) => tracing::warn!(%error, "could not renew the leader lease"),
                Err(_) => {
                    tracing::warn!("leader lease renewal hung past the renew deadline");
                    return;
                }
            }
        }
    }

    async fn attempt(&self) -> Result<bool> {
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
        let observed = self.observe(&lease, Instant::now());
        let ours = spec.holder_identity.as_deref() == Some(self.identity.as_str());
        let spec = if ours {
            LeaseSpec {
                renew_time: Some(MicroTime(now)),
                lease_duration_seconds: Some(self.duration.as_secs() as i32),
                ..spec
            }
        } else if is_free(&observed, self.duration, Instant::now()) {
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

    /// Records the Lease as read at `now`; returns the observation it makes.
    fn observe(&self, lease: &Lease, now: Instant) -> Observed {
        let spec = lease.spec.clone().unwrap_or_default();
        let record = Record {
            holder: spec.holder_identity.filter(|h| !h.is_empty()),
            renew_time: spec.renew_time,
            resource_version: lease.metadata.resource_version.clone(),
            duration: spec
                .lease_duration_seconds
                .map(|s| Duration::from_secs(s.max(0) as u64)),
        };
        let mut observed = self.observed.lock().expect("lease observation lock");
        let next = observe(observed.as_ref(), record, now);
        *observed = Some(next.clone());
        next
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
        self.api.replace(&self.name, &PostParams::default(), &lease).await?;
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

/// The observation after seeing `record` at `now`: its time moves only when the record changed.
fn observe(previous: Option<&Observed>, record: Record, now: Instant) -> Observed {
    match previous {
        Some(p) if p.record == record => p.clone(),
        _ => Observed { record, since: now },
    }
}

/// Whether a Lease held by someone else may be taken at `now`: no holder, or nothing in it
/// changed for its duration (ours when it states none) by this candidate's clock.
fn is_free(observed: &Observed, ours: Duration, now: Instant) -> bool {
    if observed.record.holder.is_none() {
        return true;
    }
    let duration = observed.record.duration.unwrap_or(ours);
    now.duration_since(observed.since) > duration
}

#[cfg(test)]
mod tests {
    use super::*;

    const DURATION: Duration = Duration::from_secs(15);

    fn record(holder: Option<&str>, renewed: i64, version: &str) -> Record {
        let renewed = jiff::Timestamp::from_second(renewed).unwrap();
        Record {
            holder: holder.map(str::to_string),
            renew_time: Some(MicroTime(renewed)),
            resource_version: Some(version.into()),
            duration: Some(DURATION),
        }
    }

    /// Seconds on a fake monotonic clock.
    fn at(start: Instant, secs: u64) -> Instant {
        start + Duration::from_secs(secs)
    }

    #[test]
    fn an_unchanged_lease_expires_a_duration_after_it_was_first_seen() {
        let t0 = Instant::now();
        let held = record(Some("other"), 1_800_000_000, "1");
        let seen = observe(None, held.clone(), t0);
        // Seen again unchanged: the observation keeps its first time.
        let seen = observe(Some(&seen), held, at(t0, 10));
        assert_eq!(seen.since, t0);
        assert!(!is_free(&seen, DURATION, at(t0, 15)));
        assert!(is_free(&seen, DURATION, at(t0, 16)));
    }

    #[test]
    fn a_renewal_restarts_the_wait_whatever_its_renew_time_says() {
        let t0 = Instant::now();
        // The holder's clock is an hour behind ours: its renewTime is always long past.
        let an_hour_ago = jiff::Timestamp::now().as_second() - 3600;
        let mut seen = observe(None, record(Some("other"), an_hour_ago, "1"), t0);
        for (i, secs) in [10, 20, 30, 40].into_iter().enumerate() {
            let renewed = record(Some("other"), an_hour_ago + secs as i64, &(i + 2).to_string());
            seen = observe(Some(&seen), renewed, at(t0, secs));
            assert!(!is_free(&seen, DURATION, at(t0, secs + 5)), "taken at {secs} s");
        }
        // A new resourceVersion alone (the same renewTime) is a sign of life too.
        let same_time = record(Some("other"), an_hour_ago + 40, "99");
        seen = observe(Some(&seen), same_time, at(t0, 50));
        assert!(!is_free(&seen, DURATION, at(t0, 60)));
        assert!(is_free(&seen, DURATION, at(t0, 66)));
    }

    #[test]
    fn a_renew_time_in_the_future_does_not_extend_the_lease() {
        let t0 = Instant::now();
        let ahead = jiff::Timestamp::now().as_second() + 3600;
        let seen = observe(None, record(Some("other"), ahead, "1"), t0);
        assert!(is_free(&seen, DURATION, at(t0, 16)));
    }

    #[test]
    fn a_lease_without_holder_is_free_and_a_missing_duration_is_ours() {
        let t0 = Instant::now();
        let released = observe(None, record(None, 1_800_000_000, "1"), t0);
        assert!(is_free(&released, DURATION, t0));
        let mut no_duration = record(Some("other"), 1_800_000_000, "1");
        no_duration.duration = None;
        let seen = observe(None, no_duration, t0);
        assert!(!is_free(&seen, DURATION, at(t0, 15)));
        assert!(is_free(&seen, DURATION, at(t0, 16)));
    }
}
