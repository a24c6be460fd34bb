//! Shared pieces of the integration tests: one real control plane per test binary, the CRDs
//! applied once, a fresh namespace per test, and kubectl.
#![allow(dead_code)] // each test binary uses a different subset

use std::time::Duration;

use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use scim_operator::envtest::ControlPlane;
use tokio::sync::OnceCell;

/// How long to wait for the API server to reach a condition before failing.
pub const WAIT: Duration = Duration::from_secs(30);

/// The control plane of this test binary, started on first use. Stopped by the envtest exit hook.
pub async fn control_plane() -> &'static ControlPlane {
    static CONTROL_PLANE: OnceCell<Result<ControlPlane, String>> = OnceCell::const_new();
    let started = CONTROL_PLANE
        .get_or_init(|| async {
            let cp = ControlPlane::start().await.map_err(|e| format!("{e:#}"))?;
            eprintln!("envtest: control plane ready in {:?}", cp.startup_time());
            Ok(cp)
        })
        .await;
    match started {
        Ok(cp) => cp,
        Err(e) => panic!("control plane failed to start: {e}"),
    }
}

/// An admin client for the calling test's runtime, with the CRDs installed and served.
pub async fn client() -> kube::Client {
    let cp = control_plane().await;
    let client = cp.client().await.expect("admin client");
    static CRDS: OnceCell<()> = OnceCell::const_new();
    CRDS.get_or_init(|| async {
        let started = std::time::Instant::now();
        apply_crds(&client).await.expect("CRDs applied and established");
        eprintln!("envtest: CRDs established and discoverable in {:?}", started.elapsed());
    })
    .await;
    client
}

/// Applies every CRD in `crds/` by server-side apply (idempotent), then waits until each is
/// Established and its resources are in discovery.
pub async fn apply_crds(client: &kube::Client) -> anyhow::Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let mut crds = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        let crd: CustomResourceDefinition = serde_saphyr::from_str(&std::fs::read_to_string(&path)?)
            .with_context(|| format!("parsing {}", path.display()))?;
        let name = crd.metadata.name.clone().context("CRD without a name")?;
        let params = PatchParams::apply("scim-operator-tests").force();
        api.patch(&name, &params, &Patch::Apply(&crd))
            .await
            .with_context(|| format!("applying {}", path.display()))?;
        crds.push(crd);
    }
    // All were applied before waiting, so they become Established concurrently.
    let mut plurals = Vec::new();
    for crd in crds {
        let name = crd.metadata.name.unwrap_or_default();
        let established = await_condition(api.clone(), &name, conditions::is_crd_established());
        tokio::time::timeout(WAIT, established)
            .await
            .with_context(|| format!("{name} not Established within {WAIT:?}"))??;
        plurals.push(crd.spec.names.plural);
    }
    // Established precedes discovery by a moment; kubectl needs discovery.
    let gv = format!("{}/{}", scim_operator::api::GROUP, scim_operator::api::VERSION);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let served = match client.list_api_group_resources(&gv).await {
            Ok(list) => plurals.iter().all(|p| list.resources.iter().any(|r| &r.name == p)),
            Err(_) => false,
        };
        if served {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("{gv} does not serve all of {plurals:?} after {WAIT:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Creates a namespace of its own for one test: `<prefix>-<random>`.
pub async fn fresh_namespace(client: &kube::Client, prefix: &str) -> String {
    let name = format!("{prefix}-{:08x}", rand::random::<u32>());
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .expect("create namespace");
    name
}

/// Runs kubectl (admin) against the control plane; its stdout, or an error with its stderr.
pub async fn kubectl(args: &[&str]) -> anyhow::Result<String> {
    let command = control_plane().await.kubectl(args);
    let output = tokio::process::Command::from(command).output().await?;
    if !output.status.success() {
        bail!(
            "kubectl {} failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8(output.stdout)?)
}
pub mod scim;
