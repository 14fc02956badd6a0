//! Reference deployment of a sealing worker.
//!
//! ```text
//! cargo run --release --bin venus-seal-worker -- run --config examples/worker.toml
//! cargo run --release --bin venus-seal-worker -- list --config examples/worker.toml
//! cargo run --release --bin venus-seal-worker -- pause 3 --config examples/worker.toml
//! cargo run --release --bin venus-seal-worker -- resume 3 --state PC1Done --config examples/worker.toml
//! cargo run --release --bin venus-seal-worker -- abort 3 --reason "bad disk" --config examples/worker.toml
//! cargo run --release --bin venus-seal-worker -- token --perm read --config examples/worker.toml
//! cargo run --release --bin venus-seal-worker -- token --perm read --ttl 24h --out ops.token --config examples/worker.toml
//! ```
//!
//! `run` seals sectors continuously ([`venus_seal::worker::Worker`]): it
//! resumes every unfinished sector at its last durable state, fills the
//! storage slots, serves the admin JSON-RPC and Prometheus metrics, and
//! stops cleanly on SIGTERM/SIGINT. The operator subcommands talk to a
//! running worker over the admin API and create no file.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use venus_seal::core::SectorState;
use venus_seal::rpc::Permission;
use venus_seal::runtime::{init_logging, shutdown_signal, unix_now, ApiArgs, TokenOutput};
use venus_seal::worker::{admin, Worker, WorkerConfig};

/// A venus-seal sealing worker.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the worker until SIGTERM/SIGINT.
    Run {
        /// The worker's TOML config (see examples/worker.toml).
        #[arg(long)]
        config: PathBuf,
    },
    /// List sectors: job, sector, state, stage, level, last error, since.
    List(ApiArgs),
    /// Park a sector (a running stage is abandoned and re-run on resume).
    Pause {
        /// The job id (from `list`).
        job: u64,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Un-park a sector, optionally moving it to a state first.
    Resume {
        /// The job id.
        job: u64,
        /// Move the sector to this state (e.g. PC1Done) before resuming.
        #[arg(long)]
        state: Option<SectorState>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Give a sector up: the manager is told, its files are removed, its
    /// slot takes a new sector.
    Abort {
        /// The job id.
        job: u64,
        /// Why (reported to the manager).
        #[arg(long, default_value = "operator request")]
        reason: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Print a JWT for the admin API, signed with the worker's secret
    /// (which `run` creates).
    Token {
        /// The worker's config (for the secret file).
        #[arg(long)]
        config: PathBuf,
        /// read, write, sign or admin.
        #[arg(long, default_value = "admin")]
        perm: Permission,
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
            let worker = Worker::build(WorkerConfig::load(&config)?).await?;
            worker.run(shutdown_signal()).await?;
            // A stage on a blocking thread would hold the runtime open: the
            // sector re-runs it from its durable state on restart.
            std::process::exit(0)
        }
        Command::List(api) => {
            let list = admin::client(&api)?.list().await?;
            print!("{}", admin::list_table(&list, unix_now()));
        }
        Command::Pause { job, api } => {
            admin::client(&api)?.pause(job).await?;
            println!("job {job} paused");
        }
        Command::Resume { job, state, api } => {
            admin::client(&api)?.resume(job, state).await?;
            println!("job {job} resumed");
        }
        Command::Abort { job, reason, api } => {
            admin::client(&api)?.abort(job, &reason).await?;
            println!("job {job} aborted");
        }
        Command::Token {
            config,
            perm,
            output,
        } => output.emit(&admin::token(&config, perm, &output)?)?,
    }
    Ok(())
}
