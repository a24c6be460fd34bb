//! The `dev` command: everything a newcomer needs on one machine. Starts a real control plane
//! (etcd + kube-apiserver), installs the CRDs, creates a demo Directory with a generated token, runs
//! the operator in the foreground and prints how to connect. Ctrl-C stops it all.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ObjectMeta, Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::api::{self, Directory, DirectorySpec, SecretKeyRef};
use crate::envtest::ControlPlane;
use crate::metrics::Metrics;
use crate::serve::{self, ServeArgs};

/// Options of `scim-operator dev`.
#[derive(Clone, Debug, clap::Args)]
pub struct DevArgs {
    /// Namespace of the demo directory.
    #[arg(long, default_value = "demo")]
    pub namespace: String,
    /// Name of the demo directory.
    #[arg(long, default_value = "entra")]
    pub directory: String,
    /// Where to write connection.json and a copy of the kubeconfig.
    #[arg(long, default_value = ".dev")]
    pub state_dir: PathBuf,
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Field manager of what `dev` and the operator apply.
const MANAGER: &str = "scim-operator";

/// Installs (or updates) the CRDs generated from the Rust types and waits until they are served.
pub async fn install_crds(client: &Client) -> anyhow::Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in api::crds() {
        let name = crd.name_any();
        crds.patch(&name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&crd))
            .await?;
        tokio::time::timeout(
            Duration::from_secs(30),
            await_condition(crds.clone(), &name, conditions::is_crd_established()),
        )
        .await
        .with_context(|| format!("CRD {name} not established"))??;
    }
    Ok(())
}

/// Creates the demo namespace, token Secret and Directory; returns the token.
async fn create_demo_directory(client: &Client, namespace: &str, directory: &str) -> anyhow::Result<String> {
    let params = PatchParams::apply(MANAGER).force();
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(namespace.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .patch(namespace, &params, &Patch::Apply(&ns))
        .await?;
    let token = hex::encode(rand::random::<[u8; 32]>());
    let secret_name = format!("{directory}-scim-token");
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(secret_name.clone()),
            ..Default::default()
        },
        data: Some([("token".to_string(), ByteString(token.clone().into_bytes()))].into()),
        ..Default::default()
    };
    Api::<Secret>::namespaced(client.clone(), namespace)
        .patch(&secret_name, &params, &Patch::Apply(&secret))
        .await?;
    let spec = DirectorySpec {
        token_secret_ref: Some(SecretKeyRef {
            name: secret_name,
            key: None,
        }),
        ..Default::default()
    };
    Api::<Directory>::namespaced(client.clone(), namespace)
        .patch(directory, &params, &Patch::Apply(&Directory::new(directory, spec)))
        .await?;
    Ok(token)
}

/// Runs the local environment until Ctrl-C.
pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    eprintln!("starting etcd and kube-apiserver (the first run builds them, see hack/controlplane.sh)…");
    let control_plane = ControlPlane::start().await?;
    let result = run_on(&control_plane, &args).await;
    control_plane.stop();
    result
}

async fn run_on(control_plane: &ControlPlane, args: &DevArgs) -> anyhow::Result<()> {
    let client = control_plane.client().await?;
    install_crds(&client).await?;
    let token = create_demo_directory(&client, &args.namespace, &args.directory).await?;

    std::fs::create_dir_all(&args.state_dir)?;
    let kubeconfig = std::path::absolute(args.state_dir.join("kubeconfig"))?;
    std::fs::copy(control_plane.kubeconfig_path(), &kubeconfig)?;
    let scim_url = format!(
        "http://{}/scim/v2/{}/{}",
        display_addr(args.serve.listen),
        args.namespace,
        args.directory
    );
    let connection = json!({"scimUrl": scim_url, "token": token, "kubeconfig": kubeconfig});
    let connection_file = args.state_dir.join("connection.json");

    let metrics = Metrics::default();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let serve_args = args.serve.clone();
    let server = tokio::spawn(serve::run(
        client,
        serve_args,
        metrics,
        serve::shutdown_signal(),
        Some(ready_tx),
    ));
    // Print only once the endpoint answers, so the printed URL works when read.
    if ready_rx.await.is_ok() {
        std::fs::write(&connection_file, serde_json::to_string_pretty(&connection)? + "\n")?;
        println!(
            "\nscim-operator is running against a local control plane.\n\n  \
             Tenant URL:    {scim_url}\n  \
             Secret Token:  {token}\n  \
             kubectl:       export KUBECONFIG={}\n  \
             written to:    {}\n\n\
             Try:\n  curl -s -H \"Authorization: Bearer {token}\" '{scim_url}/Users'\n  \
             kubectl get scim -n {}\n\nCtrl-C stops everything.",
            kubeconfig.display(),
            connection_file.display(),
            args.namespace,
        );
    }
    server.await??;
    let _ = std::fs::remove_file(&connection_file);
    Ok(())
}

/// `0.0.0.0` is not an address to connect to; show loopback instead.
fn display_addr(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("127.0.0.1:{}", addr.port())
    } else {
        addr.to_string()
    }
}
