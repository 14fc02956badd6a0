//! The worker-facing sector manager: what a worker asks of the chain side.
//!
//! The methods and field names follow damocles' `Venus.*` worker API, so the
//! in-process manager, the JSON-RPC client and the service share one trait.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Failure, ManagerError};
use crate::stage::Proof;
use crate::types::commitment::{CommD, CommR};
use crate::types::ids::{ActorId, SectorId};
use crate::types::piece::PieceInfo;
use crate::types::proof::SealProof;
use crate::types::randomness::{Seed, Ticket};

/// What sectors a worker can take.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AllocateSpec {
    /// Only these miners (empty: any).
    pub allowed_miners: Vec<ActorId>,
    /// Only these proof types (empty: any).
    pub allowed_proof_types: Vec<SealProof>,
    /// The worker's key for this allocation, saved in its sector record
    /// before it asks: the manager answers every request with the same
    /// key with the same sector, so a worker that dies between the answer
    /// and its own save gets its number again instead of orphaning it.
    /// `None` (damocles' `AllocateSector`, which has no such key): a new
    /// number every time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_key: Option<String>,
}

/// A sector number the manager handed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AllocatedSector {
    /// The sector.
    #[serde(rename = "ID")]
    pub id: SectorId,
    /// Its proof type.
    pub proof_type: SealProof,
}

/// A deal placed in a sector.
///
/// Two kinds of deal reach a sector, as damocles and Lotus tell them
/// apart: a builtin-market deal (`id` ≠ 0), activated by notifying the
/// market actor, and a direct (DDO) deal (`id` 0 with an `allocation`),
/// activated by claiming its FIL+ allocation alone. A builtin-market deal
/// may also carry a verified allocation; a piece with neither is plain
/// data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DealInfo {
    /// The deal id on chain (0 for pieces without a chain deal).
    #[serde(rename = "ID")]
    pub id: u64,
    /// The piece.
    pub piece: PieceInfo,
    /// The FIL+ allocation the piece claims when its sector is activated
    /// (the piece manifest's `verified_allocation_key`): its data counts
    /// ten times in the sector's quality-adjusted power, and the sector's
    /// pledge is priced with it. `None`: unverified data. Absent from
    /// records written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation: Option<VerifiedAllocationKey>,
}

impl DealInfo {
    /// A deal of `piece` with chain deal id `id` (0: none) and no verified
    /// allocation.
    pub fn new(id: u64, piece: PieceInfo) -> Self {
        DealInfo {
            id,
            piece,
            allocation: None,
        }
    }

    /// This deal, claiming the FIL+ allocation `key` at activation.
    pub fn with_allocation(mut self, key: VerifiedAllocationKey) -> Self {
        self.allocation = Some(key);
        self
    }

    /// Whether the piece's space is verified (it claims an allocation).
    pub fn is_verified(&self) -> bool {
        self.allocation.is_some()
    }
}

/// A FIL+ allocation in the verified registry, as a piece names it to
/// claim it (builtin-actors miner `VerifiedAllocationKey`): the client
/// whose datacap made it and its id among that client's allocations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VerifiedAllocationKey {
    /// The client (actor id).
    pub client: ActorId,
    /// The allocation's id.
    #[serde(rename = "ID")]
    pub id: u64,
}

impl std::fmt::Display for VerifiedAllocationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "allocation {} of client {}", self.id, self.client)
    }
}

/// The verified space of `pieces`: the padded bytes of those that claim a
/// FIL+ allocation. This is the `verifiedSize` a sector's initial pledge is
/// priced with (Lotus' `StateMinerInitialPledgeForSector`), and what the
/// miner actor multiplies into verified deal weight at activation.
pub fn verified_space(pieces: &[DealInfo]) -> u64 {
    pieces
        .iter()
        .filter(|d| d.is_verified())
        .map(|d| d.piece.size.0)
        .sum()
}

/// What deals a sector can take.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AcquireDealsSpec {
    /// At most this many deals.
    pub max_deals: Option<usize>,
    /// Only if at least this many bytes would be used.
    pub min_used_space: Option<u64>,
}

/// The result of a pre-commit as the worker reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PreCommitOnChainInfo {
    /// CommR.
    pub comm_r: CommR,
    /// CommD.
    pub comm_d: CommD,
    /// The ticket used.
    pub ticket: Ticket,
    /// The deals in the sector.
    pub deals: Vec<u64>,
}

/// How the manager took a submission.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[repr(u8)]
pub enum SubmitResult {
    /// Taken.
    Accepted = 1,
    /// Already taken with the same content.
    DuplicateSubmit = 2,
    /// Already taken with different content.
    MismatchedSubmission = 3,
    /// Refused.
    Rejected = 4,
    /// Files the submission needs are missing.
    FilesMissed = 5,
}

/// The manager's answer to a submission.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SubmitResponse {
    /// The result.
    pub res: SubmitResult,
    /// Why, when not accepted.
    pub desc: Option<String>,
}

/// Where a submitted message stands on chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[repr(u8)]
pub enum OnChainState {
    /// Queued in the manager (e.g. waiting for a batch).
    Pending = 1,
    /// Sent, not yet executed.
    Packed = 2,
    /// Executed successfully.
    Landed = 3,
    /// The chain does not know it.
    NotFound = 4,
    /// Failed; may be resubmitted.
    Failed = 5,
    /// Failed for good.
    PermFailed = 6,
    /// The sector must be aborted.
    ShouldAbort = 7,
}

/// The manager's answer to a state poll.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PollStateResponse {
    /// The state.
    pub state: OnChainState,
    /// Detail, e.g. why it failed.
    pub desc: Option<String>,
}

/// The answer to `WaitSeed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WaitSeedResponse {
    /// The seed is not drawable yet.
    pub should_wait: bool,
    /// How long to wait before asking again.
    #[serde(with = "crate::serde_duration")]
    pub delay: Duration,
    /// The seed, once drawable.
    pub seed: Option<Seed>,
}

/// A worker's report of a sector's state change or failure, shaped as
/// damocles' `ReportState` request:
/// `{"Worker": {"Instance", "Location"}, "StateChange": {"Prev", "Next",
/// "Event"}, "Failure": {"Level", "Desc"} | null}`.
///
/// ```
/// use venus_seal_core::manager::{SectorStateChange, StateReport, WorkerIdentifier};
/// let report = StateReport {
///     worker: WorkerIdentifier { instance: "worker-1".into(), location: "/mnt/nvme0".into() },
///     state_change: SectorStateChange {
///         prev: "PC1Done".into(),
///         next: "PC1Done".into(),
///         event: Some("Park".into()),
///     },
///     failure: None,
/// };
/// let json = serde_json::to_value(&report).unwrap();
/// assert_eq!(json["Worker"]["Instance"], "worker-1");
/// assert_eq!(json["StateChange"]["Event"], "Park");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StateReport {
    /// Which worker, and where the sector is.
    pub worker: WorkerIdentifier,
    /// The change.
    pub state_change: SectorStateChange,
    /// A failure, if the change is one.
    pub failure: Option<Failure>,
}

/// A worker instance and the location (sealing path) a sector is in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WorkerIdentifier {
    /// The worker's name.
    pub instance: String,
    /// Where the sector's files are.
    pub location: String,
}

/// A sector's state change.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SectorStateChange {
    /// The state before.
    pub prev: String,
    /// The state after (the same when the sector stays where it is, e.g.
    /// parked).
    pub next: String,
    /// What happened, if an event caused it.
    #[serde(default)]
    pub event: Option<String>,
}

/// The manager's answer to a [`StateReport`] (damocles'
/// `{"Finalized", "AbortReason"}`): whether it holds the sector finalized,
/// and a reason when it wants the worker to give the sector up.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReportStateResponse {
    /// The manager has the sector finalized.
    pub finalized: bool,
    /// Abort the sector, for this reason.
    #[serde(default)]
    pub abort_reason: Option<String>,
}

/// The manager's side of sealing, as a worker calls it.
///
/// Implementations: the in-process manager over a [`ChainClient`]
/// (venus-seal-chain) and the JSON-RPC client of the manager service.
///
/// [`ChainClient`]: crate::ChainClient
#[async_trait]
pub trait SectorManager: Send + Sync + std::fmt::Debug {
    /// Hands out a new sector number, or `None` when no miner matches.
    async fn allocate_sector(
        &self,
        spec: AllocateSpec,
    ) -> Result<Option<AllocatedSector>, ManagerError>;

    /// Deals to place in the sector (empty: a CC sector).
    async fn acquire_deals(
        &self,
        sector: SectorId,
        spec: AcquireDealsSpec,
    ) -> Result<Vec<DealInfo>, ManagerError>;

    /// The sealing ticket. Asking again returns the same ticket.
    async fn assign_ticket(&self, sector: SectorId) -> Result<Ticket, ManagerError>;

    /// Queues the pre-commit for sending. `reset` replaces an earlier,
    /// different submission.
    async fn submit_pre_commit(
        &self,
        sector: AllocatedSector,
        info: PreCommitOnChainInfo,
        reset: bool,
    ) -> Result<SubmitResponse, ManagerError>;

    /// Where the pre-commit is.
    async fn poll_pre_commit_state(
        &self,
        sector: SectorId,
    ) -> Result<PollStateResponse, ManagerError>;

    /// The worker has persisted the sector's files at `instance`.
    async fn submit_persisted(
        &self,
        sector: SectorId,
        instance: String,
    ) -> Result<bool, ManagerError>;

    /// The interactive seed, or how long to wait for it. The caller passes
    /// the sector as allocated (its id and proof type, from its own durable
    /// record): damocles' manager takes the proof type with the request
    /// (`WaitSeed(SectorID, RegisteredSealProof)`), so a remote client must
    /// send it however long ago, or in whichever process, the sector was
    /// allocated.
    async fn wait_seed(&self, sector: AllocatedSector) -> Result<WaitSeedResponse, ManagerError>;

    /// The proof type `sector` was allocated with, from the manager's own
    /// record; `None` (the default) where it keeps none. A server uses it
    /// to answer damocles-worker releases whose `WaitSeed(SectorID)`
    /// sends no proof type.
    async fn sector_proof_type(&self, sector: SectorId) -> Result<Option<SealProof>, ManagerError> {
        let _ = sector;
        Ok(None)
    }

    /// Queues the proof for sending; the manager verifies it first.
    async fn submit_proof(
        &self,
        sector: SectorId,
        proof: Proof,
        reset: bool,
    ) -> Result<SubmitResponse, ManagerError>;

    /// Where the prove-commit is.
    async fn poll_proof_state(&self, sector: SectorId) -> Result<PollStateResponse, ManagerError>;

    /// A state change or failure, for the manager's records; the answer
    /// may ask the worker to abort the sector.
    async fn report_state(
        &self,
        sector: SectorId,
        report: StateReport,
    ) -> Result<ReportStateResponse, ManagerError>;

    /// The sector is sealed, proven and its files are in their final place.
    async fn report_finalized(&self, sector: SectorId) -> Result<(), ManagerError>;

    /// The worker gave the sector up.
    async fn report_aborted(&self, sector: SectorId, reason: String) -> Result<(), ManagerError>;
}

crate::forward::forward_impls! {
    impl[] SectorManager {
        async fn allocate_sector(&self, spec: AllocateSpec)
            -> Result<Option<AllocatedSector>, ManagerError>;
        async fn acquire_deals(&self, sector: SectorId, spec: AcquireDealsSpec)
            -> Result<Vec<DealInfo>, ManagerError>;
        async fn assign_ticket(&self, sector: SectorId) -> Result<Ticket, ManagerError>;
        async fn submit_pre_commit(
            &self,
            sector: AllocatedSector,
            info: PreCommitOnChainInfo,
            reset: bool,
        ) -> Result<SubmitResponse, ManagerError>;
        async fn poll_pre_commit_state(&self, sector: SectorId)
            -> Result<PollStateResponse, ManagerError>;
        async fn submit_persisted(&self, sector: SectorId, instance: String)
            -> Result<bool, ManagerError>;
        async fn wait_seed(&self, sector: AllocatedSector) -> Result<WaitSeedResponse, ManagerError>;
        async fn sector_proof_type(&self, sector: SectorId)
            -> Result<Option<SealProof>, ManagerError>;
        async fn submit_proof(&self, sector: SectorId, proof: Proof, reset: bool)
            -> Result<SubmitResponse, ManagerError>;
        async fn poll_proof_state(&self, sector: SectorId)
            -> Result<PollStateResponse, ManagerError>;
        async fn report_state(&self, sector: SectorId, report: StateReport)
            -> Result<ReportStateResponse, ManagerError>;
        async fn report_finalized(&self, sector: SectorId) -> Result<(), ManagerError>;
        async fn report_aborted(&self, sector: SectorId, reason: String)
            -> Result<(), ManagerError>;
    }
}
