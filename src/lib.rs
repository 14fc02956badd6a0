//! venus-seal: a library-first framework for Filecoin sealing clusters.
//!
//! This umbrella crate re-exports the three crates an SP stack embeds and
//! holds the reference deployments (`examples/`) and benchmarks:
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
#![warn(missing_docs)]

pub use venus_seal_backends as backends;
pub use venus_seal_chain as chain;
pub use venus_seal_core as core;
pub use venus_seal_rpc as rpc;
