//! The benchmark's world: a throwaway control plane, the CRDs, directories, and the operator as a
//! child process (`scim-operator serve`), so its memory and CPU are its own.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use scim_operator::api::{Directory, DirectorySpec};
use scim_operator::envtest::ControlPlane;

use crate::procfs;

/// Creates a namespace holding one Directory that accepts `token` (by hash, no Secret needed).
pub async fn create_directory(client: &Client, namespace: &str, directory: &str, token: &str) -> anyhow::Result<()> {
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(namespace.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    let spec = DirectorySpec {
        token_hashes: vec![scim_operator::scim::auth::token_hash(token)],
        ..Default::default()
    };
    Api::<Directory>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &Directory::new(directory, spec))
        .await?;
    Ok(())
}

/// The operator, running as `scim-operator serve` against the control plane.
pub struct Operator {
    child: Child,
    pub scim_url: String,
    pub probe_url: String,
    pub log: PathBuf,
    http: reqwest::Client,
}

impl Operator {
    /// Starts the binary and waits until `/readyz` answers (its caches have synced).
    pub async fn start(binary: &Path, cp: &ControlPlane, log_dir: &Path, generation: u32) -> anyhow::Result<Operator> {
        let [scim, probe] = free_ports()?;
        let log = log_dir.join(format!("operator-{generation}.log"));
        let file = std::fs::File::create(&log)?;
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .arg(format!("--listen=127.0.0.1:{scim}"))
            .arg(format!("--probe-listen=127.0.0.1:{probe}"))
            .env("KUBECONFIG", cp.kubeconfig_path())
            .env(
                "RUST_LOG",
                std::env::var("BENCH_OPERATOR_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .env("POD_NAME", format!("bench-operator-{generation}"))
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file);
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut operator = Operator {
            child,
            scim_url: format!("http://127.0.0.1:{scim}"),
            probe_url: format!("http://127.0.0.1:{probe}"),
            log,
            http: reqwest::Client::new(),
        };
        operator.wait_ready(Duration::from_secs(120)).await?;
        Ok(operator)
    }

    async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("the operator exited with {status}; see {}", self.log.display());
            }
            let ready = self
                .http
                .get(format!("{}/readyz", self.probe_url))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "the operator is not ready after {timeout:?}; see {}",
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU and memory now.
    pub fn sample(&self) -> procfs::Sample {
        procfs::sample(self.pid()).unwrap_or_default()
    }

    /// How long `/healthz` takes to answer (its status must be 200).
    pub async fn healthz(&self) -> anyhow::Result<Duration> {
        let start = std::time::Instant::now();
        let status = self
            .http
            .get(format!("{}/healthz", self.probe_url))
            .send()
            .await?
            .status();
        anyhow::ensure!(status.is_success(), "/healthz answered {status}");
        Ok(start.elapsed())
    }

    /// The operator's Prometheus metrics.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        Ok(self
            .http
            .get(format!("{}/metrics", self.probe_url))
            .send()
            .await?
            .text()
            .await?)
    }

    /// The controller's leader gauge (`…_leader`), `None` when this build runs no controller.
    pub async fn leader(&self) -> Option<f64> {
        let metrics = self.metrics().await.ok()?;
        metrics.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
            let (name, value) = l.split_once(' ')?;
            name.ends_with("_leader").then(|| value.trim().parse().ok())?
        })
    }

    /// SIGTERM (the operator releases its Lease and drains), then waits up to 30 s, then kills.
    pub async fn stop(mut self) {
        let pid = self.child.id() as i32;
        #[allow(unsafe_code)]
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn free_ports() -> anyhow::Result<[u16; 2]> {
    let a = TcpListener::bind("127.0.0.1:0")?;
    let b = TcpListener::bind("127.0.0.1:0")?;
    Ok([a.local_addr()?.port(), b.local_addr()?.port()])
}

/// CPU of the operator, kube-apiserver, etcd and this client process, for one phase.
#[derive(Clone, Debug, Default)]
pub struct Cpu {
    pub operator: Duration,
    pub apiserver: Duration,
    pub etcd: Duration,
    pub bench: Duration,
}

impl Cpu {
    /// A snapshot now.
    pub fn now(operator: &Operator, cp: &ControlPlane) -> Cpu {
        let mut cpu = Cpu {
            operator: operator.sample().cpu,
            bench: procfs::own().cpu,
            ..Default::default()
        };
        for (name, pid) in procfs::find(cp.dir()) {
            let t = procfs::sample(pid).unwrap_or_default().cpu;
            match name.as_str() {
                "kube-apiserver" => cpu.apiserver += t,
                "etcd" => cpu.etcd += t,
                _ => {}
            }
        }
        cpu
    }

    /// `self - before`.
    pub fn since(&self, before: &Cpu) -> Cpu {
        Cpu {
            operator: self.operator.saturating_sub(before.operator),
            apiserver: self.apiserver.saturating_sub(before.apiserver),
            etcd: self.etcd.saturating_sub(before.etcd),
            bench: self.bench.saturating_sub(before.bench),
        }
    }

    /// `self + other`.
    pub fn plus(&self, other: &Cpu) -> Cpu {
        Cpu {
            operator: self.operator + other.operator,
            apiserver: self.apiserver + other.apiserver,
            etcd: self.etcd + other.etcd,
            bench: self.bench + other.bench,
        }
    }

    /// `operator 12.3s, kube-apiserver 40.1s, etcd 8.0s, bench client 5.2s`
    pub fn describe(&self) -> String {
        format!(
            "CPU: operator {:.1}s, kube-apiserver {:.1}s, etcd {:.1}s, bench client {:.1}s",
            self.operator.as_secs_f64(),
            self.apiserver.as_secs_f64(),
            self.etcd.as_secs_f64(),
            self.bench.as_secs_f64()
        )
    }
}
