//! State files: how the devnet and the manager survive a process crash.
//!
//! A state file is one JSON document holding everything its owner keeps.
//! It is rewritten whole after every change, atomically and durably
//! ([`write_atomic`]): a crash leaves either the old or the new document,
//! never a torn one. One process owns a state file at a time.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a state file could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateFileError {
    /// Reading, writing or syncing the file failed.
    #[error("state file {}: {source}", path.display())]
    Io {
        /// The state file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The file exists but is not a state file this version can read.
    #[error("state file {} cannot be parsed: {reason}", path.display())]
    Corrupt {
        /// The state file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The file belongs to a devnet with another randomness seed: loading it
    /// would change the randomness under its sectors.
    #[error(
        "state file {} was written by a devnet with another seed; \
         use the seed it was written with, or another state file",
        path.display()
    )]
    SeedMismatch {
        /// The state file.
        path: PathBuf,
    },
}

impl StateFileError {
    fn io(path: &Path, source: io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Reads and parses `path`; `Ok(None)` if it does not exist.
pub(crate) fn load<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, StateFileError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StateFileError::io(path, e)),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| StateFileError::Corrupt {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

/// Serialises `value` and writes it to `path` atomically and durably:
/// a temporary file in the same directory is written and fsynced, renamed
/// over `path`, and the directory is fsynced.
pub(crate) fn save<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<(), StateFileError> {
    let bytes = serde_json::to_vec(value).map_err(|e| StateFileError::Io {
        path: path.to_path_buf(),
        source: io::Error::other(e),
    })?;
    write_atomic(path, &bytes).map_err(|e| StateFileError::io(path, e))
}

/// Replaces `path` with `bytes` (see [`save`]).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    let mut file = File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, path)?;
    sync_dir(dir)
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// Serialises a map as a sequence of `[key, value]` pairs, so that keys
/// need not be strings in JSON.
pub(crate) mod pairs {
    use super::{Deserialize, Deserializer, Serialize, Serializer};

    /// Writes the map's entries as pairs.
    pub(crate) fn serialize<'a, S, M, K, V>(map: &'a M, s: S) -> Result<S::Ok, S::Error>
    where
        S: Serializer,
        &'a M: IntoIterator<Item = (&'a K, &'a V)>,
        K: Serialize + 'a,
        V: Serialize + 'a,
    {
        s.collect_seq(map)
    }

    /// Reads pairs back into a map.
    pub(crate) fn deserialize<'de, D, M, K, V>(d: D) -> Result<M, D::Error>
    where
        D: Deserializer<'de>,
        M: FromIterator<(K, V)>,
        K: Deserialize<'de>,
        V: Deserialize<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_replace_the_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        assert_eq!(load::<Vec<u32>>(&path).unwrap(), None);
        save(&path, &Vec::<u32>::new()).unwrap();
        // A reader never sees a partly written file while saves go on.
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (path, done) = (path.clone(), done.clone());
            std::thread::spawn(move || {
                let mut reads = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let value = load::<Vec<u32>>(&path).unwrap().unwrap();
                    assert!(value.iter().copied().eq(0..value.len() as u32));
                    reads += 1;
                }
                reads
            })
        };
        for n in 0..200u32 {
            let value: Vec<u32> = (0..n * 50).collect();
            save(&path, &value).unwrap();
            assert_eq!(load::<Vec<u32>>(&path).unwrap(), Some(value));
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
    }

    #[test]
    fn a_corrupt_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.json");
        fs::write(&path, b"{\"head\": 12, trunc").unwrap();
        let err = load::<serde_json::Value>(&path).unwrap_err();
        assert!(matches!(err, StateFileError::Corrupt { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("broken.json") && text.contains("cannot be parsed"),
            "{text}"
        );
    }
}
