//! What the manager's jobs beside sealing (unseal, rebuild) share: an
//! in-memory index of the sectors with open jobs, filled by the requests
//! this process takes and, every [`RESCAN`], by a scan of the store, so
//! that jobs requested through another manager process on the same
//! database (or before a restart) are found too.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use tracing::{info, warn};
use venus_seal_core::manager::AllocateSpec;
use venus_seal_core::manager_store::SectorStatus;
use venus_seal_core::{ManagerError, SectorId};

use super::LocalSectorManager;

/// How often an index of sectors with open jobs is rebuilt from the
/// store.
pub(super) const RESCAN: Duration = Duration::from_secs(60);

/// Sectors with open jobs of one kind, and when the store was last
/// scanned for them.
#[derive(Debug, Default)]
pub(super) struct JobIndex {
    sectors: BTreeSet<SectorId>,
    scanned: Option<Instant>,
}

impl JobIndex {
    /// `sector` has an open job.
    pub(super) fn insert(&mut self, sector: SectorId) {
        self.sectors.insert(sector);
    }

    /// `sector` has none any more.
    pub(super) fn remove(&mut self, sector: &SectorId) {
        self.sectors.remove(sector);
    }

    /// The last scan is older than [`RESCAN`] (or there was none).
    pub(super) fn is_stale(&self) -> bool {
        self.scanned.is_none_or(|at| at.elapsed() >= RESCAN)
    }

    /// A scan found `open`.
    pub(super) fn scanned(&mut self, open: impl IntoIterator<Item = SectorId>) {
        self.sectors.extend(open);
        self.scanned = Some(Instant::now());
    }

    /// The sectors, in order.
    pub(super) fn sectors(&self) -> Vec<SectorId> {
        self.sectors.iter().copied().collect()
    }
}

impl LocalSectorManager {
    /// What `pick` finds in every sector's record, in sector order.
    pub(super) async fn jobs_of<T>(
        &self,
        pick: impl Fn(SectorStatus) -> Vec<T>,
    ) -> Result<Vec<(SectorId, T)>, ManagerError> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self.store.sectors(after, 500).await?;
            let Some((last, _)) = page.last() else {
                return Ok(out);
            };
            after = Some(*last);
            for (id, rec) in page {
                out.extend(pick(rec.value).into_iter().map(|j| (id, j)));
            }
        }
    }

    /// Hands out a `what` job: the first of `sectors` (those with open
    /// jobs, from the kind's [`JobIndex`]) of a miner and proof type
    /// `spec` allows for which `take` (under the record's compare-and-swap)
    /// answers one. A sector whose record no longer has an open job
    /// (`open` says) leaves `index`.
    pub(super) async fn hand_out<T>(
        &self,
        what: &str,
        sectors: Vec<SectorId>,
        spec: &AllocateSpec,
        index: &std::sync::Mutex<JobIndex>,
        mut take: impl FnMut(SectorId, &mut SectorStatus) -> Result<Option<T>, ManagerError>,
        open: impl Fn(&SectorStatus) -> bool,
    ) -> Result<Option<T>, ManagerError> {
        for sector in sectors {
            if !spec.allowed_miners.is_empty() && !spec.allowed_miners.contains(&sector.miner) {
                continue;
            }
            let taken = self
                .modify(sector, |rec| {
                    if !spec.allowed_proof_types.is_empty()
                        && !spec.allowed_proof_types.contains(&rec.proof_type)
                    {
                        return Ok(None);
                    }
                    take(sector, rec)
                })
                .await;
            match taken {
                Ok(Some(job)) => {
                    info!(%sector, "{what} job handed out");
                    return Ok(Some(job));
                }
                Ok(None) => {}
                Err(e) => warn!(%sector, error = %e, "cannot hand out its {what} job"),
            }
            if !self
                .sector_status(sector)
                .await?
                .is_some_and(|rec| open(&rec))
            {
                index
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(&sector);
            }
        }
        Ok(None)
    }
}
