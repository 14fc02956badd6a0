//! [`piece_commitment`]: a piece's commitment (its PieceCID) computed in
//! plain Rust, so that piece stores verify pieces without the proving
//! crates.
//!
//! The commitment is filecoin-proofs' (`generate_piece_commitment`): the
//! bytes, zero padded to a power-of-two piece, are fr32 padded (every 127
//! bytes become four 32-byte nodes of 254 bits each) and hashed into a
//! binary tree whose nodes are SHA-256 truncated to 254 bits (the top two
//! bits of the last byte cleared). With the `proofs` feature a test checks
//! every size class against filecoin-proofs itself.

use std::io::{self, Read};

use venus_seal_core::{CommD, PaddedPieceSize, PieceInfo, SealProof, StageError};

/// Unpadded bytes that fr32 padding turns into [`PADDED_CHUNK`] bytes.
const UNPADDED_CHUNK: usize = 127;
/// Four 32-byte nodes.
const PADDED_CHUNK: usize = 128;
/// Unpadded bytes read at a time (a whole number of chunks).
const READ_CHUNKS: usize = 512;

/// The commitment (PieceCID) of `unpadded_size` bytes from `data`, zero
/// padded to the smallest piece that holds them, as a deal client computes
/// it.
///
/// Errors: [`StageError::InvalidTask`] when the piece is larger than a
/// `proof` sector or `data` ends before `unpadded_size` bytes; a failing
/// read is an I/O error.
///
/// ```
/// use venus_seal_core::SealProof;
/// let data = vec![7u8; 1000];
/// let piece = venus_seal_backends::piece_commitment(
///     SealProof::StackedDrg2KiBV1_1, &data[..], data.len() as u64).unwrap();
/// assert_eq!(piece.size.0, 1024);
/// ```
pub fn piece_commitment<R: Read>(
    proof: SealProof,
    data: R,
    unpadded_size: u64,
) -> Result<PieceInfo, StageError> {
    let size = PaddedPieceSize::for_unpadded(unpadded_size);
    check_fits(proof, size, "piece")?;
    let mut reader = data
        .take(unpadded_size)
        .chain(io::repeat(0).take(size.unpadded() - unpadded_size));
    let mut tree = Tree::default();
    let mut buf = vec![0u8; UNPADDED_CHUNK * READ_CHUNKS];
    let mut padded = [0u8; PADDED_CHUNK];
    let mut done = 0u64;
    while done < size.unpadded() {
        // size.unpadded() is a multiple of 127, and so is every read.
        let n = (size.unpadded() - done).min(buf.len() as u64) as usize;
        reader
            .read_exact(&mut buf[..n])
            .map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => StageError::InvalidTask(format!(
                    "piece data ended before its {unpadded_size} bytes"
                )),
                _ => StageError::io("reading piece data", e),
            })?;
        for chunk in buf[..n].chunks_exact(UNPADDED_CHUNK) {
            fr32_pad(chunk, &mut padded);
            for node in padded.chunks_exact(32) {
                tree.push(node.try_into().expect("32-byte node"));
            }
        }
        done += n as u64;
    }
    Ok(PieceInfo {
        size,
        cid: CommD(tree.root()),
    })
}

/// Fails with [`StageError::InvalidTask`] unless `size` is a valid piece
/// size that fits a `proof` sector; `what` names the piece in the message.
pub(crate) fn check_fits(
    proof: SealProof,
    size: PaddedPieceSize,
    what: &str,
) -> Result<(), StageError> {
    size.validate()
        .map_err(|e| StageError::InvalidTask(e.to_string()))?;
    if size.0 > proof.sector_size().0 {
        return Err(StageError::InvalidTask(format!(
            "{what} of {} padded bytes is larger than the {} sector",
            size.0,
            proof.sector_size()
        )));
    }
    Ok(())
}

/// fr32 padding of 127 bytes into 128: four runs of 254 bits (bits in
/// little-endian order), each followed by two zero bits.
fn fr32_pad(input: &[u8], out: &mut [u8; PADDED_CHUNK]) {
    debug_assert_eq!(input.len(), UNPADDED_CHUNK);
    out[..31].copy_from_slice(&input[..31]);
    out[31] = input[31] & 0x3f;
    // Each later node starts `shift` bits into an input byte.
    let mut carry = input[31] >> 6;
    for (start, shift) in [(32, 2), (64, 4), (96, 6)] {
        let end = (start + 32).min(UNPADDED_CHUNK);
        for i in start..end {
            out[i] = (input[i] << shift) | carry;
            carry = input[i] >> (8 - shift);
        }
        if end == UNPADDED_CHUNK {
            out[127] = carry;
        } else {
            // The node's last byte keeps 6 bits; the rest carries on.
            carry = input[end - 1] >> (6 - shift);
        }
        out[start + 31] &= 0x3f;
    }
}

/// A binary tree built leaf by leaf, keeping one pending node per level.
#[derive(Default)]
struct Tree {
    levels: Vec<Option<[u8; 32]>>,
}

impl Tree {
    fn push(&mut self, mut node: [u8; 32]) {
        for slot in self.levels.iter_mut() {
            match slot.take() {
                Some(left) => node = parent(&left, &node),
                None => {
                    *slot = Some(node);
                    return;
                }
            }
        }
        self.levels.push(Some(node));
    }

    /// The root, once a power of two of leaves went in.
    fn root(self) -> [u8; 32] {
        debug_assert!(self.levels[..self.levels.len() - 1]
            .iter()
            .all(Option::is_none));
        self.levels.last().copied().flatten().expect("a leaf")
    }
}

pub(crate) use venus_seal_core::types::commitment::{data_tree_parent as parent, zero_commitment};

#[cfg(test)]
#[path = "commitment_tests.rs"]
mod tests;
