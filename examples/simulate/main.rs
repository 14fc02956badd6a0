//! A cluster simulator: the real engine against the anchor's
//! thread-per-sector model, on the same simulated hardware, on tokio's
//! paused clock (30 simulated days take seconds).
//!
//! ```text
//! cargo run --release --example simulate
//! cargo run --release --example simulate -- --config examples/simulate/anchor-32gib.toml
//! cargo run --release --example simulate -- --minutes 1740 --timeline
//! ```
//!
//! Both models read one TOML file (`examples/simulate.toml`, every key
//! documented there): each stage's time and concurrency limit, named locks,
//! WaitSeed, and the storage slots (engine) that are also the sealing
//! threads (thread model). The engine run is `venus_seal::core::Engine`
//! with the real `Limits` decorator, state machine, `Sealer`, an in-memory
//! store and the core's `FakeManager`, whose fake executors sleep each
//! stage's time ([`engine_model`]). The thread model is damocles'
//! `sealcalc` written as tokio tasks ([`thread_model`]); on sealcalc's
//! published example it reproduces the published output row for row.
//!
//! The report gives, per model: sectors finished by the checkpoints,
//! sectors per day over the whole run and after the warm-up, that rate as a
//! share of the bottleneck bound (min over stages, locks and slots of
//! capacity / minutes held), the utilisation of every limited stage, lock
//! and slot, and the wall time; for the engine, the durable transitions it
//! made and the wall time per transition. `--timeline` adds sealcalc's
//! table (what runs every `timeline_step` minutes) for both models.
//!
//! What it shows: both models reach the bound, and on the same hardware the
//! engine schedules exactly like the thread model (tested minute by minute)
//! but for sealcalc's one-minute pause between a thread's sectors. A
//! storage slot, like the anchor's sealing thread (one thread per sealing
//! location), holds its sector from allocation through WaitSeed to the end
//! of C2 (C1 still reads the sealing location), and compute limits are held
//! only while a stage runs in both.

mod config;
mod engine_model;
mod report;
mod thread_model;
mod trace;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use config::SimConfig;
use report::ModelRun;

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
    /// Which models to run.
    #[arg(long, value_enum, default_value_t = Models::Both)]
    models: Models,
}

/// Which models to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Models {
    /// The thread-per-sector model and the engine.
    Both,
    /// The thread-per-sector model only.
    Threads,
    /// The engine only.
    Engine,
}

/// The default configuration file.
fn default_config() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/simulate.toml"
    ))
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let path = cli.config.unwrap_or_else(default_config);
    let mut cfg = SimConfig::load(&path)?;
    if let Some(m) = cli.minutes {
        anyhow::ensure!(m > 0, "--minutes must be at least 1");
        cfg.minutes = m;
    }
    let mut runs: Vec<ModelRun> = Vec::new();
    if cli.models != Models::Engine {
        runs.push(thread_model::simulate(&cfg));
    }
    if cli.models != Models::Threads {
        runs.push(engine_model::simulate(&cfg)?);
    }

    println!("{}", report::heading(&cfg, &path.display().to_string()));
    println!("{}", report::bound_table(&cfg));
    println!("{}", report::comparison_table(&cfg, &runs));
    if cli.timeline {
        let step = cli.step.unwrap_or(cfg.timeline_step);
        for run in &runs {
            println!("Timeline, {}:", run.name);
            let samples = report::timeline(&cfg, &run.trace, step, cfg.minutes);
            println!("{}", report::timeline_table(&cfg, &samples));
        }
    }
    Ok(())
}
