//! WindowPoSt on filecoin-proofs-api: faulty sectors skipped, never a
//! failed partition.

use std::collections::BTreeMap;

use filecoin_proofs_api::post::{generate_window_post, verify_window_post};
use filecoin_proofs_api::{SectorId as ApiSectorId, StorageProofsError};
use tracing::{info, warn};
use venus_seal_core::proving::{
    PoStKind, PoStProof, ProvingError, SkippedSector, WindowPoStOutput, WindowPoStVerifyInfo,
};
use venus_seal_core::stage::WindowPoSt;
use venus_seal_core::{SealProof, SectorNumber, VerifyError};

use super::check::{check_sector, public_replicas, replica};
use super::proof_ids::{chain_id, from_chain_id, post_randomness};
use crate::proof_type::post_proof;

/// The one seal proof of `sectors`, or `None` when there are none.
pub(crate) fn one_seal_proof(
    mut proofs: impl Iterator<Item = SealProof>,
) -> Result<Option<SealProof>, String> {
    let Some(first) = proofs.next() else {
        return Ok(None);
    };
    match proofs.find(|p| *p != first) {
        Some(other) => Err(format!(
            "sectors of one proof must share a seal proof: {first} and {other}"
        )),
        None => Ok(Some(first)),
    }
}

/// Proves one partition (blocking).
pub(crate) fn window_post(req: &WindowPoSt) -> Result<WindowPoStOutput, ProvingError> {
    let what = format!(
        "WindowPoSt of {} deadline {} partition {}",
        req.miner, req.deadline, req.partition
    );
    let Some(seal) = one_seal_proof(req.sectors.iter().map(|s| s.sector.seal_proof))
        .map_err(ProvingError::InvalidRequest)?
    else {
        return Ok(WindowPoStOutput::default());
    };
    let post = post_proof(seal, PoStKind::Window);
    let mut skipped = Vec::new();
    let mut replicas = BTreeMap::new();
    for s in &req.sectors {
        match check_sector(req.miner, s, post) {
            Ok(()) => {
                replicas.insert(ApiSectorId::from(s.sector.number.0), replica(s, post));
            }
            Err(reason) => {
                warn!(miner = %req.miner, sector = s.sector.number.0, %reason, "sector skipped: faulty");
                skipped.push(SkippedSector {
                    number: s.sector.number,
                    reason,
                });
            }
        }
    }
    let randomness = post_randomness(&req.randomness);
    let prover_id = req.miner.prover_id();
    loop {
        if replicas.is_empty() {
            return Ok(WindowPoStOutput {
                proofs: Vec::new(),
                proven: Vec::new(),
                skipped,
            });
        }
        match generate_window_post(&randomness, &replicas, prover_id) {
            Ok(proofs) => {
                let proven: Vec<SectorNumber> = replicas
                    .keys()
                    .map(|id| SectorNumber(u64::from(*id)))
                    .collect();
                info!(miner = %req.miner, deadline = req.deadline, partition = req.partition,
                      proven = proven.len(), skipped = skipped.len(), "WindowPoSt generated");
                return Ok(WindowPoStOutput {
                    proofs: proofs
                        .into_iter()
                        .map(|(p, proof)| PoStProof {
                            post_proof: chain_id(p),
                            proof,
                        })
                        .collect(),
                    proven,
                    skipped,
                });
            }
            Err(e) => {
                // The proofs' own fault check: sectors whose vanilla proofs
                // failed come back by id; prove the rest.
                let faulty = match e.downcast_ref::<StorageProofsError>() {
                    Some(StorageProofsError::FaultySectors(ids)) if !ids.is_empty() => ids.clone(),
                    _ => {
                        return Err(ProvingError::Proof {
                            what,
                            message: format!("{e:#}"),
                        })
                    }
                };
                for id in faulty {
                    if replicas.remove(&id).is_some() {
                        skipped.push(SkippedSector {
                            number: SectorNumber(u64::from(id)),
                            reason: "its vanilla proof failed while proving".into(),
                        });
                    } else {
                        return Err(ProvingError::Proof {
                            what,
                            message: format!("the prover reported unknown faulty sector {id}"),
                        });
                    }
                }
            }
        }
    }
}

/// Checks a WindowPoSt (blocking). No sectors and no proofs is valid
/// (everything was skipped); a malformed proof is `Ok(false)`.
pub(crate) fn verify(info: &WindowPoStVerifyInfo) -> Result<bool, VerifyError> {
    let seal = one_seal_proof(info.sectors.iter().map(|s| s.seal_proof)).map_err(VerifyError)?;
    let Some(seal) = seal else {
        return Ok(info.proofs.is_empty());
    };
    let [proof] = info.proofs.as_slice() else {
        return Ok(false);
    };
    let post = from_chain_id(proof.post_proof, seal, PoStKind::Window)
        .map_err(|e| VerifyError(e.to_string()))?;
    let replicas = public_replicas(&info.sectors, post);
    let randomness = post_randomness(&info.randomness);
    match verify_window_post(
        &randomness,
        &[(post, proof.proof.as_slice())],
        &replicas,
        info.miner.prover_id(),
    ) {
        Ok(valid) => Ok(valid),
        Err(e) => {
            tracing::debug!(error = %format!("{e:#}"), "WindowPoSt rejected by the verifier");
            Ok(false)
        }
    }
}
