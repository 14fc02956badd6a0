//! An executor with knobs: latency, scripted failures, concurrency counts.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use crate::error::StageError;
use crate::executor::Executor;
use crate::sealer::StageExecutors;
use crate::stage::{
    AddPieces, Opaque, Pc1, Pc2, Pc2Output, Persist, PersistOutput, Stage, TreeD, TreeDOutput, C1,
    C2,
};
use crate::types::commitment::{CommD, CommR};
use crate::types::piece::{PaddedPieceSize, PieceInfo};
use crate::types::randomness::{Randomness, Ticket};
use crate::verify::SealVerifyInfo;

use super::FakeProofVerifier;

type OutputFn<S> = dyn Fn(&S) -> Result<<S as Stage>::Output, StageError> + Send + Sync;
type FailFn<S> = dyn Fn(&S) -> Option<StageError> + Send + Sync;

/// A fake executor of stage `S`: answers with `output(task)` after
/// `latency`, unless a scripted failure is queued; counts calls and the
/// most tasks it saw running at once. It passes the
/// [executor suite](super::conformance::executor()) like a real one.
pub struct FakeExecutor<S: Stage> {
    output: Box<OutputFn<S>>,
    latency: Mutex<Duration>,
    failures: Mutex<VecDeque<StageError>>,
    fail_if: Mutex<Option<Box<FailFn<S>>>>,
    calls: AtomicUsize,
    running: AtomicUsize,
    max_running: AtomicUsize,
}

impl<S: Stage> std::fmt::Debug for FakeExecutor<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FakeExecutor<{}>", S::NAME)
    }
}

impl<S: Stage> FakeExecutor<S> {
    /// A fake answering `output(task)`.
    pub fn new(output: impl Fn(&S) -> S::Output + Send + Sync + 'static) -> Arc<Self> {
        Self::fallible(move |task| Ok(output(task)))
    }

    /// A fake answering `output(task)`, which may refuse the task as a
    /// real executor would (a corrupt output of an earlier stage).
    pub fn fallible(
        output: impl Fn(&S) -> Result<S::Output, StageError> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self {
            output: Box::new(output),
            latency: Mutex::new(Duration::ZERO),
            failures: Mutex::new(VecDeque::new()),
            fail_if: Mutex::new(None),
            calls: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            max_running: AtomicUsize::new(0),
        })
    }

    /// Each task takes this long (tokio time: pausable in tests).
    pub fn set_latency(&self, latency: Duration) {
        *self.latency.lock().unwrap() = latency;
    }

    /// The next call fails with `err` (queue several for several calls).
    pub fn fail_next(&self, err: StageError) {
        self.failures.lock().unwrap().push_back(err);
    }

    /// Every task for which `pred` returns an error fails with it, until
    /// [`clear_failures`](Self::clear_failures).
    pub fn fail_if(&self, pred: impl Fn(&S) -> Option<StageError> + Send + Sync + 'static) {
        *self.fail_if.lock().unwrap() = Some(Box::new(pred));
    }

    /// Drops queued and conditional failures.
    pub fn clear_failures(&self) {
        self.failures.lock().unwrap().clear();
        *self.fail_if.lock().unwrap() = None;
    }

    /// Calls so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Tasks running now.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    /// The most tasks seen running at once.
    pub fn max_running(&self) -> usize {
        self.max_running.load(Ordering::SeqCst)
    }
}

struct RunningGuard<'a>(&'a AtomicUsize);

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl<S: Stage> Executor<S> for FakeExecutor<S> {
    async fn execute(&self, task: S) -> Result<S::Output, StageError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        let _guard = RunningGuard(&self.running);
        self.max_running.fetch_max(now, Ordering::SeqCst);
        let latency = *self.latency.lock().unwrap();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if let Some(err) = self.failures.lock().unwrap().pop_front() {
            return Err(err);
        }
        if let Some(err) = self.fail_if.lock().unwrap().as_ref().and_then(|f| f(&task)) {
            return Err(err);
        }
        (self.output)(&task)
    }
}

/// The fakes behind [`fake_stage_executors`], to set knobs on.
#[derive(Debug, Clone)]
pub struct FakeStages {
    /// add_pieces
    pub add_pieces: Arc<FakeExecutor<AddPieces>>,
    /// tree_d
    pub tree_d: Arc<FakeExecutor<TreeD>>,
    /// pc1
    pub pc1: Arc<FakeExecutor<Pc1>>,
    /// pc2
    pub pc2: Arc<FakeExecutor<Pc2>>,
    /// c1
    pub c1: Arc<FakeExecutor<C1>>,
    /// c2
    pub c2: Arc<FakeExecutor<C2>>,
    /// persist
    pub persist: Arc<FakeExecutor<Persist>>,
}

/// Fake executors for every stage, answering plausible outputs derived
/// from the task (CommR from the sector id; the proof is the one
/// [`FakeProofVerifier`] accepts for the sector, its commitments, ticket and
/// seed) so that a [`FakeManager`](super::FakeManager) and a devnet with a
/// `FakeProofVerifier` accept what they seal. Each refuses a corrupt output
/// of the stage before it as a real executor does (Permanent).
pub fn fake_stage_executors() -> (StageExecutors, FakeStages) {
    let zero = PieceInfo {
        size: PaddedPieceSize(2048),
        cid: CommD([0; 32]),
    };
    let fakes = FakeStages {
        add_pieces: FakeExecutor::new(move |_: &AddPieces| vec![zero]),
        tree_d: FakeExecutor::new(|_: &TreeD| TreeDOutput {
            comm_d: CommD([0; 32]),
        }),
        pc1: FakeExecutor::fallible(|t: &Pc1| encode("pc1", &t.ticket)),
        pc2: FakeExecutor::fallible(|t: &Pc2| {
            let _ticket: Ticket = decode("pc1", &t.pc1_output)?;
            Ok(Pc2Output {
                comm_r: fake_comm_r(t.sector),
                comm_d: CommD([0; 32]),
            })
        }),
        c1: FakeExecutor::fallible(|t: &C1| {
            encode(
                "c1",
                &FakeC1 {
                    comm_r: t.pc2_output.comm_r,
                    comm_d: t.pc2_output.comm_d,
                    ticket: t.ticket.ticket,
                    seed: t.seed.seed,
                },
            )
        }),
        c2: FakeExecutor::fallible(|t: &C2| {
            let info = fake_c2_verify_info(t).map_err(StageError::Computation)?;
            Ok(FakeProofVerifier::proof_for(&info))
        }),
        persist: FakeExecutor::new(|_: &Persist| PersistOutput {
            instance: "fake-store".into(),
            clean_sealing_location: false,
        }),
    };
    let executors = StageExecutors {
        add_pieces: fakes.add_pieces.clone(),
        tree_d: fakes.tree_d.clone(),
        pc1: fakes.pc1.clone(),
        pc2: fakes.pc2.clone(),
        c1: fakes.c1.clone(),
        c2: fakes.c2.clone(),
        persist: fakes.persist.clone(),
    };
    (executors, fakes)
}

/// What the fake C1 hands the fake C2: everything the proof is checked
/// against.
#[derive(serde::Serialize, serde::Deserialize)]
struct FakeC1 {
    comm_r: CommR,
    comm_d: CommD,
    ticket: Randomness,
    seed: Randomness,
}

/// What the proof of a C2 task prepared by the fake C1 is checked against
/// (its `proof` left empty), read from the fake C1 output; an error for any
/// other C1 output. A remote C2 client verifying fake proofs reads its
/// verification info with this.
pub fn fake_c2_verify_info(task: &C2) -> Result<SealVerifyInfo, String> {
    let c1: FakeC1 = task
        .c1_output
        .decode()
        .map_err(|e| format!("corrupt c1 output: {e}"))?;
    Ok(SealVerifyInfo {
        proof_type: task.proof,
        sector: task.sector,
        comm_r: c1.comm_r,
        comm_d: c1.comm_d,
        ticket: c1.ticket,
        seed: c1.seed,
        proof: Vec::new(),
    })
}

fn encode<T: serde::Serialize>(stage: &str, value: &T) -> Result<Opaque, StageError> {
    Opaque::encode(value).map_err(|e| {
        StageError::Computation(format!("fake {stage}: cannot encode its output: {e}"))
    })
}

fn decode<T: serde::de::DeserializeOwned>(stage: &str, value: &Opaque) -> Result<T, StageError> {
    value
        .decode()
        .map_err(|e| StageError::Computation(format!("corrupt {stage} output: {e}")))
}

/// The CommR the fake pc2 gives a sector.
pub fn fake_comm_r(sector: crate::SectorId) -> CommR {
    let mut r = [0u8; 32];
    r[..8].copy_from_slice(&sector.miner.0.to_le_bytes());
    r[8..16].copy_from_slice(&sector.number.0.to_le_bytes());
    CommR(r)
}

/// Counts what runs at once under each key (`stage:pc2`, `lock:gpu`,
/// `sector:job-3`, as the caller names them) and the most ever seen, so a
/// test can check that limits held and that no sector ran two stages at
/// once.
#[derive(Debug, Default)]
pub struct Census {
    counts: Mutex<std::collections::BTreeMap<String, (usize, usize)>>,
}

impl Census {
    /// Counts one task running under each of `keys`.
    pub fn enter(&self, keys: &[String]) {
        let mut counts = self.counts.lock().unwrap();
        for key in keys {
            let (now, max) = counts.entry(key.clone()).or_default();
            *now += 1;
            *max = (*max).max(*now);
        }
    }

    /// The task counted by [`enter`](Self::enter) with `keys` ended.
    pub fn exit(&self, keys: &[String]) {
        let mut counts = self.counts.lock().unwrap();
        for key in keys {
            let (now, _) = counts.get_mut(key).expect("exit after enter");
            *now -= 1;
        }
    }

    /// Tasks running under `key` now.
    pub fn now(&self, key: &str) -> usize {
        self.counts.lock().unwrap().get(key).map_or(0, |c| c.0)
    }

    /// The most tasks seen running at once under each key.
    pub fn maxima(&self) -> std::collections::BTreeMap<String, usize> {
        let counts = self.counts.lock().unwrap();
        counts
            .iter()
            .map(|(k, (_, max))| (k.clone(), *max))
            .collect()
    }

    /// Tasks running now, summed over every key.
    pub fn running(&self) -> usize {
        self.counts.lock().unwrap().values().map(|c| c.0).sum()
    }
}

type KeysFn<S> = dyn Fn(&S) -> Vec<String> + Send + Sync;
type WorkFn<S> = dyn Fn(&S) -> Duration + Send + Sync;

/// A fake whose work runs on a blocking thread, as the local executor's
/// proofs do: dropping its future leaves the work running to its end. The
/// work is counted in a [`Census`] under the keys `keys(task)` names while
/// it runs (`work(task)` of real time); the answer then comes from
/// `inner`.
pub struct BlockingFake<S: Stage> {
    inner: Arc<FakeExecutor<S>>,
    census: Arc<Census>,
    keys: Box<KeysFn<S>>,
    work: Box<WorkFn<S>>,
}

impl<S: Stage> std::fmt::Debug for BlockingFake<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlockingFake<{}>", S::NAME)
    }
}

impl<S: Stage> BlockingFake<S> {
    /// `inner`'s answers after `work(task)` on a blocking thread, counted
    /// in `census` under `keys(task)`.
    pub fn new(
        inner: Arc<FakeExecutor<S>>,
        census: Arc<Census>,
        keys: impl Fn(&S) -> Vec<String> + Send + Sync + 'static,
        work: impl Fn(&S) -> Duration + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self {
            inner,
            census,
            keys: Box::new(keys),
            work: Box::new(work),
        })
    }
}

#[async_trait]
impl<S: Stage> Executor<S> for BlockingFake<S> {
    async fn execute(&self, task: S) -> Result<S::Output, StageError> {
        let keys = (self.keys)(&task);
        let work = (self.work)(&task);
        let census = self.census.clone();
        tokio::task::spawn_blocking(move || {
            census.enter(&keys);
            std::thread::sleep(work);
            census.exit(&keys);
        })
        .await
        .map_err(|e| StageError::Computation(format!("fake {} work failed: {e}", S::NAME)))?;
        self.inner.execute(task).await
    }
}
