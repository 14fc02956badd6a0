//! The remote proving service: an HTTP service that proves C2 (and the
//! other proving stages: snap prove, WindowPoSt, WinningPoSt, snap encode,
//! unseal) for many workers and managers, and the executor that calls it.
//!
//! * [`C2Service`]: an axum router (`POST /v1/{stage}`, `GET
//!   /v1/{stage}/{id}`, `DELETE /v1/{stage}/{id}`, `GET
//!   /v1/{stage}/{id}/proof`, bearer JWTs in the Lotus format of
//!   venus-seal-rpc) over a persistent queue ([`C2TaskStore`]: SQLite, or
//!   PostgreSQL shared by several service nodes), proven by any
//!   [`Executor<S>`](venus_seal_core::Executor) of each
//!   [`RemoteStage`] it is given (production:
//!   [`LocalExecutor`](crate::LocalExecutor) on a GPU machine).
//! * [`RemoteExecutor<S>`]: an `Executor<S>` that submits, polls, fetches
//!   and verifies ([`RemoteC2Executor`] for C2); the worker's
//!   `[c2_service]` and the manager's `[proving.remote]` use it.
//!
//! # Design rationale
//!
//! A C2 takes minutes on a GPU and the GPU is the cluster's scarcest
//! resource, so the service queues work durably and shares it between
//! nodes rather than holding a connection per proof. Submission is
//! idempotent per work (a C2: miner, sector, digest of the C1 output;
//! another stage: its name, subject and the digest of its task): the task
//! id is derived from them ([`task_id`]), so neither side needs to
//! remember anything across a restart. A node that dies mid-proof leaves a
//! running task whose heartbeat goes stale; another node (or the same one
//! on restart, at once) takes it over, and a client that knows the other
//! nodes ([`RemoteExecutor::with_failover`]) follows the task there. One
//! queue and one set of prover slots serve every stage (a node's GPUs are
//! one budget; WinningPoSt is claimed first, then WindowPoSt). Every stage
//! but C2 names the sector files it reads or writes, so a node running
//! them mounts the stores at the submitter's paths; the sealing stages
//! before C2 are not remote stages (they stay beside the sealing files).

mod api;
mod body;
mod c1;
mod client;
mod prover;
mod runner;
mod service;
mod store;

#[cfg(test)]
mod cancel_tests;
#[cfg(test)]
mod stage_tests;
#[cfg(test)]
mod tests;

pub use api::{
    c1_digest, submit_path, task_id, ErrorBody, RemoteStage, TaskError, TaskRow, TaskState,
    TaskStatus, SUBMIT_PATH,
};
pub use c1::{check_c1_output, verify_info_from_c1_output};
pub use client::{
    OutputCheck, RemoteC2Config, RemoteC2Executor, RemoteConfig, RemoteExecutor, VerifyInfoFn,
    CANCEL_TIMEOUT,
};
pub use service::{C1Check, C2Service, C2ServiceConfig, Provers};
pub use store::{C2TaskStore, QueueError, QueueLimits};

/// What the service does with a submission body before HTTP, for the fuzz
/// target `c2_body` (feature `fuzzing`; not a stable API).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    use venus_seal_core::stage::C2;

    /// Decompresses at most `limit` bytes of a zstd body: `Err(None)` if
    /// there are more.
    pub fn unzstd(compressed: &[u8], limit: usize) -> Result<Vec<u8>, Option<std::io::Error>> {
        super::body::unzstd(compressed, limit)
    }

    /// The C2 task a submission body holds, or what is wrong with it.
    pub fn parse_task(bytes: &[u8]) -> Result<C2, String> {
        super::body::parse_task(bytes)
    }

    /// Whether `id` is a well-formed task id (what reaches SQL and logs).
    pub fn valid_id(id: &str) -> bool {
        super::api::valid_id(id)
    }
}
