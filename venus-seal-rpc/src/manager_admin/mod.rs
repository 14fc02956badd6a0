//! The sector manager's operator methods: operators queue deal pieces that
//! `Venus.AcquireDeals` then hands to workers, and give sectors up.
//!
//! | method | params | result | needs |
//! | --- | --- | --- | --- |
//! | `Venus.Admin.AddDeal` | `[DealInfo, miner or null]` | `null` | admin |
//! | `Venus.Admin.DealQueue` | `[]` | `DealQueueStatus` | read |
//! | `Venus.Admin.AbortSector` | `[SectorId, reason]` | `null` | admin |
//! | `Venus.Admin.ResendSector` | `[SectorId]` | which submission, `"pre-commit"` or `"proof"` | admin |
//! | `Venus.Admin.SectorsExpiring` | `[miner, within_epochs]` | `ExpiringSectors` | read |
//! | `Venus.Admin.ExtendSectors` | `[miner, [number…], new_expiration, dry_run]` | `LifecyclePlan` | admin |
//! | `Venus.Admin.TerminateSectors` | `[miner, [number…], dry_run]` | `LifecyclePlan` | admin |
//! | `Venus.Admin.RequestUnseal` | `[SectorId, piece cid, dest]` | `UnsealJob` | admin |
//! | `Venus.Admin.UnsealJobs` | `[]` | `[UnsealJobEntry…]` | admin |
//! | `Venus.Admin.RequestRebuild` | `[SectorId, reason]` | `RebuildJob` | admin |
//! | `Venus.Admin.RebuildJobs` | `[]` | `[RebuildJobEntry…]` | read |
//! | `Venus.Admin.RequestSnapUp` | `[SectorId]` | `SnapUpJob` | admin |
//! | `Venus.Admin.SnapUpJobs` | `[]` | `[SnapUpJobEntry…]` | read |
//! | `Venus.Admin.CancelSnapUp` | `[SectorId, reason]` | `SnapUpJob` | admin |
//! | `Venus.Admin.SnapUpCandidates` | `[miner, min_remaining_epochs]` | `[number…]` | read |
//! | `Venus.Admin.CheckDeadline` | `[miner, deadline]` | `DeadlineReads` | admin |
//! | `Venus.Admin.SimulateWindowPoSt` | `[miner, deadline, randomness hex or null]` | `SimulatedWindowPoSt` | admin |
//!
//! An aborted sector's worker learns it from the answer to its next
//! `Venus.ReportState` (`AbortReason`) or poll (`ShouldAbort`), and gives
//! the sector up; a sector proven on chain or finalized cannot be aborted
//! (invalid params, saying why). `ResendSector` forces a new attempt at
//! the sector's last submission: sent again in the next batch under a new
//! attempt uid (a sector with nothing submitted, or being aborted, is
//! invalid params).
//!
//! The lifecycle methods act on proven sectors on chain
//! ([`venus_seal_core::lifecycle`]): `SectorsExpiring` lists the miner's
//! sectors expiring within `within_epochs` of the head; `ExtendSectors` and
//! `TerminateSectors` send one `ExtendSectorExpiration2` or
//! `TerminateSectors` message for the sectors that can take it, answering
//! the partitions sent, the sectors left out and why, and the message id
//! (none with `dry_run`). A request where no sector can go (or for a miner
//! the manager does not serve) is invalid params saying why, per sector.
//!
//! `RequestUnseal` asks for a piece of a persisted sector to be read back
//! by a worker and written to `dest` (`file:///…`, an absolute path on the
//! worker, `http(s)://…`, uploaded with PUT, or `s3://bucket/key`);
//! `UnsealJobs` lists every
//! job with its state ([`venus_seal_core::unseal`]).
//!
//! `RequestRebuild` asks for a finalized sector whose files are lost to be
//! sealed again from its ticket and pieces by a worker with `[rebuild]`
//! and put back in a persist store ([`venus_seal_core::rebuild`]);
//! `RebuildJobs` lists every job (the operator's and the automatic
//! policy's) with its state, origin and reason.
//!
//! `RequestSnapUp` asks for a proven CC sector sealed here to take deals
//! without sealing again: a worker with `[snap_up]` encodes and proves it,
//! the manager sends `ProveReplicaUpdates3` ([`venus_seal_core::snapup`]);
//! `SnapUpJobs` lists every job with its state; `CancelSnapUp` gives an
//! open job up before its proof goes out; `SnapUpCandidates` lists
//! the miner's CC sectors a policy with that much life left would pick.
//!
//! `DealInfo` is `{"ID": 7, "Piece": {"Size": 512, "PieceCID": {"/": "baga6ea4seaq…"}}}`
//! as [`venus_seal_core::manager::DealInfo`] serializes it; `miner`
//! (`"f01000"`) restricts the deal to one miner actor (null: any). A
//! deal the manager cannot take (a size that is not a padded piece size,
//! too large for the miner's sectors, a miner it does not serve) is an
//! invalid-params error (-32602) saying why.

mod client;
mod server;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use venus_seal_core::lifecycle::{ExpiringSectors, LifecyclePlan};
use venus_seal_core::manager::DealInfo;
use venus_seal_core::rebuild::RebuildJob;
use venus_seal_core::unseal::UnsealJob;
use venus_seal_core::{ActorId, ChainEpoch, PieceCid, Randomness, SectorId, SectorNumber};

use crate::Permission;

pub use client::ManagerAdminClient;
pub use server::manager_admin_module;

/// The method names.
pub mod methods {
    /// `Venus.Admin.AddDeal` (admin).
    pub const ADD_DEAL: &str = "Venus.Admin.AddDeal";
    /// `Venus.Admin.DealQueue` (read).
    pub const DEAL_QUEUE: &str = "Venus.Admin.DealQueue";
    /// `Venus.Admin.AbortSector` (admin).
    pub const ABORT_SECTOR: &str = "Venus.Admin.AbortSector";
    /// `Venus.Admin.ResendSector` (admin).
    pub const RESEND_SECTOR: &str = "Venus.Admin.ResendSector";
    /// `Venus.Admin.SectorsExpiring` (read).
    pub const SECTORS_EXPIRING: &str = "Venus.Admin.SectorsExpiring";
    /// `Venus.Admin.ExtendSectors` (admin).
    pub const EXTEND_SECTORS: &str = "Venus.Admin.ExtendSectors";
    /// `Venus.Admin.TerminateSectors` (admin).
    pub const TERMINATE_SECTORS: &str = "Venus.Admin.TerminateSectors";
    /// `Venus.Admin.RequestUnseal` (admin): `[sector, piece cid, dest]`.
    pub const REQUEST_UNSEAL: &str = "Venus.Admin.RequestUnseal";
    /// `Venus.Admin.UnsealJobs` (admin: destinations may carry
    /// credentials, e.g. pre-signed URLs): every unseal job.
    pub const UNSEAL_JOBS: &str = "Venus.Admin.UnsealJobs";
    /// `Venus.Admin.RequestRebuild` (admin): `[sector, reason]`.
    pub const REQUEST_REBUILD: &str = "Venus.Admin.RequestRebuild";
    /// `Venus.Admin.RebuildJobs` (read): every rebuild job.
    pub const REBUILD_JOBS: &str = "Venus.Admin.RebuildJobs";
    /// `Venus.Admin.RequestSnapUp` (admin): `[sector]`.
    pub const REQUEST_SNAP_UP: &str = "Venus.Admin.RequestSnapUp";
    /// `Venus.Admin.CancelSnapUp` (admin): `[sector, reason]`.
    pub const CANCEL_SNAP_UP: &str = "Venus.Admin.CancelSnapUp";
    /// `Venus.Admin.SnapUpJobs` (read): every snap-up job.
    pub const SNAP_UP_JOBS: &str = "Venus.Admin.SnapUpJobs";
    /// `Venus.Admin.SnapUpCandidates` (read): `[miner,
    /// min_remaining_epochs]`, the CC sectors a snap-up policy would pick.
    pub const SNAP_UP_CANDIDATES: &str = "Venus.Admin.SnapUpCandidates";
    /// `Venus.Admin.CheckDeadline` (admin: it reads every sector's
    /// files): `[miner, deadline]`, a WindowPoSt dry run.
    pub const CHECK_DEADLINE: &str = "Venus.Admin.CheckDeadline";
    /// `Venus.Admin.SimulateWindowPoSt` (admin: it proves):
    /// `[miner, deadline, randomness hex or null]`.
    pub const SIMULATE_WINDOW_POST: &str = "Venus.Admin.SimulateWindowPoSt";
}

/// The permission each deal method needs.
pub fn admin_permissions() -> HashMap<&'static str, Permission> {
    HashMap::from([
        (methods::ADD_DEAL, Permission::Admin),
        (methods::DEAL_QUEUE, Permission::Read),
        (methods::ABORT_SECTOR, Permission::Admin),
        (methods::RESEND_SECTOR, Permission::Admin),
        (methods::SECTORS_EXPIRING, Permission::Read),
        (methods::EXTEND_SECTORS, Permission::Admin),
        (methods::TERMINATE_SECTORS, Permission::Admin),
        (methods::REQUEST_UNSEAL, Permission::Admin),
        (methods::UNSEAL_JOBS, Permission::Admin),
        (methods::REQUEST_REBUILD, Permission::Admin),
        (methods::REBUILD_JOBS, Permission::Read),
        (methods::REQUEST_SNAP_UP, Permission::Admin),
        (methods::SNAP_UP_JOBS, Permission::Read),
        (methods::CANCEL_SNAP_UP, Permission::Admin),
        (methods::SNAP_UP_CANDIDATES, Permission::Read),
        (methods::CHECK_DEADLINE, Permission::Admin),
        (methods::SIMULATE_WINDOW_POST, Permission::Admin),
    ])
}

/// What `Venus.Admin.DealQueue` answers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DealQueueStatus {
    /// Deals waiting for a sector.
    pub queued: u64,
}

/// One unseal job and its sector, as `Venus.Admin.UnsealJobs` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnsealJobEntry {
    /// The sector.
    pub sector: SectorId,
    /// The job.
    pub job: UnsealJob,
}

/// One rebuild job and its sector, as `Venus.Admin.RebuildJobs` lists
/// it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebuildJobEntry {
    /// The sector.
    pub sector: SectorId,
    /// The job.
    pub job: RebuildJob,
}

/// One snap-up job and its sector, as `Venus.Admin.SnapUpJobs` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapUpJobEntry {
    /// The sector.
    pub sector: SectorId,
    /// The job.
    pub job: venus_seal_core::snapup::SnapUpJob,
}

/// A WindowPoSt dry run of one deadline (`Venus.Admin.CheckDeadline`):
/// every active sector's files read as a WindowPoSt reads them, each
/// timed, and whether the predicted proof fits the deadline's window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadlineReads {
    /// The miner.
    pub miner: ActorId,
    /// The deadline.
    pub deadline: u64,
    /// The epoch of its next opening (the open one if it is open).
    pub opens: ChainEpoch,
    /// The epoch it closes at.
    pub closes: ChainEpoch,
    /// Its partitions.
    pub partitions: usize,
    /// Its active sectors.
    pub sectors: usize,
    /// Each sector read, slowest first.
    pub reads: Vec<SectorReadTime>,
    /// The predicted proof duration, milliseconds.
    pub predicted_ms: u64,
    /// What the proof may take (the window's budget), milliseconds.
    pub allowed_ms: u64,
    /// The sectors slower than the slow-read threshold.
    pub slow: Vec<SectorNumber>,
}

/// One sector of a [`DeadlineReads`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectorReadTime {
    /// The sector.
    pub number: SectorNumber,
    /// How long reading its files took, milliseconds.
    pub took_ms: u64,
    /// Why a WindowPoSt would skip it (declare it faulty), if it would.
    pub unreadable: Option<String>,
}

/// A simulated WindowPoSt of one deadline (`Venus.Admin.SimulateWindowPoSt`):
/// proven now with the challenge given (or drawn), nothing sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimulatedWindowPoSt {
    /// The miner.
    pub miner: ActorId,
    /// The deadline.
    pub deadline: u64,
    /// The challenge used.
    pub randomness: Randomness,
    /// Each partition with active sectors.
    pub partitions: Vec<SimulatedPartitionPoSt>,
    /// How long the whole simulation took, milliseconds.
    pub took_ms: u64,
}

/// One partition of a [`SimulatedWindowPoSt`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimulatedPartitionPoSt {
    /// The partition index.
    pub index: u64,
    /// The sectors proven.
    pub proven: Vec<SectorNumber>,
    /// The sectors a real proof would skip, with why.
    pub skipped: Vec<(SectorNumber, String)>,
    /// How long its proof took, milliseconds.
    pub took_ms: u64,
    /// The bytes of its proofs.
    pub proof_bytes: usize,
}

/// Why an operator method was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The deal cannot go into any sector of the manager, or the sector
    /// cannot be aborted: the message says why (answered as invalid
    /// params).
    #[error("{0}")]
    Invalid(String),
    /// The manager's state store failed.
    #[error("the manager failed: {0}")]
    Internal(String),
}

/// What the operator methods act on: implemented by a binary over its
/// sector manager (venus-seal-chain's `LocalSectorManager::add_deal` and
/// `request_abort`); tests serve a fake.
#[async_trait]
pub trait ManagerAdminApi: Send + Sync + 'static {
    /// Appends `deal` to the queue, for `miner` (`None`: any miner).
    async fn add_deal(&self, miner: Option<ActorId>, deal: DealInfo) -> Result<(), AdminError>;
    /// How the queue stands.
    async fn status(&self) -> Result<DealQueueStatus, AdminError>;
    /// Asks the worker sealing `sector` to give it up, for `reason`.
    async fn abort_sector(&self, sector: SectorId, reason: String) -> Result<(), AdminError>;
    /// Sends `sector`'s last submission again under a new attempt;
    /// answers which one (`"pre-commit"` or `"proof"`).
    async fn resend_sector(&self, sector: SectorId) -> Result<String, AdminError>;
    /// `miner`'s sectors on chain expiring within `within` epochs of the
    /// head.
    async fn sectors_expiring(
        &self,
        miner: ActorId,
        within: ChainEpoch,
    ) -> Result<ExpiringSectors, AdminError>;
    /// Extends `sectors` of `miner` to `new_expiration` (nothing sent
    /// with `dry_run`).
    async fn extend_sectors(
        &self,
        miner: ActorId,
        sectors: Vec<SectorNumber>,
        new_expiration: ChainEpoch,
        dry_run: bool,
    ) -> Result<LifecyclePlan, AdminError>;
    /// Terminates `sectors` of `miner` (nothing sent with `dry_run`).
    async fn terminate_sectors(
        &self,
        miner: ActorId,
        sectors: Vec<SectorNumber>,
        dry_run: bool,
    ) -> Result<LifecyclePlan, AdminError>;
    /// Asks for `piece` of `sector` to be unsealed to `dest` (see
    /// `venus_seal_core::unseal`); answers the job. The default refuses: a
    /// manager without unseal jobs.
    async fn request_unseal(
        &self,
        sector: SectorId,
        piece: PieceCid,
        dest: String,
    ) -> Result<UnsealJob, AdminError> {
        let _ = (piece, dest);
        Err(AdminError::Invalid(format!(
            "this manager does not unseal (sector {sector})"
        )))
    }
    /// Every unseal job, in sector order. The default: none.
    async fn unseal_jobs(&self) -> Result<Vec<UnsealJobEntry>, AdminError> {
        Ok(Vec::new())
    }
    /// Asks for `sector` to be rebuilt (see `venus_seal_core::rebuild`);
    /// answers the job. The default refuses: a manager without rebuild
    /// jobs.
    async fn request_rebuild(
        &self,
        sector: SectorId,
        reason: String,
    ) -> Result<RebuildJob, AdminError> {
        let _ = reason;
        Err(AdminError::Invalid(format!(
            "this manager does not rebuild sectors (sector {sector})"
        )))
    }
    /// Every rebuild job, in sector order. The default: none.
    async fn rebuild_jobs(&self) -> Result<Vec<RebuildJobEntry>, AdminError> {
        Ok(Vec::new())
    }
    /// Asks for `sector` to be snapped up (see
    /// `venus_seal_core::snapup`); answers the job. The default refuses.
    async fn request_snap_up(
        &self,
        sector: SectorId,
    ) -> Result<venus_seal_core::snapup::SnapUpJob, AdminError> {
        Err(AdminError::Invalid(format!(
            "this manager does not snap sectors up (sector {sector})"
        )))
    }
    /// Gives `sector`'s snap-up up before its proof goes out; answers the
    /// job. The default refuses.
    async fn cancel_snap_up(
        &self,
        sector: SectorId,
        reason: String,
    ) -> Result<venus_seal_core::snapup::SnapUpJob, AdminError> {
        let _ = reason;
        Err(AdminError::Invalid(format!(
            "this manager does not snap sectors up (sector {sector})"
        )))
    }
    /// Every snap-up job, in sector order. The default: none.
    async fn snap_up_jobs(&self) -> Result<Vec<SnapUpJobEntry>, AdminError> {
        Ok(Vec::new())
    }
    /// `miner`'s CC sectors with at least `min_remaining_epochs` of life,
    /// sealed here, no job open. The default: none.
    async fn snap_up_candidates(
        &self,
        miner: ActorId,
        min_remaining_epochs: i64,
    ) -> Result<Vec<venus_seal_core::SectorNumber>, AdminError> {
        let _ = (miner, min_remaining_epochs);
        Ok(Vec::new())
    }
    /// A WindowPoSt dry run of `miner`'s `deadline`: every sector read and
    /// timed, nothing sent. The default refuses: a manager that does not
    /// prove WindowPoSt.
    async fn check_deadline(
        &self,
        miner: ActorId,
        deadline: u64,
    ) -> Result<DeadlineReads, AdminError> {
        Err(AdminError::Invalid(format!(
            "this manager does not prove WindowPoSt ([proving] is not configured): \
             no check of {miner} deadline {deadline}"
        )))
    }
    /// A WindowPoSt of `miner`'s `deadline` proven now with `randomness`
    /// (none: drawn from the chain), nothing sent. The default refuses.
    async fn simulate_window_post(
        &self,
        miner: ActorId,
        deadline: u64,
        randomness: Option<Randomness>,
    ) -> Result<SimulatedWindowPoSt, AdminError> {
        let _ = randomness;
        Err(AdminError::Invalid(format!(
            "this manager does not prove WindowPoSt ([proving] is not configured): \
             no simulation of {miner} deadline {deadline}"
        )))
    }
}

fn _assert_dyn(_: std::sync::Arc<dyn ManagerAdminApi>) {}
