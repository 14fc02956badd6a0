//! Persistent sector stores: where [`Finalize`](venus_seal_core::stage::Finalize)
//! copies a sealed sector so that it can be proven for its whole life.
//!
//! * [`PersistStore`]: one store (a local or mounted directory, an object
//!   store bucket). Small on purpose: free space, put a file (verified),
//!   get a file back, delete a prefix.
//! * [`LocalPersistStore`]: a directory; atomic, fsync'd copies.
//! * [`ObjectPersistStore`]: any [`object_store::ObjectStore`] (in memory,
//!   local files, and S3 with the `s3` feature); streamed multipart
//!   uploads, so a 32 GiB sealed file is never held in memory.
//! * [`PersistStores`]: the `Executor<Finalize>` that picks a store with
//!   room, copies the sector's files there and verifies them.
//! * `conformance` (feature `testing`): the suite every store passes.
//!
//! # Layout
//!
//! Keys are `/`-separated and follow the Lotus layout:
//! `sealed/s-t0<miner>-<number>` for the sealed file and
//! `cache/s-t0<miner>-<number>/<file>` for the cache files
//! ([`sealed_key`], [`cache_key`]).
//!
//! # Design rationale
//!
//! Every copy is verified where it is made (size and a BLAKE2b digest of
//! the source against what the store holds), so a sector is reported
//! finalized only once its proof inputs are known to be intact in the
//! store. A store that fails midway leaves no half-copied sector behind:
//! [`PersistStores`] deletes both prefixes before returning the error.

use std::fmt::Debug;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use venus_seal_core::{SectorId, StageError};

#[cfg(any(test, feature = "testing"))]
pub mod conformance;
mod digest;
mod files;
mod local;
mod locate;
mod object;
mod stores;

pub use files::{collect_sector_files, SectorFile};
pub use local::LocalPersistStore;
pub use locate::PersistedSectors;
pub use object::{ObjectPersistStore, DEFAULT_PART_SIZE};
pub use stores::PersistStores;

/// A persistent store for finalized sectors.
///
/// Implementations classify their errors: a broken local disk is
/// [`StageError::Io`] (Critical), an unreachable remote store is
/// [`StageError::Unavailable`] (Temporary), a missing source or key is
/// [`StageError::Missing`], a malformed key is [`StageError::InvalidTask`].
/// Keys are checked with [`check_key`].
#[async_trait]
pub trait PersistStore: Send + Sync + Debug {
    /// The store's name, reported to the manager as the instance holding
    /// the sector.
    fn name(&self) -> &str;

    /// Free bytes the store accepts, or `None` when unknown or unbounded
    /// (object stores).
    async fn available(&self) -> Result<Option<u64>, StageError>;

    /// Stores the local file `src` under `key`, replacing what was there,
    /// and verifies the stored copy (size and digest) before returning.
    async fn put_file(&self, key: &str, src: &Path) -> Result<(), StageError>;

    /// Copies what is stored under `key` to the local file `dst`
    /// (created or truncated). [`StageError::Missing`] if there is none.
    async fn get_file(&self, key: &str, dst: &Path) -> Result<(), StageError>;

    /// Deletes `prefix` and everything below it, segment-wise
    /// (`cache/s-t01000-7` removes `cache/s-t01000-7/p_aux`, never
    /// `cache/s-t01000-70/…`). Deleting nothing is not an error.
    async fn delete_prefix(&self, prefix: &str) -> Result<(), StageError>;
}

#[async_trait]
impl<T: PersistStore + ?Sized> PersistStore for Arc<T> {
    fn name(&self) -> &str {
        (**self).name()
    }
    async fn available(&self) -> Result<Option<u64>, StageError> {
        (**self).available().await
    }
    async fn put_file(&self, key: &str, src: &Path) -> Result<(), StageError> {
        (**self).put_file(key, src).await
    }
    async fn get_file(&self, key: &str, dst: &Path) -> Result<(), StageError> {
        (**self).get_file(key, dst).await
    }
    async fn delete_prefix(&self, prefix: &str) -> Result<(), StageError> {
        (**self).delete_prefix(prefix).await
    }
}

#[async_trait]
impl<T: PersistStore + ?Sized> PersistStore for Box<T> {
    fn name(&self) -> &str {
        (**self).name()
    }
    async fn available(&self) -> Result<Option<u64>, StageError> {
        (**self).available().await
    }
    async fn put_file(&self, key: &str, src: &Path) -> Result<(), StageError> {
        (**self).put_file(key, src).await
    }
    async fn get_file(&self, key: &str, dst: &Path) -> Result<(), StageError> {
        (**self).get_file(key, dst).await
    }
    async fn delete_prefix(&self, prefix: &str) -> Result<(), StageError> {
        (**self).delete_prefix(prefix).await
    }
}

/// The key of a sector's sealed file: `sealed/s-t0<miner>-<number>`.
///
/// ```
/// use venus_seal_core::{ActorId, SectorId, SectorNumber};
/// let id = SectorId::new(ActorId(1000), SectorNumber(7));
/// assert_eq!(venus_seal_backends::persist::sealed_key(&id), "sealed/s-t01000-7");
/// ```
pub fn sealed_key(sector: &SectorId) -> String {
    format!("sealed/{sector}")
}

/// The prefix of a sector's cache files: `cache/s-t0<miner>-<number>`.
pub fn cache_prefix(sector: &SectorId) -> String {
    format!("cache/{sector}")
}

/// The key of one cache file: `cache/s-t0<miner>-<number>/<file>`.
///
/// ```
/// use venus_seal_core::{ActorId, SectorId, SectorNumber};
/// let id = SectorId::new(ActorId(1000), SectorNumber(7));
/// assert_eq!(
///     venus_seal_backends::persist::cache_key(&id, "p_aux"),
///     "cache/s-t01000-7/p_aux"
/// );
/// ```
pub fn cache_key(sector: &SectorId, file: &str) -> String {
    format!("cache/{sector}/{file}")
}

/// Checks a key and returns its segments: non-empty, relative,
/// `/`-separated, no empty, `.` or `..` segment, no backslash or NUL.
/// A bad key is [`StageError::InvalidTask`].
pub fn check_key(key: &str) -> Result<Vec<&str>, StageError> {
    let bad = |why: &str| StageError::InvalidTask(format!("invalid store key {key:?}: {why}"));
    if key.is_empty() {
        return Err(bad("empty"));
    }
    if key.contains(['\\', '\0']) {
        return Err(bad("contains a backslash or NUL"));
    }
    let segments: Vec<&str> = key.split('/').collect();
    for segment in &segments {
        match *segment {
            "" => return Err(bad("empty segment (absolute path or `//`)")),
            "." | ".." => return Err(bad("`.` or `..` segment")),
            _ => {}
        }
    }
    Ok(segments)
}
