//! Size and BLAKE2b-256 digest of a copy, to verify it against the source.

use std::fmt;
use std::io::Read;
use std::path::Path;

/// Buffer size for local reads and writes.
pub(crate) const BUF_SIZE: usize = 1 << 20;

/// The length and digest of a byte stream.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Digest {
    pub(crate) len: u64,
    hash: blake2b_simd::Hash,
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes, blake2b {}", self.len, self.hash.to_hex())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Hashes bytes as they stream past.
pub(crate) struct Hasher {
    state: blake2b_simd::State,
    len: u64,
}

impl Hasher {
    pub(crate) fn new() -> Self {
        Self {
            state: blake2b_simd::Params::new().hash_length(32).to_state(),
            len: 0,
        }
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.state.update(bytes);
        self.len += bytes.len() as u64;
    }

    pub(crate) fn finish(&self) -> Digest {
        Digest {
            len: self.len,
            hash: self.state.finalize(),
        }
    }
}

/// Reads a whole local file and digests it (blocking).
pub(crate) fn digest_file(path: &Path) -> std::io::Result<Digest> {
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; BUF_SIZE];
    let mut hasher = Hasher::new();
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Ok(hasher.finish()),
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
