//! Where deal data comes from.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::RwLock;

use async_trait::async_trait;
use tokio::io::AsyncRead;

use crate::error::PieceStoreError;
use crate::types::commitment::PieceCid;

/// A stream of a piece's raw (unpadded) bytes.
pub type PieceReader = Pin<Box<dyn AsyncRead + Send>>;

/// Fetches pieces by their PieceCID.
///
/// Implementations: [`MemoryPieceStore`] (always compiled, for tests and
/// doctests); local directories, HTTP and object stores in
/// venus-seal-backends.
#[async_trait]
pub trait PieceStore: Send + Sync + std::fmt::Debug {
    /// Opens the piece for reading. The caller checks its bytes against the
    /// commitment while writing them into a sector.
    async fn get(&self, cid: &PieceCid) -> Result<PieceReader, PieceStoreError>;
}

/// Pieces held in memory.
///
/// ```
/// # tokio_test_block(async {
/// use tokio::io::AsyncReadExt;
/// use venus_seal_core::{MemoryPieceStore, PieceStore, CommD};
/// let store = MemoryPieceStore::default();
/// let cid: CommD = "baga6ea4seaqpy7usqklokfx2vxuynmupslkeutzexe2uqurdg5vhtebhxqmpqmy".parse().unwrap();
/// store.insert(cid, vec![0; 2032]);
/// let mut buf = Vec::new();
/// store.get(&cid).await.unwrap().read_to_end(&mut buf).await.unwrap();
/// assert_eq!(buf.len(), 2032);
/// # });
/// # fn tokio_test_block<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug, Default)]
pub struct MemoryPieceStore {
    pieces: RwLock<HashMap<PieceCid, bytes_arc::Bytes>>,
}

mod bytes_arc {
    /// Shared immutable bytes.
    pub type Bytes = std::sync::Arc<[u8]>;
}

impl MemoryPieceStore {
    /// Adds or replaces a piece. The bytes are not checked against `cid`.
    pub fn insert(&self, cid: PieceCid, data: Vec<u8>) {
        self.pieces
            .write()
            .expect("piece map poisoned")
            .insert(cid, data.into());
    }
}

#[async_trait]
impl PieceStore for MemoryPieceStore {
    async fn get(&self, cid: &PieceCid) -> Result<PieceReader, PieceStoreError> {
        let data = self
            .pieces
            .read()
            .expect("piece map poisoned")
            .get(cid)
            .cloned()
            .ok_or_else(|| PieceStoreError::NotFound(cid.to_string()))?;
        Ok(Box::pin(std::io::Cursor::new(data)))
    }
}
