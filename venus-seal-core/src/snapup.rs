//! Snap-up jobs: a proven committed-capacity (CC) sector takes deal data
//! without being sealed again. Its replica is encoded with the new data
//! (`snap_encode`), the encoding is proven (`snap_prove`), the updated
//! replica is persisted beside the old one, and the manager sends the
//! proof on chain (`ProveReplicaUpdates3`, batched per miner). Once the
//! update is final, the old replica and cache (the "CC data") are
//! removed.
//!
//! The manager keeps the job on the sector's record
//! ([`SectorStatus::snap_up`](crate::manager_store::SectorStatus::snap_up)),
//! asked for by an operator or picked by the manager's candidate policy.
//! A worker takes it ([`SnapUpJobSource::allocate_snap_up`], damocles'
//! `Venus.AllocateSanpUpSector`) with the deals it is to hold, runs it
//! ([`Upgrader`]) and submits the result
//! ([`SnapUpJobSource::submit_snap_up`], damocles'
//! `Venus.SubmitSnapUpProof`), or reports why it failed
//! ([`SnapUpJobSource::snap_up_failed`], damocles' `ReportAborted`: the
//! job's failure; the sector stays proven as CC and its deals go back).
//!
//! A worker that dies mid-job loses it after [`SnapUpJob::LEASE_SECS`];
//! the next one starts over from the pieces (the encoding reads the old
//! replica, which is never written).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::error::{Failure, FailureLevel, ManagerError, StageError};
use crate::executor::DynExecutor;
use crate::manager::{AcquireDealsSpec, AllocateSpec, AllocatedSector, DealInfo};
use crate::manager_store::Submitted;
use crate::piece_store::PieceStore;
use crate::proving::{SectorFiles, SectorLocator};
use crate::rebuild::{remove_dir, remove_leftovers, report, stage};
use crate::stage::{AddPieces, Persist, Proof, SectorPaths, SnapEncode, SnapProve};
use crate::types::commitment::PieceCid;
use crate::types::commitment::{CommD, CommR};
use crate::types::ids::{ChainEpoch, SectorId};

/// Where a snap-up job is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnapUpState {
    /// Waiting for a worker.
    Pending,
    /// Handed to a worker at `since` (Unix seconds); handed out again
    /// once [`SnapUpJob::LEASE_SECS`] pass without a result.
    Encoding {
        /// When it was handed out (or last reported alive).
        since: u64,
    },
    /// The worker's proof was taken: its message is the job's
    /// [`submission`](SnapUpJob::submission).
    Proven,
    /// The message landed at `epoch`; the old replica is removed once
    /// the chain is final past it.
    Landed {
        /// The epoch it landed at.
        epoch: ChainEpoch,
    },
    /// The update is final and the CC data was removed (or left, as
    /// configured) at `at`.
    Done {
        /// When (Unix seconds).
        at: u64,
    },
    /// Given up at `at` (see [`SnapUpJob::last_error`]): the sector stays
    /// a proven CC sector and its deals were released; or the sector left
    /// the chain after its update landed (its deals were activated).
    Failed {
        /// When (Unix seconds).
        at: u64,
    },
}

impl SnapUpState {
    /// The state in one word, for listings.
    pub fn name(&self) -> &'static str {
        match self {
            SnapUpState::Pending => "Pending",
            SnapUpState::Encoding { .. } => "Encoding",
            SnapUpState::Proven => "Proven",
            SnapUpState::Landed { .. } => "Landed",
            SnapUpState::Done { .. } => "Done",
            SnapUpState::Failed { .. } => "Failed",
        }
    }

    /// Neither done nor given up.
    pub fn is_open(&self) -> bool {
        !matches!(self, SnapUpState::Done { .. } | SnapUpState::Failed { .. })
    }
}

/// Who asked for a snap-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnapUpOrigin {
    /// An operator (`sectors snap-up`, the admin API).
    Operator,
    /// The manager's candidate policy (`[snap_up]` of a miner).
    Policy,
}

/// A snap-up job on a sector's record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapUpJob {
    /// Where the job is.
    pub state: SnapUpState,
    /// Who asked.
    pub origin: SnapUpOrigin,
    /// How many times it was handed to a worker.
    #[serde(default)]
    pub attempts: u32,
    /// The last failure, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The old (CC) replica commitment: the sector key.
    pub comm_r_old: CommR,
    /// The persist store instance holding the CC replica.
    pub cc_instance: String,
    /// The worker's result and the message that carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submission: Option<Submitted<SnapUpProof>>,
    /// The old replica and cache were removed.
    #[serde(default)]
    pub cc_data_removed: bool,
    /// Given up, its deals not yet taken back by the market (retried).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub release_pending: bool,
}

impl SnapUpJob {
    /// How long a worker holds a job before it is handed out again (a
    /// 32GiB encoding and proof take an hour or two).
    pub const LEASE_SECS: u64 = 6 * 3600;
    /// How many times a job is handed out before it is given up.
    pub const MAX_ATTEMPTS: u32 = 3;

    /// A new pending job for a CC sector of replica `comm_r_old` whose
    /// files are in persist store `cc_instance`.
    pub fn new(origin: SnapUpOrigin, comm_r_old: CommR, cc_instance: String) -> Self {
        Self {
            state: SnapUpState::Pending,
            origin,
            attempts: 0,
            last_error: None,
            comm_r_old,
            cc_instance,
            submission: None,
            cc_data_removed: false,
            release_pending: false,
        }
    }

    /// Whether a worker may take it at `now`: pending, or encoding past
    /// its lease.
    pub fn is_available(&self, now: u64) -> bool {
        match self.state {
            SnapUpState::Pending => true,
            SnapUpState::Encoding { since } => now.saturating_sub(since) >= Self::LEASE_SECS,
            _ => false,
        }
    }

    /// Whether its proof waits for a batch.
    pub fn has_queued_submission(&self) -> bool {
        self.submission.as_ref().is_some_and(Submitted::is_queued)
    }
}

/// What a worker needs to snap a sector up (damocles'
/// `AllocatedSnapUpSector`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapUpAssignment {
    /// The sector and its proof type.
    pub sector: AllocatedSector,
    /// The deals it is to hold, in order.
    pub deals: Vec<DealInfo>,
    /// The CC replica commitment (damocles' `Public.CommR`).
    pub comm_r_old: CommR,
    /// The persist store instance holding the CC replica and cache
    /// (damocles' `Private.AccessInstance`).
    pub instance: String,
}

/// A worker's result (damocles' `SnapUpOnChainInfo`): what the manager
/// puts on chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapUpProof {
    /// The updated replica commitment.
    pub comm_r_new: CommR,
    /// The new data's commitment.
    pub comm_d_new: CommD,
    /// The pieces encoded, in order (checked against the job's deals).
    pub pieces: Vec<PieceCid>,
    /// The update proof.
    pub proof: Proof,
    /// The persist store instance holding the updated replica and cache.
    pub instance: String,
}

/// How the manager took a [`SnapUpProof`] (damocles'
/// `SubmitSnapUpProofResp`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnapUpVerdict {
    /// Taken (again: a repeated submission of the same result is taken).
    Accepted,
    /// Refused, with why: the worker reports the job failed (handed out
    /// again until it failed too often).
    Rejected(String),
    /// The updated files are not where the result says: persist again.
    FilesMissed(String),
}

/// A sector manager that hands out snap-up jobs (a role beside
/// [`SectorManager`](crate::SectorManager)).
#[async_trait]
pub trait SnapUpJobSource: Send + Sync + std::fmt::Debug {
    /// A snap-up job of a sector `spec` allows, with deals as `deals`
    /// allows, now running for the caller; `None` when there is none or
    /// no deals wait (`Venus.AllocateSanpUpSector`).
    async fn allocate_snap_up(
        &self,
        spec: AllocateSpec,
        deals: AcquireDealsSpec,
    ) -> Result<Option<SnapUpAssignment>, ManagerError>;

    /// The job's result (`Venus.SubmitSnapUpProof`).
    async fn submit_snap_up(
        &self,
        sector: SectorId,
        proof: SnapUpProof,
    ) -> Result<SnapUpVerdict, ManagerError>;

    /// The job failed for `reason` (damocles: `ReportAborted`): handed out
    /// again until it has failed too often; the sector stays a CC sector.
    async fn snap_up_failed(&self, sector: SectorId, reason: String) -> Result<(), ManagerError>;

    /// The job on `sector` is alive and starting `stage` (damocles: a
    /// `ReportState`): its lease starts again. The default does nothing.
    async fn snapping_up(&self, sector: SectorId, stage: &str) -> Result<(), ManagerError> {
        let _ = (sector, stage);
        Ok(())
    }
}

crate::forward::forward_impls! {
    impl[] SnapUpJobSource {
        async fn allocate_snap_up(&self, spec: AllocateSpec, deals: AcquireDealsSpec)
            -> Result<Option<SnapUpAssignment>, ManagerError>;
        async fn submit_snap_up(&self, sector: SectorId, proof: SnapUpProof)
            -> Result<SnapUpVerdict, ManagerError>;
        async fn snap_up_failed(&self, sector: SectorId, reason: String)
            -> Result<(), ManagerError>;
        async fn snapping_up(&self, sector: SectorId, stage: &str) -> Result<(), ManagerError>;
    }
}

/// The executors a snap-up runs on (the worker's: its limits, locks and
/// ext processors apply).
#[derive(Clone, Debug)]
pub struct SnapExecutors {
    /// add_pieces: the new data, staged.
    pub add_pieces: DynExecutor<AddPieces>,
    /// snap_encode.
    pub encode: DynExecutor<SnapEncode>,
    /// snap_prove.
    pub prove: DynExecutor<SnapProve>,
    /// persist (of the updated replica: [`Persist::update`]).
    pub persist: DynExecutor<Persist>,
}

/// What one [`Upgrader::run_once`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnapUpRun {
    /// No job waited.
    NoJob,
    /// A sector was updated and its proof taken; the updated files are in
    /// this persist store instance.
    Submitted(String),
    /// A job failed for this reason (reported to the manager).
    Failed(String),
}

/// A worker's side of snap-up jobs: takes one at a time from the manager,
/// finds the CC sector's files through its locator (the persist stores it
/// mounts), stages the deals' pieces, encodes and proves under its work
/// directory, persists the updated replica and submits the result.
#[derive(Clone, Debug)]
pub struct Upgrader {
    jobs: Arc<dyn SnapUpJobSource>,
    pieces: Arc<dyn PieceStore>,
    sectors: Arc<dyn SectorLocator>,
    executors: SnapExecutors,
    spec: AllocateSpec,
    deals: AcquireDealsSpec,
    work_dir: PathBuf,
}

impl Upgrader {
    /// An upgrader taking jobs of sectors `spec` allows (with deals as
    /// `deals` allows) from `jobs`, reading CC sectors where `sectors`
    /// finds them, fetching pieces from `pieces`, running `executors`
    /// under `work_dir` (one folder per sector, removed once it is done).
    pub fn new(
        jobs: Arc<dyn SnapUpJobSource>,
        pieces: Arc<dyn PieceStore>,
        sectors: Arc<dyn SectorLocator>,
        executors: SnapExecutors,
        spec: AllocateSpec,
        work_dir: PathBuf,
    ) -> Self {
        Self {
            jobs,
            pieces,
            sectors,
            executors,
            spec,
            deals: AcquireDealsSpec::default(),
            work_dir,
        }
    }

    /// Asks for jobs with deals as `deals` allows (damocles' worker
    /// `max_deals`, `min_deal_space`).
    pub fn with_deals(mut self, deals: AcquireDealsSpec) -> Self {
        self.deals = deals;
        self
    }

    /// Asks for a job and runs it. The job's own failure is reported to
    /// the manager (and logged), not returned: an error is the manager's.
    pub async fn run_once(&self) -> Result<SnapUpRun, ManagerError> {
        let Some(job) = self
            .jobs
            .allocate_snap_up(self.spec.clone(), self.deals)
            .await?
        else {
            return Ok(SnapUpRun::NoJob);
        };
        let sector = job.sector.id;
        info!(%sector, proof = %job.sector.proof_type, deals = job.deals.len(), cc = %job.instance, "snap-up started");
        let dir = self.work_dir.join(sector.to_string());
        let result = self.snap_up(&job, &dir).await;
        remove_dir(&dir).await;
        let reason = match result {
            Ok(Persisted(instance)) => {
                info!(%sector, %instance, "snap-up proven, persisted and submitted");
                return Ok(SnapUpRun::Submitted(instance));
            }
            Err(failure) => failure.to_string(),
        };
        warn!(%sector, error = %reason, "snap-up failed");
        report(|| self.jobs.snap_up_failed(sector, reason.clone())).await?;
        Ok(SnapUpRun::Failed(reason))
    }

    /// Runs jobs until dropped: one after another while they wait and
    /// succeed, asking again every `poll` otherwise. What a worker
    /// stopped mid-job left in the work directory is removed first.
    pub fn spawn(self, poll: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            remove_leftovers(&self.work_dir).await;
            loop {
                match self.run_once().await {
                    Ok(SnapUpRun::Submitted(_)) => continue,
                    Ok(_) => {}
                    Err(e) => warn!(error = %e, "cannot reach the manager for snap-up jobs"),
                }
                tokio::time::sleep(poll).await;
            }
        })
    }

    /// Runs one job under `dir`: the instance its updated files went to,
    /// once the manager took the proof.
    async fn snap_up(&self, job: &SnapUpAssignment, dir: &Path) -> Result<Persisted, Failure> {
        let (sector, proof) = (job.sector.id, job.sector.proof_type);
        if job.deals.is_empty() {
            return Err(Failure::new(
                FailureLevel::Permanent,
                "the job holds no deals: nothing to snap up",
            ));
        }
        let sector_key = self.cc_files(job)?;
        let _ = tokio::fs::remove_dir_all(dir).await;
        let paths = SectorPaths::under(dir);
        let sources =
            crate::sealer::files::fetch_pieces(&*self.pieces, &job.deals, &dir.join("pieces"))
                .await?;
        tokio::fs::create_dir_all(dir).await.map_err(|e| {
            Failure::from_error(&StageError::io(format!("creating {}", dir.display()), e))
        })?;
        let pieces = self
            .executors
            .add_pieces
            .execute(AddPieces {
                proof,
                sector,
                pieces: sources,
                staged: paths.staged.clone(),
            })
            .await
            .map_err(stage("add_pieces"))?;
        let _ = tokio::fs::remove_dir_all(dir.join("pieces")).await;
        for (piece, deal) in pieces.iter().zip(&job.deals) {
            if piece.cid != deal.piece.cid {
                return Err(Failure::new(
                    FailureLevel::Permanent,
                    format!(
                        "piece {} was staged as {}: the piece store holds other bytes",
                        deal.piece.cid, piece.cid
                    ),
                ));
            }
        }
        self.alive(sector, "snap_encode").await;
        let encode = SnapEncode {
            sector,
            seal_proof: proof,
            sector_key,
            update: SectorFiles {
                sealed: paths.sealed.clone(),
                cache: paths.cache.clone(),
            },
            staged_data: paths.staged.clone(),
            pieces: pieces.clone(),
        };
        let encoded = self
            .executors
            .encode
            .execute(encode.clone())
            .await
            .map_err(stage("snap_encode"))?;
        self.alive(sector, "snap_prove").await;
        let update_proof = self
            .executors
            .prove
            .execute(SnapProve {
                encode,
                encoded,
                comm_r_old: job.comm_r_old,
            })
            .await
            .map_err(stage("snap_prove"))?;
        // The staged data is not needed past the proof (the provers read
        // the updated replica).
        let _ = tokio::fs::remove_file(&paths.staged).await;
        let mut repersisted = false;
        loop {
            self.alive(sector, "persist").await;
            let out = self
                .executors
                .persist
                .execute(Persist {
                    proof,
                    sector,
                    paths: paths.clone(),
                    update: true,
                })
                .await
                .map_err(stage("persist"))?;
            if !out.clean_sealing_location {
                return Err(Failure::new(
                    FailureLevel::Permanent,
                    format!(
                        "persist left the updated files in place ({}): give the worker a \
                         [[persist]] store the provers read",
                        out.instance
                    ),
                ));
            }
            let result = SnapUpProof {
                comm_r_new: encoded.comm_r_new,
                comm_d_new: encoded.comm_d_new,
                pieces: job.deals.iter().map(|d| d.piece.cid).collect(),
                proof: update_proof.clone(),
                instance: out.instance.clone(),
            };
            let verdict = report(|| self.jobs.submit_snap_up(sector, result.clone()))
                .await
                .map_err(|e| {
                    Failure::new(
                        FailureLevel::Temporary,
                        format!("the manager did not take the proof: {e}"),
                    )
                })?;
            match verdict {
                SnapUpVerdict::Accepted => return Ok(Persisted(out.instance)),
                SnapUpVerdict::Rejected(why) => {
                    return Err(Failure::new(
                        FailureLevel::Permanent,
                        format!("the manager refused the proof: {why}"),
                    ))
                }
                SnapUpVerdict::FilesMissed(why) if !repersisted => {
                    warn!(%sector, %why, "the manager does not find the updated files: persisting again");
                    repersisted = true;
                }
                SnapUpVerdict::FilesMissed(why) => {
                    return Err(Failure::new(
                        FailureLevel::Permanent,
                        format!("the manager does not find the updated files twice: {why}"),
                    ))
                }
            }
        }
    }

    /// The CC sector's replica and cache, where this worker reads them.
    fn cc_files(&self, job: &SnapUpAssignment) -> Result<SectorFiles, Failure> {
        let sector = job.sector.id;
        match self.sectors.locate(sector) {
            Some(files) if files.sealed.is_file() && files.cache.is_dir() => Ok(files),
            found => Err(Failure::new(
                FailureLevel::Permanent,
                format!(
                    "the CC replica of {sector} (in persist store {}) is not reachable from this \
                     worker{}: mount that store among its [[persist]] stores",
                    job.instance,
                    found.map_or(String::new(), |f| format!(
                        " (looked at {})",
                        f.sealed.display()
                    ))
                ),
            )),
        }
    }

    /// Tells the manager the job is alive; a manager that cannot hear it
    /// now is only logged.
    async fn alive(&self, sector: SectorId, stage: &str) {
        if let Err(e) = self.jobs.snapping_up(sector, stage).await {
            warn!(%sector, stage, error = %e, "cannot tell the manager the snap-up is alive");
        }
    }
}

/// The instance the updated files went to, the proof taken.
struct Persisted(String);

#[cfg(all(test, feature = "testing"))]
mod tests;
