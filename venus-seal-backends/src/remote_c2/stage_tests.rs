//! The stages beside C2 on the remote service: WindowPoSt, WinningPoSt
//! and snap prove tasks submitted, proven once, verified by the
//! submitter; a node proves only the stages it was given, and says so.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use venus_seal_core::proving::{
    PoStProof, PoStSector, ProvingSector, ReplicaUpdateVerifyInfo, SectorFiles, SkippedSector,
    SnapEncodeOutput, WindowPoStOutput, WindowPoStVerifyInfo, WinningPoStVerifyInfo,
};
use venus_seal_core::stage::{Proof, SnapEncode, SnapProve, WindowPoSt, WinningPoSt, C2};
use venus_seal_core::testing::FakeExecutor;
use venus_seal_core::{
    ActorId, CommD, CommR, Executor, FailureLevel, Leveled, ProofVerifier, Randomness, SealProof,
    SealVerifyInfo, SectorId, SectorNumber, VerifyError,
};
use venus_seal_rpc::auth::{Permission, Secret};

use super::tests::{config, sqlite};
use super::*;

/// A proof the fake verifier accepts for `comm_r`: its first 8 bytes.
fn proof_of(comm_r: &CommR) -> Vec<u8> {
    comm_r.0[..8].to_vec()
}

fn sector(number: u64) -> ProvingSector {
    ProvingSector {
        sector: PoStSector {
            number: SectorNumber(number),
            seal_proof: SealProof::StackedDrg2KiBV1_1,
            comm_r: CommR([number as u8; 32]),
            sector_key: None,
        },
        files: SectorFiles {
            sealed: PathBuf::from(format!("/mnt/store/sealed/s-t01000-{number}")),
            cache: PathBuf::from(format!("/mnt/store/cache/s-t01000-{number}")),
        },
    }
}

fn window_post(sectors: &[u64]) -> WindowPoSt {
    WindowPoSt {
        miner: ActorId(1000),
        deadline: 3,
        partition: 0,
        randomness: Randomness([7; 32]),
        sectors: sectors.iter().copied().map(sector).collect(),
    }
}

/// The fake WindowPoSt: skips sector 13, proves the others (one proof of
/// their commitments concatenated).
fn fake_window_post() -> Arc<FakeExecutor<WindowPoSt>> {
    FakeExecutor::new(|t: &WindowPoSt| {
        let (skipped, proven): (Vec<_>, Vec<_>) =
            t.sectors.iter().partition(|s| s.sector.number.0 == 13);
        WindowPoStOutput {
            proofs: vec![PoStProof {
                post_proof: 10,
                proof: proven
                    .iter()
                    .flat_map(|s| proof_of(&s.sector.comm_r))
                    .collect(),
            }],
            proven: proven.iter().map(|s| s.sector.number).collect(),
            skipped: skipped
                .iter()
                .map(|s| SkippedSector {
                    number: s.sector.number,
                    reason: "replica missing".into(),
                })
                .collect(),
        }
    })
}

fn snap_prove() -> SnapProve {
    let files = |n: &str| SectorFiles {
        sealed: PathBuf::from(format!("/mnt/{n}/sealed")),
        cache: PathBuf::from(format!("/mnt/{n}/cache")),
    };
    SnapProve {
        encode: SnapEncode {
            sector: SectorId::new(ActorId(1000), SectorNumber(21)),
            seal_proof: SealProof::StackedDrg2KiBV1_1,
            sector_key: files("key"),
            update: files("update"),
            staged_data: PathBuf::from("/mnt/staged/21"),
            pieces: Vec::new(),
        },
        encoded: SnapEncodeOutput {
            comm_r_new: CommR([21; 32]),
            comm_d_new: CommD([2; 32]),
        },
        comm_r_old: CommR([20; 32]),
    }
}

/// Accepts the fake proofs of every stage, unless told to refuse.
#[derive(Debug, Default)]
struct StageVerifier {
    refuse: AtomicBool,
}

impl StageVerifier {
    fn accepts(&self) -> bool {
        !self.refuse.load(Ordering::SeqCst)
    }
}

impl ProofVerifier for StageVerifier {
    fn verify_seal(&self, _: &SealVerifyInfo) -> Result<bool, VerifyError> {
        Ok(false)
    }

    fn verify_window_post(&self, info: &WindowPoStVerifyInfo) -> Result<bool, VerifyError> {
        let want: Vec<u8> = info
            .sectors
            .iter()
            .flat_map(|s| proof_of(&s.comm_r))
            .collect();
        Ok(self.accepts() && info.proofs.len() == 1 && info.proofs[0].proof == want)
    }

    fn verify_winning_post(&self, info: &WinningPoStVerifyInfo) -> Result<bool, VerifyError> {
        let want: Vec<u8> = info
            .sectors
            .iter()
            .flat_map(|s| proof_of(&s.comm_r))
            .collect();
        Ok(self.accepts() && info.proofs.iter().any(|p| p.proof == want))
    }

    fn verify_replica_update(&self, info: &ReplicaUpdateVerifyInfo) -> Result<bool, VerifyError> {
        Ok(self.accepts() && info.proof == proof_of(&info.comm_r_new))
    }
}

async fn serve(service: C2Service) -> (String, Provers) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let router = service.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let provers = service.start_provers().await.unwrap();
    (format!("http://{addr}"), provers)
}

fn token(secret: &Secret) -> String {
    secret.token(Permission::Write, None)
}

#[tokio::test]
async fn window_post_winning_post_and_snap_prove_are_proven_remotely_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let secret = Secret::generate();
    let window = fake_window_post();
    let winning = FakeExecutor::new(|t: &WinningPoSt| {
        vec![PoStProof {
            post_proof: 0,
            proof: t
                .sectors
                .iter()
                .flat_map(|s| proof_of(&s.sector.comm_r))
                .collect(),
        }]
    });
    let snap = FakeExecutor::new(|t: &SnapProve| Proof {
        proof: proof_of(&t.encoded.comm_r_new),
    });
    let service = C2Service::without_stages(sqlite(&dir).await, secret.clone(), config("n1"))
        .with_stage(window.clone())
        .with_stage(winning.clone())
        .with_stage(snap.clone());
    assert_eq!(
        service.stages(),
        ["snap_prove", "window_post", "winning_post"]
    );
    let (url, _provers) = serve(service).await;
    let verifier = Arc::new(StageVerifier::default());
    let token = token(&secret);

    let remote = RemoteExecutor::<WindowPoSt>::new(&url, &token, verifier.clone());
    let task = window_post(&[11, 12, 13]);
    let out = remote.execute(task.clone()).await.unwrap();
    assert_eq!(out.proven, [SectorNumber(11), SectorNumber(12)]);
    assert_eq!(out.skipped[0].number, SectorNumber(13));
    // The same work again (a restarted manager) finds the task done: it
    // is not proven twice.
    let again = remote.execute(task.clone()).await.unwrap();
    assert_eq!(again, out);
    assert_eq!(window.calls(), 1);
    let id = task_id(&task).unwrap();
    assert!(id.starts_with("window_post-1000-11-"), "{id}");
    let status = remote.status(&id).await.unwrap().unwrap();
    assert_eq!(
        (status.stage.as_str(), status.state, status.sector.number),
        ("window_post", TaskState::Done, SectorNumber(11))
    );

    let remote = RemoteExecutor::<WinningPoSt>::new(&url, &token, verifier.clone());
    let proofs = remote
        .execute(WinningPoSt {
            miner: ActorId(1000),
            randomness: Randomness([9; 32]),
            sectors: vec![sector(12)],
        })
        .await
        .unwrap();
    assert_eq!(proofs[0].proof, proof_of(&CommR([12; 32])));

    let remote = RemoteExecutor::<SnapProve>::new(&url, &token, verifier.clone());
    let proof = remote.execute(snap_prove()).await.unwrap();
    assert_eq!(proof.proof, proof_of(&CommR([21; 32])));

    // An output that does not verify is refused, Permanent: the sector is
    // not proven with it.
    verifier.refuse.store(true, Ordering::SeqCst);
    let err = RemoteExecutor::<WindowPoSt>::new(&url, &token, verifier.clone())
        .execute(window_post(&[14]))
        .await
        .unwrap_err();
    assert_eq!(err.level(), FailureLevel::Permanent, "{err}");
    assert!(err.to_string().contains("does not verify"), "{err}");
}

#[tokio::test]
async fn a_node_proves_only_its_stages_and_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let secret = Secret::generate();
    let c2 = FakeExecutor::new(|_: &C2| Proof { proof: vec![1] });
    let service = C2Service::new(sqlite(&dir).await, c2, secret.clone(), config("c2-only"));
    let (url, _provers) = serve(service).await;
    let token = token(&secret);
    let remote =
        RemoteExecutor::<WindowPoSt>::new(&url, &token, Arc::new(StageVerifier::default()))
            .with_config(RemoteConfig {
                poll_initial: Duration::from_millis(10),
                ..RemoteConfig::default()
            });
    let err = remote.execute(window_post(&[11])).await.unwrap_err();
    assert_eq!(err.level(), FailureLevel::Temporary, "{err}");
    assert!(
        err.to_string().contains("does not prove window_post"),
        "{err}"
    );

    let resp = reqwest::Client::new()
        .get(format!("{url}/v1/window_post/window_post-1000-11-00"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    let body: ErrorBody = resp.json().await.unwrap();
    assert!(body.error.contains("it proves c2"), "{}", body.error);
}

#[tokio::test]
async fn a_claim_takes_only_the_stages_asked_for_and_a_task_answers_under_its_own_stage() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let post = window_post(&[11]);
    store.submit(&post).await.unwrap();
    let c2 = super::tests::task(5);
    store.submit(&c2).await.unwrap();
    let stale = Duration::from_secs(60);
    // The WindowPoSt was queued first; a C2 prover still takes only the C2.
    let claimed = store
        .claim("a", stale, &[], &["c2"])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.row.id, task_id(&c2).unwrap());
    assert!(store
        .claim("a", stale, &[], &["c2"])
        .await
        .unwrap()
        .is_none());
    let claimed = store
        .claim("b", stale, &[], &["c2", "window_post"])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.row.stage, "window_post");
    assert_eq!(WindowPoSt::from_row(&claimed.row).unwrap(), post);

    // A C2 id asked under another stage's route is not found there.
    let secret = Secret::generate();
    let service = C2Service::new(
        store.clone(),
        FakeExecutor::new(|_: &C2| Proof { proof: vec![1] }),
        secret.clone(),
        config("n"),
    )
    .with_stage(fake_window_post());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = service.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let get = |path: String| {
        reqwest::Client::new()
            .get(format!("{url}{path}"))
            .bearer_auth(secret.token(Permission::Read, None))
            .send()
    };
    let c2_id = task_id(&c2).unwrap();
    assert_eq!(get(format!("/v1/c2/{c2_id}")).await.unwrap().status(), 200);
    assert_eq!(
        get(format!("/v1/window_post/{c2_id}"))
            .await
            .unwrap()
            .status(),
        404
    );
}

/// Two nodes share a queue; the client knows both. The node proving a
/// partition dies mid-proof: the client fails over to the other node,
/// which takes the task over once the dead node's heartbeat is stale, and
/// the client gets a verified proof; the task was claimed twice.
#[tokio::test]
async fn a_partition_on_a_node_that_dies_is_proven_by_another_through_failover() {
    let dir = tempfile::tempdir().unwrap();
    let secret = Secret::generate();
    let slow = fake_window_post();
    slow.set_latency(Duration::from_secs(3600));
    let a = C2Service::without_stages(sqlite(&dir).await, secret.clone(), config("node-a"))
        .with_stage(slow.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url_a = format!("http://{}", listener.local_addr().unwrap());
    let router = a.router();
    let server_a = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let provers_a = a.start_provers().await.unwrap();
    // Node B's address is known before it runs (the client is configured
    // with both).
    let listener_b = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url_b = format!("http://{}", listener_b.local_addr().unwrap());

    let remote = RemoteExecutor::<WindowPoSt>::new(
        &url_a,
        &token(&secret),
        Arc::new(StageVerifier::default()),
    )
    .with_failover([&url_b])
    .with_config(RemoteConfig {
        poll_initial: Duration::from_millis(20),
        poll_max: Duration::from_millis(100),
        max_poll_errors: 100,
        ..RemoteConfig::default()
    });
    let task = window_post(&[11, 12]);
    let id = task_id(&task).unwrap();
    let proving = tokio::spawn({
        let remote = remote.clone();
        let task = task.clone();
        async move { remote.execute(task).await }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while slow.running() == 0 {
        assert!(std::time::Instant::now() < deadline, "node A never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Node A dies where it is (no statement after its death).
    server_a.abort();
    drop(provers_a);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut cfg = config("node-b");
    cfg.stale_after = Duration::from_millis(1000);
    let fast = fake_window_post();
    let b =
        C2Service::without_stages(sqlite(&dir).await, secret.clone(), cfg).with_stage(fast.clone());
    let router = b.router();
    tokio::spawn(async move { axum::serve(listener_b, router).await.unwrap() });
    let _provers_b = b.start_provers().await.unwrap();

    let out = tokio::time::timeout(Duration::from_secs(20), proving)
        .await
        .expect("the partition was never proven")
        .unwrap()
        .unwrap();
    assert_eq!(out.proven, [SectorNumber(11), SectorNumber(12)]);
    assert_eq!(fast.calls(), 1);
    let status = remote.status(&id).await.unwrap().unwrap();
    assert_eq!(status.claimed_by.as_deref(), Some("node-b"));
    assert_eq!(status.attempts, 2, "claimed by A, then taken over by B");
}

/// A WindowPoSt output must account for every sector of its task once:
/// the chain message is built from the skipped sectors, so an output that
/// drops, doubles or invents one is refused even if its proof verifies.
#[tokio::test]
async fn a_window_post_output_must_account_for_every_sector_once() {
    let task = window_post(&[11, 12, 13]);
    let verifier = StageVerifier::default();
    let good = fake_window_post().execute(task.clone()).await.unwrap();
    assert!(task.verify(&good, &verifier).unwrap());
    let skipped = |n: u64| SkippedSector {
        number: SectorNumber(n),
        reason: "gone".into(),
    };
    let mut dropped = good.clone();
    dropped.skipped.clear();
    let mut doubled = good.clone();
    doubled.skipped.push(skipped(11));
    let mut invented = good.clone();
    invented.skipped.push(skipped(99));
    let mut unordered = good.clone();
    unordered.proven.reverse();
    for (what, bad) in [
        ("a sector left out", dropped),
        ("a sector both proven and skipped", doubled),
        ("a skipped sector not in the task", invented),
        ("proven sectors out of order", unordered),
    ] {
        assert!(!task.verify(&bad, &verifier).unwrap(), "{what} passed");
    }
}

/// An output that does not verify is rejected on the service: the same
/// work submitted again is proven again instead of answered with the same
/// bad output until the retention ends.
#[tokio::test]
async fn an_output_that_does_not_verify_is_proven_again_on_the_next_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let secret = Secret::generate();
    let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let flaky = FakeExecutor::new({
        let runs = runs.clone();
        move |t: &SnapProve| Proof {
            proof: if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                vec![0xba; 8]
            } else {
                proof_of(&t.encoded.comm_r_new)
            },
        }
    });
    let service = C2Service::without_stages(sqlite(&dir).await, secret.clone(), config("n"))
        .with_stage(flaky.clone());
    let (url, _provers) = serve(service).await;
    let remote =
        RemoteExecutor::<SnapProve>::new(&url, &token(&secret), Arc::new(StageVerifier::default()))
            .with_config(RemoteConfig {
                poll_initial: Duration::from_millis(10),
                ..RemoteConfig::default()
            });
    let err = remote.execute(snap_prove()).await.unwrap_err();
    assert!(err.to_string().contains("does not verify"), "{err}");
    let proof = remote.execute(snap_prove()).await.unwrap();
    assert_eq!(proof.proof, proof_of(&CommR([21; 32])));
    assert_eq!(flaky.calls(), 2, "proven again after the rejection");
}

/// Claims go WinningPoSt first, then WindowPoSt, then the rest, whatever
/// the order they were queued in.
#[tokio::test]
async fn winning_post_is_claimed_before_window_post_before_c2() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    store.submit(&super::tests::task(5)).await.unwrap();
    store.submit(&window_post(&[11])).await.unwrap();
    store
        .submit(&WinningPoSt {
            miner: ActorId(1000),
            randomness: Randomness([9; 32]),
            sectors: vec![sector(12)],
        })
        .await
        .unwrap();
    let all = ["c2", "window_post", "winning_post"];
    let mut order = Vec::new();
    while let Some(c) = store
        .claim("n", Duration::from_secs(60), &[], &all)
        .await
        .unwrap()
    {
        order.push(c.row.stage);
    }
    assert_eq!(order, ["winning_post", "window_post", "c2"]);
}

/// The data-bound stages go remote too (the node mounts the stores): a
/// snap encode whose new CommD is not its pieces' and an unseal that wrote
/// another length than asked are refused; the right ones are returned.
#[tokio::test]
async fn snap_encode_and_unseal_are_checked_on_return() {
    use venus_seal_core::proving::UnsealRequest;
    use venus_seal_core::stage::Unseal;

    let dir = tempfile::tempdir().unwrap();
    let secret = Secret::generate();
    let honest = Arc::new(AtomicBool::new(true));
    let encode = FakeExecutor::new({
        let honest = honest.clone();
        move |t: &SnapEncode| SnapEncodeOutput {
            comm_r_new: CommR([9; 32]),
            comm_d_new: if honest.load(Ordering::SeqCst) {
                venus_seal_core::comm_d_of_pieces(&t.pieces, 2048).unwrap()
            } else {
                CommD([0xee; 32])
            },
        }
    });
    let unseal = FakeExecutor::new({
        let honest = honest.clone();
        move |t: &Unseal| t.request.len - u64::from(!honest.load(Ordering::SeqCst))
    });
    let service = C2Service::without_stages(sqlite(&dir).await, secret.clone(), config("data"))
        .with_stage(encode)
        .with_stage(unseal);
    let (url, _provers) = serve(service).await;
    let verifier = Arc::new(StageVerifier::default());
    let mut task = snap_prove().encode;
    task.pieces = vec![venus_seal_core::PieceInfo {
        size: venus_seal_core::PaddedPieceSize(2048),
        cid: CommD([2; 32]),
    }];
    let request = Unseal {
        request: UnsealRequest {
            sector: task.sector,
            seal_proof: task.seal_proof,
            files: task.sector_key.clone(),
            comm_d: CommD([2; 32]),
            ticket: Randomness([1; 32]),
            offset: 0,
            len: 1016,
        },
        output: "/mnt/out/piece".into(),
    };
    let remote_encode = RemoteExecutor::<SnapEncode>::new(&url, &token(&secret), verifier.clone());
    let remote_unseal = RemoteExecutor::<Unseal>::new(&url, &token(&secret), verifier.clone());
    let out = remote_encode.execute(task.clone()).await.unwrap();
    assert_eq!(out.comm_d_new, CommD([2; 32]), "one full-sector piece");
    assert_eq!(remote_unseal.execute(request.clone()).await.unwrap(), 1016);

    honest.store(false, Ordering::SeqCst);
    let mut other = task.clone();
    other.sector = SectorId::new(ActorId(1000), SectorNumber(22));
    let err = remote_encode.execute(other).await.unwrap_err();
    assert!(err.to_string().contains("does not verify"), "{err}");
    let mut other = request;
    other.request.offset = 1016;
    let err = remote_unseal.execute(other).await.unwrap_err();
    assert!(err.to_string().contains("does not verify"), "{err}");
}
