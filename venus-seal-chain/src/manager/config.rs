//! Manager configuration.

use venus_seal_core::{ActorId, ChainEpoch, SealProof};

/// A miner actor the manager allocates sectors for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ManagedMiner {
    /// The actor.
    pub id: ActorId,
    /// The seal proof of its new sectors.
    pub proof: SealProof,
}

/// What a [`LocalSectorManager`](super::LocalSectorManager) serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagerConfig {
    /// The miners, in allocation preference order.
    pub miners: Vec<ManagedMiner>,
    /// Pre-commits request expiration at head + this many epochs.
    pub expiration_epochs: ChainEpoch,
}

impl ManagerConfig {
    /// 540 days of 30 s epochs: comfortably above the actors' 180-day
    /// minimum sector lifetime.
    pub const DEFAULT_EXPIRATION_EPOCHS: ChainEpoch = 540 * 2880;

    /// Serves `miners` with the default expiration.
    pub fn new(miners: Vec<ManagedMiner>) -> Self {
        Self {
            miners,
            expiration_epochs: Self::DEFAULT_EXPIRATION_EPOCHS,
        }
    }
}
