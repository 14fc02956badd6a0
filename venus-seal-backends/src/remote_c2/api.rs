//! The wire format of the remote C2 service, shared by the service and
//! [`RemoteC2Executor`](super::RemoteC2Executor).

use std::fmt;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use venus_seal_core::proving::{
    ReplicaUpdateVerifyInfo, WindowPoStVerifyInfo, WinningPoStVerifyInfo,
};
use venus_seal_core::stage::{
    Opaque, Proof, SnapEncode, SnapProve, Stage, Unseal, WindowPoSt, WinningPoSt, C2,
};
use venus_seal_core::{FailureLevel, ProofVerifier, SealProof, SectorId, SectorNumber};

use super::c1::verify_info_from_c1_output;

/// Submits a C2 task: the body of `POST /v1/c2` is the core [`C2`] task as
/// JSON (`{"proof": "StackedDrg32GiBV1_1", "sector": {"Miner": 1000,
/// "Number": 7}, "c1_output": {…}}`), plain or with `Content-Encoding: zstd` (other
/// encodings are refused with 415; the size limit applies after
/// decompression). Another stage's tasks go to `/v1/<stage name>`
/// ([`submit_path`]).
pub const SUBMIT_PATH: &str = "/v1/c2";

/// Where tasks of stage `S` are submitted: `/v1/<stage name>`.
pub fn submit_path<S: Stage>() -> String {
    format!("/v1/{}", S::NAME)
}

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

/// The answer to `POST /v1/{stage}` and `GET /v1/{stage}/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStatus {
    /// The task id: [`task_id`] of the submission.
    pub id: String,
    /// The stage ([`Stage::NAME`]: `c2`, `snap_prove`, `window_post`,
    /// `winning_post`); `c2` when absent (a service before the other
    /// stages).
    #[serde(default = "c2_name")]
    pub stage: String,
    /// The sector ([`RemoteStage::subject`]: a PoSt task's miner and its
    /// first sector).
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

fn c2_name() -> String {
    C2::NAME.to_string()
}

/// The id of the task for `task`: derived from the work itself (a C2's
/// miner, sector number and digest of its C1 output; another stage's name,
/// subject and digest of its task's JSON), so a resubmission of the same
/// work (after a worker restart, say) names the same task without any
/// state kept on the worker.
pub fn task_id<S: RemoteStage>(task: &S) -> Result<String, String> {
    Ok(task.to_row()?.id)
}

pub(crate) fn id_of(sector: SectorId, digest: &str) -> String {
    format!(
        "{}-{}-{}",
        sector.miner.0,
        sector.number.0,
        &digest[..32.min(digest.len())]
    )
}

/// Task ids are `MINER-NUMBER-HEX` (a C2) or `STAGE-MINER-NUMBER-HEX`:
/// checked before they reach SQL or a log line.
pub(crate) fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 96
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A task as the queue stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskRow {
    /// The task id ([`task_id`]).
    pub id: String,
    /// The stage's name.
    pub stage: &'static str,
    /// The sector shown in the task's status.
    pub sector: SectorId,
    /// The hex digest of the payload.
    pub digest: String,
    /// A C2's seal proof type (empty for the other stages).
    pub proof_type: String,
    /// The work: a C2's C1 output, another stage's whole task, as JSON.
    pub payload: String,
}

/// A stage the remote service proves: its task is self-contained JSON
/// (or names files the service sees at the same paths), its output is
/// checked by the submitter before use.
///
/// Implemented for the proving stages: [`C2`], [`SnapProve`],
/// [`WindowPoSt`], [`WinningPoSt`], and the data-bound [`SnapEncode`] and
/// [`Unseal`]. A C2 carries its whole input (the C1 output); the others
/// read (and encode and unseal write) the sector's files by the paths in
/// the task, so the service must mount the stores where the submitter
/// does (the `[[persist]]` stores shared over NFS, as damocles deploys
/// its WindowPoSt workers). The sealing stages before C2 stay on the
/// worker that holds the sector's sealing files.
pub trait RemoteStage: Stage + Serialize + DeserializeOwned + Clone {
    /// The sector shown in the task's status.
    fn subject(&self) -> SectorId;

    /// A submission body as a task, or what is wrong with it.
    fn parse(body: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(body).map_err(|e| format!("malformed {} task: {e}", Self::NAME))
    }

    /// The task as the queue stores it (default: its JSON as the payload,
    /// an id of the stage, subject and payload digest).
    fn to_row(&self) -> Result<TaskRow, String> {
        let payload = serde_json::to_string(self)
            .map_err(|e| format!("cannot encode the {} task: {e}", Self::NAME))?;
        let digest = c1_digest(&payload);
        let sector = self.subject();
        Ok(TaskRow {
            id: format!("{}-{}", Self::NAME, id_of(sector, &digest)),
            stage: Self::NAME,
            sector,
            digest,
            proof_type: String::new(),
            payload,
        })
    }

    /// The task back from the queue (the inverse of [`to_row`](Self::to_row)).
    fn from_row(row: &TaskRow) -> Result<Self, String> {
        serde_json::from_str(&row.payload).map_err(|e| format!("bad {} task: {e}", Self::NAME))
    }

    /// The output as the queue stores it (default: its JSON).
    fn output_to_bytes(output: &Self::Output) -> Result<Vec<u8>, String> {
        serde_json::to_vec(output)
            .map_err(|e| format!("cannot encode the {} output: {e}", Self::NAME))
    }

    /// The output back from the queue.
    fn output_from_bytes(bytes: Vec<u8>) -> Result<Self::Output, String> {
        serde_json::from_slice(&bytes).map_err(|e| format!("bad {} output: {e}", Self::NAME))
    }

    /// Whether `output` is a valid proof of this task (`Ok(false)`: it is
    /// not; `Err`: it cannot be checked). Run on a blocking thread.
    fn verify(&self, output: &Self::Output, verifier: &dyn ProofVerifier) -> Result<bool, String>;
}

impl RemoteStage for C2 {
    fn subject(&self) -> SectorId {
        self.sector
    }

    fn parse(body: &[u8]) -> Result<Self, String> {
        super::body::parse_task(body)
    }

    /// The id, digest and columns of the C2-only service: a queue written
    /// before the other stages reads on.
    fn to_row(&self) -> Result<TaskRow, String> {
        let digest = c1_digest(self.c1_output.as_json());
        Ok(TaskRow {
            id: id_of(self.sector, &digest),
            stage: Self::NAME,
            sector: self.sector,
            digest,
            proof_type: self.proof.to_string(),
            payload: self.c1_output.as_json().to_string(),
        })
    }

    fn from_row(row: &TaskRow) -> Result<Self, String> {
        let proof: SealProof = row
            .proof_type
            .parse()
            .map_err(|e| format!("bad proof type: {e}"))?;
        let c1_output =
            Opaque::from_json(row.payload.clone()).map_err(|e| format!("bad C1 output: {e}"))?;
        Ok(C2 {
            proof,
            sector: row.sector,
            c1_output,
        })
    }

    /// The proof bytes (as the C2-only service stored them).
    fn output_to_bytes(output: &Proof) -> Result<Vec<u8>, String> {
        Ok(output.proof.clone())
    }

    fn output_from_bytes(bytes: Vec<u8>) -> Result<Proof, String> {
        Ok(Proof { proof: bytes })
    }

    /// Against the commitments and randomness in the C1 output as
    /// filecoin-proofs writes it ([`verify_info_from_c1_output`]).
    fn verify(&self, output: &Proof, verifier: &dyn ProofVerifier) -> Result<bool, String> {
        let mut info = verify_info_from_c1_output(self)?;
        info.proof = output.proof.clone();
        verifier.verify_seal(&info).map_err(|e| e.to_string())
    }
}

impl RemoteStage for SnapProve {
    fn subject(&self) -> SectorId {
        self.encode.sector
    }

    fn verify(&self, output: &Proof, verifier: &dyn ProofVerifier) -> Result<bool, String> {
        verifier
            .verify_replica_update(&ReplicaUpdateVerifyInfo {
                seal_proof: self.encode.seal_proof,
                comm_r_old: self.comm_r_old,
                comm_r_new: self.encoded.comm_r_new,
                comm_d_new: self.encoded.comm_d_new,
                proof: output.proof.clone(),
            })
            .map_err(|e| e.to_string())
    }
}

impl RemoteStage for SnapEncode {
    fn subject(&self) -> SectorId {
        self.sector
    }

    /// The new data's commitment against the one its pieces make (the
    /// new replica commitment is proven by the snap prove that follows).
    fn verify(
        &self,
        output: &venus_seal_core::proving::SnapEncodeOutput,
        _: &dyn ProofVerifier,
    ) -> Result<bool, String> {
        let expected =
            venus_seal_core::comm_d_of_pieces(&self.pieces, self.seal_proof.sector_size().0)?;
        Ok(output.comm_d_new == expected)
    }
}

impl RemoteStage for Unseal {
    fn subject(&self) -> SectorId {
        self.request.sector
    }

    /// The bytes written: exactly the range asked for.
    fn verify(&self, output: &u64, _: &dyn ProofVerifier) -> Result<bool, String> {
        Ok(*output == self.request.len)
    }
}

fn first_sector(
    miner: venus_seal_core::ActorId,
    numbers: impl Iterator<Item = SectorNumber>,
) -> SectorId {
    SectorId::new(miner, numbers.min().unwrap_or(SectorNumber(0)))
}

impl RemoteStage for WindowPoSt {
    fn subject(&self) -> SectorId {
        first_sector(self.miner, self.sectors.iter().map(|s| s.sector.number))
    }

    /// The proofs against the sectors proven (the partition less those
    /// skipped); the output must account for every sector of the task once
    /// (proven, ascending, or skipped: the chain message is built from the
    /// skipped ones), and a partition whose every sector was skipped has
    /// no proof to check.
    fn verify(
        &self,
        output: &venus_seal_core::proving::WindowPoStOutput,
        verifier: &dyn ProofVerifier,
    ) -> Result<bool, String> {
        let mut accounted: Vec<SectorNumber> = output
            .proven
            .iter()
            .copied()
            .chain(output.skipped.iter().map(|s| s.number))
            .collect();
        accounted.sort();
        let mut asked: Vec<SectorNumber> = self.sectors.iter().map(|s| s.sector.number).collect();
        asked.sort();
        if accounted != asked || !output.proven.windows(2).all(|w| w[0] < w[1]) {
            return Ok(false);
        }
        let sectors: Vec<_> = self
            .sectors
            .iter()
            .filter(|s| output.proven.contains(&s.sector.number))
            .map(|s| s.sector)
            .collect();
        if sectors.is_empty() {
            return Ok(output.proofs.is_empty());
        }
        verifier
            .verify_window_post(&WindowPoStVerifyInfo {
                miner: self.miner,
                randomness: self.randomness,
                sectors,
                proofs: output.proofs.clone(),
            })
            .map_err(|e| e.to_string())
    }
}

impl RemoteStage for WinningPoSt {
    fn subject(&self) -> SectorId {
        first_sector(self.miner, self.sectors.iter().map(|s| s.sector.number))
    }

    fn verify(
        &self,
        output: &Vec<venus_seal_core::proving::PoStProof>,
        verifier: &dyn ProofVerifier,
    ) -> Result<bool, String> {
        verifier
            .verify_winning_post(&WinningPoStVerifyInfo {
                miner: self.miner,
                randomness: self.randomness,
                sectors: self.sectors.iter().map(|s| s.sector).collect(),
                proofs: output.clone(),
            })
            .map_err(|e| e.to_string())
    }
}
