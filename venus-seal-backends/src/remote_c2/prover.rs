//! The provers: loops that claim tasks from the queue and run them on the
//! service's executor, heartbeating while they run.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use venus_seal_core::stage::C2;
use venus_seal_core::{DynExecutor, Leveled};

use super::api::TaskError;
use super::store::{C2TaskStore, Claimed};

/// What one prover loop needs.
pub(crate) struct ProverCtx {
    pub store: C2TaskStore,
    pub executor: DynExecutor<C2>,
    pub node: String,
    pub stale_after: Duration,
    pub heartbeat: Duration,
    pub poll: Duration,
    pub wake: Arc<Notify>,
}

/// Claims and proves tasks until `stop` turns true (or the task running
/// this future is aborted, as in a crash). A stop never interrupts a
/// database statement (a cancelled statement may still run, and claim a
/// task after the node released its tasks); it drops a running proof,
/// whose task the caller then requeues.
pub(crate) async fn prover_loop(
    ctx: Arc<ProverCtx>,
    index: usize,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        match ctx.store.claim(&ctx.node, ctx.stale_after).await {
            Ok(Some(claimed)) => prove(&ctx, index, claimed, &mut stop).await,
            Ok(None) => {
                // A submission on this node wakes us at once; other nodes'
                // submissions and stale claims are found by polling.
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = tokio::time::timeout(ctx.poll, ctx.wake.notified()) => {}
                }
            }
            Err(e) => {
                tracing::warn!(prover = index, error = %e, "cannot claim a C2 task; retrying");
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = tokio::time::sleep(ctx.poll) => {}
                }
            }
        }
    }
}

async fn prove(ctx: &ProverCtx, index: usize, claimed: Claimed, stop: &mut watch::Receiver<bool>) {
    let Claimed { id, task, attempts } = claimed;
    let sector = task.sector;
    tracing::info!(prover = index, task = %id, %sector, attempt = attempts, "C2 started");
    let started = std::time::Instant::now();
    let run = ctx.executor.execute(task);
    tokio::pin!(run);
    let mut beat = tokio::time::interval(ctx.heartbeat);
    beat.tick().await;
    let outcome = loop {
        tokio::select! {
            out = &mut run => break out,
            _ = stop.changed() => {
                tracing::info!(task = %id, "C2 interrupted by the shutdown");
                return;
            }
            _ = beat.tick() => match ctx.store.heartbeat(&id, &ctx.node).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(task = %id, "C2 task was taken over by another node; dropping this run");
                    return;
                }
                Err(e) => tracing::warn!(task = %id, error = %e, "C2 heartbeat failed"),
            },
        }
    };
    let outcome = outcome.map_err(|e| TaskError {
        level: e.level(),
        message: e.to_string(),
    });
    match &outcome {
        Ok(proof) => tracing::info!(
            task = %id, %sector, elapsed = ?started.elapsed(), bytes = proof.proof.len(), "C2 done"
        ),
        Err(e) => tracing::warn!(
            task = %id, %sector, level = %e.level, error = %e.message, "C2 failed"
        ),
    }
    // The outcome must reach the queue: retry a failing database for a
    // while (another node takes the task over if this one gives up).
    for attempt in 0..10u32 {
        let result = ctx
            .store
            .finish(&id, &ctx.node, outcome.as_ref().map(|p| p.proof.as_slice()))
            .await;
        match result {
            Ok(true) => return,
            Ok(false) => {
                tracing::warn!(task = %id, "C2 task was taken over meanwhile; result dropped");
                return;
            }
            Err(e) => {
                tracing::warn!(task = %id, attempt, error = %e, "cannot record the C2 result");
                tokio::time::sleep(ctx.poll).await;
            }
        }
    }
}
