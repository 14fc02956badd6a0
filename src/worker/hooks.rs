//! Test-only pause points (`[testing]` in the config): kill tests stop the
//! worker at exact places instead of relying on timing.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use crate::core::stage::Stage;
use crate::core::{Executor, StageError};
use async_trait::async_trait;

use super::config::TestingSection;

/// Wraps an executor with the configured pause points.
#[derive(Debug)]
pub struct Hooked<E> {
    /// The executor that does the work.
    pub inner: E,
    /// Where to pause (none set: it only passes tasks through).
    pub hooks: Arc<TestingSection>,
}

impl<E> Hooked<E> {
    async fn pause(&self, when: &str, stage: &str) {
        let dir = self
            .hooks
            .marker_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("."));
        let marker = dir.join(format!("{when}-{stage}"));
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(&marker, std::process::id().to_string());
        tracing::warn!(marker = %marker.display(), "test pause point reached: waiting to be killed");
        std::future::pending::<()>().await;
    }
}

#[async_trait]
impl<S: Stage, E: Executor<S>> Executor<S> for Hooked<E> {
    async fn execute(&self, task: S) -> Result<S::Output, StageError> {
        if let Some(log) = &self.hooks.stage_log {
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
            {
                let _ = writeln!(f, "{}", S::NAME);
                let _ = f.sync_all();
            }
        }
        if self.hooks.pause_before.iter().any(|s| s == S::NAME) {
            self.pause("before", S::NAME).await;
        }
        let out = self.inner.execute(task).await?;
        if self.hooks.pause_after.iter().any(|s| s == S::NAME) {
            self.pause("after", S::NAME).await;
        }
        Ok(out)
    }
}
