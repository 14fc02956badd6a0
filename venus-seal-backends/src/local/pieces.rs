//! add_pieces: write pieces into the staged file with fr32 padding,
//! alignment and zero fillers, computing each piece's commitment
//! (a piece's commitment alone is [`crate::piece_commitment`]).

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::Path;

use filecoin_proofs_api::seal::add_piece;
use filecoin_proofs_api::UnpaddedBytesAmount;
use venus_seal_core::durable::Syncer;
use venus_seal_core::stage::{AddPieces, PieceSource};
use venus_seal_core::{PaddedPieceSize, PieceInfo, SealProof, StageError};

use super::{computation, make_durable};
use crate::pieces::check_fits;
use crate::proof_type::{piece_from_api, to_api};

/// Zero pieces filling `unpadded` remaining bytes, smallest first, as
/// Lotus' `fillersFromRem` does.
fn fillers(unpadded: u64) -> Vec<PaddedPieceSize> {
    let padded = unpadded / 127 * 128;
    (0..64)
        .map(|bit| 1u64 << bit)
        .filter(|b| padded & b != 0)
        .map(PaddedPieceSize)
        .collect()
}

/// The staged file being written, with what filecoin-proofs needs to align
/// the next piece.
struct Staged {
    file: File,
    proof: SealProof,
    lengths: Vec<UnpaddedBytesAmount>,
    written: u64,
}

impl Staged {
    fn write(&mut self, reader: impl Read, size: PaddedPieceSize) -> Result<PieceInfo, StageError> {
        let piece_size = UnpaddedBytesAmount(size.unpadded());
        let (info, n) = add_piece(
            to_api(self.proof),
            reader,
            &mut self.file,
            piece_size,
            &self.lengths,
        )
        .map_err(|e| computation("add_piece", e))?;
        self.lengths.push(piece_size);
        self.written += n.0;
        let capacity = self.proof.sector_size().unpadded();
        if self.written > capacity {
            return Err(StageError::InvalidTask(format!(
                "pieces need {} bytes with alignment but a {} sector holds {capacity}",
                self.written,
                self.proof.sector_size()
            )));
        }
        Ok(piece_from_api(&info))
    }

    fn write_zeros(&mut self, size: PaddedPieceSize) -> Result<PieceInfo, StageError> {
        self.write(io::repeat(0).take(size.unpadded()), size)
    }
}

pub(super) fn add_pieces(
    task: &AddPieces,
    syncer: &dyn Syncer,
) -> Result<Vec<PieceInfo>, StageError> {
    if let Some(dir) = task.staged.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| StageError::io(format!("creating {}", dir.display()), e))?;
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&task.staged)
        .map_err(|e| {
            StageError::io(format!("creating staged file {}", task.staged.display()), e)
        })?;
    let mut staged = Staged {
        file,
        proof: task.proof,
        lengths: Vec::new(),
        written: 0,
    };
    let mut out = Vec::new();
    for source in &task.pieces {
        match source {
            PieceSource::Zero { size } => {
                check_fits(task.proof, *size, "zero piece")?;
                out.push(staged.write_zeros(*size)?);
            }
            PieceSource::File {
                path,
                unpadded_size,
                expected,
            } => out.push(write_file_piece(
                &mut staged,
                path,
                *unpadded_size,
                expected.as_ref(),
            )?),
        }
    }
    for size in fillers(task.proof.sector_size().unpadded() - staged.written) {
        out.push(staged.write_zeros(size)?);
    }
    drop(staged);
    // The staged file and the directory that names it.
    make_durable(syncer, "add_pieces", &[&task.staged])?;
    Ok(out)
}

fn write_file_piece(
    staged: &mut Staged,
    path: &Path,
    unpadded_size: u64,
    expected: Option<&PieceInfo>,
) -> Result<PieceInfo, StageError> {
    let size = expected
        .map(|p| p.size)
        .unwrap_or_else(|| PaddedPieceSize::for_unpadded(unpadded_size));
    check_fits(staged.proof, size, &format!("piece {}", path.display()))?;
    if unpadded_size > size.unpadded() {
        return Err(StageError::InvalidTask(format!(
            "piece {} has {unpadded_size} bytes, more than a {}-byte piece holds",
            path.display(),
            size.0
        )));
    }
    let file = File::open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => StageError::Missing(format!("piece file {}", path.display())),
        _ => StageError::io(format!("opening piece {}", path.display()), e),
    })?;
    let actual_len = file
        .metadata()
        .map_err(|e| StageError::io(format!("reading piece {}", path.display()), e))?
        .len();
    if actual_len < unpadded_size {
        return Err(StageError::InvalidTask(format!(
            "piece file {} has {actual_len} bytes, expected {unpadded_size}",
            path.display()
        )));
    }
    let reader = file
        .take(unpadded_size)
        .chain(io::repeat(0).take(size.unpadded() - unpadded_size));
    let info = staged.write(reader, size)?;
    if let Some(expected) = expected {
        if info.cid != expected.cid {
            return Err(StageError::InvalidTask(format!(
                "piece {} does not match its PieceCID: expected {}, computed {}",
                path.display(),
                expected.cid,
                info.cid
            )));
        }
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fillers_cover_the_rest_in_ascending_powers() {
        assert_eq!(fillers(2032), vec![PaddedPieceSize(2048)]);
        assert_eq!(
            fillers(2032 - 127),
            vec![
                PaddedPieceSize(128),
                PaddedPieceSize(256),
                PaddedPieceSize(512),
                PaddedPieceSize(1024)
            ]
        );
        assert!(fillers(0).is_empty());
    }
}
