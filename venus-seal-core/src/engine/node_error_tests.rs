//! Issue 13 item 1 on the worker's side: a manager whose chain node fails
//! answers `ManagerError::from(ChainError::…)` (each variant, words nobody
//! anticipated). The engine retries, or parks the sector with its files,
//! and never aborts it (which would delete a pre-committed sector's
//! files); once the node is back, the sector finishes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::error::{ChainError, ManagerError};
use crate::manager::*;
use crate::stage::Proof;
use crate::testing::{
    every_chain_error, fake_stage_executors, one_location_engine, test_sealer, FakeManager,
};
use crate::types::randomness::Ticket;
use crate::{FailureLevel, MemorySectorStore, SectorId};

const WORDS: &str = "some text nobody anticipated: rejected, gone, abort";

/// [`FakeManager`] behind a node that fails: while a method has failures
/// left, it answers the chain error (as `LocalSectorManager` converts it)
/// instead of calling the fake.
#[derive(Debug)]
struct NodeDown {
    inner: FakeManager,
    error: ChainError,
    /// Failures left per method name (`usize::MAX`: until cleared).
    left: Mutex<HashMap<&'static str, usize>>,
}

impl NodeDown {
    fn new(error: ChainError) -> Self {
        Self {
            inner: FakeManager::default(),
            error,
            left: Mutex::default(),
        }
    }

    fn fail(&self, method: &'static str, times: usize) {
        self.lock().insert(method, times);
    }

    fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<&'static str, usize>> {
        self.left.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn check(&self, method: &'static str) -> Result<(), ManagerError> {
        match self.lock().get_mut(method) {
            Some(n) if *n > 0 => {
                *n -= 1;
                Err(ManagerError::from(self.error.clone()))
            }
            _ => Ok(()),
        }
    }
}

/// The methods whose manager side reads the chain.
const CHAIN_METHODS: [&str; 5] = [
    "submit_pre_commit",
    "poll_pre_commit_state",
    "wait_seed",
    "submit_proof",
    "poll_proof_state",
];

#[async_trait]
impl SectorManager for NodeDown {
    async fn allocate_sector(
        &self,
        spec: AllocateSpec,
    ) -> Result<Option<AllocatedSector>, ManagerError> {
        self.inner.allocate_sector(spec).await
    }

    async fn acquire_deals(
        &self,
        id: SectorId,
        spec: AcquireDealsSpec,
    ) -> Result<Vec<DealInfo>, ManagerError> {
        self.inner.acquire_deals(id, spec).await
    }

    async fn assign_ticket(&self, id: SectorId) -> Result<Ticket, ManagerError> {
        self.check("assign_ticket")?;
        self.inner.assign_ticket(id).await
    }

    async fn submit_pre_commit(
        &self,
        sector: AllocatedSector,
        info: PreCommitOnChainInfo,
        reset: bool,
    ) -> Result<SubmitResponse, ManagerError> {
        self.check("submit_pre_commit")?;
        self.inner.submit_pre_commit(sector, info, reset).await
    }

    async fn poll_pre_commit_state(&self, id: SectorId) -> Result<PollStateResponse, ManagerError> {
        self.check("poll_pre_commit_state")?;
        self.inner.poll_pre_commit_state(id).await
    }

    async fn submit_persisted(&self, id: SectorId, instance: String) -> Result<bool, ManagerError> {
        self.inner.submit_persisted(id, instance).await
    }

    async fn wait_seed(&self, id: AllocatedSector) -> Result<WaitSeedResponse, ManagerError> {
        self.check("wait_seed")?;
        self.inner.wait_seed(id).await
    }

    async fn submit_proof(
        &self,
        id: SectorId,
        proof: Proof,
        reset: bool,
    ) -> Result<SubmitResponse, ManagerError> {
        self.check("submit_proof")?;
        self.inner.submit_proof(id, proof, reset).await
    }

    async fn poll_proof_state(&self, id: SectorId) -> Result<PollStateResponse, ManagerError> {
        self.check("poll_proof_state")?;
        self.inner.poll_proof_state(id).await
    }

    async fn report_state(
        &self,
        id: SectorId,
        report: StateReport,
    ) -> Result<ReportStateResponse, ManagerError> {
        self.inner.report_state(id, report).await
    }

    async fn report_finalized(&self, id: SectorId) -> Result<(), ManagerError> {
        self.inner.report_finalized(id).await
    }

    async fn report_aborted(&self, id: SectorId, reason: String) -> Result<(), ManagerError> {
        self.inner.report_aborted(id, reason).await
    }
}

/// An engine of one slot over `manager` (3 retries a minute apart), with
/// its sealing directory.
fn engine(manager: Arc<NodeDown>) -> (Engine, Arc<dyn SectorStore>, tempfile::TempDir) {
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
        let manager = Arc::new(NodeDown::new(error.clone()));
        for method in CHAIN_METHODS {
            manager.fail(method, 2);
        }
        let (engine, store, _dir) = engine(manager.clone());
        engine.with_max_sectors(1).run(never()).await.unwrap();

        assert!(
            manager.inner.aborted().is_empty(),
            "{error:?}: {:?}",
            manager.inner.aborted()
        );
        assert_eq!(manager.inner.finalized(), vec![1], "{error:?}");
        let records = store.load_all().await.unwrap();
        assert_eq!(records[0].state, SectorState::Finished, "{error:?}");
        assert!(
            manager.lock().values().all(|left| *left == 0),
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
        let manager = Arc::new(NodeDown::new(error.clone()));
        manager.fail("poll_pre_commit_state", usize::MAX);
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
        assert!(manager.inner.aborted().is_empty(), "{error:?}");

        manager.clear();
        handle.resume(parked.job, None).await.unwrap();
        run.await.unwrap().unwrap();
        assert!(manager.inner.aborted().is_empty(), "{error:?}");
        assert_eq!(manager.inner.finalized(), vec![1], "{error:?}");
        let records = store.load_all().await.unwrap();
        assert_eq!(records[0].state, SectorState::Finished, "{error:?}");
    }
}
