//! The local stages that write the sector's files sync them (file and
//! directory) before they return. Only add_pieces and tree_d run here: they
//! need no proving parameters and take milliseconds on a 2KiB sector.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use venus_seal_core::durable::{self, Syncer};
use venus_seal_core::stage::{AddPieces, PieceSource, SectorPaths, TreeD};
use venus_seal_core::{ActorId, Executor, PaddedPieceSize, SealProof, SectorId, SectorNumber};

use super::LocalExecutor;

/// Records every sync, then performs it.
#[derive(Debug, Default)]
struct Recorder(Mutex<Vec<String>>);

impl Syncer for Recorder {
    fn sync_file(&self, path: &Path) -> std::io::Result<()> {
        self.0
            .lock()
            .unwrap()
            .push(format!("file {}", path.display()));
        durable::sync_file(path)
    }

    fn sync_dir(&self, path: &Path) -> std::io::Result<()> {
        self.0
            .lock()
            .unwrap()
            .push(format!("dir {}", path.display()));
        durable::sync_dir(path)
    }
}

impl Recorder {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn file(p: &Path) -> String {
    format!("file {}", p.display())
}

fn dir(p: &Path) -> String {
    format!("dir {}", p.display())
}

const PROOF: SealProof = SealProof::StackedDrg2KiBV1_1;

#[tokio::test]
async fn local_add_pieces_and_tree_d_sync_their_files_and_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let sector_dir: PathBuf = tmp.path().join("job-1");
    let paths = SectorPaths::under(&sector_dir);
    let recorder = Arc::new(Recorder::default());
    let exec = LocalExecutor::new().with_syncer(recorder.clone());

    let pieces = exec
        .execute(AddPieces {
            proof: PROOF,
            sector: SectorId {
                miner: ActorId(1000),
                number: SectorNumber(1),
            },
            pieces: vec![PieceSource::Zero {
                size: PaddedPieceSize(2048),
            }],
            staged: paths.staged.clone(),
        })
        .await
        .unwrap();
    assert_eq!(
        recorder.take(),
        vec![file(&paths.staged), dir(&sector_dir)],
        "add_pieces syncs the staged file, then the directory naming it"
    );

    exec.execute(TreeD {
        proof: PROOF,
        staged: paths.staged.clone(),
        cache: paths.cache.clone(),
        pieces,
    })
    .await
    .unwrap();
    let synced = recorder.take();
    let tree_files: Vec<PathBuf> = std::fs::read_dir(&paths.cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        !tree_files.is_empty(),
        "tree_d wrote the tree into the cache"
    );
    for f in &tree_files {
        assert!(synced.contains(&file(f)), "{f:?} not synced: {synced:?}");
    }
    let (cache_at, parent_at) = (
        synced.iter().position(|s| *s == dir(&paths.cache)),
        synced.iter().position(|s| *s == dir(&sector_dir)),
    );
    assert!(
        matches!((cache_at, parent_at), (Some(c), Some(p)) if c < p && c == synced.len() - 2),
        "the cache directory after its files, then the sector directory: {synced:?}"
    );
}

/// A full disk inside the proving library is Critical, not Permanent.
mod no_space {
    use venus_seal_core::{FailureLevel, Leveled};

    use super::super::computation;

    #[test]
    fn a_full_disk_inside_the_proving_library_is_critical() {
        let full = anyhow::Error::from(std::io::Error::from_raw_os_error(28))
            .context("failed to write layer 3")
            .context("pc1 failed");
        let err = computation("pc1", full);
        assert_eq!(err.level(), FailureLevel::Critical, "{err}");
        let text = err.to_string();
        assert!(text.contains("pc1") && text.contains("layer 3"), "{text}");

        let wrong = anyhow::anyhow!("invalid ticket").context("pc1 failed");
        assert_eq!(computation("pc1", wrong).level(), FailureLevel::Permanent);
    }
}
