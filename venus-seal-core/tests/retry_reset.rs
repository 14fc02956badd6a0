//! Retry counts are per run of failures: a sector that waits 75 minutes
//! for its seed, with the manager unreachable once every ten minutes,
//! sees more Temporary failures than `max_retries` in total but never more
//! than one in a row. It must finish, not park.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use venus_seal_core::testing::{fake_stage_executors, test_sealer, FakeManager};
use venus_seal_core::{MemorySectorStore, SectorRecord, SectorState, SectorStore};

#[tokio::test(start_paused = true)]
async fn failures_far_apart_in_a_long_wait_do_not_exhaust_the_retries() {
    let dir = tempfile::tempdir().unwrap();
    let (execs, _fakes) = fake_stage_executors();
    let manager = Arc::new(FakeManager::default());
    let store: Arc<dyn SectorStore> = Arc::new(MemorySectorStore::default());
    let sealer = test_sealer(manager.clone(), execs, store.clone());

    // One manager call in every ten minutes fails: 7 of them fall inside
    // the 75-minute seed wait, each followed by answered polls.
    let injected = Arc::new(AtomicU32::new(0));
    let (flaky, count) = (manager.clone(), injected.clone());
    let injector = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(10 * 60)).await;
            flaky.fail_next(1);
            count.fetch_add(1, Ordering::SeqCst);
        }
    });

    let mut record = SectorRecord::new(1);
    let outcome = sealer.run(&mut record, dir.path(), &mut |_, _| {}).await;
    injector.abort();
    assert!(
        outcome.is_ok(),
        "the sector parked: {:?} (retries {:?})",
        outcome.unwrap_err(),
        record.retry
    );
    assert_eq!(record.state, SectorState::Finished);
    assert_eq!(manager.finalized(), vec![1]);
    assert!(
        injected.load(Ordering::SeqCst) > 2 * 3,
        "more failures than max_retries in all"
    );
    assert_eq!(record.retry.retries, 0);
}
