//! What every deployment shares, whichever service it runs: logging, the
//! bearer tokens it sends to other services, the stop signal, the
//! Prometheus endpoint, where an operator command sends its calls, and
//! how a config file's relative paths resolve.
//!
//! The reference binaries (`src/bin/*`, `examples/*`) call these so that they
//! all log the same way and stop the same way; an SP's own binary can call
//! them too, or install its own subscriber and signal handling instead.

mod api_args;
mod logging;
mod metrics;
mod paths;
mod signal;
mod token;

pub use api_args::ApiArgs;
pub use logging::init_logging;
pub use metrics::{serve_metrics, MetricsSection};
pub use paths::{config_folder, resolve_relative};
pub use signal::shutdown_signal;
pub use token::{read_token, write_token, TokenOutput};

/// Now, in Unix seconds (0 if the clock is before 1970).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
