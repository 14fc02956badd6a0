//! What goes wrong, the same in both models: stage runs that fail at a
//! rate per stage and level, worker crashes, windows in which the sector
//! manager is down, and an operator who comes by every
//! `failures.operator_every` minutes and resumes what is parked.
//!
//! Draws are reproducible: each stage has its own ChaCha stream from
//! `failures.seed`, and the n-th run of a stage to finish draws the n-th
//! number of its stream in either model, so both models see the same
//! sequence of failures per stage. Crash times are drawn (or listed) once
//! before a run and are the same for both models.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use venus_seal_core::{FailureLevel, RetryPolicy, StageError};

use crate::simulate::config::{FailuresSection, SimConfig, SimStage, MINUTE};
use crate::simulate::trace::{Activity, Recorder, Token};

/// The ChaCha stream of random crash times (stages use 0..6).
const CRASH_STREAM: u64 = 100;

/// What was injected into one model's run, and what it cost.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultLog {
    /// Stage runs that finished their time (each drew once), per stage.
    pub runs: BTreeMap<SimStage, u64>,
    /// Failures injected, per stage and level.
    pub injected: BTreeMap<(SimStage, FailureLevel), u64>,
    /// Submissions (pre-commit, proof) refused while the manager was down.
    pub refused_submissions: u64,
    /// Worker crashes.
    pub crashes: u64,
    /// Stage runs cut short by a crash (their work is lost).
    pub cut_runs: u64,
    /// Stage time lost to crashes: what the cut runs had done.
    pub cut_time: Duration,
}

impl FaultLog {
    /// Failures of `level` injected over every stage.
    pub fn injected_at(&self, level: FailureLevel) -> u64 {
        self.injected
            .iter()
            .filter(|((_, l), _)| *l == level)
            .map(|(_, n)| n)
            .sum()
    }
}

/// The failure plan of one model's run, and its log.
#[derive(Debug)]
pub struct Faults {
    plan: Option<FailuresSection>,
    /// The stages both models run (the thread model skips the others).
    modelled: Vec<SimStage>,
    crashes: Vec<Duration>,
    downtime: Duration,
    streams: Mutex<BTreeMap<SimStage, ChaCha8Rng>>,
    log: Mutex<FaultLog>,
}

impl Faults {
    /// A fresh plan for one run of `cfg` (no failures without
    /// `[failures]`).
    pub fn new(cfg: &SimConfig) -> Self {
        let plan = cfg.failures.clone();
        let streams = SimStage::ALL
            .into_iter()
            .enumerate()
            .map(|(i, stage)| {
                let mut rng = ChaCha8Rng::seed_from_u64(plan.as_ref().map_or(0, |p| p.seed));
                rng.set_stream(i as u64);
                (stage, rng)
            })
            .collect();
        let downtime = plan
            .as_ref()
            .map_or(Duration::ZERO, |p| MINUTE * p.crashes.downtime as u32);
        Self {
            modelled: SimStage::ALL
                .into_iter()
                .filter(|&s| cfg.stages.get(s).is_modelled())
                .collect(),
            crashes: crash_times(cfg),
            downtime,
            plan,
            streams: Mutex::new(streams),
            log: Mutex::default(),
        }
    }

    /// Whether anything is injected at all.
    pub fn enabled(&self) -> bool {
        self.plan.is_some()
    }

    /// The retry policy both models follow: `[failures]`' or the engine's
    /// default (damocles' too: 5 retries a minute apart).
    pub fn retry_policy(&self) -> RetryPolicy {
        self.plan
            .as_ref()
            .map_or_else(RetryPolicy::default, FailuresSection::retry_policy)
    }

    /// A run of `stage` finished its time: whether it fails, and with which
    /// level. Stages that take no time and have no limit (which the thread
    /// model skips) never fail and are not counted.
    pub fn draw(&self, stage: SimStage) -> Option<FailureLevel> {
        let plan = self.plan.as_ref()?;
        if !self.modelled.contains(&stage) {
            return None;
        }
        let rates = plan.stages.get(stage);
        let u: f64 = self
            .streams
            .lock()
            .unwrap()
            .get_mut(&stage)
            .expect("a stream per stage")
            .gen();
        let mut log = self.log.lock().unwrap();
        *log.runs.entry(stage).or_default() += 1;
        let mut below = 0.0;
        for (level, rate) in rates.by_level() {
            below += rate;
            if u < below {
                *log.injected.entry((stage, level)).or_default() += 1;
                return Some(level);
            }
        }
        None
    }

    /// Whether a submission made at `t` is refused (the manager is down);
    /// counts it.
    pub fn refuse_submission(&self, t: Duration) -> bool {
        let down = self.plan.as_ref().is_some_and(|p| p.manager_down(t));
        if down {
            self.log.lock().unwrap().refused_submissions += 1;
        }
        down
    }

    /// When the worker crashes, in order.
    pub fn crashes(&self) -> &[Duration] {
        &self.crashes
    }

    /// How long the worker stays down after a crash.
    pub fn downtime(&self) -> Duration {
        self.downtime
    }

    /// The first crash after `t` (strictly), if any.
    pub fn next_crash(&self, t: Duration) -> Option<Duration> {
        self.crashes.iter().copied().find(|&c| c > t)
    }

    /// Whether the worker is down at `t` (from a crash to its restart).
    pub fn is_down(&self, t: Duration) -> bool {
        self.crashes
            .iter()
            .any(|&c| c <= t && t < c + self.downtime)
    }

    /// The operator's first round after `t` (strictly) at which the worker
    /// runs: rounds are every `operator_every` minutes from the start, and
    /// one that falls while the worker is down is missed.
    pub fn next_operator_round(&self, t: Duration) -> Option<Duration> {
        let every = MINUTE * self.plan.as_ref()?.operator_every as u32;
        let mut round = every * (t.as_secs() / every.as_secs() + 1) as u32;
        while self.is_down(round) {
            round += every;
        }
        Some(round)
    }

    /// Records a crash.
    pub fn crashed(&self) {
        self.log.lock().unwrap().crashes += 1;
    }

    /// Records a run cut short after `done` at `now`, when a crash cut it
    /// (not the end of the run).
    pub fn cut(&self, now: Duration, done: Duration) {
        if !self.crashes.contains(&now) {
            return;
        }
        let mut log = self.log.lock().unwrap();
        log.cut_runs += 1;
        log.cut_time += done;
    }

    /// What was injected so far.
    pub fn log(&self) -> FaultLog {
        self.log.lock().unwrap().clone()
    }
}

/// The error a real executor would return for a failure of `level` in
/// `stage` (each maps back to `level` through `Leveled`).
pub fn stage_error(stage: SimStage, level: FailureLevel) -> StageError {
    let what = format!("injected {level} failure of {}", stage.name());
    match level {
        FailureLevel::Temporary => StageError::Unavailable(what),
        FailureLevel::Permanent => StageError::Computation(what),
        FailureLevel::Critical => StageError::io(what, std::io::Error::other("simulated EIO")),
        FailureLevel::Abort => StageError::InvalidTask(what),
    }
}

/// Every crash of a run of `cfg`, in order, before its horizon: the listed
/// ones and, with `per_day`, exponential gaps of that mean rate drawn from
/// the seed.
pub fn crash_times(cfg: &SimConfig) -> Vec<Duration> {
    let Some(plan) = &cfg.failures else {
        return Vec::new();
    };
    let horizon = cfg.horizon();
    let mut out: Vec<Duration> = plan
        .crashes
        .at
        .iter()
        .map(|&m| MINUTE * m as u32)
        .filter(|&t| t < horizon)
        .collect();
    if plan.crashes.per_day > 0.0 {
        let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
        rng.set_stream(CRASH_STREAM);
        let mean_minutes = 1440.0 / plan.crashes.per_day;
        let mut t = 0.0;
        loop {
            let u: f64 = rng.gen();
            t += -(1.0 - u).ln() * mean_minutes;
            let at = Duration::from_secs_f64(t * 60.0);
            if at >= horizon {
                break;
            }
            // Whole seconds: both models wake at the same instants.
            out.push(Duration::from_secs(at.as_secs()));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// One stage run in the trace: ends when it ran its time, or, dropped
/// before (a crash killed it), ends there and counts as cut.
#[derive(Debug)]
#[must_use = "end the run with StageRun::end"]
pub struct StageRun<'a> {
    rec: &'a Recorder,
    faults: &'a Faults,
    token: Option<Token>,
    started: Duration,
}

impl<'a> StageRun<'a> {
    /// `stage` starts running now.
    pub fn begin(rec: &'a Recorder, faults: &'a Faults, stage: SimStage) -> Self {
        Self {
            rec,
            faults,
            token: Some(rec.begin(Activity::Stage(stage))),
            started: rec.now(),
        }
    }

    /// The run ran its time.
    pub fn end(mut self) {
        if let Some(token) = self.token.take() {
            self.rec.end(token);
        }
    }
}

impl Drop for StageRun<'_> {
    fn drop(&mut self) {
        if let Some(token) = self.token.take() {
            self.rec.end(token);
            let now = self.rec.now();
            self.faults.cut(now, now - self.started);
        }
    }
}
