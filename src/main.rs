//! The `scim-operator` binary: wires the library's pieces to a command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use scim_operator::api;
use scim_operator::dev::{self, DevArgs};
use scim_operator::metrics::Metrics;
use scim_operator::serve::{self, ServeArgs};
use scim_operator::telemetry::{self, LogFormat};

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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd { write } => write_crds(write),
        Command::Dev(args) => {
            telemetry::init(cli.log_format);
            tokio::runtime::Runtime::new()?.block_on(dev::run(args))
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
