//! [`ExtProcessorPool`]: several external processors serving one stage.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use venus_seal_core::stage::Stage;
use venus_seal_core::{Executor, StageError};

use super::command::find_on_path;
use super::config::ExtProcessorConfig;
use super::error::ExtConfigError;
use super::processor::ExtProcessorExecutor;

/// The processors of one stage as one `Executor<S>`: each task goes to the
/// live processor with the fewest tasks in flight relative to its
/// [`concurrent`](ExtProcessorConfig::concurrent) (an unlimited one counts
/// as empty; ties go to fewer tasks, then to the earlier processor). Dead
/// processors (failed with `auto_restart` off) are skipped; when all are
/// dead, tasks fail Temporary naming each one's cause.
///
/// A task that fails on one processor is not retried on another: the
/// engine's retry policy decides, as for any executor.
#[derive(Debug)]
pub struct ExtProcessorPool<S: Stage> {
    processors: Vec<Arc<ExtProcessorExecutor<S>>>,
    pick: Mutex<()>,
}

impl<S: Stage> ExtProcessorPool<S> {
    /// Builds one processor per config (unnamed ones are called
    /// `{stage}:{bin}#{index}`); starts nothing.
    pub fn new(
        configs: impl IntoIterator<Item = ExtProcessorConfig>,
    ) -> Result<Self, ExtConfigError> {
        let processors = configs
            .into_iter()
            .enumerate()
            .map(|(i, config)| {
                ExtProcessorExecutor::with_lookup(config, Some(i), find_on_path).map(Arc::new)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_processors(processors)
    }

    /// A pool of processors built elsewhere.
    pub fn from_processors(
        processors: Vec<Arc<ExtProcessorExecutor<S>>>,
    ) -> Result<Self, ExtConfigError> {
        if processors.is_empty() {
            return Err(ExtConfigError::NoProcessors { stage: S::NAME });
        }
        Ok(Self {
            processors,
            pick: Mutex::new(()),
        })
    }

    /// The processors, in config order.
    pub fn processors(&self) -> &[Arc<ExtProcessorExecutor<S>>] {
        &self.processors
    }

    /// Every lock name the processors carry, sorted, once each: what the
    /// worker adds to the stage's `StageLimit::locks`. The engine's
    /// `Limits` decorator applies locks per stage, so they are held around
    /// every task of the stage, whichever processor runs it.
    pub fn locks(&self) -> Vec<String> {
        let mut locks: Vec<String> = self
            .processors
            .iter()
            .flat_map(|p| p.locks().iter().cloned())
            .collect();
        locks.sort();
        locks.dedup();
        locks
    }

    /// Starts every processor's child and waits until all are ready; the
    /// first error is returned (the others are still started).
    pub async fn start(&self) -> Result<(), StageError> {
        let mut first = None;
        for p in &self.processors {
            if let Err(e) = p.start().await {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

/// A processor's load as the pool sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Load {
    pub(crate) in_flight: usize,
    pub(crate) concurrent: Option<usize>,
    pub(crate) dead: bool,
}

/// The index of the processor to use: live, least loaded relative to its
/// limit, then fewest in flight, then first.
pub(crate) fn pick(loads: &[Load]) -> Option<usize> {
    loads
        .iter()
        .enumerate()
        .filter(|(_, l)| !l.dead)
        .min_by(|(ia, a), (ib, b)| {
            // a.in_flight / a.cap vs b.in_flight / b.cap, exactly; an
            // unlimited processor has load 0.
            let ratio = |l: &Load| match l.concurrent {
                Some(cap) => (l.in_flight as u128, cap.max(1) as u128),
                None => (0, 1),
            };
            let ((an, ad), (bn, bd)) = (ratio(a), ratio(b));
            (an * bd)
                .cmp(&(bn * ad))
                .then(a.in_flight.cmp(&b.in_flight))
                .then(ia.cmp(ib))
        })
        .map(|(i, _)| i)
}

#[async_trait]
impl<S: Stage> Executor<S> for ExtProcessorPool<S> {
    async fn execute(&self, task: S) -> Result<S::Output, StageError> {
        let (processor, entered) = {
            let _picking = self.pick.lock().unwrap();
            let loads: Vec<Load> = self
                .processors
                .iter()
                .map(|p| Load {
                    in_flight: p.in_flight(),
                    concurrent: p.config().concurrent,
                    dead: p.dead().is_some(),
                })
                .collect();
            match pick(&loads) {
                Some(i) => {
                    let p = self.processors[i].clone();
                    let entered = p.enter();
                    (p, entered)
                }
                None => {
                    let causes: Vec<String> = self
                        .processors
                        .iter()
                        .map(|p| format!("{}: {}", p.name(), p.dead().unwrap_or_default()))
                        .collect();
                    return Err(StageError::Unavailable(format!(
                        "all {} ext processors of stage {} are dead (auto_restart is off): {}",
                        self.processors.len(),
                        S::NAME,
                        causes.join("; ")
                    )));
                }
            }
        };
        processor.run(task, entered).await
    }
}
