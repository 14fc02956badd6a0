//! Building blocks of sealer and engine tests: the configuration they
//! share, a sealer over it, and an engine of one location.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::{
    Engine, Location, MemoryPieceStore, RetryPolicy, Sealer, SealerConfig, SectorManager,
    SectorStore, StageExecutors,
};

/// The [`SealerConfig`] sealer and engine tests run with: the manager
/// polled every 30 s, 3 retries a minute apart.
pub fn test_sealer_config() -> SealerConfig {
    SealerConfig {
        poll_interval: Duration::from_secs(30),
        retry: RetryPolicy {
            recover_interval: Duration::from_secs(60),
            max_retries: 3,
        },
        ..SealerConfig::default()
    }
}

/// A [`Sealer`] over `manager`, `executors` and `store`, with an empty
/// [`MemoryPieceStore`] and [`test_sealer_config`].
pub fn test_sealer(
    manager: Arc<dyn SectorManager>,
    executors: StageExecutors,
    store: Arc<dyn SectorStore>,
) -> Sealer {
    Sealer::new(
        manager,
        Arc::new(MemoryPieceStore::default()),
        executors,
        store,
        test_sealer_config(),
    )
}

/// An [`Engine`] of `sealer` and `store` sealing in one location, `dir`,
/// of `slots` slots.
pub fn one_location_engine(
    sealer: Sealer,
    store: Arc<dyn SectorStore>,
    dir: &Path,
    slots: usize,
) -> Engine {
    let location = Location {
        path: dir.to_path_buf(),
        slots,
    };
    Engine::new(sealer, store, vec![location])
}
