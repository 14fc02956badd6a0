//! The [`PieceStore`] suite: every piece reads back exactly (whole, from
//! several offsets, past its end), its size is right, a missing piece is
//! `NotFound` naming its CID, and concurrent reads all succeed; for a
//! verifying store, a piece whose bytes do not match its CID fails with
//! `BadPiece`.
//!
//! Build the pieces with [`TestPieces::new`] (given the PieceCID function:
//! venus-seal-backends passes the real commitment, the core's own tests a
//! stand-in, since [`MemoryPieceStore`] never checks), put them into the
//! store under test its own way ([`TestPieces::write_to_dir`],
//! [`TestPieces::insert_into`], [`TestPieces::files`]), then run
//! [`piece_store`] on it, also through `Arc<dyn>` and `Box<dyn>`.

use std::sync::Arc;

use tokio::io::AsyncReadExt;

use crate::error::PieceStoreError;
use crate::piece_store::{MemoryPieceStore, PieceStore};
use crate::types::commitment::PieceCid;

/// Pieces for a conformance run: good ones (their bytes have their
/// PieceCID), one whose bytes do not match its PieceCID, and a PieceCID
/// the store does not hold.
#[derive(Clone, Debug)]
pub struct TestPieces {
    /// Pieces whose bytes have their PieceCID: sizes from one byte to
    /// more than one read chunk.
    pub good: Vec<(PieceCid, Vec<u8>)>,
    /// A PieceCID stored with bytes that are not its piece.
    pub bad: (PieceCid, Vec<u8>),
    /// A PieceCID the store must not hold.
    pub missing: PieceCid,
}

fn bytes(seed: u32, len: usize) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(31).wrapping_add(seed * 7) % 251) as u8)
        .collect()
}

impl TestPieces {
    /// Fresh pieces (deterministic bytes, so repeated runs agree), each
    /// named by `commit(bytes)`.
    pub fn new(commit: impl Fn(&[u8]) -> PieceCid) -> Self {
        let piece = |seed, len| {
            let data = bytes(seed, len);
            (commit(&data), data)
        };
        let good = [
            (1, 1),
            (2, 127),
            (3, 508),
            (4, 1000),
            (5, 2032),
            (6, 70_000),
        ]
        .into_iter()
        .map(|(seed, len)| piece(seed, len))
        .collect();
        let (bad_cid, _) = piece(7, 600);
        let (_, other_bytes) = piece(8, 600);
        let (missing, _) = piece(9, 300);
        Self {
            good,
            bad: (bad_cid, other_bytes),
            missing,
        }
    }

    /// Pieces named by a stand-in for the PieceCID (a digest of the bytes,
    /// not a commitment): for stores that never check the bytes.
    pub fn with_stand_in_cids() -> Self {
        Self::new(|data| {
            let mut cid = [0u8; 32];
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for (i, chunk) in cid.chunks_mut(8).enumerate() {
                for b in data.iter().chain(&[i as u8]) {
                    h = (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
                }
                chunk.copy_from_slice(&h.to_le_bytes());
            }
            cid[31] &= 0x3f;
            crate::CommD(cid)
        })
    }

    /// Every piece to store, as (file name, bytes): good ones alternately
    /// named `<cid>` and `<cid>.car`, and the bad one.
    pub fn files(&self) -> Vec<(String, &[u8])> {
        self.good
            .iter()
            .chain([&self.bad])
            .enumerate()
            .map(|(i, (cid, data))| {
                let name = if i % 2 == 0 {
                    cid.to_string()
                } else {
                    format!("{cid}.car")
                };
                (name, &data[..])
            })
            .collect()
    }

    /// Writes [`files`](Self::files) into `dir`.
    pub fn write_to_dir(&self, dir: &std::path::Path) {
        std::fs::create_dir_all(dir).expect("creating the piece directory");
        for (name, data) in self.files() {
            std::fs::write(dir.join(name), data).expect("writing a test piece");
        }
    }

    /// Inserts every piece (the bad one too) into `store`.
    pub fn insert_into(&self, store: &MemoryPieceStore) {
        for (cid, data) in self.good.iter().chain([&self.bad]) {
            store.insert(*cid, data.clone());
        }
    }
}

async fn read_all(
    store: &dyn PieceStore,
    cid: &PieceCid,
    offset: u64,
) -> Result<Vec<u8>, PieceStoreError> {
    let mut reader = store.get_range(cid, offset).await?;
    let mut buf = Vec::new();
    reader.read_to_end(&mut buf).await?;
    Ok(buf)
}

/// Checks `store`, which holds `pieces`, against the [`PieceStore`]
/// contract, panicking on the first deviation: every good piece reads
/// back exactly (whole, from several offsets, past its end), its size is
/// right, a missing piece is `NotFound` naming its CID (from all three
/// methods), and concurrent reads of every piece at once all succeed.
pub async fn piece_store(store: Arc<dyn PieceStore>, pieces: &TestPieces) {
    let name = format!("{store:?}");
    for (cid, data) in &pieces.good {
        let len = data.len() as u64;
        let mut got = store
            .get(cid)
            .await
            .unwrap_or_else(|e| panic!("{name}: get({cid}) failed: {e}"));
        let mut buf = Vec::new();
        got.read_to_end(&mut buf)
            .await
            .unwrap_or_else(|e| panic!("{name}: reading {cid} failed: {e}"));
        assert!(buf == *data, "{name}: {cid} reads back different bytes");
        let size = store
            .size(cid)
            .await
            .unwrap_or_else(|e| panic!("{name}: size({cid}) failed: {e}"));
        assert_eq!(size, len, "{name}: size of {cid}");
        for offset in [0, 1, len / 2, len, len + 5] {
            let got = read_all(&*store, cid, offset)
                .await
                .unwrap_or_else(|e| panic!("{name}: get_range({cid}, {offset}) failed: {e}"));
            let want = &data[(offset.min(len) as usize)..];
            assert!(got == want, "{name}: {cid} from byte {offset} differs");
        }
    }

    let missing = &pieces.missing;
    for result in [
        store.get(missing).await.map(drop),
        store.size(missing).await.map(drop),
        store.get_range(missing, 5).await.map(drop),
    ] {
        match result {
            Err(PieceStoreError::NotFound(msg)) => {
                assert!(msg.contains(&missing.to_string()), "{name}: {msg}")
            }
            other => panic!("{name}: a missing piece: want NotFound, got {other:?}"),
        }
    }

    concurrent_reads(&name, &store, pieces).await;
}

/// Checks a store that verifies bytes against their PieceCID while they
/// stream (venus-seal-backends' `VerifyingPieceStore` around a store
/// holding `pieces`): good pieces read back whole, the bad one fails its
/// read with `BadPiece` naming the CID and what was computed, concurrent
/// verified reads all succeed.
pub async fn verifying_piece_store(verified: Arc<dyn PieceStore>, pieces: &TestPieces) {
    let name = format!("{verified:?}");
    for (cid, data) in &pieces.good {
        let got = read_all(&*verified, cid, 0)
            .await
            .unwrap_or_else(|e| panic!("{name}: verified read of {cid} failed: {e}"));
        assert!(
            got == *data,
            "{name}: verified {cid} reads back different bytes"
        );
    }
    let (bad, _) = &pieces.bad;
    match read_all(&*verified, bad, 0).await {
        Err(PieceStoreError::Io(e)) => match e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<PieceStoreError>())
        {
            Some(PieceStoreError::BadPiece(msg)) => assert!(
                msg.contains(&bad.to_string()) && msg.contains("have PieceCID"),
                "{name}: the BadPiece message names neither the CID nor what was computed: {msg}"
            ),
            other => panic!("{name}: a mismatching piece: want BadPiece, got {other:?} ({e})"),
        },
        other => panic!("{name}: a mismatching piece: want a BadPiece read error, got {other:?}"),
    }
    concurrent_reads(&name, &verified, pieces).await;
}

/// Reads every good piece four times over, all at once.
async fn concurrent_reads(name: &str, store: &Arc<dyn PieceStore>, pieces: &TestPieces) {
    let mut reads = tokio::task::JoinSet::new();
    for _round in 0..4 {
        for (cid, data) in pieces.good.clone() {
            let store = Arc::clone(store);
            reads.spawn(async move {
                let got = read_all(&*store, &cid, 0).await;
                (cid, data, got)
            });
        }
    }
    while let Some(joined) = reads.join_next().await {
        let (cid, data, got) = joined.expect("a concurrent read panicked");
        let got = got.unwrap_or_else(|e| panic!("{name}: concurrent read of {cid} failed: {e}"));
        assert!(got == data, "{name}: concurrent read of {cid} differs");
    }
}
