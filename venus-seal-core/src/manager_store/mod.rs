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
use crate::types::ids::{ActorId, ChainEpoch, SectorId, SectorNumber};
use crate::types::proof::SectorSize;

pub use status::{SectorEvent, SectorStatus, SendAttempt, Submitted};

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

/// From which epoch a sector sealed from now could activate a deal: a
/// deal starting before [`earliest`](Self::earliest) can no longer be
/// activated and is marked expired rather than handed out or requeued.
///
/// ```
/// use venus_seal_core::manager_store::DealActivation;
/// let at = DealActivation { head: 1000, earliest: 1150 };
/// assert!(at.expired(Some(1149)).is_some());
/// assert!(at.expired(Some(1150)).is_none());
/// assert!(at.expired(None).is_none(), "a deal without a start never expires");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DealActivation {
    /// The chain head the estimate was made at.
    pub head: ChainEpoch,
    /// The earliest epoch a new sector's proof can land (and activate its
    /// deals): the head plus the pre-commit challenge delay.
    pub earliest: ChainEpoch,
}

impl DealActivation {
    /// Every deal is still valid (tests, and chains without deal terms).
    pub const NEVER_EXPIRES: DealActivation = DealActivation {
        head: ChainEpoch::MIN,
        earliest: ChainEpoch::MIN,
    };

    /// Why a deal starting at `start_epoch` can no longer be activated,
    /// or `None` while it can.
    pub fn expired(&self, start_epoch: Option<ChainEpoch>) -> Option<String> {
        let start = start_epoch?;
        (start < self.earliest).then(|| {
            format!(
                "its start epoch {start} is before epoch {}, the earliest a sector sealed from head {} can activate it",
                self.earliest, self.head
            )
        })
    }
}

/// A deal marked expired: no sector can activate it any more.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiredDeal {
    /// The deal.
    pub deal: DealInfo,
    /// The miner it was queued for (`None`: any).
    pub miner: Option<ActorId>,
    /// Its start epoch.
    pub start_epoch: Option<ChainEpoch>,
    /// Why it was marked expired.
    pub reason: String,
}

/// What [`ManagerStore::release_deals`] did with a sector's deals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReleasedDeals {
    /// Back in the queue, for the next sector.
    pub requeued: Vec<DealInfo>,
    /// Marked expired instead.
    pub expired: Vec<ExpiredDeal>,
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
    ///
    /// With a `key` (the worker's
    /// [`AllocateSpec::allocation_key`](crate::manager::AllocateSpec::allocation_key)),
    /// the key is recorded with the number in the same transaction, and a
    /// key already recorded answers its number again without taking a new
    /// one (`status` is then not written) — or `Ok(None)` when it was
    /// recorded for another miner, whose call answers it.
    async fn allocate(
        &self,
        miner: ActorId,
        range: NumberRange,
        status: &SectorStatus,
        key: Option<&str>,
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

    /// Up to `limit` sectors after `after` (from the first when `None`),
    /// in sector order (miner, then number): page through every sector
    /// the store holds, finished and aborted ones included.
    async fn sectors(
        &self,
        after: Option<SectorId>,
        limit: usize,
    ) -> Result<Vec<(SectorId, Versioned<SectorStatus>)>, ManagerStoreError>;

    /// How many sectors the store holds.
    async fn sector_count(&self) -> Result<u64, ManagerStoreError>;

    /// Appends a deal to the queue, for `miner` (`None`: any miner).
    /// `start_epoch`: the deal's start epoch, after which no sector can
    /// activate it (`None`: it never expires).
    async fn queue_deal(
        &self,
        miner: Option<ActorId>,
        deal: &DealInfo,
        start_epoch: Option<ChainEpoch>,
    ) -> Result<(), ManagerStoreError>;

    /// Hands deals to `sector` and records them on it, in one
    /// transaction: if the sector holds no deals yet and is not aborted,
    /// takes from the queue, in queue order, the deals for its miner that
    /// fit in `size` (padded piece sizes), at most `spec.max_deals`, none
    /// unless they use at least `spec.min_used_space` bytes, and stores
    /// them as the sector's [`SectorStatus::deals`] (its version + 1). A
    /// crash or a cancelled call leaves either both done or neither.
    ///
    /// Queued deals whose start epoch is before `activation.earliest`
    /// are marked expired ([`ManagerStore::expired_deals`]) instead of
    /// handed out.
    ///
    /// Returns the sector's record after the call: unchanged when it
    /// already held deals or is aborted; `None` for an unknown sector.
    /// Two concurrent calls never hand out one deal twice, and two calls
    /// for one sector both get the deals the first one recorded.
    async fn assign_deals(
        &self,
        sector: SectorId,
        size: SectorSize,
        spec: AcquireDealsSpec,
        activation: DealActivation,
    ) -> Result<Option<Versioned<SectorStatus>>, ManagerStoreError>;

    /// Replaces a sector's status if it is still at `version` (as
    /// [`update`](ManagerStore::update)) and, in the same transaction,
    /// releases the deals handed to it: each goes back to the queue at
    /// its old place, or, when its start epoch is before
    /// `activation.earliest`, is marked expired with the reason. Deals
    /// the record holds that the queue never saw assigned (a record of an
    /// earlier release) go back to the head of the queue.
    ///
    /// `Ok(None)` when another writer changed the sector first (nothing
    /// is released then).
    async fn release_deals(
        &self,
        sector: SectorId,
        status: &SectorStatus,
        version: u64,
        activation: DealActivation,
    ) -> Result<Option<ReleasedDeals>, ManagerStoreError>;

    /// The deals marked expired, in queue order, each with why.
    async fn expired_deals(&self) -> Result<Vec<ExpiredDeal>, ManagerStoreError>;

    /// The number of queued deals (neither handed to a sector nor
    /// expired).
    async fn queued_deals(&self) -> Result<u64, ManagerStoreError>;
}

crate::forward::forward_impls! {
    impl[] ManagerStore {
        async fn allocate(
            &self,
            miner: ActorId,
            range: NumberRange,
            status: &SectorStatus,
            key: Option<&str>,
        ) -> Result<Option<SectorNumber>, ManagerStoreError>;
        async fn load(&self, sector: SectorId)
            -> Result<Option<Versioned<SectorStatus>>, ManagerStoreError>;
        async fn update(&self, sector: SectorId, status: &SectorStatus, version: u64)
            -> Result<bool, ManagerStoreError>;
        async fn queued(&self)
            -> Result<Vec<(SectorId, Versioned<SectorStatus>)>, ManagerStoreError>;
        async fn sectors(&self, after: Option<SectorId>, limit: usize)
            -> Result<Vec<(SectorId, Versioned<SectorStatus>)>, ManagerStoreError>;
        async fn sector_count(&self) -> Result<u64, ManagerStoreError>;
        async fn queue_deal(
            &self,
            miner: Option<ActorId>,
            deal: &DealInfo,
            start_epoch: Option<ChainEpoch>,
        ) -> Result<(), ManagerStoreError>;
        async fn assign_deals(
            &self,
            sector: SectorId,
            size: SectorSize,
            spec: AcquireDealsSpec,
            activation: DealActivation,
        ) -> Result<Option<Versioned<SectorStatus>>, ManagerStoreError>;
        async fn release_deals(
            &self,
            sector: SectorId,
            status: &SectorStatus,
            version: u64,
            activation: DealActivation,
        ) -> Result<Option<ReleasedDeals>, ManagerStoreError>;
        async fn expired_deals(&self) -> Result<Vec<ExpiredDeal>, ManagerStoreError>;
        async fn queued_deals(&self) -> Result<u64, ManagerStoreError>;
    }
}
