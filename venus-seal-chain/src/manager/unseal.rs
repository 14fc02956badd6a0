//! Unseal jobs on the manager (see [`venus_seal_core::unseal`]): requested
//! by an operator, kept on the sector's record, handed to workers, their
//! results recorded. Which sectors hold open jobs is indexed in memory
//! (see [`super::job_index`]).

use async_trait::async_trait;
use tracing::{info, warn};
use venus_seal_core::manager::{AllocateSpec, AllocatedSector};
use venus_seal_core::unseal::{
    piece_offsets, UnsealAssignment, UnsealJob, UnsealJobSource, UnsealState,
};
use venus_seal_core::{ManagerError, PieceCid, SectorId};

use super::job_index::JobIndex;
use super::{event, unix_now, LocalSectorManager, SectorStatus};

/// The object-store URL schemes a worker writes (Amazon S3 and
/// S3-compatible stores, with the backends' `s3` feature).
const OBJECT_SCHEMES: [&str; 2] = ["s3", "s3a"];

/// A destination a worker can write: a `file://` URL or an absolute path,
/// an `http(s)://` URL, or an object-store URL (`s3://bucket/key`).
fn check_destination(dest: &str) -> Result<(), ManagerError> {
    let ok = match dest.split_once("://") {
        Some(("file", rest)) => rest.starts_with('/'),
        Some((scheme, rest))
            if matches!(scheme, "http" | "https") || OBJECT_SCHEMES.contains(&scheme) =>
        {
            let host = rest.split('/').next().unwrap_or_default();
            !host.is_empty() && !rest.contains(char::is_whitespace)
        }
        Some(_) => false,
        None => dest.starts_with('/'),
    };
    if ok {
        Ok(())
    } else {
        Err(ManagerError::Rejected(format!(
            "unseal destination {dest:?}: give a file:/// URL, an absolute path on the worker, \
             an http(s):// URL (uploaded with PUT) or an object-store URL ({}://bucket/key)",
            OBJECT_SCHEMES.join("://, ")
        )))
    }
}

/// Whether `rec`'s sector is finalized with an unseal job running: a
/// worker's reports about it are then the job's.
pub(super) fn runs_unseal(rec: &SectorStatus) -> bool {
    rec.finalized
        && rec
            .unseal
            .iter()
            .any(|j| matches!(j.state, UnsealState::Running { .. }))
}

/// The job of `piece` in `rec`.
fn job_mut<'a>(rec: &'a mut SectorStatus, piece: &PieceCid) -> Option<&'a mut UnsealJob> {
    rec.unseal.iter_mut().find(|j| &j.piece.cid == piece)
}

impl LocalSectorManager {
    /// Asks for `piece` of `sector` to be unsealed and written to `dest`
    /// (see [`venus_seal_core::unseal`]). The sector must hold the piece
    /// and be persisted (its sealed files in a store a worker reaches) and
    /// finalized; a
    /// second request for a piece whose job is open adds its destination,
    /// one for a job done or given up starts it again. Answers the job.
    pub async fn request_unseal(
        &self,
        sector: SectorId,
        piece: PieceCid,
        dest: String,
    ) -> Result<UnsealJob, ManagerError> {
        check_destination(&dest)?;
        let job = self
            .modify_live(sector, |rec| {
                // Finalized: its sealing worker is done with it, so every
                // report about it from now on is an unseal job's.
                if !rec.finalized || rec.persisted_at.is_none() || rec.pre_commit.is_none() {
                    return Err(ManagerError::Rejected(format!(
                        "sector {sector} is not sealed, persisted and finalized yet: nothing to unseal"
                    )));
                }
                // Its pieces are an update's: its sealed replica (the CC
                // one) does not hold them.
                if let Some(why) = super::snapup::snapped_up(rec) {
                    return Err(ManagerError::Rejected(format!(
                        "sector {sector} {why}: unsealing an updated replica is not supported"
                    )));
                }
                let deals = rec.deals.clone().unwrap_or_default();
                let Some(index) = deals.iter().position(|d| d.piece.cid == piece) else {
                    return Err(ManagerError::Rejected(format!(
                        "sector {sector} holds no piece {piece} (its pieces: {})",
                        deals
                            .iter()
                            .map(|d| d.piece.cid.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                };
                let pieces: Vec<_> = deals.iter().map(|d| d.piece).collect();
                let offset = piece_offsets(&pieces)[index] / 128 * 127;
                let found = job_mut(rec, &piece).map(|job| {
                    if job.is_open() {
                        if !job.dests.contains(&dest) {
                            job.dests.push(dest.clone());
                        }
                    } else {
                        *job = UnsealJob::new(job.piece, job.offset, job.len, dest.clone());
                    }
                    job.clone()
                });
                let job = match found {
                    Some(job) => job,
                    None => {
                        let job = UnsealJob::new(
                            pieces[index],
                            offset,
                            pieces[index].size.unpadded(),
                            dest.clone(),
                        );
                        rec.unseal.push(job.clone());
                        job
                    }
                };
                rec.record(event("UnsealRequested", format!("{piece} to {dest}")));
                Ok(job)
            })
            .await?;
        self.unseal_index().insert(sector);
        info!(%sector, %piece, %dest, "unseal requested");
        Ok(job)
    }

    /// Every sector's unseal jobs (open, done and given up), in sector
    /// order.
    pub async fn unseal_jobs(&self) -> Result<Vec<(SectorId, UnsealJob)>, ManagerError> {
        self.jobs_of(|rec| rec.unseal).await
    }

    /// The unseal jobs running in `rec` (the record of `sector`) failed
    /// for `reason` (their worker reported the sector aborted). damocles' `ReportAborted`
    /// names no piece: with two of the sector's pieces being unsealed at
    /// once, both jobs fail (and are handed out again).
    pub(super) async fn fail_running_unseal(
        &self,
        sector: SectorId,
        rec: &SectorStatus,
        reason: String,
    ) -> Result<(), ManagerError> {
        let running: Vec<PieceCid> = rec
            .unseal
            .iter()
            .filter(|j| matches!(j.state, UnsealState::Running { .. }))
            .map(|j| j.piece.cid)
            .collect();
        for piece in running {
            self.achieve_unseal(sector, piece, Some(reason.clone()))
                .await?;
        }
        Ok(())
    }

    fn unseal_index(&self) -> std::sync::MutexGuard<'_, JobIndex> {
        self.unseal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The sectors with open jobs, the store scanned again when the last
    /// scan is older than [`RESCAN`](super::job_index::RESCAN).
    async fn sectors_with_jobs(&self) -> Result<Vec<SectorId>, ManagerError> {
        if self.unseal_index().is_stale() {
            let open: Vec<SectorId> = self
                .unseal_jobs()
                .await?
                .into_iter()
                .filter(|(_, j)| j.is_open())
                .map(|(id, _)| id)
                .collect();
            self.unseal_index().scanned(open);
        }
        Ok(self.unseal_index().sectors())
    }
}

#[async_trait]
impl UnsealJobSource for LocalSectorManager {
    async fn allocate_unseal(
        &self,
        spec: AllocateSpec,
    ) -> Result<Option<UnsealAssignment>, ManagerError> {
        let now = unix_now();
        self.hand_out(
            "unseal",
            self.sectors_with_jobs().await?,
            &spec,
            &self.unseal,
            |sector, rec| {
                // One job at a time on a sector (see `rebuild`); and a
                // sector being rebuilt has no files to unseal yet.
                if super::rebuild::runs_rebuild(rec) {
                    return Ok(None);
                }
                let (Some(pc), Some(instance)) = (&rec.pre_commit, &rec.persisted_at) else {
                    return Ok(None);
                };
                let (comm_d, ticket) = (pc.content.comm_d, pc.content.ticket);
                let instance = instance.clone();
                let proof_type = rec.proof_type;
                let mut given_up = Vec::new();
                let mut taken = None;
                for job in rec.unseal.iter_mut().filter(|j| j.is_available(now)) {
                    if job.attempts >= UnsealJob::MAX_ATTEMPTS {
                        // Its last worker went silent past the lease.
                        job.state = UnsealState::Failed { at: now };
                        given_up.push(job.piece.cid);
                        continue;
                    }
                    job.attempts += 1;
                    job.state = UnsealState::Running { since: now };
                    taken = Some(UnsealAssignment {
                        sector: AllocatedSector {
                            id: sector,
                            proof_type,
                        },
                        piece: job.piece.cid,
                        comm_d,
                        ticket,
                        offset: job.offset,
                        len: job.len,
                        instance: instance.clone(),
                        dests: job.dests.clone(),
                    });
                    break;
                }
                for piece in given_up {
                    rec.record(event(
                        "UnsealFailed",
                        format!(
                            "{piece}: no result after {} attempts",
                            UnsealJob::MAX_ATTEMPTS
                        ),
                    ));
                }
                if let Some(t) = &taken {
                    rec.record(event("UnsealStarted", t.piece.to_string()));
                }
                Ok(taken)
            },
            |rec| rec.unseal.iter().any(UnsealJob::is_open),
        )
        .await
    }

    async fn unseal_destinations(
        &self,
        sector: SectorId,
        piece: PieceCid,
    ) -> Result<Vec<String>, ManagerError> {
        let rec = self.read(sector).await?;
        rec.unseal
            .iter()
            .find(|j| j.piece.cid == piece)
            .map(|j| j.dests.clone())
            .ok_or_else(|| no_job(sector, &piece))
    }

    async fn achieve_unseal(
        &self,
        sector: SectorId,
        piece: PieceCid,
        error: Option<String>,
    ) -> Result<(), ManagerError> {
        let now = unix_now();
        let state = self
            .modify(sector, |rec| {
                let job = job_mut(rec, &piece).ok_or_else(|| no_job(sector, &piece))?;
                let running = matches!(job.state, UnsealState::Running { .. });
                // A late success counts for a job handed out before (not
                // one asked again since, which starts at 0 attempts with
                // new destinations).
                let late_success = error.is_none()
                    && job.attempts > 0
                    && matches!(job.state, UnsealState::Pending | UnsealState::Failed { .. });
                if !running && !late_success {
                    // A repeated report, or a failure from a worker whose
                    // lease ran out: the job's state stands. (A success
                    // always counts: the piece was delivered.)
                    return Ok(job.state_name());
                }
                let step = match &error {
                    None => {
                        job.state = UnsealState::Done { at: now };
                        job.last_error = None;
                        ("Unsealed", piece.to_string())
                    }
                    Some(e) if job.attempts >= UnsealJob::MAX_ATTEMPTS => {
                        job.state = UnsealState::Failed { at: now };
                        job.last_error = Some(e.clone());
                        ("UnsealFailed", format!("{piece}: {e}"))
                    }
                    Some(e) => {
                        job.state = UnsealState::Pending;
                        job.last_error = Some(e.clone());
                        ("UnsealRetry", format!("{piece}: {e}"))
                    }
                };
                let name = job.state_name();
                rec.record(event(step.0, step.1));
                Ok(name)
            })
            .await?;
        match &error {
            None => info!(%sector, %piece, "unsealed"),
            Some(e) => warn!(%sector, %piece, error = %e, state, "unseal failed"),
        }
        if state == "Pending" {
            self.unseal_index().insert(sector);
        }
        Ok(())
    }
}

/// Not `Rejected`: that is damocles' "sector not found" (11001), on which
/// a damocles worker reports the sealed sector aborted.
fn no_job(sector: SectorId, piece: &PieceCid) -> ManagerError {
    ManagerError::Internal(format!("sector {sector} has no unseal job for {piece}"))
}
