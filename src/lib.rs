//! venus-seal: a library-first framework for Filecoin sealing clusters.
//!
//! This umbrella crate re-exports the crates an SP stack embeds and holds
//! what turns them into running deployments:
//!
//! * [`core`] (`venus-seal-core`): domain types, the `Executor<S>` trait,
//!   error levels, the sector state machine and the sealer. No proving
//!   crate.
//! * [`backends`] (`venus-seal-backends`): executors on filecoin-proofs-api,
//!   Groth16 parameter management.
//! * [`chain`] (`venus-seal-chain`): the embedded devnet and the sector
//!   manager.
//! * [`rpc`] (`venus-seal-rpc`): JWT permissions (the Lotus ladder) and the
//!   JSON-RPC APIs (the worker's admin API).
//! * [`runtime`]: logging, tokens, the stop signal, the metrics endpoint
//!   and operator-command arguments that every deployment shares.
//! * [`alerts`]: rules on a clock, each firing and resolving once,
//!   delivered to webhooks (JSON, Slack, Alertmanager).
//! * [`worker`]: the sealing worker's config ([`worker::WorkerConfig`]) and
//!   builder ([`worker::Worker`], the `venus-seal-worker` binary).
//! * [`c2_service`]: the remote C2 service node's config and builder
//!   ([`c2_service::C2Node`], the `venus-seal-c2-service` binary).
//! * [`all_in_one`]: devnet, manager and sealer in one process (the `seal`
//!   example).
//!
//! The builders prove, so they need the `proofs` feature (on by default);
//! the config schemas do not, so a tool that only reads configs (the fuzz
//! targets) builds without the proving crates.
//! * [`sector_manager`]: the sector manager deployment: its config schema,
//!   the Lotus start-up checks, the admin API and the builder
//!   (`ManagerService`) that `venus-seal-sector-manager` runs.
//! * [`console`]: the operators' web console the manager serves with
//!   `[console]` (server-rendered pages over the manager's state, and the
//!   actions an admin token may take).
//! * `simulate` (feature `simulate`): the cluster simulator, the engine
//!   against a thread-per-sector model on tokio's paused clock, which
//!   `examples/simulate.rs` and `benches/simulate.rs` both call.
//!
//! # Design rationale
//!
//! Deployment assembly (config schemas, the builders that turn a config
//! into a running service) lives here, in the one crate that depends on all
//! the others, rather than in any of them: the core stays free of
//! backends, the backends free of the chain side, and an SP that embeds
//! only the manager or only the ext protocol depends on those crates alone.
#![warn(missing_docs, missing_debug_implementations)]

pub use venus_seal_backends as backends;
pub use venus_seal_chain as chain;
pub use venus_seal_core as core;
pub use venus_seal_rpc as rpc;

pub mod runtime;

pub mod alerts;
#[cfg(feature = "proofs")]
pub mod all_in_one;
pub mod c2_service;
pub mod console;
pub mod sector_manager;
#[cfg(feature = "simulate")]
pub mod simulate;
pub mod worker;
