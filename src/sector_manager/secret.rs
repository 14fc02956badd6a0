//! Reading the token secret without ever creating it, for the commands
//! that only read (`token`, `deals list`, …): only `run` creates the
//! secret, at the manager's first start.
//!
//! To be replaced by `venus_seal::rpc::Secret::load` once it exists.

use std::path::Path;

use anyhow::{bail, Context};
use venus_seal_rpc::Secret;

/// The secret stored at `path` (one line of hex). A missing file is an
/// error naming `key` that says how the file comes to be; nothing is
/// created.
pub(crate) fn read_secret(key: &str, path: &Path) -> anyhow::Result<Secret> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "{key} {} does not exist: the manager creates it when it first starts (`run`)",
            path.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("{key} {}", path.display())),
    };
    let bytes = hex::decode(text.trim())
        .with_context(|| format!("{key} {}: expected one line of hex", path.display()))?;
    if bytes.len() < 16 {
        bail!(
            "{key} {}: {} bytes is too short for a key (at least 16)",
            path.display(),
            bytes.len()
        );
    }
    Ok(Secret::from_bytes(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_secret_is_named_and_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/rpc.secret");
        let e = format!("{:#}", read_secret("rpc.secret_file", &path).unwrap_err());
        assert!(
            e.contains("rpc.secret_file") && e.contains("does not exist"),
            "{e}"
        );
        assert!(!path.exists() && !dir.path().join("sub").exists());

        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(&path, "zz\n").unwrap();
        let e = format!("{:#}", read_secret("rpc.secret_file", &path).unwrap_err());
        assert!(e.contains("hex"), "{e}");

        let made = Secret::load_or_create(dir.path().join("made")).unwrap();
        let read = read_secret("k", &dir.path().join("made")).unwrap();
        assert_eq!(read, made);
    }
}
