//! Scratch directories and fresh values for the suites (no `tempfile` or
//! `rand` in the core).

use std::path::{Path, PathBuf};

/// A fresh 64-bit value (not cryptographic): time, process, a counter.
pub(crate) fn fresh_u64() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut x = nanos
        ^ (u64::from(std::process::id()) << 32)
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    // splitmix64's finaliser
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// `len` pseudo-random bytes (xorshift from a fresh seed).
pub(crate) fn random_bytes(len: usize) -> Vec<u8> {
    let mut x = fresh_u64() | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A scratch directory under the system's temporary directory, removed
/// on drop.
#[derive(Debug)]
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    /// A fresh, empty directory named after `what`.
    pub(crate) fn new(what: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "venus-seal-{what}-conformance-{}-{:016x}",
            std::process::id(),
            fresh_u64()
        ));
        std::fs::create_dir_all(&dir).expect("creating a scratch directory");
        Self(dir)
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    /// A fresh, empty subdirectory.
    pub(crate) fn subdir(&self, name: &str) -> PathBuf {
        let dir = self.0.join(name);
        std::fs::create_dir_all(&dir).expect("creating a scratch directory");
        dir
    }

    /// Writes `len` random bytes to `name`, returning its path and bytes.
    pub(crate) fn write_random(&self, name: &str, len: usize) -> (PathBuf, Vec<u8>) {
        let bytes = random_bytes(len);
        let path = self.0.join(name);
        std::fs::write(&path, &bytes).expect("writing a scratch file");
        (path, bytes)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
