//! The conformance suite every [`PieceStore`] passes (feature `testing`).
//!
//! Build the pieces with [`TestPieces::new`], put them into the store
//! under test (its own way: [`TestPieces::write_to_dir`] for directories,
//! [`TestPieces::put_to`] for object stores, [`TestPieces::files`] for
//! anything else), then run [`conformance`] on the store, also through
//! `Arc<dyn PieceStore>` wrappers.

use std::sync::Arc;

use futures_util::future::join_all;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tokio::io::AsyncReadExt;
use venus_seal_core::{PieceCid, PieceStore, PieceStoreError, SealProof};

use super::VerifyingPieceStore;
use crate::piece_commitment;

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

fn piece(seed: u32, len: usize) -> (PieceCid, Vec<u8>) {
    let data: Vec<u8> = (0..len as u32)
        .map(|i| (i.wrapping_mul(31).wrapping_add(seed * 7) % 251) as u8)
        .collect();
    let cid = piece_commitment(SealProof::StackedDrg64GiBV1_1, &data[..], len as u64)
        .expect("commitment of a test piece")
        .cid;
    (cid, data)
}

impl TestPieces {
    /// Fresh pieces (deterministic bytes, so repeated runs agree).
    pub fn new() -> Self {
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

    /// Puts [`files`](Self::files) under `prefix` in `store`.
    pub async fn put_to(&self, store: &dyn ObjectStore, prefix: &ObjectPath) {
        for (name, data) in self.files() {
            store
                .put(
                    &prefix.clone().join(name.as_str()),
                    PutPayload::from(data.to_vec()),
                )
                .await
                .expect("putting a test piece");
        }
    }
}

impl Default for TestPieces {
    fn default() -> Self {
        Self::new()
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
/// contract, panicking on the first deviation: every piece reads back
/// exactly (whole, from several offsets, past its end), its size is
/// right, a missing piece is NotFound naming its CID, the bad piece fails
/// through [`VerifyingPieceStore`] with BadPiece naming its CID and what
/// was computed, and concurrent reads (plain and verified) all succeed.
pub async fn conformance(store: Arc<dyn PieceStore>, pieces: &TestPieces) {
    let name = format!("{store:?}");
    for (cid, data) in &pieces.good {
        let len = data.len() as u64;
        let got = store
            .get(cid)
            .await
            .unwrap_or_else(|e| panic!("{name}: get({cid}) failed: {e}"));
        let mut buf = Vec::new();
        let mut got = got;
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

    let verified: Arc<dyn PieceStore> = Arc::new(VerifyingPieceStore::new(store.clone()));
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

    // Concurrent reads, plain and verified, of every piece at once.
    let reads = (0..4).flat_map(|round| {
        let store = if round % 2 == 0 {
            store.clone()
        } else {
            verified.clone()
        };
        pieces.good.iter().map(move |(cid, data)| {
            let store = store.clone();
            async move {
                let got = read_all(&*store, cid, 0).await;
                (cid, data, got)
            }
        })
    });
    for (cid, data, got) in join_all(reads).await {
        let got = got.unwrap_or_else(|e| panic!("{name}: concurrent read of {cid} failed: {e}"));
        assert!(got == *data, "{name}: concurrent read of {cid} differs");
    }
}
