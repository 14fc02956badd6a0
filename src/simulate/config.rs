//! The simulator's TOML configuration: every key is documented in
//! `examples/simulate.toml`; unknown keys and bad values are refused with
//! the key's name.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;
use venus_seal_core::{FailureLevel, RetryPolicy};

/// One simulated minute.
pub const MINUTE: Duration = Duration::from_secs(60);

/// A sealing stage the simulator times, in the order a sector runs them.
/// WaitSeed comes between [`SimStage::Pc2`] and [`SimStage::C1`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SimStage {
    /// add_pieces
    AddPieces,
    /// tree_d
    TreeD,
    /// pc1
    Pc1,
    /// pc2
    Pc2,
    /// c1
    C1,
    /// c2
    C2,
}

impl SimStage {
    /// Every stage, in sealing order.
    pub const ALL: [SimStage; 6] = [
        SimStage::AddPieces,
        SimStage::TreeD,
        SimStage::Pc1,
        SimStage::Pc2,
        SimStage::C1,
        SimStage::C2,
    ];

    /// The stages before WaitSeed.
    pub const BEFORE_SEED: [SimStage; 4] = [
        SimStage::AddPieces,
        SimStage::TreeD,
        SimStage::Pc1,
        SimStage::Pc2,
    ];

    /// The stages after WaitSeed.
    pub const AFTER_SEED: [SimStage; 2] = [SimStage::C1, SimStage::C2];

    /// The stage's name, as in `venus_seal::core::stage::Stage::NAME` and
    /// the `[stages]` table.
    pub fn name(self) -> &'static str {
        match self {
            SimStage::AddPieces => "add_pieces",
            SimStage::TreeD => "tree_d",
            SimStage::Pc1 => "pc1",
            SimStage::Pc2 => "pc2",
            SimStage::C1 => "c1",
            SimStage::C2 => "c2",
        }
    }
}

/// One stage: how long a task takes and what it holds while it runs.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StageSpec {
    /// Minutes one task takes (0: instantaneous).
    #[serde(default)]
    pub minutes: u64,
    /// At most this many tasks at once; absent: unlimited.
    #[serde(default)]
    pub limit: Option<usize>,
    /// Named locks (from `[locks]`) the stage holds while it runs.
    #[serde(default)]
    pub locks: Vec<String>,
}

impl StageSpec {
    /// How long one task takes.
    pub fn duration(&self) -> Duration {
        MINUTE * self.minutes as u32
    }

    /// Whether a sector has to pass through this stage at all in the
    /// simulation: it takes time or it is gated.
    pub fn is_modelled(&self) -> bool {
        self.minutes > 0 || self.limit.is_some() || !self.locks.is_empty()
    }
}

/// A value per simulated sealing stage (a TOML table keyed by stage
/// name, every key optional): `[stages]` and `[failures.stages]`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PerStage<T> {
    /// add_pieces
    #[serde(default)]
    pub add_pieces: T,
    /// tree_d
    #[serde(default)]
    pub tree_d: T,
    /// pc1
    #[serde(default)]
    pub pc1: T,
    /// pc2
    #[serde(default)]
    pub pc2: T,
    /// c1
    #[serde(default)]
    pub c1: T,
    /// c2
    #[serde(default)]
    pub c2: T,
}

impl<T> PerStage<T> {
    /// The value of `stage`.
    pub fn get(&self, stage: SimStage) -> &T {
        match stage {
            SimStage::AddPieces => &self.add_pieces,
            SimStage::TreeD => &self.tree_d,
            SimStage::Pc1 => &self.pc1,
            SimStage::Pc2 => &self.pc2,
            SimStage::C1 => &self.c1,
            SimStage::C2 => &self.c2,
        }
    }

    /// The value of `stage`, to change.
    pub fn get_mut(&mut self, stage: SimStage) -> &mut T {
        match stage {
            SimStage::AddPieces => &mut self.add_pieces,
            SimStage::TreeD => &mut self.tree_d,
            SimStage::Pc1 => &mut self.pc1,
            SimStage::Pc2 => &mut self.pc2,
            SimStage::C1 => &mut self.c1,
            SimStage::C2 => &mut self.c2,
        }
    }
}

/// The `[stages]` table: each stage's spec.
pub type Stages = PerStage<StageSpec>;

/// The `[threads]` table: knobs of the thread-per-sector model only.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ThreadsSection {
    /// Minutes a sealing thread takes, after its sector finished, before it
    /// starts the next one. sealcalc frees a thread at the end of the
    /// minute its C2 finishes, so its next sector starts a minute later: 1
    /// reproduces sealcalc.
    #[serde(default)]
    pub restart: u64,
}

impl Default for ThreadsSection {
    fn default() -> Self {
        Self { restart: 1 }
    }
}

/// Where the engine's sector gives its storage slot back.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ReleasePoint {
    /// At the end, like a sealing thread (the default).
    #[default]
    End,
    /// On reaching Persisted: WaitSeed, C1 and C2 run outside the slot
    /// (synthetic PoRep, or C1 reading the persisted copy).
    Persisted,
}

/// The `[engine]` table: knobs of the engine model only.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    /// Where a sector gives its slot back (`"end"` or `"persisted"`).
    #[serde(default)]
    pub release_slot_at: ReleasePoint,
    /// With `release_slot_at = "persisted"`: the most sectors in flight at
    /// once, in slots or past Persisted (default: twice `slots`).
    #[serde(default)]
    pub in_flight: Option<usize>,
}

/// The chance that one run of a stage fails, by failure level (each in
/// [0, 1], together at most 1). A failing run fails at the end of its time
/// (the work is spent), with an error of that level.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LevelRates {
    /// Retried every `recover_interval`, escalated to Permanent after
    /// `max_retries` retries.
    #[serde(default)]
    pub temporary: f64,
    /// The sector parks until the operator resumes it.
    #[serde(default)]
    pub permanent: f64,
    /// The sector parks until the operator resumes it (the environment
    /// failed).
    #[serde(default)]
    pub critical: f64,
    /// The sector is given up; its slot (thread) starts a new one.
    #[serde(default)]
    pub abort: f64,
}

impl LevelRates {
    /// The rates with their level, in the order a draw tests them.
    pub fn by_level(&self) -> [(FailureLevel, f64); 4] {
        [
            (FailureLevel::Temporary, self.temporary),
            (FailureLevel::Permanent, self.permanent),
            (FailureLevel::Critical, self.critical),
            (FailureLevel::Abort, self.abort),
        ]
    }

    /// The chance that a run fails at all.
    pub fn total(&self) -> f64 {
        self.by_level().iter().map(|(_, r)| r).sum()
    }
}

/// The `[failures.stages]` table: failure rates per stage.
pub type StageRates = PerStage<LevelRates>;

/// The `[failures.crashes]` table: the worker process dies (kill -9 or a
/// power cut) and comes back `downtime` minutes later.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CrashSection {
    /// Minutes at which the worker crashes.
    #[serde(default)]
    pub at: Vec<u64>,
    /// Also crashes at random, this many a day on average (seeded).
    #[serde(default)]
    pub per_day: f64,
    /// Minutes from a crash until the worker runs again.
    #[serde(default)]
    pub downtime: u64,
}

/// A window in which the sector manager is down: submissions (pre-commit
/// and proof) fail Temporary.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Outage {
    /// The minute it starts.
    pub at: u64,
    /// How long it lasts, in minutes.
    pub minutes: u64,
}

/// The `[failures]` table: what goes wrong, the same in both models.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FailuresSection {
    /// Seed of every random draw (stage failures, random crashes): a seed
    /// gives the same run every time.
    #[serde(default)]
    pub seed: u64,
    /// Minutes between two rounds of the operator, who resumes every
    /// parked sector (thread) each round, in both models alike.
    #[serde(default = "default_operator_every")]
    pub operator_every: u64,
    /// Minutes between retries of a Temporary failure (damocles' and the
    /// engine's `recover_interval`, default 1).
    #[serde(default = "default_recover_interval")]
    pub recover_interval: u64,
    /// Retries of a Temporary failure before it is escalated to Permanent
    /// (default 5).
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// Failure rates per stage and level.
    #[serde(default)]
    pub stages: StageRates,
    /// Worker crashes.
    #[serde(default)]
    pub crashes: CrashSection,
    /// Windows in which the sector manager is down.
    #[serde(default)]
    pub manager_outages: Vec<Outage>,
}

fn default_operator_every() -> u64 {
    480
}

fn default_recover_interval() -> u64 {
    1
}

fn default_max_retries() -> u32 {
    5
}

impl FailuresSection {
    fn check(&self, stages: &Stages) -> anyhow::Result<()> {
        if self.operator_every == 0 {
            bail!("`failures.operator_every` must be at least 1");
        }
        for stage in SimStage::ALL {
            let rates = self.stages.get(stage);
            for (level, rate) in rates.by_level() {
                if !(0.0..=1.0).contains(&rate) {
                    bail!(
                        "`failures.stages.{}.{level}` must be in [0, 1], not {rate}",
                        stage.name()
                    );
                }
            }
            if rates.total() > 1.0 {
                bail!(
                    "`failures.stages.{}`: the rates add up to {}, more than 1",
                    stage.name(),
                    rates.total()
                );
            }
            if rates.total() > 0.0 && !stages.get(stage).is_modelled() {
                bail!(
                    "`failures.stages.{0}` sets failure rates, but `stages.{0}` takes no time \
                     and has no limit: the thread model skips it",
                    stage.name()
                );
            }
        }
        let per_day = self.crashes.per_day;
        if !per_day.is_finite() || per_day < 0.0 {
            bail!("`failures.crashes.per_day` must be a number at least 0, not {per_day}");
        }
        for (i, outage) in self.manager_outages.iter().enumerate() {
            if outage.minutes == 0 {
                bail!("`failures.manager_outages[{i}].minutes` must be at least 1");
            }
        }
        Ok(())
    }

    /// Whether the manager is down at `t` (from the start of the run).
    pub fn manager_down(&self, t: Duration) -> bool {
        self.manager_outages.iter().any(|o| {
            let start = MINUTE * o.at as u32;
            start <= t && t < start + MINUTE * o.minutes as u32
        })
    }

    /// The retry policy both models follow.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            recover_interval: MINUTE * self.recover_interval as u32,
            max_retries: self.max_retries,
        }
    }
}

/// The whole file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    /// Simulated minutes.
    pub minutes: u64,
    /// Storage slots of the engine, and sealing threads of the
    /// thread-per-sector model: how many sectors are in flight at once.
    pub slots: usize,
    /// Minutes from the pre-commit (right after pc2) to the seed.
    pub wait_seed: u64,
    /// Minutes left out of the steady-state rate (the pipeline filling up);
    /// absent: one sector's unloaded latency (every stage plus WaitSeed).
    #[serde(default)]
    pub warmup: Option<u64>,
    /// "finished by minute N" rows of the report.
    #[serde(default)]
    pub checkpoints: Vec<u64>,
    /// Minutes between two rows of `--timeline`.
    #[serde(default = "default_timeline_step")]
    pub timeline_step: u64,
    /// The stages.
    pub stages: Stages,
    /// Named locks shared by stages, and their capacity.
    #[serde(default)]
    pub locks: BTreeMap<String, usize>,
    /// Knobs of the thread-per-sector model.
    #[serde(default)]
    pub threads: ThreadsSection,
    /// Knobs of the engine model.
    #[serde(default)]
    pub engine: EngineSection,
    /// Failures injected into both models; absent: none.
    #[serde(default)]
    pub failures: Option<FailuresSection>,
}

fn default_timeline_step() -> u64 {
    60
}

impl SimConfig {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    /// Parses and checks a configuration.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let cfg: Self = toml::from_str(text)?;
        cfg.check()?;
        Ok(cfg)
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.minutes == 0 {
            bail!("`minutes` must be at least 1");
        }
        if self.slots == 0 {
            bail!("`slots` must be at least 1");
        }
        if self.timeline_step == 0 {
            bail!("`timeline_step` must be at least 1");
        }
        if let Some(n) = self.engine.in_flight {
            if self.engine.release_slot_at == ReleasePoint::End {
                bail!("`engine.in_flight` needs `engine.release_slot_at = \"persisted\"`");
            }
            if n < self.slots {
                bail!(
                    "`engine.in_flight` ({n}) must be at least `slots` ({})",
                    self.slots
                );
            }
        }
        if let Some(f) = &self.failures {
            f.check(&self.stages)?;
        }
        for (name, &capacity) in &self.locks {
            if capacity == 0 {
                bail!("`locks.{name}` must be at least 1");
            }
        }
        for stage in SimStage::ALL {
            let spec = self.stages.get(stage);
            if spec.limit == Some(0) {
                bail!("`stages.{}.limit` must be at least 1", stage.name());
            }
            for lock in &spec.locks {
                if !self.locks.contains_key(lock) {
                    bail!(
                        "`stages.{}.locks` names `{lock}`, which `[locks]` does not define",
                        stage.name()
                    );
                }
            }
        }
        Ok(())
    }

    /// The simulated span.
    pub fn horizon(&self) -> Duration {
        MINUTE * self.minutes as u32
    }

    /// How long the pre-commit waits for its seed.
    pub fn wait_seed_duration(&self) -> Duration {
        MINUTE * self.wait_seed as u32
    }

    /// One sector's unloaded latency in minutes: every stage plus WaitSeed.
    pub fn sector_minutes(&self) -> u64 {
        SimStage::ALL
            .iter()
            .map(|&s| self.stages.get(s).minutes)
            .sum::<u64>()
            + self.wait_seed
    }

    /// Minutes a storage slot holds one sector, unloaded: the whole
    /// latency, or the stages before WaitSeed when the slot is given back
    /// at Persisted.
    pub fn slot_minutes(&self) -> u64 {
        match self.engine.release_slot_at {
            ReleasePoint::End => self.sector_minutes(),
            ReleasePoint::Persisted => SimStage::BEFORE_SEED
                .iter()
                .map(|&s| self.stages.get(s).minutes)
                .sum(),
        }
    }

    /// The engine's in-flight limit with slot release.
    pub fn in_flight(&self) -> usize {
        self.engine.in_flight.unwrap_or(2 * self.slots)
    }

    /// The warm-up left out of the steady-state rate.
    pub fn warmup_minutes(&self) -> u64 {
        self.warmup.unwrap_or_else(|| self.sector_minutes())
    }
}
