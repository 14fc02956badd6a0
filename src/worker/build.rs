//! [`Worker`]: a [`WorkerConfig`] assembled into a running worker.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use super::config::{ManagerSection, WorkerConfig};
use super::executors::{self, Decorators, ExtProcessors};
use super::unseal::UnsealRunner;
use crate::backends::params::{GenerationPolicy, ParameterCache};
use crate::backends::persist::PersistedSectors;
use crate::backends::pieces::VerifyingPieceStore;
use crate::backends::{LocalExecutor, LocalProofVerifier};
use crate::chain::{
    DevnetChain, DevnetConfig, DevnetMiner, LocalSectorManager, ManagedMiner, ManagerConfig,
    SqlManagerStore,
};
use crate::core::engine::limits::Limits;
use crate::core::engine::metrics::EngineMetrics;
use crate::core::manager::AllocateSpec;
use crate::core::post_jobs::{PoStJobSpec, PoStJobWorker, WindowPoStJobSource};
use crate::core::proving::PoStKind;
use crate::core::rebuild::{RebuildJobSource, Rebuilder};
use crate::core::snapup::{SnapExecutors, SnapUpJobSource, Upgrader};
use crate::core::stage::{SnapEncode, SnapProve, Unseal, WindowPoSt};
use crate::core::unseal::UnsealJobSource;
use crate::core::{
    Engine, Location, MemoryPieceStore, PieceStore, RetryPolicy, Sealer, SealerConfig,
    SectorManager, SqliteSectorStore,
};
use crate::rpc::{serve_admin, ManagerClient, Secret, WorkerInfo};

/// A worker built from its config and serving its admin API: call
/// [`Worker::run`] to seal until the shutdown future resolves.
///
/// ```no_run
/// # async fn demo() -> anyhow::Result<()> {
/// use venus_seal::worker::{Worker, WorkerConfig};
///
/// let config = WorkerConfig::load("examples/worker.toml".as_ref())?;
/// let worker = Worker::build(config).await?;
/// println!("admin API on {}", worker.admin_addr());
/// worker.run(venus_seal::runtime::shutdown_signal()).await?;
/// # Ok(()) }
/// ```
pub struct Worker {
    name: String,
    engine: Engine,
    admin_addr: SocketAddr,
    stop_admin: Box<dyn FnOnce() + Send>,
    metrics_server: Option<tokio::task::JoinHandle<()>>,
    ext_processors: ExtProcessors,
    chain: Option<Arc<DevnetChain>>,
    ping: Option<tokio::task::JoinHandle<()>>,
    /// The unseal runner and its poll interval, started by `run`.
    unseal: Option<(UnsealRunner, std::time::Duration)>,
    /// The rebuilder and its poll interval, started by `run`.
    rebuild: Option<(Rebuilder, std::time::Duration)>,
    /// The snap-up runner and its poll interval, started by `run`.
    snap_up: Option<(Upgrader, std::time::Duration)>,
    /// The WindowPoSt job runner and its poll interval, started by `run`.
    window_post: Option<(PoStJobWorker, std::time::Duration)>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("name", &self.name)
            .field("admin_addr", &self.admin_addr)
            .field("ext_processors", &self.ext_processors)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// Checks the machine (folders writable, room for the slots), makes
    /// sure the Groth16 parameters are there (random ones generated for
    /// 2KiB/8MiB, logging progress), connects or starts the sector manager,
    /// builds every stage's executor and starts the ext processors, opens
    /// the state database, creates the admin secret if missing, and serves
    /// the admin API and metrics. Seals nothing yet.
    pub async fn build(config: WorkerConfig) -> anyhow::Result<Self> {
        config.check_machine()?;
        let params = Arc::new(ParameterCache::from_env());
        params.activate().context("parameter cache")?;
        let proof = config.manager.proof();
        let p = params.clone();
        tokio::task::spawn_blocking(move || {
            p.ensure_for_sealing(proof, GenerationPolicy::TestSizes)
        })
        .await?
        .with_context(|| format!("parameters for {proof}"))?;
        if config.snap_up.is_some() {
            // The update circuit's parameters (random ones generated for
            // 2KiB/8MiB test sectors: about 10 minutes the first time).
            let p = params.clone();
            tokio::task::spawn_blocking(move || {
                p.ensure_update(proof, GenerationPolicy::TestSizes)
            })
            .await?
            .with_context(|| format!("snap-up (update) parameters for {proof}"))?;
        }

        if config.window_post.is_some() {
            let p = params.clone();
            tokio::task::spawn_blocking(move || {
                p.ensure_post(proof, PoStKind::Window, GenerationPolicy::TestSizes)
            })
            .await?
            .with_context(|| format!("WindowPoSt parameters for {proof}"))?;
        }

        let (manager, chain, remote, jobs) = sector_manager(&config, &params).await?;
        // Executors: local proving or the stage's ext processors, test
        // hooks, metrics, then limits outermost (a stage waiting for a
        // permit is not timed).
        let metrics = EngineMetrics::new();
        let limits = Limits::new(config.stage_limits()?, BTreeMap::new());
        metrics.watch_limits(limits.clone());
        let decorators = Decorators {
            hooks: Arc::new(config.testing.clone()),
            metrics: metrics.clone(),
            limits: limits.clone(),
        };
        let local = Arc::new(LocalExecutor::with_parameters(params.clone()));
        let verifier = Arc::new(LocalProofVerifier::with_parameters(params));
        let (stage_executors, ext_processors) =
            executors::build(&config, local.clone(), verifier, &decorators)?;
        let unseal = config.unseal.as_ref().map(|u| {
            let stores = config.job_stores(&u.stores);
            let spool = u.spool.clone().unwrap_or_else(|| config.job_dir("unseal"));
            tracing::info!(?stores, spool = %spool.display(), poll = ?u.poll, "taking unseal jobs");
            let runner = UnsealRunner::new(
                jobs.unseal.clone(),
                decorators.wrap::<Unseal, _>(local.clone()),
                Arc::new(PersistedSectors::new(stores)),
                sealer_config(&config).allocate,
                spool,
            );
            (runner, u.poll)
        });
        if !ext_processors.is_empty() {
            ext_processors.start().await?;
            tracing::info!("ext processors ready");
        }

        let store = Arc::new(
            SqliteSectorStore::open(&config.worker.state_db)
                .await
                .context("worker.state_db")?,
        );
        let pieces = piece_store(&config)?;
        if config.rebuild.is_some() && config.persist.is_empty() {
            anyhow::bail!(
                "[rebuild] needs a [[persist]] store: a rebuilt sector is put back where the \
                 provers read it, not left in the rebuild folder"
            );
        }
        let rebuild = config.rebuild.as_ref().map(|r| {
            let dir = r.dir.clone().unwrap_or_else(|| config.job_dir("rebuild"));
            tracing::info!(dir = %dir.display(), poll = ?r.poll, "taking rebuild jobs");
            let rebuilder = Rebuilder::new(
                jobs.rebuild.clone(),
                pieces.clone(),
                stage_executors.clone(),
                sealer_config(&config).allocate,
                dir,
            );
            (rebuilder, r.poll)
        });
        if config.snap_up.is_some() && config.persist.is_empty() {
            anyhow::bail!(
                "[snap_up] needs a [[persist]] store: the updated replica is put where the \
                 provers read it, not left in the snap-up folder"
            );
        }
        let snap_up = config.snap_up.as_ref().map(|s| {
            let dir = s.dir.clone().unwrap_or_else(|| config.job_dir("snap-up"));
            let stores: Vec<PathBuf> = config.job_stores(&s.stores);
            tracing::info!(dir = %dir.display(), ?stores, poll = ?s.poll, "taking snap-up jobs");
            let executors = SnapExecutors {
                add_pieces: stage_executors.add_pieces.clone(),
                encode: decorators.wrap::<SnapEncode, _>(local.clone()),
                prove: decorators.wrap::<SnapProve, _>(local.clone()),
                persist: stage_executors.persist.clone(),
            };
            let upgrader = Upgrader::new(
                jobs.snap_up.clone(),
                pieces.clone(),
                Arc::new(PersistedSectors::new(stores)),
                executors,
                sealer_config(&config).allocate,
                dir,
            )
            .with_deals(crate::core::manager::AcquireDealsSpec {
                max_deals: s.max_deals,
                min_used_space: s.min_deal_space,
            });
            (upgrader, s.poll)
        });
        let window_post = match &config.window_post {
            Some(w) => {
                let Some(source) = jobs.window_post.clone() else {
                    anyhow::bail!(
                        "[window_post] needs a remote manager ([manager] kind = \"remote\"): \
                         the embedded manager proves WindowPoSt itself"
                    );
                };
                let stores = config.named_stores(&w.stores);
                if stores.is_empty() {
                    anyhow::bail!(
                        "[window_post] knows no persist store: name them in [window_post.stores] \
                         (name = \"/where/this/host/mounts/it\") or give a [[persist]] store a path"
                    );
                }
                let spec = PoStJobSpec {
                    miners: (!w.miners.is_empty()).then(|| w.miners.clone()),
                    sector_sizes: Some(vec![proof.sector_size()]),
                };
                tracing::info!(?stores, ?spec, poll = ?w.poll, "taking WindowPoSt jobs");
                let runner = PoStJobWorker::new(
                    source,
                    decorators.wrap::<WindowPoSt, _>(local.clone()),
                    stores,
                    spec,
                    config.worker.name.clone(),
                );
                Some((runner, w.poll))
            }
            None => None,
        };
        let sealer = Sealer::new(
            manager,
            pieces,
            stage_executors,
            store.clone(),
            sealer_config(&config),
        )
        .with_metrics(metrics.clone());
        let engine = engine(&config, sealer, store);

        let secret =
            Secret::load_or_create(&config.admin.secret_file).context("admin.secret_file")?;
        let (admin_addr, admin) =
            serve_admin(config.admin.listen, Arc::new(engine.handle()), secret)
                .await
                .with_context(|| format!("admin.listen {}", config.admin.listen))?;
        tracing::info!(%admin_addr, "admin API listening");
        // A remote manager hears from the worker every 30 s, as a
        // damocles-manager expects (it lists workers from these pings).
        let ping = remote.map(|client| {
            let base = WorkerInfo {
                name: config.worker.name.clone(),
                dest: admin_addr.to_string(),
                version: env!("CARGO_PKG_VERSION").to_string(),
                ..WorkerInfo::default()
            };
            let slots = config.sealing.iter().map(|s| s.slots).sum();
            super::ping::spawn(
                client,
                engine.handle(),
                base,
                slots,
                Some(limits),
                super::ping::PING_INTERVAL,
            )
        });
        let metrics_server = match &config.metrics {
            Some(m) => {
                let metrics = metrics.clone();
                let render = move || metrics.render();
                Some(
                    crate::runtime::serve_metrics("metrics.listen", m.listen, render)
                        .await?
                        .1,
                )
            }
            None => None,
        };
        Ok(Self {
            name: config.worker.name.clone(),
            engine,
            admin_addr,
            stop_admin: Box::new(move || {
                let _ = admin.stop();
            }),
            metrics_server,
            ext_processors,
            chain,
            ping,
            unseal,
            rebuild,
            snap_up,
            window_post,
        })
    }

    /// Where the admin API listens (the port chosen when the config asked
    /// for port 0).
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// Seals until `shutdown` resolves (or, with `worker.max_sectors`,
    /// until every sector is done), then stops the ext processors' children,
    /// the admin API, the metrics server and the devnet clock.
    ///
    /// A stage still running on a blocking thread (a C2 takes minutes)
    /// keeps the tokio runtime from shutting down: a binary exits the
    /// process once this returns; the sector re-runs the stage from its
    /// durable state on restart.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        tracing::info!(worker = %self.name, "worker running");
        let unseal = self.unseal.map(|(runner, poll)| runner.spawn(poll));
        let rebuild = self.rebuild.map(|(rebuilder, poll)| rebuilder.spawn(poll));
        let snap_up = self.snap_up.map(|(upgrader, poll)| upgrader.spawn(poll));
        let window_post = self.window_post.map(|(runner, poll)| runner.spawn(poll));
        self.engine.run(shutdown).await?;
        for task in unseal
            .into_iter()
            .chain(rebuild)
            .chain(snap_up)
            .chain(window_post)
        {
            task.abort();
        }
        // The engine has dropped its executors: kill the ext processors'
        // children before the process exits (exit skips destructors).
        self.ext_processors.stop().await;
        tracing::info!("worker stopped");
        if let Some(ping) = self.ping {
            ping.abort();
        }
        (self.stop_admin)();
        if let Some(server) = self.metrics_server {
            server.abort();
        }
        if let Some(chain) = self.chain {
            chain.stop_clock();
        }
        Ok(())
    }
}

/// The sector manager: an embedded devnet and in-process manager, durable
/// under `state_dir` (with its devnet), or a remote manager service (with
/// its client, which also sends the worker's pings).
async fn sector_manager(
    config: &WorkerConfig,
    params: &Arc<ParameterCache>,
) -> anyhow::Result<(
    Arc<dyn SectorManager>,
    Option<Arc<DevnetChain>>,
    Option<Arc<ManagerClient>>,
    JobSources,
)> {
    match &config.manager {
        ManagerSection::EmbeddedDevnet {
            miner,
            proof,
            block_time,
            pre_commit_challenge_delay,
            state_dir,
        } => {
            let verifier = Arc::new(LocalProofVerifier::with_parameters(params.clone()));
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
            let store = SqlManagerStore::open_sqlite(state_dir.join("manager.db")).await?;
            let manager = LocalSectorManager::new(
                ManagerConfig::new(vec![ManagedMiner::new(*miner, *proof)]),
                Arc::new(store),
                chain.clone(),
                chain.clone(),
                verifier,
            );
            let jobs = JobSources {
                unseal: manager.clone(),
                rebuild: manager.clone(),
                snap_up: manager.clone(),
                window_post: None,
            };
            Ok((manager, Some(chain), None, jobs))
        }
        ManagerSection::Remote {
            url, token_file, ..
        } => {
            let token = match token_file {
                Some(file) => Some(crate::runtime::read_token("manager.token_file", file)?),
                None => {
                    // A damocles-manager serves `/rpc/v0` without auth.
                    tracing::warn!(%url, "manager.token_file not set: calls carry no token");
                    None
                }
            };
            let client = Arc::new(ManagerClient::new(url.clone(), token.as_deref())?);
            tracing::info!(%url, "sector manager: remote");
            let jobs = JobSources {
                unseal: client.clone(),
                rebuild: client.clone(),
                snap_up: client.clone(),
                window_post: Some(client.clone()),
            };
            Ok((client.clone(), None, Some(client), jobs))
        }
    }
}

/// Where the worker's jobs beside sealing come from: the manager, in
/// process or remote.
struct JobSources {
    unseal: Arc<dyn UnsealJobSource>,
    rebuild: Arc<dyn RebuildJobSource>,
    snap_up: Arc<dyn SnapUpJobSource>,
    /// `None`: the embedded manager proves WindowPoSt itself.
    window_post: Option<Arc<dyn WindowPoStJobSource>>,
}

/// Deal pieces, always verified against their PieceCID as they stream.
fn piece_store(config: &WorkerConfig) -> anyhow::Result<Arc<dyn PieceStore>> {
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
    Ok(pieces)
}

fn sealer_config(config: &WorkerConfig) -> SealerConfig {
    SealerConfig {
        instance: config.worker.name.clone(),
        retry: RetryPolicy {
            recover_interval: config.retry.recover_interval,
            max_retries: config.retry.max_retries,
        },
        poll_interval: config.retry.poll_interval,
        allocate: AllocateSpec {
            allowed_miners: config.manager.allowed_miners(),
            allowed_proof_types: vec![config.manager.proof()],
            allocation_key: None,
        },
        ..SealerConfig::default()
    }
}

fn engine(config: &WorkerConfig, sealer: Sealer, store: Arc<SqliteSectorStore>) -> Engine {
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
    engine
}
