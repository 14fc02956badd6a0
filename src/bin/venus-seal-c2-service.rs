//! Reference deployment of a remote C2 service: proves C2 on this machine
//! (GPU with the backends' `cuda`/`opencl` features) for the workers that
//! point their c2 stage at it.
//!
//! ```text
//! cargo run --release --bin venus-seal-c2-service -- run --config examples/c2-service.toml
//! cargo run --release --bin venus-seal-c2-service -- token --perm write --config examples/c2-service.toml
//! ```
//!
//! `run` ([`venus_seal::c2_service::C2Node`]) opens the task queue, checks
//! the Groth16 parameters, serves `POST /v1/c2`, `GET /v1/c2/{id}`,
//! `GET /v1/c2/{id}/proof` (JWT: write to submit, read to poll) and on
//! SIGTERM/SIGINT stops taking tasks, hands the running ones back to the
//! queue and exits. `token` prints a JWT for the workers, or writes it to
//! `--out` (mode 0600), expiring after `--ttl` when given (and creates no
//! other file: `run` creates the secret).

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use venus_seal::c2_service::{self, C2Node, C2NodeConfig};
use venus_seal::rpc::Permission;
use venus_seal::runtime::{init_logging, shutdown_signal, TokenOutput};

/// A venus-seal remote C2 service node.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve C2 until SIGTERM/SIGINT.
    Run {
        /// The service's TOML config (see examples/c2-service.toml).
        #[arg(long)]
        config: PathBuf,
    },
    /// Print a JWT signed with the service's secret (workers need write).
    Token {
        /// The service's config (for service.secret_file).
        #[arg(long)]
        config: PathBuf,
        /// read, write, sign or admin.
        #[arg(long, default_value = "write")]
        perm: Permission,
        /// A name recorded in the token (e.g. the worker's).
        #[arg(long, default_value = "c2-service-cli")]
        name: String,
        #[command(flatten)]
        output: TokenOutput,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(",sqlx=warn");
    match cli.command {
        Command::Run { config } => {
            let node = C2Node::build(C2NodeConfig::load(&config)?).await?;
            node.run(shutdown_signal()).await?;
            // A proof still running on a blocking thread would keep the
            // runtime alive: its task is back in the queue, so just exit.
            std::process::exit(0)
        }
        Command::Token {
            config,
            perm,
            name,
            output,
        } => output.emit(&c2_service::token(&config, perm, &name, &output)?),
    }
}
