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
use venus_seal_core::engine::limits::{Limits, StageLimit};
use venus_seal_core::manager::{
    AcquireDealsSpec, AllocateSpec, AllocatedSector, DealInfo, PollStateResponse,
    PreCommitOnChainInfo, ReportStateResponse, StateReport, SubmitResponse, SubmitResult,
    WaitSeedResponse,
};
use venus_seal_core::stage::{Proof, Stage};
use venus_seal_core::testing::{fake_stage_executors, FakeManager};
use venus_seal_core::{
    Engine, Executor, Location, ManagerError, MemoryPieceStore, MemorySectorStore, Sealer,
    SealerConfig, SectorId, SectorManager, SectorRecord, SectorState, SectorStore,
    SectorStoreError, StageError, StageExecutors, Ticket,
};

use crate::simulate::config::{ReleasePoint, SimConfig, SimStage};
use crate::simulate::report::ModelRun;
use crate::simulate::trace::{on_paused_clock, Activity, Recorder, Token, Trace, PAST_HORIZON};

/// What an engine run leaves.
#[derive(Debug)]
pub struct EngineRun {
    /// When everything happened.
    pub trace: Trace,
    /// Durable sector transitions: records the engine saved to its store.
    pub transitions: u64,
}

/// Runs the engine for `cfg.minutes` of tokio time (pause the clock first)
/// and returns what happened.
pub async fn run(cfg: &SimConfig) -> anyhow::Result<EngineRun> {
    let rec = Recorder::new();
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

    let limits = Limits::new(
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
    );
    let timed = |stage| Timed::new(stage, rec.clone());
    let executors = StageExecutors {
        add_pieces: Arc::new(limits.wrap(timed(SimStage::AddPieces).around(fakes.add_pieces))),
        tree_d: Arc::new(limits.wrap(timed(SimStage::TreeD).around(fakes.tree_d))),
        pc1: Arc::new(limits.wrap(timed(SimStage::Pc1).around(fakes.pc1))),
        pc2: Arc::new(limits.wrap(timed(SimStage::Pc2).around(fakes.pc2))),
        c1: Arc::new(limits.wrap(timed(SimStage::C1).around(fakes.c1))),
        c2: Arc::new(limits.wrap(timed(SimStage::C2).around(fakes.c2))),
        persist: fakes.persist,
    };

    let mut manager = FakeManager::default();
    manager.pre_commit_delay = Duration::ZERO;
    manager.seed_delay = cfg.wait_seed_duration();
    let manager = Arc::new(Watched {
        inner: manager,
        rec: rec.clone(),
        open: Mutex::default(),
    });
    let store = Arc::new(Counted::default());
    let sealer = Sealer::new(
        manager,
        Arc::new(MemoryPieceStore::default()),
        executors,
        store.clone(),
        SealerConfig::default(),
    );
    let location = Location {
        path: dir.path().to_path_buf(),
        slots: cfg.slots,
    };
    let mut engine = Engine::new(sealer, store.clone(), vec![location]);
    if cfg.engine.release_slot_at == ReleasePoint::Persisted {
        engine = engine.with_slot_release(SectorState::Persisted, cfg.in_flight());
    }
    engine
        .run(tokio::time::sleep(cfg.horizon() + PAST_HORIZON))
        .await?;
    Ok(EngineRun {
        trace: rec.trace(cfg.horizon()),
        transitions: store.saves.load(Ordering::Relaxed),
    })
}

/// Records when each task of one stage runs.
#[derive(Debug)]
pub struct Timed<E> {
    inner: E,
    stage: SimStage,
    rec: Arc<Recorder>,
}

impl Timed<()> {
    /// A recorder of `stage`'s tasks into `rec`, to wrap an executor with.
    pub fn new(stage: SimStage, rec: Arc<Recorder>) -> Self {
        Self {
            inner: (),
            stage,
            rec,
        }
    }

    /// Wraps `inner`.
    pub fn around<E>(self, inner: E) -> Timed<E> {
        Timed {
            inner,
            stage: self.stage,
            rec: self.rec,
        }
    }
}

#[async_trait]
impl<S: Stage, E: Executor<S>> Executor<S> for Timed<E> {
    async fn execute(&self, task: S) -> Result<S::Output, StageError> {
        let token = self.rec.begin(Activity::Stage(self.stage));
        let out = self.inner.execute(task).await;
        self.rec.end(token);
        out
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

    async fn wait_seed(&self, sector: SectorId) -> Result<WaitSeedResponse, ManagerError> {
        let resp = self.inner.wait_seed(sector).await?;
        if !resp.should_wait && resp.seed.is_some() {
            self.end(Activity::Seed, sector);
        }
        Ok(resp)
    }

    async fn submit_proof(
        &self,
        sector: SectorId,
        proof: Proof,
        reset: bool,
    ) -> Result<SubmitResponse, ManagerError> {
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
        self.inner.report_state(sector, report).await
    }

    async fn report_finalized(&self, sector: SectorId) -> Result<(), ManagerError> {
        self.inner.report_finalized(sector).await?;
        self.end(Activity::Sector, sector);
        Ok(())
    }

    async fn report_aborted(&self, sector: SectorId, reason: String) -> Result<(), ManagerError> {
        self.inner.report_aborted(sector, reason).await
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
    })
}
