//! The worker ↔ sector manager JSON-RPC API end to end: a
//! `LocalSectorManager` over a manual-clock devnet with fake proofs, served
//! behind token auth and called through `ManagerClient`.

mod support;
use support::raw_post;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use jsonrpsee::server::ServerHandle;
use venus_seal_chain::testing::{fake_seal_proof, FakeProofVerifier};
use venus_seal_chain::{
    DevnetChain, DevnetConfig, LocalSectorManager, ManagedMiner, ManagerConfig,
};
use venus_seal_core::manager::{
    AcquireDealsSpec, AllocateSpec, AllocatedSector, DealInfo, OnChainState, PollStateResponse,
    PreCommitOnChainInfo, ReportStateResponse, SectorStateChange, StateReport, SubmitResponse,
    SubmitResult, WaitSeedResponse, WorkerIdentifier,
};
use venus_seal_core::stage::Proof;
use venus_seal_core::{
    ActorId, CommD, CommR, FailureLevel, Leveled, ManagerError, SealProof, SectorId, SectorManager,
    SectorNumber, Ticket,
};
use venus_seal_rpc::manager::{codes, manager_error_from_rpc, manager_error_to_rpc, methods};
use venus_seal_rpc::{serve_manager, ManagerClient, Permission, Secret, WorkerInfo};

const MINER: ActorId = ActorId(1000);
const PROOF: SealProof = SealProof::StackedDrg2KiBV1_1;

fn devnet_and_manager() -> (Arc<DevnetChain>, Arc<LocalSectorManager>) {
    venus_seal_chain::testing::manual_single_miner_devnet(MINER, PROOF)
}

/// A served manager over its own devnet.
struct Served {
    chain: Arc<DevnetChain>,
    manager: Arc<LocalSectorManager>,
    url: String,
    secret: Secret,
    handle: ServerHandle,
}

impl Served {
    async fn start() -> Self {
        let (chain, manager) = devnet_and_manager();
        let secret = Secret::generate();
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let (addr, handle) = serve_manager(addr, manager.clone(), secret.clone())
            .await
            .unwrap();
        Self {
            chain,
            manager,
            url: format!("http://{addr}"),
            secret,
            handle,
        }
    }

    fn client(&self, perm: Permission) -> ManagerClient {
        let token = self.secret.token(perm, Some("worker-1"));
        ManagerClient::new(&self.url, Some(&token)).unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.handle.stop();
    }
}

fn info(ticket: Ticket) -> PreCommitOnChainInfo {
    PreCommitOnChainInfo {
        comm_r: CommR([0xaa; 32]),
        comm_d: CommD([0xdd; 32]),
        ticket,
        deals: vec![],
    }
}

/// A new sector from `manager`.
async fn allocate(manager: &dyn SectorManager) -> AllocatedSector {
    manager
        .allocate_sector(AllocateSpec::default())
        .await
        .unwrap()
        .expect("a sector")
}

/// A new sector from `manager`, its ticket drawn, and the pre-commit of
/// it that [`info`] makes.
async fn allocated_with_ticket(
    manager: &dyn SectorManager,
) -> (AllocatedSector, PreCommitOnChainInfo) {
    let sector = allocate(manager).await;
    let ticket = manager.assign_ticket(sector.id).await.unwrap();
    (sector, info(ticket))
}

/// Everything a worker sees while sealing one sector.
#[derive(Debug, PartialEq)]
struct Transcript {
    allocated: AllocatedSector,
    deals: Vec<DealInfo>,
    ticket: Ticket,
    pre_commit: SubmitResponse,
    duplicate: SubmitResponse,
    pre_commit_sent: PollStateResponse,
    pre_commit_landed: PollStateResponse,
    persisted: bool,
    seed_early: WaitSeedResponse,
    seed: WaitSeedResponse,
    proof: SubmitResponse,
    proof_landed: PollStateResponse,
}

/// Polls until the submission is in a message (the batch timer sends it
/// in the background), at most 10 s.
async fn until_packed<F, Fut>(mut poll: F) -> PollStateResponse
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<PollStateResponse, ManagerError>>,
{
    let start = std::time::Instant::now();
    loop {
        let state = poll().await.unwrap();
        if state.state != OnChainState::Pending || start.elapsed() > Duration::from_secs(10) {
            return state;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Seals one sector through `manager`, advancing `chain` by hand.
async fn seal_one(manager: &dyn SectorManager, chain: &DevnetChain) -> Transcript {
    let allocated = allocate(manager).await;
    let deals = manager
        .acquire_deals(allocated.id, AcquireDealsSpec::default())
        .await
        .unwrap();
    let ticket = manager.assign_ticket(allocated.id).await.unwrap();
    assert_eq!(manager.assign_ticket(allocated.id).await.unwrap(), ticket);
    let pc = info(ticket);
    let pre_commit = manager
        .submit_pre_commit(allocated, pc.clone(), false)
        .await
        .unwrap();
    let duplicate = manager
        .submit_pre_commit(allocated, pc.clone(), false)
        .await
        .unwrap();
    // The manager's batch timer sends it in the background, never inside
    // the call: poll as a worker does until it is packed in a message.
    let pre_commit_sent = until_packed(|| manager.poll_pre_commit_state(allocated.id)).await;
    chain.advance(1).await;
    let pre_commit_landed = manager.poll_pre_commit_state(allocated.id).await.unwrap();
    let persisted = manager
        .submit_persisted(allocated.id, "store-1".into())
        .await
        .unwrap();
    let seed_early = manager.wait_seed(allocated).await.unwrap();
    chain
        .advance(DevnetConfig::default().network.pre_commit_challenge_delay as u64 + 1)
        .await;
    let seed = manager.wait_seed(allocated).await.unwrap();
    let drawn = seed.seed.expect("the seed is drawable");
    let proof = manager
        .submit_proof(
            allocated.id,
            fake_seal_proof(allocated, &pc, drawn.seed),
            false,
        )
        .await
        .unwrap();
    until_packed(|| manager.poll_proof_state(allocated.id)).await;
    chain.advance(1).await;
    let proof_landed = manager.poll_proof_state(allocated.id).await.unwrap();
    let answer = manager
        .report_state(
            allocated.id,
            StateReport {
                worker: WorkerIdentifier {
                    instance: "worker-1".into(),
                    location: "/mnt/nvme0/job-1".into(),
                },
                state_change: SectorStateChange {
                    prev: "C2Done".into(),
                    next: "ProofSubmitted".into(),
                    event: Some("ProofSubmitted".into()),
                },
                failure: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(answer, ReportStateResponse::default(), "go on");
    manager.report_finalized(allocated.id).await.unwrap();
    Transcript {
        allocated,
        deals,
        ticket,
        pre_commit,
        duplicate,
        pre_commit_sent,
        pre_commit_landed,
        persisted,
        seed_early,
        seed,
        proof,
        proof_landed,
    }
}

#[tokio::test]
async fn a_sector_seals_over_rpc_exactly_as_in_process() {
    let served = Served::start().await;
    let client = served.client(Permission::Write);
    let remote = seal_one(&client, &served.chain).await;

    assert_eq!(
        remote.allocated,
        AllocatedSector {
            id: SectorId::new(MINER, SectorNumber(1)),
            proof_type: PROOF,
        }
    );
    assert_eq!(remote.pre_commit.res, SubmitResult::Accepted);
    assert_eq!(remote.duplicate.res, SubmitResult::DuplicateSubmit);
    assert_eq!(remote.pre_commit_landed.state, OnChainState::Landed);
    assert!(remote.persisted);
    assert!(remote.seed_early.should_wait && remote.seed_early.seed.is_none());
    assert!(!remote.seed.should_wait);
    assert_eq!(
        remote.proof.res,
        SubmitResult::Accepted,
        "{:?}",
        remote.proof
    );
    assert_eq!(remote.proof_landed.state, OnChainState::Landed);
    let status = served
        .manager
        .sector_status(remote.allocated.id)
        .await
        .unwrap()
        .unwrap();
    assert!(status.finalized);
    assert_eq!(status.persisted_at.as_deref(), Some("store-1"));
    assert_eq!(
        status.last_report.map(|r| r.state_change.next),
        Some("ProofSubmitted".to_string())
    );

    // The same steps on an identical devnet, in process: same answers.
    let (chain, local) = devnet_and_manager();
    let in_process = seal_one(local.as_ref(), &chain).await;
    assert_eq!(remote, in_process);
}

/// A ping names the worker's admin address, where the console sends its
/// admin token to pause and resume: a read token may not register one.
#[tokio::test]
async fn worker_ping_needs_write() {
    let served = Served::start().await;
    let info = WorkerInfo {
        name: "worker-1".into(),
        dest: "10.6.6.6:1234".into(),
        ..WorkerInfo::default()
    };
    let refused = served.client(Permission::Read).worker_ping(&info).await;
    match refused {
        Err(ManagerError::Unauthorized(msg)) => assert!(
            msg.contains("Venus.WorkerPing needs write, token allows read"),
            "{msg}"
        ),
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    served
        .client(Permission::Write)
        .worker_ping(&info)
        .await
        .unwrap();
}

#[tokio::test]
async fn read_token_cannot_allocate() {
    let served = Served::start().await;
    let err = served
        .client(Permission::Read)
        .allocate_sector(AllocateSpec::default())
        .await
        .unwrap_err();
    match &err {
        ManagerError::Unauthorized(msg) => assert!(
            msg.contains("Venus.AllocateSector needs write, token allows read"),
            "{msg}"
        ),
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    assert_eq!(err.level(), FailureLevel::Critical);
    // Nothing was allocated.
    assert!(served
        .manager
        .sector_status(SectorId::new(MINER, SectorNumber(1)))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn missing_and_forged_tokens_are_refused() {
    let served = Served::start().await;
    let anonymous = ManagerClient::new(&served.url, None).unwrap();
    match anonymous.allocate_sector(AllocateSpec::default()).await {
        Err(ManagerError::Unauthorized(msg)) => assert!(msg.contains("missing token"), "{msg}"),
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    let forged = Secret::generate().token(Permission::Admin, None);
    let forged = ManagerClient::new(&served.url, Some(&forged)).unwrap();
    match forged
        .assign_ticket(SectorId::new(MINER, SectorNumber(1)))
        .await
    {
        Err(ManagerError::Unauthorized(msg)) => {
            assert!(msg.contains("invalid token"), "{msg}");
            assert!(msg.contains("signature"), "{msg}");
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    // WorkerPing needs a token too.
    assert!(matches!(
        anonymous.worker_ping(&WorkerInfo::default()).await,
        Err(ManagerError::Unauthorized(_))
    ));
}

#[tokio::test]
async fn garbage_body_is_a_parse_error_and_the_server_keeps_serving() {
    let served = Served::start().await;
    let token = served.secret.token(Permission::Write, None);
    let auth = format!("Bearer {token}");
    let answer = raw_post(&served.url, Some(&auth), "{not json at all").await;
    assert_eq!(answer["error"]["code"], -32700, "{answer}");

    // Wrong params: invalid params naming the method.
    let answer = raw_post(
        &served.url,
        Some(&auth),
        r#"{"jsonrpc":"2.0","id":1,"method":"Venus.AssignTicket","params":["seven"]}"#,
    )
    .await;
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("Venus.AssignTicket"), "{message}");
    assert!(message.contains("invalid type"), "{message}");

    // Still serving, PascalCase on the wire.
    let answer = raw_post(
        &served.url,
        Some(&auth),
        r#"{"jsonrpc":"2.0","id":2,"method":"Venus.AllocateSector","params":[{"AllowedMiners":[],"AllowedProofTypes":[]}]}"#,
    )
    .await;
    assert_eq!(answer["result"]["ID"]["Number"], 1, "{answer}");
    assert_eq!(answer["result"]["ID"]["Miner"], 1000, "{answer}");
}

#[tokio::test]
async fn unknown_sector_is_rejected_at_abort_level() {
    let served = Served::start().await;
    let client = served.client(Permission::Write);
    let err = client
        .assign_ticket(SectorId::new(MINER, SectorNumber(42)))
        .await
        .unwrap_err();
    match &err {
        ManagerError::Rejected(msg) => assert!(msg.contains("unknown sector"), "{msg}"),
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(err.level(), FailureLevel::Abort);
    // The in-process manager says exactly the same.
    let local = served
        .manager
        .assign_ticket(SectorId::new(MINER, SectorNumber(42)))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), local.to_string());
}

#[tokio::test]
async fn mismatched_resubmission_and_bad_proof_are_answered_not_sent() {
    let served = Served::start().await;
    let client = served.client(Permission::Write);
    let (sector, pc) = allocated_with_ticket(&client).await;
    let first = client
        .submit_pre_commit(sector, pc.clone(), false)
        .await
        .unwrap();
    assert_eq!(first.res, SubmitResult::Accepted);
    let other = PreCommitOnChainInfo {
        comm_r: CommR([0xbb; 32]),
        ..pc.clone()
    };
    let again = client
        .submit_pre_commit(sector, other, false)
        .await
        .unwrap();
    assert_eq!(again.res, SubmitResult::MismatchedSubmission, "{again:?}");

    served.chain.advance(1).await;
    served.chain.advance(11).await;
    let seed = client.wait_seed(sector).await.unwrap();
    assert!(seed.seed.is_some(), "{seed:?}");
    let pending = served.chain.pending_messages();
    let bad = client
        .submit_proof(
            sector.id,
            Proof {
                proof: vec![7; 192],
            },
            false,
        )
        .await
        .unwrap();
    assert_eq!(bad.res, SubmitResult::Rejected);
    let desc = bad.desc.unwrap_or_default();
    assert!(desc.contains("does not verify"), "{desc}");
    assert_eq!(served.chain.pending_messages(), pending, "nothing sent");
    assert!(served
        .manager
        .sector_status(sector.id)
        .await
        .unwrap()
        .unwrap()
        .proof
        .is_none());
}

#[tokio::test]
async fn aborted_sector_is_rejected_afterwards() {
    let served = Served::start().await;
    let client = served.client(Permission::Write);
    let sector = allocate(&client).await;
    client
        .report_aborted(sector.id, "disk failed".into())
        .await
        .unwrap();
    assert_eq!(
        served
            .manager
            .sector_status(sector.id)
            .await
            .unwrap()
            .unwrap()
            .aborted
            .as_deref(),
        Some("disk failed")
    );
    assert!(matches!(
        client.assign_ticket(sector.id).await,
        Err(ManagerError::Rejected(_))
    ));
}

#[tokio::test]
async fn unreachable_manager_is_a_temporary_transport_error() {
    // Bind then drop a listener: nothing listens on that port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let token = Secret::generate().token(Permission::Write, None);
    let client = ManagerClient::new(format!("http://127.0.0.1:{port}"), Some(&token)).unwrap();
    let err = client
        .allocate_sector(AllocateSpec::default())
        .await
        .unwrap_err();
    match &err {
        ManagerError::Transport(msg) => assert!(msg.contains("connection refused"), "{msg}"),
        other => panic!("expected Transport, got {other:?}"),
    }
    assert_eq!(err.level(), FailureLevel::Temporary);
}

#[test]
fn every_manager_error_round_trips_through_its_code() {
    let errors = [
        ManagerError::Rejected("r".into()),
        ManagerError::Internal("i".into()),
        ManagerError::Unauthorized("u".into()),
        ManagerError::Transport("t".into()),
    ];
    for e in errors {
        let obj = manager_error_to_rpc(e.clone());
        let back = manager_error_from_rpc(obj.code(), obj.message().to_string());
        assert_eq!(back.to_string(), e.to_string());
        assert_eq!(back.level(), e.level());
    }
    // damocles' "sector state not found", on which its workers abort.
    assert_eq!(
        manager_error_to_rpc(ManagerError::Rejected("x".into())).code(),
        11001
    );
    // What older venus-seal managers sent is still read as Rejected.
    assert_eq!(
        manager_error_from_rpc(codes::LEGACY_REJECTED, "x".into()).level(),
        FailureLevel::Abort
    );
    // Codes the manager does not use are Temporary, never Abort.
    assert_eq!(
        manager_error_from_rpc(-32601, "no such method".into()).level(),
        FailureLevel::Temporary
    );
    // WorkerPing needs write: a ping names an address the console sends
    // an admin token to.
    assert_eq!(methods::WRITE.len(), 25);
    assert_eq!(methods::READ.len(), 3);
    assert!(methods::WRITE.contains(&methods::WORKER_PING));
}

/// A manager on the SQLite store at `db` over `chain`, served; its URL,
/// server handle and token secret.
async fn serve_on_sqlite(
    db: &std::path::Path,
    chain: Arc<DevnetChain>,
) -> (String, ServerHandle, Secret) {
    let store = venus_seal_chain::manager::SqlManagerStore::open_sqlite(db)
        .await
        .unwrap();
    let manager = LocalSectorManager::new(
        ManagerConfig::new(vec![ManagedMiner::new(MINER, PROOF)]),
        Arc::new(store),
        chain.clone(),
        chain,
        Arc::new(FakeProofVerifier),
    );
    let secret = Secret::generate();
    let (addr, handle) = serve_manager("127.0.0.1:0".parse().unwrap(), manager, secret.clone())
        .await
        .unwrap();
    (format!("http://{addr}"), handle, secret)
}

/// 32 workers allocating 4 sectors each, all at once, over authenticated
/// RPC against a SQLite store: every number from 1 to 128 exactly once.
/// A manager restarted on the same file continues at 129.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_workers_allocating_at_once_get_every_number_once_and_a_restart_continues() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("manager.db");
    let (chain, _) = devnet_and_manager();
    let (url, handle, secret) = serve_on_sqlite(&db, chain.clone()).await;
    let mut tasks = Vec::new();
    for w in 0..32 {
        let token = secret.token(Permission::Write, Some(&format!("worker-{w}")));
        let client = ManagerClient::new(&url, Some(&token)).unwrap();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..4 {
                let s = client
                    .allocate_sector(AllocateSpec::default())
                    .await
                    .unwrap()
                    .expect("a number");
                got.push(s.id.number.0);
            }
            got
        }));
    }
    let mut numbers = Vec::new();
    for t in tasks {
        numbers.extend(t.await.unwrap());
    }
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        (1..=128).collect::<Vec<u64>>(),
        "no duplicate, no gap"
    );

    handle.stop().unwrap();
    handle.stopped().await;
    let (url, handle, secret) = serve_on_sqlite(&db, chain).await;
    let token = secret.token(Permission::Write, Some("worker-after"));
    let next = ManagerClient::new(&url, Some(&token))
        .unwrap()
        .allocate_sector(AllocateSpec::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.id.number, SectorNumber(129), "the sequence continues");
    handle.stop().unwrap();
}

/// An operator's abort at the manager reaches the worker: its state report
/// is answered with the reason (as damocles answers `ReportState`, whose
/// request and answer shapes a damocles worker sends and reads), its polls
/// with ShouldAbort; a proven sector cannot be aborted.
#[tokio::test]
async fn an_abort_requested_at_the_manager_answers_the_workers_report_and_polls() {
    let served = Served::start().await;
    let client = served.client(Permission::Write);
    let (allocated, pc) = allocated_with_ticket(&client).await;
    client
        .submit_pre_commit(allocated, pc, false)
        .await
        .unwrap();
    served
        .manager
        .request_abort(allocated.id, "bad disk at the worker".into())
        .await
        .unwrap();

    // The body a damocles worker sends, field for field.
    let token = served.secret.token(Permission::Write, Some("damocles"));
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "Venus.ReportState",
        "params": [
            {"Miner": allocated.id.miner.0, "Number": allocated.id.number.0},
            {"Worker": {"Instance": "damocles-1", "Location": "/mnt/nvme0"},
             "StateChange": {"Prev": "PC2Done", "Next": "PC2Done", "Event": "Park"},
             "Failure": {"Level": "Permanent", "Desc": "pc2 failed"}}
        ]
    });
    let auth = format!("Bearer {token}");
    let answer = raw_post(&served.url, Some(&auth), &body.to_string()).await;
    assert_eq!(
        answer["result"],
        // damocles acts on AbortReason only with Finalized: true.
        serde_json::json!({
            "Id": {"Miner": allocated.id.miner.0, "Number": allocated.id.number.0},
            "Finalized": true,
            "AbortReason": "bad disk at the worker",
        }),
        "{answer}"
    );
    let polled = client.poll_pre_commit_state(allocated.id).await.unwrap();
    assert_eq!(polled.state, OnChainState::ShouldAbort);
    assert!(polled.desc.unwrap().contains("bad disk at the worker"));
    let status = served
        .manager
        .sector_status(allocated.id)
        .await
        .unwrap()
        .unwrap();
    let report = status.last_report.unwrap();
    assert_eq!(report.worker.instance, "damocles-1");
    assert_eq!(report.failure.unwrap().message, "pc2 failed");

    // A proven sector is past aborting.
    let proven = seal_one(served.manager.as_ref(), &served.chain).await;
    let err = served
        .manager
        .request_abort(proven.allocated.id, "too late".into())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("proven on chain"), "{err}");
}

/// The core's `SectorManager` suite through the JSON-RPC client (itself,
/// as `Arc<dyn>` and as `Box<dyn>`), each over a fresh served manager.
#[tokio::test]
async fn manager_client_passes_the_sector_manager_suite() {
    use venus_seal_core::testing::conformance::sector_manager::{
        sector_manager, SectorManagerCase,
    };
    let case = |chain: Arc<DevnetChain>| SectorManagerCase {
        allocate: AllocateSpec {
            allowed_miners: vec![MINER],
            allowed_proof_types: vec![PROOF],
            allocation_key: None,
        },
        prove: Box::new(FakeProofVerifier::proof_for),
        tick: Box::new(move || {
            let chain = chain.clone();
            Box::pin(async move {
                chain.advance(1).await;
            })
        }),
        max_ticks: 50,
    };
    let served = Served::start().await;
    let client = served.client(Permission::Write);
    sector_manager(&client, &case(served.chain.clone())).await;
    let served = Served::start().await;
    let client: Arc<dyn SectorManager> = Arc::new(served.client(Permission::Write));
    sector_manager(&client, &case(served.chain.clone())).await;
    let served = Served::start().await;
    let client: Box<dyn SectorManager> = Box::new(served.client(Permission::Write));
    sector_manager(&client, &case(served.chain.clone())).await;
}
