//! The worker ↔ sector manager JSON-RPC API (damocles' `Venus.*` worker
//! methods) behind token auth: [`manager_module`] / [`serve_manager`] serve
//! any [`SectorManager`]; [`ManagerClient`] implements [`SectorManager`]
//! over HTTP, so a worker uses the in-process manager or a remote one
//! through the same trait.
//!
//! Params are positional and fields PascalCase, in damocles' own wire
//! shapes ([`wire`], read from damocles-worker's `src/rpc/sealer/mod.rs`
//! and damocles-manager's `core/types.go`; golden fixtures under
//! `tests/fixtures/damocles/`). Our own types keep CIDs and hex for
//! configs, logs and CLIs; only the wire speaks damocles' encoding.
//!
//! | method | params | result | needs |
//! | --- | --- | --- | --- |
//! | `Venus.AllocateSector` | `[AllocateSectorSpec]` or `[AllocateSectorSpec, niporep]` | `AllocatedSector` or `null` | write |
//! | `Venus.AcquireDeals` | `[SectorID, AcquireDealsSpec]` | `DealsV2` (`[{Piece: {Size, PieceCID}, DealInfo: {DealID, AllocationID, PayloadSize, IsBuiltinMarket}}]`) or `null` | write |
//! | `Venus.AssignTicket` | `[SectorID]` | `Ticket` (`{Ticket: base64, Epoch}`) | write |
//! | `Venus.SubmitPreCommit` | `[AllocatedSector, {CommR: [32 numbers], CommD: [32 numbers], Ticket, Deals?}, reset]` | `{Res: number, Desc}` | write |
//! | `Venus.PollPreCommitState` | `[SectorID]` | `{State: number, Desc}` | write |
//! | `Venus.SubmitPersistedEx` | `[SectorID, instance, is_upgrade]` | `bool` | write |
//! | `Venus.WaitSeed` | `[SectorID]` or `[SectorID, proof_type]` | `{ShouldWait, Delay: seconds, Seed: {Seed: base64, Epoch} or null}` | write |
//! | `Venus.SubmitProof` | `[SectorID, {Proof: base64}, reset]` | `{Res: number, Desc}` | write |
//! | `Venus.PollProofState` | `[SectorID]` | `{State: number, Desc}` | write |
//! | `Venus.ReportState` | `[SectorID, {Worker, StateChange: {Prev, Next, Event}, Failure: {Level, Desc} or null}]` | `{Id, Finalized, AbortReason}` | write |
//! | `Venus.ReportFinalized` | `[SectorID]` | `null` | write |
//! | `Venus.ReportAborted` | `[SectorID, reason]` | `null` | write |
//! | `Venus.WorkerPing` | `[WorkerInfo]` | `null` | write (a ping names the worker's admin address, which the console sends an admin token to) |
//! | `Venus.StoreBasicInfo` | `[instance_name]` | `StoreBasicInfo` (`{Name, Path, Strict, ReadOnly, Weight, Meta}`) or `null` | read |
//! | `Venus.StoreReserveSpace` | `[SectorID, size, candidates]` | `StoreBasicInfo` or `null` | write |
//! | `Venus.WdPoStAllocateJobs` | `[{AllowedMiners, AllowedProofTypes: [names]}, num, worker_name]` | `[{Id, Input: {Sectors: [{SectorId, CommR: [32 numbers], Upgrade, Accesses: {SealedFile, CacheDir}}], MinerId, ProofType: name, Seed: [32 numbers]}}]` | write |
//! | `Venus.WdPoStHeartbeatJobs` | `[[job_id], worker_name]` | `null` | write |
//! | `Venus.WdPoStFinishJob` | `[job_id, {proofs: [base64], faults: [numbers]} or null, error_reason]` | `null` | write |
//!
//! Numbers: `SubmitResult` 1 Accepted, 2 DuplicateSubmit, 3
//! MismatchedSubmission, 4 Rejected, 5 FilesMissed; `OnChainState` 1
//! Pending, 2 Packed, 3 Landed, 4 NotFound, 5 Failed, 6 PermFailed, 7
//! ShouldAbort (the Go manager's 0, "unknown", is refused by the client).
//! `WaitSeed.Delay` is rounded up to whole seconds and is at least 1
//! while `ShouldWait`. `ReportState` answers an abort request with
//! `Finalized: true` and the reason (a damocles worker acts on
//! `AbortReason` only then); the client reads a reason only with
//! `Finalized: true`, and `""` as none.
//!
//! `AllocateSector`'s `niporep: true` restricts the spec to non-interactive
//! PoRep proof types. `SubmitPersistedEx`'s `is_upgrade` is accepted and
//! ignored (no snap-up yet); `WaitSeed`'s proof type is optional and
//! ignored (the manager knows each sector's proof type);
//! `SubmitPreCommit`'s `Deals` (older workers) is optional: the manager
//! takes a sector's deals from its own record. The store methods answer
//! from the [`PersistStores`] the server was given
//! ([`manager_module_with_stores`]; none by default). A submission the
//! manager refuses is a normal answer (`Res: 4` and a reason), not an
//! error. An unknown method is -32601 for any valid token.
//!
//! # Errors
//!
//! A [`ManagerError`] crosses the wire as a JSON-RPC error whose code names
//! the variant and whose message is the variant's text, so the client
//! rebuilds the same variant, with the same [failure
//! level](venus_seal_core::FailureLevel):
//!
//! | code | [`ManagerError`] | level |
//! | --- | --- | --- |
//! | [`codes::REJECTED`] (11001, damocles' `APIErrCodeSectorStateNotFound`) | `Rejected` (unknown or aborted sector, refused request) | Abort |
//! | [`codes::LEGACY_REJECTED`] (-32020, read only) | `Rejected` | Abort |
//! | [`codes::INTERNAL`] (-32021) | `Internal` | Temporary |
//! | [`codes::UNAUTHORIZED`] (-32022) | `Unauthorized` | Critical |
//! | [`codes::UNAVAILABLE`] (-32023) | `Transport` | Temporary |
//! | [`codes::CHAIN`] (-32024) | `Chain` (the manager's node failed) | Temporary |
//! | [`crate::codes::INVALID_TOKEN`] (-32002), [`crate::codes::PERMISSION_DENIED`] (-32001) | `Unauthorized` | Critical |
//! | -32602 invalid params, -32601 unknown method, -32700 parse error, other codes (a Go manager's generic 1 included) | `Internal` (naming the code) | Temporary |
//!
//! A damocles worker aborts a sector on 11001 and retries on any other
//! code, as our worker does with `Rejected` and the rest.
//!
//! On the client, a manager that does not answer (connection refused,
//! timeout) is [`ManagerError::Transport`] (Temporary: the worker retries);
//! an HTTP 401/403 is [`ManagerError::Unauthorized`]; an answer that does
//! not parse is [`ManagerError::Internal`].
//!
//! [`SectorManager`]: venus_seal_core::SectorManager

mod client;
pub mod piecestore;
pub mod pings;
mod server;
pub mod stores;
pub mod wire;

use std::collections::HashMap;

use jsonrpsee::types::ErrorObjectOwned;
use serde::{Deserialize, Serialize};
use venus_seal_core::ManagerError;

use crate::Permission;

pub use client::ManagerClient;
pub use piecestore::{PieceRedirect, PieceRedirectLayer};
pub use pings::{WorkerPingInfo, WorkerPings};
pub use server::{
    manager_module, manager_module_with, manager_module_with_stores, serve_manager, ManagerContext,
    ManagerModule, ManagerServer,
};
pub use stores::{PersistStoreEntry, PersistStores};

/// The method names, as damocles names them.
pub mod methods {
    /// `Venus.AllocateSector` (write).
    pub const ALLOCATE_SECTOR: &str = "Venus.AllocateSector";
    /// `Venus.AcquireDeals` (write).
    pub const ACQUIRE_DEALS: &str = "Venus.AcquireDeals";
    /// `Venus.AssignTicket` (write).
    pub const ASSIGN_TICKET: &str = "Venus.AssignTicket";
    /// `Venus.SubmitPreCommit` (write).
    pub const SUBMIT_PRE_COMMIT: &str = "Venus.SubmitPreCommit";
    /// `Venus.PollPreCommitState` (write).
    pub const POLL_PRE_COMMIT_STATE: &str = "Venus.PollPreCommitState";
    /// `Venus.SubmitPersisted` (write): the older name of
    /// `SubmitPersistedEx` without `is_upgrade` (`[sector, instance]`),
    /// kept by damocles-manager for older workers.
    pub const SUBMIT_PERSISTED: &str = "Venus.SubmitPersisted";
    /// `Venus.SubmitPersistedEx` (write).
    pub const SUBMIT_PERSISTED_EX: &str = "Venus.SubmitPersistedEx";
    /// `Venus.WaitSeed` (write).
    pub const WAIT_SEED: &str = "Venus.WaitSeed";
    /// `Venus.SubmitProof` (write).
    pub const SUBMIT_PROOF: &str = "Venus.SubmitProof";
    /// `Venus.PollProofState` (write).
    pub const POLL_PROOF_STATE: &str = "Venus.PollProofState";
    /// `Venus.ReportState` (write).
    pub const REPORT_STATE: &str = "Venus.ReportState";
    /// `Venus.ReportFinalized` (write).
    pub const REPORT_FINALIZED: &str = "Venus.ReportFinalized";
    /// `Venus.ReportAborted` (write).
    pub const REPORT_ABORTED: &str = "Venus.ReportAborted";
    /// `Venus.WorkerPing` (read).
    pub const WORKER_PING: &str = "Venus.WorkerPing";
    /// `Venus.StoreBasicInfo` (read).
    pub const STORE_BASIC_INFO: &str = "Venus.StoreBasicInfo";
    /// `Venus.StoreReserveSpace` (write).
    pub const STORE_RESERVE_SPACE: &str = "Venus.StoreReserveSpace";
    /// `Venus.WorkerPingInfoList` (read): every worker's last ping
    /// (damocles' `SealerCliAPI`).
    pub const WORKER_PING_INFO_LIST: &str = "Venus.WorkerPingInfoList";
    /// `Venus.WorkerGetPingInfo` (read): one worker's last ping, `null`
    /// when it never pinged.
    pub const WORKER_GET_PING_INFO: &str = "Venus.WorkerGetPingInfo";
    /// `Venus.AllocateSectorsBatch` (write): damocles-worker's batch
    /// (supra) sealing plan allocates several sectors in one call.
    pub const ALLOCATE_SECTORS_BATCH: &str = "Venus.AllocateSectorsBatch";
    /// `Venus.AllocateSanpUpSector` (write; damocles' spelling): a snap-up
    /// job with its deals, `null` when none waits (or the server hands
    /// out none: [`ManagerServer::snap_up`](super::ManagerServer::snap_up)
    /// not set).
    pub const ALLOCATE_SNAP_UP_SECTOR: &str = "Venus.AllocateSanpUpSector";
    /// `Venus.SubmitSnapUpProof` (write): a snap-up's result
    /// (`[sector, SnapUpOnChainInfo]` → `{Res, Desc}`).
    pub const SUBMIT_SNAP_UP_PROOF: &str = "Venus.SubmitSnapUpProof";
    /// `Venus.AllocateRebuildSector` (write): a rebuild job, `null` when
    /// none waits (or the server hands out none:
    /// [`ManagerServer::rebuild`](super::ManagerServer::rebuild) not set).
    pub const ALLOCATE_REBUILD_SECTOR: &str = "Venus.AllocateRebuildSector";
    /// `Venus.AllocateUnsealSector` (write): an unseal job, `null` when
    /// none waits (or the server hands out none:
    /// [`ManagerServer::unseal`](super::ManagerServer::unseal) not set).
    pub const ALLOCATE_UNSEAL_SECTOR: &str = "Venus.AllocateUnsealSector";
    /// `Venus.AchieveUnsealSector` (write): an unseal job's result
    /// (`[sector, piece, error]`, `""` for none).
    pub const ACHIEVE_UNSEAL_SECTOR: &str = "Venus.AchieveUnsealSector";
    /// `Venus.AcquireUnsealDest` (write): where an unseal job's piece goes.
    pub const ACQUIRE_UNSEAL_DEST: &str = "Venus.AcquireUnsealDest";
    /// `Venus.WdPoStAllocateJobs` (write): WindowPoSt jobs for a worker
    /// (`[spec, num, worker_name]`; `[]` when none, or when this manager
    /// hands out none).
    pub const WDPOST_ALLOCATE_JOBS: &str = "Venus.WdPoStAllocateJobs";
    /// `Venus.WdPoStHeartbeatJobs` (write): a worker's jobs are alive
    /// (`[job_ids, worker_name]`).
    pub const WDPOST_HEARTBEAT_JOBS: &str = "Venus.WdPoStHeartbeatJobs";
    /// `Venus.WdPoStFinishJob` (write): a job's output or failure
    /// (`[job_id, output or null, error_reason]`).
    pub const WDPOST_FINISH_JOB: &str = "Venus.WdPoStFinishJob";

    /// Every method that needs `write`.
    pub const WRITE: [&str; 25] = [
        ALLOCATE_SECTOR,
        ACQUIRE_DEALS,
        ASSIGN_TICKET,
        SUBMIT_PRE_COMMIT,
        POLL_PRE_COMMIT_STATE,
        SUBMIT_PERSISTED_EX,
        SUBMIT_PERSISTED,
        WAIT_SEED,
        SUBMIT_PROOF,
        POLL_PROOF_STATE,
        REPORT_STATE,
        REPORT_FINALIZED,
        REPORT_ABORTED,
        STORE_RESERVE_SPACE,
        ALLOCATE_SECTORS_BATCH,
        ALLOCATE_SNAP_UP_SECTOR,
        SUBMIT_SNAP_UP_PROOF,
        ALLOCATE_REBUILD_SECTOR,
        ALLOCATE_UNSEAL_SECTOR,
        ACHIEVE_UNSEAL_SECTOR,
        ACQUIRE_UNSEAL_DEST,
        WDPOST_ALLOCATE_JOBS,
        WDPOST_HEARTBEAT_JOBS,
        WDPOST_FINISH_JOB,
        WORKER_PING,
    ];

    /// Every method that needs only `read`.
    pub const READ: [&str; 3] = [
        STORE_BASIC_INFO,
        WORKER_PING_INFO_LIST,
        WORKER_GET_PING_INFO,
    ];
}

/// The JSON-RPC error codes that carry a [`ManagerError`] (in the
/// implementation-defined range, next to [`crate::codes`]).
pub mod codes {
    /// [`ManagerError::Rejected`](venus_seal_core::ManagerError::Rejected):
    /// unknown sector, aborted sector, refused request. Abort level: the
    /// worker gives the sector up. It is damocles'
    /// `APIErrCodeSectorStateNotFound` (damocles-manager
    /// `core/api_error_codes.go`), the one code on which a damocles worker
    /// aborts a sector (any other code it retries).
    pub const REJECTED: i32 = 11001;
    /// What venus-seal managers before damocles' codes sent for
    /// `Rejected`; still read as `Rejected`, never sent.
    pub const LEGACY_REJECTED: i32 = -32020;
    /// [`ManagerError::Internal`](venus_seal_core::ManagerError::Internal):
    /// the manager failed (its state file, its chain). Temporary level.
    pub const INTERNAL: i32 = -32021;
    /// [`ManagerError::Unauthorized`](venus_seal_core::ManagerError::Unauthorized):
    /// the manager's own upstream refused it. Critical level.
    pub const UNAUTHORIZED: i32 = -32022;
    /// [`ManagerError::Transport`](venus_seal_core::ManagerError::Transport):
    /// the manager could not reach something it needs. Temporary level.
    pub const UNAVAILABLE: i32 = -32023;
    /// [`ManagerError::Chain`](venus_seal_core::ManagerError::Chain): the
    /// manager's chain node or messager failed a call. Temporary level,
    /// whatever the node said: a node's error never aborts a sector. A
    /// client that predates this code reads it as `Internal` (Temporary).
    pub const CHAIN: i32 = -32024;
}

/// The permission each manager method needs: `write` for every worker
/// method, `read` for `Venus.WorkerPing` and `Venus.StoreBasicInfo`.
pub fn manager_permissions() -> HashMap<&'static str, Permission> {
    let write = methods::WRITE.iter().map(|m| (*m, Permission::Write));
    let read = methods::READ.iter().map(|m| (*m, Permission::Read));
    write.chain(read).collect()
}

/// The JSON-RPC error a [`ManagerError`] is answered with (see the
/// [module docs](self) for the codes).
pub fn manager_error_to_rpc(e: ManagerError) -> ErrorObjectOwned {
    let (code, message) = match e {
        ManagerError::Rejected(m) => (codes::REJECTED, m),
        ManagerError::Internal(m) => (codes::INTERNAL, m),
        ManagerError::Unauthorized(m) => (codes::UNAUTHORIZED, m),
        ManagerError::Transport(m) => (codes::UNAVAILABLE, m),
        ManagerError::Chain(m) => (codes::CHAIN, m),
        other => (codes::INTERNAL, other.to_string()),
    };
    ErrorObjectOwned::owned(code, message, None::<()>)
}

/// The [`ManagerError`] a JSON-RPC error `code` with `message` stands for:
/// the inverse of [`manager_error_to_rpc`] (which also reads
/// [`codes::LEGACY_REJECTED`] as `Rejected`); auth refusals are
/// `Unauthorized`, any other code `Internal` (Temporary): only
/// [`codes::REJECTED`] and its legacy code are ever an abort.
pub fn manager_error_from_rpc(code: i32, message: String) -> ManagerError {
    match code {
        codes::REJECTED | codes::LEGACY_REJECTED => ManagerError::Rejected(message),
        codes::INTERNAL => ManagerError::Internal(message),
        codes::UNAUTHORIZED | crate::codes::INVALID_TOKEN | crate::codes::PERMISSION_DENIED => {
            ManagerError::Unauthorized(message)
        }
        codes::UNAVAILABLE => ManagerError::Transport(message),
        codes::CHAIN => ManagerError::Chain(message),
        other => ManagerError::Internal(format!("JSON-RPC error {other}: {message}")),
    }
}

/// What a worker tells the manager every 30 s (`Venus.WorkerPing`), as
/// damocles sends it. Every field is optional on the wire.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct WorkerInfo {
    /// The worker instance's name.
    pub name: String,
    /// Where the worker can be reached (its admin API, e.g. `host:port`).
    pub dest: String,
    /// The worker's version.
    pub version: String,
    /// How its sealing threads are doing.
    pub summary: WorkerSummary,
    /// Each stage's load now. Not in damocles' `WorkerInfo`: an extension
    /// a damocles-manager ignores (Go's JSON decoding skips unknown
    /// fields), and that a damocles-worker does not send (read as empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<venus_seal_core::engine::limits::StageLoad>,
}

/// The thread counts in a [`WorkerInfo`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct WorkerSummary {
    /// Sealing threads (slots) in all.
    pub threads: usize,
    /// Threads without a sector.
    pub empty: usize,
    /// Threads with a paused sector.
    pub paused: usize,
    /// Threads running a stage.
    pub running: usize,
    /// Threads waiting (for the chain, a seed, a permit).
    pub waiting: usize,
    /// Threads whose sector's last attempt failed.
    pub errors: usize,
}
