//! [`ExtProcessorExecutor`]: one external processor as an `Executor<S>`.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use venus_seal_core::executor::caller_gone;
use venus_seal_core::stage::Stage;
use venus_seal_core::{format_duration, Executor, FailureLevel, StageError};

use super::child::{self, ChildHandle, KillIfAlone, Outcome, SpawnSpec};
use super::command::{find_on_path, Launch};
use super::config::ExtProcessorConfig;
use super::damocles::{self, BodyFormat};
use super::error::ExtConfigError;
use super::wire::{level_of_err_msg, Request};

/// Runs tasks of stage `S` on a child process that speaks the ext protocol
/// (see [`ext`](super)): several tasks in flight (up to
/// [`concurrent`](ExtProcessorConfig::concurrent)), matched by id.
///
/// The child is started by [`start`](Self::start) or by the first task.
/// When it fails — it exits, hangs past
/// [`task_timeout`](ExtProcessorConfig::task_timeout), closes its stdout or
/// prints a line that is not a response — every task in flight on it fails
/// with a Temporary [`StageError::Unavailable`] naming the processor and
/// the cause, and the child is killed. With
/// [`auto_restart`](ExtProcessorConfig::auto_restart) the next task starts
/// a new child (restarts follow demand, so a child that keeps crashing
/// costs one start per task, never a busy loop); without it the processor
/// is dead and every later task fails Temporary saying so.
///
/// How answers map to results:
/// * an output that deserializes into `S::Output`: success;
/// * an output that does not: Permanent [`StageError::Computation`]
///   naming the stage and the serde error (corrupt stage output);
/// * an `err_msg`: the level its `[level] ` prefix names (as
///   [`serve`](super::serve) writes it; see [`level_of_err_msg`]), else
///   Temporary, since a child's free-text error cannot be classified here.
///
/// **Cancellation.** A task whose caller goes away
/// ([`caller_gone`], as under the engine's `Limited`) while it is the only
/// one on the child kills the child and returns only once the child has
/// exited, so that whoever holds the stage's limits holds them until the
/// work has really stopped; the next task starts a new child (this is no
/// failure: a processor without `auto_restart` stays alive). If other
/// tasks share the child, the cancelled one waits for its answer as if
/// nothing happened. A task whose future is dropped outright keeps its
/// [`concurrent`](ExtProcessorConfig::concurrent) slot and its in-flight
/// count until the child answers it or has exited. A task whose child
/// failed returns once the child has exited.
///
/// Dropping the executor kills the child.
pub struct ExtProcessorExecutor<S: Stage> {
    inner: Arc<Inner>,
    _stage: PhantomData<fn(S) -> S>,
}

impl<S: Stage> std::fmt::Debug for ExtProcessorExecutor<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtProcessorExecutor")
            .field("stage", &S::NAME)
            .field("name", &self.inner.name)
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

struct Inner {
    name: String,
    stage: &'static str,
    config: ExtProcessorConfig,
    launch: Launch,
    permits: Option<Arc<Semaphore>>,
    in_flight: AtomicUsize,
    next_id: AtomicU64,
    starts: AtomicU64,
    current: tokio::sync::Mutex<Option<Arc<ChildHandle>>>,
    dead: Arc<Mutex<Option<String>>>,
}

/// Counts a task in flight on a processor until dropped.
pub(crate) struct InFlight(Arc<Inner>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What a task holds while the child may be working on it: its
/// `concurrent` permit and its in-flight count.
struct Held {
    _permit: Option<OwnedSemaphorePermit>,
    _in_flight: InFlight,
}

/// A task registered on a child. If its future is dropped before the
/// outcome came, the child keeps the task's [`Held`] until it answers the
/// task or has exited ([`ChildHandle::abandon`]).
struct Waiting<'a> {
    child: &'a ChildHandle,
    id: u64,
    held: Option<Held>,
}

impl Waiting<'_> {
    /// The outcome came: nothing is left to abandon.
    fn done(mut self) -> Held {
        self.held.take().expect("taken once")
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        match self.held.take() {
            Some(held) => self.child.abandon(self.id, Box::new(held)),
            None => self.child.unregister(self.id),
        }
    }
}

impl<S: Stage> ExtProcessorExecutor<S> {
    /// Builds the processor; starts nothing. Fails if the config cannot be
    /// applied here (a bad `cpuset`, `taskset` missing, `concurrent = 0`).
    /// Without a `name` it is called `{stage}:{bin's file name}`.
    pub fn new(config: ExtProcessorConfig) -> Result<Self, ExtConfigError> {
        Self::with_lookup(config, None, find_on_path)
    }

    /// [`new`](Self::new) with a default name carrying `#index` (for pools)
    /// and a custom tool lookup (for tests).
    pub(crate) fn with_lookup(
        config: ExtProcessorConfig,
        index: Option<usize>,
        find: impl Fn(&str) -> Option<std::path::PathBuf>,
    ) -> Result<Self, ExtConfigError> {
        let name = config.name.clone().unwrap_or_else(|| {
            let bin = config
                .bin
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| config.bin.display().to_string());
            match index {
                Some(i) => format!("{}:{bin}#{i}", S::NAME),
                None => format!("{}:{bin}", S::NAME),
            }
        });
        if config.concurrent == Some(0) {
            return Err(ExtConfigError::ZeroConcurrent { processor: name });
        }
        if !config.format.carries::<S>() {
            return Err(ExtConfigError::FormatUnsupported {
                processor: name,
                stage: S::NAME,
            });
        }
        let launch = Launch::build(&name, &config, find)?;
        Ok(Self {
            inner: Arc::new(Inner {
                permits: config.concurrent.map(|n| Arc::new(Semaphore::new(n))),
                name,
                stage: S::NAME,
                launch,
                config,
                in_flight: AtomicUsize::new(0),
                next_id: AtomicU64::new(1),
                starts: AtomicU64::new(0),
                current: tokio::sync::Mutex::new(None),
                dead: Arc::new(Mutex::new(None)),
            }),
            _stage: PhantomData,
        })
    }

    /// The processor's name in logs and errors.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Its configuration.
    pub fn config(&self) -> &ExtProcessorConfig {
        &self.inner.config
    }

    /// The named locks its stage holds (carried for the engine's `Limits`).
    pub fn locks(&self) -> &[String] {
        &self.inner.config.locks
    }

    /// Tasks in this processor now: waiting for a slot, for the child to
    /// start, or for the child's answer.
    pub fn in_flight(&self) -> usize {
        self.inner.in_flight.load(Ordering::SeqCst)
    }

    /// How many children were started so far (restarts are `starts - 1`).
    pub fn starts(&self) -> u64 {
        self.inner.starts.load(Ordering::SeqCst)
    }

    /// Why the processor is dead (its child failed and `auto_restart` is
    /// off), or `None` while it can run tasks.
    pub fn dead(&self) -> Option<String> {
        self.inner.dead.lock().unwrap().clone()
    }

    /// The running child's process id, if one is running and healthy.
    pub async fn pid(&self) -> Option<u32> {
        let current = self.inner.current.lock().await;
        current
            .as_ref()
            .filter(|c| !c.is_failed())
            .and_then(|c| c.pid())
    }

    /// Starts the child now (if none is running) and waits until it is
    /// ready, so that a broken deployment shows at start-up rather than at
    /// the first task. Errors as a task would get them.
    pub async fn start(&self) -> Result<(), StageError> {
        self.inner.child().await.map(drop)
    }

    /// Counts a task in flight from now (the pool picks and enters under
    /// one lock, so two tasks never both see the same processor idle).
    pub(crate) fn enter(&self) -> InFlight {
        self.inner.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(self.inner.clone())
    }

    /// Runs one task already counted by `entered`.
    pub(crate) async fn run(&self, task: S, entered: InFlight) -> Result<S::Output, StageError> {
        let permit = match &self.inner.permits {
            Some(permits) => Some(
                permits
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed"),
            ),
            None => None,
        };
        let held = Held {
            _permit: permit,
            _in_flight: entered,
        };
        // A child that failed after we picked it but before our request was
        // written never saw the task: try once more on its replacement.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let child = self.inner.child().await?;
            let id = self.inner.next_id.fetch_add(1, Ordering::SeqCst);
            let line = self.inner.request_line(id, &task)?;
            let rx = match child.register(id) {
                Ok(rx) => rx,
                Err(_) if attempts < 2 => continue,
                Err(reason) => return Err(self.inner.child_failed(&child, &reason, id)),
            };
            let waiting = Waiting {
                child: &child,
                id,
                held: Some(held),
            };
            let outcome = self.inner.exchange_or_cancel(&child, id, &line, rx).await;
            // Held until the child has finished with the task: answered
            // it, or (when it failed or was killed) exited; if this future
            // is dropped while it waits, the child keeps them until then.
            if !matches!(outcome, Some(Outcome::Answer { .. })) {
                child.exited().await;
            }
            let _held = waiting.done();
            let Some(outcome) = outcome else {
                return Err(StageError::Unavailable(format!(
                    "{}: task {id} was cancelled (its caller went away); the child was killed and has exited",
                    child.label()
                )));
            };
            return match outcome {
                Outcome::Failed(reason) => Err(self.inner.child_failed(&child, &reason, id)),
                Outcome::Answer {
                    err_msg: Some(msg), ..
                } => Err(self.inner.task_failed(id, &msg)),
                Outcome::Answer {
                    err_msg: None,
                    output,
                } => {
                    let json = output.as_ref().map(|o| o.get()).unwrap_or("null");
                    let parsed = match self.inner.config.format {
                        BodyFormat::Native => serde_json::from_str(json).map_err(|e| e.to_string()),
                        BodyFormat::Damocles => damocles::output_from_damocles(&task, json),
                    };
                    parsed.map_err(|e| {
                        StageError::Computation(format!(
                            "corrupt {} output from ext processor {} (task {id}): {e}",
                            S::NAME,
                            self.inner.name,
                        ))
                    })
                }
            };
        }
    }
}

impl Inner {
    /// The running child, starting one if there is none or it failed.
    async fn child(&self) -> Result<Arc<ChildHandle>, StageError> {
        let mut current = self.current.lock().await;
        if let Some(child) = current.as_ref().filter(|c| !c.is_failed()) {
            return Ok(child.clone());
        }
        if let Some(reason) = self.dead.lock().unwrap().clone() {
            return Err(self.dead_error(&reason));
        }
        // The old child (if any) was killed when it failed; drop its handle.
        *current = None;
        let starts = self.starts.fetch_add(1, Ordering::SeqCst) + 1;
        if starts > 1 {
            tracing::info!(processor = %self.name, starts, "restarting ext processor");
        }
        let name = self.name.clone();
        let auto_restart = self.config.auto_restart;
        let dead = self.dead.clone();
        let spec = SpawnSpec {
            name: &self.name,
            stage: self.stage,
            command: self.launch.command(&self.config),
            command_line: self.launch.display(),
            ready_timeout: self.config.ready_timeout,
            on_fail: Box::new(move |label, reason, in_flight| {
                if auto_restart {
                    tracing::error!(processor = %name, "{label} {reason}; {in_flight} task(s) in flight failed; it restarts on the next task");
                } else {
                    tracing::error!(processor = %name, "{label} {reason}; {in_flight} task(s) in flight failed; auto_restart is off, the processor is dead");
                    *dead.lock().unwrap() = Some(format!("{label} {reason}"));
                }
            }),
        };
        match child::spawn(spec).await {
            Ok(child) => {
                *current = Some(child.clone());
                Ok(child)
            }
            Err(reason) => {
                tracing::error!(processor = %self.name, "{reason}");
                if !self.config.auto_restart {
                    *self.dead.lock().unwrap() = Some(reason.clone());
                    return Err(self.dead_error(&reason));
                }
                Err(StageError::Unavailable(reason))
            }
        }
    }

    /// [`exchange`](Self::exchange), unless the caller goes away first
    /// and the task is alone on the child: then the child is being killed
    /// and the answer is `None` (the caller waits for the exit).
    async fn exchange_or_cancel(
        &self,
        child: &ChildHandle,
        id: u64,
        line: &str,
        rx: tokio::sync::oneshot::Receiver<Outcome>,
    ) -> Option<Outcome> {
        let exchange = self.exchange(child, id, line, rx);
        tokio::pin!(exchange);
        tokio::select! {
            biased;
            outcome = &mut exchange => return Some(outcome),
            _ = caller_gone() => {}
        }
        let reason = format!("was killed: the caller of task {id} went away");
        match child.kill_if_alone(id, &reason) {
            KillIfAlone::Killed => {
                tracing::info!(processor = %self.name, task = id, "the caller of the only task on the ext processor went away; killing its child");
                None
            }
            // Others share the child (or the outcome is already there):
            // the task runs on, and the caller's limits stay held until
            // it ends.
            KillIfAlone::NotAlone => Some(exchange.await),
        }
    }

    /// Writes the request and waits for its outcome (failing the child if
    /// the write fails or the task times out).
    async fn exchange(
        &self,
        child: &ChildHandle,
        id: u64,
        line: &str,
        mut rx: tokio::sync::oneshot::Receiver<Outcome>,
    ) -> Outcome {
        // The timeout covers the write too: a child that stops reading its
        // stdin hangs just the same.
        let exchange = async {
            if let Err(e) = child.send(line).await {
                child.fail(&format!("could not be written to (task {id}): {e}"));
            }
            (&mut rx).await
        };
        let outcome = match self.config.task_timeout {
            Some(limit) => {
                let timed = tokio::time::timeout(limit, exchange).await;
                match timed {
                    Ok(outcome) => outcome,
                    Err(_) => {
                        child.fail(&format!(
                            "hung: task {id} got no answer within task_timeout {}; killed it",
                            format_duration(limit)
                        ));
                        rx.await
                    }
                }
            }
            None => exchange.await,
        };
        outcome.unwrap_or_else(|_| Outcome::Failed("went away".into()))
    }

    /// The request line of task `id`.
    fn request_line<S: Stage>(&self, id: u64, task: &S) -> Result<String, StageError> {
        match self.config.format {
            BodyFormat::Native => serde_json::to_string(&Request { id, task }),
            BodyFormat::Damocles => serde_json::to_string(&Request {
                id,
                task: damocles::task_to_damocles(task)?,
            }),
        }
        .map_err(|e| StageError::Computation(format!("cannot serialize the {} task: {e}", S::NAME)))
    }

    /// The error of a task whose child failed.
    fn child_failed(&self, child: &ChildHandle, reason: &str, id: u64) -> StageError {
        let next = if self.config.auto_restart {
            "it restarts on the next task"
        } else {
            "auto_restart is off: the processor is dead"
        };
        StageError::Unavailable(format!(
            "{} {reason}; task {id} was in flight; {next}",
            child.label()
        ))
    }

    /// The error of a task the child answered with `err_msg`.
    fn task_failed(&self, id: u64, err_msg: &str) -> StageError {
        let (level, text) = level_of_err_msg(err_msg);
        let msg = format!("ext processor {} (task {id}): {text}", self.name);
        match level {
            FailureLevel::Temporary => StageError::Unavailable(msg),
            FailureLevel::Permanent => StageError::Computation(msg),
            FailureLevel::Critical => StageError::io(
                format!(
                    "ext processor {} (task {id}) reported a critical failure",
                    self.name
                ),
                if crate::no_space::names_no_space(text) {
                    crate::no_space::storage_full(text.to_string())
                } else {
                    std::io::Error::other(text.to_string())
                },
            ),
            FailureLevel::Abort => StageError::InvalidTask(msg),
        }
    }

    fn dead_error(&self, reason: &str) -> StageError {
        StageError::Unavailable(format!(
            "ext processor {} is dead and auto_restart is off (it failed: {reason}); restart the worker to revive it",
            self.name
        ))
    }
}

#[async_trait]
impl<S: Stage> Executor<S> for ExtProcessorExecutor<S> {
    async fn execute(&self, task: S) -> Result<S::Output, StageError> {
        let entered = self.enter();
        self.run(task, entered).await
    }
}
