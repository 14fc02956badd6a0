//! Where sector records are kept between steps and across restarts.
//!
//! # Bounded growth
//!
//! A worker keeps every sector it ever ran, but what it reads at start-up
//! and for an operator's listing must not grow with the size of old stage
//! outputs (a 32 GiB sector's C1 output is about 20 MiB). So every store
//! keeps to three rules, checked by
//! `venus_seal_core::testing::conformance::sector_store`:
//!
//! * the large stage outputs of a finished or aborted sector (PC1 and C1
//!   output, see [`LargeOutputs`]) are dropped when it is saved in that
//!   state: nothing reads them again (an operator cannot resume a
//!   terminal sector);
//! * [`SectorStore::load_unfinished`] gives what the engine resumes, and
//!   [`SectorStore::job_counts`] the numbers it needs about the rest;
//! * [`SectorStore::list`] gives every record without its large outputs.
//!
//! [`SqliteSectorStore`] keeps large outputs in a table of their own and
//! moves terminal records to an archive table, so neither start-up nor a
//! listing reads them.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::error::{FailureLevel, Leveled};
use crate::sector::{SectorRecord, SectorState};
use crate::stage::Opaque;

#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(feature = "sqlite")]
mod sqlite_rows;
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

/// What a store knows about all its jobs, finished ones included, without
/// loading them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobCounts {
    /// How many records are in each state.
    pub by_state: BTreeMap<SectorState, u64>,
    /// The highest job id stored, `None` when the store is empty.
    pub last_job: Option<u64>,
}

impl JobCounts {
    /// Every record, whatever its state.
    pub fn total(&self) -> u64 {
        self.by_state.values().sum()
    }

    /// The counts of `records`.
    pub fn of<'a>(records: impl IntoIterator<Item = &'a SectorRecord>) -> Self {
        let mut counts = Self::default();
        for r in records {
            *counts.by_state.entry(r.state).or_default() += 1;
            counts.last_job = counts.last_job.max(Some(r.job));
        }
        counts
    }
}

/// The large stage outputs of a record: the fields a store keeps outside
/// the record's row and drops once the sector is finished or aborted.
#[derive(Debug)]
pub struct LargeOutputs;

impl LargeOutputs {
    /// The names of the large outputs, as stored.
    pub const NAMES: [&'static str; 2] = ["pc1_output", "c1_output"];

    /// The large outputs of `record`, by name.
    pub fn of(record: &SectorRecord) -> [(&'static str, Option<&Opaque>); 2] {
        [
            ("pc1_output", record.pc1_output.as_ref()),
            ("c1_output", record.c1_output.as_ref()),
        ]
    }

    /// The field of `record` holding the large output `name`, `None` for
    /// a name not in [`NAMES`](Self::NAMES).
    pub fn field_mut<'a>(
        record: &'a mut SectorRecord,
        name: &str,
    ) -> Option<&'a mut Option<Opaque>> {
        match name {
            "pc1_output" => Some(&mut record.pc1_output),
            "c1_output" => Some(&mut record.c1_output),
            _ => None,
        }
    }

    /// Empties the large outputs of `record`.
    pub fn strip(record: &mut SectorRecord) {
        record.pc1_output = None;
        record.c1_output = None;
    }

    /// `record` as a store keeps it: a terminal record without its large
    /// outputs, any other as it is.
    pub fn kept(record: &SectorRecord) -> SectorRecord {
        let mut kept = record.clone();
        if kept.state.is_terminal() {
            Self::strip(&mut kept);
        }
        kept
    }
}

/// Durable storage for [`SectorRecord`]s, one per job.
///
/// The engine saves a record after every transition, before it starts the
/// next step, so a crash resumes each sector at its last durable state.
/// Required: [`save`](Self::save) and [`load_all`](Self::load_all); the
/// other methods have defaults built on `load_all` that are correct but
/// read everything: a store holding many sectors overrides them (see the
/// [module docs](self) for the rules every store keeps).
#[async_trait]
pub trait SectorStore: Send + Sync + std::fmt::Debug {
    /// Inserts or replaces the record of `record.job`. A record saved in a
    /// terminal state (Finished, Aborted) is kept without its large
    /// outputs ([`LargeOutputs`]).
    async fn save(&self, record: &SectorRecord) -> Result<(), SectorStoreError>;

    /// Every stored record, by job id. A record that cannot be read back
    /// comes back parked with a Critical failure naming the problem, so one
    /// corrupt row never hides the others.
    async fn load_all(&self) -> Result<Vec<SectorRecord>, SectorStoreError>;

    /// The record of `job`, `None` if there is none.
    async fn load(&self, job: u64) -> Result<Option<SectorRecord>, SectorStoreError> {
        Ok(self.load_all().await?.into_iter().find(|r| r.job == job))
    }

    /// The records that are neither finished nor aborted (what a worker
    /// resumes at start-up), by job id, large outputs included.
    async fn load_unfinished(&self) -> Result<Vec<SectorRecord>, SectorStoreError> {
        let mut all = self.load_all().await?;
        all.retain(|r| !r.state.is_terminal());
        Ok(all)
    }

    /// Every record, finished and archived ones included, by job id,
    /// without its large outputs ([`LargeOutputs`]): what an operator's
    /// listing reads.
    async fn list(&self) -> Result<Vec<SectorRecord>, SectorStoreError> {
        let mut all = self.load_all().await?;
        all.iter_mut().for_each(LargeOutputs::strip);
        Ok(all)
    }

    /// How many records are in each state, and the highest job id.
    async fn job_counts(&self) -> Result<JobCounts, SectorStoreError> {
        Ok(JobCounts::of(&self.load_all().await?))
    }
}

crate::forward::forward_impls! {
    impl[] SectorStore {
        async fn save(&self, record: &SectorRecord) -> Result<(), SectorStoreError>;
        async fn load_all(&self) -> Result<Vec<SectorRecord>, SectorStoreError>;
        async fn load(&self, job: u64) -> Result<Option<SectorRecord>, SectorStoreError>;
        async fn load_unfinished(&self) -> Result<Vec<SectorRecord>, SectorStoreError>;
        async fn list(&self) -> Result<Vec<SectorRecord>, SectorStoreError>;
        async fn job_counts(&self) -> Result<JobCounts, SectorStoreError>;
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
            .insert(record.job, LargeOutputs::kept(record));
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

    async fn load(&self, job: u64) -> Result<Option<SectorRecord>, SectorStoreError> {
        Ok(self
            .records
            .lock()
            .expect("store poisoned")
            .get(&job)
            .cloned())
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_store_conforms() {
        crate::testing::conformance::sector_store(&MemorySectorStore::default()).await;
    }

    /// A store that implements only the two required methods gets
    /// defaults that keep the rules.
    #[derive(Debug, Default)]
    struct Minimal(MemorySectorStore);

    #[async_trait]
    impl SectorStore for Minimal {
        async fn save(&self, record: &SectorRecord) -> Result<(), SectorStoreError> {
            self.0.save(record).await
        }
        async fn load_all(&self) -> Result<Vec<SectorRecord>, SectorStoreError> {
            self.0.load_all().await
        }
    }

    #[tokio::test]
    async fn the_defaults_conform() {
        crate::testing::conformance::sector_store(&Minimal::default()).await;
    }
}
