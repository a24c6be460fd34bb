//! The `scim-operator` binary: wires the library's pieces to a command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use scim_operator::dev::{self, DevArgs};
use scim_operator::metrics::Metrics;
use scim_operator::serve::{self, ServeArgs};
use scim_operator::telemetry::{self, LogFormat};
use scim_operator::{api, audit, export};

/// jemalloc in every build, the static musl image included: at 50,000 users musl's malloc cost
/// the operator 29% more CPU and glibc's kept the chunks of replaced cache objects (every watch
/// event replaces one) until trimmed; jemalloc used the least of both. One allocator everywhere
/// also means the benchmarks measure the binary that ships. See BENCHMARKS.md, "Memory".
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings, read at its start (`_RJEM_MALLOC_CONF` in the environment overrides
/// them): freed pages go back to the OS after a second rather than ten, by a background thread
/// (without one, pages are returned only when their arena is used again, so an idle operator
/// kept its busiest moment's pages: at 10,000 users −17% settled RSS), and a fixed number of
/// arenas, since jemalloc would otherwise size them by the node's CPUs, not the Pod's.
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: &[u8; 70] = b"narenas:2,dirty_decay_ms:1000,muzzy_decay_ms:0,background_thread:true\0";

#[derive(Parser)]
#[command(name = "scim-operator", version, about)]
struct Cli {
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "text", global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the SCIM endpoint (and, unless --no-controller, run the controller as leader).
    Serve(ServeArgs),
    /// Start a local control plane with the CRDs, a demo Directory and the operator, in the foreground.
    Dev(DevArgs),
    /// Print the CustomResourceDefinitions as YAML, or write one file per kind with --write.
    Crd {
        /// Directory to write `scim-operator.io_<plural>.yaml` files into.
        #[arg(long)]
        write: Option<PathBuf>,
    },
    /// Write a directory's provisioned state (Workspaces, RoleBindings) as clean YAML for GitOps review.
    Export(ExportArgs),
}

/// Arguments of `export`; see `scim_operator::export`.
#[derive(clap::Args)]
struct ExportArgs {
    /// Namespace of the Directory.
    #[arg(long, short = 'n')]
    namespace: String,
    /// Only this Directory's objects (the namespace's only Directory when unset).
    #[arg(long)]
    directory: Option<String>,
    /// Also export Users and Groups (personal data: mind where the output goes).
    #[arg(long)]
    include_users_groups: bool,
    /// Output folder; files go to `<out>/<namespace>/<kind>/<name>.yaml`.
    #[arg(long, required_unless_present = "git", conflicts_with = "git")]
    out: Option<PathBuf>,
    /// Keep running: export every change and commit it to the Git working tree given by --git.
    #[arg(long, requires = "git")]
    watch: bool,
    /// A Git working tree (`git init` when it is none) to export into, with --watch: one commit
    /// per change, naming the SCIM requests behind it. Only `<git>/<namespace>/` is committed.
    #[arg(long, requires = "watch")]
    git: Option<PathBuf>,
    /// Milliseconds without a change before changes are committed together.
    #[arg(long, default_value_t = 1500)]
    quiet_ms: u64,
    /// Author and committer of the commits.
    #[arg(long, default_value = "scim-operator <scim-operator@localhost>")]
    git_author: audit::Author,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd { write } => write_crds(write),
        Command::Export(args) => tokio::runtime::Runtime::new()?.block_on(async {
            let client = kube::Client::try_default().await?;
            let options = export::ExportOptions {
                directory: args.directory,
                include_users_groups: args.include_users_groups,
            };
            let (Some(out), None) = (&args.out, &args.git) else {
                telemetry::init(cli.log_format);
                let tree = args.git.expect("clap: --out or --git");
                let options = audit::AuditOptions {
                    export: options,
                    quiet: std::time::Duration::from_millis(args.quiet_ms),
                    author: args.git_author,
                    ..Default::default()
                };
                let (progress, _) = tokio::sync::watch::channel(audit::Progress::default());
                let shutdown = serve::shutdown_signal();
                return audit::watch(client, &args.namespace, &options, &tree, progress, shutdown).await;
            };
            let summary = export::export(&client, &args.namespace, &options, out).await?;
            eprintln!(
                "export: {} written, {} unchanged, {} removed",
                summary.written.len(),
                summary.unchanged,
                summary.removed.len()
            );
            Ok(())
        }),
        Command::Dev(args) => {
            telemetry::init(cli.log_format);
            dev::run(args)
        }
        Command::Serve(args) => {
            telemetry::init(cli.log_format);
            tokio::runtime::Runtime::new()?.block_on(async {
                let client = kube::Client::try_default().await?;
                let metrics = Metrics::default();
                serve::run(client, args, metrics, serve::shutdown_signal(), None).await
            })
        }
    }
}

fn write_crds(dir: Option<PathBuf>) -> anyhow::Result<()> {
    for crd in api::crds() {
        let yaml = api::crd_yaml(&crd);
        match &dir {
            Some(dir) => std::fs::write(dir.join(api::crd_file_name(&crd)), yaml)?,
            None => print!("---\n{yaml}"),
        }
    }
    Ok(())
}
