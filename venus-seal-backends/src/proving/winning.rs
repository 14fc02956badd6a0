//! WinningPoSt on filecoin-proofs-api.

use std::collections::BTreeMap;

use filecoin_proofs_api::post::{
    generate_winning_post, generate_winning_post_sector_challenge, verify_winning_post,
};
use filecoin_proofs_api::SectorId as ApiSectorId;
use venus_seal_core::proving::{PoStKind, PoStProof, ProvingError, WinningPoStVerifyInfo};
use venus_seal_core::stage::WinningPoSt;
use venus_seal_core::{ActorId, Randomness, SealProof, VerifyError};

use super::check::{check_sector, public_replicas, replica};
use super::proof_ids::{chain_id, from_chain_id, post_randomness};
use super::window::one_seal_proof;
use crate::proof_type::post_proof;

/// The challenged indices into `eligible` sectors (blocking).
pub(crate) fn challenge(
    seal: SealProof,
    miner: ActorId,
    randomness: &Randomness,
    eligible: u64,
) -> anyhow::Result<Vec<u64>> {
    generate_winning_post_sector_challenge(
        post_proof(seal, PoStKind::Winning),
        &post_randomness(randomness),
        eligible,
        miner.prover_id(),
    )
}

/// Proves the challenged sectors (blocking). A sector whose files fail
/// the check fails the proof, naming it.
pub(crate) fn winning_post(req: &WinningPoSt) -> Result<Vec<PoStProof>, ProvingError> {
    let what = format!("WinningPoSt of {}", req.miner);
    let seal = one_seal_proof(req.sectors.iter().map(|s| s.sector.seal_proof))
        .map_err(ProvingError::InvalidRequest)?
        .ok_or_else(|| ProvingError::InvalidRequest(format!("{what}: no sectors")))?;
    let post = post_proof(seal, PoStKind::Winning);
    let mut replicas = BTreeMap::new();
    for s in &req.sectors {
        check_sector(req.miner, s, post).map_err(|reason| ProvingError::Proof {
            what: what.clone(),
            message: format!(
                "challenged sector {} cannot be proven: {reason}",
                s.sector.number
            ),
        })?;
        replicas.insert(ApiSectorId::from(s.sector.number.0), replica(s, post));
    }
    let proofs = generate_winning_post(
        &post_randomness(&req.randomness),
        &replicas,
        req.miner.prover_id(),
    )
    .map_err(|e| ProvingError::Proof {
        what,
        message: format!("{e:#}"),
    })?;
    Ok(proofs
        .into_iter()
        .map(|(p, proof)| PoStProof {
            post_proof: chain_id(p),
            proof,
        })
        .collect())
}

/// Checks a WinningPoSt (blocking); a malformed proof is `Ok(false)`.
pub(crate) fn verify(info: &WinningPoStVerifyInfo) -> Result<bool, VerifyError> {
    let seal = one_seal_proof(info.sectors.iter().map(|s| s.seal_proof))
        .map_err(VerifyError)?
        .ok_or_else(|| VerifyError("a WinningPoSt proves at least one sector".into()))?;
    let [proof] = info.proofs.as_slice() else {
        return Ok(false);
    };
    let post = from_chain_id(proof.post_proof, seal, PoStKind::Winning)
        .map_err(|e| VerifyError(e.to_string()))?;
    let replicas = public_replicas(&info.sectors, post);
    match verify_winning_post(
        &post_randomness(&info.randomness),
        &proof.proof,
        &replicas,
        info.miner.prover_id(),
    ) {
        Ok(valid) => Ok(valid),
        Err(e) => {
            tracing::debug!(error = %format!("{e:#}"), "WinningPoSt rejected by the verifier");
            Ok(false)
        }
    }
}
