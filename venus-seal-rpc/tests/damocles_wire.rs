//! Golden fixtures of damocles' worker ↔ manager wire
//! (`tests/fixtures/damocles/`, built from damocles' own type definitions;
//! see its README for the upstream files and commits).
//!
//! * Our server: every damocles request fixture is posted over HTTP with a
//!   token, and the answer is compared field by field with the fixture's
//!   `worker_response` (JSON types; base64 of 32 bytes where the fixture
//!   has one; numbers where damocles has numbers).
//! * Our client: a fake damocles-manager (axum) answers every
//!   `manager_responses` entry and the `worker_response`; the client must
//!   read each into the values the fixture holds, and send params of the
//!   fixture request's shape.
//!
//! The fixtures, not our types, are the reference on both sides.

mod support;
use support::raw_post;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::State;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use venus_seal_core::manager::{
    AcquireDealsSpec, AllocateSpec, AllocatedSector, DealInfo, PollStateResponse,
    PreCommitOnChainInfo, ReportStateResponse, SectorStateChange, StateReport, SubmitResponse,
    WaitSeedResponse, WorkerIdentifier,
};
use venus_seal_core::stage::Proof;
use venus_seal_core::testing::FakeManager;
use venus_seal_core::{
    ActorId, CommD, CommR, Failure, FailureLevel, Leveled, ManagerError, PaddedPieceSize,
    PieceInfo, Randomness, SealProof, SectorId, SectorManager, SectorNumber, Ticket,
};
use venus_seal_rpc::manager::{PersistStoreEntry, PersistStores};
use venus_seal_rpc::{ManagerClient, Permission, Secret, WorkerInfo};

const METHODS: [&str; 15] = [
    "AllocateSector",
    "AcquireDeals",
    "AssignTicket",
    "SubmitPreCommit",
    "PollPreCommitState",
    "SubmitPersistedEx",
    "WaitSeed",
    "SubmitProof",
    "PollProofState",
    "ReportState",
    "WorkerPing",
    "StoreBasicInfo",
    "StoreReserveSpace",
    "ReportFinalized",
    "ReportAborted",
];

/// Methods of damocles-worker plans our own worker does not run: only
/// our server is checked against them.
const SERVER_ONLY: [&str; 6] = [
    "AllocateSectorsBatch",
    "SubmitPersisted",
    "AllocateSanpUpSector",
    "AllocateRebuildSector",
    "AllocateUnsealSector",
    "WdPoStAllocateJobs",
];

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/damocles")
}

fn fixture(name: &str) -> Value {
    let path = fixtures_dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// `Some(n)` when `s` is standard base64 of `n` bytes and 44 characters
/// long (the 32-byte randomness fields).
fn b64_32(s: &str) -> Option<Vec<u8>> {
    (s.len() == 44)
        .then(|| STANDARD.decode(s).ok())
        .flatten()
        .filter(|b| b.len() == 32)
}

/// Checks `actual` has the shape of `expected` (a fixture value): the same
/// JSON types, field by field; `null` in the fixture allows anything (an
/// `Option`); a 44-character base64 string of 32 bytes must be one too; a
/// list's elements each have the shape of the fixture's first. Fields the
/// fixture lacks are allowed (damocles' serde and Go's json ignore them).
fn assert_shape(at: &str, actual: &Value, expected: &Value) {
    match (expected, actual) {
        (Value::Null, _) => {}
        (Value::Bool(_), Value::Bool(_)) => {}
        (Value::Number(e), Value::Number(a)) => {
            if e.is_u64() || e.is_i64() {
                assert!(
                    a.is_u64() || a.is_i64(),
                    "{at}: expected an integer, got {a}"
                );
            }
        }
        (Value::String(e), Value::String(a)) => {
            if b64_32(e).is_some() {
                assert!(
                    b64_32(a).is_some(),
                    "{at}: expected 32 bytes of base64 (like {e:?}), got {a:?}"
                );
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if let Some(first) = e.first() {
                for (i, item) in a.iter().enumerate() {
                    assert_shape(&format!("{at}[{i}]"), item, first);
                }
            }
        }
        (Value::Object(e), Value::Object(a)) => {
            for (key, value) in e {
                let got = a
                    .get(key)
                    .unwrap_or_else(|| panic!("{at}: field {key:?} missing from {actual}"));
                assert_shape(&format!("{at}.{key}"), got, value);
            }
        }
        _ => panic!("{at}: expected the shape of {expected}, got {actual}"),
    }
}

/// Params are tuples: the same length, compared position by position.
fn assert_params(at: &str, actual: &Value, expected: &Value) {
    let (a, e) = (actual.as_array().unwrap(), expected.as_array().unwrap());
    assert_eq!(
        a.len(),
        e.len(),
        "{at}: params {actual} vs fixture {expected}"
    );
    for (i, (a, e)) in a.iter().zip(e).enumerate() {
        assert_shape(&format!("{at}[{i}]"), a, e);
    }
}

/// The allocation spec the fixtures' worker requests carry: f01000,
/// `StackedDrg2KiBV1_1` (5), no allocation key.
fn fixture_spec() -> AllocateSpec {
    AllocateSpec {
        allowed_miners: vec![ActorId(1000)],
        allowed_proof_types: vec![SealProof::StackedDrg2KiBV1_1],
        allocation_key: None,
    }
}

fn sector() -> SectorId {
    SectorId::new(ActorId(1000), SectorNumber(1))
}

/// The piece of the AcquireDeals fixture (deal 7, 2 KiB).
fn fixture_deal() -> DealInfo {
    let f = fixture("AcquireDeals");
    let piece = &f["worker_response"][0]["Piece"];
    DealInfo {
        id: 7,
        piece: PieceInfo {
            size: PaddedPieceSize(piece["Size"].as_u64().unwrap()),
            cid: piece["PieceCID"]["/"].as_str().unwrap().parse().unwrap(),
        },
        allocation: None,
    }
}

/// The core's fake manager, seeds at once, handing out one deal.
#[derive(Debug)]
struct WithDeal(FakeManager);

#[async_trait]
impl SectorManager for WithDeal {
    async fn allocate_sector(
        &self,
        spec: AllocateSpec,
    ) -> Result<Option<AllocatedSector>, ManagerError> {
        self.0.allocate_sector(spec).await
    }
    async fn acquire_deals(
        &self,
        sector: SectorId,
        spec: AcquireDealsSpec,
    ) -> Result<Vec<DealInfo>, ManagerError> {
        self.0.acquire_deals(sector, spec).await?;
        Ok(vec![fixture_deal()])
    }
    async fn assign_ticket(&self, sector: SectorId) -> Result<Ticket, ManagerError> {
        self.0.assign_ticket(sector).await
    }
    async fn submit_pre_commit(
        &self,
        sector: AllocatedSector,
        info: PreCommitOnChainInfo,
        reset: bool,
    ) -> Result<SubmitResponse, ManagerError> {
        self.0.submit_pre_commit(sector, info, reset).await
    }
    async fn poll_pre_commit_state(
        &self,
        sector: SectorId,
    ) -> Result<PollStateResponse, ManagerError> {
        self.0.poll_pre_commit_state(sector).await
    }
    async fn submit_persisted(&self, sector: SectorId, i: String) -> Result<bool, ManagerError> {
        self.0.submit_persisted(sector, i).await
    }
    async fn wait_seed(&self, sector: AllocatedSector) -> Result<WaitSeedResponse, ManagerError> {
        self.0.wait_seed(sector).await
    }
    async fn sector_proof_type(&self, sector: SectorId) -> Result<Option<SealProof>, ManagerError> {
        self.0.sector_proof_type(sector).await
    }
    async fn submit_proof(
        &self,
        sector: SectorId,
        proof: Proof,
        reset: bool,
    ) -> Result<SubmitResponse, ManagerError> {
        self.0.submit_proof(sector, proof, reset).await
    }
    async fn poll_proof_state(&self, sector: SectorId) -> Result<PollStateResponse, ManagerError> {
        self.0.poll_proof_state(sector).await
    }
    async fn report_state(
        &self,
        sector: SectorId,
        report: StateReport,
    ) -> Result<ReportStateResponse, ManagerError> {
        self.0.report_state(sector, report).await
    }
    async fn report_finalized(&self, sector: SectorId) -> Result<(), ManagerError> {
        self.0.report_finalized(sector).await
    }
    async fn report_aborted(&self, sector: SectorId, reason: String) -> Result<(), ManagerError> {
        self.0.report_aborted(sector, reason).await
    }
}

struct Served {
    url: String,
    auth: String,
    fake: Arc<WithDeal>,
    _handle: jsonrpsee::server::ServerHandle,
}

async fn serve() -> Served {
    let mut manager = FakeManager::default();
    manager.pre_commit_delay = Duration::ZERO;
    manager.seed_delay = Duration::ZERO;
    let fake = Arc::new(WithDeal(manager));
    let stores = PersistStores::with_free_space(
        vec![PersistStoreEntry::new("store-0", "/mnt/store0")],
        Arc::new(|_: &Path| Ok(1 << 40)),
    );
    let secret = Secret::generate();
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let (addr, handle) = venus_seal_rpc::manager::ManagerServer::new(fake.clone())
        .stores(stores)
        .serve(addr, secret.clone())
        .await
        .unwrap();
    Served {
        url: format!("http://{addr}"),
        auth: format!(
            "Bearer {}",
            secret.token(Permission::Write, Some("damocles"))
        ),
        fake,
        _handle: handle,
    }
}

async fn call(s: &Served, method: &str, params: &Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    raw_post(&s.url, Some(&s.auth), &body.to_string()).await
}

#[tokio::test]
async fn server_accepts_every_damocles_request_and_answers_in_damocles_shapes() {
    let s = serve().await;
    for name in METHODS {
        let f = fixture(name);
        let method = f["method"].as_str().unwrap();
        if name == "ReportState" {
            // The manager wants the sector given up: the fixture's answer.
            s.fake.0.abort_on_report("given up by the operator");
        }
        for request in f["requests"].as_array().unwrap() {
            let from = request["from"].as_str().unwrap();
            let answer = call(&s, method, &request["params"]).await;
            // `WaitSeed(id)` alone (worker_v0, an older damocles-worker)
            // is answered from the manager's record of the proof type.
            assert!(
                answer.get("error").is_none(),
                "{method} ({from}) refused: {answer}"
            );
            let result = &answer["result"];
            assert_shape(&format!("{method} ({from})"), result, &f["worker_response"]);
            if name == "ReportState" {
                assert_eq!(result["Finalized"], true, "{result}");
                assert_eq!(result["AbortReason"], "given up by the operator");
                assert_eq!(result["Id"], json!({"Miner": 1000, "Number": 1}));
            }
        }
    }
    // The state report reached the manager with damocles' failure level.
    let reports = s.fake.0.reports();
    let (_, first) = &reports[0];
    assert_eq!(first.state_change.event.as_deref(), Some("Some(Retry)"));
    assert_eq!(
        first.failure.as_ref().map(|f| f.level),
        Some(FailureLevel::Temporary)
    );
    assert_eq!(
        reports[1].1.state_change.event, None,
        "\"None\" is no event"
    );
}

#[tokio::test]
async fn server_answers_unknown_sector_with_11001_and_unknown_method_with_32601() {
    let s = serve().await;
    let f = fixture("SectorStateNotFound");
    let code = f["manager_error"]["code"].as_i64().unwrap();
    let answer = call(&s, "Venus.AssignTicket", &f["unknown_sector"]["params"]).await;
    assert_eq!(answer["error"]["code"], code, "{answer}");
    let answer = call(&s, "Venus.AssignTicketBatch", &json!([1000, [1, 2]])).await;
    assert_eq!(answer["error"]["code"], -32601, "{answer}");
    // Without a token, an unknown method is still refused as unauthenticated.
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "Venus.Nope", "params": []});
    let answer = raw_post(&s.url, None, &body.to_string()).await;
    assert_eq!(
        answer["error"]["code"],
        venus_seal_rpc::codes::INVALID_TOKEN
    );
}

#[tokio::test]
async fn server_refuses_our_old_hex_ticket_and_cid_commitments() {
    // What the server took before: CIDs for CommR/CommD and a hex ticket.
    // damocles never sends these; the fixture's shape is what parses.
    let s = serve().await;
    call(&s, "Venus.AllocateSector", &json!([{}, false])).await;
    let f = fixture("SubmitPreCommit");
    let mut params = f["requests"][0]["params"].clone();
    params[1]["Ticket"]["Ticket"] = json!(hex::encode([1u8; 32]));
    let answer = call(&s, "Venus.SubmitPreCommit", &params).await;
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
}

/// What the fake damocles-manager answers a method with.
#[derive(Clone)]
enum Answer {
    Result(Value),
    Error(Value),
}

#[derive(Clone, Default)]
struct FakeDamocles {
    answers: Arc<Mutex<HashMap<String, Answer>>>,
    requests: Arc<Mutex<Vec<(String, Value)>>>,
}

/// One JSON-RPC call, as go-jsonrpc answers it (the workspace's axum has
/// no `json` feature: the body is read and written as text).
async fn handle(
    State(fake): State<FakeDamocles>,
    body: String,
) -> ([(axum::http::header::HeaderName, &'static str); 1], String) {
    let request: Value = serde_json::from_str(&body).unwrap();
    let method = request["method"].as_str().unwrap().to_string();
    fake.requests
        .lock()
        .unwrap()
        .push((method.clone(), request["params"].clone()));
    let answer = fake.answers.lock().unwrap().get(&method).cloned();
    let id = request["id"].clone();
    let response = match answer {
        Some(Answer::Result(r)) => json!({"jsonrpc": "2.0", "id": id, "result": r}),
        Some(Answer::Error(e)) => json!({"jsonrpc": "2.0", "id": id, "error": e}),
        None => json!({"jsonrpc": "2.0", "id": id,
            "error": {"code": -32601, "message": format!("method '{method}' not found")}}),
    };
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        response.to_string(),
    )
}

async fn fake_damocles() -> (String, FakeDamocles) {
    let fake = FakeDamocles::default();
    let app = axum::Router::new()
        .fallback(axum::routing::post(handle))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/rpc/v0"), fake)
}

fn b64(v: &Value) -> Vec<u8> {
    STANDARD.decode(v.as_str().unwrap()).unwrap()
}

fn desc(v: &Value) -> Option<String> {
    v["Desc"].as_str().map(str::to_string)
}

/// Calls `name` through the client, the fake answering `answer`; checks
/// what the client read against the fixture value.
async fn client_reads(client: &ManagerClient, name: &str, r: &Value) {
    let id = sector();
    let allocated = AllocatedSector {
        id,
        proof_type: SealProof::StackedDrg2KiBV1_1,
    };
    match name {
        "AllocateSector" => {
            let spec = fixture_spec();
            let got = client.allocate_sector(spec).await.unwrap();
            match got {
                None => assert!(r.is_null()),
                Some(s) => {
                    assert_eq!(s.id.miner.0, r["ID"]["Miner"].as_u64().unwrap());
                    assert_eq!(s.id.number.0, r["ID"]["Number"].as_u64().unwrap());
                    assert_eq!(s.proof_type.id(), r["ProofType"].as_i64().unwrap());
                }
            }
        }
        "AcquireDeals" => {
            let spec = AcquireDealsSpec {
                max_deals: Some(3),
                min_used_space: None,
            };
            let got = client.acquire_deals(id, spec).await.unwrap();
            let want = r.as_array().cloned().unwrap_or_default();
            assert_eq!(got.len(), want.len(), "{r}");
            for (deal, w) in got.iter().zip(&want) {
                let (deal_id, cid) = match w.get("DealInfo") {
                    Some(info) => (&info["DealID"], &w["Piece"]["PieceCID"]["/"]),
                    None => (&w["ID"], &w["Piece"]["Cid"]["/"]),
                };
                assert_eq!(deal.id, deal_id.as_u64().unwrap());
                assert_eq!(deal.piece.cid.to_string(), cid.as_str().unwrap());
                assert_eq!(deal.piece.size.0, w["Piece"]["Size"].as_u64().unwrap());
            }
        }
        "AssignTicket" => {
            let t = client.assign_ticket(id).await.unwrap();
            assert_eq!(t.ticket.0.to_vec(), b64(&r["Ticket"]));
            assert_eq!(t.epoch, r["Epoch"].as_i64().unwrap());
        }
        "SubmitPreCommit" => {
            let info = PreCommitOnChainInfo {
                comm_r: CommR(std::array::from_fn(|i| i as u8 + 1)),
                comm_d: CommD(std::array::from_fn(|i| i as u8 + 101)),
                ticket: Ticket {
                    ticket: Randomness(std::array::from_fn(|i| i as u8 + 1)),
                    epoch: 100,
                },
                deals: vec![7],
            };
            let got = client
                .submit_pre_commit(allocated, info, false)
                .await
                .unwrap();
            assert_eq!(got.res as u64, r["Res"].as_u64().unwrap());
            assert_eq!(got.desc, desc(r));
        }
        "PollPreCommitState" | "PollProofState" => {
            let got = if name == "PollPreCommitState" {
                client.poll_pre_commit_state(id).await
            } else {
                client.poll_proof_state(id).await
            }
            .unwrap();
            assert_eq!(got.state as u64, r["State"].as_u64().unwrap());
            assert_eq!(got.desc, desc(r));
        }
        "SubmitPersistedEx" => {
            let got = client.submit_persisted(id, "store-0".into()).await.unwrap();
            assert_eq!(Value::Bool(got), *r);
        }
        "WaitSeed" => {
            let got = client.wait_seed(allocated).await.unwrap();
            assert_eq!(Value::Bool(got.should_wait), r["ShouldWait"]);
            assert_eq!(got.delay, Duration::from_secs(r["Delay"].as_u64().unwrap()));
            match got.seed {
                None => assert!(r["Seed"].is_null()),
                Some(seed) => {
                    assert_eq!(seed.seed.0.to_vec(), b64(&r["Seed"]["Seed"]));
                    assert_eq!(seed.epoch, r["Seed"]["Epoch"].as_i64().unwrap());
                }
            }
        }
        "SubmitProof" => {
            let proof = Proof {
                proof: (0..192).collect(),
            };
            let got = client.submit_proof(id, proof, false).await.unwrap();
            assert_eq!(got.res as u64, r["Res"].as_u64().unwrap());
            assert_eq!(got.desc, desc(r));
        }
        "ReportState" => {
            let report = StateReport {
                worker: WorkerIdentifier {
                    instance: "worker-1".into(),
                    location: "/mnt/nvme0/0".into(),
                },
                state_change: SectorStateChange {
                    prev: "PC1Done".into(),
                    next: "PC1Done".into(),
                    event: Some("Some(Retry)".into()),
                },
                failure: Some(Failure::new(
                    FailureLevel::Temporary,
                    "rpc error: connection refused",
                )),
            };
            let got = client.report_state(id, report).await.unwrap();
            let finalized = r["Finalized"].as_bool().unwrap();
            let reason = r["AbortReason"]
                .as_str()
                .filter(|s| finalized && !s.is_empty());
            assert_eq!(got.finalized, finalized, "{r}");
            assert_eq!(got.abort_reason.as_deref(), reason, "{r}");
        }
        "ReportFinalized" => client.report_finalized(id).await.unwrap(),
        "ReportAborted" => client
            .report_aborted(id, "ticket expired".into())
            .await
            .unwrap(),
        "WorkerPing" => {
            let info = WorkerInfo {
                name: "worker-1".into(),
                dest: "10.0.0.2:17890".into(),
                version: "v0.13.1".into(),
                ..WorkerInfo::default()
            };
            client.worker_ping(&info).await.unwrap();
        }
        "StoreBasicInfo" | "StoreReserveSpace" => {
            let got = if name == "StoreBasicInfo" {
                client.store_basic_info("store-0").await
            } else {
                client
                    .store_reserve_space(id, 4096, &["store-0".to_string()])
                    .await
            }
            .unwrap();
            match got {
                None => assert!(r.is_null()),
                Some(info) => {
                    assert_eq!(info.name, r["Name"].as_str().unwrap());
                    assert_eq!(info.path, r["Path"].as_str().unwrap());
                }
            }
        }
        other => panic!("no client call for {other}"),
    }
}

#[tokio::test]
async fn client_reads_damocles_manager_answers_and_sends_damocles_params() {
    let (url, fake) = fake_damocles().await;
    // A damocles-manager serves /rpc/v0 without auth.
    let client = ManagerClient::new(&url, None).unwrap();
    for name in METHODS {
        let f = fixture(name);
        let method = f["method"].as_str().unwrap().to_string();
        let mut answers = f["manager_responses"].as_array().unwrap().clone();
        answers.push(f["worker_response"].clone());
        for answer in &answers {
            fake.answers
                .lock()
                .unwrap()
                .insert(method.clone(), Answer::Result(answer.clone()));
            client_reads(&client, name, answer).await;
            let (sent, params) = fake.requests.lock().unwrap().pop().unwrap();
            assert_eq!(sent, method);
            assert_params(&method, &params, &f["requests"][0]["params"]);
        }
    }
}

/// damocles-worker's other plans against our manager: the batch plan
/// gets as many sectors as it asks for, in its shape; the snap-up,
/// rebuild, unseal and wdpost plans are told "no job" in the shape their
/// types read (`null` for `Option`, `[]` for `Vec`), and a malformed
/// request is still -32602.
#[tokio::test]
async fn server_answers_the_other_worker_plans_in_damocles_shapes() {
    let s = serve().await;
    for name in SERVER_ONLY {
        let f = fixture(name);
        let method = f["method"].as_str().unwrap();
        let params = &f["requests"][0]["params"];
        let answer = call(&s, method, params).await;
        assert!(answer.get("error").is_none(), "{method} refused: {answer}");
        let result = &answer["result"];
        let expected = &f["worker_response"];
        match expected {
            Value::Array(e) if !e.is_empty() => {
                let got = result
                    .as_array()
                    .unwrap_or_else(|| panic!("{method}: {result}"));
                assert_eq!(got.len(), params[2].as_u64().unwrap() as usize, "{result}");
                assert_shape(method, result, expected);
                let numbers: HashSet<u64> = got
                    .iter()
                    .map(|a| a["ID"]["Number"].as_u64().unwrap())
                    .collect();
                assert_eq!(numbers.len(), got.len(), "one sector twice: {result}");
            }
            _ => assert_eq!(result, expected, "{method}"),
        }
        let bad = call(&s, method, &json!([7])).await;
        assert_eq!(bad["error"]["code"], -32602, "{method}: {bad}");
    }
}

/// A worker's ping is read back with damocles' `WorkerPingInfoList` and
/// `WorkerGetPingInfo` (its CLI's `util worker list|info`) in the Go
/// manager's `WorkerPingInfo` shape; an unknown worker is `null`.
#[tokio::test]
async fn pings_are_listed_in_damocles_manager_shapes() {
    let s = serve().await;
    let ping = fixture("WorkerPing");
    let answer = call(&s, "Venus.WorkerPing", &ping["requests"][0]["params"]).await;
    assert!(answer.get("error").is_none(), "{answer}");
    let f = fixture("WorkerPingInfoList");
    let expected = &f["manager_response"];
    let list = call(&s, "Venus.WorkerPingInfoList", &f["requests"][0]["params"]).await;
    let list = &list["result"];
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_shape("WorkerPingInfoList", list, expected);
    assert_eq!(list[0]["Info"], ping["requests"][0]["params"][0]);
    let one = call(&s, "Venus.WorkerGetPingInfo", &f["get_request"]["params"]).await;
    assert_eq!(one["result"], list[0], "{one}");
    let none = call(&s, "Venus.WorkerGetPingInfo", &json!(["worker-9"])).await;
    assert_eq!(none["result"], Value::Null, "{none}");
}

#[tokio::test]
async fn client_reads_11001_as_an_abort() {
    let (url, fake) = fake_damocles().await;
    let client = ManagerClient::new(&url, None).unwrap();
    let f = fixture("SectorStateNotFound");
    fake.answers.lock().unwrap().insert(
        "Venus.AssignTicket".into(),
        Answer::Error(f["manager_error"].clone()),
    );
    let err = client.assign_ticket(sector()).await.unwrap_err();
    assert!(matches!(err, ManagerError::Rejected(_)), "{err:?}");
    assert_eq!(err.level(), FailureLevel::Abort);
    assert!(err.to_string().contains("sector state not found"), "{err}");
    // Any other code (go-jsonrpc's generic 1) is temporary, as in damocles.
    fake.answers.lock().unwrap().insert(
        "Venus.AssignTicket".into(),
        Answer::Error(json!({"code": 1, "message": "chain unreachable"})),
    );
    let err = client.assign_ticket(sector()).await.unwrap_err();
    assert_eq!(err.level(), FailureLevel::Temporary, "{err:?}");
}

#[test]
fn every_fixture_names_its_upstream_sources() {
    let readme = std::fs::read_to_string(fixtures_dir().join("README.md")).unwrap();
    for name in METHODS.iter().chain(&SERVER_ONLY).chain(&[
        "SectorStateNotFound",
        "UnsealJob",
        "RebuildJob",
        "SnapUpJob",
        "WdPoStJob",
    ]) {
        let f = fixture(name);
        for source in f["sources"].as_object().unwrap().values() {
            let (path, commit) = source.as_str().unwrap().split_once('@').unwrap();
            assert_eq!(commit.len(), 40, "{name}: {source}");
            assert!(
                readme.contains(path) && readme.contains(commit),
                "{name}: {source} not in README"
            );
        }
    }
}

/// `server` serving on a free port behind a write token.
async fn serve_server(server: venus_seal_rpc::manager::ManagerServer) -> Served {
    let secret = Secret::generate();
    let (addr, _handle) = server
        .serve("127.0.0.1:0".parse().unwrap(), secret.clone())
        .await
        .unwrap();
    Served {
        url: format!("http://{addr}"),
        auth: format!("Bearer {}", secret.token(Permission::Write, Some("w"))),
        fake: Arc::new(WithDeal(FakeManager::default())),
        _handle,
    }
}

/// An unseal source handing out the job of `UnsealJob.json` once, and
/// recording the results it is told.
#[derive(Debug, Default)]
struct OneUnsealJob {
    taken: Mutex<bool>,
    results: Mutex<Vec<Option<String>>>,
}

fn unseal_fixture_job() -> venus_seal_core::unseal::UnsealAssignment {
    let f = fixture("UnsealJob");
    let r = &f["worker_response"];
    venus_seal_core::unseal::UnsealAssignment {
        sector: AllocatedSector {
            id: sector_of(&r["Sector"]["ID"]),
            proof_type: SealProof::StackedDrg2KiBV1_1,
        },
        piece: r["PieceCid"]["/"].as_str().unwrap().parse().unwrap(),
        comm_d: CommD([0xdd; 32]),
        ticket: Ticket {
            ticket: Randomness([7; 32]),
            epoch: 1234,
        },
        offset: 508,
        len: 508,
        instance: "store-1".into(),
        dests: vec!["file:///retrievals/piece".into()],
    }
}

fn sector_of(v: &Value) -> SectorId {
    SectorId::new(
        ActorId(v["Miner"].as_u64().unwrap()),
        SectorNumber(v["Number"].as_u64().unwrap()),
    )
}

#[async_trait]
impl venus_seal_core::unseal::UnsealJobSource for OneUnsealJob {
    async fn allocate_unseal(
        &self,
        spec: AllocateSpec,
    ) -> Result<Option<venus_seal_core::unseal::UnsealAssignment>, ManagerError> {
        assert_eq!(spec.allowed_miners, vec![ActorId(1000)]);
        let mut taken = self.taken.lock().unwrap();
        if *taken {
            return Ok(None);
        }
        *taken = true;
        Ok(Some(unseal_fixture_job()))
    }

    async fn unseal_destinations(
        &self,
        _sector: SectorId,
        _piece: venus_seal_core::PieceCid,
    ) -> Result<Vec<String>, ManagerError> {
        Ok(unseal_fixture_job().dests)
    }

    async fn achieve_unseal(
        &self,
        sector: SectorId,
        piece: venus_seal_core::PieceCid,
        error: Option<String>,
    ) -> Result<(), ManagerError> {
        assert_eq!(
            (sector, piece),
            (unseal_fixture_job().sector.id, unseal_fixture_job().piece)
        );
        self.results.lock().unwrap().push(error);
        Ok(())
    }
}

/// An unseal job in damocles' shapes both ways: our server answers a
/// damocles worker's `AllocateUnsealSector`, `AcquireUnsealDest` and
/// `AchieveUnsealSector` (`""` is success) as the fixture says; our
/// client reads a Go manager's `SectorUnsealInfo` (`Dest` null, `State`
/// `set_up`) and sends the fixture's params.
#[tokio::test]
async fn unseal_jobs_travel_in_damocles_shapes_both_ways() {
    let f = fixture("UnsealJob");
    let source = Arc::new(OneUnsealJob::default());
    let s = serve_server(
        venus_seal_rpc::manager::ManagerServer::new(Arc::new(FakeManager::default()))
            .unseal(source.clone()),
    )
    .await;
    let requests = f["requests"].as_array().unwrap();
    let req = |i: usize| {
        (
            requests[i]["method"].as_str().unwrap(),
            &requests[i]["params"],
        )
    };
    let (method, params) = req(0);
    let answer = call(&s, method, params).await;
    assert_eq!(answer["result"], f["worker_response"], "{answer}");
    let again = call(&s, method, params).await;
    assert_eq!(again["result"], Value::Null, "no second job: {again}");
    let (method, params) = req(1);
    assert_eq!(call(&s, method, params).await["result"], f["dest_response"]);
    for i in [2, 3] {
        let (method, params) = req(i);
        let answer = call(&s, method, params).await;
        assert_eq!(answer["result"], Value::Null, "{answer}");
    }
    assert_eq!(
        *source.results.lock().unwrap(),
        vec![None, Some("unseal: the sealed file is missing".to_string())]
    );
    // Without an unseal source: no job, and results are refused.
    let plain = serve().await;
    let (method, params) = req(0);
    assert_eq!(call(&plain, method, params).await["result"], Value::Null);
    let (method, params) = req(2);
    let refused = call(&plain, method, params).await;
    // Not 11001: a damocles worker would report the sector aborted.
    assert_eq!(refused["error"]["code"], -32021, "{refused}");

    // Our client against a Go manager's answers.
    use venus_seal_core::unseal::UnsealJobSource;
    let (url, fake) = fake_damocles().await;
    fake.answers.lock().unwrap().insert(
        "Venus.AllocateUnsealSector".into(),
        Answer::Result(f["manager_responses"][0].clone()),
    );
    fake.answers.lock().unwrap().insert(
        "Venus.AcquireUnsealDest".into(),
        Answer::Result(f["dest_response"].clone()),
    );
    fake.answers.lock().unwrap().insert(
        "Venus.AchieveUnsealSector".into(),
        Answer::Result(Value::Null),
    );
    let client = ManagerClient::new(url, None).unwrap();
    let spec = fixture_spec();
    let job = client.allocate_unseal(spec).await.unwrap().unwrap();
    let want = unseal_fixture_job();
    assert_eq!(
        venus_seal_core::unseal::UnsealAssignment {
            dests: want.dests.clone(),
            ..job.clone()
        },
        want
    );
    assert!(job.dests.is_empty(), "Go's null Dest is none");
    let job_piece = job.piece;
    assert_eq!(
        client
            .unseal_destinations(job.sector.id, job_piece)
            .await
            .unwrap(),
        want.dests
    );
    client
        .achieve_unseal(job.sector.id, job_piece, None)
        .await
        .unwrap();
    client
        .achieve_unseal(
            job.sector.id,
            job_piece,
            Some("unseal: the sealed file is missing".into()),
        )
        .await
        .unwrap();
    let sent = fake.requests.lock().unwrap().clone();
    for (i, (method, params)) in sent.iter().enumerate() {
        assert_eq!(method, requests[i]["method"].as_str().unwrap());
        assert_params(method, params, &requests[i]["params"]);
    }
}

/// A rebuild source handing out one job (sector 1000/1, the fixture's
/// ticket and deal) once.
#[derive(Debug, Default)]
struct OneRebuildJob {
    taken: Mutex<bool>,
}

fn rebuild_fixture_job() -> venus_seal_core::rebuild::RebuildAssignment {
    let f = fixture("RebuildJob");
    let r = &f["worker_response"];
    venus_seal_core::rebuild::RebuildAssignment {
        sector: AllocatedSector {
            id: sector_of(&r["Sector"]["ID"]),
            proof_type: SealProof::StackedDrg2KiBV1_1,
        },
        ticket: Ticket {
            ticket: Randomness([1; 32]),
            epoch: 900,
        },
        deals: vec![DealInfo::new(
            7,
            PieceInfo {
                size: PaddedPieceSize(2048),
                cid: r["PiecesV2"][0]["Piece"]["PieceCID"]["/"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap(),
            },
        )],
        comm_r: Some(venus_seal_core::CommR([0xaa; 32])),
        comm_d: Some(CommD([0xdd; 32])),
        upgraded: false,
    }
}

#[async_trait]
impl venus_seal_core::rebuild::RebuildJobSource for OneRebuildJob {
    async fn allocate_rebuild(
        &self,
        spec: AllocateSpec,
    ) -> Result<Option<venus_seal_core::rebuild::RebuildAssignment>, ManagerError> {
        assert_eq!(spec.allowed_miners, vec![ActorId(1000)]);
        let mut taken = self.taken.lock().unwrap();
        if std::mem::replace(&mut *taken, true) {
            return Ok(None);
        }
        Ok(Some(rebuild_fixture_job()))
    }
    async fn rebuilt(&self, _: SectorId, _: String) -> Result<(), ManagerError> {
        unreachable!("a worker ends a rebuild with SubmitPersistedEx and ReportFinalized")
    }
    async fn rebuild_failed(&self, _: SectorId, _: String) -> Result<(), ManagerError> {
        unreachable!("a worker fails a rebuild with ReportAborted")
    }
}

/// A rebuild job in damocles' shapes both ways: our server answers a
/// damocles worker's `AllocateRebuildSector` with the W2 worker's
/// `SectorRebuildInfo` (ticket base64, `PiecesV2`, nulls where it reads
/// `Option`s); our client reads a Go manager's jobs (CC, a snapped-up
/// sector's with the Go-only fields, an older manager's v1 pledge piece)
/// and ends a job with the worker's own calls and params.
#[tokio::test]
async fn rebuild_jobs_travel_in_damocles_shapes_both_ways() {
    let f = fixture("RebuildJob");
    let requests = f["requests"].as_array().unwrap();
    let s = serve_server(
        venus_seal_rpc::manager::ManagerServer::new(Arc::new(FakeManager::default()))
            .rebuild(Arc::new(OneRebuildJob::default())),
    )
    .await;
    let (method, params) = (
        requests[0]["method"].as_str().unwrap(),
        &requests[0]["params"],
    );
    let answer = call(&s, method, params).await;
    let result = &answer["result"];
    assert_shape(method, result, &f["worker_response"]);
    let expected = f["worker_response"].as_object().unwrap();
    for key in [
        "Sector",
        "Ticket",
        "Pieces",
        "PiecesV2",
        "IsSnapUp",
        "UpgradePublic",
    ] {
        assert_eq!(result[key], expected[key], "{key}: {result}");
    }
    assert_eq!(result["CommR"], json!([0xaa_u8; 32].to_vec()), "{result}");
    assert_eq!(
        call(&s, method, params).await["result"],
        Value::Null,
        "one job"
    );

    // Our client against a Go manager.
    use venus_seal_core::rebuild::RebuildJobSource;
    let (url, fake) = fake_damocles().await;
    let client = ManagerClient::new(url, None).unwrap();
    let spec = fixture_spec();
    let responses = f["manager_responses"].as_array().unwrap();
    let mut jobs = Vec::new();
    for r in responses {
        fake.answers
            .lock()
            .unwrap()
            .insert(method.into(), Answer::Result(r.clone()));
        jobs.push(
            client
                .allocate_rebuild(spec.clone())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let want = rebuild_fixture_job();
    // CC: no deals, nothing to check the replica against.
    assert_eq!((jobs[0].sector, jobs[0].ticket), (want.sector, want.ticket));
    assert!(jobs[0].deals.is_empty() && !jobs[0].upgraded && jobs[0].comm_r.is_none());
    // A snapped-up sector (UpgradePublic set): its deal read from the
    // Go manager's full DealInfoV2.
    assert!(jobs[1].upgraded);
    assert_eq!(jobs[1].deals, want.deals);
    // An older manager's pledge piece stays in place (the rebuilder
    // writes it as zeros).
    assert_eq!(jobs[2].deals.len(), 1, "{:?}", jobs[2].deals);
    assert_eq!(jobs[2].deals[0].id, 0);
    // A Go manager's pledge piece with `DealInfo: null` reads too.
    assert_eq!(jobs[3].deals.len(), 1);
    assert_eq!(jobs[3].deals[0].id, 0);

    fake.answers.lock().unwrap().insert(
        "Venus.SubmitPersistedEx".into(),
        Answer::Result(json!(true)),
    );
    for m in ["Venus.ReportFinalized", "Venus.ReportAborted"] {
        fake.answers
            .lock()
            .unwrap()
            .insert(m.into(), Answer::Result(Value::Null));
    }
    client.rebuilt(sector(), "store-2".into()).await.unwrap();
    client
        .rebuild_failed(sector(), "pc2: the rebuilt CommR differs".into())
        .await
        .unwrap();
    let sent = fake.requests.lock().unwrap().clone();
    // Four allocations, then the ending calls.
    let expected: Vec<&Value> = [0, 0, 0, 0, 1, 2, 3]
        .iter()
        .map(|i| &requests[*i])
        .collect();
    assert_eq!(sent.len(), expected.len());
    for (i, (method, params)) in sent.iter().enumerate() {
        assert_eq!(method, expected[i]["method"].as_str().unwrap());
        assert_params(method, params, &expected[i]["params"]);
        if i >= 4 {
            assert_eq!(params, &expected[i]["params"], "{method}");
        }
    }
    // A manager refusing the files: the job is not reported done.
    fake.answers.lock().unwrap().insert(
        "Venus.SubmitPersistedEx".into(),
        Answer::Result(json!(false)),
    );
    let err = client
        .rebuilt(sector(), "store-2".into())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("refused"), "{err}");
}

/// A snap-up source handing out the job of `SnapUpJob.json` once,
/// answering submissions with `verdicts` in order (then `Accepted`), and
/// recording what it was given.
#[derive(Debug, Default)]
struct OneSnapUpJob {
    taken: Mutex<bool>,
    verdicts: Mutex<Vec<venus_seal_core::snapup::SnapUpVerdict>>,
    submitted: Mutex<Vec<venus_seal_core::snapup::SnapUpProof>>,
}

fn snap_up_fixture_job() -> venus_seal_core::snapup::SnapUpAssignment {
    let f = fixture("SnapUpJob");
    let r = &f["worker_response"];
    venus_seal_core::snapup::SnapUpAssignment {
        sector: AllocatedSector {
            id: sector_of(&r["Sector"]["ID"]),
            proof_type: SealProof::StackedDrg2KiBV1_1,
        },
        deals: vec![DealInfo::new(
            7,
            PieceInfo {
                size: PaddedPieceSize(2048),
                cid: r["Pieces"][0]["Piece"]["PieceCID"]["/"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap(),
            },
        )],
        comm_r_old: CommR({
            let mut c = [17u8; 32];
            c[31] = 1;
            c
        }),
        instance: "persist-store-1".into(),
    }
}

#[async_trait]
impl venus_seal_core::snapup::SnapUpJobSource for OneSnapUpJob {
    async fn allocate_snap_up(
        &self,
        spec: AllocateSpec,
        deals: AcquireDealsSpec,
    ) -> Result<Option<venus_seal_core::snapup::SnapUpAssignment>, ManagerError> {
        assert_eq!(spec.allowed_miners, vec![ActorId(1000)]);
        assert_eq!(deals, AcquireDealsSpec::default());
        let mut taken = self.taken.lock().unwrap();
        if std::mem::replace(&mut *taken, true) {
            return Ok(None);
        }
        Ok(Some(snap_up_fixture_job()))
    }
    async fn submit_snap_up(
        &self,
        _: SectorId,
        proof: venus_seal_core::snapup::SnapUpProof,
    ) -> Result<venus_seal_core::snapup::SnapUpVerdict, ManagerError> {
        self.submitted.lock().unwrap().push(proof);
        let mut v = self.verdicts.lock().unwrap();
        Ok(if v.is_empty() {
            venus_seal_core::snapup::SnapUpVerdict::Accepted
        } else {
            v.remove(0)
        })
    }
    async fn snap_up_failed(&self, _: SectorId, _: String) -> Result<(), ManagerError> {
        unreachable!("a worker fails a snap-up with ReportAborted")
    }
}

/// A snap-up job in damocles' shapes both ways: our server answers a
/// damocles worker's `AllocateSanpUpSector` with the W2 worker's
/// `AllocatedSnapUpSector` and its `SubmitSnapUpProof` with the Go
/// manager's `SubmitSnapUpProofResp` numbers; our client reads a Go
/// manager's jobs (G2 with the Go-only fields, G1 with v1 `Deals`) and
/// its verdicts, and sends the worker's own params.
#[tokio::test]
async fn snap_up_jobs_travel_in_damocles_shapes_both_ways() {
    use venus_seal_core::snapup::{SnapUpJobSource, SnapUpProof, SnapUpVerdict};
    let f = fixture("SnapUpJob");
    let requests = f["requests"].as_array().unwrap();
    let submits = f["submit_responses"].as_array().unwrap();
    let source = Arc::new(OneSnapUpJob::default());
    *source.verdicts.lock().unwrap() = vec![
        SnapUpVerdict::Accepted,
        SnapUpVerdict::FilesMissed("not all files persisted".into()),
        SnapUpVerdict::Rejected("pieces count not match: 1 != 0".into()),
    ];
    let s = serve_server(
        venus_seal_rpc::manager::ManagerServer::new(Arc::new(FakeManager::default()))
            .snap_up(source.clone()),
    )
    .await;
    let (method, params) = (
        requests[0]["method"].as_str().unwrap(),
        &requests[0]["params"],
    );
    let result = call(&s, method, params).await["result"].clone();
    assert_shape(method, &result, &f["worker_response"]);
    assert_eq!(result, f["worker_response"], "{result}");
    assert_eq!(
        call(&s, method, params).await["result"],
        Value::Null,
        "one job"
    );
    let (submit, submit_params) = (
        requests[1]["method"].as_str().unwrap(),
        &requests[1]["params"],
    );
    for want in submits {
        let answer = call(&s, submit, submit_params).await;
        assert_eq!(&answer["result"], want, "{answer}");
    }
    let got = source.submitted.lock().unwrap()[0].clone();
    let info = &submit_params[1];
    assert_eq!(
        got.comm_r_new.0.to_vec(),
        serde_json::from_value::<Vec<u8>>(info["CommR"].clone()).unwrap()
    );
    assert_eq!(
        got.comm_d_new.0.to_vec(),
        serde_json::from_value::<Vec<u8>>(info["CommD"].clone()).unwrap()
    );
    assert_eq!(got.instance, "persist-store-2");
    assert_eq!(got.proof.proof, b64(&info["Proof"]));
    assert_eq!(
        got.pieces,
        snap_up_fixture_job()
            .deals
            .iter()
            .map(|d| d.piece.cid)
            .collect::<Vec<_>>()
    );

    // Our client against a Go manager.
    let (url, fake) = fake_damocles().await;
    let client = ManagerClient::new(url, None).unwrap();
    let spec = fixture_spec();
    let want = snap_up_fixture_job();
    for r in f["manager_responses"].as_array().unwrap() {
        fake.answers
            .lock()
            .unwrap()
            .insert(method.into(), Answer::Result(r.clone()));
        let job = client
            .allocate_snap_up(spec.clone(), AcquireDealsSpec::default())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(job, want, "{r}");
    }
    for m in ["Venus.ReportFinalized", "Venus.ReportAborted"] {
        fake.answers
            .lock()
            .unwrap()
            .insert(m.into(), Answer::Result(Value::Null));
    }
    let proof = SnapUpProof::from(
        serde_json::from_value::<venus_seal_rpc::manager::wire::SnapUpOnChainInfo>(info.clone())
            .unwrap(),
    );
    let verdicts = [
        SnapUpVerdict::Accepted,
        SnapUpVerdict::FilesMissed("not all files persisted".into()),
        SnapUpVerdict::Rejected("pieces count not match: 1 != 0".into()),
    ];
    for (answer, verdict) in submits.iter().zip(verdicts) {
        fake.answers
            .lock()
            .unwrap()
            .insert(submit.into(), Answer::Result(answer.clone()));
        assert_eq!(
            client
                .submit_snap_up(sector(), proof.clone())
                .await
                .unwrap(),
            verdict
        );
    }
    client
        .snap_up_failed(
            sector(),
            "snap_encode: the CC replica is not reachable".into(),
        )
        .await
        .unwrap();
    let sent = fake.requests.lock().unwrap().clone();
    // Two allocations; Accepted is followed by ReportFinalized; then the
    // two other verdicts and the abort.
    let expected = [0, 0, 1, 2, 1, 1, 3];
    assert_eq!(sent.len(), expected.len(), "{sent:?}");
    for ((method, params), i) in sent.iter().zip(expected) {
        assert_eq!(method, requests[i]["method"].as_str().unwrap());
        assert_params(method, params, &requests[i]["params"]);
        if i > 0 {
            assert_eq!(params, &requests[i]["params"], "{method}");
        }
    }
}

/// The partition of `WdPoStJob.json`'s Go job: sector 1 (CC) and sector 2
/// (snapped up) in store `nas-1`, the seed before its last byte is
/// cleared.
fn wdpost_fixture_task() -> venus_seal_core::stage::WindowPoSt {
    use venus_seal_core::proving::{PoStSector, ProvingSector, SectorFiles};
    let sector = |n: u64, comm_r: u8, upgrade: bool| {
        let id = SectorId::new(ActorId(1000), SectorNumber(n));
        let (sealed, cache) = if upgrade {
            ("update", "update-cache")
        } else {
            ("sealed", "cache")
        };
        ProvingSector {
            sector: PoStSector {
                number: SectorNumber(n),
                seal_proof: SealProof::StackedDrg2KiBV1_1,
                comm_r: CommR([comm_r; 32]),
                sector_key: upgrade.then_some(CommR([0xcc; 32])),
            },
            files: SectorFiles {
                sealed: PathBuf::from("/mnt/nas-1")
                    .join(sealed)
                    .join(id.to_string()),
                cache: PathBuf::from("/mnt/nas-1").join(cache).join(id.to_string()),
            },
        }
    };
    let mut seed = [0u8; 32];
    (0..32).for_each(|i| seed[i] = i as u8 + 1);
    seed[31] = 0xe0; // cleared to 0x20 on the wire
    venus_seal_core::stage::WindowPoSt {
        miner: ActorId(1000),
        deadline: 3,
        partition: 0,
        randomness: Randomness(seed),
        sectors: vec![sector(1, 0x11, false), sector(2, 0x22, true)],
    }
}

/// damocles' wdpost plan both ways. Our server: the worker's
/// `WdPoStAllocateJobs` gets the queued partition in the Go manager's
/// shape (every field equal to the fixture's Go job but the id), its
/// heartbeat answers `null`, and each of its `WdPoStFinishJob` forms
/// ends the job as damocles' manager reads it (faults without proofs,
/// proofs, a failure handed out again); unknown jobs are refused, and a
/// manager with no jobs answers `[]` and -32601 as damocles' worker
/// expects. Our client: reads the Go manager's job and `[]`, and sends
/// exactly the worker's params.
#[tokio::test]
async fn wdpost_jobs_travel_in_damocles_shapes_both_ways() {
    use venus_seal_core::post_jobs::{
        PoStJobOutput, PoStJobSector, PoStJobSettings, PoStJobSpec, WindowPoStJob,
        WindowPoStJobSource, WindowPoStJobs,
    };
    use venus_seal_core::Executor;
    let f = fixture("WdPoStJob");
    let requests = f["requests"].as_array().unwrap();
    let go_job = &f["manager_responses"][0][0];
    let method = |i: usize| requests[i]["method"].as_str().unwrap().to_string();
    let jobs = Arc::new(WindowPoStJobs::new(
        vec![("nas-1".into(), PathBuf::from("/mnt/nas-1"))],
        PoStJobSettings::default(),
    ));
    let s = serve_server(
        venus_seal_rpc::manager::ManagerServer::new(Arc::new(FakeManager::default()))
            .window_post(jobs.clone()),
    )
    .await;
    let allocate = &requests[0]["params"];
    assert_eq!(call(&s, &method(0), allocate).await["result"], json!([]));

    // One partition per finish form: the job handed out, kept alive, ended.
    let mut outputs = Vec::new();
    for finish in [4, 2, 3] {
        let waiting = tokio::spawn({
            let jobs = jobs.clone();
            async move { jobs.execute(wdpost_fixture_task()).await }
        });
        let mut result = Value::Null;
        for _ in 0..100 {
            result = call(&s, &method(0), allocate).await["result"].clone();
            if result.as_array().is_some_and(|a| !a.is_empty()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_shape("WdPoStAllocateJobs", &result, &f["manager_responses"][0]);
        let mut ours = result[0].clone();
        let id = ours["Id"].take();
        ours["Id"] = go_job["Id"].clone();
        assert_eq!(&ours, go_job, "all but the id as the Go manager writes it");
        let with_id = |i: usize| {
            let mut p = requests[i]["params"].clone();
            match &mut p[0] {
                Value::Array(ids) => ids[0] = id.clone(),
                first => *first = id.clone(),
            }
            p
        };
        let beat = call(&s, &method(1), &with_id(1)).await;
        assert_eq!(beat["result"], f["heartbeat_response"], "{beat}");
        let done = call(&s, &method(finish), &with_id(finish)).await;
        assert_eq!(done["result"], f["finish_response"], "{done}");
        if finish == 3 {
            // A failure hands the job out again, naming why.
            let brief = &jobs.jobs()[0];
            assert_eq!(brief.tries, 1);
            assert!(brief.errors[0].contains("vanilla proofs"), "{brief:?}");
            waiting.abort();
        } else {
            outputs.push(waiting.await.unwrap().unwrap());
        }
        // Over: its heartbeat and result are refused as "not running".
        let late = call(&s, &method(1), &with_id(1)).await;
        if finish != 3 {
            assert_eq!(late["error"]["code"], 11001, "{late}");
        }
    }
    assert!(outputs[0].proofs.is_empty() && outputs[0].proven.is_empty());
    assert_eq!(outputs[0].skipped[0].number, SectorNumber(2));
    assert_eq!(outputs[1].proven, vec![SectorNumber(1), SectorNumber(2)]);
    assert_eq!(outputs[1].proofs[0].post_proof, 10);
    assert_eq!(
        outputs[1].proofs[0].proof,
        b64(&requests[2]["params"][1]["proofs"][0])
    );
    let bad = call(&s, &method(0), &json!([7])).await;
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
    // A manager without WindowPoSt jobs: none, and -32601 as damocles'
    // worker reads a manager without its worker-prover module.
    let none = serve().await;
    assert_eq!(call(&none, &method(0), allocate).await["result"], json!([]));
    for i in [1, 2] {
        let r = call(&none, &method(i), &requests[i]["params"]).await;
        assert_eq!(r["error"]["code"], -32601, "{r}");
    }

    // Our client against a Go manager.
    let (url, fake) = fake_damocles().await;
    let client = ManagerClient::new(url, None).unwrap();
    let spec = PoStJobSpec {
        miners: Some(vec![ActorId(1000)]),
        sector_sizes: Some(vec![SealProof::StackedDrg2KiBV1_1.sector_size()]),
    };
    let worker = requests[0]["params"][2].as_str().unwrap();
    let job_id = go_job["Id"].as_str().unwrap().to_string();
    let mut seed = [0u8; 32];
    (0..32).for_each(|i| seed[i] = i as u8 + 1);
    seed[31] = 0x20;
    let want = WindowPoStJob {
        id: job_id.clone(),
        miner: ActorId(1000),
        seal_proof: SealProof::StackedDrg2KiBV1_1,
        randomness: Randomness(seed),
        sectors: vec![
            PoStJobSector {
                number: SectorNumber(1),
                comm_r: CommR([0x11; 32]),
                upgrade: false,
                sealed_store: "nas-1".into(),
                cache_store: "nas-1".into(),
            },
            PoStJobSector {
                number: SectorNumber(2),
                comm_r: CommR([0x22; 32]),
                upgrade: true,
                sealed_store: "nas-1".into(),
                cache_store: "nas-1".into(),
            },
        ],
    };
    for (answer, expected) in [
        (&f["manager_responses"][0], vec![want]),
        (&f["manager_responses"][1], vec![]),
        (&Value::Null, vec![]),
    ] {
        fake.answers
            .lock()
            .unwrap()
            .insert(method(0), Answer::Result(answer.clone()));
        let got = client.allocate_post_jobs(&spec, 1, worker).await.unwrap();
        assert_eq!(got, expected, "{answer}");
    }
    fake.answers
        .lock()
        .unwrap()
        .insert(method(1), Answer::Result(f["heartbeat_response"].clone()));
    fake.answers
        .lock()
        .unwrap()
        .insert(method(2), Answer::Result(f["finish_response"].clone()));
    client
        .heartbeat_post_jobs(std::slice::from_ref(&job_id), worker)
        .await
        .unwrap();
    let proof = b64(&requests[2]["params"][1]["proofs"][0]);
    for result in [
        Ok(PoStJobOutput {
            proofs: vec![proof],
            faults: Vec::new(),
        }),
        Err("window_post processor: failed to generate vanilla proofs".to_string()),
        Ok(PoStJobOutput {
            proofs: Vec::new(),
            faults: vec![SectorNumber(2)],
        }),
    ] {
        client.finish_post_job(&job_id, result).await.unwrap();
    }
    let sent = fake.requests.lock().unwrap().clone();
    let expected = [0, 0, 0, 1, 2, 3, 4];
    assert_eq!(sent.len(), expected.len(), "{sent:?}");
    for ((m, params), i) in sent.iter().zip(expected) {
        assert_eq!(m, &method(i));
        assert_eq!(params, &requests[i]["params"], "{m}");
    }
}

/// `AllocateSectorsBatch` both ways: our server takes the worker's
/// `(spec, niporep, count)` and the older `(spec, count)`; our client
/// reads the Go manager's sectors and its `null` for none, and sends the
/// worker's params.
#[tokio::test]
async fn sector_batches_travel_in_damocles_shapes_both_ways() {
    let f = fixture("AllocateSectorsBatch");
    let method = f["method"].as_str().unwrap();
    let s = serve().await;
    let older = &f["requests"][1]["params"];
    let answer = call(&s, method, older).await;
    let got = answer["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"));
    assert_eq!(got.len(), 2, "{answer}");
    assert_shape(method, &answer["result"], &f["worker_response"]);

    let (url, fake) = fake_damocles().await;
    let client = ManagerClient::new(url, None).unwrap();
    let spec = fixture_spec();
    let want = [
        vec![AllocatedSector {
            id: sector(),
            proof_type: SealProof::StackedDrg2KiBV1_1,
        }],
        vec![],
    ];
    for (r, want) in f["manager_responses"].as_array().unwrap().iter().zip(want) {
        fake.answers
            .lock()
            .unwrap()
            .insert(method.into(), Answer::Result(r.clone()));
        let got = client
            .allocate_sectors_batch(&spec, false, 3)
            .await
            .unwrap();
        assert_eq!(got, want, "{r}");
    }
    for (m, params) in fake.requests.lock().unwrap().iter() {
        assert_eq!(m, method);
        assert_eq!(params, &f["requests"][0]["params"]);
    }
}
