//! The devnet and the manager restarted from their state (the devnet's
//! state file, the manager's SQLite store).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use venus_seal_core::chain::{MessageId, MessageState, MinerMessage, SendUid};

use venus_seal_core::manager::{
    AcquireDealsSpec, AllocateSpec, AllocatedSector, DealInfo, OnChainState, PreCommitOnChainInfo,
    SubmitResult,
};
use venus_seal_core::{
    ActorId, ChainClient, ChainError, CommD, CommR, MessageSender, PaddedPieceSize, PieceInfo,
    SealProof, SectorManager, SectorNumber,
};

use super::{
    unix_now, LocalSectorManager, ManagedMiner, ManagerConfig, ManagerStore, SqlManagerStore,
    Submitted,
};
use crate::testing::FakeProofVerifier;
use crate::{DevnetChain, DevnetConfig, DevnetMiner};

const M1: ActorId = ActorId(1000);
const P2K: SealProof = SealProof::StackedDrg2KiBV1_1;

/// A devnet and a manager saving to `dir`.
async fn open(dir: &Path) -> (Arc<DevnetChain>, Arc<LocalSectorManager>) {
    let chain = DevnetChain::open(
        DevnetConfig {
            state_file: Some(dir.join("devnet.json")),
            ..DevnetConfig::with_miners(vec![DevnetMiner {
                id: M1,
                allowed_proofs: vec![P2K],
            }])
        },
        Arc::new(FakeProofVerifier),
    )
    .unwrap();
    let store = SqlManagerStore::open_sqlite(dir.join("manager.db"))
        .await
        .unwrap();
    let manager = LocalSectorManager::new(
        ManagerConfig::new(vec![ManagedMiner::new(M1, P2K)]),
        Arc::new(store),
        chain.clone(),
        chain.clone(),
        Arc::new(FakeProofVerifier),
    );
    (chain, manager)
}

async fn allocate(m: &LocalSectorManager) -> AllocatedSector {
    m.allocate_sector(AllocateSpec::default())
        .await
        .unwrap()
        .unwrap()
}

fn deal(id: u64) -> DealInfo {
    DealInfo {
        id,
        piece: PieceInfo {
            size: PaddedPieceSize(1024),
            cid: CommD([id as u8; 32]),
        },
        allocation: None,
    }
}

#[tokio::test]
async fn a_sector_survives_a_restart_of_devnet_and_manager() {
    let dir = tempfile::tempdir().unwrap();
    let (chain, m) = open(dir.path()).await;
    m.add_deal(Some(M1), deal(1)).await.unwrap();
    m.add_deal(Some(M1), deal(2)).await.unwrap();
    let s = allocate(&m).await;
    assert_eq!(s.id.number, SectorNumber(1));
    let deals = m
        .acquire_deals(
            s.id,
            AcquireDealsSpec {
                max_deals: Some(1),
                min_used_space: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(deals, vec![deal(1)]);
    let ticket = m.assign_ticket(s.id).await.unwrap();
    // The chain checks the proof's piece manifests against this CommD.
    let comm_d = venus_seal_core::comm_d_of_pieces(&[deal(1).piece], 2048).unwrap();
    let info = PreCommitOnChainInfo {
        comm_r: CommR([0xaa; 32]),
        comm_d,
        ticket,
        deals: vec![],
    };
    let resp = m.submit_pre_commit(s, info.clone(), false).await.unwrap();
    assert_eq!(resp.res, SubmitResult::Accepted, "{resp:?}");
    // Batches go out from the timer, not inside the call.
    m.send_due().await.unwrap();
    chain.advance(1).await;
    let polled = m.poll_pre_commit_state(s.id).await.unwrap();
    assert_eq!(polled.state, OnChainState::Landed, "{polled:?}");
    assert!(m.submit_persisted(s.id, "store-1".into()).await.unwrap());
    let head = chain.current_epoch();
    drop((chain, m));

    // The process dies; a new one opens the same files.
    let (chain, m) = open(dir.path()).await;
    assert_eq!(chain.current_epoch(), head, "the chain does not jump back");
    assert_eq!(allocate(&m).await.id.number, SectorNumber(2), "no reuse");
    assert_eq!(m.queued_deals().await.unwrap(), 1);
    assert_eq!(
        m.acquire_deals(s.id, AcquireDealsSpec::default())
            .await
            .unwrap(),
        vec![deal(1)]
    );
    assert_eq!(m.assign_ticket(s.id).await.unwrap(), ticket);
    let resp = m.submit_pre_commit(s, info.clone(), false).await.unwrap();
    assert_eq!(resp.res, SubmitResult::DuplicateSubmit);
    let polled = m.poll_pre_commit_state(s.id).await.unwrap();
    assert_eq!(polled.state, OnChainState::Landed, "{polled:?}");
    let status = m.sector_status(s.id).await.unwrap().unwrap();
    assert_eq!(status.persisted_at.as_deref(), Some("store-1"));

    let wait = m.wait_seed(s).await.unwrap();
    assert!(wait.should_wait && wait.seed.is_none(), "{wait:?}");
    chain.advance(10).await;
    let seed = m.wait_seed(s).await.unwrap().seed.unwrap();
    let proof = crate::testing::fake_seal_proof(s, &info, seed.seed);
    let resp = m.submit_proof(s.id, proof.clone(), false).await.unwrap();
    assert_eq!(resp.res, SubmitResult::Accepted, "{resp:?}");
    // Batches go out from the timer, not inside the call.
    m.send_due().await.unwrap();
    drop((chain, m));

    // Another crash with the proof pending on chain.
    let (chain, m) = open(dir.path()).await;
    assert_eq!(m.wait_seed(s).await.unwrap().seed, Some(seed));
    let polled = m.poll_proof_state(s.id).await.unwrap();
    assert_eq!(polled.state, OnChainState::Packed, "{polled:?}");
    chain.advance(1).await;
    let polled = m.poll_proof_state(s.id).await.unwrap();
    assert_eq!(polled.state, OnChainState::Landed, "{polled:?}");
    m.report_finalized(s.id).await.unwrap();
    drop((chain, m));

    let (chain, m) = open(dir.path()).await;
    let sector = chain.sector(M1, s.id.number).await.unwrap().unwrap();
    assert_eq!(sector.sealed_cid, info.comm_r);
    let status = m.sector_status(s.id).await.unwrap().unwrap();
    assert!(status.finalized);
    assert_eq!(status.proof.unwrap().content, proof);
    assert_eq!(allocate(&m).await.id.number, SectorNumber(3));
}

/// The devnet as the manager's sender, recording every push; the first
/// push is the manager process's last act: the message reaches the node,
/// its id never reaches the manager (the call never returns).
#[derive(Debug)]
struct DiesAfterFirstPush {
    chain: Arc<DevnetChain>,
    died: AtomicBool,
    pushes: Mutex<Vec<(SendUid, MessageId)>>,
}

#[async_trait]
impl MessageSender for DiesAfterFirstPush {
    async fn send(&self, uid: &SendUid, msg: MinerMessage) -> Result<MessageId, ChainError> {
        let id = self.chain.send(uid, msg).await?;
        self.pushes.lock().unwrap().push((uid.clone(), id.clone()));
        if !self.died.swap(true, Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        Ok(id)
    }

    async fn state(&self, id: &MessageId) -> Result<MessageState, ChainError> {
        self.chain.state(id).await
    }
}

/// The manager pushes a pre-commit and dies before it saves the message
/// id; a new manager process on the same SQLite store and the same devnet
/// (another process, it lives on) recovers the attempt under the uid
/// saved before the push: the node answers with the message it already
/// took, nothing is sent twice, and the sector lands.
#[tokio::test]
async fn a_manager_dying_after_a_push_is_recovered_under_the_saved_uid_not_sent_twice() {
    let dir = tempfile::tempdir().unwrap();
    let chain = DevnetChain::open(
        DevnetConfig::with_miners(vec![DevnetMiner {
            id: M1,
            allowed_proofs: vec![P2K],
        }]),
        Arc::new(FakeProofVerifier),
    )
    .unwrap();
    let sender = Arc::new(DiesAfterFirstPush {
        chain: chain.clone(),
        died: AtomicBool::new(false),
        pushes: Mutex::default(),
    });
    let start = |sender: Arc<DiesAfterFirstPush>| {
        let chain = chain.clone();
        let db = dir.path().join("manager.db");
        async move {
            let store = Arc::new(SqlManagerStore::open_sqlite(db).await.unwrap());
            let m = LocalSectorManager::new(
                ManagerConfig::new(vec![ManagedMiner::new(M1, P2K)]),
                store.clone(),
                chain.clone(),
                sender,
                Arc::new(FakeProofVerifier),
            );
            (store, m)
        }
    };

    let (_, first) = start(sender.clone()).await;
    let s = allocate(&first).await;
    let ticket = first.assign_ticket(s.id).await.unwrap();
    let info = crate::testing::pre_commit_info(ticket);
    let resp = first.submit_pre_commit(s, info, false).await.unwrap();
    assert_eq!(resp.res, SubmitResult::Accepted, "{resp:?}");
    // The batch timer pushes and the process dies in that call.
    tokio::time::timeout(Duration::from_secs(10), async {
        while sender.pushes.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the manager pushed the pre-commit");
    let (uid, pushed) = sender.pushes.lock().unwrap()[0].clone();
    assert_eq!(chain.pending_messages(), 1);
    // What the dead process left: the attempt's uid saved, no message id.
    let (store, second) = start(sender.clone()).await;
    let held = store.load(s.id).await.unwrap().unwrap();
    let pc = held.value.pre_commit.clone().unwrap();
    assert_eq!(pc.attempt.as_ref().map(|a| &a.uid), Some(&uid), "{pc:?}");
    assert_eq!(pc.message, None, "{pc:?}");
    drop(first);

    // The dead process's claim lapses after STALE_CLAIM_SECS: age it in
    // the store instead of waiting five minutes.
    let mut aged = held.value.clone();
    aged.pre_commit.as_mut().unwrap().sending_since =
        Some(unix_now().saturating_sub(Submitted::<()>::STALE_CLAIM_SECS + 1));
    assert!(store.update(s.id, &aged, held.version).await.unwrap());
    second.send_due().await.unwrap();

    let status = second.sector_status(s.id).await.unwrap().unwrap();
    let pc = status.pre_commit.unwrap();
    assert_eq!(pc.message, Some(pushed), "the recovered attempt's message");
    assert_eq!(pc.attempts, 1, "no new attempt: {pc:?}");
    let pushes = sender.pushes.lock().unwrap().clone();
    assert!(
        pushes.iter().all(|(u, _)| *u == uid),
        "a push under another uid (a second message): {pushes:?}"
    );
    assert_eq!(chain.pending_messages(), 1, "one message on the node");
    chain.advance(1).await;
    let polled = second.poll_pre_commit_state(s.id).await.unwrap();
    assert_eq!(polled.state, OnChainState::Landed, "{polled:?}");
}
