//! [`DropletMarket`] and the manager's market path against a fake droplet:
//! a go-jsonrpc-shaped HTTP server answering `VENUS_MARKET.AssignUnPackedDeals`
//! and `VENUS_MARKET.ReleaseDeals` with droplet's own shapes, and, as a
//! droplet with direct (DDO) deals, `VENUS_MARKET.AssignDeals` and
//! `VENUS_MARKET.ReleaseDirectDeals` (an older one answers -32601).
//!
//! The direct-deal shapes: `DealInfoV2` from filecoin-project/venus
//! `venus-shared/types/market/assigner_type.go` (the version that also
//! defines `DirectDealInfo`); the methods as droplet's
//! `storageprovider`-side `MarketNodeImpl` has them (`AssignDeals(ctx,
//! sid abi.SectorID, ssize abi.SectorSize, spec *types.GetDealSpec)
//! ([]*types.DealInfoV2, error)`, `ReleaseDirectDeals(ctx, miner
//! address.Address, allocationIDs []vTypes.AllocationId) error`); and how
//! damocles-manager uses them (`modules/impl/dealmgr/dealmgr.go`, the
//! version with `SectorPieceV2`: `Release` splits builtin-market deal ids
//! from direct deals' allocation ids; `IsBuiltinMarket` is "`PublishCid`
//! defined"; a direct deal's client resolved with `StateLookupID`).
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
use venus_seal_core::error::ChainError;
use venus_seal_core::manager::{
    AcquireDealsSpec, AllocateSpec, AllocatedSector, DealInfo, VerifiedAllocationKey,
};
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
    /// A direct (DDO) deal's allocation (`id` is then 0).
    direct: Option<u64>,
    /// A verified builtin-market deal (`VerifiedDeal`).
    verified: bool,
    client: String,
}

#[derive(Debug, Default)]
struct Droplet {
    deals: Vec<FakeDeal>,
    /// Every call: method and params, as received.
    calls: Vec<(String, Value)>,
    /// Answer `ReleaseDeals` with HTTP 503 (droplet down).
    release_down: bool,
    /// Serve `AssignDeals` and `ReleaseDirectDeals` (a droplet with direct
    /// deals); without, they are "method not found" as in older droplets.
    v2: bool,
}

type Shared = Arc<Mutex<Droplet>>;

/// A `DealInfoIncludePath` as droplet's Go JSON writes it.
fn include_path(d: &FakeDeal, offset: u64) -> Value {
    json!({
        "PieceCID": {"/": d.piece.to_string()},
        "PieceSize": d.size,
        "VerifiedDeal": d.verified,
        "Client": d.client,
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

/// A `DealInfoV2` as droplet's Go JSON writes it: a direct deal has no
/// `PublishCid` (an undefined `cid.Cid` is `null`) and its allocation.
fn deal_info_v2(d: &FakeDeal, offset: u64) -> Value {
    let publish = if d.direct.is_some() {
        Value::Null
    } else {
        json!({"/": "bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4"})
    };
    json!({
        "DealID": d.id,
        "PublishCid": publish,
        "AllocationID": d.direct.unwrap_or(0),
        "PieceCID": {"/": d.piece.to_string()},
        "PieceSize": d.size,
        "Client": d.client,
        "Provider": MINER.to_string(),
        "Offset": offset,
        "Length": d.size,
        "PayloadSize": d.size / 2,
        "StartEpoch": d.start,
        "EndEpoch": d.start + 518_400,
    })
}

/// droplet's `dealAssigner` in miniature: unassigned deals that start
/// after `StartEpoch`, at most `MaxPiece` (0: any), while they fit; in the
/// shape of `AssignDeals` (`v2`) or `AssignUnPackedDeals`.
fn assign(d: &mut Droplet, params: &[Value], v2: bool) -> Value {
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
        out.push(if v2 {
            deal_info_v2(deal, used)
        } else {
            include_path(deal, used)
        });
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
        "VENUS_MARKET.AssignUnPackedDeals" => assign(&mut d, &params, false),
        "VENUS_MARKET.AssignDeals" if d.v2 => assign(&mut d, &params, true),
        "VENUS_MARKET.ReleaseDirectDeals" if d.v2 => {
            assert!(params[0].is_string(), "an address string: {params:?}");
            let ids: Vec<u64> = serde_json::from_value(params[1].clone()).unwrap();
            for deal in d.deals.iter_mut() {
                if deal.direct.is_some_and(|a| ids.contains(&a)) {
                    deal.assigned = None;
                }
            }
            Value::Null
        }
        "VENUS_MARKET.ReleaseDeals" if d.release_down => {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        "VENUS_MARKET.ReleaseDeals" => {
            assert!(params[0].is_string(), "an address string: {params:?}");
            let ids: Vec<u64> = serde_json::from_value(params[1].clone()).unwrap();
            for deal in d
                .deals
                .iter_mut()
                .filter(|x| x.id != 0 && ids.contains(&x.id))
            {
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

async fn fake_droplet(deals: Vec<FakeDeal>, v2: bool) -> (SocketAddr, Shared) {
    let shared: Shared = Arc::new(Mutex::new(Droplet {
        deals,
        v2,
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
        direct: None,
        verified: false,
        client: "f01234".into(),
    }
}

/// A direct (DDO) deal of `client` claiming `allocation`.
fn direct(allocation: u64, client: &str, byte: u8, size: u64) -> FakeDeal {
    FakeDeal {
        direct: Some(allocation),
        client: client.into(),
        ..deal(0, byte, size, 100_000)
    }
}

fn expected(d: &FakeDeal) -> DealInfo {
    DealInfo::new(
        d.id,
        PieceInfo {
            size: PaddedPieceSize(d.size),
            cid: d.piece,
        },
    )
}

async fn manager_with_droplet(
    deals: Vec<FakeDeal>,
) -> (Arc<LocalSectorManager>, Shared, Arc<DevnetChain>) {
    manager_with(deals, false, None).await
}

/// A manager on a devnet whose deals come from a fake droplet (`v2`: one
/// with direct deals), reading allocations and clients from `registry`
/// (default: the devnet).
async fn manager_with(
    deals: Vec<FakeDeal>,
    v2: bool,
    registry: Option<Arc<dyn ChainClient>>,
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
    let (addr, droplet) = fake_droplet(deals, v2).await;
    let registry = registry.unwrap_or_else(|| chain.clone());
    let market =
        DropletMarket::new(&format!("http://{addr}"), Some("droplet-token"), registry).unwrap();
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

/// The manager's record of `sector`.
async fn record(
    manager: &LocalSectorManager,
    sector: venus_seal_core::SectorId,
) -> crate::manager::SectorStatus {
    manager.store().load(sector).await.unwrap().unwrap().value
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
const ASSIGN_V2: &str = "VENUS_MARKET.AssignDeals";
const RELEASE: &str = "VENUS_MARKET.ReleaseDeals";
const RELEASE_DIRECT: &str = "VENUS_MARKET.ReleaseDirectDeals";

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
    let rec = record(&manager, sector.id).await;
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
    // An older droplet (no AssignDeals): asked once, then remembered.
    assert_eq!(calls(&droplet, ASSIGN_V2).len(), 1);
    assert_eq!(calls(&droplet, ASSIGN).len(), 2);
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
    let rec = record(&manager, sector.id).await;
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
    let rec = record(&manager, sector.id).await;
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

/// A droplet with direct deals (`AssignDeals`): a builtin-market deal
/// (the chain says it made no allocation) and a direct deal, whose
/// `AllocationID` and client become the deal's allocation; an abort gives
/// the first back by deal id and the second by allocation id, as
/// damocles' dealmgr does.
#[tokio::test]
async fn direct_deals_carry_their_allocation_and_go_back_by_it() {
    let deals = vec![deal(11, 1, 512, 100_000), direct(42, "f01001", 2, 1024)];
    let (manager, droplet, _chain) = manager_with(deals.clone(), true, None).await;
    let (sector, got) = sector_with_deals(&manager, AcquireDealsSpec::default()).await;
    let key = VerifiedAllocationKey {
        client: ActorId(1001),
        id: 42,
    };
    assert_eq!(
        got,
        vec![
            expected(&deals[0]),
            expected(&deals[1]).with_allocation(key)
        ]
    );
    assert_eq!(got[1].id, 0, "a direct deal has no deal id");
    assert!(calls(&droplet, ASSIGN).is_empty(), "AssignDeals answered");
    // Recorded on the sector as assigned: the prove-commit claims it.
    let rec = record(&manager, sector.id).await;
    assert_eq!(rec.deals, Some(got));

    manager
        .report_aborted(sector.id, "the worker gave up".into())
        .await
        .unwrap();
    assert_eq!(calls(&droplet, RELEASE), vec![json!(["f01000", [11]])]);
    assert_eq!(
        calls(&droplet, RELEASE_DIRECT),
        vec![json!(["f01000", [42]])]
    );
    assert!(droplet
        .lock()
        .unwrap()
        .deals
        .iter()
        .all(|d| d.assigned.is_none()));
}

/// What [`Registry`] answers to what the market never asks.
fn unasked<T>() -> Result<T, ChainError> {
    Err(ChainError::Rejected("not asked of the market".into()))
}

/// A verified registry the market asks: robust client addresses and
/// pending deals' allocations, as Lotus' `StateLookupID` and
/// `StateGetAllocationIdForPendingDeal` answer; nothing else is asked.
#[derive(Debug)]
struct Registry;

#[async_trait::async_trait]
impl ChainClient for Registry {
    async fn head(&self) -> Result<i64, ChainError> {
        unasked()
    }
    async fn network(&self) -> Result<venus_seal_core::NetworkParams, ChainError> {
        unasked()
    }
    async fn randomness(
        &self,
        _: venus_seal_core::RandomnessSource,
        _: venus_seal_core::DomainSeparationTag,
        _: i64,
        _: &[u8],
    ) -> Result<venus_seal_core::Randomness, ChainError> {
        unasked()
    }
    async fn pre_commit(
        &self,
        _: ActorId,
        _: venus_seal_core::SectorNumber,
    ) -> Result<Option<venus_seal_core::chain::OnChainPreCommit>, ChainError> {
        unasked()
    }
    async fn sector(
        &self,
        _: ActorId,
        _: venus_seal_core::SectorNumber,
    ) -> Result<Option<venus_seal_core::chain::OnChainSector>, ChainError> {
        unasked()
    }
    async fn deadline_post_submissions(&self, _: ActorId, _: u64) -> Result<Vec<u64>, ChainError> {
        unasked()
    }
    async fn collateral(
        &self,
        _: ActorId,
        _: &venus_seal_core::chain::MinerCall,
    ) -> Result<venus_seal_core::TokenAmount, ChainError> {
        unasked()
    }
    async fn lookup_id(&self, address: &str) -> Result<ActorId, ChainError> {
        match address {
            "f1verifiedclient" => Ok(ActorId(1234)),
            other => other
                .parse()
                .map_err(|_| ChainError::Rejected(format!("no actor {other}"))),
        }
    }
    async fn deal_allocation(&self, deal_id: u64) -> Result<Option<u64>, ChainError> {
        Ok((deal_id == 12).then_some(77))
    }
}

/// A verified builtin-market deal claims the allocation its publication
/// made (read from the chain, for an older droplet's `VerifiedDeal` and
/// for `AssignDeals` alike), and a robust client address is resolved to
/// the actor id the allocation is keyed by.
#[tokio::test]
async fn verified_deals_get_their_allocation_and_client_from_the_chain() {
    for v2 in [false, true] {
        let mut verified = deal(12, 1, 512, 100_000);
        verified.verified = true;
        verified.client = "f1verifiedclient".into();
        let mut deals = vec![deal(11, 2, 512, 100_000), verified];
        if v2 {
            deals.push(direct(43, "f1verifiedclient", 3, 512));
        }
        let (manager, _droplet, _chain) =
            manager_with(deals.clone(), v2, Some(Arc::new(Registry))).await;
        let (_, got) = sector_with_deals(&manager, AcquireDealsSpec::default()).await;
        let key = |id| VerifiedAllocationKey {
            client: ActorId(1234),
            id,
        };
        let mut want = vec![
            expected(&deals[0]),
            expected(&deals[1]).with_allocation(key(77)),
        ];
        if v2 {
            want.push(expected(&deals[2]).with_allocation(key(43)));
        }
        assert_eq!(got, want, "v2: {v2}");
    }
}

/// A deal whose allocation cannot be keyed (its client's address cannot
/// be resolved) is given back to droplet at once with the deals after it
/// (droplet placed them after it: their offsets would move); the sector
/// takes the ones before it: one bad deal never stops sealing.
#[tokio::test]
async fn a_deal_that_cannot_be_resolved_is_given_back_with_the_ones_after_it() {
    let deals = vec![
        deal(11, 1, 512, 100_000),
        direct(42, "f3unresolvable", 2, 512),
        deal(12, 3, 512, 100_000),
    ];
    let (manager, droplet, _chain) = manager_with(deals.clone(), true, None).await;
    let (sector, got) = sector_with_deals(&manager, AcquireDealsSpec::default()).await;
    assert_eq!(got, vec![expected(&deals[0])]);
    assert_eq!(calls(&droplet, RELEASE), vec![json!(["f01000", [12]])]);
    assert_eq!(
        calls(&droplet, RELEASE_DIRECT),
        vec![json!(["f01000", [42]])]
    );
    let rec = record(&manager, sector.id).await;
    assert_eq!(rec.deals, Some(got));
}
