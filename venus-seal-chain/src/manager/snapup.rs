//! Snap-up jobs on the manager (see [`venus_seal_core::snapup`]): asked
//! for by an operator or picked from a miner's CC sectors by its
//! [`SnapUpPolicy`], handed to workers with deals, their proofs sent in
//! `ProveReplicaUpdates3` batches (the batcher's third kind, beside
//! pre-commits and proofs: claimed, recovered and resent the same way),
//! watched until they land, and the old CC replica removed once the
//! update is final.
//!
//! While a job is open the sector's [`deals`](SectorStatus::deals) are
//! the ones being put into it (a CC sector holds none before): they are
//! taken from the deal queue or the market as a sealing sector's are, and
//! released when the job is given up. A damocles worker's `snapup` plan
//! reports the sector as it goes (`ReportState`), submits with
//! `SubmitSnapUpProof` and ends with `ReportFinalized` (changes nothing:
//! the job goes on on chain) or `ReportAborted` (the job's failure).

use std::sync::Arc;

use async_trait::async_trait;
use tracing::{info, warn};
use venus_seal_core::chain::{MessageState, SectorLocation};
use venus_seal_core::manager::{AcquireDealsSpec, AllocateSpec, AllocatedSector, DealInfo};
use venus_seal_core::manager_store::Submitted;
use venus_seal_core::proving::{ReplicaUpdateVerifyInfo, SectorLocator};
use venus_seal_core::snapup::{
    SnapUpAssignment, SnapUpJob, SnapUpJobSource, SnapUpOrigin, SnapUpProof, SnapUpState,
    SnapUpVerdict,
};
use venus_seal_core::{ActorId, ChainEpoch, ManagerError, SectorId, SectorNumber};

use super::job_index::JobIndex;
use super::{event, unix_now, Kind, LocalSectorManager, SectorStatus};

/// A miner's automatic snap-up candidates: when a worker asks for a job
/// and none waits, one of the miner's CC sectors sealed here is picked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapUpPolicy {
    /// Only sectors with at least this many epochs left before they
    /// expire (a deal must end before its sector does; damocles uses the
    /// market's minimum deal duration, 180 days).
    pub min_remaining_epochs: ChainEpoch,
    /// At most this many of the miner's jobs open at once.
    pub max_in_flight: usize,
}

impl Default for SnapUpPolicy {
    /// 180 days left, 8 in flight.
    fn default() -> Self {
        Self {
            min_remaining_epochs: 180 * 2880,
            max_in_flight: 8,
        }
    }
}

/// Whether `rec`'s sector has a snap-up handed to a worker: the worker's
/// reports about it are then the job's.
pub(super) fn runs_snap_up(rec: &SectorStatus) -> bool {
    rec.snap_up
        .as_ref()
        .is_some_and(|j| matches!(j.state, SnapUpState::Encoding { .. }))
}

/// Whether `rec`'s sector has a snap-up job not done nor given up.
pub(super) fn snap_up_open(rec: &SectorStatus) -> bool {
    rec.snap_up.as_ref().is_some_and(|j| j.state.is_open())
}

/// Why `rec`'s sector is not (only) its sealed replica any more: a
/// snap-up open or done (while one is open, its deals are the update's).
pub(super) fn snapped_up(rec: &SectorStatus) -> Option<String> {
    let job = rec.snap_up.as_ref()?;
    match job.state {
        SnapUpState::Failed { .. } => None,
        SnapUpState::Done { .. } => Some("was snapped up".into()),
        ref open => Some(format!("is being snapped up ({})", open.name())),
    }
}

/// The shortest deal the market actor takes (`DealMinDuration`, 180 days
/// of 30 s epochs).
const MIN_DEAL_EPOCHS: ChainEpoch = 180 * 2880;

/// A snap-up proof the node refused this many pushes in a row (counted in
/// this process since it started) is given up (each push waits longer
/// after a failure: hours in all).
const MAX_PUSHES: u32 = 20;

/// Why `job` may not be given up now, if it may not: closed already, or
/// its proof may be on chain (landed, found there, sent, being sent, or
/// pushed without an answer).
fn why_not_closable(job: &SnapUpJob) -> Option<String> {
    match (&job.state, &job.submission) {
        (SnapUpState::Pending | SnapUpState::Encoding { .. }, _) => None,
        (SnapUpState::Proven, Some(sub)) => {
            if sub.found_on_chain {
                Some("its update was found on chain".into())
            } else if let Some(m) = &sub.message {
                Some(format!(
                    "its message {} is on its way (it stands or fails on chain)",
                    m.0
                ))
            } else if sub.sending_since.is_some() || sub.attempt.is_some() {
                Some("its proof is being sent (a push may have been taken)".into())
            } else {
                None
            }
        }
        (SnapUpState::Proven, None) => None,
        (SnapUpState::Landed { epoch }, _) => Some(format!("its update landed at epoch {epoch}")),
        (state, _) => Some(format!("it is {} already", state.name())),
    }
}

/// Not `Rejected`: that is damocles' "sector not found" (11001).
fn no_job(sector: SectorId) -> ManagerError {
    ManagerError::Internal(format!("sector {sector} has no snap-up job running"))
}

/// What a hand-out took from a sector's record.
struct Taken {
    assignment: SnapUpAssignment,
    needs_deals: bool,
}

impl LocalSectorManager {
    /// Asks for `sector` (a proven CC sector sealed and finalized here) to
    /// be snapped up. A request while a job is open leaves it as it is;
    /// one after a job given up starts a new one; a sector snapped up
    /// already is refused. Answers the job.
    pub async fn request_snap_up(
        &self,
        sector: SectorId,
        origin: SnapUpOrigin,
    ) -> Result<SnapUpJob, ManagerError> {
        let on_chain = self
            .chain
            .sector(sector.miner, sector.number)
            .await?
            .ok_or_else(|| {
                ManagerError::Rejected(format!("sector {sector} is not proven on chain"))
            })?;
        if on_chain.sector_key.is_some() || !on_chain.is_cc() {
            return Err(ManagerError::Rejected(format!(
                "sector {sector} holds data on chain already: only CC sectors are snapped up"
            )));
        }
        // A deal must end before its sector does: the market's minimum
        // deal is 180 days.
        let head = self.chain.head().await?;
        if on_chain.expiration - head < MIN_DEAL_EPOCHS {
            return Err(ManagerError::Rejected(format!(
                "sector {sector} expires at epoch {} (head {head}): less than the 180 days a deal \
                 lasts at least; extend it first (`sectors extend`)",
                on_chain.expiration
            )));
        }
        let job = self
            .modify_live(sector, |rec| {
                if let Some(job) = rec.snap_up.as_ref() {
                    match job.state {
                        SnapUpState::Failed { .. } => {}
                        SnapUpState::Done { .. } => {
                            return Err(ManagerError::Rejected(format!(
                                "sector {sector} was snapped up already"
                            )))
                        }
                        _ => return Ok(job.clone()),
                    }
                }
                if !rec.finalized || rec.pre_commit.is_none() {
                    return Err(ManagerError::Rejected(format!(
                        "sector {sector} is not sealed and finalized here"
                    )));
                }
                if rec.deals.as_ref().is_some_and(|d| !d.is_empty()) {
                    return Err(ManagerError::Rejected(format!(
                        "sector {sector} holds deals: only CC sectors are snapped up"
                    )));
                }
                if super::rebuild::runs_rebuild(rec)
                    || rec.rebuild.as_ref().is_some_and(|j| j.state.is_open())
                {
                    return Err(ManagerError::Rejected(format!(
                        "sector {sector} is being rebuilt: snap it up once its files are back"
                    )));
                }
                let Some(instance) = rec.persisted_at.clone() else {
                    return Err(ManagerError::Rejected(format!(
                        "sector {sector} has no persist store on record: a worker could not \
                         find its replica"
                    )));
                };
                let comm_r = rec.pre_commit.as_ref().map(|p| p.content.comm_r);
                if comm_r != Some(on_chain.sealed_cid) {
                    return Err(ManagerError::Rejected(format!(
                        "sector {sector}'s replica on chain ({}) is not the one on record",
                        on_chain.sealed_cid
                    )));
                }
                let job = SnapUpJob::new(origin, on_chain.sealed_cid, instance);
                rec.snap_up = Some(job.clone());
                rec.record(event("SnapUpRequested", origin_name(origin)));
                Ok(job)
            })
            .await?;
        self.snap_up_index().insert(sector);
        info!(%sector, ?origin, "snap-up requested");
        Ok(job)
    }

    /// Gives `sector`'s open snap-up up for the operator's `reason` (as
    /// after too many failures: its deals go back, a persisted update is
    /// removed, the sector stays CC; a worker still encoding it has its
    /// result refused). Refused once its proof may be on chain: a message
    /// sent, being sent, or landed (the update stands or fails on its
    /// own). Answers the job as it ends.
    pub async fn cancel_snap_up(
        &self,
        sector: SectorId,
        reason: String,
    ) -> Result<SnapUpJob, ManagerError> {
        let rec = self.read(sector).await?;
        let job = rec
            .snap_up
            .as_ref()
            .ok_or_else(|| ManagerError::Rejected(format!("sector {sector} has no snap-up job")))?;
        let refused = |why: String| {
            ManagerError::Rejected(format!(
                "sector {sector}'s snap-up cannot be cancelled: {why}"
            ))
        };
        if let Some(why) = why_not_closable(job) {
            return Err(refused(why));
        }
        // Checked again in the give-up's own write (a batcher may claim
        // the proof meanwhile).
        if !self
            .give_up_snap_up(sector, format!("cancelled by the operator: {reason}"))
            .await?
        {
            let job = self
                .read(sector)
                .await?
                .snap_up
                .ok_or_else(|| no_job(sector))?;
            return Err(refused(
                why_not_closable(&job).unwrap_or_else(|| "its update is on chain".into()),
            ));
        }
        info!(%sector, %reason, "snap-up cancelled by the operator");
        self.read(sector)
            .await?
            .snap_up
            .ok_or_else(|| no_job(sector))
    }

    /// Every sector's snap-up job (open, done and given up), in sector
    /// order.
    pub async fn snap_up_jobs(&self) -> Result<Vec<(SectorId, SnapUpJob)>, ManagerError> {
        self.jobs_of(|rec| rec.snap_up.into_iter().collect()).await
    }

    /// `miner`'s CC sectors that `policy` would snap up now: sealed and
    /// finalized here, CC on chain, with enough life left, no job open,
    /// ascending.
    pub async fn snap_up_candidates(
        &self,
        miner: ActorId,
        policy: &SnapUpPolicy,
    ) -> Result<Vec<SectorNumber>, ManagerError> {
        self.candidates(miner, policy, usize::MAX).await
    }

    /// The first `limit` of [`snap_up_candidates`](Self::snap_up_candidates)
    /// (the chain is asked about one sector at a time, until enough pass).
    async fn candidates(
        &self,
        miner: ActorId,
        policy: &SnapUpPolicy,
        limit: usize,
    ) -> Result<Vec<SectorNumber>, ManagerError> {
        let head = self.chain.head().await?;
        let local = self
            .jobs_of(|rec| {
                let cc = rec.deals.as_ref().is_none_or(Vec::is_empty);
                let comm_r = rec.pre_commit.as_ref().map(|p| p.content.comm_r);
                let ok = rec.finalized
                    && rec.aborted.is_none()
                    && rec.pre_commit.is_some()
                    && rec.persisted_at.is_some()
                    && cc
                    && rec.snap_up.is_none()
                    && !rec.rebuild.as_ref().is_some_and(|j| j.state.is_open());
                match comm_r.filter(|_| ok) {
                    Some(c) => vec![c],
                    None => Vec::new(),
                }
            })
            .await?;
        let mut out = Vec::new();
        for (id, comm_r) in local.into_iter().filter(|(id, _)| id.miner == miner) {
            let Some(s) = self.chain.sector(miner, id.number).await? else {
                continue;
            };
            if s.is_cc()
                && s.sealed_cid == comm_r
                && s.sector_key.is_none()
                && s.expiration - head >= policy.min_remaining_epochs
            {
                out.push(id.number);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    fn snap_up_index(&self) -> std::sync::MutexGuard<'_, JobIndex> {
        self.snap_up
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn sectors_with_snap_ups(&self) -> Result<Vec<SectorId>, ManagerError> {
        if self.snap_up_index().is_stale() {
            let open: Vec<SectorId> = self
                .snap_up_jobs()
                .await?
                .into_iter()
                .filter(|(_, j)| j.state.is_open())
                .map(|(id, _)| id)
                .collect();
            self.snap_up_index().scanned(open);
        }
        Ok(self.snap_up_index().sectors())
    }

    /// Hands out an available job among `sectors`.
    async fn take_snap_up(
        &self,
        spec: &AllocateSpec,
        sectors: Vec<SectorId>,
    ) -> Result<Option<Taken>, ManagerError> {
        let now = unix_now();
        self.hand_out(
            "snap-up",
            sectors,
            spec,
            &self.snap_up,
            |sector, rec| {
                if super::unseal::runs_unseal(rec) || super::rebuild::runs_rebuild(rec) {
                    return Ok(None);
                }
                let proof_type = rec.proof_type;
                let held = rec.deals.clone().filter(|d| !d.is_empty());
                let Some(job) = rec.snap_up.as_mut().filter(|j| j.is_available(now)) else {
                    return Ok(None);
                };
                if job.attempts >= SnapUpJob::MAX_ATTEMPTS {
                    // Its last worker went silent past the lease: given up
                    // by the caller (the deals released).
                    return Ok(None);
                }
                job.attempts += 1;
                job.state = SnapUpState::Encoding { since: now };
                let assignment = SnapUpAssignment {
                    sector: AllocatedSector {
                        id: sector,
                        proof_type,
                    },
                    deals: held.clone().unwrap_or_default(),
                    comm_r_old: job.comm_r_old,
                    instance: job.cc_instance.clone(),
                };
                let attempt = job.attempts;
                if held.is_none() {
                    // Filled by the deal hand-out right after.
                    rec.deals = None;
                }
                rec.record(event("SnapUpStarted", format!("attempt {attempt}")));
                Ok(Some(Taken {
                    assignment,
                    needs_deals: held.is_none(),
                }))
            },
            snap_up_open,
        )
        .await
    }

    /// Deals for a snap-up just handed out, recorded on the sector; none
    /// waiting puts the job back (answered `None`).
    async fn snap_up_deals(
        &self,
        sector: SectorId,
        spec: AcquireDealsSpec,
    ) -> Result<Vec<DealInfo>, ManagerError> {
        let size = self.read(sector).await?.proof_type.sector_size();
        let deals = if let Some(market) = self.market.get() {
            self.acquire_from_market(market.as_ref(), sector, size, spec)
                .await?
        } else {
            let activation = self.deal_activation().await?;
            self.store
                .assign_deals(sector, size, spec, activation)
                .await?
                .and_then(|held| held.value.deals)
                .unwrap_or_default()
        };
        Ok(deals)
    }

    /// A job just handed out found no deals: back to pending, as it was.
    async fn put_back(&self, sector: SectorId) -> Result<(), ManagerError> {
        self.modify(sector, |rec| {
            if rec.deals.is_none() {
                rec.deals = Some(Vec::new());
            }
            if let Some(job) = rec
                .snap_up
                .as_mut()
                .filter(|j| matches!(j.state, SnapUpState::Encoding { .. }))
            {
                job.state = SnapUpState::Pending;
                job.attempts = job.attempts.saturating_sub(1);
            }
            if rec
                .history
                .last()
                .is_some_and(|e| e.next == "SnapUpStarted")
            {
                rec.history.pop();
            }
            Ok(())
        })
        .await
    }

    /// A new job from the allowed miners' policies: the first candidate
    /// of a miner under its in-flight cap.
    async fn snap_up_from_policy(&self, spec: &AllocateSpec) -> Result<bool, ManagerError> {
        let policies: Vec<(ActorId, SnapUpPolicy)> = self
            .config
            .miners
            .iter()
            .filter(|m| spec.allowed_miners.is_empty() || spec.allowed_miners.contains(&m.id))
            .filter(|m| {
                spec.allowed_proof_types.is_empty() || spec.allowed_proof_types.contains(&m.proof)
            })
            .filter_map(|m| m.snap_up.map(|p| (m.id, p)))
            .collect();
        if policies.is_empty() {
            return Ok(false);
        }
        if self.market.get().is_none() && self.store.queued_deals().await? == 0 {
            return Ok(false);
        }
        let open = self.snap_up_jobs().await?;
        for (miner, policy) in policies {
            let in_flight = open
                .iter()
                .filter(|(id, j)| id.miner == miner && j.state.is_open())
                .count();
            if in_flight >= policy.max_in_flight {
                continue;
            }
            // A few, in case one is refused (raced by another caller).
            for number in self.candidates(miner, &policy, 4).await? {
                let sector = SectorId::new(miner, number);
                match self.request_snap_up(sector, SnapUpOrigin::Policy).await {
                    Ok(_) => return Ok(true),
                    Err(e) => warn!(%sector, error = %e, "snap-up candidate not taken"),
                }
            }
        }
        Ok(false)
    }

    /// The job on `sector` failed for `reason` (`Err`) or its worker's
    /// lease ran out too often: handed out again (its deals kept), or
    /// given up after [`SnapUpJob::MAX_ATTEMPTS`] or when `give_up` (see
    /// [`give_up_snap_up`](Self::give_up_snap_up)).
    pub(super) async fn fail_snap_up(
        &self,
        sector: SectorId,
        reason: String,
        give_up: bool,
    ) -> Result<(), ManagerError> {
        let over = self
            .modify(sector, |rec| {
                let job = rec.snap_up.as_mut().ok_or_else(|| no_job(sector))?;
                if !job.state.is_open() {
                    return Ok(None);
                }
                let over = give_up || job.attempts >= SnapUpJob::MAX_ATTEMPTS;
                if !over {
                    job.last_error = Some(reason.clone());
                    job.state = SnapUpState::Pending;
                    rec.record(event("SnapUpRetry", reason.clone()));
                }
                Ok(Some(over))
            })
            .await?;
        match over {
            None => Ok(()),
            Some(false) => {
                warn!(%sector, %reason, "snap-up failed: handed out again");
                self.snap_up_index().insert(sector);
                Ok(())
            }
            Some(true) => self.give_up_snap_up(sector, reason).await.map(|_| ()),
        }
    }

    /// Gives the job on `sector` up for `reason`, if it still may be
    /// (see [`why_not_closable`]), in one checked write: the job fails,
    /// its proof is never sent (the submission marked failed), and its
    /// deals go back: to the queue in that same store write; to the
    /// market right after (the job keeps them with `release_pending`
    /// until the market took them, retried by the watch). The updated
    /// files a worker persisted are removed unless the chain holds the
    /// update. The sector stays a proven CC sector. `Ok(false)`: not
    /// given up (another caller closed it, or its proof may be on chain).
    async fn give_up_snap_up(
        &self,
        sector: SectorId,
        reason: String,
    ) -> Result<bool, ManagerError> {
        // The chain holds the update (a message that landed after all):
        // nothing is given up; the watch finds it landed.
        if let Some(s) = self.chain.sector(sector.miner, sector.number).await? {
            if s.sector_key.is_some() {
                return Ok(false);
            }
        }
        let now = unix_now();
        let market = self.market.get().is_some();
        let fail = |rec: &mut SectorStatus| -> bool {
            let Some(job) = rec.snap_up.as_mut() else {
                return false;
            };
            if why_not_closable(job).is_some() {
                return false;
            }
            job.state = SnapUpState::Failed { at: now };
            job.last_error = Some(reason.clone());
            if let Some(sub) = job.submission.as_mut() {
                sub.failed = true;
            }
            if market {
                job.release_pending = rec.deals.as_ref().is_some_and(|d| !d.is_empty());
            } else {
                rec.deals = Some(Vec::new());
            }
            rec.record(event("SnapUpFailed", reason.clone()));
            true
        };
        if market {
            if !self.modify(sector, |rec| Ok(fail(rec))).await? {
                return Ok(false);
            }
            self.release_market_deals(sector).await?;
        } else {
            let mut done = false;
            for _ in 0..super::CAS_ATTEMPTS {
                let held = self.load(sector).await?;
                let mut rec = held.value.clone();
                if !fail(&mut rec) {
                    return Ok(false);
                }
                let activation = match self.deal_activation().await {
                    Ok(a) => a,
                    Err(e) => {
                        warn!(%sector, error = %e, "cannot read the chain head: the deals are requeued unchecked");
                        venus_seal_core::manager_store::DealActivation::NEVER_EXPIRES
                    }
                };
                if let Some(released) = self
                    .store
                    .release_deals(sector, &rec, held.version, activation)
                    .await?
                {
                    if !released.requeued.is_empty() {
                        info!(%sector, deals = ?released.requeued.iter().map(|d| d.id).collect::<Vec<_>>(),
                              "deals of a given-up snap-up requeued");
                    }
                    done = true;
                    break;
                }
            }
            if !done {
                return Err(super::too_many_updates(sector));
            }
            self.snap_up_index().remove(&sector);
        }
        warn!(%sector, %reason, "snap-up given up");
        self.remove_update_files(sector).await;
        Ok(true)
    }

    /// Gives a given-up job's deals back to the market, then clears them
    /// from the sector if they are still the ones released.
    async fn release_market_deals(&self, sector: SectorId) -> Result<(), ManagerError> {
        let Some(market) = self.market.get() else {
            return Ok(());
        };
        let rec = self.read(sector).await?;
        if !rec.snap_up.as_ref().is_some_and(|j| j.release_pending) {
            return Ok(());
        }
        let deals = rec.deals.clone().unwrap_or_default();
        if !deals.is_empty() {
            market.release_deals(sector, &deals).await?;
            info!(%sector, deals = ?deals.iter().map(|d| d.id).collect::<Vec<_>>(),
                  "deals of a given-up snap-up released in the market");
        }
        self.modify(sector, |rec| {
            if rec.deals.as_deref().unwrap_or_default() == deals.as_slice() {
                rec.deals = Some(Vec::new());
            }
            if let Some(job) = rec.snap_up.as_mut() {
                job.release_pending = false;
            }
            Ok(())
        })
        .await?;
        self.snap_up_index().remove(&sector);
        Ok(())
    }

    /// Removes the updated replica and cache of a given-up job from the
    /// stores, unless the chain holds the update.
    async fn remove_update_files(&self, sector: SectorId) {
        let Some(update) = self.files().and_then(|f| f.locate_update(sector)) else {
            return;
        };
        match self.chain.sector(sector.miner, sector.number).await {
            Ok(Some(s)) if s.sector_key.is_none() => {}
            _ => return,
        }
        let _ = tokio::fs::remove_file(&update.sealed).await;
        let _ = tokio::fs::remove_dir_all(&update.cache).await;
        info!(%sector, sealed = %update.sealed.display(), "the given-up snap-up's files removed");
    }

    /// Where the sector's CC replica and its update are, for the checks
    /// and the clean-up (`None`: the manager reads no stores).
    fn files(&self) -> Option<&Arc<dyn SectorLocator>> {
        self.sector_files.get()
    }

    /// Moves every open job on by what the chain says: a landed message
    /// makes the job `Landed`, a failed one is resent (or the job given
    /// up), and a job landed [`SnapUpSettings::final_after`] epochs ago
    /// is done: the sector's files are its update's, the CC replica is
    /// removed (when set). The batch timer calls this every 30 s; tests
    /// drive it directly. Returns how many jobs are still on chain's way.
    ///
    /// [`SnapUpSettings::final_after`]: super::SnapUpSettings::final_after
    pub async fn watch_snap_ups(&self) -> usize {
        let sectors = match self.sectors_with_snap_ups().await {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "cannot list the snap-up jobs");
                return 0;
            }
        };
        let mut waiting = 0;
        for sector in sectors {
            match self.advance_snap_up(sector).await {
                Ok(true) => waiting += 1,
                Ok(false) => {}
                Err(e) => {
                    waiting += 1;
                    warn!(%sector, error = %e, "cannot move the snap-up on")
                }
            }
        }
        waiting
    }

    /// One job of [`watch_snap_ups`](Self::watch_snap_ups): whether it
    /// still waits for the chain.
    async fn advance_snap_up(&self, sector: SectorId) -> Result<bool, ManagerError> {
        let rec = self.read(sector).await?;
        let Some(job) = rec.snap_up.clone() else {
            return Ok(false);
        };
        let now = unix_now();
        match job.state {
            SnapUpState::Encoding { since }
                if job.attempts >= SnapUpJob::MAX_ATTEMPTS
                    && now.saturating_sub(since) >= SnapUpJob::LEASE_SECS =>
            {
                self.fail_snap_up(
                    sector,
                    format!("no result after {} attempts", SnapUpJob::MAX_ATTEMPTS),
                    true,
                )
                .await?;
                Ok(false)
            }
            SnapUpState::Proven => self.check_update_message(sector, &job).await,
            SnapUpState::Failed { .. } if job.release_pending => {
                self.release_market_deals(sector).await?;
                Ok(false)
            }
            SnapUpState::Landed { epoch } => self.finish_if_final(sector, &job, epoch).await,
            _ => Ok(false),
        }
    }

    async fn check_update_message(
        &self,
        sector: SectorId,
        job: &SnapUpJob,
    ) -> Result<bool, ManagerError> {
        let Some(sub) = &job.submission else {
            return Ok(false);
        };
        let landed_at = |epoch: ChainEpoch| async move {
            self.modify(sector, |rec| {
                if let Some(j) = rec
                    .snap_up
                    .as_mut()
                    .filter(|j| j.state == SnapUpState::Proven)
                {
                    j.state = SnapUpState::Landed { epoch };
                    rec.record(event("SnapUpLanded", format!("epoch {epoch}")));
                }
                Ok(())
            })
            .await
        };
        if sub.found_on_chain {
            let head = self.chain.head().await?;
            landed_at(head).await?;
            return Ok(true);
        }
        if sub.failed {
            let why = sub.last_error.clone().unwrap_or_default();
            self.fail_snap_up(sector, format!("the update could not be sent: {why}"), true)
                .await?;
            return Ok(false);
        }
        let Some(id) = &sub.message else {
            // Refused by the node push after push (a sector the actors
            // will not update, a fee it cannot pay): given up at last.
            let refused_in_a_row = self
                .times()
                .unsent
                .get(&(sector, Kind::Update))
                .map_or(0, |u| u.tries);
            let settled = sub.attempt.is_none() && sub.sending_since.is_none();
            if refused_in_a_row >= MAX_PUSHES && settled {
                let why = sub.last_error.clone().unwrap_or_default();
                self.fail_snap_up(
                    sector,
                    format!("the update was refused {refused_in_a_row} pushes in a row: {why}"),
                    true,
                )
                .await?;
                return Ok(false);
            }
            return Ok(true);
        };
        match self.sender.state(id).await? {
            MessageState::Pending | MessageState::NotFound => {
                self.times().watching.insert((sector, Kind::Update));
                Ok(true)
            }
            MessageState::Landed {
                exit_code: 0,
                epoch,
                ..
            } => {
                info!(%sector, message = %id.0, epoch, "snap-up landed");
                landed_at(epoch).await?;
                Ok(true)
            }
            MessageState::Landed {
                exit_code,
                error,
                epoch,
            } => {
                let error = error.unwrap_or_else(|| format!("exit code {exit_code}"));
                let failure = format!("message {} failed at epoch {epoch}: {error}", id.0);
                let on_chain = self.chain.sector(sector.miner, sector.number).await?;
                if on_chain
                    .as_ref()
                    .is_some_and(|s| s.sealed_cid == sub.content.comm_r_new)
                {
                    landed_at(epoch).await?;
                    return Ok(true);
                }
                if on_chain.is_none() {
                    self.settle_failed(sector, id, &failure).await?;
                    self.fail_snap_up(
                        sector,
                        format!("{failure}; the sector is no longer on chain"),
                        true,
                    )
                    .await?;
                    return Ok(false);
                }
                if sub.resends >= Submitted::<()>::MAX_RESENDS {
                    self.settle_failed(sector, id, &failure).await?;
                    self.fail_snap_up(
                        sector,
                        format!("{failure} (after {} resends)", sub.resends),
                        true,
                    )
                    .await?;
                    return Ok(false);
                }
                self.resend(sector, Kind::Update, id, &failure).await?;
                // Sent alone from now on: a batch-mate's fault does not
                // sink it again.
                self.times().solo.insert((sector, Kind::Update));
                Ok(true)
            }
        }
    }

    /// Records that the job's message `id` failed on chain for good: no
    /// message on its way any more, nothing queued (the job may then be
    /// given up).
    async fn settle_failed(
        &self,
        sector: SectorId,
        id: &venus_seal_core::chain::MessageId,
        failure: &str,
    ) -> Result<(), ManagerError> {
        self.modify(sector, |rec| {
            if let Some(sub) = rec
                .snap_up
                .as_mut()
                .and_then(|j| j.submission.as_mut())
                .filter(|s| s.message.as_ref() == Some(id))
            {
                sub.message = None;
                sub.attempt = None;
                sub.failed = true;
                sub.last_error = Some(failure.to_string());
            }
            Ok(())
        })
        .await
    }

    async fn finish_if_final(
        &self,
        sector: SectorId,
        job: &SnapUpJob,
        landed: ChainEpoch,
    ) -> Result<bool, ManagerError> {
        let head = self.chain.head().await?;
        if head < landed + self.config.snap_up.final_after {
            return Ok(true);
        }
        let Some(sub) = &job.submission else {
            return Ok(false);
        };
        let on_chain = self.chain.sector(sector.miner, sector.number).await?;
        if on_chain.is_none() {
            // Terminated or expired since: its deals were activated with
            // the update (the market settles them), nothing to release.
            let now = unix_now();
            self.modify(sector, |rec| {
                if let Some(j) = rec.snap_up.as_mut().filter(|j| j.state.is_open()) {
                    j.state = SnapUpState::Failed { at: now };
                    j.last_error = Some("the sector left the chain after its update landed".into());
                    rec.record(event("SnapUpFailed", "the sector left the chain"));
                }
                Ok(())
            })
            .await?;
            self.snap_up_index().remove(&sector);
            return Ok(false);
        }
        if on_chain
            .as_ref()
            .is_some_and(|s| s.sealed_cid != sub.content.comm_r_new)
        {
            // A reorg took the update back: send it again.
            warn!(%sector, "the snap-up is no longer on chain after it landed: sending it again");
            self.modify(sector, |rec| {
                if let Some(j) = rec.snap_up.as_mut() {
                    j.state = SnapUpState::Proven;
                    if let Some(s) = j.submission.as_mut() {
                        s.message = None;
                        s.attempt = None;
                        s.found_on_chain = false;
                        s.sending_since = None;
                    }
                }
                rec.record(event("SnapUpReverted", format!("landed at {landed}")));
                Ok(())
            })
            .await?;
            self.wake.notify_one();
            return Ok(true);
        }
        let removed = if self.config.snap_up.remove_cc_data {
            self.remove_cc_data(sector).await
        } else {
            Err("kept ([snap_up] remove_cc_data = false)".to_string())
        };
        let instance = sub.content.instance.clone();
        let now = unix_now();
        self.modify(sector, |rec| {
            if let Some(j) = rec.snap_up.as_mut() {
                j.state = SnapUpState::Done { at: now };
                j.cc_data_removed = removed.is_ok();
            }
            rec.persisted_at = Some(instance.clone());
            let detail = match &removed {
                Ok(()) => format!("final; updated files in {instance}, CC replica removed"),
                Err(why) => format!("final; updated files in {instance}, CC replica {why}"),
            };
            rec.record(event("SnapUpDone", detail));
            Ok(())
        })
        .await?;
        self.snap_up_index().remove(&sector);
        info!(%sector, "snap-up final");
        Ok(false)
    }

    /// Removes the CC replica and cache of a snapped-up sector (damocles'
    /// `CleanupCCData`), only where the updated ones are found.
    async fn remove_cc_data(&self, sector: SectorId) -> Result<(), String> {
        let Some(files) = self.files() else {
            return Err("kept: the manager reads no persist stores ([proving] stores)".into());
        };
        let Some(update) = files.locate_update(sector) else {
            return Err("kept: its updated replica is not found in the stores".into());
        };
        let Some(cc) = files.locate(sector) else {
            return Ok(());
        };
        if cc.sealed == update.sealed || cc.cache == update.cache {
            return Ok(());
        }
        let removed = async {
            match tokio::fs::remove_file(&cc.sealed).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(format!("not removed ({}: {e})", cc.sealed.display()))
                }
                _ => {}
            }
            match tokio::fs::remove_dir_all(&cc.cache).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(format!("not removed ({}: {e})", cc.cache.display()))
                }
                _ => Ok(()),
            }
        }
        .await;
        match &removed {
            Ok(()) => info!(%sector, sealed = %cc.sealed.display(), "CC replica removed"),
            Err(e) => warn!(%sector, error = %e, "cannot remove the CC replica"),
        }
        removed
    }

    /// The `ProveReplicaUpdates3` entry of one sector's taken proof.
    pub(super) async fn update_params(
        &self,
        id: SectorId,
        rec: &SectorStatus,
    ) -> Result<venus_seal_core::chain::ReplicaUpdateParams, String> {
        let job = rec.snap_up.as_ref().ok_or("no snap-up job")?;
        let sub = job.submission.as_ref().ok_or("no snap-up proof")?;
        let location = self
            .chain
            .sector_location(id.miner, id.number)
            .await
            .map_err(|e| format!("cannot locate sector {id} on chain: {e}"))?;
        let Some(SectorLocation {
            deadline,
            partition,
        }) = location
        else {
            return Err(format!("sector {id} is in no partition on chain"));
        };
        let dl = self
            .chain
            .proving_deadline(id.miner)
            .await
            .map_err(|e| format!("cannot read the proving deadline: {e}"))?;
        let n = dl.deadlines.max(1);
        // The actors refuse the open deadline and the next; one more for
        // the epochs the message takes to land.
        if (0..3).any(|ahead| deadline == (dl.index + ahead) % n) {
            return Err(format!(
                "sector {id}'s deadline {deadline} opens within two deadlines of the open one \
                 ({}): the actors refuse updates there until it passes",
                dl.index
            ));
        }
        Ok(venus_seal_core::chain::ReplicaUpdateParams {
            sector_number: id.number,
            seal_proof: rec.proof_type,
            deadline,
            partition,
            new_sealed_cid: sub.content.comm_r_new,
            new_unsealed_cid: sub.content.comm_d_new,
            pieces: rec.deals.clone().unwrap_or_default(),
            proof: sub.content.proof.proof.clone(),
        })
    }
}

fn origin_name(origin: SnapUpOrigin) -> &'static str {
    match origin {
        SnapUpOrigin::Operator => "by the operator",
        SnapUpOrigin::Policy => "by the miner's snap-up policy",
    }
}

#[async_trait]
impl SnapUpJobSource for LocalSectorManager {
    async fn allocate_snap_up(
        &self,
        spec: AllocateSpec,
        deals: AcquireDealsSpec,
    ) -> Result<Option<SnapUpAssignment>, ManagerError> {
        let mut taken = self
            .take_snap_up(&spec, self.sectors_with_snap_ups().await?)
            .await?;
        if taken.is_none() && self.snap_up_from_policy(&spec).await? {
            taken = self
                .take_snap_up(&spec, self.sectors_with_snap_ups().await?)
                .await?;
        }
        let Some(Taken {
            mut assignment,
            needs_deals,
        }) = taken
        else {
            return Ok(None);
        };
        let sector = assignment.sector.id;
        if needs_deals {
            let got = match self.snap_up_deals(sector, deals).await {
                Ok(d) => d,
                Err(e) => {
                    self.put_back(sector).await?;
                    return Err(e);
                }
            };
            if got.is_empty() {
                self.put_back(sector).await?;
                info!(%sector, "snap-up waits: no deals to put into it");
                return Ok(None);
            }
            info!(%sector, deals = ?got.iter().map(|d| d.id).collect::<Vec<_>>(), "deals assigned to a snap-up");
            assignment.deals = got;
        }
        Ok(Some(assignment))
    }

    async fn submit_snap_up(
        &self,
        sector: SectorId,
        proof: SnapUpProof,
    ) -> Result<SnapUpVerdict, ManagerError> {
        let rec = self.read(sector).await?;
        let job = rec.snap_up.as_ref().ok_or_else(|| no_job(sector))?;
        if let Some(sub) = &job.submission {
            return Ok(if sub.content == proof {
                SnapUpVerdict::Accepted
            } else {
                SnapUpVerdict::Rejected(format!(
                    "sector {sector}'s snap-up proof was taken already, with other content"
                ))
            });
        }
        if !matches!(job.state, SnapUpState::Encoding { .. }) {
            return Ok(SnapUpVerdict::Rejected(format!(
                "sector {sector}'s snap-up is {}, not handed to a worker",
                job.state.name()
            )));
        }
        if proof.proof.proof.is_empty() {
            return Ok(SnapUpVerdict::Rejected("empty proof is invalid".into()));
        }
        let deals = rec.deals.clone().unwrap_or_default();
        if deals.len() != proof.pieces.len() {
            return Ok(SnapUpVerdict::Rejected(format!(
                "pieces count not match: {} != {}",
                proof.pieces.len(),
                deals.len()
            )));
        }
        for (i, (got, deal)) in proof.pieces.iter().zip(&deals).enumerate() {
            if *got != deal.piece.cid {
                return Ok(SnapUpVerdict::Rejected(format!(
                    "#{i} piece cid not match: {got} != {}",
                    deal.piece.cid
                )));
            }
        }
        let data = venus_seal_core::types::commitment::comm_d_of_pieces(
            &deals.iter().map(|d| d.piece).collect::<Vec<_>>(),
            rec.proof_type.sector_size().0,
        )
        .map_err(|e| ManagerError::Internal(format!("the deals' CommD: {e}")))?;
        if data != proof.comm_d_new {
            return Ok(SnapUpVerdict::Rejected(format!(
                "CommD {} is not the deals' {data}",
                proof.comm_d_new
            )));
        }
        let info = ReplicaUpdateVerifyInfo {
            seal_proof: rec.proof_type,
            comm_r_old: job.comm_r_old,
            comm_r_new: proof.comm_r_new,
            comm_d_new: proof.comm_d_new,
            proof: proof.proof.proof.clone(),
        };
        match self.verifier.verify_replica_update(&info) {
            Ok(true) => {}
            Ok(false) => {
                return Ok(SnapUpVerdict::Rejected(
                    "the update proof does not verify".into(),
                ))
            }
            Err(e) => {
                return Err(ManagerError::Internal(format!(
                    "cannot verify the update proof: {e}"
                )))
            }
        }
        if let Some(files) = self.files() {
            if files.locate_update(sector).is_none() {
                return Ok(SnapUpVerdict::FilesMissed(format!(
                    "the updated replica of {sector} is not found in the manager's stores \
                     (reported in {})",
                    proof.instance
                )));
            }
        }
        let taken = self
            .modify(sector, |rec| {
                let same_deals = rec.deals.as_ref().is_some_and(|d| {
                    d.iter().map(|d| d.piece.cid).collect::<Vec<_>>() == proof.pieces
                });
                let job = rec.snap_up.as_mut().ok_or_else(|| no_job(sector))?;
                if job.submission.is_some() {
                    return Ok(false);
                }
                // Given up (or handed out again) meanwhile: not taken.
                if !matches!(job.state, SnapUpState::Encoding { .. }) || !same_deals {
                    return Err(ManagerError::Internal(format!(
                        "sector {sector}'s snap-up changed while its proof was checked ({}): \
                         not taken",
                        job.state.name()
                    )));
                }
                job.submission = Some(Submitted::queued(proof.clone()));
                job.state = SnapUpState::Proven;
                job.last_error = None;
                rec.record(event(
                    "SnapUpProven",
                    format!("CommR {} in {}", proof.comm_r_new, proof.instance),
                ));
                Ok(true)
            })
            .await?;
        if taken {
            info!(%sector, comm_r = %proof.comm_r_new, instance = %proof.instance, "snap-up proof taken");
            self.wake.notify_one();
        }
        Ok(SnapUpVerdict::Accepted)
    }

    async fn snap_up_failed(&self, sector: SectorId, reason: String) -> Result<(), ManagerError> {
        let rec = self.read(sector).await?;
        if !runs_snap_up(&rec) {
            return Ok(());
        }
        self.fail_snap_up(sector, reason, false).await
    }

    async fn snapping_up(&self, sector: SectorId, stage: &str) -> Result<(), ManagerError> {
        let now = unix_now();
        self.modify(sector, |rec| {
            if let Some(job) = rec
                .snap_up
                .as_mut()
                .filter(|j| matches!(j.state, SnapUpState::Encoding { .. }))
            {
                job.state = SnapUpState::Encoding { since: now };
            }
            Ok(())
        })
        .await?;
        tracing::debug!(%sector, stage, "snap-up alive");
        Ok(())
    }
}
