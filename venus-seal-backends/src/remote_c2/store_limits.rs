//! Bounded growth of the queue: finished tasks pruned after the retention
//! period, attempts capped (a task that crashes every prover ends
//! Permanent), a done task's C1 output dropped. On SQLite, and on
//! PostgreSQL with `VENUS_SEAL_TEST_POSTGRES`; the clock is the test's.

use std::sync::atomic::{AtomicI64, Ordering};

use venus_seal_core::stage::Proof;
use venus_seal_core::testing::FakeExecutor;
use venus_seal_rpc::auth::Secret;

use super::*;
use crate::remote_c2::api::{c1_digest, id_of};
use crate::remote_c2::service::{C2Service, C2ServiceConfig};
use crate::remote_c2::tests::postgres;
use venus_seal_core::stage::{Opaque, C2};
use venus_seal_core::SealProof;

const HOUR: i64 = 3600 * 1000;

fn task(number: u64) -> C2 {
    let c1 = serde_json::json!({"sector": number, "vanilla_proofs": "v".repeat(1024)});
    C2 {
        proof: SealProof::StackedDrg2KiBV1_1,
        sector: SectorId::new(ActorId(1000), SectorNumber(number)),
        c1_output: Opaque::encode(&c1).unwrap(),
    }
}

/// A clock the test moves.
#[derive(Clone, Default)]
struct TestClock(Arc<AtomicI64>);

impl TestClock {
    fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
    fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

/// The SQLite store, and the PostgreSQL one when a server is configured.
async fn stores(dir: &Path) -> Vec<C2TaskStore> {
    let mut out = vec![C2TaskStore::open_sqlite(dir.join("c2.db")).await.unwrap()];
    if let Some(url) = postgres().await {
        out.push(C2TaskStore::connect(&url).await.unwrap());
    }
    out
}

fn on_clock(store: C2TaskStore, clock: &TestClock, limits: QueueLimits) -> C2TaskStore {
    let c = clock.clone();
    store
        .with_limits(limits)
        .with_clock(move || c.0.load(Ordering::SeqCst))
}

async fn state_of(store: &C2TaskStore, t: &C2) -> Option<TaskStatus> {
    let id = id_of(t.sector, &c1_digest(t.c1_output.as_json()));
    store.status(&id).await.unwrap()
}

#[tokio::test]
async fn finished_tasks_are_pruned_after_the_retention_period_and_no_others() {
    let dir = tempfile::tempdir().unwrap();
    for store in stores(dir.path()).await {
        let clock = TestClock::default();
        clock.set(1_000 * HOUR);
        let limits = QueueLimits {
            retention: Duration::from_secs(24 * 3600),
            ..QueueLimits::default()
        };
        let store = on_clock(store, &clock, limits);
        let (done, failed, running, queued) = (task(1), task(2), task(3), task(4));
        for t in [&done, &failed, &running, &queued] {
            store.submit(t).await.unwrap();
            clock.advance(1);
        }
        let stale = Duration::from_secs(3600);
        let c = store.claim_c2("n", stale).await;
        assert!(store.finish(&c.row.id, "n", Ok(&[1; 192])).await.unwrap());
        clock.advance(HOUR);
        let c = store.claim_c2("n", stale).await;
        let error = TaskError {
            level: FailureLevel::Permanent,
            message: "bad".into(),
        };
        assert!(store.finish(&c.row.id, "n", Err(&error)).await.unwrap());
        store.claim_c2("n", stale).await;

        // Within the retention period nothing goes.
        clock.advance(23 * HOUR - 1);
        assert_eq!(store.prune().await.unwrap(), 0);
        assert!(state_of(&store, &done).await.is_some());
        // The done task finished 24 h ago, the failed one 23 h ago.
        clock.advance(2);
        assert_eq!(store.prune().await.unwrap(), 1);
        assert_eq!(state_of(&store, &done).await, None, "done task pruned");
        assert!(state_of(&store, &failed).await.is_some());
        clock.advance(HOUR);
        assert_eq!(store.prune().await.unwrap(), 1);
        assert_eq!(state_of(&store, &failed).await, None, "failed task pruned");
        // Queued and running tasks are never pruned, however old.
        clock.advance(1_000 * HOUR);
        assert_eq!(store.prune().await.unwrap(), 0);
        let running = state_of(&store, &running).await.unwrap();
        assert_eq!(running.state, TaskState::Running);
        let queued = state_of(&store, &queued).await.unwrap();
        assert_eq!(queued.state, TaskState::Queued);
    }
}

#[tokio::test]
async fn a_task_that_crashes_every_prover_ends_permanent() {
    let dir = tempfile::tempdir().unwrap();
    for store in stores(dir.path()).await {
        let clock = TestClock::default();
        clock.set(1_000 * HOUR);
        let limits = QueueLimits {
            max_attempts: 3,
            ..QueueLimits::default()
        };
        let store = on_clock(store, &clock, limits);
        let poison = task(7);
        store.submit(&poison).await.unwrap();
        let stale_after = Duration::from_secs(60);
        for attempt in 1..=3 {
            // Each prover claims it and dies without an outcome; another
            // node takes it over once the heartbeat is stale.
            let node = format!("node-{attempt}");
            let claimed = store.claim(&node, stale_after, &[], &["c2"]).await.unwrap();
            let claimed = claimed.unwrap_or_else(|| panic!("attempt {attempt} not claimed"));
            assert_eq!(claimed.attempts, attempt);
            clock.advance(61_000);
        }
        assert!(
            store
                .claim("node-4", stale_after, &[], &["c2"])
                .await
                .unwrap()
                .is_none(),
            "a task claimed max_attempts times is not claimed again"
        );
        let status = state_of(&store, &poison).await.unwrap();
        assert_eq!(status.state, TaskState::Failed);
        let error = status.error.unwrap();
        assert_eq!(error.level, FailureLevel::Permanent);
        assert!(
            error.message.contains("max_attempts = 3"),
            "{}",
            error.message
        );
        // The worker's resubmission gets a fresh budget.
        let again = store.submit(&poison).await.unwrap();
        assert_eq!((again.state, again.attempts), (TaskState::Queued, 0));
        let claimed = store.claim_c2("node-5", stale_after).await;
        assert_eq!(claimed.attempts, 1);
    }
}

#[tokio::test]
async fn a_done_task_drops_its_c1_output_and_a_failed_one_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    for store in stores(dir.path()).await {
        let (done, failed) = (task(1), task(2));
        store.submit(&done).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
        store.submit(&failed).await.unwrap();
        let stale = Duration::from_secs(3600);
        let c = store.claim_c2("n", stale).await;
        assert!(store.finish(&c.row.id, "n", Ok(&[1; 192])).await.unwrap());
        let c = store.claim_c2("n", stale).await;
        let error = TaskError {
            level: FailureLevel::Temporary,
            message: "gpu busy".into(),
        };
        assert!(store.finish(&c.row.id, "n", Err(&error)).await.unwrap());
        let c1_len = |t: &C2| {
            let id = id_of(t.sector, &c1_digest(t.c1_output.as_json()));
            let pool = store.pool.clone();
            async move {
                sqlx::query("SELECT c1_output FROM c2_tasks WHERE id = $1")
                    .bind(id)
                    .fetch_one(&pool)
                    .await
                    .unwrap()
                    .try_get::<String, _>("c1_output")
                    .unwrap()
                    .len()
            }
        };
        assert_eq!(
            c1_len(&done).await,
            0,
            "the done task's C1 output is dropped"
        );
        assert_eq!(c1_len(&failed).await, failed.c1_output.as_json().len());
        let id = id_of(done.sector, &c1_digest(done.c1_output.as_json()));
        assert_eq!(store.output(&id).await.unwrap(), Some(Ok(vec![1; 192])));
        // The failed task, resubmitted, is proven from its kept C1 output.
        store.submit(&failed).await.unwrap();
        let c = store.claim_c2("n", stale).await;
        assert_eq!(c.row.payload, failed.c1_output.as_json());
    }
}

/// The service prunes on its own: a done task is gone once the retention
/// period has passed.
#[tokio::test]
async fn a_running_service_prunes_finished_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::default();
    clock.set(super::now_ms());
    let store = C2TaskStore::open_sqlite(dir.path().join("c2.db"))
        .await
        .unwrap();
    let store = on_clock(store, &clock, QueueLimits::default());
    let prover = FakeExecutor::new(|_: &C2| Proof {
        proof: vec![2; 192],
    });
    let config = C2ServiceConfig {
        node_id: "n".into(),
        poll_interval: Duration::from_millis(10),
        limits: QueueLimits {
            max_attempts: 2,
            retention: Duration::from_secs(1),
        },
        ..C2ServiceConfig::default()
    };
    let service = C2Service::new(store, prover, Secret::generate(), config);
    assert_eq!(
        service.store().limits().max_attempts,
        2,
        "the config's limits apply"
    );
    let t = task(9);
    service.store().submit(&t).await.unwrap();
    let provers = service.start_provers().await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status = state_of(service.store(), &t).await;
        match &status {
            Some(s) if s.state == TaskState::Done => clock.advance(2_000),
            None => break,
            _ => {}
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not pruned: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    provers.stop().await.unwrap();
}
