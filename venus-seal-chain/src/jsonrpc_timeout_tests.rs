//! A node that accepts the call and never answers costs a call its
//! timeout, not the caller's life.

use std::time::{Duration, Instant};

use venus_seal_core::error::ChainError;
use venus_seal_core::{FailureLevel, Leveled};

use super::JsonRpcClient;

/// A server that reads each request and then says nothing, holding the
/// connection open.
async fn stalled_node() -> String {
    let addr = venus_seal_core::testing::stalling_server(b"").await;
    format!("http://{addr}/rpc/v1")
}

#[tokio::test]
async fn a_stalled_node_times_out_as_a_transport_error() {
    let url = stalled_node().await;
    let client =
        JsonRpcClient::with_timeout(url, Some("token"), Duration::from_millis(300)).unwrap();
    let started = Instant::now();
    let err = tokio::time::timeout(
        Duration::from_secs(20),
        client.call::<serde_json::Value>("Filecoin.ChainHead", vec![]),
    )
    .await
    .expect("the call must time out by itself")
    .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, ChainError::Transport(_)), "{err:?}");
    assert_eq!(err.level(), FailureLevel::Temporary);
    let text = err.to_string();
    assert!(
        text.contains("Filecoin.ChainHead") && text.contains("timed out"),
        "{text}"
    );
}
