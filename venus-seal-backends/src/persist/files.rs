//! The files of a sector that persist persists.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use venus_seal_core::stage::SectorPaths;
use venus_seal_core::{SectorId, StageError};

use super::{cache_key, sealed_key};

/// One file to persist: where it is, where it goes, how big it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SectorFile {
    /// The store key ([`sealed_key`] or [`cache_key`]).
    pub key: String,
    /// The file in the sealing location.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
}

/// The cache files a proof needs besides the trees.
const REQUIRED_CACHE_FILES: [&str; 2] = ["p_aux", "t_aux"];

/// Whether `name` is a tree-r-last file: `sc-02-data-tree-r-last.dat` or
/// `sc-02-data-tree-r-last-<n>.dat`.
fn is_tree_r_last(name: &str) -> bool {
    let Some(rest) = name
        .strip_prefix("sc-02-data-tree-r-last")
        .and_then(|r| r.strip_suffix(".dat"))
    else {
        return false;
    };
    rest.is_empty()
        || rest
            .strip_prefix('-')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

async fn size_of(sector: &SectorId, path: &Path) -> Result<u64, StageError> {
    match tokio::fs::metadata(path).await {
        Ok(meta) if meta.is_file() => Ok(meta.len()),
        Ok(_) => Err(StageError::Missing(format!(
            "{} of sector {sector} is not a file",
            path.display()
        ))),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(StageError::Missing(format!(
            "{} of sector {sector} is missing",
            path.display()
        ))),
        Err(e) => Err(StageError::io(format!("checking {}", path.display()), e)),
    }
}

/// [`collect_sector_files`] of a snap-up's updated replica and cache
/// (the same files), under their update keys: `update/<sector>` and
/// `update-cache/<sector>/<file>`.
pub async fn collect_update_files(
    sector: &SectorId,
    paths: &SectorPaths,
) -> Result<Vec<SectorFile>, StageError> {
    let (sealed, cache) = (sealed_key(sector), super::cache_prefix(sector));
    let (update, update_cache) = (
        super::update_key(sector),
        super::update_cache_prefix(sector),
    );
    Ok(collect_sector_files(sector, paths)
        .await?
        .into_iter()
        .map(|mut f| {
            f.key = if f.key == sealed {
                update.clone()
            } else {
                f.key.replacen(&cache, &update_cache, 1)
            };
            f
        })
        .collect())
}

/// Lists what persist copies: the sealed file, `p_aux`, `t_aux` and the
/// `sc-02-data-tree-r-last*.dat` files, sealed file first. Any of them
/// missing (or no tree-r-last at all) is [`StageError::Missing`] naming
/// the file.
pub async fn collect_sector_files(
    sector: &SectorId,
    paths: &SectorPaths,
) -> Result<Vec<SectorFile>, StageError> {
    let mut files = vec![SectorFile {
        key: sealed_key(sector),
        path: paths.sealed.clone(),
        size: size_of(sector, &paths.sealed).await?,
    }];
    for name in REQUIRED_CACHE_FILES {
        let path = paths.cache.join(name);
        files.push(SectorFile {
            key: cache_key(sector, name),
            size: size_of(sector, &path).await?,
            path,
        });
    }

    let read_err = |e| StageError::io(format!("listing {}", paths.cache.display()), e);
    let mut entries = tokio::fs::read_dir(&paths.cache).await.map_err(read_err)?;
    let mut trees = Vec::new();
    while let Some(entry) = entries.next_entry().await.map_err(read_err)? {
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_tree_r_last(&name) {
            trees.push(name);
        }
    }
    if trees.is_empty() {
        return Err(StageError::Missing(format!(
            "{} of sector {sector} is missing (no sc-02-data-tree-r-last*.dat)",
            paths.cache.join("sc-02-data-tree-r-last.dat").display()
        )));
    }
    trees.sort();
    for name in trees {
        let path = paths.cache.join(&name);
        files.push(SectorFile {
            key: cache_key(sector, &name),
            size: size_of(sector, &path).await?,
            path,
        });
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::is_tree_r_last;

    #[test]
    fn tree_r_last_names() {
        assert!(is_tree_r_last("sc-02-data-tree-r-last.dat"));
        assert!(is_tree_r_last("sc-02-data-tree-r-last-0.dat"));
        assert!(is_tree_r_last("sc-02-data-tree-r-last-15.dat"));
        assert!(!is_tree_r_last("sc-02-data-tree-r-last-.dat"));
        assert!(!is_tree_r_last("sc-02-data-tree-r-last-x.dat"));
        assert!(!is_tree_r_last("sc-02-data-tree-c-0.dat"));
        assert!(!is_tree_r_last("sc-02-data-tree-r-last.dat.tmp"));
    }
}
