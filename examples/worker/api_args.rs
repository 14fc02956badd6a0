//! Where an operator subcommand sends its calls: `--api` and `--token`,
//! or the listen address and secret file of the server's own `--config`.
//! Shared by the worker and sector-manager examples.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use venus_seal::rpc::{Permission, Secret};

/// `--api`, `--token` (or `VENUS_SEAL_TOKEN`), `--config`.
#[derive(clap::Args, Debug)]
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
                Secret::load_or_create(secret_file)
                    .context(*key)?
                    .token(Permission::Admin, Some(token_name)),
            ),
            (None, None) => None,
        };
        Ok((api, token))
    }
}
