//! The in-memory [`ManagerStore`].

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use venus_seal_core::manager::{AcquireDealsSpec, DealInfo};
use venus_seal_core::manager_store::{DealActivation, ExpiredDeal, ReleasedDeals};
use venus_seal_core::{ActorId, ChainEpoch, SectorId, SectorNumber, SectorSize};

use super::{pick_deals, ManagerStore, ManagerStoreError, NumberRange, Versioned};
use crate::manager::SectorStatus;

/// One deal in the ledger (as a row of the SQL store's `manager_deals`).
#[derive(Debug)]
struct DealRow {
    position: i64,
    miner: Option<ActorId>,
    deal: DealInfo,
    start_epoch: Option<ChainEpoch>,
    sector: Option<SectorId>,
    expired: Option<String>,
}

impl DealRow {
    fn is_queued(&self) -> bool {
        self.sector.is_none() && self.expired.is_none()
    }

    fn expire(&mut self, reason: String) -> ExpiredDeal {
        self.expired = Some(reason.clone());
        ExpiredDeal {
            deal: self.deal.clone(),
            miner: self.miner,
            start_epoch: self.start_epoch,
            reason,
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    next: HashMap<ActorId, u64>,
    /// Allocation keys and the sector each was answered with (as the SQL
    /// store's `manager_allocations`).
    keys: HashMap<String, SectorId>,
    sectors: BTreeMap<SectorId, Versioned<SectorStatus>>,
    /// Ordered by position (new deals go last, deals of an earlier
    /// release's sector first).
    deals: Vec<DealRow>,
}

/// A [`ManagerStore`] in memory: lost when the process ends. For tests and
/// throwaway devnets.
///
/// ```
/// use venus_seal_chain::manager::{ManagerStore, MemoryManagerStore};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = MemoryManagerStore::new();
/// assert_eq!(store.sector_count().await.unwrap(), 0);
/// # });
/// ```
#[derive(Debug, Default)]
pub struct MemoryManagerStore {
    inner: Mutex<Inner>,
}

impl MemoryManagerStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl ManagerStore for MemoryManagerStore {
    async fn allocate(
        &self,
        miner: ActorId,
        range: NumberRange,
        status: &SectorStatus,
        key: Option<&str>,
    ) -> Result<Option<SectorNumber>, ManagerStoreError> {
        let mut inner = self.lock();
        if let Some(held) = key.and_then(|k| inner.keys.get(k)) {
            return Ok((held.miner == miner).then_some(held.number));
        }
        let next = inner.next.entry(miner).or_insert(range.start);
        let number = (*next).max(range.start);
        if number > range.end {
            return Ok(None);
        }
        *next = number + 1;
        let id = SectorId::new(miner, SectorNumber(number));
        if let Some(key) = key {
            inner.keys.insert(key.to_string(), id);
        }
        inner.sectors.insert(
            id,
            Versioned {
                value: status.clone(),
                version: 1,
            },
        );
        Ok(Some(SectorNumber(number)))
    }

    async fn load(
        &self,
        sector: SectorId,
    ) -> Result<Option<Versioned<SectorStatus>>, ManagerStoreError> {
        Ok(self.lock().sectors.get(&sector).cloned())
    }

    async fn update(
        &self,
        sector: SectorId,
        status: &SectorStatus,
        version: u64,
    ) -> Result<bool, ManagerStoreError> {
        let mut inner = self.lock();
        match inner.sectors.get_mut(&sector) {
            Some(held) if held.version == version => {
                held.value = status.clone();
                held.version += 1;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn queued(&self) -> Result<Vec<(SectorId, Versioned<SectorStatus>)>, ManagerStoreError> {
        Ok(self
            .lock()
            .sectors
            .iter()
            .filter(|(_, v)| v.value.has_queued_submission())
            .map(|(id, v)| (*id, v.clone()))
            .collect())
    }

    async fn sectors(
        &self,
        after: Option<SectorId>,
        limit: usize,
    ) -> Result<Vec<(SectorId, Versioned<SectorStatus>)>, ManagerStoreError> {
        use std::ops::Bound;
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(self
            .lock()
            .sectors
            .range((from, Bound::Unbounded))
            .take(limit)
            .map(|(id, v)| (*id, v.clone()))
            .collect())
    }

    async fn sector_count(&self) -> Result<u64, ManagerStoreError> {
        Ok(self.lock().sectors.len() as u64)
    }

    async fn queue_deal(
        &self,
        miner: Option<ActorId>,
        deal: &DealInfo,
        start_epoch: Option<ChainEpoch>,
    ) -> Result<(), ManagerStoreError> {
        let mut inner = self.lock();
        let position = inner.deals.iter().map(|r| r.position).max().unwrap_or(0) + 1;
        inner.deals.push(DealRow {
            position,
            miner,
            deal: deal.clone(),
            start_epoch,
            sector: None,
            expired: None,
        });
        Ok(())
    }

    async fn assign_deals(
        &self,
        sector: SectorId,
        size: SectorSize,
        spec: AcquireDealsSpec,
        activation: DealActivation,
    ) -> Result<Option<Versioned<SectorStatus>>, ManagerStoreError> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let Some(held) = inner.sectors.get_mut(&sector) else {
            return Ok(None);
        };
        if held.value.deals.is_some() || held.value.aborted.is_some() {
            return Ok(Some(held.clone()));
        }
        for row in inner.deals.iter_mut().filter(|r| r.is_queued()) {
            if let Some(why) = activation.expired(row.start_epoch) {
                row.expire(why);
            }
        }
        let queued: Vec<usize> = (0..inner.deals.len())
            .filter(|&i| inner.deals[i].is_queued())
            .collect();
        let picked = pick_deals(
            queued
                .iter()
                .map(|&i| (inner.deals[i].miner, inner.deals[i].deal.piece.size.0)),
            sector.miner,
            size,
            spec,
        );
        let mut deals = Vec::with_capacity(picked.len());
        for p in picked {
            let row = &mut inner.deals[queued[p]];
            row.sector = Some(sector);
            deals.push(row.deal.clone());
        }
        held.value.deals = Some(deals);
        held.version += 1;
        Ok(Some(held.clone()))
    }

    async fn release_deals(
        &self,
        sector: SectorId,
        status: &SectorStatus,
        version: u64,
        activation: DealActivation,
    ) -> Result<Option<ReleasedDeals>, ManagerStoreError> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let Some(held) = inner.sectors.get_mut(&sector) else {
            return Ok(None);
        };
        if held.version != version {
            return Ok(None);
        }
        let recorded = held.value.deals.clone().unwrap_or_default();
        held.value = status.clone();
        held.version += 1;
        let mut released = ReleasedDeals::default();
        let mut found = false;
        for row in inner.deals.iter_mut() {
            if row.sector != Some(sector) || row.expired.is_some() {
                continue;
            }
            found = true;
            match activation.expired(row.start_epoch) {
                Some(why) => released.expired.push(row.expire(why)),
                None => {
                    row.sector = None;
                    released.requeued.push(row.deal.clone());
                }
            }
        }
        if !found && !recorded.is_empty() {
            // Handed out by an earlier release, which deleted the rows:
            // back to the head of the queue, for the sector's miner.
            let low = inner.deals.iter().map(|r| r.position).min().unwrap_or(0);
            let count = recorded.len() as i64;
            let mut moved: Vec<DealRow> = recorded
                .iter()
                .enumerate()
                .map(|(i, deal)| DealRow {
                    position: low - count + i as i64,
                    miner: Some(sector.miner),
                    deal: deal.clone(),
                    start_epoch: None,
                    sector: None,
                    expired: None,
                })
                .collect();
            released.requeued.extend(recorded);
            moved.append(&mut inner.deals);
            inner.deals = moved;
        }
        Ok(Some(released))
    }

    async fn expired_deals(&self) -> Result<Vec<ExpiredDeal>, ManagerStoreError> {
        Ok(self
            .lock()
            .deals
            .iter()
            .filter_map(|row| {
                Some(ExpiredDeal {
                    deal: row.deal.clone(),
                    miner: row.miner,
                    start_epoch: row.start_epoch,
                    reason: row.expired.clone()?,
                })
            })
            .collect())
    }

    async fn queued_deals(&self) -> Result<u64, ManagerStoreError> {
        Ok(self.lock().deals.iter().filter(|r| r.is_queued()).count() as u64)
    }
}
