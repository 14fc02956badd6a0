//! The c2-service config file (see examples/c2-service.toml).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;
use venus_seal::backends::remote_c2::C2ServiceConfig;
use venus_seal::core::SealProof;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[service]`.
    pub service: ServiceSection,
    /// `[queue]`.
    pub queue: QueueSection,
    /// `[params]`.
    #[serde(default)]
    pub params: ParamsSection,
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
    /// Proofs at once.
    #[serde(default = "one")]
    pub provers: usize,
    /// The largest request body, in MiB.
    #[serde(default = "max_body_mib")]
    pub max_body_mib: usize,
    /// Heartbeat of a running task.
    #[serde(default = "heartbeat", with = "venus_seal::core::serde_duration")]
    pub heartbeat_interval: Duration,
    /// A running task with an older heartbeat is taken over.
    #[serde(default = "stale", with = "venus_seal::core::serde_duration")]
    pub stale_after: Duration,
    /// How often an idle prover looks for work from other nodes.
    #[serde(default = "poll", with = "venus_seal::core::serde_duration")]
    pub poll_interval: Duration,
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

impl Config {
    /// Reads and checks the config at `path`.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the config {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("config {}", path.display()))
    }

    /// Parses and checks a config's text.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let config: Config = toml::from_str(text)?;
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
        }
    }
}
