//! [`ObjectPersistStore`]: any [`ObjectStore`] (memory, local files, S3).

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::info;
use venus_seal_core::persist_store::PersistStoreError;

use super::digest::Hasher;
use super::{check_key, PersistStore};

/// Default size of an upload part (and of the largest single `put`).
pub const DEFAULT_PART_SIZE: usize = 8 << 20;

/// Parts uploaded at once; bounds memory to about this many parts.
const MAX_CONCURRENT_PARTS: usize = 4;

/// A persistent store on an [`ObjectStore`], holding files at
/// `prefix/<key>`.
///
/// Files up to [`part_size`](Self::part_size) are uploaded with one `put`;
/// larger ones stream through a multipart upload in parts of that size,
/// a few parts in flight, so a 32 GiB sealed file is never held in memory.
/// Each upload is verified: the size `head` reports and the digest of a
/// re-read `get` must match what was read from the source. Failures of the
/// store (transport, a mismatching re-read) are
/// [`PersistStoreError::Unavailable`] (Temporary).
///
/// Enable the `s3` feature for Amazon S3 and S3-compatible stores
/// (`object_store::aws::AmazonS3Builder`); the in-memory store needs no
/// feature.
///
/// ```
/// use std::sync::Arc;
/// use venus_seal_backends::persist::{ObjectPersistStore, PersistStore};
/// let store = ObjectPersistStore::new(
///     "mem",
///     Arc::new(object_store::memory::InMemory::new()),
///     object_store::path::Path::from("sectors"),
/// );
/// assert_eq!(store.name(), "mem");
/// ```
#[derive(Clone, Debug)]
pub struct ObjectPersistStore {
    /// The store's name (the instance reported to the manager).
    pub name: String,
    /// The object store.
    pub store: Arc<dyn ObjectStore>,
    /// The prefix under which keys are stored.
    pub prefix: ObjectPath,
    /// Upload part size in bytes (S3 needs at least 5 MiB).
    pub part_size: usize,
}

impl ObjectPersistStore {
    /// A store named `name` over `store`, with keys under `prefix` and
    /// parts of [`DEFAULT_PART_SIZE`].
    pub fn new(name: impl Into<String>, store: Arc<dyn ObjectStore>, prefix: ObjectPath) -> Self {
        Self {
            name: name.into(),
            store,
            prefix,
            part_size: DEFAULT_PART_SIZE,
        }
    }

    /// Uses upload parts of `bytes` (at least 1).
    pub fn with_part_size(mut self, bytes: usize) -> Self {
        self.part_size = bytes.max(1);
        self
    }

    /// The object path of `key`.
    pub fn location(&self, key: &str) -> Result<ObjectPath, PersistStoreError> {
        Ok(check_key(key)?
            .into_iter()
            .fold(self.prefix.clone(), |path, segment| path.join(segment)))
    }

    fn unavailable(
        &self,
        what: &str,
        location: &ObjectPath,
        e: impl std::fmt::Display,
    ) -> PersistStoreError {
        PersistStoreError::Unavailable(format!("store {}: {what} {location}: {e}", self.name))
    }

    /// A failed store call: Critical when the store's disk is full (a
    /// local file system store: retrying does not free space), else
    /// [`unavailable`](Self::unavailable).
    fn failed(
        &self,
        what: &str,
        location: &ObjectPath,
        e: object_store::Error,
    ) -> PersistStoreError {
        match crate::no_space::no_space_in(&e) {
            Some(_) => PersistStoreError::io(
                format!("store {}: {what} {location}", self.name),
                crate::no_space::storage_full(e.to_string()),
            ),
            None => self.unavailable(what, location, e),
        }
    }

    /// Uploads `src`, returning its digest as read.
    async fn upload(
        &self,
        location: &ObjectPath,
        src: &Path,
    ) -> Result<super::digest::Digest, PersistStoreError> {
        let read_err = |e| PersistStoreError::io(format!("reading {}", src.display()), e);
        let mut file = tokio::fs::File::open(src)
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    PersistStoreError::Missing(format!("{} does not exist", src.display()))
                }
                _ => read_err(e),
            })?;
        let size = file.metadata().await.map_err(read_err)?.len();
        let mut hasher = Hasher::new();
        if size <= self.part_size as u64 {
            let mut buf = Vec::with_capacity(size as usize);
            file.read_to_end(&mut buf).await.map_err(read_err)?;
            hasher.update(&buf);
            self.store
                .put(location, PutPayload::from(buf))
                .await
                .map_err(|e| self.failed("uploading", location, e))?;
            return Ok(hasher.finish());
        }
        let upload = self
            .store
            .put_multipart(location)
            .await
            .map_err(|e| self.failed("starting upload of", location, e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, self.part_size);
        loop {
            let chunk = match read_chunk(&mut file, self.part_size).await {
                Ok(chunk) => chunk,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(read_err(e));
                }
            };
            if chunk.is_empty() {
                break;
            }
            hasher.update(&chunk);
            if let Err(e) = writer.wait_for_capacity(MAX_CONCURRENT_PARTS).await {
                let _ = writer.abort().await;
                return Err(self.failed("uploading", location, e));
            }
            writer.put(Bytes::from(chunk));
        }
        writer
            .finish()
            .await
            .map_err(|e| self.failed("completing upload of", location, e))?;
        Ok(hasher.finish())
    }
}

/// Reads up to `size` bytes, fewer only at the end of the file.
async fn read_chunk(file: &mut tokio::fs::File, size: usize) -> std::io::Result<Vec<u8>> {
    let mut chunk = vec![0u8; size];
    let mut filled = 0;
    while filled < size {
        match file.read(&mut chunk[filled..]).await? {
            0 => break,
            n => filled += n,
        }
    }
    chunk.truncate(filled);
    Ok(chunk)
}

#[async_trait]
impl PersistStore for ObjectPersistStore {
    fn name(&self) -> &str {
        &self.name
    }

    async fn available(&self) -> Result<Option<u64>, PersistStoreError> {
        Ok(None)
    }

    async fn put_file(&self, key: &str, src: &Path) -> Result<(), PersistStoreError> {
        let location = self.location(key)?;
        let started = std::time::Instant::now();
        let expected = self.upload(&location, src).await?;

        let meta = self
            .store
            .head(&location)
            .await
            .map_err(|e| self.failed("checking", &location, e))?;
        if meta.size != expected.len {
            return Err(self.unavailable(
                "verifying",
                &location,
                format!("stored {} bytes, uploaded {}", meta.size, expected.len),
            ));
        }
        let mut stream = self
            .store
            .get(&location)
            .await
            .map_err(|e| self.failed("re-reading", &location, e))?
            .into_stream();
        let mut hasher = Hasher::new();
        while let Some(bytes) = stream
            .try_next()
            .await
            .map_err(|e| self.failed("re-reading", &location, e))?
        {
            hasher.update(&bytes);
        }
        let stored = hasher.finish();
        if stored != expected {
            return Err(self.unavailable(
                "verifying",
                &location,
                format!("reads back as {stored}, uploaded {expected}"),
            ));
        }
        info!(store = %self.name, key, bytes = expected.len, elapsed = ?started.elapsed(), "stored object");
        Ok(())
    }

    async fn get_file(&self, key: &str, dst: &Path) -> Result<(), PersistStoreError> {
        let location = self.location(key)?;
        let result = match self.store.get(&location).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(PersistStoreError::Missing(format!(
                    "{key} is not in store {}",
                    self.name
                )))
            }
            Err(e) => return Err(self.failed("reading", &location, e)),
        };
        let write_err = |e| PersistStoreError::io(format!("writing {}", dst.display()), e);
        let mut out = tokio::fs::File::create(dst).await.map_err(write_err)?;
        let mut stream = result.into_stream();
        while let Some(bytes) = stream
            .try_next()
            .await
            .map_err(|e| self.failed("reading", &location, e))?
        {
            out.write_all(&bytes).await.map_err(write_err)?;
        }
        out.flush().await.map_err(write_err)
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<(), PersistStoreError> {
        let location = self.location(prefix)?;
        let ignore_missing = |r: object_store::Result<()>| match r {
            Err(object_store::Error::NotFound { .. }) => Ok(()),
            other => other,
        };
        // The prefix itself may be an object (a sealed file); on a local
        // file system it may also be a directory, which `head` reports as
        // not found.
        match self.store.head(&location).await {
            Ok(_) => ignore_missing(self.store.delete(&location).await)
                .map_err(|e| self.failed("deleting", &location, e))?,
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(self.failed("checking", &location, e)),
        }
        // `list` yields what lies below the prefix, not the prefix itself.
        let listed: object_store::Result<Vec<object_store::ObjectMeta>> =
            self.store.list(Some(&location)).try_collect().await;
        let below: Vec<ObjectPath> = match listed {
            Ok(metas) => metas.into_iter().map(|m| m.location).collect(),
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(self.failed("listing", &location, e)),
        };
        if below.is_empty() {
            return Ok(());
        }
        let mut deleted = self
            .store
            .delete_stream(futures_util::stream::iter(below.into_iter().map(Ok)).boxed());
        while let Some(result) = deleted.next().await {
            if let Err(e) = result {
                ignore_missing(Err(e)).map_err(|e| self.failed("deleting below", &location, e))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use venus_seal_core::{FailureLevel, Leveled};

    use super::*;

    #[test]
    fn a_full_disk_under_the_store_is_critical_other_failures_temporary() {
        let store = ObjectPersistStore::new(
            "nas",
            Arc::new(object_store::memory::InMemory::new()),
            ObjectPath::from("sealed"),
        );
        let location = ObjectPath::from("sealed/s-t01000-1");
        let full = object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(std::io::Error::from_raw_os_error(28)),
        };
        let err = store.failed("uploading", &location, full);
        assert_eq!(err.level(), FailureLevel::Critical, "{err}");
        assert!(err.to_string().contains("nas"), "{err}");

        let down = object_store::Error::Generic {
            store: "S3",
            source: Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
        };
        let err = store.failed("uploading", &location, down);
        assert_eq!(err.level(), FailureLevel::Temporary, "{err}");
    }
}
