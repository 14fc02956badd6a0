//! Calling a sector manager's worker API: [`ManagerClient`] implements
//! [`SectorManager`] over JSON-RPC, in damocles' wire shapes
//! ([`super::wire`]), so it talks to our manager and to a Go
//! damocles-manager alike.

use async_trait::async_trait;
use jsonrpsee::core::params::ArrayParams;
use jsonrpsee::rpc_params;
use serde::de::DeserializeOwned;
use serde::de::IgnoredAny;
use venus_seal_core::manager::{
    AcquireDealsSpec, AllocateSpec, AllocatedSector, DealInfo, PollStateResponse,
    PreCommitOnChainInfo, ReportStateResponse, StateReport, SubmitResponse, WaitSeedResponse,
};
use venus_seal_core::post_jobs::{PoStJobOutput, PoStJobSpec, WindowPoStJob, WindowPoStJobSource};
use venus_seal_core::rebuild::{RebuildAssignment, RebuildJobSource};
use venus_seal_core::snapup::{SnapUpAssignment, SnapUpJobSource, SnapUpProof, SnapUpVerdict};
use venus_seal_core::stage::Proof;
use venus_seal_core::unseal::{UnsealAssignment, UnsealJobSource};
use venus_seal_core::{ManagerError, PieceCid, SectorId, SectorManager, Ticket};

use super::wire::{self, UnknownValue};
use super::{manager_error_from_rpc, methods, WorkerInfo};
use crate::client::RpcClient;
use crate::ClientError;

/// A remote sector manager, as a [`SectorManager`]: a worker uses it
/// exactly as it uses the in-process manager.
///
/// Errors keep their [level](venus_seal_core::FailureLevel): a manager that
/// does not answer is [`ManagerError::Transport`] (Temporary), a refused
/// token [`ManagerError::Unauthorized`] (Critical), and the manager's own
/// errors come back as the variant it raised (see
/// [`codes`](super::codes)).
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use venus_seal_core::manager::AllocateSpec;
/// use venus_seal_core::SectorManager;
/// use venus_seal_rpc::ManagerClient;
///
/// let manager = ManagerClient::new("http://127.0.0.1:1789", Some("eyJhbGci…"))?;
/// if let Some(sector) = manager.allocate_sector(AllocateSpec::default()).await? {
///     let ticket = manager.assign_ticket(sector.id).await?;
///     println!("{} ticket at {}", sector.id, ticket.epoch);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ManagerClient {
    rpc: RpcClient,
}

impl ManagerClient {
    /// A client of the manager at `url` (`http://host:port`), sending
    /// `token` (a JWT with `write`) as a bearer token when given. Fails
    /// only on a URL or token that cannot be used at all.
    pub fn new(url: impl Into<String>, token: Option<&str>) -> Result<Self, ClientError> {
        let rpc = RpcClient::new(url, token)?;
        Ok(Self { rpc })
    }

    /// The manager's URL.
    pub fn url(&self) -> &str {
        self.rpc.url()
    }

    /// Tells the manager the worker is alive (`Venus.WorkerPing`, read).
    pub async fn worker_ping(&self, info: &WorkerInfo) -> Result<(), ManagerError> {
        self.call::<IgnoredAny>(methods::WORKER_PING, rpc_params![info])
            .await
            .map(drop)
    }

    /// `Venus.AllocateSectorsBatch` (damocles' batch sealing plan): up to
    /// `count` sectors `spec` allows, `niporep` restricting it to
    /// non-interactive proof types; none is an empty list (a Go
    /// manager's `null` too).
    pub async fn allocate_sectors_batch(
        &self,
        spec: &AllocateSpec,
        niporep: bool,
        count: u32,
    ) -> Result<Vec<AllocatedSector>, ManagerError> {
        let spec = wire::AllocateSectorSpec::from(spec);
        let sectors: Option<Vec<AllocatedSector>> = self
            .call(
                methods::ALLOCATE_SECTORS_BATCH,
                rpc_params![spec, niporep, count],
            )
            .await?;
        Ok(sectors.unwrap_or_default())
    }

    /// `Venus.StoreBasicInfo`: what the manager knows of the persist
    /// store `name` (`None`: nothing).
    pub async fn store_basic_info(
        &self,
        name: &str,
    ) -> Result<Option<wire::StoreBasicInfo>, ManagerError> {
        self.call(methods::STORE_BASIC_INFO, rpc_params![name])
            .await
    }

    /// `Venus.StoreReserveSpace`: a persist store among `candidates`
    /// (empty: any) with `size` bytes reserved for `sector` (`None`: no
    /// room).
    pub async fn store_reserve_space(
        &self,
        sector: SectorId,
        size: u64,
        candidates: &[String],
    ) -> Result<Option<wire::StoreBasicInfo>, ManagerError> {
        self.call(
            methods::STORE_RESERVE_SPACE,
            rpc_params![sector, size, candidates],
        )
        .await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: &'static str,
        params: ArrayParams,
    ) -> Result<T, ManagerError> {
        self.rpc
            .call(method, params)
            .await
            .map_err(to_manager_error)
    }
}

/// An answer that parsed but holds a value damocles does not define.
fn bad_answer(method: &str, e: UnknownValue) -> ManagerError {
    ManagerError::Internal(format!("{method}: the manager answered {e}"))
}

/// The [`ManagerError`] a failed call stands for.
fn to_manager_error(e: ClientError) -> ManagerError {
    match e {
        ClientError::Unreachable { .. } => ManagerError::Transport(e.to_string()),
        ClientError::Unauthenticated { .. } | ClientError::PermissionDenied { .. } => {
            ManagerError::Unauthorized(e.to_string())
        }
        ClientError::Failed { code, message, .. } => manager_error_from_rpc(code, message),
        ClientError::Protocol { .. } | ClientError::Config(_) => {
            ManagerError::Internal(e.to_string())
        }
    }
}

#[async_trait]
impl SectorManager for ManagerClient {
    async fn allocate_sector(
        &self,
        spec: AllocateSpec,
    ) -> Result<Option<AllocatedSector>, ManagerError> {
        // damocles' newer `AllocateSector(spec, niporep)`: never NI-PoRep here.
        let spec = wire::AllocateSectorSpec::from(&spec);
        self.call(methods::ALLOCATE_SECTOR, rpc_params![spec, false])
            .await
    }

    async fn acquire_deals(
        &self,
        sector: SectorId,
        spec: AcquireDealsSpec,
    ) -> Result<Vec<DealInfo>, ManagerError> {
        // `DealsV2` or the Go manager's `Deals`; `null` is none.
        let deals: Option<Vec<wire::AnyDeal>> = self
            .call(methods::ACQUIRE_DEALS, rpc_params![sector, spec])
            .await?;
        Ok(deals
            .unwrap_or_default()
            .into_iter()
            .map(DealInfo::from)
            .collect())
    }

    async fn assign_ticket(&self, sector: SectorId) -> Result<Ticket, ManagerError> {
        let ticket: wire::Ticket = self
            .call(methods::ASSIGN_TICKET, rpc_params![sector])
            .await?;
        Ok(ticket.into())
    }

    async fn submit_pre_commit(
        &self,
        sector: AllocatedSector,
        info: PreCommitOnChainInfo,
        reset: bool,
    ) -> Result<SubmitResponse, ManagerError> {
        let info = wire::PreCommitOnChainInfo::from(&info);
        let answer: wire::SubmitResp = self
            .call(methods::SUBMIT_PRE_COMMIT, rpc_params![sector, info, reset])
            .await?;
        answer
            .try_into()
            .map_err(|e| bad_answer(methods::SUBMIT_PRE_COMMIT, e))
    }

    async fn poll_pre_commit_state(
        &self,
        sector: SectorId,
    ) -> Result<PollStateResponse, ManagerError> {
        let answer: wire::PollStateResp = self
            .call(methods::POLL_PRE_COMMIT_STATE, rpc_params![sector])
            .await?;
        answer
            .try_into()
            .map_err(|e| bad_answer(methods::POLL_PRE_COMMIT_STATE, e))
    }

    async fn submit_persisted(
        &self,
        sector: SectorId,
        instance: String,
    ) -> Result<bool, ManagerError> {
        self.call(
            methods::SUBMIT_PERSISTED_EX,
            rpc_params![sector, instance, false],
        )
        .await
    }

    async fn wait_seed(&self, sector: AllocatedSector) -> Result<WaitSeedResponse, ManagerError> {
        // damocles' `WaitSeed(SectorID, RegisteredSealProof)`: always both
        // (a Go manager refuses a call with fewer params); the proof type
        // is the caller's, from its durable record.
        let params = rpc_params![sector.id, sector.proof_type];
        let answer: wire::WaitSeedResp = self.call(methods::WAIT_SEED, params).await?;
        Ok(answer.into())
    }

    async fn submit_proof(
        &self,
        sector: SectorId,
        proof: Proof,
        reset: bool,
    ) -> Result<SubmitResponse, ManagerError> {
        let answer: wire::SubmitResp = self
            .call(methods::SUBMIT_PROOF, rpc_params![sector, proof, reset])
            .await?;
        answer
            .try_into()
            .map_err(|e| bad_answer(methods::SUBMIT_PROOF, e))
    }

    async fn poll_proof_state(&self, sector: SectorId) -> Result<PollStateResponse, ManagerError> {
        let answer: wire::PollStateResp = self
            .call(methods::POLL_PROOF_STATE, rpc_params![sector])
            .await?;
        answer
            .try_into()
            .map_err(|e| bad_answer(methods::POLL_PROOF_STATE, e))
    }

    async fn report_state(
        &self,
        sector: SectorId,
        report: StateReport,
    ) -> Result<ReportStateResponse, ManagerError> {
        let report = wire::ReportStateReq::from(&report);
        // The Go manager's answer is a pointer: `null` asks for nothing.
        let answer: Option<wire::SectorState> = self
            .call(methods::REPORT_STATE, rpc_params![sector, report])
            .await?;
        Ok(answer.map(wire::SectorState::into_core).unwrap_or_default())
    }

    async fn report_finalized(&self, sector: SectorId) -> Result<(), ManagerError> {
        // `null` from either manager; anything else is not read either.
        self.call::<IgnoredAny>(methods::REPORT_FINALIZED, rpc_params![sector])
            .await?;
        Ok(())
    }

    async fn report_aborted(&self, sector: SectorId, reason: String) -> Result<(), ManagerError> {
        self.call::<IgnoredAny>(methods::REPORT_ABORTED, rpc_params![sector, reason])
            .await?;
        Ok(())
    }
}

/// damocles' unseal job methods, as its Rust worker calls them.
#[async_trait]
impl UnsealJobSource for ManagerClient {
    async fn allocate_unseal(
        &self,
        spec: AllocateSpec,
    ) -> Result<Option<UnsealAssignment>, ManagerError> {
        let spec = wire::AllocateSectorSpec::from(&spec);
        let job: Option<wire::SectorUnsealInfo> = self
            .call(methods::ALLOCATE_UNSEAL_SECTOR, rpc_params![spec])
            .await?;
        Ok(job.map(Into::into))
    }

    async fn unseal_destinations(
        &self,
        sector: SectorId,
        piece: PieceCid,
    ) -> Result<Vec<String>, ManagerError> {
        // The Go manager's nil slice is `null`.
        let dests: Option<Vec<String>> = self
            .call(methods::ACQUIRE_UNSEAL_DEST, rpc_params![sector, piece])
            .await?;
        Ok(dests.unwrap_or_default())
    }

    async fn achieve_unseal(
        &self,
        sector: SectorId,
        piece: PieceCid,
        error: Option<String>,
    ) -> Result<(), ManagerError> {
        // damocles' "no error" is "".
        let error = error.unwrap_or_default();
        self.call::<IgnoredAny>(
            methods::ACHIEVE_UNSEAL_SECTOR,
            rpc_params![sector, piece, error],
        )
        .await?;
        Ok(())
    }
}

/// damocles' rebuild plan, as its Rust worker calls it: the job from
/// `AllocateRebuildSector`; the files' place with `SubmitPersistedEx`
/// (not an upgrade) then `ReportFinalized`; a failure with
/// `ReportAborted` (which a damocles manager, like ours, applies to the
/// job: it finalizes the sector again with the reason).
#[async_trait]
impl RebuildJobSource for ManagerClient {
    async fn allocate_rebuild(
        &self,
        spec: AllocateSpec,
    ) -> Result<Option<RebuildAssignment>, ManagerError> {
        let spec = wire::AllocateSectorSpec::from(&spec);
        let job: Option<wire::SectorRebuildInfo> = self
            .call(methods::ALLOCATE_REBUILD_SECTOR, rpc_params![spec])
            .await?;
        Ok(job.map(Into::into))
    }

    async fn rebuilt(&self, sector: SectorId, instance: String) -> Result<(), ManagerError> {
        let ok: bool = self
            .call(
                methods::SUBMIT_PERSISTED_EX,
                rpc_params![sector, instance.clone(), false],
            )
            .await?;
        if !ok {
            return Err(ManagerError::Rejected(format!(
                "the manager refused the rebuilt files of {sector} in {instance}"
            )));
        }
        self.call::<IgnoredAny>(methods::REPORT_FINALIZED, rpc_params![sector])
            .await?;
        Ok(())
    }

    async fn rebuild_failed(&self, sector: SectorId, reason: String) -> Result<(), ManagerError> {
        self.call::<IgnoredAny>(methods::REPORT_ABORTED, rpc_params![sector, reason])
            .await?;
        Ok(())
    }

    /// A `ReportState` as damocles' rebuild plan sends one per step (the
    /// manager renews the job's lease).
    async fn rebuilding(&self, sector: SectorId, stage: &str) -> Result<(), ManagerError> {
        self.report_step(sector, "rebuilder", stage).await
    }
}

/// damocles' snap-up plan, as its Rust worker calls it: the job from
/// `AllocateSanpUpSector`, the result with `SubmitSnapUpProof` (then
/// `ReportFinalized`, which changes nothing on either manager: the job
/// goes on on chain); a failure with `ReportAborted`.
#[async_trait]
impl SnapUpJobSource for ManagerClient {
    async fn allocate_snap_up(
        &self,
        spec: AllocateSpec,
        deals: AcquireDealsSpec,
    ) -> Result<Option<SnapUpAssignment>, ManagerError> {
        let spec = wire::AllocateSnapUpSpec {
            sector: wire::AllocateSectorSpec::from(&spec),
            deals,
        };
        let job: Option<wire::AllocatedSnapUpSectorAny> = self
            .call(methods::ALLOCATE_SNAP_UP_SECTOR, rpc_params![spec])
            .await?;
        Ok(job.map(Into::into))
    }

    async fn submit_snap_up(
        &self,
        sector: SectorId,
        proof: SnapUpProof,
    ) -> Result<SnapUpVerdict, ManagerError> {
        let info = wire::SnapUpOnChainInfo::from(&proof);
        let resp: wire::SubmitResp = self
            .call(methods::SUBMIT_SNAP_UP_PROOF, rpc_params![sector, info])
            .await?;
        let verdict = SnapUpVerdict::try_from(resp)
            .map_err(|e| ManagerError::Internal(format!("SubmitSnapUpProof: {e}")))?;
        if verdict == SnapUpVerdict::Accepted {
            self.call::<IgnoredAny>(methods::REPORT_FINALIZED, rpc_params![sector])
                .await?;
        }
        Ok(verdict)
    }

    async fn snap_up_failed(&self, sector: SectorId, reason: String) -> Result<(), ManagerError> {
        self.call::<IgnoredAny>(methods::REPORT_ABORTED, rpc_params![sector, reason])
            .await?;
        Ok(())
    }

    /// A `ReportState` as damocles' snap-up plan sends one per step (the
    /// manager renews the job's lease).
    async fn snapping_up(&self, sector: SectorId, stage: &str) -> Result<(), ManagerError> {
        self.report_step(sector, "snap-up", stage).await
    }
}

/// damocles' `wdpost` plan as its worker drives it: `WdPoStAllocateJobs`
/// (`num` jobs at most), `WdPoStHeartbeatJobs`, `WdPoStFinishJob` (the
/// output, or `null` and the reason). Works against this project's
/// manager and damocles-manager's worker-prover module.
#[async_trait]
impl WindowPoStJobSource for ManagerClient {
    async fn allocate_post_jobs(
        &self,
        spec: &PoStJobSpec,
        num: u32,
        worker: &str,
    ) -> Result<Vec<WindowPoStJob>, ManagerError> {
        let spec = wire::AllocatePoStSpec::from(spec);
        let jobs: Option<Vec<wire::AllocatedWdPoStJob>> = self
            .call(
                methods::WDPOST_ALLOCATE_JOBS,
                rpc_params![spec, num, worker],
            )
            .await?;
        jobs.unwrap_or_default()
            .into_iter()
            .map(|j| {
                WindowPoStJob::try_from(j)
                    .map_err(|e| ManagerError::Internal(format!("WdPoStAllocateJobs: {e}")))
            })
            .collect()
    }

    async fn heartbeat_post_jobs(&self, ids: &[String], worker: &str) -> Result<(), ManagerError> {
        self.call::<IgnoredAny>(methods::WDPOST_HEARTBEAT_JOBS, rpc_params![ids, worker])
            .await?;
        Ok(())
    }

    async fn finish_post_job(
        &self,
        id: &str,
        result: Result<PoStJobOutput, String>,
    ) -> Result<(), ManagerError> {
        let (output, reason) = wire::finish_params(&result);
        self.call::<IgnoredAny>(methods::WDPOST_FINISH_JOB, rpc_params![id, output, reason])
            .await?;
        Ok(())
    }
}

impl ManagerClient {
    /// A job's step as damocles' plans report it (`ReportState` from
    /// `instance`, no failure): the manager renews the job's lease.
    async fn report_step(
        &self,
        sector: SectorId,
        instance: &str,
        stage: &str,
    ) -> Result<(), ManagerError> {
        let report = venus_seal_core::manager::StateReport {
            worker: venus_seal_core::manager::WorkerIdentifier {
                instance: instance.into(),
                location: String::new(),
            },
            state_change: venus_seal_core::manager::SectorStateChange {
                prev: String::new(),
                next: stage.to_string(),
                event: None,
            },
            failure: None,
        };
        SectorManager::report_state(self, sector, report).await?;
        Ok(())
    }
}
