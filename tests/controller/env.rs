//! The test fixture: a namespace with a controller, object builders and polling helpers.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::NamespaceResourceScope;
use kube::{Client, Resource};
use scim_operator::api::*;
use scim_operator::controller::{self, Config, Metrics};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::support;

/// One test's namespace with a controller running in it.
pub struct Env {
    pub client: Client,
    pub ns: String,
    pub metrics: Metrics,
    pub controller: Option<Controller>,
}

/// A running controller; stopping it releases its Lease.
pub struct Controller {
    pub metrics: Metrics,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Controller {
    pub fn start(client: &Client, ns: &str, resync: Duration) -> Controller {
        let mut config = Config::new(ns);
        config.namespace = Some(ns.to_string());
        config.lease_duration = Duration::from_secs(4);
        config.renew_interval = Duration::from_millis(500);
        config.resync_interval = resync;
        config.namespace_debounce = Duration::from_millis(50);
        let metrics = config.metrics.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let client = client.clone();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(error) = controller::run_until(client, config, shutdown).await {
                panic!("controller failed: {error}");
            }
        });
        Controller {
            metrics,
            stop: Some(stop),
            task,
        }
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Env {
    /// A fresh namespace with `directory` (if any) and a controller.
    pub async fn start(prefix: &str, directory: Option<DirectorySpec>) -> Env {
        let client = support::client().await;
        let ns = support::fresh_namespace(&client, prefix).await;
        if let Some(spec) = directory {
            create(&client, &ns, Directory::new("entra", spec)).await;
        }
        let controller = Controller::start(&client, &ns, Duration::from_secs(600));
        Env {
            metrics: controller.metrics.clone(),
            client,
            ns,
            controller: Some(controller),
        }
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    pub async fn group(&self, id: &str, display_name: &str) {
        let spec = GroupSpec {
            display_name: display_name.into(),
            external_id: None,
        };
        create(&self.client, &self.ns, Group::new(id, spec)).await;
    }

    pub async fn user(&self, id: &str, groups: &[&str], roles: &[&str]) {
        let spec = UserSpec {
            user_name: format!("{id}@example.com"),
            active: Some(true),
            emails: vec![MultiValue {
                value: Some(format!("{id}@example.com")),
                primary: Some(true),
                ..Default::default()
            }],
            roles: roles
                .iter()
                .map(|r| MultiValue {
                    value: Some(r.to_string()),
                    ..Default::default()
                })
                .collect(),
            groups: sorted(groups),
            ..Default::default()
        };
        create(&self.client, &self.ns, User::new(id, spec)).await;
    }

    /// Merge-patches a User's spec (as the SCIM endpoint would write it).
    pub async fn patch_user(&self, id: &str, spec: serde_json::Value) {
        self.api::<User>()
            .patch(id, &PatchParams::default(), &Patch::Merge(json!({ "spec": spec })))
            .await
            .expect("patch user");
    }

    pub async fn rename_group(&self, id: &str, display_name: &str) {
        self.api::<Group>()
            .patch(
                id,
                &PatchParams::default(),
                &Patch::Merge(json!({ "spec": { "displayName": display_name } })),
            )
            .await
            .expect("rename group");
    }

    pub async fn delete<K>(&self, name: &str)
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()> + Clone + Debug + DeserializeOwned,
    {
        self.api::<K>()
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete");
    }

    /// The user's bindings: workspace (or `org`) → role.
    pub async fn bindings(&self, user: &str) -> BTreeMap<String, Role> {
        let list = self
            .api::<RoleBinding>()
            .list(&ListParams::default().labels(&format!("{}={user}", labels::USER)))
            .await
            .expect("list bindings");
        list.items
            .into_iter()
            .map(|rb| {
                let key = rb.spec.workspace.unwrap_or_else(|| "org".into());
                (key, rb.spec.role)
            })
            .collect()
    }

    /// Waits until the user's bindings are exactly `expected` (workspace or `org`, role).
    pub async fn expect_bindings(&self, user: &str, expected: &[(&str, Role)]) {
        let expected: BTreeMap<String, Role> = expected.iter().map(|(k, r)| (k.to_string(), *r)).collect();
        let result = poll(|| self.bindings(user), |have| *have == expected).await;
        if let Err(last) = result {
            panic!("bindings of {user}: expected {expected:?}, have {last:?}");
        }
    }

    /// Waits until object `name` exists and `check` accepts it; returns it.
    pub async fn expect<K>(&self, name: &str, what: &str, check: impl Fn(&K) -> bool) -> K
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()> + Clone + Debug + DeserializeOwned,
    {
        let api = self.api::<K>();
        let probe = || async { api.get_opt(name).await.expect("get") };
        match poll(probe, |obj| obj.as_ref().is_some_and(&check)).await {
            Ok(obj) => obj.expect("checked"),
            Err(last) => panic!("{name}: {what}; last seen: {last:#?}"),
        }
    }

    /// Waits until object `name` is gone.
    pub async fn expect_gone<K>(&self, name: &str)
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()> + Clone + Debug + DeserializeOwned,
    {
        let api = self.api::<K>();
        let gone = eventually(|| async { api.get_opt(name).await.expect("get").is_none() }).await;
        assert!(gone, "{name} still exists");
    }

    pub async fn stop_controller(&mut self) {
        if let Some(c) = self.controller.take() {
            c.stop().await;
        }
    }
}

pub async fn create<K>(client: &Client, ns: &str, obj: K)
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()> + Clone + Debug + Serialize + DeserializeOwned,
{
    Api::<K>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &obj)
        .await
        .expect("create");
}

pub fn sorted(ids: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    ids.sort();
    ids
}

/// Polls `probe` until `ok` accepts its value (`Ok`) or [`support::WAIT`] passes (`Err` with the
/// last value).
pub async fn poll<T, F, Fut>(mut probe: F, ok: impl Fn(&T) -> bool) -> Result<T, T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let deadline = tokio::time::Instant::now() + support::WAIT;
    loop {
        let value = probe().await;
        if ok(&value) {
            return Ok(value);
        }
        if tokio::time::Instant::now() > deadline {
            return Err(value);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls `check` until it holds or [`support::WAIT`] passes.
pub async fn eventually<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + support::WAIT;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

pub fn has_condition(conditions: &[Condition], type_: &str, status: &str, reason: &str) -> bool {
    condition(conditions, type_).is_some_and(|c| c.status == status && c.reason == reason)
}

/// The Sales groups: one per role.
pub async fn sales_groups(env: &Env) {
    env.group("g-admin", "ws-Sales-role-admin").await;
    env.group("g-manager", "ws-Sales-role-manager").await;
    env.group("g-member", "ws-Sales-role-member").await;
}

pub fn counts(ws: &Workspace) -> (u32, u32, u32, u32) {
    let s = ws.status.clone().unwrap_or_default();
    (s.admins, s.managers, s.members, s.conflicts)
}
