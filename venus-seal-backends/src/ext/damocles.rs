//! damocles' task and output bodies, so that processors built for damocles
//! (`vc-processors`) run this project's stages and damocles workers can use
//! [`serve_damocles`](super::serve_damocles) children.
//!
//! The envelope (`{"id","task"}` / `{"id","err_msg","output"}`) is the same
//! in both formats; only the bodies differ. With [`BodyFormat::Damocles`]
//! the bodies are damocles' `vc-processors::builtin::tasks` structs, whose
//! fields are filecoin-proofs-api's own types, serialized as serde writes
//! them (byte arrays as JSON arrays of numbers, proof types by variant
//! name, `UnpaddedBytesAmount` as a number, PoSt proofs as base64
//! strings). Golden lines of every body, with the upstream file and commit
//! they were read from, are in `tests/fixtures/damocles/ext/`.
//!
//! | stage | damocles task fields | damocles output | parent | child |
//! |-------|----------------------|-----------------|--------|-------|
//! | add_pieces | `seal_proof_type, pieces[{piece_file, payload_size, piece_size}], staged_filepath` | `[PieceInfo]` | yes | refused: no sector |
//! | tree_d | `registered_proof, staged_file, cache_dir` | `true` | yes | refused: no pieces |
//! | pc1 | `registered_proof, cache_path, in_path, out_path, prover_id, sector_id, ticket, piece_infos` | `SealPreCommitPhase1Output` | yes | yes |
//! | pc2 | `pc1out, cache_dir, sealed_file` | `SealPreCommitPhase2Output` | yes | refused: no sector |
//! | c2 | `c1out, prover_id, sector_id, miner_id` | `SealCommitPhase2Output` | yes | yes |
//! | snap_encode | `registered_proof, new_replica_path, new_cache_path, sector_path, sector_cache_path, staged_data_path, piece_infos` | `{comm_r_new, comm_r_last_new, comm_d_new}` | yes | refused: no sector, no seal proof |
//! | snap_prove | `registered_proof, vannilla_proofs, comm_r_old, comm_r_new, comm_d_new` | proof bytes | yes: vanilla proofs made here | refused: no files |
//! | window_post | `miner_id, proof_type, replicas[{sector_id, comm_r, cache_dir, sealed_file}], seed` | `{proofs, faults}` | yes | refused: no deadline, partition, seal proof |
//! | winning_post | as window_post | `{proofs}` | yes | refused: no seal proof |
//! | unseal | `registered_proof, prover_id, sector_id, comm_d, ticket, cache_dir, sealed_file, unsealed_output, offset, num_bytes` | bytes written | yes | yes |
//!
//! damocles has no task body for c1 (its worker runs C1 itself),
//! check_provable (its manager checks) or synth_proof (a stage name
//! constant only, no task struct, in the revisions read).
//!
//! What damocles' bodies do not carry is checked on this side instead:
//! tree_d's CommD is this project's own computation from the task's pieces
//! (damocles' TreeD answers only `true`; a revision that answers the
//! CommD is accepted when it matches), pc2's proof type is compared with
//! the sector's, add_pieces' commitments with the expected ones, the
//! vanilla partition proofs of snap_prove are made by the parent from the
//! task's files (as damocles' worker makes them), and the
//! PoSt proofs are labelled with the sectors' PoSt proof type. A damocles
//! child reports a WindowPoSt with faulty sectors as `faults` and no
//! proofs at all: the parent's output then skips the faulty sectors and
//! proves none (the caller proves the rest again without them).
//!
//! The child ([`serve_damocles`](super::serve_damocles)) translates a
//! damocles task only where it carries everything this project's task
//! needs; the others are refused before the ready line, naming what is
//! missing, rather than guessed.
//!
//! The PC1 and C1 outputs are carried opaquely ([`Opaque`]): damocles
//! builds them with filecoin-proofs-api 18.1, this project with 19.1, and
//! the types they serialize are the same source in both (the fixtures
//! README lists the diff that shows it), so each side reads the other's.

use std::any::{Any, TypeId};
use std::path::PathBuf;

use filecoin_proofs_api::seal::{SealCommitPhase2Output, SealPreCommitPhase2Output};
use filecoin_proofs_api::{
    PieceInfo as ApiPieceInfo, RegisteredSealProof, SectorId as ApiSectorId,
};
use serde::{Deserialize, Serialize};
use venus_seal_core::stage::{
    AddPieces, Opaque, Pc1, Pc2, Pc2Output, PieceSource, Proof, SectorPaths, SnapEncode, SnapProve,
    Stage, TreeD, TreeDOutput, Unseal, WindowPoSt, WinningPoSt, C2,
};
use venus_seal_core::{
    ActorId, CommD, CommR, PaddedPieceSize, PieceInfo, Randomness, SealProof, SectorId,
    SectorNumber, StageError, Ticket,
};

use crate::proof_type::{piece_from_api, piece_to_api, to_api};

pub use super::format::BodyFormat;

#[path = "damocles_proving.rs"]
mod proving;
pub use proving::{
    snap_prove_to_damocles, snap_vanilla_proofs, DamoclesPoStReplica, DamoclesSnapEncode,
    DamoclesSnapEncodeOutput, DamoclesSnapProve, DamoclesUnseal, DamoclesWindowPoSt,
    DamoclesWindowPoStOutput, DamoclesWinningPoSt, DamoclesWinningPoStOutput, PoStProofB64,
};

/// Where damocles' piece bytes come from (`vc-processors` `PieceFile`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DamoclesPieceFile {
    /// Fetched over HTTP.
    Url(String),
    /// A local file.
    Local(PathBuf),
    /// Zeros.
    Pledge,
}

/// One piece of damocles' `AddPieces` task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DamoclesPiece {
    /// Where the bytes come from.
    pub piece_file: DamoclesPieceFile,
    /// How many bytes to read; the rest of the piece is zeros.
    pub payload_size: u64,
    /// The piece's unpadded size (`UnpaddedBytesAmount`).
    pub piece_size: u64,
}

/// damocles' `AddPieces` task. No pieces means a CC sector: damocles'
/// processor then writes one zero piece of the whole sector.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DamoclesAddPieces {
    /// The sector's proof type.
    pub seal_proof_type: RegisteredSealProof,
    /// The pieces, in order. damocles' processor writes them back to back
    /// with no alignment padding.
    pub pieces: Vec<DamoclesPiece>,
    /// The staged file to write.
    pub staged_filepath: PathBuf,
}

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

/// What a child cannot read from damocles' task body for stage `S`, or
/// `None` if it can read all of it.
fn missing_for_child<S: Stage>() -> Option<&'static str> {
    let s = TypeId::of::<S>();
    if s == TypeId::of::<Pc1>() || s == TypeId::of::<C2>() || s == TypeId::of::<Unseal>() {
        None
    } else if s == TypeId::of::<AddPieces>() {
        Some("damocles' add_pieces task names no sector")
    } else if s == TypeId::of::<TreeD>() {
        Some("damocles' tree_d task carries no pieces")
    } else if s == TypeId::of::<Pc2>() {
        Some("damocles' pc2 task names no sector")
    } else if s == TypeId::of::<SnapEncode>() {
        Some("damocles' snap_encode task names no sector and no seal proof (only the update proof)")
    } else if s == TypeId::of::<SnapProve>() {
        Some(
            "damocles' snap_prove task carries vanilla proofs instead of the sector, its seal \
             proof and its files",
        )
    } else if s == TypeId::of::<WindowPoSt>() {
        Some(
            "damocles' window_post task names no deadline, no partition and no seal proof \
             (only the PoSt proof)",
        )
    } else if s == TypeId::of::<WinningPoSt>() {
        Some("damocles' winning_post task names no seal proof (only the PoSt proof)")
    } else {
        Some("damocles has no task body for this stage")
    }
}

/// Whether a child can read stage `S`'s task from damocles' body; the
/// error says why not.
pub(crate) fn child_check<S: Stage>() -> Result<(), String> {
    match missing_for_child::<S>() {
        None => Ok(()),
        Some(why) => Err(format!(
            "damocles bodies cannot be served for stage {} ({why}; pc1, c2 and unseal can)",
            S::NAME
        )),
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
    if let Some(t) = any.downcast_ref::<AddPieces>() {
        return json(
            S::NAME,
            &add_pieces_to_damocles(t).map_err(|e| invalid(S::NAME, e))?,
        );
    }
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
        if t.proof.is_synthetic() {
            // damocles writes synthetic proofs in a stage of its own
            // (synth_proof); its pc2 body has no ticket or pieces for them.
            return Err(invalid(
                S::NAME,
                format!(
                    "{} is a synthetic PoRep proof type, whose synthetic proofs this project \
                     writes in pc2: run pc2 of such sectors on a native-format processor",
                    t.proof
                ),
            ));
        }
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
    if let Some(t) = any.downcast_ref::<SnapProve>() {
        let vanilla = proving::snap_vanilla_proofs(t).map_err(StageError::Computation)?;
        return json(S::NAME, &proving::snap_prove_to_damocles(t, vanilla));
    }
    if let Some(body) = proving::task_to_damocles(any) {
        return json(S::NAME, &body.map_err(|e| invalid(S::NAME, e))?);
    }
    Err(invalid(S::NAME, "damocles has no body for this stage"))
}

/// damocles' tree_d answer: `true` (`TreeD::Output = bool`, as damocles'
/// worker reads it), or the CommD (`Commitment`) as one upstream revision
/// answers.
#[derive(Deserialize)]
#[serde(untagged)]
enum TreeDAnswer {
    Built(bool),
    CommD([u8; 32]),
}

/// damocles' output body for `task` as `S::Output` (the parent side); the
/// error says what is wrong with the output.
pub(crate) fn output_from_damocles<S: Stage>(task: &S, output: &str) -> Result<S::Output, String> {
    let bad = |e: serde_json::Error| format!("not damocles' {} output: {e}", S::NAME);
    let any = task as &dyn Any;
    let out: Box<dyn Any> = if let Some(t) = any.downcast_ref::<AddPieces>() {
        let pieces: Vec<ApiPieceInfo> = serde_json::from_str(output).map_err(bad)?;
        Box::new(add_pieces_output(t, &pieces)?)
    } else if let Some(t) = any.downcast_ref::<TreeD>() {
        let answer: TreeDAnswer = serde_json::from_str(output).map_err(bad)?;
        let pieces: Vec<_> = t.pieces.iter().map(piece_to_api).collect();
        let expected = filecoin_proofs_api::seal::compute_comm_d(to_api(t.proof), &pieces)
            .map_err(|e| format!("cannot compute the CommD of the task's pieces: {e:#}"))?;
        match answer {
            TreeDAnswer::Built(true) => {}
            TreeDAnswer::Built(false) => {
                return Err("the processor answered false: it built no tree".into())
            }
            TreeDAnswer::CommD(comm_d) if comm_d != expected => {
                return Err(format!(
                    "CommD {} does not match the CommD {} of the task's pieces",
                    CommD(comm_d),
                    CommD(expected)
                ))
            }
            TreeDAnswer::CommD(_) => {}
        }
        Box::new(TreeDOutput {
            comm_d: CommD(expected),
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
    } else if let Some(out) = proving::output_from_damocles(any, output) {
        out.map_err(|e| format!("not damocles' {} output: {e}", S::NAME))?
    } else {
        return Err(format!("damocles has no {} output body", S::NAME));
    };
    out.downcast::<S::Output>()
        .map(|o| *o)
        .map_err(|_| format!("{} output type mismatch", S::NAME))
}

/// A damocles task body as this project's task (the child side).
pub(crate) fn task_from_damocles<S: Stage>(body: &str) -> Result<S, String> {
    if let Some(why) = missing_for_child::<S>() {
        return Err(format!(
            "a damocles {} task cannot be served: {why}",
            S::NAME
        ));
    }
    let s = TypeId::of::<S>();
    let task: Box<dyn Any> = if s == TypeId::of::<Pc1>() {
        let t: DamoclesPc1 = serde_json::from_str(body).map_err(|e| e.to_string())?;
        Box::new(pc1_from_damocles(t)?)
    } else if s == TypeId::of::<C2>() {
        let t: DamoclesC2 = serde_json::from_str(body).map_err(|e| e.to_string())?;
        Box::new(c2_from_damocles(t)?)
    } else {
        let t: DamoclesUnseal = serde_json::from_str(body).map_err(|e| e.to_string())?;
        Box::new(proving::unseal_from_damocles(t)?)
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
    if TypeId::of::<S>() == TypeId::of::<Unseal>() {
        if let Some(n) = any.downcast_ref::<u64>() {
            return serde_json::value::to_raw_value(n).map_err(|e| e.to_string());
        }
    }
    Err(format!("no damocles output body for {}", S::NAME))
}

/// The padded size a piece source fills.
fn source_size(source: &PieceSource) -> PaddedPieceSize {
    match source {
        PieceSource::Zero { size } => *size,
        PieceSource::File {
            unpadded_size,
            expected,
            ..
        } => expected
            .map(|p| p.size)
            .unwrap_or_else(|| PaddedPieceSize::for_unpadded(*unpadded_size)),
    }
}

/// This project's add_pieces task as damocles'. damocles' processor
/// writes the pieces back to back without alignment padding, so each
/// piece must start at a multiple of its own size (as this project's
/// deal packing places them); the error names the first that does not.
pub fn add_pieces_to_damocles(t: &AddPieces) -> Result<DamoclesAddPieces, String> {
    let mut offset = 0u64;
    let mut pieces = Vec::with_capacity(t.pieces.len());
    for (i, source) in t.pieces.iter().enumerate() {
        let size = source_size(source);
        if size.0 == 0 || offset % size.0 != 0 {
            return Err(format!(
                "piece {i} ({} bytes padded) would start at padded offset {offset}: damocles' \
                 add_pieces writes no alignment padding",
                size.0
            ));
        }
        offset += size.0;
        pieces.push(match source {
            PieceSource::Zero { size } => DamoclesPiece {
                piece_file: DamoclesPieceFile::Pledge,
                payload_size: size.unpadded(),
                piece_size: size.unpadded(),
            },
            PieceSource::File {
                path,
                unpadded_size,
                ..
            } => DamoclesPiece {
                piece_file: DamoclesPieceFile::Local(path.clone()),
                payload_size: *unpadded_size,
                piece_size: size.unpadded(),
            },
        });
    }
    Ok(DamoclesAddPieces {
        seal_proof_type: to_api(t.proof),
        pieces,
        staged_filepath: t.staged.clone(),
    })
}

/// damocles' add_pieces output as this project's: one piece per task
/// piece, of the size asked and with the expected commitment where the
/// task gives one (a CC sector: one zero piece of the whole sector), then
/// zero pieces filling the rest of the sector as the local executor
/// reports them.
fn add_pieces_output(t: &AddPieces, got: &[ApiPieceInfo]) -> Result<Vec<PieceInfo>, String> {
    let got: Vec<PieceInfo> = got.iter().map(piece_from_api).collect();
    let sector = t.proof.sector_size().0;
    let wanted: Vec<(PaddedPieceSize, Option<CommD>)> = if t.pieces.is_empty() {
        vec![(
            PaddedPieceSize(sector),
            Some(CommD(zero_commitment(sector))),
        )]
    } else {
        t.pieces
            .iter()
            .map(|s| match s {
                PieceSource::Zero { size } => (*size, Some(CommD(zero_commitment(size.0)))),
                PieceSource::File { expected, .. } => {
                    (source_size(s), expected.as_ref().map(|p| p.cid))
                }
            })
            .collect()
    };
    if got.len() != wanted.len() {
        return Err(format!(
            "{} pieces for a task of {}",
            got.len(),
            wanted.len()
        ));
    }
    for (i, (piece, (size, cid))) in got.iter().zip(&wanted).enumerate() {
        if piece.size != *size {
            return Err(format!(
                "piece {i} is {} bytes padded, the task's is {}",
                piece.size.0, size.0
            ));
        }
        if let Some(cid) = cid.filter(|c| *c != piece.cid) {
            return Err(format!(
                "piece {i} has commitment {}, expected {cid}",
                piece.cid
            ));
        }
    }
    let used: u64 = got.iter().map(|p| p.size.0).sum();
    let mut out = got;
    let mut rest = sector.saturating_sub(used);
    // The rest in ascending powers of two, as the local executor fills it.
    let mut bit = 1u64;
    while rest != 0 {
        if rest & bit != 0 {
            out.push(PieceInfo {
                size: PaddedPieceSize(bit),
                cid: CommD(zero_commitment(bit)),
            });
            rest &= !bit;
        }
        bit <<= 1;
    }
    Ok(out)
}

fn zero_commitment(padded: u64) -> [u8; 32] {
    crate::pieces::zero_commitment(padded)
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

#[cfg(test)]
#[path = "damocles_fixtures_tests.rs"]
mod fixtures_tests;
