//! [`PersistedSectors`]: finds finished sectors in local persistent stores,
//! for proving them.

use std::path::PathBuf;

use venus_seal_core::proving::{SectorFiles, SectorLocator};
use venus_seal_core::SectorId;

use super::{cache_prefix, sealed_key};

/// Sectors in directories laid out as the persist stage writes a
/// [`LocalPersistStore`](super::LocalPersistStore): `<root>/sealed/<sector>`
/// and `<root>/cache/<sector>/`. Give it the workers' `[[persist]]` paths
/// as this host mounts them; a WindowPoSt scheduler then proves what the
/// workers persisted.
///
/// A sector is located in the first root that holds its sealed file. One
/// found in none is located in the first root anyway, so that the
/// prover's file check names the file that is missing (the sector is
/// skipped and declared faulty, and recovers once its files are back).
///
/// ```
/// use venus_seal_backends::persist::PersistedSectors;
/// use venus_seal_core::proving::SectorLocator;
/// use venus_seal_core::{ActorId, SectorId, SectorNumber};
/// let stores = PersistedSectors::new(vec!["/mnt/store0".into()]);
/// let files = stores.locate(SectorId::new(ActorId(1000), SectorNumber(7))).unwrap();
/// assert_eq!(files.sealed, std::path::Path::new("/mnt/store0/sealed/s-t01000-7"));
/// assert_eq!(files.cache, std::path::Path::new("/mnt/store0/cache/s-t01000-7"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersistedSectors {
    roots: Vec<PathBuf>,
}

impl PersistedSectors {
    /// Sectors under these store directories, searched in order.
    pub fn new(roots: Vec<PathBuf>) -> Self {
        Self { roots }
    }

    fn files_in(root: &std::path::Path, sector: &SectorId) -> SectorFiles {
        SectorFiles {
            sealed: root.join(sealed_key(sector)),
            cache: root.join(cache_prefix(sector)),
        }
    }
}

impl SectorLocator for PersistedSectors {
    fn locate(&self, sector: SectorId) -> Option<SectorFiles> {
        self.roots
            .iter()
            .map(|root| Self::files_in(root, &sector))
            .find(|files| files.sealed.is_file())
            .or_else(|| self.roots.first().map(|root| Self::files_in(root, &sector)))
    }

    fn locate_update(&self, sector: SectorId) -> Option<SectorFiles> {
        self.roots
            .iter()
            .map(|root| SectorFiles {
                sealed: root.join(super::update_key(&sector)),
                cache: root.join(super::update_cache_prefix(&sector)),
            })
            .find(|files| files.sealed.is_file())
    }
}

#[cfg(test)]
mod tests {
    use venus_seal_core::{ActorId, SectorNumber};

    use super::*;

    #[test]
    fn finds_the_store_holding_the_sealed_file() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let id = SectorId::new(ActorId(1000), SectorNumber(3));
        std::fs::create_dir_all(b.path().join("sealed")).unwrap();
        std::fs::write(b.path().join("sealed/s-t01000-3"), b"replica").unwrap();
        let stores = PersistedSectors::new(vec![a.path().into(), b.path().into()]);
        let files = stores.locate(id).unwrap();
        assert_eq!(files.sealed, b.path().join("sealed/s-t01000-3"));
        assert_eq!(files.cache, b.path().join("cache/s-t01000-3"));
        // In no store: the first one's paths, for the check to report.
        let other = SectorId::new(ActorId(1000), SectorNumber(4));
        assert_eq!(
            stores.locate(other).unwrap().sealed,
            a.path().join("sealed/s-t01000-4")
        );
        assert_eq!(PersistedSectors::new(vec![]).locate(id), None);
    }

    /// A snapped-up sector is proven from `update/` and `update-cache/`
    /// (damocles' and Lotus' layout), found in whichever store holds
    /// them; a sector with a sector key and no update is not located (its
    /// sealed replica is the CC one); one without a key from `sealed/`.
    #[test]
    fn a_snapped_up_sector_is_proven_from_its_update() {
        use venus_seal_core::proving::{locate_for_proving, PoStSector};
        use venus_seal_core::{CommR, SealProof};
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let id = SectorId::new(ActorId(1000), SectorNumber(3));
        for dir in ["sealed", "update"] {
            std::fs::create_dir_all(b.path().join(dir)).unwrap();
            std::fs::write(b.path().join(dir).join("s-t01000-3"), b"replica").unwrap();
        }
        let stores = PersistedSectors::new(vec![a.path().into(), b.path().into()]);
        let update = stores.locate_update(id).unwrap();
        assert_eq!(update.sealed, b.path().join("update/s-t01000-3"));
        assert_eq!(update.cache, b.path().join("update-cache/s-t01000-3"));
        let mut sector = PoStSector {
            number: id.number,
            seal_proof: SealProof::StackedDrg2KiBV1_1,
            comm_r: CommR([2; 32]),
            sector_key: Some(CommR([1; 32])),
        };
        assert_eq!(locate_for_proving(&stores, id.miner, &sector), Some(update));
        sector.number = SectorNumber(4);
        assert_eq!(locate_for_proving(&stores, id.miner, &sector), None);
        sector.number = id.number;
        sector.sector_key = None;
        assert_eq!(
            locate_for_proving(&stores, id.miner, &sector)
                .unwrap()
                .sealed,
            b.path().join("sealed/s-t01000-3")
        );
    }
}
