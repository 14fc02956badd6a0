//! [`unseal_to_http`] against a local axum server, with a fake unsealer.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method as HttpMethod, StatusCode as HttpStatus};
use axum::routing::put;
use axum::Router;
use venus_seal_core::proving::fake::{pattern, unseal_request, PatternUnsealer};
use venus_seal_core::{DynExecutor, FailureLevel, Leveled};

use super::*;

fn expected(len: u64) -> Vec<u8> {
    pattern(10, len)
}

/// What the server received: method, headers, body.
type Received = Arc<Mutex<Vec<(HttpMethod, HeaderMap, Bytes)>>>;

/// Accepts uploads at `/upload` (PUT or POST) with `Bearer secret`, and
/// answers 500 at `/broken`; returns its base URL and what it received.
async fn server() -> (Url, Received) {
    async fn upload(
        State(received): State<Received>,
        method: HttpMethod,
        headers: HeaderMap,
        body: Bytes,
    ) -> (HttpStatus, &'static str) {
        let authorized = headers
            .get("authorization")
            .is_some_and(|v| v == "Bearer secret");
        if !authorized {
            return (HttpStatus::UNAUTHORIZED, "bad or missing token");
        }
        received.lock().unwrap().push((method, headers, body));
        (HttpStatus::CREATED, "stored")
    }
    async fn broken() -> (HttpStatus, &'static str) {
        (HttpStatus::INTERNAL_SERVER_ERROR, "disk full")
    }
    let received = Received::default();
    let app = Router::new()
        .route("/upload", put(upload).post(upload))
        .route("/broken", put(broken))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, received)
}

fn fake() -> DynExecutor<Unseal> {
    Arc::new(PatternUnsealer::default())
}

#[tokio::test]
async fn the_unsealed_bytes_arrive_from_memory_or_a_spool_file() {
    let (base, received) = server().await;
    let url = base.join("upload").unwrap();
    let spool = tempfile::tempdir().unwrap();
    let in_memory = HttpDestination::new(url.clone()).with_token("secret");
    let spooled = HttpDestination::new(url)
        .with_token(" secret\n")
        .with_method(UploadMethod::Post)
        .with_memory_limit(100)
        .with_spool_dir(spool.path());
    assert_eq!(
        unseal_to_http(&*fake(), &unseal_request(300), &in_memory)
            .await
            .unwrap(),
        300
    );
    assert_eq!(
        unseal_to_http(&*fake(), &unseal_request(5000), &spooled)
            .await
            .unwrap(),
        5000
    );
    let got = received.lock().unwrap();
    assert_eq!(got.len(), 2);
    for ((method, headers, body), (want_method, len)) in got
        .iter()
        .zip([(HttpMethod::PUT, 300), (HttpMethod::POST, 5000)])
    {
        assert_eq!(method, want_method);
        assert_eq!(body[..], expected(len)[..]);
        assert_eq!(headers["content-length"], len.to_string().as_str());
        assert_eq!(headers["content-type"], "application/octet-stream");
    }
    assert_eq!(
        std::fs::read_dir(spool.path()).unwrap().count(),
        0,
        "the spool file is anonymous"
    );
    assert!(!format!("{spooled:?}").contains("secret"));
}

#[tokio::test]
async fn a_server_error_names_the_redacted_url_and_the_status() {
    let (base, _) = server().await;
    let url = base.join("broken?X-Amz-Signature=topsecret").unwrap();
    let shown = redact(&url);
    assert!(shown.starts_with(&format!("{base}broken?")), "{shown}");
    let destination = HttpDestination::new(url).with_token("secret");
    let err = unseal_to_http(&*fake(), &unseal_request(300), &destination)
        .await
        .unwrap_err();
    let ProvingError::Upload { url, status, .. } = &err else {
        panic!("expected Upload, got {err}");
    };
    assert_eq!(*status, Some(500));
    assert_eq!(url, &shown);
    assert_eq!(err.level(), FailureLevel::Temporary);
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("uploading to {shown} failed")),
        "{msg}"
    );
    assert!(msg.contains("PUT of 300 bytes answered 500"), "{msg}");
    assert!(msg.contains("disk full"), "{msg}");
    assert!(
        !msg.contains("topsecret") && !msg.contains("secret\""),
        "{msg}"
    );
}

#[tokio::test]
async fn a_missing_or_refused_token_is_critical_and_says_so() {
    let (base, received) = server().await;
    let url = base.join("upload").unwrap();
    let err = unseal_to_http(
        &*fake(),
        &unseal_request(300),
        &HttpDestination::new(url.clone()),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            ProvingError::Upload {
                status: Some(401),
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.level(), FailureLevel::Critical);
    let msg = err.to_string();
    assert!(msg.contains(url.as_str()), "{msg}");
    assert!(msg.contains("carried no token"), "{msg}");
    assert!(msg.contains("HttpDestination::with_token"), "{msg}");
    assert!(msg.contains("bad or missing token"), "{msg}");

    let wrong = HttpDestination::new(url).with_token("guess");
    let err = unseal_to_http(&*fake(), &unseal_request(300), &wrong)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("the token was refused"), "{err}");
    assert!(!err.to_string().contains("guess"), "{err}");
    assert!(received.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_failed_unseal_sends_nothing_and_an_unreachable_server_is_temporary() {
    let (base, received) = server().await;
    let destination = HttpDestination::new(base.join("upload").unwrap()).with_token("secret");
    let failing: DynExecutor<Unseal> = Arc::new(PatternUnsealer {
        fail: Some("bad range"),
    });
    for limit in [u64::MAX, 0] {
        let destination = destination.clone().with_memory_limit(limit);
        let err = unseal_to_http(&*failing, &unseal_request(300), &destination)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("bad range"), "{err}");
    }
    assert!(received.lock().unwrap().is_empty());

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gone = HttpDestination::parse(&format!("http://127.0.0.1:{port}/upload")).unwrap();
    let err = unseal_to_http(&*fake(), &unseal_request(300), &gone)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProvingError::Upload { status: None, .. }),
        "{err}"
    );
    assert_eq!(err.level(), FailureLevel::Temporary);
    assert!(
        err.to_string()
            .contains(&format!("127.0.0.1:{port}/upload")),
        "{err}"
    );

    let err = HttpDestination::parse("ftp://user:pw@host/x").unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("ftp://user:") && msg.contains("@host/x"),
        "{msg}"
    );
    assert!(!msg.contains("pw"), "{msg}");
}
