//! The real engine on simulated hardware: `venus_seal::core::Engine` with
//! its storage slots, the real `Limits` decorator, the real sector state
//! machine and `Sealer`, an in-memory `SectorStore` and the core's
//! `FakeManager`, with the core's fake executors sleeping each stage's
//! time on tokio's clock.
//!
//! Two thin wrappers only watch: [`Timed`] (inside the limits, so it sees
//! when a task really runs) and [`Watched`] (around the fake manager: when
//! a sector is allocated, pre-commits, gets its seed and is finalized).
//! WaitSeed is the fake manager's own knob: the pre-commit lands at once
//! (`pre_commit_delay = 0`) and the seed is ready `wait_seed` minutes
//! later (`seed_delay`); the sealer sleeps the delay the manager names.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;
use venus_seal_core::engine::limits::{Limits, StageLimit};
use venus_seal_core::manager::{
    AcquireDealsSpec, AllocateSpec, AllocatedSector, DealInfo, PollStateResponse,
    PreCommitOnChainInfo, ReportStateResponse, StateReport, SubmitResponse, SubmitResult,
    WaitSeedResponse,
};
use venus_seal_core::stage::{AddPieces, Proof, Stage};
use venus_seal_core::testing::{fake_stage_executors, FakeManager};
use venus_seal_core::types::piece::PieceInfo;
use venus_seal_core::{
    Engine, EngineHandle, Executor, FailureLevel, Location, ManagerError, MemoryPieceStore,
    MemorySectorStore, Sealer, SealerConfig, SectorId, SectorManager, SectorRecord, SectorState,
    SectorStore, SectorStoreError, StageError, StageExecutors, Ticket,
};

use crate::simulate::config::{ReleasePoint, SimConfig, SimStage};
use crate::simulate::faults::{stage_error, FaultLog, Faults, StageRun};
use crate::simulate::report::ModelRun;
use crate::simulate::trace::{on_paused_clock, Activity, Recorder, Token, Trace, PAST_HORIZON};

/// What an engine run leaves.
#[derive(Debug)]
pub struct EngineRun {
    /// When everything happened.
    pub trace: Trace,
    /// Durable sector transitions: records the engine saved to its store.
    pub transitions: u64,
    /// What was injected (`[failures]`).
    pub faults: FaultLog,
}

fn limits(cfg: &SimConfig) -> Arc<Limits> {
    Limits::new(
        SimStage::ALL
            .into_iter()
            .map(|s| {
                let spec = cfg.stages.get(s);
                let limit = StageLimit {
                    concurrent: spec.limit,
                    locks: spec.locks.clone(),
                    stagger: None,
                    priority: 0,
                };
                (s.name().to_string(), limit)
            })
            .collect(),
        cfg.locks.clone(),
    )
}

/// Runs the engine for `cfg.minutes` of tokio time (pause the clock first)
/// and returns what happened.
///
/// With `[failures]`: stage runs fail as the plan draws; the fake manager
/// refuses submissions during its outages; at each crash the worker
/// process dies (the engine is dropped, with every stage it was running)
/// and `downtime` later a new engine, with new limits, starts from the
/// same store, which outlives the process as a disk does; and every
/// `operator_every` minutes the operator resumes each parked sector
/// through the engine's handle.
pub async fn run(cfg: &SimConfig) -> anyhow::Result<EngineRun> {
    let rec = Recorder::new();
    let faults = Arc::new(Faults::new(cfg));
    let dir = tempfile::tempdir()?;
    let (_, fakes) = fake_stage_executors();
    fakes
        .add_pieces
        .set_latency(cfg.stages.add_pieces.duration());
    fakes.tree_d.set_latency(cfg.stages.tree_d.duration());
    fakes.pc1.set_latency(cfg.stages.pc1.duration());
    fakes.pc2.set_latency(cfg.stages.pc2.duration());
    fakes.c1.set_latency(cfg.stages.c1.duration());
    fakes.c2.set_latency(cfg.stages.c2.duration());

    let mut manager = FakeManager::default();
    manager.pre_commit_delay = Duration::ZERO;
    manager.seed_delay = cfg.wait_seed_duration();
    let manager = Arc::new(Watched {
        inner: manager,
        rec: rec.clone(),
        open: Mutex::default(),
        faults: faults.clone(),
    });
    let store = Arc::new(Counted::default());
    let pieces = Arc::new(MemoryPieceStore::default());
    let sealer_config = SealerConfig {
        retry: faults.retry_policy(),
        ..SealerConfig::default()
    };
    let location = Location {
        path: dir.path().to_path_buf(),
        slots: cfg.slots,
    };
    let end = cfg.horizon() + PAST_HORIZON;
    loop {
        // One life of the worker process: new limits and a new engine over
        // the same store, manager and (simulated) hardware.
        let limits = limits(cfg);
        // The process's life: at a crash every stage run it started dies
        // with it (a stage run outlives a dropped call only inside one
        // process, see `Limited`).
        let (kill, killed) = watch::channel(false);
        let timed = |stage| Timed::new(stage, rec.clone(), faults.clone(), killed.clone());
        let executors =
            StageExecutors {
                add_pieces: Arc::new(limits.wrap(
                    timed(SimStage::AddPieces).around(WritesStaged(fakes.add_pieces.clone())),
                )),
                tree_d: Arc::new(limits.wrap(timed(SimStage::TreeD).around(fakes.tree_d.clone()))),
                pc1: Arc::new(limits.wrap(timed(SimStage::Pc1).around(fakes.pc1.clone()))),
                pc2: Arc::new(limits.wrap(timed(SimStage::Pc2).around(fakes.pc2.clone()))),
                c1: Arc::new(limits.wrap(timed(SimStage::C1).around(fakes.c1.clone()))),
                c2: Arc::new(limits.wrap(timed(SimStage::C2).around(fakes.c2.clone()))),
                persist: fakes.persist.clone(),
            };
        let sealer = Sealer::new(
            manager.clone(),
            pieces.clone(),
            executors,
            store.clone(),
            sealer_config.clone(),
        );
        let mut engine = Engine::new(sealer, store.clone(), vec![location.clone()]);
        if cfg.engine.release_slot_at == ReleasePoint::Persisted {
            engine = engine.with_slot_release(SectorState::Persisted, cfg.in_flight());
        }
        let handle = engine.handle();
        // Never shut down gracefully: the process dies (below).
        let running = tokio::spawn(engine.run(std::future::pending()));
        let crash = faults.next_crash(rec.now()).filter(|&c| c < end);
        let until = crash.unwrap_or(end);
        while let Some(round) = faults.next_operator_round(rec.now()).filter(|&r| r < until) {
            tokio::time::sleep(round - rec.now()).await;
            operator_round(&store, &handle, &manager).await?;
        }
        tokio::time::sleep(until.saturating_sub(rec.now())).await;
        // A crash is no shutdown: the engine gets no chance to wait for
        // its stages, and they die at the same instant. The end of the
        // run is the same: a stage ending at the last instant would draw
        // a failure no sector is left to report.
        running.abort();
        let _ = kill.send(true);
        match running.await {
            Ok(ended) => ended?,
            Err(e) if e.is_cancelled() => {}
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
        if crash.is_none() {
            break;
        }
        faults.crashed();
        tokio::time::sleep(faults.downtime()).await;
    }
    Ok(EngineRun {
        trace: rec.trace(cfg.horizon()),
        transitions: store.saves.load(Ordering::Relaxed),
        faults: faults.log(),
    })
}

/// The operator's round: every parked sector is resumed where it stopped
/// (`sector-manager`'s `resume`, through the engine's handle).
async fn operator_round(
    store: &Counted,
    handle: &EngineHandle,
    manager: &Watched,
) -> anyhow::Result<()> {
    for record in store.load_all().await? {
        if !record.paused || record.state.is_terminal() {
            continue;
        }
        // A sector whose job is not running yet (the engine is starting)
        // waits for the next round.
        if handle.resume(record.job, None).await.is_ok() {
            if let Some(sector) = record.sector {
                manager.end(Activity::Parked, sector.id);
            }
        }
    }
    Ok(())
}

/// Records when each task of one stage runs (a task cut by a crash
/// included), and fails a task that ran its time when the failure plan
/// draws a failure for it, with the error a real executor gives at that
/// level. A task still running when `killed` turns true (the worker
/// process crashed) ends there, cut.
#[derive(Debug)]
pub struct Timed<E> {
    inner: E,
    stage: SimStage,
    rec: Arc<Recorder>,
    faults: Arc<Faults>,
    killed: watch::Receiver<bool>,
}

impl Timed<()> {
    /// A recorder of `stage`'s tasks into `rec`, failing them as `faults`
    /// draws and cutting them when `killed` turns true, to wrap an
    /// executor with.
    pub fn new(
        stage: SimStage,
        rec: Arc<Recorder>,
        faults: Arc<Faults>,
        killed: watch::Receiver<bool>,
    ) -> Self {
        Self {
            inner: (),
            stage,
            rec,
            faults,
            killed,
        }
    }

    /// Wraps `inner`.
    pub fn around<E>(self, inner: E) -> Timed<E> {
        Timed {
            inner,
            stage: self.stage,
            rec: self.rec,
            faults: self.faults,
            killed: self.killed,
        }
    }
}

#[async_trait]
impl<S: Stage, E: Executor<S>> Executor<S> for Timed<E> {
    async fn execute(&self, task: S) -> Result<S::Output, StageError> {
        let mut killed = self.killed.clone();
        let run = StageRun::begin(&self.rec, &self.faults, self.stage);
        let out = tokio::select! {
            biased;
            _ = killed.wait_for(|&k| k) => {
                // Dropping the run records it as cut.
                drop(run);
                return Err(StageError::Unavailable(format!(
                    "the worker process died during {}",
                    self.stage.name()
                )));
            }
            out = self.inner.execute(task) => out,
        };
        run.end();
        let out = out?;
        match self.faults.draw(self.stage) {
            Some(level) => Err(stage_error(self.stage, level)),
            None => Ok(out),
        }
    }
}

/// The fake add_pieces, writing the staged file as a real one does (empty
/// here): the sealer restores the sealed file from it before it runs PC2
/// again after a failed or interrupted PC2, and parks the sector Critical
/// when it is missing.
#[derive(Debug)]
pub struct WritesStaged<E>(pub E);

#[async_trait]
impl<E: Executor<AddPieces>> Executor<AddPieces> for WritesStaged<E> {
    async fn execute(&self, task: AddPieces) -> Result<Vec<PieceInfo>, StageError> {
        let staged = task.staged.clone();
        let out = self.0.execute(task).await?;
        tokio::fs::write(&staged, b"")
            .await
            .map_err(|e| StageError::io(format!("writing {}", staged.display()), e))?;
        Ok(out)
    }
}

/// The in-memory store, counting saves.
#[derive(Debug, Default)]
pub struct Counted {
    inner: MemorySectorStore,
    saves: AtomicU64,
}

#[async_trait]
impl SectorStore for Counted {
    async fn save(&self, record: &SectorRecord) -> Result<(), SectorStoreError> {
        self.saves.fetch_add(1, Ordering::Relaxed);
        self.inner.save(record).await
    }

    async fn load_all(&self) -> Result<Vec<SectorRecord>, SectorStoreError> {
        self.inner.load_all().await
    }
}

/// The fake manager, watched: a sector holds its slot from allocation to
/// finalization and waits for its seed from its pre-commit to the seed.
#[derive(Debug)]
pub struct Watched {
    inner: FakeManager,
    rec: Arc<Recorder>,
    open: Mutex<HashMap<(Activity, u64), Token>>,
    faults: Arc<Faults>,
}

impl Watched {
    fn begin(&self, activity: Activity, sector: SectorId) {
        let mut open = self.open.lock().unwrap();
        // Asked twice (a retry): the first call stands.
        open.entry((activity, sector.number.0))
            .or_insert_with(|| self.rec.begin(activity));
    }

    fn end(&self, activity: Activity, sector: SectorId) {
        let token = self
            .open
            .lock()
            .unwrap()
            .remove(&(activity, sector.number.0));
        if let Some(token) = token {
            self.rec.end(token);
        }
    }

    /// The sector was given up: whatever it was doing ends, and it ends
    /// abandoned, not finished.
    fn abandon(&self, sector: SectorId) {
        self.end(Activity::Seed, sector);
        self.end(Activity::Parked, sector);
        let token = self
            .open
            .lock()
            .unwrap()
            .remove(&(Activity::Sector, sector.number.0));
        if let Some(token) = token {
            self.rec.abandon(token);
        }
    }

    /// A submission during a manager outage: refused as unreachable.
    fn refuse(&self, what: &str) -> Result<(), ManagerError> {
        if self.faults.refuse_submission(self.rec.now()) {
            return Err(ManagerError::Transport(format!(
                "{what}: the sector manager is down (simulated outage)"
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl SectorManager for Watched {
    async fn allocate_sector(
        &self,
        spec: AllocateSpec,
    ) -> Result<Option<AllocatedSector>, ManagerError> {
        let allocated = self.inner.allocate_sector(spec).await?;
        if let Some(s) = &allocated {
            self.begin(Activity::Sector, s.id);
        }
        Ok(allocated)
    }

    async fn acquire_deals(
        &self,
        sector: SectorId,
        spec: AcquireDealsSpec,
    ) -> Result<Vec<DealInfo>, ManagerError> {
        self.inner.acquire_deals(sector, spec).await
    }

    async fn assign_ticket(&self, sector: SectorId) -> Result<Ticket, ManagerError> {
        self.inner.assign_ticket(sector).await
    }

    async fn submit_pre_commit(
        &self,
        sector: AllocatedSector,
        info: PreCommitOnChainInfo,
        reset: bool,
    ) -> Result<SubmitResponse, ManagerError> {
        self.refuse("pre-commit")?;
        let resp = self.inner.submit_pre_commit(sector, info, reset).await?;
        if resp.res == SubmitResult::Accepted {
            self.begin(Activity::Seed, sector.id);
        }
        Ok(resp)
    }

    async fn poll_pre_commit_state(
        &self,
        sector: SectorId,
    ) -> Result<PollStateResponse, ManagerError> {
        self.inner.poll_pre_commit_state(sector).await
    }

    async fn submit_persisted(
        &self,
        sector: SectorId,
        instance: String,
    ) -> Result<bool, ManagerError> {
        self.inner.submit_persisted(sector, instance).await
    }

    async fn wait_seed(&self, sector: AllocatedSector) -> Result<WaitSeedResponse, ManagerError> {
        let resp = self.inner.wait_seed(sector).await?;
        if !resp.should_wait && resp.seed.is_some() {
            self.end(Activity::Seed, sector.id);
        }
        Ok(resp)
    }

    async fn submit_proof(
        &self,
        sector: SectorId,
        proof: Proof,
        reset: bool,
    ) -> Result<SubmitResponse, ManagerError> {
        self.refuse("proof")?;
        self.inner.submit_proof(sector, proof, reset).await
    }

    async fn poll_proof_state(&self, sector: SectorId) -> Result<PollStateResponse, ManagerError> {
        self.inner.poll_proof_state(sector).await
    }

    async fn report_state(
        &self,
        sector: SectorId,
        report: StateReport,
    ) -> Result<ReportStateResponse, ManagerError> {
        // The sealer reports a sector it parks (and again while it stays
        // parked): it waits for the operator from the first report.
        let parked = report
            .failure
            .as_ref()
            .is_some_and(|f| matches!(f.level, FailureLevel::Permanent | FailureLevel::Critical));
        if parked {
            self.begin(Activity::Parked, sector);
        }
        self.inner.report_state(sector, report).await
    }

    async fn report_finalized(&self, sector: SectorId) -> Result<(), ManagerError> {
        self.inner.report_finalized(sector).await?;
        self.end(Activity::Sector, sector);
        Ok(())
    }

    async fn report_aborted(&self, sector: SectorId, reason: String) -> Result<(), ManagerError> {
        self.inner.report_aborted(sector, reason).await?;
        self.abandon(sector);
        Ok(())
    }
}

/// Runs the engine on a fresh paused clock, for the report.
pub fn simulate(cfg: &SimConfig) -> anyhow::Result<ModelRun> {
    let (run, wall) = on_paused_clock(run(cfg));
    let run = run?;
    Ok(ModelRun {
        name: "engine",
        trace: run.trace,
        wall,
        transitions: Some(run.transitions),
        faults: cfg.failures.is_some().then_some(run.faults),
    })
}
