//! `Venus.WorkerPing`: the worker tells its remote sector manager it is
//! alive, and how its slots are doing, every 30 s, as damocles-worker does
//! (`damocles-worker/src/sealing/ping.rs`: a `WorkerInfo` with the
//! instance name, version, `dest` and a thread summary;
//! `DEFAULT_WORKER_PING_INTERVAL` is 30 s in `damocles-worker/src/config.rs`).
//! A damocles-manager lists workers from these pings; a failed ping is
//! logged and the next one is sent on time.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::core::engine::limits::Limits;
use crate::core::engine::{EngineHandle, SectorSummary};
use crate::core::SectorState;
use crate::rpc::manager::WorkerSummary;
use crate::rpc::{ManagerClient, WorkerInfo};

/// damocles-worker's default `worker.ping_interval`.
pub const PING_INTERVAL: Duration = Duration::from_secs(30);

/// States whose next step waits on the chain through the manager (the
/// pre-commit or proof landing, the seed): damocles' `WaitAt` threads.
const WAITING: [SectorState; 3] = [
    SectorState::PreCommitSubmitted,
    SectorState::Persisted,
    SectorState::ProofSubmitted,
];

/// The thread counts damocles reports, from the worker's sectors and its
/// number of slots: one active (not finished, not aborted) sector holds one
/// slot.
pub fn summary(sectors: &[SectorSummary], slots: usize) -> WorkerSummary {
    let mut sum = WorkerSummary {
        threads: slots,
        ..WorkerSummary::default()
    };
    let mut active = 0;
    for s in sectors.iter().filter(|s| !s.state.is_terminal()) {
        active += 1;
        if s.last_error.is_some() {
            sum.errors += 1;
        }
        if s.paused {
            sum.paused += 1;
        } else if WAITING.contains(&s.state) {
            sum.waiting += 1;
        } else {
            sum.running += 1;
        }
    }
    sum.empty = slots.saturating_sub(active);
    sum
}

/// Pings `manager` every `interval` (the first after one interval, as
/// damocles does) with `base`, the current [`summary`] and, given the
/// worker's `limits`, each stage's load (which the manager averages into
/// the stage's utilisation) until the task is aborted.
pub fn spawn(
    manager: Arc<ManagerClient>,
    engine: EngineHandle,
    base: WorkerInfo,
    slots: usize,
    limits: Option<Arc<Limits>>,
    interval: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let info = match engine.list().await {
                Ok(sectors) => WorkerInfo {
                    summary: summary(&sectors, slots),
                    stages: limits.as_ref().map(|l| l.stage_loads()).unwrap_or_default(),
                    ..base.clone()
                },
                Err(e) => {
                    tracing::warn!(error = %e, "worker ping: sectors not listed");
                    continue;
                }
            };
            match manager.worker_ping(&info).await {
                Ok(()) => tracing::debug!(summary = ?info.summary, "worker ping"),
                Err(e) => tracing::warn!(error = %e, "worker ping failed"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sector(state: SectorState, paused: bool, error: bool) -> SectorSummary {
        SectorSummary {
            job: 1,
            sector: None,
            state,
            stage: None,
            paused,
            level: None,
            last_error: error.then(|| "boom".to_string()),
            since: None,
            location: None,
        }
    }

    #[test]
    fn the_summary_counts_slots_as_damocles_counts_threads() {
        let sectors = [
            sector(SectorState::PC1Done, false, false),
            sector(SectorState::Persisted, false, false),
            sector(SectorState::TreeDBuilt, true, true),
            sector(SectorState::Finished, false, false),
            sector(SectorState::Aborted, false, true),
        ];
        let sum = summary(&sectors, 5);
        assert_eq!(
            sum,
            WorkerSummary {
                threads: 5,
                empty: 2,
                paused: 1,
                running: 1,
                waiting: 1,
                errors: 1,
            }
        );
        assert_eq!(summary(&[], 2).empty, 2);
    }
}
