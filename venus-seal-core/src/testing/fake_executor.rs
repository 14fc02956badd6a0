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
    AddPieces, Finalize, FinalizeOutput, Opaque, Pc1, Pc2, Pc2Output, Proof, Stage, TreeD,
    TreeDOutput, C1, C2,
};
use crate::types::commitment::{CommD, CommR};
use crate::types::piece::{PaddedPieceSize, PieceInfo};

type OutputFn<S> = dyn Fn(&S) -> <S as Stage>::Output + Send + Sync;
type FailFn<S> = dyn Fn(&S) -> Option<StageError> + Send + Sync;

/// A fake executor of stage `S`: answers with `output(task)` after
/// `latency`, unless a scripted failure is queued; counts calls and the
/// most tasks it saw running at once.
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
        Ok((self.output)(&task))
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
    /// finalize
    pub finalize: Arc<FakeExecutor<Finalize>>,
}

/// Fake executors for every stage, answering plausible outputs derived
/// from the task (CommR from the sector id, the proof from CommR and the
/// seed) so a [`FakeManager`](super::FakeManager) can check them.
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
        pc1: FakeExecutor::new(|t: &Pc1| Opaque::encode(&t.ticket).unwrap()),
        pc2: FakeExecutor::new(|t: &Pc2| Pc2Output {
            comm_r: fake_comm_r(t.sector),
            comm_d: CommD([0; 32]),
        }),
        c1: FakeExecutor::new(|t: &C1| Opaque::encode(&(t.pc2_output.comm_r, t.seed)).unwrap()),
        c2: FakeExecutor::new(|t: &C2| {
            let (comm_r, seed): (CommR, crate::Seed) = t.c1_output.decode().unwrap();
            fake_proof(comm_r, seed.seed.0)
        }),
        finalize: FakeExecutor::new(|_: &Finalize| FinalizeOutput {
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
        finalize: fakes.finalize.clone(),
    };
    (executors, fakes)
}

/// The CommR the fake pc2 gives a sector.
pub(crate) fn fake_comm_r(sector: crate::SectorId) -> CommR {
    let mut r = [0u8; 32];
    r[..8].copy_from_slice(&sector.miner.0.to_le_bytes());
    r[8..16].copy_from_slice(&sector.number.0.to_le_bytes());
    CommR(r)
}

/// The proof the fake c2 gives: CommR then the seed.
pub(crate) fn fake_proof(comm_r: CommR, seed: [u8; 32]) -> Proof {
    let mut proof = comm_r.0.to_vec();
    proof.extend_from_slice(&seed);
    Proof { proof }
}
