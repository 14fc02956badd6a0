//! The cluster simulator as a benchmark: the real engine on damocles'
//! sealcalc example (`examples/simulate.toml`), shortened to the 1740
//! simulated minutes of sealcalc's published output, on tokio's paused
//! clock. What it measures is the engine's own cost: wall time per durable
//! sector transition (a record saved to the store; every stage, manager
//! call and wait of the sealer is one), fake executors and fake manager
//! included.
//!
//! `cargo bench --bench simulate`; CI runs it in quick mode
//! (`cargo bench --bench simulate -- --quick`). The simulator itself:
//! `cargo run --release --example simulate`.

#[allow(dead_code)]
#[path = "../examples/simulate/config.rs"]
mod config;
#[allow(dead_code)]
#[path = "../examples/simulate/engine_model.rs"]
mod engine_model;
#[allow(dead_code)]
#[path = "../examples/simulate/report.rs"]
mod report;
#[allow(dead_code)]
#[path = "../examples/simulate/trace.rs"]
mod trace;

use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};

use config::SimConfig;

/// Simulated minutes per iteration: sealcalc's published horizon.
const MINUTES: u64 = 1740;

fn sealcalc_example() -> SimConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/simulate.toml");
    let mut cfg = SimConfig::load(&path).expect("examples/simulate.toml");
    cfg.minutes = MINUTES;
    cfg
}

fn engine(c: &mut Criterion) {
    let cfg = sealcalc_example();
    let probe = engine_model::simulate(&cfg).expect("an engine run");
    let transitions = probe.transitions.expect("the engine counts transitions");
    assert!(transitions > 0);
    let mut group = c.benchmark_group("simulate");
    group.sample_size(10);
    eprintln!(
        "simulate/engine: {transitions} sector transitions per {MINUTES}-minute run; \
         the time criterion reports is per transition"
    );
    group.bench_function("engine: wall time per sector transition", |b| {
        // Each iteration is a whole run; what is reported is the run's wall
        // time divided by its transitions.
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let run = engine_model::simulate(&cfg).expect("an engine run");
                assert_eq!(run.transitions, Some(transitions), "runs are deterministic");
                total += run.wall;
            }
            total / transitions as u32
        })
    });
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
