//! Compute limits: per-stage concurrency, named shared locks, staggered
//! starts — applied as a decorator around any executor.
//!
//! Limits are held only while a stage runs: a sector that waits on the
//! chain or for its seed holds no permit. They are held until the stage's
//! work has really ended, not merely until its caller stopped waiting: a
//! task whose caller goes away (the sector is paused or aborted, the
//! worker shuts down) runs on in its own tokio task that owns its
//! permits, told through [`caller_gone`](crate::executor::caller_gone) so
//! that an executor that can stop its work (kill a child process) does,
//! and the permits pass on only once it returns. A stage on a blocking
//! thread or in a child can therefore never share a GPU lock with the
//! next one.

mod gate;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Mutex;
use tokio::time::Instant;

use self::gate::{Gate, Held};
use crate::error::StageError;
use crate::executor::{Caller, Executor};
use crate::stage::Stage;

/// How one stage is limited.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StageLimit {
    /// At most this many tasks of the stage at once (`None`: unlimited).
    pub concurrent: Option<usize>,
    /// Named locks the stage holds while it runs (e.g. `gpu`, shared by
    /// pc2 and c2).
    pub locks: Vec<String>,
    /// At least this long between two starts of the stage.
    pub stagger: Option<Duration>,
    /// Among the tasks waiting for one of the stage's named locks, those
    /// of a higher priority are granted it first (in arrival order within
    /// a priority). A task holding a lock is never preempted. Default 0;
    /// e.g. `window_post` at 1 with `c2` at 0 on a shared `gpu` lock: a
    /// WindowPoSt waits at most for the C2 running now, never for the
    /// C2s queued behind it.
    pub priority: u8,
}

impl StageLimit {
    /// The stage limits a `[limits]` table (stage → most at once) and a
    /// `[locks]` table (lock → the stages that take it) make, as the
    /// worker's and the sector manager's configs write them.
    pub fn from_tables(
        limits: &BTreeMap<String, usize>,
        locks: &BTreeMap<String, Vec<String>>,
    ) -> BTreeMap<String, StageLimit> {
        let mut stages: BTreeMap<String, StageLimit> = BTreeMap::new();
        for (stage, n) in limits {
            stages.entry(stage.clone()).or_default().concurrent = Some(*n);
        }
        for (lock, users) in locks {
            for stage in users {
                stages
                    .entry(stage.clone())
                    .or_default()
                    .locks
                    .push(lock.clone());
            }
        }
        stages
    }
}

/// Occupancy of one limit, for metrics and `list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Occupancy {
    /// `stage:<name>` or `lock:<name>`.
    pub name: String,
    /// Held now.
    pub in_use: usize,
    /// The limit.
    pub capacity: usize,
    /// Tasks waiting for it now.
    pub waiting: usize,
}

/// One stage's load now ([`Limits::stage_loads`]); also what a worker's
/// ping carries to its manager, which averages it into the stage's
/// utilisation.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct StageLoad {
    /// The stage (`pc1`, `c2`, `window_post`, ...).
    pub stage: String,
    /// Its tasks running now (past their permits and locks).
    pub running: usize,
    /// Its tasks waiting for a permit or a lock now.
    pub waiting: usize,
    /// At most this many at once (`None`: no `[limits]` entry).
    pub limit: Option<usize>,
}

/// The limits of one worker: build once, then [`wrap`](Limits::wrap)
/// every stage's executor.
///
/// ```
/// use std::collections::BTreeMap;
/// use venus_seal_core::engine::limits::{Limits, StageLimit};
/// let mut stages = BTreeMap::new();
/// let gpu = || vec!["gpu".to_string()];
/// stages.insert("c2".to_string(), StageLimit { concurrent: Some(1), locks: gpu(), ..Default::default() });
/// // A WindowPoSt is granted the GPU before any queued C2.
/// stages.insert("window_post".to_string(), StageLimit { locks: gpu(), priority: 1, ..Default::default() });
/// let limits = Limits::new(stages, BTreeMap::new());
/// assert_eq!(limits.occupancy().len(), 2); // one stage limit, one lock
/// ```
#[derive(Debug)]
pub struct Limits {
    stages: HashMap<String, Arc<Gate>>,
    locks: BTreeMap<String, Arc<Gate>>,
    stage_locks: HashMap<String, Vec<String>>,
    priorities: HashMap<String, u8>,
    stagger: HashMap<String, (Duration, Mutex<Option<Instant>>)>,
    /// Tasks running (past their permits) and waiting, by stage, for
    /// every stage that ran (limited or not).
    counts: std::sync::Mutex<BTreeMap<&'static str, [usize; 2]>>,
}

impl Limits {
    /// Builds the limits. `locks` gives each named lock's capacity (default
    /// 1 for a lock a stage names but `locks` does not list).
    pub fn new(stages: BTreeMap<String, StageLimit>, locks: BTreeMap<String, usize>) -> Arc<Self> {
        let mut lock_gates: BTreeMap<String, Arc<Gate>> = locks
            .into_iter()
            .map(|(name, n)| (name, Gate::new(n.max(1))))
            .collect();
        let mut gates = HashMap::new();
        let mut stage_locks = HashMap::new();
        let mut priorities = HashMap::new();
        let mut stagger = HashMap::new();
        for (stage, limit) in stages {
            if let Some(n) = limit.concurrent {
                gates.insert(stage.clone(), Gate::new(n.max(1)));
            }
            let mut names = limit.locks.clone();
            names.sort();
            names.dedup();
            for name in &names {
                lock_gates
                    .entry(name.clone())
                    .or_insert_with(|| Gate::new(1));
            }
            stage_locks.insert(stage.clone(), names);
            priorities.insert(stage.clone(), limit.priority);
            if let Some(d) = limit.stagger {
                stagger.insert(stage, (d, Mutex::new(None)));
            }
        }
        Arc::new(Self {
            stages: gates,
            locks: lock_gates,
            stage_locks,
            priorities,
            stagger,
            counts: std::sync::Mutex::default(),
        })
    }

    /// Each stage's load now: every stage with a limit, and every other
    /// stage that has run, by name.
    pub fn stage_loads(&self) -> Vec<StageLoad> {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let mut loads: BTreeMap<&str, StageLoad> = counts
            .iter()
            .map(|(stage, [running, waiting])| {
                let load = StageLoad {
                    stage: stage.to_string(),
                    running: *running,
                    waiting: *waiting,
                    limit: None,
                };
                (*stage, load)
            })
            .collect();
        for (stage, gate) in &self.stages {
            loads
                .entry(stage)
                .or_insert_with(|| StageLoad {
                    stage: stage.clone(),
                    ..StageLoad::default()
                })
                .limit = Some(gate.capacity());
        }
        loads.into_values().collect()
    }

    /// Counts a task of `stage` as [`RUNNING`] or [`WAITING`] until the
    /// guard drops.
    fn count(self: &Arc<Self>, stage: &'static str, what: usize) -> Counted {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(stage)
            .or_default()[what] += 1;
        Counted {
            limits: self.clone(),
            stage,
            what,
        }
    }

    /// Wraps `inner` so that its tasks obey the limits of stage `S`.
    pub fn wrap<S: Stage, E: Executor<S> + 'static>(self: &Arc<Self>, inner: E) -> Limited<E> {
        Limited {
            inner: Arc::new(inner),
            limits: self.clone(),
        }
    }

    /// How full each limit is now.
    pub fn occupancy(&self) -> Vec<Occupancy> {
        let stages = self.stages.iter().map(|(n, g)| (format!("stage:{n}"), g));
        let locks = self.locks.iter().map(|(n, g)| (format!("lock:{n}"), g));
        let mut out: Vec<_> = stages
            .chain(locks)
            .map(|(name, g)| Occupancy {
                name,
                in_use: g.in_use(),
                capacity: g.capacity(),
                waiting: g.waiting(),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    async fn enter(&self, stage: &str) -> Vec<Held> {
        let mut held = Vec::new();
        if let Some(gate) = self.stages.get(stage) {
            held.push(gate.hold(0).await);
        }
        // Locks in name order, so two stages never wait on each other.
        let priority = self.priorities.get(stage).copied().unwrap_or(0);
        for name in self.stage_locks.get(stage).into_iter().flatten() {
            held.push(self.locks[name].hold(priority).await);
        }
        if let Some((gap, last)) = self.stagger.get(stage) {
            let mut last = last.lock().await;
            if let Some(prev) = *last {
                tokio::time::sleep_until(prev + *gap).await;
            }
            *last = Some(Instant::now());
        }
        held
    }
}

/// Indices into a stage's counts in [`Limits`].
const RUNNING: usize = 0;
const WAITING: usize = 1;

/// A task counted in [`Limits::stage_loads`] while it lives.
struct Counted {
    limits: Arc<Limits>,
    stage: &'static str,
    what: usize,
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut counts = self.limits.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(self.stage) {
            n[self.what] = n[self.what].saturating_sub(1);
        }
    }
}

/// An executor limited by [`Limits`]; itself an executor.
///
/// Each task runs in a tokio task of its own that holds the stage's
/// permits and locks (and counts in the sector's
/// [`SectorWork`](super::work::SectorWork)) until the inner executor
/// returns, even if the caller's future is dropped first; the inner
/// executor then sees [`caller_gone`](crate::executor::caller_gone). A
/// task that panics releases them and fails Permanent, naming the stage
/// and the panic.
#[derive(Debug)]
pub struct Limited<E> {
    inner: Arc<E>,
    limits: Arc<Limits>,
}

#[async_trait]
impl<S: Stage, E: Executor<S> + 'static> Executor<S> for Limited<E> {
    async fn execute(&self, task: S) -> Result<S::Output, StageError> {
        // Waiting for permits is cancel-safe: nothing runs yet.
        let waiting = self.limits.count(S::NAME, WAITING);
        let held = self.limits.enter(S::NAME).await;
        drop(waiting);
        let running = self.limits.count(S::NAME, RUNNING);
        let counted = super::work::SectorWork::current().map(|w| w.enter());
        let caller = Caller::new();
        let inner = self.inner.clone();
        let run = caller.watch(async move { inner.execute(task).await });
        let work = tokio::spawn(async move {
            let result = run.await;
            // Released only now that the work has ended.
            drop((held, running, counted));
            result
        });
        let result = work.await;
        drop(caller);
        match result {
            Ok(result) => result,
            Err(e) => Err(StageError::Computation(format!(
                "the {} stage panicked: {}",
                S::NAME,
                panic_message(e)
            ))),
        }
    }
}

/// What a task that did not finish left: its panic message.
pub(crate) fn panic_message(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(payload) => payload_message(payload.as_ref()),
        Err(e) => e.to_string(),
    }
}

/// A panic payload as text.
pub(crate) fn payload_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}
