//! [`PersistStores`]: persist onto one of several persistent stores.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use rand::Rng;
use tracing::{info, warn};
use venus_seal_core::stage::{Persist, PersistOutput};
use venus_seal_core::{Executor, StageError};

use super::files::{collect_sector_files, collect_update_files, SectorFile};
use super::{cache_prefix, sealed_key, update_cache_prefix, update_key, PersistStore};

#[derive(Clone, Debug)]
struct Entry {
    store: Arc<dyn PersistStore>,
    weight: u32,
}

/// The [`Executor<Persist>`] that copies a sector onto one of several
/// [`PersistStore`]s.
///
/// For each task it lists the sector's files ([`collect_sector_files`]),
/// picks a store with room for all of them, copies and verifies each file,
/// and reports the store's name as the instance holding the sector, with
/// the sealing location free to clean.
///
/// Picking: stores whose [`available`](PersistStore::available) space is
/// at least the sector's size (or unknown) are candidates; a store whose
/// `available` fails is skipped with a warning. When all candidates weigh
/// the same, the one with the most free space wins (unknown counts as
/// most; ties go to the first added); otherwise one is drawn at random in
/// proportion to its weight. A weight of 0 takes no new sectors.
///
/// No candidate is [`StageError::Unavailable`] (Temporary: an operator
/// can free space). A copy failing midway deletes what was copied and
/// returns the error. Running a task again overwrites its files.
///
/// Reservations: a copy in progress reserves its size on its store until
/// it ends, and picking counts a store's free space less what is reserved
/// on it, one pick at a time; so two sectors persisted at once never both
/// pass the free-space check of a store with room for one. Reservations
/// are shared by clones, per process (other processes writing to the same
/// store are not seen until their files take the space).
#[derive(Clone, Debug, Default)]
pub struct PersistStores {
    stores: Vec<Entry>,
    reservations: Arc<Reservations>,
}

/// Bytes reserved by copies in progress, per store.
#[derive(Debug, Default)]
struct Reservations {
    /// Held across a whole pick, so that checking and reserving are one
    /// step.
    picking: tokio::sync::Mutex<()>,
    /// Bytes reserved, by store (the address of its `Arc`).
    bytes: Mutex<HashMap<usize, u64>>,
}

impl Reservations {
    fn reserved(&self, key: usize) -> u64 {
        let bytes = self.bytes.lock().expect("reservations poisoned");
        bytes.get(&key).copied().unwrap_or(0)
    }
}

/// Space reserved on a store for one copy; released when dropped.
#[derive(Debug)]
struct Reservation {
    reservations: Arc<Reservations>,
    key: usize,
    bytes: u64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut bytes = self
            .reservations
            .bytes
            .lock()
            .expect("reservations poisoned");
        if let Some(reserved) = bytes.get_mut(&self.key) {
            *reserved = reserved.saturating_sub(self.bytes);
            if *reserved == 0 {
                bytes.remove(&self.key);
            }
        }
    }
}

fn key_of(store: &Arc<dyn PersistStore>) -> usize {
    Arc::as_ptr(store) as *const () as usize
}

impl PersistStores {
    /// No stores yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a store of weight 1.
    pub fn with_store(self, store: Arc<dyn PersistStore>) -> Self {
        self.with_weighted_store(store, 1)
    }

    /// Adds a store of weight `weight`.
    pub fn with_weighted_store(mut self, store: Arc<dyn PersistStore>, weight: u32) -> Self {
        self.push(store, weight);
        self
    }

    /// Adds a store of weight `weight`.
    pub fn push(&mut self, store: Arc<dyn PersistStore>, weight: u32) {
        self.stores.push(Entry { store, weight });
    }

    /// The stores, in the order they were added.
    pub fn stores(&self) -> impl Iterator<Item = &Arc<dyn PersistStore>> {
        self.stores.iter().map(|e| &e.store)
    }

    /// Picks a store with `needed` bytes free besides what copies in
    /// progress reserved; see the type's docs.
    pub async fn pick(&self, needed: u64) -> Result<Arc<dyn PersistStore>, StageError> {
        let _one_at_a_time = self.reservations.picking.lock().await;
        self.pick_unlocked(needed).await
    }

    /// Picks a store as [`pick`](Self::pick) does and reserves `needed`
    /// bytes on it until the reservation is dropped.
    async fn pick_and_reserve(
        &self,
        needed: u64,
    ) -> Result<(Arc<dyn PersistStore>, Reservation), StageError> {
        let _one_at_a_time = self.reservations.picking.lock().await;
        let store = self.pick_unlocked(needed).await?;
        let key = key_of(&store);
        *self
            .reservations
            .bytes
            .lock()
            .expect("reservations poisoned")
            .entry(key)
            .or_default() += needed;
        let reservation = Reservation {
            reservations: self.reservations.clone(),
            key,
            bytes: needed,
        };
        Ok((store, reservation))
    }

    async fn pick_unlocked(&self, needed: u64) -> Result<Arc<dyn PersistStore>, StageError> {
        let mut candidates: Vec<(&Entry, Option<u64>)> = Vec::new();
        let mut report = String::new();
        for entry in &self.stores {
            let name = entry.store.name();
            if !report.is_empty() {
                report.push_str(", ");
            }
            match entry.store.available().await {
                Ok(free) => {
                    let reserved = self.reservations.reserved(key_of(&entry.store));
                    match free {
                        Some(free) if reserved > 0 => write!(
                            report,
                            "{name}: {free} free ({reserved} reserved by copies in progress)"
                        ),
                        Some(free) => write!(report, "{name}: {free} free"),
                        None => write!(report, "{name}: unbounded"),
                    }
                    .expect("writing to a String");
                    let free = free.map(|free| free.saturating_sub(reserved));
                    if entry.weight > 0 && free.is_none_or(|free| free >= needed) {
                        candidates.push((entry, free));
                    } else if entry.weight == 0 {
                        report.push_str(" (weight 0)");
                    }
                }
                Err(e) => {
                    warn!(store = name, error = %e, "persistent store skipped");
                    write!(report, "{name}: unavailable ({e})").expect("writing to a String");
                }
            }
        }
        if candidates.is_empty() {
            if self.stores.is_empty() {
                report.push_str("none configured");
            }
            return Err(StageError::Unavailable(format!(
                "no persistent store has {needed} bytes free: {report}"
            )));
        }
        let first_weight = candidates[0].0.weight;
        let chosen = if candidates.iter().all(|(e, _)| e.weight == first_weight) {
            // max_by_key keeps the last maximum: search in reverse so ties
            // go to the first added.
            candidates
                .iter()
                .rev()
                .max_by_key(|(_, free)| free.unwrap_or(u64::MAX))
                .expect("candidates is not empty")
                .0
        } else {
            let total: u64 = candidates.iter().map(|(e, _)| u64::from(e.weight)).sum();
            let mut draw = rand::thread_rng().gen_range(0..total);
            candidates
                .iter()
                .find(|(e, _)| {
                    let hit = draw < u64::from(e.weight);
                    draw = draw.saturating_sub(u64::from(e.weight));
                    hit
                })
                .expect("the draw is below the total weight")
                .0
        };
        Ok(chosen.store.clone())
    }
}

async fn copy_all(store: &dyn PersistStore, files: &[SectorFile]) -> Result<(), StageError> {
    for file in files {
        store.put_file(&file.key, &file.path).await?;
    }
    Ok(())
}

#[async_trait]
impl Executor<Persist> for PersistStores {
    async fn execute(&self, task: Persist) -> Result<PersistOutput, StageError> {
        let sector = task.sector;
        let (files, prefixes) = if task.update {
            (
                collect_update_files(&sector, &task.paths).await?,
                [update_key(&sector), update_cache_prefix(&sector)],
            )
        } else {
            (
                collect_sector_files(&sector, &task.paths).await?,
                [sealed_key(&sector), cache_prefix(&sector)],
            )
        };
        let total: u64 = files.iter().map(|f| f.size).sum();
        let (store, _reservation) = self.pick_and_reserve(total).await?;
        let started = Instant::now();
        info!(%sector, store = store.name(), files = files.len(), bytes = total, "persisting sector");

        if let Err(e) = copy_all(store.as_ref(), &files).await {
            warn!(%sector, store = store.name(), error = %e, "persisting failed, removing the partial copy");
            for prefix in &prefixes {
                if let Err(cleanup) = store.delete_prefix(prefix).await {
                    warn!(%sector, store = store.name(), prefix, error = %cleanup, "cleanup failed");
                }
            }
            return Err(e);
        }
        info!(%sector, store = store.name(), bytes = total, update = task.update, elapsed = ?started.elapsed(), "sector persisted");
        Ok(PersistOutput {
            instance: store.name().to_string(),
            clean_sealing_location: true,
        })
    }
}
