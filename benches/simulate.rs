//! The cluster simulator as a benchmark: the real engine on damocles'
//! sealcalc example (`examples/simulate.toml`), shortened to the 1740
//! simulated minutes of sealcalc's published output, on tokio's paused
//! clock. What it measures is the engine's own cost: wall time per durable
//! sector transition (a record saved to the store; every stage, manager
//! call and wait of the sealer is one), fake executors and fake manager
//! included.
//!
//! `cargo bench --bench simulate`; CI runs it in quick mode
//! (`cargo bench --bench simulate -- --quick`). The simulator itself
//! (`venus_seal::simulate`, which this bench calls as the example does):
//! `cargo run --release --example simulate`.

use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use venus_seal::simulate::config::{SimConfig, SimStage};
use venus_seal::simulate::engine_model;

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

/// Every slot busy with `n` sectors in flight: the 1,000-sector memory
/// configuration (`examples/simulate/memory-1000.toml`: no stage limit
/// binds, 600 simulated minutes, every sector finishes) with `n` slots.
fn in_flight(n: usize) -> SimConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/simulate/memory-1000.toml");
    let mut cfg = SimConfig::load(&path).expect("examples/simulate/memory-1000.toml");
    cfg.slots = n;
    for stage in SimStage::ALL {
        let spec = cfg.stages.get_mut(stage);
        if spec.limit.is_some() {
            spec.limit = Some(n);
        }
    }
    cfg
}

/// Wall time per transition with 100, 1,000 and 10,000 sectors in flight:
/// the engine's per-transition cost should not grow with the sectors it
/// holds.
fn scaling(c: &mut Criterion) {
    let mut group = c.benchmark_group("simulate/in flight");
    // One whole run per sample (a 10,000-sector run takes seconds).
    group.sampling_mode(criterion::SamplingMode::Flat);
    group.sample_size(10);
    for n in [100, 1_000, 10_000] {
        let cfg = in_flight(n);
        group.bench_function(format!("{n}: wall time per sector transition"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut transitions = 0;
                for _ in 0..iters {
                    let run = engine_model::simulate(&cfg).expect("an engine run");
                    transitions += run.transitions.expect("the engine counts transitions");
                    total += run.wall;
                }
                total * iters as u32 / transitions as u32
            })
        });
    }
    group.finish();
}

criterion_group!(benches, engine, scaling);
criterion_main!(benches);
