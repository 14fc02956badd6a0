//! FIL+ allocations claimed at activation on the devnet: a verified piece
//! turns its allocation into a claim and its space into verified deal
//! weight; every claim verifreg would refuse fails the sector and leaves
//! the allocation; an aggregate's pieces are checked as a batch's are.

use venus_seal_core::chain::{
    AggregateProveCommit, MinerCall, OnChainPreCommit, PreCommitParams, ProveCommitParams,
};
use venus_seal_core::manager::{DealInfo, VerifiedAllocationKey};
use venus_seal_core::stage::Proof;
use venus_seal_core::{ActorId, ChainClient, CommD, PaddedPieceSize, PieceInfo, SectorNumber};

use super::tests::{chain, landed, pre_committed_with, proof_with, seed_epoch, send, MINER};
use super::{Allocation, DevnetChain};

const CLIENT: ActorId = ActorId(1001);

fn piece(n: u8) -> PieceInfo {
    PieceInfo {
        size: PaddedPieceSize(1024),
        cid: CommD([n; 32]),
    }
}

/// An allocation for `piece(n)` any sector of the default pre-commit
/// (expiring at epoch 1 000 000) can claim.
fn allocation(n: u8) -> Allocation {
    Allocation {
        client: CLIENT,
        data: piece(n).cid,
        size: piece(n).size,
        term_min: 1_000,
        term_max: 2_000_000,
        expiration: 10_000,
    }
}

/// Sector `number` pre-committed with the CommD of `piece(1)` and
/// `piece(2)`, past its seed epoch, and the proof the devnet accepts.
async fn ready(c: &DevnetChain, number: u64) -> (OnChainPreCommit, Proof) {
    let comm_d = venus_seal_core::comm_d_of_pieces(&[piece(1), piece(2)], 2048).unwrap();
    let pc = pre_committed_with(c, number, |p| PreCommitParams {
        unsealed_cid: comm_d,
        ..p
    })
    .await;
    let seed = seed_epoch(c, &pc);
    c.advance(10).await;
    let proof = proof_with(c, &pc, pc.info.seal_rand_epoch, seed);
    (pc, proof)
}

fn prove_with(number: u64, proof: &Proof, pieces: Vec<DealInfo>) -> MinerCall {
    MinerCall::ProveCommitSectors3(vec![ProveCommitParams {
        sector_number: SectorNumber(number),
        proof: proof.clone(),
        pieces,
    }])
}

#[tokio::test]
async fn a_verified_piece_claims_its_allocation() {
    let c = chain();
    let key = c.add_allocation(MINER, allocation(1)).unwrap();
    assert_eq!(key.client, CLIENT);
    let (pc, proof) = ready(&c, 1).await;
    let pieces = vec![
        DealInfo::new(0, piece(1)).with_allocation(key),
        DealInfo::new(0, piece(2)),
    ];
    let id = send(&c, prove_with(1, &proof, pieces)).await;
    c.advance(1).await;
    assert_eq!(landed(&c, &id).await, (0, None));

    let activation = c.current_epoch();
    let sector = c.sector(MINER, SectorNumber(1)).await.unwrap().unwrap();
    let lifetime = u128::try_from(pc.info.expiration - sector.activation).unwrap();
    assert_eq!(sector.verified_deal_weight, 1024 * lifetime);
    assert_eq!(sector.deal_weight, 1024 * lifetime);
    assert!(!sector.is_cc());

    assert!(c.allocations(MINER).unwrap().is_empty(), "claimed");
    let claims = c.claims(MINER).await.unwrap();
    assert_eq!(claims.len(), 1);
    let claim = &claims[0];
    assert_eq!(
        (claim.id, claim.client, claim.size, claim.sector),
        (key.id, CLIENT.0, 1024, SectorNumber(1))
    );
    assert_eq!(claim.data, piece(1).cid.to_string());
    assert_eq!((claim.term_min, claim.term_max), (1_000, 2_000_000));
    assert!(claim.term_start <= activation && claim.term_start == sector.activation);
}

/// Each claim verifreg's `can_claim_alloc` refuses fails the sector with a
/// reason naming the allocation, and leaves the allocation unclaimed; the
/// sector then proves with a claim that fits.
#[tokio::test]
async fn claims_verifreg_refuses_fail_the_sector() {
    let c = chain();
    let good = c.add_allocation(MINER, allocation(1)).unwrap();
    let expired = c
        .add_allocation(
            MINER,
            Allocation {
                expiration: 5,
                ..allocation(1)
            },
        )
        .unwrap();
    let too_long = c
        .add_allocation(
            MINER,
            Allocation {
                term_min: 2_000_000,
                term_max: 3_000_000,
                ..allocation(1)
            },
        )
        .unwrap();
    let too_short = c
        .add_allocation(
            MINER,
            Allocation {
                term_max: 2_000,
                ..allocation(1)
            },
        )
        .unwrap();
    let other_piece = c.add_allocation(MINER, allocation(3)).unwrap();
    let (_, proof) = ready(&c, 1).await;

    let cases = [
        (
            VerifiedAllocationKey {
                client: ActorId(2000),
                ..good
            },
            "belongs to client f01001",
        ),
        (
            VerifiedAllocationKey { id: 999, ..good },
            "no such allocation",
        ),
        (expired, "expired at epoch 5"),
        (too_long, "outside the term"),
        (too_short, "outside the term"),
        (other_piece, "is for piece"),
    ];
    for (key, why) in cases {
        let pieces = vec![
            DealInfo::new(0, piece(1)).with_allocation(key),
            DealInfo::new(0, piece(2)),
        ];
        let id = send(&c, prove_with(1, &proof, pieces)).await;
        c.advance(1).await;
        let (code, error) = landed(&c, &id).await;
        assert_ne!(code, 0, "{key}");
        let error = error.unwrap();
        assert!(
            error.contains(&format!("cannot claim {key}")) && error.contains(why),
            "{key}: {error}"
        );
        assert_eq!(c.sector(MINER, SectorNumber(1)).await.unwrap(), None);
    }
    // One allocation is not claimed by two pieces.
    let twice = vec![
        DealInfo::new(0, piece(1)).with_allocation(good),
        DealInfo::new(0, piece(1)).with_allocation(good),
    ];
    let comm_d = venus_seal_core::comm_d_of_pieces(&[piece(1), piece(1)], 2048).unwrap();
    let pc = pre_committed_with(&c, 2, |p| PreCommitParams {
        unsealed_cid: comm_d,
        ..p
    })
    .await;
    let seed = seed_epoch(&c, &pc);
    c.advance(10).await;
    let proof2 = proof_with(&c, &pc, pc.info.seal_rand_epoch, seed);
    let id = send(&c, prove_with(2, &proof2, twice)).await;
    c.advance(1).await;
    let (_, error) = landed(&c, &id).await;
    assert!(error.unwrap().contains("claimed twice"));
    assert_eq!(c.allocations(MINER).unwrap().len(), 5, "none claimed");

    let pieces = vec![
        DealInfo::new(0, piece(1)).with_allocation(good),
        DealInfo::new(0, piece(2)),
    ];
    let id = send(&c, prove_with(1, &proof, pieces)).await;
    c.advance(1).await;
    assert_eq!(landed(&c, &id).await, (0, None));
    assert_eq!(c.allocations(MINER).unwrap().len(), 4);
    assert_eq!(c.claims(MINER).await.unwrap().len(), 1);
}

/// An aggregate's pieces are checked as a batch's: pieces that do not
/// make a sector's CommD refuse the message before any proof is checked
/// (the devnet once dropped an aggregate's pieces).
#[tokio::test]
async fn an_aggregates_pieces_are_checked() {
    let c = chain();
    let mut numbers = Vec::new();
    for n in 1..=4 {
        pre_committed_with(&c, n, |p| p).await;
        numbers.push(SectorNumber(n));
    }
    c.advance(200).await;
    let mut pieces = vec![Vec::new(); 4];
    pieces[0] = vec![DealInfo::new(0, piece(1)), DealInfo::new(0, piece(2))];
    let id = send(
        &c,
        MinerCall::ProveCommitAggregate(AggregateProveCommit {
            sectors: numbers,
            aggregate_proof: vec![0; 32],
            pieces,
        }),
    )
    .await;
    c.advance(1).await;
    let (code, error) = landed(&c, &id).await;
    assert_ne!(code, 0);
    let error = error.unwrap();
    assert!(
        error.contains("sector 1") && error.contains("is not the pre-committed unsealed CID"),
        "{error}"
    );
}
