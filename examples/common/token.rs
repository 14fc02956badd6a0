//! Reading the bearer tokens the example binaries send to other services.

use std::path::Path;

use anyhow::{bail, Context};

/// The token in `path`, trimmed; an unreadable or empty file is an error
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
