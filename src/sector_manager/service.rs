//! The builder: a [`SectorManagerConfig`] in, a serving manager out.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use jsonrpsee::server::ServerHandle;
use tokio::task::JoinHandle;
use venus_seal_backends::persist::PersistedSectors;
use venus_seal_backends::pieces::piece_router;
use venus_seal_backends::remote_c2::RemoteExecutor;
use venus_seal_chain::gateway::{GatewayConfig, ProofEventListener, WinningProver, WsUrl};
use venus_seal_chain::manager::{
    BatchPolicy, Collateral, ManagerStore, NumberRange, ResendPolicy, SqlManagerStore,
};
use venus_seal_chain::DropletMarket;
use venus_seal_chain::{
    LocalSectorManager, ManagedMiner, ManagerConfig, PoStExecutors, WindowPoStScheduler,
};
use venus_seal_core::engine::limits::Limits;
use venus_seal_core::engine::metrics::EngineMetrics;
use venus_seal_core::post_jobs::WindowPoStJobs;
use venus_seal_core::stage::{WindowPoSt, WinningPoSt};
use venus_seal_core::{DynExecutor, ProofVerifier, SectorManager};
use venus_seal_rpc::auth::TrustedNetworks;
use venus_seal_rpc::manager::{
    ManagerServer, PersistStoreEntry, PersistStores, PieceRedirect, WorkerPings,
};
use venus_seal_rpc::Secret;

use super::config::{
    BatchSection, CollateralSection, GatewaySection, MinerSection, ProvingSection, StoreSection,
};
use super::{open_chain, ManagerAdmin, OpenChain, SectorManagerConfig};
use crate::alerts::{
    self, AlertBoard, AlertRule, Alerter, Balances, MessageStuck, PoStNotReady, PoStNotSent,
    SectorParked, StoreNearlyFull, SubmissionUnsent, WalletLow, WorkerSilent,
};
use crate::console::{Console, ConsoleParts};
use std::time::Duration;

/// Builds a sector manager from its config.
///
/// ```no_run
/// use std::path::Path;
/// use venus_seal::sector_manager::{ManagerService, SectorManagerConfig};
///
/// # async fn serve() -> anyhow::Result<()> {
/// let config = SectorManagerConfig::load(Path::new("examples/sector-manager.toml"))?;
/// let manager = ManagerService::new(config).build().await?;
/// println!("workers call http://{}", manager.addr());
/// manager.run(venus_seal::runtime::shutdown_signal()).await
/// # }
/// ```
#[derive(Debug)]
pub struct ManagerService {
    config: SectorManagerConfig,
    verifier: Option<Arc<dyn ProofVerifier>>,
    prover: Option<PoStExecutors>,
    winning: Option<DynExecutor<WinningPoSt>>,
}

/// The proofs a manager runs on: its verifier, and the provers its
/// sections ask for.
pub(super) struct Proofs {
    pub(super) verifier: Arc<dyn ProofVerifier>,
    pub(super) prover: Option<PoStExecutors>,
    pub(super) winning: Option<DynExecutor<WinningPoSt>>,
}

impl ManagerService {
    /// A manager as `config` describes it, with the proving crates'
    /// verifier and WindowPoSt prover unless others are given.
    pub fn new(config: SectorManagerConfig) -> Self {
        Self {
            config,
            verifier: None,
            prover: None,
            winning: None,
        }
    }

    /// Checks prove-commits (and the devnet's proofs) with `verifier`
    /// instead of the proving crates' `LocalProofVerifier`. With a prover
    /// too, or no `[proving]`, no Groth16 parameters are looked for.
    pub fn with_verifier(mut self, verifier: Arc<dyn ProofVerifier>) -> Self {
        self.verifier = Some(verifier);
        self
    }

    /// Proves WindowPoSt (`[proving]`) on `prover`'s executors (an ext
    /// processor, a limited or metered executor, your own) instead of the
    /// proving crates' `LocalExecutor`.
    pub fn with_prover(mut self, prover: PoStExecutors) -> Self {
        self.prover = Some(prover);
        self
    }

    /// Proves venus-miner's WinningPoSt (`[gateway]`) on `prover` instead
    /// of the proving crates' `LocalExecutor`.
    pub fn with_winning_prover(mut self, prover: DynExecutor<WinningPoSt>) -> Self {
        self.winning = Some(prover);
        self
    }

    /// The config it builds from.
    pub fn config(&self) -> &SectorManagerConfig {
        &self.config
    }

    /// Makes sure of the parameters, opens the chain and the manager's
    /// state, and starts serving: the worker and admin API on
    /// `rpc.listen`, the piece proxy (`[pieces]`) and the WindowPoSt
    /// scheduler (`[proving]`) and the venus-gateway proof-event listener
    /// (`[gateway]`). Creates `chain.state_dir` and
    /// `rpc.secret_file` if missing. Every error names the config key or
    /// miner at fault.
    pub async fn build(self) -> anyhow::Result<RunningManager> {
        let proofs = self.proofs().await?;
        let config = self.config;
        let state_dir = config.chain.state_dir();
        std::fs::create_dir_all(state_dir)
            .with_context(|| format!("chain.state_dir {}", state_dir.display()))?;
        let chain = open_chain(&config, proofs.verifier.clone()).await?;
        let built = serve(&config, &chain, proofs).await;
        if let (Err(_), Some(devnet)) = (&built, &chain.devnet) {
            devnet.stop_clock();
        }
        built
    }

    /// The verifier, and the provers `[proving]` and `[gateway]` ask for:
    /// those given, else the proving crates'.
    async fn proofs(&self) -> anyhow::Result<Proofs> {
        let needs_prover = self.config.proving.is_some();
        let needs_winning = self.config.gateway.is_some();
        if let Some(v) = &self.verifier {
            if (!needs_prover || self.prover.is_some())
                && (!needs_winning || self.winning.is_some())
            {
                return Ok(Proofs {
                    verifier: v.clone(),
                    prover: self.prover.clone(),
                    winning: self.winning.clone(),
                });
            }
        }
        #[cfg(feature = "proofs")]
        {
            let local = super::params::local_proofs(&self.config).await?;
            Ok(Proofs {
                verifier: self.verifier.clone().unwrap_or(local.verifier),
                prover: self.prover.clone().or(local.prover),
                winning: self.winning.clone().or(local.winning),
            })
        }
        #[cfg(not(feature = "proofs"))]
        anyhow::bail!(
            "built without the `proofs` feature: give ManagerService::with_verifier{}{} a \
             seal verifier",
            if needs_prover {
                " and with_prover (for [proving])"
            } else {
                ""
            },
            if needs_winning {
                " and with_winning_prover (for [gateway])"
            } else {
                ""
            }
        )
    }
}

/// Starts the venus-gateway listener of `[gateway]`, proving from
/// `[proving]`'s stores.
fn start_gateway(
    config: &SectorManagerConfig,
    g: &GatewaySection,
    p: &ProvingSection,
    verifier: Arc<dyn ProofVerifier>,
    prover: DynExecutor<WinningPoSt>,
) -> anyhow::Result<(Arc<ProofEventListener>, JoinHandle<()>)> {
    let url = WsUrl::parse(&g.url)
        .map_err(anyhow::Error::msg)
        .context("gateway.url")?;
    let token = match &g.token_file {
        None => None,
        Some(path) => {
            let token = std::fs::read_to_string(path)
                .with_context(|| format!("gateway.token_file {}", path.display()))?;
            let token = token.trim().to_string();
            anyhow::ensure!(
                !token.is_empty(),
                "gateway.token_file {} is empty",
                path.display()
            );
            Some(token)
        }
    };
    let miners = if g.miners.is_empty() {
        config.miners.iter().map(|m| m.id).collect()
    } else {
        g.miners.clone()
    };
    let listener = ProofEventListener::new(
        GatewayConfig {
            url,
            token,
            miners,
            backoff_min: std::time::Duration::from_secs(1),
            backoff_max: g
                .reconnect_max
                .unwrap_or(std::time::Duration::from_secs(30)),
        },
        WinningProver {
            challenger: verifier,
            prover,
            locator: Arc::new(PersistedSectors::new(p.stores.clone())),
        },
    );
    tracing::info!(url = %g.url, stores = ?p.stores, "answering venus-gateway ComputeProof requests");
    let task = listener.spawn();
    Ok((listener, task))
}

/// The manager's state store: `[store]`, or SQLite under the chain's
/// state_dir.
async fn open_store(config: &SectorManagerConfig) -> anyhow::Result<Arc<dyn ManagerStore>> {
    Ok(match &config.store {
        None => {
            let path = config.chain.state_dir().join("manager.db");
            Arc::new(
                SqlManagerStore::open_sqlite(&path)
                    .await
                    .with_context(|| format!("chain.state_dir {}", path.display()))?,
            )
        }
        Some(StoreSection::Sqlite { path }) => Arc::new(
            SqlManagerStore::open_sqlite(path)
                .await
                .with_context(|| format!("store.path {}", path.display()))?,
        ),
        Some(StoreSection::Postgres { url }) => {
            Arc::new(SqlManagerStore::connect(url).await.context("store.url")?)
        }
    })
}

/// One `[[miners]]` entry as the manager takes it.
fn managed_miner(m: &MinerSection) -> ManagedMiner {
    let batch = |b: Option<BatchSection>| {
        b.map_or(BatchPolicy::IMMEDIATE, |b| {
            BatchPolicy::batched(b.threshold, b.max_wait)
        })
    };
    let mut miner = ManagedMiner::new(m.id, m.proof)
        .with_batching(batch(m.pre_commit_batch), batch(m.prove_commit_batch))
        .with_snap_commit(batch(m.snap_commit_batch))
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
    if let Some(s) = m.snap_up {
        miner = miner.with_snap_up(crate::chain::manager::SnapUpPolicy {
            min_remaining_epochs: s.min_remaining_days * 2880,
            max_in_flight: s.max_in_flight,
        });
    }
    miner
}

/// Everything after the chain: the state, the manager, and what it serves.
async fn serve(
    config: &SectorManagerConfig,
    chain: &OpenChain,
    proofs: Proofs,
) -> anyhow::Result<RunningManager> {
    let Proofs {
        verifier,
        prover,
        winning,
    } = proofs;
    let metrics = EngineMetrics::new();
    let (prover, winning) = remote_provers(config.proving.as_ref(), &verifier, prover, winning)?;
    let (prover, post_jobs) = worker_provers(config, &verifier, prover);
    let (prover, winning) = decorate_provers(config.proving.as_ref(), &metrics, prover, winning);
    let metrics_server = match &config.metrics {
        Some(m) => {
            let render = {
                let metrics = metrics.clone();
                move || metrics.render()
            };
            Some(crate::runtime::serve_metrics("metrics.listen", m.listen, render).await?)
        }
        None => None,
    };
    let store = open_store(config).await?;
    tracing::info!(store = ?store, sectors = store.sector_count().await?, "manager state opened");
    let mut manager_config = ManagerConfig::new(config.miners.iter().map(managed_miner).collect());
    manager_config.resend = resend_policy(&config.resend);
    manager_config.snap_up = crate::chain::manager::SnapUpSettings {
        final_after: config.snap_up.final_after_epochs,
        remove_cc_data: config.snap_up.remove_cc_data,
    };
    let local = LocalSectorManager::new(
        manager_config,
        store,
        chain.reader.clone(),
        chain.sender.clone(),
        verifier.clone(),
    );
    if let Some(m) = &config.market {
        let token = crate::runtime::read_token("market.token_file", &m.token_file)?;
        let market = DropletMarket::new(&m.url, Some(&token), chain.reader.clone())
            .map_err(|e| anyhow::anyhow!("market.url {}: {e}", m.url))?;
        tracing::info!(
            url = market.url(),
            "deals come from droplet's deal assignment API"
        );
        // A fresh manager has no market yet.
        let _ = local.set_deal_market(Arc::new(market));
    }
    let miners = config.miners.iter().map(|m| (m.id, m.proof)).collect();
    let mut admin = ManagerAdmin::new(local.clone(), miners);
    let secret = Secret::load_or_create(&config.rpc.secret_file).context("rpc.secret_file")?;

    let mut piece_store = None;
    let proxy = match &config.pieces {
        Some(p) => {
            let store = p.store.build().context("pieces.store")?;
            piece_store = Some(store.clone());
            let listener = tokio::net::TcpListener::bind(p.listen)
                .await
                .with_context(|| format!("pieces.listen {}", p.listen))?;
            let addr = listener.local_addr()?;
            tracing::info!(%addr, store = ?store, "piece proxy serving GET /piece/<cid>");
            let app = piece_router(store, secret.clone());
            let task = tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::error!(error = %e, "piece proxy stopped");
                }
            });
            Some((addr, task))
        }
        None => None,
    };
    let mut scheduler = None;
    let post = match (&config.proving, prover) {
        (Some(p), Some(prover)) => {
            let locator = Arc::new(PersistedSectors::new(p.stores.clone()));
            // Snap-ups: the updated files are looked for before a proof
            // is taken, and the CC replica removed where it is found.
            let _ = local.set_sector_files(locator.clone());
            let mut post = WindowPoStScheduler::new(
                chain.reader.clone(),
                chain.sender.clone(),
                prover,
                locator.clone(),
                config.miners.iter().map(|m| m.id).collect(),
            );
            if let Some(w) = &p.workers {
                post = post.with_parallel_partitions(w.parallel);
            }
            if p.auto_rebuild {
                tracing::info!(pieces = piece_store.is_some(), "sectors whose files are gone at the WindowPoSt check are rebuilt automatically ([proving] auto_rebuild)");
                post = post.with_auto_rebuild(crate::chain::manager::AutoRebuild::new(
                    local.clone(),
                    locator,
                    piece_store.clone(),
                ));
            }
            let post = Arc::new(post);
            let interval = p.interval.unwrap_or(chain.epoch);
            tracing::info!(stores = ?p.stores, ?interval, "WindowPoSt scheduler proving the miners' deadlines");
            scheduler = Some(post.clone());
            // The operator's dry run judges reads as readiness does (its
            // defaults without [proving.readiness]).
            let policy = p.readiness.as_ref().map_or(
                crate::chain::manager::ReadinessPolicy {
                    lead_epochs: 0,
                    sample: 0,
                    epoch: chain.epoch,
                    budget: 0.5,
                    slow_read: Duration::from_secs(30),
                },
                |r| r.policy(chain.epoch),
            );
            admin = admin.with_proving(post.clone(), policy);
            let mut tasks = vec![post.clone().spawn(interval)];
            if let Some(r) = &p.readiness {
                let policy = r.policy(chain.epoch);
                tracing::info!(lead = ?r.lead, every = ?r.every, sample = r.sample, "WindowPoSt readiness checked ahead of each deadline");
                tasks.push(post.spawn_readiness(policy, r.every));
            }
            tasks
        }
        _ => Vec::new(),
    };
    let gateway = match (&config.gateway, &config.proving, winning) {
        (Some(g), Some(p), Some(w)) => match start_gateway(config, g, p, verifier, w) {
            Ok(started) => Some(started),
            Err(e) => {
                proxy.iter().for_each(|(_, task)| task.abort());
                post.iter().for_each(JoinHandle::abort);
                metrics_server.iter().for_each(|(_, task)| task.abort());
                return Err(e);
            }
        },
        _ => None,
    };
    let admin = Arc::new(admin);
    let pings = WorkerPings::default();
    let stores = persist_stores(config);
    let board = config.alerts.as_ref().map(|_| AlertBoard::default());
    let balances = Balances::default();
    let post_source = scheduler.clone();
    let readiness_source = scheduler.clone().filter(|_| {
        config
            .proving
            .as_ref()
            .is_some_and(|p| p.readiness.is_some())
    });
    let console = match start_console(
        config, &local, chain, &pings, &stores, &board, &balances, scheduler, &secret,
    )
    .await
    {
        Ok(console) => console,
        Err(e) => {
            proxy.iter().for_each(|(_, task)| task.abort());
            post.iter().for_each(JoinHandle::abort);
            gateway.iter().for_each(|(_, task)| task.abort());
            metrics_server.iter().for_each(|(_, task)| task.abort());
            return Err(e);
        }
    };
    let manager: Arc<dyn SectorManager> = local.clone();
    let pieces = piece_redirect(config, proxy.as_ref().map(|(addr, _)| *addr));
    let served = ManagerServer::new(manager.clone())
        .stores(stores.clone())
        .pings(pings.clone())
        .pieces(pieces.clone())
        .unseal(local.clone())
        .rebuild(local.clone())
        .snap_up(local.clone());
    let served = with_post_jobs(served, &post_jobs)
        .admin(admin)
        .serve(config.rpc.listen, secret.clone())
        .await
        .with_context(|| format!("rpc.listen {}", config.rpc.listen));
    let served = match served {
        Ok(main) => {
            match serve_trusted_listener(
                config,
                local.clone(),
                stores.clone(),
                pieces,
                pings.clone(),
                &post_jobs,
            )
            .await
            {
                Ok(trusted) => Ok((main, trusted)),
                Err(e) => {
                    let _ = main.1.stop();
                    Err(e)
                }
            }
        }
        Err(e) => Err(e),
    };
    let ((addr, server), trusted) = match served {
        Ok(served) => served,
        Err(e) => {
            proxy.iter().for_each(|(_, task)| task.abort());
            post.iter().for_each(JoinHandle::abort);
            gateway.iter().for_each(|(_, task)| task.abort());
            metrics_server.iter().for_each(|(_, task)| task.abort());
            console.iter().for_each(|(_, task)| task.abort());
            return Err(e);
        }
    };
    let alerts = config.alerts.as_ref().map(|a| {
        let mut rules: Vec<Box<dyn AlertRule>> = vec![Box::new(WorkerSilent {
            pings: pings.clone(),
            after: a.worker_silent_after,
        })];
        if a.store_min_free_gib > 0 && !stores.stores().is_empty() {
            rules.push(Box::new(StoreNearlyFull {
                stores: stores.clone(),
                min_free: a.store_min_free_gib.saturating_mul(1 << 30),
            }));
        }
        if a.message_pending_epochs > 0 {
            rules.push(Box::new(MessageStuck {
                source: local.clone(),
                after_epochs: a.message_pending_epochs,
            }));
        }
        if !a.submission_unsent_after.is_zero() {
            rules.push(Box::new(SubmissionUnsent {
                source: local.clone(),
                after: a.submission_unsent_after,
            }));
        }
        if !a.sector_parked_after.is_zero() {
            rules.push(Box::new(SectorParked {
                source: local.clone(),
                after: a.sector_parked_after,
            }));
        }
        if let Some(source) = readiness_source.clone() {
            rules.push(Box::new(PoStNotReady { source }));
        }
        if !a.wallet_min_balance.is_zero() && !sending_wallets(config).is_empty() {
            rules.push(Box::new(WalletLow {
                balances: balances.clone(),
                min: a.wallet_min_balance,
            }));
        }
        if let Some(source) = post_source
            .clone()
            .filter(|_| a.post_not_sent_fraction > 0.0)
        {
            rules.push(Box::new(PoStNotSent {
                source,
                fraction: a.post_not_sent_fraction,
                epoch: chain.epoch,
            }));
        }
        let alerter = Alerter::new(rules);
        tracing::info!(every = ?a.every, webhooks = a.webhooks.len(), "alerts evaluated");
        alerts::spawn(
            alerter,
            a.webhooks.clone(),
            a.every,
            board.clone().unwrap_or_default(),
        )
    });
    let auto_extend: Vec<JoinHandle<()>> = config
        .miners
        .iter()
        .filter_map(|m| m.auto_extend.as_ref().map(|a| (m.id, a)))
        .map(|(miner, a)| {
            let policy = a.policy();
            tracing::info!(
                %miner, every = ?a.every, within = policy.within, extend_to = policy.extend_to,
                with_data = policy.with_data, dry_run = policy.dry_run,
                "expiring sectors extended automatically{}",
                if policy.dry_run { " (dry run: logged, nothing sent)" } else { "" }
            );
            local.spawn_auto_extend(miner, policy, a.every)
        })
        .collect();
    let wallets = sending_wallets(config);
    let watch = (!wallets.is_empty() && (config.alerts.is_some() || config.console.is_some()))
        .then(|| {
            let every = config
                .alerts
                .as_ref()
                .map_or(Duration::from_secs(60), |a| a.every);
            tracing::info!(?wallets, ?every, "sending wallets' balances watched");
            alerts::watch_balances(chain.reader.clone(), wallets, every, balances)
        });
    tracing::info!(
        %addr,
        head = chain.reader.head().await.ok(),
        miners = ?config.miners.iter().map(|m| m.id.to_string()).collect::<Vec<_>>(),
        "sector manager serving the worker API (get a worker token with `token --perm write`)"
    );
    Ok(RunningManager {
        addr,
        pieces_addr: proxy.as_ref().map(|(addr, _)| *addr),
        manager: local,
        chain: chain.clone(),
        server,
        trusted,
        proxy: proxy.map(|(_, task)| task),
        post,
        gateway,
        metrics: metrics_server,
        alerts,
        console,
        watch,
        auto_extend,
    })
}

/// The wallets messages are sent from: `chain.from` on a Lotus chain;
/// none on the embedded devnet.
fn sending_wallets(config: &SectorManagerConfig) -> Vec<String> {
    match &config.chain {
        super::config::ChainSection::Lotus { from, .. } => vec![from.clone()],
        _ => Vec::new(),
    }
}

/// `[console]`: the web console over the manager's state, if configured.
#[allow(clippy::too_many_arguments)]
async fn start_console(
    config: &SectorManagerConfig,
    manager: &Arc<LocalSectorManager>,
    chain: &OpenChain,
    pings: &WorkerPings,
    stores: &PersistStores,
    board: &Option<AlertBoard>,
    balances: &Balances,
    post: Option<Arc<WindowPoStScheduler>>,
    secret: &Secret,
) -> anyhow::Result<Option<(SocketAddr, JoinHandle<()>)>> {
    let Some(c) = &config.console else {
        return Ok(None);
    };
    let worker_token = match &c.worker_token_file {
        None => None,
        Some(path) => Some(crate::runtime::read_token(
            "console.worker_token_file",
            path,
        )?),
    };
    let console = Console::new(ConsoleParts {
        manager: manager.clone(),
        chain: chain.reader.clone(),
        miners: config.miners.iter().map(|m| m.id).collect(),
        pings: pings.clone(),
        stores: stores.clone(),
        alerts: board.clone(),
        balances: balances.clone(),
        post,
        secret: secret.clone(),
        worker_token,
        worker_silent_after: config
            .alerts
            .as_ref()
            .map_or(Duration::from_secs(120), |a| a.worker_silent_after),
        secure_cookie: c.secure_cookie,
    });
    let served = console
        .serve(c.listen)
        .await
        .with_context(|| format!("console.listen {}", c.listen))?;
    Ok(Some(served))
}

/// The provers with the stages `[proving.remote]` names sent to the
/// remote proving service (each output verified with `verifier` before
/// use); the others as given.
pub fn remote_provers(
    proving: Option<&ProvingSection>,
    verifier: &Arc<dyn ProofVerifier>,
    prover: Option<PoStExecutors>,
    winning: Option<DynExecutor<WinningPoSt>>,
) -> anyhow::Result<(Option<PoStExecutors>, Option<DynExecutor<WinningPoSt>>)> {
    let Some(remote) = proving.and_then(|p| p.remote.as_ref()) else {
        return Ok((prover, winning));
    };
    let token = crate::runtime::read_token("proving.remote.token_file", &remote.token_file)?;
    let prover = prover.map(|p| PoStExecutors {
        window_post: if remote.sends("window_post") {
            Arc::new(
                RemoteExecutor::<WindowPoSt>::new(&remote.url, &token, verifier.clone())
                    .with_failover(&remote.failover),
            )
        } else {
            p.window_post
        },
        check: p.check,
    });
    let winning = match winning {
        Some(_) if remote.sends("winning_post") => Some(Arc::new(
            RemoteExecutor::<WinningPoSt>::new(&remote.url, &token, verifier.clone())
                .with_failover(&remote.failover),
        ) as DynExecutor<WinningPoSt>),
        w => w,
    };
    tracing::info!(url = %remote.url, failover = ?remote.failover, stages = ?remote.stages, "PoSt goes to the remote proving service");
    for (lock, stages) in proving.map(|p| &p.locks).into_iter().flatten() {
        for stage in stages.iter().filter(|s| remote.sends(s)) {
            tracing::warn!(
                lock = %lock,
                stage = %stage,
                "proving.locks.{lock} names {stage}, which goes to the remote service: the local lock is held for the whole remote proof (poll included); drop it unless that is meant"
            );
        }
    }
    Ok((prover, winning))
}

/// With `[proving.workers]`: WindowPoSt proven through a job queue that
/// the worker API hands to proving workers (damocles' `wdpost` plan),
/// naming stores by their `[[persist_stores]]` names, each proof verified
/// with `verifier`; the queue is returned to be served.
pub fn worker_provers(
    config: &SectorManagerConfig,
    verifier: &Arc<dyn ProofVerifier>,
    prover: Option<PoStExecutors>,
) -> (Option<PoStExecutors>, Option<Arc<WindowPoStJobs>>) {
    let Some(workers) = config.proving.as_ref().and_then(|p| p.workers.as_ref()) else {
        return (prover, None);
    };
    let Some(prover) = prover else {
        return (None, None);
    };
    let stores: Vec<(String, std::path::PathBuf)> = config
        .persist_stores
        .iter()
        .map(|s| (s.name.clone(), s.path.clone()))
        .collect();
    tracing::info!(stores = ?stores, settings = ?workers.settings(),
        "WindowPoSt goes to proving workers (Venus.WdPoStAllocateJobs)");
    if let Some(p) = &config.proving {
        if p.limits.contains_key("window_post")
            || p.locks.values().flatten().any(|s| s == "window_post")
        {
            tracing::warn!("proving.limits or proving.locks name window_post, which goes to proving workers: a permit is held here for the whole job; drop it unless that is meant");
        }
    }
    let jobs =
        Arc::new(WindowPoStJobs::new(stores, workers.settings()).with_verifier(verifier.clone()));
    (
        Some(PoStExecutors {
            window_post: jobs.clone(),
            check: prover.check,
        }),
        Some(jobs),
    )
}

/// `server` handing out `jobs`' WindowPoSt jobs, if there is a queue.
fn with_post_jobs(server: ManagerServer, jobs: &Option<Arc<WindowPoStJobs>>) -> ManagerServer {
    match jobs {
        Some(jobs) => server.window_post(jobs.clone()),
        None => server,
    }
}

/// The provers timed into `metrics` (per stage, as the worker's stages
/// are) under `[proving.limits]` and `[proving.locks]`: one [`Limits`] for
/// WindowPoSt, its file check and WinningPoSt, so a lock they share is one
/// lock (e.g. the host's one GPU), WinningPoSt granted it first. Limits
/// outermost: a proof waiting for a permit is not timed.
pub fn decorate_provers(
    proving: Option<&ProvingSection>,
    metrics: &Arc<EngineMetrics>,
    prover: Option<PoStExecutors>,
    winning: Option<DynExecutor<WinningPoSt>>,
) -> (Option<PoStExecutors>, Option<DynExecutor<WinningPoSt>>) {
    let stages = proving
        .map(ProvingSection::stage_limits)
        .unwrap_or_default();
    if !stages.is_empty() {
        tracing::info!(limits = ?stages, "proofs limited by [proving.limits] and [proving.locks]");
    }
    let limits = Limits::new(stages, BTreeMap::new());
    metrics.watch_limits(limits.clone());
    let prover = prover.map(|p| PoStExecutors {
        window_post: Arc::new(limits.wrap(metrics.wrap(p.window_post))),
        check: Arc::new(limits.wrap(metrics.wrap(p.check))),
    });
    let winning =
        winning.map(|w| Arc::new(limits.wrap(metrics.wrap(w))) as DynExecutor<WinningPoSt>);
    (prover, winning)
}

/// `[[persist_stores]]` as the worker API's store view.
fn persist_stores(config: &SectorManagerConfig) -> PersistStores {
    let stores: Vec<PersistStoreEntry> = config
        .persist_stores
        .iter()
        .map(|s| PersistStoreEntry {
            read_only: s.read_only,
            weight: s.weight,
            ..PersistStoreEntry::new(&s.name, &s.path)
        })
        .collect();
    if stores.is_empty() {
        tracing::info!("no [[persist_stores]]: StoreBasicInfo answers null for every store");
    } else {
        tracing::info!(stores = ?stores.iter().map(|s| &s.name).collect::<Vec<_>>(), "persist stores served");
    }
    PersistStores::new(stores)
}

/// Where damocles-worker's `GET /piecestore/<cid>` on the worker API is
/// sent: this manager's piece proxy (`[pieces]`, listening on `proxy`),
/// else droplet's resource endpoint (`[market]`), as damocles-manager
/// sends it to its market's.
fn piece_redirect(config: &SectorManagerConfig, proxy: Option<SocketAddr>) -> PieceRedirect {
    let redirect = match (proxy, &config.market) {
        (Some(addr), _) => PieceRedirect::Proxy(addr),
        (None, Some(m)) => PieceRedirect::market(&m.url).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "market.url: /piecestore/<cid> is not served");
            PieceRedirect::None
        }),
        (None, None) => PieceRedirect::None,
    };
    match &redirect {
        PieceRedirect::None => tracing::info!(
            "no [pieces] or [market]: damocles workers' GET /piecestore/<cid> gets 404"
        ),
        r => {
            tracing::info!(target = ?r, "damocles workers' GET /piecestore/<cid> is redirected (the target checks their piece_token)")
        }
    }
    redirect
}

/// `[rpc.trusted]`: the tokenless worker API listener, if configured.
async fn serve_trusted_listener(
    config: &SectorManagerConfig,
    manager: Arc<LocalSectorManager>,
    stores: PersistStores,
    pieces: PieceRedirect,
    pings: WorkerPings,
    post_jobs: &Option<Arc<WindowPoStJobs>>,
) -> anyhow::Result<Option<(SocketAddr, ServerHandle)>> {
    let Some(t) = &config.rpc.trusted else {
        return Ok(None);
    };
    let networks = TrustedNetworks::parse(&t.networks)
        .and_then(|n| n.for_listener(t.listen, "rpc.trusted.networks"))
        .map_err(|e| anyhow::anyhow!("rpc.trusted.networks: {e}"))?;
    let served = ManagerServer::new(manager.clone())
        .stores(stores)
        .pings(pings)
        .pieces(pieces)
        .unseal(manager.clone())
        .rebuild(manager.clone())
        .snap_up(manager);
    let served = with_post_jobs(served, post_jobs)
        .serve_trusted(t.listen, networks)
        .await
        .with_context(|| format!("rpc.trusted.listen {}", t.listen))?;
    Ok(Some(served))
}

/// A manager serving workers, from [`ManagerService::build`].
#[derive(Debug)]
pub struct RunningManager {
    addr: SocketAddr,
    pieces_addr: Option<SocketAddr>,
    manager: Arc<LocalSectorManager>,
    chain: OpenChain,
    server: ServerHandle,
    trusted: Option<(SocketAddr, ServerHandle)>,
    proxy: Option<JoinHandle<()>>,
    post: Vec<JoinHandle<()>>,
    gateway: Option<(Arc<ProofEventListener>, JoinHandle<()>)>,
    metrics: Option<(SocketAddr, JoinHandle<()>)>,
    alerts: Option<JoinHandle<()>>,
    console: Option<(SocketAddr, JoinHandle<()>)>,
    watch: Option<JoinHandle<()>>,
    auto_extend: Vec<JoinHandle<()>>,
}

impl RunningManager {
    /// Where `GET /metrics` is served, with `[metrics]`.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(addr, _)| *addr)
    }

    /// The venus-gateway proof-event listener, with `[gateway]`.
    pub fn gateway(&self) -> Option<&Arc<ProofEventListener>> {
        self.gateway.as_ref().map(|(listener, _)| listener)
    }

    /// Where the console serves its pages, with `[console]`.
    pub fn console_addr(&self) -> Option<SocketAddr> {
        self.console.as_ref().map(|(addr, _)| *addr)
    }

    /// Where the worker and admin API listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where the tokenless worker API listens, with `[rpc.trusted]`.
    pub fn trusted_addr(&self) -> Option<SocketAddr> {
        self.trusted.as_ref().map(|(addr, _)| *addr)
    }

    /// Where the piece proxy listens, with `[pieces]`.
    pub fn pieces_addr(&self) -> Option<SocketAddr> {
        self.pieces_addr
    }

    /// The manager itself, to call in-process.
    pub fn manager(&self) -> &Arc<LocalSectorManager> {
        &self.manager
    }

    /// The chain it reads and sends to.
    pub fn chain(&self) -> &OpenChain {
        &self.chain
    }

    /// Serves until `shutdown` resolves (for instance
    /// [`crate::runtime::shutdown_signal`]), then stops everything. An
    /// error if the JSON-RPC server stopped on its own first.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let stopped_early = tokio::select! {
            _ = shutdown => false,
            _ = self.server.clone().stopped() => true,
        };
        self.stop().await;
        anyhow::ensure!(!stopped_early, "the JSON-RPC server stopped unexpectedly");
        Ok(())
    }

    /// How long [`stop`](Self::stop) waits for a batch being sent.
    pub const SEND_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

    /// Stops serving: the API (waiting for it), the batch sender (the
    /// batch in flight finishes within [`SEND_GRACE`](Self::SEND_GRACE),
    /// or is recovered under its saved attempt uid by the next start), the
    /// piece proxy, the WindowPoSt scheduler, the gateway listener, the
    /// metrics endpoint, the alerts and the devnet's clock. The
    /// state is saved after every change, so nothing is lost.
    pub async fn stop(self) {
        let _ = self.server.stop();
        self.server.stopped().await;
        if let Some((_, trusted)) = &self.trusted {
            let _ = trusted.stop();
        }
        self.manager.shutdown(Self::SEND_GRACE).await;
        if let Some(proxy) = self.proxy {
            proxy.abort();
        }
        for task in self.post {
            task.abort();
        }
        if let Some((_, gateway)) = self.gateway {
            gateway.abort();
        }
        if let Some((_, metrics)) = self.metrics {
            metrics.abort();
        }
        if let Some(alerts) = self.alerts {
            alerts.abort();
        }
        if let Some((_, console)) = self.console {
            console.abort();
        }
        if let Some(watch) = self.watch {
            watch.abort();
        }
        for task in self.auto_extend {
            task.abort();
        }
        if let Some(devnet) = &self.chain.devnet {
            devnet.stop_clock();
        }
        tracing::info!(
            head = self.chain.reader.head().await.ok(),
            "sector manager stopped"
        );
    }
}

/// The manager's [`ResendPolicy`] from `[resend]`.
pub fn resend_policy(r: &super::config::ResendSection) -> ResendPolicy {
    ResendPolicy {
        first_retry: r.first_retry,
        max_retry: r.max_retry,
        stuck_after_epochs: (r.stuck_after_epochs > 0).then_some(r.stuck_after_epochs),
        premium_bump_percent: r.premium_bump_percent,
        max_fee: r.max_fee,
    }
}
