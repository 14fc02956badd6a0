//! Logging shared by the reference binaries (included with `#[path]`):
//! tracing to stderr, `RUST_LOG` when set, else `info` with the proving
//! libraries' chatter down to warnings; colours only on a terminal, so a
//! log file or journal gets plain text.

use std::io::IsTerminal;

/// Installs the subscriber; `also_quiet` lists more `target=level`
/// directives for the default filter (`",sqlx=warn"`), or `""`.
pub fn init(also_quiet: &str) {
    let default = format!(
        "info,storage_proofs_core=warn,storage_proofs_porep=warn,filecoin_proofs=warn,\
         bellperson=warn{also_quiet}"
    );
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
