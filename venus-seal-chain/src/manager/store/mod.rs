//! Where the sector manager keeps its state: one trait, three backends.
//!
//! A [`ManagerStore`] holds, per miner, the next sector number; per sector,
//! a [`SectorStatus`] with a version for compare-and-swap updates; and the
//! deal queue. Every operation that must not race (allocating a number,
//! taking deals) is one atomic store operation, so several manager
//! processes may share one store ([`SqlManagerStore`] on PostgreSQL) and
//! still never hand out a number or a deal twice.
//!
//! * [`MemoryManagerStore`]: in memory, for tests and throwaway devnets;
//! * [`SqlManagerStore`] on SQLite: the default, one manager process;
//! * [`SqlManagerStore`] on PostgreSQL: several manager processes.
//!
//! The trait and its data types live in
//! [`venus_seal_core::manager_store`], re-exported here; its conformance
//! suite is `venus_seal_core::testing::conformance::manager_store`, run on
//! every backend by `tests/conformance.rs`.

mod memory;
mod sql;
#[cfg(test)]
mod tests;

use venus_seal_core::manager::AcquireDealsSpec;
use venus_seal_core::{ActorId, SectorSize};

pub use memory::MemoryManagerStore;
pub use sql::SqlManagerStore;
pub use venus_seal_core::manager_store::{
    DealActivation, ExpiredDeal, ManagerStore, ManagerStoreError, NumberRange, ReleasedDeals,
    Versioned,
};

/// Which deals of `queue` (in order: miner restriction, padded size) fit
/// `miner`, `size` and `spec`; their indexes, or none.
pub(crate) fn pick_deals(
    queue: impl IntoIterator<Item = (Option<ActorId>, u64)>,
    miner: ActorId,
    size: SectorSize,
    spec: AcquireDealsSpec,
) -> Vec<usize> {
    let max = spec.max_deals.unwrap_or(usize::MAX);
    let mut used = 0u64;
    let mut picked = Vec::new();
    for (i, (only, piece)) in queue.into_iter().enumerate() {
        if picked.len() >= max {
            break;
        }
        if only.is_some_and(|m| m != miner) {
            continue;
        }
        if used.saturating_add(piece) <= size.0 {
            used += piece;
            picked.push(i);
        }
    }
    if picked.is_empty() || used < spec.min_used_space.unwrap_or(0) {
        return Vec::new();
    }
    picked
}
