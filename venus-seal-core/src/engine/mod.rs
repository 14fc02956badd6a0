//! The worker engine: many sector jobs at once, bounded by storage slots
//! per sealing location and by compute limits per stage, each job durable
//! and resumed after a crash, and every job steerable by an operator.
//!
//! Each slot of each location runs one sector job at a time: it resumes a
//! stored record or starts a new one, drives it with the [`Sealer`], and
//! when the sector finishes or is aborted starts the next. A parked sector
//! (Permanent or Critical failure, or paused by the operator) keeps its
//! slot until the operator resumes or aborts it.

pub mod limits;
pub mod metrics;
#[cfg(all(test, feature = "testing"))]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio::task::JoinSet;

use crate::error::{Failure, FailureLevel};
use crate::sealer::Sealer;
use crate::sector::{Event, SectorRecord, SectorState};
use crate::store::{SectorStore, StoreError};

/// A sealing location: a directory and how many sectors it holds at once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// The directory sector jobs live under (`<path>/job-<n>`).
    pub path: PathBuf,
    /// How many sectors it holds at once.
    pub slots: usize,
}

/// One sector as an operator sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectorSummary {
    /// The worker-local job id.
    pub job: u64,
    /// `s-t0<miner>-<number>`, once allocated.
    pub sector: Option<String>,
    /// The state.
    pub state: SectorState,
    /// The step it is in or waits for.
    pub stage: Option<String>,
    /// Parked (failure or operator).
    pub paused: bool,
    /// The last failure's level.
    pub level: Option<FailureLevel>,
    /// The last failure.
    pub last_error: Option<String>,
    /// Unix seconds of the last change.
    pub since: Option<u64>,
    /// The job's directory.
    pub location: Option<PathBuf>,
}

impl From<&SectorRecord> for SectorSummary {
    fn from(r: &SectorRecord) -> Self {
        Self {
            job: r.job,
            sector: r.sector.map(|s| s.id.to_string()),
            state: r.state,
            stage: r.state.next_step().map(|k| format!("{k:?}")),
            paused: r.paused,
            level: r.failure.as_ref().map(|f| f.level),
            last_error: r.failure.as_ref().map(|f| f.message.clone()),
            since: r.updated_at,
            location: r.location.clone(),
        }
    }
}

/// An operator command the engine refuses.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// No such job.
    #[error("no sector job {0}")]
    UnknownJob(u64),
    /// The job is in the wrong state for the command.
    #[error("job {job}: {reason}")]
    Refused {
        /// The job.
        job: u64,
        /// Why.
        reason: String,
    },
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The engine is shutting down.
    #[error("the engine is shutting down")]
    ShuttingDown,
}

enum Command {
    Pause(oneshot::Sender<Result<(), ControlError>>),
    Resume(
        Option<SectorState>,
        oneshot::Sender<Result<(), ControlError>>,
    ),
    Abort(String, oneshot::Sender<Result<(), ControlError>>),
}

/// Steers a running [`Engine`]: list, pause, resume, abort.
#[derive(Clone, Debug)]
pub struct EngineHandle {
    store: Arc<dyn SectorStore>,
    slots: Arc<Mutex<HashMap<u64, mpsc::Sender<Command>>>>,
}

impl EngineHandle {
    /// Every sector the worker knows, finished ones included.
    pub async fn list(&self) -> Result<Vec<SectorSummary>, ControlError> {
        Ok(self
            .store
            .load_all()
            .await?
            .iter()
            .map(SectorSummary::from)
            .collect())
    }

    async fn send(
        &self,
        job: u64,
        make: impl FnOnce(oneshot::Sender<Result<(), ControlError>>) -> Command,
    ) -> Result<(), ControlError> {
        let tx = self.slots.lock().await.get(&job).cloned();
        let Some(tx) = tx else {
            return match self.store.load_all().await?.iter().find(|r| r.job == job) {
                Some(r) => Err(ControlError::Refused {
                    job,
                    reason: format!("it is {} and no longer runs", r.state),
                }),
                None => Err(ControlError::UnknownJob(job)),
            };
        };
        let (reply, rx) = oneshot::channel();
        tx.send(make(reply))
            .await
            .map_err(|_| ControlError::ShuttingDown)?;
        rx.await.map_err(|_| ControlError::ShuttingDown)?
    }

    /// Stops the job where it is (a running stage is abandoned and re-run
    /// on resume) and parks it.
    pub async fn pause(&self, job: u64) -> Result<(), ControlError> {
        self.send(job, Command::Pause).await
    }

    /// Un-parks the job, optionally moving it to `state` first (the only
    /// way a state goes backwards).
    pub async fn resume(&self, job: u64, state: Option<SectorState>) -> Result<(), ControlError> {
        self.send(job, |r| Command::Resume(state, r)).await
    }

    /// Gives the sector up: reports it aborted to the manager, removes its
    /// files and starts a new sector in its slot.
    pub async fn abort(&self, job: u64, reason: String) -> Result<(), ControlError> {
        self.send(job, |r| Command::Abort(reason, r)).await
    }
}

/// Runs sector jobs in every slot of every location.
#[derive(Debug)]
pub struct Engine {
    sealer: Sealer,
    store: Arc<dyn SectorStore>,
    locations: Vec<Location>,
    handle: EngineHandle,
    /// Start no new sector once this many have finished (tests, one-shot
    /// runs); `None`: seal forever.
    max_sectors: Option<u64>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

struct Shared {
    sealer: Sealer,
    store: Arc<dyn SectorStore>,
    next_job: Mutex<u64>,
    started: Mutex<u64>,
    max_sectors: Option<u64>,
    slots: Arc<Mutex<HashMap<u64, mpsc::Sender<Command>>>>,
}

impl Engine {
    /// Builds an engine. Nothing runs until [`Engine::run`].
    pub fn new(sealer: Sealer, store: Arc<dyn SectorStore>, locations: Vec<Location>) -> Self {
        let handle = EngineHandle {
            store: store.clone(),
            slots: Arc::new(Mutex::new(HashMap::new())),
        };
        Self {
            sealer,
            store,
            locations,
            handle,
            max_sectors: None,
        }
    }

    /// Starts new sectors only while the store holds fewer than `n` (every
    /// sector it ever ran counts, across restarts), then lets the slots
    /// drain and returns.
    pub fn with_max_sectors(mut self, n: u64) -> Self {
        self.max_sectors = Some(n);
        self
    }

    /// A handle to steer the engine while it runs.
    pub fn handle(&self) -> EngineHandle {
        self.handle.clone()
    }

    /// Resumes every unfinished sector at its last durable state and fills
    /// the free slots with new ones, until `shutdown` resolves (or, with
    /// [`with_max_sectors`](Self::with_max_sectors), until every slot has
    /// drained).
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), StoreError> {
        let records = self.store.load_all().await?;
        if let Some(m) = self.sealer.metrics() {
            m.slots(self.locations.iter().map(|l| l.slots).sum());
            for r in &records {
                m.transition(None, r.state);
            }
        }
        let next_job = records.iter().map(|r| r.job).max().unwrap_or(0) + 1;
        // Sectors the store already holds count against max_sectors, so a
        // restarted worker does not start its quota over.
        let started = records.len() as u64;
        let mut resumable: HashMap<PathBuf, Vec<SectorRecord>> = HashMap::new();
        for rec in records.into_iter().filter(|r| !r.state.is_terminal()) {
            let location = rec
                .location
                .as_ref()
                .and_then(|p| p.parent())
                .map(Path::to_path_buf);
            match location.filter(|l| self.locations.iter().any(|loc| &loc.path == l)) {
                Some(l) => resumable.entry(l).or_default().push(rec),
                None => {
                    let mut rec = rec;
                    tracing::error!(job = rec.job, location = ?rec.location, "sector's location is not configured: parked");
                    rec.paused = true;
                    rec.failure = Some(Failure::new(
                        FailureLevel::Critical,
                        format!(
                            "its sealing location {:?} is no longer configured",
                            rec.location
                        ),
                    ));
                    self.store.save(&rec).await?;
                }
            }
        }
        let shared = Arc::new(Shared {
            sealer: self.sealer,
            store: self.store,
            next_job: Mutex::new(next_job),
            started: Mutex::new(started),
            max_sectors: self.max_sectors,
            slots: self.handle.slots.clone(),
        });
        let mut tasks = JoinSet::new();
        for location in &self.locations {
            let mut queue = resumable.remove(&location.path).unwrap_or_default();
            if queue.len() > location.slots {
                tracing::warn!(location = %location.path.display(), sectors = queue.len(), slots = location.slots, "more unfinished sectors than slots: the extra ones wait for a free slot");
            }
            let per_slot = queue.len().div_ceil(location.slots.max(1));
            for _ in 0..location.slots {
                let take = per_slot.min(queue.len());
                let mine: Vec<_> = queue.drain(..take).collect();
                tasks.spawn(slot_loop(shared.clone(), location.path.clone(), mine));
            }
        }
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                joined = tasks.join_next() => match joined {
                    Some(Ok(Err(e))) => {
                        tasks.abort_all();
                        return Err(e);
                    }
                    Some(_) => {}
                    None => return Ok(()),
                },
                _ = &mut shutdown => {
                    tracing::info!("shutting down: unfinished sectors resume at their last durable state on restart");
                    tasks.abort_all();
                    while tasks.join_next().await.is_some() {}
                    return Ok(());
                }
            }
        }
    }
}

impl Shared {
    async fn new_record(&self, location: &Path) -> Result<Option<SectorRecord>, StoreError> {
        {
            let mut started = self.started.lock().await;
            if self.max_sectors.is_some_and(|max| *started >= max) {
                return Ok(None);
            }
            *started += 1;
        }
        let mut next = self.next_job.lock().await;
        let job = *next;
        *next += 1;
        let mut rec = SectorRecord::new(job);
        rec.location = Some(location.join(format!("job-{job}")));
        rec.updated_at = Some(now_secs());
        self.store.save(&rec).await?;
        if let Some(m) = self.sealer.metrics() {
            m.transition(None, rec.state);
        }
        Ok(Some(rec))
    }
}

/// One storage slot: runs its sectors one after another.
async fn slot_loop(
    shared: Arc<Shared>,
    location: PathBuf,
    mut resumed: Vec<SectorRecord>,
) -> Result<(), StoreError> {
    loop {
        let mut rec = match resumed.pop() {
            Some(r) => r,
            None => match shared.new_record(&location).await? {
                Some(r) => r,
                None => return Ok(()),
            },
        };
        let dir = rec
            .location
            .clone()
            .unwrap_or_else(|| location.join(format!("job-{}", rec.job)));
        let (tx, mut rx) = mpsc::channel(4);
        shared.slots.lock().await.insert(rec.job, tx);
        let metrics = shared.sealer.metrics().cloned();
        if let Some(m) = &metrics {
            m.slot_busy(true);
        }
        let span = tracing::info_span!("sector", job = rec.job);
        let result =
            tracing::Instrument::instrument(run_job(&shared, &mut rec, &dir, &mut rx), span).await;
        if let Some(m) = &metrics {
            m.slot_busy(false);
        }
        shared.slots.lock().await.remove(&rec.job);
        result?;
    }
}

/// Runs one job until it is finished or aborted, serving operator commands.
async fn run_job(
    shared: &Shared,
    rec: &mut SectorRecord,
    dir: &Path,
    rx: &mut mpsc::Receiver<Command>,
) -> Result<(), StoreError> {
    loop {
        if rec.state.is_terminal() {
            return Ok(());
        }
        if !rec.paused {
            let mut on_step = |_: &SectorRecord, _: &crate::sealer::StepReport| {};
            let (result, command) = {
                let run = shared.sealer.run(rec, dir, &mut on_step);
                tokio::pin!(run);
                tokio::select! {
                    result = &mut run => (Some(result), None),
                    cmd = rx.recv() => (None, cmd),
                }
            };
            if let Some(Err(failure)) = result {
                tracing::warn!(job = rec.job, state = %rec.state, %failure, "sector parked");
                if !rec.paused && !rec.state.is_terminal() {
                    // The sealer could not even record the failure (the
                    // store is broken): park it here so it does not spin.
                    rec.paused = true;
                    rec.failure = Some(failure);
                    if let Err(e) = shared.store.save(rec).await {
                        tracing::error!(job = rec.job, error = %e, "cannot record the parked sector");
                    }
                }
            }
            if let Some(cmd) = command {
                // The run was abandoned mid-step: continue from what is durable.
                let job = rec.job;
                if let Some(stored) = shared
                    .store
                    .load_all()
                    .await?
                    .into_iter()
                    .find(|r| r.job == job)
                {
                    *rec = stored;
                }
                apply_command(shared, rec, dir, cmd).await?;
            }
            continue;
        }
        match rx.recv().await {
            Some(cmd) => apply_command(shared, rec, dir, cmd).await?,
            None => return Ok(()),
        }
    }
}

async fn apply_command(
    shared: &Shared,
    rec: &mut SectorRecord,
    dir: &Path,
    cmd: Command,
) -> Result<(), StoreError> {
    match cmd {
        Command::Pause(reply) => {
            rec.paused = true;
            rec.failure = Some(Failure::new(FailureLevel::Permanent, "paused by operator"));
            rec.updated_at = Some(now_secs());
            let saved = shared.store.save(rec).await;
            let _ = reply.send(Ok(()));
            saved?;
        }
        Command::Resume(state, reply) => {
            let prev = rec.state;
            if let Some(state) = state {
                if state.is_terminal() {
                    let _ = reply.send(Err(ControlError::Refused {
                        job: rec.job,
                        reason: format!("cannot resume into {state}; use abort"),
                    }));
                    return Ok(());
                }
                tracing::warn!(job = rec.job, from = %rec.state, to = %state, "operator moves the sector");
                rec.state = state;
            }
            if let Some(m) = shared.sealer.metrics() {
                m.transition(Some(prev), rec.state);
            }
            rec.paused = false;
            rec.failure = None;
            rec.retry = Default::default();
            rec.updated_at = Some(now_secs());
            let saved = shared.store.save(rec).await;
            let _ = reply.send(Ok(()));
            saved?;
        }
        Command::Abort(reason, reply) => {
            let reason = format!("aborted by operator: {reason}");
            shared.sealer.abort(rec, dir, &reason).await;
            let prev = rec.state;
            if rec.apply(Event::Aborted(reason.clone())).is_ok() {
                if let Some(m) = shared.sealer.metrics() {
                    m.transition(Some(prev), rec.state);
                }
            }
            rec.failure = Some(Failure::new(FailureLevel::Abort, reason));
            rec.updated_at = Some(now_secs());
            let saved = shared.store.save(rec).await;
            let _ = reply.send(Ok(()));
            saved?;
        }
    }
    Ok(())
}
