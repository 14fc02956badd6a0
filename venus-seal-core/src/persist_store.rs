//! Where finalized sectors are kept for their whole life: the
//! [`PersistStore`] trait (a local or mounted directory, an object store
//! bucket) and the key rules every store checks ([`check_key`]).
//!
//! The implementations live in venus-seal-backends (`persist`), which
//! re-exports this module; every one passes
//! `venus_seal_core::testing::conformance::persist_store` (feature
//! `testing`).

use std::fmt::Debug;
use std::path::Path;

use async_trait::async_trait;

use crate::error::StageError;

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

crate::forward::forward_impls! {
    impl[] PersistStore {
        fn name(&self) -> &str;
        async fn available(&self) -> Result<Option<u64>, StageError>;
        async fn put_file(&self, key: &str, src: &Path) -> Result<(), StageError>;
        async fn get_file(&self, key: &str, dst: &Path) -> Result<(), StageError>;
        async fn delete_prefix(&self, prefix: &str) -> Result<(), StageError>;
    }
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
