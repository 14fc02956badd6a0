//! Where an operator subcommand sends its calls: `--api` and `--token`,
//! or the listen address and secret file of the server's own `--config`.
//! Shared by the worker and sector-manager binaries.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::rpc::{Permission, Secret};
use anyhow::{bail, Context};

/// `--api`, `--token` (or `VENUS_SEAL_TOKEN`), `--config`: flatten it
/// into an operator subcommand with `#[command(flatten)]`.
#[derive(clap::Args, Debug, Default)]
pub struct ApiArgs {
    /// The server's API, e.g. http://127.0.0.1:17890. Default: from --config.
    #[arg(long)]
    api: Option<String>,
    /// A JWT (or set VENUS_SEAL_TOKEN). Default: an admin token made from
    /// the secret file named in --config.
    #[arg(long, env = "VENUS_SEAL_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The server's config, to find the API address and secret.
    #[arg(long)]
    config: Option<PathBuf>,
}

impl ApiArgs {
    /// The API's URL and the token to send. `from_config` reads the
    /// config file: the API's listen address, its secret file, and that
    /// file's key name for error messages.
    ///
    /// Creates no file: without `--token`, the admin token is signed with
    /// the secret the running server created ([`Secret::load`]); a missing
    /// secret file is an error naming the key and the path, never a fresh
    /// secret the server would not know.
    pub fn endpoint(
        &self,
        from_config: impl FnOnce(&Path) -> anyhow::Result<(SocketAddr, PathBuf, &'static str)>,
        token_name: &str,
    ) -> anyhow::Result<(String, Option<String>)> {
        let config = self.config.as_deref().map(from_config).transpose()?;
        let api = match (&self.api, &config) {
            (Some(api), _) => api.clone(),
            (None, Some((listen, _, _))) => format!("http://{listen}"),
            (None, None) => bail!("give --api URL or --config FILE"),
        };
        let token = match (&self.token, &config) {
            (Some(t), _) => Some(t.clone()),
            (None, Some((_, secret_file, key))) => Some(
                Secret::load(secret_file)
                    .context(*key)?
                    .token(Permission::Admin, Some(token_name)),
            ),
            (None, None) => None,
        };
        Ok((api, token))
    }
}

impl ApiArgs {
    /// The arguments `--api`, `--token` and `--config` would give.
    pub fn new(api: Option<String>, token: Option<String>, config: Option<PathBuf>) -> Self {
        Self { api, token, config }
    }

    /// Arguments naming the server's config file only (as `--config`).
    pub fn with_config(config: impl Into<PathBuf>) -> Self {
        Self {
            config: Some(config.into()),
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_from_the_config_never_creates_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("admin.secret");
        let from_config = |_: &Path| -> anyhow::Result<(SocketAddr, PathBuf, &'static str)> {
            Ok(("127.0.0.1:1".parse()?, secret.clone(), "admin.secret_file"))
        };
        let args = ApiArgs::with_config(dir.path().join("worker.toml"));
        let e = format!("{:#}", args.endpoint(from_config, "cli").unwrap_err());
        assert!(
            e.contains("admin.secret_file") && e.contains("admin.secret"),
            "{e}"
        );
        assert!(!secret.exists(), "the secret was created");
        Secret::load_or_create(&secret).unwrap();
        let (url, token) = args.endpoint(from_config, "cli").unwrap();
        assert_eq!(url, "http://127.0.0.1:1");
        assert!(token.is_some());
    }
}
