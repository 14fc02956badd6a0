//! Drives one sector through every sealing step.
//!
//! The [`Sealer`] looks at a [`SectorRecord`]'s state, performs the one step
//! that state calls for (a manager call or a stage on its executor), applies
//! the resulting event through the transition table and saves the record
//! before going on. Failures are handled by level through the
//! [`RetryPolicy`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use crate::error::{Failure, FailureLevel, Leveled, ManagerError, StageError};
use crate::executor::{DynExecutor, Executor};
use crate::manager::{
    AcquireDealsSpec, AllocateSpec, OnChainState, PollStateResponse, PreCommitOnChainInfo,
    ReportStateResponse, SectorManager, SectorStateChange, StateReport, SubmitResult,
    WorkerIdentifier,
};
use crate::piece_store::PieceStore;
use crate::retry::{RetryDecision, RetryPolicy};
use crate::sector::{Event, SectorRecord, SectorState};
use crate::stage::{AddPieces, Finalize, Pc1, Pc2, PieceSource, SectorPaths, TreeD, C1, C2};
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
    /// finalize: copy sealed files to persistent storage
    pub finalize: DynExecutor<Finalize>,
}

impl StageExecutors {
    /// Every sealing stage on one executor (such as a local executor that
    /// implements them all), with `finalize` for the copy to persistent
    /// storage.
    pub fn uniform<E>(executor: Arc<E>, finalize: DynExecutor<Finalize>) -> Self
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
            finalize,
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

enum Outcome {
    Done(Event),
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
}

/// The marker written before PC2 rewrites the sealed file in place.
const PC2_MARKER: &str = ".pc2-started";

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
        }
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
                Ok(Outcome::Wait(delay)) => tokio::time::sleep(delay).await,
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

    async fn step(
        &self,
        rec: &SectorRecord,
        dir: &Path,
        paths: &SectorPaths,
    ) -> Result<Outcome, Failure> {
        let fail = |e: &dyn Leveled| Failure::from_error(e);
        let missing = |what: &str| {
            Failure::new(
                FailureLevel::Critical,
                format!("sector record in state {} lacks its {what}", rec.state),
            )
        };
        let sector = rec.sector;
        let id = sector.map(|s| s.id);
        let proof = sector.map(|s| s.proof_type);
        match rec.state {
            SectorState::Empty => {
                let allocated = self
                    .manager
                    .allocate_sector(self.config.allocate.clone())
                    .await
                    .map_err(|e| fail(&e))?;
                match allocated {
                    Some(s) => Ok(Outcome::Done(Event::Allocated(s))),
                    None => Ok(Outcome::Wait(self.config.poll_interval)),
                }
            }
            SectorState::Allocated => {
                let id = id.ok_or_else(|| missing("sector id"))?;
                let deals = self
                    .manager
                    .acquire_deals(id, self.config.deals)
                    .await
                    .map_err(|e| fail(&e))?;
                Ok(Outcome::Done(Event::DealsAcquired(deals)))
            }
            SectorState::DealsAcquired => {
                let proof = proof.ok_or_else(|| missing("proof type"))?;
                let id = id.ok_or_else(|| missing("sector id"))?;
                let total: u64 = rec.deals.iter().map(|d| d.piece.size.0).sum();
                if total > proof.sector_size().0 {
                    return Err(Failure::new(
                        FailureLevel::Abort,
                        format!(
                            "deals need {total} bytes but a {} sector holds {}",
                            proof.sector_size(),
                            proof.sector_size().0
                        ),
                    ));
                }
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| fail(&StageError::io(format!("creating {}", dir.display()), e)))?;
                let mut sources = Vec::with_capacity(rec.deals.len());
                for deal in &rec.deals {
                    let path = dir.join(format!("piece-{}", deal.piece.cid));
                    let unpadded_size = self.fetch_piece(deal, &path).await?;
                    if unpadded_size > deal.piece.size.unpadded() {
                        return Err(Failure::new(
                            FailureLevel::Abort,
                            format!(
                                "piece {} has {unpadded_size} bytes, more than its size {} allows",
                                deal.piece.cid, deal.piece.size.0
                            ),
                        ));
                    }
                    sources.push(PieceSource::File {
                        path,
                        unpadded_size,
                        expected: Some(deal.piece),
                    });
                }
                let task = AddPieces {
                    proof,
                    sector: id,
                    pieces: sources,
                    staged: paths.staged.clone(),
                };
                let pieces = self
                    .executors
                    .add_pieces
                    .execute(task)
                    .await
                    .map_err(|e| fail(&e))?;
                for deal in &rec.deals {
                    let _ =
                        tokio::fs::remove_file(dir.join(format!("piece-{}", deal.piece.cid))).await;
                }
                Ok(Outcome::Done(Event::PiecesAdded(pieces)))
            }
            SectorState::PiecesAdded => {
                let proof = proof.ok_or_else(|| missing("proof type"))?;
                let task = TreeD {
                    proof,
                    staged: paths.staged.clone(),
                    cache: paths.cache.clone(),
                    pieces: rec.pieces.clone(),
                };
                let out = self
                    .executors
                    .tree_d
                    .execute(task)
                    .await
                    .map_err(|e| fail(&e))?;
                Ok(Outcome::Done(Event::TreeDBuilt(out.comm_d)))
            }
            SectorState::TreeDBuilt => {
                let id = id.ok_or_else(|| missing("sector id"))?;
                let ticket = self.manager.assign_ticket(id).await.map_err(|e| fail(&e))?;
                Ok(Outcome::Done(Event::TicketAssigned(ticket)))
            }
            SectorState::TicketAssigned => {
                let task = Pc1 {
                    proof: proof.ok_or_else(|| missing("proof type"))?,
                    sector: id.ok_or_else(|| missing("sector id"))?,
                    paths: paths.clone(),
                    ticket: rec.ticket.ok_or_else(|| missing("ticket"))?,
                    pieces: rec.pieces.clone(),
                };
                let out = self
                    .executors
                    .pc1
                    .execute(task)
                    .await
                    .map_err(|e| fail(&e))?;
                Ok(Outcome::Done(Event::Pc1Done(out)))
            }
            SectorState::PC1Done => {
                self.prepare_pc2(paths).await.map_err(|e| fail(&e))?;
                let task = Pc2 {
                    proof: proof.ok_or_else(|| missing("proof type"))?,
                    sector: id.ok_or_else(|| missing("sector id"))?,
                    paths: paths.clone(),
                    pc1_output: rec
                        .pc1_output
                        .clone()
                        .ok_or_else(|| missing("PC1 output"))?,
                };
                let out = self
                    .executors
                    .pc2
                    .execute(task)
                    .await
                    .map_err(|e| fail(&e))?;
                let _ = tokio::fs::remove_file(paths.cache.join(PC2_MARKER)).await;
                Ok(Outcome::Done(Event::Pc2Done(out)))
            }
            SectorState::PC2Done => {
                let sector = sector.ok_or_else(|| missing("sector"))?;
                let pc2 = rec.pc2_output.ok_or_else(|| missing("PC2 output"))?;
                let info = PreCommitOnChainInfo {
                    comm_r: pc2.comm_r,
                    comm_d: pc2.comm_d,
                    ticket: rec.ticket.ok_or_else(|| missing("ticket"))?,
                    deals: rec.deals.iter().map(|d| d.id).collect(),
                };
                let resp = self
                    .manager
                    .submit_pre_commit(sector, info, false)
                    .await
                    .map_err(|e| fail(&e))?;
                submitted(resp.res, resp.desc, "pre-commit")?;
                Ok(Outcome::Done(Event::PreCommitSubmitted))
            }
            SectorState::PreCommitSubmitted => {
                let id = id.ok_or_else(|| missing("sector id"))?;
                let resp = self
                    .manager
                    .poll_pre_commit_state(id)
                    .await
                    .map_err(|e| fail(&e))?;
                self.landed(resp, "pre-commit", Event::PreCommitLanded)
            }
            SectorState::PreCommitLanded => {
                let sector = sector.ok_or_else(|| missing("sector"))?;
                let task = Finalize {
                    proof: sector.proof_type,
                    sector: sector.id,
                    paths: paths.clone(),
                };
                let out = self
                    .executors
                    .finalize
                    .execute(task)
                    .await
                    .map_err(|e| fail(&e))?;
                let ok = self
                    .manager
                    .submit_persisted(sector.id, out.instance.clone())
                    .await
                    .map_err(|e| fail(&e))?;
                if !ok {
                    return Err(fail(&ManagerError::Rejected(format!(
                        "manager refused the persisted files at {}",
                        out.instance
                    ))));
                }
                Ok(Outcome::Done(Event::Persisted(out)))
            }
            SectorState::Persisted => {
                let id = id.ok_or_else(|| missing("sector id"))?;
                let resp = self.manager.wait_seed(id).await.map_err(|e| fail(&e))?;
                match (resp.should_wait, resp.seed) {
                    (false, Some(seed)) => Ok(Outcome::Done(Event::SeedAssigned(seed))),
                    // The manager's delay is an estimate from its idea of
                    // the block time (a devnet's sub-second epochs read as
                    // 100 ms each; real epochs vary): wait at most one
                    // poll interval before asking again.
                    _ => Ok(Outcome::Wait(
                        resp.delay
                            .min(self.config.poll_interval)
                            .max(Duration::from_millis(1)),
                    )),
                }
            }
            SectorState::SeedAssigned => {
                let task = C1 {
                    proof: proof.ok_or_else(|| missing("proof type"))?,
                    sector: id.ok_or_else(|| missing("sector id"))?,
                    paths: paths.clone(),
                    ticket: rec.ticket.ok_or_else(|| missing("ticket"))?,
                    seed: rec.seed.ok_or_else(|| missing("seed"))?,
                    pc2_output: rec.pc2_output.ok_or_else(|| missing("PC2 output"))?,
                    pieces: rec.pieces.clone(),
                };
                let out = self
                    .executors
                    .c1
                    .execute(task)
                    .await
                    .map_err(|e| fail(&e))?;
                Ok(Outcome::Done(Event::C1Done(out)))
            }
            SectorState::C1Done => {
                let task = C2 {
                    proof: proof.ok_or_else(|| missing("proof type"))?,
                    sector: id.ok_or_else(|| missing("sector id"))?,
                    c1_output: rec.c1_output.clone().ok_or_else(|| missing("C1 output"))?,
                };
                let out = self
                    .executors
                    .c2
                    .execute(task)
                    .await
                    .map_err(|e| fail(&e))?;
                Ok(Outcome::Done(Event::C2Done(out)))
            }
            SectorState::C2Done => {
                let id = id.ok_or_else(|| missing("sector id"))?;
                let proof = rec.proof.clone().ok_or_else(|| missing("proof"))?;
                let resp = self
                    .manager
                    .submit_proof(id, proof, false)
                    .await
                    .map_err(|e| fail(&e))?;
                submitted(resp.res, resp.desc, "proof")?;
                Ok(Outcome::Done(Event::ProofSubmitted))
            }
            SectorState::ProofSubmitted => {
                let id = id.ok_or_else(|| missing("sector id"))?;
                let resp = self
                    .manager
                    .poll_proof_state(id)
                    .await
                    .map_err(|e| fail(&e))?;
                let outcome = self.landed(resp, "prove-commit", Event::Finished)?;
                if matches!(outcome, Outcome::Done(_)) {
                    self.manager
                        .report_finalized(id)
                        .await
                        .map_err(|e| fail(&e))?;
                    // The replica lives in the persistent store now.
                    if rec
                        .persisted
                        .as_ref()
                        .is_some_and(|p| p.clean_sealing_location)
                    {
                        if let Err(e) = tokio::fs::remove_dir_all(dir).await {
                            tracing::warn!(dir = %dir.display(), error = %e, "could not clean the sealing location");
                        }
                    }
                }
                Ok(outcome)
            }
            SectorState::Finished | SectorState::Aborted => {
                unreachable!("the run loop stops at terminal states")
            }
        }
    }

    fn landed(
        &self,
        resp: PollStateResponse,
        what: &str,
        event: Event,
    ) -> Result<Outcome, Failure> {
        let desc = resp.desc.unwrap_or_default();
        match resp.state {
            OnChainState::Landed => Ok(Outcome::Done(event)),
            OnChainState::Pending | OnChainState::Packed => {
                Ok(Outcome::Wait(self.config.poll_interval))
            }
            OnChainState::NotFound | OnChainState::Failed => Err(Failure::new(
                FailureLevel::Temporary,
                format!("{what} not on chain yet ({:?}): {desc}", resp.state),
            )),
            OnChainState::PermFailed => Err(Failure::new(
                FailureLevel::Permanent,
                format!("{what} failed on chain: {desc}"),
            )),
            OnChainState::ShouldAbort => Err(Failure::new(
                FailureLevel::Abort,
                format!("manager says to abort after the {what}: {desc}"),
            )),
        }
    }

    /// PC2 rewrites the sealed file in place: if an earlier PC2 started,
    /// restore the sealed file from the staged copy first (damocles #837).
    async fn prepare_pc2(&self, paths: &SectorPaths) -> Result<(), StageError> {
        let marker = paths.cache.join(PC2_MARKER);
        if tokio::fs::try_exists(&marker).await.unwrap_or(false) {
            tracing::warn!(sealed = %paths.sealed.display(), "an earlier PC2 was interrupted: restoring the sealed file from the staged copy");
            tokio::fs::copy(&paths.staged, &paths.sealed)
                .await
                .map_err(|e| {
                    StageError::io(
                        format!(
                            "restoring {} from {}",
                            paths.sealed.display(),
                            paths.staged.display()
                        ),
                        e,
                    )
                })?;
        }
        tokio::fs::create_dir_all(&paths.cache)
            .await
            .map_err(|e| StageError::io(format!("creating {}", paths.cache.display()), e))?;
        tokio::fs::write(&marker, b"")
            .await
            .map_err(|e| StageError::io(format!("writing {}", marker.display()), e))
    }

    async fn fetch_piece(
        &self,
        deal: &crate::manager::DealInfo,
        path: &PathBuf,
    ) -> Result<u64, Failure> {
        let mut reader = self
            .pieces
            .get(&deal.piece.cid)
            .await
            .map_err(|e| Failure::from_error(&e))?;
        let io = |what: &str, e: std::io::Error| {
            Failure::from_error(&StageError::io(format!("{what} {}", path.display()), e))
        };
        let mut file = tokio::fs::File::create(path)
            .await
            .map_err(|e| io("creating", e))?;
        let written = tokio::io::copy(&mut reader, &mut file).await.map_err(|e| {
            // A store that fails mid-stream says why (a piece whose bytes do
            // not match its PieceCID is Abort): keep its level.
            match e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<crate::error::PieceStoreError>())
            {
                Some(cause) => Failure::from_error(cause),
                None => Failure::new(
                    FailureLevel::Temporary,
                    format!("fetching piece {}: {e}", deal.piece.cid),
                ),
            }
        })?;
        file.flush().await.map_err(|e| io("writing", e))?;
        Ok(written)
    }
}

fn submitted(res: SubmitResult, desc: Option<String>, what: &str) -> Result<(), Failure> {
    let desc = desc.unwrap_or_default();
    match res {
        SubmitResult::Accepted | SubmitResult::DuplicateSubmit => Ok(()),
        SubmitResult::MismatchedSubmission | SubmitResult::Rejected => Err(Failure::new(
            FailureLevel::Abort,
            format!("manager rejected the {what} ({res:?}): {desc}"),
        )),
        SubmitResult::FilesMissed => Err(Failure::new(
            FailureLevel::Permanent,
            format!("manager says files are missing for the {what}: {desc}"),
        )),
    }
}
