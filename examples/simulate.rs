//! The cluster simulator ([`venus_seal::simulate`]): the real engine
//! against the anchor's thread-per-sector model, on the same simulated
//! hardware, on tokio's paused clock.
//!
//! ```text
//! cargo run --release --example simulate
//! cargo run --release --example simulate -- --config examples/simulate/anchor-32gib.toml
//! cargo run --release --example simulate -- --minutes 1740 --timeline
//! cargo run --release --example simulate -- --config examples/simulate-faults.toml
//! ```
//!
//! `examples/simulate.toml` (damocles' sealcalc example) documents every
//! key; `examples/simulate-faults.toml` documents `[failures]` (failures
//! injected into both models); `examples/simulate/` holds the other
//! configurations the README quotes.

use std::path::PathBuf;

use clap::Parser;
use venus_seal::simulate::config::SimConfig;
use venus_seal::simulate::{full_report, run, Models};

/// Simulates a sealing worker: the venus-seal engine and the anchor's
/// thread-per-sector model side by side on the same hardware.
#[derive(Parser, Debug)]
#[command(version, long_about = None)]
struct Cli {
    /// The configuration [default: examples/simulate.toml of this
    /// repository: damocles' sealcalc example].
    #[arg(long)]
    config: Option<PathBuf>,
    /// Simulated minutes, instead of the configuration's `minutes`.
    #[arg(long)]
    minutes: Option<u64>,
    /// Also print each model's timeline (sealcalc's table).
    #[arg(long)]
    timeline: bool,
    /// Minutes between timeline rows, instead of `timeline_step`.
    #[arg(long, requires = "timeline")]
    step: Option<u64>,
    /// Which models to run: both, threads or engine.
    #[arg(long, default_value_t = Models::Both)]
    models: Models,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let path = cli.config.unwrap_or_else(|| {
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/simulate.toml"
        ))
    });
    let mut cfg = SimConfig::load(&path)?;
    if let Some(m) = cli.minutes {
        anyhow::ensure!(m > 0, "--minutes must be at least 1");
        cfg.minutes = m;
    }
    let runs = run(&cfg, cli.models)?;
    let timeline = cli.timeline.then(|| cli.step.unwrap_or(cfg.timeline_step));
    print!(
        "{}",
        full_report(&cfg, &path.display().to_string(), &runs, timeline)
    );
    Ok(())
}
