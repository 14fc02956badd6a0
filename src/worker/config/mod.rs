//! The worker's TOML configuration, [`WorkerConfig`]: every key is
//! documented in `examples/worker.toml`; unknown keys and bad values are
//! refused naming the key.
//!
//! Relative paths in the file are relative to the file's folder
//! ([`WorkerConfig::load`] resolves them), not to the folder the worker is
//! started in. Parsing and [`WorkerConfig::validate`] need no proving crate.
//!
//! ```
//! use venus_seal::worker::WorkerConfig;
//!
//! let text = r#"
//! [worker]
//! name = "worker-1"
//! state_db = "data/state.db"
//! [admin]
//! listen = "127.0.0.1:17890"
//! secret_file = "data/admin.secret"
//! [manager]
//! kind = "remote"
//! url = "http://127.0.0.1:1789"
//! token_file = "data/manager.token"
//! proof = "StackedDrg2KiBV1_1"
//! [[sealing]]
//! path = "data/sealing"
//! slots = 2
//! [limits]
//! pc1 = 4
//! "#;
//! let mut config: WorkerConfig = toml::from_str(text).unwrap();
//! config.validate().unwrap();
//! assert_eq!(config.stage_limits().unwrap()["pc1"].concurrent, Some(4));
//! config.resolve_paths(std::path::Path::new("/etc/venus-seal"));
//! assert_eq!(config.worker.state_db, std::path::Path::new("/etc/venus-seal/data/state.db"));
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;

use crate::backends::ext::{ExtConfigError, ExtProcessorConfig, ExtProcessorExecutor};
use crate::backends::pieces::PieceStoreConfig;
use crate::core::engine::limits::StageLimit;
use crate::core::stage::{AddPieces, Pc1, Pc2, Stage, TreeD, C1, C2};
use crate::core::{parse_duration, ActorId, SealProof, SectorState};

mod machine;
mod paths;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfig {
    /// `[worker]`: name, state database, how many sectors.
    pub worker: WorkerSection,
    /// `[admin]`: the admin JSON-RPC.
    pub admin: AdminSection,
    /// `[metrics]`: the Prometheus endpoint (none: not served).
    #[serde(default)]
    pub metrics: Option<MetricsSection>,
    /// `[manager]`: where sectors, tickets and seeds come from.
    pub manager: ManagerSection,
    /// `[retry]`: how Temporary failures are retried (defaults: 60s, 5
    /// times, polling every 30s).
    #[serde(default)]
    pub retry: RetrySection,
    /// `[[sealing]]`: the sealing locations (at least one).
    pub sealing: Vec<SealingSection>,
    /// `[[persist]]`: where finished replicas are copied (none: they stay
    /// where sealed).
    #[serde(default)]
    pub persist: Vec<PersistSection>,
    /// `[limits]`: concurrent tasks per stage (absent: unlimited).
    #[serde(default)]
    pub limits: BTreeMap<String, usize>,
    /// `[locks]`: named locks and the stages holding them while they run.
    #[serde(default)]
    pub locks: BTreeMap<String, Vec<String>>,
    /// `[stagger]`: the least time between two starts of a stage.
    #[serde(default)]
    pub stagger: BTreeMap<String, String>,
    /// `[[processors.<stage>]]`: stages run by external processors.
    #[serde(default)]
    pub processors: ProcessorsSection,
    /// `[pieces]`: where deal pieces come from (none: sectors that get
    /// deals park with the piece not found).
    #[serde(default)]
    pub pieces: Option<PieceStoreConfig>,
    /// `[c2_service]`: C2 on a remote C2 service instead of locally.
    #[serde(default)]
    pub c2_service: Option<C2ServiceSection>,
    /// `[unseal]`: take unseal jobs from the manager (absent: none taken).
    #[serde(default)]
    pub unseal: Option<UnsealSection>,
    /// `[rebuild]`: take rebuild jobs from the manager (absent: none
    /// taken).
    #[serde(default)]
    pub rebuild: Option<RebuildSection>,
    /// `[snap_up]`: take snap-up jobs from the manager (absent: none
    /// taken).
    #[serde(default)]
    pub snap_up: Option<SnapUpSection>,
    /// `[window_post]`: take WindowPoSt jobs from the manager (absent:
    /// none taken).
    #[serde(default)]
    pub window_post: Option<WindowPoStSection>,
    /// `[testing]`: test-only pause points (empty by default).
    #[serde(default)]
    pub testing: TestingSection,
}

/// `[c2_service]`: send C2 to a remote C2 service (`venus-seal-c2-service`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct C2ServiceSection {
    /// e.g. `http://gpu-host:3456`.
    pub url: String,
    /// Other nodes of the same service (sharing its queue), asked when the
    /// one asked now cannot be reached (see the manager's
    /// `[proving.remote] failover`).
    #[serde(default)]
    pub failover: Vec<String>,
    /// A file holding a JWT with write permission for the service.
    pub token_file: PathBuf,
}

/// `[unseal]`: the worker also takes unseal jobs from the manager (a
/// piece of a sealed sector read back for a retrieval, see
/// `venus_seal_core::unseal`), one at a time, beside sealing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnsealSection {
    /// How long to wait before asking again when no job waits (default
    /// 30s).
    #[serde(with = "crate::core::serde_duration", default = "default_unseal_poll")]
    pub poll: Duration,
    /// Where the sealed sectors are: directories laid out as a `[[persist]]`
    /// store (`sealed/<sector>`, `cache/<sector>/`), searched in order.
    /// Default: the `[[persist]]` paths.
    #[serde(default)]
    pub stores: Vec<PathBuf>,
    /// Where an unsealed piece waits while it is written to its
    /// destinations (default: `unseal` in the first `[[sealing]]` path).
    #[serde(default)]
    pub spool: Option<PathBuf>,
}

/// `[rebuild]`: the worker also takes rebuild jobs from the manager (a
/// finalized sector whose files are lost, sealed again from its ticket and
/// pieces to the same CommR, see `venus_seal_core::rebuild`), one at a
/// time, beside sealing: through the same stage executors (so `[limits]`,
/// `[locks]` and `[[processors.*]]` apply), its deal pieces from
/// `[pieces]`, the result persisted by `[[persist]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RebuildSection {
    /// How long to wait before asking again when no job waits (default
    /// 30s).
    #[serde(with = "crate::core::serde_duration", default = "default_unseal_poll")]
    pub poll: Duration,
    /// Where a sector is sealed again (one folder per sector, removed
    /// once persisted; default: `rebuild` in the first `[[sealing]]`
    /// path). It needs a sealing slot's room.
    #[serde(default)]
    pub dir: Option<PathBuf>,
}

/// `[snap_up]`: the worker also takes snap-up jobs from the manager (a
/// proven CC sector given deals without sealing again, see
/// `venus_seal_core::snapup`), one at a time, beside sealing: it reads
/// the CC replica from the stores it mounts, fetches the deals' pieces
/// from `[pieces]`, runs add_pieces (through the sealing executors),
/// snap_encode and snap_prove (locally, under `[limits]` and `[locks]`),
/// and persists the updated replica with `[[persist]]` (as
/// `update/<sector>`, `update-cache/<sector>/`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapUpSection {
    /// How long to wait before asking again when no job waits (default
    /// 30s).
    #[serde(with = "crate::core::serde_duration", default = "default_unseal_poll")]
    pub poll: Duration,
    /// Where a job's new data and updated replica are made (one folder
    /// per sector, removed once persisted; default: `snap-up` in the
    /// first `[[sealing]]` path). It needs a sealing slot's room.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// Where the CC sectors are: directories laid out as a `[[persist]]`
    /// store (`sealed/<sector>`, `cache/<sector>/`), searched in order.
    /// Default: the `[[persist]]` paths.
    #[serde(default)]
    pub stores: Vec<PathBuf>,
    /// At most this many deals in one sector (default: as many as fit).
    #[serde(default)]
    pub max_deals: Option<usize>,
    /// Only take a job whose deals fill at least this many bytes
    /// (default: any).
    #[serde(default)]
    pub min_deal_space: Option<u64>,
}

/// `[window_post]`: the worker also takes WindowPoSt jobs from the
/// manager (damocles' `wdpost` plan, `Venus.WdPoStAllocateJobs`: from a
/// sector manager with `[proving.workers]`, or a damocles-manager with its
/// worker-prover module), one at a time, beside sealing: it finds each
/// job's persist stores by name where this host mounts them, proves
/// locally (under `[limits]` and `[locks]` as `window_post`), beats every
/// 3 s while it runs, and hands the proofs back (the sectors whose files
/// fail are named as faults). Only jobs of this worker's sector size
/// (`manager.proof`) are taken; its WindowPoSt parameters are made sure
/// of at start-up.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowPoStSection {
    /// How long to wait before asking again when no job waits (default
    /// 10s: a WindowPoSt has its deadline's 30 minutes).
    #[serde(
        with = "crate::core::serde_duration",
        default = "default_window_post_poll"
    )]
    pub poll: Duration,
    /// Only these miners' jobs (default: any).
    #[serde(default)]
    pub miners: Vec<ActorId>,
    /// The persist stores by the name the manager gives them, and where
    /// this host mounts them (`name = "/path"`). Default: the `[[persist]]`
    /// stores that have a `path`.
    #[serde(default)]
    pub stores: BTreeMap<String, PathBuf>,
}

fn default_window_post_poll() -> Duration {
    Duration::from_secs(10)
}

fn default_unseal_poll() -> Duration {
    Duration::from_secs(30)
}

/// `[[processors.<stage>]]`: stages whose tasks go to external processors
/// (child processes speaking the ext protocol) instead of the local
/// executor. A stage with no entry runs locally; persist (persistence) is
/// not a key, so it is refused like any unknown key.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessorsSection {
    /// `[[processors.add_pieces]]`.
    #[serde(default)]
    pub add_pieces: Vec<ExtProcessorConfig>,
    /// `[[processors.tree_d]]`.
    #[serde(default)]
    pub tree_d: Vec<ExtProcessorConfig>,
    /// `[[processors.pc1]]`.
    #[serde(default)]
    pub pc1: Vec<ExtProcessorConfig>,
    /// `[[processors.pc2]]`.
    #[serde(default)]
    pub pc2: Vec<ExtProcessorConfig>,
    /// `[[processors.c1]]`.
    #[serde(default)]
    pub c1: Vec<ExtProcessorConfig>,
    /// `[[processors.c2]]`.
    #[serde(default)]
    pub c2: Vec<ExtProcessorConfig>,
}

impl ProcessorsSection {
    /// Every stage with its processors (empty: the stage runs locally), in
    /// sealing order.
    pub fn by_stage(&self) -> [(&'static str, &[ExtProcessorConfig]); 6] {
        [
            (AddPieces::NAME, &self.add_pieces),
            (TreeD::NAME, &self.tree_d),
            (Pc1::NAME, &self.pc1),
            (Pc2::NAME, &self.pc2),
            (C1::NAME, &self.c1),
            (C2::NAME, &self.c2),
        ]
    }

    /// Checks every processor: its locks are declared in `[locks]`, and
    /// its config can be built (cpuset syntax, `concurrent` > 0). Whether
    /// `taskset` is installed is the machine's business, checked when the
    /// worker starts the processors.
    fn validate(&self, declared: &BTreeMap<String, Vec<String>>) -> anyhow::Result<()> {
        check_processors::<AddPieces>(&self.add_pieces, declared)?;
        check_processors::<TreeD>(&self.tree_d, declared)?;
        check_processors::<Pc1>(&self.pc1, declared)?;
        check_processors::<Pc2>(&self.pc2, declared)?;
        check_processors::<C1>(&self.c1, declared)?;
        check_processors::<C2>(&self.c2, declared)
    }
}

fn check_processors<S: Stage>(
    configs: &[ExtProcessorConfig],
    declared: &BTreeMap<String, Vec<String>>,
) -> anyhow::Result<()> {
    for (i, config) in configs.iter().enumerate() {
        let key = format!("processors.{}[{i}]", S::NAME);
        for lock in &config.locks {
            if !declared.contains_key(lock) {
                let known: Vec<&str> = declared.keys().map(String::as_str).collect();
                bail!(
                    "{key}.locks: lock {lock:?} is not declared in [locks] (declared: {}); \
                     add `{lock} = []` there (or list the stages sharing it)",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                );
            }
        }
        match ExtProcessorExecutor::<S>::new(config.clone()) {
            Ok(_) | Err(ExtConfigError::TasksetMissing { .. }) => {}
            Err(e @ ExtConfigError::InvalidCpuset { .. }) => {
                return Err(anyhow::Error::new(e).context(format!("{key}.cpuset")))
            }
            Err(e @ ExtConfigError::ZeroConcurrent { .. }) => {
                return Err(anyhow::Error::new(e).context(format!("{key}.concurrent")))
            }
            Err(e) => return Err(anyhow::Error::new(e).context(key)),
        }
    }
    Ok(())
}

/// `[worker]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSection {
    /// The name reported to the sector manager (and the persisted
    /// instance when no `[[persist]]` store is configured).
    pub name: String,
    /// The SQLite database holding every sector's durable state.
    pub state_db: PathBuf,
    /// Start no new sector after this many (default 0: seal forever).
    #[serde(default)]
    pub max_sectors: u64,
    /// The state at which a sector gives its storage slot back (Persisted
    /// or later); absent: it keeps the slot to the end.
    #[serde(default)]
    pub release_slot_at: Option<SectorState>,
    /// With `release_slot_at`: the most sectors a location holds at once.
    #[serde(default)]
    pub in_flight: Option<usize>,
}

/// `[admin]`: the admin JSON-RPC.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSection {
    /// Where the admin JSON-RPC listens.
    pub listen: SocketAddr,
    /// The HS256 secret its tokens are signed with; `run` creates it when
    /// missing, the operator commands only read it.
    pub secret_file: PathBuf,
}

/// `[metrics]`: the Prometheus endpoint (shared with the sector manager's
/// config).
pub use crate::runtime::MetricsSection;

/// `[manager]`: where sectors, tickets and seeds come from (`kind`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "kebab-case")]
pub enum ManagerSection {
    /// An in-process devnet and sector manager (all-in-one).
    EmbeddedDevnet {
        /// The miner actor to seal for.
        miner: ActorId,
        /// The seal proof type (2KiB or 8MiB: parameters are generated).
        proof: SealProof,
        /// The devnet's block time.
        #[serde(with = "crate::core::serde_duration")]
        block_time: Duration,
        /// Epochs between a pre-commit landing and its seed (default 10).
        #[serde(default = "default_challenge_delay")]
        pre_commit_challenge_delay: i64,
        /// Where the devnet and the manager keep their state.
        state_dir: PathBuf,
    },
    /// A sector manager service over JSON-RPC.
    Remote {
        /// e.g. http://127.0.0.1:1789
        url: String,
        /// A file holding a JWT with write permission; absent: calls carry
        /// no `Authorization` header (a damocles-manager's `/rpc/v0`,
        /// which has no auth).
        #[serde(default)]
        token_file: Option<PathBuf>,
        /// The proof type this worker seals (for its parameters).
        proof: SealProof,
        /// Only seal for these miner actors (empty: any the manager
        /// serves).
        #[serde(default)]
        miners: Vec<crate::core::ActorId>,
    },
}

impl ManagerSection {
    /// The miners this worker asks sectors for (empty: any).
    pub fn allowed_miners(&self) -> Vec<crate::core::ActorId> {
        match self {
            ManagerSection::Remote { miners, .. } => miners.clone(),
            ManagerSection::EmbeddedDevnet { .. } => Vec::new(),
        }
    }
}

impl ManagerSection {
    /// The seal proof type the worker needs parameters for.
    pub fn proof(&self) -> SealProof {
        match self {
            ManagerSection::EmbeddedDevnet { proof, .. } | ManagerSection::Remote { proof, .. } => {
                *proof
            }
        }
    }
}

fn default_challenge_delay() -> i64 {
    10
}

/// `[retry]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySection {
    /// How long a Temporary failure waits before its retry (default 60s).
    #[serde(with = "crate::core::serde_duration", default = "default_recover")]
    pub recover_interval: Duration,
    /// Retries before a Temporary failure parks the sector as Permanent
    /// (default 5).
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    /// How often the manager is asked whether a message landed (default
    /// 30s).
    #[serde(with = "crate::core::serde_duration", default = "default_poll")]
    pub poll_interval: Duration,
}

impl Default for RetrySection {
    fn default() -> Self {
        Self {
            recover_interval: default_recover(),
            max_retries: default_retries(),
            poll_interval: default_poll(),
        }
    }
}

fn default_recover() -> Duration {
    Duration::from_secs(60)
}
fn default_retries() -> u32 {
    5
}
fn default_poll() -> Duration {
    Duration::from_secs(30)
}

/// `[[sealing]]`: one sealing location.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealingSection {
    /// The folder holding the job directories.
    pub path: PathBuf,
    /// Sectors sealed here at once (> 0).
    pub slots: usize,
}

/// `[[persist]]`: one store finished replicas are copied to.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersistSection {
    /// The store's name (recorded with each sector).
    pub name: String,
    /// A local directory (or a mounted share)…
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// …or an object store URL (`file:///…`, `memory:///`, `s3://bucket/prefix`
    /// with the backends' `s3` feature).
    #[serde(default)]
    pub url: Option<String>,
    /// Keep this many bytes free (default 0).
    #[serde(default)]
    pub reserved_bytes: u64,
    /// Relative share of new sectors among stores with room (default 1).
    #[serde(default = "default_weight")]
    pub weight: u32,
}

fn default_weight() -> u32 {
    1
}

/// Test hooks: never set in production.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestingSection {
    /// Stages to hang before running (after writing `<marker_dir>/before-<stage>`).
    #[serde(default)]
    pub pause_before: Vec<String>,
    /// Stages to hang after running, before returning their output.
    #[serde(default)]
    pub pause_after: Vec<String>,
    /// Where the pause markers go (default: the current folder).
    pub marker_dir: Option<PathBuf>,
    /// Append `<stage>` to this file each time a stage starts.
    pub stage_log: Option<PathBuf>,
}

/// The stage names `[limits]`, `[locks]`, `[stagger]` and `[testing]`
/// accept: the sealing stages, and those of the jobs beside sealing
/// (`[unseal]`, `[snap_up]`, `[window_post]`), which run through the same
/// limits (e.g. `gpu = ["c2", "window_post"]` on a one-GPU host).
pub const STAGES: &[&str] = &[
    "add_pieces",
    "tree_d",
    "pc1",
    "pc2",
    "c1",
    "c2",
    "persist",
    "snap_encode",
    "snap_prove",
    "unseal",
    "window_post",
];

impl WorkerConfig {
    /// Where a job beside sealing (`unseal`, `rebuild`, `snap-up`) works
    /// by default: `name` in the first `[[sealing]]` path.
    pub fn job_dir(&self, name: &str) -> PathBuf {
        self.sealing
            .first()
            .map_or_else(|| PathBuf::from(name), |s| s.path.join(name))
    }

    /// The persist stores by name a WindowPoSt job may name: `given`,
    /// else the `[[persist]]` stores that have a `path`.
    pub fn named_stores(&self, given: &BTreeMap<String, PathBuf>) -> BTreeMap<String, PathBuf> {
        if given.is_empty() {
            self.persist
                .iter()
                .filter_map(|p| Some((p.name.clone(), p.path.clone()?)))
                .collect()
        } else {
            given.clone()
        }
    }

    /// The stores a job reads sealed sectors from: `given`, else the
    /// `[[persist]]` paths.
    pub fn job_stores(&self, given: &[PathBuf]) -> Vec<PathBuf> {
        if given.is_empty() {
            self.persist.iter().filter_map(|p| p.path.clone()).collect()
        } else {
            given.to_vec()
        }
    }

    /// Reads and checks the file at `path`, and resolves its relative
    /// paths against the file's folder ([`Self::resolve_paths`]). Creates
    /// nothing.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config {}", path.display()))?;
        let mut config: WorkerConfig =
            toml::from_str(&text).with_context(|| format!("config {}", path.display()))?;
        config
            .validate()
            .with_context(|| format!("config {}", path.display()))?;
        config.resolve_paths(&crate::runtime::config_folder(path)?);
        Ok(config)
    }

    /// Value checks the types cannot express.
    pub fn validate(&self) -> anyhow::Result<()> {
        if let Some(c2) = &self.c2_service {
            for (key, url) in std::iter::once(("c2_service.url", &c2.url))
                .chain(c2.failover.iter().map(|u| ("c2_service.failover", u)))
            {
                if !url.starts_with("http://") && !url.starts_with("https://") {
                    bail!("{key} must start with http:// or https:// (got {url:?})");
                }
            }
            if !self.processors.c2.is_empty() {
                bail!("c2 goes either to [c2_service] or to [[processors.c2]], not both");
            }
        }
        if let Some(pieces) = &self.pieces {
            pieces.check().context("pieces")?;
        }
        if self.sealing.is_empty() {
            bail!("[[sealing]]: at least one sealing location is needed");
        }
        if let Some(at) = self.worker.release_slot_at {
            // States compare in sealing order.
            if at < SectorState::Persisted || at.is_terminal() {
                bail!(
                    "worker.release_slot_at = {at:?}: a sector can give its slot back at \
                     Persisted or later, not before its sealed files are persisted"
                );
            }
        }
        if let Some(n) = self.worker.in_flight {
            if self.worker.release_slot_at.is_none() {
                bail!("worker.in_flight needs worker.release_slot_at");
            }
            let most = self.sealing.iter().map(|s| s.slots).max().unwrap_or(0);
            if n < most {
                bail!("worker.in_flight ({n}) must be at least every location's slots ({most})");
            }
        }
        for (i, s) in self.sealing.iter().enumerate() {
            if s.slots == 0 {
                bail!(
                    "sealing[{i}].slots must be > 0 (location {})",
                    s.path.display()
                );
            }
        }
        for (stage, n) in &self.limits {
            check_stage("limits", stage)?;
            if *n == 0 {
                bail!("limits.{stage} must be > 0");
            }
        }
        for (lock, stages) in &self.locks {
            for stage in stages {
                check_stage(&format!("locks.{lock}"), stage)?;
            }
        }
        for (stage, d) in &self.stagger {
            check_stage("stagger", stage)?;
            parse_duration(d).with_context(|| format!("stagger.{stage}"))?;
        }
        self.processors.validate(&self.locks)?;
        for stage in self
            .testing
            .pause_before
            .iter()
            .chain(&self.testing.pause_after)
        {
            check_stage("testing", stage)?;
        }
        for (i, p) in self.persist.iter().enumerate() {
            match (&p.path, &p.url) {
                (Some(_), None) => {}
                (None, Some(url)) => {
                    url::Url::parse(url).with_context(|| format!("persist[{i}].url {url:?}"))?;
                }
                _ => bail!("persist[{i}] ({}): give exactly one of path or url", p.name),
            }
        }
        if self.worker.name.trim().is_empty() {
            bail!("worker.name must not be empty");
        }
        Ok(())
    }

    /// Each stage's limit for the engine's `Limits`: `[limits]`,
    /// `[stagger]`, the `[locks]` naming the stage, and the locks of the
    /// stage's `[[processors.<stage>]]` (held by the whole stage, since the
    /// engine limits stages, whichever processor runs the task);
    /// `window_post` is granted a shared lock first.
    pub fn stage_limits(&self) -> anyhow::Result<BTreeMap<String, StageLimit>> {
        let mut stages = StageLimit::from_tables(&self.limits, &self.locks);
        for (stage, processors) in self.processors.by_stage() {
            for lock in processors.iter().flat_map(|p| &p.locks) {
                let limit = stages.entry(stage.to_string()).or_default();
                if !limit.locks.contains(lock) {
                    limit.locks.push(lock.clone());
                }
            }
        }
        for (stage, gap) in &self.stagger {
            stages.entry(stage.clone()).or_default().stagger =
                Some(parse_duration(gap).with_context(|| format!("stagger.{stage}"))?);
        }
        // A WindowPoSt has its deadline's 30 minutes: on a shared lock it
        // goes before every queued stage (a running one is never
        // interrupted).
        if let Some(post) = stages.get_mut("window_post") {
            post.priority = 1;
        }
        Ok(stages)
    }
}

fn check_stage(section: &str, stage: &str) -> anyhow::Result<()> {
    if !STAGES.contains(&stage) {
        bail!(
            "{section}: unknown stage {stage:?} (stages: {})",
            STAGES.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests;
