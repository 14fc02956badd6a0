//! The JSON-RPC transport the chain clients share: HTTP POSTs with a bearer
//! token to a Lotus / Venus node ([`LotusClient`](crate::LotusClient)) or
//! to venus-messager ([`MessagerClient`](crate::MessagerClient)), positional
//! parameters, and every failure mapped to the [`ChainError`] that tells
//! the caller what to do.

use std::time::Duration;

use jsonrpsee::core::client::ClientT;
use jsonrpsee::core::traits::ToRpcParams;
use jsonrpsee::core::ClientError as RpcError;
use jsonrpsee::http_client::transport::Error as HttpTransportError;
use jsonrpsee::http_client::{HeaderMap, HeaderValue, HttpClient, HttpClientBuilder};
use serde::de::DeserializeOwned;
use serde_json::Value;
use venus_seal_core::error::ChainError;

/// How long one call may take before the node counts as unreachable.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

#[cfg(test)]
#[path = "jsonrpc_timeout_tests.rs"]
mod timeout_tests;

/// A JSON-RPC endpoint: its URL and an HTTP client sending `Authorization:
/// Bearer <token>` when a token is given.
#[derive(Debug, Clone)]
pub(crate) struct JsonRpcClient {
    http: HttpClient,
    url: String,
}

impl JsonRpcClient {
    /// A client of the endpoint at `url` (the full RPC URL, such as
    /// `http://127.0.0.1:1234/rpc/v1`). A token that cannot be a header is
    /// `Unauthorized`, a URL jsonrpsee refuses `Transport`.
    pub(crate) fn new(url: String, token: Option<&str>) -> Result<Self, ChainError> {
        Self::with_timeout(url, token, REQUEST_TIMEOUT)
    }

    /// [`new`](Self::new) with calls limited to `timeout` instead of
    /// [`REQUEST_TIMEOUT`].
    pub(crate) fn with_timeout(
        url: String,
        token: Option<&str>,
        timeout: Duration,
    ) -> Result<Self, ChainError> {
        let mut headers = HeaderMap::new();
        if let Some(token) = token {
            let mut value =
                HeaderValue::from_str(&format!("Bearer {}", token.trim())).map_err(|_| {
                    ChainError::Unauthorized(
                        "the token contains characters not allowed in a header".into(),
                    )
                })?;
            value.set_sensitive(true);
            headers.insert("authorization", value);
        }
        let http = HttpClientBuilder::default()
            .set_headers(headers)
            .request_timeout(timeout)
            .build(&url)
            .map_err(|e| ChainError::Transport(format!("cannot use the URL {url:?}: {e}")))?;
        Ok(JsonRpcClient { http, url })
    }

    /// The endpoint's URL.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Calls `method` with positional `params` and decodes the result as
    /// `R`; failures as [`map_rpc_error`] classifies them.
    pub(crate) async fn call<R: DeserializeOwned>(
        &self,
        method: &str,
        params: Vec<Value>,
    ) -> Result<R, ChainError> {
        let value: Value = self
            .http
            .request(method, PositionalParams(params))
            .await
            .map_err(|e| map_rpc_error(method, e))?;
        serde_json::from_value(value)
            .map_err(|e| ChainError::InvalidResponse(format!("{method}: unexpected answer: {e}")))
    }
}

/// Positional parameters, always sent as a JSON array (`[]` when empty:
/// jsonrpsee's own `ArrayParams` would omit the field).
struct PositionalParams(Vec<Value>);

impl ToRpcParams for PositionalParams {
    fn to_rpc_params(self) -> Result<Option<Box<serde_json::value::RawValue>>, serde_json::Error> {
        serde_json::value::to_raw_value(&self.0).map(Some)
    }
}

/// What a node (or the proxy in front of it: venus chain-co, sophon
/// gateway) answers when it is busy, catching up or between connections
/// rather than refusing the call: worth asking again, not a verdict.
const TRANSIENT_NODE_ERRORS: &[&str] = &[
    "context deadline exceeded",
    "context canceled",
    "i/o timeout",
    "connection refused",
    "connection reset",
    "broken pipe",
    "unexpected eof",
    "websocket connection closed",
    "too many requests",
    "rate limit",
    "temporarily unavailable",
    "service unavailable",
    "bad gateway",
    "no available node",
    "no healthy node",
    "not synced",
    "still syncing",
    "database is locked",
];

/// Maps a jsonrpsee error of `method` to a [`ChainError`]: HTTP 401/403 and
/// permission errors → `Unauthorized`, unreachable or timed out →
/// `Transport`, undecodable → `InvalidResponse`; an error the node returned
/// → `Transport` when it says the node is busy or between connections
/// ([`TRANSIENT_NODE_ERRORS`]: asked again), else `Rejected`.
fn map_rpc_error(method: &str, e: RpcError) -> ChainError {
    match e {
        RpcError::Call(obj) => {
            let msg = obj.message().to_string();
            let lower = msg.to_ascii_lowercase();
            if lower.contains("permission")
                || lower.contains("unauthorized")
                || lower.contains("jwt")
                || lower.contains("token")
            {
                ChainError::Unauthorized(format!("{method}: {msg}"))
            } else if TRANSIENT_NODE_ERRORS.iter().any(|t| lower.contains(t)) {
                ChainError::Transport(format!(
                    "{method}: the node is busy or unavailable (code {}): {msg}",
                    obj.code()
                ))
            } else {
                ChainError::Rejected(format!("{method} failed (code {}): {msg}", obj.code()))
            }
        }
        RpcError::Transport(err) => {
            if let Some(HttpTransportError::Rejected { status_code }) =
                err.downcast_ref::<HttpTransportError>()
            {
                if *status_code == 401 || *status_code == 403 {
                    return ChainError::Unauthorized(format!(
                        "{method}: HTTP {status_code} (check the API token)"
                    ));
                }
                return ChainError::Transport(format!("{method}: HTTP {status_code}"));
            }
            ChainError::Transport(format!("{method}: {err}"))
        }
        RpcError::RequestTimeout => ChainError::Transport(format!("{method}: timed out")),
        RpcError::ParseError(err) => {
            ChainError::InvalidResponse(format!("{method}: malformed answer: {err}"))
        }
        other => ChainError::InvalidResponse(format!("{method}: {other}")),
    }
}
