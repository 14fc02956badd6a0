//! The devnet's epoch clock.

use std::sync::{Arc, PoisonError};

use tokio::time::MissedTickBehavior;
use tracing::info;

use super::DevnetChain;

/// Why the clock could not start.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    /// The devnet was configured without a block time.
    #[error("the devnet has a manual clock (no block_time configured)")]
    Manual,
    /// The clock already runs.
    #[error("the devnet clock is already running")]
    AlreadyRunning,
    /// Not called from within a tokio runtime.
    #[error("the devnet clock needs a tokio runtime")]
    NoRuntime,
}

impl DevnetChain {
    /// Starts producing an epoch every `block_time` on the current tokio
    /// runtime. The task holds only a weak reference: it stops when the
    /// chain is dropped (or on [`stop_clock`](Self::stop_clock)).
    pub fn start_clock(self: &Arc<Self>) -> Result<(), ClockError> {
        let block_time = self.block_time.ok_or(ClockError::Manual)?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ClockError::NoRuntime)?;
        let mut slot = self.clock.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.as_ref().is_some_and(|task| !task.is_finished()) {
            return Err(ClockError::AlreadyRunning);
        }
        let chain = Arc::downgrade(self);
        *slot = Some(runtime.spawn(async move {
            let mut ticks = tokio::time::interval(block_time);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            ticks.tick().await; // the first tick is immediate
            loop {
                ticks.tick().await;
                let Some(chain) = chain.upgrade() else {
                    break;
                };
                chain.advance(1).await;
            }
        }));
        info!(?block_time, "devnet clock started");
        Ok(())
    }

    /// Stops the clock, if it runs. Returns whether it ran.
    pub fn stop_clock(&self) -> bool {
        let task = self
            .clock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match task {
            Some(task) if !task.is_finished() => {
                task.abort();
                info!("devnet clock stopped");
                true
            }
            _ => false,
        }
    }
}
