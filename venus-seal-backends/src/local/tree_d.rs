//! tree_d: build the data tree over the staged file and check CommD against
//! the pieces it should hold.

use std::fs::File;

use filecoin_proofs::constants::DefaultPieceHasher;
use filecoin_proofs::StoreConfig;
use filecoin_proofs_api::seal::compute_comm_d;
use storage_proofs_core::cache_key::CacheKey;
use storage_proofs_core::merkle::{
    create_base_merkle_tree, BinaryMerkleTree, MerkleTreeTrait as _,
};
use storage_proofs_core::util::NODE_SIZE;
use venus_seal_core::durable::Syncer;
use venus_seal_core::stage::{TreeD, TreeDOutput};
use venus_seal_core::{CommD, StageError};

use super::{computation, make_durable};
use crate::proof_type::{piece_to_api, to_api};

pub(super) fn tree_d(task: &TreeD, syncer: &dyn Syncer) -> Result<TreeDOutput, StageError> {
    super::require_file(&task.staged, "staged file")?;
    let sector_size = task.proof.sector_size().0;
    let file = File::open(&task.staged)
        .map_err(|e| StageError::io(format!("opening {}", task.staged.display()), e))?;
    let len = file
        .metadata()
        .map_err(|e| StageError::io(format!("reading {}", task.staged.display()), e))?
        .len();
    if len != sector_size {
        return Err(StageError::Computation(format!(
            "staged file {} has {len} bytes, expected the sector size {sector_size}",
            task.staged.display()
        )));
    }
    // SAFETY: the staged file belongs to this sector job; nothing else
    // writes it while tree_d runs.
    let data = unsafe { memmap2::Mmap::map(&file) }
        .map_err(|e| StageError::io(format!("mapping {}", task.staged.display()), e))?;
    std::fs::create_dir_all(&task.cache)
        .map_err(|e| StageError::io(format!("creating {}", task.cache.display()), e))?;
    let leafs = sector_size as usize / NODE_SIZE;
    let config = StoreConfig::new(&task.cache, CacheKey::CommDTree.to_string(), 0);
    let tree =
        create_base_merkle_tree::<BinaryMerkleTree<DefaultPieceHasher>>(Some(config), leafs, &data)
            .map_err(|e| computation("building tree-d", e))?;
    let root = tree.root();
    let bytes: &[u8] = root.as_ref();
    let comm_d = CommD(
        bytes
            .try_into()
            .map_err(|_| StageError::Computation("tree-d root is not 32 bytes".into()))?,
    );

    let pieces: Vec<_> = task.pieces.iter().map(piece_to_api).collect();
    let expected = compute_comm_d(to_api(task.proof), &pieces)
        .map_err(|e| computation("computing CommD from pieces", e))?;
    if expected != comm_d.0 {
        return Err(StageError::Computation(format!(
            "staged file {} does not hold its pieces: tree-d root {} but the pieces give {}",
            task.staged.display(),
            comm_d,
            CommD(expected)
        )));
    }
    drop(tree);
    make_durable(syncer, "tree_d", &[&task.cache])?;
    Ok(TreeDOutput { comm_d })
}

#[cfg(test)]
mod tests {
    use venus_seal_core::{comm_d_of_pieces, CommD, PaddedPieceSize, PieceInfo, SealProof};

    use super::*;

    /// The core's `comm_d_of_pieces` (pure SHA-256, what a chain without
    /// the proving crates checks manifests with) agrees with what the
    /// actors compute: ref-fvm's `compute_unsealed_sector_cid` pads the
    /// pieces with zero pieces to the sector's size and calls
    /// filecoin-proofs' `compute_comm_d` (ref-fvm `DefaultKernel`); here the
    /// same padding, on pieces of every size, in orders that leave gaps
    /// before a piece and at the sector's end.
    #[test]
    fn the_cores_comm_d_is_filecoin_proofs() {
        let proof = SealProof::StackedDrg2KiBV1_1;
        let piece = |n: u8, size: u64| {
            let mut comm = [n; 32];
            comm[31] &= 0b0011_1111;
            PieceInfo {
                size: PaddedPieceSize(size),
                cid: CommD(comm),
            }
        };
        let layouts: &[&[u64]] = &[
            &[2048],
            &[1024],
            &[128],
            &[128, 1024],
            &[256, 512],
            &[512, 256, 128],
            &[128, 128, 256, 1024],
            &[128, 512, 128, 256],
            &[1024, 1024],
        ];
        for sizes in layouts {
            let pieces: Vec<PieceInfo> = sizes
                .iter()
                .enumerate()
                .map(|(i, s)| piece(i as u8 + 1, *s))
                .collect();
            let mut api: Vec<_> = pieces.iter().map(piece_to_api).collect();
            // ref-fvm's padding: zero pieces from where the pieces end,
            // smallest first.
            let end = sizes
                .iter()
                .fold(0u64, |offset, size| offset.next_multiple_of(*size) + size);
            let mut rest = 2048 - end;
            while rest > 0 {
                let size = 1u64 << rest.trailing_zeros();
                let zero = venus_seal_core::types::commitment::zero_commitment(size);
                api.push(piece_to_api(&PieceInfo {
                    size: PaddedPieceSize(size),
                    cid: CommD(zero),
                }));
                rest -= size;
            }
            let theirs = compute_comm_d(to_api(proof), &api).unwrap();
            let ours = comm_d_of_pieces(&pieces, proof.sector_size().0).unwrap();
            assert_eq!(ours.0, theirs, "{sizes:?}");
        }
        let too_big = [piece(1, 1024), piece(2, 2048)];
        assert!(comm_d_of_pieces(&too_big, 2048).is_err());
        // filecoin-proofs only checks the sum of the sizes; a layout whose
        // alignment runs past the sector is refused here.
        let misfit = [piece(1, 128), piece(2, 512), piece(3, 128), piece(4, 1024)];
        assert!(comm_d_of_pieces(&misfit, 2048).is_err());
        assert!(comm_d_of_pieces(&[piece(1, 100)], 2048).is_err());
    }

    /// The unseal jobs' piece offsets (`venus_seal_core::unseal::piece_offsets`)
    /// are where filecoin-proofs' `add_piece` puts each piece: its
    /// `get_piece_start_byte` over the pieces before it.
    #[test]
    fn the_cores_piece_offsets_are_filecoin_proofs() {
        use filecoin_proofs::pieces::get_piece_start_byte;
        use filecoin_proofs::UnpaddedBytesAmount;
        let layouts: &[&[u64]] = &[
            &[2048],
            &[128, 1024],
            &[256, 512],
            &[512, 256, 128],
            &[128, 128, 256, 1024],
            &[128, 512, 128, 256],
            &[128, 256, 128, 512, 1024],
        ];
        for sizes in layouts {
            let pieces: Vec<PieceInfo> = sizes
                .iter()
                .map(|&s| PieceInfo {
                    size: PaddedPieceSize(s),
                    cid: CommD([1; 32]),
                })
                .collect();
            let ours = venus_seal_core::unseal::piece_offsets(&pieces);
            let unpadded: Vec<UnpaddedBytesAmount> = sizes
                .iter()
                .map(|s| UnpaddedBytesAmount(s / 128 * 127))
                .collect();
            for (i, offset) in ours.iter().enumerate() {
                let theirs = get_piece_start_byte(&unpadded[..i], unpadded[i]);
                assert_eq!(offset / 128 * 127, u64::from(theirs), "{sizes:?} piece {i}");
            }
        }
    }
}
