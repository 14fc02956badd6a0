//! The ext protocol's own cost: a no-op stage served by a child process
//! (this bench binary, re-run as `serve_stdio` over an executor that
//! answers at once), driven by `ExtProcessorExecutor`.
//!
//! * `round trip`: one task at a time, so each sample is pure protocol
//!   latency (serialize, pipe, child parse, answer, pipe, match by id).
//!   After criterion's figures, p50 / p99 over 2,000 single round trips
//!   are printed.
//! * `throughput/{1,8,64}`: 512 tasks with 1, 8 or 64 in flight.
//!
//! ```text
//! cargo bench --bench ext
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use futures_util::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use venus_seal::backends::ext::{serve_stdio, ExtProcessorConfig, ExtProcessorExecutor};
use venus_seal::core::stage::Stage;
use venus_seal::core::{Executor, StageError};

/// Set in the child's environment.
const CHILD_ENV: &str = "VENUS_SEAL_EXT_BENCH_CHILD";

/// A task that costs nothing to run, with a realistic small body.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Noop {
    n: u64,
    path: String,
}

impl Stage for Noop {
    const NAME: &'static str = "noop";
    type Output = u64;
}

#[derive(Debug)]
struct Echo;

#[async_trait]
impl Executor<Noop> for Echo {
    async fn execute(&self, task: Noop) -> Result<u64, StageError> {
        Ok(task.n)
    }
}

fn task(n: u64) -> Noop {
    Noop {
        n,
        path: format!("/seal/s-t01000-{n}/cache"),
    }
}

fn processor() -> ExtProcessorExecutor<Noop> {
    let mut cfg = ExtProcessorConfig::new(std::env::current_exe().unwrap());
    cfg.name = Some("bench-child".into());
    cfg.envs.insert(CHILD_ENV.into(), "1".into());
    ExtProcessorExecutor::new(cfg).unwrap()
}

fn round_trip(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let p = processor();
    runtime.block_on(p.start()).unwrap();
    let mut n = 0;
    c.bench_function("ext/round trip (no-op task)", |b| {
        b.iter(|| {
            n += 1;
            assert_eq!(runtime.block_on(p.execute(task(n))).unwrap(), n);
        })
    });

    // Percentiles criterion does not print.
    let mut times: Vec<Duration> = (0..2000)
        .map(|n| {
            let start = Instant::now();
            runtime.block_on(p.execute(task(n))).unwrap();
            start.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "ext/round trip over 2000 tasks: p50 {:.1?}, p99 {:.1?}, max {:.1?}",
        times[times.len() / 2],
        times[times.len() * 99 / 100],
        times[times.len() - 1]
    );
}

fn throughput(c: &mut Criterion) {
    const TASKS: u64 = 512;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let p = Arc::new(processor());
    runtime.block_on(p.start()).unwrap();
    let mut group = c.benchmark_group("ext/throughput");
    group.throughput(Throughput::Elements(TASKS));
    for in_flight in [1usize, 8, 64] {
        group.bench_with_input(
            BenchmarkId::from_parameter(in_flight),
            &in_flight,
            |b, &in_flight| {
                b.iter(|| {
                    runtime.block_on(async {
                        let done = stream::iter(0..TASKS)
                            .map(|n| {
                                let p = p.clone();
                                async move { p.execute(task(n)).await.unwrap() }
                            })
                            .buffer_unordered(in_flight)
                            .count()
                            .await;
                        assert_eq!(done as u64, TASKS);
                    })
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, round_trip, throughput);

fn main() {
    if std::env::var_os(CHILD_ENV).is_some() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let result = runtime.block_on(serve_stdio::<Noop, _>(Echo));
        std::process::exit(if result.is_ok() { 0 } else { 1 });
    }
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
