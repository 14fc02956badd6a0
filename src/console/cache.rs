//! What a page reads that is costly (every sector in the store, 48
//! deadlines' partitions from the node), kept for a short while so that
//! operators reloading pages, or several of them at once, cost one read.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Values by key, each kept [`FACTOR`] times as long as it took to read
/// (at least `min`, at most `max`): a store or node that answers in
/// milliseconds is read afresh on nearly every page, a slow one at most a
/// tenth of the time. Concurrent readers of a stale key wait for one read
/// instead of each making their own.
#[derive(Debug)]
pub struct Cached<K, V> {
    min: Duration,
    max: Duration,
    slots: std::sync::Mutex<HashMap<K, Slot<V>>>,
}

/// A key's value: when it goes stale, and the value.
type Slot<V> = Arc<Mutex<Option<(Instant, Arc<V>)>>>;

/// A value is kept this many times as long as it took to read.
pub const FACTOR: u32 = 10;

impl<K: Eq + Hash + Clone, V> Cached<K, V> {
    /// Keeps each value [`FACTOR`] times its read time, within `min..=max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max,
            slots: std::sync::Mutex::default(),
        }
    }

    /// `key`'s value, read with `load` if it is missing or stale. A failed
    /// read is not kept.
    pub async fn get<E, Fut>(&self, key: K, load: impl FnOnce() -> Fut) -> Result<Arc<V>, E>
    where
        Fut: Future<Output = Result<V, E>>,
    {
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_default()
            .clone();
        let mut slot = slot.lock().await;
        if let Some((stale_at, value)) = &*slot {
            if Instant::now() < *stale_at {
                return Ok(value.clone());
            }
        }
        let started = Instant::now();
        let value = Arc::new(load().await?);
        let keep = (started.elapsed() * FACTOR).clamp(self.min, self.max);
        *slot = Some((Instant::now() + keep, value.clone()));
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Reads take 1 s here: each value is kept 10 s.
    #[tokio::test(start_paused = true)]
    async fn one_read_per_key_per_ttl_and_failures_are_not_kept() {
        let cache = Cached::<u8, usize>::new(Duration::from_secs(1), Duration::from_secs(60));
        let reads = Arc::new(AtomicUsize::new(0));
        let read = |key: u8| {
            let reads = reads.clone();
            let cache = &cache;
            async move {
                cache
                    .get(key, || async move {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        Ok::<_, String>(reads.fetch_add(1, Ordering::SeqCst))
                    })
                    .await
                    .unwrap()
            }
        };
        // Three readers at once: one read.
        let (a, b, c) = tokio::join!(read(1), read(1), read(1));
        assert_eq!((*a, *b, *c), (0, 0, 0));
        assert_eq!(*read(2).await, 1, "another key is read apart");
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(*read(1).await, 0, "still fresh");
        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!(*read(1).await, 2, "stale: read again");
        let failed = cache
            .get(3, || async { Err::<usize, _>("node down") })
            .await;
        assert_eq!(failed.unwrap_err(), "node down");
        assert_eq!(*read(3).await, 3, "a failure is not kept");
    }
}

#[cfg(test)]
mod bounds {
    use super::*;

    /// A fast read is kept the minimum; a very slow one the maximum.
    #[tokio::test(start_paused = true)]
    async fn the_time_kept_follows_the_read_time_within_bounds() {
        let cache = Cached::<(), u32>::new(Duration::from_secs(1), Duration::from_secs(60));
        let n = std::sync::atomic::AtomicU32::new(0);
        let read = |took: Duration| {
            let n = &n;
            let cache = &cache;
            async move {
                *cache
                    .get((), || async move {
                        tokio::time::sleep(took).await;
                        Ok::<_, ()>(n.fetch_add(1, std::sync::atomic::Ordering::SeqCst))
                    })
                    .await
                    .unwrap()
            }
        };
        assert_eq!(read(Duration::from_millis(1)).await, 0);
        tokio::time::advance(Duration::from_millis(900)).await;
        assert_eq!(read(Duration::ZERO).await, 0, "kept the 1 s minimum");
        tokio::time::advance(Duration::from_millis(200)).await;
        assert_eq!(read(Duration::from_secs(30)).await, 1, "read again, slowly");
        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(read(Duration::ZERO).await, 1, "kept the 60 s maximum");
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(read(Duration::ZERO).await, 2);
    }
}
