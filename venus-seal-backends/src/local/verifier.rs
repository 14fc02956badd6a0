//! Seal verification on filecoin-proofs-api.

use filecoin_proofs_api::seal::{
    aggregate_seal_commit_proofs, get_seal_inputs, verify_aggregate_seal_commit_proofs,
    verify_seal, SealCommitPhase2Output,
};
use filecoin_proofs_api::RegisteredAggregationProof;
use venus_seal_core::proving::{
    ReplicaUpdateVerifyInfo, WindowPoStVerifyInfo, WinningPoStVerifyInfo,
};
use venus_seal_core::{ActorId, ProofVerifier, Randomness, SealProof, SealVerifyInfo, VerifyError};

use std::sync::Arc;

use crate::params::ParameterCache;
use crate::proof_type::{ids, to_api};
use crate::proving;

/// Verifies seal proofs with filecoin-proofs-api (needs the proof type's
/// verifying key in the parameter cache).
///
/// Built [`with_parameters`](Self::with_parameters), it first checks the
/// verifying key is there, so a missing key is an error rather than a
/// proof that "does not verify".
#[derive(Debug, Clone, Default)]
pub struct LocalProofVerifier {
    params: Option<Arc<ParameterCache>>,
}

impl LocalProofVerifier {
    /// A verifier that checks `cache` holds the verifying key first.
    pub fn with_parameters(cache: Arc<ParameterCache>) -> Self {
        Self {
            params: Some(cache),
        }
    }
}

impl ProofVerifier for LocalProofVerifier {
    fn verify_seal(&self, info: &SealVerifyInfo) -> Result<bool, VerifyError> {
        if let Some(params) = &self.params {
            let files = params
                .seal_files(info.proof_type)
                .map_err(|e| VerifyError(e.to_string()))?;
            if !files.vk.exists() {
                return Err(VerifyError(format!(
                    "the verifying key for {} is missing: {}",
                    info.proof_type,
                    files.vk.display()
                )));
            }
            // A non-interactive proof is an aggregate: verified with the
            // SRS, whose absence would read as "does not verify".
            if info.proof_type.is_non_interactive() && !params.srs_file().exists() {
                return Err(VerifyError(format!(
                    "the aggregation SRS a non-interactive {} proof is verified with is missing: {}",
                    info.proof_type,
                    params.srs_file().display()
                )));
            }
        }
        let (prover_id, sector_id) = ids(info.sector.miner, info.sector.number);
        // A malformed proof makes the library error rather than answer
        // false: for a verifier both mean "does not verify".
        match verify_seal(
            to_api(info.proof_type),
            info.comm_r.0,
            info.comm_d.0,
            prover_id,
            sector_id,
            info.ticket.0,
            info.seed.0,
            &info.proof,
        ) {
            Ok(valid) => Ok(valid),
            Err(e) => {
                tracing::debug!(error = %format!("{e:#}"), "proof rejected by the verifier");
                Ok(false)
            }
        }
    }

    /// SnarkPackV2 over `infos` (ascending sector numbers, one proof type).
    /// Needs the SRS file in the parameter cache (see
    /// [`ParameterCache::ensure_aggregation`]).
    fn aggregate_seal_proofs(&self, infos: &[SealVerifyInfo]) -> Result<Vec<u8>, VerifyError> {
        let proof_type = same_proof_type(infos)?;
        let comm_rs: Vec<[u8; 32]> = infos.iter().map(|i| i.comm_r.0).collect();
        let seeds: Vec<[u8; 32]> = infos.iter().map(|i| i.seed.0).collect();
        let outputs: Vec<SealCommitPhase2Output> = infos
            .iter()
            .map(|i| SealCommitPhase2Output {
                proof: i.proof.clone(),
            })
            .collect();
        aggregate_seal_commit_proofs(
            to_api(proof_type),
            RegisteredAggregationProof::SnarkPackV2,
            &comm_rs,
            &seeds,
            &outputs,
        )
        .map_err(|e| VerifyError(format!("aggregating {} seal proofs: {e:#}", infos.len())))
    }

    fn verify_aggregate_seal(
        &self,
        infos: &[SealVerifyInfo],
        aggregate: &[u8],
    ) -> Result<bool, VerifyError> {
        let proof_type = same_proof_type(infos)?;
        let mut inputs = Vec::new();
        for info in infos {
            let (prover_id, sector_id) = ids(info.sector.miner, info.sector.number);
            let sector_inputs = get_seal_inputs(
                to_api(proof_type),
                info.comm_r.0,
                info.comm_d.0,
                prover_id,
                sector_id,
                info.ticket.0,
                info.seed.0,
            )
            .map_err(|e| VerifyError(format!("public inputs of {}: {e:#}", info.sector)))?;
            inputs.extend(sector_inputs);
        }
        let comm_rs: Vec<[u8; 32]> = infos.iter().map(|i| i.comm_r.0).collect();
        let seeds: Vec<[u8; 32]> = infos.iter().map(|i| i.seed.0).collect();
        match verify_aggregate_seal_commit_proofs(
            to_api(proof_type),
            RegisteredAggregationProof::SnarkPackV2,
            aggregate.to_vec(),
            &comm_rs,
            &seeds,
            inputs,
        ) {
            Ok(valid) => Ok(valid),
            Err(e) => {
                tracing::debug!(error = %format!("{e:#}"), "aggregate rejected by the verifier");
                Ok(false)
            }
        }
    }

    fn verify_window_post(&self, info: &WindowPoStVerifyInfo) -> Result<bool, VerifyError> {
        proving::verify_window_post(info)
    }

    fn winning_post_challenge(
        &self,
        seal_proof: SealProof,
        miner: ActorId,
        randomness: &Randomness,
        eligible: u64,
    ) -> Result<Vec<u64>, VerifyError> {
        proving::winning_challenge(seal_proof, miner, randomness, eligible)
            .map_err(|e| VerifyError(format!("WinningPoSt challenge of {miner}: {e:#}")))
    }

    fn verify_winning_post(&self, info: &WinningPoStVerifyInfo) -> Result<bool, VerifyError> {
        proving::verify_winning_post(info)
    }

    fn verify_replica_update(&self, info: &ReplicaUpdateVerifyInfo) -> Result<bool, VerifyError> {
        proving::verify_replica_update(info)
    }
}

/// The one proof type of `infos`.
fn same_proof_type(infos: &[SealVerifyInfo]) -> Result<venus_seal_core::SealProof, VerifyError> {
    let first = infos
        .first()
        .ok_or_else(|| VerifyError("no proofs to aggregate".into()))?
        .proof_type;
    if infos.iter().any(|i| i.proof_type != first) {
        return Err(VerifyError(
            "an aggregate covers one seal proof type only".into(),
        ));
    }
    Ok(first)
}
