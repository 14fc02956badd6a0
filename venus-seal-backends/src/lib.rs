//! venus-seal-backends: real implementations of the venus-seal core
//! traits.
//!
//! * [`LocalExecutor`]: every sealing stage on filecoin-proofs-api (CPU;
//!   GPU with the `cuda` / `opencl` features).
//! * [`LocalProofVerifier`]: verification of every proof (seal, aggregate,
//!   WindowPoSt, WinningPoSt, replica update) and seal aggregation.
//! * [`proving`]: the proving stages (WindowPoSt, WinningPoSt, the sector
//!   file check, snap encode and prove, unseal) on [`LocalExecutor`], and
//!   `unseal_to_http`.
//! * [`params`]: the Groth16 parameter cache: production files checked
//!   against `parameters.json`, test sizes generated offline.
//! * [`ext`]: external processors (the parent's executors and the child's
//!   serve loop).
//! * [`pieces`]: piece stores, the verifying decorator, the piece proxy and
//!   [`piece_commitment`].
//! * [`persist`]: persistent stores for finished replicas.
//! * [`remote_c2`]: the remote proving service (C2, snap prove, WindowPoSt,
//!   WinningPoSt, snap encode, unseal) and its client executor.
//!
//! # Design rationale
//!
//! * **Implementations only.** Every trait lives in venus-seal-core; this
//!   crate implements them, and each implementation runs the core's
//!   conformance suite for its trait (`tests/conformance.rs`).
//! * **One executor, every stage.** [`LocalExecutor`] implements
//!   `Executor<S>` for every sealing and proving stage, so decorators,
//!   ext processors and limits treat proving like sealing.
//! * **Proving is optional.** What needs filecoin-proofs is behind one
//!   feature (below), so an SP that only needs the ext protocol, the stores
//!   or the C2 service front compiles no bellperson.
//!
//! # Features: builds as light as the need
//!
//! `proofs` (default) brings filecoin-proofs, storage-proofs and
//! bellperson, and with them everything that proves or verifies. Build
//! with `default-features = false` for a deployment that proves nothing
//! itself (a worker whose stages all run on ext processors or a remote C2
//! service, a sector manager serving pieces, a C2 service front with
//! another prover) and none of those crates is compiled.
//!
//! | module | without `proofs` |
//! |---|---|
//! | [`LocalExecutor`], [`LocalProofVerifier`], `proving`, `params` | absent |
//! | [`ext`] | both sides, native bodies; `format = "damocles"` refuses its tasks (Permanent) and `serve_damocles` refuses to start, naming the feature |
//! | [`pieces`] | everything, [`VerifyingPieceStore`](pieces::VerifyingPieceStore) and [`piece_commitment`] included (plain Rust SHA-256) |
//! | [`persist`] | everything |
//! | [`remote_c2`] | everything: the client and the service, proving on any `Executor<S>` of a remote stage |
//!
//! `cuda` and `opencl` (GPU proving) imply `proofs`. Further features:
//! `s3` (S3 object stores), `testing` (the `pieces` and `persist`
//! conformance suites), `fuzzing` (internals the fuzz targets drive; not a
//! stable API). CI checks with `cargo tree` that the light build has no
//! proving crate (`.ci/light`).
#![warn(missing_docs, missing_debug_implementations)]

pub mod ext;
mod http_body;
#[cfg(feature = "proofs")]
mod local;
mod no_space;
#[cfg(feature = "proofs")]
pub mod params;
pub mod persist;
pub mod pieces;
#[cfg(feature = "proofs")]
mod proof_type;
#[cfg(feature = "proofs")]
pub mod proving;
pub mod remote_c2;

#[cfg(feature = "proofs")]
pub use local::{LocalExecutor, LocalProofVerifier};
pub use pieces::piece_commitment;
