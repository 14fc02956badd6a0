//! Fake sealing stages that write a sector's files as the real ones do, so
//! that a test can check what a crash leaves on disk.
//!
//! add_pieces writes the staged file, tree_d a tree in the cache, PC1
//! copies the staged file to the sealed file, PC2 encodes the sealed file
//! in place (refusing one that is not PC1's copy: the real PC2 would seal
//! it twice), C1 reads the sealed file (refusing one that is not PC2's
//! output) and persist copies it to a persistent directory. Their answers
//! are those of [`fake_stage_executors`], so the fake manager and a devnet
//! with [`FakeProofVerifier`](super::FakeProofVerifier) accept the proofs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::StageError;
use crate::executor::{DynExecutor, Executor};
use crate::sealer::StageExecutors;
use crate::stage::{AddPieces, Pc1, Pc2, Persist, Stage, TreeD, C1};
use crate::types::ids::SectorId;

use super::{fake_stage_executors, FakeExecutor, FakeStages};

/// What the fake add_pieces writes into the staged file (and PC1 copies to
/// the sealed file).
pub const STAGED_DATA: &[u8] = b"sector data";

/// What the fake PC2 turns the sealed file into.
pub const REPLICA_DATA: &[u8] = b"replica of sector data";

/// Where the fake persist stage puts `sector`'s sealed file under `root`.
pub fn persisted_sealed(root: &Path, sector: SectorId) -> PathBuf {
    root.join(sector.to_string()).join("sealed")
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), StageError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| StageError::io(format!("fake: creating {}", dir.display()), e))?;
    }
    std::fs::write(path, bytes)
        .map_err(|e| StageError::io(format!("fake: writing {}", path.display()), e))
}

fn read(path: &Path, stage: &str) -> Result<Vec<u8>, StageError> {
    std::fs::read(path)
        .map_err(|e| StageError::io(format!("fake {stage}: reading {}", path.display()), e))
}

/// A stage's work on disk.
type WorkFn<S> = dyn Fn(&S) -> Result<(), StageError> + Send + Sync;

/// A fake whose work on disk (`work`) runs before the plain fake's answer.
struct OnDisk<S: Stage> {
    work: Box<WorkFn<S>>,
    inner: Arc<FakeExecutor<S>>,
}

impl<S: Stage> std::fmt::Debug for OnDisk<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OnDisk<{}>", S::NAME)
    }
}

#[async_trait]
impl<S: Stage> Executor<S> for OnDisk<S> {
    async fn execute(&self, task: S) -> Result<S::Output, StageError> {
        (self.work)(&task)?;
        self.inner.execute(task).await
    }
}

fn on_disk<S: Stage>(
    inner: &Arc<FakeExecutor<S>>,
    work: impl Fn(&S) -> Result<(), StageError> + Send + Sync + 'static,
) -> DynExecutor<S> {
    Arc::new(OnDisk {
        work: Box::new(work),
        inner: inner.clone(),
    })
}

/// The fakes of [`fake_stage_executors`] with add_pieces, tree_d, pc1,
/// pc2, c1 and persist also doing their work on disk (see the [module
/// docs](self)); persist copies the sealed file to
/// [`persisted_sealed`]`(persist_root, sector)`. The [`FakeStages`] are the
/// plain fakes that answer (their knobs and call counts apply).
pub fn file_writing_stages(persist_root: &Path) -> (StageExecutors, FakeStages) {
    let (plain, fakes) = fake_stage_executors();
    let root = persist_root.to_path_buf();
    let executors = StageExecutors {
        add_pieces: on_disk(&fakes.add_pieces, |t: &AddPieces| {
            write(&t.staged, STAGED_DATA)
        }),
        tree_d: on_disk(&fakes.tree_d, |t: &TreeD| {
            write(&t.cache.join("tree-d"), b"d")
        }),
        pc1: on_disk(&fakes.pc1, |t: &Pc1| {
            let staged = read(&t.paths.staged, "pc1")?;
            write(&t.paths.sealed, &staged)?;
            write(&t.paths.cache.join("layer-1"), b"l")
        }),
        pc2: on_disk(&fakes.pc2, |t: &Pc2| {
            let sealed = read(&t.paths.sealed, "pc2")?;
            if sealed != STAGED_DATA {
                return Err(StageError::Computation(format!(
                    "sealed file {} is not PC1's copy of the staged file (it holds {:?}): \
                     PC2 would encode it twice",
                    t.paths.sealed.display(),
                    String::from_utf8_lossy(&sealed)
                )));
            }
            write(&t.paths.sealed, REPLICA_DATA)?;
            write(&t.paths.cache.join("tree-r-last"), b"r")
        }),
        c1: on_disk(&fakes.c1, |t: &C1| {
            let sealed = read(&t.paths.sealed, "c1")?;
            if sealed != REPLICA_DATA {
                return Err(StageError::Computation(format!(
                    "sealed file {} is not PC2's replica (it holds {:?})",
                    t.paths.sealed.display(),
                    String::from_utf8_lossy(&sealed)
                )));
            }
            Ok(())
        }),
        c2: plain.c2,
        persist: on_disk(&fakes.persist, move |t: &Persist| {
            let sealed = read(&t.paths.sealed, "persist")?;
            write(&persisted_sealed(&root, t.sector), &sealed)
        }),
    };
    (executors, fakes)
}
