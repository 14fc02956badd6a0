//! The sector manager's `run`, as an example: the library calls a custom
//! binary makes to serve the worker API, the console and the rest of a
//! config (the `venus-seal-sector-manager` binary adds the operator
//! commands: `token`, `deals`, `sectors`, `workers`).
//!
//! ```text
//! cargo run --release --example sector-manager -- run --config examples/sector-manager.toml
//! ```

use std::path::PathBuf;

use clap::Parser;
use venus_seal::runtime::{init_logging, shutdown_signal};
use venus_seal::sector_manager::{ManagerService, SectorManagerConfig};

/// A venus-seal sector manager (example build).
#[derive(Parser, Debug)]
enum Cli {
    /// Serve the worker API (and, with [console], the web console) until
    /// SIGTERM/SIGINT.
    Run {
        /// The manager's TOML config (see examples/sector-manager.toml).
        #[arg(long)]
        config: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_logging("");
    let Cli::Run { config } = Cli::parse();
    let config = SectorManagerConfig::load(&config)?;
    let manager = ManagerService::new(config).build().await?;
    if let Some(console) = manager.console_addr() {
        println!("console: http://{console}/");
    }
    manager.run(shutdown_signal()).await
}
