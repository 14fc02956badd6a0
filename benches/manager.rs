//! Sector manager throughput: `AllocateSector` and `ReportState` calls per
//! second with 1, 16 and 128 concurrent clients, for each store (SQLite,
//! and PostgreSQL when `VENUS_SEAL_TEST_POSTGRES` names a server) and each
//! way a worker reaches the manager (in process, and over the
//! authenticated JSON-RPC server with one `ManagerClient` per client).
//!
//! `cargo bench --bench manager`; quick mode:
//! `cargo bench --bench manager -- --quick`. For PostgreSQL, start a
//! server first (`eval "$(.ci/postgres start)"`); each run creates its own
//! database on it.
//!
//! Each benchmark's "iteration" is one call, so criterion's `thrpt` is
//! calls per second across all clients. The manager is a
//! `LocalSectorManager` over a devnet with fake proofs
//! (`FakeProofVerifier`): the figures measure the manager, its store and the
//! RPC stack, not a chain.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use venus_seal::chain::testing::{create_postgres_database, FakeProofVerifier};
use venus_seal::chain::{
    DevnetChain, DevnetConfig, DevnetMiner, LocalSectorManager, ManagedMiner, ManagerConfig,
    ManagerStore, SqlManagerStore,
};
use venus_seal::core::manager::{AllocateSpec, SectorStateChange, StateReport, WorkerIdentifier};
use venus_seal::core::{ActorId, ManagerError, SealProof, SectorId, SectorManager};
use venus_seal::rpc::{serve_manager, ManagerClient, Permission, Secret};

const MINER: ActorId = ActorId(1000);
const PROOF: SealProof = SealProof::StackedDrg2KiBV1_1;
/// The concurrent client counts measured.
const CLIENTS: [usize; 3] = [1, 16, 128];
const POSTGRES_ENV: &str = "VENUS_SEAL_TEST_POSTGRES";

/// A manager over a devnet with fake proofs, keeping its state in `store`.
fn manager(store: Arc<dyn ManagerStore>) -> Arc<LocalSectorManager> {
    let chain = DevnetChain::new(
        DevnetConfig::with_miners(vec![DevnetMiner {
            id: MINER,
            allowed_proofs: vec![PROOF],
        }]),
        Arc::new(FakeProofVerifier),
    );
    LocalSectorManager::new(
        ManagerConfig::new(vec![ManagedMiner::new(MINER, PROOF)]),
        store,
        chain.clone(),
        chain,
        Arc::new(FakeProofVerifier),
    )
}

/// One benchmark setting: a manager behind a store, reached in process or
/// over JSON-RPC, with a client (and a sector of its own) per concurrent
/// caller.
struct Setup {
    /// `sqlite/in-process`, `postgres/rpc`, …
    name: String,
    /// One per concurrent caller (the same manager in process; a
    /// `ManagerClient` each over RPC).
    clients: Vec<Arc<dyn SectorManager>>,
    /// A sector allocated by each client, for `ReportState`.
    sectors: Vec<SectorId>,
    /// Keeps the server (RPC) and the store's temporary directory alive.
    _keep: Vec<Box<dyn std::any::Any>>,
}

impl Setup {
    async fn new(
        store_name: &str,
        store: Arc<dyn ManagerStore>,
        rpc: bool,
        keep: Vec<Box<dyn std::any::Any>>,
    ) -> Self {
        let local: Arc<dyn SectorManager> = manager(store);
        let n = *CLIENTS.iter().max().unwrap();
        let mut keep = keep;
        let clients: Vec<Arc<dyn SectorManager>> = if rpc {
            let secret = Secret::generate();
            let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
            let (addr, handle) = serve_manager(addr, local, secret.clone()).await.unwrap();
            keep.push(Box::new(OnDrop(Some(Box::new(move || {
                let _ = handle.stop();
            })))));
            let url = format!("http://{addr}");
            (0..n)
                .map(|i| {
                    let token = secret.token(Permission::Write, Some(&format!("worker-{i}")));
                    Arc::new(ManagerClient::new(&url, Some(&token)).unwrap())
                        as Arc<dyn SectorManager>
                })
                .collect()
        } else {
            vec![local; n]
        };
        let mut sectors = Vec::with_capacity(n);
        for c in &clients {
            let sector = retrying(|| c.allocate_sector(AllocateSpec::default()))
                .await
                .expect("the miner takes sectors");
            sectors.push(sector.id);
        }
        Self {
            name: format!("{store_name}/{}", if rpc { "rpc" } else { "in-process" }),
            clients,
            sectors,
            _keep: keep,
        }
    }
}

/// Runs its closure when dropped (stops the JSON-RPC server with the
/// setting).
struct OnDrop(Option<Box<dyn FnOnce()>>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

type Call = fn(Arc<dyn SectorManager>, SectorId) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Calls refused with HTTP 429 and retried, since the last report.
static REFUSED: AtomicU64 = AtomicU64::new(0);

/// Runs `call` until the server takes it. jsonrpsee's server takes at most
/// 100 connections by default and answers more with HTTP 429, which
/// `ManagerClient` reports as a Temporary `Internal` error: a worker
/// retries it, and so does the bench (counted in [`REFUSED`]).
async fn retrying<T, F, Fut>(mut call: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ManagerError>>,
{
    loop {
        match call().await {
            Err(ManagerError::Internal(m)) if m.contains("HTTP status 429") => {
                REFUSED.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            other => return other.unwrap(),
        }
    }
}

fn allocate(m: Arc<dyn SectorManager>, _: SectorId) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        retrying(|| m.allocate_sector(AllocateSpec::default()))
            .await
            .expect("the miner takes sectors");
    })
}

fn report(m: Arc<dyn SectorManager>, id: SectorId) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let report = StateReport {
            worker: WorkerIdentifier {
                instance: "bench".into(),
                location: "/bench".into(),
            },
            state_change: SectorStateChange {
                prev: "PC1Done".into(),
                next: "PC2Done".into(),
                event: None,
            },
            failure: None,
        };
        retrying(|| m.report_state(id, report.clone())).await;
    })
}

/// Makes `iters` calls spread over the first `clients` clients, all
/// running at once; returns the wall time.
async fn run(setup: &Setup, clients: usize, iters: u64, call: Call) -> Duration {
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let share = iters / clients as u64 + u64::from((i as u64) < iters % clients as u64);
            let client = setup.clients[i].clone();
            let sector = setup.sectors[i];
            tokio::spawn(async move {
                for _ in 0..share {
                    call(client.clone(), sector).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    start.elapsed()
}

fn bench_setup(c: &mut Criterion, rt: &tokio::runtime::Runtime, setup: &Setup) {
    for (op, call) in [
        ("AllocateSector", allocate as Call),
        ("ReportState", report as Call),
    ] {
        let mut group = c.benchmark_group(format!("manager {op}"));
        group
            .throughput(Throughput::Elements(1))
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3));
        for clients in CLIENTS {
            group.bench_with_input(
                BenchmarkId::new(&setup.name, clients),
                &clients,
                |b, &clients| {
                    b.iter_custom(|iters| rt.block_on(run(setup, clients, iters, call)));
                },
            );
        }
        group.finish();
        let refused = REFUSED.swap(0, Ordering::Relaxed);
        if refused > 0 {
            eprintln!(
                "manager {op}/{}: {refused} calls refused with HTTP 429 (over the server's \
                 connection limit) and retried",
                setup.name
            );
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn sqlite(c: &mut Criterion) {
    let rt = runtime();
    for rpc in [false, true] {
        let setup = rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let store = SqlManagerStore::open_sqlite(dir.path().join("manager.db"))
                .await
                .unwrap();
            Setup::new("sqlite", Arc::new(store), rpc, vec![Box::new(dir)]).await
        });
        bench_setup(c, &rt, &setup);
        rt.block_on(async move { drop(setup) });
    }
}

fn postgres(c: &mut Criterion) {
    let Ok(server) = std::env::var(POSTGRES_ENV) else {
        eprintln!(
            "{POSTGRES_ENV} is unset: skipping the PostgreSQL benches \
             (start a server with `eval \"$(.ci/postgres start)\"`)"
        );
        return;
    };
    let rt = runtime();
    for rpc in [false, true] {
        let setup = rt.block_on(async {
            let url = create_postgres_database(&server).await;
            let store = SqlManagerStore::connect(&url).await.unwrap();
            Setup::new("postgres", Arc::new(store), rpc, Vec::new()).await
        });
        bench_setup(c, &rt, &setup);
        rt.block_on(async move { drop(setup) });
    }
}

criterion_group!(benches, sqlite, postgres);
criterion_main!(benches);
