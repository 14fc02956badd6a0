//! One logging set-up for every binary.

use std::io::IsTerminal;

/// Installs the global tracing subscriber: to stderr, filtered by
/// `RUST_LOG` when set, else `info` with the proving libraries' chatter
/// down to warnings. `also_quiet` lists more `,target=level` directives for
/// the default filter (for instance `",sqlx=warn"`), or `""`.
///
/// Colours are written only when stderr is a terminal, so a log file or a
/// journal gets plain text. Calling it twice is harmless (the second call
/// does nothing), so tests may call it too.
pub fn init_logging(also_quiet: &str) {
    let default = format!(
        "info,storage_proofs_core=warn,storage_proofs_porep=warn,storage_proofs_post=warn,\
         storage_proofs_update=warn,filecoin_proofs=warn,bellperson=warn{also_quiet}"
    );
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
