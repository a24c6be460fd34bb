//! Running helm on the chart and reading what it renders.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The chart's directory in this repository.
pub fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/scim-operator")
}

/// `helm <args>` from the control plane's bin directory, not yet run.
pub fn helm<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let bin = scim_operator::envtest::bin_dir().expect("control plane binaries (hack/controlplane.sh)");
    let mut command = Command::new(bin.join("helm"));
    // Keep helm away from the user's repositories, cache and registry config.
    let home = std::env::temp_dir().join("scim-operator-helm-home");
    command
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .args(args);
    command
}

/// Runs `command`; its stdout, or an error with its stderr.
pub fn run(mut command: Command) -> Result<String, String> {
    let output = command.output().expect("helm/kubectl runs");
    if output.status.success() {
        Ok(String::from_utf8(output.stdout).expect("UTF-8 output"))
    } else {
        Err(format!(
            "{:?} failed ({}):\n{}{}",
            command,
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// The API version of Directory, as `helm template --api-versions` takes it.
pub const DIRECTORY_API: &str = "scim-operator.io/v1alpha1/Directory";

/// `helm template` of the chart as release `release` in `namespace` with `--set` values, as for a
/// cluster that serves the CRDs already; the YAML text.
pub fn template(release: &str, namespace: &str, sets: &[&str]) -> Result<String, String> {
    template_with(release, namespace, sets, &["--api-versions", DIRECTORY_API])
}

/// `helm template` with extra arguments.
pub fn template_with(release: &str, namespace: &str, sets: &[&str], extra: &[&str]) -> Result<String, String> {
    let mut args: Vec<String> = vec![
        "template".into(),
        release.into(),
        chart_dir().display().to_string(),
        "--namespace".into(),
        namespace.into(),
        "--kube-version".into(),
        "1.37.0".into(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    for set in sets {
        args.push("--set".into());
        args.push(set.to_string());
    }
    run(helm(args))
}

/// The rendered objects (empty documents dropped).
pub fn objects(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(yaml)
        .expect("rendered YAML parses")
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

/// Renders and parses; panics with helm's message on failure.
pub fn render(sets: &[&str]) -> Vec<Value> {
    objects(&template("rel", "ops", sets).unwrap_or_else(|e| panic!("{e}")))
}

/// The objects of one kind.
pub fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"].as_str() == Some(kind)).collect()
}

/// The one object of `kind` named `name`.
pub fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"].as_str() == Some(kind) && o["metadata"]["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no {kind} {name} rendered"))
}

/// A sequence of strings as a Vec.
pub fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|s| s.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// The chart's copy of a CRD, as hack/chart-crds.sh writes it from `crds/<file>`.
pub fn templated_crd(file: &str, source: &str) -> String {
    let (group, plural) = file
        .trim_end_matches(".yaml")
        .split_once('_')
        .expect("<group>_<plural>.yaml");
    let mut out = format!(
        "{{{{- if include \"scim-operator.renderCrd\" (list . \"{plural}.{group}\") }}}}\n\
         # Generated from crds/{file} by hack/chart-crds.sh; do not edit.\n"
    );
    for line in source.lines().filter(|l| !l.starts_with("# Generated")) {
        out.push_str(line);
        out.push('\n');
        if line == "metadata:" {
            out.push_str("  annotations:\n    helm.sh/resource-policy: keep\n  labels:\n");
            out.push_str("    {{- include \"scim-operator.labels\" . | nindent 4 }}\n");
        }
    }
    out.push_str("{{- end }}\n");
    out
}
