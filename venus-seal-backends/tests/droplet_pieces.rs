//! [`HttpPieceStore::droplet`] against a fake of droplet's piece service,
//! built from droplet's handler: ipfs-force-community/droplet
//! `rpc/piece_storage_server.go` at 67a139e78464433cbcad8a8fd63de7b2a73d2bbb
//! (`PieceStorageServer.ServeHTTP`): GET only (405 otherwise), the piece
//! named by the `resource-id` query value (400 when empty), 404 when no
//! storage holds it, 302 with `Location` when the storage redirects (S3),
//! else `Content-Length` and the whole piece (`io.Copy`: no `Range`).
//! Served on droplet's API listener at `/resource`, as damocles-manager's
//! `PieceResourceURL` (`<scheme>://<host>/resource?resource-id=<cid>`)
//! addresses it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use tokio::io::AsyncReadExt;
use venus_seal_backends::pieces::conformance::{conformance, test_pieces};
use venus_seal_backends::pieces::{HttpPieceStore, PieceStoreConfig};
use venus_seal_core::{PieceStore, PieceStoreError};

#[derive(Default)]
struct Droplet {
    /// Piece files by name (`<cid>` or `<cid>.car`).
    files: HashMap<String, Vec<u8>>,
    /// Pieces answered with a 302 to `/s3/<cid>` (an S3 piece storage).
    redirect: bool,
    /// The `Authorization` header of every request.
    auth: Vec<Option<String>>,
}

type Shared = Arc<Mutex<Droplet>>;

fn find(d: &Droplet, id: &str) -> Option<Vec<u8>> {
    d.files
        .get(id)
        .or_else(|| d.files.get(&format!("{id}.car")))
        .cloned()
}

/// droplet's `PieceStorageServer.ServeHTTP`.
async fn resource(
    State(d): State<Shared>,
    method: Method,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let mut d = d.lock().unwrap();
    d.auth.push(
        headers
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap().to_string()),
    );
    if method != Method::GET {
        return (StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed").into_response();
    }
    let id = resource_id(&uri);
    if id.is_empty() {
        return (StatusCode::BAD_REQUEST, "resource is empty").into_response();
    }
    let Some(data) = find(&d, &id) else {
        return (StatusCode::NOT_FOUND, format!("resource {id} not found")).into_response();
    };
    if d.redirect {
        return (StatusCode::FOUND, [(header::LOCATION, format!("/s3/{id}"))]).into_response();
    }
    ([(header::CONTENT_LENGTH, data.len().to_string())], data).into_response()
}

/// The object behind the redirect.
async fn s3(State(d): State<Shared>, uri: axum::http::Uri) -> Response {
    let id = uri.path().trim_start_matches("/s3/").to_string();
    match find(&d.lock().unwrap(), &id) {
        Some(data) => data.into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn fake_droplet(redirect: bool) -> (SocketAddr, Shared) {
    let pieces = test_pieces();
    let dir = tempfile::tempdir().unwrap();
    pieces.write_to_dir(dir.path());
    let mut files = HashMap::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let entry = entry.unwrap();
        files.insert(
            entry.file_name().into_string().unwrap(),
            std::fs::read(entry.path()).unwrap(),
        );
    }
    let shared = Arc::new(Mutex::new(Droplet {
        files,
        redirect,
        auth: vec![],
    }));
    let app = Router::new()
        .route("/resource", any(resource))
        .route("/s3/{cid}", any(s3))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, shared)
}

#[tokio::test]
async fn droplet_piece_service_conforms() {
    let pieces = test_pieces();
    let (addr, droplet) = fake_droplet(false).await;
    let store = HttpPieceStore::droplet(format!("http://{addr}").parse().unwrap())
        .with_token("venus-auth-jwt");
    conformance(Arc::new(store), &pieces).await;
    let auth = droplet.lock().unwrap().auth.clone();
    assert!(!auth.is_empty());
    assert!(
        auth.iter()
            .all(|a| a.as_deref() == Some("Bearer venus-auth-jwt")),
        "{auth:?}"
    );
}

#[tokio::test]
async fn droplet_redirects_to_s3_are_followed() {
    let pieces = test_pieces();
    let (addr, _droplet) = fake_droplet(true).await;
    let store = HttpPieceStore::droplet(format!("http://{addr}").parse().unwrap());
    conformance(Arc::new(store), &pieces).await;
}

#[tokio::test]
async fn the_droplet_config_builds_a_store_reading_resource_urls() {
    let pieces = test_pieces();
    let (addr, droplet) = fake_droplet(false).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t"), "tok\n").unwrap();
    let config: PieceStoreConfig = serde_json::from_value(serde_json::json!({
        "kind": "droplet",
        "url": format!("http://{addr}"),
        "token_file": dir.path().join("t"),
    }))
    .unwrap();
    let store = config.build_verified().unwrap();
    let (cid, data) = &pieces.good[0];
    let mut got = Vec::new();
    store
        .get(cid)
        .await
        .unwrap()
        .read_to_end(&mut got)
        .await
        .unwrap();
    assert_eq!(&got, data);
    assert_eq!(
        droplet.lock().unwrap().auth.last().cloned().flatten(),
        Some("Bearer tok".to_string())
    );
    let missing = store.get(&pieces.missing).await.map(drop).unwrap_err();
    assert!(matches!(missing, PieceStoreError::NotFound(_)), "{missing}");
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
