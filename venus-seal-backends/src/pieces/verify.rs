//! [`VerifyingPieceStore`]: checks a piece's bytes against its PieceCID
//! while they stream.

use std::io::{self, Read};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use venus_seal_core::{
    PaddedPieceSize, PieceCid, PieceInfo, PieceReader, PieceStore, PieceStoreError, SealProof,
};

use super::commitment::{parent, zero_commitment};
use super::piece_commitment;
use super::reader::{channel, Chunk};

/// The largest piece there is: a whole 64 GiB sector.
const LARGEST: SealProof = SealProof::StackedDrg64GiBV1_1;

/// Bytes read from the inner store at a time.
const READ_CHUNK: usize = 64 << 10;

/// A [`PieceStore`] decorator that computes the piece commitment of the
/// bytes as they stream from the inner store and fails the stream with
/// [`PieceStoreError::BadPiece`] (Abort) naming the PieceCID and what it
/// computed when they do not match.
///
/// The bytes reach the caller as they arrive; the verdict comes at the
/// end, instead of the end of the stream, so a caller that copies the
/// piece into a sector sees the error before it uses the bytes. A piece
/// matches when its bytes, zero padded to the smallest piece that holds
/// them or to any larger power of two (a deal may declare a larger piece
/// than its data needs), have the PieceCID. The length the inner store
/// reports ([`PieceStore::size`]) must be the length it sends.
///
/// [`get_range`](PieceStore::get_range) from byte 0 is verified like
/// [`get`](PieceStore::get); a later offset cannot be (the commitment
/// covers the whole piece) and passes through unverified, as do
/// [`size`](PieceStore::size) answers.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use tokio::io::AsyncReadExt;
/// use venus_seal_backends::pieces::VerifyingPieceStore;
/// use venus_seal_core::{MemoryPieceStore, PieceStore, PieceStoreError, SealProof};
/// let data = vec![7u8; 300];
/// let piece = venus_seal_backends::piece_commitment(SealProof::StackedDrg2KiBV1_1, &data[..], 300).unwrap();
/// let inner = MemoryPieceStore::default();
/// inner.insert(piece.cid, vec![8u8; 300]); // not the bytes of that PieceCID
/// let store = VerifyingPieceStore::new(inner);
/// let mut buf = Vec::new();
/// let err = store.get(&piece.cid).await.unwrap().read_to_end(&mut buf).await.unwrap_err();
/// assert!(err.to_string().contains(&piece.cid.to_string()));
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct VerifyingPieceStore<S> {
    inner: S,
}

impl<S: PieceStore> VerifyingPieceStore<S> {
    /// Verifies every piece `inner` serves.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }

    /// The store being verified.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

#[async_trait]
impl<S: PieceStore> PieceStore for VerifyingPieceStore<S> {
    async fn get(&self, cid: &PieceCid) -> Result<PieceReader, PieceStoreError> {
        let size = self.inner.size(cid).await?;
        if size == 0 {
            return Err(PieceStoreError::BadPiece(format!(
                "piece {cid} is empty (0 bytes)"
            )));
        }
        if PaddedPieceSize::for_unpadded(size).0 > LARGEST.sector_size().0 {
            return Err(PieceStoreError::BadPiece(format!(
                "piece {cid} has {size} bytes, more than any sector holds"
            )));
        }
        let reader = self.inner.get(cid).await?;
        let (tx, out) = channel();
        tokio::spawn(pump(*cid, size, reader, tx));
        Ok(Box::pin(out))
    }

    async fn size(&self, cid: &PieceCid) -> Result<u64, PieceStoreError> {
        self.inner.size(cid).await
    }

    async fn get_range(&self, cid: &PieceCid, offset: u64) -> Result<PieceReader, PieceStoreError> {
        if offset == 0 {
            self.get(cid).await
        } else {
            self.inner.get_range(cid, offset).await
        }
    }
}

fn bad(e: PieceStoreError) -> io::Error {
    io::Error::other(e)
}

/// Reads the piece, hands each chunk to the hashing thread and to the
/// caller, then sends the verdict.
async fn pump(cid: PieceCid, size: u64, mut reader: PieceReader, tx: mpsc::Sender<Chunk>) {
    let (hash_tx, hash_rx) = mpsc::channel::<Bytes>(16);
    let hasher = tokio::task::spawn_blocking(move || {
        piece_commitment(LARGEST, ChunkReader::new(hash_rx), size)
    });
    let mut read = 0u64;
    loop {
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        match reader.read_buf(&mut buf).await {
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
            Ok(0) => break,
            Ok(n) => {
                read += n as u64;
                if read > size {
                    let _ = tx
                        .send(Err(bad(PieceStoreError::BadPiece(format!(
                            "piece {cid}: the store said {size} bytes but sent more"
                        )))))
                        .await;
                    return;
                }
                let chunk = buf.freeze();
                // A hasher that stopped early reports why when joined.
                let _ = hash_tx.send(chunk.clone()).await;
                if tx.send(Ok(Some(chunk))).await.is_err() {
                    return; // the caller went away
                }
            }
        }
    }
    drop(hash_tx);
    if read < size {
        let _ = tx
            .send(Err(bad(PieceStoreError::BadPiece(format!(
                "piece {cid}: the store said {size} bytes but sent {read}"
            )))))
            .await;
        return;
    }
    let verdict = match hasher.await {
        Ok(Ok(computed)) => check(&cid, size, &computed),
        Ok(Err(e)) => Err(PieceStoreError::BadPiece(format!(
            "piece {cid}: computing its commitment failed: {e}"
        ))),
        Err(e) => Err(PieceStoreError::BadPiece(format!(
            "piece {cid}: the commitment task failed: {e}"
        ))),
    };
    let _ = tx.send(verdict.map(|()| None).map_err(bad)).await;
}

/// Whether `computed` (the commitment of `size` bytes zero padded to the
/// smallest piece) is `expected`, also once zero padded to any larger
/// piece up to a 64 GiB sector.
fn check(expected: &PieceCid, size: u64, computed: &PieceInfo) -> Result<(), PieceStoreError> {
    let mut comm = computed.cid.0;
    let mut padded = computed.size.0;
    let mut zeros = zero_commitment(padded);
    loop {
        if comm == expected.0 {
            return Ok(());
        }
        if padded >= LARGEST.sector_size().0 {
            break;
        }
        comm = parent(&comm, &zeros);
        zeros = parent(&zeros, &zeros);
        padded *= 2;
    }
    Err(PieceStoreError::BadPiece(format!(
        "piece {expected}: its {size} bytes have PieceCID {} ({} padded bytes), not {expected}",
        computed.cid, computed.size.0
    )))
}

/// A blocking [`Read`] over the chunks the pump sends.
struct ChunkReader {
    rx: mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl ChunkReader {
    fn new(rx: mpsc::Receiver<Bytes>) -> Self {
        Self {
            rx,
            current: Bytes::new(),
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = self.current.len().min(buf.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        bytes::Buf::advance(&mut self.current, n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_piece_zero_padded_to_a_larger_size_matches() {
        let data = [3u8; 200];
        let small = piece_commitment(LARGEST, &data[..], 200).unwrap();
        assert_eq!(small.size.0, 256);
        // The same bytes as a 1024-byte piece (a deal declaring more room).
        let padded: Vec<u8> = data
            .iter()
            .copied()
            .chain(std::iter::repeat(0))
            .take(1016)
            .collect();
        let big = piece_commitment(LARGEST, &padded[..], 1016).unwrap();
        assert_eq!(big.size.0, 1024);
        check(&big.cid, 200, &small).unwrap();
        check(&small.cid, 200, &small).unwrap();
        let other = piece_commitment(LARGEST, &[4u8; 200][..], 200).unwrap();
        let err = check(&other.cid, 200, &small).unwrap_err().to_string();
        assert!(
            err.contains(&other.cid.to_string()) && err.contains(&small.cid.to_string()),
            "{err}"
        );
    }
}
