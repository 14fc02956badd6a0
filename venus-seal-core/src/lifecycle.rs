//! A proven sector's life on chain after sealing, as the sector manager's
//! operator API answers it: what an extension (`ExtendSectorExpiration2`)
//! or a termination (`TerminateSectors`) sends, or in a dry run would
//! send, and the sectors it left out with the reason. The manager's side
//! is venus-seal-chain's `LocalSectorManager::extend_sectors` and
//! `terminate_sectors`.

use serde::{Deserialize, Serialize};

use crate::chain::{MessageId, OnChainSector, SectorsDeclaration};
use crate::types::ids::{ActorId, ChainEpoch, SectorNumber};

/// A sector left out of an extension or termination, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LeftOut {
    /// The sector.
    pub number: SectorNumber,
    /// Why it is not in the message.
    pub reason: String,
}

/// What an extension or termination sends (or, in a dry run, would send).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LifecyclePlan {
    /// The miner actor.
    pub miner: ActorId,
    /// The sectors in the message, by deadline and partition.
    pub partitions: Vec<SectorsDeclaration>,
    /// The expiration the sectors get (extensions only).
    pub new_expiration: Option<ChainEpoch>,
    /// The sectors named that are not in the message.
    pub left_out: Vec<LeftOut>,
    /// The message sent; `None` for a dry run.
    pub message: Option<MessageId>,
}

impl LifecyclePlan {
    /// The sectors the message carries.
    pub fn sectors(&self) -> impl Iterator<Item = SectorNumber> + '_ {
        self.partitions
            .iter()
            .flat_map(|p| p.sectors.iter().copied())
    }
}

/// A miner's sectors that expire soon (`Venus.Admin.SectorsExpiring`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExpiringSectors {
    /// The chain head the list was read at.
    pub head: ChainEpoch,
    /// The sectors, the soonest expiry first.
    pub sectors: Vec<OnChainSector>,
}
