//! The manager's view of the workers' persist stores, for damocles'
//! `Venus.StoreBasicInfo` and `Venus.StoreReserveSpace`.
//!
//! A damocles worker checks at start-up that the manager knows each of
//! its attached persist stores by name (`StoreBasicInfo` must not answer
//! `null`), and asks the manager where to persist each sector
//! (`StoreReserveSpace(sector, size, candidates)`). The sector manager
//! holds no store registry of its own (its `[proving].stores` are bare
//! paths), so this is a plain list given to the server: names, paths as
//! the manager's host mounts them, and flags.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use venus_seal_core::SectorId;

use super::wire::StoreBasicInfo;

/// One persist store the manager knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersistStoreEntry {
    /// The instance name workers use for it.
    pub name: String,
    /// Where it is mounted on the manager's host.
    pub path: PathBuf,
    /// Nothing new is placed there (still answered by `StoreBasicInfo`).
    pub read_only: bool,
    /// Relative share of new sectors (informational, sent as `Weight`).
    pub weight: u64,
    /// Free-form metadata, sent as `Meta`.
    pub meta: BTreeMap<String, String>,
}

impl PersistStoreEntry {
    /// A writable store `name` at `path`, weight 1, no metadata.
    pub fn new(name: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            path: path.into(),
            read_only: false,
            weight: 1,
            meta: BTreeMap::new(),
        }
    }

    fn info(&self) -> StoreBasicInfo {
        StoreBasicInfo {
            name: self.name.clone(),
            path: self.path.display().to_string(),
            strict: false,
            read_only: self.read_only,
            weight: self.weight,
            meta: Some(self.meta.clone()),
        }
    }
}

/// How many bytes are free under a path (a seam so tests need no full
/// disk).
pub type FreeSpace = Arc<dyn Fn(&Path) -> std::io::Result<u64> + Send + Sync>;

/// One store's space ([`PersistStores::usage`]).
#[derive(Debug)]
pub struct StoreUsage {
    /// The store's name.
    pub name: String,
    /// Nothing new is placed there.
    pub read_only: bool,
    /// Its free space on disk, or why it cannot be read.
    pub free: std::io::Result<u64>,
    /// Sectors with space reserved there, not yet finalized or aborted.
    pub reserved_sectors: usize,
    /// The bytes they reserved.
    pub reserved_bytes: u64,
}

/// The persist stores the manager serves `StoreBasicInfo` and
/// `StoreReserveSpace` from (see the [module docs](self)). Empty by
/// default: every store is unknown and no space can be reserved.
///
/// Reservations are kept in memory per sector: asking again for the same
/// sector returns the same store, and a store's free space counts the
/// bytes reserved there for other sectors as used. `ReportFinalized` and
/// `ReportAborted` release a sector's reservation.
#[derive(Clone)]
pub struct PersistStores {
    stores: Vec<PersistStoreEntry>,
    free_space: FreeSpace,
    reserved: Arc<Mutex<HashMap<SectorId, (usize, u64)>>>,
}

impl std::fmt::Debug for PersistStores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistStores")
            .field("stores", &self.stores)
            .finish_non_exhaustive()
    }
}

impl Default for PersistStores {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl PersistStores {
    /// A view of `stores`, measuring free space on disk.
    pub fn new(stores: Vec<PersistStoreEntry>) -> Self {
        Self::with_free_space(stores, Arc::new(|p: &Path| fs4::available_space(p)))
    }

    /// A view of `stores` measuring free space with `free_space`.
    pub fn with_free_space(stores: Vec<PersistStoreEntry>, free_space: FreeSpace) -> Self {
        Self {
            stores,
            free_space,
            reserved: Arc::default(),
        }
    }

    /// The stores, in configuration order.
    pub fn stores(&self) -> &[PersistStoreEntry] {
        &self.stores
    }

    /// `StoreBasicInfo(name)`: the store named `name`, or `None`.
    pub fn basic_info(&self, name: &str) -> Option<StoreBasicInfo> {
        self.stores
            .iter()
            .find(|s| s.name == name)
            .map(PersistStoreEntry::info)
    }

    /// `StoreReserveSpace(sector, size, candidates)`: a writable store
    /// among `candidates` (by name; empty: any) with `size` bytes free
    /// after the other sectors' reservations, the one with the most room;
    /// `None` when none has room. A store whose free space cannot be read
    /// is skipped (and logged).
    pub fn reserve(
        &self,
        sector: SectorId,
        size: u64,
        candidates: &[String],
    ) -> Option<StoreBasicInfo> {
        let mut reserved = self.reserved.lock().unwrap_or_else(PoisonError::into_inner);
        let wanted = |s: &PersistStoreEntry| {
            !s.read_only && (candidates.is_empty() || candidates.contains(&s.name))
        };
        if let Some(&(index, _)) = reserved.get(&sector) {
            if wanted(&self.stores[index]) {
                reserved.insert(sector, (index, size));
                return Some(self.stores[index].info());
            }
        }
        let best = self
            .stores
            .iter()
            .enumerate()
            .filter(|(_, s)| wanted(s))
            .filter_map(|(index, s)| {
                let free = match (self.free_space)(&s.path) {
                    Ok(free) => free,
                    Err(e) => {
                        tracing::warn!(store = %s.name, path = %s.path.display(), error = %e, "free space of a persist store unreadable: skipped");
                        return None;
                    }
                };
                let held: u64 = reserved
                    .iter()
                    .filter(|(id, (i, _))| **id != sector && *i == index)
                    .map(|(_, (_, n))| *n)
                    .sum();
                let room = free.saturating_sub(held);
                (room >= size).then_some((index, room))
            })
            .max_by_key(|&(index, room)| (room, std::cmp::Reverse(index)))
            .map(|(index, _)| index)?;
        reserved.insert(sector, (best, size));
        Some(self.stores[best].info())
    }

    /// Each writable store's room: its free space less what is reserved
    /// there, or why it cannot be read; in configuration order.
    pub fn room(&self) -> Vec<(String, std::io::Result<u64>)> {
        self.usage()
            .into_iter()
            .filter(|u| !u.read_only)
            .map(|u| {
                let room = u.free.map(|free| free.saturating_sub(u.reserved_bytes));
                (u.name, room)
            })
            .collect()
    }

    /// Every store's free space and the reservations held there, in
    /// configuration order.
    pub fn usage(&self) -> Vec<StoreUsage> {
        let reserved = self.reserved.lock().unwrap_or_else(PoisonError::into_inner);
        self.stores
            .iter()
            .enumerate()
            .map(|(index, s)| {
                let held: Vec<u64> = reserved
                    .values()
                    .filter(|(i, _)| *i == index)
                    .map(|(_, n)| *n)
                    .collect();
                StoreUsage {
                    name: s.name.clone(),
                    read_only: s.read_only,
                    free: (self.free_space)(&s.path),
                    reserved_sectors: held.len(),
                    reserved_bytes: held.iter().sum(),
                }
            })
            .collect()
    }

    /// Forgets `sector`'s reservation (it was finalized or aborted).
    pub fn release(&self, sector: SectorId) {
        self.reserved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&sector);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use venus_seal_core::{ActorId, SectorNumber};

    fn sector(n: u64) -> SectorId {
        SectorId::new(ActorId(1000), SectorNumber(n))
    }

    fn view(free: u64) -> PersistStores {
        let mut ro = PersistStoreEntry::new("ro", "/mnt/ro");
        ro.read_only = true;
        PersistStores::with_free_space(
            vec![
                PersistStoreEntry::new("a", "/mnt/a"),
                PersistStoreEntry::new("b", "/mnt/b"),
                ro,
            ],
            Arc::new(move |p: &Path| {
                Ok(if p == Path::new("/mnt/b") {
                    free + 10
                } else {
                    free
                })
            }),
        )
    }

    #[test]
    fn basic_info_names_known_stores_only() {
        let v = view(100);
        let info = v.basic_info("ro").unwrap();
        assert_eq!((info.path.as_str(), info.read_only), ("/mnt/ro", true));
        assert!(v.basic_info("nope").is_none());
    }

    #[test]
    fn reserve_picks_the_roomiest_candidate_and_counts_reservations() {
        let v = view(100);
        // b has the most room.
        assert_eq!(v.reserve(sector(1), 60, &[]).unwrap().name, "b");
        // The same sector keeps its store.
        assert_eq!(v.reserve(sector(1), 60, &[]).unwrap().name, "b");
        // b has 50 left after sector 1: a (100) is now the roomiest.
        assert_eq!(v.reserve(sector(2), 60, &[]).unwrap().name, "a");
        // Neither has 60 left; read-only stores never count.
        assert!(v.reserve(sector(3), 60, &[]).is_none());
        assert!(v.reserve(sector(3), 1, &["ro".into()]).is_none());
        // Releasing sector 1 frees b again.
        v.release(sector(1));
        assert_eq!(v.reserve(sector(3), 60, &["b".into()]).unwrap().name, "b");
    }
}
