//! The all-in-one deployment (`cargo run --release --example seal`): a
//! devnet chain that verifies proofs for real, the in-process sector
//! manager and a sealer, all in one process, sealing 2KiB sectors
//! end-to-end on the local filecoin-proofs-api executor.
//!
//! [`AllInOneConfig`] says how many sectors and with what data;
//! [`AllInOne::build`] prepares everything (the first run generates random
//! 2KiB Groth16 parameters, about 10 minutes on 2 cores, logging progress);
//! [`AllInOne::run`] seals every sector in parallel, logging each step, and
//! returns a [`SealReport`] of what landed on the chain.

mod report;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::RngCore;

use crate::backends::params::{GenerationPolicy, ParameterCache};
use crate::backends::{piece_commitment, LocalExecutor, LocalProofVerifier};
use crate::chain::{
    DevnetChain, DevnetConfig, DevnetMiner, LocalSectorManager, ManagedMiner, ManagerConfig,
    ProvingPolicy, DEVNET_NETWORK, DEVNET_PROVING,
};
use crate::core::manager::DealInfo;
use crate::core::stage::KeepInPlace;
use crate::core::{
    ActorId, MemoryPieceStore, MemorySectorStore, NetworkParams, SealProof, Sealer, SealerConfig,
    SectorRecord, StageExecutors, StepReport,
};

pub use report::{SealReport, SectorResult};

/// The only proof type the all-in-one deployment seals (its parameters can
/// be generated).
pub const PROOF: SealProof = SealProof::StackedDrg2KiBV1_1;

/// What to seal.
#[derive(Clone, Debug)]
pub struct AllInOneConfig {
    /// How many sectors to seal in parallel (at least 1); every second one
    /// holds a deal.
    pub sectors: u64,
    /// A file to place in the first data sector (at most 2032 bytes);
    /// none: random bytes.
    pub piece_file: Option<PathBuf>,
    /// Where sector files go; none: a temporary folder, removed afterwards.
    pub workdir: Option<PathBuf>,
    /// The devnet's block time.
    pub block_time: Duration,
    /// The miner actor to seal for.
    pub miner: ActorId,
}

impl Default for AllInOneConfig {
    /// Two sectors (one CC, one with random data), 100 ms blocks, f01000.
    fn default() -> Self {
        Self {
            sectors: 2,
            piece_file: None,
            workdir: None,
            block_time: Duration::from_millis(100),
            miner: ActorId(1000),
        }
    }
}

/// The chain, manager and sealer, ready to seal.
///
/// ```no_run
/// # async fn demo() -> anyhow::Result<()> {
/// use venus_seal::all_in_one::{AllInOne, AllInOneConfig, SealRun};
///
/// let seal = AllInOne::build(AllInOneConfig::default()).await?;
/// match seal.run(venus_seal::runtime::shutdown_signal()).await? {
///     SealRun::Done(report) => print!("{report}"),
///     SealRun::Interrupted { unfinished } => eprintln!("{unfinished} unfinished"),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct AllInOne {
    config: AllInOneConfig,
    chain: Arc<DevnetChain>,
    sealer: Sealer,
}

/// How [`AllInOne::run`] ended.
#[derive(Debug)]
pub enum SealRun {
    /// Every sector ended (finished or failed).
    Done(SealReport),
    /// The shutdown future resolved first. A stage may still run on a
    /// blocking thread (C2): nothing here is durable, so a binary exits.
    Interrupted {
        /// Sectors that had not ended.
        unfinished: usize,
    },
}

impl AllInOne {
    /// Prepares the 2KiB parameters (generated on the first run), checks
    /// the piece, starts the devnet clock and the manager, and registers
    /// one deal per data sector.
    pub async fn build(config: AllInOneConfig) -> anyhow::Result<Self> {
        anyhow::ensure!(config.sectors > 0, "sectors must be at least 1");
        // Parameters first: nothing may touch filecoin-proofs' settings
        // before.
        let params = Arc::new(ParameterCache::from_env());
        params.activate().context("parameter cache")?;
        let p = params.clone();
        let status =
            tokio::task::spawn_blocking(move || p.ensure_seal(PROOF, GenerationPolicy::TestSizes))
                .await?
                .context("preparing 2KiB PoRep parameters")?;
        tracing::info!(dir = %params.dir().display(), ?status, "parameters for {PROOF}");

        let data = match &config.piece_file {
            Some(path) => std::fs::read(path)
                .with_context(|| format!("reading the piece file {}", path.display()))?,
            None => random_bytes(2000),
        };
        let verifier = Arc::new(LocalProofVerifier::with_parameters(params.clone()));
        let chain = DevnetChain::new(devnet_config(&config), verifier.clone());
        chain.start_clock().context("starting the devnet clock")?;
        let manager = LocalSectorManager::in_memory(
            ManagerConfig::new(vec![ManagedMiner::new(config.miner, PROOF)]),
            chain.clone(),
            chain.clone(),
            verifier,
        );
        let pieces = Arc::new(MemoryPieceStore::default());
        for n in 0..config.sectors / 2 {
            // Distinct data per sector: the piece for the first.
            let bytes = if n == 0 {
                data.clone()
            } else {
                random_bytes(data.len())
            };
            let piece =
                piece_commitment(PROOF, &bytes[..], bytes.len() as u64).with_context(|| {
                    format!(
                        "the piece ({} bytes) cannot go in a 2KiB sector",
                        bytes.len()
                    )
                })?;
            tracing::info!(bytes = bytes.len(), cid = %piece.cid, padded = piece.size.0, "deal piece");
            pieces.insert(piece.cid, bytes);
            manager
                .add_deal(Some(config.miner), DealInfo::new(n + 1, piece))
                .await?;
        }
        let instance = "seal-example".to_string();
        let executors = StageExecutors::uniform(
            Arc::new(LocalExecutor::with_parameters(params)),
            Arc::new(KeepInPlace {
                instance: instance.clone(),
            }),
        );
        let sealer = Sealer::new(
            manager,
            pieces,
            executors,
            Arc::new(MemorySectorStore::default()),
            SealerConfig {
                instance,
                poll_interval: config.block_time,
                ..SealerConfig::default()
            },
        );
        Ok(Self {
            config,
            chain,
            sealer,
        })
    }

    /// Seals every sector in parallel, logging each step it takes, until
    /// all ended or `shutdown` resolved; then asks the devnet what landed.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<SealRun> {
        let tmp;
        let workdir = match &self.config.workdir {
            Some(dir) => dir.clone(),
            None => {
                tmp = tempfile::tempdir()?;
                tmp.path().to_path_buf()
            }
        };
        let started = Instant::now();
        let mut jobs = tokio::task::JoinSet::new();
        for job in 1..=self.config.sectors {
            let sealer = self.sealer.clone();
            let dir = workdir.join(format!("job-{job}"));
            jobs.spawn(async move {
                let mut record = SectorRecord::new(job);
                let result = sealer.run(&mut record, &dir, &mut log_step).await;
                (record, result)
            });
        }
        tokio::pin!(shutdown);
        let mut done = Vec::new();
        loop {
            tokio::select! {
                joined = jobs.join_next() => match joined {
                    Some(joined) => done.push(joined?),
                    None => break,
                },
                _ = &mut shutdown => return Ok(SealRun::Interrupted { unfinished: jobs.len() }),
            }
        }
        let report = SealReport::of(&self.chain, done, started.elapsed()).await?;
        self.chain.stop_clock();
        Ok(SealRun::Done(report))
    }
}

fn log_step(record: &SectorRecord, step: &StepReport) {
    let sector = record
        .sector
        .map(|s| s.id.to_string())
        .unwrap_or_else(|| format!("job-{}", record.job));
    tracing::info!(%sector, state = %step.state, elapsed = ?step.elapsed, "step done");
}

fn devnet_config(config: &AllInOneConfig) -> DevnetConfig {
    DevnetConfig {
        block_time: Some(config.block_time),
        // Sub-second blocks: 0 tells the manager to pace seed waits by
        // 100 ms epochs.
        network: NetworkParams {
            block_delay_secs: 0,
            ..DEVNET_NETWORK
        },
        miners: vec![DevnetMiner {
            id: config.miner,
            allowed_proofs: vec![PROOF],
        }],
        // This deployment seals; WindowPoSt is the sector manager's
        // `[proving]`. Proving periods far longer than a run, so no
        // deadline passes unproven (and no sector turns faulty).
        proving: ProvingPolicy {
            period: 288_000,
            deadlines: 48,
            ..DEVNET_PROVING
        },
        ..DevnetConfig::default()
    }
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes
}
