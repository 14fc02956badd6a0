//! The operator's side of a running worker: a client of its admin API, a
//! token for it, and the sector table `venus-seal-worker list` prints.
//! Nothing here creates a file: the secret is the one `run` created.

use std::path::Path;

use anyhow::Context;

use super::WorkerConfig;
use crate::core::SectorSummary;
use crate::rpc::{AdminClient, Permission, Secret};
use crate::runtime::{ApiArgs, TokenOutput};

/// A client of the admin API that `api` names (`--api`/`--token`, or the
/// listen address and secret of the worker's `--config`). Creates no file.
///
/// ```no_run
/// # async fn demo() -> anyhow::Result<()> {
/// use venus_seal::runtime::ApiArgs;
/// let client = venus_seal::worker::admin::client(&ApiArgs::with_config("worker.toml"))?;
/// println!("{}", venus_seal::worker::admin::list_table(&client.list().await?, 0));
/// # Ok(()) }
/// ```
pub fn client(api: &ApiArgs) -> anyhow::Result<AdminClient> {
    let (url, token) = api.endpoint(
        |path| {
            let c = WorkerConfig::load(path)?;
            Ok((c.admin.listen, c.admin.secret_file, "admin.secret_file"))
        },
        "worker-cli",
    )?;
    Ok(AdminClient::new(url, token.as_deref())?)
}

/// A JWT with `perm` for the admin API of the worker configured at
/// `config`, signed with its secret, expiring as `output` says
/// (`--ttl`). A missing secret file (the worker never ran) is an error
/// naming it; nothing is created.
pub fn token(config: &Path, perm: Permission, output: &TokenOutput) -> anyhow::Result<String> {
    let config = WorkerConfig::load(config)?;
    let secret = Secret::load(&config.admin.secret_file).context("admin.secret_file")?;
    Ok(output.sign(&secret, perm, "worker-cli"))
}

/// The sectors as a table: job, sector, state (paused or not), stage,
/// failure level, age of the last change (against `now`, Unix seconds)
/// and the last error.
pub fn list_table(list: &[SectorSummary], now: u64) -> String {
    let mut out = format!(
        "{:>5}  {:<16} {:<20} {:<16} {:<9} {:>10}  LAST ERROR\n",
        "JOB", "SECTOR", "STATE", "STAGE", "LEVEL", "SINCE"
    );
    for s in list {
        let since = s
            .since
            .map(|t| format!("{}s ago", now.saturating_sub(t)))
            .unwrap_or_default();
        let state = if s.paused {
            format!("{} (paused)", s.state)
        } else {
            s.state.to_string()
        };
        out.push_str(&format!(
            "{:>5}  {:<16} {:<20} {:<16} {:<9} {:>10}  {}\n",
            s.job,
            s.sector.as_deref().unwrap_or("-"),
            state,
            s.stage.as_deref().unwrap_or("-"),
            s.level.map(|l| l.to_string()).unwrap_or_else(|| "-".into()),
            since,
            s.last_error.as_deref().unwrap_or_default()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::SectorState;

    #[test]
    fn the_table_shows_paused_sectors_and_their_age() {
        let s = SectorSummary {
            job: 3,
            sector: Some("s-t01000-7".into()),
            state: SectorState::PC1Done,
            stage: None,
            paused: true,
            level: None,
            last_error: Some("disk".into()),
            since: Some(90),
            location: None,
        };
        let table = list_table(&[s], 100);
        let row = table.lines().nth(1).unwrap();
        assert!(
            row.contains("s-t01000-7") && row.contains("(paused)"),
            "{row}"
        );
        assert!(row.contains("10s ago") && row.ends_with("disk"), "{row}");
    }

    #[test]
    fn list_and_token_with_a_config_elsewhere_create_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/worker.toml"))
                .unwrap();
        let config = dir.path().join("worker.toml");
        std::fs::write(&config, text).unwrap();
        let e = format!(
            "{:#}",
            token(&config, Permission::Read, &TokenOutput::default()).unwrap_err()
        );
        assert!(
            e.contains("admin.secret_file") && e.contains("does not exist"),
            "{e}"
        );
        let e = format!("{:#}", client(&ApiArgs::with_config(&config)).unwrap_err());
        assert!(e.contains("admin.secret_file"), "{e}");
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(files.len(), 1, "{files:?}");
        // Once the worker created its secret (next to its config), both work.
        let secret = dir.path().join("data/worker/admin.secret");
        let made = Secret::load_or_create(&secret).unwrap();
        let jwt = token(&config, Permission::Read, &TokenOutput::default()).unwrap();
        assert!(made.verify(&jwt).is_ok());
        client(&ApiArgs::with_config(&config)).unwrap();
    }
}
