//! Building the store a [`PieceStoreConfig`] names.

use std::sync::Arc;

use venus_seal_core::PieceStore;

use super::config::http_url;
use super::{
    HttpPieceStore, LocalPieceStore, ObjectPieceStore, PieceConfigError, PieceStoreConfig,
    VerifyingPieceStore,
};

impl PieceStoreConfig {
    /// Builds the store (reading `token_file`), not verified.
    pub fn build(&self) -> Result<Arc<dyn PieceStore>, PieceConfigError> {
        self.check()?;
        Ok(match self {
            PieceStoreConfig::Local { dirs } => Arc::new(LocalPieceStore::new(dirs.clone())),
            PieceStoreConfig::Http {
                url,
                token_file,
                resumes,
            } => Arc::new(http_store(
                HttpPieceStore::new(http_url(url)?),
                token_file.as_deref(),
                *resumes,
            )?),
            PieceStoreConfig::Droplet {
                url,
                token_file,
                resumes,
            } => Arc::new(http_store(
                HttpPieceStore::droplet(http_url(url)?),
                token_file.as_deref(),
                *resumes,
            )?),
            PieceStoreConfig::Object { url } => Arc::new(ObjectPieceStore::from_url(url).map_err(
                |e| PieceConfigError::BadUrl {
                    url: url.clone(),
                    reason: e.to_string(),
                },
            )?),
        })
    }

    /// Builds the store wrapped in a [`VerifyingPieceStore`]: what a
    /// worker uses.
    pub fn build_verified(&self) -> Result<Arc<dyn PieceStore>, PieceConfigError> {
        Ok(Arc::new(VerifyingPieceStore::new(self.build()?)))
    }
}

/// `store` with the token read from `token_file` and its resumes.
fn http_store(
    mut store: HttpPieceStore,
    token_file: Option<&std::path::Path>,
    resumes: Option<u32>,
) -> Result<HttpPieceStore, PieceConfigError> {
    if let Some(path) = token_file {
        let bad = |reason: String| PieceConfigError::TokenFile {
            path: path.to_path_buf(),
            reason,
        };
        let token = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        if token.trim().is_empty() {
            return Err(bad("the file is empty".into()));
        }
        store = store.with_token(token.trim());
    }
    if let Some(n) = resumes {
        store = store.with_resumes(n, std::time::Duration::from_millis(500));
    }
    Ok(store)
}
