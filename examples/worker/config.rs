//! The worker's TOML configuration: every key documented in
//! `examples/worker.toml`; unknown keys and bad values are refused with the
//! key's name.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;
use venus_seal::backends::ext::{ExtConfigError, ExtProcessorConfig, ExtProcessorExecutor};
use venus_seal::backends::pieces::PieceStoreConfig;
use venus_seal::core::engine::limits::StageLimit;
use venus_seal::core::stage::{AddPieces, Pc1, Pc2, Stage, TreeD, C1, C2};
use venus_seal::core::{parse_duration, ActorId, SealProof, SectorState};

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub worker: WorkerSection,
    pub admin: AdminSection,
    #[serde(default)]
    pub metrics: Option<MetricsSection>,
    pub manager: ManagerSection,
    #[serde(default)]
    pub retry: RetrySection,
    pub sealing: Vec<SealingSection>,
    #[serde(default)]
    pub persist: Vec<PersistSection>,
    #[serde(default)]
    pub limits: BTreeMap<String, usize>,
    #[serde(default)]
    pub locks: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub stagger: BTreeMap<String, String>,
    #[serde(default)]
    pub processors: ProcessorsSection,
    /// `[pieces]`: where deal pieces come from (none: sectors that get
    /// deals park with the piece not found).
    #[serde(default)]
    pub pieces: Option<PieceStoreConfig>,
    /// `[c2_service]`: C2 on a remote C2 service instead of locally.
    #[serde(default)]
    pub c2_service: Option<C2ServiceSection>,
    #[serde(default)]
    pub testing: TestingSection,
}

/// `[c2_service]`: send C2 to a remote C2 service (examples/c2-service).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct C2ServiceSection {
    /// e.g. `http://gpu-host:3456`.
    pub url: String,
    /// A file holding a JWT with write permission for the service.
    pub token_file: PathBuf,
}

/// `[[processors.<stage>]]`: stages whose tasks go to external processors
/// (child processes speaking the ext protocol) instead of the local
/// executor. A stage with no entry runs locally; finalize (persistence) is
/// not a key, so it is refused like any unknown key.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessorsSection {
    #[serde(default)]
    pub add_pieces: Vec<ExtProcessorConfig>,
    #[serde(default)]
    pub tree_d: Vec<ExtProcessorConfig>,
    #[serde(default)]
    pub pc1: Vec<ExtProcessorConfig>,
    #[serde(default)]
    pub pc2: Vec<ExtProcessorConfig>,
    #[serde(default)]
    pub c1: Vec<ExtProcessorConfig>,
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSection {
    pub name: String,
    pub state_db: PathBuf,
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSection {
    pub listen: SocketAddr,
    pub secret_file: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    pub listen: SocketAddr,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "kebab-case")]
pub enum ManagerSection {
    /// An in-process devnet and sector manager (all-in-one).
    EmbeddedDevnet {
        miner: ActorId,
        proof: SealProof,
        #[serde(with = "venus_seal::core::serde_duration")]
        block_time: Duration,
        #[serde(default = "default_challenge_delay")]
        pre_commit_challenge_delay: i64,
        state_dir: PathBuf,
    },
    /// A sector manager service (examples/sector-manager) over JSON-RPC.
    Remote {
        /// e.g. http://127.0.0.1:1789
        url: String,
        /// A file holding a JWT with write permission.
        token_file: PathBuf,
        /// The proof type this worker seals (for its parameters).
        proof: SealProof,
        /// Only seal for these miner actors (empty: any the manager
        /// serves).
        #[serde(default)]
        miners: Vec<venus_seal::core::ActorId>,
    },
}

impl ManagerSection {
    /// The miners this worker asks sectors for (empty: any).
    pub fn allowed_miners(&self) -> Vec<venus_seal::core::ActorId> {
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySection {
    #[serde(with = "venus_seal::core::serde_duration", default = "default_recover")]
    pub recover_interval: Duration,
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    #[serde(with = "venus_seal::core::serde_duration", default = "default_poll")]
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealingSection {
    pub path: PathBuf,
    pub slots: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersistSection {
    pub name: String,
    /// A local directory (or a mounted share)…
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// …or an object store URL (`file:///…`, `memory:///`, `s3://bucket/prefix`
    /// with the backends' `s3` feature).
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub reserved_bytes: u64,
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
    pub marker_dir: Option<PathBuf>,
    /// Append `<stage>` to this file each time a stage starts.
    pub stage_log: Option<PathBuf>,
}

pub const STAGES: &[&str] = &["add_pieces", "tree_d", "pc1", "pc2", "c1", "c2", "finalize"];

impl Config {
    /// Reads and checks the file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config {}", path.display()))?;
        let config: Config =
            toml::from_str(&text).with_context(|| format!("config {}", path.display()))?;
        config.validate()?;
        Ok(config)
    }

    /// Value checks the types cannot express.
    pub fn validate(&self) -> anyhow::Result<()> {
        if let Some(c2) = &self.c2_service {
            if !c2.url.starts_with("http://") && !c2.url.starts_with("https://") {
                bail!(
                    "c2_service.url must start with http:// or https:// (got {:?})",
                    c2.url
                );
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
    /// engine limits stages, whichever processor runs the task).
    pub fn stage_limits(&self) -> anyhow::Result<BTreeMap<String, StageLimit>> {
        let mut stages: BTreeMap<String, StageLimit> = BTreeMap::new();
        for (stage, n) in &self.limits {
            stages.entry(stage.clone()).or_default().concurrent = Some(*n);
        }
        for (lock, users) in &self.locks {
            for stage in users {
                stages
                    .entry(stage.clone())
                    .or_default()
                    .locks
                    .push(lock.clone());
            }
        }
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
        Ok(stages)
    }

    /// Checks the config against this machine: paths exist (created when
    /// missing) and are writable, with room for the slots.
    pub fn check_machine(&self) -> anyhow::Result<()> {
        for (i, s) in self.sealing.iter().enumerate() {
            writable(&s.path).with_context(|| format!("sealing[{i}].path"))?;
            let proof = self.manager.proof();
            // A sector needs its staged and sealed files plus the cache:
            // about 12x the sector size with every layer kept.
            let need = proof.sector_size().0.saturating_mul(12) * s.slots as u64;
            let free = fs_free(&s.path)?;
            if free < need {
                bail!(
                    "sealing[{i}].path {}: {} free, {} slots of {} need about {need} bytes",
                    s.path.display(),
                    free,
                    s.slots,
                    proof.sector_size()
                );
            }
        }
        for (i, p) in self.persist.iter().enumerate() {
            if let Some(path) = &p.path {
                writable(path).with_context(|| format!("persist[{i}].path"))?;
            }
        }
        if let Some(dir) = self.worker.state_db.parent() {
            writable(dir).context("worker.state_db")?;
        }
        Ok(())
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

fn writable(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let probe = dir.join(".venus-seal-write-probe");
    std::fs::write(&probe, b"ok").with_context(|| format!("{} is not writable", dir.display()))?;
    std::fs::remove_file(&probe).ok();
    Ok(())
}

fn fs_free(dir: &Path) -> anyhow::Result<u64> {
    fs4::available_space(dir).with_context(|| format!("free space of {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<Config> {
        let config: Config = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    fn example() -> String {
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/worker.toml"))
            .unwrap()
    }

    #[test]
    fn the_documented_example_parses() {
        let c = parse(&example()).unwrap();
        assert_eq!(c.limits["pc1"], 4);
        assert_eq!(c.locks["gpu"], vec!["pc2", "c2"]);
        assert_eq!(c.sealing[0].slots, 2);
        assert_eq!(c.retry.recover_interval, Duration::from_secs(60));
    }

    #[test]
    fn a_c2_service_is_read_and_checked() {
        let with = |section: &str| format!("{}\n{section}", example());
        let c = parse(&with(
            "[c2_service]\nurl = \"http://gpu:3456\"\ntoken_file = \"c2.token\"",
        ))
        .unwrap();
        assert_eq!(c.c2_service.unwrap().url, "http://gpu:3456");
        let err = format!(
            "{:#}",
            parse(&with(
                "[c2_service]\nurl = \"gpu:3456\"\ntoken_file = \"t\""
            ))
            .unwrap_err()
        );
        assert!(err.contains("c2_service.url"), "{err}");
        let err = format!(
            "{:#}",
            parse(&with(
                "[c2_service]\nurl = \"http://gpu\"\ntoken_file = \"t\"\n[[processors.c2]]\nbin = \"x\""
            ))
            .unwrap_err()
        );
        assert!(err.contains("not both"), "{err}");
        let err = format!(
            "{:#}",
            parse(&with(
                "[c2_service]\nurl = \"http://gpu\"\ntokenfile = \"t\""
            ))
            .unwrap_err()
        );
        assert!(err.contains("tokenfile"), "{err}");
    }

    #[test]
    fn slot_release_is_checked() {
        let with = |extra: &str| {
            parse(&example().replace("max_sectors = 0", &format!("max_sectors = 0\n{extra}")))
        };
        let c = with("release_slot_at = \"Persisted\"\nin_flight = 8").unwrap();
        assert_eq!(c.worker.release_slot_at, Some(SectorState::Persisted));
        assert_eq!(c.worker.in_flight, Some(8));
        let err = |extra: &str| format!("{:#}", with(extra).unwrap_err());
        assert!(err("release_slot_at = \"PC2Done\"").contains("Persisted or later"));
        assert!(err("release_slot_at = \"Finished\"").contains("Persisted or later"));
        assert!(err("in_flight = 8").contains("needs worker.release_slot_at"));
        assert!(err("release_slot_at = \"Persisted\"\nin_flight = 1").contains("at least"));
        assert!(err("release_slot_at = \"Later\"").contains("Later"));
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let text = example().replace("max_sectors = 0", "max_sectors = 0\nmax_sector = 3");
        let err = format!("{:#}", parse(&text).unwrap_err());
        assert!(err.contains("max_sector"), "{err}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            (
                "recover_interval = \"60s\"",
                "recover_interval = \"sixty\"",
                "duration",
            ),
            ("pc1 = 4", "pc1 = 0", "limits.pc1"),
            ("pc1 = 4", "pc9 = 4", "pc9"),
            ("slots = 2", "slots = 0", "sealing[0].slots"),
            ("miner = \"f01000\"", "miner = \"f3abc\"", "f3abc"),
            (
                "proof = \"StackedDrg2KiBV1_1\"",
                "proof = \"StackedDrg3KiB\"",
                "StackedDrg3KiB",
            ),
            (
                "gpu = [\"pc2\", \"c2\"]",
                "gpu = [\"pc2\", \"gpu\"]",
                "locks.gpu",
            ),
        ];
        for (from, to, needle) in cases {
            let text = example().replace(from, to);
            assert_ne!(text, example(), "{from}");
            let err = format!("{:#}", parse(&text).unwrap_err());
            assert!(err.contains(needle), "{to}: {err}");
        }
    }

    /// The example with its commented-out `[[processors.*]]` block enabled.
    fn example_with_processors() -> String {
        let text = example();
        let start = text.find("# [[processors.pc1]]").unwrap();
        let end = start + text[start..].find("\n\n").unwrap();
        let block: Vec<&str> = text[start..end]
            .lines()
            .map(|l| l.strip_prefix("# ").or(l.strip_prefix('#')).unwrap_or(l))
            .collect();
        format!("{}{}{}", &text[..start], block.join("\n"), &text[end..])
    }

    #[test]
    fn the_documented_processors_parse() {
        assert!(parse(&example()).unwrap().processors.pc1.is_empty());
        let c = parse(&example_with_processors()).unwrap();
        let pc1 = &c.processors.pc1;
        assert_eq!(pc1.len(), 2);
        assert_eq!(pc1[0].name.as_deref(), Some("pc1-0"));
        assert_eq!(pc1[0].args, vec!["pc1"]);
        assert_eq!(pc1[0].concurrent, Some(2));
        assert_eq!(pc1[0].cpuset.as_deref(), Some("0-7"));
        assert_eq!(pc1[0].envs["RUST_LOG"], "info");
        assert_eq!(pc1[0].task_timeout, Some(Duration::from_secs(4 * 3600)));
        assert_eq!(pc1[1].cpuset.as_deref(), Some("8-15"));
        assert_eq!(c.processors.c2[0].locks, vec!["gpu"]);
        assert_eq!(c.processors.c2[0].ready_timeout, Duration::from_secs(120));
        assert!(c.processors.c2[0].auto_restart && c.processors.c2[0].inherit_envs);
        let stages: Vec<_> = c
            .processors
            .by_stage()
            .into_iter()
            .filter(|(_, p)| !p.is_empty())
            .map(|(s, _)| s)
            .collect();
        assert_eq!(stages, vec!["pc1", "c2"]);
    }

    #[test]
    fn bad_processors_are_refused_by_key() {
        let cases = [
            // An unknown key of a processor.
            (
                "concurrent = 2\ncpuset = \"0-7\"",
                "concurent = 2\ncpuset = \"0-7\"",
                "concurent",
            ),
            // Finalize is persistence, not a processor stage.
            ("[[processors.c2]]", "[[processors.finalize]]", "finalize"),
            (
                "cpuset = \"0-7\"",
                "cpuset = \"7-0\"",
                "processors.pc1[0].cpuset",
            ),
            (
                "cpuset = \"8-15\"",
                "cpuset = \"8-x\"",
                "processors.pc1[1].cpuset",
            ),
            (
                "concurrent = 2\ncpuset = \"0-7\"",
                "concurrent = 0\ncpuset = \"0-7\"",
                "processors.pc1[0].concurrent",
            ),
            (
                "locks = [\"gpu\"]\nready",
                "locks = [\"gpux\"]\nready",
                "processors.c2[0].locks",
            ),
            ("ready_timeout = \"2m\"", "ready_timeout = \"soon\"", "soon"),
        ];
        for (from, to, needle) in cases {
            let text = example_with_processors().replace(from, to);
            assert_ne!(text, example_with_processors(), "{from}");
            let err = format!("{:#}", parse(&text).unwrap_err());
            assert!(err.contains(needle), "{to}: {err}");
        }
        // The bad cpuset's value and the undeclared lock's name are quoted.
        let text = example_with_processors().replace("cpuset = \"0-7\"", "cpuset = \"7-0\"");
        let err = format!("{:#}", parse(&text).unwrap_err());
        assert!(err.contains("7-0"), "{err}");
        let text = example_with_processors()
            .replace("locks = [\"gpu\"]\nready", "locks = [\"gpux\"]\nready");
        let err = format!("{:#}", parse(&text).unwrap_err());
        assert!(err.contains("\"gpux\" is not declared in [locks]"), "{err}");
    }

    #[test]
    fn a_processor_lock_declared_without_stages_is_accepted() {
        let text = example_with_processors()
            .replace("locks = [\"gpu\"]\nready", "locks = [\"nvme\"]\nready")
            .replace(
                "gpu = [\"pc2\", \"c2\"]",
                "gpu = [\"pc2\", \"c2\"]\nnvme = []",
            );
        let c = parse(&text).unwrap();
        assert_eq!(c.processors.c2[0].locks, vec!["nvme"]);
    }

    #[test]
    fn processor_locks_join_their_stage_limit() {
        let text = example_with_processors()
            .replace(
                "concurrent = 2\ncpuset = \"8-15\"",
                "concurrent = 2\ncpuset = \"8-15\"\nlocks = [\"nvme\"]",
            )
            .replace("gpu = [\"pc2\", \"c2\"]", "gpu = [\"pc2\"]\nnvme = []");
        let limits = parse(&text).unwrap().stage_limits().unwrap();
        // pc1: one of its two processors names nvme; the stage holds it.
        assert_eq!(limits["pc1"].locks, vec!["nvme"]);
        assert_eq!(limits["pc1"].concurrent, Some(4));
        assert_eq!(limits["pc1"].stagger, Some(Duration::ZERO));
        // c2: gpu from its processor, shared with pc2 from [locks].
        assert_eq!(limits["c2"].locks, vec!["gpu"]);
        assert_eq!(limits["pc2"].locks, vec!["gpu"]);
        // Without processors, only [locks] counts.
        let limits = parse(&example()).unwrap().stage_limits().unwrap();
        assert_eq!(limits["c2"].locks, vec!["gpu"]);
        assert!(!limits.contains_key("pc1") || limits["pc1"].locks.is_empty());
    }

    #[test]
    fn a_store_needs_exactly_one_of_path_or_url() {
        let both = example().replace(
            "path = \"./data/store/0\"",
            "path = \"./data/store/0\"\nurl = \"file:///tmp/x\"",
        );
        let err = format!("{:#}", parse(&both).unwrap_err());
        assert!(
            err.contains("persist[0]") && err.contains("exactly one"),
            "{err}"
        );
        let url = example().replace("path = \"./data/store/0\"", "url = \"memory:///\"");
        assert!(parse(&url).unwrap().persist[0].url.is_some());
        let bad = example().replace("path = \"./data/store/0\"", "url = \"not a url\"");
        let err = format!("{:#}", parse(&bad).unwrap_err());
        assert!(err.contains("persist[0].url"), "{err}");
    }

    #[test]
    fn a_remote_manager_parses() {
        let text = example().replace(
            "kind = \"embedded-devnet\"",
            "kind = \"remote\"\nurl = \"http://127.0.0.1:1789\"\ntoken_file = \"t\"",
        );
        // The devnet-only keys are refused for a remote manager.
        let err = format!("{:#}", parse(&text).unwrap_err());
        assert!(err.contains("unknown field"), "{err}");
        let start = text.find("kind = \"remote\"").unwrap();
        let end = text.find("[retry]").unwrap();
        let remote = format!(
            "{}kind = \"remote\"\nurl = \"http://127.0.0.1:1789\"\ntoken_file = \"t\"\nproof = \"StackedDrg2KiBV1_1\"\n\n{}",
            &text[..start],
            &text[end..]
        );
        let c = parse(&remote).unwrap();
        assert!(matches!(c.manager, ManagerSection::Remote { .. }));
    }

    #[test]
    fn every_piece_store_kind_is_read_and_checked() {
        let c = parse(&example()).unwrap();
        assert_eq!(
            c.pieces,
            Some(PieceStoreConfig::Local {
                dirs: vec!["./data/pieces".into()]
            })
        );
        let local = "kind = \"local\"\ndirs = [\"./data/pieces\"]";
        let with = |section: &str| example().replace(local, section);
        let http = parse(&with(
            "kind = \"http\"\nurl = \"http://127.0.0.1:1790\"\ntoken_file = \"./data/worker/manager.token\"",
        ))
        .unwrap();
        assert!(matches!(
            http.pieces,
            Some(PieceStoreConfig::Http { ref url, token_file: Some(_), .. }) if url == "http://127.0.0.1:1790"
        ));
        let object = parse(&with("kind = \"object\"\nurl = \"file:///srv/pieces\"")).unwrap();
        assert!(matches!(
            object.pieces,
            Some(PieceStoreConfig::Object { .. })
        ));
        for (section, needle) in [
            ("kind = \"local\"\ndirs = []", "pieces: dirs"),
            ("kind = \"http\"\nurl = \"127.0.0.1:1790\"", "http://"),
            (
                "kind = \"http\"\nurl = \"http://m\"\ntoken = \"x\"",
                "token",
            ),
            ("kind = \"object\"\nurl = \"ftp://x\"", "s3://"),
            ("kind = \"nfs\"\ndirs = []", "nfs"),
        ] {
            let err = format!("{:#}", parse(&with(section)).unwrap_err());
            assert!(err.contains(needle), "{section}: {err}");
        }
    }

    #[test]
    fn an_unwritable_path_is_named() {
        let mut c = parse(&example()).unwrap();
        c.sealing[0].path = PathBuf::from("/proc/venus-seal-cannot-write");
        let err = format!("{:#}", c.check_machine().unwrap_err());
        assert!(
            err.contains("sealing[0].path") && err.contains("/proc/venus-seal-cannot-write"),
            "{err}"
        );
    }
}
