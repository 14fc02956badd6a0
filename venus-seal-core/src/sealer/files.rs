//! What the steps do on the sector's disk themselves, around the stage
//! executors: the deals' pieces fetched next to the sector before
//! add_pieces, and the marker that makes an interrupted PC2 safe to run
//! again.

use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

use super::Sealer;
use crate::error::{Failure, FailureLevel, PieceStoreError, StageError};
use crate::manager::DealInfo;
use crate::stage::{PieceSource, SectorPaths};

/// The marker written before PC2 rewrites the sealed file in place.
const PC2_MARKER: &str = ".pc2-started";

/// Where the piece of `deal` is fetched to, under the sector's `dir`.
fn piece_path(dir: &Path, deal: &DealInfo) -> PathBuf {
    dir.join(format!("piece-{}", deal.piece.cid))
}

/// Removes the pieces [`Sealer::fetch_pieces`] fetched for `deals`
/// (best effort: add_pieces has copied them).
pub(super) async fn remove_pieces(deals: &[DealInfo], dir: &Path) {
    for deal in deals {
        let _ = tokio::fs::remove_file(piece_path(dir, deal)).await;
    }
}

/// Removes the marker [`Sealer::prepare_pc2`] wrote, PC2 having finished.
pub(super) async fn pc2_finished(paths: &SectorPaths) {
    let _ = tokio::fs::remove_file(paths.cache.join(PC2_MARKER)).await;
}

impl Sealer {
    /// Creates `dir` and fetches the piece of each of `deals` into it from
    /// the piece store: the sources of add_pieces. A piece larger than its
    /// deal says is Abort.
    pub(super) async fn fetch_pieces(
        &self,
        deals: &[DealInfo],
        dir: &Path,
    ) -> Result<Vec<PieceSource>, Failure> {
        tokio::fs::create_dir_all(dir).await.map_err(|e| {
            Failure::from_error(&StageError::io(format!("creating {}", dir.display()), e))
        })?;
        let mut sources = Vec::with_capacity(deals.len());
        for deal in deals {
            let path = piece_path(dir, deal);
            let unpadded_size = self.fetch_piece(deal, &path).await?;
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

    /// PC2 rewrites the sealed file in place: if an earlier PC2 started,
    /// restore the sealed file from the staged copy first (damocles #837).
    pub(super) async fn prepare_pc2(&self, paths: &SectorPaths) -> Result<(), StageError> {
        let marker = paths.cache.join(PC2_MARKER);
        if tokio::fs::try_exists(&marker).await.unwrap_or(false) {
            tracing::warn!(sealed = %paths.sealed.display(), "an earlier PC2 was interrupted: restoring the sealed file from the staged copy");
            tokio::fs::copy(&paths.staged, &paths.sealed)
                .await
                .map_err(|e| {
                    StageError::io(
                        format!(
                            "restoring {} from {}",
                            paths.sealed.display(),
                            paths.staged.display()
                        ),
                        e,
                    )
                })?;
        }
        tokio::fs::create_dir_all(&paths.cache)
            .await
            .map_err(|e| StageError::io(format!("creating {}", paths.cache.display()), e))?;
        tokio::fs::write(&marker, b"")
            .await
            .map_err(|e| StageError::io(format!("writing {}", marker.display()), e))
    }

    /// Copies the piece of `deal` from the piece store to `path`; the
    /// number of bytes copied.
    async fn fetch_piece(&self, deal: &DealInfo, path: &Path) -> Result<u64, Failure> {
        let mut reader = self
            .pieces
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
}
