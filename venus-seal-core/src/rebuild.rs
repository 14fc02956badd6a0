//! Rebuild jobs: a proving sector whose files are lost is sealed again
//! from its ticket, pieces and proof type to the same CommR and put back
//! in a persistent store.
//!
//! The sector manager keeps the job on the sector's record
//! ([`SectorStatus::rebuild`](crate::manager_store::SectorStatus::rebuild)),
//! asked for by an operator or, where it is safe, by the WindowPoSt
//! check that found the files gone. A worker takes it
//! ([`RebuildJobSource::allocate_rebuild`], damocles'
//! `Venus.AllocateRebuildSector`), runs add_pieces, tree_d, PC1 and PC2
//! with the sector's own ticket through its stage executors
//! ([`Rebuilder`]), checks the commitments against the sector's, persists
//! the files and reports where they went
//! ([`RebuildJobSource::rebuilt`]: damocles' `SubmitPersistedEx` then
//! `ReportFinalized`) or what failed ([`RebuildJobSource::rebuild_failed`]:
//! `ReportAborted`, the job's failure, never the sector's). No C1/C2 and
//! nothing on chain: the sector is declared recovered by the WindowPoSt
//! scheduler once its files pass the check again.
//!
//! A worker that dies mid-rebuild loses the job after
//! [`RebuildJob::LEASE_SECS`]; it starts over from add_pieces (a 32GiB
//! rebuild redoes its PC1).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::error::{Failure, FailureLevel, ManagerError};
use crate::manager::{AllocateSpec, AllocatedSector, DealInfo};
use crate::piece_store::PieceStore;
use crate::sealer::StageExecutors;
use crate::stage::{AddPieces, Pc1, Pc2, Persist, PieceSource, SectorPaths, SynthInputs, TreeD};
use crate::types::commitment::{CommD, CommR};
use crate::types::ids::SectorId;
use crate::types::randomness::Ticket;

pub use crate::jobs::JobState;

/// Who asked for a rebuild.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RebuildOrigin {
    /// An operator (`sectors rebuild`, the admin API).
    Operator,
    /// The WindowPoSt check found the sector's files gone (the manager's
    /// automatic rebuild policy).
    WindowPoStCheck,
}

/// A rebuild job on a sector's record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebuildJob {
    /// Where the job is.
    pub state: JobState,
    /// Who asked.
    pub origin: RebuildOrigin,
    /// Why (the operator's words, or what the check found).
    pub reason: String,
    /// How many times it was handed to a worker.
    #[serde(default)]
    pub attempts: u32,
    /// The last failure a worker reported, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Where the rebuilt files went (the persist store instance), once
    /// reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

impl RebuildJob {
    /// How long a worker holds a job before it is handed out again (a
    /// 32GiB PC1 takes hours).
    pub const LEASE_SECS: u64 = 24 * 3600;
    /// How many times a job is handed out before it is given up.
    pub const MAX_ATTEMPTS: u32 = 3;

    /// A new pending job.
    pub fn new(origin: RebuildOrigin, reason: impl Into<String>) -> Self {
        Self {
            state: JobState::Pending,
            origin,
            reason: reason.into(),
            attempts: 0,
            last_error: None,
            instance: None,
        }
    }

    /// Whether a worker may take it at `now`: pending, or running past
    /// its lease.
    pub fn is_available(&self, now: u64) -> bool {
        self.state.is_available(now, Self::LEASE_SECS)
    }
}

/// What a worker needs to rebuild a sector (damocles'
/// `SectorRebuildInfo`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebuildAssignment {
    /// The sector and its proof type.
    pub sector: AllocatedSector,
    /// The ticket it was sealed with.
    pub ticket: Ticket,
    /// Its deals, in the order their pieces were added (none: CC).
    pub deals: Vec<DealInfo>,
    /// The sealed commitment the rebuilt replica must have (`None` from a
    /// manager that does not say, such as damocles': then only PC2's own
    /// consistency is checked).
    pub comm_r: Option<CommR>,
    /// The data commitment, likewise.
    pub comm_d: Option<CommD>,
    /// The sector was snapped up (damocles' `UpgradePublic`): its replica
    /// is an update of the sealed one, which this rebuilder does not
    /// make; such a job fails, naming why.
    #[serde(default)]
    pub upgraded: bool,
}

/// A sector manager that hands out rebuild jobs (a role beside
/// [`SectorManager`](crate::SectorManager)).
#[async_trait]
pub trait RebuildJobSource: Send + Sync + std::fmt::Debug {
    /// A rebuild job of a sector `spec` allows, now running for the
    /// caller; `None` when there is none (`Venus.AllocateRebuildSector`).
    async fn allocate_rebuild(
        &self,
        spec: AllocateSpec,
    ) -> Result<Option<RebuildAssignment>, ManagerError>;

    /// The sector is rebuilt and its files are in persist store
    /// `instance` (damocles: `SubmitPersistedEx(sector, instance, false)`
    /// then `ReportFinalized(sector)`).
    async fn rebuilt(&self, sector: SectorId, instance: String) -> Result<(), ManagerError>;

    /// The rebuild failed for `reason` (damocles: `ReportAborted`): the
    /// job is handed out again until it has failed too often; the sector
    /// itself is not aborted.
    async fn rebuild_failed(&self, sector: SectorId, reason: String) -> Result<(), ManagerError>;

    /// The rebuild of `sector` is alive and starting `stage` (damocles: a
    /// `ReportState`): its lease starts again. The default does nothing.
    async fn rebuilding(&self, sector: SectorId, stage: &str) -> Result<(), ManagerError> {
        let _ = (sector, stage);
        Ok(())
    }
}

crate::forward::forward_impls! {
    impl[] RebuildJobSource {
        async fn allocate_rebuild(&self, spec: AllocateSpec)
            -> Result<Option<RebuildAssignment>, ManagerError>;
        async fn rebuilt(&self, sector: SectorId, instance: String) -> Result<(), ManagerError>;
        async fn rebuild_failed(&self, sector: SectorId, reason: String)
            -> Result<(), ManagerError>;
        async fn rebuilding(&self, sector: SectorId, stage: &str) -> Result<(), ManagerError>;
    }
}

/// What one [`Rebuilder::run_once`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RebuildRun {
    /// No job waited.
    NoJob,
    /// A sector was rebuilt into this persist store instance.
    Rebuilt(String),
    /// A job failed for this reason (reported to the manager).
    Failed(String),
}

/// A worker's side of rebuild jobs: takes one at a time from the
/// manager, seals the sector again under its work directory through the
/// worker's stage executors (so the worker's stage limits and locks
/// apply), persists it and reports.
#[derive(Clone, Debug)]
pub struct Rebuilder {
    jobs: Arc<dyn RebuildJobSource>,
    pieces: Arc<dyn PieceStore>,
    executors: StageExecutors,
    spec: AllocateSpec,
    work_dir: PathBuf,
}

impl Rebuilder {
    /// A rebuilder taking jobs of sectors `spec` allows from `jobs`,
    /// fetching deal pieces from `pieces`, sealing with `executors` (their
    /// `persist` puts the result in a store the provers reach) under
    /// `work_dir` (one folder per sector, removed once it is done).
    pub fn new(
        jobs: Arc<dyn RebuildJobSource>,
        pieces: Arc<dyn PieceStore>,
        executors: StageExecutors,
        spec: AllocateSpec,
        work_dir: PathBuf,
    ) -> Self {
        Self {
            jobs,
            pieces,
            executors,
            spec,
            work_dir,
        }
    }

    /// Asks for a job and runs it. The job's own failure is reported to
    /// the manager (and logged), not returned: an error is the manager's
    /// (a job whose result could not be reported after a few tries is
    /// handed out again after its lease).
    pub async fn run_once(&self) -> Result<RebuildRun, ManagerError> {
        let Some(job) = self.jobs.allocate_rebuild(self.spec.clone()).await? else {
            return Ok(RebuildRun::NoJob);
        };
        let sector = job.sector.id;
        info!(%sector, proof = %job.sector.proof_type, deals = job.deals.len(), "rebuild started");
        let dir = self.work_dir.join(sector.to_string());
        let result = self.rebuild(&job, &dir).await;
        remove_dir(&dir).await;
        match result {
            Ok(instance) => {
                info!(%sector, %instance, "sector rebuilt and persisted");
                let reported = report(|| self.jobs.rebuilt(sector, instance.clone())).await;
                if let Err(e) = reported {
                    // Refused (the files are not acceptable there) or not
                    // reachable: the job fails with the reason, if the
                    // manager can hear it.
                    let reason = format!("the rebuilt files in {instance} were not taken: {e}");
                    report(|| self.jobs.rebuild_failed(sector, reason.clone())).await?;
                    return Ok(RebuildRun::Failed(reason));
                }
                Ok(RebuildRun::Rebuilt(instance))
            }
            Err(failure) => {
                warn!(%sector, error = %failure, "rebuild failed");
                let reason = failure.to_string();
                report(|| self.jobs.rebuild_failed(sector, reason.clone())).await?;
                Ok(RebuildRun::Failed(reason))
            }
        }
    }

    /// Runs jobs until dropped: one after another while they wait and
    /// succeed, asking again every `poll` when none waits, the last one
    /// failed (a piece store down fails every job the same way: the
    /// manager gives a job up after its third failure), or the manager
    /// cannot be reached. What a worker stopped mid-rebuild left in the
    /// work directory is removed first (its job is handed out again
    /// after its lease).
    pub fn spawn(self, poll: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            remove_leftovers(&self.work_dir).await;
            loop {
                match self.run_once().await {
                    Ok(RebuildRun::Rebuilt(_)) => continue,
                    Ok(_) => {}
                    Err(e) => warn!(error = %e, "cannot reach the manager for rebuild jobs"),
                }
                tokio::time::sleep(poll).await;
            }
        })
    }

    /// Seals the sector again under `dir` and persists it: the persist
    /// store instance, or what failed.
    async fn rebuild(&self, job: &RebuildAssignment, dir: &Path) -> Result<String, Failure> {
        let (sector, proof) = (job.sector.id, job.sector.proof_type);
        if job.upgraded {
            return Err(Failure::new(
                FailureLevel::Permanent,
                "the sector was snapped up: rebuilding its updated replica (sealing, then snap \
                 encoding its new data) is not supported by this worker",
            ));
        }
        // Whatever an earlier attempt on this machine left.
        let _ = tokio::fs::remove_dir_all(dir).await;
        let paths = SectorPaths::under(dir);
        // A damocles manager lists a CC sector's (or a gap's) zero pieces
        // as deals without a chain id: written as zeros, in place.
        let mut sources = Vec::with_capacity(job.deals.len());
        for deal in &job.deals {
            let source = if is_zero_piece(deal) {
                PieceSource::Zero {
                    size: deal.piece.size,
                }
            } else {
                crate::sealer::files::fetch_pieces(
                    &*self.pieces,
                    std::slice::from_ref(deal),
                    &dir.join("pieces"),
                )
                .await?
                .remove(0)
            };
            sources.push(source);
        }
        tokio::fs::create_dir_all(&paths.cache).await.map_err(|e| {
            Failure::from_error(&crate::error::StageError::io(
                format!("creating {}", paths.cache.display()),
                e,
            ))
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
        self.alive(sector, "tree_d").await;
        let tree_d = self
            .executors
            .tree_d
            .execute(TreeD {
                proof,
                staged: paths.staged.clone(),
                cache: paths.cache.clone(),
                pieces: pieces.clone(),
            })
            .await
            .map_err(stage("tree_d"))?;
        check("CommD", job.comm_d.map(|c| c.0), tree_d.comm_d.0)?;
        self.alive(sector, "pc1").await;
        let pc1_output = self
            .executors
            .pc1
            .execute(Pc1 {
                proof,
                sector,
                paths: paths.clone(),
                ticket: job.ticket,
                pieces: pieces.clone(),
            })
            .await
            .map_err(stage("pc1"))?;
        let synthetic = proof.is_synthetic().then(|| SynthInputs {
            ticket: job.ticket,
            pieces: pieces.clone(),
        });
        self.alive(sector, "pc2").await;
        let pc2 = self
            .executors
            .pc2
            .execute(Pc2 {
                proof,
                sector,
                paths: paths.clone(),
                pc1_output,
                synthetic,
            })
            .await
            .map_err(stage("pc2"))?;
        check("CommR", job.comm_r.map(|c| c.0), pc2.comm_r.0)?;
        check("CommD", Some(tree_d.comm_d.0), pc2.comm_d.0)?;
        if proof.is_synthetic() {
            crate::sealer::files::free_sdr_layers(&paths.cache).await;
        }
        self.alive(sector, "persist").await;
        let out = self
            .executors
            .persist
            .execute(Persist {
                proof,
                sector,
                paths,
                update: false,
            })
            .await
            .map_err(stage("persist"))?;
        if !out.clean_sealing_location {
            // The files stayed in the work folder, which goes now.
            return Err(Failure::new(
                FailureLevel::Permanent,
                format!(
                    "persist left the rebuilt files in place ({}): give the worker a [[persist]] \
                     store the provers read",
                    out.instance
                ),
            ));
        }
        Ok(out.instance)
    }
}

impl Rebuilder {
    /// Tells the manager the job is alive (its lease starts again); a
    /// manager that cannot hear it now is only logged.
    async fn alive(&self, sector: SectorId, stage: &str) {
        if let Err(e) = self.jobs.rebuilding(sector, stage).await {
            warn!(%sector, stage, error = %e, "cannot tell the manager the rebuild is alive");
        }
    }
}

/// A stage's error as the job's failure, naming the stage.
pub(crate) fn stage(what: &'static str) -> impl Fn(crate::error::StageError) -> Failure {
    move |e| {
        let f = Failure::from_error(&e);
        Failure::new(f.level, format!("{what}: {}", f.message))
    }
}

/// Removes what a worker stopped mid-job left in `work_dir` (one folder
/// per sector; the job is handed out again after its lease).
pub(crate) async fn remove_leftovers(work_dir: &Path) {
    if let Ok(mut entries) = tokio::fs::read_dir(work_dir).await {
        while let Ok(Some(entry)) = entries.next_entry().await {
            if entry.file_name().to_string_lossy().starts_with("s-t0") {
                remove_dir(&entry.path()).await;
            }
        }
    }
}

/// Removes `dir` and what it holds, logging why not (missing is fine).
pub(crate) async fn remove_dir(dir: &Path) {
    if let Err(e) = tokio::fs::remove_dir_all(dir).await {
        if e.kind() != std::io::ErrorKind::NotFound {
            warn!(dir = %dir.display(), error = %e, "cannot clean a job's work folder");
        }
    }
}

/// Calls `f` until it succeeds, up to five times a few seconds apart: a
/// job's result is hours of work, not lost to one network blip. A refusal
/// (`Rejected`) is not retried. (Rebuild and snap-up jobs report with it.)
pub(crate) async fn report<T, F, Fut>(f: F) -> Result<T, ManagerError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, ManagerError>>,
{
    let mut delay = Duration::from_secs(2);
    for attempt in 1.. {
        match f().await {
            Err(e) if attempt < 5 && !matches!(e, ManagerError::Rejected(_)) => {
                warn!(error = %e, attempt, "reporting a job's result: trying again");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            other => return other,
        }
    }
    unreachable!("the loop returns")
}

/// A piece without a chain deal whose CID is the zero commitment of its
/// size (damocles' pledge pieces).
fn is_zero_piece(deal: &DealInfo) -> bool {
    deal.id == 0
        && crate::types::commitment::comm_d_of_pieces(&[], deal.piece.size.0)
            .is_ok_and(|zero| zero == deal.piece.cid)
}

/// A rebuilt commitment differs from the sector's: the sector cannot be
/// rebuilt from what the job says (its ticket, pieces or proof type are
/// not the ones it was sealed with). Permanent: running it again gives
/// the same replica.
fn check(what: &str, expected: Option<[u8; 32]>, got: [u8; 32]) -> Result<(), Failure> {
    match expected {
        Some(e) if e != got => Err(Failure::new(
            FailureLevel::Permanent,
            format!(
                "the rebuilt {what} {} differs from the sector's {}: its ticket, pieces or proof \
                 type are not the ones it was sealed with",
                hex::encode(got),
                hex::encode(e)
            ),
        )),
        _ => Ok(()),
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests;
