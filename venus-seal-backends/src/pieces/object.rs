//! [`ObjectPieceStore`]: pieces in an object store (S3 and compatible,
//! local files, memory) through the object_store crate.

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectMeta, ObjectStore, ObjectStoreExt};
use tokio_util::io::StreamReader;
use venus_seal_core::{PieceCid, PieceReader, PieceStore, PieceStoreError};

/// Pieces as objects named `<prefix>/<cid>` or `<prefix>/<cid>.car` in
/// any [`ObjectStore`].
///
/// A missing object is [`PieceStoreError::NotFound`]; any other failure
/// of the store is [`PieceStoreError::Transport`] (Temporary), naming the
/// store and the key. S3 needs the backends' `s3` feature;
/// [`from_url`](Self::from_url) builds a store from `s3://bucket/prefix`
/// (credentials and region from the `AWS_*` environment), `file:///dir`
/// or `memory:///`.
#[derive(Clone, Debug)]
pub struct ObjectPieceStore {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
}

impl ObjectPieceStore {
    /// Pieces under `prefix` in `store`.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: ObjectPath) -> Self {
        Self { store, prefix }
    }

    /// A store from a URL: `s3://bucket/prefix` (feature `s3`; settings
    /// from `AWS_*` environment variables), `file:///dir`, `memory:///`.
    pub fn from_url(url: &str) -> Result<Self, object_store::Error> {
        let parsed = reqwest::Url::parse(url).map_err(|e| object_store::Error::Generic {
            store: "url",
            source: format!("{url:?} is not a URL: {e}").into(),
        })?;
        let aws = std::env::vars().filter(|(k, _)| k.starts_with("AWS_"));
        let (store, prefix) = object_store::parse_url_opts(&parsed, aws)?;
        Ok(Self::new(Arc::from(store), prefix))
    }

    /// The object holding `cid`: `<prefix>/<cid>`, else `<prefix>/<cid>.car`.
    async fn locate(&self, cid: &PieceCid) -> Result<ObjectMeta, PieceStoreError> {
        let names = [cid.to_string(), format!("{cid}.car")];
        for name in &names {
            let key = self.prefix.clone().join(name.as_str());
            match self.store.head(&key).await {
                Ok(meta) => return Ok(meta),
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.transport(&key, e)),
            }
        }
        Err(PieceStoreError::NotFound(format!(
            "{cid} (no {} or {}.car in {})",
            self.prefix.clone().join(names[0].as_str()),
            self.prefix.clone().join(names[0].as_str()),
            self.store
        )))
    }

    fn transport(&self, key: &ObjectPath, e: object_store::Error) -> PieceStoreError {
        match e {
            object_store::Error::NotFound { .. } => {
                PieceStoreError::NotFound(format!("{key} in {}", self.store))
            }
            e => PieceStoreError::Transport(format!("{} key {key}: {e}", self.store)),
        }
    }
}

#[async_trait]
impl PieceStore for ObjectPieceStore {
    async fn get(&self, cid: &PieceCid) -> Result<PieceReader, PieceStoreError> {
        self.get_range(cid, 0).await
    }

    async fn size(&self, cid: &PieceCid) -> Result<u64, PieceStoreError> {
        Ok(self.locate(cid).await?.size)
    }

    async fn get_range(&self, cid: &PieceCid, offset: u64) -> Result<PieceReader, PieceStoreError> {
        let meta = self.locate(cid).await?;
        if offset >= meta.size && offset > 0 {
            return Ok(Box::pin(tokio::io::empty()));
        }
        let options = GetOptions {
            range: (offset > 0).then_some(GetRange::Offset(offset)),
            ..GetOptions::default()
        };
        let result = self
            .store
            .get_opts(&meta.location, options)
            .await
            .map_err(|e| self.transport(&meta.location, e))?;
        let store = self.store.to_string();
        let key = meta.location.clone();
        let stream = result.into_stream().map_err(move |e| {
            std::io::Error::other(PieceStoreError::Transport(format!(
                "{store} key {key}: reading failed: {e}"
            )))
        });
        Ok(Box::pin(StreamReader::new(stream)))
    }
}
