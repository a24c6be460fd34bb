//! `scim-bench`: SPEC §7 at scale on this machine. Starts a throwaway control plane and the
//! operator (`scim-operator serve`, a child process), drives Entra-shaped SCIM traffic, and prints
//! a table where every machine-dependent figure stands next to a reference measured in the same
//! run. See BENCHMARKS.md for the command, the results and what they mean.
//!
//! Phases, in order: initial sync (item 3, memory item 6), write throughput (1), lookups (2),
//! page-sized lists, bulk membership, incremental membership change (4), forced full resync (5).
//! Items 3–5 need the controller; an operator build without it gets "not run" rows.
//!
//! It fails (exit 1) only on functional errors — a request that failed, RoleBindings that never
//! converged — never on a missed performance target, so a small run can gate CI without flaking.

mod apiserver;
mod bindings;
mod env;
mod load;
mod procfs;
mod report;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams, PostParams};
use reqwest::{Method, StatusCode};
use scim_operator::api::{GroupSpec, NameClaim, User};
use scim_operator::envtest::{self, ControlPlane};
use scim_operator::rules::{workspace_binding_name, workspace_object_name};

use apiserver::Counts;
use bindings::PlannedUser;
use env::{Cpu, Operator};
use load::{Scim, entra_user, user_name};
use report::{Report, Status, mib, ms, ratio, status};

/// The directory every phase but throughput provisions into.
const NAMESPACE: &str = "bench";
/// A second directory for the throughput samples, so the main one holds exactly `--users` users.
const TP_NAMESPACE: &str = "bench-tp";
const DIRECTORY: &str = "entra";
/// The workspace of the group that holds every user.
const EVERYONE: &str = "everyone";

#[derive(Parser, Debug, Clone)]
#[command(
    name = "scim-bench",
    about = "SPEC §7 scale benchmark of the SCIM endpoint and controller"
)]
struct Args {
    /// Users in the directory; all of them are members of one group.
    #[arg(long, default_value_t = 50_000)]
    users: usize,
    /// Groups: one holding every user, three role groups per further workspace, the rest plain.
    #[arg(long, default_value_t = 500)]
    groups: usize,
    /// Workspaces (the everyone group's included).
    #[arg(long, default_value_t = 100)]
    workspaces: usize,
    /// Members of each group other than the everyone group.
    #[arg(long, default_value_t = 20)]
    members_per_group: usize,
    /// Members per group PATCH during the initial sync.
    #[arg(long, default_value_t = 50)]
    batch: usize,
    /// Client concurrency of the initial sync.
    #[arg(long, default_value_t = 32)]
    sync_concurrency: usize,
    /// Concurrency levels of the write-throughput and lookup measurements.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    concurrency: Vec<usize>,
    /// Creates per throughput sample at concurrency 1 (8× that at concurrency ≥ 8);
    /// default users/100 within 50..=500.
    #[arg(long)]
    throughput_requests: Option<usize>,
    /// Lookups per latency sample; default users/20 within 200..=2000 (×2 at concurrency > 1).
    #[arg(long)]
    lookups: Option<usize>,
    /// How long RoleBindings may take to converge before the run fails: a guard against a
    /// controller that never converges, with headroom over the 15–25 min of full scale.
    #[arg(long, default_value_t = 2400)]
    converge_timeout_secs: u64,
    /// The operator binary; default: `scim-operator` next to this binary.
    #[arg(long)]
    operator_bin: Option<PathBuf>,
    /// Also write the table to this file.
    #[arg(long)]
    markdown: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    let started = Instant::now();
    let report = runtime.block_on(bench(&args))?;
    let mut table = report.render();
    table.push_str(&format!(
        "\nTotal run time: {:.0} s.\n",
        started.elapsed().as_secs_f64()
    ));
    println!("\n{table}");
    if let Some(path) = &args.markdown {
        std::fs::write(path, &table)?;
    }
    if !report.failures.is_empty() {
        bail!("{} functional failure(s)", report.failures.len());
    }
    Ok(())
}

/// The benchmark's kube-apiserver holds 150,000 custom objects on two cores shared with the
/// operator. A CPU profile of it at 50,000 users (BENCHMARKS.md) spent half its time in Go's
/// garbage collector and a slice in the periodic watch-cache consistency check (a full etcd list
/// of every resource every 5–7.5 minutes). Both are the API server's own costs, not the
/// operator's; the benchmark trades memory, plentiful here, for the CPU both sides share, the way
/// etcd runs with `--unsafe-no-fsync`.
fn apiserver_tuning() -> envtest::Options {
    envtest::Options {
        apiserver_env: vec![("GOGC".into(), "300".into())],
        extra_apiserver_args: vec!["--feature-gates=DetectCacheInconsistency=false".into()],
        ..Default::default()
    }
}

fn operator_binary(args: &Args) -> anyhow::Result<PathBuf> {
    let path = match &args.operator_bin {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("scim-operator"),
    };
    if !path.exists() {
        bail!(
            "{} not found: build it first (`cargo build --release --bins`) or pass --operator-bin",
            path.display()
        );
    }
    Ok(path)
}

/// Group display names: the everyone group, role groups of further workspaces, plain groups.
fn group_names(args: &Args) -> anyhow::Result<Vec<String>> {
    let role_groups = 3 * args.workspaces.saturating_sub(1);
    if args.workspaces == 0 || 1 + role_groups > args.groups {
        bail!("--groups must be at least 1 + 3 × (--workspaces − 1)");
    }
    let mut names = vec![format!("ws-{EVERYONE}-role-member")];
    for w in 1..args.workspaces {
        for role in ["admin", "manager", "member"] {
            names.push(format!("ws-team{w:03}-role-{role}"));
        }
    }
    for k in 0..args.groups - names.len() {
        names.push(format!("plain-{k:03}"));
    }
    Ok(names)
}

/// Members (user indices) of group `g`: everyone for group 0, else a run of `members_per_group`
/// users, disjoint between groups while they fit, so no user is in two role groups of a workspace.
fn group_members(args: &Args, g: usize) -> Vec<usize> {
    if g == 0 {
        (0..args.users).collect()
    } else {
        let m = args.members_per_group.min(args.users);
        (0..m).map(|j| ((g - 1) * m + j) % args.users).collect()
    }
}

/// Waits until the operator uses less than 3% of a core over two consecutive 500 ms windows (its
/// queues are drained), at most `max`.
async fn settle(operator: &Operator, max: Duration) {
    let deadline = Instant::now() + max;
    let mut quiet = 0;
    let mut last = operator.sample().cpu;
    while Instant::now() < deadline && quiet < 2 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = operator.sample().cpu;
        quiet = if now.saturating_sub(last) < Duration::from_millis(15) {
            quiet + 1
        } else {
            0
        };
        last = now;
    }
}

/// Shared state of the run.
struct Bench {
    args: Args,
    cp: ControlPlane,
    client: kube::Client,
    operator: Operator,
    operator_bin: PathBuf,
    log_dir: PathBuf,
    token: String,
    controller: bool,
    scim: Scim,
    report: Report,
    /// User ids by index, and group ids by index, of the main directory.
    user_ids: Vec<String>,
    group_ids: Vec<String>,
    watch: bindings::Watch,
}

async fn bench(args: &Args) -> anyhow::Result<Report> {
    let operator_bin = operator_binary(args)?;
    let group_names = group_names(args)?;
    eprintln!("scim-bench: starting etcd and kube-apiserver…");
    let cp = ControlPlane::start_with(apiserver_tuning()).await?;
    let client = cp.client().await?;
    scim_operator::dev::install_crds(&client).await?;
    let token = hex::encode(rand::random::<[u8; 24]>());
    env::create_directory(&client, NAMESPACE, DIRECTORY, &token).await?;
    env::create_directory(&client, TP_NAMESPACE, DIRECTORY, &token).await?;
    let log_dir = std::env::temp_dir().join(format!("scim-bench-{}", std::process::id()));
    std::fs::create_dir_all(&log_dir)?;
    let operator = Operator::start(&operator_bin, &cp, &log_dir, 1).await?;
    // The gauge appears once the controller has started campaigning.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let controller = operator.leader().await.is_some();
    eprintln!(
        "scim-bench: operator pid {} ({}), logs in {}",
        operator.pid(),
        if controller {
            "with controller"
        } else {
            "SCIM only: no controller in this build"
        },
        log_dir.display()
    );
    let scim = Scim::new(
        format!("{}/scim/v2/{NAMESPACE}/{DIRECTORY}", operator.scim_url),
        token.clone(),
    );
    wait_for_directory(&scim).await?;
    let watch = bindings::Watch::start(client.clone(), NAMESPACE).await;
    let mut bench = Bench {
        args: args.clone(),
        cp,
        client,
        operator,
        operator_bin,
        log_dir,
        token,
        controller,
        scim,
        report: Report::default(),
        user_ids: Vec::new(),
        group_ids: Vec::new(),
        watch,
    };
    bench.report.note(format!(
        "Scale: {} users, {} groups, {} workspaces, every user in `ws-{EVERYONE}-role-member`, {} members in each other group; \
         group PATCHes of {} members; initial sync at client concurrency {}.",
        args.users, args.groups, args.workspaces, args.members_per_group, args.batch, args.sync_concurrency
    ));
    bench.initial_sync(&group_names).await?;
    bench.throughput().await?;
    bench.lookups().await?;
    bench.pages().await?;
    bench.bulk_membership().await?;
    bench.incremental().await?;
    bench.resync().await?;
    let Bench {
        operator,
        cp,
        report,
        watch,
        log_dir,
        ..
    } = bench;
    watch.stop();
    operator.stop().await;
    cp.stop();
    // The operator's logs are kept only where something went wrong.
    if report.failures.is_empty() {
        std::fs::remove_dir_all(&log_dir)?;
    }
    Ok(report)
}

async fn wait_for_directory(scim: &Scim) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match scim
            .send(
                reqwest::Method::GET,
                "/ServiceProviderConfig",
                None,
                reqwest::StatusCode::OK,
            )
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() > deadline => return Err(e.context("the directory never became visible")),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

impl Bench {
    /// Item 3 and 6: provisions everything as Entra does, then waits for every RoleBinding.
    async fn initial_sync(&mut self, group_names: &[String]) -> anyhow::Result<()> {
        let args = self.args.clone();
        let c = args.sync_concurrency;
        eprintln!("scim-bench: initial sync of {} users…", args.users);
        procfs::reset_peak(self.operator.pid());
        let counts = Counts::scrape(&self.client).await?;
        let cpu = Cpu::now(&self.operator, &self.cp);
        let started = Instant::now();

        // Users: Entra looks each one up by userName, then creates it.
        let scim = self.scim.clone();
        let (users, ids) = load::run(args.users, c, |i| {
            let scim = scim.clone();
            async move {
                if !scim.find_user(&user_name("u", i)).await?.is_empty() {
                    bail!("user {i} exists before it was created");
                }
                scim.create_user(&entra_user("u", i)).await
            }
        })
        .await?;
        self.user_ids = ids;
        let users_done = started.elapsed();
        eprintln!("scim-bench:   users in {:.1} s", users_done.as_secs_f64());

        // Groups: looked up by displayName (excluding members), created empty…
        let (groups, group_ids) = load::run(group_names.len(), c, |g| {
            let scim = scim.clone();
            let name = group_names[g].clone();
            async move {
                if !scim.find_group(&name).await?.is_empty() {
                    bail!("group {name} exists before it was created");
                }
                scim.create_group(&name, &format!("ext-{g}")).await
            }
        })
        .await?;
        self.group_ids = group_ids;

        // …then filled by PATCH Add in batches.
        let mut patches: Vec<(String, Vec<String>)> = Vec::new();
        for (g, id) in self.group_ids.iter().enumerate() {
            let members: Vec<String> = group_members(&args, g)
                .into_iter()
                .map(|u| self.user_ids[u].clone())
                .collect();
            for chunk in members.chunks(args.batch.max(1)) {
                patches.push((id.clone(), chunk.to_vec()));
            }
        }
        let patches = Arc::new(patches);
        let (patch_run, _) = load::run(patches.len(), c, |k| {
            let scim = scim.clone();
            let patches = patches.clone();
            async move {
                let (group, members) = &patches[k];
                scim.patch_members(group, "Add", members).await
            }
        })
        .await?;
        let provisioned = started.elapsed();
        let scim_requests = 2 * users.requests + 2 * groups.requests + patch_run.requests;
        eprintln!(
            "scim-bench:   provisioned in {:.1} s ({} SCIM requests)",
            provisioned.as_secs_f64(),
            scim_requests
        );

        let r = &mut self.report;
        r.row(
            "3",
            format!("initial sync: {} users (lookup + POST) at c={c}", args.users),
            format!("{:.0} users/s", users.rate()),
            "",
            "",
            "",
            Status::Info,
        );
        r.row(
            "3",
            format!(
                "initial sync: {} groups, {} member PATCHes",
                groups.requests, patch_run.requests
            ),
            format!(
                "{:.1} PATCH/s, p50 {} p99 {}",
                patch_run.rate(),
                ms(patch_run.quantile(0.5)),
                ms(patch_run.quantile(0.99))
            ),
            "",
            "",
            "",
            Status::Info,
        );
        r.row(
            "3",
            "initial sync: SCIM provisioning done (all requests answered)",
            format!("{:.1} s, {scim_requests} SCIM requests", provisioned.as_secs_f64()),
            "",
            "",
            "",
            Status::Info,
        );

        // Every RoleBinding in place.
        if self.controller {
            let expected = self.expected_bindings(group_names);
            let timeout = Duration::from_secs(args.converge_timeout_secs);
            let converged = self.watch.wait(started, timeout, |w| w.matches(&expected)).await;
            match converged {
                Some(t) => self.report.row(
                    "3",
                    format!("initial sync: until all {} RoleBindings exist", expected.len()),
                    format!("{:.1} s", t.as_secs_f64()),
                    "",
                    "",
                    "completes",
                    Status::Pass,
                ),
                None => {
                    let (missing, extra) = bindings::diff(&self.watch, &expected);
                    self.report.failures.push(format!(
                        "RoleBindings did not converge within {timeout:?}: {missing} missing, {extra} unexpected"
                    ));
                    self.report.row(
                        "3",
                        "initial sync: until all RoleBindings exist",
                        format!("not after {timeout:?} ({missing} missing)"),
                        "",
                        "",
                        "completes",
                        Status::Miss,
                    );
                }
            }
        } else {
            self.report.row(
                "3",
                "initial sync: until all RoleBindings exist",
                "—",
                "",
                "",
                "",
                Status::NotRun,
            );
        }
        settle(&self.operator, Duration::from_secs(120)).await;
        let delta = Counts::scrape(&self.client).await?.since(&counts);
        let cpu = Cpu::now(&self.operator, &self.cp).since(&cpu);
        let objects = ["users", "groups", "rolebindings", "workspaces"]
            .iter()
            .map(|r| delta.writes_to(r))
            .sum::<u64>();
        self.report.row(
            "3",
            "initial sync: API requests (objects written)",
            format!(
                "{} requests, {} writes ({objects} to objects' specs)",
                delta.total(),
                delta.writes()
            ),
            "",
            "",
            "",
            Status::Info,
        );
        self.report
            .note(format!("Initial sync API writes: {}.", delta.breakdown()));
        self.report.note(format!("Initial sync {}.", cpu.describe()));

        // Sizing: what the API server stores per object, and etcd's size.
        let kinds = apiserver::stored(&self.client, NAMESPACE).await?;
        let etcd_bytes = apiserver::etcd_file_bytes(&self.client).await?;
        let objects: u64 = kinds.iter().map(|k| k.objects).sum();
        let etcd = format!(
            "etcd's file {} ({:.0} B per object listed here; it also holds the control plane's own)",
            mib(etcd_bytes),
            etcd_bytes as f64 / objects.max(1) as f64,
        );
        let kinds: Vec<String> = kinds
            .iter()
            .map(|k| format!("{} {} × {:.0} B", k.objects, k.resource, k.mean_bytes))
            .collect();
        self.report.note(format!(
            "Stored after the initial sync (JSON as written to etcd, mean of up to 200 each): {}; {etcd}.",
            kinds.join(", ")
        ));

        // Item 6: memory during and after.
        let during = self.operator.sample().peak;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = self.operator.sample().rss;
        procfs::reset_peak(self.operator.pid());
        self.report.row(
            "6",
            "operator peak RSS during the initial sync",
            mib(during),
            "",
            "",
            "< 250 MiB",
            status(during < 250 << 20),
        );
        self.report.row(
            "6",
            "operator RSS after the initial sync (settled)",
            mib(after),
            "",
            "",
            "< 250 MiB",
            status(after < 250 << 20),
        );
        Ok(())
    }

    /// The RoleBinding names the rules derive from what was provisioned.
    fn expected_bindings(&self, group_names: &[String]) -> HashSet<String> {
        let mut users: Vec<PlannedUser> = self
            .user_ids
            .iter()
            .enumerate()
            .map(|(i, id)| PlannedUser {
                id: id.clone(),
                user_name: user_name("u", i),
                groups: Vec::new(),
            })
            .collect();
        for g in 0..self.group_ids.len() {
            for u in group_members(&self.args, g) {
                if !users[u].groups.contains(&self.group_ids[g]) {
                    users[u].groups.push(self.group_ids[g].clone());
                }
            }
        }
        let groups: Vec<(String, GroupSpec)> = self
            .group_ids
            .iter()
            .zip(group_names)
            .enumerate()
            .map(|(g, (id, name))| {
                (
                    id.clone(),
                    GroupSpec {
                        display_name: name.clone(),
                        external_id: Some(format!("ext-{g}")),
                    },
                )
            })
            .collect();
        bindings::expected(&users, &groups)
    }

    fn throughput_requests(&self, c: usize) -> usize {
        let base = self
            .args
            .throughput_requests
            .unwrap_or((self.args.users / 100).clamp(50, 500));
        base * c.min(8)
    }

    /// Item 1: User creates/s through SCIM vs straight to the API server, same objects, same client
    /// configuration, same concurrency, in a directory of their own.
    async fn throughput(&mut self) -> anyhow::Result<()> {
        let scim = Scim::new(
            format!("{}/scim/v2/{TP_NAMESPACE}/{DIRECTORY}", self.operator.scim_url),
            self.token.clone(),
        );
        wait_for_directory(&scim).await?;
        let api: Api<User> = Api::namespaced(self.client.clone(), TP_NAMESPACE);
        let claims: Api<NameClaim> = Api::namespaced(self.client.clone(), TP_NAMESPACE);
        for &c in &self.args.concurrency.clone() {
            let n = self.throughput_requests(c);
            eprintln!("scim-bench: write throughput, {n} creates at concurrency {c}…");
            // ABBA order (raw, SCIM, SCIM, raw) so that drifting background load on a shared
            // machine weighs on both sides alike.
            let (mut raw, mut via_scim) = (None::<load::Run>, None::<load::Run>);
            let (mut raw_cpu, mut scim_cpu) = (Cpu::default(), Cpu::default());
            for (half, side) in [(0, "raw"), (0, "scim"), (1, "scim"), (1, "raw")] {
                let prefix = format!("{side}{c}-{half}");
                let range = if half == 0 { 0..n / 2 } else { n / 2..n };
                let before = Cpu::now(&self.operator, &self.cp);
                let run = if side == "raw" {
                    load::run(range.len(), c, |i| {
                        let api = api.clone();
                        let name = user_name(&prefix, i);
                        let id = scim_operator::scim::write::new_id(scim_operator::scim::write::USER_ID_PREFIX);
                        let user = load::raw_user(&prefix, i, &id, DIRECTORY);
                        let claim = load::raw_claim(&name, &id);
                        let claims = claims.clone();
                        // The same objects SCIM stores: the userName's claim, then the User.
                        async move {
                            claims.create(&PostParams::default(), &claim).await?;
                            api.create(&PostParams::default(), &user).await?;
                            Ok(())
                        }
                    })
                    .await?
                    .0
                } else {
                    load::run(range.len(), c, |i| {
                        let scim = scim.clone();
                        let body = entra_user(&prefix, i);
                        async move { scim.create_user(&body).await.map(drop) }
                    })
                    .await?
                    .0
                };
                settle(&self.operator, Duration::from_secs(60)).await;
                let used = Cpu::now(&self.operator, &self.cp).since(&before);
                let (total, cpu) = if side == "raw" {
                    (&mut raw, &mut raw_cpu)
                } else {
                    (&mut via_scim, &mut scim_cpu)
                };
                *total = Some(match total.take() {
                    Some(t) => t.merge(run),
                    None => run,
                });
                *cpu = cpu.plus(&used);
            }
            let (raw, via_scim) = (raw.context("raw run")?, via_scim.context("SCIM run")?);
            let x = via_scim.rate() / raw.rate();
            self.report.row(
                "1",
                format!("User creates/s, concurrency {c} ({n} each)"),
                format!("{:.0}/s (p50 {})", via_scim.rate(), ms(via_scim.quantile(0.5))),
                format!("{:.0}/s (p50 {})", raw.rate(), ms(raw.quantile(0.5))),
                ratio(x),
                "≥ 0.80×",
                status(x >= 0.8),
            );
            self.report.note(format!(
                "Creates at c={c}: raw {}; SCIM {}.",
                raw_cpu.describe(),
                scim_cpu.describe()
            ));
        }
        Ok(())
    }

    /// Item 2: `filter=userName eq "…"` through SCIM vs a raw GET by name, at 50,000 users.
    async fn lookups(&mut self) -> anyhow::Result<()> {
        let api: Api<User> = Api::namespaced(self.client.clone(), NAMESPACE);
        let n_users = self.user_ids.len();
        let pick = |i: usize| (i.wrapping_mul(2_654_435_761) ^ 0x5bd1_e995) % n_users;
        for &c in [1, 32].iter().filter(|c| self.args.concurrency.contains(c)) {
            let n = self.args.lookups.unwrap_or((n_users / 20).clamp(200, 2000)) * if c > 1 { 2 } else { 1 };
            eprintln!("scim-bench: lookups, {n} at concurrency {c}…");
            let (raw, _) = load::run(n, c, |i| {
                let api = api.clone();
                let id = self.user_ids[pick(i)].clone();
                async move {
                    api.get(&id).await?;
                    Ok(())
                }
            })
            .await?;
            let (via_scim, _) = load::run(n, c, |i| {
                let scim = self.scim.clone();
                let name = user_name("u", pick(i));
                async move {
                    match scim.find_user(&name).await?.len() {
                        1 => Ok(()),
                        k => bail!("filter userName eq {name:?} found {k} users"),
                    }
                }
            })
            .await?;
            for (q, label) in [(0.5, "p50"), (0.99, "p99")] {
                let (s, r) = (via_scim.quantile(q), raw.quantile(q));
                self.report.row(
                    "2",
                    format!("lookup userName eq, {label}, concurrency {c} ({n} each)"),
                    ms(s),
                    format!("{} (GET by name)", ms(r)),
                    format!("{} faster", ratio(r.as_secs_f64() / s.as_secs_f64().max(1e-9))),
                    "faster than raw GET",
                    status(s < r),
                );
            }
        }
        Ok(())
    }

    /// A page of one user (`GET /Users?count=1`) from 64 clients at once: its cost must be the
    /// page's, not the directory's, and health checks must answer meanwhile.
    async fn pages(&mut self) -> anyhow::Result<()> {
        const CONCURRENCY: usize = 64;
        let n = CONCURRENCY * 20;
        eprintln!("scim-bench: pages of one user, {n} at concurrency {CONCURRENCY}…");
        let total = self.user_ids.len();
        let done = std::sync::atomic::AtomicBool::new(false);
        let health = async {
            let mut worst = Duration::ZERO;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                worst = worst.max(self.operator.healthz().await?);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            anyhow::Ok(worst)
        };
        let pages =
            async {
                let result = load::run(n, CONCURRENCY, |_| {
                let scim = self.scim.clone();
                async move {
                    let body = scim.send(Method::GET, "/Users?count=1", None, StatusCode::OK).await?;
                    let (listed, on_page) = (body["totalResults"].as_u64(), body["Resources"].as_array().map(Vec::len));
                    anyhow::ensure!(
                        listed == Some(total as u64) && on_page == Some(1),
                        "GET /Users?count=1: totalResults {listed:?}, {on_page:?} on the page, expected {total} and 1"
                    );
                    Ok(())
                }
            })
            .await;
                done.store(true, std::sync::atomic::Ordering::Relaxed);
                result
            };
        let (health, pages) = tokio::join!(health, pages);
        let ((run, _), worst_health) = (pages?, health?);
        let p99 = run.quantile(0.99);
        self.report.row(
            "2",
            format!("GET /Users?count=1, p99, concurrency {CONCURRENCY} ({n})"),
            ms(p99),
            "",
            "",
            "< 50 ms",
            status(p99 < Duration::from_millis(50)),
        );
        self.report.row(
            "2",
            "/healthz meanwhile, slowest",
            ms(worst_health),
            "",
            "",
            "< 100 ms",
            status(worst_health < Duration::from_millis(100)),
        );
        Ok(())
    }

    /// Bulk membership: members added by 100-member `Add` PATCHes, one PATCH at a time as Entra
    /// sends them, against the same User writes sent straight to the API server, batches of 100,
    /// as many in flight as the operator's fan-out per PATCH. Each side adds users of the main
    /// directory to a plain group of its own (no workspace changes), in ABBA order.
    async fn bulk_membership(&mut self) -> anyhow::Result<()> {
        const PER_PATCH: usize = 100;
        let quarter = (self.user_ids.len() / 4 / PER_PATCH * PER_PATCH).min(1000);
        if quarter == 0 {
            self.report
                .row("1", "bulk membership: members added/s", "—", "", "", "", Status::NotRun);
            return Ok(());
        }
        let group_ids = [
            self.scim.create_group("bench-bulk-scim", "bench-bulk-scim").await?,
            self.scim.create_group("bench-bulk-raw", "bench-bulk-raw").await?,
        ];
        let api: Api<User> = Api::namespaced(self.client.clone(), NAMESPACE);
        let parallel = scim_operator::scim::write::MEMBERSHIP_PARALLELISM;
        eprintln!("scim-bench: bulk membership, {} members per side…", 2 * quarter);
        let (mut raw, mut via_scim) = (Duration::ZERO, Duration::ZERO);
        let mut patch_latencies = Vec::new();
        for (q, side) in ["raw", "scim", "scim", "raw"].into_iter().enumerate() {
            let members = &self.user_ids[q * quarter..(q + 1) * quarter];
            // The raw side writes what the operator writes — each member's sorted `spec.groups`
            // with its resourceVersion, a compare-and-swap — from Users read beforehand, untimed,
            // as the operator reads them from its cache.
            let current: Vec<User> = if side == "raw" {
                let api = &api;
                load::run(
                    members.len(),
                    parallel,
                    |i| async move { Ok(api.get(&members[i]).await?) },
                )
                .await?
                .1
            } else {
                Vec::new()
            };
            settle(&self.operator, Duration::from_secs(60)).await;
            let started = Instant::now();
            for (b, batch) in members.chunks(PER_PATCH).enumerate() {
                if side == "scim" {
                    let t = Instant::now();
                    self.scim.patch_members(&group_ids[0], "Add", batch).await?;
                    patch_latencies.push(t.elapsed());
                } else {
                    load::run(batch.len(), parallel, |i| {
                        let (api, user, group) = (api.clone(), &current[b * PER_PATCH + i], &group_ids[1]);
                        let mut groups = user.spec.groups.clone();
                        if let Err(at) = groups.binary_search(group) {
                            groups.insert(at, group.clone());
                        }
                        let patch = serde_json::json!({
                            "metadata": {"resourceVersion": user.metadata.resource_version},
                            "spec": {"groups": groups},
                        });
                        async move {
                            api.patch(&user.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
                                .await?;
                            Ok(())
                        }
                    })
                    .await?;
                }
            }
            *(if side == "raw" { &mut raw } else { &mut via_scim }) += started.elapsed();
        }
        let rate = |d: Duration| (2 * quarter) as f64 / d.as_secs_f64().max(1e-9);
        patch_latencies.sort_unstable();
        let p50 = patch_latencies[patch_latencies.len() / 2];
        let x = rate(via_scim) / rate(raw);
        self.report.row(
            "1",
            format!(
                "bulk membership: members added/s by {PER_PATCH}-member PATCHes ({} each)",
                2 * quarter
            ),
            format!("{:.0}/s (PATCH p50 {})", rate(via_scim), ms(p50)),
            format!("{:.0}/s ({parallel} in flight)", rate(raw)),
            ratio(x),
            "≥ 0.80×",
            status(x >= 0.8),
        );
        settle(&self.operator, Duration::from_secs(60)).await;
        Ok(())
    }

    /// Item 4: one member out of and back into the group of every user.
    async fn incremental(&mut self) -> anyhow::Result<()> {
        if !self.controller {
            for what in ["remove one member of the big group", "add one member to the big group"] {
                self.report.row("4", what, "—", "", "", "", Status::NotRun);
            }
            return Ok(());
        }
        let user = self.user_ids.last().context("no users")?.clone();
        let group = self.group_ids[0].clone();
        let binding = workspace_binding_name(&user, &workspace_object_name(EVERYONE));
        if !self.watch.contains(&binding) {
            bail!("RoleBinding {binding} should exist before the incremental change");
        }
        let timeout = Duration::from_secs(60);
        for (op, present) in [("Remove", false), ("Add", true)] {
            settle(&self.operator, Duration::from_secs(30)).await;
            let counts = Counts::scrape(&self.client).await?;
            let started = Instant::now();
            self.scim.patch_members(&group, op, std::slice::from_ref(&user)).await?;
            let answered = started.elapsed();
            let took = self
                .watch
                .wait(started, timeout, |w| w.contains(&binding) == present)
                .await;
            settle(&self.operator, Duration::from_secs(30)).await;
            let delta = Counts::scrape(&self.client).await?.since(&counts);
            let writes = delta.writes() - delta.writes_to("leases");
            let what = if present { "appears" } else { "disappears" };
            match took {
                Some(t) => self.report.row(
                    "4",
                    format!(
                        "PATCH {op} 1 member of the {}-member group: RoleBinding {what}",
                        self.user_ids.len()
                    ),
                    format!("{} (PATCH answered in {})", ms(t), ms(answered)),
                    "",
                    "",
                    "",
                    Status::Info,
                ),
                None => {
                    self.report
                        .failures
                        .push(format!("RoleBinding {binding} never {what} within {timeout:?}"));
                }
            }
            self.report.row(
                "4",
                format!("PATCH {op} 1 member: API writes (leases excluded)"),
                writes.to_string(),
                "",
                "",
                "O(1) (≤ 10)",
                status(writes <= 10),
            );
            self.report
                .note(format!("PATCH {op} 1 member, writes: {}.", delta.breakdown()));
        }
        Ok(())
    }

    /// Item 5: a forced full resync with nothing changed — a fresh operator process takes the lease
    /// and runs its full pass over every object.
    async fn resync(&mut self) -> anyhow::Result<()> {
        if !self.controller {
            for what in ["forced full resync: API writes", "forced full resync: operator CPU"] {
                self.report.row("5", what, "—", "", "", "", Status::NotRun);
            }
            return Ok(());
        }
        settle(&self.operator, Duration::from_secs(60)).await;
        eprintln!("scim-bench: forced full resync (operator restart)…");
        let counts = Counts::scrape(&self.client).await?;
        let cpu = Cpu::now(&self.operator, &self.cp);
        let old = std::mem::replace(
            &mut self.operator,
            Operator::start(&self.operator_bin, &self.cp, &self.log_dir, 2).await?,
        );
        let old_cpu = old.sample().cpu.saturating_sub(cpu.operator);
        old.stop().await;
        let started = Instant::now();
        // The new process leads once the old one released the Lease; its first act is a full pass.
        while self.operator.leader().await != Some(1.0) {
            if started.elapsed() > Duration::from_secs(60) {
                bail!("the restarted operator never became leader");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        settle(&self.operator, Duration::from_secs(300)).await;
        let took = started.elapsed();
        let delta = Counts::scrape(&self.client).await?.since(&counts);
        let writes = delta.writes() - delta.writes_to("leases");
        let new_cpu = self.operator.sample().cpu;
        let mut all = Cpu::now(&self.operator, &self.cp).since(&cpu);
        all.operator = new_cpu + old_cpu;
        self.report.row(
            "5",
            "forced full resync, nothing changed: API writes (leases excluded)",
            writes.to_string(),
            "",
            "",
            "0",
            status(writes == 0),
        );
        self.report.row(
            "5",
            "forced full resync: new operator's CPU (start, list, full pass)",
            format!("{:.1} s CPU in {:.1} s", new_cpu.as_secs_f64(), took.as_secs_f64()),
            format!("kube-apiserver {:.1} s CPU", all.apiserver.as_secs_f64()),
            "",
            "",
            Status::Info,
        );
        let fresh_peak = self.operator.sample().peak;
        self.report.row(
            "6",
            "new operator process with full caches (the resync's): peak RSS",
            mib(fresh_peak),
            "",
            "",
            "< 200 MiB",
            status(fresh_peak < 200 << 20),
        );
        self.report.note(format!("Full resync writes: {}.", delta.breakdown()));
        self.report.note(format!("Full resync {}.", all.describe()));
        Ok(())
    }
}
