//! A sealing worker deployment: its config file ([`WorkerConfig`]) and,
//! with the `proofs` feature, the builder that turns it into a running
//! worker ([`Worker`]).
//!
//! `venus-seal-worker run --config worker.toml` is this module and
//! [`crate::runtime`] called from a thin `main`; an SP's own binary can do
//! the same, or build the [`crate::core::Engine`] itself from
//! [`executors::build`] and its own pieces.
//!
//! * [`config`]: the TOML schema, its checks and defaults, relative paths
//!   resolved against the file's folder. Needs no proving crate.
//! * [`admin`]: the operator's client, token and sector table (creates
//!   no file).
//! * [`hooks`]: the `[testing]` pause points.
//! * [`ping`]: `Venus.WorkerPing` to a remote manager every 30 s.
//! * [`executors`] (`proofs`): every stage's executor (local, ext
//!   processors, remote C2, persist stores) wrapped in hooks, metrics and
//!   limits.
//! * [`unseal`] (`proofs`): unseal jobs taken from the manager, unsealed
//!   once and written to each destination (`[unseal]`).
//! * [`Worker`] (`proofs`): parameters, the sector manager, executors,
//!   state store, pieces, engine, admin API and metrics, assembled.

pub mod admin;
pub mod config;
#[cfg(feature = "proofs")]
pub mod executors;
pub mod hooks;

#[cfg(feature = "proofs")]
mod build;
pub mod ping;
#[cfg(feature = "proofs")]
pub mod unseal;

#[cfg(feature = "proofs")]
pub use build::Worker;
pub use config::WorkerConfig;
