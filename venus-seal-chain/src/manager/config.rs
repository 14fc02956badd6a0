//! Manager configuration.

use std::path::PathBuf;

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
    /// Where the manager saves its state after every change, to survive a
    /// crash (`None`: memory only). Open such a manager with
    /// [`LocalSectorManager::open`](super::LocalSectorManager::open).
    pub state_file: Option<PathBuf>,
}

impl ManagerConfig {
    /// 540 days of 30 s epochs: comfortably above the actors' 180-day
    /// minimum sector lifetime.
    pub const DEFAULT_EXPIRATION_EPOCHS: ChainEpoch = 540 * 2880;

    /// Serves `miners` with the default expiration, in memory only.
    pub fn new(miners: Vec<ManagedMiner>) -> Self {
        Self {
            miners,
            expiration_epochs: Self::DEFAULT_EXPIRATION_EPOCHS,
            state_file: None,
        }
    }

    /// The same config, saving the manager's state to `path`.
    pub fn with_state_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.state_file = Some(path.into());
        self
    }
}
