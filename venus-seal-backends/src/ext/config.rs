//! One external processor's configuration.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How to run one external processor: the child process, its environment
/// and placement, and how it is supervised.
///
/// Deserializes from config with durations as `"60s"`, `"500ms"`, `"5m"`;
/// unknown keys are refused.
///
/// ```
/// use venus_seal_backends::ext::ExtProcessorConfig;
/// let cfg: ExtProcessorConfig = serde_json::from_str(r#"{
///     "bin": "/usr/local/bin/my-pc1",
///     "args": ["--gpu", "0"],
///     "envs": {"RUST_LOG": "info"},
///     "concurrent": 2,
///     "locks": ["gpu"],
///     "task_timeout": "2h",
///     "cpuset": "0-7,16"
/// }"#).unwrap();
/// assert_eq!(cfg.concurrent, Some(2));
/// assert!(cfg.auto_restart && cfg.inherit_envs);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtProcessorConfig {
    /// The processor's name in logs and errors (default: `{stage}:{bin's
    /// file name}`, with `#index` in a pool).
    #[serde(default)]
    pub name: Option<String>,
    /// The program to run (a path, or a name looked up on `PATH`).
    pub bin: PathBuf,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment variables set for the child.
    #[serde(default)]
    pub envs: BTreeMap<String, String>,
    /// Whether the child inherits this process's environment (default
    /// true); `envs` are set either way.
    #[serde(default = "yes")]
    pub inherit_envs: bool,
    /// At most this many tasks in flight on the child at once; more wait in
    /// the parent (default: no limit).
    #[serde(default)]
    pub concurrent: Option<usize>,
    /// Named shared locks (such as `gpu`) this processor's stage holds while
    /// it runs. They are carried, not applied here: the worker adds them to
    /// the stage's `StageLimit`, and the engine's `Limits` decorator holds
    /// them around the whole stage (see [`ExtProcessorPool::locks`](super::ExtProcessorPool::locks)).
    #[serde(default)]
    pub locks: Vec<String>,
    /// How long the child may take to print its ready line (default 60s).
    #[serde(
        default = "default_ready_timeout",
        with = "venus_seal_core::serde_duration"
    )]
    pub ready_timeout: Duration,
    /// A task unanswered this long after the parent starts writing it to
    /// the child (waiting for a `concurrent` slot or for the child to start
    /// is not counted) means the child hangs: it is killed and every task
    /// in flight on it fails Temporary (default: no limit).
    #[serde(default, with = "venus_seal_core::serde_duration::option")]
    pub task_timeout: Option<Duration>,
    /// Whether a failed child is replaced (on the next task) or the
    /// processor is marked dead (default true).
    #[serde(default = "yes")]
    pub auto_restart: bool,
    /// CPUs the child is pinned to, in `taskset -c` syntax (`"0-3,8"`).
    /// Needs `taskset` (util-linux) on `PATH`: without it the processor
    /// refuses to be built.
    #[serde(default)]
    pub cpuset: Option<String>,
    /// The NUMA node the child prefers for memory (`numactl --preferred`).
    /// Without `numactl` on `PATH`, a warning is logged and the child runs
    /// without the preference.
    #[serde(default)]
    pub numa_preferred: Option<u32>,
    /// How task and output bodies are written: `native` (this project's
    /// stage types, the default) or `damocles` (damocles' `vc-processors`
    /// task structs, for processors built for damocles; tree_d, pc1, pc2
    /// and c2). See [`BodyFormat`](super::BodyFormat).
    #[serde(default)]
    pub format: super::BodyFormat,
}

impl ExtProcessorConfig {
    /// A processor running `bin` with the defaults: no arguments, inherited
    /// environment, no concurrency limit, 60 s to become ready, no task
    /// timeout, auto restart, no CPU or NUMA placement.
    pub fn new(bin: impl Into<PathBuf>) -> Self {
        Self {
            name: None,
            bin: bin.into(),
            args: Vec::new(),
            envs: BTreeMap::new(),
            inherit_envs: true,
            concurrent: None,
            locks: Vec::new(),
            ready_timeout: default_ready_timeout(),
            task_timeout: None,
            auto_restart: true,
            cpuset: None,
            numa_preferred: None,
            format: super::BodyFormat::Native,
        }
    }
}

fn yes() -> bool {
    true
}

fn default_ready_timeout() -> Duration {
    Duration::from_secs(60)
}

/// Checks a `taskset -c` CPU list: comma-separated CPU numbers and
/// ascending ranges (`0-3,8`).
pub(crate) fn check_cpuset(cpuset: &str) -> Result<(), String> {
    if cpuset.trim().is_empty() {
        return Err("empty CPU list".into());
    }
    for item in cpuset.split(',') {
        let item = item.trim();
        let cpu = |s: &str| {
            s.trim()
                .parse::<u32>()
                .map_err(|_| format!("{s:?} is not a CPU number"))
        };
        match item.split_once('-') {
            Some((lo, hi)) => {
                let (lo, hi) = (cpu(lo)?, cpu(hi)?);
                if lo > hi {
                    return Err(format!("range {item:?} is descending"));
                }
            }
            None => {
                cpu(item)?;
            }
        }
    }
    Ok(())
}
