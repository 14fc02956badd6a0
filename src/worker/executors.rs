//! The worker's executors, one per stage: the local executor, or the
//! stage's `[[processors.<stage>]]` as an [`ExtProcessorPool`]; persistence
//! (persist) on the `[[persist]]` stores. Each is wrapped in the test
//! hooks, metrics and limits, limits outermost (a stage waiting for a
//! permit is not timed).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backends::ext::{ExtProcessorConfig, ExtProcessorPool};
use crate::backends::persist::{
    LocalPersistStore, ObjectPersistStore, PersistStore, PersistStores,
};
use crate::backends::remote_c2::RemoteC2Executor;
use crate::backends::LocalExecutor;
use crate::core::engine::limits::Limits;
use crate::core::engine::metrics::EngineMetrics;
use crate::core::stage::{KeepInPlace, Persist, Stage};
use crate::core::{DynExecutor, Executor, ProofVerifier, StageExecutors};
use anyhow::{bail, Context};
use tokio::task::JoinSet;

use super::config::{TestingSection, WorkerConfig};
use super::hooks::Hooked;

/// The decorators every stage's executor is wrapped in.
#[derive(Debug)]
pub struct Decorators {
    /// The `[testing]` pause points.
    pub hooks: Arc<TestingSection>,
    /// Per-stage durations and outcomes.
    pub metrics: Arc<EngineMetrics>,
    /// The stage limits, locks and staggers.
    pub limits: Arc<Limits>,
}

impl Decorators {
    /// `inner` with the test hooks, then metrics, then limits outermost.
    pub(crate) fn wrap<S: Stage, E: Executor<S> + 'static>(&self, inner: E) -> DynExecutor<S> {
        let hooked = Hooked {
            inner,
            hooks: self.hooks.clone(),
        };
        Arc::new(self.limits.wrap(self.metrics.wrap(hooked)))
    }
}

/// Builds every stage's executor; starts nothing. The ext processors are
/// returned too, for [`ExtProcessors::start`] and [`ExtProcessors::stop`].
pub fn build(
    config: &WorkerConfig,
    local: Arc<LocalExecutor>,
    verifier: Arc<dyn ProofVerifier>,
    decorators: &Decorators,
) -> anyhow::Result<(StageExecutors, ExtProcessors)> {
    let mut ext = ExtProcessors::default();
    let p = &config.processors;
    let c2 = match &config.c2_service {
        Some(service) => {
            let token = crate::runtime::read_token("c2_service.token_file", &service.token_file)?;
            tracing::info!(url = %service.url, "c2 goes to the remote C2 service");
            decorators.wrap(
                RemoteC2Executor::new(&service.url, &token, verifier)
                    .with_failover(&service.failover),
            )
        }
        None => stage(&p.c2, &local, decorators, &mut ext)?,
    };
    let executors = StageExecutors {
        add_pieces: stage(&p.add_pieces, &local, decorators, &mut ext)?,
        tree_d: stage(&p.tree_d, &local, decorators, &mut ext)?,
        pc1: stage(&p.pc1, &local, decorators, &mut ext)?,
        pc2: stage(&p.pc2, &local, decorators, &mut ext)?,
        c1: stage(&p.c1, &local, decorators, &mut ext)?,
        c2,
        persist: decorators.wrap(persist(config)?),
    };
    Ok((executors, ext))
}

/// One stage: its processors as a pool, or the local executor.
fn stage<S: Stage>(
    processors: &[ExtProcessorConfig],
    local: &Arc<LocalExecutor>,
    decorators: &Decorators,
    ext: &mut ExtProcessors,
) -> anyhow::Result<DynExecutor<S>>
where
    LocalExecutor: Executor<S>,
{
    if processors.is_empty() {
        return Ok(decorators.wrap(local.clone()));
    }
    let pool = Arc::new(
        ExtProcessorPool::<S>::new(processors.iter().cloned())
            .with_context(|| format!("processors.{}", S::NAME))?,
    );
    let names: Vec<&str> = pool.processors().iter().map(|p| p.name()).collect();
    tracing::info!(
        stage = S::NAME,
        processors = ?names,
        locks = ?pool.locks(),
        "stage runs on ext processors"
    );
    ext.stages.push(Box::new(pool.clone()));
    Ok(decorators.wrap(pool))
}

/// Persist: copy to the `[[persist]]` stores, or keep the files in place.
fn persist(config: &WorkerConfig) -> anyhow::Result<DynExecutor<Persist>> {
    if config.persist.is_empty() {
        return Ok(Arc::new(KeepInPlace {
            instance: config.worker.name.clone(),
        }));
    }
    let mut stores = PersistStores::new();
    for p in &config.persist {
        let store: Arc<dyn PersistStore> = match (&p.path, &p.url) {
            (Some(path), _) => {
                let local = LocalPersistStore::new(p.name.clone(), path.clone())
                    .with_reserved_bytes(p.reserved_bytes);
                sweep_at_boot(&local);
                Arc::new(local)
            }
            (None, Some(url)) => {
                let parsed = url::Url::parse(url).with_context(|| format!("persist url {url}"))?;
                let (store, prefix) = object_store::parse_url(&parsed)
                    .with_context(|| format!("persist url {url}"))?;
                Arc::new(ObjectPersistStore::new(
                    p.name.clone(),
                    Arc::from(store),
                    prefix,
                ))
            }
            (None, None) => bail!("persist {}: no path or url", p.name),
        };
        stores.push(store, p.weight);
    }
    Ok(Arc::new(stores))
}

/// Removes the temporary copies (`.<file>.partial-<hex>`) a crashed
/// persist left in `store`, now rather than at the first persist after
/// boot: on a blocking thread when a runtime is running, else inline.
fn sweep_at_boot(store: &LocalPersistStore) {
    let store = store.clone();
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => drop(rt.spawn_blocking(move || store.sweep_leftovers())),
        Err(_) => store.sweep_leftovers(),
    }
}

/// The ext processor pools of every stage that has some.
#[derive(Default)]
pub struct ExtProcessors {
    stages: Vec<Box<dyn StagePool>>,
}

impl std::fmt::Debug for ExtProcessors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtProcessors")
            .field("stages", &self.stages.len())
            .finish()
    }
}

/// A pool of any stage, type-erased.
trait StagePool: Send + Sync {
    /// Starts each processor on `set`; an error names its config key and
    /// the processor.
    fn spawn_starts(&self, set: &mut JoinSet<anyhow::Result<()>>);
    /// Each running child's processor name and pid, on `set`.
    fn spawn_pids(&self, set: &mut JoinSet<Option<(String, u32)>>);
}

impl<S: Stage> StagePool for Arc<ExtProcessorPool<S>> {
    fn spawn_starts(&self, set: &mut JoinSet<anyhow::Result<()>>) {
        for (i, p) in self.processors().iter().enumerate() {
            let p = p.clone();
            set.spawn(async move {
                p.start().await.with_context(|| {
                    format!(
                        "processors.{}[{i}]: ext processor {} could not become ready",
                        S::NAME,
                        p.name()
                    )
                })
            });
        }
    }

    fn spawn_pids(&self, set: &mut JoinSet<Option<(String, u32)>>) {
        for p in self.processors() {
            let p = p.clone();
            set.spawn(async move { p.pid().await.map(|pid| (p.name().to_string(), pid)) });
        }
    }
}

/// How long [`ExtProcessors::stop`] waits for the children to be gone.
const STOP_GRACE: Duration = Duration::from_secs(5);

impl ExtProcessors {
    /// Whether no stage runs on ext processors.
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// Starts every processor's child (all at once) and waits until each
    /// printed its ready line, so a broken deployment fails at start-up.
    /// The error lists every processor that could not start.
    pub async fn start(&self) -> anyhow::Result<()> {
        let mut set = JoinSet::new();
        for pool in &self.stages {
            pool.spawn_starts(&mut set);
        }
        let mut failed = Vec::new();
        while let Some(joined) = set.join_next().await {
            if let Err(e) = joined.context("starting an ext processor")? {
                failed.push(format!("{e:#}"));
            }
        }
        if !failed.is_empty() {
            failed.sort();
            bail!(
                "{} ext processor(s) could not start:\n  {}",
                failed.len(),
                failed.join("\n  ")
            );
        }
        Ok(())
    }

    /// Kills every child. Call it once the engine has stopped (and so has
    /// dropped its executors): this drops the last handles on the pools,
    /// whose supervisors then kill their children, and waits (up to 5 s)
    /// until `/proc` no longer shows them.
    pub async fn stop(self) {
        let mut set = JoinSet::new();
        for pool in &self.stages {
            pool.spawn_pids(&mut set);
        }
        let mut running = Vec::new();
        while let Some(joined) = set.join_next().await {
            if let Ok(Some(child)) = joined {
                running.push(child);
            }
        }
        drop(self);
        let deadline = Instant::now() + STOP_GRACE;
        for (name, pid) in running {
            let proc = std::path::PathBuf::from(format!("/proc/{pid}"));
            while proc.exists() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if proc.exists() {
                tracing::warn!(processor = %name, pid, "ext processor still running after shutdown");
            } else {
                tracing::info!(processor = %name, pid, "ext processor stopped");
            }
        }
    }
}
