//! The tokenless worker-API listener (`ManagerServer::serve_trusted`): served to
//! clients in its networks without a token, refused (HTTP 403) to any
//! other client, never serving the admin methods, and refused at start-up
//! without networks.

mod support;
use support::{raw_get_from, raw_post_from};

use std::net::IpAddr;
use std::sync::Arc;

use serde_json::{json, Value};
use venus_seal_core::testing::FakeManager;
use venus_seal_rpc::auth::TrustedNetworks;
use venus_seal_rpc::manager::{ManagerServer, PersistStoreEntry, PersistStores, PieceRedirect};

const ALLOWED: &str = "127.0.0.2";

/// The listener's URL and the handle that keeps it serving (dropping it
/// stops the listener).
async fn serve(networks: &[&str]) -> (String, jsonrpsee::server::ServerHandle) {
    let stores = PersistStores::new(vec![PersistStoreEntry::new("store-0", "/mnt/store0")]);
    let (addr, handle) = ManagerServer::new(Arc::new(FakeManager::default()))
        .stores(stores)
        .pieces(PieceRedirect::market("http://droplet:41235/rpc/v0").unwrap())
        .serve_trusted(
            "127.0.0.1:0".parse().unwrap(),
            TrustedNetworks::parse(networks).unwrap(),
        )
        .await
        .unwrap();
    (format!("http://{addr}"), handle)
}

fn call(method: &str, params: Value) -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string()
}

#[tokio::test]
async fn an_allowed_client_is_served_without_a_token() {
    let (url, _serving) = serve(&["127.0.0.2/32"]).await;
    let from: IpAddr = ALLOWED.parse().unwrap();
    // damocles-worker's first call, as its fixture holds it.
    let (status, body) = raw_post_from(
        from,
        &url,
        &call("Venus.StoreBasicInfo", json!(["store-0"])),
    )
    .await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}: {body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["result"]["Name"], "store-0", "{answer}");
    // A write method too (damocles' AllocateSector(spec, niporep)).
    let (_, body) = raw_post_from(
        from,
        &url,
        &call(
            "Venus.AllocateSector",
            json!([{"AllowedMiners": null, "AllowedProofTypes": null}, false]),
        ),
    )
    .await;
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert!(answer.get("error").is_none(), "{answer}");
    // The admin methods are not on this listener at all.
    let (_, body) = raw_post_from(
        from,
        &url,
        &call(
            "Venus.Admin.AbortSector",
            json!([{"Miner": 1000, "Number": 1}, "x"]),
        ),
    )
    .await;
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["error"]["code"], -32601, "{answer}");
}

/// damocles-worker fetches a deal's piece from `<manager RPC origin>/
/// piecestore/<cid>` without a token and sends its `piece_token` only to
/// the redirect's target (vc-processors 0.2.1 `src/builtin/processors/
/// piece/fetcher/http.rs`); damocles-manager redirects to its market's
/// `/resource?resource-id=<cid>` (damocles `damocles-manager/pkg/
/// piecestore/proxy.go`, `pkg/market/market.go`, commit 0cf9e1b4).
#[tokio::test]
async fn a_piece_is_redirected_to_the_market_as_damocles_manager_does() {
    let (url, _serving) = serve(&["127.0.0.2/32"]).await;
    let cid = "baga6ea4seaqao7s73y24kcutaosvacpdjgfe5pw76ooefnyqw4ynr3d2y6x2mpq";
    let head = raw_get_from(
        ALLOWED.parse().unwrap(),
        &url,
        &format!("/piecestore/{cid}.car"),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 302"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains(&format!(
            "location: http://droplet:41235/resource?resource-id={cid}"
        )),
        "{head}"
    );
    // Only from the allowed networks, like every call here.
    let head = raw_get_from(
        "127.0.0.1".parse().unwrap(),
        &url,
        &format!("/piecestore/{cid}"),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
}

#[tokio::test]
async fn a_client_outside_the_networks_is_refused() {
    let (url, _serving) = serve(&["127.0.0.2/32"]).await;
    let (status, body) = raw_post_from(
        "127.0.0.1".parse().unwrap(),
        &url,
        &call("Venus.StoreBasicInfo", json!(["store-0"])),
    )
    .await;
    assert!(status.starts_with("HTTP/1.1 403"), "{status}: {body}");
    assert!(body.contains("127.0.0.1"), "{body}");
    assert!(!body.contains("store-0"), "{body}");
}

#[tokio::test]
async fn no_networks_no_listener() {
    let err = ManagerServer::new(Arc::new(FakeManager::default()))
        .serve_trusted("127.0.0.1:0".parse().unwrap(), TrustedNetworks::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("names no client network"), "{err}");
    let err = TrustedNetworks::default()
        .for_listener("0.0.0.0:1790".parse().unwrap(), "rpc.trusted.networks")
        .unwrap_err();
    assert!(err.contains("rpc.trusted.networks is empty"), "{err}");
}
