//! [`DropletMarket`] and the manager's market path against a fake droplet:
//! a go-jsonrpc-shaped HTTP server answering `VENUS_MARKET.AssignUnPackedDeals`
//! and `VENUS_MARKET.ReleaseDeals` with droplet's own shapes.
//!
//! The fixtures follow the Go definitions, not our types:
//! * the method signatures, filecoin-project/venus
//!   `venus-shared/api/market/v1/api.go` at
//!   0278ec1b03310cd46313db088a133aa0dad99151 (`AssignUnPackedDeals(ctx,
//!   sid abi.SectorID, ssize abi.SectorSize, spec *market.GetDealSpec)
//!   ([]*market.DealInfoIncludePath, error)`, `ReleaseDeals(ctx, miner
//!   address.Address, deals []abi.DealID) error`), namespace `VENUS_MARKET`
//!   from `client_gen.go` at 73746cec80e43afd292f7d1ca68fb4774f783946;
//! * `DealInfoIncludePath` (embedded `types.DealProposal`, then `Offset`,
//!   `Length`, `PayloadSize`, `DealID`, `TotalStorageFee`, `FastRetrieval`,
//!   `PublishCid`) and `GetDealSpec` from `venus-shared/types/market/assigner_type.go`
//!   (66e0c11f6f9eb0f4e2b4ac5ff9e1fbf760175848 and its later version with
//!   `SectorExpiration`); the proposal's fields from go-state-types
//!   `builtin/v9/market.DealProposal` (`PieceCID`, `PieceSize`,
//!   `VerifiedDeal`, `Client`, `Provider`, `Label`, `StartEpoch`,
//!   `EndEpoch`, `StoragePricePerEpoch`, `ProviderCollateral`,
//!   `ClientCollateral`); a `cid.Cid` is `{"/": "…"}`, a token amount a
//!   decimal string, an address `"f0…"`;
//! * the assignment itself as ipfs-force-community/damocles
//!   `damocles-manager/modules/impl/dealmgr/dealmgr.go` at
//!   8713ced20557f267ec12cb239f49a6ec1191318f calls it (`MaxPiece` from
//!   MaxDeals, `MinUsedSpace`, `StartEpoch`), and the release (deal ids
//!   without 0, the miner's ID address).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use venus_seal_core::manager::{AcquireDealsSpec, AllocateSpec, AllocatedSector, DealInfo};
use venus_seal_core::{
    ActorId, ChainClient, CommD, FailureLevel, Leveled, PaddedPieceSize, PieceInfo, SealProof,
    SectorManager,
};

use super::DropletMarket;
use crate::manager::{LocalSectorManager, ManagedMiner, ManagerConfig};
use crate::testing::FakeProofVerifier;
use crate::{DevnetChain, DevnetConfig, DevnetMiner};

const MINER: ActorId = ActorId(1000);
const P2K: SealProof = SealProof::StackedDrg2KiBV1_1;

/// One deal in the fake droplet, and the sector it is assigned to.
#[derive(Clone, Debug)]
struct FakeDeal {
    id: u64,
    piece: CommD,
    size: u64,
    start: i64,
    assigned: Option<Value>,
}

#[derive(Debug, Default)]
struct Droplet {
    deals: Vec<FakeDeal>,
    /// Every call: method and params, as received.
    calls: Vec<(String, Value)>,
    /// Answer `ReleaseDeals` with HTTP 503 (droplet down).
    release_down: bool,
}

type Shared = Arc<Mutex<Droplet>>;

/// A `DealInfoIncludePath` as droplet's Go JSON writes it.
fn include_path(d: &FakeDeal, offset: u64) -> Value {
    json!({
        "PieceCID": {"/": d.piece.to_string()},
        "PieceSize": d.size,
        "VerifiedDeal": false,
        "Client": "f01234",
        "Provider": MINER.to_string(),
        "Label": "bafk-label",
        "StartEpoch": d.start,
        "EndEpoch": d.start + 518_400,
        "StoragePricePerEpoch": "0",
        "ProviderCollateral": "0",
        "ClientCollateral": "0",
        "Offset": offset,
        "Length": d.size,
        "PayloadSize": d.size / 2,
        "DealID": d.id,
        "TotalStorageFee": "0",
        "FastRetrieval": true,
        "PublishCid": {"/": "bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4"},
    })
}

/// droplet's `dealAssigner` in miniature: unassigned deals that start
/// after `StartEpoch`, at most `MaxPiece` (0: any), while they fit.
fn assign(d: &mut Droplet, params: &[Value]) -> Value {
    let (sid, ssize, spec) = (&params[0], params[1].as_u64().unwrap(), &params[2]);
    let max = spec["MaxPiece"].as_i64().unwrap();
    let after = spec["StartEpoch"].as_i64().unwrap();
    let (mut used, mut out) = (0u64, vec![]);
    for deal in d.deals.iter_mut() {
        if deal.assigned.is_some() || deal.start <= after || used + deal.size > ssize {
            continue;
        }
        if max > 0 && out.len() as i64 >= max {
            break;
        }
        deal.assigned = Some(sid.clone());
        out.push(include_path(deal, used));
        used += deal.size;
    }
    Value::Array(out)
}

async fn rpc(State(droplet): State<Shared>, Json(req): Json<Value>) -> Response {
    let method = req["method"].as_str().unwrap_or_default().to_string();
    let params = req["params"].clone();
    let mut d = droplet.lock().unwrap();
    d.calls.push((method.clone(), params.clone()));
    let params = params.as_array().cloned().unwrap_or_default();
    let result = match method.as_str() {
        "VENUS_MARKET.AssignUnPackedDeals" => assign(&mut d, &params),
        "VENUS_MARKET.ReleaseDeals" if d.release_down => {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        "VENUS_MARKET.ReleaseDeals" => {
            assert!(params[0].is_string(), "an address string: {params:?}");
            let ids: Vec<u64> = serde_json::from_value(params[1].clone()).unwrap();
            for deal in d.deals.iter_mut().filter(|x| ids.contains(&x.id)) {
                deal.assigned = None;
            }
            Value::Null
        }
        _ => {
            return Json(json!({"jsonrpc": "2.0", "id": req["id"],
                "error": {"code": -32601, "message": format!("method '{method}' not found")}}))
            .into_response()
        }
    };
    Json(json!({"jsonrpc": "2.0", "id": req["id"], "result": result})).into_response()
}

async fn fake_droplet(deals: Vec<FakeDeal>) -> (SocketAddr, Shared) {
    let shared: Shared = Arc::new(Mutex::new(Droplet {
        deals,
        ..Droplet::default()
    }));
    let app = Router::new()
        .route("/rpc/v1", post(rpc))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, shared)
}

fn deal(id: u64, byte: u8, size: u64, start: i64) -> FakeDeal {
    FakeDeal {
        id,
        piece: CommD([byte; 32]),
        size,
        start,
        assigned: None,
    }
}

fn expected(d: &FakeDeal) -> DealInfo {
    DealInfo {
        id: d.id,
        piece: PieceInfo {
            size: PaddedPieceSize(d.size),
            cid: d.piece,
        },
    }
}

async fn manager_with_droplet(
    deals: Vec<FakeDeal>,
) -> (Arc<LocalSectorManager>, Shared, Arc<DevnetChain>) {
    let chain = DevnetChain::new(
        DevnetConfig::with_miners(vec![DevnetMiner {
            id: MINER,
            allowed_proofs: vec![P2K],
        }]),
        Arc::new(FakeProofVerifier),
    );
    let manager = LocalSectorManager::in_memory(
        ManagerConfig::new(vec![ManagedMiner::new(MINER, P2K)]),
        chain.clone(),
        chain.clone(),
        Arc::new(FakeProofVerifier),
    );
    let (addr, droplet) = fake_droplet(deals).await;
    let market = DropletMarket::new(&format!("http://{addr}"), Some("droplet-token")).unwrap();
    manager.set_deal_market(Arc::new(market)).unwrap();
    (manager, droplet, chain)
}

/// A new sector of `manager` and the deals it acquires with `spec`.
async fn sector_with_deals(
    manager: &LocalSectorManager,
    spec: AcquireDealsSpec,
) -> (AllocatedSector, Vec<DealInfo>) {
    let sector = manager
        .allocate_sector(AllocateSpec::default())
        .await
        .unwrap()
        .unwrap();
    let deals = manager.acquire_deals(sector.id, spec).await.unwrap();
    (sector, deals)
}

fn calls(droplet: &Shared, method: &str) -> Vec<Value> {
    droplet
        .lock()
        .unwrap()
        .calls
        .iter()
        .filter(|(m, _)| m == method)
        .map(|(_, p)| p.clone())
        .collect()
}

const ASSIGN: &str = "VENUS_MARKET.AssignUnPackedDeals";
const RELEASE: &str = "VENUS_MARKET.ReleaseDeals";

#[tokio::test]
async fn droplet_assigns_deals_to_a_sector_and_an_abort_releases_them() {
    // 2 KiB sector: two 512-byte pieces and one 1 KiB fit; a deal that
    // starts too early for a new sector is never offered.
    let deals = vec![
        deal(11, 1, 512, 100_000),
        deal(12, 2, 512, 100_000),
        deal(13, 3, 1024, 1),
        deal(14, 4, 1024, 100_000),
    ];
    let (manager, droplet, chain) = manager_with_droplet(deals.clone()).await;
    let spec = AcquireDealsSpec {
        max_deals: Some(2),
        min_used_space: Some(512),
    };
    let (sector, got) = sector_with_deals(&manager, spec).await;
    assert_eq!(got, vec![expected(&deals[0]), expected(&deals[1])]);
    // Asked again (a worker retrying): the recorded deals, droplet not asked.
    assert_eq!(manager.acquire_deals(sector.id, spec).await.unwrap(), got);
    let assigned = calls(&droplet, ASSIGN);
    assert_eq!(assigned.len(), 1, "{assigned:?}");
    let head = chain.head().await.unwrap();
    let delay = chain.network().await.unwrap().pre_commit_challenge_delay;
    assert_eq!(
        assigned[0],
        json!([
            {"Miner": 1000, "Number": sector.id.number.0},
            2048,
            {"MaxPiece": 2, "MaxPieceSize": 0, "MinPiece": 0, "MinPieceSize": 0,
             "MinUsedSpace": 512, "StartEpoch": head + delay, "EndEpoch": 0}
        ])
    );

    manager
        .report_aborted(sector.id, "the worker gave up".into())
        .await
        .unwrap();
    assert_eq!(calls(&droplet, RELEASE), vec![json!(["f01000", [11, 12]])]);
    let rec = manager
        .store()
        .load(sector.id)
        .await
        .unwrap()
        .unwrap()
        .value;
    assert_eq!(rec.deals, None, "released deals leave the record");
    assert!(rec.aborted.is_some());
    // droplet hands them to the next sector.
    let (_, again) = sector_with_deals(&manager, AcquireDealsSpec::default()).await;
    assert_eq!(
        again,
        vec![
            expected(&deals[0]),
            expected(&deals[1]),
            expected(&deals[3])
        ]
    );
}

#[tokio::test]
async fn droplet_down_at_abort_is_temporary_and_the_retry_releases() {
    let deals = vec![deal(21, 5, 1024, 100_000)];
    let (manager, droplet, _chain) = manager_with_droplet(deals.clone()).await;
    let (sector, got) = sector_with_deals(&manager, AcquireDealsSpec::default()).await;
    assert_eq!(got, vec![expected(&deals[0])]);

    droplet.lock().unwrap().release_down = true;
    let err = manager
        .report_aborted(sector.id, "bad".into())
        .await
        .unwrap_err();
    assert_eq!(err.level(), FailureLevel::Temporary, "{err}");
    let rec = manager
        .store()
        .load(sector.id)
        .await
        .unwrap()
        .unwrap()
        .value;
    assert!(rec.aborted.is_some(), "the abort is recorded at once");
    assert_eq!(
        rec.deals,
        Some(got),
        "the deals stay recorded until droplet takes them"
    );
    // The sector is aborted: no worker gets further with it.
    assert!(manager
        .acquire_deals(sector.id, AcquireDealsSpec::default())
        .await
        .is_err());

    droplet.lock().unwrap().release_down = false;
    manager
        .report_aborted(sector.id, "bad".into())
        .await
        .unwrap();
    assert_eq!(
        calls(&droplet, RELEASE).last(),
        Some(&json!(["f01000", [21]]))
    );
    let rec = manager
        .store()
        .load(sector.id)
        .await
        .unwrap()
        .unwrap()
        .value;
    assert_eq!(rec.deals, None);
    assert!(droplet.lock().unwrap().deals[0].assigned.is_none());
}

#[tokio::test]
async fn a_cc_sector_aborted_calls_no_release_and_null_is_no_deals() {
    let (manager, droplet, _chain) = manager_with_droplet(vec![]).await;
    let sector = manager
        .allocate_sector(AllocateSpec::default())
        .await
        .unwrap()
        .unwrap();
    // droplet answers `[]` (go's nil slice would be `null`: both are none).
    assert!(manager
        .acquire_deals(sector.id, AcquireDealsSpec::default())
        .await
        .unwrap()
        .is_empty());
    manager.report_aborted(sector.id, "x".into()).await.unwrap();
    assert!(calls(&droplet, RELEASE).is_empty());
}

#[test]
fn a_go_nil_deal_list_decodes_as_none() {
    let none: Option<Vec<super::wire::DealInfoIncludePath>> =
        serde_json::from_value(Value::Null).unwrap();
    assert!(none.unwrap_or_default().is_empty());
}
