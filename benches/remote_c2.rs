//! What the remote C2 service adds to a proof: the same C2 task run on a
//! prover called in-process ("local") and through the service over HTTP
//! on loopback ("remote": zstd upload, SQLite queue, a prover loop, state
//! polls, proof download, verification), with a prover that answers at
//! once, so every microsecond measured is the path's, not the proof's.
//!
//! * `remote c2/latency/<size>`: one task at a time, C1 outputs of 64 KiB
//!   (a 2KiB sector's is a few KiB) and 16 MiB (a 32GiB sector's is about
//!   20 MiB of JSON). The client polls from 5 ms (the default starts at
//!   500 ms: it adds up to that wait to a proof that takes minutes).
//! * `remote c2/throughput`: 64 tasks from 8 concurrent clients, one
//!   service node with 4 prover loops.
//!
//! ```text
//! cargo bench --bench remote_c2
//! ```

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures_util::stream::{self, StreamExt};
use rand::RngCore;
use venus_seal::backends::remote_c2::{
    C2Service, C2ServiceConfig, C2TaskStore, Provers, RemoteC2Config, RemoteC2Executor,
};
use venus_seal::core::stage::{Opaque, Proof, C2};
use venus_seal::core::testing::FakeExecutor;
use venus_seal::core::{
    ActorId, CommD, CommR, Executor, ProofVerifier, Randomness, SealProof, SealVerifyInfo,
    SectorId, SectorNumber, VerifyError,
};
use venus_seal::rpc::auth::{Permission, Secret};

/// A C1 output of about `bytes` bytes of JSON; `n` makes each distinct
/// (the service dedupes by digest).
fn c1_output(bytes: usize, n: u64) -> Opaque {
    let mut blob = vec![0u8; bytes / 2];
    rand::thread_rng().fill_bytes(&mut blob);
    Opaque::encode(&serde_json::json!({
        "registered_proof": "StackedDrg2KiBV1_1",
        "n": n,
        "vanilla_proofs": hex_string(&blob),
    }))
    .unwrap()
}

fn hex_string(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn task(c1: &Opaque, number: u64) -> C2 {
    C2 {
        proof: SealProof::StackedDrg2KiBV1_1,
        sector: SectorId::new(ActorId(1000), SectorNumber(number)),
        c1_output: c1.clone(),
    }
}

/// A proof that answers at once: 192 bytes, the size of a Groth16 proof.
fn prover() -> Arc<FakeExecutor<C2>> {
    FakeExecutor::new(|_: &C2| Proof {
        proof: vec![7; 192],
    })
}

#[derive(Debug)]
struct AcceptAll;

impl ProofVerifier for AcceptAll {
    fn verify_seal(&self, info: &SealVerifyInfo) -> Result<bool, VerifyError> {
        Ok(info.proof.len() == 192)
    }
}

fn verify_info(t: &C2) -> Result<SealVerifyInfo, String> {
    Ok(SealVerifyInfo {
        proof_type: t.proof,
        sector: t.sector,
        comm_r: CommR([1; 32]),
        comm_d: CommD([2; 32]),
        ticket: Randomness([3; 32]),
        seed: Randomness([4; 32]),
        proof: Vec::new(),
    })
}

struct Service {
    url: String,
    token: String,
    _provers: Provers,
    _dir: tempfile::TempDir,
}

async fn start_service(provers: usize) -> Service {
    let dir = tempfile::tempdir().unwrap();
    let store = C2TaskStore::open_sqlite(dir.path().join("c2.db"))
        .await
        .unwrap();
    let secret = Secret::generate();
    let service = C2Service::new(
        store,
        prover(),
        secret.clone(),
        C2ServiceConfig {
            node_id: "bench".into(),
            provers,
            max_body_bytes: 64 << 20,
            poll_interval: Duration::from_millis(5),
            ..C2ServiceConfig::default()
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = service.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let provers = service.start_provers().await.unwrap();
    Service {
        url,
        token: secret.token(Permission::Write, Some("bench")),
        _provers: provers,
        _dir: dir,
    }
}

fn client(service: &Service) -> RemoteC2Executor {
    RemoteC2Executor::new(&service.url, &service.token, Arc::new(AcceptAll))
        .with_verify_info(verify_info)
        .with_config(RemoteC2Config {
            poll_initial: Duration::from_millis(5),
            poll_max: Duration::from_millis(50),
            ..RemoteC2Config::default()
        })
}

fn latency(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let service = runtime.block_on(start_service(1));
    let remote = client(&service);
    let local = prover();
    let mut group = c.benchmark_group("remote c2/latency");
    group.sample_size(20);
    for (label, bytes) in [("64KiB", 64 << 10), ("16MiB", 16 << 20)] {
        let c1 = c1_output(bytes, 0);
        let mut number = 0;
        group.bench_function(BenchmarkId::new("local", label), |b| {
            b.iter(|| {
                number += 1;
                runtime.block_on(local.execute(task(&c1, number))).unwrap()
            })
        });
        group.bench_function(BenchmarkId::new("remote", label), |b| {
            b.iter(|| {
                number += 1;
                runtime.block_on(remote.execute(task(&c1, number))).unwrap()
            })
        });
    }
    group.finish();
}

fn throughput(c: &mut Criterion) {
    const TASKS: u64 = 64;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let service = runtime.block_on(start_service(4));
    let remote = Arc::new(client(&service));
    let c1 = c1_output(64 << 10, 1);
    let mut group = c.benchmark_group("remote c2/throughput");
    group.sample_size(10);
    group.throughput(Throughput::Elements(TASKS));
    let mut round = 0u64;
    group.bench_function("8 clients, 4 provers, 64KiB", |b| {
        b.iter(|| {
            round += 1;
            let base = round * TASKS;
            runtime.block_on(async {
                let done = stream::iter(0..TASKS)
                    .map(|n| {
                        let remote = remote.clone();
                        let t = task(&c1, base + n);
                        async move { remote.execute(t).await.unwrap() }
                    })
                    .buffer_unordered(8)
                    .count()
                    .await;
                assert_eq!(done as u64, TASKS);
            })
        })
    });
    group.finish();
}

criterion_group!(benches, latency, throughput);
criterion_main!(benches);
