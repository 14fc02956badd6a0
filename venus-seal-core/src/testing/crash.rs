//! A worker process that dies at a chosen await: decorators of the
//! [`SectorStore`], the [`SectorManager`] and the stage [`Executor`]s that
//! share one [`CrashSwitch`].
//!
//! The switch is armed at one [`CrashPoint`]. When a decorated call reaches
//! it, the switch fires and the call never returns; from then on every call
//! through any decorator of that switch never returns either (the process
//! is dead: nothing it would still do reaches the database, the manager or
//! the disk). The test then drops the worker (aborting its tasks) and
//! starts a new one on the same database and directories, which is what a
//! `SIGKILL` and a restart leave behind.
//!
//! A switch also records every point a run passed, so a test can check
//! that its list of crash points covers every point a clean run has.

use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::watch;

use crate::error::{ManagerError, StageError};
use crate::executor::{DynExecutor, Executor};
use crate::manager::{
    AcquireDealsSpec, AllocateSpec, AllocatedSector, DealInfo, OnChainState, PollStateResponse,
    PreCommitOnChainInfo, ReportStateResponse, SectorManager, StateReport, SubmitResponse,
    WaitSeedResponse,
};
use crate::sealer::StageExecutors;
use crate::sector::{SectorRecord, SectorState};
use crate::stage::{Proof, Stage};
use crate::store::{SectorStore, SectorStoreError};
use crate::types::ids::SectorId;
use crate::types::randomness::Ticket;

/// Where a worker dies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CrashPoint {
    /// In the first save of a record in this state, before anything is
    /// written: the store keeps the state before it.
    BeforeSave(SectorState),
    /// Right after the first save of a record in this state was written.
    AfterSave(SectorState),
    /// Right after this stage's executor returned its output (before the
    /// output is synced and its record saved).
    AfterStage(&'static str),
    /// Right after this manager method (its name in
    /// [`SectorManager`]) returned the answer that moves the sector on (a
    /// sector, a landed message, a seed; any answer for the others).
    AfterManagerCall(&'static str),
    /// Killed from outside ([`CrashSwitch::kill`]), for this reason.
    Killed(&'static str),
}

impl fmt::Display for CrashPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CrashPoint::BeforeSave(s) => write!(f, "before the {s} record is saved"),
            CrashPoint::AfterSave(s) => write!(f, "after the {s} record is saved"),
            CrashPoint::AfterStage(s) => write!(f, "after the {s} stage returned"),
            CrashPoint::AfterManagerCall(m) => write!(f, "after the manager's {m} returned"),
            CrashPoint::Killed(why) => write!(f, "killed {why}"),
        }
    }
}

/// One worker process's life: armed at one point (or none), dead once it
/// fired. See the [module docs](self).
#[derive(Debug)]
pub struct CrashSwitch {
    armed: Mutex<Option<CrashPoint>>,
    fired: watch::Sender<Option<CrashPoint>>,
    passed: Mutex<Vec<CrashPoint>>,
}

impl CrashSwitch {
    /// A process that dies at `point`.
    pub fn armed(point: CrashPoint) -> Arc<Self> {
        Self::new(Some(point))
    }

    /// A process that never dies.
    pub fn disarmed() -> Arc<Self> {
        Self::new(None)
    }

    fn new(point: Option<CrashPoint>) -> Arc<Self> {
        Arc::new(Self {
            armed: Mutex::new(point),
            fired: watch::Sender::new(None),
            passed: Mutex::default(),
        })
    }

    /// Where the process died, if it did.
    pub fn fired_at(&self) -> Option<CrashPoint> {
        *self.fired.borrow()
    }

    /// Waits until the process dies; the point it died at.
    pub async fn fired(&self) -> CrashPoint {
        let mut rx = self.fired.subscribe();
        let fired = rx
            .wait_for(Option::is_some)
            .await
            .expect("the switch holds its own sender");
        fired.expect("waited for Some")
    }

    /// Every point the process passed (or died at), in order, each once.
    pub fn passed(&self) -> Vec<CrashPoint> {
        self.passed.lock().unwrap().clone()
    }

    /// The process dies now, wherever it is (`why` says where: a test
    /// hook outside the worker, such as a message push).
    pub fn kill(&self, why: &'static str) {
        tracing::warn!(why, "injected crash: the worker process is killed");
        self.fired.send_replace(Some(CrashPoint::Killed(why)));
    }

    /// Never returns once the process is dead.
    async fn alive(&self) {
        if self.fired_at().is_some() {
            std::future::pending::<()>().await;
        }
    }

    /// The process reached `here`: dies (never returns) if it is armed
    /// there or already dead.
    async fn reach(&self, here: CrashPoint) {
        self.alive().await;
        {
            let mut passed = self.passed.lock().unwrap();
            if !passed.contains(&here) {
                passed.push(here);
            }
        }
        let die = {
            let mut armed = self.armed.lock().unwrap();
            let die = *armed == Some(here);
            if die {
                *armed = None;
            }
            die
        };
        if die {
            tracing::warn!(point = %here, "injected crash: the worker process dies here");
            self.fired.send_replace(Some(here));
        }
        self.alive().await;
    }
}

/// A [`SectorStore`] that dies at [`CrashPoint::BeforeSave`] and
/// [`CrashPoint::AfterSave`] of its switch.
#[derive(Debug)]
pub struct CrashingStore<S> {
    inner: S,
    switch: Arc<CrashSwitch>,
}

impl<S: SectorStore> CrashingStore<S> {
    /// `inner`, dying with `switch`.
    pub fn new(inner: S, switch: Arc<CrashSwitch>) -> Self {
        Self { inner, switch }
    }
}

#[async_trait]
impl<S: SectorStore> SectorStore for CrashingStore<S> {
    async fn save(&self, record: &SectorRecord) -> Result<(), SectorStoreError> {
        self.switch
            .reach(CrashPoint::BeforeSave(record.state))
            .await;
        self.inner.save(record).await?;
        self.switch.reach(CrashPoint::AfterSave(record.state)).await;
        Ok(())
    }

    async fn load_all(&self) -> Result<Vec<SectorRecord>, SectorStoreError> {
        self.switch.alive().await;
        self.inner.load_all().await
    }
}

/// An [`Executor`] that dies at [`CrashPoint::AfterStage`] of its stage.
#[derive(Debug)]
pub struct CrashingExecutor<S: Stage> {
    inner: DynExecutor<S>,
    switch: Arc<CrashSwitch>,
}

#[async_trait]
impl<S: Stage> Executor<S> for CrashingExecutor<S> {
    async fn execute(&self, task: S) -> Result<S::Output, StageError> {
        self.switch.alive().await;
        let out = self.inner.execute(task).await;
        if out.is_ok() {
            self.switch.reach(CrashPoint::AfterStage(S::NAME)).await;
        }
        out
    }
}

fn crashing<S: Stage>(inner: DynExecutor<S>, switch: &Arc<CrashSwitch>) -> DynExecutor<S> {
    Arc::new(CrashingExecutor {
        inner,
        switch: switch.clone(),
    })
}

/// Every executor of `executors`, dying with `switch` after its stage.
pub fn crashing_executors(executors: StageExecutors, switch: &Arc<CrashSwitch>) -> StageExecutors {
    StageExecutors {
        add_pieces: crashing(executors.add_pieces, switch),
        tree_d: crashing(executors.tree_d, switch),
        pc1: crashing(executors.pc1, switch),
        pc2: crashing(executors.pc2, switch),
        c1: crashing(executors.c1, switch),
        c2: crashing(executors.c2, switch),
        persist: crashing(executors.persist, switch),
    }
}

/// A [`SectorManager`] (the worker's side of it) that dies at
/// [`CrashPoint::AfterManagerCall`]: the manager did the call, the worker
/// never heard the answer.
#[derive(Debug)]
pub struct CrashingManager {
    inner: Arc<dyn SectorManager>,
    switch: Arc<CrashSwitch>,
}

impl CrashingManager {
    /// `inner`, the worker dying with `switch`.
    pub fn new(inner: Arc<dyn SectorManager>, switch: Arc<CrashSwitch>) -> Self {
        Self { inner, switch }
    }

    /// Passes `out` through, dying after `method` when `moves_on(out)`.
    async fn after<T>(
        &self,
        method: &'static str,
        out: Result<T, ManagerError>,
        moves_on: impl FnOnce(&T) -> bool,
    ) -> Result<T, ManagerError> {
        if out.as_ref().is_ok_and(moves_on) {
            self.switch
                .reach(CrashPoint::AfterManagerCall(method))
                .await;
        }
        out
    }
}

fn landed(r: &PollStateResponse) -> bool {
    r.state == OnChainState::Landed
}

#[async_trait]
impl SectorManager for CrashingManager {
    async fn allocate_sector(
        &self,
        spec: AllocateSpec,
    ) -> Result<Option<AllocatedSector>, ManagerError> {
        self.switch.alive().await;
        let out = self.inner.allocate_sector(spec).await;
        self.after("allocate_sector", out, Option::is_some).await
    }

    async fn acquire_deals(
        &self,
        sector: SectorId,
        spec: AcquireDealsSpec,
    ) -> Result<Vec<DealInfo>, ManagerError> {
        self.switch.alive().await;
        let out = self.inner.acquire_deals(sector, spec).await;
        self.after("acquire_deals", out, |_| true).await
    }

    async fn assign_ticket(&self, sector: SectorId) -> Result<Ticket, ManagerError> {
        self.switch.alive().await;
        let out = self.inner.assign_ticket(sector).await;
        self.after("assign_ticket", out, |_| true).await
    }

    async fn submit_pre_commit(
        &self,
        sector: AllocatedSector,
        info: PreCommitOnChainInfo,
        reset: bool,
    ) -> Result<SubmitResponse, ManagerError> {
        self.switch.alive().await;
        let out = self.inner.submit_pre_commit(sector, info, reset).await;
        self.after("submit_pre_commit", out, |_| true).await
    }

    async fn poll_pre_commit_state(
        &self,
        sector: SectorId,
    ) -> Result<PollStateResponse, ManagerError> {
        self.switch.alive().await;
        let out = self.inner.poll_pre_commit_state(sector).await;
        self.after("poll_pre_commit_state", out, landed).await
    }

    async fn submit_persisted(
        &self,
        sector: SectorId,
        instance: String,
    ) -> Result<bool, ManagerError> {
        self.switch.alive().await;
        let out = self.inner.submit_persisted(sector, instance).await;
        self.after("submit_persisted", out, |ok| *ok).await
    }

    async fn wait_seed(&self, sector: AllocatedSector) -> Result<WaitSeedResponse, ManagerError> {
        self.switch.alive().await;
        let out = self.inner.wait_seed(sector).await;
        self.after("wait_seed", out, |r| !r.should_wait && r.seed.is_some())
            .await
    }

    async fn submit_proof(
        &self,
        sector: SectorId,
        proof: Proof,
        reset: bool,
    ) -> Result<SubmitResponse, ManagerError> {
        self.switch.alive().await;
        let out = self.inner.submit_proof(sector, proof, reset).await;
        self.after("submit_proof", out, |_| true).await
    }

    async fn poll_proof_state(&self, sector: SectorId) -> Result<PollStateResponse, ManagerError> {
        self.switch.alive().await;
        let out = self.inner.poll_proof_state(sector).await;
        self.after("poll_proof_state", out, landed).await
    }

    async fn report_state(
        &self,
        sector: SectorId,
        report: StateReport,
    ) -> Result<ReportStateResponse, ManagerError> {
        self.switch.alive().await;
        let out = self.inner.report_state(sector, report).await;
        self.after("report_state", out, |_| true).await
    }

    async fn report_finalized(&self, sector: SectorId) -> Result<(), ManagerError> {
        self.switch.alive().await;
        let out = self.inner.report_finalized(sector).await;
        self.after("report_finalized", out, |_| true).await
    }

    async fn report_aborted(&self, sector: SectorId, reason: String) -> Result<(), ManagerError> {
        self.switch.alive().await;
        let out = self.inner.report_aborted(sector, reason).await;
        self.after("report_aborted", out, |_| true).await
    }
}
