//! Bearer tokens: reading the ones a deployment sends to other services,
//! and handing over the ones the `token` subcommands make (`--ttl`,
//! `--out`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use venus_seal_rpc::{Permission, Secret};

/// The token in `path`, trimmed. An unreadable or empty file is an error
/// naming the config key `key` and the path. A file other users can read
/// is used, with a warning.
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
    warn_if_readable_by_others(key, path);
    Ok(token.to_string())
}

/// How a `token` subcommand hands its token over: its lifetime and where
/// it goes.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct TokenOutput {
    /// Make the token expire this long from now (`24h`, `30d`): servers
    /// refuse it afterwards, naming when it expired. Without it the token
    /// never expires.
    #[arg(long, value_parser = parse_ttl)]
    pub ttl: Option<Duration>,
    /// Write the token to this file, readable by its owner only (mode
    /// 0600, also when the file existed), instead of printing it.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

fn parse_ttl(s: &str) -> Result<Duration, String> {
    let ttl = venus_seal_core::parse_duration(s).map_err(|e| e.to_string())?;
    if ttl.is_zero() {
        return Err("a token that expires at once is of no use; give a ttl above 0".into());
    }
    Ok(ttl)
}

impl TokenOutput {
    /// A token signed with `secret` allowing `perm`, named `name`, expiring
    /// after `ttl` when one is set.
    pub fn sign(&self, secret: &Secret, perm: Permission, name: &str) -> String {
        match self.ttl {
            Some(ttl) => secret.token_with_ttl(perm, Some(name), ttl),
            None => secret.token(perm, Some(name)),
        }
    }

    /// Prints `token`, or writes it to `out` with mode 0600.
    pub fn emit(&self, token: &str) -> anyhow::Result<()> {
        match &self.out {
            Some(path) => write_token(path, token),
            None => {
                println!("{token}");
                Ok(())
            }
        }
    }
}

/// Writes `token` (and a newline) to `path`, readable and writable by its
/// owner only: created with mode 0600, and an existing file is set to
/// 0600 before the token goes in.
pub fn write_token(path: &Path, token: &str) -> anyhow::Result<()> {
    let context = || format!("cannot write the token to {}", path.display());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(context)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(context)?;
    }
    writeln!(file, "{token}")
        .and_then(|()| file.sync_all())
        .with_context(context)
}

#[cfg(unix)]
fn warn_if_readable_by_others(key: &str, path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(key, path = %path.display(), mode = format!("{mode:o}"), "the token file is readable by other users: chmod 600 it");
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_: &str, _: &Path) {}

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

    #[cfg(unix)]
    #[test]
    fn written_tokens_are_private_also_over_an_open_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("worker.token");
        std::fs::write(&path, "old token, world-readable\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_token(&path, "eyJnew").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "mode {mode:o}");
        assert_eq!(read_token("k", &path).unwrap(), "eyJnew");

        let fresh = dir.path().join("fresh.token");
        write_token(&fresh, "eyJfresh").unwrap();
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "mode {mode:o}");
    }

    #[test]
    fn a_ttl_reaches_the_token() {
        let secret = Secret::generate();
        let out = TokenOutput {
            ttl: Some(Duration::from_secs(3600)),
            out: None,
        };
        let unix = super::super::unix_now;
        let before = unix();
        let token = out.sign(&secret, Permission::Read, "ops");
        let after = unix();
        assert_eq!(secret.verify(&token), Ok(Permission::Read));
        let exp_is = |s: u64| {
            let at = std::time::UNIX_EPOCH + Duration::from_secs(s + 3600);
            token == secret.token_until(Permission::Read, Some("ops"), at)
        };
        assert!((before..=after).any(exp_is), "exp is now + ttl");
        assert!(parse_ttl("0s").is_err());
        assert_eq!(parse_ttl("24h").unwrap(), Duration::from_secs(86400));
    }
}
