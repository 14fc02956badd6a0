//! Cancellation chaos: every stage runs on a blocking thread (as local
//! proofs do, so dropping its future leaves the work running) while
//! pause, resume, abort and shutdown-and-restart hit the engine at random.
//! A census counts what really runs at once per stage, per lock and per
//! sector; the configured limits must never be exceeded and no sector may
//! run two stages at once. Real time, a seeded loop over many seeds.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use super::limits::{Limits, StageLimit};
use super::*;
use crate::executor::DynExecutor;
use crate::sealer::{SealerConfig, StageExecutors};
use crate::stage::Stage;
use crate::testing::{
    fake_stage_executors, one_location_engine, BlockingFake, Census, FakeExecutor, FakeManager,
};
use crate::{MemoryPieceStore, MemorySectorStore, RetryPolicy};

/// A small deterministic generator (xorshift64*), so a failing seed
/// replays.
#[derive(Debug)]
pub(super) struct Rng(AtomicU64);

impl Rng {
    pub(super) fn new(seed: u64) -> Arc<Self> {
        Arc::new(Self(AtomicU64::new(
            seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        )))
    }

    fn below(&self, n: u64) -> u64 {
        let mut x = self.0.load(Ordering::Relaxed);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0.store(x, Ordering::Relaxed);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

/// Which sector a task is for: its `sector` field, or (tree_d names
/// none) the sector whose job directory its paths name, learned from the
/// sector's earlier tasks.
#[derive(Debug, Default)]
pub(super) struct Sectors(std::sync::Mutex<std::collections::HashMap<String, String>>);

impl Sectors {
    fn of<S: Stage>(&self, task: &S) -> String {
        let json = serde_json::to_value(task).expect("stages serialize");
        let text = json.to_string();
        let dir = text.find("job-").map(|at| {
            let digits: String = text[at + 4..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            format!("job-{digits}")
        });
        let mut known = self.0.lock().unwrap();
        match (json.get("sector"), dir) {
            (Some(sector), dir) => {
                let key = format!("sector:{sector}");
                if let Some(dir) = dir {
                    known.insert(dir, key.clone());
                }
                key
            }
            (None, Some(dir)) => known.get(&dir).cloned().unwrap_or(format!("sector:{dir}")),
            (None, None) => panic!("{} task names no sector: {text}", S::NAME),
        }
    }
}

/// How long each stage's work takes: `lo..=hi` ms, drawn per task.
pub(super) type WorkMs = fn(&str) -> (u64, u64);

/// `fake`'s stage on a blocking thread for `work(stage)` ms, counted in
/// `census` under its stage, its locks and its sector, limited by `limits`.
fn blocking<S: Stage>(
    fake: Arc<FakeExecutor<S>>,
    census: &Arc<Census>,
    limits: &Arc<Limits>,
    config: &BTreeMap<String, StageLimit>,
    rng: &Arc<Rng>,
    work: WorkMs,
    sectors: &Arc<Sectors>,
) -> DynExecutor<S> {
    let sectors = sectors.clone();
    let locks: Vec<String> = config
        .get(S::NAME)
        .map(|l| l.locks.iter().map(|n| format!("lock:{n}")).collect())
        .unwrap_or_default();
    let keys = move |t: &S| {
        let mut keys = vec![format!("stage:{}", S::NAME), sectors.of(t)];
        keys.extend(locks.iter().cloned());
        keys
    };
    let rng = rng.clone();
    let (lo, hi) = work(S::NAME);
    let work = move |_: &S| Duration::from_millis(lo + rng.below(hi - lo + 1));
    Arc::new(limits.wrap(BlockingFake::new(fake, census.clone(), keys, work)))
}

pub(super) fn limit(concurrent: Option<usize>, locks: &[&str]) -> StageLimit {
    StageLimit {
        concurrent,
        locks: locks.iter().map(|s| s.to_string()).collect(),
        ..StageLimit::default()
    }
}

/// Everything an engine is built from, kept across restarts.
pub(super) struct World {
    pub(super) census: Arc<Census>,
    pub(super) executors: StageExecutors,
    pub(super) manager: Arc<FakeManager>,
    pub(super) store: Arc<dyn SectorStore>,
    dir: tempfile::TempDir,
}

impl World {
    pub(super) fn new(config: &BTreeMap<String, StageLimit>, rng: &Arc<Rng>, work: WorkMs) -> Self {
        let census = Arc::new(Census::default());
        let limits = Limits::new(config.clone(), BTreeMap::new());
        let (_, fakes) = fake_stage_executors();
        let sectors = Arc::new(Sectors::default());
        let executors = StageExecutors {
            add_pieces: blocking(
                fakes.add_pieces,
                &census,
                &limits,
                config,
                rng,
                work,
                &sectors,
            ),
            tree_d: blocking(fakes.tree_d, &census, &limits, config, rng, work, &sectors),
            pc1: blocking(fakes.pc1, &census, &limits, config, rng, work, &sectors),
            pc2: blocking(fakes.pc2, &census, &limits, config, rng, work, &sectors),
            c1: blocking(fakes.c1, &census, &limits, config, rng, work, &sectors),
            c2: blocking(fakes.c2, &census, &limits, config, rng, work, &sectors),
            persist: blocking(fakes.persist, &census, &limits, config, rng, work, &sectors),
        };
        let mut manager = FakeManager::default();
        manager.pre_commit_delay = Duration::from_millis(2);
        manager.seed_delay = Duration::from_millis(2);
        Self {
            census,
            executors,
            manager: Arc::new(manager),
            store: Arc::new(MemorySectorStore::default()),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Starts an engine over the world; returns its handle, its shutdown
    /// trigger and its task.
    pub(super) fn start(&self, slots: usize) -> Running {
        let sealer = Sealer::new(
            self.manager.clone(),
            Arc::new(MemoryPieceStore::default()),
            self.executors.clone(),
            self.store.clone(),
            SealerConfig {
                poll_interval: Duration::from_millis(1),
                retry: RetryPolicy {
                    recover_interval: Duration::from_millis(5),
                    max_retries: 3,
                },
                ..SealerConfig::default()
            },
        );
        let engine = one_location_engine(sealer, self.store.clone(), self.dir.path(), slots);
        let handle = engine.handle();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(engine.run(async move {
            let _ = stopped.await;
        }));
        Running { handle, stop, task }
    }
}

pub(super) struct Running {
    pub(super) handle: EngineHandle,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), SectorStoreError>>,
}

impl Running {
    pub(super) async fn shutdown(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

/// One seed: random operator commands and restarts against a running
/// engine; returns what the census saw.
async fn chaos(seed: u64, config: &BTreeMap<String, StageLimit>) -> BTreeMap<String, usize> {
    let rng = Rng::new(seed);
    let world = World::new(config, &rng, |_| (1, 12));
    let mut engine = world.start(4);
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(rng.below(6))).await;
        let jobs: Vec<SectorSummary> = match engine.handle.list().await {
            Ok(jobs) => jobs
                .into_iter()
                .filter(|s| !s.state.is_terminal())
                .collect(),
            Err(_) => continue,
        };
        let pick = |paused: bool| {
            let some: Vec<u64> = jobs
                .iter()
                .filter(|s| s.paused == paused)
                .map(|s| s.job)
                .collect();
            (!some.is_empty()).then(|| some[rng.below(some.len() as u64) as usize])
        };
        // Refusals (a job that just finished, a restart in progress) are
        // part of the chaos.
        match rng.below(10) {
            0..=3 => {
                if let Some(job) = pick(false) {
                    let _ = engine.handle.pause(job).await;
                }
            }
            4..=6 => {
                if let Some(job) = pick(true) {
                    let _ = engine.handle.resume(job, None).await;
                }
            }
            7 => {
                if let Some(job) = pick(rng.below(2) == 0) {
                    let _ = engine.handle.abort(job, "chaos".into()).await;
                }
            }
            8 => {
                engine.shutdown().await;
                engine = world.start(4);
            }
            _ => {}
        }
    }
    engine.shutdown().await;
    assert_eq!(
        world.census.running(),
        0,
        "seed {seed}: a stage still runs after the engine shut down"
    );
    world.census.maxima()
}

/// Limits, locks and one stage per sector hold under random pause,
/// resume, abort and restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancellation_chaos_never_exceeds_limits() {
    let mut config = BTreeMap::new();
    config.insert("pc1".to_string(), limit(Some(2), &[]));
    config.insert("pc2".to_string(), limit(Some(1), &["gpu"]));
    config.insert("c2".to_string(), limit(Some(1), &["gpu"]));
    config.insert("tree_d".to_string(), limit(None, &["disk"]));
    let mut seen = BTreeMap::new();
    for seed in 0..24 {
        let maxima = chaos(seed, &config).await;
        for (key, max) in &maxima {
            let allowed = match key.as_str() {
                "stage:pc1" => 2,
                "stage:pc2" | "stage:c2" | "lock:gpu" | "lock:disk" => 1,
                k if k.starts_with("sector:") => 1,
                _ => usize::MAX,
            };
            assert!(
                *max <= allowed,
                "seed {seed}: {max} ran at once under {key} (allowed {allowed}); all: {maxima:?}"
            );
            let e = seen.entry(key.clone()).or_insert(0);
            *e = (*e).max(*max);
        }
    }
    // The chaos reached the stages it means to test.
    for key in ["stage:pc2", "stage:c2", "lock:gpu", "stage:pc1"] {
        assert!(
            seen.get(key).is_some_and(|m| *m >= 1),
            "{key} never ran: {seen:?}"
        );
    }
    assert_eq!(seen["stage:pc1"], 2, "pc1 never ran two at once: {seen:?}");
}
