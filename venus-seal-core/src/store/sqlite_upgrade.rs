//! A worker database written by an earlier release opens, is upgraded in
//! place and gives back every sector; `tests/fixtures/README.md` says how
//! the fixture was made.

use std::path::{Path, PathBuf};

use super::*;
use crate::error::{Failure, FailureLevel};
use crate::manager::{AllocatedSector, DealInfo};
use crate::schema::testing::{assert_names, COMPACT_SQLITE, RECORD_A_LATER_VERSION};
use crate::stage::{Opaque, Pc2Output, PersistOutput, Proof};
use crate::{
    ActorId, CommD, CommR, PaddedPieceSize, PieceInfo, Randomness, SealProof, SectorId,
    SectorNumber, Seed, Ticket,
};

/// The fixture written by the release before versioned migrations.
fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/worker-8e445b8.db")
}

fn allocated(number: u64) -> AllocatedSector {
    AllocatedSector {
        id: SectorId::new(ActorId(1000), SectorNumber(number)),
        proof_type: SealProof::StackedDrg2KiBV1_1,
    }
}

/// The records in the fixture: one per kind of state a worker leaves
/// behind (fresh, mid-sealing with a Temporary failure, waiting on chain,
/// finished, aborted and parked).
pub(super) fn fixture_records() -> Vec<SectorRecord> {
    let mut fresh = SectorRecord::new(1);
    fresh.updated_at = Some(1_700_000_001);

    let mut retrying = SectorRecord::new(2);
    retrying.state = SectorState::TicketAssigned;
    retrying.sector = Some(allocated(7));
    retrying.deals = vec![DealInfo {
        id: 42,
        piece: PieceInfo {
            size: PaddedPieceSize(1024),
            cid: CommD([4; 32]),
        },
        allocation: None,
    }];
    retrying.pieces = vec![PieceInfo {
        size: PaddedPieceSize(2048),
        cid: CommD([5; 32]),
    }];
    retrying.comm_d = Some(CommD([1; 32]));
    retrying.ticket = Some(Ticket {
        ticket: Randomness([7; 32]),
        epoch: 99,
    });
    retrying.failure = Some(Failure::new(FailureLevel::Temporary, "pc1: flaky"));
    retrying.retry.retries = 3;
    retrying.location = Some("/var/sealing/job-2".into());

    let mut on_chain = retrying.clone();
    on_chain.job = 3;
    on_chain.state = SectorState::PreCommitSubmitted;
    on_chain.sector = Some(allocated(8));
    on_chain.failure = None;
    on_chain.retry.retries = 0;
    on_chain.pc1_output = Some(Opaque::encode(&serde_json::json!({"labels": [1, 2]})).unwrap());
    on_chain.pc2_output = Some(Pc2Output {
        comm_r: CommR([2; 32]),
        comm_d: CommD([1; 32]),
    });
    on_chain.location = Some("/var/sealing/job-3".into());

    let mut finished = on_chain.clone();
    finished.job = 4;
    finished.state = SectorState::Finished;
    finished.sector = Some(allocated(9));
    finished.persisted = Some(PersistOutput {
        instance: "store-a".into(),
        clean_sealing_location: true,
    });
    finished.seed = Some(Seed {
        seed: Randomness([9; 32]),
        epoch: 250,
    });
    finished.c1_output = Some(Opaque::encode(&serde_json::json!({"c1": "out"})).unwrap());
    finished.proof = Some(Proof {
        proof: vec![0xab; 192],
    });
    finished.updated_at = Some(1_700_000_004);

    let mut aborted = SectorRecord::new(5);
    aborted.state = SectorState::Aborted;
    aborted.sector = Some(allocated(10));
    aborted.abort_reason = Some("operator: bad disk".into());
    aborted.failure = Some(Failure::new(FailureLevel::Critical, "pc2: disk full"));
    aborted.paused = true;

    vec![fresh, retrying, on_chain, finished, aborted]
}

/// Writes the fixture. It was run once, at commit 8e445b8 (the last
/// release without versioned migrations): running it today would write a
/// database of today's schema, which is not what the fixture is for.
#[tokio::test]
#[ignore = "writes tests/fixtures/worker-8e445b8.db; run once with the old release"]
async fn write_the_fixture() {
    let path = fixture();
    let _ = std::fs::remove_file(&path);
    let store = SqliteSectorStore::open(&path).await.unwrap();
    for record in fixture_records() {
        store.save(&record).await.unwrap();
    }
    sqlx::raw_sql(COMPACT_SQLITE)
        .execute(&store.pool)
        .await
        .unwrap();
    store.pool.close().await;
    let store = SqliteSectorStore::open(&path).await.unwrap();
    assert_eq!(store.load_all().await.unwrap(), fixture_records());
    store.pool.close().await;
}

/// A copy of the fixture in `dir`: the committed file stays as it is.
fn copy_of_the_fixture(dir: &Path) -> PathBuf {
    let path = dir.join("worker.db");
    std::fs::copy(fixture(), &path).unwrap();
    path
}

async fn applied_versions(store: &SqliteSectorStore) -> Vec<i64> {
    sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&store.pool)
        .await
        .unwrap()
}

/// The fixture's records as an upgraded store gives them back: finished
/// and aborted ones archived without their large outputs (1002).
fn upgraded_records() -> Vec<SectorRecord> {
    fixture_records().iter().map(LargeOutputs::kept).collect()
}

#[tokio::test]
async fn a_database_of_the_release_before_migrations_keeps_every_sector() {
    let dir = tempfile::tempdir().unwrap();
    let path = copy_of_the_fixture(dir.path());
    for _ in 0..2 {
        // The second opening finds it up to date and changes nothing.
        let store = SqliteSectorStore::open(&path).await.unwrap();
        assert_eq!(store.load_all().await.unwrap(), upgraded_records());
        assert_eq!(applied_versions(&store).await, [1001, 1002]);
        store.pool.close().await;
    }
    let store = SqliteSectorStore::open(&path).await.unwrap();
    let mut next = SectorRecord::new(6);
    next.state = SectorState::Allocated;
    store.save(&next).await.unwrap();
    let mut want = upgraded_records();
    want.push(next);
    assert_eq!(store.load_all().await.unwrap(), want);
    // The finished sector of the old release lost its C1 output; the one
    // waiting on chain kept its PC1 output, inline in its old row.
    assert!(want[3].c1_output.is_none() && want[3].proof.is_some());
    assert!(want[2].pc1_output.is_some());
    let unfinished = crate::testing::conformance::sector_store::unfinished_jobs(&store).await;
    assert_eq!(unfinished, [1, 2, 3, 6]);
    let archived: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sectors_archive")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(
        archived, 2,
        "the finished and the aborted sector are archived"
    );
}

#[tokio::test]
async fn a_database_of_a_newer_release_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = copy_of_the_fixture(dir.path());
    let store = SqliteSectorStore::open(&path).await.unwrap();
    sqlx::query(RECORD_A_LATER_VERSION)
        .bind(1003_i64)
        .bind(vec![0_u8])
        .execute(&store.pool)
        .await
        .unwrap();
    store.pool.close().await;
    let err = SqliteSectorStore::open(&path)
        .await
        .unwrap_err()
        .to_string();
    let parts = [
        "the worker's sector store",
        "worker.db",
        "newer release",
        "1003",
        "1002",
    ];
    assert_names(&err, &parts);
}
