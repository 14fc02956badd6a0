//! Piece stores: the conformance suite on every backend (local
//! directories, object stores, HTTP through the piece proxy), and what
//! only HTTP has: a connection dropped mid-piece resumed by range, bounded
//! resumes, redirects, tokens.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use futures_util::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use tokio::io::AsyncReadExt;
use venus_seal_backends::pieces::conformance::{conformance, put_to, test_pieces, TestPieces};
use venus_seal_backends::pieces::{
    piece_router, HttpPieceStore, LocalPieceStore, ObjectPieceStore, VerifyingPieceStore,
};
use venus_seal_core::{
    FailureLevel, Leveled, MemoryPieceStore, PieceCid, PieceStore, PieceStoreError,
};
use venus_seal_rpc::{Permission, Secret};

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn url(addr: SocketAddr, path: &str) -> reqwest::Url {
    format!("http://{addr}{path}").parse().unwrap()
}

async fn read(store: &dyn PieceStore, cid: &PieceCid) -> Result<Vec<u8>, PieceStoreError> {
    let mut buf = Vec::new();
    store.get(cid).await?.read_to_end(&mut buf).await?;
    Ok(buf)
}

#[tokio::test]
async fn memory_store_conforms() {
    let pieces = test_pieces();
    let store = MemoryPieceStore::default();
    for (cid, data) in pieces.good.iter().chain([&pieces.bad]) {
        store.insert(*cid, data.clone());
    }
    conformance(Arc::new(store), &pieces).await;
}

#[tokio::test]
async fn local_store_conforms() {
    let pieces = test_pieces();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    pieces.write_to_dir(b.path());
    // The first directory is searched first and holds nothing.
    let store = LocalPieceStore::new([a.path(), b.path()]);
    conformance(Arc::new(store.clone()), &pieces).await;
    let boxed: Box<dyn PieceStore> = Box::new(store);
    conformance(Arc::new(boxed), &pieces).await;
}

#[tokio::test]
async fn local_store_names_the_directories_it_searched() {
    let dir = tempfile::tempdir().unwrap();
    let pieces = test_pieces();
    let err = LocalPieceStore::new([dir.path()])
        .get(&pieces.missing)
        .await
        .map(drop)
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    assert_eq!(err.level(), FailureLevel::Permanent);
}

#[tokio::test]
async fn object_store_in_memory_conforms() {
    let pieces = test_pieces();
    let mem = Arc::new(InMemory::new());
    let prefix = ObjectPath::from("deals/pieces");
    put_to(&pieces, &*mem, &prefix).await;
    conformance(Arc::new(ObjectPieceStore::new(mem, prefix)), &pieces).await;
}

#[tokio::test]
async fn object_store_on_local_files_conforms() {
    let pieces = test_pieces();
    let dir = tempfile::tempdir().unwrap();
    let fs = Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    put_to(&pieces, &*fs, &ObjectPath::from("p")).await;
    conformance(
        Arc::new(ObjectPieceStore::new(fs, ObjectPath::from("p"))),
        &pieces,
    )
    .await;
    // The same through a URL, as a config names it.
    let url = format!("file://{}/p", dir.path().display());
    conformance(Arc::new(ObjectPieceStore::from_url(&url).unwrap()), &pieces).await;
}

/// A piece proxy over a local directory holding `pieces`, with its secret.
async fn proxy(pieces: &TestPieces) -> (SocketAddr, Secret, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    pieces.write_to_dir(dir.path());
    let secret = Secret::generate();
    let app = piece_router(Arc::new(LocalPieceStore::new([dir.path()])), secret.clone());
    (serve(app).await, secret, dir)
}

#[tokio::test]
async fn http_store_through_the_piece_proxy_conforms() {
    let pieces = test_pieces();
    let (addr, secret, _dir) = proxy(&pieces).await;
    let store =
        HttpPieceStore::new(url(addr, "/")).with_token(secret.token(Permission::Read, None));
    conformance(Arc::new(store), &pieces).await;
}

#[tokio::test]
async fn http_store_follows_redirects() {
    let pieces = test_pieces();
    let dir = tempfile::tempdir().unwrap();
    pieces.write_to_dir(dir.path());
    let secret = Secret::generate();
    let app = piece_router(Arc::new(LocalPieceStore::new([dir.path()])), secret.clone()).route(
        "/old/piece/{cid}",
        get(|Path(cid): Path<String>| async move { Redirect::temporary(&format!("/piece/{cid}")) }),
    );
    let addr = serve(app).await;
    let store =
        HttpPieceStore::new(url(addr, "/old")).with_token(secret.token(Permission::Read, None));
    assert_eq!(
        store.piece_url(&pieces.missing).path(),
        format!("/old/piece/{}", pieces.missing)
    );
    for (cid, data) in &pieces.good {
        assert_eq!(read(&store, cid).await.unwrap(), *data);
    }
}

#[tokio::test]
async fn http_store_explains_a_missing_or_bad_token() {
    let pieces = test_pieces();
    let (addr, secret, _dir) = proxy(&pieces).await;
    let (cid, _) = &pieces.good[0];
    let expect_refusal = |result: Result<Vec<u8>, PieceStoreError>, needles: &[&str]| {
        let err = result.unwrap_err();
        assert_eq!(err.level(), FailureLevel::Critical, "{err}");
        let msg = err.to_string();
        for needle in needles {
            assert!(msg.contains(needle), "{needle:?} not in {msg}");
        }
    };
    let anonymous = HttpPieceStore::new(url(addr, "/"));
    expect_refusal(
        read(&anonymous, cid).await,
        &[
            "401",
            "missing token",
            "configure a token",
            &addr.to_string(),
        ],
    );
    let forged = HttpPieceStore::new(url(addr, "/"))
        .with_token(Secret::generate().token(Permission::Admin, None));
    expect_refusal(read(&forged, cid).await, &["401", "bad signature"]);
    // 404 for a piece the proxy's store lacks.
    let good = HttpPieceStore::new(url(addr, "/")).with_token(secret.token(Permission::Read, None));
    let err = read(&good, &pieces.missing).await.unwrap_err();
    assert!(matches!(err, PieceStoreError::NotFound(_)), "{err}");
    // The token never shows in Debug output.
    let token = secret.token(Permission::Read, None);
    let shown = format!(
        "{:?}",
        HttpPieceStore::new(url(addr, "/")).with_token(&token)
    );
    assert!(!shown.contains(&token), "{shown}");
}

#[tokio::test]
async fn http_store_reports_an_unreachable_server_as_transport() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let store = HttpPieceStore::new(url(addr, "/"));
    let err = read(&store, &test_pieces().missing).await.unwrap_err();
    assert!(matches!(err, PieceStoreError::Transport(_)), "{err}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

/// A piece server that breaks the connection (while promising the whole
/// length) after the number of bytes its plan says for each GET in turn
/// (GETs past the plan are served whole), and records each request's
/// `Range` header.
#[derive(Clone)]
struct Flaky {
    data: Arc<Vec<u8>>,
    plan: Arc<Mutex<VecDeque<usize>>>,
    ranges: Arc<Mutex<Vec<Option<String>>>>,
}

async fn flaky_piece(State(f): State<Flaky>, method: Method, headers: HeaderMap) -> Response {
    let range = headers
        .get("range")
        .map(|v| v.to_str().unwrap().to_string());
    f.ranges.lock().unwrap().push(range.clone());
    let start: usize = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .map(|s| s.parse().unwrap())
        .unwrap_or(0);
    let rest = f.data[start..].to_vec();
    let len = rest.len();
    let cut = if method == Method::GET {
        f.plan.lock().unwrap().pop_front()
    } else {
        None
    };
    let body = if let Some(cut) = cut {
        let head = bytes::Bytes::from(rest[..cut.min(len)].to_vec());
        // The head goes out first (hyper flushes it while the stream
        // waits), then the connection breaks.
        let stream = futures_util::stream::once(async move { Ok(head) }).chain(
            futures_util::stream::once(async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Err(std::io::Error::other(
                    "connection dropped by the test server",
                ))
            }),
        );
        Body::from_stream(stream)
    } else {
        Body::from(rest)
    };
    let mut response = (
        if start > 0 {
            StatusCode::PARTIAL_CONTENT
        } else {
            StatusCode::OK
        },
        body,
    )
        .into_response();
    let h = response.headers_mut();
    h.insert("content-length", len.into());
    if start > 0 {
        h.insert(
            "content-range",
            format!("bytes {start}-{}/{}", f.data.len() - 1, f.data.len())
                .parse()
                .unwrap(),
        );
    }
    response
}

async fn flaky_server(data: Vec<u8>, plan: &[usize]) -> (SocketAddr, Flaky) {
    let flaky = Flaky {
        data: Arc::new(data),
        plan: Arc::new(Mutex::new(plan.iter().copied().collect())),
        ranges: Arc::default(),
    };
    let app = Router::new()
        .route("/piece/{cid}", get(flaky_piece))
        .with_state(flaky.clone());
    (serve(app).await, flaky)
}

#[tokio::test]
async fn http_store_resumes_a_dropped_connection_by_range() {
    let pieces = test_pieces();
    let (cid, data) = pieces.good.last().unwrap().clone();
    assert!(data.len() > 3 * 20_000);
    // Three requests in a row are cut after 20,000 bytes each.
    let (addr, flaky) = flaky_server(data.clone(), &[20_000; 3]).await;
    let store = HttpPieceStore::new(url(addr, "/")).with_resumes(3, Duration::from_millis(10));
    // Verified too: the resumed bytes are exactly the piece.
    let verified = VerifyingPieceStore::new(store);
    let mut buf = Vec::new();
    verified
        .get(&cid)
        .await
        .unwrap()
        .read_to_end(&mut buf)
        .await
        .unwrap();
    assert!(buf == data, "the resumed piece differs");
    // The verifier's HEAD for the size, the GET, three resumes.
    let ranges = flaky.ranges.lock().unwrap().clone();
    assert_eq!(
        ranges[1..],
        vec![
            None,
            Some("bytes=20000-".to_string()),
            Some("bytes=40000-".to_string()),
            Some("bytes=60000-".to_string()),
        ]
    );
}

#[tokio::test]
async fn http_store_gives_up_after_bounded_resumes() {
    let pieces = test_pieces();
    let (cid, data) = pieces.good.last().unwrap().clone();
    // 1000 bytes, then no progress at all.
    let (addr, flaky) = flaky_server(data, &[1000, 0, 0, 0, 0, 0]).await;
    let store = HttpPieceStore::new(url(addr, "/")).with_resumes(2, Duration::from_millis(10));
    let mut buf = Vec::new();
    let err = store
        .get(&cid)
        .await
        .unwrap()
        .read_to_end(&mut buf)
        .await
        .unwrap_err();
    assert_eq!(buf.len(), 1000);
    let inner = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<PieceStoreError>())
        .unwrap_or_else(|| panic!("not a PieceStoreError: {err}"));
    assert!(matches!(inner, PieceStoreError::Transport(_)), "{inner}");
    let msg = inner.to_string();
    assert!(
        msg.contains("byte 1000")
            && msg.contains("gave up after 2 resumes")
            && msg.contains(&cid.to_string()),
        "{msg}"
    );
    // The first GET and two resumes from byte 1000.
    assert_eq!(flaky.ranges.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn the_proxy_serves_ranges_and_head() {
    let pieces = test_pieces();
    let (addr, secret, _dir) = proxy(&pieces).await;
    let (cid, data) = &pieces.good[3];
    let client = reqwest::Client::new();
    let token = secret.token(Permission::Read, None);
    let piece = format!("http://{addr}/piece/{cid}");
    let resp = client
        .get(&piece)
        .bearer_auth(&token)
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 206);
    assert_eq!(
        resp.headers()["content-range"],
        format!("bytes 10-19/{}", data.len()).as_str()
    );
    assert_eq!(resp.bytes().await.unwrap(), data[10..20]);
    let resp = client
        .get(&piece)
        .bearer_auth(&token)
        .header("range", format!("bytes={}-", data.len()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 416);
    let resp = client
        .head(&piece)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-length"],
        data.len().to_string().as_str()
    );
    let resp = client
        .get(format!("http://{addr}/piece/not-a-cid"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}
