//! Serving Prometheus metrics over HTTP.

use std::net::SocketAddr;

use anyhow::Context;
use serde::Deserialize;
use tokio::task::JoinHandle;

/// `[metrics]` in the worker's and the sector manager's configs: the
/// Prometheus endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// Where `GET /metrics` is served.
    pub listen: SocketAddr,
}

/// Serves `GET /metrics` on `addr`, answering with what `render` returns
/// (Prometheus' text format). The returned task runs until aborted; a bind
/// failure is an error naming `key` (the config key of the address).
pub async fn serve_metrics<F>(
    key: &str,
    addr: SocketAddr,
    render: F,
) -> anyhow::Result<(SocketAddr, JoinHandle<()>)>
where
    F: Fn() -> String + Clone + Send + Sync + 'static,
{
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let render = render.clone();
            async move { render() }
        }),
    );
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("{key} {addr}"))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "metrics at /metrics");
    Ok((
        addr,
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "metrics server stopped");
            }
        }),
    ))
}
