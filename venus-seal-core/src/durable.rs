//! Making files durable: the fsyncs a stage's outputs need before the state
//! that depends on them is saved.
//!
//! A saved [`SectorRecord`](crate::SectorRecord) says "these files hold this
//! stage's output". If the record reaches the disk before the files do, a
//! power cut leaves a record pointing at files that are empty, short or
//! missing: the sector resumes past a stage whose output is gone. So a
//! stage's output files are flushed, and the directories that name them,
//! before the record is saved.
//!
//! A file's data is durable after `fsync` on the file; its *name* (the entry
//! created, renamed or removed in its directory) only after `fsync` on the
//! directory. [`sync_tree`] does both for a file or a whole directory.
//!
//! The [`Syncer`] trait is the seam: [`OsSync`] issues the system calls, and
//! a test can pass one that records the order of syncs and saves.

use std::fs::File;
use std::io;
use std::path::Path;

/// Flushes files and directories to stable storage.
///
/// [`OsSync`] is the real one; tests pass a recorder to check that every
/// output is synced before the state that depends on it is saved.
pub trait Syncer: Send + Sync + std::fmt::Debug {
    /// Flushes the data and metadata of the file at `path`.
    fn sync_file(&self, path: &Path) -> io::Result<()>;

    /// Flushes the entries of directory `path` (names created, renamed or
    /// removed in it).
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
}

/// The [`Syncer`] that calls the operating system ([`sync_file`],
/// [`sync_dir`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct OsSync;

impl Syncer for OsSync {
    fn sync_file(&self, path: &Path) -> io::Result<()> {
        sync_file(path)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        sync_dir(path)
    }
}

/// Flushes the data and metadata of the file at `path` (`fsync`).
pub fn sync_file(path: &Path) -> io::Result<()> {
    // Windows flushes only through a handle opened for writing.
    std::fs::OpenOptions::new()
        .read(true)
        .write(cfg!(windows))
        .open(path)?
        .sync_all()
}

/// Flushes the entries of directory `path` (`fsync` on the directory), so
/// that files created, renamed or removed in it stay so after a power cut.
/// A no-op where directories cannot be opened as files (Windows).
pub fn sync_dir(path: &Path) -> io::Result<()> {
    if cfg!(unix) {
        File::open(path)?.sync_all()
    } else {
        Ok(())
    }
}

/// Makes `path` durable with the operating system's [`OsSync`]; see
/// [`sync_tree_with`].
pub fn sync_tree(path: &Path) -> io::Result<()> {
    sync_tree_with(&OsSync, path)
}

/// Makes `path` durable through `syncer`: a file, then the directory that
/// holds it; a directory, every file and directory under it (contents
/// before the directory that names them), then the directory that holds
/// it. Symbolic links are synced through (their target file) but never
/// descended into.
pub fn sync_tree_with(syncer: &dyn Syncer, path: &Path) -> io::Result<()> {
    sync_below(syncer, path)?;
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => syncer.sync_dir(parent),
        _ => Ok(()),
    }
}

/// `path` itself and, for a directory, everything under it.
fn sync_below(syncer: &dyn Syncer, path: &Path) -> io::Result<()> {
    if !std::fs::symlink_metadata(path)?.is_dir() {
        return syncer.sync_file(path);
    }
    let mut entries = std::fs::read_dir(path)?
        .map(|e| e.map(|e| e.path()))
        .collect::<io::Result<Vec<_>>>()?;
    entries.sort();
    for entry in entries {
        sync_below(syncer, &entry)?;
    }
    syncer.sync_dir(path)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Mutex;

    use super::*;

    #[derive(Debug, Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl Syncer for Recorder {
        fn sync_file(&self, path: &Path) -> io::Result<()> {
            self.0
                .lock()
                .unwrap()
                .push(format!("file {}", path.display()));
            sync_file(path)
        }

        fn sync_dir(&self, path: &Path) -> io::Result<()> {
            self.0
                .lock()
                .unwrap()
                .push(format!("dir {}", path.display()));
            sync_dir(path)
        }
    }

    fn name(kind: &str, p: &Path) -> String {
        format!("{kind} {}", p.display())
    }

    #[test]
    fn a_file_is_synced_then_its_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("sealed");
        std::fs::write(&f, b"x").unwrap();
        let rec = Recorder::default();
        sync_tree_with(&rec, &f).unwrap();
        assert_eq!(
            *rec.0.lock().unwrap(),
            vec![name("file", &f), name("dir", tmp.path())]
        );
    }

    #[test]
    fn a_tree_is_synced_contents_first_then_its_parent() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path().join("cache");
        let sub: PathBuf = cache.join("sub");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(cache.join("p_aux"), b"x").unwrap();
        std::fs::write(sub.join("tree"), b"y").unwrap();
        let rec = Recorder::default();
        sync_tree_with(&rec, &cache).unwrap();
        assert_eq!(
            *rec.0.lock().unwrap(),
            vec![
                name("file", &cache.join("p_aux")),
                name("file", &sub.join("tree")),
                name("dir", &sub),
                name("dir", &cache),
                name("dir", tmp.path()),
            ]
        );
        // The real calls succeed on the same tree.
        sync_tree(&cache).unwrap();
    }

    #[test]
    fn a_missing_path_is_an_error_naming_not_found() {
        let tmp = tempfile::tempdir().unwrap();
        let err = sync_tree(&tmp.path().join("nothing")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
