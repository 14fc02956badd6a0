//! Prometheus metrics of a worker: stage durations, sectors per state,
//! failures per level, slot and limit occupancy.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::limits::Limits;
use crate::error::{FailureLevel, Leveled, StageError};
use crate::executor::Executor;
use crate::sector::SectorState;
use crate::stage::Stage;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabel {
    stage: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LevelLabel {
    level: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabel {
    limit: String,
}

/// The worker's metrics; render them with [`EngineMetrics::render`].
pub struct EngineMetrics {
    registry: Mutex<Registry>,
    stage_seconds: Family<StageLabel, Histogram>,
    sectors: Family<StateLabel, Gauge>,
    failures: Family<LevelLabel, Counter>,
    slots_total: Gauge,
    slots_busy: Gauge,
    limit_in_use: Family<LimitLabel, Gauge>,
    limit_capacity: Family<LimitLabel, Gauge>,
    limits: Mutex<Option<Arc<Limits>>>,
}

impl std::fmt::Debug for EngineMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EngineMetrics")
    }
}

impl Default for EngineMetrics {
    fn default() -> Self {
        let stage_seconds = Family::<StageLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 4.0, 14))
        });
        let m = Self {
            registry: Mutex::new(Registry::with_prefix("venus_seal")),
            stage_seconds,
            sectors: Family::default(),
            failures: Family::default(),
            slots_total: Gauge::default(),
            slots_busy: Gauge::default(),
            limit_in_use: Family::default(),
            limit_capacity: Family::default(),
            limits: Mutex::new(None),
        };
        {
            let mut r = m.registry.lock().unwrap();
            r.register(
                "stage_duration_seconds",
                "Time a stage's executor took",
                m.stage_seconds.clone(),
            );
            r.register("sectors", "Sectors per state", m.sectors.clone());
            r.register("failures", "Step failures per level", m.failures.clone());
            r.register("slots", "Storage slots configured", m.slots_total.clone());
            r.register(
                "slots_busy",
                "Storage slots holding a sector",
                m.slots_busy.clone(),
            );
            r.register(
                "limit_in_use",
                "Permits of each stage limit and lock held",
                m.limit_in_use.clone(),
            );
            r.register(
                "limit_capacity",
                "Capacity of each stage limit and lock",
                m.limit_capacity.clone(),
            );
        }
        m
    }
}

impl EngineMetrics {
    /// New metrics.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Reports the occupancy of `limits` at every render.
    pub fn watch_limits(&self, limits: Arc<Limits>) {
        *self.limits.lock().unwrap() = Some(limits);
    }

    pub(crate) fn stage(&self, stage: &str, ok: bool, seconds: f64) {
        let outcome = if ok { "ok" } else { "error" };
        self.stage_seconds
            .get_or_create(&StageLabel {
                stage: stage.to_string(),
                outcome: outcome.to_string(),
            })
            .observe(seconds);
    }

    pub(crate) fn transition(&self, from: Option<SectorState>, to: SectorState) {
        if let Some(from) = from {
            self.sectors
                .get_or_create(&StateLabel {
                    state: from.to_string(),
                })
                .dec();
        }
        self.sectors
            .get_or_create(&StateLabel {
                state: to.to_string(),
            })
            .inc();
    }

    pub(crate) fn failure(&self, level: FailureLevel) {
        self.failures
            .get_or_create(&LevelLabel {
                level: level.to_string(),
            })
            .inc();
    }

    pub(crate) fn slots(&self, total: usize) {
        self.slots_total.set(total as i64);
    }

    pub(crate) fn slot_busy(&self, busy: bool) {
        if busy {
            self.slots_busy.inc();
        } else {
            self.slots_busy.dec();
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        if let Some(limits) = self.limits.lock().unwrap().as_ref() {
            for o in limits.occupancy() {
                let label = LimitLabel { limit: o.name };
                self.limit_in_use.get_or_create(&label).set(o.in_use as i64);
                self.limit_capacity
                    .get_or_create(&label)
                    .set(o.capacity as i64);
            }
        }
        let mut out = String::new();
        encode(&mut out, &self.registry.lock().unwrap()).expect("writing to a String cannot fail");
        out
    }

    /// Wraps `inner` so each task's duration is recorded under its stage.
    pub fn wrap<E>(self: &Arc<Self>, inner: E) -> Metered<E> {
        Metered {
            inner,
            metrics: self.clone(),
        }
    }
}

/// An executor whose task durations are recorded; itself an executor.
#[derive(Debug)]
pub struct Metered<E> {
    inner: E,
    metrics: Arc<EngineMetrics>,
}

#[async_trait]
impl<S: Stage, E: Executor<S>> Executor<S> for Metered<E> {
    async fn execute(&self, task: S) -> Result<S::Output, StageError> {
        let start = Instant::now();
        let span = tracing::info_span!("stage", stage = S::NAME);
        let result = tracing::Instrument::instrument(self.inner.execute(task), span).await;
        self.metrics
            .stage(S::NAME, result.is_ok(), start.elapsed().as_secs_f64());
        if let Err(e) = &result {
            tracing::debug!(stage = S::NAME, level = %e.level(), error = %e, "stage failed");
        }
        result
    }
}
