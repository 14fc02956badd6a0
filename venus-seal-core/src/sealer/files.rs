//! What the steps do on the sector's disk themselves, around the stage
//! executors: the deals' pieces fetched next to the sector before
//! add_pieces, the marker that makes a re-run of PC2 safe, and the fsyncs
//! that make a stage's outputs durable before the record that depends on
//! them is saved.
//!
//! # The PC2 marker
//!
//! PC1 leaves the sealed file a copy of the staged file; PC2 encodes it in
//! place. Once PC2 has started, the sealed file no longer holds what PC2
//! needs: running PC2 again over it seals the replica twice. So before PC2
//! the sealer writes (and syncs) a marker in the cache directory, and
//! before any PC2 it finds a marker, it restores the sealed file from the
//! staged copy. The marker stays as long as the sealed file holds PC2's
//! output, whole or partial: it outlives the `PC2Done` save (a crash between
//! PC2's end and that save re-runs PC2) and every later state, so an
//! operator's `resume --state PC1Done` after a finished PC2 restores the
//! sealed file too. It goes with the cache directory: a PC1 that starts
//! over (the local executor empties the cache and copies the staged file
//! again), an abort, or the clean-up of the sealing location.

use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

use super::Sealer;
use crate::durable::sync_tree_with;
use crate::error::{Failure, FailureLevel, PieceStoreError, StageError};
use crate::manager::DealInfo;
use crate::piece_store::PieceStore;
use crate::stage::{PieceSource, SectorPaths};

/// The marker written before PC2 rewrites the sealed file in place.
pub(super) const PC2_MARKER: &str = ".pc2-started";

/// Where the piece of `deal` is fetched to, under the sector's `dir`.
fn piece_path(dir: &Path, deal: &DealInfo) -> PathBuf {
    dir.join(format!("piece-{}", deal.piece.cid))
}

/// Removes the SDR label layers from a sector's cache directory
/// (filecoin-proofs names them `sc-02-data-layer-<n>.dat`): with synthetic
/// PoRep nothing reads them once PC2 has written the synthetic proofs.
/// Best effort: a file that cannot be removed is logged and left.
pub(crate) async fn free_sdr_layers(cache: &Path) {
    let Ok(mut dir) = tokio::fs::read_dir(cache).await else {
        return;
    };
    let mut freed = 0u64;
    while let Ok(Some(entry)) = dir.next_entry().await {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !(name.starts_with("sc-02-data-layer-") && name.ends_with(".dat")) {
            continue;
        }
        let len = entry.metadata().await.map_or(0, |m| m.len());
        match tokio::fs::remove_file(entry.path()).await {
            Ok(()) => freed += len,
            Err(e) => {
                tracing::warn!(file = %entry.path().display(), error = %e, "cannot free an SDR layer")
            }
        }
    }
    if freed > 0 {
        tracing::info!(cache = %cache.display(), bytes = freed, "synthetic PoRep: SDR layers freed before the seed wait");
    }
}

/// Removes the pieces [`Sealer::fetch_pieces`] fetched for `deals`
/// (best effort: add_pieces has copied them).
pub(crate) async fn remove_pieces(deals: &[DealInfo], dir: &Path) {
    for deal in deals {
        let _ = tokio::fs::remove_file(piece_path(dir, deal)).await;
    }
}

/// Creates `dir` and fetches the piece of each of `deals` into it from
/// `store`: the sources of add_pieces. A piece larger than its deal says
/// is Abort.
pub(crate) async fn fetch_pieces(
    store: &dyn PieceStore,
    deals: &[DealInfo],
    dir: &Path,
) -> Result<Vec<PieceSource>, Failure> {
    tokio::fs::create_dir_all(dir).await.map_err(|e| {
        Failure::from_error(&StageError::io(format!("creating {}", dir.display()), e))
    })?;
    let mut sources = Vec::with_capacity(deals.len());
    for deal in deals {
        let path = piece_path(dir, deal);
        let unpadded_size = fetch_piece(store, deal, &path).await?;
        if unpadded_size > deal.piece.size.unpadded() {
            return Err(Failure::new(
                FailureLevel::Abort,
                format!(
                    "piece {} has {unpadded_size} bytes, more than its size {} allows",
                    deal.piece.cid, deal.piece.size.0
                ),
            ));
        }
        sources.push(PieceSource::File {
            path,
            unpadded_size,
            expected: Some(deal.piece),
        });
    }
    Ok(sources)
}

impl Sealer {
    /// [`fetch_pieces`] from this sealer's piece store.
    pub(super) async fn fetch_pieces(
        &self,
        deals: &[DealInfo],
        dir: &Path,
    ) -> Result<Vec<PieceSource>, Failure> {
        fetch_pieces(&*self.pieces, deals, dir).await
    }

    /// PC2 rewrites the sealed file in place: if an earlier PC2 started
    /// (interrupted, or finished and the sector moved back to `PC1Done`),
    /// restore the sealed file from the staged copy first (damocles #837);
    /// then write the marker and make it durable before PC2 touches the
    /// sealed file (see the [module docs](self)).
    pub(super) async fn prepare_pc2(&self, paths: &SectorPaths) -> Result<(), StageError> {
        let marker = paths.cache.join(PC2_MARKER);
        let io_err = |what: String| move |e| StageError::io(what, e);
        let started = tokio::fs::try_exists(&marker)
            .await
            .map_err(io_err(format!("looking for {}", marker.display())))?;
        if started {
            tracing::warn!(sealed = %paths.sealed.display(), "an earlier PC2 rewrote the sealed file: restoring it from the staged copy");
            let staged = tokio::fs::try_exists(&paths.staged)
                .await
                .map_err(io_err(format!("looking for {}", paths.staged.display())))?;
            if !staged {
                return Err(StageError::Missing(format!(
                    "an earlier PC2 rewrote the sealed file {} in place and the staged copy {} \
                     it is restored from is gone: PC2 cannot run again",
                    paths.sealed.display(),
                    paths.staged.display()
                )));
            }
            tokio::fs::copy(&paths.staged, &paths.sealed)
                .await
                .map_err(io_err(format!(
                    "restoring {} from {}",
                    paths.sealed.display(),
                    paths.staged.display()
                )))?;
        }
        tokio::fs::create_dir_all(&paths.cache)
            .await
            .map_err(io_err(format!("creating {}", paths.cache.display())))?;
        tokio::fs::write(&marker, b"")
            .await
            .map_err(io_err(format!("writing {}", marker.display())))?;
        // The marker must be on disk before PC2's first write to the sealed
        // file can be.
        let syncer = self.syncer.clone();
        let cache_parent = paths.cache.parent().map(Path::to_path_buf);
        let what = format!("syncing {}", marker.display());
        tokio::task::spawn_blocking(move || {
            sync_tree_with(&*syncer, &marker)?;
            match cache_parent {
                Some(dir) if !dir.as_os_str().is_empty() => syncer.sync_dir(&dir),
                _ => Ok(()),
            }
        })
        .await
        .map_err(|e| StageError::Computation(format!("{what} panicked: {e}")))?
        .map_err(io_err(what))
    }

    /// Makes a stage's outputs durable before the record that depends on
    /// them is saved: each of `outputs` (a file, or a directory and all it
    /// holds) and the directory naming it, then each of `dirs` (directories
    /// whose entries the stage changed). See [`crate::durable`].
    ///
    /// An output the stage did not leave on this machine's disk is skipped:
    /// an executor may keep its files elsewhere, and the stage that reads
    /// them checks they are there.
    pub(super) async fn make_durable(
        &self,
        outputs: &[&Path],
        dirs: &[&Path],
    ) -> Result<(), Failure> {
        let syncer = self.syncer.clone();
        let outputs: Vec<PathBuf> = outputs.iter().map(|p| p.to_path_buf()).collect();
        let dirs: Vec<PathBuf> = dirs.iter().map(|p| p.to_path_buf()).collect();
        tokio::task::spawn_blocking(move || {
            let skip_missing = |path: &Path, r: std::io::Result<()>| match r {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !path.exists() => {
                    tracing::debug!(path = %path.display(), "no such output on this disk: not synced");
                    Ok(())
                }
                r => r.map_err(|e| StageError::io(format!("syncing {}", path.display()), e)),
            };
            for path in &outputs {
                skip_missing(path, sync_tree_with(&*syncer, path))?;
            }
            for dir in &dirs {
                skip_missing(dir, syncer.sync_dir(dir))?;
            }
            Ok::<(), StageError>(())
        })
        .await
        .map_err(|e| Failure::new(FailureLevel::Critical, format!("syncing stage outputs panicked: {e}")))?
        .map_err(|e| Failure::from_error(&e))
    }
}

/// Copies the piece of `deal` from the piece store to `path`; the
/// number of bytes copied.
async fn fetch_piece(store: &dyn PieceStore, deal: &DealInfo, path: &Path) -> Result<u64, Failure> {
    let mut reader = store
        .get(&deal.piece.cid)
        .await
        .map_err(|e| Failure::from_error(&e))?;
    let io = |what: &str, e: std::io::Error| {
        Failure::from_error(&StageError::io(format!("{what} {}", path.display()), e))
    };
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| io("creating", e))?;
    let written = tokio::io::copy(&mut reader, &mut file).await.map_err(|e| {
        // A store that fails mid-stream says why (a piece whose bytes do
        // not match its PieceCID is Abort): keep its level.
        match e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<PieceStoreError>())
        {
            Some(cause) => Failure::from_error(cause),
            None => Failure::new(
                FailureLevel::Temporary,
                format!("fetching piece {}: {e}", deal.piece.cid),
            ),
        }
    })?;
    file.flush().await.map_err(|e| io("writing", e))?;
    Ok(written)
}
