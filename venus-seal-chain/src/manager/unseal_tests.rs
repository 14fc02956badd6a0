//! Unseal jobs on the manager: requested for a persisted sector's piece
//! (refused, naming why, otherwise), one job per piece, handed to one
//! worker at a time, handed out again after a silent worker's lease,
//! retried after failures up to the cap, and found by a manager started
//! again on the same store.

use std::sync::Arc;

use venus_seal_core::manager::{AllocateSpec, AllocatedSector, PreCommitOnChainInfo};
use venus_seal_core::unseal::{UnsealJob, UnsealJobSource, UnsealState};
use venus_seal_core::{ActorId, ManagerError, PieceCid, SealProof, SectorManager};

use super::{LocalSectorManager, ManagedMiner, ManagerConfig, ManagerStore, MemoryManagerStore};
use crate::testing::FakeProofVerifier;
use crate::{DevnetChain, DevnetConfig, DevnetMiner};

use crate::testing::stand_in_piece as piece;

const M1: ActorId = ActorId(1000);
const P2K: SealProof = SealProof::StackedDrg2KiBV1_1;

pub(super) fn manager_on(
    store: Arc<dyn ManagerStore>,
) -> (Arc<DevnetChain>, Arc<LocalSectorManager>) {
    manager_for(store, P2K)
}

/// A devnet with miner f01000 sealing `proof` (fake proofs) and a manager
/// for it on `store`.
pub(super) fn manager_for(
    store: Arc<dyn ManagerStore>,
    proof: SealProof,
) -> (Arc<DevnetChain>, Arc<LocalSectorManager>) {
    let chain = DevnetChain::new(
        DevnetConfig::with_miners(vec![DevnetMiner {
            id: M1,
            allowed_proofs: vec![proof],
        }]),
        Arc::new(FakeProofVerifier),
    );
    let manager = LocalSectorManager::new(
        ManagerConfig::new(vec![ManagedMiner::new(M1, proof)]),
        store,
        chain.clone(),
        chain.clone(),
        Arc::new(FakeProofVerifier),
    );
    (chain, manager)
}

/// A sector holding a 256-byte and a 512-byte deal piece, pre-committed
/// and persisted in `store-1`.
async fn persisted_deal_sector(
    chain: &DevnetChain,
    m: &LocalSectorManager,
) -> (AllocatedSector, PreCommitOnChainInfo) {
    crate::testing::persisted_deal_sector(chain, m, M1, &[piece(1, 256), piece(2, 512)], "store-1")
        .await
}

/// A manager in memory whose persisted sector holds a job for its
/// 256-byte piece, to `/out/small`.
async fn small_job() -> (
    Arc<DevnetChain>,
    Arc<LocalSectorManager>,
    AllocatedSector,
    PieceCid,
) {
    let (chain, m) = manager_on(Arc::new(MemoryManagerStore::new()));
    let (s, _) = persisted_deal_sector(&chain, &m).await;
    let small = piece(1, 256).cid;
    m.request_unseal(s.id, small, "/out/small".into())
        .await
        .unwrap();
    (chain, m, s, small)
}

fn rejected(r: Result<impl std::fmt::Debug, ManagerError>, needle: &str) {
    match r {
        Err(ManagerError::Rejected(m)) => assert!(m.contains(needle), "{m}"),
        other => panic!("expected a rejection naming {needle:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_requested_piece_goes_to_one_worker_with_what_it_needs() {
    let (chain, m) = manager_on(Arc::new(MemoryManagerStore::new()));
    let (s, info) = persisted_deal_sector(&chain, &m).await;
    let big: PieceCid = piece(2, 512).cid;

    rejected(
        m.request_unseal(s.id, piece(9, 512).cid, "/out/x".into())
            .await,
        "holds no piece",
    );
    rejected(
        m.request_unseal(s.id, big, "ftp://somewhere/x".into())
            .await,
        "unseal destination",
    );
    let job = m
        .request_unseal(s.id, big, "file:///retrievals/big".into())
        .await
        .unwrap();
    // After a 256-byte piece, the 512-byte one is aligned to 512 padded
    // bytes: unpadded byte 508, 508 bytes long.
    assert_eq!((job.offset, job.len), (508, 508));
    assert_eq!(job.state, UnsealState::Pending);
    // The same piece again: one job, two destinations.
    let again = m
        .request_unseal(s.id, big, "http://retrieval.example/big".into())
        .await
        .unwrap();
    assert_eq!(again.dests.len(), 2);
    assert_eq!(m.unseal_jobs().await.unwrap().len(), 1);

    let other_miner = AllocateSpec {
        allowed_miners: vec![ActorId(2000)],
        ..AllocateSpec::default()
    };
    assert_eq!(m.allocate_unseal(other_miner).await.unwrap(), None);
    let got = m
        .allocate_unseal(AllocateSpec::default())
        .await
        .unwrap()
        .expect("a job");
    assert_eq!(got.sector, s);
    assert_eq!((got.piece, got.offset, got.len), (big, 508, 508));
    assert_eq!((got.comm_d, got.ticket), (info.comm_d, info.ticket));
    assert_eq!(got.instance, "store-1");
    // Running: nobody else gets it.
    assert_eq!(
        m.allocate_unseal(AllocateSpec::default()).await.unwrap(),
        None
    );
    assert_eq!(
        m.unseal_destinations(s.id, big).await.unwrap(),
        vec![
            "file:///retrievals/big".to_string(),
            "http://retrieval.example/big".to_string()
        ]
    );
    m.achieve_unseal(s.id, big, None).await.unwrap();
    // A repeated report changes nothing.
    m.achieve_unseal(s.id, big, None).await.unwrap();
    let jobs = m.unseal_jobs().await.unwrap();
    assert!(
        matches!(jobs[0].1.state, UnsealState::Done { .. }),
        "{jobs:?}"
    );
    assert_eq!(jobs[0].1.attempts, 1);
    assert_eq!(
        m.allocate_unseal(AllocateSpec::default()).await.unwrap(),
        None
    );
    let steps: Vec<String> = m
        .sector_status(s.id)
        .await
        .unwrap()
        .unwrap()
        .history
        .iter()
        .map(|e| e.next.clone())
        .filter(|n| n.starts_with("Unseal"))
        .collect();
    assert_eq!(
        steps,
        [
            "UnsealRequested",
            "UnsealRequested",
            "UnsealStarted",
            "Unsealed"
        ]
    );
    // Asked again once done: a new job.
    let renewed = m
        .request_unseal(s.id, big, "/retrievals/big-2".into())
        .await
        .unwrap();
    assert_eq!(
        (renewed.state, renewed.dests.len()),
        (UnsealState::Pending, 1)
    );
}

#[tokio::test]
async fn a_sector_not_persisted_or_unknown_is_refused() {
    let (_chain, m) = manager_on(Arc::new(MemoryManagerStore::new()));
    let s = m
        .allocate_sector(AllocateSpec::default())
        .await
        .unwrap()
        .unwrap();
    rejected(
        m.request_unseal(s.id, piece(1, 256).cid, "/out".into())
            .await,
        "not sealed, persisted and finalized",
    );
    let unknown = venus_seal_core::SectorId::new(M1, venus_seal_core::SectorNumber(99));
    rejected(
        m.request_unseal(unknown, piece(1, 256).cid, "/out".into())
            .await,
        "unknown sector",
    );
    // Not Rejected (damocles' 11001 would make its worker report the
    // sector aborted): an internal error naming it.
    match m.achieve_unseal(s.id, piece(1, 256).cid, None).await {
        Err(ManagerError::Internal(why)) => assert!(why.contains("no unseal job"), "{why}"),
        other => panic!("{other:?}"),
    }
}

/// Failures put the job back for another worker until the cap; then it
/// is given up with the last reason. A worker that never reports loses
/// the job after its lease.
#[tokio::test]
async fn failures_are_retried_up_to_the_cap_and_a_silent_worker_loses_the_job() {
    let (_chain, m, s, small) = small_job().await;
    for attempt in 1..=UnsealJob::MAX_ATTEMPTS {
        let got = m.allocate_unseal(AllocateSpec::default()).await.unwrap();
        assert!(got.is_some(), "attempt {attempt}");
        m.achieve_unseal(s.id, small, Some(format!("disk error {attempt}")))
            .await
            .unwrap();
    }
    let (_, job) = m.unseal_jobs().await.unwrap().remove(0);
    assert!(matches!(job.state, UnsealState::Failed { .. }), "{job:?}");
    assert_eq!(job.last_error.as_deref(), Some("disk error 3"));
    assert_eq!(
        m.allocate_unseal(AllocateSpec::default()).await.unwrap(),
        None
    );

    // A fresh request; its worker goes silent past the lease.
    m.request_unseal(s.id, small, "/out/small".into())
        .await
        .unwrap();
    assert!(m
        .allocate_unseal(AllocateSpec::default())
        .await
        .unwrap()
        .is_some());
    m.modify(s.id, |rec| {
        rec.unseal[0].state = UnsealState::Running { since: 1 };
        Ok(())
    })
    .await
    .unwrap();
    let again = m.allocate_unseal(AllocateSpec::default()).await.unwrap();
    assert!(again.is_some(), "handed out again after the lease");
    assert_eq!(m.unseal_jobs().await.unwrap()[0].1.attempts, 2);
}

/// A manager started again on the same store (or another process on it)
/// finds the open jobs by scanning the store.
#[tokio::test]
async fn a_restarted_manager_finds_the_open_jobs() {
    let store: Arc<dyn ManagerStore> = Arc::new(MemoryManagerStore::new());
    let (chain, m) = manager_on(store.clone());
    let (s, _) = persisted_deal_sector(&chain, &m).await;
    m.request_unseal(s.id, piece(1, 256).cid, "/out/small".into())
        .await
        .unwrap();
    drop(m);
    let (_chain, restarted) = manager_on(store);
    let got = restarted
        .allocate_unseal(AllocateSpec::default())
        .await
        .unwrap()
        .expect("the job requested before the restart");
    assert_eq!(got.sector, s);
}

/// A damocles worker's unseal plan reports the sealed sector as it goes:
/// while its job runs, `ReportState` answers "not finalized" (else that
/// worker would stop) and leaves the sealing record alone, and
/// `ReportAborted` fails the job, not the sector. A finalized sector is
/// never aborted by a worker.
#[tokio::test]
async fn a_damocles_unseal_workers_reports_go_to_its_job() {
    use venus_seal_core::manager::{SectorStateChange, StateReport, WorkerIdentifier};

    let (_chain, m, s, small) = small_job().await;
    assert!(m
        .allocate_unseal(AllocateSpec::default())
        .await
        .unwrap()
        .is_some());
    let before = m.sector_status(s.id).await.unwrap().unwrap();
    let report = StateReport {
        worker: WorkerIdentifier {
            instance: "damocles-unseal".into(),
            location: "/unseal/1".into(),
        },
        state_change: SectorStateChange {
            prev: "Empty".into(),
            next: "UnsealPrepared".into(),
            event: None,
        },
        failure: None,
    };
    let answer = m.report_state(s.id, report).await.unwrap();
    assert!(!answer.finalized && answer.abort_reason.is_none());
    let after = m.sector_status(s.id).await.unwrap().unwrap();
    assert_eq!(after.last_report, before.last_report);
    m.report_aborted(s.id, "upload refused".into())
        .await
        .unwrap();
    let rec = m.sector_status(s.id).await.unwrap().unwrap();
    assert_eq!(rec.aborted, None, "the sector is not aborted");
    assert_eq!(rec.unseal[0].state, UnsealState::Pending);
    assert_eq!(rec.unseal[0].last_error.as_deref(), Some("upload refused"));
    // No job running: a worker's abort of the finalized sector is ignored.
    m.report_aborted(s.id, "confused worker".into())
        .await
        .unwrap();
    let rec = m.sector_status(s.id).await.unwrap().unwrap();
    assert_eq!(rec.aborted, None);
    assert_eq!(rec.history.last().unwrap().next, "AbortIgnored");
    // A late success counts even after the job went back to waiting.
    m.achieve_unseal(s.id, small, None).await.unwrap();
    let rec = m.sector_status(s.id).await.unwrap().unwrap();
    assert!(matches!(rec.unseal[0].state, UnsealState::Done { .. }));
}
