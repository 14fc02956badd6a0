//! Piece stores: local directories, HTTP and object stores, behind
//! [`venus_seal_core::PieceStore`].
//!
//! * [`LocalPieceStore`]: files `<cid>` or `<cid>.car` in one or more
//!   directories.
//! * [`HttpPieceStore`]: `GET <base>/piece/<cid>` with a bearer token,
//!   redirects followed, and a stream that drops mid-piece resumed by
//!   `Range` from the byte it reached.
//! * [`ObjectPieceStore`]: objects in any [`object_store::ObjectStore`]
//!   (S3 and compatible with the `s3` feature, local files, memory).
//! * [`VerifyingPieceStore`]: a decorator that computes the piece
//!   commitment while the bytes stream and fails with
//!   [`PieceStoreError::BadPiece`](venus_seal_core::PieceStoreError::BadPiece)
//!   (Abort) when they do not match the PieceCID. Workers always wrap
//!   their store in it.
//! * [`piece_router`]: the sector manager's piece proxy, serving any store
//!   over HTTP (`GET /piece/<cid>`, ranges, JWT), so that an
//!   [`HttpPieceStore`] pointed at the manager works.
//! * [`PieceStoreConfig`]: the `[pieces]` section binaries read.
//! * [`piece_commitment`]: a piece's PieceCID, in plain Rust (no proving
//!   crate), as the verifier and deal clients compute it.
//! * `conformance` (feature `testing`): the suite every store passes.
//!
//! # Design rationale
//!
//! The trait stays small ([`get`](venus_seal_core::PieceStore::get); the
//! optional `size` and `get_range` have slow defaults that are never
//! wrong), and verification is one decorator instead of a duty of every
//! backend: a store only moves bytes, the decorator decides whether they
//! are the piece. The sealer's add_pieces stage checks the commitment
//! again as it writes the sector, so a store used without the decorator
//! still cannot put a wrong piece into a sector; the decorator makes the
//! failure early, cheap and clear.

mod build;
mod commitment;
mod config;
#[cfg(any(test, feature = "testing"))]
pub mod conformance;
mod http;
mod local;
mod object;
mod proxy;
mod reader;
mod verify;

// local add_pieces checks its pieces the same way.
#[cfg(feature = "proofs")]
pub(crate) use commitment::check_fits;
// ext::damocles: the commitments of the zero pieces a damocles add_pieces
// answer leaves out.
pub use commitment::piece_commitment;
#[cfg(feature = "proofs")]
pub(crate) use commitment::zero_commitment;
pub use config::{redact, PieceConfigError, PieceStoreConfig};
pub use http::{HttpPieceStore, DEFAULT_RESUMES};
pub use local::LocalPieceStore;
pub use object::ObjectPieceStore;
pub use proxy::{piece_router, PIECE_PERMISSION};
pub use verify::VerifyingPieceStore;
