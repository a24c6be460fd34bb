//! Which RoleBindings exist: the expected set from the pure rules, and the actual set from a
//! metadata watch, to time convergence without polling lists of 100,000 objects.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use kube::core::PartialObjectMeta;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use scim_operator::api::{DirectorySpec, GroupSpec, MultiValue, RoleBinding};
use scim_operator::rules::{GroupIndex, PlanSettings, UserInput, plan_user};

/// A user as provisioned, for planning.
pub struct PlannedUser {
    pub id: String,
    pub user_name: String,
    pub groups: Vec<String>,
}

/// The RoleBinding names the rules want for these users and groups (default Directory settings).
pub fn expected(users: &[PlannedUser], groups: &[(String, GroupSpec)]) -> HashSet<String> {
    let index = GroupIndex::new(groups.iter().map(|(id, spec)| (id.as_str(), spec)));
    let settings = PlanSettings::from_directory(&DirectorySpec::default());
    let mut names = HashSet::new();
    for user in users {
        let emails = [MultiValue {
            value: Some(user.user_name.clone()),
            type_: Some("work".into()),
            primary: Some(true),
            ..Default::default()
        }];
        let mut groups = user.groups.clone();
        groups.sort();
        let input = UserInput {
            id: &user.id,
            user_name: &user.user_name,
            active: true,
            emails: &emails,
            roles: &[],
            groups: &groups,
        };
        let plan = plan_user(&input, |id| index.get(id), Some(&settings));
        names.extend(plan.bindings().into_iter().map(|b| b.name));
    }
    names
}

/// The names of the RoleBindings in one namespace, kept current by a metadata watch.
#[derive(Clone, Default)]
pub struct Watch {
    state: Arc<Mutex<(HashSet<String>, bool)>>,
    task: Option<Arc<tokio::task::AbortHandle>>,
}

impl Watch {
    /// Starts watching; returns once the initial list is in.
    pub async fn start(client: Client, namespace: &str) -> Watch {
        let mut watch = Watch::default();
        let api: Api<PartialObjectMeta<RoleBinding>> = Api::namespaced(client, namespace);
        let state = watch.state.clone();
        let task = tokio::spawn(async move {
            let mut initial = HashSet::new();
            let mut events = std::pin::pin!(watcher::watcher(api, watcher::Config::default()));
            loop {
                match events.try_next().await {
                    Ok(Some(Event::Apply(o))) => {
                        state
                            .lock()
                            .expect("lock")
                            .0
                            .insert(o.metadata.name.unwrap_or_default());
                    }
                    Ok(Some(Event::Delete(o))) => {
                        state
                            .lock()
                            .expect("lock")
                            .0
                            .remove(&o.metadata.name.unwrap_or_default());
                    }
                    Ok(Some(Event::Init)) => initial.clear(),
                    Ok(Some(Event::InitApply(o))) => {
                        initial.insert(o.metadata.name.unwrap_or_default());
                    }
                    Ok(Some(Event::InitDone)) => *state.lock().expect("lock") = (std::mem::take(&mut initial), true),
                    Ok(None) => return,
                    Err(e) => {
                        eprintln!("RoleBinding watch: {e}; retrying");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        });
        watch.task = Some(Arc::new(task.abort_handle()));
        while !watch.state.lock().expect("lock").1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        watch
    }

    /// Stops watching (before the control plane goes away).
    pub fn stop(&self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }

    /// Whether exactly `expected` exist.
    pub fn matches(&self, expected: &HashSet<String>) -> bool {
        let state = self.state.lock().expect("lock");
        state.0.len() == expected.len() && expected.iter().all(|n| state.0.contains(n))
    }

    /// Whether `name` exists.
    pub fn contains(&self, name: &str) -> bool {
        self.state.lock().expect("lock").0.contains(name)
    }

    /// Waits (polling the watched set every 10 ms) until `done` holds; the time it took, or `None`
    /// after `timeout`.
    pub async fn wait(&self, since: Instant, timeout: Duration, done: impl Fn(&Watch) -> bool) -> Option<Duration> {
        loop {
            if done(self) {
                return Some(since.elapsed());
            }
            if since.elapsed() > timeout {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Names in `expected` that are missing, and how many extra names exist (for error messages).
pub fn diff(watch: &Watch, expected: &HashSet<String>) -> (usize, usize) {
    let state = watch.state.lock().expect("lock");
    let present: BTreeSet<&String> = state.0.iter().collect();
    let missing = expected.iter().filter(|n| !present.contains(n)).count();
    let extra = present.iter().filter(|n| !expected.contains(**n)).count();
    (missing, extra)
}
