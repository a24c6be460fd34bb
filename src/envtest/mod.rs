//! A real, throwaway Kubernetes control plane (etcd + kube-apiserver) for tests and `dev` mode —
//! what controller-runtime's envtest does, in Rust.
//!
//! ```no_run
//! # async fn f() -> anyhow::Result<()> {
//! let cp = scim_operator::envtest::ControlPlane::start().await?;
//! let client = cp.client().await?;
//! let status = cp.kubectl(["get", "namespaces"]).status()?;
//! # Ok(()) }
//! ```
//!
//! Fault tests start a control plane of their own and break it on purpose:
//! [`ControlPlane::restart_apiserver`] restarts kube-apiserver on the same etcd, port and
//! certificates (every watch ends and must relist), [`ControlPlane::stop_etcd`] and
//! [`ControlPlane::start_etcd`] take the storage away and give it back, data intact.
//!
//! There is no kube-controller-manager: namespaces are not finalised on delete, no ServiceAccount
//! tokens or default ServiceAccounts are created, nothing garbage-collects owned objects.

mod binaries;
mod identities;
mod pki;
mod process;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub use binaries::{BIN_DIR_ENV, bin_dir};

/// How to start a control plane.
#[derive(Clone, Debug)]
pub struct Options {
    /// Write an audit log of every write request (metadata level) to [`ControlPlane::audit_log_path`].
    pub audit: bool,
    /// Extra kube-apiserver flags, e.g. `--feature-gates=...`.
    pub extra_apiserver_args: Vec<String>,
    /// Extra environment of kube-apiserver, e.g. `GOGC`.
    pub apiserver_env: Vec<(String, String)>,
    /// How long to wait for `/readyz`.
    pub startup_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            audit: false,
            extra_apiserver_args: Vec::new(),
            apiserver_env: Vec::new(),
            startup_timeout: Duration::from_secs(90),
        }
    }
}

/// The audit policy of [`Options::audit`]: every mutating request, metadata only, once complete.
const AUDIT_POLICY: &str = "\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
- level: Metadata
  verbs: [create, update, patch, delete, deletecollection]
- level: None
";

/// A running etcd and kube-apiserver on loopback ports, with an admin kubeconfig. Dropping it (or
/// [`ControlPlane::stop`]) kills both and removes its directory; so does process exit, for a
/// control plane kept in a `static`.
pub struct ControlPlane {
    owner: u64,
    dir: PathBuf,
    bin_dir: PathBuf,
    server_url: String,
    /// etcd's client URL, for [`ControlPlane::restart_apiserver`]'s compaction.
    etcd_url: String,
    ca: pki::Ca,
    audit_log: Option<PathBuf>,
    startup_time: Duration,
    startup_timeout: Duration,
    processes: Vec<Process>,
}

/// One of the control plane's processes, with what it takes to start it again.
struct Process {
    binary: &'static str,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// `None` while stopped.
    child: Option<Child>,
}

const ETCD: &str = "etcd";
const APISERVER: &str = "kube-apiserver";

/// Distinguishes control planes of one process in the exit-hook registry.
static NEXT_OWNER: AtomicU64 = AtomicU64::new(1);

/// File-name prefix of a control plane's temporary directory.
const DIR_PREFIX: &str = "scim-operator-envtest-";

impl ControlPlane {
    /// Starts a control plane with default [`Options`].
    pub async fn start() -> anyhow::Result<ControlPlane> {
        Self::start_with(Options::default()).await
    }

    /// Starts a control plane; retries twice when a port picked as free was taken meanwhile.
    pub async fn start_with(options: Options) -> anyhow::Result<ControlPlane> {
        sweep_stale_dirs();
        let bin_dir = binaries::bin_dir()?;
        let mut attempt = 1;
        loop {
            match Self::try_start(&bin_dir, &options).await {
                Err(e) if attempt < 3 && format!("{e:#}").contains("address already in use") => {
                    tracing::warn!(attempt, "control plane port was taken, retrying");
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn try_start(bin_dir: &Path, options: &Options) -> anyhow::Result<ControlPlane> {
        let started = Instant::now();
        let owner = NEXT_OWNER.fetch_add(1, Ordering::Relaxed);
        let dir = tempfile::Builder::new()
            .prefix(DIR_PREFIX)
            .tempdir()
            .context("creating the control plane directory")?
            .keep();
        process::register_dir(owner, dir.clone());
        std::fs::write(dir.join("owner.pid"), std::process::id().to_string())?;
        let mut cp = ControlPlane {
            owner,
            dir,
            bin_dir: bin_dir.to_path_buf(),
            server_url: String::new(),
            etcd_url: String::new(),
            ca: pki::Ca::new()?,
            audit_log: None,
            startup_time: Duration::ZERO,
            startup_timeout: options.startup_timeout,
            processes: Vec::new(),
        };
        cp.write_pki()?;
        let [etcd_client, etcd_peer, apiserver] = free_ports()?;
        cp.server_url = format!("https://127.0.0.1:{apiserver}");
        cp.etcd_url = format!("http://127.0.0.1:{etcd_client}");
        cp.spawn(ETCD, cp.etcd_args(etcd_client, etcd_peer), &[])?;
        let apiserver_args = cp.apiserver_args(etcd_client, apiserver, options)?;
        cp.spawn(APISERVER, apiserver_args, &options.apiserver_env)?;
        cp.write_cert_kubeconfig(&cp.kubeconfig_path(), "admin")?;
        cp.wait_ready(options.startup_timeout).await?;
        cp.startup_time = started.elapsed();
        tracing::info!(url = %cp.server_url, startup = ?cp.startup_time, "control plane ready");
        Ok(cp)
    }

    fn write_pki(&self) -> anyhow::Result<()> {
        let pki = self.dir.join("pki");
        std::fs::create_dir(&pki)?;
        std::fs::write(pki.join("ca.crt"), &self.ca.cert_pem)?;
        let serving = self.ca.serving_cert()?;
        std::fs::write(pki.join("apiserver.crt"), serving.cert_pem)?;
        std::fs::write(pki.join("apiserver.key"), serving.key_pem)?;
        let admin = self
            .ca
            .client_cert("scim-operator-envtest-admin", &["system:masters"])?;
        std::fs::write(pki.join("admin.crt"), admin.cert_pem)?;
        std::fs::write(pki.join("admin.key"), admin.key_pem)?;
        let (sa_key, sa_pub) = pki::service_account_key()?;
        std::fs::write(pki.join("sa.key"), sa_key)?;
        std::fs::write(pki.join("sa.pub"), sa_pub)?;
        Ok(())
    }

    fn etcd_args(&self, client: u16, peer: u16) -> Vec<String> {
        let client = format!("http://127.0.0.1:{client}");
        let peer = format!("http://127.0.0.1:{peer}");
        vec![
            format!("--data-dir={}", self.dir.join("etcd").display()),
            format!("--listen-client-urls={client}"),
            format!("--advertise-client-urls={client}"),
            format!("--listen-peer-urls={peer}"),
            format!("--initial-advertise-peer-urls={peer}"),
            format!("--initial-cluster=default={peer}"),
            "--unsafe-no-fsync".into(),
            "--log-level=warn".into(),
        ]
    }

    fn apiserver_args(&mut self, etcd_client: u16, port: u16, options: &Options) -> anyhow::Result<Vec<String>> {
        let pki = self.dir.join("pki");
        let file = |name: &str| pki.join(name).display().to_string();
        let mut args = vec![
            format!("--etcd-servers=http://127.0.0.1:{etcd_client}"),
            "--bind-address=127.0.0.1".into(),
            "--advertise-address=127.0.0.1".into(),
            // 1.37 refuses a loopback advertise address with the endpoint reconciler.
            "--endpoint-reconciler-type=none".into(),
            format!("--secure-port={port}"),
            format!("--cert-dir={}", pki.display()),
            format!("--tls-cert-file={}", file("apiserver.crt")),
            format!("--tls-private-key-file={}", file("apiserver.key")),
            format!("--client-ca-file={}", file("ca.crt")),
            format!("--service-account-key-file={}", file("sa.pub")),
            format!("--service-account-signing-key-file={}", file("sa.key")),
            "--service-account-issuer=https://kubernetes.default.svc".into(),
            "--authorization-mode=RBAC".into(),
            "--service-cluster-ip-range=10.0.0.0/24".into(),
            // No controller-manager creates default ServiceAccounts, which this plugin requires of pods.
            "--disable-admission-plugins=ServiceAccount".into(),
            "--allow-privileged=true".into(),
        ];
        if options.audit {
            let policy = self.dir.join("audit-policy.yaml");
            std::fs::write(&policy, AUDIT_POLICY)?;
            let log = self.dir.join("audit.log");
            args.push(format!("--audit-policy-file={}", policy.display()));
            args.push(format!("--audit-log-path={}", log.display()));
            args.push("--audit-log-mode=blocking".into());
            self.audit_log = Some(log);
        }
        args.extend(options.extra_apiserver_args.iter().cloned());
        Ok(args)
    }

    fn spawn(&mut self, binary: &'static str, args: Vec<String>, env: &[(String, String)]) -> anyhow::Result<()> {
        self.processes.push(Process {
            binary,
            args,
            env: env.to_vec(),
            child: None,
        });
        self.start_process(binary)
    }

    /// Starts a stopped process again with its first arguments, appending to its log.
    fn start_process(&mut self, binary: &str) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(binary))?;
        let path = self.bin_dir.join(binary);
        let process = self.process(binary);
        let mut command = Command::new(&path);
        // A process group of its own: a Ctrl-C meant for the owner (a `dev` terminal) must not
        // stop the API server before the owner has shut down against it.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        command
            .args(&process.args)
            .envs(process.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = process::spawn(self.owner, command).with_context(|| format!("starting {}", path.display()))?;
        self.process(binary).child = Some(child);
        Ok(())
    }

    /// Kills a process (SIGKILL, as a crash would) and reaps it; a no-op when stopped.
    fn stop_process(&mut self, binary: &str) {
        if let Some(mut child) = self.process(binary).child.take() {
            let _ = child.kill();
            let _ = child.wait();
            process::reaped(self.owner, child.id());
        }
    }

    fn process(&mut self, binary: &str) -> &mut Process {
        let found = self.processes.iter_mut().find(|p| p.binary == binary);
        found.expect("every control plane process is spawned at start")
    }

    /// Restarts kube-apiserver on the same etcd, port and certificates, as a crash or an upgrade
    /// would, and waits until it is ready again. Stored objects stay; every watch ends, and a
    /// client resuming one is told its resourceVersion is too old (410) and relists. Clients
    /// made before keep working: they reconnect to the same address and trust the same CA.
    pub async fn restart_apiserver(&mut self) -> anyhow::Result<()> {
        self.stop_process(APISERVER);
        self.expire_resource_versions().await?;
        self.start_process(APISERVER)?;
        self.wait_ready(self.startup_timeout).await
    }

    /// Makes every resourceVersion handed out so far too old to watch from, so that a restart
    /// ends in relists. Without it a watch may resume: one whose last bookmark carried etcd's
    /// latest revision is not behind the new watch cache, and one served from etcd while that
    /// cache fills is behind nothing compacted. Two writes move the revision past any watch's
    /// next one, and compacting there expires it in both places.
    async fn expire_resource_versions(&self) -> anyhow::Result<()> {
        // etcd's JSON gateway takes keys and values in base64.
        const KEY: &str = "c2NpbS1vcGVyYXRvci1lbnZ0ZXN0"; // "scim-operator-envtest"
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()?;
        let call = |path: &str, body: serde_json::Value| {
            let request = client.post(format!("{}/v3/{path}", self.etcd_url)).json(&body);
            async move {
                let response = request.send().await?.error_for_status()?;
                anyhow::Ok(response.json::<serde_json::Value>().await?)
            }
        };
        call("kv/put", serde_json::json!({ "key": KEY, "value": KEY })).await?;
        let deleted = call("kv/deleterange", serde_json::json!({ "key": KEY })).await?;
        let revision = deleted["header"]["revision"]
            .as_str()
            .context("etcd's delete answered without a revision")?
            .to_owned();
        let compaction = serde_json::json!({ "revision": revision, "physical": true });
        call("kv/compaction", compaction).await.context("compacting etcd")?;
        Ok(())
    }

    /// Kills etcd. kube-apiserver keeps running: requests that need storage fail or stall, and
    /// `/readyz` fails, until [`ControlPlane::start_etcd`].
    pub fn stop_etcd(&mut self) {
        self.stop_process(ETCD);
    }

    /// Starts etcd again on its data directory (nothing stored is lost) and waits until
    /// kube-apiserver is ready again. A no-op for a running etcd but the wait.
    pub async fn start_etcd(&mut self) -> anyhow::Result<()> {
        if self.process(ETCD).child.is_none() {
            self.start_process(ETCD)?;
        }
        self.wait_ready(self.startup_timeout).await
    }

    async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        // Polled with a plain HTTPS client: kube's client logs each refused connection and each
        // 500 as an ERROR, and a starting API server answers with both.
        let pki = self.dir.join("pki");
        let identity = [
            std::fs::read(pki.join("admin.crt"))?,
            std::fs::read(pki.join("admin.key"))?,
        ]
        .concat();
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca.cert_pem.as_bytes())?)
            .identity(reqwest::Identity::from_pem(&identity)?)
            .no_proxy()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .build()?;
        let url = format!("{}/readyz", self.server_url);
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((binary, status)) = self.exited()? {
                bail!("{binary} exited with {status}\n{}", self.log_tails());
            }
            let not_ready = match client.get(&url).send().await {
                Ok(response) => {
                    let status = response.status();
                    let body = response.text().await.unwrap_or_default();
                    if status.is_success() && body.trim() == "ok" {
                        return Ok(());
                    }
                    format!("{status}: {body}")
                }
                Err(e) => format!("{:#}", anyhow::Error::from(e)),
            };
            if Instant::now() > deadline {
                bail!(
                    "kube-apiserver not ready after {timeout:?}: {not_ready}\n{}",
                    self.log_tails()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The first running process found to have exited, with its exit status.
    fn exited(&mut self) -> anyhow::Result<Option<(&'static str, std::process::ExitStatus)>> {
        for process in &mut self.processes {
            if let Some(child) = process.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                return Ok(Some((process.binary, status)));
            }
        }
        Ok(None)
    }

    /// The last lines of both processes' logs, for error messages.
    fn log_tails(&self) -> String {
        [ETCD, APISERVER]
            .iter()
            .map(|name| {
                let text = std::fs::read_to_string(self.log_path(name)).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = lines[lines.len().saturating_sub(20)..].join("\n");
                format!("--- last lines of {name} log ---\n{tail}")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn log_path(&self, binary: &str) -> PathBuf {
        self.dir.join(format!("{binary}.log"))
    }

    /// The admin kubeconfig (user `scim-operator-envtest-admin` in group `system:masters`).
    pub fn kubeconfig_path(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    /// `https://127.0.0.1:<port>`.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// The directory holding kube-apiserver, etcd, kubectl and helm.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// The control plane's temporary directory (certificates, logs, etcd data).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The audit log, when started with [`Options::audit`]: one JSON event per line.
    pub fn audit_log_path(&self) -> Option<&Path> {
        self.audit_log.as_deref()
    }

    /// How long [`ControlPlane::start`] took until `/readyz` answered `ok`.
    pub fn startup_time(&self) -> Duration {
        self.startup_time
    }

    /// An admin client. Make one per tokio runtime: a client's connections belong to the runtime
    /// it was first used on.
    pub async fn client(&self) -> anyhow::Result<kube::Client> {
        let config = self.config_from(&self.kubeconfig_path()).await?;
        Ok(kube::Client::try_from(config)?)
    }

    /// `kubectl --kubeconfig <admin kubeconfig> <args>`, not yet run.
    pub fn kubectl<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut command = Command::new(self.bin_dir.join("kubectl"));
        command.arg("--kubeconfig").arg(self.kubeconfig_path());
        // A private discovery cache: the shared ~/.kube/cache may hold another run's port.
        command.arg("--cache-dir").arg(self.dir.join("kubectl-cache"));
        command.args(args);
        command
    }

    /// Kills both processes and removes the directory.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        // Killed, not terminated: the state is thrown away, and kube-apiserver drains for seconds.
        for process in self.processes.iter_mut().rev() {
            if let Some(mut child) = process.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        self.processes.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
        process::forget(self.owner);
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlane")
            .field("server_url", &self.server_url)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// Three distinct free loopback ports (bound together, then released).
fn free_ports() -> anyhow::Result<[u16; 3]> {
    let listeners = [(); 3].map(|()| std::net::TcpListener::bind("127.0.0.1:0"));
    let mut ports = [0; 3];
    for (port, listener) in ports.iter_mut().zip(listeners) {
        *port = listener.context("finding a free loopback port")?.local_addr()?.port();
    }
    Ok(ports)
}

/// Removes directories of control planes whose process died without cleaning up (e.g. SIGKILL).
fn sweep_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(DIR_PREFIX) {
            continue;
        }
        let Ok(pid) = std::fs::read_to_string(entry.path().join("owner.pid")) else {
            continue;
        };
        if !Path::new("/proc").join(pid.trim()).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
