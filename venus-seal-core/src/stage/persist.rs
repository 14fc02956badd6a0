//! persist: copy what proving needs to persistent storage.

use serde::{Deserialize, Serialize};

use super::{SectorPaths, Stage};
use crate::types::ids::SectorId;
use crate::types::proof::SealProof;

/// Copies the sealed file and the cache files a proof needs (`p_aux`,
/// `t_aux`, `sc-02-data-tree-r-last*.dat`) from the sealing location to a
/// persistent store, and verifies the copy. The sealing location is cleaned
/// once the sector is finished (C1 still reads it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Persist {
    /// The sector's proof type.
    pub proof: SealProof,
    /// The sector.
    pub sector: SectorId,
    /// Its files in the sealing location.
    pub paths: SectorPaths,
    /// The files are a snap-up's updated replica and cache: they go
    /// beside the sector's sealed ones (damocles' `update/` and
    /// `update-cache/`), which stay the sector's until the update is on
    /// chain.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub update: bool,
}

/// Where [`Persist`] put the files.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersistOutput {
    /// The persistent store's name (reported to the manager as the
    /// instance holding the sector).
    pub instance: String,
    /// Whether the sealing location may be removed once the sector is
    /// finished (false when the files were left in place).
    pub clean_sealing_location: bool,
}

impl Stage for Persist {
    const NAME: &'static str = "persist";
    type Output = PersistOutput;
}

/// A persister that leaves the files where they were sealed: for
/// all-in-one deployments whose sealing location is also their store. It
/// checks that the files a proof needs are there.
#[derive(Clone, Debug)]
pub struct KeepInPlace {
    /// The name reported as the instance holding the files.
    pub instance: String,
}

#[async_trait::async_trait]
impl crate::Executor<Persist> for KeepInPlace {
    async fn execute(&self, task: Persist) -> Result<PersistOutput, crate::StageError> {
        let needed = [
            task.paths.sealed.clone(),
            task.paths.cache.join("p_aux"),
            task.paths.cache.join("t_aux"),
        ];
        for path in needed {
            if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
                return Err(crate::StageError::Missing(format!(
                    "{} of sector {} is gone",
                    path.display(),
                    task.sector
                )));
            }
        }
        Ok(PersistOutput {
            instance: self.instance.clone(),
            clean_sealing_location: false,
        })
    }
}
