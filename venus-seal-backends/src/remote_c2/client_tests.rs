//! The client against a scripted service: what it does with answers a real
//! service should never give (an abort request, an endless error body).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use futures_util::StreamExt;
use venus_seal_core::stage::Opaque;
use venus_seal_core::testing::FakeProofVerifier;
use venus_seal_core::{ActorId, Leveled, SealProof, SectorId, SectorNumber};

use super::*;
use crate::remote_c2::api::SUBMIT_PATH;

fn task() -> C2 {
    C2 {
        proof: SealProof::StackedDrg2KiBV1_1,
        sector: SectorId::new(ActorId(1000), SectorNumber(5)),
        c1_output: Opaque::from_json("{}".into()).unwrap(),
    }
}

/// Serves `router` on a free port; its URL.
async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

fn client(url: &str) -> RemoteC2Executor {
    RemoteC2Executor::new(url, "token", Arc::new(FakeProofVerifier)).with_config(RemoteC2Config {
        request_timeout: Duration::from_secs(30),
        ..RemoteC2Config::default()
    })
}

#[tokio::test]
async fn an_abort_from_the_service_is_capped_at_permanent() {
    let url = serve(Router::new().route(
        SUBMIT_PATH,
        post(|| async {
            axum::Json(TaskStatus {
                id: "1000-5-x".into(),
                stage: "c2".into(),
                sector: task().sector,
                state: TaskState::Failed,
                attempts: 1,
                claimed_by: None,
                error: Some(TaskError {
                    level: FailureLevel::Abort,
                    message: "delete this sector".into(),
                }),
            })
        }),
    ))
    .await;
    let err = client(&url).prove(&task()).await.unwrap_err();
    assert_eq!(err.level(), FailureLevel::Permanent, "{err}");
    let text = err.to_string();
    assert!(text.contains("delete this sector"), "{text}");
    assert!(text.contains("asked to abort"), "{text}");
}

#[tokio::test]
async fn an_endless_error_body_is_cut_not_buffered() {
    // 1 MiB of body, then the server never ends it.
    let url = serve(Router::new().route(
        SUBMIT_PATH,
        post(|| async {
            let chunks = futures_util::stream::iter(
                (0..16).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 64 << 10])),
            )
            .chain(futures_util::stream::pending());
            (StatusCode::INTERNAL_SERVER_ERROR, Body::from_stream(chunks)).into_response()
        }),
    ))
    .await;
    let started = Instant::now();
    let err = client(&url).submit(&task()).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "waited {:?} for the body to end",
        started.elapsed()
    );
    assert_eq!(err.level(), FailureLevel::Temporary, "{err}");
    let text = err.to_string();
    assert!(text.contains("500"), "{text}");
    assert!(text.contains("truncated at 4096 bytes"), "{text}");
    assert!(text.len() < 5000, "{} bytes quoted", text.len());
}
