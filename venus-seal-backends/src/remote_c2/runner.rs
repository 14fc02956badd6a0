//! The stages a service node proves, behind one object-safe trait: the
//! HTTP handlers and the prover loops see rows and bytes, each stage's
//! [`StageRunner`] turns them into its task and output.

use std::sync::Arc;

use async_trait::async_trait;
use venus_seal_core::{DynExecutor, FailureLevel, Leveled};

use super::api::{RemoteStage, TaskError, TaskRow};

/// Checks a submitted task before it is queued; the message of an `Err`
/// goes back to the submitter with a 400.
pub(crate) type TaskCheck<S> = dyn Fn(&S) -> Result<(), String> + Send + Sync;

/// One stage a node proves.
#[async_trait]
pub(crate) trait Runner: Send + Sync + std::fmt::Debug {
    /// A submission body as the row to queue, or what is wrong with it.
    fn parse(&self, body: &[u8]) -> Result<TaskRow, String>;

    /// Proves a claimed task: its output as the queue stores it.
    async fn run(&self, row: TaskRow) -> Result<Vec<u8>, TaskError>;

    /// A stored output as the JSON of `GET /v1/{stage}/{id}/proof`.
    fn answer(&self, stored: Vec<u8>) -> Result<Vec<u8>, String>;

    /// The runner as `Any` (to reach a stage's executor again).
    fn as_any(&self) -> &dyn std::any::Any;
}

/// Stage `S` on an executor.
pub(crate) struct StageRunner<S: RemoteStage> {
    pub executor: DynExecutor<S>,
    pub check: Option<Arc<TaskCheck<S>>>,
}

impl<S: RemoteStage> std::fmt::Debug for StageRunner<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageRunner")
            .field("stage", &S::NAME)
            .field("executor", &self.executor)
            .field("check", &self.check.is_some())
            .finish()
    }
}

#[async_trait]
impl<S: RemoteStage> Runner for StageRunner<S> {
    fn parse(&self, body: &[u8]) -> Result<TaskRow, String> {
        let task = S::parse(body)?;
        if let Some(check) = &self.check {
            check(&task)?;
        }
        task.to_row()
    }

    async fn run(&self, row: TaskRow) -> Result<Vec<u8>, TaskError> {
        let permanent = |message: String| TaskError {
            level: FailureLevel::Permanent,
            message,
        };
        let task = S::from_row(&row).map_err(|e| permanent(format!("task {}: {e}", row.id)))?;
        let output = self.executor.execute(task).await.map_err(|e| TaskError {
            level: e.level(),
            message: e.to_string(),
        })?;
        S::output_to_bytes(&output).map_err(permanent)
    }

    fn answer(&self, stored: Vec<u8>) -> Result<Vec<u8>, String> {
        let output = S::output_from_bytes(stored)?;
        serde_json::to_vec(&output).map_err(|e| e.to_string())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
