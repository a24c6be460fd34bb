//! `scim-operator dev` as a newcomer runs it: the built binary in a process group of its own (as
//! a terminal starts it), on free loopback ports, in a scratch working directory; then one Ctrl-C
//! (SIGINT to the process group) must stop everything within 10 s and leave nothing behind.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Control plane start, CRDs and cache sync on a busy 2-core machine.
const STARTUP: Duration = Duration::from_secs(180);
/// What the issue asks of one Ctrl-C.
const STOP: Duration = Duration::from_secs(10);
/// The last line of the banner: everything is up.
const READY_LINE: &str = "Ctrl-C stops everything.";

/// The running `dev` process; dropping it kills its group and its control plane processes, so a
/// failing test leaves nothing running.
struct Dev {
    child: Child,
    output: Arc<Mutex<String>>,
    control_plane_pids: Vec<u32>,
}

impl Dev {
    fn start(work_dir: &Path, tmp_dir: &Path, scim_port: u16, probe_port: u16) -> Dev {
        use std::os::unix::process::CommandExt;
        let mut child = Command::new(env!("CARGO_BIN_EXE_scim-operator"))
            .args(["dev", "--namespace", "demo"])
            .args(["--listen", &format!("127.0.0.1:{scim_port}")])
            .args(["--probe-listen", &format!("127.0.0.1:{probe_port}")])
            .current_dir(work_dir)
            .env("TMPDIR", tmp_dir)
            .env_remove("RUST_LOG")
            .env_remove("LOG_FORMAT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("start scim-operator dev");
        let output = Arc::new(Mutex::new(String::new()));
        collect(child.stdout.take().unwrap(), output.clone());
        collect(child.stderr.take().unwrap(), output.clone());
        Dev {
            child,
            output,
            control_plane_pids: Vec::new(),
        }
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the banner's last line; fails early if the process exits.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + STARTUP;
        while !self.output().contains(READY_LINE) {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("dev exited with {status} before it was ready:\n{}", self.output());
            }
            assert!(
                Instant::now() < deadline,
                "dev not ready after {STARTUP:?}:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends `signal` to the whole process group, as a terminal's Ctrl-C does.
    fn signal_group(&self, signal: libc::c_int) {
        // SAFETY: a plain syscall; the group is the one this test created for the child.
        unsafe { libc::kill(-(self.pid() as libc::pid_t), signal) };
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.signal_group(libc::SIGKILL);
            let _ = self.child.wait();
        }
        for &pid in &self.control_plane_pids {
            if is_running(pid) {
                // SAFETY: a plain syscall on a pid seen as etcd/kube-apiserver started by dev.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            }
        }
    }
}

fn collect(stream: impl Read + Send + 'static, into: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            let mut out = into.lock().unwrap();
            out.push_str(&line);
            out.push('\n');
        }
    });
}

/// Two distinct free loopback ports (bound together, then released).
fn free_ports() -> (u16, u16) {
    let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    (a.local_addr().unwrap().port(), b.local_addr().unwrap().port())
}

/// Children of `parent` by pid and command name, from /proc.
fn children(parent: u32) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid …"; comm may contain spaces, so split at the last ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = head.split_once('(').map(|(_, c)| c.to_string()).unwrap_or_default();
        let ppid = rest.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            found.push((pid, comm));
        }
    }
    found
}

/// Alive and not a zombie.
fn is_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(')').map(|(_, rest)| rest.trim_start().to_string()))
        .is_some_and(|rest| !rest.starts_with('Z'))
}

/// Local addresses (`IP:port`, as in /proc/net/tcp*) of the TCP sockets `pid` listens on.
fn listening_addresses(pid: u32) -> Vec<String> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            Some(target.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    let mut addresses = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address is field 1, st (0A = LISTEN) field 3, inode field 9.
            if fields.len() > 9 && fields[3] == "0A" && inodes.iter().any(|i| i == fields[9]) {
                addresses.push(fields[1].to_string());
            }
        }
    }
    addresses
}

/// The value after `label` on its banner line.
fn banner_value<'a>(banner: &'a str, label: &str) -> &'a str {
    banner
        .lines()
        .find_map(|line| line.trim().strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} line in:\n{banner}"))
        .split_whitespace()
        .next()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_ctrl_c_stops_everything_and_leaves_nothing_behind() {
    let work_dir = tempfile::tempdir().unwrap();
    let tmp_dir = tempfile::tempdir().unwrap();
    let (scim_port, probe_port) = free_ports();
    let mut dev = Dev::start(work_dir.path(), tmp_dir.path(), scim_port, probe_port);
    dev.wait_ready();

    // The banner's values are the ones that work.
    let connection: Value =
        serde_json::from_slice(&std::fs::read(work_dir.path().join(".dev/connection.json")).unwrap()).unwrap();
    let url = connection["scimUrl"].as_str().unwrap().to_string();
    let token = connection["token"].as_str().unwrap().to_string();
    let kubeconfig = connection["kubeconfig"].as_str().unwrap().to_string();
    assert_eq!(url, format!("http://127.0.0.1:{scim_port}/scim/v2/demo/entra"));
    let users = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{url}/Users"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(users.status(), 200);
    let bin_dir = scim_operator::envtest::bin_dir().unwrap();
    let kubectl = Command::new(bin_dir.join("kubectl"))
        .args(["--kubeconfig", &kubeconfig, "get", "scim", "-n", "demo"])
        .args([
            "--cache-dir",
            &tmp_dir.path().join("kubectl-cache").display().to_string(),
        ])
        .output()
        .unwrap();
    assert!(kubectl.status.success(), "{}", String::from_utf8_lossy(&kubectl.stderr));

    let listening = listening_addresses(dev.pid());
    let children = children(dev.pid());
    dev.control_plane_pids = children.iter().map(|(pid, _)| *pid).collect();
    for name in ["etcd", "kube-apiserver"] {
        assert!(
            children.iter().any(|(_, comm)| comm == name),
            "no {name} child: {children:?}"
        );
    }

    // One Ctrl-C.
    dev.signal_group(libc::SIGINT);
    let sent = Instant::now();
    let status = loop {
        if let Some(status) = dev.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            sent.elapsed() < STOP,
            "dev still running {STOP:?} after SIGINT:\n{}",
            dev.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "dev exited with {status}:\n{}", dev.output());
    for (pid, name) in &children {
        assert!(!is_running(*pid), "{name} (pid {pid}) still running after dev exited");
    }
    let left: Vec<_> = std::fs::read_dir(tmp_dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("scim-operator-envtest-"))
        .collect();
    assert!(left.is_empty(), "control plane directories left behind: {left:?}");
    let state_dir = work_dir.path().join(".dev");
    let left: Vec<_> = std::fs::read_dir(&state_dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(!state_dir.exists(), ".dev/ (token, kubeconfig) left behind: {left:?}");

    // What was printed: the banner's values, no ERROR line, an orderly stop.
    let output = dev.output();
    assert_eq!(banner_value(&output, "Tenant URL:"), url, "{output}");
    assert_eq!(banner_value(&output, "Secret Token:"), token, "{output}");
    assert_eq!(banner_value(&output, "Base URL:"), url, "{output}");
    assert_eq!(banner_value(&output, "API token:"), token, "{output}");
    assert!(output.contains("HTTP Header"), "{output}");
    assert!(output.contains(&format!("export KUBECONFIG={kubeconfig}")), "{output}");
    assert!(output.contains("kubectl get scim -n demo"), "{output}");
    let errors: Vec<&str> = output.lines().filter(|l| l.contains("ERROR")).collect();
    assert!(errors.is_empty(), "ERROR lines:\n{}", errors.join("\n"));
    assert!(!output.contains("did not stop in time"), "{output}");

    // Everything it listened on was loopback, the SCIM port among it.
    let scim = format!("0100007F:{scim_port:04X}");
    assert!(listening.contains(&scim), "{scim} not in {listening:?}");
    let loopback = |a: &String| a.starts_with("0100007F:") || a.starts_with("00000000000000000000000001000000:");
    assert!(listening.iter().all(loopback), "not loopback only: {listening:?}");
}
