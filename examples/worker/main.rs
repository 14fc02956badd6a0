//! Reference deployment of a sealing worker.
//!
//! ```text
//! cargo run --release --example worker -- run --config examples/worker.toml
//! cargo run --release --example worker -- list --config examples/worker.toml
//! cargo run --release --example worker -- pause 3 --config examples/worker.toml
//! cargo run --release --example worker -- resume 3 --state PC1Done --config examples/worker.toml
//! cargo run --release --example worker -- abort 3 --reason "bad disk" --config examples/worker.toml
//! cargo run --release --example worker -- token --perm read --config examples/worker.toml
//! ```
//!
//! `run` seals sectors continuously: it resumes every unfinished sector at
//! its last durable state (SQLite), fills the storage slots of each sealing
//! location, limits each stage as configured, copies finished replicas to
//! the persistent stores, serves the admin JSON-RPC (JWT, admin permission
//! to steer) and Prometheus metrics, and stops cleanly on SIGTERM/SIGINT.
//! The operator subcommands talk to a running worker over the admin API.

mod api_args;
mod config;
mod executors;
mod hooks;

#[path = "../common/logging.rs"]
mod logging;
#[path = "../common/token.rs"]
mod token;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use venus_seal::backends::params::{GenerationPolicy, ParameterCache};
use venus_seal::backends::pieces::VerifyingPieceStore;
use venus_seal::backends::{LocalExecutor, LocalSealVerifier};
use venus_seal::chain::{
    DevnetChain, DevnetConfig, DevnetMiner, LocalSectorManager, ManagedMiner, ManagerConfig,
    SqlManagerStore,
};
use venus_seal::core::engine::limits::Limits;
use venus_seal::core::engine::metrics::EngineMetrics;
use venus_seal::core::{
    Engine, Location, MemoryPieceStore, PieceStore, RetryPolicy, Sealer, SealerConfig,
    SectorManager, SectorState, SqliteSectorStore,
};
use venus_seal::rpc::{serve_admin, AdminClient, ManagerClient, Permission, Secret};

use api_args::ApiArgs;
use config::{Config, ManagerSection};

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
    /// Print a JWT for the admin API, signed with the worker's secret.
    Token {
        /// The worker's config (for the secret file).
        #[arg(long)]
        config: PathBuf,
        /// read, write, sign or admin.
        #[arg(long, default_value = "admin")]
        perm: Permission,
    },
}

fn admin_client(api: &ApiArgs) -> anyhow::Result<AdminClient> {
    let (url, token) = api.endpoint(
        |path| {
            let c = Config::load(path)?;
            Ok((c.admin.listen, c.admin.secret_file, "admin.secret_file"))
        },
        "worker-cli",
    )?;
    Ok(AdminClient::new(url, token.as_deref())?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    logging::init(",sqlx=warn");
    match cli.command {
        Command::Run { config } => run(Config::load(&config)?).await,
        Command::List(api) => {
            let list = admin_client(&api)?.list().await?;
            println!(
                "{:>5}  {:<16} {:<20} {:<16} {:<9} {:>10}  LAST ERROR",
                "JOB", "SECTOR", "STATE", "STAGE", "LEVEL", "SINCE"
            );
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs();
            for s in list {
                let since = s
                    .since
                    .map(|t| format!("{}s ago", now.saturating_sub(t)))
                    .unwrap_or_default();
                let state = if s.paused {
                    format!("{} (paused)", s.state)
                } else {
                    s.state.to_string()
                };
                println!(
                    "{:>5}  {:<16} {:<20} {:<16} {:<9} {:>10}  {}",
                    s.job,
                    s.sector.unwrap_or_else(|| "-".into()),
                    state,
                    s.stage.unwrap_or_else(|| "-".into()),
                    s.level.map(|l| l.to_string()).unwrap_or_else(|| "-".into()),
                    since,
                    s.last_error.unwrap_or_default()
                );
            }
            Ok(())
        }
        Command::Pause { job, api } => {
            admin_client(&api)?.pause(job).await?;
            println!("job {job} paused");
            Ok(())
        }
        Command::Resume { job, state, api } => {
            admin_client(&api)?.resume(job, state).await?;
            println!("job {job} resumed");
            Ok(())
        }
        Command::Abort { job, reason, api } => {
            admin_client(&api)?.abort(job, &reason).await?;
            println!("job {job} aborted");
            Ok(())
        }
        Command::Token { config, perm } => {
            let config = Config::load(&config)?;
            let secret =
                Secret::load_or_create(&config.admin.secret_file).context("admin.secret_file")?;
            println!("{}", secret.token(perm, Some("worker-cli")));
            Ok(())
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    config.check_machine()?;
    let config = Arc::new(config);
    let proof = config.manager.proof();
    let params = Arc::new(ParameterCache::from_env());
    params.activate().context("parameter cache")?;
    let p = params.clone();
    tokio::task::spawn_blocking(move || p.ensure_seal(proof, GenerationPolicy::TestSizes))
        .await?
        .with_context(|| format!("parameters for {proof}"))?;

    let (manager, chain): (Arc<dyn SectorManager>, Option<Arc<DevnetChain>>) = match &config.manager
    {
        ManagerSection::EmbeddedDevnet {
            miner,
            proof,
            block_time,
            pre_commit_challenge_delay,
            state_dir,
        } => {
            // An embedded devnet and the in-process manager, both durable
            // under state_dir so a restarted worker finds its sectors.
            let verifier = Arc::new(LocalSealVerifier::with_parameters(params.clone()));
            std::fs::create_dir_all(state_dir)
                .with_context(|| format!("manager.state_dir {}", state_dir.display()))?;
            let chain = DevnetChain::open(
                DevnetConfig {
                    miners: vec![DevnetMiner {
                        id: *miner,
                        allowed_proofs: vec![*proof],
                    }],
                    ..DevnetConfig::clocked(
                        *block_time,
                        *pre_commit_challenge_delay,
                        state_dir.join("devnet.json"),
                    )
                },
                verifier.clone(),
            )?;
            chain.start_clock()?;
            let manager_config = ManagerConfig::new(vec![ManagedMiner::new(*miner, *proof)]);
            let store = SqlManagerStore::open_sqlite(state_dir.join("manager.db")).await?;
            let manager = LocalSectorManager::new(
                manager_config,
                Arc::new(store),
                chain.clone(),
                chain.clone(),
                verifier,
            );
            (manager, Some(chain))
        }
        ManagerSection::Remote {
            url, token_file, ..
        } => {
            let token = token::read_token("manager.token_file", token_file)?;
            let client = ManagerClient::new(url.clone(), Some(&token))?;
            tracing::info!(%url, "sector manager: remote");
            (Arc::new(client), None)
        }
    };

    // Executors: local proving or the stage's ext processors, test hooks,
    // metrics, then limits outermost (a stage waiting for a permit is not
    // timed).
    let metrics = EngineMetrics::new();
    let limits = build_limits(&config)?;
    metrics.watch_limits(limits.clone());
    let decorators = executors::Decorators {
        hooks: Arc::new(config.testing.clone()),
        metrics: metrics.clone(),
        limits,
    };
    let local = Arc::new(LocalExecutor::with_parameters(params.clone()));
    let verifier = Arc::new(LocalSealVerifier::with_parameters(params.clone()));
    let (executors, ext_processors) = executors::build(&config, local, verifier, &decorators)?;
    if !ext_processors.is_empty() {
        ext_processors.start().await?;
        tracing::info!("ext processors ready");
    }

    let store = Arc::new(
        SqliteSectorStore::open(&config.worker.state_db)
            .await
            .context("worker.state_db")?,
    );
    // Deal pieces, always verified against their PieceCID as they stream.
    let pieces: Arc<dyn PieceStore> = match &config.pieces {
        Some(p) => p.build_verified().context("[pieces]")?,
        None => {
            tracing::warn!(
                "no [pieces] in the config: a sector that gets deals will park (piece not found)"
            );
            Arc::new(VerifyingPieceStore::new(MemoryPieceStore::default()))
        }
    };
    tracing::info!(store = ?pieces, "piece store");
    let sealer = Sealer::new(
        manager,
        pieces,
        executors,
        store.clone(),
        SealerConfig {
            instance: config.worker.name.clone(),
            retry: RetryPolicy {
                recover_interval: config.retry.recover_interval,
                max_retries: config.retry.max_retries,
            },
            poll_interval: config.retry.poll_interval,
            allocate: venus_seal::core::manager::AllocateSpec {
                allowed_miners: config.manager.allowed_miners(),
                allowed_proof_types: vec![config.manager.proof()],
            },
            ..SealerConfig::default()
        },
    )
    .with_metrics(metrics.clone());
    let locations = config
        .sealing
        .iter()
        .map(|s| Location {
            path: s.path.clone(),
            slots: s.slots,
        })
        .collect();
    let mut engine = Engine::new(sealer, store, locations);
    if config.worker.max_sectors > 0 {
        engine = engine.with_max_sectors(config.worker.max_sectors);
    }
    if let Some(at) = config.worker.release_slot_at {
        let most = config.sealing.iter().map(|s| s.slots).max().unwrap_or(1);
        let in_flight = config.worker.in_flight.unwrap_or(2 * most);
        tracing::info!(%at, in_flight, "sectors give their slot back at {at}");
        engine = engine.with_slot_release(at, in_flight);
    }

    let secret = Secret::load_or_create(&config.admin.secret_file).context("admin.secret_file")?;
    let (admin_addr, admin) =
        serve_admin(config.admin.listen, Arc::new(engine.handle()), secret).await?;
    tracing::info!(%admin_addr, "admin API listening");
    let metrics_server = match &config.metrics {
        Some(m) => Some(serve_metrics(m.listen, metrics.clone()).await?),
        None => None,
    };

    tracing::info!(worker = %config.worker.name, "worker running");
    engine.run(shutdown_signal()).await?;
    // The engine has dropped its executors: kill the ext processors'
    // children before exiting (exit skips destructors).
    ext_processors.stop().await;
    tracing::info!("worker stopped");
    let _ = admin.stop();
    if let Some(server) = metrics_server {
        server.abort();
    }
    if let Some(chain) = chain {
        chain.stop_clock();
    }
    // A stage running on a blocking thread (a C2 takes minutes) would hold
    // the runtime open: its result is not needed, the sector re-runs it
    // from its durable state on restart.
    std::process::exit(0)
}

fn build_limits(config: &Config) -> anyhow::Result<Arc<Limits>> {
    Ok(Limits::new(config.stage_limits()?, BTreeMap::new()))
}

async fn serve_metrics(
    addr: std::net::SocketAddr,
    metrics: Arc<EngineMetrics>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let metrics = metrics.clone();
            async move { metrics.render() }
        }),
    );
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("metrics.listen {addr}"))?;
    tracing::info!(%addr, "metrics at /metrics");
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics server stopped");
        }
    }))
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
    tracing::info!("signal received: stopping (sectors resume where they are on restart)");
}
