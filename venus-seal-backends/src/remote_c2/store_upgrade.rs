//! A C2 queue written by an earlier release opens, is upgraded in place
//! and gives back every task in its state; `tests/fixtures/README.md` says
//! how the fixtures were made.

use std::path::{Path, PathBuf};

use venus_seal_core::schema::testing::{
    assert_up_to_date_and_later_refused, load_dump, migration_versions, record_a_later_version,
    write_fixture, Fixture,
};

use super::*;
use crate::remote_c2::api::{c1_digest, id_of};
use crate::remote_c2::tests::postgres;
use venus_seal_core::stage::{Opaque, C2};
use venus_seal_core::SealProof;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

const PROOF: [u8; 192] = [0xcd; 192];

fn task(miner: u64, number: u64) -> C2 {
    let c1 = serde_json::json!({"sector": number, "vanilla_proofs": [[number]]});
    C2 {
        proof: SealProof::StackedDrg2KiBV1_1,
        sector: SectorId::new(ActorId(miner), SectorNumber(number)),
        c1_output: Opaque::encode(&c1).unwrap(),
    }
}

/// The fixture's tasks in submission order, and the status each is left
/// in: done, failed, running on a node, queued.
fn fixture_tasks() -> Vec<(C2, TaskStatus)> {
    let status = |t: &C2, state, claimed_by: Option<&str>, error| TaskStatus {
        stage: "c2".into(),
        id: id_of(t.sector, &c1_digest(t.c1_output.as_json())),
        sector: t.sector,
        state,
        attempts: u32::from(claimed_by.is_some()),
        claimed_by: claimed_by.map(String::from),
        error,
    };
    let failure = TaskError {
        level: FailureLevel::Permanent,
        message: "c2: bad C1 output".into(),
    };
    let tasks = [task(1000, 1), task(1000, 2), task(1001, 3), task(1001, 4)];
    let statuses = [
        status(&tasks[0], TaskState::Done, Some("node-a"), None),
        status(&tasks[1], TaskState::Failed, Some("node-a"), Some(failure)),
        status(&tasks[2], TaskState::Running, Some("node-b"), None),
        status(&tasks[3], TaskState::Queued, None, None),
    ];
    tasks.into_iter().zip(statuses).collect()
}

/// `store` filled by [`fill`], given back.
async fn filled(store: C2TaskStore) -> C2TaskStore {
    fill(&store).await;
    store
}

/// Fills `store` (fresh) with the fixture's tasks.
async fn fill(store: &C2TaskStore) {
    let tasks = fixture_tasks();
    for (task, _) in &tasks {
        store.submit(task).await.unwrap();
        // Distinct creation times: claims take the oldest first.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stale = Duration::from_secs(3600);
    let done = store.claim_c2("node-a", stale).await;
    assert!(store
        .finish(&done.row.id, "node-a", Ok(&PROOF))
        .await
        .unwrap());
    let failed = store.claim_c2("node-a", stale).await;
    let error = tasks[1].1.error.clone().unwrap();
    assert!(store
        .finish(&failed.row.id, "node-a", Err(&error))
        .await
        .unwrap());
    store.claim_c2("node-b", stale).await;
}

/// Asserts that `store` holds the fixture's tasks, whole.
pub(super) async fn assert_holds_the_fixture(store: &C2TaskStore) {
    let tasks = fixture_tasks();
    for (_, want) in &tasks {
        assert_eq!(store.status(&want.id).await.unwrap().as_ref(), Some(want));
    }
    let done = &tasks[0].1.id;
    assert_eq!(store.output(done).await.unwrap(), Some(Ok(PROOF.to_vec())));
    let queued = &tasks[3];
    assert_eq!(
        store.output(&queued.1.id).await.unwrap(),
        Some(Err(TaskState::Queued))
    );
    let mut counts = store.counts().await.unwrap();
    counts.sort_by_key(|(state, _)| state.as_db());
    assert_eq!(
        counts,
        vec![
            (TaskState::Done, 1),
            (TaskState::Failed, 1),
            (TaskState::Queued, 1),
            (TaskState::Running, 1)
        ]
    );
    // The queue goes on: the queued task is claimed, as it was submitted.
    // (The fixture's running task has an old heartbeat: a stale_after
    // shorter than the fixture's age would hand that one out instead.)
    let claimed = store
        .claim(
            "node-c",
            Duration::from_secs(100 * 365 * 24 * 3600),
            &[],
            &["c2"],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.row.id, queued.1.id);
    assert_eq!(claimed.row.sector, queued.0.sector);
    assert_eq!(claimed.row.payload.as_str(), queued.0.c1_output.as_json());
}

/// The writers of the fixtures: run once, on release 8e445b8's store
/// code (tests/fixtures/README.md); today's code would write today's
/// schema.
#[tokio::test]
#[ignore = "writes tests/fixtures/c2-queue-8e445b8.db; run once with the old release"]
async fn write_the_sqlite_fixture() {
    let path = fixtures().join("c2-queue-8e445b8.db");
    let open = || C2TaskStore::open_sqlite(&path);
    write_fixture(Fixture::Sqlite(&path), open, filled, |s: &C2TaskStore| {
        &s.pool
    })
    .await;
}

#[tokio::test]
#[ignore = "fills a PostgreSQL database to dump as a fixture"]
async fn write_the_postgres_fixture() {
    let url = postgres().await.expect("VENUS_SEAL_TEST_POSTGRES");
    let open = || C2TaskStore::connect(&url);
    write_fixture(Fixture::Postgres(&url), open, filled, |s: &C2TaskStore| {
        &s.pool
    })
    .await;
}

#[tokio::test]
async fn a_sqlite_queue_of_the_release_before_migrations_keeps_every_task() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c2.db");
    std::fs::copy(fixtures().join("c2-queue-8e445b8.db"), &path).unwrap();
    let names = ["the C2 queue", "c2.db", "newer release", "3004", "3003"];
    assert_upgraded(|| C2TaskStore::open_sqlite(&path), &names).await;
}

#[tokio::test]
async fn a_postgres_queue_of_the_release_before_migrations_keeps_every_task() {
    let Some(url) = postgres().await else { return };
    load_dump(&url, &fixtures().join("c2-queue-8e445b8.postgres.sql")).await;
    let names = ["the C2 queue", "newer release", "3004", "3003"];
    assert_upgraded(|| C2TaskStore::connect(&url), &names).await;
}

/// The fixture `open` opens (and upgrades) holds every task; opened again
/// it is up to date; a later release's version is refused naming `names`.
async fn assert_upgraded<O, F>(open: O, names: &[&str])
where
    O: Fn() -> F,
    F: std::future::Future<Output = Result<C2TaskStore, QueueError>>,
{
    let store = open().await.unwrap();
    assert_eq!(store.counts().await.unwrap().len(), 4);
    assert_holds_the_fixture(&store).await;
    store.pool.close().await;
    assert_up_to_date_and_later_refused(
        open,
        |s: &C2TaskStore| &s.pool,
        &[3001, 3002, 3003],
        names,
    )
    .await;
}

/// The C2 queue and another store (here a stand-in with the manager
/// store's first version) share one database, each with its own versions.
#[tokio::test]
async fn the_queue_shares_a_database_with_another_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let store = C2TaskStore::open_sqlite(&path).await.unwrap();
    record_a_later_version(&store.pool, 2001).await;
    store.pool.close().await;
    let store = C2TaskStore::open_sqlite(&path).await.unwrap();
    assert_eq!(
        migration_versions(&store.pool).await,
        [2001, 3001, 3002, 3003]
    );
}
