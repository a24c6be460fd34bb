//! `export --watch --git` against a real control plane, SCIM server, controller and Git
//! repository: users and groups are provisioned over SCIM HTTP, and the commits the watcher makes
//! are read back with the `git` CLI.

mod support;

use std::path::Path;
use std::time::Duration;

use kube::api::{Api, ListParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, ResourceExt};
use scim_operator::api::RoleBinding;
use scim_operator::audit::{self, AuditOptions, Progress};
use scim_operator::controller::{self, Config, Metrics};
use scim_operator::export::ExportOptions;
use serde_json::json;
use support::WAIT;
use support::scim::{Reply, Scim, ServerOptions, create_directory, spawn_server};
use tokio::sync::{oneshot, watch};

const DIRECTORY: &str = "entra";

/// Runs `git` in `tree`; its stdout.
fn git(tree: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(tree)
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Commits on HEAD (0 before the first).
fn commits(tree: &Path) -> usize {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(tree)
        .args(["rev-list", "--count", "HEAD"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).trim().parse().unwrap_or(0)
}

/// The request id a response carries.
fn request_id(reply: &Reply) -> String {
    let id = reply.headers["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(id.len(), 32, "{id}");
    id
}

/// A running watcher.
struct Watcher {
    progress: watch::Receiver<Progress>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Watcher {
    fn start(client: &Client, ns: &str, tree: &Path) -> Watcher {
        let options = AuditOptions {
            export: ExportOptions {
                directory: Some(DIRECTORY.into()),
                include_users_groups: false,
            },
            quiet: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
            ..Default::default()
        };
        let (tx, progress) = watch::channel(Progress::default());
        let (stop, stopped) = oneshot::channel::<()>();
        let (client, ns, tree) = (client.clone(), ns.to_string(), tree.to_path_buf());
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            audit::watch(client, &ns, &options, &tree, tx, shutdown).await
        });
        Watcher { progress, stop, task }
    }

    /// Waits until the watcher's progress satisfies `done`.
    async fn until(&mut self, what: &str, done: impl Fn(&Progress) -> bool) -> Progress {
        let waited = tokio::time::timeout(WAIT, self.progress.wait_for(|p| done(p)))
            .await
            .map(|r| r.expect("watcher running").clone());
        match waited {
            Ok(progress) => progress,
            Err(_) => panic!("watcher: {what} not within {WAIT:?}: {:?}", *self.progress.borrow()),
        }
    }

    /// Waits until every event received so far is reflected in a finished sync: the tree is
    /// in step with everything the watcher has seen.
    async fn settled(&mut self) -> Progress {
        let seen = self.progress.borrow().observed;
        self.until("settled", |p| p.syncs >= 1 && p.synced >= seen).await
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().expect("watcher ended cleanly");
    }
}

/// Waits for a new commit whose message contains `needle`; returns the messages of the commits
/// made since `before`.
async fn commit_naming(watcher: &mut Watcher, tree: &Path, before: usize, needle: &str) -> Vec<String> {
    let found = |tree: &Path| {
        commits(tree) > before
            && git(
                tree,
                &["log", "--format=%B%x00", &format!("-{}", commits(tree) - before)],
            )
            .contains(needle)
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    while !found(tree) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let next = watcher.progress.borrow().commits + 1;
        let waited = tokio::time::timeout(left, watcher.progress.wait_for(|p| p.commits >= next)).await;
        assert!(waited.is_ok(), "no commit naming {needle:?}:\n{}", git(tree, &["log"]));
    }
    watcher.settled().await;
    let log = git(
        tree,
        &["log", "--format=%B%x00", &format!("-{}", commits(tree) - before)],
    );
    log.split('\0')
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty())
        .collect()
}

/// A controller for `ns` with a full resync every second; its stop handle, task and metrics.
fn start_controller(client: &Client, ns: &str) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>, Metrics) {
    let mut config = Config::new(ns);
    config.namespace = Some(ns.to_string());
    config.resync_interval = Duration::from_secs(1);
    let metrics = config.metrics.clone();
    config.lease_duration = Duration::from_secs(4);
    config.renew_interval = Duration::from_millis(500);
    config.namespace_debounce = Duration::from_millis(50);
    let (stop, stopped) = oneshot::channel::<()>();
    let client = client.clone();
    let task = tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        controller::run_until(client, config, shutdown)
            .await
            .expect("controller");
    });
    (stop, task, metrics)
}

/// Waits (polling a counter the controller keeps) until it has reconciled Users `n` more times.
async fn user_reconciles(metrics: &Metrics, n: u64) {
    let target = metrics.reconciles_of("User") + n;
    let deadline = tokio::time::Instant::now() + WAIT;
    while metrics.reconciles_of("User") < target {
        assert!(tokio::time::Instant::now() < deadline, "the controller did not resync");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn every_provisioning_change_is_one_commit_naming_its_request() {
    let client = support::client().await;
    let ns = support::fresh_namespace(&client, "audit").await;
    let token = create_directory(&client, &ns, DIRECTORY).await;
    let addr = spawn_server(client.clone(), ServerOptions::default()).await;
    let scim = Scim::connect(addr, &ns, DIRECTORY, &token).await;
    let (_stop, _task, controller) = start_controller(&client, &ns);
    let repo = tempfile::tempdir().unwrap();
    let tree = repo.path();
    let mut watcher = Watcher::start(&client, &ns, tree);
    watcher.until("start-up sync", |p| p.syncs >= 1).await;
    assert_eq!(commits(tree), 0, "nothing provisioned, nothing committed");

    // A user: its organisation-level RoleBinding, one commit naming the POST.
    let reply = scim
        .post(
            "/Users",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ada@example.com", "active": true}),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let (user, create_user) = (reply.body["id"].as_str().unwrap().to_string(), request_id(&reply));
    let messages = commit_naming(&mut watcher, tree, 0, &create_user).await;
    assert_eq!(messages.len(), 1, "{messages:#?}");
    assert!(
        messages[0].starts_with(&format!(
            "{ns}: 1 file changed by POST Users/{user} request {create_user}\n"
        )),
        "{}",
        messages[0]
    );

    // A workspace group with the user in it: the Workspace and the user's binding in one commit.
    let reply = scim
        .post(
            "/Groups",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "ws-Sales-role-admin",
                    "members": [{"value": user}]}),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let (group, create_group) = (reply.body["id"].as_str().unwrap().to_string(), request_id(&reply));
    let messages = commit_naming(&mut watcher, tree, 1, &create_group).await;
    assert_eq!(messages.len(), 1, "{messages:#?}");
    let message = &messages[0];
    let named = format!("POST Groups/{group} request {create_group}");
    assert!(
        message.starts_with(&format!("{ns}: 2 files changed by {named}\n")),
        "{message}"
    );
    assert!(message.contains(&format!("  added {ns}/workspaces/")), "{message}");
    assert!(message.contains(&format!("  added {ns}/rolebindings/")), "{message}");
    assert!(message.contains(&format!("\nRequests:\n  {named}")), "{message}");

    // A rename to another role: one commit, a one-line role change in the binding.
    let reply = scim
        .patch(
            &format!("/Groups/{group}"),
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "displayName", "value": "ws-Sales-role-member"}]}),
        )
        .await;
    assert!(reply.status.is_success(), "{:?}", reply.body);
    let rename = request_id(&reply);
    let messages = commit_naming(&mut watcher, tree, 2, &rename).await;
    assert_eq!(messages.len(), 1, "{messages:#?}");
    assert!(
        messages[0].starts_with(&format!(
            "{ns}: 2 files changed by PATCH Groups/{group} request {rename}\n"
        )),
        "{}",
        messages[0]
    );
    let patch = git(
        tree,
        &["log", "-p", "-1", "--format=", "--", &format!("{ns}/rolebindings")],
    );
    let changed: Vec<&str> = patch
        .lines()
        .filter(|l| (l.starts_with('+') || l.starts_with('-')) && !l.starts_with("+++") && !l.starts_with("---"))
        .collect();
    assert_eq!(changed, ["-  role: admin", "+  role: member"], "{patch}");

    // A request that changes nothing provisioned: the watcher syncs, and commits nothing.
    let before = (commits(tree), watcher.progress.borrow().observed);
    let reply = scim
        .patch(
            &format!("/Users/{user}"),
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "displayName", "value": "Ada L."}]}),
        )
        .await;
    assert!(reply.status.is_success(), "{:?}", reply.body);
    watcher.until("the user's change seen", |p| p.observed > before.1).await;
    // The controller reconciles the (only) user for the change and at least twice more in its
    // periodic resyncs: still nothing to commit.
    user_reconciles(&controller, 3).await;
    watcher.settled().await;
    assert_eq!(commits(tree), before.0, "no change, no commit");

    // Stopped, a member removed meanwhile: the restarted watcher commits just that, once.
    watcher.stop().await;
    let bindings = Api::<RoleBinding>::namespaced(client.clone(), &ns);
    let listed = bindings.list(&ListParams::default()).await.unwrap();
    let in_sales = listed
        .iter()
        .find(|rb| rb.spec.workspace.is_some())
        .expect("a workspace binding");
    let reply = scim
        .patch(
            &format!("/Groups/{group}"),
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "remove", "path": format!("members[value eq \"{user}\"]")}]}),
        )
        .await;
    assert!(reply.status.is_success(), "{:?}", reply.body);
    let removal = request_id(&reply);
    let (name, uid) = (in_sales.name_any(), in_sales.uid().unwrap());
    let gone = await_condition(bindings.clone(), &name, conditions::is_deleted(&uid));
    tokio::time::timeout(WAIT, gone)
        .await
        .expect("binding removed")
        .unwrap();
    let before = commits(tree);
    let mut watcher = Watcher::start(&client, &ns, tree);
    let messages = commit_naming(&mut watcher, tree, before, &removal).await;
    assert_eq!(messages.len(), 1, "{messages:#?}");
    let file = format!("{ns}/rolebindings/{}.yaml", in_sales.name_any());
    assert!(
        messages[0].contains(&format!(
            "  removed {file}\n    by PATCH Groups/{group} request {removal}"
        )),
        "{}",
        messages[0]
    );

    // Restarted with nothing changed: the start-up sync commits nothing.
    watcher.stop().await;
    let before = commits(tree);
    let mut watcher = Watcher::start(&client, &ns, tree);
    watcher.until("start-up sync", |p| p.syncs >= 1).await;
    watcher.settled().await;
    assert_eq!(commits(tree), before, "resumed without a commit");
    watcher.stop().await;

    // The trail holds ids, never the token or the user's name; commits are by the operator.
    let messages = git(tree, &["log", "--format=%an <%ae>%n%B"]);
    assert!(
        !messages.contains(&token) && !messages.contains("ada@example.com"),
        "{messages}"
    );
    assert!(
        messages.starts_with("scim-operator <scim-operator@localhost>\n"),
        "{messages}"
    );
    assert!(!git(tree, &["log", "-p"]).contains(&token));
    assert_eq!(git(tree, &["status", "--porcelain"]), "", "everything committed");
}

#[tokio::test]
async fn the_cli_commits_and_stops_on_sigterm() {
    let client = support::client().await;
    let ns = support::fresh_namespace(&client, "audit-cli").await;
    let token = create_directory(&client, &ns, DIRECTORY).await;
    let addr = spawn_server(client.clone(), ServerOptions::default()).await;
    let scim = Scim::connect(addr, &ns, DIRECTORY, &token).await;
    let _controller = start_controller(&client, &ns);
    // Every answer has an id of its own, a refused one included.
    let refused = scim.with_token("wrong-token-of-32-characters-long").get("/Users").await;
    assert_eq!(refused.status, 401);
    assert_ne!(request_id(&refused), request_id(&scim.get("/Users").await));
    let id = scim.create_user("grace@example.com").await;
    let bindings = Api::<RoleBinding>::namespaced(client.clone(), &ns);
    let bound = await_condition(bindings, &id, |rb: Option<&RoleBinding>| rb.is_some());
    tokio::time::timeout(WAIT, bound).await.expect("org binding").unwrap();

    let repo = tempfile::tempdir().unwrap();
    let kubeconfig = support::control_plane().await.kubeconfig_path();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_scim-operator"))
        .args(["export", "-n", &ns, "--directory", DIRECTORY, "--watch", "--git"])
        .arg(repo.path())
        .env("KUBECONFIG", kubeconfig)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // The start-up sync commits the binding made before it ran; its log line says so.
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(child.stdout.take().unwrap()));
    let committed = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("provisioning change committed") {
                return line;
            }
        }
        panic!("the watcher ended without committing");
    };
    let line = tokio::time::timeout(WAIT, committed).await.expect("a commit logged");
    assert!(!line.contains(&token) && !line.contains("grace@"), "{line}");
    let message = git(repo.path(), &["log", "--format=%B"]);
    assert!(
        message.starts_with(&format!("{ns}: 1 file changed by POST Users/{id} request ")),
        "{message}"
    );
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("stops on SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
}
