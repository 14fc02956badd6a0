//! The wire format of the remote C2 service, shared by the service and
//! [`RemoteC2Executor`](super::RemoteC2Executor).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use venus_seal_core::stage::C2;
use venus_seal_core::{FailureLevel, SectorId};

/// Submits a task: the body of `POST /v1/c2` is the core [`C2`] task as
/// JSON (`{"proof": "StackedDrg32GiBV1_1", "sector": {"Miner": 1000,
/// "Number": 7}, "c1_output": {…}}`), plain or with `Content-Encoding: zstd` (other
/// encodings are refused with 415; the size limit applies after
/// decompression).
pub const SUBMIT_PATH: &str = "/v1/c2";

/// Where a task is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TaskState {
    /// Waiting for a prover.
    Queued,
    /// A prover (`claimed_by`) is on it.
    Running,
    /// The proof is ready at `GET /v1/c2/{id}/proof`.
    Done,
    /// The prover failed; `error` says why and at which level.
    Failed,
}

impl TaskState {
    /// The name stored in the database.
    pub(crate) fn as_db(self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::Done => "done",
            TaskState::Failed => "failed",
        }
    }
}

impl FromStr for TaskState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "queued" => TaskState::Queued,
            "running" => TaskState::Running,
            "done" => TaskState::Done,
            "failed" => TaskState::Failed,
            other => return Err(format!("unknown task state {other:?}")),
        })
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_db())
    }
}

/// Why a task failed, at the level the prover classified it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskError {
    /// The level the service's executor gave the failure.
    pub level: FailureLevel,
    /// What went wrong.
    pub message: String,
}

/// The answer to `POST /v1/c2` and `GET /v1/c2/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStatus {
    /// The task id: [`task_id`] of the submission.
    pub id: String,
    /// The sector.
    pub sector: SectorId,
    /// Where the task is.
    pub state: TaskState,
    /// How many times a prover took the task.
    pub attempts: u32,
    /// The service node proving it (or that proved it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_by: Option<String>,
    /// Set when `state` is `Failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<TaskError>,
}

/// The body of every error answer: what is wrong and what to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A short machine-readable kind: `unauthorized`, `forbidden`,
    /// `too_large`, `bad_request`, `not_found`, `not_ready`, `internal`.
    pub code: String,
    /// What is wrong, for the operator.
    pub error: String,
}

/// The hex digest identifying a C1 output: BLAKE2b-256 of its JSON text.
pub fn c1_digest(c1_output_json: &str) -> String {
    let hash = blake2b_simd::Params::new()
        .hash_length(32)
        .hash(c1_output_json.as_bytes());
    hex::encode(hash.as_bytes())
}

/// The id of the task for `task`: derived from (miner, sector number,
/// digest of the C1 output), so a resubmission of the same work (after a
/// worker restart, say) names the same task without any state kept on the
/// worker.
pub fn task_id(task: &C2) -> String {
    id_of(task.sector, &c1_digest(task.c1_output.as_json()))
}

pub(crate) fn id_of(sector: SectorId, digest: &str) -> String {
    format!(
        "{}-{}-{}",
        sector.miner.0,
        sector.number.0,
        &digest[..32.min(digest.len())]
    )
}

/// Task ids are `MINER-NUMBER-HEX`: checked before they reach SQL or a
/// log line.
pub(crate) fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 80 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}
