//! The devnet restored from its state file.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use venus_seal_core::chain::{MessageState, MinerCall, MinerMessage};
use venus_seal_core::{ActorId, ChainClient, MessageSender, SealProof, SectorNumber};

use super::{DevnetChain, DevnetConfig, DevnetMiner};
use crate::testing::FakeProofVerifier;
use crate::StateFileError;

const MINER: ActorId = ActorId(1000);
const PROOF: SealProof = SealProof::StackedDrg2KiBV1_1;

fn config(path: &Path, seed: u8) -> DevnetConfig {
    DevnetConfig {
        seed: [seed; 32],
        state_file: Some(path.to_path_buf()),
        ..DevnetConfig::with_miners(vec![DevnetMiner {
            id: MINER,
            allowed_proofs: vec![PROOF],
        }])
    }
}

fn open(path: &Path) -> Arc<DevnetChain> {
    DevnetChain::open(config(path, 7), Arc::new(FakeProofVerifier)).unwrap()
}

fn pre_commit(n: u64, seal_rand_epoch: i64) -> MinerMessage {
    MinerMessage::new(
        MINER,
        MinerCall::PreCommitSectorBatch2(vec![super::tests::params(n, seal_rand_epoch)]),
    )
}

#[tokio::test]
async fn messages_results_and_head_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devnet.json");
    let chain = open(&path);
    assert!(path.exists(), "the file is created at once");
    let t = chain.current_epoch() - 5;
    let landed = chain
        .send(&crate::lotus::new_send_uid(), pre_commit(1, t))
        .await
        .unwrap();
    chain.advance(1).await;
    let pending = chain
        .send(&crate::lotus::new_send_uid(), pre_commit(2, t))
        .await
        .unwrap();
    let head = chain.current_epoch();
    let landed_state = chain.state(&landed).await.unwrap();
    let randomness = chain
        .draw(
            venus_seal_core::RandomnessSource::Tickets,
            venus_seal_core::DomainSeparationTag::SealRandomness,
            t,
            b"x",
        )
        .unwrap();
    drop(chain);

    let chain = open(&path);
    assert_eq!(chain.current_epoch(), head);
    assert_eq!(chain.pending_messages(), 1);
    assert_eq!(chain.state(&landed).await.unwrap(), landed_state);
    assert_eq!(chain.state(&pending).await.unwrap(), MessageState::Pending);
    let pc = chain.pre_commit(MINER, SectorNumber(1)).await.unwrap();
    assert_eq!(pc.unwrap().pre_commit_epoch, head);
    assert_eq!(
        chain
            .draw(
                venus_seal_core::RandomnessSource::Tickets,
                venus_seal_core::DomainSeparationTag::SealRandomness,
                t,
                b"x",
            )
            .unwrap(),
        randomness
    );
    // The counter goes on: no message id is reused.
    let next = chain
        .send(&crate::lotus::new_send_uid(), pre_commit(3, t))
        .await
        .unwrap();
    assert_ne!(next, pending);
    assert_ne!(next, landed);
    chain.advance(1).await;
    for id in [&pending, &next] {
        assert!(matches!(
            chain.state(id).await.unwrap(),
            MessageState::Landed { exit_code: 0, .. }
        ));
    }
    drop(chain);
    let chain = open(&path);
    assert_eq!(chain.current_epoch(), head + 1);
    assert_eq!(chain.pending_messages(), 0);
    assert!(chain
        .pre_commit(MINER, SectorNumber(3))
        .await
        .unwrap()
        .is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clocked_devnet_continues_from_the_saved_head() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devnet.json");
    let clocked = |path: &Path| {
        DevnetChain::open(
            DevnetConfig {
                block_time: Some(Duration::from_millis(10)),
                ..config(path, 7)
            },
            Arc::new(FakeProofVerifier),
        )
        .unwrap()
    };
    let chain = clocked(&path);
    let genesis = chain.current_epoch();
    chain.start_clock().unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    chain.stop_clock();
    let head = chain.current_epoch();
    assert!(
        head > genesis + 3,
        "head {head} did not move from {genesis}"
    );
    drop(chain);

    let chain = clocked(&path);
    assert_eq!(chain.current_epoch(), head);
    chain.start_clock().unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(chain.current_epoch() > head);
}

#[test]
fn a_state_file_of_another_seed_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devnet.json");
    drop(open(&path));
    let err = DevnetChain::open(config(&path, 8), Arc::new(FakeProofVerifier)).unwrap_err();
    assert!(
        matches!(err, StateFileError::SeedMismatch { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("another seed") && text.contains("devnet.json"),
        "{text}"
    );
    // The file is left alone: the right seed still opens it.
    drop(open(&path));
}

#[test]
fn a_corrupt_state_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devnet.json");
    std::fs::write(&path, "{\"format\": 1, \"seed\": \"07\"").unwrap();
    let err = DevnetChain::open(config(&path, 7), Arc::new(FakeProofVerifier)).unwrap_err();
    assert!(matches!(err, StateFileError::Corrupt { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&path.display().to_string()) && text.contains("cannot be parsed"),
        "{text}"
    );
    std::fs::write(&path, "{\"format\": 99}").unwrap();
    let err = DevnetChain::open(config(&path, 7), Arc::new(FakeProofVerifier)).unwrap_err();
    assert!(err.to_string().contains("devnet.json"), "{err}");
}

#[tokio::test]
async fn an_unwritable_state_file_refuses_messages_and_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devnet.json");
    let chain = open(&path);
    let head = chain.current_epoch();
    // A directory where the temporary file would go makes every save fail.
    std::fs::create_dir(dir.path().join(".devnet.json.tmp")).unwrap();
    let err = chain
        .send(&crate::lotus::new_send_uid(), pre_commit(1, head - 5))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("devnet.json"), "{err}");
    assert_eq!(chain.pending_messages(), 0);
    assert_eq!(chain.advance(3).await, head, "no epoch without a save");
    std::fs::remove_dir(dir.path().join(".devnet.json.tmp")).unwrap();
    let id = chain
        .send(&crate::lotus::new_send_uid(), pre_commit(1, head - 5))
        .await
        .unwrap();
    assert_eq!(id.0, "devnet-msg-0");
    assert_eq!(chain.advance(1).await, head + 1);
}

#[tokio::test]
async fn deadlines_faults_and_updates_survive_a_restart() {
    use venus_seal_core::chain::SectorsDeclaration;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devnet.json");
    let chain = open(&path);
    crate::testing::activate_fake_sectors(&chain, MINER, 1..=5);
    let faults = MinerCall::DeclareFaults(vec![SectorsDeclaration {
        deadline: 0,
        partition: 0,
        sectors: vec![SectorNumber(2)],
    }]);
    let state = chain
        .send_and_execute(MinerMessage::new(MINER, faults))
        .await
        .unwrap();
    assert!(matches!(state, MessageState::Landed { exit_code: 0, .. }));
    let before = (
        chain.deadline_partitions(MINER, 0).await.unwrap(),
        chain.deadline_partitions(MINER, 1).await.unwrap(),
    );
    drop(chain);

    let chain = open(&path);
    assert_eq!(chain.faults(MINER).unwrap(), vec![SectorNumber(2)]);
    let after = (
        chain.deadline_partitions(MINER, 0).await.unwrap(),
        chain.deadline_partitions(MINER, 1).await.unwrap(),
    );
    assert_eq!(after, before);
    assert_eq!(after.1[0].sectors, vec![SectorNumber(5)]);
    // The next sector continues the assignment where it stopped.
    crate::testing::activate_fake_sectors(&chain, MINER, [6]);
    assert_eq!(
        chain.deadline_partitions(MINER, 1).await.unwrap()[0].sectors,
        vec![SectorNumber(5), SectorNumber(6)]
    );
}
