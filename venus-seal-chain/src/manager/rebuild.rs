//! Rebuild jobs on the manager (see [`venus_seal_core::rebuild`]): asked
//! for by an operator or by the WindowPoSt check ([`AutoRebuild`]), kept
//! on the sector's record, handed to workers, their results recorded.
//!
//! A damocles worker's `rebuild` plan reports the sector as it goes
//! (`ReportState`), then `SubmitPersistedEx` and `ReportFinalized`, or
//! `ReportAborted`: while the sector's job runs, those calls are the
//! job's ([`runs_rebuild`]), never the sealed sector's (which stays
//! finalized and is never aborted by them).

use std::sync::Arc;

use async_trait::async_trait;
use tracing::{info, warn};
use venus_seal_core::manager::{AllocateSpec, AllocatedSector};
use venus_seal_core::piece_store::PieceStore;
use venus_seal_core::proving::{SectorLocator, SkippedSector};
use venus_seal_core::rebuild::{
    JobState, RebuildAssignment, RebuildJob, RebuildJobSource, RebuildOrigin,
};
use venus_seal_core::{ActorId, ManagerError, SectorId};

use super::job_index::JobIndex;
use super::{event, unix_now, LocalSectorManager, SectorStatus};

/// Whether `rec`'s sector has a rebuild job handed to a worker: the
/// worker's reports about it are then the job's.
pub(super) fn runs_rebuild(rec: &SectorStatus) -> bool {
    rec.rebuild
        .as_ref()
        .is_some_and(|j| matches!(j.state, JobState::Running { .. }))
}

/// Not `Rejected`: that is damocles' "sector not found" (11001).
fn no_job(sector: SectorId) -> ManagerError {
    ManagerError::Internal(format!("sector {sector} has no rebuild job running"))
}

impl LocalSectorManager {
    /// Asks for `sector` to be rebuilt (see [`venus_seal_core::rebuild`]).
    /// The sector must be sealed here and finalized (its ticket, pieces
    /// and commitments on record, its sealing worker done with it). A request while a job is open leaves it as
    /// it is; one after a job done or given up starts a new one. Answers
    /// the job.
    pub async fn request_rebuild(
        &self,
        sector: SectorId,
        origin: RebuildOrigin,
        reason: String,
    ) -> Result<RebuildJob, ManagerError> {
        let job = self
            .modify_live(sector, |rec| {
                if !rec.finalized || rec.pre_commit.is_none() {
                    return Err(ManagerError::Rejected(format!(
                        "sector {sector} is not sealed and finalized here: there is nothing to \
                         rebuild it from"
                    )));
                }
                if let Some(job) = rec.rebuild.as_ref().filter(|j| j.state.is_open()) {
                    return Ok(job.clone());
                }
                // Sealed again it would be the CC replica, not the one the
                // chain now proves.
                if let Some(why) = super::snapup::snapped_up(rec) {
                    return Err(ManagerError::Rejected(format!(
                        "sector {sector} {why}: rebuilding an updated replica (sealing, then \
                         encoding its new data) is not supported"
                    )));
                }
                let job = RebuildJob::new(origin, reason.clone());
                rec.rebuild = Some(job.clone());
                rec.record(event(
                    "RebuildRequested",
                    format!("{}: {reason}", origin_name(origin)),
                ));
                Ok(job)
            })
            .await?;
        self.rebuild_index().insert(sector);
        info!(%sector, ?origin, %reason, "rebuild requested");
        Ok(job)
    }

    /// Every sector's rebuild job (open, done and given up), in sector
    /// order.
    pub async fn rebuild_jobs(&self) -> Result<Vec<(SectorId, RebuildJob)>, ManagerError> {
        self.jobs_of(|rec| rec.rebuild.into_iter().collect()).await
    }

    /// The rebuild of `sector` is over: `Ok(instance)` when its files are
    /// in persist store `instance`, else what failed (the job is handed
    /// out again until it has failed [`RebuildJob::MAX_ATTEMPTS`] times).
    /// A report for a job not running (repeated, or from a worker whose
    /// lease ran out) changes nothing, except that a success always
    /// counts: the files were written.
    pub(super) async fn finish_rebuild(
        &self,
        sector: SectorId,
        result: Result<Option<String>, String>,
    ) -> Result<(), ManagerError> {
        let now = unix_now();
        let state = self
            .modify(sector, |rec| {
                let persisted = rec.persisted_at.clone();
                let job = rec.rebuild.as_mut().ok_or_else(|| no_job(sector))?;
                let running = matches!(job.state, JobState::Running { .. });
                let late_success = result.is_ok()
                    && job.attempts > 0
                    && matches!(job.state, JobState::Pending | JobState::Failed { .. });
                if !running && !late_success {
                    return Ok(job.state.name());
                }
                let (step, detail) = match &result {
                    Ok(instance) => {
                        let instance = instance.clone().or(job.instance.clone()).or(persisted);
                        job.state = JobState::Done { at: now };
                        job.last_error = None;
                        job.instance = instance.clone();
                        if let Some(i) = &instance {
                            rec.persisted_at = Some(i.clone());
                        }
                        ("Rebuilt", format!("in {}", instance.unwrap_or_default()))
                    }
                    Err(e) if job.attempts >= RebuildJob::MAX_ATTEMPTS => {
                        job.state = JobState::Failed { at: now };
                        job.last_error = Some(e.clone());
                        ("RebuildFailed", e.clone())
                    }
                    Err(e) => {
                        job.state = JobState::Pending;
                        job.last_error = Some(e.clone());
                        ("RebuildRetry", e.clone())
                    }
                };
                let name = job.state.name();
                rec.record(event(step, detail));
                Ok(name)
            })
            .await?;
        match &result {
            Ok(_) => info!(%sector, "rebuilt"),
            Err(e) => warn!(%sector, error = %e, state, "rebuild failed"),
        }
        if state == "Pending" {
            self.rebuild_index().insert(sector);
        }
        Ok(())
    }

    /// A damocles worker's `SubmitPersistedEx` during the sector's
    /// rebuild: where the rebuilt files are, kept on the job until its
    /// `ReportFinalized` (the sector's own location changes then).
    pub(super) async fn rebuild_persisted(
        &self,
        sector: SectorId,
        instance: String,
    ) -> Result<(), ManagerError> {
        self.modify(sector, |rec| {
            let job = rec.rebuild.as_mut().ok_or_else(|| no_job(sector))?;
            job.instance = Some(instance.clone());
            Ok(())
        })
        .await
    }

    fn rebuild_index(&self) -> std::sync::MutexGuard<'_, JobIndex> {
        self.rebuild
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn sectors_with_rebuilds(&self) -> Result<Vec<SectorId>, ManagerError> {
        if self.rebuild_index().is_stale() {
            let open: Vec<SectorId> = self
                .rebuild_jobs()
                .await?
                .into_iter()
                .filter(|(_, j)| j.state.is_open())
                .map(|(id, _)| id)
                .collect();
            self.rebuild_index().scanned(open);
        }
        Ok(self.rebuild_index().sectors())
    }
}

fn origin_name(origin: RebuildOrigin) -> &'static str {
    match origin {
        RebuildOrigin::Operator => "by the operator",
        RebuildOrigin::WindowPoStCheck => "by the WindowPoSt check",
    }
}

#[async_trait]
impl RebuildJobSource for LocalSectorManager {
    async fn allocate_rebuild(
        &self,
        spec: AllocateSpec,
    ) -> Result<Option<RebuildAssignment>, ManagerError> {
        let now = unix_now();
        self.hand_out(
            "rebuild",
            self.sectors_with_rebuilds().await?,
            &spec,
            &self.rebuild,
            |sector, rec| {
                // One job at a time on a sector: a damocles worker's
                // reports name the sector, not the job.
                if super::unseal::runs_unseal(rec) {
                    return Ok(None);
                }
                let Some(pc) = rec.pre_commit.as_ref().map(|p| p.content.clone()) else {
                    return Ok(None);
                };
                let deals = rec.deals.clone().unwrap_or_default();
                let proof_type = rec.proof_type;
                let Some(job) = rec.rebuild.as_mut().filter(|j| j.is_available(now)) else {
                    return Ok(None);
                };
                if job.attempts >= RebuildJob::MAX_ATTEMPTS {
                    // Its last worker went silent past the lease.
                    job.state = JobState::Failed { at: now };
                    rec.record(event(
                        "RebuildFailed",
                        format!("no result after {} attempts", RebuildJob::MAX_ATTEMPTS),
                    ));
                    return Ok(None);
                }
                job.attempts += 1;
                job.state = JobState::Running { since: now };
                job.instance = None;
                rec.record(event(
                    "RebuildStarted",
                    format!("attempt {}", rec.rebuild.as_ref().map_or(0, |j| j.attempts)),
                ));
                Ok(Some(RebuildAssignment {
                    sector: AllocatedSector {
                        id: sector,
                        proof_type,
                    },
                    ticket: pc.ticket,
                    deals,
                    comm_r: Some(pc.comm_r),
                    comm_d: Some(pc.comm_d),
                    upgraded: false,
                }))
            },
            |rec| rec.rebuild.as_ref().is_some_and(|j| j.state.is_open()),
        )
        .await
    }

    async fn rebuilt(&self, sector: SectorId, instance: String) -> Result<(), ManagerError> {
        self.finish_rebuild(sector, Ok(Some(instance))).await
    }

    async fn rebuild_failed(&self, sector: SectorId, reason: String) -> Result<(), ManagerError> {
        self.finish_rebuild(sector, Err(reason)).await
    }

    async fn rebuilding(&self, sector: SectorId, stage: &str) -> Result<(), ManagerError> {
        let now = unix_now();
        self.modify(sector, |rec| {
            if let Some(job) = rec
                .rebuild
                .as_mut()
                .filter(|j| matches!(j.state, JobState::Running { .. }))
            {
                job.state = JobState::Running { since: now };
            }
            Ok(())
        })
        .await?;
        tracing::debug!(%sector, stage, "rebuild alive");
        Ok(())
    }
}

/// The automatic rebuild policy (`[proving] auto_rebuild`): a sector the
/// WindowPoSt check skipped is rebuilt without an operator when it is
/// safe, and the reason is written into its history either way:
///
/// - its files are gone (no sealed replica or no cache directory where
///   the provers look: a present but failing file may be a mount that
///   comes back, or a disk to repair, and is left to the operator);
/// - every deal piece is in the manager's piece store (a CC sector has
///   none to find);
/// - the sector was sealed here (its ticket and pieces are on record);
/// - its last rebuild was not given up (that one needs an operator).
#[derive(Debug, Clone)]
pub struct AutoRebuild {
    manager: Arc<LocalSectorManager>,
    locator: Arc<dyn SectorLocator>,
    pieces: Option<Arc<dyn PieceStore>>,
    max_open: usize,
    /// One hand-off at a time (miners are proven at once): the cap is
    /// counted and used under it.
    serial: Arc<tokio::sync::Mutex<()>>,
}

impl AutoRebuild {
    /// The policy over `manager`'s sectors, whose files `locator` finds
    /// (the provers' own locator) and whose pieces are looked up in
    /// `pieces` (none: only CC sectors are rebuilt automatically).
    pub fn new(
        manager: Arc<LocalSectorManager>,
        locator: Arc<dyn SectorLocator>,
        pieces: Option<Arc<dyn PieceStore>>,
    ) -> Self {
        Self {
            manager,
            locator,
            pieces,
            max_open: Self::MAX_OPEN,
            serial: Arc::default(),
        }
    }

    /// How many automatic rebuilds may be open at once by default: a
    /// store that is not mounted makes every sector on it look gone, and
    /// rebuilding a whole store is an operator's decision.
    pub const MAX_OPEN: usize = 4;

    /// At most `max_open` automatic rebuilds open at once; past it, a
    /// skipped sector is left to the operator with the reason.
    pub fn with_max_open(mut self, max_open: usize) -> Self {
        self.max_open = max_open;
        self
    }

    /// Why `sector` may not be rebuilt without an operator, if it may not.
    async fn unsafe_because(
        &self,
        sector: SectorId,
        record: Result<Option<SectorStatus>, String>,
    ) -> Option<String> {
        if let Some(files) = self.locator.locate(sector) {
            if files.sealed.is_file() && files.cache.is_dir() {
                return Some(format!(
                    "its files are present at {} (failing, not gone): check the disk, or rebuild \
                     it by hand (`sectors rebuild`)",
                    files.sealed.display()
                ));
            }
        }
        let rec = match record {
            Ok(Some(rec)) => rec,
            Ok(None) => return Some("it was not sealed by this manager".into()),
            Err(e) => return Some(format!("its record cannot be read: {e}")),
        };
        match rec.rebuild.as_ref().map(|j| (&j.state, j)) {
            Some((JobState::Failed { .. }, job)) => {
                return Some(format!(
                    "its last rebuild was given up ({}): rebuild it by hand once that is fixed",
                    job.last_error.as_deref().unwrap_or("no result")
                ))
            }
            // Rebuilt, and still not found: the provers do not read where
            // it went. Rebuilding again would loop.
            Some((JobState::Done { .. }, job)) => {
                return Some(format!(
                    "it was rebuilt already (into {}) and its files are still not found: check \
                     that store is among [proving] stores, then rebuild by hand if needed",
                    job.instance.as_deref().unwrap_or("an unnamed store")
                ))
            }
            _ => {}
        }
        for deal in rec.deals.iter().flatten() {
            let Some(pieces) = &self.pieces else {
                return Some(format!(
                    "it holds piece {} and this manager has no piece store ([pieces]) to check it",
                    deal.piece.cid
                ));
            };
            if let Err(e) = pieces.size(&deal.piece.cid).await {
                return Some(format!(
                    "its piece {} is not reachable: {e}",
                    deal.piece.cid
                ));
            }
        }
        None
    }

    /// The check skipped `skipped` of `miner`'s deadline `deadline`:
    /// requests a rebuild of each that is safe to rebuild, and records
    /// why not for the others. Answers the sectors asked for.
    pub async fn skipped(
        &self,
        miner: ActorId,
        deadline: u64,
        skipped: &[SkippedSector],
    ) -> Vec<SectorId> {
        let _serial = self.serial.lock().await;
        let mut asked = Vec::new();
        let mut open_auto = match self.manager.rebuild_jobs().await {
            Ok(jobs) => jobs
                .iter()
                .filter(|(_, j)| j.origin == RebuildOrigin::WindowPoStCheck && j.state.is_open())
                .count(),
            Err(e) => {
                warn!(error = %e, "automatic rebuild: cannot list the rebuild jobs");
                return asked;
            }
        };
        for s in skipped {
            let sector = SectorId::new(miner, s.number);
            let record = self
                .manager
                .sector_status(sector)
                .await
                .map_err(|e| e.to_string());
            let open = matches!(
                &record,
                Ok(Some(SectorStatus { rebuild: Some(j), .. })) if j.state.is_open()
            );
            if open {
                continue;
            }
            let why = format!(
                "files gone at the WindowPoSt of deadline {deadline}: {}",
                s.reason
            );
            let verdict = match self.unsafe_because(sector, record).await {
                None if open_auto >= self.max_open => Some(format!(
                    "{open_auto} automatic rebuilds are open already (at most {}): is a store not \
                     mounted? Rebuild by hand if the files are really gone",
                    self.max_open
                )),
                other => other,
            };
            match verdict {
                None => match self
                    .manager
                    .request_rebuild(sector, RebuildOrigin::WindowPoStCheck, why)
                    .await
                {
                    Ok(_) => {
                        open_auto += 1;
                        asked.push(sector)
                    }
                    Err(e) => warn!(%sector, error = %e, "automatic rebuild not requested"),
                },
                Some(not) => {
                    info!(%sector, reason = %s.reason, why = %not, "faulty sector not rebuilt automatically");
                    let detail = format!("{}; not rebuilt automatically: {not}", s.reason);
                    let _ =
                        self.manager
                            .modify(sector, |rec| {
                                let same = rec.history.last().is_some_and(|e| {
                                    e.next == "RebuildSkipped" && e.detail == detail
                                });
                                if !same {
                                    rec.record(event("RebuildSkipped", detail.clone()));
                                }
                                Ok(())
                            })
                            .await;
                }
            }
        }
        asked
    }
}
