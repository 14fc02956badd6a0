//! A sector manager deployment, built from its config: the chain side of
//! sealing, served to workers over JSON-RPC.
//!
//! * [`SectorManagerConfig`]: the TOML schema (`examples/sector-manager.toml`
//!   documents every key and default); [`SectorManagerConfig::load`]
//!   resolves relative paths against the config file's folder.
//! * [`ManagerService`]: the builder. [`ManagerService::build`] checks the
//!   Groth16 parameters, opens the chain (the embedded devnet, or a Lotus /
//!   Venus full node checked before anything is served: see [`preflight`]),
//!   the manager's state store, and serves the worker API with the
//!   operators' admin methods ([`ManagerAdmin`]), the piece proxy, the
//!   WindowPoSt scheduler and the venus-gateway proof-event listener
//!   (`[gateway]`: WinningPoSt for venus-miner, see `docs/venus-gateway.md`)
//!   as configured. [`RunningManager::run`] serves
//!   until a shutdown future resolves, then stops everything.
//! * [`admin_client`] and [`worker_token`]: what the operator subcommands
//!   call. They read the config and its secret file and create nothing.
//! * [`lifecycle_cli`]: the `sectors expiring|extend|terminate` commands
//!   for proven sectors, ready to flatten into a binary's clap tree;
//!   [`operator_cli`]: `deals add|list`, `sectors abort|resend` (with the
//!   lifecycle commands) and `workers`.
//!
//! `venus-seal-sector-manager` (`src/bin/`) is this module behind a command
//! line; an SP's own binary can call the same functions, or take the parts
//! ([`open_chain`], [`ManagerAdmin`]) and assemble them differently.
//!
//! The default seal verifier, the parameter checks and the WindowPoSt
//! executors are the proving crates' (`LocalProofVerifier`, `LocalExecutor`),
//! behind this crate's `proofs` feature (on by default). Without it, give
//! [`ManagerService::with_verifier`] (and, with `[proving]`,
//! [`ManagerService::with_prover`]) implementations of your own.

mod admin;
mod chain;
pub mod config;
pub mod lifecycle_cli;
pub mod operator_cli;
#[cfg(feature = "proofs")]
mod params;
pub mod preflight;
mod secret;
mod service;

pub use admin::{admin_client, worker_token, workers_table, ManagerAdmin};
pub use chain::{open_chain, OpenChain};
pub use config::SectorManagerConfig;
#[cfg(feature = "proofs")]
use service::Proofs;
pub use service::{decorate_provers, remote_provers, ManagerService, RunningManager};

#[cfg(test)]
mod tests;
