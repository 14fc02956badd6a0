//! Where sector records are kept between steps and across restarts.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::error::{FailureLevel, Leveled};
use crate::sector::SectorRecord;

#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteSectorStore;

/// A failure of the local state store. Always Critical: the worker cannot
/// make progress durable.
#[derive(Debug, thiserror::Error)]
#[error("sector state store: {0}")]
pub struct SectorStoreError(pub String);

impl Leveled for SectorStoreError {
    fn level(&self) -> FailureLevel {
        FailureLevel::Critical
    }
}

/// Durable storage for [`SectorRecord`]s, one per job.
///
/// The engine saves a record after every transition, before it starts the
/// next step, so a crash resumes each sector at its last durable state.
#[async_trait]
pub trait SectorStore: Send + Sync + std::fmt::Debug {
    /// Inserts or replaces the record of `record.job`.
    async fn save(&self, record: &SectorRecord) -> Result<(), SectorStoreError>;

    /// Every stored record, by job id. A record that cannot be read back
    /// comes back parked with a Critical failure naming the problem, so one
    /// corrupt row never hides the others.
    async fn load_all(&self) -> Result<Vec<SectorRecord>, SectorStoreError>;
}

crate::forward::forward_impls! {
    impl[] SectorStore {
        async fn save(&self, record: &SectorRecord) -> Result<(), SectorStoreError>;
        async fn load_all(&self) -> Result<Vec<SectorRecord>, SectorStoreError>;
    }
}

/// Records in memory: for tests and single-shot tools; lost on exit.
#[derive(Debug, Default)]
pub struct MemorySectorStore {
    records: Mutex<BTreeMap<u64, SectorRecord>>,
}

#[async_trait]
impl SectorStore for MemorySectorStore {
    async fn save(&self, record: &SectorRecord) -> Result<(), SectorStoreError> {
        self.records
            .lock()
            .expect("store poisoned")
            .insert(record.job, record.clone());
        Ok(())
    }

    async fn load_all(&self) -> Result<Vec<SectorRecord>, SectorStoreError> {
        Ok(self
            .records
            .lock()
            .expect("store poisoned")
            .values()
            .cloned()
            .collect())
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_store_conforms() {
        crate::testing::conformance::sector_store(&MemorySectorStore::default()).await;
    }
}
