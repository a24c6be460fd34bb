//! Where the control-plane binaries (kube-apiserver, etcd, kubectl, helm) are.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// Environment variable naming a directory that holds the binaries.
pub const BIN_DIR_ENV: &str = "SCIM_OPERATOR_CONTROLPLANE";

const REQUIRED: [&str; 4] = ["kube-apiserver", "etcd", "kubectl", "helm"];

/// The bin directory: `$SCIM_OPERATOR_CONTROLPLANE`, else what `hack/controlplane.sh` prints (it
/// builds the pinned binaries into a cache on first use and reports progress on stderr).
pub fn bin_dir() -> anyhow::Result<PathBuf> {
    let dir = match std::env::var_os(BIN_DIR_ENV) {
        Some(dir) => PathBuf::from(dir),
        None => run_build_script()?,
    };
    for name in REQUIRED {
        if !dir.join(name).is_file() {
            bail!(
                "{} has no {name} binary (set {BIN_DIR_ENV} or run hack/controlplane.sh)",
                dir.display()
            );
        }
    }
    Ok(dir)
}

fn run_build_script() -> anyhow::Result<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("hack/controlplane.sh");
    if !script.is_file() {
        bail!(
            "{BIN_DIR_ENV} is unset and {} does not exist; point {BIN_DIR_ENV} at a directory with {}",
            script.display(),
            REQUIRED.join(", ")
        );
    }
    let output = Command::new("bash")
        .arg(&script)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !output.status.success() {
        bail!("{} failed with {}", script.display(), output.status);
    }
    let stdout = String::from_utf8(output.stdout).context("controlplane.sh printed non-UTF-8")?;
    let dir = stdout.lines().last().unwrap_or_default().trim();
    if dir.is_empty() {
        bail!("{} printed no bin directory", script.display());
    }
    Ok(PathBuf::from(dir))
}
