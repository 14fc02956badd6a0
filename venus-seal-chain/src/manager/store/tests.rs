//! SQL-store tests the shared suite cannot make (reopening a file,
//! corrupting a row). The suite itself
//! (`venus_seal_core::testing::conformance::manager_store`) runs on every
//! backend from `tests/conformance.rs`.

use venus_seal_core::testing::conformance::manager_store::deal;
use venus_seal_core::{ActorId, SealProof, SectorId, SectorNumber};

use super::{ManagerStore, NumberRange, SqlManagerStore};
use crate::manager::SectorStatus;

const M1: ActorId = ActorId(1000);

fn status() -> SectorStatus {
    SectorStatus::new(SealProof::StackedDrg2KiBV1_1)
}

#[tokio::test]
async fn sqlite_store_continues_numbers_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manager.db");
    let store = SqlManagerStore::open_sqlite(&path).await.unwrap();
    for _ in 0..3 {
        store
            .allocate(M1, NumberRange::ALL, &status(), None)
            .await
            .unwrap();
    }
    store.queue_deal(None, &deal(7, 1024), None).await.unwrap();
    drop(store);
    let store = SqlManagerStore::open_sqlite(&path).await.unwrap();
    assert_eq!(
        store
            .allocate(M1, NumberRange::ALL, &status(), None)
            .await
            .unwrap(),
        Some(SectorNumber(4))
    );
    assert_eq!(store.queued_deals().await.unwrap(), 1);
}

#[tokio::test]
async fn a_corrupt_record_is_an_error_naming_the_sector() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manager.db");
    let store = SqlManagerStore::open_sqlite(&path).await.unwrap();
    store
        .allocate(M1, NumberRange::ALL, &status(), None)
        .await
        .unwrap();
    sqlx::query("UPDATE manager_sectors SET record = '{\"proof_type\": ' WHERE number = 1")
        .execute(&store.pool_for_tests())
        .await
        .unwrap();
    let err = store
        .load(SectorId::new(M1, SectorNumber(1)))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("corrupt record for sector"),
        "{err}"
    );
    assert!(err.to_string().contains("s-t01000-1"), "{err}");
}

#[tokio::test]
async fn a_bad_store_url_is_refused_clearly() {
    let err = SqlManagerStore::connect("mysql://x/y").await.unwrap_err();
    assert!(
        err.to_string().contains("unsupported URL") && err.to_string().contains("manager store"),
        "{err}"
    );
    let err = SqlManagerStore::connect("postgres://nobody:pw@127.0.0.1:1/none")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("nobody:***@"), "{err}");
    assert!(!err.to_string().contains("pw@"), "{err}");
}
