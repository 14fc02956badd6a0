//! The C2 service node's config file, [`C2NodeConfig`] (every key in
//! `examples/c2-service.toml`). Relative paths are relative to the file's
//! folder ([`C2NodeConfig::load`] resolves them).
//!
//! ```
//! use venus_seal::c2_service::C2NodeConfig;
//!
//! let config = C2NodeConfig::parse(r#"
//! [service]
//! listen = "127.0.0.1:3456"
//! secret_file = "c2.secret"
//! node_id = "c2-node-1"
//! [queue]
//! kind = "sqlite"
//! path = "queue.db"
//! "#).unwrap();
//! assert_eq!(config.service.provers, 1);
//! assert_eq!(config.service_config().max_body_bytes, 64 << 20);
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::backends::remote_c2::{C2ServiceConfig, QueueLimits};
use crate::core::SealProof;
use crate::runtime::{config_folder, resolve_relative as resolve};
use anyhow::Context;
use serde::Deserialize;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct C2NodeConfig {
    /// `[service]`.
    pub service: ServiceSection,
    /// `[queue]`.
    pub queue: QueueSection,
    /// `[params]`.
    #[serde(default)]
    pub params: ParamsSection,
    /// `[testing]`: test-only hooks (none by default).
    #[serde(default)]
    pub testing: TestingSection,
}

/// `[testing]`: hooks for process-level tests; leave unset in production.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestingSection {
    /// Each task waits this long (claimed, heartbeating) before its proof
    /// starts, so a test can kill the node mid-task.
    #[serde(default, with = "crate::core::serde_duration::option")]
    pub prove_delay: Option<Duration>,
}

/// `[service]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSection {
    /// Where the HTTP API listens.
    pub listen: SocketAddr,
    /// The HMAC secret of the tokens (created on first use).
    pub secret_file: PathBuf,
    /// This node's name in the queue; stable across restarts, unique per
    /// node.
    pub node_id: String,
    /// Proofs at once (default 1).
    #[serde(default = "one")]
    pub provers: usize,
    /// The largest request body, in MiB (default 64).
    #[serde(default = "max_body_mib")]
    pub max_body_mib: usize,
    /// Heartbeat of a running task (default 10s).
    #[serde(default = "heartbeat", with = "crate::core::serde_duration")]
    pub heartbeat_interval: Duration,
    /// A running task with an older heartbeat is taken over (default 60s).
    #[serde(default = "stale", with = "crate::core::serde_duration")]
    pub stale_after: Duration,
    /// How often an idle prover looks for work from other nodes (default
    /// 1s).
    #[serde(default = "poll", with = "crate::core::serde_duration")]
    pub poll_interval: Duration,
    /// Done and failed tasks are deleted this long after they finished
    /// (default 7d; at least 10m: workers fetch their proofs first).
    #[serde(default = "retention", with = "crate::core::serde_duration")]
    pub retention: Duration,
    /// A task claimed this many times without an outcome (it crashes or
    /// stalls every prover) fails, Permanent (default 5; at least 1).
    #[serde(default = "max_attempts")]
    pub max_attempts: u32,
    /// The stages this node proves (default `["c2"]`): any of
    /// [`REMOTE_STAGES`]. The PoSt and snap stages read the sectors' files
    /// by the submitter's paths: mount the stores at the same paths here.
    #[serde(default = "default_stages")]
    pub stages: Vec<String>,
}

/// The stages a service node can prove.
pub const REMOTE_STAGES: [&str; 6] = [
    "c2",
    "snap_prove",
    "window_post",
    "winning_post",
    "snap_encode",
    "unseal",
];

fn default_stages() -> Vec<String> {
    vec!["c2".into()]
}

fn one() -> usize {
    1
}
fn max_body_mib() -> usize {
    64
}
fn heartbeat() -> Duration {
    Duration::from_secs(10)
}
fn stale() -> Duration {
    Duration::from_secs(60)
}
fn poll() -> Duration {
    Duration::from_secs(1)
}
fn retention() -> Duration {
    QueueLimits::default().retention
}
fn max_attempts() -> u32 {
    QueueLimits::default().max_attempts
}

/// `[queue]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "kebab-case")]
pub enum QueueSection {
    /// One node: a SQLite file.
    Sqlite {
        /// The database file.
        path: PathBuf,
    },
    /// Several nodes sharing one queue.
    Postgres {
        /// `postgres://USER:PASSWORD@HOST/DB`.
        url: String,
    },
}

/// `[params]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamsSection {
    /// The parameter cache; default `FIL_PROOFS_PARAMETER_CACHE` or
    /// /var/tmp/filecoin-proof-parameters.
    pub dir: Option<PathBuf>,
    /// Proof types checked at start (missing parameters fail the start
    /// rather than every task).
    #[serde(default)]
    pub proofs: Vec<SealProof>,
    /// Generate random (NOT trusted-setup) parameters for 2KiB/8MiB.
    #[serde(default)]
    pub generate_test_sizes: bool,
}

impl C2NodeConfig {
    /// Reads and checks the config at `path`, and resolves its relative
    /// paths against the file's folder ([`Self::resolve_paths`]). Creates
    /// nothing.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the config {}", path.display()))?;
        let mut config =
            Self::parse(&text).with_context(|| format!("config {}", path.display()))?;
        config.resolve_paths(&config_folder(path)?);
        Ok(config)
    }

    /// Makes the relative paths (`service.secret_file`, a SQLite
    /// `queue.path`, `params.dir`) relative to `base`.
    pub fn resolve_paths(&mut self, base: &Path) {
        resolve(base, &mut self.service.secret_file);
        if let QueueSection::Sqlite { path } = &mut self.queue {
            resolve(base, path);
        }
        if let Some(dir) = &mut self.params.dir {
            resolve(base, dir);
        }
    }

    /// Parses and checks a config's text.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let config: C2NodeConfig = toml::from_str(text)?;
        let s = &config.service;
        anyhow::ensure!(!s.node_id.trim().is_empty(), "service.node_id is empty");
        anyhow::ensure!(s.provers > 0, "service.provers must be at least 1");
        anyhow::ensure!(
            s.max_body_mib > 0,
            "service.max_body_mib must be at least 1"
        );
        anyhow::ensure!(
            s.stale_after > s.heartbeat_interval * 2,
            "service.stale_after ({:?}) must exceed twice heartbeat_interval ({:?}), or live tasks get taken over",
            s.stale_after,
            s.heartbeat_interval
        );
        anyhow::ensure!(
            s.max_attempts >= 1,
            "service.max_attempts must be at least 1"
        );
        anyhow::ensure!(!s.stages.is_empty(), "service.stages is empty");
        for stage in &s.stages {
            anyhow::ensure!(
                REMOTE_STAGES.contains(&stage.as_str()),
                "service.stages: unknown stage {stage:?} (one of {})",
                REMOTE_STAGES.join(", ")
            );
        }
        anyhow::ensure!(
            s.retention >= Duration::from_secs(600),
            "service.retention ({:?}) must be at least 10m: workers fetch their proofs after the task finishes",
            s.retention
        );
        Ok(config)
    }

    /// The library's config.
    pub fn service_config(&self) -> C2ServiceConfig {
        let s = &self.service;
        C2ServiceConfig {
            node_id: s.node_id.clone(),
            provers: s.provers,
            max_body_bytes: s.max_body_mib << 20,
            heartbeat_interval: s.heartbeat_interval,
            stale_after: s.stale_after,
            poll_interval: s.poll_interval,
            limits: QueueLimits {
                max_attempts: s.max_attempts,
                retention: s.retention,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> String {
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/c2-service.toml"
        ))
        .unwrap()
    }

    #[test]
    fn the_documented_example_parses_and_bad_values_name_their_key() {
        let c = C2NodeConfig::parse(&example()).unwrap();
        assert_eq!(c.service.node_id, "c2-node-1");
        let limits = c.service_config().limits;
        assert_eq!(limits.max_attempts, 5);
        assert_eq!(limits.retention, Duration::from_secs(7 * 24 * 3600));
        assert!(c.params.generate_test_sizes);
        for (from, to, needle) in [
            ("provers = 1", "provers = 0", "service.provers"),
            (
                "stale_after = \"60s\"",
                "stale_after = \"15s\"",
                "service.stale_after",
            ),
            (
                "node_id = \"c2-node-1\"",
                "node_id = \" \"",
                "service.node_id",
            ),
            ("provers = 1", "prover = 1", "prover"),
            (
                "max_attempts = 5",
                "max_attempts = 0",
                "service.max_attempts",
            ),
            (
                "retention = \"7d\"",
                "retention = \"1m\"",
                "service.retention",
            ),
        ] {
            let text = example().replace(from, to);
            assert_ne!(text, example(), "{from}");
            let e = format!("{:#}", C2NodeConfig::parse(&text).unwrap_err());
            assert!(e.contains(needle), "{to}: {e}");
        }
    }

    #[test]
    fn stages_default_to_c2_and_unknown_ones_are_named() {
        let c = C2NodeConfig::parse(&example()).unwrap();
        assert_eq!(c.service.stages, ["c2"]);
        let text = example().replace(
            "# stages = [\"c2\", \"window_post\", \"winning_post\", \"snap_prove\"]",
            "stages = [\"window_post\", \"snap_prove\"]",
        );
        let c = C2NodeConfig::parse(&text).unwrap();
        assert_eq!(c.service.stages, ["window_post", "snap_prove"]);
        for (stages, needle) in [
            ("[\"pc1\"]", "unknown stage \"pc1\""),
            ("[]", "service.stages is empty"),
        ] {
            let text = example().replace(
                "# stages = [\"c2\", \"window_post\", \"winning_post\", \"snap_prove\"]",
                &format!("stages = {stages}"),
            );
            let e = format!("{:#}", C2NodeConfig::parse(&text).unwrap_err());
            assert!(e.contains(needle), "{stages}: {e}");
        }
    }

    #[test]
    fn load_resolves_relative_paths_against_the_config_folder() {
        let dir = tempfile::tempdir().unwrap();
        let text = example()
            .replace("/var/tmp/venus-seal/c2-service/secret", "data/secret")
            .replace("/var/tmp/venus-seal/c2-service/queue.db", "./data/queue.db")
            .replace(
                "# dir = \"/var/tmp/filecoin-proof-parameters\"",
                "dir = \"params\"",
            );
        let path = dir.path().join("c2.toml");
        std::fs::write(&path, text).unwrap();
        let c = C2NodeConfig::load(&path).unwrap();
        assert_eq!(c.service.secret_file, dir.path().join("data/secret"));
        assert!(
            matches!(&c.queue, QueueSection::Sqlite { path } if *path == dir.path().join("./data/queue.db"))
        );
        assert_eq!(c.params.dir, Some(dir.path().join("params")));
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "load created files"
        );
    }
}
