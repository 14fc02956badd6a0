//! The service and the client against a fake prover: fast, real HTTP on
//! loopback, real SQLite (and PostgreSQL with `VENUS_SEAL_TEST_POSTGRES`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use venus_seal_core::stage::{Opaque, Proof, C2};
use venus_seal_core::testing::FakeExecutor;
use venus_seal_core::{
    ActorId, CommD, CommR, Executor, FailureLevel, Leveled, ProofVerifier, Randomness, SealProof,
    SealVerifyInfo, SectorId, SectorNumber, StageError, VerifyError,
};
use venus_seal_rpc::auth::{Permission, Secret};

use super::*;

/// The C1 output of the fake prover.
#[derive(Serialize, Deserialize)]
struct FakeC1 {
    vanilla: String,
    n: u64,
}

pub(super) fn task(number: u64) -> C2 {
    C2 {
        proof: SealProof::StackedDrg2KiBV1_1,
        sector: SectorId::new(ActorId(1000), SectorNumber(number)),
        c1_output: Opaque::encode(&FakeC1 {
            vanilla: "v".repeat(64),
            n: number,
        })
        .unwrap(),
    }
}

fn digest_bytes(t: &C2) -> Vec<u8> {
    hex::decode(c1_digest(t.c1_output.as_json())).unwrap()
}

/// The fake proof: the digest of the C1 output.
pub(super) fn fake_prover() -> Arc<FakeExecutor<C2>> {
    FakeExecutor::new(|t: &C2| Proof {
        proof: digest_bytes(t),
    })
}

pub(super) fn fake_check(t: &C2) -> Result<(), String> {
    t.c1_output
        .decode::<FakeC1>()
        .map(|_| ())
        .map_err(|e| e.to_string())
}

pub(super) fn fake_verify_info(t: &C2) -> Result<SealVerifyInfo, String> {
    let mut comm_r = [0; 32];
    comm_r.copy_from_slice(&digest_bytes(t));
    Ok(SealVerifyInfo {
        proof_type: t.proof,
        sector: t.sector,
        comm_r: CommR(comm_r),
        comm_d: CommD([0; 32]),
        ticket: Randomness([0; 32]),
        seed: Randomness([0; 32]),
        proof: Vec::new(),
    })
}

/// Accepts a proof equal to CommR, unless told to refuse everything.
#[derive(Debug, Default)]
pub(super) struct FakeVerifier {
    refuse: AtomicBool,
}

impl ProofVerifier for FakeVerifier {
    fn verify_seal(&self, info: &SealVerifyInfo) -> Result<bool, VerifyError> {
        Ok(!self.refuse.load(Ordering::SeqCst) && info.proof == info.comm_r.0)
    }
}

pub(super) fn config(node: &str) -> C2ServiceConfig {
    C2ServiceConfig {
        node_id: node.into(),
        provers: 2,
        max_body_bytes: 64 << 10,
        heartbeat_interval: Duration::from_millis(100),
        stale_after: Duration::from_secs(30),
        poll_interval: Duration::from_millis(50),
        ..C2ServiceConfig::default()
    }
}

/// A served node: dropping `server` and `provers` is a crash.
struct Node {
    url: String,
    server: JoinHandle<()>,
    provers: Provers,
    store: C2TaskStore,
}

impl Node {
    /// A crash: the server and the provers stop where they are. A process
    /// that dies runs no statement after its death, but an aborted task's
    /// statement already handed to the database pool still runs (it could
    /// claim a task after the next node released it, as a flaky run of
    /// the restart test showed: attempts 2, running, claimed by nobody
    /// alive). Closing the pool and letting the database's worker threads
    /// drain cuts them, as the death of the process would have.
    async fn kill(self) {
        self.server.abort();
        drop(self.provers);
        self.store.close().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn start(
    store: C2TaskStore,
    prover: Arc<FakeExecutor<C2>>,
    secret: &Secret,
    config: C2ServiceConfig,
) -> Node {
    let service =
        C2Service::new(store.clone(), prover, secret.clone(), config).with_c1_check(fake_check);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let router = service.router();
    let server = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    let provers = service.start_provers().await.unwrap();
    Node {
        url: format!("http://{addr}"),
        server,
        provers,
        store,
    }
}

pub(super) async fn sqlite(dir: &tempfile::TempDir) -> C2TaskStore {
    C2TaskStore::open_sqlite(dir.path().join("c2.db"))
        .await
        .unwrap()
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

async fn post(url: &str, token: Option<&str>, body: Vec<u8>) -> (u16, serde_json::Value) {
    let mut req = http().post(format!("{url}/v1/c2")).body(body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.unwrap();
    let code = resp.status().as_u16();
    (code, resp.json().await.unwrap())
}

async fn get(url: &str, path: &str, token: &str) -> (u16, serde_json::Value) {
    let resp = http()
        .get(format!("{url}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let code = resp.status().as_u16();
    (code, resp.json().await.unwrap())
}

pub(super) async fn wait_state(url: &str, id: &str, token: &str, want: TaskState) -> TaskStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, body) = get(url, &format!("/v1/c2/{id}"), token).await;
        assert_eq!(code, 200, "{body}");
        let status: TaskStatus = serde_json::from_value(body).unwrap();
        if status.state == want {
            return status;
        }
        assert!(Instant::now() < deadline, "task {id} stuck in {status:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn submit_poll_fetch_and_idempotent_resubmit() {
    let dir = tempfile::tempdir().unwrap();
    let secret = Secret::generate();
    let prover = fake_prover();
    let node = start(sqlite(&dir).await, prover.clone(), &secret, config("n1")).await;
    let token = secret.token(Permission::Write, Some("worker"));
    let t = task(1);
    let body = serde_json::to_vec(&t).unwrap();

    let (code, first) = post(&node.url, Some(&token), body.clone()).await;
    assert_eq!(code, 200, "{first}");
    let id = first["id"].as_str().unwrap().to_string();
    assert_eq!(
        id,
        task_id(&t).unwrap(),
        "the id is derivable from the task"
    );
    let (code, again) = post(&node.url, Some(&token), body.clone()).await;
    assert_eq!(code, 200);
    assert_eq!(again["id"], first["id"], "resubmission names the same task");

    let done = wait_state(&node.url, &id, &token, TaskState::Done).await;
    assert_eq!(done.sector, t.sector);
    assert_eq!(done.attempts, 1);
    let (code, proof) = get(&node.url, &format!("/v1/c2/{id}/proof"), &token).await;
    assert_eq!(code, 200);
    let proof: Proof = serde_json::from_value(proof).unwrap();
    assert_eq!(proof.proof, digest_bytes(&t));

    // A resubmission after the proof: the same task, done, not proven again.
    let (_, after) = post(&node.url, Some(&token), body).await;
    assert_eq!(after["id"], first["id"]);
    assert_eq!(after["state"], "Done");
    assert_eq!(prover.calls(), 1);

    // A different C1 output for the same sector is another task.
    let mut other = task(1);
    other.c1_output = Opaque::encode(&FakeC1 {
        vanilla: "w".into(),
        n: 1,
    })
    .unwrap();
    let (_, b) = post(&node.url, Some(&token), serde_json::to_vec(&other).unwrap()).await;
    assert_ne!(b["id"], first["id"]);

    let (code, missing) = get(&node.url, "/v1/c2/1000-9-abc/proof", &token).await;
    assert_eq!((code, missing["code"].as_str()), (404, Some("not_found")));
    node.kill().await;
}

#[tokio::test]
async fn tokens_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let secret = Secret::generate();
    let node = start(sqlite(&dir).await, fake_prover(), &secret, config("n1")).await;
    let body = serde_json::to_vec(&task(2)).unwrap();

    let (code, err) = post(&node.url, None, body.clone()).await;
    assert_eq!(code, 401);
    assert_eq!(err["code"], "unauthorized");
    assert!(
        err["error"].as_str().unwrap().contains("missing token"),
        "{err}"
    );

    let foreign = Secret::generate().token(Permission::Admin, None);
    let (code, err) = post(&node.url, Some(&foreign), body.clone()).await;
    assert_eq!(code, 401);
    assert!(
        err["error"].as_str().unwrap().contains("bad signature"),
        "{err}"
    );

    let (code, err) = post(&node.url, Some("not-a-jwt"), body.clone()).await;
    assert_eq!(code, 401, "{err}");

    let read = secret.token(Permission::Read, None);
    let (code, err) = post(&node.url, Some(&read), body.clone()).await;
    assert_eq!(code, 403);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("needs the write permission"),
        "{err}"
    );

    // Read is enough to poll.
    let write = secret.token(Permission::Write, None);
    let (code, ok) = post(&node.url, Some(&write), body).await;
    assert_eq!(code, 200);
    let id = ok["id"].as_str().unwrap();
    let (code, _) = get(&node.url, &format!("/v1/c2/{id}"), &read).await;
    assert_eq!(code, 200);
    let resp = http()
        .get(format!("{}/v1/c2/{id}", node.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    node.kill().await;
}

#[tokio::test]
async fn oversized_and_corrupt_bodies_are_refused_and_the_service_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let secret = Secret::generate();
    let node = start(sqlite(&dir).await, fake_prover(), &secret, config("n1")).await;
    let token = secret.token(Permission::Write, None);

    let mut big = task(3);
    big.c1_output = Opaque::encode(&FakeC1 {
        vanilla: "x".repeat(200 << 10),
        n: 3,
    })
    .unwrap();
    let (code, err) = post(&node.url, Some(&token), serde_json::to_vec(&big).unwrap()).await;
    assert_eq!(code, 413, "{err}");
    assert_eq!(err["code"], "too_large");
    assert!(
        err["error"].as_str().unwrap().contains("65536 bytes"),
        "{err}"
    );

    // Not JSON at all.
    let (code, err) = post(&node.url, Some(&token), b"{\"proof\": \"Stacked".to_vec()).await;
    assert_eq!(code, 400, "{err}");
    assert!(
        err["error"].as_str().unwrap().contains("malformed C2 task"),
        "{err}"
    );

    // JSON, but the C1 output is not what the prover reads.
    let corrupt = serde_json::json!({
        "proof": "StackedDrg2KiBV1_1",
        "sector": {"Miner": 1000, "Number": 3},
        "c1_output": {"vanilla": 7},
    });
    let (code, err) = post(&node.url, Some(&token), corrupt.to_string().into_bytes()).await;
    assert_eq!(code, 400, "{err}");
    let msg = err["error"].as_str().unwrap();
    assert!(
        msg.contains("corrupt C1 output") && msg.contains("expected a string"),
        "{msg}"
    );

    // An unknown proof type is named.
    let wrong = serde_json::json!({
        "proof": "StackedDrg3KiBV1",
        "sector": {"Miner": 1000, "Number": 3},
        "c1_output": {},
    });
    let (code, err) = post(&node.url, Some(&token), wrong.to_string().into_bytes()).await;
    assert_eq!(code, 400, "{err}");
    assert!(
        err["error"].as_str().unwrap().contains("StackedDrg3KiBV1"),
        "{err}"
    );

    // Unknown encodings are refused clearly.
    let resp = http()
        .post(format!("{}/v1/c2", node.url))
        .bearer_auth(&token)
        .header("content-encoding", "br")
        .body(vec![1, 2, 3])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 415);

    // zstd bodies are read; garbage under zstd is a 400; the limit holds
    // after decompression (a small zstd body of a large task).
    let zstd_post = |body: Vec<u8>| {
        let url = node.url.clone();
        let token = token.clone();
        async move {
            let resp = http()
                .post(format!("{url}/v1/c2"))
                .bearer_auth(&token)
                .header("content-encoding", "zstd")
                .body(body)
                .send()
                .await
                .unwrap();
            let code = resp.status().as_u16();
            (code, resp.json::<serde_json::Value>().await.unwrap())
        }
    };
    let plain = serde_json::to_vec(&task(30)).unwrap();
    let (code, ok) = zstd_post(zstd::bulk::compress(&plain, 3).unwrap()).await;
    assert_eq!(code, 200, "{ok}");
    assert_eq!(
        ok["id"].as_str(),
        Some(task_id(&task(30)).unwrap().as_str())
    );
    let (code, err) = zstd_post(b"not zstd".to_vec()).await;
    assert_eq!(code, 400, "{err}");
    assert!(err["error"].as_str().unwrap().contains("zstd"), "{err}");
    let bomb = zstd::bulk::compress(&serde_json::to_vec(&big).unwrap(), 19).unwrap();
    assert!(bomb.len() < 64 << 10);
    let (code, err) = zstd_post(bomb).await;
    assert_eq!(code, 413, "{err}");

    // The next good request is served and proven.
    let (code, ok) = post(
        &node.url,
        Some(&token),
        serde_json::to_vec(&task(3)).unwrap(),
    )
    .await;
    assert_eq!(code, 200, "{ok}");
    wait_state(
        &node.url,
        ok["id"].as_str().unwrap(),
        &token,
        TaskState::Done,
    )
    .await;
    node.kill().await;
}

#[tokio::test]
async fn a_task_interrupted_by_a_crash_completes_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let secret = Secret::generate();
    let token = secret.token(Permission::Write, None);
    let slow = fake_prover();
    slow.set_latency(Duration::from_secs(3600));
    let node = start(sqlite(&dir).await, slow.clone(), &secret, config("gpu-1")).await;
    let (_, ok) = post(
        &node.url,
        Some(&token),
        serde_json::to_vec(&task(4)).unwrap(),
    )
    .await;
    let id = ok["id"].as_str().unwrap().to_string();
    let running = wait_state(&node.url, &id, &token, TaskState::Running).await;
    assert_eq!(running.claimed_by.as_deref(), Some("gpu-1"));
    // Claimed in the queue a moment before the prover starts.
    while slow.running() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The killed node's run is given up; it would go on as a blocking
    // proof does (holding that node's prover slot), but its result never
    // lands: the task is requeued and proven by the restarted node.
    node.kill().await;

    // Same node, same database: the interrupted task is requeued at once.
    let prover = fake_prover();
    let node = start(sqlite(&dir).await, prover.clone(), &secret, config("gpu-1")).await;
    let done = wait_state(&node.url, &id, &token, TaskState::Done).await;
    assert_eq!(done.attempts, 2);
    assert_eq!(prover.calls(), 1);
    node.kill().await;
}

#[tokio::test]
async fn a_stale_task_of_a_dead_node_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let secret = Secret::generate();
    let token = secret.token(Permission::Write, None);
    let slow = fake_prover();
    slow.set_latency(Duration::from_secs(3600));
    let node = start(sqlite(&dir).await, slow, &secret, config("dead")).await;
    let (_, ok) = post(
        &node.url,
        Some(&token),
        serde_json::to_vec(&task(5)).unwrap(),
    )
    .await;
    let id = ok["id"].as_str().unwrap().to_string();
    wait_state(&node.url, &id, &token, TaskState::Running).await;
    node.kill().await;

    let prover = fake_prover();
    let mut cfg = config("alive");
    // The dead node's last heartbeat was at most 100 ms before its death
    // and `kill` takes 300 ms: stale no sooner than 600 ms from here.
    cfg.stale_after = Duration::from_millis(1000);
    let started = Instant::now();
    let node = start(sqlite(&dir).await, prover.clone(), &secret, cfg).await;
    let done = wait_state(&node.url, &id, &token, TaskState::Done).await;
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "taken over before stale"
    );
    assert_eq!(done.claimed_by.as_deref(), Some("alive"));
    assert_eq!(prover.calls(), 1);
    node.kill().await;
}

#[tokio::test]
async fn graceful_stop_requeues_running_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let secret = Secret::generate();
    let token = secret.token(Permission::Write, None);
    let slow = fake_prover();
    slow.set_latency(Duration::from_secs(3600));
    let node = start(sqlite(&dir).await, slow, &secret, config("a")).await;
    let (_, ok) = post(
        &node.url,
        Some(&token),
        serde_json::to_vec(&task(6)).unwrap(),
    )
    .await;
    let id = ok["id"].as_str().unwrap().to_string();
    wait_state(&node.url, &id, &token, TaskState::Running).await;
    assert_eq!(node.provers.stop().await.unwrap(), 1);
    let queued = wait_state(&node.url, &id, &token, TaskState::Queued).await;
    assert_eq!(queued.claimed_by, None);
    node.server.abort();
}

#[tokio::test]
async fn prover_failures_are_reported_with_their_level_and_retried_on_resubmit() {
    let dir = tempfile::tempdir().unwrap();
    let secret = Secret::generate();
    let token = secret.token(Permission::Write, None);
    let prover = fake_prover();
    prover.fail_next(StageError::Unavailable("GPU busy".into()));
    let node = start(sqlite(&dir).await, prover.clone(), &secret, config("a")).await;
    let body = serde_json::to_vec(&task(7)).unwrap();
    let (_, ok) = post(&node.url, Some(&token), body.clone()).await;
    let id = ok["id"].as_str().unwrap().to_string();
    let failed = wait_state(&node.url, &id, &token, TaskState::Failed).await;
    let err = failed.error.unwrap();
    assert_eq!(err.level, FailureLevel::Temporary);
    assert!(err.message.contains("GPU busy"));
    let (code, _) = get(&node.url, &format!("/v1/c2/{id}/proof"), &token).await;
    assert_eq!(code, 409);

    let (_, again) = post(&node.url, Some(&token), body).await;
    assert_eq!(again["id"].as_str(), Some(id.as_str()));
    wait_state(&node.url, &id, &token, TaskState::Done).await;
    assert_eq!(prover.calls(), 2);
    node.kill().await;
}

pub(super) fn client(url: &str, token: &str, verifier: Arc<FakeVerifier>) -> RemoteC2Executor {
    RemoteC2Executor::new(url, token, verifier)
        .with_verify_info(fake_verify_info)
        .with_config(RemoteC2Config {
            poll_initial: Duration::from_millis(20),
            poll_max: Duration::from_millis(100),
            request_timeout: Duration::from_secs(10),
            max_poll_errors: 2,
            compress: true,
        })
}

#[tokio::test]
async fn the_client_executor_returns_verified_proofs_only() {
    let dir = tempfile::tempdir().unwrap();
    let secret = Secret::generate();
    let prover = fake_prover();
    let node = start(sqlite(&dir).await, prover.clone(), &secret, config("a")).await;
    let token = secret.token(Permission::Write, None);
    let verifier = Arc::new(FakeVerifier::default());
    let c2 = client(&node.url, &token, verifier.clone());
    let _dyn: venus_seal_core::DynExecutor<C2> = Arc::new(c2.clone());

    let proof = c2.execute(task(8)).await.unwrap();
    assert_eq!(proof.proof, digest_bytes(&task(8)));

    verifier.refuse.store(true, Ordering::SeqCst);
    let err = c2.execute(task(9)).await.unwrap_err();
    assert_eq!(err.level(), FailureLevel::Permanent, "{err}");
    assert!(err.to_string().contains("does not verify"), "{err}");
    verifier.refuse.store(false, Ordering::SeqCst);

    // A failure on the service comes back at its level.
    prover.fail_next(StageError::Computation("bad vanilla proofs".into()));
    let err = c2.execute(task(10)).await.unwrap_err();
    assert_eq!(err.level(), FailureLevel::Permanent);
    assert!(err.to_string().contains("bad vanilla proofs"), "{err}");
    prover.fail_next(StageError::Unavailable("GPU lost".into()));
    let err = c2.execute(task(11)).await.unwrap_err();
    assert_eq!(err.level(), FailureLevel::Temporary, "{err}");
    // ... and the engine's retry (a resubmission) proves it.
    c2.execute(task(11)).await.unwrap();

    // Refused tokens are Critical, refused tasks Permanent.
    let read = client(
        &node.url,
        &secret.token(Permission::Read, None),
        verifier.clone(),
    );
    assert_eq!(
        read.execute(task(12)).await.unwrap_err().level(),
        FailureLevel::Critical
    );
    let foreign = client(
        &node.url,
        &Secret::generate().token(Permission::Admin, None),
        verifier.clone(),
    );
    assert_eq!(
        foreign.execute(task(12)).await.unwrap_err().level(),
        FailureLevel::Critical
    );
    let mut corrupt = task(12);
    corrupt.c1_output = Opaque::from_json("[1, 2]".into()).unwrap();
    let err = c2.execute(corrupt).await.unwrap_err();
    assert_eq!(err.level(), FailureLevel::Permanent, "{err}");
    assert!(err.to_string().contains("400"), "{err}");
    node.kill().await;

    // The service gone: Temporary.
    let err = c2.execute(task(13)).await.unwrap_err();
    assert_eq!(err.level(), FailureLevel::Temporary, "{err}");
}

#[tokio::test]
async fn a_restarted_worker_finds_its_task_and_proof() {
    let dir = tempfile::tempdir().unwrap();
    let secret = Secret::generate();
    let prover = fake_prover();
    prover.set_latency(Duration::from_millis(500));
    let node = start(sqlite(&dir).await, prover.clone(), &secret, config("a")).await;
    let token = secret.token(Permission::Write, None);
    let verifier = Arc::new(FakeVerifier::default());

    // The first worker dies while polling.
    let first = client(&node.url, &token, verifier.clone());
    let cut = tokio::time::timeout(Duration::from_millis(200), first.execute(task(14))).await;
    assert!(cut.is_err());
    // The restarted worker runs the stage again: same task, one proof.
    let second = client(&node.url, &token, verifier);
    let proof = second.execute(task(14)).await.unwrap();
    assert_eq!(proof.proof, digest_bytes(&task(14)));
    assert_eq!(prover.calls(), 1);
    node.kill().await;
}

#[test]
fn filecoin_proofs_c1_outputs_are_read_without_their_vanilla_proofs() {
    let c1 = serde_json::json!({
        "registered_proof": "StackedDrg2KiBV1_1",
        "vanilla_proofs": {"StackedDrg2KiBV1": [[]]},
        "comm_r": vec![1u8; 32],
        "comm_d": vec![2u8; 32],
        "replica_id": vec![3u8; 32],
        "seed": vec![4u8; 32],
        "ticket": vec![5u8; 32],
    });
    let mut t = task(1);
    t.c1_output = Opaque::encode(&c1).unwrap();
    check_c1_output(&t).unwrap();
    let info = verify_info_from_c1_output(&t).unwrap();
    assert_eq!(
        (info.comm_r.0, info.comm_d.0, info.seed.0, info.ticket.0),
        ([1; 32], [2; 32], [4; 32], [5; 32])
    );
    t.proof = SealProof::StackedDrg8MiBV1_1;
    assert!(check_c1_output(&t).unwrap_err().contains("made for"));
    let mut no_comm = c1.clone();
    no_comm.as_object_mut().unwrap().remove("comm_d");
    t.c1_output = Opaque::encode(&no_comm).unwrap();
    assert!(check_c1_output(&t).unwrap_err().contains("comm_d"));
}

/// A fresh database on the server in `VENUS_SEAL_TEST_POSTGRES`.
pub(super) async fn postgres() -> Option<String> {
    let Ok(server) = std::env::var("VENUS_SEAL_TEST_POSTGRES") else {
        if std::env::var("VENUS_SEAL_REQUIRE_POSTGRES").as_deref() == Ok("1") {
            panic!("VENUS_SEAL_REQUIRE_POSTGRES=1 but VENUS_SEAL_TEST_POSTGRES is not set");
        }
        eprintln!("VENUS_SEAL_TEST_POSTGRES is not set: PostgreSQL tests skipped");
        return None;
    };
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let name = format!("vs_c2_{:x}{:x}", nanos, std::process::id());
    let mut conn = sqlx::AnyConnection::connect(&server)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at VENUS_SEAL_TEST_POSTGRES: {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let base = match server.rfind('/') {
        Some(i) if i > server.find("://").map_or(0, |s| s + 2) => &server[..i],
        _ => &server,
    };
    Some(format!("{base}/{name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_on_one_postgres_queue_prove_each_task_once() {
    let Some(url) = postgres().await else { return };
    let secret = Secret::generate();
    let token = secret.token(Permission::Write, None);
    let (pa, pb) = (fake_prover(), fake_prover());
    pa.set_latency(Duration::from_millis(30));
    pb.set_latency(Duration::from_millis(30));
    let mut ca = config("pg-a");
    let mut cb = config("pg-b");
    ca.provers = 3;
    cb.provers = 3;
    let a = start(
        C2TaskStore::connect(&url).await.unwrap(),
        pa.clone(),
        &secret,
        ca,
    )
    .await;
    let b = start(
        C2TaskStore::connect(&url).await.unwrap(),
        pb.clone(),
        &secret,
        cb,
    )
    .await;
    let n = 40;
    let mut ids = Vec::new();
    for i in 0..n {
        let url = if i % 2 == 0 { &a.url } else { &b.url };
        let (code, ok) = post(
            url,
            Some(&token),
            serde_json::to_vec(&task(100 + i)).unwrap(),
        )
        .await;
        assert_eq!(code, 200, "{ok}");
        ids.push(ok["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        let done = wait_state(&a.url, id, &token, TaskState::Done).await;
        assert_eq!(done.attempts, 1, "{done:?}");
    }
    assert_eq!(
        pa.calls() + pb.calls(),
        n as usize,
        "every task proven exactly once"
    );
    assert!(
        pa.calls() > 0 && pb.calls() > 0,
        "both nodes proved: {} / {}",
        pa.calls(),
        pb.calls()
    );
    a.kill().await;
    b.kill().await;
}
