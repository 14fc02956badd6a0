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
