//! A real single-node cluster for the end-to-end tests: etcd, kube-apiserver,
//! kube-controller-manager, kube-scheduler, containerd, kubelet and kube-proxy, all inside fresh
//! network, mount and PID namespaces that `hack/node.sh inside` sets up (see there for the
//! addresses). The host is left as it was: dropping a [`Node`], a panic, or the test process
//! dying (a parent-death signal) kills the namespace, and `hack/node.sh down` removes the pods'
//! cgroups and the run directory. Runs are serialised by a lock file.

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The node's address (on the namespace's own `lo`); kube-apiserver listens on `NODE_IP:6443`.
pub const NODE_IP: &str = "10.200.0.1";
/// Where run directories live; every one found while holding the lock is stale.
const RUN_ROOT: &str = "/tmp/scim-operator-node";
/// How long the node may take from `unshare` to Ready (about 6 s on 2 idle cores).
const START_TIMEOUT: Duration = Duration::from_secs(240);

/// The repository root (hack/ scripts).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Why this host cannot run a node, if it cannot: the node needs root (namespaces, cgroups,
/// iptables inside the namespace) and `unshare`/`nsenter`.
pub fn unsupported() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root: the node needs network, mount and PID namespaces and cgroups".into());
    }
    for tool in ["unshare", "nsenter"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            return Some(format!("`{tool}` not found (Debian: util-linux)"));
        }
    }
    None
}

/// A running node. See the module docs.
pub struct Node {
    run: PathBuf,
    unshare: Child,
    /// Host pid of the namespace's PID 1; `nsenter -t` and `setns` target it.
    ns_pid: u32,
    _lock: File,
}

impl Node {
    /// Starts a node with `images` (docker-archive tars) imported into its containerd, and waits
    /// until it is Ready. Blocks while another node of this machine is running.
    pub fn start(images: &[PathBuf]) -> anyhow::Result<Node> {
        let cp_bin = bin_dir("SCIM_OPERATOR_CONTROLPLANE", "hack/controlplane.sh")?;
        let node_bin = bin_dir("SCIM_OPERATOR_NODE", "hack/node.sh build")?;
        std::fs::create_dir_all(RUN_ROOT)?;
        let lock = File::create(Path::new(RUN_ROOT).with_extension("lock"))?;
        // SAFETY: flock on a descriptor we own; the lock ends when the File (or the process) does.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
            bail!("flock: {}", std::io::Error::last_os_error());
        }
        // Holding the lock, every run directory left is from a run that died: remove it.
        for stale in std::fs::read_dir(RUN_ROOT)? {
            node_sh(&["down", &stale?.path().to_string_lossy()]).status()?;
        }
        let run = Path::new(RUN_ROOT).join(format!("run-{}", std::process::id()));
        std::fs::create_dir_all(run.join("logs"))?;
        let log = File::create(run.join("logs/inside.log"))?;
        let started = Instant::now();
        let mut command = Command::new("unshare");
        command
            .args([
                "--net",
                "--mount",
                "--propagation",
                "slave",
                "--pid",
                "--fork",
                "--kill-child",
            ])
            .arg("--mount-proc")
            .arg("bash")
            .arg(repo().join("hack/node.sh"))
            .arg("inside")
            .arg(&run)
            .args(images)
            .env("CP_BIN", &cp_bin)
            .env("NODE_BIN", &node_bin)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // SAFETY: only async-signal-safe calls between fork and exec. A session of its own keeps
        // a terminal's Ctrl-C off the daemons; the parent-death signal kills `unshare` (and so the
        // whole namespace) if this process dies. It fires when the spawning *thread* exits, so a
        // Node must live on the thread that started it (a test's own thread).
        unsafe {
            command.pre_exec(|| {
                libc::setsid();
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let unshare = command.spawn().context("spawning unshare")?;
        std::fs::write(run.join("unshare.pid"), unshare.id().to_string())?;
        let mut node = Node {
            run,
            unshare,
            ns_pid: 0,
            _lock: lock,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        while !node.run.join("ready").exists() {
            if let Some(status) = node.unshare.try_wait()? {
                bail!("the node exited ({status}) while starting:\n{}", node.log_tails());
            }
            if Instant::now() > deadline {
                bail!("the node was not Ready within {START_TIMEOUT:?}:\n{}", node.log_tails());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", node.unshare.id()))?;
        node.ns_pid = children
            .split_whitespace()
            .next()
            .context("unshare has no child")?
            .parse()?;
        eprintln!("node: Ready in {:?} ({})", started.elapsed(), node.run.display());
        Ok(node)
    }

    /// `CMD ARGS…` inside the node's namespaces with its admin kubeconfig and binaries on PATH
    /// (kubectl, helm, ctr).
    pub fn exec(&self, args: &[&str]) -> Command {
        let mut all = vec!["exec", self.run.to_str().expect("utf-8 path")];
        all.extend_from_slice(args);
        node_sh(&all)
    }

    /// Runs `CMD ARGS…` inside; its stdout, or an error with its stderr.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = self.exec(args).stdin(Stdio::null()).output()?;
        if !output.status.success() {
            bail!(
                "{} failed ({}): {}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8(output.stdout)?)
    }

    /// `kubectl ARGS…` inside the node.
    pub fn kubectl(&self, args: &[&str]) -> anyhow::Result<String> {
        self.run(&[&["kubectl"], args].concat())
    }

    /// A fault: `stop`, `start` or `restart` one daemon (`etcd`, `apiserver`, `kubelet`, …).
    pub fn daemon(&self, action: &str, daemon: &str) -> anyhow::Result<()> {
        let status = node_sh(&[action, self.run.to_str().expect("utf-8 path"), daemon]).status()?;
        if !status.success() {
            bail!("{action} {daemon}: {status}");
        }
        Ok(())
    }

    /// Forwards a loopback port of the host to `target` inside the node (like `kubectl
    /// port-forward`, without the API server). Ends with the calling runtime.
    pub async fn forward(&self, target: SocketAddr) -> anyhow::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let local = listener.local_addr()?;
        let ns_pid = self.ns_pid;
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let connected = tokio::task::spawn_blocking(move || connect_in(ns_pid, target)).await;
                    let Ok(Ok(outbound)) = connected else { return };
                    let Ok(()) = outbound.set_nonblocking(true) else { return };
                    let Ok(mut outbound) = tokio::net::TcpStream::from_std(outbound) else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                });
            }
        });
        Ok(local)
    }

    /// An admin client of the node's API server, through a loopback [`Node::forward`].
    pub async fn client(&self) -> anyhow::Result<kube::Client> {
        let local = self.forward(format!("{NODE_IP}:6443").parse()?).await?;
        let kubeconfig = std::fs::read_to_string(self.run.join("kubeconfig"))?.replace(
            &format!("https://{NODE_IP}:6443"),
            &format!("https://127.0.0.1:{}", local.port()),
        );
        let kubeconfig = kube::config::Kubeconfig::from_yaml(&kubeconfig)?;
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
        Ok(kube::Client::try_from(config)?)
    }

    /// The last lines of every daemon's log, for a failure message.
    pub fn log_tails(&self) -> String {
        let mut out = String::new();
        let Ok(entries) = std::fs::read_dir(self.run.join("logs")) else {
            return out;
        };
        for entry in entries.flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            out.push_str(&format!("--- {}\n", entry.path().display()));
            for line in &lines[lines.len().saturating_sub(15)..] {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if std::env::var_os("SCIM_OPERATOR_KEEP_NODE_LOGS").is_some() {
            let keep = Path::new(RUN_ROOT).with_extension("last-logs");
            let _ = std::fs::remove_dir_all(&keep);
            let _ = Command::new("cp")
                .arg("-r")
                .arg(self.run.join("logs"))
                .arg(&keep)
                .status();
        }
        let started = Instant::now();
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
        let _ = node_sh(&["down", &self.run.to_string_lossy()]).status();
        eprintln!("node: torn down in {:?}", started.elapsed());
    }
}

fn connect_in(ns_pid: u32, target: SocketAddr) -> std::io::Result<TcpStream> {
    let ns = File::open(format!("/proc/{ns_pid}/ns/net"))?;
    // A thread of its own: a pooled thread would stay in the namespace.
    std::thread::spawn(move || {
        // SAFETY: setns on this thread only, with a namespace descriptor we own.
        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        TcpStream::connect_timeout(&target, Duration::from_secs(5))
    })
    .join()
    .expect("connect thread")
}

fn node_sh(args: &[&str]) -> Command {
    let mut command = Command::new("bash");
    command.arg(repo().join("hack/node.sh")).args(args);
    command
}

/// `$ENV`, or the last line printed by `script` (which builds and caches the binaries).
fn bin_dir(env: &str, script: &str) -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os(env) {
        return Ok(dir.into());
    }
    let mut parts = script.split(' ');
    let output = Command::new(repo().join(parts.next().expect("script")))
        .args(parts)
        .stderr(Stdio::inherit())
        .output()?;
    if !output.status.success() {
        bail!("{script} failed ({})", output.status);
    }
    let stdout = String::from_utf8(output.stdout)?;
    Ok(stdout.lines().last().context("no output")?.into())
}
