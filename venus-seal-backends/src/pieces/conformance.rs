//! The piece-store suite with real PieceCIDs (feature `testing`): the
//! core's [`piece_store`] and [`verifying_piece_store`] suites, with
//! [`TestPieces`] named by their true commitments so that
//! [`VerifyingPieceStore`] can check them, and a helper to put them into an
//! object store.

use std::sync::Arc;

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
pub use venus_seal_core::testing::conformance::piece_store::TestPieces;
use venus_seal_core::testing::conformance::piece_store::{piece_store, verifying_piece_store};
use venus_seal_core::{PieceStore, SealProof};

use super::VerifyingPieceStore;
use crate::piece_commitment;

/// [`TestPieces`] named by their true PieceCIDs.
pub fn test_pieces() -> TestPieces {
    TestPieces::new(|data| {
        piece_commitment(SealProof::StackedDrg64GiBV1_1, data, data.len() as u64)
            .expect("commitment of a test piece")
            .cid
    })
}

/// Puts [`TestPieces::files`] under `prefix` in `store`.
pub async fn put_to(pieces: &TestPieces, store: &dyn ObjectStore, prefix: &ObjectPath) {
    for (name, data) in pieces.files() {
        store
            .put(
                &prefix.clone().join(name.as_str()),
                PutPayload::from(data.to_vec()),
            )
            .await
            .expect("putting a test piece");
    }
}

/// Runs the core suite on `store`, which holds `pieces` (from
/// [`test_pieces`]), then the verifying suite on a [`VerifyingPieceStore`]
/// around it.
pub async fn conformance(store: Arc<dyn PieceStore>, pieces: &TestPieces) {
    piece_store(Arc::clone(&store), pieces).await;
    verifying_piece_store(Arc::new(VerifyingPieceStore::new(store)), pieces).await;
}
