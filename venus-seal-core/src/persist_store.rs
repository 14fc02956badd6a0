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

use crate::error::{FailureLevel, Leveled, StageError};
use crate::types::ids::SectorId;

/// What went wrong in a [`PersistStore`], classified so that the stage
/// using the store knows how long to wait: a stage turns it into a
/// [`StageError`] of the same level (`?` does it).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PersistStoreError {
    /// A local file operation failed (a full or read-only disk, an I/O
    /// error), naming the file. Level: Critical.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The store cannot be reached now (an unmounted share, an object
    /// store down). Level: Temporary.
    #[error("persist store unavailable: {0}")]
    Unavailable(String),
    /// The source file or the stored key does not exist. Level: Permanent.
    #[error("missing: {0}")]
    Missing(String),
    /// A malformed key ([`check_key`]). Level: Abort.
    #[error("{0}")]
    InvalidKey(String),
    /// The stored copy does not verify, or the store failed otherwise.
    /// Level: Permanent.
    #[error("persist store failed: {0}")]
    Failed(String),
}

impl PersistStoreError {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        PersistStoreError::Io {
            context: context.into(),
            source,
        }
    }
}

impl Leveled for PersistStoreError {
    /// As the [`StageError`] it becomes.
    fn level(&self) -> FailureLevel {
        match self {
            PersistStoreError::Io { .. } => FailureLevel::Critical,
            PersistStoreError::Unavailable(_) => FailureLevel::Temporary,
            PersistStoreError::Missing(_) | PersistStoreError::Failed(_) => FailureLevel::Permanent,
            PersistStoreError::InvalidKey(_) => FailureLevel::Abort,
        }
    }
}

/// A store's error as the stage that used the store reports it, at the
/// same level.
impl From<PersistStoreError> for StageError {
    fn from(e: PersistStoreError) -> Self {
        match e {
            PersistStoreError::Io { context, source } => StageError::Io { context, source },
            PersistStoreError::Unavailable(m) => StageError::Unavailable(m),
            PersistStoreError::Missing(m) => StageError::Missing(m),
            PersistStoreError::InvalidKey(m) => StageError::InvalidTask(m),
            PersistStoreError::Failed(m) => StageError::Computation(m),
        }
    }
}

/// A persistent store for finalized sectors.
///
/// Implementations classify their errors ([`PersistStoreError`]): a
/// broken local disk is `Io` (Critical), an unreachable remote store is
/// `Unavailable` (Temporary), a missing source or key is `Missing`, a
/// malformed key is `InvalidKey`. Keys are checked with [`check_key`].
#[async_trait]
pub trait PersistStore: Send + Sync + Debug {
    /// The store's name, reported to the manager as the instance holding
    /// the sector.
    fn name(&self) -> &str;

    /// Free bytes the store accepts, or `None` when unknown or unbounded
    /// (object stores).
    async fn available(&self) -> Result<Option<u64>, PersistStoreError>;

    /// Stores the local file `src` under `key`, replacing what was there,
    /// and verifies the stored copy (size and digest) before returning.
    async fn put_file(&self, key: &str, src: &Path) -> Result<(), PersistStoreError>;

    /// Copies what is stored under `key` to the local file `dst`
    /// (created or truncated). [`PersistStoreError::Missing`] if there is
    /// none.
    async fn get_file(&self, key: &str, dst: &Path) -> Result<(), PersistStoreError>;

    /// Deletes `prefix` and everything below it, segment-wise
    /// (`cache/s-t01000-7` removes `cache/s-t01000-7/p_aux`, never
    /// `cache/s-t01000-70/…`). Deleting nothing is not an error.
    async fn delete_prefix(&self, prefix: &str) -> Result<(), PersistStoreError>;
}

crate::forward::forward_impls! {
    impl[] PersistStore {
        fn name(&self) -> &str;
        async fn available(&self) -> Result<Option<u64>, PersistStoreError>;
        async fn put_file(&self, key: &str, src: &Path) -> Result<(), PersistStoreError>;
        async fn get_file(&self, key: &str, dst: &Path) -> Result<(), PersistStoreError>;
        async fn delete_prefix(&self, prefix: &str) -> Result<(), PersistStoreError>;
    }
}

// The layout every store and every prover shares (Lotus' and damocles':
// `sealed/`, `cache/`, `update/`, `update-cache/`, one entry per sector).

/// The key of a sector's sealed file: `sealed/s-t0<miner>-<number>`.
///
/// ```
/// use venus_seal_core::{ActorId, SectorId, SectorNumber};
/// let id = SectorId::new(ActorId(1000), SectorNumber(7));
/// assert_eq!(venus_seal_core::persist_store::sealed_key(&id), "sealed/s-t01000-7");
/// ```
pub fn sealed_key(sector: &SectorId) -> String {
    format!("sealed/{sector}")
}

/// The prefix of a sector's cache files: `cache/s-t0<miner>-<number>`.
pub fn cache_prefix(sector: &SectorId) -> String {
    format!("cache/{sector}")
}

/// The key of a snapped-up sector's updated replica:
/// `update/s-t0<miner>-<number>` (damocles' layout).
pub fn update_key(sector: &SectorId) -> String {
    format!("update/{sector}")
}

/// The prefix of a snapped-up sector's updated cache files:
/// `update-cache/s-t0<miner>-<number>`.
pub fn update_cache_prefix(sector: &SectorId) -> String {
    format!("update-cache/{sector}")
}

/// Checks a key and returns its segments: non-empty, relative,
/// `/`-separated, no empty, `.` or `..` segment, no backslash or NUL.
/// A bad key is [`PersistStoreError::InvalidKey`].
pub fn check_key(key: &str) -> Result<Vec<&str>, PersistStoreError> {
    let bad =
        |why: &str| PersistStoreError::InvalidKey(format!("invalid store key {key:?}: {why}"));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A store's error keeps its level and its words as a stage's error.
    #[test]
    fn a_store_error_becomes_the_stage_error_of_its_level() {
        let cases = [
            PersistStoreError::io("writing x", std::io::Error::other("disk full")),
            PersistStoreError::Unavailable("nas-1 unmounted".into()),
            PersistStoreError::Missing("sealed/s-t01000-1".into()),
            check_key("../x").unwrap_err(),
            PersistStoreError::Failed("digest mismatch".into()),
        ];
        for e in cases {
            let (level, text) = (e.level(), e.to_string());
            let stage = StageError::from(e);
            assert_eq!(stage.level(), level, "{text}");
            let last = text.rsplit(": ").next().unwrap().to_string();
            assert!(stage.to_string().contains(&last), "{stage} vs {text}");
        }
        assert_eq!(
            StageError::from(check_key("").unwrap_err()).to_string(),
            "invalid task: invalid store key \"\": empty"
        );
    }
}
