//! Relative paths in a config file: relative to the file's folder, not to
//! the folder a service happens to be started in.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// The absolute folder holding the config file at `path` (made absolute
/// against the current folder if it is relative).
pub fn config_folder(path: &Path) -> anyhow::Result<PathBuf> {
    let path = std::path::absolute(path)
        .with_context(|| format!("the folder of config {}", path.display()))?;
    Ok(path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/")))
}

/// Joins `path` to `base` when it is relative (without its `./`, so
/// messages show `/etc/venus-seal/data`, not `/etc/venus-seal/./data`);
/// an absolute path is left as it is.
///
/// ```
/// use std::path::{Path, PathBuf};
/// let mut db = PathBuf::from("./data/state.db");
/// venus_seal::runtime::resolve_relative(Path::new("/etc/venus-seal"), &mut db);
/// assert_eq!(db.display().to_string(), "/etc/venus-seal/data/state.db");
/// ```
pub fn resolve_relative(base: &Path, path: &mut PathBuf) {
    if path.is_relative() {
        let relative: PathBuf = path
            .components()
            .filter(|c| *c != std::path::Component::CurDir)
            .collect();
        *path = base.join(relative);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relative_config_path_has_an_absolute_folder() {
        let folder = config_folder(Path::new("examples/worker.toml")).unwrap();
        assert!(
            folder.is_absolute() && folder.ends_with("examples"),
            "{folder:?}"
        );
        let mut abs = PathBuf::from("/var/lib/x");
        resolve_relative(&folder, &mut abs);
        assert_eq!(abs, PathBuf::from("/var/lib/x"));
    }
}
