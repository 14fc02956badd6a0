//! Stage work of one sector that may outlive the future that started it.
//!
//! When the engine drops a sector's run (pause, abort, shutdown), a stage
//! on a blocking thread or in a child process may still be running. Each
//! [`Limited`](super::limits::Limited) call counts itself in the
//! [`SectorWork`] of the sector it runs for (found through a task-local
//! the engine sets around the sector's run) until its work has really
//! ended; the engine waits for the count to reach zero before the sector
//! runs another stage or its files are removed, so a resumed PC2 never
//! overlaps the one it replaces.

use std::sync::Arc;

use tokio::sync::watch;

tokio::task_local! {
    static CURRENT: Arc<SectorWork>;
}

/// How many stage calls of one sector are running now.
#[derive(Debug)]
pub struct SectorWork {
    running: watch::Sender<usize>,
}

impl Default for SectorWork {
    fn default() -> Self {
        Self {
            running: watch::channel(0).0,
        }
    }
}

impl SectorWork {
    /// The work of the sector whose run is being polled, if the engine
    /// runs it.
    pub fn current() -> Option<Arc<SectorWork>> {
        CURRENT.try_with(Arc::clone).ok()
    }

    /// Runs `fut` (a sector's run) with `self` as [`current`](Self::current).
    pub(crate) fn scope<F: std::future::Future>(
        self: &Arc<Self>,
        fut: F,
    ) -> impl std::future::Future<Output = F::Output> {
        CURRENT.scope(self.clone(), fut)
    }

    /// Counts one stage call running until the guard is dropped.
    pub fn enter(self: &Arc<Self>) -> Running {
        self.running.send_modify(|n| *n += 1);
        Running(self.clone())
    }

    /// Stage calls running now.
    pub fn running(&self) -> usize {
        *self.running.borrow()
    }

    /// Waits until no stage call of the sector runs.
    pub async fn idle(&self) {
        let mut rx = self.running.subscribe();
        // The sender lives in `self`: `wait_for` cannot fail while we
        // borrow it.
        let _ = rx.wait_for(|n| *n == 0).await;
    }
}

/// One stage call counted in a [`SectorWork`]; uncounted on drop.
#[derive(Debug)]
pub struct Running(Arc<SectorWork>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.send_modify(|n| *n -= 1);
    }
}
