//! Reading the bearer tokens a deployment sends to other services.

use std::path::Path;

use anyhow::{bail, Context};

/// The token in `path`, trimmed. An unreadable or empty file is an error
/// naming the config key `key` and the path.
pub fn read_token(key: &str, path: &Path) -> anyhow::Result<String> {
    let token =
        std::fs::read_to_string(path).with_context(|| format!("{key} {}", path.display()))?;
    let token = token.trim();
    if token.is_empty() {
        bail!(
            "{key} {} is empty: it should hold the token",
            path.display()
        );
    }
    Ok(token.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_missing_files_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.token");
        std::fs::write(&empty, "  \n").unwrap();
        let e = read_token("manager.token_file", &empty).unwrap_err();
        assert!(e.to_string().contains("manager.token_file"), "{e}");
        assert!(e.to_string().contains("is empty"), "{e}");
        let e = read_token("c2.token_file", &dir.path().join("nope")).unwrap_err();
        assert!(e.to_string().contains("c2.token_file"), "{e}");
        std::fs::write(&empty, "abc\n").unwrap();
        assert_eq!(read_token("k", &empty).unwrap(), "abc");
    }
}
