//! [`LocalPersistStore`]: a local or mounted directory.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tracing::{debug, info};
use venus_seal_core::persist_store::PersistStoreError;

use super::digest::{digest_file, Hasher, BUF_SIZE};
use super::{check_key, PersistStore};

/// A persistent store in a directory (local disk or a mount), holding
/// files at `dir/<key>`.
///
/// Each file is written to a temporary name beside its destination,
/// fsync'd, re-read and checked against the source, and only then renamed
/// into place: the final name never holds a partial or unverified file.
/// A full disk or another write failure is [`PersistStoreError::Io`] (Critical)
/// naming the file; a missing `dir` (an unmounted share) is
/// [`PersistStoreError::Unavailable`].
///
/// Temporary copies left behind by a crash (`.<file>.partial-<hex>`) are
/// removed when the store is first used (its first `available` or
/// `put_file`) or [`sweep_leftovers`](Self::sweep_leftovers) is called
/// (the worker does at boot), once they are [`STALE_PARTIAL_AGE`] old: a temporary copy
/// written to more recently may belong to another worker sharing the
/// directory. [`remove_partials`](Self::remove_partials) does it on demand.
#[derive(Clone, Debug)]
pub struct LocalPersistStore {
    /// The store's name (the instance reported to the manager).
    pub name: String,
    /// The directory holding the files; it must exist.
    pub dir: PathBuf,
    /// Bytes to keep free: [`PersistStore::available`] reports the
    /// filesystem's free space less this.
    pub reserved_bytes: u64,
    /// Whether the leftovers were swept (shared by clones).
    swept: Arc<Once>,
}

/// A temporary copy not written to for this long is a leftover of a
/// crashed copy (a live copy writes continuously).
pub const STALE_PARTIAL_AGE: Duration = Duration::from_secs(15 * 60);

/// Whether `name` is a temporary copy: `.<file>.partial-<16 hex digits>`.
fn is_partial(name: &str) -> bool {
    let Some((head, suffix)) = name.rsplit_once(".partial-") else {
        return false;
    };
    head.len() > 1
        && head.starts_with('.')
        && suffix.len() == 16
        && suffix.bytes().all(|b| b.is_ascii_hexdigit())
}

impl LocalPersistStore {
    /// A store named `name` in `dir`, keeping nothing in reserve.
    pub fn new(name: impl Into<String>, dir: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            dir: dir.into(),
            reserved_bytes: 0,
            swept: Arc::new(Once::new()),
        }
    }

    /// Removes the temporary copies under the store's directory that were
    /// last written more than `older_than` ago (leftovers of copies
    /// interrupted by a crash); returns how many. Blocking.
    pub fn remove_partials(&self, older_than: Duration) -> Result<u64, PersistStoreError> {
        let now = SystemTime::now();
        let mut removed = 0;
        let mut dirs = vec![self.dir.clone()];
        while let Some(dir) = dirs.pop() {
            let ctx = |e| {
                PersistStoreError::io(format!("store {}: listing {}", self.name, dir.display()), e)
            };
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(ctx(e)),
            };
            for entry in entries {
                let entry = entry.map_err(ctx)?;
                let kind = entry.file_type().map_err(ctx)?;
                if kind.is_dir() {
                    dirs.push(entry.path());
                    continue;
                }
                if !kind.is_file() || !is_partial(&entry.file_name().to_string_lossy()) {
                    continue;
                }
                let age = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .map(|t| now.duration_since(t).unwrap_or_default())
                    .map_err(ctx)?;
                if age < older_than {
                    continue;
                }
                let path = entry.path();
                std::fs::remove_file(&path).map_err(|e| {
                    PersistStoreError::io(
                        format!("store {}: removing {}", self.name, path.display()),
                        e,
                    )
                })?;
                info!(store = %self.name, path = %path.display(), ?age, "removed a leftover temporary copy");
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Sweeps the leftovers once per store (see the type's docs); a failed
    /// sweep is logged, not fatal: the copies still work. The worker calls
    /// it at boot; the store's first use does it otherwise. Blocking.
    pub fn sweep_leftovers(&self) {
        self.sweep_once();
    }

    fn sweep_once(&self) {
        self.swept.call_once(|| {
            if let Err(e) = self.remove_partials(STALE_PARTIAL_AGE) {
                tracing::warn!(store = %self.name, error = %e, "cannot remove leftover temporary copies");
            }
        });
    }

    /// Keeps `bytes` free on the filesystem.
    pub fn with_reserved_bytes(mut self, bytes: u64) -> Self {
        self.reserved_bytes = bytes;
        self
    }

    /// The local path of `key`.
    pub fn path_of(&self, key: &str) -> Result<PathBuf, PersistStoreError> {
        Ok(check_key(key)?
            .into_iter()
            .fold(self.dir.clone(), |path, segment| path.join(segment)))
    }

    fn check_dir(&self) -> Result<(), PersistStoreError> {
        match std::fs::metadata(&self.dir) {
            Ok(meta) if meta.is_dir() => Ok(()),
            Ok(_) => Err(PersistStoreError::Unavailable(format!(
                "store {}: {} is not a directory",
                self.name,
                self.dir.display()
            ))),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                Err(PersistStoreError::Unavailable(format!(
                    "store {}: directory {} does not exist (not mounted?)",
                    self.name,
                    self.dir.display()
                )))
            }
            Err(e) => Err(PersistStoreError::io(
                format!("store {}: checking {}", self.name, self.dir.display()),
                e,
            )),
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, PersistStoreError> + Send + 'static,
) -> Result<T, PersistStoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PersistStoreError::Failed(format!("persist task failed: {e}")))?
}

#[async_trait]
impl PersistStore for LocalPersistStore {
    fn name(&self) -> &str {
        &self.name
    }

    async fn available(&self) -> Result<Option<u64>, PersistStoreError> {
        let store = self.clone();
        blocking(move || {
            store.check_dir()?;
            store.sweep_once();
            let free = fs4::available_space(&store.dir).map_err(|e| {
                PersistStoreError::io(
                    format!(
                        "store {}: free space of {}",
                        store.name,
                        store.dir.display()
                    ),
                    e,
                )
            })?;
            Ok(Some(free.saturating_sub(store.reserved_bytes)))
        })
        .await
    }

    async fn put_file(&self, key: &str, src: &Path) -> Result<(), PersistStoreError> {
        let dest = self.path_of(key)?;
        let (store, src) = (self.clone(), src.to_path_buf());
        let started = std::time::Instant::now();
        let len = blocking(move || {
            store.check_dir()?;
            store.sweep_once();
            copy_verified(&store.name, &src, &dest)
        })
        .await?;
        info!(store = %self.name, key, bytes = len, elapsed = ?started.elapsed(), "stored file");
        Ok(())
    }

    async fn get_file(&self, key: &str, dst: &Path) -> Result<(), PersistStoreError> {
        let path = self.path_of(key)?;
        match tokio::fs::copy(&path, dst).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound && !path.exists() => Err(
                PersistStoreError::Missing(format!("{key} is not in store {}", self.name)),
            ),
            Err(e) => Err(PersistStoreError::io(
                format!("copying {} to {}", path.display(), dst.display()),
                e,
            )),
        }
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<(), PersistStoreError> {
        let path = self.path_of(prefix)?;
        let name = self.name.clone();
        blocking(move || remove_all(&name, &path)).await
    }
}

/// Removes `path` (file or tree) and any temporary copies of it.
fn remove_all(store: &str, path: &Path) -> Result<(), PersistStoreError> {
    let ctx = |p: &Path| format!("store {store}: removing {}", p.display());
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => {
            std::fs::remove_dir_all(path).map_err(|e| PersistStoreError::io(ctx(path), e))?
        }
        Ok(_) => std::fs::remove_file(path).map_err(|e| PersistStoreError::io(ctx(path), e))?,
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(PersistStoreError::io(ctx(path), e)),
    }
    let (Some(parent), Some(file_name)) = (path.parent(), path.file_name()) else {
        return Ok(());
    };
    let temp_prefix = format!(".{}.partial-", file_name.to_string_lossy());
    let entries = match std::fs::read_dir(parent) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(PersistStoreError::io(ctx(parent), e)),
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(&temp_prefix)
        {
            debug!(path = %entry.path().display(), "removing leftover temporary copy");
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// Copies `src` to `dest` through a temporary file (named as
/// [`is_partial`] recognises), verifying the copy;
/// returns its length. The temporary file is removed on failure.
fn copy_verified(store: &str, src: &Path, dest: &Path) -> Result<u64, PersistStoreError> {
    let parent = dest.parent().expect("a key has at least one segment");
    std::fs::create_dir_all(parent).map_err(|e| {
        PersistStoreError::io(format!("store {store}: creating {}", parent.display()), e)
    })?;
    let mut input = File::open(src).map_err(|e| match e.kind() {
        ErrorKind::NotFound => {
            PersistStoreError::Missing(format!("{} does not exist", src.display()))
        }
        _ => PersistStoreError::io(format!("opening {}", src.display()), e),
    })?;
    let file_name = dest.file_name().expect("a key has a last segment");
    let temp = parent.join(format!(
        ".{}.partial-{:016x}",
        file_name.to_string_lossy(),
        rand::random::<u64>()
    ));
    let result = write_temp(store, &mut input, src, &temp, dest).and_then(|len| {
        std::fs::rename(&temp, dest).map_err(|e| {
            PersistStoreError::io(
                format!("store {store}: renaming into {}", dest.display()),
                e,
            )
        })?;
        // Make the rename durable; not all filesystems support it.
        if let Ok(dir) = File::open(parent) {
            let _ = dir.sync_all();
        }
        Ok(len)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

fn write_temp(
    store: &str,
    input: &mut File,
    src: &Path,
    temp: &Path,
    dest: &Path,
) -> Result<u64, PersistStoreError> {
    let write_err = |e| {
        PersistStoreError::io(
            format!(
                "store {store}: writing {} (copy of {})",
                dest.display(),
                src.display()
            ),
            e,
        )
    };
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(temp)
        .map_err(write_err)?;
    let mut hasher = Hasher::new();
    let mut buf = vec![0u8; BUF_SIZE];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(PersistStoreError::io(
                    format!("reading {}", src.display()),
                    e,
                ))
            }
        };
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(write_err)?;
    }
    out.sync_all().map_err(write_err)?;
    drop(out);
    let expected = hasher.finish();
    let stored = digest_file(temp).map_err(|e| {
        PersistStoreError::io(format!("store {store}: re-reading {}", temp.display()), e)
    })?;
    if stored != expected {
        return Err(PersistStoreError::io(
            format!("store {store}: verifying {}", dest.display()),
            std::io::Error::new(
                ErrorKind::InvalidData,
                format!(
                    "copy of {} reads back as {stored}, expected {expected}",
                    src.display()
                ),
            ),
        ));
    }
    Ok(expected.len)
}
