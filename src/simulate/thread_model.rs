//! The thread-per-sector model of the anchor (damocles-worker): `slots`
//! sealing threads, each owning one sector from its first stage to the end
//! of its C2, through WaitSeed included, then starting the next.
//!
//! It is the model of damocles' own sealing calculator, `damocles-worker-util
//! sealcalc` (ipfs-force-community/damocles,
//! `damocles-worker-util/src/sealcalc.rs` at 4f95dd74, documented in
//! `docs/en/12.damocles-worker-util.md`), written as tokio tasks instead of
//! sealcalc's minute-by-minute loop:
//!
//! - a free sealing thread starts a sector when a tree_d slot is free;
//!   sealcalc counts a thread as running from the start of its tree_d;
//! - each stage runs for its fixed time while holding one of its `limit`
//!   slots (and its named locks); a sector that finishes a stage queues for
//!   the next one's slot (sealcalc's per-stage `done` counters are those
//!   queues);
//! - WaitSeed starts when pc2 ends, lasts `wait_seed` minutes and is not
//!   limited; then C2 (sealcalc has no add_pieces and no c1: give them 0
//!   minutes);
//! - when C2 ends the sector is finished and the thread is free; sealcalc
//!   adds freed threads after it has started the minute's tree_d tasks, so
//!   the thread's next sector starts a minute later (`[threads] restart = 1`).
//!
//! With the parameters of sealcalc's published example this reproduces
//! every row of the published output, and on every configuration the tests
//! try it matches sealcalc's model minute by minute (the tests restate that
//! loop independently).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::simulate::config::{SimConfig, SimStage, MINUTE};
use crate::simulate::report::ModelRun;
use crate::simulate::trace::{on_paused_clock, Activity, Recorder, Token, Trace, PAST_HORIZON};

/// The compute limits: one semaphore per limited stage and per named lock,
/// taken in the order the engine's `Limits` takes them (stage, then locks
/// by name).
#[derive(Debug)]
struct Gates {
    stages: BTreeMap<SimStage, Arc<Semaphore>>,
    locks: BTreeMap<String, Arc<Semaphore>>,
}

impl Gates {
    fn new(cfg: &SimConfig) -> Self {
        let stages = SimStage::ALL
            .into_iter()
            .filter_map(|s| {
                let limit = cfg.stages.get(s).limit?;
                Some((s, Arc::new(Semaphore::new(limit))))
            })
            .collect();
        let locks = cfg
            .locks
            .iter()
            .map(|(name, &n)| (name.clone(), Arc::new(Semaphore::new(n))))
            .collect();
        Self { stages, locks }
    }

    async fn enter(&self, cfg: &SimConfig, stage: SimStage) -> Vec<OwnedSemaphorePermit> {
        let acquire = |s: &Arc<Semaphore>| s.clone().acquire_owned();
        let mut held = Vec::new();
        if let Some(gate) = self.stages.get(&stage) {
            held.push(acquire(gate).await.expect("never closed"));
        }
        let mut names = cfg.stages.get(stage).locks.clone();
        names.sort();
        names.dedup();
        for name in names {
            held.push(acquire(&self.locks[&name]).await.expect("never closed"));
        }
        held
    }
}

/// Runs the thread model for `cfg.minutes` of tokio time (pause the clock
/// first) and returns what happened.
pub async fn run(cfg: &SimConfig) -> Trace {
    let cfg = Arc::new(cfg.clone());
    let gates = Arc::new(Gates::new(&cfg));
    let rec = Recorder::new();
    let mut threads = JoinSet::new();
    for _ in 0..cfg.slots {
        threads.spawn(sealing_thread(cfg.clone(), gates.clone(), rec.clone()));
    }
    tokio::time::sleep(cfg.horizon() + PAST_HORIZON).await;
    threads.abort_all();
    while threads.join_next().await.is_some() {}
    rec.trace(cfg.horizon())
}

/// One sealing thread: one sector after another, forever.
async fn sealing_thread(cfg: Arc<SimConfig>, gates: Arc<Gates>, rec: Arc<Recorder>) {
    let restart = MINUTE * cfg.threads.restart as u32;
    loop {
        let mut sector = None;
        for stage in SimStage::BEFORE_SEED {
            run_stage(&cfg, &gates, &rec, stage, &mut sector).await;
        }
        sector.get_or_insert_with(|| rec.begin(Activity::Sector));
        let seed = rec.begin(Activity::Seed);
        tokio::time::sleep(cfg.wait_seed_duration()).await;
        rec.end(seed);
        for stage in SimStage::AFTER_SEED {
            run_stage(&cfg, &gates, &rec, stage, &mut sector).await;
        }
        if let Some(sector) = sector {
            rec.end(sector);
        }
        if !restart.is_zero() {
            tokio::time::sleep(restart).await;
        }
    }
}

/// Runs one stage of a sector: waits for its slot and locks, then for its
/// time. The sector (and its thread) counts as running from the start of
/// its first modelled stage, as sealcalc counts it.
async fn run_stage(
    cfg: &SimConfig,
    gates: &Gates,
    rec: &Recorder,
    stage: SimStage,
    sector: &mut Option<Token>,
) {
    let spec = cfg.stages.get(stage);
    if !spec.is_modelled() {
        return;
    }
    let _held = gates.enter(cfg, stage).await;
    sector.get_or_insert_with(|| rec.begin(Activity::Sector));
    let task = rec.begin(Activity::Stage(stage));
    let d: Duration = spec.duration();
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
    rec.end(task);
}

/// Runs the thread model on a fresh paused clock, for the report.
pub fn simulate(cfg: &SimConfig) -> ModelRun {
    let (trace, wall) = on_paused_clock(run(cfg));
    ModelRun {
        name: "thread-per-sector",
        trace,
        wall,
        transitions: None,
    }
}
