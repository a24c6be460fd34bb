//! The `dev` command: everything a newcomer needs on one machine. Starts a real control plane
//! (etcd + kube-apiserver), installs the CRDs, creates a demo Directory with a generated token, runs
//! the operator in the foreground and prints how to connect. Ctrl-C stops it all within seconds.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
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

/// Options of `scim-operator dev`. Unlike `serve`, it listens on loopback unless told otherwise:
/// the demo token is printed on the terminal.
#[derive(Clone, Debug, clap::Args)]
#[command(
    mut_arg("listen", |a| a.default_value("127.0.0.1:8080")),
    mut_arg("probe_listen", |a| a.default_value("127.0.0.1:9090"))
)]
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
    /// Run the operator as its chart's two Pods on a real single-node cluster instead
    /// (`hack/node.sh demo`: the image from `hack/image.sh`, a Directory `idp/entra`, the Service
    /// on the --listen port of 127.0.0.1). Needs root.
    #[arg(long)]
    pub cluster: bool,
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

/// How long the operator may drain requests and release its Lease after Ctrl-C before the control
/// plane is stopped anyway.
const GRACE: Duration = Duration::from_secs(5);

/// The shutdown signal, shared by the startup steps, the server and the final wait.
type Shutdown = Shared<BoxFuture<'static, ()>>;

/// Runs the local environment until Ctrl-C (or SIGTERM); then stops the operator, kube-apiserver
/// and etcd, in that order, and removes their data.
pub fn run(args: DevArgs) -> anyhow::Result<()> {
    if args.cluster {
        return run_cluster(&args);
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let (control_plane, result) = runtime.block_on(start_and_serve(args));
    // The operator's watches are tasks of this runtime: end them before the API server goes, or
    // they report its disappearance as errors.
    runtime.shutdown_timeout(Duration::from_secs(1));
    if let Some(control_plane) = control_plane {
        control_plane.stop();
    }
    result
}

/// `--cluster`: becomes `hack/node.sh demo`, which prints the Tenant URL and token and tears the
/// node down on Ctrl-C.
fn run_cluster(args: &DevArgs) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("hack/node.sh");
    let run_dir = std::env::temp_dir().join("scim-operator-demo");
    let port = args.serve.listen.port().to_string();
    let error = std::process::Command::new("bash")
        .arg(&script)
        .arg("demo")
        .arg(&run_dir)
        .arg(&port)
        .exec();
    Err(anyhow::anyhow!("running {}: {error}", script.display()))
}

async fn start_and_serve(args: DevArgs) -> (Option<ControlPlane>, anyhow::Result<()>) {
    // Listening before anything starts, so a Ctrl-C during startup also stops cleanly. The
    // control plane's processes have their own process group: the terminal's Ctrl-C reaches only
    // this process, which stops them once the operator no longer needs the API server.
    let shutdown: Shutdown = serve::shutdown_signal().boxed().shared();
    eprintln!("starting etcd and kube-apiserver (the first run builds them, see hack/controlplane.sh)…");
    let control_plane = tokio::select! {
        control_plane = ControlPlane::start() => match control_plane {
            Ok(control_plane) => control_plane,
            Err(e) => return (None, Err(e)),
        },
        () = shutdown.clone() => return (None, Ok(())),
    };
    let result = run_on(&control_plane, &args, shutdown).await;
    (Some(control_plane), result)
}

async fn run_on(control_plane: &ControlPlane, args: &DevArgs, shutdown: Shutdown) -> anyhow::Result<()> {
    let client = control_plane.client().await?;
    let token = tokio::select! {
        token = async {
            install_crds(&client).await?;
            create_demo_directory(&client, &args.namespace, &args.directory).await
        } => token?,
        () = shutdown.clone() => return Ok(()),
    };

    std::fs::create_dir_all(&args.state_dir)?;
    let kubeconfig = std::path::absolute(args.state_dir.join("kubeconfig"))?;
    // Both files hold credentials: readable by their owner only.
    write_private(&kubeconfig, &std::fs::read(control_plane.kubeconfig_path())?)?;
    let scim_url = format!(
        "http://{}/scim/v2/{}/{}",
        display_addr(args.serve.listen),
        args.namespace,
        args.directory
    );
    let connection = json!({"scimUrl": scim_url, "token": token, "kubeconfig": kubeconfig});
    let connection_file = args.state_dir.join("connection.json");

    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let mut server = tokio::spawn(serve::run(
        client,
        args.serve.clone(),
        Metrics::default(),
        shutdown.clone(),
        Some(ready_tx),
    ));
    // Print only once the endpoint answers, so the printed URL works when read.
    let mut ended = None; // the server's result, if it ended (failed) before it was ready
    let ready = tokio::select! {
        ready = ready_rx => ready.is_ok(),
        () = shutdown.clone() => false,
        result = &mut server => {
            ended = Some(result);
            false
        }
    };
    if ready {
        write_private(
            &connection_file,
            (serde_json::to_string_pretty(&connection)? + "\n").as_bytes(),
        )?;
        let kubectl = kubectl_command(control_plane.bin_dir());
        println!(
            "{}",
            banner(
                &scim_url,
                &token,
                &kubeconfig,
                &kubectl,
                &connection_file,
                &args.namespace
            )
        );
    }
    let ended = match ended {
        Some(result) => Some(result),
        None => tokio::select! {
            result = &mut server => Some(result),
            () = async { shutdown.clone().await; tokio::time::sleep(GRACE).await } => None,
        },
    };
    let result = match ended {
        Some(result) => result.map_err(anyhow::Error::from).and_then(|r| r),
        None => {
            tracing::warn!(grace = ?GRACE, "the operator did not stop in time; stopping the control plane anyway");
            server.abort();
            Ok(())
        }
    };
    // Both files point at a control plane that is about to be gone.
    let _ = std::fs::remove_file(&connection_file);
    let _ = std::fs::remove_file(&kubeconfig);
    let _ = std::fs::remove_dir(&args.state_dir); // only if empty
    result
}

/// What to paste into Entra ID and Okta, and the command that shows the provisioned state.
fn banner(
    scim_url: &str,
    token: &str,
    kubeconfig: &Path,
    kubectl: &str,
    connection_file: &Path,
    namespace: &str,
) -> String {
    format!(
        "\nscim-operator is running against a local control plane.\n\n\
         Microsoft Entra ID (Enterprise application > Provisioning > Admin Credentials):\n  \
         Tenant URL:    {scim_url}\n  \
         Secret Token:  {token}\n\
         Okta (app > Provisioning > Integration: SCIM 2.0, Authentication Mode \"HTTP Header\"):\n  \
         Base URL:      {scim_url}\n  \
         API token:     {token}   (sent as \"Authorization: Bearer <token>\")\n\
         Entra and Okta connect only to public HTTPS URLs: put a tunnel in front to use them.\n\n\
         State:\n  \
         export KUBECONFIG={}\n  \
         {kubectl} get scim -n {namespace}\n\n\
         The same as JSON: {}\n\
         Try: curl -s -H \"Authorization: Bearer {token}\" '{scim_url}/Users'\n\n\
         Ctrl-C stops everything.",
        kubeconfig.display(),
        connection_file.display(),
    )
}

/// `kubectl` when one is on `PATH`, else the one built with the control plane.
fn kubectl_command(bin_dir: &Path) -> String {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("kubectl").is_file()));
    if on_path {
        "kubectl".into()
    } else {
        bin_dir.join("kubectl").display().to_string()
    }
}

/// Writes `contents` to a file only its owner can read.
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    options.open(path)?.write_all(contents)
}

/// `0.0.0.0` is not an address to connect to; show loopback instead.
fn display_addr(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("127.0.0.1:{}", addr.port())
    } else {
        addr.to_string()
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::DevArgs;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        dev: DevArgs,
    }

    #[test]
    fn listens_on_loopback_unless_told_otherwise() {
        let dev = Cli::try_parse_from(["dev"]).unwrap().dev;
        assert_eq!(dev.serve.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(dev.serve.probe_listen.to_string(), "127.0.0.1:9090");
        let dev = Cli::try_parse_from(["dev", "--listen", "0.0.0.0:8081"]).unwrap().dev;
        assert_eq!(dev.serve.listen.to_string(), "0.0.0.0:8081");
    }
}
