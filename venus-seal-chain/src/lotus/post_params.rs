//! CBOR parameters of the proving methods of the miner actor
//! (`SubmitWindowedPoSt`, `DeclareFaults`, `DeclareFaultsRecovered`,
//! `ProveReplicaUpdates3`), with our own copies of the builtin-actor v17
//! types ([`actor_types`](super::actor_types)).

use super::actor_types::{
    DeclareFaultsParams, DeclareFaultsRecoveredParams, FaultDeclaration,
    PoStPartition as ActorPartition, ProveReplicaUpdates3Params, RecoveryDeclaration,
    SectorUpdateManifest, SubmitWindowedPoStParams, TerminationDeclaration,
};
use fvm_ipld_bitfield::BitField;
use fvm_ipld_encoding::RawBytes;
use fvm_shared::randomness::Randomness;
use fvm_shared::sector::{PoStProof, RegisteredPoStProof, RegisteredSealProof};
use venus_seal_core::chain::{ReplicaUpdateParams, SectorsDeclaration, WindowPoStSubmission};
use venus_seal_core::error::ChainError;
use venus_seal_core::SectorNumber;

/// Miner actor method `SubmitWindowedPoSt`.
pub const METHOD_SUBMIT_WINDOWED_POST: u64 = 5;
/// Miner actor method `DeclareFaults`.
pub const METHOD_DECLARE_FAULTS: u64 = 10;
/// Miner actor method `DeclareFaultsRecovered`.
pub const METHOD_DECLARE_FAULTS_RECOVERED: u64 = 11;
/// Miner actor method `ProveReplicaUpdates3`.
pub const METHOD_PROVE_REPLICA_UPDATES3: u64 = 35;

/// `sectors` as an RLE+ bitfield (empty if a number is past the
/// bitfield's range, which no sector number is).
pub(super) fn bitfield(sectors: &[SectorNumber]) -> BitField {
    BitField::try_from_bits(sectors.iter().map(|n| n.0)).unwrap_or_default()
}

/// The actor types declaring sectors of one partition, each made from
/// the core's [`SectorsDeclaration`] with its sectors as a bitfield.
macro_rules! from_sectors_declaration {
    ($($t:ident),*) => {$(
        impl From<&SectorsDeclaration> for $t {
            fn from(d: &SectorsDeclaration) -> Self {
                Self {
                    deadline: d.deadline,
                    partition: d.partition,
                    sectors: bitfield(&d.sectors),
                }
            }
        }
    )*};
}

from_sectors_declaration!(
    FaultDeclaration,
    RecoveryDeclaration,
    TerminationDeclaration
);

/// The actor-typed `SubmitWindowedPoSt` parameters.
pub fn submit_windowed_post_params(sub: &WindowPoStSubmission) -> SubmitWindowedPoStParams {
    SubmitWindowedPoStParams {
        deadline: sub.deadline,
        partitions: sub
            .partitions
            .iter()
            .map(|p| ActorPartition {
                index: p.index,
                skipped: bitfield(&p.skipped),
            })
            .collect(),
        proofs: sub
            .proofs
            .iter()
            .map(|p| PoStProof {
                post_proof: RegisteredPoStProof::from(p.post_proof),
                proof_bytes: p.proof.clone(),
            })
            .collect(),
        chain_commit_epoch: sub.chain_commit_epoch,
        chain_commit_rand: Randomness(sub.chain_commit_rand.0.to_vec()),
    }
}

/// The actor-typed `DeclareFaults` parameters.
pub fn declare_faults_params(decls: &[SectorsDeclaration]) -> DeclareFaultsParams {
    DeclareFaultsParams {
        faults: decls.iter().map(FaultDeclaration::from).collect(),
    }
}

/// The actor-typed `DeclareFaultsRecovered` parameters.
pub fn declare_recovered_params(decls: &[SectorsDeclaration]) -> DeclareFaultsRecoveredParams {
    DeclareFaultsRecoveredParams {
        recoveries: decls.iter().map(RecoveryDeclaration::from).collect(),
    }
}

/// The actor-typed `ProveReplicaUpdates3` parameters: one proof per
/// sector, no aggregate, each sector's pieces as activation manifests (a
/// chain deal notifies the market actor, an allocation is claimed, as for
/// `ProveCommitSectors3`).
pub fn prove_replica_updates3_params(
    updates: &[ReplicaUpdateParams],
) -> Result<ProveReplicaUpdates3Params, ChainError> {
    let first = updates
        .first()
        .ok_or_else(|| ChainError::Rejected("ProveReplicaUpdates3 with no updates".into()))?;
    if let Some(other) = updates.iter().find(|u| u.seal_proof != first.seal_proof) {
        return Err(ChainError::Rejected(format!(
            "one ProveReplicaUpdates3 message carries one proof type: {} and {}",
            first.seal_proof, other.seal_proof
        )));
    }
    let update_proofs_type = RegisteredSealProof::from(first.seal_proof.id())
        .registered_update_proof()
        .map_err(|e| ChainError::Rejected(format!("{}: {e}", first.seal_proof)))?;
    Ok(ProveReplicaUpdates3Params {
        sector_updates: updates
            .iter()
            .map(|u| SectorUpdateManifest {
                sector: u.sector_number.0,
                deadline: u.deadline,
                partition: u.partition,
                new_sealed_cid: u.new_sealed_cid.to_cid(),
                pieces: super::params::piece_manifests(&u.pieces),
            })
            .collect(),
        sector_proofs: updates
            .iter()
            .map(|u| RawBytes::new(u.proof.clone()))
            .collect(),
        aggregate_proof: RawBytes::default(),
        update_proofs_type,
        aggregate_proof_type: None,
        require_activation_success: true,
        require_notification_success: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use fvm_shared::piece::PaddedPieceSize;
    use venus_seal_core::chain::PoStPartition;
    use venus_seal_core::manager::DealInfo;
    use venus_seal_core::proving::PoStProof as CorePoStProof;
    use venus_seal_core::{CommD, CommR, PaddedPieceSize as Size, PieceInfo, SealProof};
    #[test]
    fn window_post_params_round_trip_through_cbor() {
        let sub = WindowPoStSubmission {
            deadline: 3,
            partitions: vec![PoStPartition {
                index: 1,
                skipped: vec![SectorNumber(5), SectorNumber(9)],
            }],
            proofs: vec![CorePoStProof {
                post_proof: 10,
                proof: vec![7; 192],
            }],
            chain_commit_epoch: 1234,
            chain_commit_rand: venus_seal_core::Randomness([3; 32]),
        };
        let bytes = fvm_ipld_encoding::to_vec(&submit_windowed_post_params(&sub)).unwrap();
        let back: SubmitWindowedPoStParams = fvm_ipld_encoding::from_slice(&bytes).unwrap();
        assert_eq!(back.deadline, 3);
        assert_eq!(back.partitions[0].index, 1);
        assert_eq!(
            back.partitions[0].skipped.iter().collect::<Vec<_>>(),
            vec![5, 9]
        );
        assert_eq!(
            back.proofs[0].post_proof,
            RegisteredPoStProof::StackedDRGWindow2KiBV1P1
        );
        assert_eq!(back.chain_commit_rand.0, vec![3; 32]);
    }

    #[test]
    fn replica_update_params_carry_the_update_proof_type_and_pieces() {
        let u = ReplicaUpdateParams {
            sector_number: SectorNumber(4),
            seal_proof: SealProof::StackedDrg2KiBV1_1,
            deadline: 0,
            partition: 0,
            new_sealed_cid: CommR([1; 32]),
            new_unsealed_cid: CommD([2; 32]),
            pieces: vec![DealInfo::new(
                7,
                PieceInfo {
                    size: Size(2048),
                    cid: CommD([2; 32]),
                },
            )],
            proof: vec![9; 192],
        };
        let p = prove_replica_updates3_params(&[u]).unwrap();
        assert_eq!(
            p.update_proofs_type,
            fvm_shared::sector::RegisteredUpdateProof::StackedDRG2KiBV1
        );
        assert_eq!(p.sector_updates[0].pieces[0].size, PaddedPieceSize(2048));
        // The deal is activated with the update: the market actor is told.
        assert_eq!(p.sector_updates[0].pieces[0].notify.len(), 1);
        fvm_ipld_encoding::to_vec(&p).unwrap();
        assert!(prove_replica_updates3_params(&[]).is_err());
        let decls = [SectorsDeclaration {
            deadline: 1,
            partition: 0,
            sectors: vec![SectorNumber(3)],
        }];
        fvm_ipld_encoding::to_vec(&declare_faults_params(&decls)).unwrap();
        fvm_ipld_encoding::to_vec(&declare_recovered_params(&decls)).unwrap();
    }
}
