//! Bounded growth of the worker's sector store: start-up and `list` with
//! 5,000 finished 32GiB-sized sector records beside a few in flight.
//!
//! `cargo bench --bench memory` (CI: `-- --quick`). It builds a SQLite
//! store the way a worker fills it: every finished sector was saved at
//! C1Done with its C1 output, then finished (which drops the output and
//! archives the record); `IN_FLIGHT` sectors wait at C1Done with a full
//! 20 MiB C1 output, as the sectors a worker is sealing do. Then it times
//! start-up (open, load the unfinished records, count the rest: what
//! `Engine::run` reads) and `list` (what `EngineHandle::list` reads), and
//! measures the peak RSS of each in a fresh child process (VmHWM of
//! /proc/self/status), printed as `memory: …` lines.
//!
//! The finished sectors' C1 outputs are written at
//! `VENUS_SEAL_BENCH_C1_BYTES` (default 64 KiB) rather than 20 MiB: they
//! are deleted when the sector finishes, so their size changes only how
//! long the setup takes (5,000 × 20 MiB is 100 GB of writes), not what
//! start-up or `list` read. The in-flight ones are full size.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use criterion::{criterion_group, Criterion};
use venus_seal_core::manager::AllocatedSector;
use venus_seal_core::sector::{Event, SectorRecord, SectorState};
use venus_seal_core::stage::{Opaque, Proof};
use venus_seal_core::{
    ActorId, SealProof, SectorId, SectorNumber, SectorStore, SectorSummary, SqliteSectorStore,
};

const FINISHED: u64 = 5_000;
const IN_FLIGHT: u64 = 4;
const C1_FULL: usize = 20 << 20;
const CHILD_ENV: &str = "VENUS_SEAL_MEMORY_CHILD";

fn c1_output(bytes: usize, n: u64) -> Opaque {
    // A C1 output is JSON of mostly numbers; a long string is the same to
    // the store.
    Opaque::encode(&serde_json::json!({ "sector": n, "vanilla_proofs": "7".repeat(bytes) }))
        .unwrap()
}

fn record(job: u64, c1_bytes: usize) -> SectorRecord {
    let mut rec = SectorRecord::new(job);
    rec.state = SectorState::C1Done;
    rec.sector = Some(AllocatedSector {
        id: SectorId::new(ActorId(1000), SectorNumber(job)),
        proof_type: SealProof::StackedDrg32GiBV1_1,
    });
    rec.location = Some(format!("/var/sealing/job-{job}").into());
    rec.pc1_output = Some(c1_output(4 << 10, job));
    rec.c1_output = Some(c1_output(c1_bytes, job));
    rec.updated_at = Some(1_700_000_000 + job);
    rec
}

async fn fill(path: &Path) {
    let store = SqliteSectorStore::open(path).await.unwrap();
    let c1_bytes = std::env::var("VENUS_SEAL_BENCH_C1_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64 << 10);
    let started = Instant::now();
    for job in 1..=FINISHED {
        let mut rec = record(job, c1_bytes);
        store.save(&rec).await.unwrap();
        rec.apply(Event::C2Done(Proof {
            proof: vec![0xab; 1920],
        }))
        .unwrap();
        rec.apply(Event::ProofSubmitted).unwrap();
        rec.apply(Event::Finished).unwrap();
        store.save(&rec).await.unwrap();
    }
    for job in FINISHED + 1..=FINISHED + IN_FLIGHT {
        store.save(&record(job, C1_FULL)).await.unwrap();
    }
    let size = std::fs::metadata(path).unwrap().len();
    println!(
        "memory: store filled with {FINISHED} finished ({c1_bytes} B C1 output each while sealing) \
         and {IN_FLIGHT} in flight ({C1_FULL} B C1 output) in {:.1?}; database {:.1} MiB",
        started.elapsed(),
        size as f64 / (1 << 20) as f64
    );
}

/// What a worker reads at start-up.
async fn start_up(path: &Path) -> usize {
    let store = SqliteSectorStore::open(path).await.unwrap();
    let unfinished = store.load_unfinished().await.unwrap();
    let counts = store.job_counts().await.unwrap();
    assert_eq!(counts.total(), FINISHED + IN_FLIGHT);
    unfinished.len()
}

/// What `list` reads and answers.
async fn list(store: &SqliteSectorStore) -> Vec<SectorSummary> {
    let list: Vec<SectorSummary> = store
        .list()
        .await
        .unwrap()
        .iter()
        .map(SectorSummary::from)
        .collect();
    assert_eq!(list.len() as u64, FINISHED + IN_FLIGHT);
    list
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// In a fresh process: the peak RSS of one start-up or one `list`.
fn child(mode: &str, path: &Path) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let before = status_kib("VmHWM:");
    let n = runtime.block_on(async {
        match mode {
            "start-up" => start_up(path).await,
            _ => {
                let store = SqliteSectorStore::open(path).await.unwrap();
                list(&store).await.len()
            }
        }
    });
    println!("{n} {before} {}", status_kib("VmHWM:"));
}

fn peak_rss(mode: &str, path: &Path) {
    let out = Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, format!("{mode}:{}", path.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let nums: Vec<u64> = text
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let [n, before, peak] = nums[..] else {
        panic!("child said {text:?}")
    };
    println!(
        "memory: {mode}: {n} records, peak RSS {:.1} MiB (process before: {:.1} MiB)",
        peak as f64 / 1024.0,
        before as f64 / 1024.0
    );
}

fn bounded_growth(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("worker.db");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(fill(&path));
    peak_rss("start-up", &path);
    peak_rss("list", &path);

    let mut group = c.benchmark_group("sector store with 5,000 finished sectors");
    group.sample_size(10);
    group.bench_function("start-up (open, load unfinished, count)", |b| {
        b.iter(|| assert_eq!(runtime.block_on(start_up(&path)), IN_FLIGHT as usize))
    });
    let store = runtime.block_on(SqliteSectorStore::open(&path)).unwrap();
    group.bench_function("list", |b| b.iter(|| runtime.block_on(list(&store))));
    group.finish();
}

criterion_group!(benches, bounded_growth);

fn main() {
    if let Ok(arg) = std::env::var(CHILD_ENV) {
        let (mode, path) = arg.split_once(':').expect("MODE:PATH");
        child(mode, Path::new(path));
        return;
    }
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
