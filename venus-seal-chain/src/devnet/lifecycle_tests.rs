//! The devnet's `ExtendSectorExpiration2` and `TerminateSectors`: what
//! they change, and the messages they refuse with the actors' exit codes.

use std::sync::Arc;

use venus_seal_core::chain::{
    ExpirationExtension, MessageState, MinerCall, MinerMessage, SectorLocation, SectorsDeclaration,
};
use venus_seal_core::{ActorId, ChainClient, SealProof, SectorNumber};

use super::{DevnetChain, DevnetConfig, DevnetMiner};
use crate::testing::{activate_fake_sectors, FakeProofVerifier, FAKE_SECTOR_EXPIRATION};

const MINER: ActorId = ActorId(1000);

/// A devnet whose miner holds sectors 1..=5: 1-4 in deadline 0
/// partition 0, 5 in deadline 1 partition 0 (four sectors a partition).
fn chain() -> Arc<DevnetChain> {
    let chain = DevnetChain::new(
        DevnetConfig::with_miners(vec![DevnetMiner {
            id: MINER,
            allowed_proofs: vec![SealProof::StackedDrg2KiBV1_1],
        }]),
        Arc::new(FakeProofVerifier),
    );
    activate_fake_sectors(&chain, MINER, 1..=5);
    chain
}

fn numbers(ns: &[u64]) -> Vec<SectorNumber> {
    ns.iter().copied().map(SectorNumber).collect()
}

fn extension(deadline: u64, sectors: &[u64], new_expiration: i64) -> ExpirationExtension {
    ExpirationExtension {
        deadline,
        partition: 0,
        sectors: numbers(sectors),
        sectors_with_claims: vec![],
        new_expiration,
    }
}

fn declaration(deadline: u64, partition: u64, sectors: &[u64]) -> SectorsDeclaration {
    SectorsDeclaration {
        deadline,
        partition,
        sectors: numbers(sectors),
    }
}

async fn run(chain: &DevnetChain, call: MinerCall) -> (i64, String) {
    match chain
        .send_and_execute(MinerMessage::new(MINER, call))
        .await
        .unwrap()
    {
        MessageState::Landed {
            exit_code, error, ..
        } => (exit_code, error.unwrap_or_default()),
        other => panic!("not landed: {other:?}"),
    }
}

async fn expiration(chain: &DevnetChain, n: u64) -> i64 {
    chain
        .sector(MINER, SectorNumber(n))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("sector {n} is gone"))
        .expiration
}

#[tokio::test]
async fn sectors_are_located_and_listed_with_their_expiration() {
    let chain = chain();
    let at = |deadline, partition| {
        Some(SectorLocation {
            deadline,
            partition,
        })
    };
    assert_eq!(
        chain.sector_location(MINER, SectorNumber(3)).await.unwrap(),
        at(0, 0)
    );
    assert_eq!(
        chain.sector_location(MINER, SectorNumber(5)).await.unwrap(),
        at(1, 0)
    );
    assert_eq!(
        chain.sector_location(MINER, SectorNumber(9)).await.unwrap(),
        None
    );
    let listed = chain.miner_sectors(MINER).await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.number).collect::<Vec<_>>(),
        numbers(&[1, 2, 3, 4, 5])
    );
    assert!(listed
        .iter()
        .all(|s| s.expiration == FAKE_SECTOR_EXPIRATION));
    assert!(chain.miner_sectors(ActorId(4242)).await.is_err());
}

#[tokio::test]
async fn an_extension_moves_only_the_named_sectors_expiration() {
    let chain = chain();
    let later = FAKE_SECTOR_EXPIRATION + 500_000;
    let call = MinerCall::ExtendSectorExpiration2(vec![
        extension(0, &[1, 2], later),
        extension(1, &[5], later + 1),
    ]);
    assert_eq!(run(&chain, call).await, (0, String::new()));
    assert_eq!(expiration(&chain, 1).await, later);
    assert_eq!(expiration(&chain, 2).await, later);
    assert_eq!(expiration(&chain, 5).await, later + 1);
    assert_eq!(expiration(&chain, 3).await, FAKE_SECTOR_EXPIRATION);
}

#[tokio::test]
async fn extensions_the_actors_refuse_are_refused_whole() {
    let chain = chain();
    let later = FAKE_SECTOR_EXPIRATION + 10;
    let refused = |call| {
        let chain = chain.clone();
        async move { run(&chain, MinerCall::ExtendSectorExpiration2(call)).await }
    };
    // Shorter than today's expiration.
    let (code, error) = refused(vec![extension(0, &[1], FAKE_SECTOR_EXPIRATION - 1)]).await;
    assert_eq!(code, 16, "{error}");
    assert!(error.contains("cannot reduce sector 1"), "{error}");
    // In the past.
    let (code, error) = refused(vec![extension(0, &[1], 0)]).await;
    assert_eq!(code, 16, "{error}");
    assert!(error.contains("not after the current epoch"), "{error}");
    // Not in the partition named (5 is in deadline 1).
    let (code, error) = refused(vec![extension(0, &[1, 5], later)]).await;
    assert_eq!(code, 17, "{error}");
    assert!(
        error.contains("sector 5 is not in deadline 0 partition 0"),
        "{error}"
    );
    // Named twice.
    let (code, error) = refused(vec![extension(0, &[1], later), extension(0, &[1], later)]).await;
    assert_eq!(code, 16, "{error}");
    assert!(error.contains("named twice"), "{error}");
    // Nothing.
    let (code, _) = refused(vec![]).await;
    assert_eq!(code, 16);
    // Faulty.
    let faults = MinerCall::DeclareFaults(vec![declaration(0, 0, &[2])]);
    assert_eq!(run(&chain, faults).await.0, 0);
    let (code, error) = refused(vec![extension(0, &[2], later)]).await;
    assert_eq!(code, 18, "{error}");
    assert!(error.contains("sector 2 is faulty"), "{error}");
    // None of the refused messages changed anything.
    for n in 1..=5 {
        assert_eq!(
            expiration(&chain, n).await,
            FAKE_SECTOR_EXPIRATION,
            "sector {n}"
        );
    }
}

#[tokio::test]
async fn terminated_sectors_leave_the_miner_and_their_partition() {
    let chain = chain();
    let faults = MinerCall::DeclareFaults(vec![declaration(0, 0, &[3])]);
    assert_eq!(run(&chain, faults).await.0, 0);
    let call = MinerCall::TerminateSectors(vec![declaration(0, 0, &[2, 3])]);
    assert_eq!(run(&chain, call).await, (0, String::new()));
    for n in [2, 3] {
        let n = SectorNumber(n);
        assert_eq!(chain.sector(MINER, n).await.unwrap(), None);
        assert_eq!(chain.sector_location(MINER, n).await.unwrap(), None);
    }
    let parts = chain.deadline_partitions(MINER, 0).await.unwrap();
    assert_eq!(parts[0].sectors, numbers(&[1, 4]));
    assert_eq!(parts[0].faulty, numbers(&[]));
    let left = chain.miner_sectors(MINER).await.unwrap();
    assert_eq!(
        left.iter().map(|s| s.number).collect::<Vec<_>>(),
        numbers(&[1, 4, 5])
    );

    // A sector gone, or in another partition, refuses the whole message.
    let again = MinerCall::TerminateSectors(vec![declaration(0, 0, &[1, 2])]);
    let (code, error) = run(&chain, again).await;
    assert_eq!(code, 17, "{error}");
    assert!(
        error.contains("sector 2 is not in deadline 0 partition 0"),
        "{error}"
    );
    let nowhere = MinerCall::TerminateSectors(vec![declaration(0, 7, &[1])]);
    let (code, error) = run(&chain, nowhere).await;
    assert_eq!(code, 17, "{error}");
    assert!(error.contains("has no partition 7"), "{error}");
    assert!(chain
        .sector(MINER, SectorNumber(1))
        .await
        .unwrap()
        .is_some());
}
