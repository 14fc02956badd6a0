//! Where a sector manager keeps its state: the [`ManagerStore`] trait and
//! the plain data it stores ([`SectorStatus`], [`Versioned`],
//! [`NumberRange`]).
//!
//! The trait lives in the core, beside the other store traits, so its
//! conformance suite (`testing::conformance::manager_store`) and outside
//! implementations need no chain crate; venus-seal-chain implements it
//! (memory, SQLite, PostgreSQL) and re-exports it from its old path.

mod status;

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::ManagerError;
use crate::manager::{AcquireDealsSpec, DealInfo};
use crate::types::ids::{ActorId, SectorId, SectorNumber};
use crate::types::proof::SectorSize;

pub use status::{SectorStatus, SendAttempt, Submitted};

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
/// use venus_seal_core::manager_store::NumberRange;
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

/// A [`ManagerStore`] operation failed. Reported to workers as
/// [`ManagerError::Internal`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManagerStoreError {
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

impl From<ManagerStoreError> for ManagerError {
    fn from(e: ManagerStoreError) -> Self {
        ManagerError::Internal(e.to_string())
    }
}

/// The sector manager's durable state: per miner, the next sector number;
/// per sector, a [`SectorStatus`] with a
/// version for compare-and-swap updates; and the deal queue. Every
/// operation that must not race (allocating a number, taking deals) is one
/// atomic store operation, so several manager processes may share one
/// store (an SQL store on PostgreSQL) and still never hand out a
/// number or a deal twice.
///
/// Implementations (venus-seal-chain): `MemoryManagerStore`, in memory;
/// `SqlManagerStore` on SQLite (one manager process) or PostgreSQL
/// (several). Every one passes
/// `venus_seal_core::testing::conformance::manager_store` (feature
/// `testing`).
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
    ) -> Result<Option<SectorNumber>, ManagerStoreError>;

    /// A sector's status and version.
    async fn load(
        &self,
        sector: SectorId,
    ) -> Result<Option<Versioned<SectorStatus>>, ManagerStoreError>;

    /// Replaces a sector's status if it is still at `version`: `Ok(true)`
    /// when written, `Ok(false)` when another writer changed it first (or
    /// it does not exist).
    async fn update(
        &self,
        sector: SectorId,
        status: &SectorStatus,
        version: u64,
    ) -> Result<bool, ManagerStoreError>;

    /// Every sector with a submission waiting to be sent
    /// ([`SectorStatus::has_queued_submission`]), in sector order.
    async fn queued(&self) -> Result<Vec<(SectorId, Versioned<SectorStatus>)>, ManagerStoreError>;

    /// How many sectors the store holds.
    async fn sector_count(&self) -> Result<u64, ManagerStoreError>;

    /// Appends a deal to the queue, for `miner` (`None`: any miner).
    async fn queue_deal(
        &self,
        miner: Option<ActorId>,
        deal: &DealInfo,
    ) -> Result<(), ManagerStoreError>;

    /// Removes and returns, in queue order, the deals for `miner` that fit
    /// in `size` (padded piece sizes), at most `spec.max_deals`; none
    /// unless they use at least `spec.min_used_space` bytes. Atomic: two
    /// concurrent calls never get the same deal.
    async fn take_deals(
        &self,
        miner: ActorId,
        size: SectorSize,
        spec: AcquireDealsSpec,
    ) -> Result<Vec<DealInfo>, ManagerStoreError>;

    /// Puts deals back at the head of the queue, in their order, for
    /// `miner`.
    async fn requeue_deals(
        &self,
        miner: ActorId,
        deals: &[DealInfo],
    ) -> Result<(), ManagerStoreError>;

    /// The number of queued deals.
    async fn queued_deals(&self) -> Result<u64, ManagerStoreError>;
}

crate::forward::forward_impls! {
    impl[] ManagerStore {
        async fn allocate(
            &self,
            miner: ActorId,
            range: NumberRange,
            status: &SectorStatus,
        ) -> Result<Option<SectorNumber>, ManagerStoreError>;
        async fn load(&self, sector: SectorId)
            -> Result<Option<Versioned<SectorStatus>>, ManagerStoreError>;
        async fn update(&self, sector: SectorId, status: &SectorStatus, version: u64)
            -> Result<bool, ManagerStoreError>;
        async fn queued(&self)
            -> Result<Vec<(SectorId, Versioned<SectorStatus>)>, ManagerStoreError>;
        async fn sector_count(&self) -> Result<u64, ManagerStoreError>;
        async fn queue_deal(&self, miner: Option<ActorId>, deal: &DealInfo)
            -> Result<(), ManagerStoreError>;
        async fn take_deals(&self, miner: ActorId, size: SectorSize, spec: AcquireDealsSpec)
            -> Result<Vec<DealInfo>, ManagerStoreError>;
        async fn requeue_deals(&self, miner: ActorId, deals: &[DealInfo])
            -> Result<(), ManagerStoreError>;
        async fn queued_deals(&self) -> Result<u64, ManagerStoreError>;
    }
}
