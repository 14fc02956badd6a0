//! Our miner-actor wire types (`lotus::actor_types`) against the published
//! builtin-actor types (`fil_actor_miner_state` 27.2, v17, a
//! dev-dependency only): for every type, a value and its field-by-field
//! copy in the published type encode to the same CBOR bytes, and each
//! side decodes the other's bytes back to the same value. The copies are
//! struct literals, so a field the published type gains or loses fails to
//! compile here.

use std::fmt::Debug;

use cid::Cid;
use fil_actor_miner_state::v17 as published;
use fvm_ipld_bitfield::BitField;
use fvm_ipld_encoding::RawBytes;
use fvm_shared::address::Address;
use fvm_shared::commcid::{data_commitment_v1_to_cid, replica_commitment_v1_to_cid};
use fvm_shared::piece::PaddedPieceSize;
use fvm_shared::randomness::Randomness;
use fvm_shared::sector::{
    PoStProof, RegisteredAggregateProof, RegisteredPoStProof, RegisteredSealProof,
    RegisteredUpdateProof,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use venus_seal_chain::lotus::actor_types as ours;

/// Same bytes, and each side decodes the other's: `ours` back to equal,
/// `theirs` back to the same bytes (not every published type is
/// `PartialEq`).
fn assert_same_wire<O, P>(ours: &O, theirs: &P)
where
    O: Serialize + DeserializeOwned + PartialEq + Debug,
    P: Serialize + DeserializeOwned,
{
    let ours_bytes = fvm_ipld_encoding::to_vec(ours).unwrap();
    let their_bytes = fvm_ipld_encoding::to_vec(theirs).unwrap();
    assert_eq!(
        hex::encode(&ours_bytes),
        hex::encode(&their_bytes),
        "{ours:?}"
    );
    let decoded: O = fvm_ipld_encoding::from_slice(&their_bytes).unwrap();
    assert_eq!(&decoded, ours);
    let decoded: P = fvm_ipld_encoding::from_slice(&ours_bytes).unwrap();
    assert_eq!(fvm_ipld_encoding::to_vec(&decoded).unwrap(), their_bytes);
}

fn comm_d(b: u8) -> Cid {
    data_commitment_v1_to_cid(&[b; 32]).unwrap()
}

fn comm_r(b: u8) -> Cid {
    replica_commitment_v1_to_cid(&[b; 32]).unwrap()
}

fn bits(sectors: &[u64]) -> BitField {
    BitField::try_from_bits(sectors.iter().copied()).unwrap()
}

// Field-by-field copies into the published types.

fn commd(c: &ours::CompactCommD) -> published::CompactCommD {
    published::CompactCommD(c.0)
}

fn pre_commit_info(s: &ours::SectorPreCommitInfo) -> published::SectorPreCommitInfo {
    published::SectorPreCommitInfo {
        seal_proof: s.seal_proof,
        sector_number: s.sector_number,
        sealed_cid: s.sealed_cid,
        seal_rand_epoch: s.seal_rand_epoch,
        deal_ids: s.deal_ids.clone(),
        expiration: s.expiration,
        unsealed_cid: commd(&s.unsealed_cid),
    }
}

fn piece(p: &ours::PieceActivationManifest) -> published::PieceActivationManifest {
    published::PieceActivationManifest {
        cid: p.cid,
        size: p.size,
        verified_allocation_key: p.verified_allocation_key.as_ref().map(|k| {
            published::VerifiedAllocationKey {
                client: k.client,
                id: k.id,
            }
        }),
        notify: p
            .notify
            .iter()
            .map(|n| published::DataActivationNotification {
                address: n.address,
                payload: n.payload.clone(),
            })
            .collect(),
    }
}

fn activation(s: &ours::SectorActivationManifest) -> published::SectorActivationManifest {
    published::SectorActivationManifest {
        sector_number: s.sector_number,
        pieces: s.pieces.iter().map(piece).collect(),
    }
}

fn prove_commit(p: &ours::ProveCommitSectors3Params) -> published::ProveCommitSectors3Params {
    published::ProveCommitSectors3Params {
        sector_activations: p.sector_activations.iter().map(activation).collect(),
        sector_proofs: p.sector_proofs.clone(),
        aggregate_proof: p.aggregate_proof.clone(),
        aggregate_proof_type: p.aggregate_proof_type,
        require_activation_success: p.require_activation_success,
        require_notification_success: p.require_notification_success,
    }
}

fn partition(p: &ours::PoStPartition) -> published::PoStPartition {
    published::PoStPartition {
        index: p.index,
        skipped: p.skipped.clone(),
    }
}

fn window_post(p: &ours::SubmitWindowedPoStParams) -> published::SubmitWindowedPoStParams {
    published::SubmitWindowedPoStParams {
        deadline: p.deadline,
        partitions: p.partitions.iter().map(partition).collect(),
        proofs: p.proofs.clone(),
        chain_commit_epoch: p.chain_commit_epoch,
        chain_commit_rand: p.chain_commit_rand.clone(),
    }
}

fn fault(f: &ours::FaultDeclaration) -> published::FaultDeclaration {
    published::FaultDeclaration {
        deadline: f.deadline,
        partition: f.partition,
        sectors: f.sectors.clone(),
    }
}

fn recovery(r: &ours::RecoveryDeclaration) -> published::RecoveryDeclaration {
    published::RecoveryDeclaration {
        deadline: r.deadline,
        partition: r.partition,
        sectors: r.sectors.clone(),
    }
}

fn update(u: &ours::SectorUpdateManifest) -> published::SectorUpdateManifest {
    published::SectorUpdateManifest {
        sector: u.sector,
        deadline: u.deadline,
        partition: u.partition,
        new_sealed_cid: u.new_sealed_cid,
        pieces: u.pieces.iter().map(piece).collect(),
    }
}

fn replica_updates(p: &ours::ProveReplicaUpdates3Params) -> published::ProveReplicaUpdates3Params {
    published::ProveReplicaUpdates3Params {
        sector_updates: p.sector_updates.iter().map(update).collect(),
        sector_proofs: p.sector_proofs.clone(),
        aggregate_proof: p.aggregate_proof.clone(),
        update_proofs_type: p.update_proofs_type,
        aggregate_proof_type: p.aggregate_proof_type,
        require_activation_success: p.require_activation_success,
        require_notification_success: p.require_notification_success,
    }
}

// Sample values: every optional field both ways, lists empty and not.

fn pieces() -> Vec<ours::PieceActivationManifest> {
    vec![
        ours::PieceActivationManifest {
            cid: comm_d(3),
            size: PaddedPieceSize(512),
            verified_allocation_key: Some(ours::VerifiedAllocationKey {
                client: 1001,
                id: 77,
            }),
            notify: vec![
                ours::DataActivationNotification {
                    address: Address::new_id(5),
                    payload: RawBytes::serialize(7u64).unwrap(),
                },
                ours::DataActivationNotification {
                    address: Address::new_id(6),
                    payload: RawBytes::default(),
                },
            ],
        },
        ours::PieceActivationManifest {
            cid: comm_d(4),
            size: PaddedPieceSize(256),
            verified_allocation_key: None,
            notify: Vec::new(),
        },
    ]
}

fn pre_commits() -> Vec<ours::SectorPreCommitInfo> {
    vec![
        ours::SectorPreCommitInfo {
            seal_proof: RegisteredSealProof::StackedDRG32GiBV1P1,
            sector_number: 9,
            sealed_cid: comm_r(1),
            seal_rand_epoch: 10101,
            deal_ids: vec![5432, 1],
            expiration: 20202,
            unsealed_cid: ours::CompactCommD::of(comm_d(2)),
        },
        ours::SectorPreCommitInfo {
            seal_proof: RegisteredSealProof::StackedDRG2KiBV1P1_Feat_SyntheticPoRep,
            sector_number: u64::MAX,
            sealed_cid: comm_r(5),
            seal_rand_epoch: -1,
            deal_ids: Vec::new(),
            expiration: 1,
            unsealed_cid: ours::CompactCommD::empty(),
        },
    ]
}

#[test]
fn compact_comm_d_is_a_transparent_option() {
    for c in [
        ours::CompactCommD::empty(),
        ours::CompactCommD::of(comm_d(2)),
    ] {
        assert_same_wire(&c, &commd(&c));
    }
    // None is CBOR null, not an empty array.
    assert_eq!(
        fvm_ipld_encoding::to_vec(&ours::CompactCommD::empty()).unwrap(),
        [0xf6]
    );
}

#[test]
fn pre_commit_batch2_matches_the_published_types() {
    for s in pre_commits() {
        assert_same_wire(&s, &pre_commit_info(&s));
    }
    for sectors in [pre_commits(), Vec::new()] {
        let ours = ours::PreCommitSectorBatchParams2 { sectors };
        let theirs = published::PreCommitSectorBatchParams2 {
            sectors: ours.sectors.iter().map(pre_commit_info).collect(),
        };
        assert_same_wire(&ours, &theirs);
    }
}

#[test]
fn prove_commit_sectors3_matches_the_published_types() {
    for p in pieces() {
        assert_same_wire(&p, &piece(&p));
        for n in &p.notify {
            let theirs = published::DataActivationNotification {
                address: n.address,
                payload: n.payload.clone(),
            };
            assert_same_wire(n, &theirs);
        }
        if let Some(k) = &p.verified_allocation_key {
            let theirs = published::VerifiedAllocationKey {
                client: k.client,
                id: k.id,
            };
            assert_same_wire(k, &theirs);
        }
    }
    let activations = vec![
        ours::SectorActivationManifest {
            sector_number: 1,
            pieces: pieces(),
        },
        ours::SectorActivationManifest {
            sector_number: 2,
            pieces: Vec::new(),
        },
    ];
    for a in &activations {
        assert_same_wire(a, &activation(a));
    }
    let per_sector = ours::ProveCommitSectors3Params {
        sector_activations: activations.clone(),
        sector_proofs: vec![RawBytes::new(vec![1, 2]), RawBytes::new(vec![9; 192])],
        aggregate_proof: RawBytes::default(),
        aggregate_proof_type: None,
        require_activation_success: true,
        require_notification_success: false,
    };
    let aggregate = ours::ProveCommitSectors3Params {
        sector_activations: activations,
        sector_proofs: Vec::new(),
        aggregate_proof: RawBytes::new(vec![7; 300]),
        aggregate_proof_type: Some(RegisteredAggregateProof::SnarkPackV2),
        require_activation_success: false,
        require_notification_success: true,
    };
    for p in [per_sector, aggregate] {
        assert_same_wire(&p, &prove_commit(&p));
    }
}

#[test]
fn window_post_matches_the_published_types() {
    let partitions = vec![
        ours::PoStPartition {
            index: 1,
            skipped: bits(&[5, 9, 10, 11]),
        },
        ours::PoStPartition {
            index: 2,
            skipped: BitField::new(),
        },
    ];
    for p in &partitions {
        assert_same_wire(p, &partition(p));
    }
    let post = ours::SubmitWindowedPoStParams {
        deadline: 47,
        partitions,
        proofs: vec![PoStProof {
            post_proof: RegisteredPoStProof::StackedDRGWindow32GiBV1P1,
            proof_bytes: vec![3; 192],
        }],
        chain_commit_epoch: 1234,
        chain_commit_rand: Randomness(vec![8; 32]),
    };
    assert_same_wire(&post, &window_post(&post));
    let empty = ours::SubmitWindowedPoStParams {
        deadline: 0,
        partitions: Vec::new(),
        proofs: Vec::new(),
        chain_commit_epoch: 0,
        chain_commit_rand: Randomness::default(),
    };
    assert_same_wire(&empty, &window_post(&empty));
}

#[test]
fn fault_declarations_match_the_published_types() {
    let faults = vec![
        ours::FaultDeclaration {
            deadline: 3,
            partition: 0,
            sectors: bits(&[1, 2, 1000]),
        },
        ours::FaultDeclaration {
            deadline: 4,
            partition: 7,
            sectors: BitField::new(),
        },
    ];
    for f in &faults {
        assert_same_wire(f, &fault(f));
    }
    let recoveries: Vec<_> = faults
        .iter()
        .map(|f| ours::RecoveryDeclaration {
            deadline: f.deadline,
            partition: f.partition,
            sectors: f.sectors.clone(),
        })
        .collect();
    for r in &recoveries {
        assert_same_wire(r, &recovery(r));
    }
    for faults in [faults, Vec::new()] {
        let ours = ours::DeclareFaultsParams { faults };
        let theirs = published::DeclareFaultsParams {
            faults: ours.faults.iter().map(fault).collect(),
        };
        assert_same_wire(&ours, &theirs);
    }
    for recoveries in [recoveries, Vec::new()] {
        let ours = ours::DeclareFaultsRecoveredParams { recoveries };
        let theirs = published::DeclareFaultsRecoveredParams {
            recoveries: ours.recoveries.iter().map(recovery).collect(),
        };
        assert_same_wire(&ours, &theirs);
    }
}

#[test]
fn prove_replica_updates3_matches_the_published_types() {
    let updates = vec![
        ours::SectorUpdateManifest {
            sector: 4,
            deadline: 12,
            partition: 1,
            new_sealed_cid: comm_r(6),
            pieces: pieces(),
        },
        ours::SectorUpdateManifest {
            sector: 5,
            deadline: 0,
            partition: 0,
            new_sealed_cid: comm_r(7),
            pieces: Vec::new(),
        },
    ];
    for u in &updates {
        assert_same_wire(u, &update(u));
    }
    let per_sector = ours::ProveReplicaUpdates3Params {
        sector_updates: updates.clone(),
        sector_proofs: vec![RawBytes::new(vec![9; 192]), RawBytes::new(vec![1])],
        aggregate_proof: RawBytes::default(),
        update_proofs_type: RegisteredUpdateProof::StackedDRG32GiBV1,
        aggregate_proof_type: None,
        require_activation_success: true,
        require_notification_success: true,
    };
    let aggregate = ours::ProveReplicaUpdates3Params {
        sector_updates: updates,
        sector_proofs: Vec::new(),
        aggregate_proof: RawBytes::new(vec![4; 10]),
        update_proofs_type: RegisteredUpdateProof::StackedDRG2KiBV1,
        aggregate_proof_type: Some(RegisteredAggregateProof::SnarkPackV2),
        require_activation_success: false,
        require_notification_success: false,
    };
    for p in [per_sector, aggregate] {
        assert_same_wire(&p, &replica_updates(&p));
    }
}

fn claim(c: &ours::SectorClaim) -> published::SectorClaim {
    published::SectorClaim {
        sector_number: c.sector_number,
        maintain_claims: c.maintain_claims.clone(),
        drop_claims: c.drop_claims.clone(),
    }
}

fn extension(e: &ours::ExpirationExtension2) -> published::ExpirationExtension2 {
    published::ExpirationExtension2 {
        deadline: e.deadline,
        partition: e.partition,
        sectors: e.sectors.clone(),
        sectors_with_claims: e.sectors_with_claims.iter().map(claim).collect(),
        new_expiration: e.new_expiration,
    }
}

fn termination(t: &ours::TerminationDeclaration) -> published::TerminationDeclaration {
    published::TerminationDeclaration {
        deadline: t.deadline,
        partition: t.partition,
        sectors: t.sectors.clone(),
    }
}

#[test]
fn extend_sector_expiration2_matches_the_published_types() {
    let claims = vec![
        ours::SectorClaim {
            sector_number: 9,
            maintain_claims: vec![1, 70_000],
            drop_claims: vec![],
        },
        ours::SectorClaim {
            sector_number: 12,
            maintain_claims: vec![],
            drop_claims: vec![3],
        },
    ];
    for c in &claims {
        assert_same_wire(c, &claim(c));
    }
    let extensions = vec![
        ours::ExpirationExtension2 {
            deadline: 47,
            partition: 2,
            sectors: bits(&[1, 2, 3, 1_000_000]),
            sectors_with_claims: claims,
            new_expiration: 4_000_000,
        },
        ours::ExpirationExtension2 {
            deadline: 0,
            partition: 0,
            sectors: BitField::new(),
            sectors_with_claims: Vec::new(),
            new_expiration: 0,
        },
    ];
    for e in &extensions {
        assert_same_wire(e, &extension(e));
    }
    for extensions in [extensions, Vec::new()] {
        let ours = ours::ExtendSectorExpiration2Params { extensions };
        let theirs = published::ExtendSectorExpiration2Params {
            extensions: ours.extensions.iter().map(extension).collect(),
        };
        assert_same_wire(&ours, &theirs);
    }
    assert_eq!(
        venus_seal_chain::lotus::lifecycle_params::METHOD_EXTEND_SECTOR_EXPIRATION2,
        published::Method::ExtendSectorExpiration2 as u64
    );
}

#[test]
fn terminate_sectors_matches_the_published_types() {
    let terminations = vec![
        ours::TerminationDeclaration {
            deadline: 5,
            partition: 1,
            sectors: bits(&[8, 9, 400]),
        },
        ours::TerminationDeclaration {
            deadline: 6,
            partition: 0,
            sectors: BitField::new(),
        },
    ];
    for t in &terminations {
        assert_same_wire(t, &termination(t));
    }
    for terminations in [terminations, Vec::new()] {
        let ours = ours::TerminateSectorsParams { terminations };
        let theirs = published::TerminateSectorsParams {
            terminations: ours.terminations.iter().map(termination).collect(),
        };
        assert_same_wire(&ours, &theirs);
    }
    assert_eq!(
        venus_seal_chain::lotus::lifecycle_params::METHOD_TERMINATE_SECTORS,
        published::Method::TerminateSectors as u64
    );
}

/// The core's calls become those parameters: the sectors of each
/// partition as a bitfield, no FIL+ claims.
#[test]
fn lifecycle_calls_encode_to_the_published_params() {
    use venus_seal_chain::lotus::params::encode_call;
    use venus_seal_core::chain::{ExpirationExtension, MinerCall, SectorsDeclaration};
    use venus_seal_core::SectorNumber;

    let n = |ns: &[u64]| ns.iter().copied().map(SectorNumber).collect::<Vec<_>>();
    let (method, bytes) = encode_call(&MinerCall::ExtendSectorExpiration2(vec![
        ExpirationExtension {
            deadline: 3,
            partition: 1,
            sectors: n(&[7, 5]),
            sectors_with_claims: vec![venus_seal_core::chain::SectorClaim {
                sector_number: SectorNumber(9),
                maintain_claims: vec![70_000, 3],
                drop_claims: vec![12],
            }],
            new_expiration: 2_000_000,
        },
    ]))
    .unwrap();
    assert_eq!(method, 32);
    let theirs: published::ExtendSectorExpiration2Params =
        fvm_ipld_encoding::from_slice(&bytes).unwrap();
    let e = &theirs.extensions[0];
    assert_eq!(
        (e.deadline, e.partition, e.new_expiration),
        (3, 1, 2_000_000)
    );
    assert_eq!(e.sectors, bits(&[5, 7]));
    assert_eq!(e.sectors_with_claims.len(), 1);
    let c = &e.sectors_with_claims[0];
    assert_eq!(
        (c.sector_number, &c.maintain_claims, &c.drop_claims),
        (9, &vec![70_000, 3], &vec![12])
    );

    let (method, bytes) = encode_call(&MinerCall::TerminateSectors(vec![SectorsDeclaration {
        deadline: 4,
        partition: 0,
        sectors: n(&[9]),
    }]))
    .unwrap();
    assert_eq!(method, 9);
    let theirs: published::TerminateSectorsParams = fvm_ipld_encoding::from_slice(&bytes).unwrap();
    let t = &theirs.terminations[0];
    assert_eq!((t.deadline, t.partition), (4, 0));
    assert_eq!(t.sectors, bits(&[9]));
}

/// A sector's deal pieces, from our core types through `encode_call`,
/// decode as the published `ProveCommitSectors3Params` with each piece's
/// activation as builtin-actors reads it: a builtin-market deal notifies
/// the market actor (f05) with its CBOR deal id; a direct (DDO) deal
/// claims its FIL+ allocation (`verified_allocation_key`) and notifies no
/// one; a verified builtin-market deal does both; plain data does neither.
#[test]
fn deal_pieces_activate_as_the_published_manifests_read_them() {
    use venus_seal_chain::lotus::params::encode_call;
    use venus_seal_core::chain::{MinerCall, ProveCommitParams};
    use venus_seal_core::manager::{DealInfo, VerifiedAllocationKey};
    use venus_seal_core::stage::Proof;
    use venus_seal_core::{ActorId, PaddedPieceSize, PieceCid, PieceInfo, SectorNumber};

    let piece = |b: u8, size: u64| PieceInfo {
        size: PaddedPieceSize(size),
        cid: PieceCid::from_cid(&comm_d(b)).unwrap(),
    };
    let key = |client: u64, id: u64| VerifiedAllocationKey {
        client: ActorId(client),
        id,
    };
    let pieces = vec![
        DealInfo::new(7, piece(1, 512)),
        DealInfo::new(0, piece(2, 512)).with_allocation(key(1001, 42)),
        DealInfo::new(9, piece(3, 512)).with_allocation(key(1002, 3)),
        DealInfo::new(0, piece(4, 512)),
    ];
    let (method, bytes) = encode_call(&MinerCall::ProveCommitSectors3(vec![ProveCommitParams {
        sector_number: SectorNumber(5),
        proof: Proof {
            proof: vec![1, 2, 3],
        },
        pieces: pieces.clone(),
    }]))
    .unwrap();
    assert_eq!(method, 34);
    let theirs: published::ProveCommitSectors3Params =
        fvm_ipld_encoding::from_slice(&bytes).unwrap();
    let manifest = &theirs.sector_activations[0];
    assert_eq!(manifest.sector_number, 5);
    /// A piece as the actor reads it: CID, size, allocation key, notices.
    type Activated = (Cid, u64, Option<(u64, u64)>, Vec<(Address, Vec<u8>)>);
    let activated: Vec<Activated> = manifest
        .pieces
        .iter()
        .map(|p| {
            (
                p.cid,
                p.size.0,
                p.verified_allocation_key.as_ref().map(|k| (k.client, k.id)),
                p.notify
                    .iter()
                    .map(|n| (n.address, n.payload.to_vec()))
                    .collect(),
            )
        })
        .collect();
    let f05 = Address::new_id(5);
    let cbor = |id: u64| fvm_ipld_encoding::to_vec(&id).unwrap();
    assert_eq!(
        activated,
        vec![
            (
                pieces[0].piece.cid.to_cid(),
                512,
                None,
                vec![(f05, cbor(7))]
            ),
            (pieces[1].piece.cid.to_cid(), 512, Some((1001, 42)), vec![]),
            (
                pieces[2].piece.cid.to_cid(),
                512,
                Some((1002, 3)),
                vec![(f05, cbor(9))]
            ),
            (pieces[3].piece.cid.to_cid(), 512, None, vec![]),
        ]
    );
}

/// A non-interactive PoRep proof through `encode_miner_call` decodes as
/// the published `ProveCommitSectorsNIParams` (method 36, field order
/// `sectors, aggregate_proof, seal_proof_type, aggregate_proof_type,
/// proving_deadline, require_activation_success`): each sector sealed
/// under its own number by the sending miner, SnarkPack v2, every
/// activation required.
#[test]
fn an_ni_prove_commit_encodes_to_the_published_params() {
    use venus_seal_chain::lotus::params::{encode_call, encode_miner_call};
    use venus_seal_core::chain::{MinerCall, NiProveCommit, NiSector};
    use venus_seal_core::{ActorId, CommR, SealProof, SectorNumber};

    let call = MinerCall::ProveCommitSectorsNI(NiProveCommit {
        sectors: vec![NiSector {
            number: SectorNumber(7),
            sealed_cid: CommR([0xaa; 32]),
            seal_rand_epoch: 900,
            expiration: 600_000,
        }],
        seal_proof: SealProof::StackedDrg2KiBV1_2_Feat_NonInteractivePoRep,
        aggregate_proof: vec![1, 2, 3],
        proving_deadline: 5,
    });
    let (method, bytes) = encode_miner_call(ActorId(1000), &call).unwrap();
    assert_eq!(method, 36);
    let theirs: published::ProveCommitSectorsNIParams =
        fvm_ipld_encoding::from_slice(&bytes).unwrap();
    let s = &theirs.sectors[0];
    assert_eq!(
        (
            s.sealing_number,
            s.sealer_id,
            s.sector_number,
            s.seal_rand_epoch,
            s.expiration
        ),
        (7, 1000, 7, 900, 600_000)
    );
    assert_eq!(
        s.sealed_cid,
        replica_commitment_v1_to_cid(&[0xaa; 32]).unwrap()
    );
    assert_eq!(theirs.aggregate_proof, RawBytes::new(vec![1, 2, 3]));
    assert_eq!(
        format!("{:?}", theirs.seal_proof_type),
        "StackedDRG2KiBV1P2_Feat_NiPoRep"
    );
    assert_eq!(format!("{:?}", theirs.aggregate_proof_type), "SnarkPackV2");
    assert_eq!(theirs.proving_deadline, 5);
    assert!(theirs.require_activation_success);
    // Ours re-encodes the published value to the same bytes.
    let ours: ours::ProveCommitSectorsNIParams = fvm_ipld_encoding::from_slice(&bytes).unwrap();
    assert_eq!(fvm_ipld_encoding::to_vec(&ours).unwrap(), bytes);
    // Without the miner the sealer cannot be named.
    assert!(encode_call(&call).is_err());
}
