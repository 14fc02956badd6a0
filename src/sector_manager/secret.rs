//! Reading the token secret without ever creating it, for the commands
//! that only read (`token`, `deals list`, …): only `run` creates the
//! secret, at the manager's first start.

use std::path::Path;

use anyhow::Context;
use venus_seal_rpc::Secret;

/// The secret stored at `path` ([`Secret::load`]): a missing or malformed
/// file is an error naming `key`; nothing is created.
pub(crate) fn read_secret(key: &str, path: &Path) -> anyhow::Result<Secret> {
    Secret::load(path).with_context(|| format!("{key} {}", path.display()))
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
