//! Issue 13 item 1 on the worker's side: a manager whose chain node fails
//! answers `ManagerError::from(ChainError::…)` (each variant, words nobody
//! anticipated). The engine retries, or parks the sector with its files,
//! and never aborts it (which would delete a pre-committed sector's
//! files); once the node is back, the sector finishes.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::error::ManagerError;
use crate::testing::{
    every_chain_error, fake_stage_executors, one_location_engine, test_sealer, FakeManager,
};
use crate::{FailureLevel, MemorySectorStore};

const WORDS: &str = "some text nobody anticipated: rejected, gone, abort";

/// The methods whose manager side reads the chain.
const CHAIN_METHODS: [&str; 5] = [
    "submit_pre_commit",
    "poll_pre_commit_state",
    "wait_seed",
    "submit_proof",
    "poll_proof_state",
];

/// An engine of one slot over `manager` (3 retries a minute apart), with
/// its sealing directory.
fn engine(manager: Arc<FakeManager>) -> (Engine, Arc<dyn SectorStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (execs, _fakes) = fake_stage_executors();
    let store: Arc<dyn SectorStore> = Arc::new(MemorySectorStore::default());
    let sealer = test_sealer(manager, execs, store.clone());
    let engine = one_location_engine(sealer, store.clone(), dir.path(), 1);
    (engine, store, dir)
}

fn never() -> impl std::future::Future<Output = ()> {
    std::future::pending()
}

/// Each chain-reading call fails twice (fewer than the 3 retries) with
/// each variant: the sector is retried through and finishes; nothing is
/// aborted or deleted.
#[tokio::test(start_paused = true)]
async fn a_failing_node_is_retried_through_and_the_sector_finishes() {
    for error in every_chain_error(WORDS) {
        let manager = Arc::new(FakeManager::default());
        for method in CHAIN_METHODS {
            manager.fail_method(method, ManagerError::from(error.clone()), 2);
        }
        let (engine, store, _dir) = engine(manager.clone());
        engine.with_max_sectors(1).run(never()).await.unwrap();

        assert!(
            manager.aborted().is_empty(),
            "{error:?}: {:?}",
            manager.aborted()
        );
        assert_eq!(manager.finalized(), vec![1], "{error:?}");
        let records = store.load_all().await.unwrap();
        assert_eq!(records[0].state, SectorState::Finished, "{error:?}");
        assert!(
            manager.method_failures_met(),
            "{error:?}: every injected failure was met"
        );
    }
}

/// The node stays down after the pre-commit was submitted: the sector
/// parks (Permanent) with its files, is not reported aborted, and finishes
/// once the node is back and the operator resumes it.
#[tokio::test(start_paused = true)]
async fn a_node_down_for_good_parks_the_pre_committed_sector_with_its_files() {
    for error in every_chain_error(WORDS) {
        let manager = Arc::new(FakeManager::default());
        let down = ManagerError::from(error.clone());
        manager.fail_method("poll_pre_commit_state", down, usize::MAX);
        let (engine, store, _dir) = engine(manager.clone());
        let handle = engine.handle();
        let run = tokio::spawn(engine.with_max_sectors(1).run(never()));
        tokio::time::sleep(Duration::from_secs(6 * 60 * 60)).await;

        let list = handle.list().await.unwrap();
        assert_eq!(list.len(), 1, "{error:?}: {list:?}");
        let parked = &list[0];
        assert!(parked.paused, "{error:?}: {parked:?}");
        assert_eq!(parked.state, SectorState::PreCommitSubmitted, "{error:?}");
        assert_eq!(parked.level, Some(FailureLevel::Permanent), "{error:?}");
        assert!(
            parked
                .last_error
                .as_deref()
                .unwrap_or_default()
                .contains(WORDS),
            "{error:?}: {parked:?}"
        );
        let location = parked.location.clone().unwrap();
        assert!(
            location.exists(),
            "{error:?}: the sector's files were removed"
        );
        assert!(manager.aborted().is_empty(), "{error:?}");

        manager.clear_method_failures();
        handle.resume(parked.job, None).await.unwrap();
        run.await.unwrap().unwrap();
        assert!(manager.aborted().is_empty(), "{error:?}");
        assert_eq!(manager.finalized(), vec![1], "{error:?}");
        let records = store.load_all().await.unwrap();
        assert_eq!(records[0].state, SectorState::Finished, "{error:?}");
    }
}
