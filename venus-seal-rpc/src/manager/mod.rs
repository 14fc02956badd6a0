//! The worker ↔ sector manager JSON-RPC API (damocles' `Venus.*` worker
//! methods) behind token auth: [`manager_module`] / [`serve_manager`] serve
//! any [`SectorManager`]; [`ManagerClient`] implements [`SectorManager`]
//! over HTTP, so a worker uses the in-process manager or a remote one
//! through the same trait.
//!
//! Params are positional and fields PascalCase, as in damocles:
//!
//! | method | params | result | needs |
//! | --- | --- | --- | --- |
//! | `Venus.AllocateSector` | `[AllocateSpec]` | `AllocatedSector` or `null` | write |
//! | `Venus.AcquireDeals` | `[SectorId, AcquireDealsSpec]` | `[DealInfo]` | write |
//! | `Venus.AssignTicket` | `[SectorId]` | `Ticket` | write |
//! | `Venus.SubmitPreCommit` | `[AllocatedSector, PreCommitOnChainInfo, reset]` | `SubmitResponse` | write |
//! | `Venus.PollPreCommitState` | `[SectorId]` | `PollStateResponse` | write |
//! | `Venus.SubmitPersistedEx` | `[SectorId, instance, is_upgrade]` | `bool` | write |
//! | `Venus.WaitSeed` | `[SectorId, proof_type?]` | `WaitSeedResponse` | write |
//! | `Venus.SubmitProof` | `[SectorId, Proof, reset]` | `SubmitResponse` | write |
//! | `Venus.PollProofState` | `[SectorId]` | `PollStateResponse` | write |
//! | `Venus.ReportState` | `[SectorId, StateReport]` | `ReportStateResponse` (`{Finalized, AbortReason}`) | write |
//! | `Venus.ReportFinalized` | `[SectorId]` | `null` | write |
//! | `Venus.ReportAborted` | `[SectorId, reason]` | `null` | write |
//! | `Venus.WorkerPing` | `[WorkerInfo]` | `null` | read |
//!
//! `SubmitPersistedEx`'s `is_upgrade` is accepted and ignored (no snap-up
//! yet); `WaitSeed`'s proof type is optional and ignored (the manager knows
//! each sector's proof type). A submission the manager refuses is a normal
//! answer ([`SubmitResponse`] with [`SubmitResult::Rejected`] and a reason),
//! not an error.
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
//! | [`codes::REJECTED`] (-32020) | `Rejected` | Abort |
//! | [`codes::INTERNAL`] (-32021) | `Internal` | Temporary |
//! | [`codes::UNAUTHORIZED`] (-32022) | `Unauthorized` | Critical |
//! | [`codes::UNAVAILABLE`] (-32023) | `Transport` | Temporary |
//! | [`codes::CHAIN`] (-32024) | `Chain` (the manager's node failed) | Temporary |
//! | [`crate::codes::INVALID_TOKEN`] (-32002), [`crate::codes::PERMISSION_DENIED`] (-32001) | `Unauthorized` | Critical |
//! | -32602 invalid params, -32601 unknown method, -32700 parse error, other codes | `Internal` (naming the code) | Temporary |
//!
//! On the client, a manager that does not answer (connection refused,
//! timeout) is [`ManagerError::Transport`] (Temporary: the worker retries);
//! an HTTP 401/403 is [`ManagerError::Unauthorized`]; an answer that does
//! not parse is [`ManagerError::Internal`].
//!
//! [`SectorManager`]: venus_seal_core::SectorManager
//! [`SubmitResponse`]: venus_seal_core::manager::SubmitResponse
//! [`SubmitResult::Rejected`]: venus_seal_core::manager::SubmitResult::Rejected

mod client;
mod server;

use std::collections::HashMap;

use jsonrpsee::types::ErrorObjectOwned;
use serde::{Deserialize, Serialize};
use venus_seal_core::ManagerError;

use crate::Permission;

pub use client::ManagerClient;
pub use server::{manager_module, serve_manager, ManagerModule};

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

    /// Every method that needs `write`.
    pub const WRITE: [&str; 12] = [
        ALLOCATE_SECTOR,
        ACQUIRE_DEALS,
        ASSIGN_TICKET,
        SUBMIT_PRE_COMMIT,
        POLL_PRE_COMMIT_STATE,
        SUBMIT_PERSISTED_EX,
        WAIT_SEED,
        SUBMIT_PROOF,
        POLL_PROOF_STATE,
        REPORT_STATE,
        REPORT_FINALIZED,
        REPORT_ABORTED,
    ];
}

/// The JSON-RPC error codes that carry a [`ManagerError`] (in the
/// implementation-defined range, next to [`crate::codes`]).
pub mod codes {
    /// [`ManagerError::Rejected`](venus_seal_core::ManagerError::Rejected):
    /// unknown sector, aborted sector, refused request. Abort level: the
    /// worker gives the sector up.
    pub const REJECTED: i32 = -32020;
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
/// method, `read` for `Venus.WorkerPing`.
pub fn manager_permissions() -> HashMap<&'static str, Permission> {
    let mut table: HashMap<&'static str, Permission> = methods::WRITE
        .iter()
        .map(|m| (*m, Permission::Write))
        .collect();
    table.insert(methods::WORKER_PING, Permission::Read);
    table
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
/// the inverse of [`manager_error_to_rpc`]; auth refusals are
/// `Unauthorized`, any other code `Internal` (Temporary): only
/// [`codes::REJECTED`] is ever an abort.
pub fn manager_error_from_rpc(code: i32, message: String) -> ManagerError {
    match code {
        codes::REJECTED => ManagerError::Rejected(message),
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
