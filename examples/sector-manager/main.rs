//! Reference deployment of a sector manager: the chain side of sealing,
//! served to workers over JSON-RPC.
//!
//! ```text
//! cargo run --release --example sector-manager -- run --config examples/sector-manager.toml
//! cargo run --release --example sector-manager -- token --perm write --config examples/sector-manager.toml
//! cargo run --release --example sector-manager -- deals add --piece-cid baga6ea4seaq… --size 512 --deal-id 7 --miner f01000 --config examples/sector-manager.toml
//! cargo run --release --example sector-manager -- deals list --config examples/sector-manager.toml
//! cargo run --release --example sector-manager -- sectors abort --miner f01000 --number 7 --reason "disk replaced" --config examples/sector-manager.toml
//! ```
//!
//! `run` makes sure the Groth16 parameters of every miner's proof type are
//! in the parameter cache (random test parameters are generated for
//! 2KiB/8MiB; larger ones must have been fetched), opens the chain (the
//! embedded devnet, durable under `chain.state_dir`, or a Lotus / Venus
//! full node, checked at start: it answers and knows every miner, whose
//! sector size matches its proof; messages through its mpool or
//! venus-messager) and the manager's state, serves the worker API (`Venus.*`, JWT:
//! write for worker methods, read for `Venus.WorkerPing`) and stops
//! cleanly on SIGTERM/SIGINT; beside the worker API it serves the
//! operators' deal intake (`Venus.Admin.AddDeal`, admin) and, with
//! `[pieces]`, the piece proxy workers fetch deal pieces from. `token`
//! prints a JWT for the workers; `deals add|list` queue deal pieces for
//! `Venus.AcquireDeals` and show the queue; `sectors abort` gives a sector
//! up (`Venus.Admin.AbortSector`): its worker aborts it at its next state
//! report or poll.

#[path = "../worker/api_args.rs"]
mod api_args;
mod config;

#[path = "../common/logging.rs"]
mod logging;
#[path = "../common/token.rs"]
mod token;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use clap::{Parser, Subcommand};
use venus_seal::backends::params::{GenerationPolicy, ParameterCache, PoStKind};
use venus_seal::backends::persist::PersistedSectors;
use venus_seal::backends::pieces::piece_router;
use venus_seal::backends::{LocalExecutor, LocalSealVerifier};
use venus_seal::chain::manager::{
    BatchPolicy, Collateral, ManagerStore, NumberRange, SqlManagerStore,
};
use venus_seal::chain::messager::{MessagerClient, SendSpec};
use venus_seal::chain::{
    DevnetChain, DevnetConfig, DevnetMiner, LocalSectorManager, LotusClient, ManagedMiner,
    ManagerConfig, PoStExecutors, ProvingPolicy, WindowPoStScheduler, DEVNET_PROVING,
};
use venus_seal::core::manager::DealInfo;
use venus_seal::core::{
    ActorId, ChainClient, ManagerError, MessageSender, PaddedPieceSize, PieceCid, PieceInfo,
    SealProof, SectorId, SectorManager, SectorNumber,
};
use venus_seal::rpc::manager_admin::{
    serve_manager_with_admin, AdminError, DealQueueStatus, ManagerAdminApi, ManagerAdminClient,
};
use venus_seal::rpc::{Permission, Secret};

use api_args::ApiArgs;
use config::{BatchSection, ChainSection, CollateralSection, Config, StoreSection};

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
    /// Queue deal pieces for the workers, or show the queue.
    Deals {
        #[command(subcommand)]
        command: DealsCommand,
    },
    /// Act on the sectors the manager allocated.
    Sectors {
        #[command(subcommand)]
        command: SectorsCommand,
    },
}

#[derive(Subcommand, Debug)]
enum SectorsCommand {
    /// Give a sector up: its worker aborts it (and frees its slot) at its
    /// next state report or poll. A sector proven on chain or finalized
    /// cannot be aborted.
    Abort {
        /// The miner actor, e.g. f01000.
        #[arg(long)]
        miner: ActorId,
        /// The sector number.
        #[arg(long)]
        number: u64,
        /// Why, for the worker's records and logs.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        api: ApiArgs,
    },
}

#[derive(Subcommand, Debug)]
enum DealsCommand {
    /// Queue a deal piece: the next sector of the miner that has room
    /// takes it (Venus.AcquireDeals); its worker fetches the piece from
    /// its piece store and checks it against the PieceCID.
    Add {
        /// The piece's commitment (baga6ea4seaq…).
        #[arg(long)]
        piece_cid: PieceCid,
        /// The padded piece size in bytes: a power of two, at least 128
        /// (e.g. 512 for up to 508 bytes of data).
        #[arg(long)]
        size: u64,
        /// The deal id on chain (0 for a piece without a chain deal).
        #[arg(long, default_value_t = 0)]
        deal_id: u64,
        /// The miner actor whose sector takes it, e.g. f01000.
        #[arg(long)]
        miner: ActorId,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// How many deals wait for a sector.
    List(ApiArgs),
}

fn admin_client(api: &ApiArgs) -> anyhow::Result<ManagerAdminClient> {
    let (url, token) = api.endpoint(
        |path| {
            let c = Config::load(path)?;
            Ok((c.rpc.listen, c.rpc.secret_file, "rpc.secret_file"))
        },
        "sector-manager-cli",
    )?;
    Ok(ManagerAdminClient::new(url, token.as_deref())?)
}

/// The manager's operator methods: the deal queue (refusing deals that
/// no sector of the named miner can hold) and sector aborts.
#[derive(Debug)]
struct Admin {
    manager: Arc<LocalSectorManager>,
    miners: Vec<(ActorId, SealProof)>,
}

#[async_trait]
impl ManagerAdminApi for Admin {
    async fn add_deal(&self, miner: Option<ActorId>, deal: DealInfo) -> Result<(), AdminError> {
        let fits = |proof: &SealProof| deal.piece.size.0 <= proof.sector_size().0;
        match miner {
            Some(m) => match self.miners.iter().find(|(id, _)| *id == m) {
                None => {
                    return Err(AdminError::Invalid(format!(
                        "miner {m} is not served by this manager"
                    )))
                }
                Some((_, proof)) if !fits(proof) => {
                    return Err(AdminError::Invalid(format!(
                        "a {}-byte piece does not fit the {} sectors of {m}",
                        deal.piece.size.0,
                        proof.sector_size()
                    )))
                }
                Some(_) => {}
            },
            None if !self.miners.iter().any(|(_, p)| fits(p)) => {
                return Err(AdminError::Invalid(format!(
                    "a {}-byte piece fits no miner's sectors",
                    deal.piece.size.0
                )))
            }
            None => {}
        }
        self.manager
            .add_deal(miner, deal)
            .await
            .map_err(|e| AdminError::Internal(e.to_string()))
    }

    async fn status(&self) -> Result<DealQueueStatus, AdminError> {
        let queued = self
            .manager
            .queued_deals()
            .await
            .map_err(|e| AdminError::Internal(e.to_string()))?;
        Ok(DealQueueStatus { queued })
    }

    async fn abort_sector(&self, sector: SectorId, reason: String) -> Result<(), AdminError> {
        self.manager
            .request_abort(sector, reason)
            .await
            .map_err(|e| match e {
                ManagerError::Rejected(why) => AdminError::Invalid(why),
                other => AdminError::Internal(other.to_string()),
            })
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    logging::init("");
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
        Command::Deals {
            command:
                DealsCommand::Add {
                    piece_cid,
                    size,
                    deal_id,
                    miner,
                    api,
                },
        } => {
            let piece = PieceInfo {
                size: PaddedPieceSize(size),
                cid: piece_cid,
            };
            admin_client(&api)?
                .add_deal(Some(miner), DealInfo { id: deal_id, piece })
                .await?;
            println!("deal {deal_id} queued for {miner}: piece {piece_cid} ({size} bytes padded)");
            Ok(())
        }
        Command::Sectors {
            command:
                SectorsCommand::Abort {
                    miner,
                    number,
                    reason,
                    api,
                },
        } => {
            let sector = SectorId::new(miner, SectorNumber(number));
            admin_client(&api)?.abort_sector(sector, &reason).await?;
            println!("{sector}: abort requested ({reason}); its worker gives it up at its next report or poll");
            Ok(())
        }
        Command::Deals {
            command: DealsCommand::List(api),
        } => {
            let status = admin_client(&api)?.status().await?;
            println!("{} deals wait for a sector", status.queued);
            Ok(())
        }
    }
}

/// The chain the manager reads and sends to.
struct Chain {
    reader: Arc<dyn ChainClient>,
    sender: Arc<dyn MessageSender>,
    /// The embedded devnet, whose clock runs while the manager does.
    devnet: Option<Arc<DevnetChain>>,
    /// One epoch: how often the WindowPoSt scheduler looks by default.
    epoch: Duration,
}

/// Opens `[chain]`: the embedded devnet (durable under its state_dir, the
/// clock started), or a full node checked before anything is served: it
/// answers, knows every miner, and each miner's sector size is its proof's.
async fn open_chain(config: &Config, verifier: Arc<LocalSealVerifier>) -> anyhow::Result<Chain> {
    match &config.chain {
        ChainSection::EmbeddedDevnet {
            block_time,
            pre_commit_challenge_delay,
            proving_period,
            proving_deadlines,
            state_dir,
        } => {
            let chain = DevnetChain::open(
                DevnetConfig {
                    miners: config
                        .miners
                        .iter()
                        .map(|m| DevnetMiner {
                            id: m.id,
                            allowed_proofs: vec![m.proof],
                        })
                        .collect(),
                    proving: ProvingPolicy {
                        period: *proving_period,
                        deadlines: *proving_deadlines,
                        ..DEVNET_PROVING
                    },
                    ..DevnetConfig::clocked(
                        *block_time,
                        *pre_commit_challenge_delay,
                        state_dir.join("devnet.json"),
                    )
                },
                verifier,
            )
            .context("opening the devnet")?;
            chain.start_clock()?;
            Ok(Chain {
                reader: chain.clone(),
                sender: chain.clone(),
                devnet: Some(chain),
                epoch: *block_time,
            })
        }
        ChainSection::Lotus {
            url,
            token_file,
            from,
            max_fee,
            network,
            messager,
            ..
        } => {
            let token = token::read_token("chain.token_file", token_file)?;
            let mut lotus = LotusClient::new(url, Some(token), from.clone())
                .context("chain.url")?
                .with_network(network.params());
            if let Some(fee) = max_fee {
                lotus = lotus.with_max_fee(fee.to_string());
            }
            let head = lotus
                .chain_head()
                .await
                .with_context(|| format!("chain.url {url}: ChainHead"))?;
            let version = lotus
                .state_network_version(&head.cids)
                .await
                .with_context(|| format!("chain.url {url}: StateNetworkVersion"))?;
            for m in &config.miners {
                let info = lotus
                    .state_miner_info(m.id, &head.cids)
                    .await
                    .with_context(|| format!("miner {}: StateMinerInfo", m.id))?;
                if info.sector_size != m.proof.sector_size().0 {
                    anyhow::bail!(
                        "miner {} has {}-byte sectors on chain, but its proof {} seals {}-byte sectors",
                        m.id,
                        info.sector_size,
                        m.proof,
                        m.proof.sector_size().0
                    );
                }
                tracing::info!(
                    miner = %m.id,
                    owner = %info.owner,
                    worker = %info.worker,
                    control = ?info.control_addresses,
                    "miner found on chain ({from} must be its worker or a control address)"
                );
            }
            tracing::info!(%url, head = head.height, network_version = version, %from, "full node reached");
            let lotus = Arc::new(lotus);
            let sender: Arc<dyn MessageSender> = match messager {
                None => lotus.clone(),
                Some(m) => {
                    let token = token::read_token("chain.messager.token_file", &m.token_file)?;
                    let spec = SendSpec {
                        max_fee: max_fee.unwrap_or_default().to_string(),
                        ..SendSpec::default()
                    };
                    let client = MessagerClient::new(&m.url, Some(token), from.clone())
                        .context("chain.messager.url")?
                        .with_send_spec(spec);
                    tracing::info!(url = %client.url(), "messages go through venus-messager");
                    Arc::new(client)
                }
            };
            Ok(Chain {
                reader: lotus,
                sender,
                devnet: None,
                epoch: Duration::from_secs(network.block_delay_secs),
            })
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let state_dir = config.chain.state_dir();

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
    if config.proving.is_some() {
        for m in &config.miners {
            let (p, proof) = (params.clone(), m.proof);
            tokio::task::spawn_blocking(move || {
                p.ensure_post(proof, PoStKind::Window, GenerationPolicy::TestSizes)
            })
            .await?
            .with_context(|| format!("WindowPoSt parameters for {proof}"))?;
        }
    }
    let verifier = Arc::new(LocalSealVerifier::with_parameters(params.clone()));

    // The chain, then the manager's state (durable under state_dir unless
    // [store] says otherwise).
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("chain.state_dir {}", state_dir.display()))?;
    let chain = open_chain(&config, verifier.clone()).await?;
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
                .with_aggregation((m.aggregate_from > 0).then_some(m.aggregate_from))
                .with_collateral(match m.collateral {
                    CollateralSection::Message => Collateral::Message,
                    CollateralSection::MinerBalance => Collateral::MinerBalance,
                });
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
    let local = LocalSectorManager::new(
        ManagerConfig::new(miners),
        store,
        chain.reader.clone(),
        chain.sender.clone(),
        verifier,
    );
    let admin = Arc::new(Admin {
        manager: local.clone(),
        miners: config.miners.iter().map(|m| (m.id, m.proof)).collect(),
    });
    let manager: Arc<dyn SectorManager> = local;

    let secret = Secret::load_or_create(&config.rpc.secret_file).context("rpc.secret_file")?;
    let proxy = match &config.pieces {
        Some(p) => {
            let store = p.store.build().context("pieces.store")?;
            let listener = tokio::net::TcpListener::bind(p.listen)
                .await
                .with_context(|| format!("pieces.listen {}", p.listen))?;
            tracing::info!(addr = %p.listen, store = ?store, "piece proxy serving GET /piece/<cid>");
            let app = piece_router(store, secret.clone());
            Some(tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::error!(error = %e, "piece proxy stopped");
                }
            }))
        }
        None => None,
    };
    let post = config.proving.as_ref().map(|p| {
        let scheduler = Arc::new(WindowPoStScheduler::new(
            chain.reader.clone(),
            chain.sender.clone(),
            PoStExecutors::of(Arc::new(LocalExecutor::new())),
            Arc::new(PersistedSectors::new(p.stores.clone())),
            config.miners.iter().map(|m| m.id).collect(),
        ));
        let interval = p.interval.unwrap_or(chain.epoch);
        tracing::info!(stores = ?p.stores, ?interval, "WindowPoSt scheduler proving the miners' deadlines");
        scheduler.spawn(interval)
    });
    let (addr, server) =
        serve_manager_with_admin(config.rpc.listen, manager, admin, secret).await?;
    tracing::info!(
        %addr,
        head = chain.reader.head().await.ok(),
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
    if let Some(proxy) = proxy {
        proxy.abort();
    }
    if let Some(post) = post {
        post.abort();
    }
    if let Some(devnet) = &chain.devnet {
        devnet.stop_clock();
    }
    tracing::info!(
        head = chain.reader.head().await.ok(),
        "sector manager stopped"
    );
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
