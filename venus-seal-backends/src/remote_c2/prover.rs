//! The provers: loops that claim tasks from the queue and run them on the
//! service's executor, heartbeating while they run.
//!
//! A run that is given up (its claim was lost after a stale heartbeat, the
//! task was cancelled, the provers stop) may go on: a proof on a blocking
//! thread cannot be interrupted. Each run therefore executes in a tokio
//! task of its own that holds one of the node's prover slots ([`NodeRuns`])
//! until the executor returns, and the executor sees
//! [`caller_gone`](venus_seal_core::executor::caller_gone) so that one that
//! can stop early does. A prover claims a task only with a free slot, and
//! never claims a task whose earlier run still goes on on this node: the
//! node never proves more than `provers` tasks at once, nor one task twice.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use venus_seal_core::executor::Caller;

use super::api::TaskError;
use super::runner::Runner;
use super::store::{C2TaskStore, Claimed};

/// The runs going on on this node (shared by every prover loop a service
/// starts, also across [`start_provers`](super::C2Service::start_provers)
/// calls): a slot per prover, held by each run until its executor has
/// returned, and the ids of the tasks they run.
pub(crate) struct NodeRuns {
    slots: Arc<Semaphore>,
    running: Mutex<HashMap<String, Arc<Notify>>>,
}

impl NodeRuns {
    /// Room for `provers` runs at once.
    pub(crate) fn new(provers: usize) -> Arc<Self> {
        Arc::new(Self {
            slots: Arc::new(Semaphore::new(provers.max(1))),
            running: Mutex::new(HashMap::new()),
        })
    }

    /// The tasks whose runs go on on this node now.
    fn running_ids(&self) -> Vec<String> {
        self.running.lock().unwrap().keys().cloned().collect()
    }

    /// Tells the run of task `id` on this node, if any, that the task was
    /// cancelled (its prover then gives it up at once rather than at its
    /// next heartbeat).
    pub(crate) fn cancel(&self, id: &str) {
        if let Some(cancelled) = self.running.lock().unwrap().get(id) {
            cancelled.notify_one();
        }
    }
}

/// One run on this node: its slot and its entry in [`NodeRuns`], until
/// dropped (when the executor has returned).
struct Run {
    runs: Arc<NodeRuns>,
    id: String,
    _slot: OwnedSemaphorePermit,
}

impl Run {
    fn start(runs: &Arc<NodeRuns>, id: &str, slot: OwnedSemaphorePermit) -> (Self, Arc<Notify>) {
        let cancelled = Arc::new(Notify::new());
        runs.running
            .lock()
            .unwrap()
            .insert(id.to_string(), cancelled.clone());
        let run = Self {
            runs: runs.clone(),
            id: id.to_string(),
            _slot: slot,
        };
        (run, cancelled)
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        self.runs.running.lock().unwrap().remove(&self.id);
    }
}

/// What one prover loop needs.
pub(crate) struct ProverCtx {
    pub store: C2TaskStore,
    /// The stages this node proves, by name.
    pub runners: BTreeMap<&'static str, Arc<dyn Runner>>,
    pub runs: Arc<NodeRuns>,
    pub node: String,
    pub stale_after: Duration,
    pub heartbeat: Duration,
    pub poll: Duration,
    pub wake: Arc<Notify>,
}

/// Claims and proves tasks until `stop` turns true (or the task running
/// this future is aborted, as in a crash). A stop never interrupts a
/// database statement (a cancelled statement may still run, and claim a
/// task after the node released its tasks); it gives up a running proof
/// (which keeps its slot until it really ends), whose task the caller then
/// requeues.
pub(crate) async fn prover_loop(
    ctx: Arc<ProverCtx>,
    index: usize,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        // A slot first: a run given up may still hold one.
        let slot = tokio::select! {
            biased;
            _ = stop.changed() => return,
            slot = ctx.runs.slots.clone().acquire_owned() => slot.expect("the slots are never closed"),
        };
        let mine = ctx.runs.running_ids();
        let stages: Vec<&'static str> = ctx.runners.keys().copied().collect();
        match ctx
            .store
            .claim(&ctx.node, ctx.stale_after, &mine, &stages)
            .await
        {
            Ok(Some(claimed)) => prove(&ctx, index, claimed, slot, &mut stop).await,
            Ok(None) => {
                drop(slot);
                // A submission on this node wakes us at once; other nodes'
                // submissions and stale claims are found by polling.
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = tokio::time::timeout(ctx.poll, ctx.wake.notified()) => {}
                }
            }
            Err(e) => {
                drop(slot);
                tracing::warn!(prover = index, error = %e, "cannot claim a task; retrying");
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = tokio::time::sleep(ctx.poll) => {}
                }
            }
        }
    }
}

/// Runs a claimed task in a task of its own that holds `slot` until the
/// executor returns; heartbeats meanwhile. Gives the run up (the executor
/// sees its caller gone, the slot stays held until it returns) when the
/// claim is lost, the task is cancelled or the provers stop.
async fn prove(
    ctx: &ProverCtx,
    index: usize,
    claimed: Claimed,
    slot: OwnedSemaphorePermit,
    stop: &mut watch::Receiver<bool>,
) {
    let Claimed { row, attempts } = claimed;
    let id = row.id.clone();
    let sector = row.sector;
    let stage = row.stage;
    let Some(runner) = ctx.runners.get(stage).cloned() else {
        // claim() only returns the stages asked for.
        tracing::error!(task = %id, stage, "claimed a task of a stage this node does not prove");
        return;
    };
    tracing::info!(prover = index, task = %id, stage, %sector, attempt = attempts, "task started");
    let started = std::time::Instant::now();
    let (held, cancelled) = Run::start(&ctx.runs, &id, slot);
    let caller = Caller::new();
    let run = caller.watch(async move { runner.run(row).await });
    let mut run = tokio::spawn(async move {
        let out = run.await;
        drop(held);
        out
    });
    let mut beat = tokio::time::interval(ctx.heartbeat);
    beat.tick().await;
    let outcome = loop {
        tokio::select! {
            out = &mut run => break out,
            _ = stop.changed() => {
                tracing::info!(task = %id, stage, "task given up for the shutdown; its slot stays taken until the run ends");
                return;
            }
            _ = cancelled.notified() => {
                tracing::info!(task = %id, stage, "task was cancelled; giving up this run");
                return;
            }
            _ = beat.tick() => match ctx.store.heartbeat(&id, &ctx.node).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(task = %id, stage, "task was taken over or cancelled; giving up this run (its slot stays taken until it ends)");
                    return;
                }
                Err(e) => tracing::warn!(task = %id, stage, error = %e, "task heartbeat failed"),
            },
        }
    };
    drop(caller);
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(e) => Err(TaskError {
            level: venus_seal_core::FailureLevel::Permanent,
            message: format!("the {stage} prover panicked: {}", panic_text(e)),
        }),
    };
    match &outcome {
        Ok(output) => tracing::info!(
            task = %id, stage, %sector, elapsed = ?started.elapsed(), bytes = output.len(), "task done"
        ),
        Err(e) => tracing::warn!(
            task = %id, stage, %sector, level = %e.level, error = %e.message, "task failed"
        ),
    }
    // The outcome must reach the queue: retry a failing database for a
    // while (another node takes the task over if this one gives up).
    for attempt in 0..10u32 {
        let result = ctx
            .store
            .finish(&id, &ctx.node, outcome.as_ref().map(Vec::as_slice))
            .await;
        match result {
            Ok(true) => return,
            Ok(false) => {
                tracing::warn!(task = %id, stage, "task was taken over meanwhile; result dropped");
                return;
            }
            Err(e) => {
                tracing::warn!(task = %id, stage, attempt, error = %e, "cannot record the task's result");
                tokio::time::sleep(ctx.poll).await;
            }
        }
    }
}

/// What a run that did not finish left: its panic message.
fn panic_text(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(payload) => match payload.downcast::<String>() {
            Ok(s) => *s,
            Err(payload) => match payload.downcast::<&str>() {
                Ok(s) => s.to_string(),
                Err(_) => "a panic without a message".into(),
            },
        },
        Err(e) => e.to_string(),
    }
}
