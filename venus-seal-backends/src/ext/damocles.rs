//! damocles' task and output bodies, so that processors built for damocles
//! (`vc-processors`) run this project's stages and damocles workers can use
//! [`serve_damocles`](super::serve_damocles) children.
//!
//! The envelope (`{"id","task"}` / `{"id","err_msg","output"}`) is the same
//! in both formats; only the bodies differ. With [`BodyFormat::Damocles`]
//! the bodies are damocles' `vc-processors::builtin::tasks` structs, whose
//! fields are filecoin-proofs-api's own types, serialized as serde writes
//! them (byte arrays as JSON arrays of numbers, proof types by variant
//! name):
//!
//! | stage  | damocles task fields | damocles output |
//! |--------|----------------------|-----------------|
//! | tree_d | `registered_proof, staged_file, cache_dir` | `Commitment` (32 numbers) |
//! | pc1    | `registered_proof, cache_path, in_path, out_path, prover_id, sector_id, ticket, piece_infos` | `SealPreCommitPhase1Output` |
//! | pc2    | `pc1out, cache_dir, sealed_file` | `SealPreCommitPhase2Output` |
//! | c2     | `c1out, prover_id, sector_id, miner_id` | `SealCommitPhase2Output` (`{"proof": [...]}`) |
//!
//! The parent ([`ExtProcessorExecutor`](super::ExtProcessorExecutor) with
//! `format = "damocles"`) translates all four. What damocles' bodies do not
//! carry is checked on this side instead: tree_d's CommD is compared with
//! the CommD of the task's pieces, pc2's proof type with the sector's.
//!
//! The child ([`serve_damocles`](super::serve_damocles)) translates pc1 and
//! c2, whose damocles tasks carry everything this project's tasks need. A
//! damocles pc2 task names no sector and a damocles tree_d task no pieces,
//! so those two are refused there rather than guessed.

use std::any::{Any, TypeId};
use std::path::PathBuf;

use filecoin_proofs_api::seal::{SealCommitPhase2Output, SealPreCommitPhase2Output};
use filecoin_proofs_api::{
    PieceInfo as ApiPieceInfo, RegisteredSealProof, SectorId as ApiSectorId,
};
use serde::{Deserialize, Serialize};
use venus_seal_core::stage::{
    Opaque, Pc1, Pc2, Pc2Output, Proof, SectorPaths, Stage, TreeD, TreeDOutput, C2,
};
use venus_seal_core::{
    ActorId, CommD, CommR, Randomness, SealProof, SectorId, SectorNumber, StageError, Ticket,
};

use crate::proof_type::{piece_from_api, piece_to_api, to_api};

pub use super::format::BodyFormat;

/// damocles' `TreeD` task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DamoclesTreeD {
    /// The sector's proof type.
    pub registered_proof: RegisteredSealProof,
    /// The staged (unsealed) file.
    pub staged_file: PathBuf,
    /// The cache directory the tree goes into.
    pub cache_dir: PathBuf,
}

/// damocles' `PC1` task.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DamoclesPc1 {
    /// The sector's proof type.
    pub registered_proof: RegisteredSealProof,
    /// The cache directory.
    pub cache_path: PathBuf,
    /// The staged (unsealed) file.
    pub in_path: PathBuf,
    /// The sealed file to write.
    pub out_path: PathBuf,
    /// The miner's prover id (its ID address payload, zero padded).
    pub prover_id: [u8; 32],
    /// The sector number.
    pub sector_id: ApiSectorId,
    /// The ticket's randomness.
    pub ticket: [u8; 32],
    /// The pieces (unpadded sizes).
    pub piece_infos: Vec<ApiPieceInfo>,
}

/// damocles' `PC2` task.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DamoclesPc2 {
    /// The PC1 output (filecoin-proofs-api's `SealPreCommitPhase1Output`).
    pub pc1out: Opaque,
    /// The cache directory.
    pub cache_dir: PathBuf,
    /// The sealed file.
    pub sealed_file: PathBuf,
}

/// damocles' `C2` task.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DamoclesC2 {
    /// The C1 output (filecoin-proofs-api's `SealCommitPhase1Output`).
    pub c1out: Opaque,
    /// The miner's prover id.
    pub prover_id: [u8; 32],
    /// The sector number.
    pub sector_id: ApiSectorId,
    /// The miner actor id.
    pub miner_id: u64,
}

/// Whether a child can read stage `S`'s task from damocles' body; the
/// error says why not.
pub(crate) fn child_check<S: Stage>() -> Result<(), String> {
    if [TypeId::of::<Pc1>(), TypeId::of::<C2>()].contains(&TypeId::of::<S>()) {
        Ok(())
    } else {
        Err(format!(
            "damocles bodies cannot be served for stage {} (pc1 and c2 can)",
            S::NAME
        ))
    }
}

fn invalid(stage: &str, what: impl std::fmt::Display) -> StageError {
    StageError::InvalidTask(format!(
        "{stage} task cannot be written as damocles': {what}"
    ))
}

/// A raw JSON body: fields stay in declaration order (damocles' order) and
/// the opaque PC1/C1 outputs inside are copied, not re-parsed.
pub(crate) type Body = Box<serde_json::value::RawValue>;

fn json<T: Serialize>(stage: &str, value: &T) -> Result<Body, StageError> {
    serde_json::value::to_raw_value(value)
        .map_err(|e| StageError::Computation(format!("cannot serialize the {stage} task: {e}")))
}

/// `task` as damocles' task body (the parent side).
pub(crate) fn task_to_damocles<S: Stage>(task: &S) -> Result<Body, StageError> {
    let any = task as &dyn Any;
    if let Some(t) = any.downcast_ref::<TreeD>() {
        return json(
            S::NAME,
            &DamoclesTreeD {
                registered_proof: to_api(t.proof),
                staged_file: t.staged.clone(),
                cache_dir: t.cache.clone(),
            },
        );
    }
    if let Some(t) = any.downcast_ref::<Pc1>() {
        return json(S::NAME, &pc1_to_damocles(t));
    }
    if let Some(t) = any.downcast_ref::<Pc2>() {
        return json(
            S::NAME,
            &DamoclesPc2 {
                pc1out: t.pc1_output.clone(),
                cache_dir: t.paths.cache.clone(),
                sealed_file: t.paths.sealed.clone(),
            },
        );
    }
    if let Some(t) = any.downcast_ref::<C2>() {
        return json(S::NAME, &c2_to_damocles(t));
    }
    Err(invalid(S::NAME, "damocles has no body for this stage"))
}

/// damocles' output body for `task` as `S::Output` (the parent side); the
/// error says what is wrong with the output.
pub(crate) fn output_from_damocles<S: Stage>(task: &S, output: &str) -> Result<S::Output, String> {
    let bad = |e: serde_json::Error| format!("not damocles' {} output: {e}", S::NAME);
    let any = task as &dyn Any;
    let out: Box<dyn Any> = if let Some(t) = any.downcast_ref::<TreeD>() {
        let comm_d: [u8; 32] = serde_json::from_str(output).map_err(bad)?;
        let pieces: Vec<_> = t.pieces.iter().map(piece_to_api).collect();
        let expected = filecoin_proofs_api::seal::compute_comm_d(to_api(t.proof), &pieces)
            .map_err(|e| format!("cannot compute the CommD of the task's pieces: {e:#}"))?;
        if comm_d != expected {
            return Err(format!(
                "CommD {} does not match the CommD {} of the task's pieces",
                CommD(comm_d),
                CommD(expected)
            ));
        }
        Box::new(TreeDOutput {
            comm_d: CommD(comm_d),
        })
    } else if any.is::<Pc1>() {
        Box::new(Opaque::from_json(output.to_string()).map_err(bad)?)
    } else if let Some(t) = any.downcast_ref::<Pc2>() {
        let out: SealPreCommitPhase2Output = serde_json::from_str(output).map_err(bad)?;
        if out.registered_proof != to_api(t.proof) {
            return Err(format!(
                "made for {:?}, the sector is {}",
                out.registered_proof, t.proof
            ));
        }
        Box::new(Pc2Output {
            comm_r: CommR(out.comm_r),
            comm_d: CommD(out.comm_d),
        })
    } else if any.is::<C2>() {
        let out: SealCommitPhase2Output = serde_json::from_str(output).map_err(bad)?;
        Box::new(Proof { proof: out.proof })
    } else {
        return Err(format!("damocles has no {} output body", S::NAME));
    };
    out.downcast::<S::Output>()
        .map(|o| *o)
        .map_err(|_| format!("{} output type mismatch", S::NAME))
}

/// A damocles task body as this project's task (the child side).
pub(crate) fn task_from_damocles<S: Stage>(body: &str) -> Result<S, String> {
    let task: Box<dyn Any> = if TypeId::of::<S>() == TypeId::of::<Pc1>() {
        let t: DamoclesPc1 = serde_json::from_str(body).map_err(|e| e.to_string())?;
        Box::new(pc1_from_damocles(t)?)
    } else if TypeId::of::<S>() == TypeId::of::<C2>() {
        let t: DamoclesC2 = serde_json::from_str(body).map_err(|e| e.to_string())?;
        Box::new(c2_from_damocles(t)?)
    } else {
        return Err(format!(
            "a damocles {} task cannot be served: it lacks what this project's task needs",
            S::NAME
        ));
    };
    task.downcast::<S>()
        .map(|t| *t)
        .map_err(|_| "task type mismatch".to_string())
}

/// `output` as damocles' output body (the child side).
pub(crate) fn output_to_damocles<S: Stage>(output: &S::Output) -> Result<Body, String> {
    let any = output as &dyn Any;
    if let Some(o) = any.downcast_ref::<Opaque>() {
        return serde_json::value::to_raw_value(o).map_err(|e| e.to_string());
    }
    if let Some(p) = any.downcast_ref::<Proof>() {
        return serde_json::value::to_raw_value(&SealCommitPhase2Output {
            proof: p.proof.clone(),
        })
        .map_err(|e| e.to_string());
    }
    Err(format!("no damocles output body for {}", S::NAME))
}

/// This project's PC1 task as damocles'.
pub fn pc1_to_damocles(t: &Pc1) -> DamoclesPc1 {
    DamoclesPc1 {
        registered_proof: to_api(t.proof),
        cache_path: t.paths.cache.clone(),
        in_path: t.paths.staged.clone(),
        out_path: t.paths.sealed.clone(),
        prover_id: t.sector.miner.prover_id(),
        sector_id: ApiSectorId::from(t.sector.number.0),
        ticket: t.ticket.ticket.0,
        piece_infos: t.pieces.iter().map(piece_to_api).collect(),
    }
}

/// damocles' PC1 task as this project's. The ticket's epoch is not on
/// damocles' wire and reads as 0; the prover id must be an ID address's.
pub fn pc1_from_damocles(t: DamoclesPc1) -> Result<Pc1, String> {
    let miner = miner_of_prover_id(&t.prover_id)?;
    Ok(Pc1 {
        proof: from_api(t.registered_proof)?,
        sector: SectorId::new(miner, SectorNumber(u64::from(t.sector_id))),
        paths: SectorPaths {
            staged: t.in_path,
            sealed: t.out_path,
            cache: t.cache_path,
        },
        ticket: Ticket {
            ticket: Randomness(t.ticket),
            epoch: 0,
        },
        pieces: t.piece_infos.iter().map(piece_from_api).collect(),
    })
}

/// This project's C2 task as damocles'.
pub fn c2_to_damocles(t: &C2) -> DamoclesC2 {
    DamoclesC2 {
        c1out: t.c1_output.clone(),
        prover_id: t.sector.miner.prover_id(),
        sector_id: ApiSectorId::from(t.sector.number.0),
        miner_id: t.sector.miner.0,
    }
}

/// damocles' C2 task as this project's; the proof type is read from the C1
/// output, and `prover_id` must agree with `miner_id`.
pub fn c2_from_damocles(t: DamoclesC2) -> Result<C2, String> {
    #[derive(Deserialize)]
    struct ProofType {
        registered_proof: RegisteredSealProof,
    }
    let miner = ActorId(t.miner_id);
    if miner.prover_id() != t.prover_id {
        return Err(format!(
            "prover_id {} is not the prover id of miner_id {}",
            hex::encode(t.prover_id),
            t.miner_id
        ));
    }
    let ProofType { registered_proof } = t
        .c1out
        .decode()
        .map_err(|e| format!("c1out has no registered_proof: {e}"))?;
    Ok(C2 {
        proof: from_api(registered_proof)?,
        sector: SectorId::new(miner, SectorNumber(u64::from(t.sector_id))),
        c1_output: t.c1out,
    })
}

fn from_api(proof: RegisteredSealProof) -> Result<SealProof, String> {
    SealProof::ALL
        .iter()
        .copied()
        .find(|p| to_api(*p) == proof)
        .ok_or_else(|| format!("unknown registered_proof {proof:?}"))
}

/// The miner whose ID address payload (LEB128, zero padded) `prover_id` is.
fn miner_of_prover_id(prover_id: &[u8; 32]) -> Result<ActorId, String> {
    let mut id: u64 = 0;
    for (i, byte) in prover_id.iter().enumerate().take(10) {
        id |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let miner = ActorId(id);
            if miner.prover_id() != *prover_id {
                break;
            }
            return Ok(miner);
        }
    }
    Err(format!(
        "prover_id {} is not an ID address payload",
        hex::encode(prover_id)
    ))
}

#[cfg(test)]
#[path = "damocles_tests.rs"]
mod tests;
