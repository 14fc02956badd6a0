//! Our worker against a damocles-manager: a fake one that answers only
//! with damocles-manager's own Go responses, the `manager_responses` of
//! the golden fixtures in `tests/fixtures/damocles/` (built from
//! `damocles-manager/core/types.go` and `core/api.go`; the README there
//! names the commits). It serves `/rpc/v0` and takes no token, as a
//! damocles-manager does.
//!
//! * A whole CC sector through the worker's real [`ManagerClient`] and
//!   sealer (fake stages), the worker process killed after `Persisted` is
//!   saved and started again (new store handle, new client, new sealer):
//!   `WaitSeed` still carries the proof type, from the sector's record.
//! * The worker's ping loop sends `Venus.WorkerPing` in damocles' shape.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use serde_json::{json, Value};
use venus_seal::rpc::ManagerClient;
use venus_seal::worker::ping;
use venus_seal_core::engine::limits::{Limits, StageLimit};
use venus_seal_core::manager::AllocateSpec;
use venus_seal_core::testing::{fake_stage_executors, CrashPoint, CrashSwitch, CrashingStore};
use venus_seal_core::{
    Engine, Location, MemoryPieceStore, RetryPolicy, SealProof, Sealer, SealerConfig, SectorRecord,
    SectorState, SectorStore, SqliteSectorStore,
};

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/damocles")
        .join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// damocles-manager's answer `index` to `name`, from its fixture.
fn go_answer(name: &str, index: usize) -> Value {
    fixture(name)["manager_responses"][index].clone()
}

/// One request as the fake heard it.
#[derive(Clone, Debug)]
struct Heard {
    path: String,
    authorization: Option<String>,
    method: String,
    params: Value,
}

/// A damocles-manager that answers each method with its queued fixture
/// answers in turn (the last one again once the queue is down to it).
#[derive(Clone, Default)]
struct FakeDamoclesManager {
    answers: Arc<Mutex<HashMap<String, VecDeque<Value>>>>,
    heard: Arc<Mutex<Vec<Heard>>>,
}

impl FakeDamoclesManager {
    fn answer(&self, method: &str, answers: Vec<Value>) {
        self.answers
            .lock()
            .unwrap()
            .insert(format!("Venus.{method}"), answers.into());
    }

    fn heard(&self, method: &str) -> Vec<Heard> {
        let method = format!("Venus.{method}");
        let heard = self.heard.lock().unwrap();
        heard
            .iter()
            .filter(|h| h.method == method)
            .cloned()
            .collect()
    }

    async fn serve(self) -> String {
        let app = axum::Router::new()
            .fallback(axum::routing::post(handle))
            .with_state(self);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/rpc/v0")
    }
}

/// go-jsonrpc's envelope around the fixture answer (or its -32601).
async fn handle(
    State(fake): State<FakeDamoclesManager>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> ([(axum::http::header::HeaderName, &'static str); 1], String) {
    let request: Value = serde_json::from_str(&body).unwrap();
    let method = request["method"].as_str().unwrap().to_string();
    fake.heard.lock().unwrap().push(Heard {
        path: uri.path().to_string(),
        authorization: headers
            .get(axum::http::header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap().to_string()),
        method: method.clone(),
        params: request["params"].clone(),
    });
    let answer = {
        let mut answers = fake.answers.lock().unwrap();
        answers.get_mut(&method).map(|queue| {
            if queue.len() > 1 {
                queue.pop_front().unwrap()
            } else {
                queue[0].clone()
            }
        })
    };
    let id = request["id"].clone();
    let response = match answer {
        Some(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        None => json!({"jsonrpc": "2.0", "id": id,
            "error": {"code": -32601, "message": format!("method '{method}' not found")}}),
    };
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        response.to_string(),
    )
}

/// Every answer a CC sector needs, damocles-manager's own.
fn cc_sector_answers(fake: &FakeDamoclesManager) {
    fake.answer("AllocateSector", vec![go_answer("AllocateSector", 0)]);
    // `null`: no deals, a CC sector.
    fake.answer("AcquireDeals", vec![go_answer("AcquireDeals", 1)]);
    fake.answer("AssignTicket", vec![go_answer("AssignTicket", 0)]);
    fake.answer("SubmitPreCommit", vec![go_answer("SubmitPreCommit", 0)]);
    // Packed (2), then landed (3, `PollProofState`'s answer: the same
    // `PollStateResp`).
    fake.answer(
        "PollPreCommitState",
        vec![
            go_answer("PollPreCommitState", 0),
            go_answer("PollProofState", 0),
        ],
    );
    fake.answer("SubmitPersistedEx", vec![go_answer("SubmitPersistedEx", 0)]);
    // Not yet (`ShouldWait`, `Delay` 30 s, `Seed: null`), then the seed.
    fake.answer(
        "WaitSeed",
        vec![go_answer("WaitSeed", 1), go_answer("WaitSeed", 0)],
    );
    fake.answer("SubmitProof", vec![go_answer("SubmitProof", 0)]);
    fake.answer("PollProofState", vec![go_answer("PollProofState", 0)]);
    fake.answer("ReportState", vec![go_answer("ReportState", 0)]);
    fake.answer("ReportFinalized", vec![go_answer("ReportFinalized", 0)]);
    fake.answer("WorkerPing", vec![go_answer("WorkerPing", 0)]);
}

fn sealer(url: &str, store: Arc<dyn SectorStore>) -> Sealer {
    // No token: a damocles-manager's /rpc/v0 has no auth.
    let client = ManagerClient::new(url, None).unwrap();
    let (executors, _) = fake_stage_executors();
    Sealer::new(
        Arc::new(client),
        Arc::new(MemoryPieceStore::default()),
        executors,
        store,
        SealerConfig {
            instance: "store-0".into(),
            allocate: AllocateSpec {
                allowed_miners: vec![],
                allowed_proof_types: vec![SealProof::StackedDrg2KiBV1_1],
                ..AllocateSpec::default()
            },
            retry: RetryPolicy {
                recover_interval: Duration::from_millis(50),
                max_retries: 3,
            },
            poll_interval: Duration::from_millis(50),
            ..SealerConfig::default()
        },
    )
}

#[tokio::test]
async fn our_worker_seals_a_cc_sector_with_a_damocles_manager_across_a_restart() {
    let fake = FakeDamoclesManager::default();
    cc_sector_answers(&fake);
    let url = fake.clone().serve().await;
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("state.db");
    let dir = tmp.path().join("job-1");
    std::fs::create_dir_all(&dir).unwrap();

    // First life: killed right after `Persisted` is saved, before WaitSeed.
    let switch = CrashSwitch::armed(CrashPoint::AfterSave(SectorState::Persisted));
    let store = CrashingStore::new(SqliteSectorStore::open(&db).await.unwrap(), switch.clone());
    let first = sealer(&url, Arc::new(store));
    let run_dir = dir.clone();
    let life = tokio::spawn(async move {
        let mut rec = SectorRecord::new(1);
        first.run(&mut rec, &run_dir, &mut |_, _| {}).await
    });
    let died = tokio::time::timeout(Duration::from_secs(60), switch.fired())
        .await
        .expect("the first life reaches Persisted");
    assert_eq!(died, CrashPoint::AfterSave(SectorState::Persisted));
    life.abort();
    let _ = life.await;
    assert!(
        fake.heard("WaitSeed").is_empty(),
        "no seed asked before the restart"
    );
    assert_eq!(fake.heard("SubmitPreCommit").len(), 1);

    // Second life: a new process on the same database.
    let store: Arc<dyn SectorStore> = Arc::new(SqliteSectorStore::open(&db).await.unwrap());
    let mut rec = store.load(1).await.unwrap().expect("the record survived");
    assert_eq!(rec.state, SectorState::Persisted);
    let second = sealer(&url, store.clone());
    tokio::time::timeout(
        Duration::from_secs(60),
        second.run(&mut rec, &dir, &mut |_, _| {}),
    )
    .await
    .expect("the second life finishes")
    .unwrap_or_else(|e| panic!("sealing failed: {e}"));
    assert_eq!(rec.state, SectorState::Finished);

    // `WaitSeed(SectorID, RegisteredSealProof)` every time, as damocles'
    // worker sends it (the fixture's request), after the restart too.
    let wait_seed = fake.heard("WaitSeed");
    assert_eq!(wait_seed.len(), 2, "not yet, then the seed: {wait_seed:?}");
    let expected = &fixture("WaitSeed")["requests"][0]["params"];
    for h in &wait_seed {
        assert_eq!(&h.params, expected);
    }
    // The proof that went out is over the seed damocles' answer holds.
    assert_eq!(fake.heard("SubmitProof").len(), 1);
    assert_eq!(fake.heard("ReportFinalized").len(), 1);
    // Every call went to /rpc/v0 without a token.
    let heard = fake.heard.lock().unwrap().clone();
    assert!(heard.len() >= 10, "{heard:?}");
    for h in &heard {
        assert_eq!(h.path, "/rpc/v0", "{h:?}");
        assert_eq!(h.authorization, None, "{h:?}");
    }
}

#[tokio::test]
async fn the_ping_loop_sends_damocles_worker_info() {
    let fake = FakeDamoclesManager::default();
    cc_sector_answers(&fake);
    let url = fake.clone().serve().await;
    let tmp = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteSectorStore::open(tmp.path().join("state.db"))
            .await
            .unwrap(),
    );
    // One sector mid-way (waiting for its seed), on a worker of 3 slots.
    let mut rec = SectorRecord::new(1);
    rec.state = SectorState::Persisted;
    store.save(&rec).await.unwrap();
    let engine = Engine::new(
        sealer(&url, store.clone()),
        store,
        vec![Location {
            path: tmp.path().join("sealing"),
            slots: 3,
        }],
    );
    let client = Arc::new(ManagerClient::new(&url, None).unwrap());
    let base = venus_seal::rpc::WorkerInfo {
        name: "worker-1".into(),
        dest: "10.0.0.2:17890".into(),
        version: "0.1.0".into(),
        ..Default::default()
    };
    // The worker's limits: its stages' loads ride along in `Stages`.
    let limits = Limits::new(
        BTreeMap::from([(
            "pc1".to_string(),
            StageLimit {
                concurrent: Some(2),
                ..StageLimit::default()
            },
        )]),
        BTreeMap::new(),
    );
    let pinger = ping::spawn(
        client,
        engine.handle(),
        base,
        3,
        Some(limits),
        Duration::from_millis(50),
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    pinger.abort();
    let pings = fake.heard("WorkerPing");
    assert!(pings.len() >= 2, "{pings:?}");
    // damocles' `WorkerInfo` (the fixture's request): the same keys, the
    // same JSON types, one param; plus our `Stages`, which damocles-manager
    // skips (go-jsonrpc decodes params with encoding/json, which ignores
    // unknown keys).
    let expected = &fixture("WorkerPing")["requests"][0]["params"];
    for p in &pings {
        let got = p.params.as_array().unwrap();
        assert_eq!(got.len(), 1);
        let mut info = got[0].clone();
        let stages = info.as_object_mut().unwrap().remove("Stages");
        assert_eq!(
            stages,
            Some(json!([{"Stage": "pc1", "Running": 0, "Waiting": 0, "Limit": 2}]))
        );
        assert_same_shape(&info, &expected[0]);
    }
    assert_eq!(
        pings[0].params[0]["Summary"],
        json!({"Threads": 3, "Empty": 2, "Paused": 0, "Running": 0, "Waiting": 1, "Errors": 0})
    );
    assert_eq!(ping::PING_INTERVAL, Duration::from_secs(30));
}

/// Same keys at every level and the same JSON type for every value.
fn assert_same_shape(got: &Value, want: &Value) {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            let mut gk: Vec<_> = g.keys().collect();
            let mut wk: Vec<_> = w.keys().collect();
            gk.sort();
            wk.sort();
            assert_eq!(gk, wk, "{got} vs {want}");
            for (k, v) in w {
                assert_same_shape(&g[k], v);
            }
        }
        (Value::Number(_), Value::Number(_)) | (Value::String(_), Value::String(_)) => {}
        _ => panic!("{got} is not shaped like {want}"),
    }
}
