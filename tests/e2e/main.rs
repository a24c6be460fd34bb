//! End to end, as users run it: the operator's image in a real single-node cluster (kubelet,
//! containerd, kube-proxy; see node.rs), installed with the Helm chart as two Pods, driven through
//! its Service by an Entra-shaped client, with faults under load. Needs root; see README.md
//! "A real node". Each test starts a node of its own (runs are serialised by a lock file).

mod faults;
mod load;
mod node;
mod traffic;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::ListParams;
use scim_operator::api::{RoleBinding, User, Workspace};
use scim_operator::rules::workspace_object_name;

use load::Entra;
use node::Node;
use traffic::{Traffic, lost_writes};

/// The release's namespace and name.
const RELEASE_NS: &str = "scim-operator";
const RELEASE: &str = "scim-operator";
/// The namespace of the Directory the tests provision into.
const IDP: &str = "idp";
const DIRECTORY: &str = "entra";
/// Workspaces fed by three role groups each; further groups are plain.
const WORKSPACES: [&str; 3] = ["Sales", "Ops", "Eng"];
const ROLES: [&str; 3] = ["admin", "manager", "member"];
/// How long a single step (a watch, a list) may take.
const WAIT: Duration = Duration::from_secs(30);
/// How long derived state may take to converge after the last write.
const CONVERGE: Duration = Duration::from_secs(180);

/// A node with the chart installed (2 replicas) and a Directory made as the NOTES say, with a
/// client through the Service. `None` when the host cannot run a node and this is not CI (said
/// loudly); in CI that fails.
async fn installed() -> Option<(Node, Arc<Entra>, kube::Client)> {
    if let Some(why) = node::unsupported() {
        let message = format!("\n!!! e2e: this host cannot run a Kubernetes node: {why}. NOT TESTED.\n");
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{message}(CI=true: the end-to-end tests must run)");
        }
        eprintln!("{message}");
        return None;
    }
    let image = image().expect("operator image");
    let started = Instant::now();
    let node = Node::start(std::slice::from_ref(&image)).expect("node");
    let setup = async {
        // The README's install before the Directory's namespace exists: a clear error and no
        // failed release left to block the retry.
        let refused = helm_install(&node, &image).expect_err("the namespace idp does not exist yet");
        anyhow::ensure!(
            format!("{refused:#}").contains(&format!("namespace \"{IDP}\" does not exist")),
            "unclear error: {refused:#}"
        );
        let left = node.run(&["helm", "list", "--all", "--short", "-n", RELEASE_NS])?;
        anyhow::ensure!(left.trim().is_empty(), "a failed release was left: {left}");
        node.kubectl(&["create", "namespace", IDP])?;
        let notes = helm_install(&node, &image)?;
        run_notes(&node, &notes)?;
        let token = node.run(&[
            "sh",
            "-c",
            &format!("kubectl get secret entra-token -n {IDP} -o jsonpath='{{.data.token}}' | base64 -d"),
        ])?;
        let local = service(&node).await?;
        let client = node.client().await?;
        anyhow::Ok((Arc::new(Entra::new(local, IDP, DIRECTORY, &token)), client))
    };
    let (entra, client) = match setup.await {
        Ok(ok) => ok,
        Err(e) => panic!("install failed: {e:#}\n{}", node.log_tails()),
    };
    eprintln!("e2e: node up and chart installed in {:?}", started.elapsed());
    Some((node, entra, client))
}

/// A loopback address forwarded to the release's Service (its cluster IP, port 80).
async fn service(node: &Node) -> anyhow::Result<std::net::SocketAddr> {
    let ip = node.kubectl(&[
        "get",
        "service",
        RELEASE,
        "-n",
        RELEASE_NS,
        "-o",
        "jsonpath={.spec.clusterIP}",
    ])?;
    node.forward(format!("{ip}:80").parse()?).await
}

/// The README's `helm install` (2 replicas, the Directory's namespace granted) with the local
/// image, waiting for both Pods to be Ready through their probes. Returns the NOTES.
fn helm_install(node: &Node, image: &Path) -> anyhow::Result<String> {
    let (repository, tag) = image_ref(image)?;
    let chart = node::repo().join("charts/scim-operator");
    let values = [
        format!("image.repository={repository}"),
        format!("image.tag={tag}"),
        "image.pullPolicy=Never".to_string(),
        format!("rbac.secretNamespaces={{{IDP}}}"),
    ];
    let mut helm = vec![
        "helm",
        "install",
        RELEASE,
        chart.to_str().expect("utf-8 path"),
        "-n",
        RELEASE_NS,
    ];
    helm.extend(["--create-namespace", "--wait", "--timeout", "180s"]);
    for value in &values {
        helm.extend(["--set", value]);
    }
    node.run(&helm).context("helm install")
}

/// Runs the NOTES' commands as printed, in a shell inside the node: the token Secret and
/// Directory (the `kubectl create secret` line through the here-document's end), then the
/// port-forward and the `curl` that reads the ServiceProviderConfig through it.
fn run_notes(node: &Node, notes: &str) -> anyhow::Result<()> {
    let lines: Vec<&str> = notes.lines().map(str::trim).collect();
    let first = lines
        .iter()
        .position(|l| l.starts_with("kubectl create secret"))
        .context("NOTES: no Secret command")?;
    let last = first
        + lines[first..]
            .iter()
            .position(|l| *l == "YAML")
            .context("NOTES: no Directory")?;
    let create = lines[first..=last].join("\n");
    let forward = lines
        .iter()
        .find(|l| l.starts_with("kubectl port-forward"))
        .context("NOTES: no port-forward")?;
    let curl = lines
        .iter()
        .find(|l| l.starts_with("curl "))
        .context("NOTES: no curl")?;
    node.run(&["bash", "-euo", "pipefail", "-c", &create])
        .context("the NOTES' Directory commands")?;
    // The port-forward is ready when curl gets through; until then curl's connection is refused.
    let script = format!(
        "TOKEN=$(kubectl get secret entra-token -n {IDP} -o jsonpath='{{.data.token}}' | base64 -d)\n\
         {forward} >/dev/null 2>&1 & forward=$!\n\
         trap 'kill $forward' EXIT\n\
         for _ in $(seq 100); do\n\
           if out=$({curl} --fail --silent --show-error 2>&1); then echo \"$out\"; exit 0; fi\n\
           sleep 0.2\n\
         done\n\
         echo \"$out\" >&2; exit 1"
    );
    let config = node
        .run(&["bash", "-uo", "pipefail", "-c", &script])
        .context("the NOTES' port-forward and curl")?;
    anyhow::ensure!(
        config.contains("ServiceProviderConfig"),
        "the NOTES' curl printed {config}"
    );
    Ok(())
}

/// The image tar: `$SCIM_OPERATOR_IMAGE`, or what `hack/image.sh` builds.
fn image() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("SCIM_OPERATOR_IMAGE") {
        return Ok(path.into());
    }
    let script = node::repo().join("hack/image.sh");
    let output = Command::new(&script).stderr(std::process::Stdio::inherit()).output()?;
    if !output.status.success() {
        bail!("{} failed ({})", script.display(), output.status);
    }
    Ok(String::from_utf8(output.stdout)?.trim().into())
}

/// The repository and tag the tar was saved as (its manifest's first RepoTag).
fn image_ref(image: &Path) -> anyhow::Result<(String, String)> {
    let output = Command::new("tar")
        .arg("-xOf")
        .arg(image)
        .arg("manifest.json")
        .output()?;
    let manifest: serde_json::Value = serde_json::from_slice(&output.stdout).context("manifest.json")?;
    let reference = manifest[0]["RepoTags"][0].as_str().context("no RepoTags")?;
    let (repository, tag) = reference.rsplit_once(':').context("tag")?;
    Ok((repository.to_string(), tag.to_string()))
}

/// What the client provisioned, and so what the controller must derive.
#[derive(Default)]
struct Provisioned {
    /// (user id, organisation role, active)
    users: Vec<(String, &'static str, bool)>,
    /// (user id, workspace display name, role)
    memberships: Vec<(String, &'static str, &'static str)>,
    /// The workspace groups: (group id, workspace display name, role)
    groups: Vec<(String, &'static str, &'static str)>,
}

impl Provisioned {
    /// The RoleBindings that must exist: (user, workspace object name or "", role).
    fn bindings(&self) -> BTreeSet<(String, String, String)> {
        let active: BTreeSet<&str> = self.users.iter().filter(|u| u.2).map(|u| u.0.as_str()).collect();
        let mut out = BTreeSet::new();
        for (user, role, on) in &self.users {
            if *on {
                out.insert((user.clone(), String::new(), role.to_string()));
            }
        }
        for (user, workspace, role) in &self.memberships {
            if active.contains(user.as_str()) {
                out.insert((user.clone(), workspace_object_name(workspace), role.to_string()));
            }
        }
        out
    }
}

/// Entra's initial cycle: `users` users (every 50th an admin), 20 groups (three role groups for
/// each of [`WORKSPACES`], the rest plain), members added 50 per PATCH. The first 300 users are
/// in one workspace group each, the rest in one plain group each.
async fn provision(entra: &Arc<Entra>, users: usize) -> anyhow::Result<Provisioned> {
    let mut ids = Vec::new();
    for chunk in (0..users).collect::<Vec<_>>().chunks(16) {
        let creates = chunk.iter().map(|&i| {
            let entra = entra.clone();
            async move { entra.create_user(&format!("user{i:04}@e2e.example"), i % 50 == 0).await }
        });
        ids.extend(futures::future::try_join_all(creates).await?);
    }
    let mut provisioned = Provisioned::default();
    for (i, id) in ids.iter().enumerate() {
        provisioned
            .users
            .push((id.clone(), if i % 50 == 0 { "admin" } else { "member" }, true));
    }
    let mut groups = Vec::new();
    for workspace in WORKSPACES {
        for role in ROLES {
            groups.push((format!("ws-{workspace}-role-{role}"), Some((workspace, role))));
        }
    }
    for k in groups.len()..20 {
        groups.push((format!("team-{k}"), None));
    }
    let ws_groups = WORKSPACES.len() * ROLES.len();
    let plain = groups.len() - ws_groups;
    let mut members = vec![Vec::new(); groups.len()];
    for (i, id) in ids.iter().enumerate() {
        let g = if i < 300 { i % ws_groups } else { ws_groups + i % plain };
        members[g].push(id.clone());
        if let Some((workspace, role)) = groups[g].1 {
            provisioned.memberships.push((id.clone(), workspace, role));
        }
    }
    for ((name, workspace), members) in groups.iter().zip(members) {
        let group = entra.create_group(name).await?;
        if let Some((workspace, role)) = *workspace {
            provisioned.groups.push((group.clone(), workspace, role));
        }
        for batch in members.chunks(50) {
            entra.patch_members(&group, "add", batch).await?;
        }
    }
    Ok(provisioned)
}

/// Polls until the RoleBindings are exactly `expected`, each Ready for its generation, and every
/// Workspace is Ready; returns how long that took, or fails with the difference after `within`.
async fn converged(
    client: &kube::Client,
    expected: &BTreeSet<(String, String, String)>,
    within: Duration,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), IDP);
    let workspaces: Api<Workspace> = Api::namespaced(client.clone(), IDP);
    loop {
        let mut problem = String::new();
        match (
            bindings.list(&ListParams::default()).await,
            workspaces.list(&ListParams::default()).await,
        ) {
            (Ok(bindings), Ok(workspaces)) => {
                let mut actual = BTreeSet::new();
                let mut not_ready = 0;
                for rb in &bindings.items {
                    let ready = rb.status.as_ref().is_some_and(|s| {
                        s.observed_generation == rb.metadata.generation
                            && s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                    });
                    not_ready += usize::from(!ready);
                    let workspace = rb.spec.workspace.clone().unwrap_or_default();
                    actual.insert((rb.spec.user.clone(), workspace, rb.spec.role.as_str().to_string()));
                }
                let ws_ready = workspaces.items.iter().filter(|w| {
                    w.status
                        .as_ref()
                        .is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
                });
                let ws_ready = ws_ready.count();
                if actual == *expected
                    && not_ready == 0
                    && ws_ready == WORKSPACES.len()
                    && workspaces.items.len() == WORKSPACES.len()
                {
                    return Ok(started.elapsed());
                }
                problem = format!(
                    "{} bindings missing, {} unexpected, {not_ready} not Ready; {ws_ready}/{} workspaces Ready",
                    expected.difference(&actual).count(),
                    actual.difference(expected).count(),
                    workspaces.items.len()
                );
            }
            (Err(e), _) | (_, Err(e)) => problem.push_str(&e.to_string()),
        }
        if started.elapsed() > within {
            bail!("derived state did not converge within {within:?}: {problem}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Both Pods of the release Ready (through their probes), by name.
fn ready_pods(node: &Node) -> anyhow::Result<Vec<String>> {
    let out = node.kubectl(&[
        "get",
        "pods",
        "-n",
        RELEASE_NS,
        "-l",
        &format!("app.kubernetes.io/instance={RELEASE}"),
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.status.conditions[?(@.type==\"Ready\")].status} {.metadata.deletionTimestamp}{\"\\n\"}{end}",
    ])?;
    Ok(out
        .lines()
        .filter_map(|l| {
            let mut parts = l.split(' ');
            let name = parts.next()?;
            (parts.next() == Some("True") && parts.next().unwrap_or("").is_empty()).then(|| name.to_string())
        })
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_on_a_node_serves_scim_through_the_service_and_converges() {
    let Some((node, entra, client)) = installed().await else {
        return;
    };
    let pods = ready_pods(&node).expect("pods");
    assert_eq!(pods.len(), 2, "both replicas Ready through their probes: {pods:?}");

    let started = Instant::now();
    let provisioned = provision(&entra, 500).await.expect("provisioning");
    let took = converged(&client, &provisioned.bindings(), CONVERGE).await;
    let stats = entra.stats();
    eprintln!(
        "e2e: 500 users, 20 groups provisioned in {:?}; converged {took:?} later; {stats:?}",
        started.elapsed()
    );
    took.expect("every Workspace and RoleBinding Ready");
    assert!(stats.violations.is_empty(), "{:?}", stats.violations);
    assert_eq!(stats.transport_errors, 0, "the Service answered every request");
}

/// Every Pod of the release, Ready or not, by name.
fn all_pods(node: &Node) -> anyhow::Result<BTreeSet<String>> {
    let selector = format!("app.kubernetes.io/instance={RELEASE}");
    let out = node.kubectl(&["get", "pods", "-n", RELEASE_NS, "-l", &selector, "-o", "name"])?;
    Ok(out.lines().map(str::to_string).collect())
}

/// The total a SCIM list answers, read through the Service.
async fn scim_total(entra: &Entra, resource: &str) -> anyhow::Result<u64> {
    let (status, body) = entra
        .send(reqwest::Method::GET, &format!("{resource}?count=1"), None)
        .await?;
    anyhow::ensure!(status.is_success(), "GET {resource}: {status} {body}");
    body["totalResults"].as_u64().context("totalResults")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_under_load_then_uninstall_and_reinstall_keep_every_write() {
    let Some((node, entra, client)) = installed().await else {
        return;
    };
    let provisioned = provision(&entra, 100).await.expect("provisioning");
    converged(&client, &provisioned.bindings(), CONVERGE)
        .await
        .expect("initial state");

    // A value change rolls both Pods while the client keeps provisioning: nothing but 429/503
    // with Retry-After may fail, and every acknowledged write stays.
    let before = all_pods(&node).expect("pods");
    let traffic = Traffic::start(entra.clone(), provisioned, "upgrade");
    let chart = node::repo().join("charts/scim-operator");
    let upgrade = [
        "helm",
        "upgrade",
        RELEASE,
        chart.to_str().unwrap(),
        "-n",
        RELEASE_NS,
        "--reuse-values",
        "--set",
        "config.maxInFlight=200",
        "--wait",
        "--timeout",
        "180s",
    ];
    let upgraded = node.run(&upgrade);
    let provisioned = traffic.finish().await;
    upgraded.expect("helm upgrade");
    let after = ready_pods(&node).expect("pods");
    assert_eq!(after.len(), 2, "both new Pods Ready: {after:?}");
    assert!(
        after.iter().all(|pod| !before.contains(&format!("pod/{pod}"))),
        "the upgrade rolled both Pods: before {before:?}, after {after:?}"
    );
    let stats = entra.stats();
    eprintln!("e2e: upgrade under load: {stats:?}");
    assert!(stats.violations.is_empty(), "{:?}", stats.violations);
    assert_eq!(
        stats.transport_errors, 0,
        "the Service kept answering while the Pods rolled"
    );
    converged(&client, &provisioned.bindings(), CONVERGE)
        .await
        .expect("converged after the upgrade");
    assert_eq!(
        lost_writes(&client, &provisioned).await.unwrap(),
        0,
        "acknowledged writes lost"
    );

    // Uninstall keeps the CRDs and the provisioned objects; the Lease goes with the release.
    let users_before = scim_total(&entra, "/Users").await.expect("users");
    // The Pods' logs while they shut down: the shutdown must not warn about its own uninstall.
    let selector = format!("app.kubernetes.io/instance={RELEASE}");
    let logs = node
        .exec(&[
            "kubectl",
            "logs",
            "-f",
            "-n",
            RELEASE_NS,
            "-l",
            &selector,
            "--prefix",
            "--max-log-requests=4",
            "--tail=0",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("kubectl logs");
    node.run(&[
        "helm",
        "uninstall",
        RELEASE,
        "-n",
        RELEASE_NS,
        "--wait",
        "--timeout",
        "120s",
    ])
    .expect("helm uninstall");
    node.kubectl(&[
        "wait",
        "--for=delete",
        "pod",
        "-l",
        &selector,
        "-n",
        RELEASE_NS,
        "--timeout=120s",
    ])
    .expect("the Pods end");
    let shutdown = logs.wait_with_output().expect("kubectl logs ends with the Pods");
    let shutdown = String::from_utf8_lossy(&shutdown.stdout);
    eprintln!("e2e: logs while uninstalling:\n{shutdown}");
    let warnings: Vec<&str> = shutdown
        .lines()
        .filter(|l| l.contains("\"WARN\"") || l.contains("\"ERROR\""))
        .collect();
    assert!(warnings.is_empty(), "warnings while uninstalling: {warnings:#?}");
    for crd in ["users", "groups", "workspaces", "rolebindings", "directories"] {
        node.kubectl(&["get", "crd", &format!("{crd}.scim-operator.io")])
            .unwrap_or_else(|e| panic!("the {crd} CRD was kept: {e:#}"));
    }
    let leases: Api<Lease> = Api::namespaced(client.clone(), RELEASE_NS);
    assert!(
        leases.get_opt("scim-operator-leader").await.unwrap().is_none(),
        "no Lease left naming a Pod that is gone"
    );
    let users: Api<User> = Api::namespaced(client.clone(), IDP);
    let kept = users.list(&ListParams::default()).await.unwrap().items.len() as u64;
    assert_eq!(kept, users_before, "the Users stay after uninstall");

    // Installing again picks everything up: the same Users through SCIM, the same bindings.
    let image = image().expect("image");
    helm_install(&node, &image).expect("install again");
    let entra = entra.via(service(&node).await.expect("the new Service"));
    assert_eq!(scim_total(&entra, "/Users").await.unwrap(), users_before);
    converged(&client, &provisioned.bindings(), CONVERGE)
        .await
        .expect("converged after reinstalling");
}
