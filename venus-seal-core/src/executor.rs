//! The one seam every stage runs through.

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::StageError;
use crate::stage::Stage;

/// Runs tasks of stage `S`.
///
/// One trait for every stage lets the same local, external-process and
/// remote executors, and the same decorators (limits, locks, timeouts,
/// metrics), serve any stage. Implementations classify their errors
/// ([`StageError`]) where the cause is known.
///
/// ```
/// use async_trait::async_trait;
/// use venus_seal_core::{Executor, StageError, stage::{C2, Proof}};
///
/// /// An executor that answers every C2 with a fixed (invalid) proof.
/// #[derive(Debug)]
/// struct Canned;
///
/// #[async_trait]
/// impl Executor<C2> for Canned {
///     async fn execute(&self, _task: C2) -> Result<Proof, StageError> {
///         Ok(Proof { proof: vec![0; 192] })
///     }
/// }
/// # fn _assert_dyn(_: std::sync::Arc<dyn Executor<C2>>) {}
/// ```
#[async_trait]
pub trait Executor<S: Stage>: Send + Sync + std::fmt::Debug {
    /// Runs one task.
    async fn execute(&self, task: S) -> Result<S::Output, StageError>;
}

crate::forward::forward_impls! {
    impl[S: Stage,] Executor<S> {
        async fn execute(&self, task: S) -> Result<S::Output, StageError>;
    }
}

/// A shared, type-erased executor of stage `S`.
pub type DynExecutor<S> = Arc<dyn Executor<S>>;

tokio::task_local! {
    static CALLER: tokio::sync::watch::Receiver<()>;
}

/// The caller's side of a task that runs on after its caller may have
/// gone away (see [`Limited`](crate::engine::limits::Limited), which runs
/// each task this way so that its limits stay held until the work ends).
///
/// Inside [`watch`](Self::watch), [`caller_gone`] resolves once this value
/// is dropped: an executor whose work can be stopped early (a child
/// process it can kill) stops it then, and returns only once it has
/// really stopped.
#[derive(Debug)]
pub struct Caller(tokio::sync::watch::Sender<()>);

impl Default for Caller {
    fn default() -> Self {
        Self::new()
    }
}

impl Caller {
    /// A caller that is here until dropped.
    pub fn new() -> Self {
        Self(tokio::sync::watch::channel(()).0)
    }

    /// `fut`, run so that [`caller_gone`] inside it follows this caller.
    pub fn watch<F: std::future::Future>(
        &self,
        fut: F,
    ) -> impl std::future::Future<Output = F::Output> {
        CALLER.scope(self.0.subscribe(), fut)
    }
}

/// Resolves once the caller of the task being executed has gone away (its
/// [`Caller`] was dropped: the sector was paused or aborted, or the worker
/// is shutting down). Never resolves outside [`Caller::watch`] or while
/// the caller waits. An executor selects on it to stop work it can stop;
/// it must not return before that work has really ended, since whoever
/// runs it holds the stage's limits until it returns.
pub async fn caller_gone() {
    match CALLER.try_with(Clone::clone) {
        Ok(mut rx) => while rx.changed().await.is_ok() {},
        Err(_) => std::future::pending().await,
    }
}
