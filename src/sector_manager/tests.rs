//! The builder end to end, without proofs: a manager on the embedded
//! devnet with the chain crate's fake verifier, its files where its config
//! is, reached by the operator functions.

use std::path::Path;
use std::sync::Arc;

use venus_seal_chain::testing::FakeProofVerifier;
use venus_seal_core::manager::{AllocateSpec, DealInfo};
use venus_seal_core::{ActorId, PaddedPieceSize, PieceInfo, SectorId, SectorManager, SectorNumber};
use venus_seal_rpc::Permission;

use super::{admin_client, worker_token, ManagerService, SectorManagerConfig};
use crate::runtime::ApiArgs;

const CONFIG: &str = r#"
[rpc]
listen = "127.0.0.1:0"
secret_file = "secret/rpc.secret"

[chain]
kind = "embedded-devnet"
block_time = "1s"
state_dir = "state"

[[miners]]
id = "f01000"
proof = "StackedDrg2KiBV1_1"
"#;

#[tokio::test]
async fn a_built_manager_keeps_its_files_beside_its_config_and_answers_operators() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("etc");
    std::fs::create_dir(&folder).unwrap();
    let path = folder.join("manager.toml");
    std::fs::write(&path, CONFIG).unwrap();

    let config = SectorManagerConfig::load(&path).unwrap();
    let manager = ManagerService::new(config)
        .with_verifier(Arc::new(FakeProofVerifier))
        .build()
        .await
        .unwrap();
    for made in ["secret/rpc.secret", "state/manager.db"] {
        assert!(
            folder.join(made).exists(),
            "{made} is not in the config's folder"
        );
    }
    assert!(!Path::new("secret").exists() && !Path::new("state").exists());
    assert!(manager.chain().devnet.is_some());

    // The operators' calls, with the admin token `--config` makes.
    let url = format!("http://{}", manager.addr());
    let admin = admin_client(
        &ApiArgs::new(Some(url.clone()), None, Some(path.clone())),
        "test",
    )
    .unwrap();
    assert_eq!(admin.status().await.unwrap().queued, 0);
    let piece = PieceInfo {
        size: PaddedPieceSize(512),
        cid: "baga6ea4seaqpy7usqklokfx2vxuynmupslkeutzexe2uqurdg5vhtebhxqmpqmy"
            .parse()
            .unwrap(),
    };
    let err = admin
        .add_deal(Some(ActorId(1001)), DealInfo::new(7, piece))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not served"), "{err}");
    admin
        .add_deal(Some(ActorId(1000)), DealInfo::new(7, piece))
        .await
        .unwrap();
    assert_eq!(admin.status().await.unwrap().queued, 1);
    let err = admin
        .abort_sector(SectorId::new(ActorId(1000), SectorNumber(99)), "test")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("99"), "{err}");

    // A worker token from the same secret is accepted by the worker API,
    // and the sector it allocates is the one an abort then names.
    let config = SectorManagerConfig::load(&path).unwrap();
    let token = worker_token(&config, Permission::Write, "w").unwrap();
    let worker = venus_seal_rpc::ManagerClient::new(url.clone(), Some(&token)).unwrap();
    let sector = worker
        .allocate_sector(AllocateSpec::default())
        .await
        .unwrap()
        .expect("a sector number");
    assert_eq!(sector.id.miner, ActorId(1000));
    admin.abort_sector(sector.id, "test").await.unwrap();

    // `deals add --allocation --client`: a direct (DDO) deal whose FIL+
    // allocation the sector's prove-commit claims; the next sector takes
    // it with the allocation on its record.
    #[derive(clap::Parser)]
    struct Cli {
        #[command(subcommand)]
        deals: super::operator_cli::DealsCommand,
    }
    let ddo_piece = venus_seal_core::CommD([0x42; 32]).to_string();
    let ddo_piece = ddo_piece.as_str();
    let base = [
        "deals",
        "add",
        "--piece-cid",
        ddo_piece,
        "--size",
        "1024",
        "--miner",
        "f01000",
        "--allocation",
        "42",
    ];
    let full = [
        &base[..],
        &["--client", "f01001", "--api", &url, "--config"],
        &[path.to_str().unwrap()],
    ]
    .concat();
    let cli = <Cli as clap::Parser>::try_parse_from(full).unwrap();
    cli.deals.run("test").await.unwrap();
    let half = <Cli as clap::Parser>::try_parse_from(base);
    assert!(half.is_err(), "--allocation without --client is refused");
    let next = worker
        .allocate_sector(AllocateSpec::default())
        .await
        .unwrap()
        .expect("a sector number");
    worker
        .acquire_deals(next.id, Default::default())
        .await
        .unwrap();
    let status = manager
        .manager()
        .sector_status(next.id)
        .await
        .unwrap()
        .unwrap();
    // Deal 7 (queued above) and the direct deal.
    let deals = status.deals.unwrap();
    assert_eq!(deals.len(), 2, "{deals:?}");
    assert_eq!((deals[0].id, deals[0].allocation), (7, None));
    assert_eq!(deals[1].id, 0);
    assert_eq!(
        deals[1].allocation,
        Some(venus_seal_core::manager::VerifiedAllocationKey {
            client: ActorId(1001),
            id: 42
        })
    );

    // Unseal jobs through the admin API: a sector not persisted yet is
    // refused naming why; there are no jobs.
    let err = admin
        .request_unseal(next.id, ddo_piece.parse().unwrap(), "/retrievals/x")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not sealed, persisted and finalized"), "{err}");
    assert!(admin.unseal_jobs().await.unwrap().is_empty());
    assert_eq!(super::operator_cli::unseal_table(&[]), "no unseal jobs\n");

    manager.run(async {}).await.unwrap();
}

/// `[gateway]`: the built manager registers its miner with venus-gateway
/// (the token from `gateway.token_file` in the handshake) and answers a
/// `ComputeProof` event; the stop ends the listener.
#[tokio::test]
async fn a_built_manager_registers_with_venus_gateway_and_answers_compute_proof() {
    use venus_seal_chain::gateway::fake::FakeGateway;
    use venus_seal_chain::testing::FakePoStExecutor;
    use venus_seal_core::proving::{PoStSector, WinningPoStVerifyInfo};
    use venus_seal_core::{CommR, ProofVerifier, Randomness, SealProof};

    let gw = FakeGateway::start("venus-auth-token").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manager.toml");
    std::fs::write(dir.path().join("gw.token"), "venus-auth-token\n").unwrap();
    let config = format!(
        "{CONFIG}\n[proving]\nstores = [\"store\"]\n\n[gateway]\nurl = \"{}\"\ntoken_file = \"gw.token\"\n",
        gw.url()
    );
    std::fs::write(&path, config).unwrap();
    let config = SectorManagerConfig::load(&path).unwrap();
    let manager = ManagerService::new(config)
        .with_verifier(Arc::new(FakeProofVerifier))
        .with_prover(venus_seal_chain::PoStExecutors::of(Arc::new(
            FakePoStExecutor::default(),
        )))
        .with_winning_prover(Arc::new(FakePoStExecutor::default()))
        .build()
        .await
        .unwrap();
    let wait = std::time::Duration::from_secs(10);
    assert!(
        gw.wait_listens(1, wait).await,
        "the manager never registered"
    );

    // venus-shared's ComputeProofRequest for one sector (JSON spelled from
    // the Go field names, see docs/venus-gateway.md).
    let sector = PoStSector {
        number: SectorNumber(1),
        seal_proof: SealProof::StackedDrg2KiBV1_1,
        comm_r: CommR([3; 32]),
        sector_key: None,
    };
    let rand = [5u8; 32];
    let b64 = |b: &[u8]| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(b)
    };
    let request = serde_json::json!({
        "SectorInfos": [{"SealProof": 5, "SectorNumber": 1, "SectorKey": null,
                         "SealedCID": {"/": sector.comm_r.to_cid().to_string()}}],
        "Rand": b64(&rand), "Height": 10, "NWVersion": 21,
    });
    let answer = gw.compute_proof("f01000", &request, wait).await;
    assert_eq!(answer["Error"], "", "{answer}");
    let payload: Vec<serde_json::Value> = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            answer["Payload"].as_str().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let proofs = payload
        .iter()
        .map(|p| venus_seal_core::proving::PoStProof {
            post_proof: p["PoStProof"].as_i64().unwrap(),
            proof: base64::Engine::decode(
                &base64::engine::general_purpose::STANDARD,
                p["ProofBytes"].as_str().unwrap(),
            )
            .unwrap(),
        })
        .collect();
    assert!(FakeProofVerifier
        .verify_winning_post(&WinningPoStVerifyInfo {
            miner: ActorId(1000),
            randomness: Randomness(rand),
            sectors: vec![sector],
            proofs,
        })
        .unwrap());
    assert_eq!(manager.gateway().unwrap().registrations(), 1);
    manager.run(async {}).await.unwrap();
}

/// `[[persist_stores]]` reach `Venus.StoreBasicInfo` and
/// `Venus.StoreReserveSpace` on both listeners, and `[rpc.trusted]` serves
/// the worker API without a token (a loopback bind with no networks named
/// serves loopback clients) while the main listener still wants one.
#[tokio::test]
async fn configured_persist_stores_the_tokenless_listener_and_metrics_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store0");
    std::fs::create_dir(&store).unwrap();
    let text = CONFIG.replace(
        "secret_file = \"secret/rpc.secret\"\n",
        "secret_file = \"secret/rpc.secret\"\n[rpc.trusted]\nlisten = \"127.0.0.1:0\"\n",
    ) + &format!(
        "\n[[persist_stores]]\nname = \"store-0\"\npath = {:?}\n[metrics]\nlisten = \"127.0.0.1:0\"\n",
        store.display().to_string()
    );
    let path = dir.path().join("manager.toml");
    std::fs::write(&path, text).unwrap();
    let manager = ManagerService::new(SectorManagerConfig::load(&path).unwrap())
        .with_verifier(Arc::new(FakeProofVerifier))
        .build()
        .await
        .unwrap();
    let trusted = manager.trusted_addr().expect("[rpc.trusted] is served");

    // No token on the tokenless listener, as damocles-worker calls.
    let worker = venus_seal_rpc::ManagerClient::new(format!("http://{trusted}"), None).unwrap();
    let info = worker.store_basic_info("store-0").await.unwrap().unwrap();
    assert_eq!(info.name, "store-0");
    assert_eq!(info.path, store.display().to_string());
    assert!(worker.store_basic_info("store-9").await.unwrap().is_none());
    let sector = worker
        .allocate_sector(AllocateSpec::default())
        .await
        .unwrap()
        .expect("a sector number");
    let placed = worker
        .store_reserve_space(sector.id, 2048, &["store-0".to_string()])
        .await
        .unwrap()
        .expect("room on store-0");
    assert_eq!(placed.name, "store-0");

    // The main listener still refuses a call without a token.
    let anonymous =
        venus_seal_rpc::ManagerClient::new(format!("http://{}", manager.addr()), None).unwrap();
    assert!(anonymous.store_basic_info("store-0").await.is_err());

    // The worker's pings are listed for operators (`workers`).
    let info = venus_seal_rpc::WorkerInfo {
        name: "worker-1".into(),
        dest: "10.0.0.2:17890".into(),
        version: "v0.13.1".into(),
        summary: Default::default(),
        stages: Vec::new(),
    };
    worker.worker_ping(&info).await.unwrap();
    let config = SectorManagerConfig::load(&path).unwrap();
    let admin = venus_seal_rpc::manager_admin::ManagerAdminClient::new(
        format!("http://{}", manager.addr()),
        Some(&worker_token(&config, Permission::Read, "operator").unwrap()),
    )
    .unwrap();
    let workers = admin.workers().await.unwrap();
    assert_eq!(workers.len(), 1);
    assert_eq!(workers[0].info, info);
    let table = super::workers_table(&workers, workers[0].last_ping + 75);
    assert!(
        table.contains("worker-1") && table.contains("1m 15s ago"),
        "{table}"
    );

    // `[metrics]`: Prometheus' text format at /metrics.
    let metrics = manager.metrics_addr().expect("[metrics] is served");
    let text = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("# EOF"), "{text}");
    manager.run(async {}).await.unwrap();
}

/// The manager built from the config at `path` (fake verifier), a worker
/// client with a write token, and the token.
async fn built_with_a_worker(
    path: &Path,
) -> (super::RunningManager, venus_seal_rpc::ManagerClient, String) {
    let manager = ManagerService::new(SectorManagerConfig::load(path).unwrap())
        .with_verifier(Arc::new(FakeProofVerifier))
        .build()
        .await
        .unwrap();
    let config = SectorManagerConfig::load(path).unwrap();
    let token = worker_token(&config, Permission::Write, "w").unwrap();
    let worker =
        venus_seal_rpc::ManagerClient::new(format!("http://{}", manager.addr()), Some(&token))
            .unwrap();
    (manager, worker, token)
}

/// `[resend]`'s defaults (spelled out for the fuzz target) are the
/// manager's own.
#[test]
fn the_resend_defaults_are_the_managers() {
    assert_eq!(
        super::service::resend_policy(&super::config::ResendSection::default()),
        venus_seal_chain::manager::ResendPolicy::default()
    );
}

/// A fake droplet for the built manager: its deal assignment API
/// (`POST /rpc/v1`, `VENUS_MARKET.AssignUnPackedDeals` answering one
/// `DealInfoIncludePath`, `VENUS_MARKET.ReleaseDeals` recorded) and its
/// piece service (`GET /resource?resource-id=<cid>`), as
/// `venus-seal-chain/src/market/tests.rs` and
/// `venus-seal-backends/tests/droplet_pieces.rs` document them from
/// venus-shared and droplet (files and commits there and in
/// `docs/venus-market.md`).
mod droplet {
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};

    use axum::extract::State;
    use axum::http::{header, StatusCode};
    use axum::response::{IntoResponse, Response};
    use axum::routing::{get, post};
    use axum::Router;
    use serde_json::{json, Value};

    pub const PIECE: &str = "baga6ea4seaqpy7usqklokfx2vxuynmupslkeutzexe2uqurdg5vhtebhxqmpqmy";
    pub const DEAL: u64 = 4242;

    #[derive(Default)]
    pub struct Calls {
        pub rpc: Vec<(String, Value)>,
        pub auth: Vec<String>,
    }

    pub type Shared = Arc<Mutex<Calls>>;

    async fn rpc(
        State(s): State<Shared>,
        headers: axum::http::HeaderMap,
        body: String,
    ) -> Response {
        let req: Value = serde_json::from_str(&body).unwrap();
        let method = req["method"].as_str().unwrap().to_string();
        let mut calls = s.lock().unwrap();
        calls.rpc.push((method.clone(), req["params"].clone()));
        if let Some(a) = headers.get(header::AUTHORIZATION) {
            calls.auth.push(a.to_str().unwrap().to_string());
        }
        let result = match method.as_str() {
            "VENUS_MARKET.AssignUnPackedDeals" => json!([{
                "PieceCID": {"/": PIECE}, "PieceSize": 512, "VerifiedDeal": false,
                "Client": "f01234", "Provider": "f01000", "Label": "",
                "StartEpoch": 1_000_000, "EndEpoch": 2_000_000,
                "StoragePricePerEpoch": "0", "ProviderCollateral": "0", "ClientCollateral": "0",
                "Offset": 0, "Length": 512, "PayloadSize": 400, "DealID": DEAL,
                "TotalStorageFee": "0", "FastRetrieval": true,
                "PublishCid": {"/": "bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4"}
            }]),
            "VENUS_MARKET.ReleaseDeals" => Value::Null,
            // A droplet before direct deals (no `AssignDeals`): go-jsonrpc
            // answers an unknown method with -32601.
            _ => {
                let answer = json!({"jsonrpc": "2.0", "id": req["id"],
                    "error": {"code": -32601, "message": format!("method '{method}' not found")}});
                return (
                    [(header::CONTENT_TYPE, "application/json")],
                    answer.to_string(),
                )
                    .into_response();
            }
        };
        let answer = json!({"jsonrpc": "2.0", "id": req["id"], "result": result});
        (
            [(header::CONTENT_TYPE, "application/json")],
            answer.to_string(),
        )
            .into_response()
    }

    pub fn piece_bytes() -> Vec<u8> {
        (0..512u32).map(|i| (i % 251) as u8).collect()
    }

    async fn resource(uri: axum::http::Uri) -> Response {
        match super::resource_id(&uri).as_str() {
            PIECE => piece_bytes().into_response(),
            "" => (StatusCode::BAD_REQUEST, "resource is empty").into_response(),
            other => (StatusCode::NOT_FOUND, format!("resource {other} not found")).into_response(),
        }
    }

    pub async fn start() -> (SocketAddr, Shared) {
        let shared = Shared::default();
        let app = Router::new()
            .route("/rpc/v1", post(rpc))
            .route("/resource", get(resource))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (addr, shared)
    }
}

#[tokio::test]
async fn a_manager_with_market_takes_deals_from_droplet_serves_its_pieces_and_releases_on_abort() {
    use tokio::io::AsyncReadExt;
    use venus_seal_backends::pieces::HttpPieceStore;
    use venus_seal_core::manager::AcquireDealsSpec;
    use venus_seal_core::{PieceCid, PieceStore};

    let (droplet_addr, droplet) = droplet::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("droplet.token"), "venus-auth-write-jwt\n").unwrap();
    let text = format!(
        "{CONFIG}
[pieces]
listen = \"127.0.0.2:0\"
[pieces.store]
kind = \"droplet\"
url = \"http://{droplet_addr}\"
token_file = \"droplet.token\"

[market]
url = \"http://{droplet_addr}\"
token_file = \"droplet.token\"
"
    );
    let path = dir.path().join("manager.toml");
    std::fs::write(&path, text).unwrap();
    let (manager, worker, token) = built_with_a_worker(&path).await;
    let sector = worker
        .allocate_sector(AllocateSpec::default())
        .await
        .unwrap()
        .unwrap();
    let deals = worker
        .acquire_deals(sector.id, AcquireDealsSpec::default())
        .await
        .unwrap();
    let cid: PieceCid = droplet::PIECE.parse().unwrap();
    assert_eq!(
        deals,
        vec![DealInfo {
            id: droplet::DEAL,
            piece: PieceInfo {
                size: PaddedPieceSize(512),
                cid
            },
            allocation: None,
        }]
    );

    // The worker fetches the piece from the manager's proxy, which reads
    // droplet's piece service.
    let proxy = HttpPieceStore::new(
        format!("http://{}", manager.pieces_addr().unwrap())
            .parse()
            .unwrap(),
    )
    .with_token(token.clone());
    let mut got = Vec::new();
    proxy
        .get(&cid)
        .await
        .unwrap()
        .read_to_end(&mut got)
        .await
        .unwrap();
    assert_eq!(got, droplet::piece_bytes());

    // A damocles worker fetches `<worker API origin>/piecestore/<cid>.car`
    // as vc-processors 0.2.1's PieceHttpFetcher::open does
    // (src/builtin/processors/piece/fetcher/http.rs): no token, redirects
    // not followed; on a redirect, the Location joined to the URL and
    // fetched with its piece_token as a bearer.
    let damocles = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url: reqwest::Url = format!("http://{}/piecestore/{cid}.car", manager.addr())
        .parse()
        .unwrap();
    let first = damocles.get(url.clone()).send().await.unwrap();
    assert_eq!(first.status(), reqwest::StatusCode::FOUND);
    let location = first.headers()["location"].to_str().unwrap().to_string();
    let target = url.join(&location).unwrap();
    let refused = damocles.get(target.clone()).send().await.unwrap();
    assert_eq!(
        refused.status(),
        reqwest::StatusCode::UNAUTHORIZED,
        "{target}"
    );
    let fetched = damocles
        .get(target)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(fetched.status().is_success(), "{}", fetched.status());
    assert_eq!(fetched.bytes().await.unwrap(), droplet::piece_bytes());

    worker
        .report_aborted(sector.id, "the worker gave up".into())
        .await
        .unwrap();
    {
        let calls = droplet.lock().unwrap();
        let released: Vec<&serde_json::Value> = calls
            .rpc
            .iter()
            .filter(|(m, _)| m == "VENUS_MARKET.ReleaseDeals")
            .map(|(_, p)| p)
            .collect();
        assert_eq!(
            released,
            vec![&serde_json::json!(["f01000", [droplet::DEAL]])]
        );
        assert!(calls
            .auth
            .iter()
            .all(|a| a == "Bearer venus-auth-write-jwt"));
    }
    manager.run(async {}).await.unwrap();
}

/// The `resource-id` query value droplet reads (`req.URL.Query().Get`);
/// a CID needs no unescaping.
fn resource_id(uri: &axum::http::Uri) -> String {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .find_map(|kv| kv.strip_prefix("resource-id="))
        .unwrap_or_default()
        .to_string()
}

/// `[proving.limits]` and `[proving.locks]` reach the manager's provers,
/// timed into its metrics:
/// with one `gpu` lock shared by WindowPoSt and WinningPoSt, never two
/// proofs run at once, and a WinningPoSt that arrives while a WindowPoSt
/// runs and another waits is proven before the waiting WindowPoSt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proving_limits_and_locks_hold_the_managers_provers() {
    use std::sync::Mutex;
    use std::time::Duration;
    use venus_seal_chain::PoStExecutors;
    use venus_seal_core::proving::WindowPoStOutput;
    use venus_seal_core::stage::{CheckProvable, Stage, WindowPoSt, WinningPoSt};
    use venus_seal_core::testing::Census;
    use venus_seal_core::{DynExecutor, Executor, Randomness, StageError};

    /// Runs 150 ms, counted under `gpu`, and logs its start.
    #[derive(Debug)]
    struct Gpu {
        census: Arc<Census>,
        started: Arc<Mutex<Vec<String>>>,
    }
    impl Gpu {
        async fn run(&self, what: String) {
            self.started.lock().unwrap().push(what);
            self.census.enter(&["gpu".to_string()]);
            tokio::time::sleep(Duration::from_millis(150)).await;
            self.census.exit(&["gpu".to_string()]);
        }
    }
    #[async_trait::async_trait]
    impl Executor<WindowPoSt> for Gpu {
        async fn execute(&self, t: WindowPoSt) -> Result<WindowPoStOutput, StageError> {
            self.run(format!("window_post {}", t.partition)).await;
            Ok(WindowPoStOutput {
                proofs: vec![],
                proven: vec![],
                skipped: vec![],
            })
        }
    }
    #[async_trait::async_trait]
    impl Executor<WinningPoSt> for Gpu {
        async fn execute(
            &self,
            _: WinningPoSt,
        ) -> Result<<WinningPoSt as Stage>::Output, StageError> {
            self.run("winning_post".into()).await;
            Ok(vec![])
        }
    }
    #[async_trait::async_trait]
    impl Executor<CheckProvable> for Gpu {
        async fn execute(
            &self,
            _: CheckProvable,
        ) -> Result<<CheckProvable as Stage>::Output, StageError> {
            Ok(vec![])
        }
    }

    let config = SectorManagerConfig::parse(&format!(
        "{CONFIG}
[proving]
stores = [\"store\"]
[proving.limits]
window_post = 1
[proving.locks]
gpu = [\"window_post\", \"winning_post\"]
"
    ))
    .unwrap();
    let census = Arc::new(Census::default());
    let started = Arc::new(Mutex::new(Vec::new()));
    let gpu = Arc::new(Gpu {
        census: census.clone(),
        started: started.clone(),
    });
    let metrics = venus_seal_core::engine::metrics::EngineMetrics::new();
    let (prover, winning) = super::decorate_provers(
        config.proving.as_ref(),
        &metrics,
        Some(PoStExecutors::of(gpu.clone())),
        Some(gpu.clone() as DynExecutor<WinningPoSt>),
    );
    let (prover, winning) = (prover.unwrap(), winning.unwrap());
    let window = |partition| WindowPoSt {
        miner: ActorId(1000),
        deadline: 0,
        partition,
        randomness: Randomness([0; 32]),
        sectors: vec![],
    };
    let first = tokio::spawn({
        let p = prover.window_post.clone();
        async move { p.execute(window(0)).await }
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    let second = tokio::spawn({
        let p = prover.window_post.clone();
        async move { p.execute(window(1)).await }
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    let block = winning.execute(WinningPoSt {
        miner: ActorId(1000),
        randomness: Randomness([1; 32]),
        sectors: vec![],
    });
    block.await.unwrap();
    first.await.unwrap().unwrap();
    second.await.unwrap().unwrap();
    assert_eq!(census.maxima()["gpu"], 1, "two proofs on one GPU");
    assert_eq!(
        *started.lock().unwrap(),
        ["window_post 0", "winning_post", "window_post 1"],
        "the WinningPoSt waits only for the WindowPoSt running"
    );
    // Timed per stage, and the lock's occupancy reported.
    let text = metrics.render();
    for stage in ["window_post", "winning_post"] {
        assert!(
            text.contains(&format!("stage=\"{stage}\",outcome=\"ok\"")),
            "{stage} not timed:\n{text}"
        );
    }
    assert!(text.contains("limit=\"lock:gpu\""), "{text}");

    // Unknown stages and empty locks are named.
    for (bad, named) in [
        ("[proving.limits]\nc2 = 1\n", "unknown stage \"c2\""),
        (
            "[proving.limits]\nwindow_post = 0\n",
            "proving.limits.window_post",
        ),
        ("[proving.locks]\ngpu = []\n", "proving.locks.gpu"),
    ] {
        let text = format!("{CONFIG}\n[proving]\nstores = [\"store\"]\n{bad}");
        let err = SectorManagerConfig::parse(&text).unwrap_err();
        assert!(format!("{err:#}").contains(named), "{bad}: {err:#}");
    }
}

/// `[alerts]`: a worker that pinged and went quiet is reported to the
/// webhook once, and resolved once it pings again (real time: rules every
/// 200 ms, silent after 1 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_worker_is_alerted_to_the_webhook_and_resolved() {
    use std::sync::Mutex;
    use std::time::Duration;

    let received: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |axum::extract::State(r): axum::extract::State<
                    Arc<Mutex<Vec<serde_json::Value>>>,
                >,
                 axum::Json(body): axum::Json<serde_json::Value>| async move {
                    r.lock().unwrap().push(body);
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manager.toml");
    let text = format!(
        "{CONFIG}
[alerts]
every = \"200ms\"
worker_silent_after = \"1s\"
[[alerts.webhooks]]
url = \"http://{hook}/hook\"
format = \"json\"
"
    );
    std::fs::write(&path, text).unwrap();
    let (manager, worker, _) = built_with_a_worker(&path).await;
    let info = venus_seal_rpc::WorkerInfo {
        name: "worker-1".into(),
        dest: "10.0.0.2:17890".into(),
        version: "v1".into(),
        summary: Default::default(),
        stages: Vec::new(),
    };
    worker.worker_ping(&info).await.unwrap();
    let wait_for = |status: &'static str| {
        let received = received.clone();
        async move {
            for _ in 0..100 {
                let got = received.lock().unwrap().clone();
                if let Some(event) = got
                    .iter()
                    .flat_map(|b| b.as_array().unwrap().clone())
                    .find(|e| e["status"] == status)
                {
                    return event;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("no {status} alert came: {:?}", received.lock().unwrap());
        }
    };
    let fired = wait_for("firing").await;
    assert_eq!(fired["rule"], "worker_silent");
    assert_eq!(fired["key"], "worker-1");
    worker.worker_ping(&info).await.unwrap();
    let resolved = wait_for("resolved").await;
    assert_eq!(resolved["key"], "worker-1");
    let firings = received
        .lock()
        .unwrap()
        .iter()
        .flat_map(|b| b.as_array().unwrap().clone())
        .filter(|e| e["status"] == "firing")
        .count();
    assert_eq!(firings, 1, "reported once while it lasted");
    manager.run(async {}).await.unwrap();
}

/// `[miners.auto_extend]` from the config: its first round runs at
/// start-up. As a dry run it changes nothing; with `dry_run = false` the
/// CC sector expiring within the window is extended on the devnet, the
/// sector with data and the one expiring later are not. A policy that
/// would extend the same sectors every round is refused with the key.
#[tokio::test]
async fn the_configured_auto_extend_policy_runs_from_start_up() {
    use venus_seal_core::ChainClient;

    for dry_run in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manager.toml");
        let config = format!(
            "{CONFIG}\n[miners.auto_extend]\nwithin_epochs = 500\nextend_to_epochs = 5000\nevery = \"100ms\"\ndry_run = {dry_run}\n"
        );
        std::fs::write(&path, &config).unwrap();
        let manager = ManagerService::new(SectorManagerConfig::load(&path).unwrap())
            .with_verifier(Arc::new(FakeProofVerifier))
            .build()
            .await
            .unwrap();
        let devnet = manager.chain().devnet.clone().unwrap();
        let head = devnet.head().await.unwrap();
        for (n, expiration, deal_weight) in
            [(1, head + 100, 0), (2, head + 100, 7), (3, head + 900, 0)]
        {
            let sector = venus_seal_chain::testing::fake_sector(n, expiration, deal_weight);
            devnet
                .activate_sector_without_proof(ActorId(1000), sector)
                .unwrap();
        }
        let expiration = |n: u64| {
            let devnet = devnet.clone();
            async move {
                devnet
                    .sector(ActorId(1000), SectorNumber(n))
                    .await
                    .unwrap()
                    .unwrap()
                    .expiration
            }
        };
        // Rounds every 100 ms, blocks every second: a sent extension
        // lands within a few.
        let mut extended = false;
        for _ in 0..50 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            if expiration(1).await > head + 100 {
                extended = true;
                break;
            }
        }
        assert_eq!(extended, !dry_run, "dry_run = {dry_run}");
        if !dry_run {
            assert!(expiration(1).await >= head + 5000);
        }
        assert_eq!(expiration(2).await, head + 100, "data: left alone");
        assert_eq!(expiration(3).await, head + 900, "outside the window");
        manager.stop().await;
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manager.toml");
    let config =
        format!("{CONFIG}\n[miners.auto_extend]\nwithin_epochs = 5000\nextend_to_epochs = 500\n");
    std::fs::write(&path, &config).unwrap();
    let err = format!("{:#}", SectorManagerConfig::load(&path).unwrap_err());
    assert!(
        err.contains("miners.auto_extend of f01000") && err.contains("extend_to_epochs"),
        "{err}"
    );
}

/// `proving check`: the admin API's WindowPoSt dry run reads every active
/// sector of a deadline through the manager's scheduler and times each
/// (the fake prover's check: none unreadable); a deadline that does not
/// exist, a miner not served, and a manager without `[proving]` are
/// refused naming why.
#[tokio::test]
async fn proving_check_reads_every_sector_of_a_deadline() {
    use venus_seal_chain::testing::FakePoStExecutor;
    use venus_seal_core::ChainClient;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manager.toml");
    std::fs::write(
        &path,
        format!("{CONFIG}\n[proving]\nstores = [\"store\"]\n"),
    )
    .unwrap();
    let manager = ManagerService::new(SectorManagerConfig::load(&path).unwrap())
        .with_verifier(Arc::new(FakeProofVerifier))
        .with_prover(venus_seal_chain::PoStExecutors::of(Arc::new(
            FakePoStExecutor::default(),
        )))
        .build()
        .await
        .unwrap();
    let (admin, devnet) = admin_with_sectors(&manager, &path, 4);
    let (d, active) = deadline_with_sectors(&devnet).await;
    let deadlines = devnet
        .proving_deadline(ActorId(1000))
        .await
        .unwrap()
        .deadlines;
    let reads = admin.check_deadline(ActorId(1000), d).await.unwrap();
    assert_eq!((reads.deadline, reads.sectors), (d, active));
    assert_eq!(reads.reads.len(), active, "every sector read: {reads:?}");
    assert!(
        reads.reads.iter().all(|r| r.unreadable.is_none()),
        "{reads:?}"
    );
    let table = super::operator_cli::deadline_reads_table(&reads);
    assert!(
        table.contains("ready") && table.lines().count() == 2 + active,
        "{table}"
    );
    let err = admin
        .check_deadline(ActorId(1000), deadlines)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not exist"), "{err}");
    let err = admin
        .check_deadline(ActorId(1001), 0)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not served"), "{err}");
    // `proving simulate`: the same deadline proven with a chosen
    // challenge, nothing sent.
    let chosen = venus_seal_core::Randomness([4; 32]);
    let sim = admin
        .simulate_window_post(ActorId(1000), d, Some(chosen))
        .await
        .unwrap();
    assert_eq!((sim.deadline, sim.randomness), (d, chosen));
    let proven: usize = sim.partitions.iter().map(|p| p.proven.len()).sum();
    assert_eq!(proven, active);
    let table = super::operator_cli::simulation_table(&sim);
    assert!(
        table.contains("nothing sent") && table.contains(&hex::encode([4u8; 32])),
        "{table}"
    );
    manager.stop().await;

    // Without [proving]: refused, saying so.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manager.toml");
    std::fs::write(&path, CONFIG).unwrap();
    let manager = ManagerService::new(SectorManagerConfig::load(&path).unwrap())
        .with_verifier(Arc::new(FakeProofVerifier))
        .build()
        .await
        .unwrap();
    let admin = admin_client(
        &ApiArgs::new(Some(format!("http://{}", manager.addr())), None, Some(path)),
        "test",
    )
    .unwrap();
    let err = admin
        .check_deadline(ActorId(1000), 0)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("[proving] is not configured"), "{err}");
    manager.stop().await;
}

/// `[proving.remote]`: the manager's WindowPoSt goes to a remote proving
/// service (here proving with the fake PoSt prover that the fake verifier
/// accepts), is verified on return, and never runs on the local prover; a
/// service that is down fails the proof naming it.
#[tokio::test]
async fn window_post_goes_to_the_remote_proving_service_of_proving_remote() {
    use crate::backends::remote_c2::{C2Service, C2ServiceConfig, C2TaskStore, TaskState};
    use venus_seal_chain::testing::FakePoStExecutor;
    use venus_seal_core::stage::WindowPoSt;

    let dir = tempfile::tempdir().unwrap();
    let secret = venus_seal_rpc::Secret::generate();
    let store = C2TaskStore::open_sqlite(dir.path().join("queue.db"))
        .await
        .unwrap();
    let service =
        C2Service::without_stages(store.clone(), secret.clone(), C2ServiceConfig::default())
            .with_stage::<WindowPoSt>(FakePoStExecutor::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = service.router();
    let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let _provers = service.start_provers().await.unwrap();
    std::fs::write(
        dir.path().join("post.token"),
        secret.token(Permission::Write, None),
    )
    .unwrap();

    let path = dir.path().join("manager.toml");
    std::fs::write(
        &path,
        format!(
            "{CONFIG}\n[proving]\nstores = [\"store\"]\n[proving.remote]\nurl = \"{url}\"\n\
             token_file = \"post.token\"\nstages = [\"window_post\"]\n"
        ),
    )
    .unwrap();
    let (manager, local, admin, d) = proving_manager(&path).await;
    let sim = admin
        .simulate_window_post(ActorId(1000), d, Some(venus_seal_core::Randomness([6; 32])))
        .await
        .unwrap();
    let proven: usize = sim.partitions.iter().map(|p| p.proven.len()).sum();
    assert_eq!(proven, 3, "{sim:?}");
    assert_eq!(local.calls(), 0, "the local prover was used");
    let counts = store.counts().await.unwrap();
    assert!(
        counts.iter().any(|(s, n)| *s == TaskState::Done && *n >= 1),
        "{counts:?}"
    );

    // The service goes away: the proof fails naming it, nothing local runs.
    server.abort();
    let _ = server.await;
    let err = admin
        .simulate_window_post(ActorId(1000), d, Some(venus_seal_core::Randomness([7; 32])))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("window_post service at"), "{err}");
    assert_eq!(local.calls(), 0);
    manager.stop().await;
}

/// The manager of the config at `path` (fake verifier), with a local
/// WindowPoSt prover that counts its calls, sectors 1..=3 of f01000
/// active, its admin client and the first deadline holding them.
async fn proving_manager(
    path: &Path,
) -> (
    super::RunningManager,
    Arc<venus_seal_core::testing::FakeExecutor<venus_seal_core::stage::WindowPoSt>>,
    venus_seal_rpc::manager_admin::ManagerAdminClient,
    u64,
) {
    use venus_seal_core::proving::WindowPoStOutput;
    use venus_seal_core::stage::WindowPoSt;
    let local =
        venus_seal_core::testing::FakeExecutor::new(|_: &WindowPoSt| WindowPoStOutput::default());
    let manager = ManagerService::new(SectorManagerConfig::load(path).unwrap())
        .with_verifier(Arc::new(FakeProofVerifier))
        .with_prover(venus_seal_chain::PoStExecutors {
            window_post: local.clone(),
            check: Arc::new(venus_seal_chain::testing::FakePoStExecutor::default()),
        })
        .build()
        .await
        .unwrap();
    let (admin, devnet) = admin_with_sectors(&manager, path, 3);
    let (d, _) = deadline_with_sectors(&devnet).await;
    (manager, local, admin, d)
}

/// The admin client of `manager` (its `--config` token), with sectors
/// 1..=`sectors` of f01000 active on its devnet.
fn admin_with_sectors(
    manager: &super::RunningManager,
    config: &Path,
    sectors: u64,
) -> (
    venus_seal_rpc::manager_admin::ManagerAdminClient,
    Arc<venus_seal_chain::DevnetChain>,
) {
    let devnet = manager.chain().devnet.clone().unwrap();
    venus_seal_chain::testing::activate_fake_sectors(&devnet, ActorId(1000), 1..=sectors);
    let admin = admin_client(
        &ApiArgs::new(
            Some(format!("http://{}", manager.addr())),
            None,
            Some(config.to_path_buf()),
        ),
        "test",
    )
    .unwrap();
    (admin, devnet)
}

/// The first deadline of f01000 holding active sectors, and how many.
async fn deadline_with_sectors(devnet: &venus_seal_chain::DevnetChain) -> (u64, usize) {
    use venus_seal_core::ChainClient;
    let dl = devnet.proving_deadline(ActorId(1000)).await.unwrap();
    for d in 0..dl.deadlines {
        let parts = devnet.deadline_partitions(ActorId(1000), d).await.unwrap();
        let active = parts.iter().map(|p| p.active.len()).sum::<usize>();
        if active > 0 {
            return (d, active);
        }
    }
    panic!("no deadline holds the sectors");
}

/// `[proving.workers]`: a WindowPoSt partition becomes a job a proving
/// worker takes through the worker API (our `PoStJobWorker` over
/// `ManagerClient`, as a damocles-worker's wdpost plan would), proven
/// from the store it names by its `[[persist_stores]]` name where that
/// worker mounts it, verified on return; the manager's own prover never
/// runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_post_goes_to_proving_workers_of_proving_workers() {
    use std::collections::BTreeMap;
    use std::sync::Mutex;
    use venus_seal_chain::testing::FakePoStExecutor;
    use venus_seal_core::post_jobs::{PoStJobSpec, PoStJobWorker};
    use venus_seal_core::proving::WindowPoStOutput;
    use venus_seal_core::stage::WindowPoSt;
    use venus_seal_core::{Executor, StageError};

    /// The fake prover, recording where it was told the files are.
    #[derive(Debug, Default)]
    struct Recording {
        inner: FakePoStExecutor,
        sealed: Mutex<Vec<std::path::PathBuf>>,
    }
    #[async_trait::async_trait]
    impl Executor<WindowPoSt> for Recording {
        async fn execute(&self, t: WindowPoSt) -> Result<WindowPoStOutput, StageError> {
            self.sealed
                .lock()
                .unwrap()
                .extend(t.sectors.iter().map(|s| s.files.sealed.clone()));
            self.inner.execute(t).await
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manager.toml");
    std::fs::write(
        &path,
        format!(
            "{CONFIG}\n[proving]\nstores = [\"store\"]\n[proving.workers]\n\
             heartbeat_timeout = \"10s\"\n\n[[persist_stores]]\nname = \"nas-1\"\npath = \"store\"\n"
        ),
    )
    .unwrap();
    let (manager, local, admin, d) = proving_manager(&path).await;

    let config = SectorManagerConfig::load(&path).unwrap();
    let token = worker_token(&config, Permission::Write, "prover-1").unwrap();
    let client = Arc::new(
        venus_seal_rpc::ManagerClient::new(format!("http://{}", manager.addr()), Some(&token))
            .unwrap(),
    );
    let prover = Arc::new(Recording::default());
    let worker = PoStJobWorker::new(
        client,
        prover.clone(),
        BTreeMap::from([("nas-1".to_string(), "/mnt/prover/nas-1".into())]),
        PoStJobSpec::default(),
        "prover-1",
    )
    .spawn(std::time::Duration::from_millis(50));
    let sim = admin
        .simulate_window_post(ActorId(1000), d, Some(venus_seal_core::Randomness([6; 32])))
        .await
        .unwrap();
    worker.abort();
    let proven: usize = sim.partitions.iter().map(|p| p.proven.len()).sum();
    assert_eq!(proven, 3, "{sim:?}");
    assert_eq!(local.calls(), 0, "the local prover was used");
    let sealed = prover.sealed.lock().unwrap().clone();
    // The scheduler's own rounds (the devnet's clock runs) may have come
    // through the worker too.
    assert!(!sealed.is_empty() && sealed.len() % 3 == 0, "{sealed:?}");
    assert!(
        sealed
            .iter()
            .all(|p| p.starts_with("/mnt/prover/nas-1/sealed")),
        "{sealed:?}"
    );
    manager.stop().await;
}
