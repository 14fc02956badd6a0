//! Reference deployment of a sector manager: the chain side of sealing,
//! served to workers over JSON-RPC.
//!
//! ```text
//! cargo run --release --example sector-manager -- run --config examples/sector-manager.toml
//! cargo run --release --example sector-manager -- token --perm write --config examples/sector-manager.toml
//! ```
//!
//! `run` opens the embedded devnet and the sector manager (both durable
//! under `chain.state_dir`), makes sure the Groth16 parameters of every
//! miner's proof type are in the parameter cache (random test parameters
//! are generated for 2KiB/8MiB), serves the worker API (`Venus.*`, JWT:
//! write for worker methods, read for `Venus.WorkerPing`) and stops
//! cleanly on SIGTERM/SIGINT. `token` prints a JWT for the workers.

mod config;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use venus_seal::backends::params::{GenerationPolicy, ParameterCache};
use venus_seal::backends::LocalSealVerifier;
use venus_seal::chain::manager::{BatchPolicy, ManagerStore, NumberRange, SqlManagerStore};
use venus_seal::chain::{
    DevnetChain, DevnetConfig, DevnetMiner, LocalSectorManager, ManagedMiner, ManagerConfig,
    DEVNET_NETWORK,
};
use venus_seal::core::{NetworkParams, SealProof, SectorManager};
use venus_seal::rpc::{serve_manager, Permission, Secret};

use config::{BatchSection, ChainSection, Config, StoreSection};

/// A venus-seal sector manager: allocates sector numbers, draws tickets
/// and seeds, and sends pre-commits and proofs for the workers that call
/// its JSON-RPC API.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the worker API until SIGTERM/SIGINT.
    Run {
        /// The manager's TOML config (see examples/sector-manager.toml).
        #[arg(long)]
        config: PathBuf,
    },
    /// Print a JWT for the worker API, signed with the manager's secret
    /// (workers need write).
    Token {
        /// The manager's config (for rpc.secret_file).
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,storage_proofs_core=warn,storage_proofs_porep=warn,filecoin_proofs=warn,bellperson=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Run { config } => run(Config::load(&config)?).await,
        Command::Token { config, perm, name } => {
            let config = Config::load(&config)?;
            let secret =
                Secret::load_or_create(&config.rpc.secret_file).context("rpc.secret_file")?;
            println!(
                "{}",
                secret.token(perm, Some(name.as_deref().unwrap_or("sector-manager-cli")))
            );
            Ok(())
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let ChainSection::EmbeddedDevnet {
        block_time,
        pre_commit_challenge_delay,
        state_dir,
    } = &config.chain;

    // Parameters first: the verifier needs those of every proof served.
    let params = Arc::new(ParameterCache::from_env());
    params.activate().context("parameter cache")?;
    let mut proofs: Vec<SealProof> = Vec::new();
    for m in &config.miners {
        if !proofs.contains(&m.proof) {
            proofs.push(m.proof);
        }
    }
    for proof in proofs {
        tracing::info!(%proof, "checking Groth16 parameters");
        let p = params.clone();
        tokio::task::spawn_blocking(move || p.ensure_seal(proof, GenerationPolicy::TestSizes))
            .await?
            .with_context(|| format!("parameters for {proof}"))?;
    }
    let verifier = Arc::new(LocalSealVerifier::with_parameters(params.clone()));

    // The chain and the manager, both durable under state_dir.
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("chain.state_dir {}", state_dir.display()))?;
    let chain = DevnetChain::open(
        DevnetConfig {
            block_time: Some(*block_time),
            network: NetworkParams {
                block_delay_secs: 0,
                pre_commit_challenge_delay: *pre_commit_challenge_delay,
                ..DEVNET_NETWORK
            },
            miners: config
                .miners
                .iter()
                .map(|m| DevnetMiner {
                    id: m.id,
                    allowed_proofs: vec![m.proof],
                })
                .collect(),
            state_file: Some(state_dir.join("devnet.json")),
            ..DevnetConfig::default()
        },
        verifier.clone(),
    )
    .context("opening the devnet")?;
    chain.start_clock()?;
    let batch = |b: Option<BatchSection>| {
        b.map_or(BatchPolicy::IMMEDIATE, |b| {
            BatchPolicy::batched(b.threshold, b.max_wait)
        })
    };
    let miners = config
        .miners
        .iter()
        .map(|m| {
            let mut miner = ManagedMiner::new(m.id, m.proof)
                .with_batching(batch(m.pre_commit_batch), batch(m.prove_commit_batch))
                .with_aggregation((m.aggregate_from > 0).then_some(m.aggregate_from));
            if let Some(n) = m.numbers {
                // Checked when the config was loaded.
                if let Ok(range) = NumberRange::new(n.start, n.end) {
                    miner = miner.with_numbers(range);
                }
            }
            miner
        })
        .collect();
    let store: Arc<dyn ManagerStore> = match &config.store {
        None => Arc::new(SqlManagerStore::open_sqlite(state_dir.join("manager.db")).await?),
        Some(StoreSection::Sqlite { path }) => Arc::new(
            SqlManagerStore::open_sqlite(path)
                .await
                .with_context(|| format!("store.path {}", path.display()))?,
        ),
        Some(StoreSection::Postgres { url }) => {
            Arc::new(SqlManagerStore::connect(url).await.context("store.url")?)
        }
    };
    tracing::info!(store = ?store, sectors = store.sector_count().await?, "manager state opened");
    let manager: Arc<dyn SectorManager> = LocalSectorManager::new(
        ManagerConfig::new(miners),
        store,
        chain.clone(),
        chain.clone(),
        verifier,
    );

    let secret = Secret::load_or_create(&config.rpc.secret_file).context("rpc.secret_file")?;
    let (addr, server) = serve_manager(config.rpc.listen, manager, secret).await?;
    tracing::info!(
        %addr,
        head = chain.current_epoch(),
        miners = ?config.miners.iter().map(|m| m.id.to_string()).collect::<Vec<_>>(),
        "sector manager serving the worker API (get a worker token with `token --perm write`)"
    );

    tokio::select! {
        _ = shutdown_signal() => {}
        _ = server.clone().stopped() => {
            anyhow::bail!("the JSON-RPC server stopped unexpectedly");
        }
    }
    let _ = server.stop();
    server.stopped().await;
    chain.stop_clock();
    tracing::info!(head = chain.current_epoch(), "sector manager stopped");
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
    tracing::info!("signal received: stopping (state is saved after every change)");
}
