//! Deals from an outside market: the [`DealMarket`] seam and
//! [`DropletMarket`], droplet's (formerly venus-market) deal assignment API.
//!
//! Without a market, [`LocalSectorManager`](crate::manager::LocalSectorManager)
//! hands out the deals queued on it
//! ([`add_deal`](crate::manager::LocalSectorManager::add_deal)). With one
//! ([`set_deal_market`](crate::manager::LocalSectorManager::set_deal_market)),
//! a sector's deals are asked of the market when its worker acquires
//! deals, recorded on the sector, and given back to the market when the
//! sector is aborted before its proof could have activated them, as
//! damocles-manager does (`modules/impl/dealmgr/dealmgr.go`).
//!
//! See `docs/venus-market.md` for the droplet methods and shapes, with the
//! upstream files and commits they were read from.

mod droplet;
pub mod wire;

use std::fmt;

use async_trait::async_trait;
use venus_seal_core::error::ChainError;
use venus_seal_core::manager::{AcquireDealsSpec, DealInfo};
use venus_seal_core::{ChainEpoch, SectorId, SectorSize};

pub use droplet::DropletMarket;

/// A market that assigns deals to sectors and takes back those of a
/// sector given up.
///
/// Errors are [`ChainError`]s: a market is a chain-side service, and its
/// failures never doom a sector (the manager answers the worker with a
/// Temporary error; see [`ManagerError::Chain`](venus_seal_core::ManagerError::Chain)).
#[async_trait]
pub trait DealMarket: Send + Sync + fmt::Debug {
    /// Assigns deals to `sector` (of `size`) within `spec`, none of which
    /// starts at or before `earliest_start` (the first epoch a sector sealed
    /// from now could activate a deal). An empty answer: no deal fits, the
    /// sector is sealed committed-capacity. The market remembers the
    /// assignment: the deals are not given to another sector until
    /// [`release_deals`](Self::release_deals).
    async fn assign_deals(
        &self,
        sector: SectorId,
        size: SectorSize,
        spec: AcquireDealsSpec,
        earliest_start: ChainEpoch,
    ) -> Result<Vec<DealInfo>, ChainError>;

    /// Gives `deals`, assigned to `sector`, back to the market for other
    /// sectors. Releasing a deal already released does no harm.
    async fn release_deals(&self, sector: SectorId, deals: &[DealInfo]) -> Result<(), ChainError>;
}

#[cfg(test)]
mod tests;
