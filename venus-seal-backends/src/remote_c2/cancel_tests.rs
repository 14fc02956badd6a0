//! A C2 run that is given up (lost heartbeat, takeover, cancellation)
//! goes on until its blocking proof ends: the node never starts another
//! run beside it on the slot it holds, nor the same task twice; a worker
//! that gives the stage up cancels the task on the service and lets go of
//! its `c2` permit at once. The prover is a blocking fake whose runs are
//! counted per node and per task.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use venus_seal_core::engine::limits::{Limits, StageLimit};
use venus_seal_core::stage::{Stage, C2};
use venus_seal_core::testing::{BlockingFake, Census};
use venus_seal_core::Executor;
use venus_seal_rpc::auth::{Permission, Secret};

use super::store::CANCELLED;
use super::tests::{client, config, fake_prover, sqlite, task, wait_state, FakeVerifier};
use super::*;

/// A blocking prover: `work` of real time per task on a blocking thread,
/// counted under `node` and `task:N`.
fn blocking(census: &Arc<Census>, work: Duration) -> Arc<BlockingFake<C2>> {
    BlockingFake::new(
        fake_prover(),
        census.clone(),
        |t: &C2| vec!["node".into(), format!("task:{}", t.sector.number.0)],
        move |_| work,
    )
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn state(store: &C2TaskStore, t: &C2) -> Option<TaskState> {
    store
        .status(&task_id(t).unwrap())
        .await
        .unwrap()
        .map(|s| s.state)
}

/// Injects: the heartbeat of a running task is lost (never refreshed; it
/// goes stale after 300 ms) while its first run goes on for 1.5 s, on a
/// node with two provers. The idle prover must not claim the stale task
/// and run it beside the first run; the first run finishes it. Before the
/// fix the second prover proved it again at once (two runs of task 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_heartbeat_never_starts_the_task_again_beside_its_run_on_this_node() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let census = Arc::new(Census::default());
    let mut cfg = config("a");
    cfg.provers = 2;
    cfg.heartbeat_interval = Duration::from_secs(3600);
    cfg.stale_after = Duration::from_millis(300);
    let service = C2Service::new(
        store.clone(),
        blocking(&census, Duration::from_millis(1500)),
        Secret::generate(),
        cfg,
    );
    let provers = service.start_provers().await.unwrap();
    let t = task(1);
    store.submit(&t).await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(20);
    while state(&store, &t).await != Some(TaskState::Done) {
        assert!(Instant::now() < deadline, "task 1 never finished");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let maxima = census.maxima();
    assert_eq!(
        maxima.get("task:1"),
        Some(&1),
        "task 1 ran twice at once on the node: {maxima:?}"
    );
    assert_eq!(
        store
            .status(&task_id(&t).unwrap())
            .await
            .unwrap()
            .unwrap()
            .attempts,
        1
    );
    provers.stop().await.unwrap();
}

/// Injects: another node takes over a task (its heartbeat was stale there)
/// while this node's one prover still runs it on a blocking thread (1 s),
/// with a second task queued. The prover gives the run up but its slot
/// stays taken until the thread ends: the second task starts only then.
/// Before the fix the prover dropped the run and started task 2 beside
/// the still-running task 1 (two C2s at once on a one-prover node).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_given_up_after_a_takeover_keeps_its_prover_slot_until_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let census = Arc::new(Census::default());
    let mut cfg = config("a");
    cfg.provers = 1;
    cfg.heartbeat_interval = Duration::from_millis(50);
    let service = C2Service::new(
        store.clone(),
        blocking(&census, Duration::from_millis(1000)),
        Secret::generate(),
        cfg,
    );
    let (t1, t2) = (task(1), task(2));
    store.submit(&t1).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    store.submit(&t2).await.unwrap();
    let provers = service.start_provers().await.unwrap();
    wait_until("task 1 runs", || census.now("task:1") == 1).await;

    // Node b takes task 1 over (as after a stale heartbeat).
    tokio::time::sleep(Duration::from_millis(5)).await;
    let taken = store
        .claim("b", Duration::ZERO, &[], &["c2"])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.row.id, task_id(&t1).unwrap());

    let deadline = Instant::now() + Duration::from_secs(20);
    while state(&store, &t2).await != Some(TaskState::Done) {
        assert!(Instant::now() < deadline, "task 2 never finished");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let maxima = census.maxima();
    assert_eq!(
        maxima.get("node"),
        Some(&1),
        "two C2s ran at once on a one-prover node: {maxima:?}"
    );
    let t1_status = store.status(&task_id(&t1).unwrap()).await.unwrap().unwrap();
    assert_eq!(t1_status.claimed_by.as_deref(), Some("b"));
    assert_eq!(
        t1_status.state,
        TaskState::Running,
        "node a's result of task 1 is dropped"
    );
    provers.stop().await.unwrap();
}

/// Injects: the worker gives a remote C2 up (its caller goes away, as on a
/// pause) while the service proves it (a 4 s blocking run). The task is
/// cancelled on the service (failed, Temporary, saying so) and the
/// worker's `c2` permit is free at once: its next C2 reaches the service
/// while the abandoned proof still runs there. Before the fix the worker
/// kept polling, and holding the permit, until the proof was done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_giving_a_c2_up_cancels_it_on_the_service_and_frees_its_permit() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let census = Arc::new(Census::default());
    let secret = Secret::generate();
    let mut cfg = config("a");
    cfg.provers = 1;
    let service = C2Service::new(
        store.clone(),
        blocking(&census, Duration::from_secs(4)),
        secret.clone(),
        cfg,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let router = service.router();
    let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let provers = service.start_provers().await.unwrap();
    let url = format!("http://{addr}");
    let token = secret.token(Permission::Write, Some("worker"));

    let mut stages = BTreeMap::new();
    stages.insert(
        C2::NAME.to_string(),
        StageLimit {
            concurrent: Some(1),
            ..StageLimit::default()
        },
    );
    let worker = Arc::new(Limits::new(stages, BTreeMap::new()).wrap(client(
        &url,
        &token,
        Arc::new(FakeVerifier::default()),
    )));
    let (t1, t2) = (task(1), task(2));
    let first = tokio::spawn({
        let worker = worker.clone();
        let t1 = t1.clone();
        async move { worker.execute(t1).await }
    });
    wait_until("task 1 runs on the service", || census.now("task:1") == 1).await;
    first.abort();

    let failed = wait_state(&url, &task_id(&t1).unwrap(), &token, TaskState::Failed).await;
    let error = failed.error.unwrap();
    assert_eq!(error.level, venus_seal_core::FailureLevel::Temporary);
    assert_eq!(error.message, CANCELLED);

    // The permit is free: the worker's next C2 is submitted while task 1's
    // proof still runs on the service.
    let second = tokio::spawn({
        let worker = worker.clone();
        let t2 = t2.clone();
        async move { worker.execute(t2).await }
    });
    let deadline = Instant::now() + Duration::from_secs(2);
    while state(&store, &t2).await.is_none() {
        assert!(
            Instant::now() < deadline,
            "the worker held its c2 permit for the abandoned task 1"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(census.now("task:1"), 1, "task 1's proof still runs");
    // Task 2 waits for the prover slot the abandoned run holds, then is
    // proven.
    assert_eq!(second.await.unwrap().unwrap().proof.len(), 32);
    assert_eq!(census.maxima().get("node"), Some(&1));
    provers.stop().await.unwrap();
    server.abort();
}
