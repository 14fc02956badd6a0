//! Where deal data comes from.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::error::PieceStoreError;
use crate::types::commitment::PieceCid;

/// A stream of a piece's raw (unpadded) bytes.
pub type PieceReader = Pin<Box<dyn AsyncRead + Send>>;

/// Fetches pieces by their PieceCID.
///
/// Implementations: [`MemoryPieceStore`] (always compiled, for tests and
/// doctests); local directories, HTTP and object stores, and a decorator
/// that verifies the bytes against the PieceCID while they stream, in
/// venus-seal-backends (`pieces`).
///
/// Only [`get`](Self::get) is required. [`size`](Self::size) and
/// [`get_range`](Self::get_range) have defaults that are never wrong, only
/// slow (they read the piece through `get`); stores that can answer them
/// directly override them. Wrappers must forward all three.
#[async_trait]
pub trait PieceStore: Send + Sync + std::fmt::Debug {
    /// Opens the piece for reading. The caller checks its bytes against the
    /// commitment while writing them into a sector.
    async fn get(&self, cid: &PieceCid) -> Result<PieceReader, PieceStoreError>;

    /// The piece's length in bytes, as stored (unpadded). Default: reads
    /// the whole piece through [`get`](Self::get) and counts.
    async fn size(&self, cid: &PieceCid) -> Result<u64, PieceStoreError> {
        let mut reader = self.get(cid).await?;
        Ok(tokio::io::copy(&mut reader, &mut tokio::io::sink()).await?)
    }

    /// Opens the piece at byte `offset` (an offset at or past its end reads
    /// nothing). Default: [`get`](Self::get), skipping `offset` bytes.
    async fn get_range(&self, cid: &PieceCid, offset: u64) -> Result<PieceReader, PieceStoreError> {
        let mut reader = self.get(cid).await?;
        tokio::io::copy(&mut (&mut reader).take(offset), &mut tokio::io::sink()).await?;
        Ok(reader)
    }
}

crate::forward::forward_impls! {
    impl[] PieceStore {
        async fn get(&self, cid: &PieceCid) -> Result<PieceReader, PieceStoreError>;
        async fn size(&self, cid: &PieceCid) -> Result<u64, PieceStoreError>;
        async fn get_range(&self, cid: &PieceCid, offset: u64) -> Result<PieceReader, PieceStoreError>;
    }
}

fn _assert_dyn(_: Arc<dyn PieceStore>) {}

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

impl MemoryPieceStore {
    fn bytes(&self, cid: &PieceCid) -> Result<bytes_arc::Bytes, PieceStoreError> {
        self.pieces
            .read()
            .expect("piece map poisoned")
            .get(cid)
            .cloned()
            .ok_or_else(|| PieceStoreError::NotFound(cid.to_string()))
    }
}

#[async_trait]
impl PieceStore for MemoryPieceStore {
    async fn get(&self, cid: &PieceCid) -> Result<PieceReader, PieceStoreError> {
        Ok(Box::pin(std::io::Cursor::new(self.bytes(cid)?)))
    }

    async fn size(&self, cid: &PieceCid) -> Result<u64, PieceStoreError> {
        Ok(self.bytes(cid)?.len() as u64)
    }

    async fn get_range(&self, cid: &PieceCid, offset: u64) -> Result<PieceReader, PieceStoreError> {
        let mut cursor = std::io::Cursor::new(self.bytes(cid)?);
        cursor.set_position(offset);
        Ok(Box::pin(cursor))
    }
}
