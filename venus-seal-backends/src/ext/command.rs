//! The command line that starts a child: the processor's program, wrapped
//! in `taskset -c` and `numactl --preferred` when placement is configured.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::config::{check_cpuset, ExtProcessorConfig};
use super::error::ExtConfigError;

/// The resolved command of one processor, built once and reused for every
/// (re)start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Launch {
    pub(crate) program: PathBuf,
    pub(crate) args: Vec<OsString>,
}

impl Launch {
    /// Builds the command line for `config`, finding `taskset` and
    /// `numactl` with `find` (a `PATH` lookup outside tests).
    pub(crate) fn build(
        processor: &str,
        config: &ExtProcessorConfig,
        find: impl Fn(&str) -> Option<PathBuf>,
    ) -> Result<Self, ExtConfigError> {
        let mut prefix: Vec<OsString> = Vec::new();
        if let Some(cpuset) = &config.cpuset {
            check_cpuset(cpuset).map_err(|reason| ExtConfigError::InvalidCpuset {
                processor: processor.to_string(),
                cpuset: cpuset.clone(),
                reason,
            })?;
            let taskset = find("taskset").ok_or_else(|| ExtConfigError::TasksetMissing {
                processor: processor.to_string(),
                cpuset: cpuset.clone(),
            })?;
            prefix.extend([taskset.into(), "-c".into(), cpuset.trim().into()]);
        }
        if let Some(node) = config.numa_preferred {
            match find("numactl") {
                Some(numactl) => {
                    prefix.extend([numactl.into(), format!("--preferred={node}").into()]);
                }
                None => tracing::warn!(
                    processor,
                    node,
                    "numa_preferred is set but numactl is not on PATH: \
                     running without a NUMA preference"
                ),
            }
        }
        prefix.push(config.bin.clone().into());
        prefix.extend(config.args.iter().map(OsString::from));
        let mut parts = prefix.into_iter();
        let program = PathBuf::from(parts.next().expect("the program is always there"));
        Ok(Self {
            program,
            args: parts.collect(),
        })
    }

    /// A tokio command for this launch: piped stdio, the configured
    /// environment, killed when dropped.
    pub(crate) fn command(&self, config: &ExtProcessorConfig) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(&self.args);
        if !config.inherit_envs {
            cmd.env_clear();
        }
        cmd.envs(&config.envs)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// The command line, for logs.
    pub(crate) fn display(&self) -> String {
        std::iter::once(self.program.as_os_str())
            .chain(self.args.iter().map(|a| a.as_os_str()))
            .map(|s| s.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The first executable file named `name` in this process's `PATH`.
pub(crate) fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}
