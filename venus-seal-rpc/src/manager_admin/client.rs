//! Calling a sector manager's operator methods.

use jsonrpsee::rpc_params;
use venus_seal_core::lifecycle::{ExpiringSectors, LifecyclePlan};
use venus_seal_core::manager::DealInfo;
use venus_seal_core::rebuild::RebuildJob;
use venus_seal_core::unseal::UnsealJob;
use venus_seal_core::{ActorId, ChainEpoch, PieceCid, Randomness, SectorId, SectorNumber};

use super::{
    methods, DeadlineReads, DealQueueStatus, RebuildJobEntry, SimulatedWindowPoSt, UnsealJobEntry,
};
use crate::client::RpcClient;
use crate::manager::WorkerPingInfo;
use crate::ClientError;

/// A client of a sector manager's operator methods.
///
/// ```no_run
/// # async fn demo() -> Result<(), venus_seal_rpc::ClientError> {
/// use venus_seal_core::manager::DealInfo;
/// use venus_seal_core::{ActorId, PaddedPieceSize, PieceInfo};
/// use venus_seal_rpc::manager_admin::ManagerAdminClient;
///
/// let client = ManagerAdminClient::new("http://127.0.0.1:1789", Some("eyJhbGci…"))?;
/// let piece = PieceInfo {
///     size: PaddedPieceSize(512),
///     cid: "baga6ea4seaqpy7usqklokfx2vxuynmupslkeutzexe2uqurdg5vhtebhxqmpqmy".parse().unwrap(),
/// };
/// client.add_deal(Some(ActorId(1000)), DealInfo::new(7, piece)).await?;
/// println!("{} deals wait", client.status().await?.queued);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ManagerAdminClient {
    rpc: RpcClient,
    /// For the calls that read or prove a whole deadline (minutes).
    slow: RpcClient,
}

/// How long `proving check` and `proving simulate` may take: a deadline's
/// every sector read, or its partitions proven.
pub const PROVING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30 * 60);

impl ManagerAdminClient {
    /// A client of the manager at `url` (`http://host:port`), sending
    /// `token` as a bearer token when given (admin to add, read to look).
    pub fn new(url: impl Into<String>, token: Option<&str>) -> Result<Self, ClientError> {
        let url = url.into();
        let slow = RpcClient::with_timeout(url.clone(), token, PROVING_TIMEOUT)?;
        let rpc = RpcClient::new(url, token)?;
        Ok(Self { rpc, slow })
    }

    /// Queues `deal` for `miner` (`None`: any) (`Venus.Admin.AddDeal`).
    pub async fn add_deal(
        &self,
        miner: Option<ActorId>,
        deal: DealInfo,
    ) -> Result<(), ClientError> {
        self.rpc
            .call::<()>(methods::ADD_DEAL, rpc_params![deal, miner])
            .await
    }

    /// How the queue stands (`Venus.Admin.DealQueue`).
    pub async fn status(&self) -> Result<DealQueueStatus, ClientError> {
        self.rpc.call(methods::DEAL_QUEUE, rpc_params![]).await
    }

    /// Asks the worker sealing `sector` to give it up
    /// (`Venus.Admin.AbortSector`).
    pub async fn abort_sector(&self, sector: SectorId, reason: &str) -> Result<(), ClientError> {
        self.rpc
            .call::<()>(methods::ABORT_SECTOR, rpc_params![sector, reason])
            .await
    }

    /// Every worker's last ping (`Venus.WorkerPingInfoList`, read), by
    /// name.
    pub async fn workers(&self) -> Result<Vec<WorkerPingInfo>, ClientError> {
        let method = crate::manager::methods::WORKER_PING_INFO_LIST;
        self.rpc
            .call::<Vec<WorkerPingInfo>>(method, rpc_params![])
            .await
    }

    /// Sends `sector`'s last submission again under a new attempt
    /// (`Venus.Admin.ResendSector`); answers which one was queued.
    pub async fn resend_sector(&self, sector: SectorId) -> Result<String, ClientError> {
        self.rpc
            .call::<String>(methods::RESEND_SECTOR, rpc_params![sector])
            .await
    }

    /// `miner`'s sectors on chain expiring within `within` epochs of the
    /// head (`Venus.Admin.SectorsExpiring`).
    pub async fn sectors_expiring(
        &self,
        miner: ActorId,
        within: ChainEpoch,
    ) -> Result<ExpiringSectors, ClientError> {
        self.rpc
            .call(methods::SECTORS_EXPIRING, rpc_params![miner, within])
            .await
    }

    /// Extends `sectors` of `miner` to `new_expiration`
    /// (`Venus.Admin.ExtendSectors`; nothing sent with `dry_run`).
    pub async fn extend_sectors(
        &self,
        miner: ActorId,
        sectors: &[SectorNumber],
        new_expiration: ChainEpoch,
        dry_run: bool,
    ) -> Result<LifecyclePlan, ClientError> {
        self.rpc
            .call(
                methods::EXTEND_SECTORS,
                rpc_params![miner, sectors, new_expiration, dry_run],
            )
            .await
    }

    /// Terminates `sectors` of `miner` (`Venus.Admin.TerminateSectors`;
    /// nothing sent with `dry_run`).
    pub async fn terminate_sectors(
        &self,
        miner: ActorId,
        sectors: &[SectorNumber],
        dry_run: bool,
    ) -> Result<LifecyclePlan, ClientError> {
        self.rpc
            .call(
                methods::TERMINATE_SECTORS,
                rpc_params![miner, sectors, dry_run],
            )
            .await
    }

    /// Asks for `piece` of `sector` to be unsealed to `dest`
    /// (`Venus.Admin.RequestUnseal`); answers the job.
    pub async fn request_unseal(
        &self,
        sector: SectorId,
        piece: PieceCid,
        dest: &str,
    ) -> Result<UnsealJob, ClientError> {
        self.rpc
            .call(methods::REQUEST_UNSEAL, rpc_params![sector, piece, dest])
            .await
    }

    /// A WindowPoSt dry run of `miner`'s `deadline`
    /// (`Venus.Admin.CheckDeadline`): every sector read and timed.
    pub async fn check_deadline(
        &self,
        miner: ActorId,
        deadline: u64,
    ) -> Result<DeadlineReads, ClientError> {
        self.slow
            .call(methods::CHECK_DEADLINE, rpc_params![miner, deadline])
            .await
    }

    /// A WindowPoSt of `miner`'s `deadline` proven now with `randomness`
    /// (none: drawn from the chain), nothing sent
    /// (`Venus.Admin.SimulateWindowPoSt`).
    pub async fn simulate_window_post(
        &self,
        miner: ActorId,
        deadline: u64,
        randomness: Option<Randomness>,
    ) -> Result<SimulatedWindowPoSt, ClientError> {
        self.slow
            .call(
                methods::SIMULATE_WINDOW_POST,
                rpc_params![miner, deadline, randomness],
            )
            .await
    }

    /// Asks for `sector` to be rebuilt (`Venus.Admin.RequestRebuild`);
    /// answers the job.
    pub async fn request_rebuild(
        &self,
        sector: SectorId,
        reason: &str,
    ) -> Result<RebuildJob, ClientError> {
        self.rpc
            .call(methods::REQUEST_REBUILD, rpc_params![sector, reason])
            .await
    }

    /// Every rebuild job (`Venus.Admin.RebuildJobs`).
    pub async fn rebuild_jobs(&self) -> Result<Vec<RebuildJobEntry>, ClientError> {
        self.rpc.call(methods::REBUILD_JOBS, rpc_params![]).await
    }

    /// Asks for `sector` to be snapped up (`Venus.Admin.RequestSnapUp`);
    /// answers the job.
    pub async fn request_snap_up(
        &self,
        sector: SectorId,
    ) -> Result<venus_seal_core::snapup::SnapUpJob, ClientError> {
        self.rpc
            .call(methods::REQUEST_SNAP_UP, rpc_params![sector])
            .await
    }

    /// Gives `sector`'s snap-up up (`Venus.Admin.CancelSnapUp`); answers
    /// the job.
    pub async fn cancel_snap_up(
        &self,
        sector: SectorId,
        reason: &str,
    ) -> Result<venus_seal_core::snapup::SnapUpJob, ClientError> {
        self.rpc
            .call(methods::CANCEL_SNAP_UP, rpc_params![sector, reason])
            .await
    }

    /// Every snap-up job (`Venus.Admin.SnapUpJobs`).
    pub async fn snap_up_jobs(&self) -> Result<Vec<super::SnapUpJobEntry>, ClientError> {
        self.rpc.call(methods::SNAP_UP_JOBS, rpc_params![]).await
    }

    /// `miner`'s snap-up candidates (`Venus.Admin.SnapUpCandidates`).
    pub async fn snap_up_candidates(
        &self,
        miner: ActorId,
        min_remaining_epochs: i64,
    ) -> Result<Vec<venus_seal_core::SectorNumber>, ClientError> {
        self.rpc
            .call(
                methods::SNAP_UP_CANDIDATES,
                rpc_params![miner, min_remaining_epochs],
            )
            .await
    }

    /// Every unseal job (`Venus.Admin.UnsealJobs`).
    pub async fn unseal_jobs(&self) -> Result<Vec<UnsealJobEntry>, ClientError> {
        self.rpc.call(methods::UNSEAL_JOBS, rpc_params![]).await
    }
}
