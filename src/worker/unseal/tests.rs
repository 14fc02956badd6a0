//! The unseal runner, fast: the core's pattern unsealer stands in for
//! filecoin-proofs (the real unseal is `tests/proving_e2e.rs`). Jobs come
//! from a real `LocalSectorManager` on the devnet, so the manager's side
//! (request, hand-out, destinations, result) is the one a deployment runs.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::put;
use venus_seal_chain::LocalSectorManager;
use venus_seal_core::manager::{AllocateSpec, AllocatedSector};
use venus_seal_core::proving::fake::{pattern, PatternUnsealer};
use venus_seal_core::unseal::UnsealState;
use venus_seal_core::{ActorId, SealProof};

use super::UnsealRunner;
use crate::backends::persist::PersistedSectors;

use venus_seal_chain::testing::stand_in_piece as piece;

const M1: ActorId = ActorId(1000);
const P2K: SealProof = SealProof::StackedDrg2KiBV1_1;

/// A manager whose sector 1 holds a 256- and a 512-byte deal piece,
/// pre-committed and persisted, and a store directory holding its sealed
/// file (the pattern unsealer does not read it; the runner checks it is
/// there).
async fn setup() -> (Arc<LocalSectorManager>, AllocatedSector, tempfile::TempDir) {
    let (chain, m) = venus_seal_chain::testing::manual_single_miner_devnet(M1, P2K);
    let (s, _) = venus_seal_chain::testing::persisted_deal_sector(
        &chain,
        &m,
        M1,
        &[piece(1, 256), piece(2, 512)],
        "store-1",
    )
    .await;
    let store = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(store.path().join("sealed")).unwrap();
    std::fs::write(store.path().join(format!("sealed/{}", s.id)), b"replica").unwrap();
    (m, s, store)
}

fn runner(
    m: &Arc<LocalSectorManager>,
    store: &std::path::Path,
    unsealer: PatternUnsealer,
    spool: &std::path::Path,
) -> UnsealRunner {
    UnsealRunner::new(
        m.clone(),
        Arc::new(unsealer),
        Arc::new(PersistedSectors::new(vec![store.to_path_buf()])),
        AllocateSpec::default(),
        spool.to_path_buf(),
    )
}

/// An HTTP server taking PUTs, keeping each body; `fail` answers 500.
async fn upload_server(fail: bool) -> (String, Arc<Mutex<Vec<Vec<u8>>>>) {
    let got: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let app = axum::Router::new()
        .route(
            "/upload/{name}",
            put(
                move |State(got): State<Arc<Mutex<Vec<Vec<u8>>>>>, body: axum::body::Bytes| async move {
                    if fail {
                        return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    got.lock().unwrap().push(body.to_vec());
                    axum::http::StatusCode::OK
                },
            ),
        )
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/upload/piece"), got)
}

#[tokio::test]
async fn a_job_is_unsealed_once_and_written_to_every_destination() {
    let (m, s, store) = setup().await;
    let out = tempfile::tempdir().unwrap();
    let (url, uploaded) = upload_server(false).await;
    let big = piece(2, 512).cid;
    let file = out.path().join("retrieved/big.piece");
    m.request_unseal(s.id, big, format!("file://{}", file.display()))
        .await
        .unwrap();
    m.request_unseal(s.id, big, url).await.unwrap();

    // An object store (S3 in a deployment; an in-memory one here).
    m.request_unseal(s.id, big, "s3://retrievals/pieces/big".into())
        .await
        .unwrap();
    let bucket = Arc::new(object_store::memory::InMemory::new());

    let spool = out.path().join("spool");
    let r = runner(&m, store.path(), PatternUnsealer::default(), &spool)
        .with_object_store("s3://retrievals/", bucket.clone());
    assert!(r.run_once().await.unwrap(), "a job was taken");
    // The 512-byte piece starts at unpadded byte 508 (after the 256-byte
    // piece and its alignment gap) and is 508 bytes long.
    let want = pattern(508, 508);
    assert_eq!(std::fs::read(&file).unwrap(), want);
    assert_eq!(*uploaded.lock().unwrap(), vec![want.clone()]);
    use object_store::ObjectStoreExt;
    let object = bucket
        .get(&object_store::path::Path::from("pieces/big"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(object.to_vec(), want);
    let (_, job) = m.unseal_jobs().await.unwrap().remove(0);
    assert!(matches!(job.state, UnsealState::Done { .. }), "{job:?}");
    assert_eq!(
        std::fs::read_dir(&spool).unwrap().count(),
        0,
        "the spool is emptied"
    );
    assert!(!r.run_once().await.unwrap(), "no job left");
}

/// An unseal that fails writes nothing anywhere and is reported with its
/// reason (the job waits for another try); so is a sector whose files are
/// in none of the worker's stores, and a destination that refuses the
/// upload while another took it.
#[tokio::test]
async fn failures_are_reported_with_their_reason_and_write_no_partial_piece() {
    let (m, s, store) = setup().await;
    let out = tempfile::tempdir().unwrap();
    let small = piece(1, 256).cid;
    let file = out.path().join("small.piece");
    m.request_unseal(s.id, small, file.display().to_string())
        .await
        .unwrap();
    let failing = PatternUnsealer {
        fail: Some("the replica is unreadable"),
    };
    let r = runner(&m, store.path(), failing, &out.path().join("spool"));
    assert!(r.run_once().await.unwrap());
    assert!(!file.exists(), "no partial piece");
    let (_, job) = m.unseal_jobs().await.unwrap().remove(0);
    assert_eq!(job.state, UnsealState::Pending, "another try waits");
    assert!(
        job.last_error
            .as_deref()
            .is_some_and(|e| e.contains("the replica is unreadable")),
        "{job:?}"
    );

    let empty = tempfile::tempdir().unwrap();
    let r = runner(
        &m,
        empty.path(),
        PatternUnsealer::default(),
        &out.path().join("spool"),
    );
    assert!(r.run_once().await.unwrap());
    let (_, job) = m.unseal_jobs().await.unwrap().remove(0);
    assert!(
        job.last_error
            .as_deref()
            .is_some_and(|e| e.contains("in none of this worker's [unseal] stores")),
        "{job:?}"
    );

    let (url, _) = upload_server(true).await;
    m.request_unseal(s.id, small, url.clone()).await.unwrap();
    let r = runner(
        &m,
        store.path(),
        PatternUnsealer::default(),
        &out.path().join("spool"),
    );
    assert!(r.run_once().await.unwrap());
    let (_, job) = m.unseal_jobs().await.unwrap().remove(0);
    assert_eq!(std::fs::read(&file).unwrap(), pattern(0, 254));
    let error = job.last_error.unwrap();
    assert!(error.contains(&url) && error.contains("500"), "{error}");
    assert_eq!(job.attempts, 3);
    assert!(
        matches!(job.state, UnsealState::Failed { .. }),
        "the third failure gives it up"
    );
}

/// A destination the worker cannot write (an object store its build has
/// no support or store for) fails the job before any unsealing.
#[tokio::test]
async fn an_unwritable_destination_fails_before_unsealing() {
    let (m, s, store) = setup().await;
    let out = tempfile::tempdir().unwrap();
    m.request_unseal(s.id, piece(1, 256).cid, "s3://nowhere/piece".into())
        .await
        .unwrap();
    let never = PatternUnsealer {
        fail: Some("the unsealer ran"),
    };
    let r = runner(&m, store.path(), never, &out.path().join("spool"));
    assert!(r.run_once().await.unwrap());
    let (_, job) = m.unseal_jobs().await.unwrap().remove(0);
    let error = job.last_error.unwrap();
    assert!(
        error.contains("s3://nowhere/piece") && !error.contains("the unsealer ran"),
        "{error}"
    );
}
