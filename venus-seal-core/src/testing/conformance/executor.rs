//! The [`Executor<S>`] suite, generic over the stage: a [`StageCase`]
//! says how to build a valid task of stage `S` (inputs in place), what the
//! engine does before re-running the stage after a crash, and which broken
//! tasks the executor must refuse with which [`FailureLevel`].
//!
//! [`executor`] checks, for any stage:
//!
//! * a valid task succeeds, and its output survives a JSON round trip
//!   (the ext protocol, the remote C2 service and the sector store carry
//!   it as JSON);
//! * **re-running after a crash is safe**: the engine re-runs a stage
//!   whose output it had not yet recorded, with the same inputs; the
//!   second run must succeed and (unless the stage is randomised, like a
//!   Groth16 proof) give an equal output;
//! * **errors carry the documented levels**: every broken task fails with
//!   a [`StageError`] of the level the case names (a missing input file is
//!   `Missing`, Permanent; an impossible task `InvalidTask`, Abort; …).
//!
//! # Adding a stage
//!
//! A new stage type needs no change here: write a `StageCase<NewStage>`
//! (a task factory, optionally a `before_rerun` hook and `refuses` cases)
//! and call [`executor`] with it from each executor's tests. The sealing
//! stages' cases are in [`sealing`](super::sealing), a model to follow: a
//! factory that runs the stages before on the executors given, the
//! engine's pre-rerun cleanup as `before_rerun`, and the documented
//! refusals.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use crate::error::{FailureLevel, Leveled, StageError};
use crate::executor::{DynExecutor, Executor};
use crate::stage::Stage;

use super::scratch::Scratch;

/// A boxed, sendable future (what a [`StageCase`]'s task factory returns).
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

type TaskFn<S> = dyn Fn(PathBuf) -> BoxFuture<S> + Send + Sync;
type HookFn<S> = dyn Fn(&S) + Send + Sync;
type BreakFn<S> = dyn Fn(S) -> S + Send + Sync;

/// A task the executor must refuse, and how.
struct Refusal<S> {
    what: String,
    break_task: Box<BreakFn<S>>,
    level: FailureLevel,
}

/// How to exercise one stage: see the [module docs](self).
pub struct StageCase<S: Stage> {
    task: Box<TaskFn<S>>,
    before_rerun: Option<Box<HookFn<S>>>,
    refusals: Vec<Refusal<S>>,
}

impl<S: Stage> std::fmt::Debug for StageCase<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageCase")
            .field("stage", &S::NAME)
            .field(
                "refusals",
                &self.refusals.iter().map(|r| &r.what).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl<S: Stage> StageCase<S> {
    /// A case whose valid tasks `task(dir)` builds: `dir` is a fresh,
    /// empty directory per call, for the task's input and output files
    /// (the factory may run earlier stages to make the inputs).
    pub fn new<F, Fut>(task: F) -> Self
    where
        F: Fn(PathBuf) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = S> + Send + 'static,
    {
        Self {
            task: Box::new(move |dir| Box::pin(task(dir))),
            before_rerun: None,
            refusals: Vec::new(),
        }
    }

    /// What the engine does before it re-runs this stage after a crash
    /// (PC2, which rewrites the sealed file in place: restore it from the
    /// staged copy).
    pub fn before_rerun(mut self, hook: impl Fn(&S) + Send + Sync + 'static) -> Self {
        self.before_rerun = Some(Box::new(hook));
        self
    }

    /// Every refusal expected at Abort is expected at `level` instead: for
    /// an executor across a process boundary (an ext child, a remote
    /// service), whose `[abort]` the parent caps at Permanent (a child may
    /// not give a sector up).
    pub fn abort_as(mut self, level: FailureLevel) -> Self {
        for r in &mut self.refusals {
            if r.level == FailureLevel::Abort {
                r.level = level;
            }
        }
        self
    }

    /// The executor must refuse a valid task changed by `break_task` (it
    /// may also damage the task's files on disk) with an error of
    /// `level`; `what` names the case in failure messages.
    pub fn refuses(
        mut self,
        what: impl Into<String>,
        level: FailureLevel,
        break_task: impl Fn(S) -> S + Send + Sync + 'static,
    ) -> Self {
        self.refusals.push(Refusal {
            what: what.into(),
            break_task: Box::new(break_task),
            level,
        });
        self
    }

    /// A fresh valid task, its inputs made under `dir` (an empty
    /// directory the caller keeps while the task is used).
    pub async fn task(&self, dir: &Path) -> S {
        (self.task)(dir.to_path_buf()).await
    }
}

/// Where executors legitimately differ.
#[derive(Clone, Copy, Debug, Default)]
pub struct Capabilities {
    /// Two runs of the same task give different (equally valid) outputs:
    /// a Groth16 proof is randomised. The rerun check then only requires
    /// success.
    pub randomised_output: bool,
}

fn json<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).expect("a stage output serializes")
}

/// Runs [`executor`] on `exec` three ways: as `&dyn`, through its
/// `Arc<dyn>` and through a `Box<dyn>` of it (the forwarding impls must
/// behave as the executor itself).
pub async fn executor_all_ways<S: Stage>(
    exec: DynExecutor<S>,
    case: &StageCase<S>,
    caps: Capabilities,
) {
    executor(&*exec, case, caps).await;
    executor(&exec, case, caps).await;
    let boxed: Box<dyn Executor<S>> = Box::new(exec);
    executor(&boxed, case, caps).await;
}

/// Runs the suite on `exec` for the stage of `case`; see the
/// [module docs](self). Panics on the first deviation, naming the stage,
/// the executor and what it did.
pub async fn executor<S: Stage>(exec: &dyn Executor<S>, case: &StageCase<S>, caps: Capabilities) {
    let name = format!("{}: {exec:?}", S::NAME);
    let scratch = Scratch::new(S::NAME);

    let task = case.task(&scratch.subdir("valid")).await;
    let first = exec
        .execute(task.clone())
        .await
        .unwrap_or_else(|e| panic!("{name}: a valid task failed ({:?}): {e}", e.level()));
    let back: S::Output = serde_json::from_value(json(&first))
        .unwrap_or_else(|e| panic!("{name}: the output does not read back from JSON: {e}"));
    assert_eq!(
        json(&back),
        json(&first),
        "{name}: the output changes through JSON"
    );

    // A crash after the stage ran, before its output was recorded: the
    // engine runs the same task again.
    if let Some(hook) = &case.before_rerun {
        hook(&task);
    }
    let second = exec.execute(task).await.unwrap_or_else(|e| {
        panic!(
            "{name}: re-running a task after a crash failed ({:?}): {e}",
            e.level()
        )
    });
    if !caps.randomised_output {
        assert_eq!(
            json(&second),
            json(&first),
            "{name}: re-running the same task gave a different output"
        );
    }

    for (i, refusal) in case.refusals.iter().enumerate() {
        let valid = case.task(&scratch.subdir(&format!("broken-{i}"))).await;
        let broken = (refusal.break_task)(valid);
        check_refusal(
            &name,
            &refusal.what,
            refusal.level,
            exec.execute(broken).await,
        );
    }
}

fn check_refusal<T: std::fmt::Debug>(
    name: &str,
    what: &str,
    level: FailureLevel,
    result: Result<T, StageError>,
) {
    match result {
        Ok(out) => panic!("{name}: {what}: want a {level:?} error, got {out:?}"),
        Err(e) => {
            assert_eq!(
                e.level(),
                level,
                "{name}: {what}: the error {e:?} has the wrong level"
            );
            assert!(
                !e.to_string().is_empty(),
                "{name}: {what}: the error says nothing"
            );
        }
    }
}
