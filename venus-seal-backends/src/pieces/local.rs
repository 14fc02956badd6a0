//! [`LocalPieceStore`]: pieces as files in local (or mounted) directories.

use std::io::{self, SeekFrom};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use tokio::fs::File;
use tokio::io::AsyncSeekExt;
use venus_seal_core::{PieceCid, PieceReader, PieceStore, PieceStoreError};

/// Pieces as files named `<cid>` or `<cid>.car` in one or more
/// directories, searched in order.
///
/// A missing piece is [`PieceStoreError::NotFound`] naming the directories
/// searched; a file that exists but cannot be read (permissions, a broken
/// disk) is [`PieceStoreError::Io`] naming the path.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use venus_seal_backends::pieces::LocalPieceStore;
/// use venus_seal_core::{PieceCid, PieceStore, PieceStoreError};
/// let dir = tempfile::tempdir().unwrap();
/// let store = LocalPieceStore::new([dir.path()]);
/// let cid: PieceCid = "baga6ea4seaqpy7usqklokfx2vxuynmupslkeutzexe2uqurdg5vhtebhxqmpqmy".parse().unwrap();
/// std::fs::write(dir.path().join(format!("{cid}.car")), [1u8; 100]).unwrap();
/// assert_eq!(store.size(&cid).await.unwrap(), 100);
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct LocalPieceStore {
    dirs: Vec<PathBuf>,
}

impl LocalPieceStore {
    /// A store searching `dirs` in order.
    pub fn new(dirs: impl IntoIterator<Item = impl Into<PathBuf>>) -> Self {
        Self {
            dirs: dirs.into_iter().map(Into::into).collect(),
        }
    }

    /// The directories searched, in order.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// Opens the first `<dir>/<cid>` or `<dir>/<cid>.car` there is.
    async fn open(&self, cid: &PieceCid) -> Result<(PathBuf, File), PieceStoreError> {
        for dir in &self.dirs {
            for name in [cid.to_string(), format!("{cid}.car")] {
                let path = dir.join(name);
                match File::open(&path).await {
                    Ok(file) => return Ok((path, file)),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_error(&path, "opening", e)),
                }
            }
        }
        let searched: Vec<String> = self.dirs.iter().map(|d| d.display().to_string()).collect();
        Err(PieceStoreError::NotFound(format!(
            "{cid} (no {cid} or {cid}.car in {})",
            if searched.is_empty() {
                "any directory: none configured".to_string()
            } else {
                searched.join(", ")
            }
        )))
    }
}

fn io_error(path: &Path, what: &str, e: io::Error) -> PieceStoreError {
    PieceStoreError::Io(io::Error::new(
        e.kind(),
        format!("{what} piece file {}: {e}", path.display()),
    ))
}

#[async_trait]
impl PieceStore for LocalPieceStore {
    async fn get(&self, cid: &PieceCid) -> Result<PieceReader, PieceStoreError> {
        let (_, file) = self.open(cid).await?;
        Ok(Box::pin(file))
    }

    async fn size(&self, cid: &PieceCid) -> Result<u64, PieceStoreError> {
        let (path, file) = self.open(cid).await?;
        let meta = file
            .metadata()
            .await
            .map_err(|e| io_error(&path, "reading the size of", e))?;
        Ok(meta.len())
    }

    async fn get_range(&self, cid: &PieceCid, offset: u64) -> Result<PieceReader, PieceStoreError> {
        let (path, mut file) = self.open(cid).await?;
        file.seek(SeekFrom::Start(offset))
            .await
            .map_err(|e| io_error(&path, &format!("seeking to byte {offset} of"), e))?;
        Ok(Box::pin(file))
    }
}
