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
use venus_seal_core::{FailureLevel, RetryDecision, RetryPolicy, RetryState};

use crate::simulate::config::{SimConfig, SimStage, MINUTE};
use crate::simulate::faults::{FaultLog, Faults, StageRun};
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

/// What every sealing thread of one run shares.
#[derive(Debug)]
struct Ctx {
    cfg: SimConfig,
    gates: Gates,
    rec: Arc<Recorder>,
    faults: Faults,
    policy: RetryPolicy,
}

/// What a sealing thread does for its sector, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// A modelled stage.
    Stage(SimStage),
    /// The pre-commit goes to the manager; WaitSeed starts when it is
    /// accepted.
    SubmitPreCommit,
    /// Waiting for the seed.
    WaitSeed,
    /// The proof goes to the manager.
    SubmitProof,
}

fn steps(cfg: &SimConfig) -> Vec<Step> {
    let modelled = |stages: &[SimStage]| -> Vec<Step> {
        stages
            .iter()
            .filter(|&&s| cfg.stages.get(s).is_modelled())
            .map(|&s| Step::Stage(s))
            .collect()
    };
    let mut out = modelled(&SimStage::BEFORE_SEED);
    out.extend([Step::SubmitPreCommit, Step::WaitSeed]);
    out.extend(modelled(&SimStage::AFTER_SEED));
    out.push(Step::SubmitProof);
    out
}

/// Why a step did not complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fail {
    /// The worker crashed and is back: run the step again.
    Crash,
    /// The step failed at this level.
    Level(FailureLevel),
}

/// The durable part of a thread's sector (damocles keeps it in the
/// sealing store's meta database and reloads it when the worker restarts:
/// `damocles-worker/src/sealing/sealing_thread/planner/common/task.rs`,
/// `Task::build`), so a crash costs only the step in progress.
#[derive(Debug, Default)]
struct Sector {
    /// Running (holding its thread) since its first stage started.
    running: Option<Token>,
    /// Waiting for its seed since its pre-commit was accepted, and when it
    /// comes.
    seed: Option<(Token, Duration)>,
}

/// Runs the thread model for `cfg.minutes` of tokio time (pause the clock
/// first) and returns what happened and what was injected.
///
/// With `[failures]`, a thread follows damocles' failure handling
/// (`damocles-worker/src/sealing/failure.rs`): a Temporary failure is
/// retried every `recover_interval` up to `max_retries` times, then it is
/// Permanent; a Permanent or Critical failure blocks the thread until the
/// operator's next round resumes it, which re-runs the failed step; an
/// Abort gives the sector up and the thread starts a new one. A crash
/// stops every thread; `downtime` later each re-runs the step it was in.
pub async fn run(cfg: &SimConfig) -> (Trace, FaultLog) {
    let rec = Recorder::new();
    let faults = Faults::new(cfg);
    let ctx = Arc::new(Ctx {
        cfg: cfg.clone(),
        gates: Gates::new(cfg),
        rec: rec.clone(),
        policy: faults.retry_policy(),
        faults,
    });
    let mut threads = JoinSet::new();
    for _ in 0..cfg.slots {
        threads.spawn(sealing_thread(ctx.clone()));
    }
    tokio::time::sleep(cfg.horizon() + PAST_HORIZON).await;
    for &crash in ctx.faults.crashes() {
        if crash < cfg.horizon() + PAST_HORIZON {
            ctx.faults.crashed();
        }
    }
    threads.abort_all();
    while threads.join_next().await.is_some() {}
    (rec.trace(cfg.horizon()), ctx.faults.log())
}

/// One sealing thread: one sector after another, forever.
async fn sealing_thread(ctx: Arc<Ctx>) {
    let restart = MINUTE * ctx.cfg.threads.restart as u32;
    let steps = steps(&ctx.cfg);
    loop {
        let mut sector = Sector::default();
        let mut retry = RetryState::default();
        let mut aborted = false;
        let mut i = 0;
        while i < steps.len() {
            match run_step(&ctx, steps[i], &mut sector).await {
                Ok(()) => {
                    i += 1;
                    retry = RetryState::default();
                }
                Err(Fail::Crash) => {}
                Err(Fail::Level(level)) => match ctx.policy.decide(&mut retry, level) {
                    RetryDecision::RetryAfter(delay) => {
                        let _ = or_crash(&ctx, tokio::time::sleep(delay)).await;
                    }
                    RetryDecision::Park(_) => {
                        parked(&ctx).await;
                        retry = RetryState::default();
                    }
                    RetryDecision::Abort => {
                        aborted = true;
                        break;
                    }
                },
            }
        }
        if let Some((seed, _)) = sector.seed.take() {
            ctx.rec.end(seed);
        }
        if let Some(running) = sector.running.take() {
            if aborted {
                ctx.rec.abandon(running);
            } else {
                ctx.rec.end(running);
            }
        }
        if !restart.is_zero() {
            tokio::time::sleep(restart).await;
        }
    }
}

/// Runs `fut` unless the worker crashes first; then waits until the worker
/// is back and answers `None`.
async fn or_crash<F: std::future::Future>(ctx: &Ctx, fut: F) -> Option<F::Output> {
    let now = ctx.rec.now();
    let Some(crash) = ctx.faults.next_crash(now) else {
        return Some(fut.await);
    };
    tokio::select! {
        biased;
        out = fut => Some(out),
        _ = tokio::time::sleep(crash - now) => {
            tokio::time::sleep(ctx.faults.downtime()).await;
            None
        }
    }
}

/// Blocks the thread until the operator's next round resumes it.
async fn parked(ctx: &Ctx) {
    let token = ctx.rec.begin(Activity::Parked);
    match ctx.faults.next_operator_round(ctx.rec.now()) {
        Some(round) => tokio::time::sleep(round - ctx.rec.now()).await,
        // Nothing parks without a failure plan, which has an operator.
        None => std::future::pending().await,
    }
    ctx.rec.end(token);
}

async fn run_step(ctx: &Ctx, step: Step, sector: &mut Sector) -> Result<(), Fail> {
    match step {
        Step::Stage(stage) => run_stage(ctx, stage, &mut sector.running).await,
        Step::SubmitPreCommit => {
            sector
                .running
                .get_or_insert_with(|| ctx.rec.begin(Activity::Sector));
            if ctx.faults.refuse_submission(ctx.rec.now()) {
                return Err(Fail::Level(FailureLevel::Temporary));
            }
            let seed_at = ctx.rec.now() + ctx.cfg.wait_seed_duration();
            sector.seed = Some((ctx.rec.begin(Activity::Seed), seed_at));
            Ok(())
        }
        Step::WaitSeed => {
            let Some((_, seed_at)) = &sector.seed else {
                unreachable!("WaitSeed follows an accepted pre-commit");
            };
            let wait = seed_at.saturating_sub(ctx.rec.now());
            or_crash(ctx, tokio::time::sleep(wait))
                .await
                .ok_or(Fail::Crash)?;
            if let Some((seed, _)) = sector.seed.take() {
                ctx.rec.end(seed);
            }
            Ok(())
        }
        Step::SubmitProof => {
            if ctx.faults.refuse_submission(ctx.rec.now()) {
                return Err(Fail::Level(FailureLevel::Temporary));
            }
            Ok(())
        }
    }
}

/// Runs one stage of a sector: waits for its slot and locks, then for its
/// time, then draws whether it failed. The sector (and its thread) counts
/// as running from the start of its first modelled stage, as sealcalc
/// counts it.
async fn run_stage(ctx: &Ctx, stage: SimStage, running: &mut Option<Token>) -> Result<(), Fail> {
    let spec = ctx.cfg.stages.get(stage);
    let run = async {
        let _held = ctx.gates.enter(&ctx.cfg, stage).await;
        running.get_or_insert_with(|| ctx.rec.begin(Activity::Sector));
        let task = StageRun::begin(&ctx.rec, &ctx.faults, stage);
        let d: Duration = spec.duration();
        if !d.is_zero() {
            tokio::time::sleep(d).await;
        }
        task.end();
        ctx.faults.draw(stage)
    };
    match or_crash(ctx, run).await {
        None => Err(Fail::Crash),
        Some(Some(level)) => Err(Fail::Level(level)),
        Some(None) => Ok(()),
    }
}

/// Runs the thread model on a fresh paused clock, for the report.
pub fn simulate(cfg: &SimConfig) -> ModelRun {
    let ((trace, faults), wall) = on_paused_clock(run(cfg));
    ModelRun {
        name: "thread-per-sector",
        trace,
        wall,
        transitions: None,
        faults: cfg.failures.is_some().then_some(faults),
    }
}
