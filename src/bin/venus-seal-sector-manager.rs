//! Reference deployment of a sector manager: [`venus_seal::sector_manager`]
//! behind a command line (`run`, `token`, `deals add|list`, `sectors
//! abort|resend|expiring|extend|terminate`, `workers`;
//! `examples/sector-manager.toml` shows each). Only `run` creates files;
//! the other commands read the config and the secret `run` made.
//!
//! ```text
//! cargo run --release --bin venus-seal-sector-manager -- run --config examples/sector-manager.toml
//! ```

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use venus_seal::rpc::{Permission, Secret};
use venus_seal::runtime::{init_logging, shutdown_signal, ApiArgs, TokenOutput};
use venus_seal::sector_manager::operator_cli::{
    print_workers, DealsCommand, ProvingCommand, SectorsCommand,
};
use venus_seal::sector_manager::{ManagerService, SectorManagerConfig};

/// A venus-seal sector manager: allocates sector numbers, draws tickets
/// and seeds, and sends pre-commits and proofs for the workers that call
/// its JSON-RPC API.
#[derive(Parser, Debug)]
#[command(version)]
enum Cli {
    /// Serve the worker API (and, with [console], the web console) until
    /// SIGTERM/SIGINT.
    Run {
        /// The manager's TOML config (see examples/sector-manager.toml).
        #[arg(long)]
        config: PathBuf,
    },
    /// Print a JWT for the worker API, signed with the manager's secret
    /// (workers need write; the console read to look, admin to act). The
    /// manager must have started once.
    Token {
        /// The manager's config (for rpc.secret_file).
        #[arg(long)]
        config: PathBuf,
        /// read, write, sign or admin.
        #[arg(long, default_value = "write")]
        perm: Permission,
        /// A name recorded in the token (e.g. the worker's).
        #[arg(long, default_value = "sector-manager-cli")]
        name: String,
        #[command(flatten)]
        output: TokenOutput,
    },
    /// Queue deal pieces for the workers, or show the queue.
    #[command(subcommand)]
    Deals(DealsCommand),
    /// Act on the sectors the manager allocated.
    #[command(subcommand)]
    Sectors(SectorsCommand),
    /// WindowPoSt ahead of its deadline: `proving check` reads and times
    /// every sector of a deadline.
    #[command(subcommand)]
    Proving(ProvingCommand),
    /// The workers' last pings (every 30 s), the quietest first.
    Workers(ApiArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_logging("");
    const NAME: &str = "sector-manager-cli";
    match Cli::parse() {
        Cli::Run { config } => {
            let manager = ManagerService::new(SectorManagerConfig::load(&config)?);
            manager.build().await?.run(shutdown_signal()).await
        }
        Cli::Token {
            config,
            perm,
            name,
            output,
        } => {
            let config = SectorManagerConfig::load(&config)?;
            let path = &config.rpc.secret_file;
            let secret = Secret::load(path)
                .with_context(|| format!("rpc.secret_file {}", path.display()))?;
            output.emit(&output.sign(&secret, perm, &name))
        }
        Cli::Deals(command) => command.run(NAME).await,
        Cli::Sectors(command) => command.run(NAME).await,
        Cli::Proving(command) => command.run(NAME).await,
        Cli::Workers(api) => print_workers(&api, NAME).await,
    }
}
