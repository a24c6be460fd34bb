//! Faults under load (issue 12): each fault lands amid steady Entra-shaped traffic; afterwards
//! no acknowledged write may be missing and the derived state must converge. The test prints the
//! table kept in RELIABILITY.md.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::ListParams;
use kube::runtime::watcher;
use scim_operator::api::User;

use crate::load::{self, Entra};
use crate::node::Node;
use crate::traffic::{Traffic, lost_writes};
use crate::*;

/// One row of RELIABILITY.md's table.
struct Row {
    fault: &'static str,
    acked: u64,
    lost: usize,
    server_errors: u64,
    transport_errors: u64,
    converged: Option<Duration>,
    note: String,
}

/// Runs `fault` while traffic flows (3 s before it, 5 s after), then measures.
async fn under_load<F: std::future::Future<Output = anyhow::Result<String>>>(
    fault_name: &'static str,
    entra: &Arc<Entra>,
    client: &kube::Client,
    provisioned: Provisioned,
    tag: &'static str,
    fault: F,
) -> (Row, Provisioned) {
    let before = entra.stats();
    let traffic = Traffic::start(entra.clone(), provisioned, tag);
    // Load durations, not synchronisation: the fault must land in the middle of steady traffic.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let note = match fault.await {
        Ok(note) => note,
        Err(e) => format!("FAULT FAILED: {e:#}"),
    };
    tokio::time::sleep(Duration::from_secs(5)).await;
    let provisioned = traffic.finish().await;
    let converged = converged(client, &provisioned.bindings(), CONVERGE).await;
    let after = entra.stats();
    let count_5xx = |s: &load::Stats| s.statuses.range(500..600).map(|(_, n)| n).sum::<u64>();
    let lost = lost_writes(client, &provisioned).await.unwrap_or(usize::MAX);
    let row = Row {
        fault: fault_name,
        acked: after.acked_writes - before.acked_writes,
        lost,
        server_errors: count_5xx(&after) - count_5xx(&before),
        transport_errors: after.transport_errors - before.transport_errors,
        note: match &converged {
            Ok(_) => note,
            Err(e) => format!("{note}; {e:#}"),
        },
        converged: converged.ok(),
    };
    (row, provisioned)
}

/// The holder of the operator's Lease.
async fn leader(client: &kube::Client) -> anyhow::Result<String> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), RELEASE_NS);
    let lease = leases.get("scim-operator-leader").await?;
    Ok(lease.spec.and_then(|s| s.holder_identity).unwrap_or_default())
}

/// Fault 1: delete the leader Pod; the other replica must take the Lease within the Lease
/// duration (15 s) plus one renew period (5 s).
async fn delete_leader(node: &Node, client: &kube::Client) -> anyhow::Result<String> {
    let old = leader(client).await?;
    // The holder identity is the Pod's name plus a per-process suffix.
    let pod = ready_pods(node)?
        .into_iter()
        .find(|pod| old.starts_with(&format!("{pod}-")))
        .with_context(|| format!("no Ready pod holds the Lease ({old:?})"))?;
    let deleted = Instant::now();
    node.kubectl(&["delete", "pod", &pod, "-n", RELEASE_NS, "--wait=false"])?;
    let bound = Duration::from_secs(15 + 5);
    loop {
        let now = leader(client).await.unwrap_or_default();
        if !now.is_empty() && now != old {
            let took = deleted.elapsed();
            if took > bound {
                bail!("Lease taken over after {took:?}, more than {bound:?}");
            }
            return Ok(format!("Lease taken over after {:.1} s", took.as_secs_f64()));
        }
        if deleted.elapsed() > bound + Duration::from_secs(10) {
            bail!("the Lease was not taken over");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Faults 3 and 4: stop a daemon for `down`, then start it again.
async fn stop_for(node: &Node, daemon: &str, down: Duration) -> anyhow::Result<String> {
    node.daemon("stop", daemon)?;
    // The fault's length, by definition.
    tokio::time::sleep(down).await;
    node.daemon("start", daemon)?;
    Ok(format!("{daemon} down for {} s", down.as_secs()))
}

/// Fault 2: SIGKILL the Pod serving a large member PATCH at the moment its first member is
/// written; then the client sends the same PATCH again through the Service, as Entra retries.
/// Afterwards every member is in, and no userName is stored twice.
async fn kill_mid_patch(
    node: &Node,
    client: &kube::Client,
    entra: &Arc<Entra>,
    provisioned: &Provisioned,
) -> anyhow::Result<String> {
    let members: Vec<String> = provisioned.users.iter().map(|u| u.0.clone()).collect();
    let group = entra
        .create_group(&format!("big-{:08x}", rand::random::<u32>()))
        .await?;
    let pod = ready_pods(node)?.into_iter().next().context("no Ready pod")?;
    let field = |path: &str| {
        node.kubectl(&[
            "get",
            "pod",
            &pod,
            "-n",
            RELEASE_NS,
            "-o",
            &format!("jsonpath={{{path}}}"),
        ])
    };
    let pod_ip = field(".status.podIP")?;
    let container = field(".status.containerStatuses[0].containerID")?;
    let container = container.trim_start_matches("containerd://");
    let tasks = node.run(&[
        "ctr",
        "-a",
        "/run/containerd/containerd.sock",
        "-n",
        "k8s.io",
        "tasks",
        "ls",
    ])?;
    let pid = tasks
        .lines()
        .find_map(|l| l.strip_prefix(container)?.split_whitespace().next().map(str::to_string))
        .context("the container's task")?;
    let direct = entra.once_via(node.forward(format!("{pod_ip}:8080").parse()?).await?);

    let users: Api<User> = Api::namespaced(client.clone(), IDP);
    let mut events = watcher(users.clone(), watcher::Config::default()).boxed();
    let in_group = |u: &User| u.spec.groups.contains(&group);
    tokio::time::timeout(WAIT, async {
        while !matches!(events.try_next().await?, Some(watcher::Event::InitDone)) {}
        anyhow::Ok(())
    })
    .await??;
    let patch = {
        let (group, members) = (group.clone(), members.clone());
        tokio::spawn(async move { direct.patch_members(&group, "add", &members).await })
    };
    tokio::time::timeout(WAIT, async {
        loop {
            if let Some(watcher::Event::Apply(u)) = events.try_next().await?
                && in_group(&u)
            {
                return anyhow::Ok(());
            }
        }
    })
    .await
    .context("no member of the PATCH was ever written")??;
    node.run(&["kill", "-9", &pid])?;
    let first = patch.await?;
    let partial = users
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .filter(|u| in_group(u))
        .count();
    entra.patch_members(&group, "add", &members).await?;
    let stored = users.list(&ListParams::default()).await?.items;
    let complete = stored.iter().filter(|u| in_group(u)).count();
    let names: BTreeSet<String> = stored.iter().map(|u| u.spec.user_name.to_lowercase()).collect();
    if complete != members.len() || names.len() != stored.len() {
        bail!(
            "after the retry {complete}/{} members, {} userNames stored twice",
            members.len(),
            stored.len() - names.len()
        );
    }
    Ok(format!(
        "killed with {partial}/{} members written (first attempt: {}); the retry completed it",
        members.len(),
        match first {
            Ok(()) => "answered 2xx".to_string(),
            Err(e) => format!("{e:#}").rsplit(": ").next().unwrap_or_default().to_string(),
        }
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_under_load_lose_no_acknowledged_write() {
    let Some((node, entra, client)) = installed().await else {
        return;
    };
    let mut provisioned = provision(&entra, 150).await.expect("provisioning");
    converged(&client, &provisioned.bindings(), CONVERGE)
        .await
        .expect("initial state");

    let mut rows = Vec::new();
    eprintln!(
        "| fault | writes acknowledged | writes lost | 5xx answered | connection errors | converged after | what happened |"
    );
    eprintln!("|---|---|---|---|---|---|---|");
    let faults: [(&str, &str); 4] = [
        ("delete the leader Pod", "leader"),
        ("SIGKILL a Pod amid a large member PATCH", "kill"),
        ("restart kube-apiserver (same etcd)", "apiserver"),
        ("stop etcd for 10 s", "etcd"),
    ];
    for (name, tag) in faults {
        let snapshot = Provisioned {
            users: provisioned.users.clone(),
            ..Default::default()
        };
        let fault = async {
            match tag {
                "leader" => delete_leader(&node, &client).await,
                "kill" => kill_mid_patch(&node, &client, &entra, &snapshot).await,
                "apiserver" => stop_for(&node, "apiserver", Duration::from_secs(3)).await,
                _ => stop_for(&node, "etcd", Duration::from_secs(10)).await,
            }
        };
        let (row, next) = under_load(name, &entra, &client, provisioned, tag, fault).await;
        provisioned = next;
        // A row of RELIABILITY.md's table, as printed.
        eprintln!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            row.fault,
            row.acked,
            row.lost,
            row.server_errors,
            row.transport_errors,
            row.converged
                .map_or("not converged".into(), |d| format!("{:.1} s", d.as_secs_f64())),
            row.note
        );
        rows.push(row);
    }
    let stats = entra.stats();
    eprintln!("e2e: all answers {:?}", stats.statuses);
    for row in &rows {
        assert_eq!(row.lost, 0, "{}: acknowledged writes lost", row.fault);
        assert!(row.converged.is_some(), "{}: {}", row.fault, row.note);
        assert!(!row.note.contains("FAULT FAILED"), "{}: {}", row.fault, row.note);
    }
    assert!(stats.violations.is_empty(), "{:?}", stats.violations);
}
