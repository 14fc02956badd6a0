//! Where the sector manager keeps its state: one trait, three backends.
//!
//! A [`ManagerStore`] holds, per miner, the next sector number; per sector,
//! a [`SectorStatus`] with a version for compare-and-swap updates; and the
//! deal queue. Every operation that must not race (allocating a number,
//! taking deals) is one atomic store operation, so several manager
//! processes may share one store ([`SqlManagerStore`] on PostgreSQL) and
//! still never hand out a number or a deal twice.
//!
//! * [`MemoryManagerStore`]: in memory, for tests and throwaway devnets;
//! * [`SqlManagerStore`] on SQLite: the default, one manager process;
//! * [`SqlManagerStore`] on PostgreSQL: several manager processes.

#[cfg(test)]
pub(crate) mod conformance;
mod memory;
mod sql;

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use venus_seal_core::manager::{AcquireDealsSpec, DealInfo};
use venus_seal_core::{ActorId, ManagerError, SectorId, SectorNumber, SectorSize};

pub use memory::MemoryManagerStore;
pub use sql::SqlManagerStore;

use super::state::SectorStatus;

/// A value and the version it was read at; an update names the version it
/// replaces and fails if another writer got there first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versioned<T> {
    /// The value.
    pub value: T,
    /// Its version: 1 when created, +1 on every update.
    pub version: u64,
}

/// The sector numbers a miner may use, both ends included.
///
/// ```
/// use venus_seal_chain::manager::NumberRange;
/// let r = NumberRange::new(100, 199).unwrap();
/// assert!(r.contains(150));
/// assert!(NumberRange::new(5, 4).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberRange {
    /// The first number.
    pub start: u64,
    /// The last number.
    pub end: u64,
}

impl NumberRange {
    /// Every number the actors allow (`0..=2^48-1`; 0 is skipped by
    /// convention, as Lotus does).
    pub const ALL: NumberRange = NumberRange {
        start: 1,
        end: (1 << 48) - 1,
    };

    /// `start..=end`; an empty range is an error naming both ends.
    pub fn new(start: u64, end: u64) -> Result<Self, String> {
        if start > end || end > Self::ALL.end {
            return Err(format!(
                "sector number range {start}..={end} is empty or beyond {}",
                Self::ALL.end
            ));
        }
        Ok(Self { start, end })
    }

    /// Whether `n` is in the range.
    pub fn contains(&self, n: u64) -> bool {
        (self.start..=self.end).contains(&n)
    }
}

impl Default for NumberRange {
    fn default() -> Self {
        Self::ALL
    }
}

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be reached or failed.
    #[error("manager store: {0}")]
    Database(String),
    /// A stored record does not parse.
    #[error("manager store holds a corrupt record for {what}: {reason}")]
    Corrupt {
        /// Which record.
        what: String,
        /// Why it does not parse.
        reason: String,
    },
}

impl From<StoreError> for ManagerError {
    fn from(e: StoreError) -> Self {
        ManagerError::Internal(e.to_string())
    }
}

/// The sector manager's durable state: per miner, the next sector number;
/// per sector, a [`SectorStatus`](crate::manager::SectorStatus) with a
/// version for compare-and-swap updates; and the deal queue. Every
/// operation that must not race (allocating a number, taking deals) is one
/// atomic store operation, so several manager processes may share one
/// store ([`SqlManagerStore`] on PostgreSQL) and still never hand out a
/// number or a deal twice.
///
/// * [`MemoryManagerStore`]: in memory, for tests and throwaway devnets;
/// * [`SqlManagerStore`] on SQLite: the default, one manager process;
/// * [`SqlManagerStore`] on PostgreSQL: several manager processes.
#[async_trait]
pub trait ManagerStore: Send + Sync + fmt::Debug {
    /// Takes the next unused number of `miner` within `range` (continuing
    /// after the highest ever handed out, never reusing one) and stores
    /// `status` under it, atomically. `Ok(None)` when the range is used up.
    async fn allocate(
        &self,
        miner: ActorId,
        range: NumberRange,
        status: &SectorStatus,
    ) -> Result<Option<SectorNumber>, StoreError>;

    /// A sector's status and version.
    async fn load(&self, sector: SectorId) -> Result<Option<Versioned<SectorStatus>>, StoreError>;

    /// Replaces a sector's status if it is still at `version`: `Ok(true)`
    /// when written, `Ok(false)` when another writer changed it first (or
    /// it does not exist).
    async fn update(
        &self,
        sector: SectorId,
        status: &SectorStatus,
        version: u64,
    ) -> Result<bool, StoreError>;

    /// Every sector with a submission waiting to be sent
    /// ([`SectorStatus::has_queued_submission`]), in sector order.
    async fn queued(&self) -> Result<Vec<(SectorId, Versioned<SectorStatus>)>, StoreError>;

    /// How many sectors the store holds.
    async fn sector_count(&self) -> Result<u64, StoreError>;

    /// Appends a deal to the queue, for `miner` (`None`: any miner).
    async fn queue_deal(&self, miner: Option<ActorId>, deal: &DealInfo) -> Result<(), StoreError>;

    /// Removes and returns, in queue order, the deals for `miner` that fit
    /// in `size` (padded piece sizes), at most `spec.max_deals`; none
    /// unless they use at least `spec.min_used_space` bytes. Atomic: two
    /// concurrent calls never get the same deal.
    async fn take_deals(
        &self,
        miner: ActorId,
        size: SectorSize,
        spec: AcquireDealsSpec,
    ) -> Result<Vec<DealInfo>, StoreError>;

    /// Puts deals back at the head of the queue, in their order, for
    /// `miner`.
    async fn requeue_deals(&self, miner: ActorId, deals: &[DealInfo]) -> Result<(), StoreError>;

    /// The number of queued deals.
    async fn queued_deals(&self) -> Result<u64, StoreError>;
}

/// Which deals of `queue` (in order: miner restriction, padded size) fit
/// `miner`, `size` and `spec`; their indexes, or none.
pub(crate) fn pick_deals(
    queue: impl IntoIterator<Item = (Option<ActorId>, u64)>,
    miner: ActorId,
    size: SectorSize,
    spec: AcquireDealsSpec,
) -> Vec<usize> {
    let max = spec.max_deals.unwrap_or(usize::MAX);
    let mut used = 0u64;
    let mut picked = Vec::new();
    for (i, (only, piece)) in queue.into_iter().enumerate() {
        if picked.len() >= max {
            break;
        }
        if only.is_some_and(|m| m != miner) {
            continue;
        }
        if used.saturating_add(piece) <= size.0 {
            used += piece;
            picked.push(i);
        }
    }
    if picked.is_empty() || used < spec.min_used_space.unwrap_or(0) {
        return Vec::new();
    }
    picked
}
