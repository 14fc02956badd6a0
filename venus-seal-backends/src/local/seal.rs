//! pc1, pc2, c1, c2 on filecoin-proofs-api.

use std::fs::OpenOptions;

use filecoin_proofs_api::seal::{
    generate_synth_proofs, seal_commit_phase1, seal_commit_phase2, seal_pre_commit_phase1,
    seal_pre_commit_phase2, SealCommitPhase1Output, SealPreCommitPhase1Output,
    SealPreCommitPhase2Output,
};
use venus_seal_core::durable::Syncer;
use venus_seal_core::stage::{Opaque, Pc1, Pc2, Pc2Output, Proof, C1, C2};
use venus_seal_core::{CommD, CommR, StageError};

use super::{computation, decode, encode, make_durable, require_file};
use crate::proof_type::{ids, piece_to_api, to_api};

/// Files in the cache directory that C1 (and WindowPoSt) need after PC2.
const CACHE_FILES_FOR_COMMIT: &[&str] = &["p_aux", "t_aux"];

pub(super) fn pc1(task: &Pc1, syncer: &dyn Syncer) -> Result<Opaque, StageError> {
    require_file(&task.paths.staged, "staged file")?;
    let cache = &task.paths.cache;
    // A PC1 that was interrupted leaves partial layers: start clean. Keep
    // nothing but the directory itself (PC1 rebuilds tree-d too).
    if cache.exists() {
        std::fs::remove_dir_all(cache)
            .map_err(|e| StageError::io(format!("cleaning {}", cache.display()), e))?;
    }
    std::fs::create_dir_all(cache)
        .map_err(|e| StageError::io(format!("creating {}", cache.display()), e))?;
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&task.paths.sealed)
        .map_err(|e| {
            StageError::io(
                format!("creating sealed file {}", task.paths.sealed.display()),
                e,
            )
        })?;
    let (prover_id, sector_id) = ids(task.sector.miner, task.sector.number);
    let pieces: Vec<_> = task.pieces.iter().map(piece_to_api).collect();
    let out = seal_pre_commit_phase1(
        to_api(task.proof),
        cache,
        &task.paths.staged,
        &task.paths.sealed,
        prover_id,
        sector_id,
        task.ticket.ticket.0,
        &pieces,
    )
    .map_err(|e| computation("pc1", e))?;
    // The sealed copy of the staged file and the layers.
    make_durable(syncer, "pc1", &[&task.paths.sealed, cache])?;
    encode("PC1 output", &out)
}

pub(super) fn pc2(task: &Pc2, syncer: &dyn Syncer) -> Result<Pc2Output, StageError> {
    require_file(&task.paths.sealed, "sealed file")?;
    let pc1: SealPreCommitPhase1Output = decode("PC1 output", &task.pc1_output)?;
    if pc1.registered_proof != to_api(task.proof) {
        return Err(StageError::Computation(format!(
            "corrupt PC1 output: made for {:?}, the sector is {}",
            pc1.registered_proof, task.proof
        )));
    }
    let out = seal_pre_commit_phase2(pc1, &task.paths.cache, &task.paths.sealed)
        .map_err(|e| computation("pc2", e))?;
    if task.proof.is_synthetic() {
        synthesize(task, &out)?;
    }
    // The replica, encoded in place, the trees and aux files (and the
    // synthetic proofs).
    make_durable(syncer, "pc2", &[&task.paths.sealed, &task.paths.cache])?;
    Ok(Pc2Output {
        comm_r: CommR(out.comm_r),
        comm_d: CommD(out.comm_d),
    })
}

/// Writes the synthetic vanilla proofs of a synthetic PoRep sector into
/// its cache directory (`syn-porep-vanilla-proofs.dat`), from which C1
/// later picks the proofs of the challenges its seed draws.
fn synthesize(task: &Pc2, out: &SealPreCommitPhase2Output) -> Result<(), StageError> {
    let synth = task.synthetic.as_ref().ok_or_else(|| {
        StageError::InvalidTask(format!(
            "{} is a synthetic PoRep proof type: its PC2 task needs `synthetic` (the ticket \
             and pieces the synthetic proofs are bound to)",
            task.proof
        ))
    })?;
    let (prover_id, sector_id) = ids(task.sector.miner, task.sector.number);
    let pieces: Vec<_> = synth.pieces.iter().map(piece_to_api).collect();
    generate_synth_proofs(
        &task.paths.cache,
        &task.paths.sealed,
        prover_id,
        sector_id,
        synth.ticket.ticket.0,
        SealPreCommitPhase2Output {
            registered_proof: out.registered_proof,
            comm_r: out.comm_r,
            comm_d: out.comm_d,
        },
        &pieces,
    )
    .map_err(|e| computation("pc2 (synthetic proofs)", e))
}

pub(super) fn c1(task: &C1) -> Result<Opaque, StageError> {
    require_file(&task.paths.sealed, "sealed file")?;
    for name in CACHE_FILES_FOR_COMMIT {
        require_file(&task.paths.cache.join(name), "cache file")?;
    }
    let (prover_id, sector_id) = ids(task.sector.miner, task.sector.number);
    let pieces: Vec<_> = task.pieces.iter().map(piece_to_api).collect();
    let pre_commit = SealPreCommitPhase2Output {
        registered_proof: to_api(task.proof),
        comm_r: task.pc2_output.comm_r.0,
        comm_d: task.pc2_output.comm_d.0,
    };
    let out = seal_commit_phase1(
        &task.paths.cache,
        &task.paths.sealed,
        prover_id,
        sector_id,
        task.ticket.ticket.0,
        task.seed.seed.0,
        pre_commit,
        &pieces,
    )
    .map_err(|e| computation("c1", e))?;
    encode("C1 output", &out)
}

pub(super) fn c2(task: &C2) -> Result<Proof, StageError> {
    let c1: SealCommitPhase1Output = decode("C1 output", &task.c1_output)?;
    if c1.registered_proof != to_api(task.proof) {
        return Err(StageError::Computation(format!(
            "corrupt C1 output: made for {:?}, the sector is {}",
            c1.registered_proof, task.proof
        )));
    }
    let (prover_id, sector_id) = ids(task.sector.miner, task.sector.number);
    let out = seal_commit_phase2(c1, prover_id, sector_id).map_err(|e| computation("c2", e))?;
    Ok(Proof { proof: out.proof })
}
