//! venus-seal-backends: real implementations of the venus-seal core
//! traits.
//!
//! * [`LocalExecutor`]: every sealing stage on filecoin-proofs-api (CPU;
//!   GPU with the `cuda` / `opencl` features).
//! * [`LocalSealVerifier`]: seal proof verification.
//! * [`remote_c2`]: the remote C2 service and its client executor.
//! * [`params`]: the Groth16 parameter cache: production files checked
//!   against `parameters.json`, test sizes generated offline.
#![warn(missing_docs, missing_debug_implementations)]

pub mod ext;
mod local;
pub mod params;
pub mod persist;
pub mod pieces;
mod proof_type;
pub mod proving;
pub mod remote_c2;

pub use local::{piece_commitment, LocalExecutor, LocalSealVerifier};
