//! [`C2Node`]: a [`C2NodeConfig`] assembled into a running proving
//! service (C2, and the `service.stages` named).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;

use super::config::{C2NodeConfig, QueueSection};
use crate::backends::params::{GenerationPolicy, ParameterCache};
use crate::backends::remote_c2::{check_c1_output, C2Service, C2TaskStore};
use crate::backends::LocalExecutor;
use crate::core::proving::PoStKind;
use crate::core::stage::{SnapEncode, SnapProve, Stage, Unseal, WindowPoSt, WinningPoSt, C2};
use crate::core::{Executor, StageError};
use crate::rpc::Secret;

/// A C2 service node with its queue open and its port bound: call
/// [`C2Node::run`] to serve until the shutdown future resolves.
///
/// ```no_run
/// # async fn demo() -> anyhow::Result<()> {
/// use venus_seal::c2_service::{C2Node, C2NodeConfig};
///
/// let config = C2NodeConfig::load("examples/c2-service.toml".as_ref())?;
/// let node = C2Node::build(config).await?;
/// println!("serving C2 on {}", node.local_addr()?);
/// node.run(venus_seal::runtime::shutdown_signal()).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct C2Node {
    service: C2Service,
    listener: tokio::net::TcpListener,
}

impl C2Node {
    /// Checks the Groth16 parameters of `params.proofs` (generating random
    /// 2KiB/8MiB ones with `generate_test_sizes`, logging progress), opens
    /// the task queue, creates the secret if missing, and binds
    /// `service.listen`. Serves nothing yet.
    pub async fn build(config: C2NodeConfig) -> anyhow::Result<Self> {
        let params = Arc::new(match &config.params.dir {
            Some(dir) => ParameterCache::new(dir),
            None => ParameterCache::from_env(),
        });
        params.activate().context("parameter cache")?;
        let policy = if config.params.generate_test_sizes {
            GenerationPolicy::TestSizes
        } else {
            GenerationPolicy::Never
        };
        let stages = &config.service.stages;
        let proves = |stage: &str| stages.iter().any(|s| s == stage);
        for &proof in &config.params.proofs {
            // Encoding and unsealing use no Groth16 parameters.
            for stage in stages
                .iter()
                .filter(|s| !matches!(s.as_str(), "snap_encode" | "unseal"))
            {
                tracing::info!(%proof, %stage, "checking Groth16 parameters");
                let p = params.clone();
                let stage = stage.clone();
                let what = format!("{stage} parameters for {proof}");
                tokio::task::spawn_blocking(move || match stage.as_str() {
                    "window_post" => p.ensure_post(proof, PoStKind::Window, policy).map(drop),
                    "winning_post" => p.ensure_post(proof, PoStKind::Winning, policy).map(drop),
                    "snap_prove" => p.ensure_update(proof, policy).map(drop),
                    // A non-interactive C2 also needs the aggregation SRS.
                    _ => p.ensure_for_sealing(proof, policy),
                })
                .await?
                .context(what)?;
            }
        }

        let store = match &config.queue {
            QueueSection::Sqlite { path } => C2TaskStore::open_sqlite(path)
                .await
                .with_context(|| format!("queue.path {}", path.display()))?,
            QueueSection::Postgres { url } => {
                C2TaskStore::connect(url).await.context("queue.url")?
            }
        };
        tracing::info!(queue = ?store, tasks = ?store.counts().await?, "C2 queue opened");
        let secret =
            Secret::load_or_create(&config.service.secret_file).context("service.secret_file")?;
        let local = Arc::new(Delayed {
            inner: LocalExecutor::with_parameters(params),
            delay: config.testing.prove_delay,
        });
        if let Some(delay) = config.testing.prove_delay {
            tracing::warn!(
                ?delay,
                "[testing] prove_delay: every task waits before proving"
            );
        }
        let mut service = C2Service::without_stages(store, secret, config.service_config());
        if proves("c2") {
            service = service
                .with_stage::<C2>(local.clone())
                .with_c1_check(check_c1_output);
        }
        if proves("snap_prove") {
            service = service.with_stage::<SnapProve>(local.clone());
        }
        if proves("window_post") {
            service = service.with_stage::<WindowPoSt>(local.clone());
        }
        if proves("winning_post") {
            service = service.with_stage::<WinningPoSt>(local.clone());
        }
        if proves("snap_encode") {
            service = service.with_stage::<SnapEncode>(local.clone());
        }
        if proves("unseal") {
            service = service.with_stage::<Unseal>(local);
        }
        tracing::info!(stages = ?service.stages(), "stages proven by this node");
        let listener = tokio::net::TcpListener::bind(config.service.listen)
            .await
            .with_context(|| format!("service.listen {}", config.service.listen))?;
        Ok(Self { service, listener })
    }

    /// Where the service listens.
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves until `shutdown` resolves, then stops taking tasks and hands
    /// the running ones back to the queue. A proof still running on a
    /// blocking thread keeps the tokio runtime alive: a binary exits the
    /// process once this returns (its task is back in the queue).
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.service.serve(self.listener, shutdown).await?;
        tracing::info!("C2 service stopped");
        Ok(())
    }
}

/// An executor that waits `delay` before each task (`[testing]
/// prove_delay`).
#[derive(Debug)]
struct Delayed<E> {
    inner: E,
    delay: Option<std::time::Duration>,
}

#[async_trait::async_trait]
impl<S: Stage, E: Executor<S>> Executor<S> for Delayed<E> {
    async fn execute(&self, task: S) -> Result<S::Output, StageError> {
        if let Some(delay) = self.delay {
            tokio::time::sleep(delay).await;
        }
        self.inner.execute(task).await
    }
}
