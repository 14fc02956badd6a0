//! WindowPoSt jobs for proving workers: damocles' `wdpost` plan.
//!
//! The WindowPoSt scheduler proves each partition through an
//! [`Executor<WindowPoSt>`](crate::Executor). [`WindowPoStJobs`] is one:
//! instead of proving, it queues the partition as a [`WindowPoStJob`]
//! and waits for a proving worker to take it
//! ([`WindowPoStJobSource::allocate_post_jobs`], damocles'
//! `Venus.WdPoStAllocateJobs`), keep it alive
//! ([`heartbeat_post_jobs`](WindowPoStJobSource::heartbeat_post_jobs),
//! every 3 s from damocles-worker) and hand back the proofs or the faulty
//! sectors ([`finish_post_job`](WindowPoStJobSource::finish_post_job)).
//! A job names each sector's files by the *name* of the persist store
//! that holds them (damocles' `SectorAccessStores`), never by a path:
//! each worker finds the store where it mounts it. [`PoStJobWorker`] is
//! the worker's side, over any [`WindowPoStJobSource`] (the in-process
//! queue, or a remote manager's: ours or damocles-manager's).
//!
//! What the queue guarantees:
//! - a job whose worker stops beating for
//!   [`heartbeat_timeout`](PoStJobSettings::heartbeat_timeout), or fails,
//!   or answers a proof that does not verify, is handed out again, at
//!   most [`max_tries`](PoStJobSettings::max_tries) times;
//! - a job no worker takes within
//!   [`pick_up_within`](PoStJobSettings::pick_up_within) fails the
//!   partition as [`StageError::Unavailable`] (the scheduler tries again
//!   at its next tick while the deadline is open);
//! - a partition whose scheduler stops waiting (its deadline closed, the
//!   manager shutting down) takes its job out of the queue: a worker's
//!   later heartbeat or result for it is refused
//!   ([`ManagerError::Rejected`]);
//! - proofs are verified before they are given to the scheduler when the
//!   queue has a [`ProofVerifier`].
//!
//! Jobs live in memory: after a manager restart the scheduler proves the
//! open deadline again, as new jobs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tracing::{info, warn};

use crate::error::{ManagerError, StageError};
use crate::executor::{DynExecutor, Executor};
use crate::persist_store;
use crate::proving::{
    PoStProof, PoStSector, ProvingSector, SectorFiles, SkippedSector, WindowPoStOutput,
    WindowPoStVerifyInfo,
};
use crate::stage::WindowPoSt;
use crate::types::commitment::CommR;
use crate::types::ids::{ActorId, SectorId, SectorNumber};
use crate::types::proof::{SealProof, SectorSize};
use crate::types::randomness::Randomness;
use crate::verify::ProofVerifier;

#[cfg(test)]
mod tests;

/// One sector of a [`WindowPoStJob`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoStJobSector {
    /// The sector number.
    pub number: SectorNumber,
    /// Its replica commitment (the updated one after a snap-up).
    pub comm_r: CommR,
    /// Whether it was snapped up: its replica is then `update/<sector>`
    /// and its cache `update-cache/<sector>/`.
    pub upgrade: bool,
    /// The persist store (by name) holding its replica.
    pub sealed_store: String,
    /// The persist store (by name) holding its cache directory.
    pub cache_store: String,
}

/// A WindowPoSt to compute: one partition's sectors of one miner
/// (damocles' `AllocatedWdPoStJob`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowPoStJob {
    /// The job's id, unique in the queue that handed it out.
    pub id: String,
    /// The miner.
    pub miner: ActorId,
    /// A seal proof of the sectors' size: it fixes the WindowPoSt proof
    /// type (every seal proof of a size has the same one).
    pub seal_proof: SealProof,
    /// The challenge randomness.
    pub randomness: Randomness,
    /// The sectors to prove.
    pub sectors: Vec<PoStJobSector>,
}

impl WindowPoStJob {
    /// The stage that proves this job on a host that mounts the named
    /// persist stores at `stores` (name → directory, laid out as the
    /// persist stage and damocles write them: `sealed/`, `cache/`,
    /// `update/`, `update-cache/`). Fails naming a store this host does
    /// not know.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use venus_seal_core::post_jobs::{PoStJobSector, WindowPoStJob};
    /// use venus_seal_core::{ActorId, CommR, Randomness, SealProof, SectorNumber};
    /// let job = WindowPoStJob {
    ///     id: "j1".into(),
    ///     miner: ActorId(1000),
    ///     seal_proof: SealProof::StackedDrg2KiBV1_1,
    ///     randomness: Randomness([7; 32]),
    ///     sectors: vec![PoStJobSector {
    ///         number: SectorNumber(3),
    ///         comm_r: CommR([1; 32]),
    ///         upgrade: true,
    ///         sealed_store: "nas-1".into(),
    ///         cache_store: "nas-1".into(),
    ///     }],
    /// };
    /// let stores = BTreeMap::from([("nas-1".to_string(), "/mnt/nas-1".into())]);
    /// let stage = job.stage(&stores).unwrap();
    /// assert_eq!(stage.sectors[0].files.sealed, std::path::Path::new("/mnt/nas-1/update/s-t01000-3"));
    /// assert!(job.stage(&BTreeMap::new()).unwrap_err().contains("nas-1"));
    /// ```
    pub fn stage(&self, stores: &BTreeMap<String, PathBuf>) -> Result<WindowPoSt, String> {
        let root = |name: &str| {
            stores.get(name).ok_or_else(|| {
                format!(
                    "WindowPoSt job {}: persist store {name:?} is not attached here (known: {:?})",
                    self.id,
                    stores.keys().collect::<Vec<_>>()
                )
            })
        };
        let sectors = self
            .sectors
            .iter()
            .map(|s| {
                let id = SectorId::new(self.miner, s.number);
                let (sealed, cache) = keys(&id, s.upgrade);
                Ok(ProvingSector {
                    sector: PoStSector {
                        number: s.number,
                        seal_proof: self.seal_proof,
                        comm_r: s.comm_r,
                        sector_key: None,
                    },
                    files: SectorFiles {
                        sealed: root(&s.sealed_store)?.join(sealed),
                        cache: root(&s.cache_store)?.join(cache),
                    },
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(WindowPoSt {
            miner: self.miner,
            // The job does not say (damocles' does not carry them).
            deadline: 0,
            partition: 0,
            randomness: self.randomness,
            sectors,
        })
    }
}

/// The keys of a sector's replica and cache in a persist store (the
/// layout every store writes: [`persist_store::sealed_key`] and its
/// siblings).
fn keys(id: &SectorId, upgrade: bool) -> (String, String) {
    if upgrade {
        (
            persist_store::update_key(id),
            persist_store::update_cache_prefix(id),
        )
    } else {
        (
            persist_store::sealed_key(id),
            persist_store::cache_prefix(id),
        )
    }
}

/// Which jobs a worker takes (damocles' `AllocatePoStSpec`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoStJobSpec {
    /// Only these miners' (`None`: any).
    pub miners: Option<Vec<ActorId>>,
    /// Only sectors of these sizes (`None`: any; an empty list: none).
    pub sector_sizes: Option<Vec<SectorSize>>,
}

impl PoStJobSpec {
    /// Whether a worker with this spec takes `job`.
    pub fn allows(&self, job: &WindowPoStJob) -> bool {
        self.miners.as_ref().is_none_or(|m| m.contains(&job.miner))
            && self
                .sector_sizes
                .as_ref()
                .is_none_or(|s| s.contains(&job.seal_proof.sector_size()))
    }
}

/// What a worker computed (damocles' `WindowPoStOutput`): the partition's
/// proofs, and the sectors whose files failed. damocles' own prover
/// answers faults with no proofs (the manager proves the rest again
/// without them); [`PoStJobWorker`] answers the proofs of the other
/// sectors beside the faults, which [`WindowPoStJobs`] takes as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoStJobOutput {
    /// The Groth16 proofs (192 bytes per partition).
    pub proofs: Vec<Vec<u8>>,
    /// The sectors that could not be proven.
    pub faults: Vec<SectorNumber>,
}

/// Hands out WindowPoSt jobs (a role of a sector manager with proving
/// workers; damocles' `WorkerWdPoStAPI`).
#[async_trait]
pub trait WindowPoStJobSource: Send + Sync + std::fmt::Debug {
    /// Up to `num` jobs `spec` allows, now running for `worker`
    /// (`Venus.WdPoStAllocateJobs`); none is an empty list.
    async fn allocate_post_jobs(
        &self,
        spec: &PoStJobSpec,
        num: u32,
        worker: &str,
    ) -> Result<Vec<WindowPoStJob>, ManagerError>;

    /// `worker` is still computing `ids` (`Venus.WdPoStHeartbeatJobs`).
    /// A job that is not running (finished, handed to another worker
    /// after a missed heartbeat, withdrawn) is refused
    /// ([`ManagerError::Rejected`]).
    async fn heartbeat_post_jobs(&self, ids: &[String], worker: &str) -> Result<(), ManagerError>;

    /// The job's result: its output, or why it failed
    /// (`Venus.WdPoStFinishJob`). Refused for a job that is not running.
    async fn finish_post_job(
        &self,
        id: &str,
        result: Result<PoStJobOutput, String>,
    ) -> Result<(), ManagerError>;
}

crate::forward::forward_impls! {
    impl[] WindowPoStJobSource {
        async fn allocate_post_jobs(&self, spec: &PoStJobSpec, num: u32, worker: &str)
            -> Result<Vec<WindowPoStJob>, ManagerError>;
        async fn heartbeat_post_jobs(&self, ids: &[String], worker: &str)
            -> Result<(), ManagerError>;
        async fn finish_post_job(&self, id: &str, result: Result<PoStJobOutput, String>)
            -> Result<(), ManagerError>;
    }
}

/// The chain's WindowPoSt proof number (`RegisteredPoStProof`
/// `StackedDrgWindow…V1_1`, 10..=14) for sectors of `size`: what a
/// `SubmitWindowedPoSt` carries.
///
/// ```
/// use venus_seal_core::post_jobs::window_post_chain_id;
/// use venus_seal_core::SealProof;
/// assert_eq!(window_post_chain_id(SealProof::StackedDrg2KiBV1_1.sector_size()), 10);
/// assert_eq!(window_post_chain_id(SealProof::StackedDrg32GiBV1_1.sector_size()), 13);
/// ```
pub fn window_post_chain_id(size: SectorSize) -> i64 {
    let index = SealProof::ALL[..5]
        .iter()
        .position(|p| p.sector_size() == size)
        .unwrap_or(0);
    10 + index as i64
}

/// The seal proof a WindowPoSt job of `size` carries
/// (`StackedDrg<size>V1_1`), `None` for a size Filecoin does not have.
pub fn seal_proof_of_size(size: SectorSize) -> Option<SealProof> {
    SealProof::ALL[5..10]
        .iter()
        .copied()
        .find(|p| p.sector_size() == size)
}

/// How long [`WindowPoStJobs`] waits on workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoStJobSettings {
    /// A running job without a heartbeat for this long is handed out
    /// again (damocles-worker beats every 3 s). Default 1 min.
    #[serde(with = "crate::serde_duration")]
    pub heartbeat_timeout: Duration,
    /// How many times a job is handed out before its partition fails.
    /// Default 3.
    pub max_tries: u32,
    /// A job no worker has taken for this long fails its partition (as
    /// [`StageError::Unavailable`]). Default 5 min.
    #[serde(with = "crate::serde_duration")]
    pub pick_up_within: Duration,
}

impl Default for PoStJobSettings {
    fn default() -> Self {
        Self {
            heartbeat_timeout: Duration::from_secs(60),
            max_tries: 3,
            pick_up_within: Duration::from_secs(300),
        }
    }
}

/// A job in the queue.
#[derive(Debug)]
struct Entry {
    job: WindowPoStJob,
    /// What the verifier checks the proofs against.
    sectors: Vec<PoStSector>,
    running: Option<Running>,
    /// How many times it was handed out.
    tries: u32,
    /// When it was queued (or queued again).
    queued: Instant,
    /// Why its tries failed.
    errors: Vec<String>,
    done: Option<oneshot::Sender<Result<PoStJobOutput, Ended>>>,
}

#[derive(Clone, Debug)]
struct Running {
    worker: String,
    beat: Instant,
}

/// Why a job ended without proofs.
#[derive(Debug)]
enum Ended {
    /// Its tries failed.
    Failed(String),
    /// No worker took it.
    NotTaken(String),
}

/// The queue of WindowPoSt jobs a sector manager hands to proving
/// workers, and the [`Executor<WindowPoSt>`] that fills it; see the
/// module docs.
///
/// ```
/// use std::sync::Arc;
/// use venus_seal_core::post_jobs::{PoStJobSettings, WindowPoStJobs};
/// let jobs = Arc::new(WindowPoStJobs::new(
///     vec![("nas-1".to_string(), "/mnt/nas-1".into())],
///     PoStJobSettings::default(),
/// ));
/// // The scheduler proves through it (`PoStExecutors { window_post: jobs.clone(), .. }`)
/// // and the worker API hands its jobs out.
/// assert!(jobs.jobs().is_empty());
/// ```
pub struct WindowPoStJobs {
    stores: Vec<(String, PathBuf)>,
    settings: PoStJobSettings,
    verifier: Option<Arc<dyn ProofVerifier>>,
    entries: Mutex<BTreeMap<String, Entry>>,
    next: AtomicU64,
}

impl std::fmt::Debug for WindowPoStJobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowPoStJobs")
            .field("stores", &self.stores)
            .field("settings", &self.settings)
            .field("verifies", &self.verifier.is_some())
            .finish_non_exhaustive()
    }
}

/// A job as an operator sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoStJobBrief {
    /// The job's id.
    pub id: String,
    /// The miner.
    pub miner: ActorId,
    /// How many sectors it proves.
    pub sectors: usize,
    /// The worker computing it, if one is.
    pub worker: Option<String>,
    /// How many times it was handed out.
    pub tries: u32,
    /// Why earlier tries failed.
    pub errors: Vec<String>,
}

impl WindowPoStJobs {
    /// A queue whose jobs name sectors by the persist stores `stores`
    /// (name, directory on this host: the roots the scheduler's locator
    /// finds the files under), waiting on workers as `settings` says.
    pub fn new(stores: Vec<(String, PathBuf)>, settings: PoStJobSettings) -> Self {
        Self {
            stores,
            settings,
            verifier: None,
            entries: Mutex::new(BTreeMap::new()),
            next: AtomicU64::new(1),
        }
    }

    /// Proofs are checked with `verifier` before they are taken: one that
    /// does not verify fails the worker's try.
    pub fn with_verifier(mut self, verifier: Arc<dyn ProofVerifier>) -> Self {
        self.verifier = Some(verifier);
        self
    }

    /// The jobs queued or running now.
    pub fn jobs(&self) -> Vec<PoStJobBrief> {
        self.lock()
            .values()
            .map(|e| PoStJobBrief {
                id: e.job.id.clone(),
                miner: e.job.miner,
                sectors: e.job.sectors.len(),
                worker: e.running.as_ref().map(|r| r.worker.clone()),
                tries: e.tries,
                errors: e.errors.clone(),
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The store (by name) that holds `path` as `<root>/<key>`.
    fn store_of(&self, path: &Path, key: &str) -> Option<String> {
        self.stores
            .iter()
            .find(|(_, root)| path == root.join(key))
            .map(|(name, _)| name.clone())
    }

    /// The job sector of `s`, or why a worker cannot be told where it is.
    fn job_sector(&self, miner: ActorId, s: &ProvingSector) -> Result<PoStJobSector, String> {
        let id = SectorId::new(miner, s.sector.number);
        let upgrade = s.sector.sector_key.is_some();
        let (sealed, cache) = keys(&id, upgrade);
        let named = |path: &Path, key: &str| {
            self.store_of(path, key).ok_or_else(|| {
                format!(
                    "{} is not `{key}` in a named persist store ([[persist_stores]]): \
                     no proving worker can be told where it is",
                    path.display()
                )
            })
        };
        Ok(PoStJobSector {
            number: s.sector.number,
            comm_r: s.sector.comm_r,
            upgrade,
            sealed_store: named(&s.files.sealed, &sealed)?,
            cache_store: named(&s.files.cache, &cache)?,
        })
    }

    /// Ends the job's current try with `reason`: queued again, or ended
    /// once it has been tried `max_tries` times.
    fn fail_try(&self, entries: &mut BTreeMap<String, Entry>, id: &str, reason: String) {
        let Some(entry) = entries.get_mut(id) else {
            return;
        };
        let worker = entry.running.take().map(|r| r.worker).unwrap_or_default();
        warn!(job = id, %worker, tries = entry.tries, error = %reason, "WindowPoSt job failed");
        entry.errors.push(reason);
        if entry.tries >= self.settings.max_tries {
            let all = entry.errors.join("; ");
            if let Some(done) = entry.done.take() {
                let _ = done.send(Err(Ended::Failed(format!(
                    "WindowPoSt job {id} failed {} times: {all}",
                    entry.tries
                ))));
            }
            entries.remove(id);
        } else {
            entry.queued = Instant::now();
        }
    }

    /// Hands out again the jobs whose worker went quiet, and ends those
    /// no worker took in time.
    fn sweep(&self, entries: &mut BTreeMap<String, Entry>) {
        let now = Instant::now();
        let quiet: Vec<(String, String)> = entries
            .iter()
            .filter_map(|(id, e)| {
                let r = e.running.as_ref()?;
                (now.duration_since(r.beat) > self.settings.heartbeat_timeout)
                    .then(|| (id.clone(), r.worker.clone()))
            })
            .collect();
        for (id, worker) in quiet {
            let reason = format!(
                "no heartbeat from {worker} for {:?}",
                self.settings.heartbeat_timeout
            );
            self.fail_try(entries, &id, reason);
        }
        let stale: Vec<String> = entries
            .iter()
            .filter(|(_, e)| {
                e.running.is_none() && now.duration_since(e.queued) > self.settings.pick_up_within
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in stale {
            if let Some(mut e) = entries.remove(&id) {
                warn!(job = %id, "WindowPoSt job not taken by any worker");
                if let Some(done) = e.done.take() {
                    let _ = done.send(Err(Ended::NotTaken(format!(
                        "no proving worker took WindowPoSt job {id} within {:?}{}",
                        self.settings.pick_up_within,
                        if e.errors.is_empty() {
                            String::new()
                        } else {
                            format!(" (earlier tries: {})", e.errors.join("; "))
                        }
                    ))));
                }
            }
        }
    }

    /// Checks a worker's output against its job: faults among the job's
    /// sectors, proofs (verified when a verifier is set) for the rest.
    async fn check(
        &self,
        job: &WindowPoStJob,
        sectors: &[PoStSector],
        out: &PoStJobOutput,
    ) -> Result<(), String> {
        let asked: BTreeSet<SectorNumber> = job.sectors.iter().map(|s| s.number).collect();
        if let Some(stray) = out.faults.iter().find(|f| !asked.contains(f)) {
            return Err(format!("fault {stray} is not a sector of the job"));
        }
        if out.proofs.is_empty() {
            return if out.faults.is_empty() {
                Err("the output has neither proofs nor faults".into())
            } else {
                Ok(())
            };
        }
        let Some(verifier) = self.verifier.clone() else {
            return Ok(());
        };
        let faults: BTreeSet<SectorNumber> = out.faults.iter().copied().collect();
        let post_proof = window_post_chain_id(job.seal_proof.sector_size());
        let info = WindowPoStVerifyInfo {
            miner: job.miner,
            randomness: job.randomness,
            // As the worker proved them: all under the job's seal proof
            // (sectors of one size but different PoRep variants prove the
            // same WindowPoSt).
            sectors: sectors
                .iter()
                .filter(|s| !faults.contains(&s.number))
                .map(|s| PoStSector {
                    seal_proof: job.seal_proof,
                    ..*s
                })
                .collect(),
            proofs: out
                .proofs
                .iter()
                .map(|p| PoStProof {
                    post_proof,
                    proof: p.clone(),
                })
                .collect(),
        };
        match tokio::task::spawn_blocking(move || verifier.verify_window_post(&info)).await {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err("its proof does not verify".into()),
            Ok(Err(e)) => Err(format!("its proof could not be verified: {e}")),
            Err(e) => Err(format!("the verifier panicked: {e}")),
        }
    }
}

/// Takes the job out of the queue when its partition stops waiting.
struct Withdraw<'a> {
    jobs: &'a WindowPoStJobs,
    id: String,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        if self.jobs.lock().remove(&self.id).is_some() {
            info!(job = %self.id, "WindowPoSt job withdrawn: its partition no longer waits");
        }
    }
}

#[async_trait]
impl Executor<WindowPoSt> for WindowPoStJobs {
    async fn execute(&self, task: WindowPoSt) -> Result<WindowPoStOutput, StageError> {
        let mut skipped = Vec::new();
        let mut job_sectors = Vec::new();
        let mut sectors = Vec::new();
        for s in &task.sectors {
            match self.job_sector(task.miner, s) {
                Ok(js) => {
                    job_sectors.push(js);
                    sectors.push(s.sector);
                }
                Err(reason) => {
                    warn!(miner = %task.miner, sector = %s.sector.number, %reason, "sector left out of the WindowPoSt job");
                    skipped.push(SkippedSector {
                        number: s.sector.number,
                        reason,
                    });
                }
            }
        }
        if job_sectors.is_empty() {
            return Ok(WindowPoStOutput {
                proofs: Vec::new(),
                proven: Vec::new(),
                skipped,
            });
        }
        let size = sectors[0].seal_proof.sector_size();
        if let Some(other) = sectors.iter().find(|s| s.seal_proof.sector_size() != size) {
            return Err(StageError::InvalidTask(format!(
                "window_post: sectors of two sizes ({size} and {})",
                other.seal_proof.sector_size()
            )));
        }
        let seal_proof = seal_proof_of_size(size).ok_or_else(|| {
            StageError::InvalidTask(format!("window_post: no seal proof of size {size}"))
        })?;
        // The sequence first, zero-padded: the queue hands jobs out in id
        // order, oldest first.
        let id = format!(
            "wdpost-{:010}-t0{}-d{}-p{}",
            self.next.fetch_add(1, Ordering::Relaxed),
            task.miner.0,
            task.deadline,
            task.partition,
        );
        let job = WindowPoStJob {
            id: id.clone(),
            miner: task.miner,
            seal_proof,
            randomness: task.randomness,
            sectors: job_sectors,
        };
        let (tx, mut rx) = oneshot::channel();
        self.lock().insert(
            id.clone(),
            Entry {
                job: job.clone(),
                sectors,
                running: None,
                tries: 0,
                queued: Instant::now(),
                errors: Vec::new(),
                done: Some(tx),
            },
        );
        let _withdraw = Withdraw {
            jobs: self,
            id: id.clone(),
        };
        info!(job = %id, miner = %task.miner, deadline = task.deadline, partition = task.partition,
              sectors = job.sectors.len(), "WindowPoSt job queued for a proving worker");
        let result = loop {
            tokio::select! {
                r = &mut rx => break r,
                _ = tokio::time::sleep(Duration::from_secs(1)) => self.sweep(&mut self.lock()),
            }
        };
        let output = match result {
            Ok(Ok(output)) => output,
            Ok(Err(Ended::Failed(e))) => return Err(StageError::Computation(e)),
            Ok(Err(Ended::NotTaken(e))) => return Err(StageError::Unavailable(e)),
            Err(_) => {
                return Err(StageError::Unavailable(format!(
                    "WindowPoSt job {id} was dropped from the queue"
                )))
            }
        };
        let faults: BTreeSet<SectorNumber> = output.faults.iter().copied().collect();
        let post_proof = window_post_chain_id(size);
        skipped.extend(faults.iter().map(|f| SkippedSector {
            number: *f,
            reason: "the proving worker found its files faulty".into(),
        }));
        skipped.sort_by_key(|s| s.number);
        let proven = if output.proofs.is_empty() {
            Vec::new()
        } else {
            job.sectors
                .iter()
                .map(|s| s.number)
                .filter(|n| !faults.contains(n))
                .collect()
        };
        Ok(WindowPoStOutput {
            proofs: output
                .proofs
                .into_iter()
                .map(|proof| PoStProof { post_proof, proof })
                .collect(),
            proven,
            skipped,
        })
    }
}

#[async_trait]
impl WindowPoStJobSource for WindowPoStJobs {
    async fn allocate_post_jobs(
        &self,
        spec: &PoStJobSpec,
        num: u32,
        worker: &str,
    ) -> Result<Vec<WindowPoStJob>, ManagerError> {
        let mut entries = self.lock();
        self.sweep(&mut entries);
        let now = Instant::now();
        let mut out = Vec::new();
        for entry in entries.values_mut() {
            if out.len() >= num as usize {
                break;
            }
            if entry.running.is_some() || !spec.allows(&entry.job) {
                continue;
            }
            entry.running = Some(Running {
                worker: worker.to_string(),
                beat: now,
            });
            entry.tries += 1;
            info!(job = %entry.job.id, %worker, try_num = entry.tries, "WindowPoSt job handed out");
            out.push(entry.job.clone());
        }
        Ok(out)
    }

    async fn heartbeat_post_jobs(&self, ids: &[String], worker: &str) -> Result<(), ManagerError> {
        let mut entries = self.lock();
        let now = Instant::now();
        for id in ids {
            match entries.get_mut(id).and_then(|e| e.running.as_mut()) {
                Some(running) if running.worker == worker => running.beat = now,
                Some(running) => {
                    return Err(ManagerError::Rejected(format!(
                        "WindowPoSt job {id} is running on {}, not {worker} (handed out again after a missed heartbeat)",
                        running.worker
                    )))
                }
                None => {
                    return Err(ManagerError::Rejected(format!(
                        "WindowPoSt job {id} is not running here (finished, withdrawn or handed to another worker)"
                    )))
                }
            }
        }
        Ok(())
    }

    async fn finish_post_job(
        &self,
        id: &str,
        result: Result<PoStJobOutput, String>,
    ) -> Result<(), ManagerError> {
        let not_running = || {
            ManagerError::Rejected(format!(
                "WindowPoSt job {id} is not running here (finished, withdrawn or handed to another worker)"
            ))
        };
        let (job, sectors, tries) = {
            let entries = self.lock();
            let entry = entries
                .get(id)
                .filter(|e| e.running.is_some())
                .ok_or_else(not_running)?;
            (entry.job.clone(), entry.sectors.clone(), entry.tries)
        };
        let checked = match result {
            Ok(out) => self.check(&job, &sectors, &out).await.map(|()| out),
            Err(reason) => Err(format!("the worker failed: {reason}")),
        };
        let mut entries = self.lock();
        // Still this try (not swept and handed out again meanwhile).
        if !entries
            .get(id)
            .is_some_and(|e| e.running.is_some() && e.tries == tries)
        {
            return Err(not_running());
        }
        match checked {
            Ok(out) => {
                let mut entry = entries.remove(id).expect("checked above");
                info!(
                    job = id,
                    proofs = out.proofs.len(),
                    faults = out.faults.len(),
                    "WindowPoSt job finished"
                );
                if let Some(done) = entry.done.take() {
                    let _ = done.send(Ok(out));
                }
            }
            Err(reason) => self.fail_try(&mut entries, id, reason),
        }
        Ok(())
    }
}

/// Aborts its task when dropped (a heartbeat never outlives its job).
#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How a [`PoStJobWorker`] run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PoStJobRun {
    /// No job waited.
    NoJob,
    /// The job was computed and its result handed back.
    Finished {
        /// The job.
        id: String,
        /// How many proofs.
        proofs: usize,
        /// The sectors that failed.
        faults: Vec<SectorNumber>,
    },
    /// The job failed here for this reason (handed back as its failure).
    Failed(String),
}

/// A proving worker's side of WindowPoSt jobs: takes one job at a time
/// from a [`WindowPoStJobSource`], finds the named stores where this host
/// mounts them, proves on its [`Executor<WindowPoSt>`] (a
/// `LocalExecutor`, an ext processor: whatever proves here) while
/// beating every [`heartbeat`](Self::with_heartbeat) (3 s, as
/// damocles-worker), and hands the result back.
#[derive(Debug)]
pub struct PoStJobWorker {
    source: Arc<dyn WindowPoStJobSource>,
    executor: DynExecutor<WindowPoSt>,
    stores: BTreeMap<String, PathBuf>,
    spec: PoStJobSpec,
    name: String,
    heartbeat: Duration,
}

impl PoStJobWorker {
    /// A worker named `name` taking jobs `spec` allows from `source`,
    /// proving on `executor` with the stores `stores` (name → directory
    /// here).
    pub fn new(
        source: Arc<dyn WindowPoStJobSource>,
        executor: DynExecutor<WindowPoSt>,
        stores: BTreeMap<String, PathBuf>,
        spec: PoStJobSpec,
        name: impl Into<String>,
    ) -> Self {
        Self {
            source,
            executor,
            stores,
            spec,
            name: name.into(),
            heartbeat: Duration::from_secs(3),
        }
    }

    /// Beats every `every` while a job runs (default 3 s).
    pub fn with_heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every;
        self
    }

    /// Takes one job, if one waits, and runs it to its end: proves it
    /// while beating for it (until its result is handed back), stops
    /// early if the manager refuses a beat (the job was withdrawn or
    /// handed to another worker: its result would be refused too).
    pub async fn run_once(&self) -> Result<PoStJobRun, ManagerError> {
        let Some(job) = self
            .source
            .allocate_post_jobs(&self.spec, 1, &self.name)
            .await?
            .into_iter()
            .next()
        else {
            return Ok(PoStJobRun::NoJob);
        };
        let id = job.id.clone();
        info!(job = %id, miner = %job.miner, sectors = job.sectors.len(), "WindowPoSt job taken");
        let (beat, mut refused) = self.beat(&id);
        let result = match job.stage(&self.stores) {
            Ok(stage) => tokio::select! {
                out = self.executor.execute(stage) => out
                    .map(|out| PoStJobOutput {
                        proofs: out.proofs.into_iter().map(|p| p.proof).collect(),
                        faults: out.skipped.into_iter().map(|s| s.number).collect(),
                    })
                    .map_err(|e| e.to_string()),
                reason = &mut refused => {
                    let reason = reason.unwrap_or_default();
                    warn!(job = %id, %reason, "WindowPoSt job stopped: the manager no longer runs it here");
                    return Ok(PoStJobRun::Failed(reason));
                }
            },
            Err(reason) => Err(reason),
        };
        let run = match &result {
            Ok(out) => PoStJobRun::Finished {
                id: id.clone(),
                proofs: out.proofs.len(),
                faults: out.faults.clone(),
            },
            Err(reason) => {
                warn!(job = %id, error = %reason, "WindowPoSt job failed here");
                PoStJobRun::Failed(reason.clone())
            }
        };
        crate::rebuild::report(|| self.source.finish_post_job(&id, result.clone())).await?;
        drop(beat);
        Ok(run)
    }

    /// Beats for job `id` every `heartbeat` until the returned guard is
    /// dropped; the receiver answers once the manager refuses a beat
    /// ([`ManagerError::Rejected`]), with its reason.
    fn beat(&self, id: &str) -> (AbortOnDrop, oneshot::Receiver<String>) {
        let (tx, rx) = oneshot::channel();
        let (source, ids, name, every) = (
            self.source.clone(),
            vec![id.to_string()],
            self.name.clone(),
            self.heartbeat,
        );
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match source.heartbeat_post_jobs(&ids, &name).await {
                    Ok(()) => {}
                    Err(ManagerError::Rejected(reason)) => {
                        let _ = tx.send(reason);
                        return;
                    }
                    Err(e) => warn!(job = %ids[0], error = %e, "WindowPoSt job heartbeat failed"),
                }
            }
        });
        (AbortOnDrop(task), rx)
    }

    /// Runs jobs until dropped: one after another while they wait, then
    /// polling every `poll`.
    pub fn spawn(self, poll: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                match self.run_once().await {
                    Ok(PoStJobRun::Finished { .. }) => continue,
                    // Not again at once: the job is queued again, and
                    // another worker (one with the store, say) may take it.
                    Ok(PoStJobRun::Failed(_) | PoStJobRun::NoJob) => {}
                    Err(e) => warn!(error = %e, "cannot reach the manager for WindowPoSt jobs"),
                }
                tokio::time::sleep(poll).await;
            }
        })
    }
}
