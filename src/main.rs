//! The `scim-operator` binary: wires the library's pieces to a command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use scim_operator::api;

#[derive(Parser)]
#[command(name = "scim-operator", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions as YAML, or write one file per kind with --write.
    Crd {
        /// Directory to write `scim-operator.io_<plural>.yaml` files into.
        #[arg(long)]
        write: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crd { write } => write_crds(write),
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
