//! Deals from an outside [`DealMarket`]: assigned when a worker acquires
//! them, recorded on the sector, released in the market when the sector is
//! aborted.
//!
//! The market call and the store write cannot be one transaction. Each
//! path is ordered so that a failure leaves the deals recorded where a
//! retry finds them:
//!
//! * acquiring: the market assigns, then the deals are recorded
//!   (compare-and-swap). Deals the record could not take (the sector was
//!   aborted meanwhile, a concurrent call recorded others, the store
//!   failed) are released again at once.
//! * aborting: the abort is recorded first (deals kept), then the market
//!   releases them, then they leave the record. A market that cannot be
//!   reached is a Temporary error: the worker reports the abort again and
//!   the release is retried. A manager killed between the release and the
//!   last write releases them once more on that retry, which droplet takes
//!   as a no-op unless it assigned them elsewhere in between.

use tracing::{info, warn};
use venus_seal_core::manager::{AcquireDealsSpec, DealInfo};
use venus_seal_core::{ManagerError, SectorId, SectorSize};

use super::{aborted, LocalSectorManager};
use crate::market::DealMarket;

/// What the sector record said when the market's deals were offered to it.
enum Recorded {
    /// They are the sector's deals now.
    Taken,
    /// Another call recorded these first.
    Already(Vec<DealInfo>),
    /// The sector was aborted meanwhile.
    Aborted(String),
}

impl LocalSectorManager {
    /// [`acquire_deals`](venus_seal_core::SectorManager::acquire_deals)
    /// with a market, for a sector (of `size`) with no deals yet.
    pub(super) async fn acquire_from_market(
        &self,
        market: &dyn DealMarket,
        sector: SectorId,
        size: SectorSize,
        spec: AcquireDealsSpec,
    ) -> Result<Vec<DealInfo>, ManagerError> {
        let activation = self.deal_activation().await?;
        let deals = market
            .assign_deals(sector, size, spec, activation.earliest)
            .await?;
        let recorded = self
            .modify(sector, |r| {
                if let Some(reason) = &r.aborted {
                    return Ok(Recorded::Aborted(reason.clone()));
                }
                match &r.deals {
                    Some(other) => Ok(Recorded::Already(other.clone())),
                    None => {
                        r.deals = Some(deals.clone());
                        Ok(Recorded::Taken)
                    }
                }
            })
            .await;
        match recorded {
            Ok(Recorded::Taken) => {
                info!(%sector, deals = ?deals.iter().map(|d| d.id).collect::<Vec<_>>(),
                      "deals assigned by the market");
                Ok(deals)
            }
            Ok(Recorded::Already(other)) => {
                let unused: Vec<DealInfo> =
                    deals.into_iter().filter(|d| !other.contains(d)).collect();
                self.give_back(market, sector, &unused).await;
                Ok(other)
            }
            Ok(Recorded::Aborted(reason)) => {
                self.give_back(market, sector, &deals).await;
                Err(aborted(sector, &reason))
            }
            Err(e) => {
                self.give_back(market, sector, &deals).await;
                Err(e)
            }
        }
    }

    /// Releases deals no record holds; a failure is only logged (the
    /// caller already has an answer to give).
    async fn give_back(&self, market: &dyn DealMarket, sector: SectorId, deals: &[DealInfo]) {
        if deals.is_empty() {
            return;
        }
        if let Err(e) = market.release_deals(sector, deals).await {
            warn!(%sector, error = %e, deals = ?deals.iter().map(|d| d.id).collect::<Vec<_>>(),
                  "could not release deals the sector did not take: release them in the market by hand");
        }
    }

    /// [`report_aborted`](venus_seal_core::SectorManager::report_aborted)
    /// with a market.
    pub(super) async fn abort_with_market(
        &self,
        market: &dyn DealMarket,
        sector: SectorId,
        reason: String,
    ) -> Result<(), ManagerError> {
        let rec = self
            .modify(sector, |r| {
                if r.aborted.is_none() {
                    r.record(super::event("Aborted", reason.clone()));
                }
                r.aborted = Some(reason.clone());
                Ok(r.clone())
            })
            .await?;
        let Some(deals) = rec.deals.clone().filter(|d| !d.is_empty()) else {
            return Ok(());
        };
        if !self.deals_releasable(sector, &rec).await? {
            warn!(%sector, "the deals stay with the aborted sector: its proof may land and activate them");
            return Ok(());
        }
        market.release_deals(sector, &deals).await?;
        self.modify(sector, |r| {
            if r.deals.as_ref() == Some(&deals) {
                r.deals = None;
            }
            Ok(())
        })
        .await?;
        info!(%sector, deals = ?deals.iter().map(|d| d.id).collect::<Vec<_>>(),
              "deals of an aborted sector released in the market");
        Ok(())
    }
}
