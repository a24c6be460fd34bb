//! The controller against a real API server (envtest): Users, Groups and Directories are created
//! directly, `scim_operator::controller::run` reconciles them, and each test waits (by polling
//! with a timeout, never a fixed sleep) for the Workspaces, RoleBindings and statuses it expects.
//! Every test has a namespace, a controller and a Lease of its own, so they run in parallel.

mod support;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::NamespaceResourceScope;
use kube::{Client, Resource};
use scim_operator::api::*;
use scim_operator::controller::{self, Config, Metrics};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

/// One test's namespace with a controller running in it.
struct Env {
    client: Client,
    ns: String,
    metrics: Metrics,
    controller: Option<Controller>,
}

/// A running controller; stopping it releases its Lease.
struct Controller {
    metrics: Metrics,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Controller {
    fn start(client: &Client, ns: &str, resync: Duration) -> Controller {
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

    async fn stop(mut self) {
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
    async fn start(prefix: &str, directory: Option<DirectorySpec>) -> Env {
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

    fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    async fn group(&self, id: &str, display_name: &str) {
        let spec = GroupSpec {
            display_name: display_name.into(),
            external_id: None,
        };
        create(&self.client, &self.ns, Group::new(id, spec)).await;
    }

    async fn user(&self, id: &str, groups: &[&str], roles: &[&str]) {
        let spec = UserSpec {
            user_name: format!("{id}@example.com"),
            active: true,
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
    async fn patch_user(&self, id: &str, spec: serde_json::Value) {
        self.api::<User>()
            .patch(
                id,
                &PatchParams::default(),
                &Patch::Merge(json!({ "spec": spec })),
            )
            .await
            .expect("patch user");
    }

    async fn rename_group(&self, id: &str, display_name: &str) {
        self.api::<Group>()
            .patch(
                id,
                &PatchParams::default(),
                &Patch::Merge(json!({ "spec": { "displayName": display_name } })),
            )
            .await
            .expect("rename group");
    }

    async fn delete<K>(&self, name: &str)
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + Clone
            + Debug
            + DeserializeOwned,
    {
        self.api::<K>()
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete");
    }

    /// The user's bindings: workspace (or `org`) → role.
    async fn bindings(&self, user: &str) -> BTreeMap<String, Role> {
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
    async fn expect_bindings(&self, user: &str, expected: &[(&str, Role)]) {
        let expected: BTreeMap<String, Role> =
            expected.iter().map(|(k, r)| (k.to_string(), *r)).collect();
        let result = poll(|| self.bindings(user), |have| *have == expected).await;
        if let Err(last) = result {
            panic!("bindings of {user}: expected {expected:?}, have {last:?}");
        }
    }

    /// Waits until object `name` exists and `check` accepts it; returns it.
    async fn expect<K>(&self, name: &str, what: &str, check: impl Fn(&K) -> bool) -> K
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + Clone
            + Debug
            + DeserializeOwned,
    {
        let api = self.api::<K>();
        let probe = || async { api.get_opt(name).await.expect("get") };
        match poll(probe, |obj| obj.as_ref().is_some_and(&check)).await {
            Ok(obj) => obj.expect("checked"),
            Err(last) => panic!("{name}: {what}; last seen: {last:#?}"),
        }
    }

    /// Waits until object `name` is gone.
    async fn expect_gone<K>(&self, name: &str)
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + Clone
            + Debug
            + DeserializeOwned,
    {
        let api = self.api::<K>();
        let gone = eventually(|| async { api.get_opt(name).await.expect("get").is_none() }).await;
        assert!(gone, "{name} still exists");
    }

    async fn stop_controller(&mut self) {
        if let Some(c) = self.controller.take() {
            c.stop().await;
        }
    }
}

async fn create<K>(client: &Client, ns: &str, obj: K)
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned,
{
    Api::<K>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &obj)
        .await
        .expect("create");
}

fn sorted(ids: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    ids.sort();
    ids
}

/// Polls `probe` until `ok` accepts its value (`Ok`) or [`support::WAIT`] passes (`Err` with the
/// last value).
async fn poll<T, F, Fut>(mut probe: F, ok: impl Fn(&T) -> bool) -> Result<T, T>
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
async fn eventually<F, Fut>(mut check: F) -> bool
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

fn condition<'a>(
    conditions: &'a [k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    type_: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

fn has_condition(
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    type_: &str,
    status: &str,
    reason: &str,
) -> bool {
    condition(conditions, type_).is_some_and(|c| c.status == status && c.reason == reason)
}

/// The Sales groups: one per role.
async fn sales_groups(env: &Env) {
    env.group("g-admin", "ws-Sales-role-admin").await;
    env.group("g-manager", "ws-Sales-role-manager").await;
    env.group("g-member", "ws-Sales-role-member").await;
}

fn counts(ws: &Workspace) -> (u32, u32, u32, u32) {
    let s = ws.status.clone().unwrap_or_default();
    (s.admins, s.managers, s.members, s.conflicts)
}

#[tokio::test]
async fn sales_example() {
    let env = Env::start("sales", Some(DirectorySpec::default())).await;
    sales_groups(&env).await;
    env.user("alice", &["g-admin"], &[]).await;
    env.user("bob", &["g-manager"], &[]).await;
    env.user("carol", &["g-member"], &[]).await;

    let ws: Workspace = env
        .expect("sales", "counts 1/1/1 and Ready", |ws: &Workspace| {
            counts(ws) == (1, 1, 1, 0)
                && has_condition(
                    &ws.status.as_ref().unwrap().conditions,
                    "Ready",
                    "True",
                    "Provisioned",
                )
        })
        .await;
    assert_eq!(ws.spec.display_name, "Sales");
    assert_eq!(ws.spec.groups.len(), 3);
    env.expect_bindings("alice", &[("org", Role::Member), ("sales", Role::Admin)])
        .await;
    env.expect_bindings("bob", &[("org", Role::Member), ("sales", Role::Manager)])
        .await;
    env.expect_bindings("carol", &[("org", Role::Member), ("sales", Role::Member)])
        .await;

    env.expect("g-admin", "group status", |g: &Group| {
        g.status.as_ref().is_some_and(|s| {
            s.workspace.as_deref() == Some("sales")
                && s.role == Some(Role::Admin)
                && s.member_count == 1
        })
    })
    .await;
    env.expect("alice", "user status", |u: &User| {
        u.status.as_ref().is_some_and(|s| {
            s.workspace_count == 1
                && s.org_role == Some(Role::Member)
                && has_condition(&s.conditions, "Ready", "True", "Active")
                && has_condition(&s.conditions, "Conflict", "False", "NoConflict")
        })
    })
    .await;
    let dir: Directory = env
        .expect("entra", "directory status", |d: &Directory| {
            d.status.as_ref().is_some_and(|s| {
                s.users == 3 && s.groups == 3 && s.workspaces == 1 && s.role_bindings == 6
            })
        })
        .await;
    let status = dir.status.unwrap();
    assert_eq!(
        status.scim_base_url.as_deref(),
        Some(format!("/scim/v2/{}/entra", env.ns).as_str())
    );
    assert!(has_condition(&status.conditions, "Ready", "True", "Ready"));
}

/// A user in the admin and member groups of Sales under one policy: the bound role (if any),
/// and the conflict in the Workspace status, the User condition and an Event.
async fn conflict_under(policy: ConflictPolicy, expected: Option<Role>) {
    let env = Env::start(
        "conflict",
        Some(DirectorySpec {
            conflict_policy: policy,
            ..Default::default()
        }),
    )
    .await;
    sales_groups(&env).await;
    env.user("dave", &["g-admin", "g-member"], &[]).await;

    let mut want = vec![("org", Role::Member)];
    if let Some(role) = expected {
        want.push(("sales", role));
    }
    env.expect_bindings("dave", &want).await;
    let ws: Workspace = env
        .expect("sales", "one conflict", |ws: &Workspace| counts(ws).3 == 1)
        .await;
    let detail = &ws.status.unwrap().conflict_details[0];
    assert_eq!(detail.user_name.as_deref(), Some("dave@example.com"));
    assert_eq!(
        detail.groups,
        vec!["ws-Sales-role-admin", "ws-Sales-role-member"]
    );
    assert_eq!(detail.applied_role, expected);

    let user: User = env
        .expect("dave", "Conflict condition", |u: &User| {
            u.status.as_ref().is_some_and(|s| {
                has_condition(&s.conditions, "Conflict", "True", "MultipleRoleGroups")
            })
        })
        .await;
    let status = user.status.unwrap();
    let message = &condition(&status.conditions, "Conflict").unwrap().message;
    assert!(
        message.contains("sales")
            && message.contains("ws-Sales-role-admin")
            && message.contains("ws-Sales-role-member"),
        "{message}"
    );

    if expected.is_some() {
        env.expect("dave.sales", "RoleBinding conflict", |rb: &RoleBinding| {
            rb.status.as_ref().is_some_and(|s| {
                s.conflict && has_condition(&s.conditions, "Conflict", "True", "MultipleRoleGroups")
            })
        })
        .await;
    }
    let events = env.api::<Event>();
    let found = eventually(|| async {
        let list = events.list(&ListParams::default()).await.expect("events");
        list.items.iter().any(|e| {
            e.reason.as_deref() == Some("RoleConflict")
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("dave")
        })
    })
    .await;
    assert!(found, "no RoleConflict event for dave");
    assert_eq!(
        env.metrics.writes_of("Event", "create"),
        1,
        "one event per new conflict"
    );

    // Leaving one group settles the conflict.
    env.patch_user("dave", json!({ "groups": ["g-admin"] }))
        .await;
    env.expect_bindings("dave", &[("org", Role::Member), ("sales", Role::Admin)])
        .await;
    env.expect("sales", "conflict gone", |ws: &Workspace| {
        counts(ws) == (1, 0, 0, 0)
    })
    .await;
    env.expect("dave", "Conflict False", |u: &User| {
        u.status
            .as_ref()
            .is_some_and(|s| has_condition(&s.conditions, "Conflict", "False", "NoConflict"))
    })
    .await;
}

#[tokio::test]
async fn conflict_least_privilege() {
    conflict_under(ConflictPolicy::LeastPrivilege, Some(Role::Member)).await;
}

#[tokio::test]
async fn conflict_highest_privilege() {
    conflict_under(ConflictPolicy::HighestPrivilege, Some(Role::Admin)).await;
}

#[tokio::test]
async fn conflict_deny() {
    conflict_under(ConflictPolicy::Deny, None).await;
}

#[tokio::test]
async fn organisation_roles() {
    let env = Env::start("orgroles", Some(DirectorySpec::default())).await;
    env.user("erin", &[], &["admin", "member"]).await;
    env.user("frank", &[], &["superuser"]).await;
    env.user("grace", &[], &["Owner"]).await;
    env.expect_bindings("erin", &[("org", Role::Admin)]).await;
    env.expect_bindings("frank", &[("org", Role::Member)]).await;
    env.expect_bindings("grace", &[("org", Role::Owner)]).await;
}

#[tokio::test]
async fn disable_and_enable() {
    let env = Env::start("suspend", Some(DirectorySpec::default())).await;
    sales_groups(&env).await;
    env.user("heidi", &["g-manager"], &[]).await;
    env.expect_bindings("heidi", &[("org", Role::Member), ("sales", Role::Manager)])
        .await;

    env.patch_user("heidi", json!({ "active": false })).await;
    env.expect_bindings("heidi", &[]).await;
    env.expect("heidi", "Suspended", |u: &User| {
        u.status.as_ref().is_some_and(|s| {
            s.org_role.is_none() && has_condition(&s.conditions, "Ready", "True", "Suspended")
        })
    })
    .await;
    env.expect("sales", "no managers", |ws: &Workspace| counts(ws).1 == 0)
        .await;

    env.patch_user("heidi", json!({ "active": true })).await;
    env.expect_bindings("heidi", &[("org", Role::Member), ("sales", Role::Manager)])
        .await;
}

#[tokio::test]
async fn allowed_domains() {
    let env = Env::start(
        "domains",
        Some(DirectorySpec {
            allowed_domains: vec!["example.org".into()],
            ..Default::default()
        }),
    )
    .await;
    sales_groups(&env).await;
    env.user("ivan", &["g-admin"], &[]).await;
    env.expect("ivan", "DomainNotAllowed", |u: &User| {
        u.status
            .as_ref()
            .is_some_and(|s| has_condition(&s.conditions, "Ready", "False", "DomainNotAllowed"))
    })
    .await;
    assert_eq!(env.bindings("ivan").await, BTreeMap::new());
}

#[tokio::test]
async fn deleting_a_user_deletes_its_bindings() {
    let env = Env::start("deluser", Some(DirectorySpec::default())).await;
    sales_groups(&env).await;
    env.user("judy", &["g-admin"], &[]).await;
    env.expect_bindings("judy", &[("org", Role::Member), ("sales", Role::Admin)])
        .await;
    env.delete::<User>("judy").await;
    env.expect_bindings("judy", &[]).await;
    env.expect("sales", "no admins", |ws: &Workspace| counts(ws).0 == 0)
        .await;
}

#[tokio::test]
async fn deleting_a_group_deletes_its_bindings() {
    let env = Env::start("delgroup", Some(DirectorySpec::default())).await;
    sales_groups(&env).await;
    env.user("ken", &["g-admin"], &[]).await;
    env.user("lena", &["g-member"], &[]).await;
    env.expect_bindings("ken", &[("org", Role::Member), ("sales", Role::Admin)])
        .await;
    env.delete::<Group>("g-admin").await;
    env.expect_bindings("ken", &[("org", Role::Member)]).await;
    env.expect_bindings("lena", &[("org", Role::Member), ("sales", Role::Member)])
        .await;
    env.expect("sales", "two groups left", |ws: &Workspace| {
        ws.spec.groups.len() == 2
    })
    .await;
}

#[tokio::test]
async fn last_group_deleted_under_retain_orphans_the_workspace() {
    let env = Env::start("retain", Some(DirectorySpec::default())).await;
    env.group("g-eu", "ws-Sales-EU-role-member").await;
    env.user("mia", &["g-eu"], &[]).await;
    env.expect_bindings("mia", &[("org", Role::Member), ("sales-eu", Role::Member)])
        .await;
    env.delete::<Group>("g-eu").await;
    let ws: Workspace = env
        .expect("sales-eu", "orphaned", |ws: &Workspace| {
            ws.status.as_ref().is_some_and(|s| s.orphaned)
        })
        .await;
    assert!(has_condition(
        &ws.status.unwrap().conditions,
        "Ready",
        "False",
        "Orphaned"
    ));
    assert_eq!(ws.spec.display_name, "Sales-EU");
    assert!(ws.spec.groups.is_empty());
    env.expect_bindings("mia", &[("org", Role::Member)]).await;
}

#[tokio::test]
async fn last_group_deleted_under_delete_removes_the_workspace() {
    let spec = DirectorySpec {
        workspace_deletion_policy: WorkspaceDeletionPolicy::Delete,
        ..Default::default()
    };
    let env = Env::start("wsdelete", Some(spec)).await;
    env.group("g-eu", "ws-Sales-EU-role-member").await;
    env.user("nina", &["g-eu"], &[]).await;
    env.expect("sales-eu", "created", |_: &Workspace| true)
        .await;
    env.delete::<Group>("g-eu").await;
    env.expect_gone::<Workspace>("sales-eu").await;
    env.expect_bindings("nina", &[("org", Role::Member)]).await;
}

#[tokio::test]
async fn renaming_a_group_to_plain_and_back() {
    let env = Env::start("rename", Some(DirectorySpec::default())).await;
    env.group("g1", "ws-Sales-role-admin").await;
    env.user("oscar", &["g1"], &[]).await;
    env.expect_bindings("oscar", &[("org", Role::Member), ("sales", Role::Admin)])
        .await;

    env.rename_group("g1", "Sales Admins").await;
    env.expect_bindings("oscar", &[("org", Role::Member)]).await;
    env.expect("g1", "PlainGroup", |g: &Group| {
        g.status.as_ref().is_some_and(|s| {
            s.workspace.is_none()
                && s.member_count == 1
                && has_condition(&s.conditions, "Ready", "True", "PlainGroup")
        })
    })
    .await;

    env.rename_group("g1", "ws-Sales-role-admin").await;
    env.expect_bindings("oscar", &[("org", Role::Member), ("sales", Role::Admin)])
        .await;
}

#[tokio::test]
async fn odd_group_names() {
    let env = Env::start("oddnames", Some(DirectorySpec::default())).await;
    env.group("g-amp", "ws-Sales & Marketing-role-admin").await;
    env.group("g-caps", "WS-sales-ROLE-Admin").await;
    env.group("g-plain", "ws-Sales-role-member").await;
    env.user("pat", &["g-amp"], &[]).await;
    env.user("quinn", &["g-caps"], &[]).await;
    env.user("rita", &["g-plain"], &[]).await;

    let amp: Group = env
        .expect("g-amp", "parsed", |g: &Group| {
            g.status.as_ref().is_some_and(|s| s.workspace.is_some())
        })
        .await;
    let ws_name = amp.status.unwrap().workspace.unwrap();
    assert!(ws_name.starts_with("sales-marketing"), "{ws_name}");
    let ws: Workspace = env
        .expect(&ws_name, "one admin", |ws: &Workspace| counts(ws).0 == 1)
        .await;
    assert_eq!(ws.spec.display_name, "Sales & Marketing");
    env.expect_bindings(
        "pat",
        &[("org", Role::Member), (ws_name.as_str(), Role::Admin)],
    )
    .await;

    // `WS-sales-ROLE-Admin` and `ws-Sales-role-member` feed the same workspace.
    env.expect("sales", "admin and member", |ws: &Workspace| {
        counts(ws) == (1, 0, 1, 0)
    })
    .await;
    env.expect_bindings("quinn", &[("org", Role::Member), ("sales", Role::Admin)])
        .await;
    env.expect_bindings("rita", &[("org", Role::Member), ("sales", Role::Member)])
        .await;
}

#[tokio::test]
async fn duplicate_directory_is_reported() {
    let env = Env::start("dupdir", Some(DirectorySpec::default())).await;
    env.expect("entra", "Ready", |d: &Directory| {
        d.status
            .as_ref()
            .is_some_and(|s| has_condition(&s.conditions, "Ready", "True", "Ready"))
    })
    .await;
    create(
        &env.client,
        &env.ns,
        Directory::new("second", DirectorySpec::default()),
    )
    .await;
    let dir: Directory = env
        .expect("second", "DuplicateDirectory", |d: &Directory| {
            d.status.as_ref().is_some_and(|s| {
                has_condition(&s.conditions, "Ready", "False", "DuplicateDirectory")
            })
        })
        .await;
    let status = dir.status.unwrap();
    let message = &condition(&status.conditions, "Ready").unwrap().message;
    assert!(message.contains("entra"), "{message}");
}

#[tokio::test]
async fn resync_without_change_writes_nothing() {
    let mut env = Env::start(
        "quiet",
        Some(DirectorySpec {
            conflict_policy: ConflictPolicy::LeastPrivilege,
            ..Default::default()
        }),
    )
    .await;
    sales_groups(&env).await;
    env.group("g-plain", "Engineering").await;
    env.user("sam", &["g-admin", "g-plain"], &["admin"]).await;
    env.user("tess", &["g-admin", "g-member"], &[]).await;
    env.user("uma", &["g-manager"], &[]).await;
    env.expect_bindings("tess", &[("org", Role::Member), ("sales", Role::Member)])
        .await;
    env.expect("sales", "converged", |ws: &Workspace| {
        counts(ws) == (1, 1, 1, 1)
    })
    .await;
    env.expect("entra", "converged", |d: &Directory| {
        d.status
            .as_ref()
            .is_some_and(|s| s.users == 3 && s.role_bindings == 6)
    })
    .await;
    env.expect("g-plain", "converged", |g: &Group| {
        g.status.as_ref().is_some_and(|s| s.member_count == 1)
    })
    .await;
    let all_written = eventually(|| async {
        let users = env
            .api::<User>()
            .list(&ListParams::default())
            .await
            .expect("users");
        let rbs = env
            .api::<RoleBinding>()
            .list(&ListParams::default())
            .await
            .expect("bindings");
        users.items.iter().all(|u| u.status.is_some())
            && rbs.items.len() == 6
            && rbs.items.iter().all(|rb| rb.status.is_some())
    })
    .await;
    assert!(all_written, "statuses not written");
    env.stop_controller().await;

    // A new leader: its full pass, then periodic resyncs every second, must write nothing.
    let controller = Controller::start(&env.client, &env.ns, Duration::from_secs(1));
    let metrics = controller.metrics.clone();
    let passes = eventually(|| async {
        metrics.resyncs() >= 1
            && metrics.reconciles_of("User") >= 9
            && metrics.reconciles_of("Namespace") >= 3
    })
    .await;
    assert!(
        passes,
        "no full pass and resyncs: {} users, {} namespaces",
        metrics.reconciles_of("User"),
        metrics.reconciles_of("Namespace")
    );
    assert_eq!(
        metrics.object_writes(),
        0,
        "a resync with no change must not write: {:?}",
        metrics.writes
    );
    controller.stop().await;
}

#[tokio::test]
async fn only_the_leader_reconciles() {
    let env = Env::start("leader", Some(DirectorySpec::default())).await;
    env.expect("entra", "Ready", |d: &Directory| d.status.is_some())
        .await;
    let first = env.controller.as_ref().unwrap().metrics.clone();
    assert_eq!(first.leader.get(), 1);

    let standby = Controller::start(&env.client, &env.ns, Duration::from_secs(600));
    sales_groups(&env).await;
    env.user("vera", &["g-admin"], &[]).await;
    env.expect_bindings("vera", &[("org", Role::Member), ("sales", Role::Admin)])
        .await;
    assert_eq!(standby.metrics.leader.get(), 0);
    assert_eq!(
        standby.metrics.object_writes(),
        0,
        "a standby must not write"
    );

    // The leader steps down (releasing the Lease); the standby takes over and reconciles.
    let mut env = env;
    env.stop_controller().await;
    env.user("walt", &["g-member"], &[]).await;
    env.expect_bindings("walt", &[("org", Role::Member), ("sales", Role::Member)])
        .await;
    assert_eq!(standby.metrics.leader.get(), 1);
    standby.stop().await;
}
