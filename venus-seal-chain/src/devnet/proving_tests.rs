//! The devnet's proving: deadlines, WindowPoSt, faults and recoveries,
//! WinningPoSt election, snap-up updates, with the fake verifier.

use std::sync::Arc;

use venus_seal_core::chain::{
    DeadlineInfo, MinerCall, PoStPartition, ReplicaUpdateParams, SectorsDeclaration,
    WindowPoStSubmission,
};
use venus_seal_core::proving::{PoStSector, ReplicaUpdateVerifyInfo};
use venus_seal_core::{
    ActorId, ChainClient, CommD, CommR, DomainSeparationTag, RandomnessSource, SealProof,
    SectorNumber,
};

use super::{DevnetChain, DevnetConfig, DevnetMiner};
use crate::testing::FakeProofVerifier;

const MINER: ActorId = ActorId(1000);
const OTHER: ActorId = ActorId(1001);
const PROOF: SealProof = SealProof::StackedDrg2KiBV1_1;

fn chain() -> Arc<DevnetChain> {
    let miner = |id| DevnetMiner {
        id,
        allowed_proofs: vec![PROOF],
    };
    DevnetChain::new(
        DevnetConfig::with_miners(vec![miner(MINER), miner(OTHER)]),
        Arc::new(FakeProofVerifier),
    )
}

fn with_sectors(chain: &DevnetChain, miner: ActorId, numbers: impl IntoIterator<Item = u64>) {
    crate::testing::activate_fake_sectors(chain, miner, numbers);
}

/// Advances until `deadline` of MINER is open with room for a message to
/// execute inside it.
async fn open_deadline(chain: &DevnetChain, deadline: u64) -> DeadlineInfo {
    loop {
        let dl = chain.proving_deadline(MINER).await.unwrap();
        if dl.index == deadline
            && dl.current_epoch > dl.challenge
            && dl.current_epoch + 1 < dl.close
        {
            return dl;
        }
        chain.advance(1).await;
    }
}

fn post_sectors(numbers: &[u64]) -> Vec<PoStSector> {
    numbers
        .iter()
        .map(|n| PoStSector {
            number: SectorNumber(*n),
            seal_proof: PROOF,
            comm_r: CommR([*n as u8; 32]),
            sector_key: None,
        })
        .collect()
}

/// A submission for partition 0 of the open deadline proving `proven` and
/// skipping `skipped`, with the proof the fake verifier accepts.
fn submission(
    chain: &DevnetChain,
    dl: &DeadlineInfo,
    proven: &[u64],
    skipped: &[u64],
) -> WindowPoStSubmission {
    let randomness = chain
        .draw(
            RandomnessSource::Beacon,
            DomainSeparationTag::WindowedPoStChallengeSeed,
            dl.challenge,
            &MINER.address_cbor(),
        )
        .unwrap();
    let commit_epoch = dl.current_epoch;
    WindowPoStSubmission {
        deadline: dl.index,
        partitions: vec![PoStPartition {
            index: 0,
            skipped: skipped.iter().map(|n| SectorNumber(*n)).collect(),
        }],
        proofs: if proven.is_empty() {
            vec![]
        } else {
            vec![FakeProofVerifier::post_proof_for(
                MINER,
                &randomness,
                &post_sectors(proven),
            )]
        },
        chain_commit_epoch: commit_epoch,
        chain_commit_rand: chain
            .draw(
                RandomnessSource::Tickets,
                DomainSeparationTag::PoStChainCommit,
                commit_epoch,
                &[],
            )
            .unwrap(),
    }
}

async fn run(chain: &DevnetChain, call: MinerCall) -> (i64, Option<String>) {
    crate::testing::execute_call(chain, MINER, call).await
}

#[tokio::test]
async fn sectors_fill_partitions_of_one_deadline_then_the_next() {
    let chain = chain();
    with_sectors(&chain, MINER, 1..=5);
    let d0 = chain.deadline_partitions(MINER, 0).await.unwrap();
    assert_eq!(d0.len(), 1);
    assert_eq!(d0[0].sectors, (1..=4).map(SectorNumber).collect::<Vec<_>>());
    assert_eq!(d0[0].active, d0[0].sectors);
    let d1 = chain.deadline_partitions(MINER, 1).await.unwrap();
    assert_eq!(d1[0].sectors, vec![SectorNumber(5)]);
    assert!(chain.deadline_partitions(MINER, 9).await.is_err());
}

#[tokio::test]
async fn a_window_post_lands_and_a_skipped_sector_is_faulty_until_proven_again() {
    let chain = chain();
    with_sectors(&chain, MINER, 1..=3);
    let dl = open_deadline(&chain, 0).await;
    let sub = submission(&chain, &dl, &[1, 3], &[2]);
    assert_eq!(
        run(&chain, MinerCall::SubmitWindowedPoSt(sub)).await,
        (0, None)
    );
    assert_eq!(chain.faults(MINER).unwrap(), vec![SectorNumber(2)]);
    let parts = chain.deadline_partitions(MINER, 0).await.unwrap();
    assert_eq!(parts[0].faulty, vec![SectorNumber(2)]);

    // The same partition twice in one period is refused.
    let again = submission(
        &chain,
        &chain.proving_deadline(MINER).await.unwrap(),
        &[1, 3],
        &[2],
    );
    let (code, error) = run(&chain, MinerCall::SubmitWindowedPoSt(again)).await;
    assert_eq!(code, 16, "{error:?}");
    assert!(error.unwrap().contains("already proven"));

    // Next period: a faulty sector is not part of the proof...
    let period = chain.proving_policy().period as u64;
    chain.advance(period - 12).await;
    let dl = open_deadline(&chain, 0).await;
    let sub = submission(&chain, &dl, &[1, 2, 3], &[]);
    let (code, error) = run(&chain, MinerCall::SubmitWindowedPoSt(sub)).await;
    assert_eq!(code, 16);
    assert!(error.unwrap().contains("does not verify"));
    let dl = chain.proving_deadline(MINER).await.unwrap();
    let sub = submission(&chain, &dl, &[1, 3], &[]);
    assert_eq!(
        run(&chain, MinerCall::SubmitWindowedPoSt(sub)).await,
        (0, None)
    );
    assert_eq!(chain.faults(MINER).unwrap(), vec![SectorNumber(2)]);

    // ...until it is declared recovered; proven again, it recovers.
    let decl = vec![SectorsDeclaration {
        deadline: 0,
        partition: 0,
        sectors: vec![SectorNumber(2)],
    }];
    assert_eq!(
        run(&chain, MinerCall::DeclareFaultsRecovered(decl)).await,
        (0, None)
    );
    chain.advance(period - 14).await;
    let dl = open_deadline(&chain, 0).await;
    let sub = submission(&chain, &dl, &[1, 2, 3], &[]);
    assert_eq!(
        run(&chain, MinerCall::SubmitWindowedPoSt(sub)).await,
        (0, None)
    );
    assert!(chain.faults(MINER).unwrap().is_empty());
}

#[tokio::test]
async fn a_post_at_the_wrong_deadline_or_with_a_bad_proof_fails() {
    let chain = chain();
    with_sectors(&chain, MINER, 1..=2);
    let dl = open_deadline(&chain, 0).await;
    let mut wrong = submission(&chain, &dl, &[1, 2], &[]);
    wrong.deadline = 1;
    let (code, error) = run(&chain, MinerCall::SubmitWindowedPoSt(wrong)).await;
    assert_eq!(code, 18, "{error:?}");
    assert!(error.unwrap().contains("deadline 1 is not open"));

    let dl = chain.proving_deadline(MINER).await.unwrap();
    let mut bad = submission(&chain, &dl, &[1, 2], &[]);
    bad.proofs[0].proof[0] ^= 1;
    let (code, error) = run(&chain, MinerCall::SubmitWindowedPoSt(bad)).await;
    assert_eq!(code, 16);
    assert!(error.unwrap().contains("does not verify"));

    let dl = chain.proving_deadline(MINER).await.unwrap();
    let mut rand = submission(&chain, &dl, &[1, 2], &[]);
    rand.chain_commit_rand.0[0] ^= 1;
    let (code, error) = run(&chain, MinerCall::SubmitWindowedPoSt(rand)).await;
    assert_eq!(code, 16);
    assert!(error.unwrap().contains("chain commit randomness"));
    assert!(chain.faults(MINER).unwrap().is_empty());
}

#[tokio::test]
async fn a_missed_deadline_makes_its_sectors_faulty() {
    let chain = chain();
    with_sectors(&chain, MINER, 1..=2);
    // A full period later deadline 0 is certainly due.
    chain.advance(chain.proving_policy().period as u64).await;
    let dl = open_deadline(&chain, 0).await;
    assert!(chain.faults(MINER).unwrap().is_empty());
    chain.advance((dl.close - dl.current_epoch) as u64).await;
    assert_eq!(
        chain.faults(MINER).unwrap(),
        vec![SectorNumber(1), SectorNumber(2)]
    );
}

#[tokio::test]
async fn faults_and_recoveries_are_declared() {
    let chain = chain();
    with_sectors(&chain, MINER, 1..=3);
    let decl = |sectors: Vec<u64>| {
        vec![SectorsDeclaration {
            deadline: 0,
            partition: 0,
            sectors: sectors.into_iter().map(SectorNumber).collect(),
        }]
    };
    let (code, error) = run(&chain, MinerCall::DeclareFaultsRecovered(decl(vec![1]))).await;
    assert_eq!(code, 16);
    assert!(error.unwrap().contains("not faulty"));
    assert_eq!(
        run(&chain, MinerCall::DeclareFaults(decl(vec![1, 3]))).await,
        (0, None)
    );
    assert_eq!(
        chain.faults(MINER).unwrap(),
        vec![SectorNumber(1), SectorNumber(3)]
    );
    assert_eq!(
        run(&chain, MinerCall::DeclareFaultsRecovered(decl(vec![3]))).await,
        (0, None)
    );
    let parts = chain.deadline_partitions(MINER, 0).await.unwrap();
    assert_eq!(parts[0].recovering, vec![SectorNumber(3)]);
    assert_eq!(parts[0].active, vec![SectorNumber(2), SectorNumber(3)]);
    let (code, _) = run(&chain, MinerCall::DeclareFaults(decl(vec![9]))).await;
    assert_eq!(code, 16);
}

#[tokio::test]
async fn the_elected_miner_wins_with_a_valid_winning_post() {
    let chain = chain();
    assert_eq!(chain.winning_election(chain.current_epoch()).unwrap(), None);
    with_sectors(&chain, MINER, 1..=3);
    with_sectors(&chain, OTHER, 1..=3);
    chain.advance(1).await;
    let epoch = chain.current_epoch();
    let election = chain.winning_election(epoch).unwrap().unwrap();
    assert_eq!(election.sectors.len(), 3);
    let loser = if election.miner == MINER {
        OTHER
    } else {
        MINER
    };
    let index = usize::from(election.randomness.0[0]) % 3;
    let proof = FakeProofVerifier::post_proof_for(
        election.miner,
        &election.randomness,
        &election.sectors[index..=index],
    );
    let err = chain
        .submit_winning_post(epoch, loser, vec![proof.clone()])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("is not elected"), "{err}");
    let mut bad = proof.clone();
    bad.proof[0] ^= 1;
    let err = chain
        .submit_winning_post(epoch, election.miner, vec![bad])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not verify"), "{err}");
    chain
        .submit_winning_post(epoch, election.miner, vec![proof])
        .await
        .unwrap();
}

#[tokio::test]
async fn a_snap_up_update_replaces_the_sealed_cid_once() {
    let chain = chain();
    with_sectors(&chain, MINER, 1..=2);
    let update = |proof: Vec<u8>| ReplicaUpdateParams {
        sector_number: SectorNumber(2),
        seal_proof: PROOF,
        deadline: 0,
        partition: 0,
        new_sealed_cid: CommR([0xee; 32]),
        new_unsealed_cid: CommD([0xdd; 32]),
        pieces: vec![],
        proof,
    };
    let good = FakeProofVerifier::update_proof_for(&ReplicaUpdateVerifyInfo {
        seal_proof: PROOF,
        comm_r_old: CommR([2; 32]),
        comm_r_new: CommR([0xee; 32]),
        comm_d_new: CommD([0xdd; 32]),
        proof: vec![],
    });
    let (code, error) = run(
        &chain,
        MinerCall::ProveReplicaUpdates3(vec![update(vec![1; 32])]),
    )
    .await;
    assert_eq!(code, 16);
    assert!(error.unwrap().contains("does not verify"));
    let mut misplaced = update(good.clone());
    misplaced.deadline = 1;
    let (code, _) = run(&chain, MinerCall::ProveReplicaUpdates3(vec![misplaced])).await;
    assert_eq!(code, 16);
    assert_eq!(
        run(
            &chain,
            MinerCall::ProveReplicaUpdates3(vec![update(good.clone())])
        )
        .await,
        (0, None)
    );
    let s = chain.sector(MINER, SectorNumber(2)).await.unwrap().unwrap();
    assert_eq!(s.sealed_cid, CommR([0xee; 32]));
    let (code, error) = run(&chain, MinerCall::ProveReplicaUpdates3(vec![update(good)])).await;
    assert_eq!(code, 16);
    assert!(error.unwrap().contains("already holds data"));
}
