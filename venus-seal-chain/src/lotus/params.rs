//! CBOR parameters of miner-actor messages, encoded with the published
//! builtin-actor types (`fil_actor_miner_state`, the v17 miner types).

use fil_actor_miner_state::v17::{
    CompactCommD, PreCommitSectorBatchParams2, ProveCommitSectors3Params, SectorActivationManifest,
    SectorPreCommitInfo,
};
use fvm_ipld_encoding::RawBytes;
use fvm_shared::sector::{RegisteredAggregateProof, RegisteredSealProof};
use venus_seal_core::chain::{AggregateProveCommit, MinerCall, PreCommitParams, ProveCommitParams};
use venus_seal_core::error::ChainError;

use super::post_params;

/// Miner actor method `PreCommitSectorBatch2`.
pub const METHOD_PRE_COMMIT_SECTOR_BATCH2: u64 = 28;
/// Miner actor method `ProveCommitSectors3`.
pub const METHOD_PROVE_COMMIT_SECTORS3: u64 = 34;

/// The actor-typed `PreCommitSectorBatch2` parameters of `sectors`.
pub fn pre_commit_batch2_params(sectors: &[PreCommitParams]) -> PreCommitSectorBatchParams2 {
    PreCommitSectorBatchParams2 {
        sectors: sectors
            .iter()
            .map(|s| SectorPreCommitInfo {
                seal_proof: RegisteredSealProof::from(s.seal_proof.id()),
                sector_number: s.sector_number.0,
                sealed_cid: s.sealed_cid.to_cid(),
                seal_rand_epoch: s.seal_rand_epoch,
                deal_ids: s.deal_ids.clone(),
                expiration: s.expiration,
                unsealed_cid: CompactCommD::new(Some(s.unsealed_cid.to_cid())),
            })
            .collect(),
    }
}

/// The actor-typed `ProveCommitSectors3` parameters of `sectors`: one proof
/// per sector, no aggregate, no piece manifests (CC or legacy-deal
/// sectors), activation and notification success required.
pub fn prove_commit_sectors3_params(sectors: &[ProveCommitParams]) -> ProveCommitSectors3Params {
    ProveCommitSectors3Params {
        sector_activations: sectors
            .iter()
            .map(|s| SectorActivationManifest {
                sector_number: s.sector_number.0,
                pieces: Vec::new(),
            })
            .collect(),
        sector_proofs: sectors
            .iter()
            .map(|s| RawBytes::new(s.proof.proof.clone()))
            .collect(),
        aggregate_proof: RawBytes::default(),
        aggregate_proof_type: None,
        require_activation_success: true,
        require_notification_success: true,
    }
}

/// The actor-typed `ProveCommitSectors3` parameters of an aggregate: no
/// per-sector proofs, one SnarkPackV2 aggregate proof.
pub fn prove_commit_aggregate_params(agg: &AggregateProveCommit) -> ProveCommitSectors3Params {
    ProveCommitSectors3Params {
        sector_activations: agg
            .sectors
            .iter()
            .map(|n| SectorActivationManifest {
                sector_number: n.0,
                pieces: Vec::new(),
            })
            .collect(),
        sector_proofs: Vec::new(),
        aggregate_proof: RawBytes::new(agg.aggregate_proof.clone()),
        aggregate_proof_type: Some(RegisteredAggregateProof::SnarkPackV2),
        require_activation_success: true,
        require_notification_success: true,
    }
}

/// The miner-actor method number and CBOR parameters of `call`.
pub fn encode_call(call: &MinerCall) -> Result<(u64, Vec<u8>), ChainError> {
    let encoded = match call {
        MinerCall::PreCommitSectorBatch2(sectors) => (
            METHOD_PRE_COMMIT_SECTOR_BATCH2,
            fvm_ipld_encoding::to_vec(&pre_commit_batch2_params(sectors)),
        ),
        MinerCall::ProveCommitSectors3(sectors) => (
            METHOD_PROVE_COMMIT_SECTORS3,
            fvm_ipld_encoding::to_vec(&prove_commit_sectors3_params(sectors)),
        ),
        MinerCall::ProveCommitAggregate(agg) => (
            METHOD_PROVE_COMMIT_SECTORS3,
            fvm_ipld_encoding::to_vec(&prove_commit_aggregate_params(agg)),
        ),
        MinerCall::SubmitWindowedPoSt(sub) => (
            post_params::METHOD_SUBMIT_WINDOWED_POST,
            fvm_ipld_encoding::to_vec(&post_params::submit_windowed_post_params(sub)),
        ),
        MinerCall::DeclareFaults(d) => (
            post_params::METHOD_DECLARE_FAULTS,
            fvm_ipld_encoding::to_vec(&post_params::declare_faults_params(d)),
        ),
        MinerCall::DeclareFaultsRecovered(d) => (
            post_params::METHOD_DECLARE_FAULTS_RECOVERED,
            fvm_ipld_encoding::to_vec(&post_params::declare_recovered_params(d)),
        ),
        MinerCall::ProveReplicaUpdates3(u) => (
            post_params::METHOD_PROVE_REPLICA_UPDATES3,
            fvm_ipld_encoding::to_vec(&post_params::prove_replica_updates3_params(u)?),
        ),
        #[allow(unreachable_patterns)]
        other => {
            return Err(ChainError::Rejected(format!(
                "miner call {other:?} is not supported by this client"
            )))
        }
    };
    let (method, bytes) = encoded;
    let bytes = bytes
        .map_err(|e| ChainError::Rejected(format!("cannot CBOR-encode method {method}: {e}")))?;
    Ok((method, bytes))
}
