//! A cluster simulator: the real engine against the anchor's
//! thread-per-sector model, on the same simulated hardware, on tokio's
//! paused clock (30 simulated days take seconds). Feature `simulate`.
//!
//! Both models read one TOML file ([`config::SimConfig`];
//! `examples/simulate.toml` documents every key): each stage's time and
//! concurrency limit, named locks, WaitSeed, and the storage slots (engine)
//! that are also the sealing threads (thread model). The engine run is
//! `venus_seal::core::Engine` with the real `Limits` decorator, state
//! machine, `Sealer`, an in-memory store and the core's `FakeManager`,
//! whose fake executors sleep each stage's time ([`engine_model`]). The
//! thread model is damocles' `sealcalc` written as tokio tasks
//! ([`thread_model`]); on sealcalc's published example it reproduces the
//! published output row for row.
//!
//! The report ([`report`]) gives, per model: sectors finished by the
//! checkpoints, sectors per day over the whole run and after the warm-up,
//! that rate as a share of the bottleneck bound (min over stages, locks and
//! slots of capacity / minutes held), the utilisation of every limited
//! stage, lock and slot, and the wall time; for the engine, the durable
//! transitions it made and the wall time per transition. A timeline adds
//! sealcalc's table (what runs every `timeline_step` minutes).
//!
//! What it shows: both models reach the bound, and on the same hardware the
//! engine schedules exactly like the thread model (tested minute by minute)
//! but for sealcalc's one-minute pause between a thread's sectors. A
//! storage slot, like the anchor's sealing thread (one thread per sealing
//! location), holds its sector from allocation through WaitSeed to the end
//! of C2 (C1 still reads the sealing location), and compute limits are held
//! only while a stage runs in both.
//!
//! With `[failures]` ([`faults`]; `examples/simulate-faults.toml`
//! documents the keys) both models get the same failures: stage runs that
//! fail at a rate per stage and level, worker crashes (the engine is
//! dropped and a new one starts from the same store; a sealing thread
//! re-runs the step it was in, as damocles reloads its sector from its
//! sealing store), manager outages that refuse submissions, and an
//! operator who resumes parked sectors every `operator_every` minutes.
//! The report then adds what was injected and how each failure ended.
//!
//! `cargo run --release --example simulate` prints [`run`]'s report;
//! `benches/simulate.rs` times [`engine_model::simulate`].
//!
//! ```
//! use venus_seal::simulate::{config::SimConfig, run, Models};
//!
//! let cfg = SimConfig::parse(
//!     "minutes = 300\nslots = 2\nwait_seed = 10\n[stages]\npc1 = { minutes = 30, limit = 1 }\n",
//! )
//! .unwrap();
//! let runs = run(&cfg, Models::Both).unwrap();
//! assert_eq!(runs.len(), 2);
//! assert!(runs.iter().all(|r| r.trace.finished.len() >= 8), "pc1 passes one every 30 minutes");
//! ```

pub mod config;
pub mod engine_model;
pub mod faults;
pub mod report;
pub mod thread_model;
pub mod trace;

#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use config::SimConfig;
use report::ModelRun;

/// Which models a run simulates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Models {
    /// The thread-per-sector model and the engine.
    #[default]
    Both,
    /// The thread-per-sector model only.
    Threads,
    /// The engine only.
    Engine,
}

impl FromStr for Models {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "both" => Ok(Models::Both),
            "threads" => Ok(Models::Threads),
            "engine" => Ok(Models::Engine),
            other => Err(format!("{other:?}: expected both, threads or engine")),
        }
    }
}

impl fmt::Display for Models {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Models::Both => "both",
            Models::Threads => "threads",
            Models::Engine => "engine",
        })
    }
}

/// Simulates `models` on `cfg`, each on its own paused clock: the thread
/// model first, then the engine.
pub fn run(cfg: &SimConfig, models: Models) -> anyhow::Result<Vec<ModelRun>> {
    let mut runs = Vec::new();
    if models != Models::Engine {
        runs.push(thread_model::simulate(cfg));
    }
    if models != Models::Threads {
        runs.push(engine_model::simulate(cfg)?);
    }
    Ok(runs)
}

/// The whole report of `runs` on `cfg` (read from `source`): the heading,
/// the bound table and the side-by-side comparison, then, with
/// `timeline_step`, each model's timeline every that many minutes.
pub fn full_report(
    cfg: &SimConfig,
    source: &str,
    runs: &[ModelRun],
    timeline_step: Option<u64>,
) -> String {
    let mut out = format!(
        "{}\n{}\n{}\n",
        report::heading(cfg, source),
        report::bound_table(cfg),
        report::comparison_table(cfg, runs)
    );
    if let Some(table) = report::failure_table(cfg, runs) {
        out.push_str(&table);
        out.push('\n');
    }
    if let Some(step) = timeline_step {
        for run in runs {
            let samples = report::timeline(cfg, &run.trace, step, cfg.minutes);
            out.push_str(&format!(
                "Timeline, {}:\n{}\n",
                run.name,
                report::timeline_table(cfg, &samples)
            ));
        }
    }
    out
}
