//! Reference deployment of a remote C2 service: proves C2 on this
//! machine (GPU with the `cuda`/`opencl` features) for the workers that
//! point their c2 stage at it.
//!
//! ```text
//! cargo run --release --example c2-service -- run --config examples/c2-service.toml
//! cargo run --release --example c2-service -- token --perm write --config examples/c2-service.toml
//! ```
//!
//! `run` opens the task queue (SQLite, or PostgreSQL shared by several
//! nodes), checks the Groth16 parameters of the configured proof types
//! (random test parameters are generated for 2KiB/8MiB), serves
//! `POST /v1/c2`, `GET /v1/c2/{id}`, `GET /v1/c2/{id}/proof` (JWT: write to
//! submit, read to poll) and on SIGTERM/SIGINT stops taking tasks, hands
//! the running ones back to the queue and exits. `token` prints a JWT for
//! the workers.

mod config;

#[path = "../common/logging.rs"]
mod logging;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use venus_seal::backends::params::{GenerationPolicy, ParameterCache};
use venus_seal::backends::remote_c2::{check_c1_output, C2Service, C2TaskStore};
use venus_seal::backends::LocalExecutor;
use venus_seal::rpc::{Permission, Secret};

use config::{Config, QueueSection};

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
        #[arg(long)]
        name: Option<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    logging::init("");
    match cli.command {
        Command::Run { config } => {
            run(Config::load(&config)?).await?;
            // A proof still running on a blocking thread would keep the
            // runtime alive: its task is back in the queue, so just exit.
            std::process::exit(0)
        }
        Command::Token { config, perm, name } => {
            let config = Config::load(&config)?;
            let secret = Secret::load_or_create(&config.service.secret_file)
                .context("service.secret_file")?;
            println!(
                "{}",
                secret.token(perm, Some(name.as_deref().unwrap_or("c2-service-cli")))
            );
            Ok(())
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let params = Arc::new(match &config.params.dir {
        Some(dir) => ParameterCache::new(dir),
        None => ParameterCache::from_env(),
    });
    params.activate().context("parameter cache")?;
    let policy = if config.params.generate_test_sizes {
        GenerationPolicy::TestSizes
    } else {
        GenerationPolicy::Never
    };
    for &proof in &config.params.proofs {
        tracing::info!(%proof, "checking Groth16 parameters");
        let p = params.clone();
        tokio::task::spawn_blocking(move || p.ensure_seal(proof, policy))
            .await?
            .with_context(|| format!("parameters for {proof}"))?;
    }

    let store = match &config.queue {
        QueueSection::Sqlite { path } => C2TaskStore::open_sqlite(path)
            .await
            .with_context(|| format!("queue.path {}", path.display()))?,
        QueueSection::Postgres { url } => C2TaskStore::connect(url).await.context("queue.url")?,
    };
    tracing::info!(queue = ?store, tasks = ?store.counts().await?, "C2 queue opened");
    let secret =
        Secret::load_or_create(&config.service.secret_file).context("service.secret_file")?;
    let service = C2Service::new(
        store,
        LocalExecutor::with_parameters(params),
        secret,
        config.service_config(),
    )
    .with_c1_check(check_c1_output);
    let listener = tokio::net::TcpListener::bind(config.service.listen)
        .await
        .with_context(|| format!("service.listen {}", config.service.listen))?;
    service.serve(listener, shutdown_signal()).await?;
    tracing::info!("C2 service stopped");
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
    tracing::info!("signal received: stopping (running tasks go back to the queue)");
}
