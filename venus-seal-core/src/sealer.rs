//! Drives one sector through every sealing step.
//!
//! The [`Sealer`] looks at a [`SectorRecord`]'s state, performs the one step
//! that state calls for (a manager call or a stage on its executor), applies
//! the resulting event through the transition table and saves the record
//! before going on. Failures are handled by level through the
//! [`RetryPolicy`].
//!
//! Reading order: this file holds the run loop and what happens on a
//! failure (retry, park, abort); `sealer/steps.rs` holds one method per
//! state, in the order a sector goes through them, with a table of state,
//! step and event; `sealer/files.rs` what the steps do on disk themselves
//! (fetching pieces, the PC2 restart marker, making stage outputs durable
//! before the record that depends on them is saved).

pub(crate) mod files;
mod steps;
#[cfg(all(test, feature = "testing"))]
mod tests;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::durable::{OsSync, Syncer};
use crate::error::{Failure, FailureLevel};
use crate::executor::{DynExecutor, Executor};
use crate::manager::{
    AcquireDealsSpec, AllocateSpec, ReportStateResponse, SectorManager, SectorStateChange,
    StateReport, WorkerIdentifier,
};
use crate::piece_store::PieceStore;
use crate::retry::{RetryDecision, RetryPolicy};
use crate::sector::{Event, SectorRecord, SectorState};
use crate::stage::{AddPieces, Pc1, Pc2, Persist, SectorPaths, TreeD, C1, C2};
use crate::store::{SectorStore, SectorStoreError};

/// The executor of every sealing stage.
#[derive(Clone, Debug)]
pub struct StageExecutors {
    /// add_pieces
    pub add_pieces: DynExecutor<AddPieces>,
    /// tree_d
    pub tree_d: DynExecutor<TreeD>,
    /// pc1
    pub pc1: DynExecutor<Pc1>,
    /// pc2
    pub pc2: DynExecutor<Pc2>,
    /// c1
    pub c1: DynExecutor<C1>,
    /// c2
    pub c2: DynExecutor<C2>,
    /// persist: copy sealed files to persistent storage
    pub persist: DynExecutor<Persist>,
}

impl StageExecutors {
    /// Every sealing stage on one executor (such as a local executor that
    /// implements them all), with `persist` for the copy to persistent
    /// storage.
    pub fn uniform<E>(executor: Arc<E>, persist: DynExecutor<Persist>) -> Self
    where
        E: Executor<AddPieces>
            + Executor<TreeD>
            + Executor<Pc1>
            + Executor<Pc2>
            + Executor<C1>
            + Executor<C2>
            + 'static,
    {
        Self {
            add_pieces: executor.clone(),
            tree_d: executor.clone(),
            pc1: executor.clone(),
            pc2: executor.clone(),
            c1: executor.clone(),
            c2: executor,
            persist,
        }
    }
}

/// How a [`Sealer`] behaves.
#[derive(Clone, Debug)]
pub struct SealerConfig {
    /// This worker's name, reported to the manager.
    pub instance: String,
    /// What sectors to ask for.
    pub allocate: AllocateSpec,
    /// What deals to ask for.
    pub deals: AcquireDealsSpec,
    /// Retry policy for Temporary failures.
    pub retry: RetryPolicy,
    /// How often to poll the manager while a message is on its way, and
    /// the longest wait between two seed queries (the manager's estimate
    /// of the wait is only a hint).
    pub poll_interval: Duration,
}

impl Default for SealerConfig {
    fn default() -> Self {
        Self {
            instance: "worker".into(),
            allocate: AllocateSpec::default(),
            deals: AcquireDealsSpec::default(),
            retry: RetryPolicy::default(),
            poll_interval: Duration::from_secs(30),
        }
    }
}

/// What one completed step took.
#[derive(Clone, Debug)]
pub struct StepReport {
    /// The state reached.
    pub state: SectorState,
    /// Time spent in the step, waiting included.
    pub elapsed: Duration,
}

/// What a step ended with.
enum Outcome {
    /// The event to apply.
    Done(Event),
    /// Nothing yet: ask again after this long.
    Wait(Duration),
}

/// Seals sectors: one record at a time per call to [`Sealer::run`]; call it
/// concurrently for many sectors.
#[derive(Clone, Debug)]
pub struct Sealer {
    pub(crate) manager: Arc<dyn SectorManager>,
    pieces: Arc<dyn PieceStore>,
    executors: StageExecutors,
    store: Arc<dyn SectorStore>,
    config: SealerConfig,
    metrics: Option<Arc<crate::engine::metrics::EngineMetrics>>,
    syncer: Arc<dyn Syncer>,
}

impl Sealer {
    /// Builds a sealer.
    pub fn new(
        manager: Arc<dyn SectorManager>,
        pieces: Arc<dyn PieceStore>,
        executors: StageExecutors,
        store: Arc<dyn SectorStore>,
        config: SealerConfig,
    ) -> Self {
        Self {
            manager,
            pieces,
            executors,
            store,
            config,
            metrics: None,
            syncer: Arc::new(OsSync),
        }
    }

    /// Flushes stage outputs through `syncer` instead of the operating
    /// system's [`OsSync`] (tests record the order of syncs and saves).
    pub fn with_syncer(mut self, syncer: Arc<dyn Syncer>) -> Self {
        self.syncer = syncer;
        self
    }

    /// Records state transitions and failures in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<crate::engine::metrics::EngineMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The metrics this sealer records into, if any.
    pub fn metrics(&self) -> Option<&Arc<crate::engine::metrics::EngineMetrics>> {
        self.metrics.as_ref()
    }

    /// A new allocation key for job `job`: this worker's name, the job
    /// and the time of the call in nanoseconds, so that two workers (also
    /// two under one name, or one whose database was replaced) never share
    /// a key. The engine saves it with the new job before the job asks.
    pub fn allocation_key(&self, job: u64) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        format!("{}/job-{job}/{nanos}", self.config.instance)
    }

    /// Runs `record` until it is finished, parked or aborted. Its files
    /// live under `dir`. `on_step` hears of every completed step.
    ///
    /// Returns the failure that parked or aborted the sector.
    pub async fn run(
        &self,
        record: &mut SectorRecord,
        dir: &Path,
        on_step: &mut (dyn FnMut(&SectorRecord, &StepReport) + Send),
    ) -> Result<(), Failure> {
        let paths = SectorPaths::under(dir);
        let mut started = Instant::now();
        while !record.state.is_terminal() {
            if record.paused {
                return Err(record.failure.clone().unwrap_or_else(|| {
                    Failure::new(FailureLevel::Permanent, "paused by operator")
                }));
            }
            let outcome = self.step(record, dir, &paths).await;
            match outcome {
                Ok(Outcome::Done(event)) => {
                    let prev = record.state;
                    record
                        .apply(event)
                        .map_err(|e| Failure::new(FailureLevel::Critical, e.to_string()))?;
                    self.save(record).await?;
                    if let Some(m) = &self.metrics {
                        m.transition(Some(prev), record.state);
                    }
                    let report = StepReport {
                        state: record.state,
                        elapsed: started.elapsed(),
                    };
                    tracing::info!(
                        job = record.job,
                        sector = ?record.sector.map(|s| s.id.to_string()),
                        from = %prev,
                        to = %record.state,
                        elapsed = ?report.elapsed,
                        "step done"
                    );
                    on_step(record, &report);
                    started = Instant::now();
                }
                Ok(Outcome::Wait(delay)) => {
                    // The poll answered: earlier failures of this wait are
                    // over (see `RetryState`).
                    if record.retry.succeeded() {
                        record.failure = None;
                        self.save(record).await?;
                    }
                    tokio::time::sleep(delay).await
                }
                Err(failure) => self.on_failure(record, dir, failure).await?,
            }
        }
        Ok(())
    }

    async fn save(&self, record: &mut SectorRecord) -> Result<(), Failure> {
        self.stamp_and_store(record)
            .await
            .map_err(|e| Failure::from_error(&e))
    }

    /// Stamps `record` with the time and saves it.
    async fn stamp_and_store(&self, record: &mut SectorRecord) -> Result<(), SectorStoreError> {
        record.updated_at = Some(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default(),
        );
        self.store.save(record).await
    }

    async fn on_failure(
        &self,
        record: &mut SectorRecord,
        dir: &Path,
        failure: Failure,
    ) -> Result<(), Failure> {
        let decision = self.config.retry.decide(&mut record.retry, failure.level);
        if let Some(m) = &self.metrics {
            m.failure(failure.level);
        }
        tracing::warn!(job = record.job, state = %record.state, error = %failure, ?decision, "step failed");
        match decision {
            RetryDecision::RetryAfter(delay) => {
                record.failure = Some(failure);
                self.save(record).await?;
                tokio::time::sleep(delay).await;
                Ok(())
            }
            RetryDecision::Park(level) => {
                let failure = if level == failure.level {
                    failure
                } else {
                    Failure::new(
                        level,
                        format!(
                            "{} (still failing after {} retries)",
                            failure.message, self.config.retry.max_retries
                        ),
                    )
                };
                record.failure = Some(failure.clone());
                record.paused = true;
                self.save(record).await?;
                // The manager may want the parked sector given up.
                let answer = self.report(record, dir, Some(failure.clone())).await;
                if let Some(reason) = answer.and_then(|a| a.abort_reason) {
                    let failure = Failure::new(
                        FailureLevel::Abort,
                        format!("the sector manager asked to abort the sector: {reason}"),
                    );
                    return self.abort_with(record, dir, failure).await;
                }
                Err(failure)
            }
            RetryDecision::Abort => self.abort_with(record, dir, failure).await,
        }
    }

    /// Aborts and records the sector for `failure`, which the run then
    /// ends with.
    async fn abort_with(
        &self,
        record: &mut SectorRecord,
        dir: &Path,
        failure: Failure,
    ) -> Result<(), Failure> {
        self.abort_and_record(record, dir, failure.clone())
            .await
            .map_err(|e| Failure::from_error(&e))?;
        Err(failure)
    }

    /// Gives the sector up for `failure` and records it: reports it aborted
    /// to the manager, removes its files, and saves it `Aborted`, no longer
    /// paused, with `failure` as its last failure. Serves the retry
    /// policy's aborts, the manager's and the operator's.
    pub(crate) async fn abort_and_record(
        &self,
        record: &mut SectorRecord,
        dir: &Path,
        failure: Failure,
    ) -> Result<(), SectorStoreError> {
        self.abort(record, dir, &failure.message).await;
        let prev = record.state;
        match record.apply(Event::Aborted(failure.message.clone())) {
            Ok(_) => {
                if let Some(m) = &self.metrics {
                    m.transition(Some(prev), record.state);
                }
            }
            // Only a finished or aborted sector refuses it; callers hold
            // live ones.
            Err(e) => tracing::warn!(job = record.job, error = %e, "cannot record the abort"),
        }
        record.paused = false;
        record.failure = Some(failure);
        self.stamp_and_store(record).await
    }

    /// Gives a sector up outside the state machine's own flow: reports it
    /// aborted to the manager (if it was allocated) and removes its files.
    /// The caller records the `Aborted` state.
    pub async fn abort(&self, record: &SectorRecord, dir: &Path, reason: &str) {
        tracing::warn!(job = record.job, state = %record.state, reason, "aborting sector");
        if let Some(sector) = record.sector {
            if let Err(e) = self
                .manager
                .report_aborted(sector.id, reason.to_string())
                .await
            {
                tracing::warn!(error = %e, "could not report the abort to the manager");
            }
        }
        if let Err(e) = tokio::fs::remove_dir_all(dir).await {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(dir = %dir.display(), error = %e, "could not clean an aborted sector");
            }
        }
    }

    /// How often a parked sector is reported to the manager again (the
    /// retry policy's recover interval).
    pub(crate) fn parked_recheck_interval(&self) -> std::time::Duration {
        self.config.retry.recover_interval
    }

    /// Reports a parked sector again (with its recorded failure); the
    /// manager's reason when it wants the sector given up. `None` for a
    /// sector without a number yet, or when the manager is unreachable.
    pub(crate) async fn manager_abort_reason(
        &self,
        record: &SectorRecord,
        dir: &Path,
    ) -> Option<String> {
        self.report(record, dir, record.failure.clone())
            .await
            .and_then(|answer| answer.abort_reason)
    }

    /// Reports the sector parked in its state (with `failure`) to the
    /// manager; its answer, if it got through.
    /// The report of `record`'s move from `prev` to its state, as a
    /// damocles worker sends one at every transition (none before the
    /// sector is allocated).
    pub(crate) fn transition_report(
        &self,
        record: &SectorRecord,
        dir: &Path,
        prev: SectorState,
    ) -> Option<(crate::SectorId, StateReport)> {
        self.event_report(record, dir, prev, None)
    }

    /// [`transition_report`](Self::transition_report) with what caused
    /// the change (`event`): an operator's pause or resume.
    pub(crate) fn event_report(
        &self,
        record: &SectorRecord,
        dir: &Path,
        prev: SectorState,
        event: Option<String>,
    ) -> Option<(crate::SectorId, StateReport)> {
        let sector = record.sector?;
        Some((
            sector.id,
            StateReport {
                worker: WorkerIdentifier {
                    instance: self.config.instance.clone(),
                    location: dir.display().to_string(),
                },
                state_change: SectorStateChange {
                    prev: prev.to_string(),
                    next: record.state.to_string(),
                    event,
                },
                failure: None,
            },
        ))
    }

    /// The manager this sealer reports to.
    pub(crate) fn manager(&self) -> Arc<dyn SectorManager> {
        self.manager.clone()
    }

    async fn report(
        &self,
        record: &SectorRecord,
        dir: &Path,
        failure: Option<Failure>,
    ) -> Option<ReportStateResponse> {
        let sector = record.sector?;
        let report = StateReport {
            worker: WorkerIdentifier {
                instance: self.config.instance.clone(),
                location: dir.display().to_string(),
            },
            state_change: SectorStateChange {
                prev: record.state.to_string(),
                next: record.state.to_string(),
                event: Some("Park".into()),
            },
            failure,
        };
        match self.manager.report_state(sector.id, report).await {
            Ok(answer) => Some(answer),
            Err(e) => {
                tracing::debug!(error = %e, "state report not delivered");
                None
            }
        }
    }
}
