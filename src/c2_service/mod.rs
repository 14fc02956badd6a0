//! A remote C2 service node: its config file ([`C2NodeConfig`]) and, with
//! the `proofs` feature, the builder that turns it into a running node
//! ([`C2Node`]) serving `POST /v1/c2` for the workers whose c2 stage points
//! at it.
//!
//! * [`config`]: the TOML schema, its checks and defaults. Needs no
//!   proving crate.
//! * [`C2Node`] (`proofs`): parameters checked, the task queue opened
//!   (SQLite, or PostgreSQL shared by several nodes), the service served.
//! * [`token`]: a JWT for the workers, signed with the node's secret
//!   (creates no file).

pub mod config;

#[cfg(feature = "proofs")]
mod build;

use std::path::Path;

use anyhow::Context;

#[cfg(feature = "proofs")]
pub use build::C2Node;
pub use config::C2NodeConfig;

use crate::rpc::{Permission, Secret};
use crate::runtime::TokenOutput;

/// A JWT with `perm` (workers need write), named `name`, signed with the
/// secret of the node configured at `config`, expiring as `output` says
/// (`--ttl`, as the worker's and the manager's `token`). A missing secret
/// (the node never ran) is an error naming the file; nothing is created.
pub fn token(
    config: &Path,
    perm: Permission,
    name: &str,
    output: &TokenOutput,
) -> anyhow::Result<String> {
    let config = C2NodeConfig::load(config)?;
    let secret = Secret::load(&config.service.secret_file).context("service.secret_file")?;
    Ok(output.sign(&secret, perm, name))
}
