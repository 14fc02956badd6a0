//! Persistent sector stores: where [`Persist`](venus_seal_core::stage::Persist)
//! copies a sealed sector so that it can be proven for its whole life.
//!
//! * [`PersistStore`]: one store (a local or mounted directory, an object
//!   store bucket). Small on purpose: free space, put a file (verified),
//!   get a file back, delete a prefix.
//! * [`LocalPersistStore`]: a directory; atomic, fsync'd copies.
//! * [`ObjectPersistStore`]: any [`object_store::ObjectStore`] (in memory,
//!   local files, and S3 with the `s3` feature); streamed multipart
//!   uploads, so a 32 GiB sealed file is never held in memory.
//! * [`PersistStores`]: the `Executor<Persist>` that picks a store with
//!   room, copies the sector's files there and verifies them.
//! * The trait and [`check_key`] live in
//!   [`venus_seal_core::persist_store`] (re-exported here); the suite every
//!   store passes is `venus_seal_core::testing::conformance::persist_store`.
//!
//! # Layout
//!
//! Keys are `/`-separated and follow the Lotus layout:
//! `sealed/s-t0<miner>-<number>` for the sealed file and
//! `cache/s-t0<miner>-<number>/<file>` for the cache files
//! ([`sealed_key`], [`cache_key`]).
//!
//! # Design rationale
//!
//! Every copy is verified where it is made (size and a BLAKE2b digest of
//! the source against what the store holds), so a sector is reported
//! finalized only once its proof inputs are known to be intact in the
//! store. A store that fails midway leaves no half-copied sector behind:
//! [`PersistStores`] deletes both prefixes before returning the error.

use venus_seal_core::SectorId;

mod digest;
mod files;
mod local;
mod locate;
mod object;
mod stores;

pub use files::{collect_sector_files, collect_update_files, SectorFile};
pub use local::{LocalPersistStore, STALE_PARTIAL_AGE};
pub use locate::PersistedSectors;
pub use object::{ObjectPersistStore, DEFAULT_PART_SIZE};
pub use stores::PersistStores;
pub use venus_seal_core::persist_store::{
    cache_prefix, check_key, sealed_key, update_cache_prefix, update_key, PersistStore,
    PersistStoreError,
};

/// The key of one cache file: `cache/s-t0<miner>-<number>/<file>`.
///
/// ```
/// use venus_seal_core::{ActorId, SectorId, SectorNumber};
/// let id = SectorId::new(ActorId(1000), SectorNumber(7));
/// assert_eq!(
///     venus_seal_backends::persist::cache_key(&id, "p_aux"),
///     "cache/s-t01000-7/p_aux"
/// );
/// ```
pub fn cache_key(sector: &SectorId, file: &str) -> String {
    format!("cache/{sector}/{file}")
}
