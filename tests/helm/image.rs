//! The container image `hack/image.sh` writes (a `docker save`-style tar): its config matches the
//! Dockerfile (user, entrypoint, command, ports, labels), it is small, and the binary inside is
//! static and runs. Versions of crate, chart and image agree.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::chart::{chart_dir, find, render};

const VERSION: &str = env!("CARGO_PKG_VERSION");
const BINARY: &str = "/usr/local/bin/scim-operator";

/// The image tar: `$SCIM_OPERATOR_IMAGE` (hack/test.sh builds it first), else built now.
fn image_tar() -> PathBuf {
    if let Ok(path) = std::env::var("SCIM_OPERATOR_IMAGE") {
        return PathBuf::from(path);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("hack/image.sh");
    let output = Command::new(script).output().expect("hack/image.sh runs");
    assert!(
        output.status.success(),
        "hack/image.sh: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

/// Extracts a tar into `dir`.
fn untar(tar: &Path, dir: &Path) {
    let status = Command::new("tar")
        .arg("-xf")
        .arg(tar)
        .arg("-C")
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success(), "tar -xf {}", tar.display());
}

/// The final stage's instructions of the Dockerfile: (instruction, rest of the line).
fn dockerfile_final_stage() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile")).unwrap();
    let joined = text.replace("\\\n", " ");
    let stage = joined.rsplit_once("\nFROM ").expect("a multi-stage Dockerfile").1;
    stage
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| {
            let (instruction, rest) = l.trim().split_once(' ').unwrap_or((l.trim(), ""));
            (instruction.to_string(), rest.trim().to_string())
        })
        .collect()
}

/// The values of one instruction of the final stage.
fn instruction(stage: &[(String, String)], name: &str) -> Vec<String> {
    stage
        .iter()
        .filter(|(i, _)| i == name)
        .map(|(_, r)| r.clone())
        .collect()
}

/// Whether an ELF file asks for a dynamic loader (has a PT_INTERP program header).
fn has_interpreter(elf: &[u8]) -> bool {
    assert_eq!(&elf[..4], b"\x7fELF", "an ELF binary");
    assert_eq!(elf[4], 2, "64-bit ELF");
    let u16_at = |at: usize| u16::from_le_bytes(elf[at..at + 2].try_into().unwrap()) as usize;
    let phoff = u64::from_le_bytes(elf[32..40].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(54), u16_at(56));
    (0..phnum).any(|i| {
        let at = phoff + i * phentsize;
        u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) == 3 // PT_INTERP
    })
}

#[test]
fn image_tar_matches_the_dockerfile_and_runs() {
    let tar = image_tar();
    let size = std::fs::metadata(&tar).unwrap().len();
    assert!(size < 30 << 20, "image is {size} bytes, over 30 MiB");
    let dir = tempfile::tempdir().unwrap();
    untar(&tar, dir.path());

    let manifest: Value = serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    let manifest = &manifest[0];
    assert_eq!(
        manifest["RepoTags"][0].as_str(),
        Some(format!("ghcr.io/scim-operator/scim-operator:{VERSION}").as_str()),
        "the chart's default image"
    );
    let config: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join(manifest["Config"].as_str().unwrap())).unwrap()).unwrap();
    assert_eq!(config["os"], "linux");
    let config = &config["config"];

    // Same user, entrypoint, command, ports and labels as the Dockerfile's final stage.
    let stage = dockerfile_final_stage();
    let user = config["User"].as_str().unwrap();
    assert_eq!(instruction(&stage, "USER"), [user]);
    let uid: u32 = user.split(':').next().unwrap().parse().expect("a numeric UID");
    assert_ne!(uid, 0, "runs as non-root");
    let entrypoint: Value = serde_json::from_str(&instruction(&stage, "ENTRYPOINT")[0]).unwrap();
    assert_eq!(config["Entrypoint"], entrypoint);
    assert_eq!(entrypoint[0], BINARY);
    let cmd: Value = serde_json::from_str(&instruction(&stage, "CMD")[0]).unwrap();
    assert_eq!(config["Cmd"], cmd);
    let ports: BTreeSet<String> = instruction(&stage, "EXPOSE")
        .iter()
        .flat_map(|l| l.split_whitespace().map(|p| format!("{p}/tcp")).collect::<Vec<_>>())
        .collect();
    let exposed: BTreeSet<String> = config["ExposedPorts"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(exposed, ports);
    let label_keys: BTreeSet<String> = instruction(&stage, "LABEL")
        .iter()
        .flat_map(|l| {
            l.split_whitespace()
                .filter_map(|kv| kv.split_once('=').map(|(k, _)| k.to_string()))
                .collect::<Vec<_>>()
        })
        .collect();
    let labels = config["Labels"].as_object().unwrap();
    assert_eq!(labels.keys().cloned().collect::<BTreeSet<_>>(), label_keys);
    for key in ["source", "version", "revision"] {
        assert!(
            label_keys.contains(&format!("org.opencontainers.image.{key}")),
            "OCI label {key}"
        );
    }
    assert_eq!(labels["org.opencontainers.image.version"], VERSION);
    let revision = labels["org.opencontainers.image.revision"].as_str().unwrap();
    assert!(
        revision.len() == 40 && revision.chars().all(|c| c.is_ascii_hexdigit()),
        "the commit: {revision}"
    );

    // One layer holding the static binary; it runs.
    let layers = manifest["Layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir(&rootfs).unwrap();
    untar(&dir.path().join(layers[0].as_str().unwrap()), &rootfs);
    let binary = rootfs.join(BINARY.trim_start_matches('/'));
    assert!(
        !has_interpreter(&std::fs::read(&binary).unwrap()),
        "the binary is static: a scratch image has no loader"
    );
    let output = Command::new(&binary).arg("--version").output().unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("scim-operator {VERSION}")
    );
    let crds = Command::new(&binary).arg("crd").output().unwrap();
    assert!(String::from_utf8_lossy(&crds.stdout).contains("kind: CustomResourceDefinition"));
    // No shell, nothing but the binary and /tmp.
    assert!(!rootfs.join("bin/sh").exists());
}

/// Whether the check above can fail: a dynamically linked binary, the system's shell, has an
/// interpreter (the tests themselves are static: hack/test.sh builds them for musl).
#[test]
fn a_dynamic_binary_is_detected() {
    let shell = std::fs::read("/bin/sh").unwrap();
    assert!(has_interpreter(&shell), "/bin/sh links libc dynamically");
}

#[test]
fn versions_of_crate_chart_and_image_agree() {
    let chart: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(chart_dir().join("Chart.yaml")).unwrap()).unwrap();
    assert_eq!(
        chart["appVersion"].as_str(),
        Some(VERSION),
        "Chart.yaml appVersion = Cargo.toml version"
    );
    assert_eq!(
        chart["version"].as_str(),
        Some(VERSION),
        "Chart.yaml version = Cargo.toml version"
    );
    let stage = dockerfile_final_stage();
    assert!(
        instruction(&stage, "ARG").contains(&format!("VERSION={VERSION}")),
        "the Dockerfile's default VERSION label"
    );
    let objects = render(&[]);
    let deployment = find(&objects, "Deployment", "rel-scim-operator");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"].as_str(),
        Some(format!("ghcr.io/scim-operator/scim-operator:{VERSION}").as_str()),
        "the default image is the published one of this version"
    );
}
