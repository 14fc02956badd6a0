//! The worker engine: many sector jobs at once, bounded by storage slots
//! per sealing location and by compute limits per stage, each job durable
//! and resumed after a crash, and every job steerable by an operator.
//!
//! Each slot of each location holds one sector at a time: the engine
//! resumes stored records or starts new ones, drives each with the
//! [`Sealer`], and when a sector finishes or is aborted starts the next. A
//! parked sector (Permanent or Critical failure, or paused by the
//! operator) keeps its slot until the operator resumes or aborts it, or the
//! sector manager asks to abort it (a parked sector is reported to the
//! manager again every recover interval).
//!
//! By default a sector holds its slot to the end, like a damocles sealing
//! thread. With [`Engine::with_slot_release`] it gives the slot back when
//! it reaches a state from which it needs no local sealing data (for
//! example `Persisted` with synthetic PoRep, or with a C1 executor that
//! reads the persisted copy), and waits for its seed, C1 and C2 outside
//! the slot, so the slot starts the next sector hours earlier.

#[cfg(all(test, feature = "testing"))]
mod cancel_tests;
#[cfg(all(test, feature = "testing"))]
mod chaos_tests;
pub mod limits;
pub mod metrics;
#[cfg(all(test, feature = "testing"))]
mod node_error_tests;
#[cfg(all(test, feature = "testing"))]
mod tests;
mod unwind;
pub mod work;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, Mutex, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::error::{Failure, FailureLevel};
use crate::sealer::Sealer;
use crate::sector::{SectorRecord, SectorState};
use crate::store::{SectorStore, SectorStoreError};
use work::SectorWork;

/// How long a shutdown waits for stages whose sector's run was dropped but
/// whose work (a blocking thread, a child) still runs.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(60);

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
    Store(#[from] SectorStoreError),
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
        // `list` reads no large stage output: the listing stays small
        // however many sectors the worker ran.
        Ok(self
            .store
            .list()
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
            return match self.store.load(job).await? {
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
    /// When sectors give their slot back before finishing.
    release: Option<SlotRelease>,
}

/// When a sector gives its storage slot back before it finishes (see
/// [`Engine::with_slot_release`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotRelease {
    /// The first state in which the sector no longer needs its slot.
    pub at: SectorState,
    /// The most sectors a location holds at once, in slots or past `at`.
    pub in_flight: usize,
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
    release: Option<SlotRelease>,
    slots: Arc<Mutex<HashMap<u64, mpsc::Sender<Command>>>>,
    /// Each job's stage work, which may outlive its dropped run.
    work: std::sync::Mutex<HashMap<u64, Arc<SectorWork>>>,
    /// How many job tasks are alive. Aborting a location's loop drops its
    /// jobs' `JoinSet`, which aborts them without waiting: a job being
    /// polled on another thread at that moment may still start a stage,
    /// so shutdown waits for this to reach zero before it looks for
    /// running stages.
    live_jobs: tokio::sync::watch::Sender<usize>,
    /// Transition reports, sent to the manager in order by one task, off
    /// the sectors' runs (a slow manager never holds a sector up).
    reports: mpsc::UnboundedSender<(crate::SectorId, crate::manager::StateReport)>,
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
            release: None,
        }
    }

    /// Sectors give their slot back on reaching `at` and go on outside it;
    /// a location then holds at most `in_flight` sectors at once (its slots
    /// plus those past `at`; at least its slot count). Use it when the
    /// stages from `at` on need no local sealing data: `Persisted` with
    /// synthetic PoRep (C1 reads the synthetic proofs kept in the persisted
    /// cache) or with a C1 executor reading the persisted copy. A sector an
    /// operator moves back before `at` takes a slot again.
    ///
    /// ```
    /// # fn f(engine: venus_seal_core::Engine) -> venus_seal_core::Engine {
    /// use venus_seal_core::SectorState;
    /// engine.with_slot_release(SectorState::Persisted, 36)
    /// # }
    /// ```
    pub fn with_slot_release(mut self, at: SectorState, in_flight: usize) -> Self {
        self.release = Some(SlotRelease { at, in_flight });
        self
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
    ) -> Result<(), SectorStoreError> {
        // Only unfinished records are loaded; finished ones are counted.
        let records = self.store.load_unfinished().await?;
        let counts = self.store.job_counts().await?;
        if let Some(m) = self.sealer.metrics() {
            m.slots(self.locations.iter().map(|l| l.slots).sum());
            for (state, n) in &counts.by_state {
                (0..*n).for_each(|_| m.transition(None, *state));
            }
        }
        let next_job = counts.last_job.unwrap_or(0) + 1;
        // Sectors the store already holds count against max_sectors, so a
        // restarted worker does not start its quota over.
        let started = counts.total();
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
        let (reports, queued) = mpsc::unbounded_channel();
        let reporter = tokio::spawn(report_transitions(self.sealer.manager(), queued));
        let mut reporter = AbortOnDrop(reporter);
        let shared = Arc::new(Shared {
            reports,
            sealer: self.sealer,
            store: self.store,
            next_job: Mutex::new(next_job),
            started: Mutex::new(started),
            max_sectors: self.max_sectors,
            release: self.release,
            slots: self.handle.slots.clone(),
            work: Default::default(),
            live_jobs: tokio::sync::watch::channel(0).0,
        });
        let mut tasks = JoinSet::new();
        for location in &self.locations {
            let queue = resumable.remove(&location.path).unwrap_or_default();
            if queue.len() > shared.in_flight(location.slots) {
                tracing::warn!(location = %location.path.display(), sectors = queue.len(), slots = location.slots, "more unfinished sectors than the location holds: the extra ones wait");
            }
            tasks.spawn(location_loop(shared.clone(), location.clone(), queue));
        }
        tokio::pin!(shutdown);
        let result = async {
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
                        shared.jobs_gone(SHUTDOWN_GRACE).await;
                        shared.stages_ended(SHUTDOWN_GRACE).await;
                        return Ok(());
                    }
                }
            }
        }
        .await;
        // The last transitions reach the manager before the engine ends:
        // the queue closes once the jobs (which hold `shared`) are gone;
        // a manager that does not answer costs at most the grace.
        drop(tasks);
        drop(shared);
        let _ = tokio::time::timeout(REPORT_GRACE, &mut reporter.0).await;
        result
    }
}

/// How long an ending engine waits for its last transition reports.
const REPORT_GRACE: Duration = Duration::from_secs(5);

/// Sends the transition reports `queued` to `manager`, in order; one the
/// manager does not take within 5 s (down, slow) is dropped: it is a line
/// of history, and the next transition or park report says where the
/// sector is.
async fn report_transitions(
    manager: Arc<dyn crate::SectorManager>,
    mut queued: mpsc::UnboundedReceiver<(crate::SectorId, crate::manager::StateReport)>,
) {
    while let Some((sector, report)) = queued.recv().await {
        let sent = tokio::time::timeout(REPORT_GRACE, manager.report_state(sector, report)).await;
        if !matches!(sent, Ok(Ok(_))) {
            tracing::debug!(%sector, "transition report not delivered");
        }
    }
}

/// Aborts the task when dropped (the engine's run ended or was dropped).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Shared {
    /// The stage work of `job`.
    fn work(&self, job: u64) -> Arc<SectorWork> {
        let mut work = self.work.lock().unwrap_or_else(|e| e.into_inner());
        work.entry(job).or_default().clone()
    }

    /// Waits (up to `grace`) until every job task is gone (the aborted
    /// ones are dropped at their next yield).
    async fn jobs_gone(&self, grace: std::time::Duration) {
        let mut live = self.live_jobs.subscribe();
        if tokio::time::timeout(grace, live.wait_for(|n| *n == 0))
            .await
            .is_err()
        {
            tracing::warn!(grace = ?grace, "sector jobs still alive at shutdown");
        }
    }

    /// Waits (up to `grace`) until no stage of any job runs, so that a
    /// stage whose run was dropped does not outlive the engine unseen.
    async fn stages_ended(&self, grace: std::time::Duration) {
        let works: Vec<(u64, Arc<SectorWork>)> = {
            let work = self.work.lock().unwrap_or_else(|e| e.into_inner());
            work.iter().map(|(j, w)| (*j, w.clone())).collect()
        };
        let running: Vec<u64> = works
            .iter()
            .filter(|(_, w)| w.running() > 0)
            .map(|(j, _)| *j)
            .collect();
        if running.is_empty() {
            return;
        }
        tracing::info!(jobs = ?running, "waiting for the stages still running to end");
        let all = async {
            for (_, w) in &works {
                w.idle().await;
            }
        };
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!(jobs = ?running, grace = ?grace, "stages still running at shutdown; they end with the process");
        }
    }

    /// The most sectors a location with `slots` slots holds at once.
    fn in_flight(&self, slots: usize) -> usize {
        match self.release {
            Some(r) => r.in_flight.max(slots),
            None => slots,
        }
    }

    /// Whether a sector in `state` needs no slot.
    fn released(&self, state: SectorState) -> bool {
        // States compare in sealing order (`SectorState`'s derived `Ord`).
        self.release.is_some_and(|r| state >= r.at)
    }

    async fn new_record(&self, location: &Path) -> Result<Option<SectorRecord>, SectorStoreError> {
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
        rec.allocation_key = Some(self.sealer.allocation_key(job));
        rec.updated_at = Some(now_secs());
        self.store.save(&rec).await?;
        if let Some(m) = self.sealer.metrics() {
            m.transition(None, rec.state);
        }
        Ok(Some(rec))
    }
}

/// Waits for `permits` while watching `jobs`: a job that ended with a
/// store error ends the location.
async fn acquire(
    permits: &Arc<Semaphore>,
    jobs: &mut JoinSet<Result<(), SectorStoreError>>,
) -> Result<OwnedSemaphorePermit, SectorStoreError> {
    loop {
        tokio::select! {
            permit = permits.clone().acquire_owned() => {
                return Ok(permit.expect("the engine never closes its semaphores"));
            }
            Some(joined) = jobs.join_next() => {
                if let Ok(Err(e)) = joined {
                    return Err(e);
                }
            }
        }
    }
}

/// One location: starts sectors while it has room (a free slot, and fewer
/// than its in-flight limit), resumed ones first.
async fn location_loop(
    shared: Arc<Shared>,
    location: Location,
    mut resumed: Vec<SectorRecord>,
) -> Result<(), SectorStoreError> {
    let slots = Arc::new(Semaphore::new(location.slots));
    let in_flight = Arc::new(Semaphore::new(shared.in_flight(location.slots)));
    // Sectors past the release point need no slot: resume them first (the
    // queue pops from its end).
    resumed.sort_by_key(|r| shared.released(r.state));
    let mut jobs = JoinSet::new();
    loop {
        let flight = acquire(&in_flight, &mut jobs).await?;
        let (rec, slot) = match resumed.pop() {
            Some(rec) => (rec, None),
            None => {
                let slot = acquire(&slots, &mut jobs).await?;
                match shared.new_record(&location.path).await? {
                    Some(rec) => (rec, Some(slot)),
                    None => break,
                }
            }
        };
        let hold = SlotHold {
            slots: slots.clone(),
            permit: None,
            metrics: shared.sealer.metrics().cloned(),
        }
        .with(slot);
        jobs.spawn(job_task(
            shared.clone(),
            location.path.clone(),
            rec,
            flight,
            hold,
        ));
    }
    while let Some(joined) = jobs.join_next().await {
        if let Ok(Err(e)) = joined {
            return Err(e);
        }
    }
    Ok(())
}

/// One live job task, counted in [`Shared::live_jobs`] until dropped
/// (finished, or aborted and dropped).
struct LiveJob(Arc<Shared>);

impl LiveJob {
    fn enter(shared: Arc<Shared>) -> Self {
        shared.live_jobs.send_modify(|n| *n += 1);
        Self(shared)
    }
}

impl Drop for LiveJob {
    fn drop(&mut self) {
        self.0.live_jobs.send_modify(|n| *n -= 1);
    }
}

/// A job's storage slot, when it holds one.
struct SlotHold {
    slots: Arc<Semaphore>,
    permit: Option<OwnedSemaphorePermit>,
    metrics: Option<Arc<metrics::EngineMetrics>>,
}

impl SlotHold {
    fn with(mut self, permit: Option<OwnedSemaphorePermit>) -> Self {
        if permit.is_some() {
            if let Some(m) = &self.metrics {
                m.slot_busy(true);
            }
        }
        self.permit = permit;
        self
    }

    /// Takes a slot for a sector in `state` that needs one and has none.
    async fn take_if_needed(&mut self, shared: &Shared, state: SectorState) {
        if self.permit.is_none() && !shared.released(state) && !state.is_terminal() {
            let permit = self
                .slots
                .clone()
                .acquire_owned()
                .await
                .expect("the engine never closes its semaphores");
            if let Some(m) = &self.metrics {
                m.slot_busy(true);
            }
            self.permit = Some(permit);
        }
    }

    /// Gives the slot back.
    fn release(&mut self) {
        if self.permit.take().is_some() {
            if let Some(m) = &self.metrics {
                m.slot_busy(false);
            }
        }
    }
}

impl Drop for SlotHold {
    fn drop(&mut self) {
        self.release();
    }
}

/// One sector job, holding an in-flight place and (until it is released)
/// a slot.
async fn job_task(
    shared: Arc<Shared>,
    location: PathBuf,
    mut rec: SectorRecord,
    _flight: OwnedSemaphorePermit,
    mut hold: SlotHold,
) -> Result<(), SectorStoreError> {
    let _alive = LiveJob::enter(shared.clone());
    let dir = rec
        .location
        .clone()
        .unwrap_or_else(|| location.join(format!("job-{}", rec.job)));
    let (tx, mut rx) = mpsc::channel(4);
    shared.slots.lock().await.insert(rec.job, tx);
    let span = tracing::info_span!("sector", job = rec.job);
    let result =
        tracing::Instrument::instrument(run_job(&shared, &mut rec, &dir, &mut rx, &mut hold), span)
            .await;
    shared.slots.lock().await.remove(&rec.job);
    result
}

/// Runs one job until it is finished or aborted, serving operator commands.
async fn run_job(
    shared: &Shared,
    rec: &mut SectorRecord,
    dir: &Path,
    rx: &mut mpsc::Receiver<Command>,
    hold: &mut SlotHold,
) -> Result<(), SectorStoreError> {
    loop {
        if rec.state.is_terminal() {
            return Ok(());
        }
        if shared.released(rec.state) {
            hold.release();
        } else {
            hold.take_if_needed(shared, rec.state).await;
        }
        let work = shared.work(rec.job);
        if !rec.paused && work.running() > 0 {
            // A stage of the run dropped by the last command still runs
            // (a blocking thread, a child): never start another one of
            // this sector beside it.
            tracing::info!(
                job = rec.job,
                "waiting for the sector's abandoned stage to end"
            );
            tokio::select! {
                _ = work.idle() => {}
                cmd = rx.recv() => match cmd {
                    Some(cmd) => apply_command(shared, rec, dir, cmd).await?,
                    None => return Ok(()),
                },
            }
            continue;
        }
        if !rec.paused {
            let mut prev = rec.state;
            let mut on_step = |r: &SectorRecord, _: &crate::sealer::StepReport| {
                if shared.released(r.state) {
                    hold.release();
                }
                if let Some(report) = shared.sealer.transition_report(r, dir, prev) {
                    let _ = shared.reports.send(report);
                }
                prev = r.state;
            };
            let (result, command) = {
                let run =
                    unwind::catch_panic(work.scope(shared.sealer.run(rec, dir, &mut on_step)));
                tokio::pin!(run);
                tokio::select! {
                    result = &mut run => (Some(result), None),
                    cmd = rx.recv() => (None, cmd),
                }
            };
            let result = match result {
                Some(Err(panic)) => {
                    tracing::error!(job = rec.job, state = %rec.state, %panic, "the sector's run panicked: parked");
                    // What the panic left in memory is not trusted: park
                    // the sector from its durable record.
                    reload(shared, rec).await?;
                    rec.paused = false;
                    Some(Err(Failure::new(
                        FailureLevel::Permanent,
                        format!("the sector's run panicked in {}: {panic}", rec.state),
                    )))
                }
                Some(Ok(result)) => Some(result),
                None => None,
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
                reload(shared, rec).await?;
                apply_command(shared, rec, dir, cmd).await?;
            }
            continue;
        }
        // Parked: wait for the operator, and ask the manager again every
        // recover interval whether it wants the sector given up (an abort
        // requested at the manager after the sector parked).
        tokio::select! {
            cmd = rx.recv() => match cmd {
                Some(cmd) => apply_command(shared, rec, dir, cmd).await?,
                None => return Ok(()),
            },
            _ = tokio::time::sleep(shared.sealer.parked_recheck_interval()) => {
                if let Some(reason) = shared.sealer.manager_abort_reason(rec, dir).await {
                    tracing::warn!(job = rec.job, %reason, "the sector manager asks to abort the parked sector");
                    let reason = format!("the sector manager asked to abort the sector: {reason}");
                    abort_job(shared, rec, dir, reason).await?;
                }
            }
        }
    }
}

/// Replaces `rec` with its durable record (if the store has it).
async fn reload(shared: &Shared, rec: &mut SectorRecord) -> Result<(), SectorStoreError> {
    let job = rec.job;
    if let Some(stored) = shared.store.load(job).await? {
        *rec = stored;
    }
    Ok(())
}

async fn apply_command(
    shared: &Shared,
    rec: &mut SectorRecord,
    dir: &Path,
    cmd: Command,
) -> Result<(), SectorStoreError> {
    match cmd {
        Command::Pause(reply) => {
            rec.paused = true;
            rec.failure = Some(Failure::new(FailureLevel::Permanent, "paused by operator"));
            rec.updated_at = Some(now_secs());
            let saved = shared.store.save(rec).await;
            let _ = reply.send(Ok(()));
            saved?;
            // Into the sector's history at the manager, whoever paused it,
            // with the failure it is parked with (a manager tracking it as
            // parked keeps doing so, since when it first parked).
            let event = "paused by the operator (worker admin API)".to_string();
            report_event(shared, rec, dir, rec.state, event);
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
            let mut event = "resumed by the operator (worker admin API)".to_string();
            if prev != rec.state {
                event.push_str(&format!(", moved from {prev} to {}", rec.state));
            }
            report_event(shared, rec, dir, prev, event);
        }
        Command::Abort(reason, reply) => {
            let saved = abort_job(shared, rec, dir, format!("aborted by operator: {reason}")).await;
            let _ = reply.send(Ok(()));
            saved?;
        }
    }
    Ok(())
}

/// Queues the report of an operator's `event` on `rec` (moved from
/// `prev`) for the manager, after the transitions before it.
fn report_event(shared: &Shared, rec: &SectorRecord, dir: &Path, prev: SectorState, event: String) {
    if let Some((sector, mut report)) = shared.sealer.event_report(rec, dir, prev, Some(event)) {
        report.failure = rec.failure.clone().filter(|_| rec.paused);
        let _ = shared.reports.send((sector, report));
    }
}

/// Gives the sector up for `reason` (see [`Sealer::abort_and_record`]).
async fn abort_job(
    shared: &Shared,
    rec: &mut SectorRecord,
    dir: &Path,
    reason: String,
) -> Result<(), SectorStoreError> {
    let work = shared.work(rec.job);
    if work.running() > 0 {
        tracing::info!(
            job = rec.job,
            "abort waits for the sector's running stage to end before removing its files"
        );
        work.idle().await;
    }
    let failure = Failure::new(FailureLevel::Abort, reason);
    shared.sealer.abort_and_record(rec, dir, failure).await
}
