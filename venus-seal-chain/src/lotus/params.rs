//! CBOR parameters of miner-actor messages, encoded with our own copies of
//! the builtin-actor v17 miner types ([`actor_types`](super::actor_types)).

use super::actor_types::{
    CompactCommD, DataActivationNotification, PieceActivationManifest, PreCommitSectorBatchParams2,
    ProveCommitSectors3Params, ProveCommitSectorsNIParams, SectorActivationManifest,
    SectorNIActivationInfo, SectorPreCommitInfo, VerifiedAllocationKey,
};
use fvm_ipld_encoding::RawBytes;
use fvm_shared::address::Address;
use fvm_shared::piece::PaddedPieceSize;
use fvm_shared::sector::{RegisteredAggregateProof, RegisteredSealProof};
use venus_seal_core::chain::{
    AggregateProveCommit, MinerCall, NiProveCommit, PreCommitParams, ProveCommitParams,
};
use venus_seal_core::error::ChainError;
use venus_seal_core::manager::DealInfo;

use super::{lifecycle_params, post_params};

/// Miner actor method `PreCommitSectorBatch2`.
pub const METHOD_PRE_COMMIT_SECTOR_BATCH2: u64 = 28;
/// Miner actor method `ProveCommitSectors3`.
pub const METHOD_PROVE_COMMIT_SECTORS3: u64 = 34;
/// Miner actor method `ProveCommitSectorsNI`.
pub const METHOD_PROVE_COMMIT_SECTORS_NI: u64 = 36;

/// The actor-typed `ProveCommitSectorsNI` parameters of `ni` from miner
/// `miner`: each sector sealed under its own number by this miner, one
/// SnarkPack v2 aggregate, every activation required.
pub fn prove_commit_sectors_ni_params(
    miner: venus_seal_core::ActorId,
    ni: &NiProveCommit,
) -> ProveCommitSectorsNIParams {
    ProveCommitSectorsNIParams {
        sectors: ni
            .sectors
            .iter()
            .map(|s| SectorNIActivationInfo {
                sealing_number: s.number.0,
                sealer_id: miner.0,
                sealed_cid: s.sealed_cid.to_cid(),
                sector_number: s.number.0,
                seal_rand_epoch: s.seal_rand_epoch,
                expiration: s.expiration,
            })
            .collect(),
        aggregate_proof: RawBytes::new(ni.aggregate_proof.clone()),
        seal_proof_type: RegisteredSealProof::from(ni.seal_proof.id()),
        aggregate_proof_type: RegisteredAggregateProof::SnarkPackV2,
        proving_deadline: ni.proving_deadline,
        require_activation_success: true,
    }
}

/// The market actor (`f05`), notified of the deals a sector activates.
pub const MARKET_ACTOR: u64 = 5;

/// One sector as `PreCommitSectorBatch2` carries it to the chain, the way
/// the `ProveCommitSectors3` path needs it (the actors refuse pre-committed
/// deals there: "new onboarding entry point does not allow pre-committed
/// deals"):
///
/// * no deal ids: deals are activated by the proof's piece manifests;
/// * the CommD for a sector with data, none for a committed-capacity
///   sector (zero CommD): the actors compare it with the CommD computed
///   from the manifests, which is empty without pieces.
pub fn sector_pre_commit_info(s: &PreCommitParams) -> SectorPreCommitInfo {
    let unsealed_cid = if s.unsealed_cid == super::zero_comm_d(s.seal_proof) {
        CompactCommD::empty()
    } else {
        CompactCommD::of(s.unsealed_cid.to_cid())
    };
    SectorPreCommitInfo {
        seal_proof: RegisteredSealProof::from(s.seal_proof.id()),
        sector_number: s.sector_number.0,
        sealed_cid: s.sealed_cid.to_cid(),
        seal_rand_epoch: s.seal_rand_epoch,
        deal_ids: Vec::new(),
        expiration: s.expiration,
        unsealed_cid,
    }
}

/// The actor-typed `PreCommitSectorBatch2` parameters of `sectors` (see
/// [`sector_pre_commit_info`]).
pub fn pre_commit_batch2_params(sectors: &[PreCommitParams]) -> PreCommitSectorBatchParams2 {
    PreCommitSectorBatchParams2 {
        sectors: sectors.iter().map(sector_pre_commit_info).collect(),
    }
}

/// The piece manifests activating `pieces` (in sector order): each piece
/// by its commitment and padded size; a piece with a FIL+ allocation
/// claims it (`verified_allocation_key`), which makes its space verified;
/// a piece of a chain deal notifies the market actor with the CBOR deal
/// id, which activates the deal. A direct (DDO) deal is an allocation
/// without a deal id: claimed, nobody notified. This is what Lotus and
/// damocles send on this path.
pub fn piece_manifests(pieces: &[DealInfo]) -> Vec<PieceActivationManifest> {
    pieces
        .iter()
        .map(|deal| PieceActivationManifest {
            cid: deal.piece.cid.to_cid(),
            size: PaddedPieceSize(deal.piece.size.0),
            verified_allocation_key: deal.allocation.map(|k| VerifiedAllocationKey {
                client: k.client.0,
                id: k.id,
            }),
            notify: if deal.id == 0 {
                Vec::new()
            } else {
                vec![DataActivationNotification {
                    address: Address::new_id(MARKET_ACTOR),
                    payload: RawBytes::serialize(deal.id).expect("a u64 always encodes as CBOR"),
                }]
            },
        })
        .collect()
}

/// The actor-typed `ProveCommitSectors3` parameters of `sectors`: one proof
/// per sector, no aggregate, each sector's pieces as its manifest,
/// activation and notification success required.
pub fn prove_commit_sectors3_params(sectors: &[ProveCommitParams]) -> ProveCommitSectors3Params {
    ProveCommitSectors3Params {
        sector_activations: sectors
            .iter()
            .map(|s| SectorActivationManifest {
                sector_number: s.sector_number.0,
                pieces: piece_manifests(&s.pieces),
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
/// per-sector proofs, one SnarkPackV2 aggregate proof, each sector's
/// pieces as its manifest.
pub fn prove_commit_aggregate_params(agg: &AggregateProveCommit) -> ProveCommitSectors3Params {
    ProveCommitSectors3Params {
        sector_activations: agg
            .sectors
            .iter()
            .enumerate()
            .map(|(i, n)| SectorActivationManifest {
                sector_number: n.0,
                pieces: agg
                    .pieces
                    .get(i)
                    .map(|p| piece_manifests(p))
                    .unwrap_or_default(),
            })
            .collect(),
        sector_proofs: Vec::new(),
        aggregate_proof: RawBytes::new(agg.aggregate_proof.clone()),
        aggregate_proof_type: Some(RegisteredAggregateProof::SnarkPackV2),
        require_activation_success: true,
        require_notification_success: true,
    }
}

/// The method number and CBOR parameters of `call` sent to miner
/// `miner` (`ProveCommitSectorsNI` names the sealer; every other call is
/// [`encode_call`]'s).
pub fn encode_miner_call(
    miner: venus_seal_core::ActorId,
    call: &MinerCall,
) -> Result<(u64, Vec<u8>), ChainError> {
    match call {
        MinerCall::ProveCommitSectorsNI(ni) => Ok((
            METHOD_PROVE_COMMIT_SECTORS_NI,
            fvm_ipld_encoding::to_vec(&prove_commit_sectors_ni_params(miner, ni))
                .map_err(|e| ChainError::Rejected(format!("encoding ProveCommitSectorsNI: {e}")))?,
        )),
        other => encode_call(other),
    }
}

/// The miner-actor method number and CBOR parameters of `call` (not
/// `ProveCommitSectorsNI`, whose parameters name the miner: see
/// [`encode_miner_call`]).
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
        MinerCall::ExtendSectorExpiration2(e) => (
            lifecycle_params::METHOD_EXTEND_SECTOR_EXPIRATION2,
            fvm_ipld_encoding::to_vec(&lifecycle_params::extend_sector_expiration2_params(e)),
        ),
        MinerCall::TerminateSectors(t) => (
            lifecycle_params::METHOD_TERMINATE_SECTORS,
            fvm_ipld_encoding::to_vec(&lifecycle_params::terminate_sectors_params(t)),
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
