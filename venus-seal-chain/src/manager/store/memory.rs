//! The in-memory [`ManagerStore`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use venus_seal_core::manager::{AcquireDealsSpec, DealInfo};
use venus_seal_core::{ActorId, SectorId, SectorNumber, SectorSize};

use super::{pick_deals, ManagerStore, ManagerStoreError, NumberRange, Versioned};
use crate::manager::SectorStatus;

#[derive(Debug, Default)]
struct Inner {
    next: HashMap<ActorId, u64>,
    sectors: BTreeMap<SectorId, Versioned<SectorStatus>>,
    deals: VecDeque<(Option<ActorId>, DealInfo)>,
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
    ) -> Result<Option<SectorNumber>, ManagerStoreError> {
        let mut inner = self.lock();
        let next = inner.next.entry(miner).or_insert(range.start);
        let number = (*next).max(range.start);
        if number > range.end {
            return Ok(None);
        }
        *next = number + 1;
        let id = SectorId::new(miner, SectorNumber(number));
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

    async fn sector_count(&self) -> Result<u64, ManagerStoreError> {
        Ok(self.lock().sectors.len() as u64)
    }

    async fn queue_deal(
        &self,
        miner: Option<ActorId>,
        deal: &DealInfo,
    ) -> Result<(), ManagerStoreError> {
        self.lock().deals.push_back((miner, deal.clone()));
        Ok(())
    }

    async fn take_deals(
        &self,
        miner: ActorId,
        size: SectorSize,
        spec: AcquireDealsSpec,
    ) -> Result<Vec<DealInfo>, ManagerStoreError> {
        let mut inner = self.lock();
        let picked = pick_deals(
            inner.deals.iter().map(|(m, d)| (*m, d.piece.size.0)),
            miner,
            size,
            spec,
        );
        // Remove from the back so that earlier indexes stay valid.
        let mut deals: Vec<DealInfo> = picked
            .iter()
            .rev()
            .filter_map(|&i| inner.deals.remove(i).map(|(_, d)| d))
            .collect();
        deals.reverse();
        Ok(deals)
    }

    async fn requeue_deals(
        &self,
        miner: ActorId,
        deals: &[DealInfo],
    ) -> Result<(), ManagerStoreError> {
        let mut inner = self.lock();
        for deal in deals.iter().rev() {
            inner.deals.push_front((Some(miner), deal.clone()));
        }
        Ok(())
    }

    async fn queued_deals(&self) -> Result<u64, ManagerStoreError> {
        Ok(self.lock().deals.len() as u64)
    }
}
