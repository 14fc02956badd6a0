//! The sector manager's deal intake: operators queue deal pieces that
//! `Venus.AcquireDeals` then hands to workers.
//!
//! | method | params | result | needs |
//! | --- | --- | --- | --- |
//! | `Venus.Admin.AddDeal` | `[DealInfo, miner or null]` | `null` | admin |
//! | `Venus.Admin.DealQueue` | `[]` | `DealQueueStatus` | read |
//!
//! `DealInfo` is `{"ID": 7, "Piece": {"Size": 512, "PieceCID": {"/": "baga6ea4seaq…"}}}`
//! as [`venus_seal_core::manager::DealInfo`] serializes it; `miner`
//! (`"f01000"`) restricts the deal to one miner actor (null: any). A
//! deal the manager cannot take (a size that is not a padded piece size,
//! too large for the miner's sectors, a miner it does not serve) is an
//! invalid-params error (-32602) saying why.

mod client;
mod server;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use venus_seal_core::manager::DealInfo;
use venus_seal_core::ActorId;

use crate::Permission;

pub use client::DealClient;
pub use server::{deals_module, serve_manager_with_deals};

/// The method names.
pub mod methods {
    /// `Venus.Admin.AddDeal` (admin).
    pub const ADD_DEAL: &str = "Venus.Admin.AddDeal";
    /// `Venus.Admin.DealQueue` (read).
    pub const DEAL_QUEUE: &str = "Venus.Admin.DealQueue";
}

/// The permission each deal method needs.
pub fn deal_permissions() -> HashMap<&'static str, Permission> {
    HashMap::from([
        (methods::ADD_DEAL, Permission::Admin),
        (methods::DEAL_QUEUE, Permission::Read),
    ])
}

/// What `Venus.Admin.DealQueue` answers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DealQueueStatus {
    /// Deals waiting for a sector.
    pub queued: u64,
}

/// Why a deal was not queued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DealQueueError {
    /// The deal cannot go into any sector of the manager: the message
    /// says why (answered as invalid params).
    #[error("{0}")]
    Invalid(String),
    /// The manager's state store failed.
    #[error("the deal queue failed: {0}")]
    Internal(String),
}

/// The deal queue the methods serve: implemented by a binary over its
/// sector manager (venus-seal-chain's `LocalSectorManager::add_deal`);
/// tests serve a fake.
#[async_trait]
pub trait DealQueueApi: Send + Sync + 'static {
    /// Appends `deal` to the queue, for `miner` (`None`: any miner).
    async fn add_deal(&self, miner: Option<ActorId>, deal: DealInfo) -> Result<(), DealQueueError>;
    /// How the queue stands.
    async fn status(&self) -> Result<DealQueueStatus, DealQueueError>;
}

fn _assert_dyn(_: std::sync::Arc<dyn DealQueueApi>) {}
