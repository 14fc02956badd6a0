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
