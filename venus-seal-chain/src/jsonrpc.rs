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

impl JsonRpcClient {
    /// [`call`](Self::call), but `Ok(None)` when the server has no such
    /// method (JSON-RPC code -32601): for a method only newer servers
    /// have, which the caller replaces with an older one.
    pub(crate) async fn call_if_served<R: DeserializeOwned>(
        &self,
        method: &str,
        params: Vec<Value>,
    ) -> Result<Option<R>, ChainError> {
        let value: Value = match self.http.request(method, PositionalParams(params)).await {
            Ok(value) => value,
            Err(RpcError::Call(obj)) if obj.code() == code::METHOD_NOT_FOUND => return Ok(None),
            Err(e) => return Err(map_rpc_error(method, e)),
        };
        serde_json::from_value(value)
            .map(Some)
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

/// JSON-RPC error codes as the Filecoin nodes' RPC library,
/// filecoin-project/go-jsonrpc, answers them (Lotus, Venus, venus-messager
/// and the sophon proxies all serve through it). Read at go-jsonrpc
/// `handler.go` (commit 0a8dfdac294f5160c07f95be2cbeb54d9dcd603a),
/// `server.go` (06d31b204dd4746611ac5ad089fd975dfd17f545) and `errors.go`
/// (42824392a6b5e8af3f6e22966705a92305325d84); Lotus' registered codes at
/// lotus `api/api_errors.go` (082b7caab52bbc14befc378946934662ef8fef8a).
pub(crate) mod code {
    /// Any error a method's handler returned (`createError`'s default):
    /// "not enough funds", "actor not found" on older nodes, "handler:
    /// context deadline exceeded", go-jsonrpc/auth's "missing permission
    /// to invoke …": the code says nothing more.
    pub const HANDLER_ERROR: i32 = 1;
    /// A handler that panicked ("fatal error calling …") or a response
    /// that could not be encoded.
    pub const HANDLER_PANIC: i32 = 0;
    /// The first code a server may register for its own error types
    /// (`jsonrpc.FirstUserCode`); Lotus registers out-of-gas (2), actor not
    /// found (3), F3 states (4–10) and execution reverted (11).
    pub const FIRST_USER_CODE: i32 = 2;
    /// The request (or a parameter) does not decode; go-jsonrpc also uses
    /// it for a parameter its decoder refuses.
    pub const PARSE_ERROR: i32 = -32700;
    /// Not a JSON-RPC request (an empty body).
    pub const INVALID_REQUEST: i32 = -32600;
    /// The node has no such method (or not in this mode).
    pub const METHOD_NOT_FOUND: i32 = -32601;
    /// The wrong number of parameters.
    pub const INVALID_PARAMS: i32 = -32602;
    /// Internal JSON-RPC error (servers other than go-jsonrpc).
    pub const INTERNAL_ERROR: i32 = -32603;
}

/// The one refusal go-jsonrpc sends with the generic code: the token is
/// valid but lacks the method's permission. go-jsonrpc `auth/auth.go`
/// (commit 21d3666b3376bbba694b60af50468c8463a32d77), `PermissionedProxy`:
/// `missing permission to invoke '%s' (need '%s')`; venus' own proxy uses
/// the same words. A bad or missing token is an HTTP 401 instead (go-jsonrpc
/// `auth/handler.go`).
const MISSING_PERMISSION: &str = "missing permission to invoke ";

/// Maps a jsonrpsee error of `method` to a [`ChainError`], by HTTP status
/// and JSON-RPC error code, never by the message's words (but for the fixed
/// [`MISSING_PERMISSION`] prefix go-jsonrpc gives no code of its own):
///
/// | what came back | [`ChainError`] | level |
/// | --- | --- | --- |
/// | HTTP 401 / 403, code 1 starting `missing permission to invoke` | `Unauthorized` | Critical |
/// | code -32601, -32602, -32600, -32700 (the request can never succeed as sent) | `Rejected` | Permanent |
/// | code 1 (any handler error), 0 (a handler panic), -32603, a registered code (≥ 2), any other code | `Node` | Temporary |
/// | any other HTTP status, no connection, timed out | `Transport` | Temporary |
/// | an answer that does not decode | `InvalidResponse` | Temporary |
///
/// A node's error is never a sector's death: the manager answers workers
/// with a Temporary error for each of these (see
/// [`ManagerError::Chain`](venus_seal_core::ManagerError::Chain)).
pub(crate) fn map_rpc_error(method: &str, e: RpcError) -> ChainError {
    match e {
        RpcError::Call(obj) => {
            let code = obj.code();
            let msg = obj.message();
            match code {
                code::HANDLER_ERROR if msg.starts_with(MISSING_PERMISSION) => {
                    ChainError::Unauthorized(format!("{method}: {msg}"))
                }
                code::METHOD_NOT_FOUND => ChainError::Rejected(format!(
                    "{method}: the node has no such method (code {code}; is it a Lotus / Venus node of a supported API version?): {msg}"
                )),
                code::INVALID_PARAMS | code::INVALID_REQUEST | code::PARSE_ERROR => {
                    ChainError::Rejected(format!(
                        "{method}: the node cannot decode the request (code {code}): {msg}"
                    ))
                }
                code::HANDLER_ERROR => ChainError::Node(format!("{method}: {msg}")),
                code::HANDLER_PANIC => {
                    ChainError::Node(format!("{method}: the node's handler crashed: {msg}"))
                }
                code::INTERNAL_ERROR => {
                    ChainError::Node(format!("{method}: internal error of the node: {msg}"))
                }
                code if code >= code::FIRST_USER_CODE => {
                    ChainError::Node(format!("{method}: node error code {code}: {msg}"))
                }
                code => ChainError::Node(format!("{method}: error code {code}: {msg}")),
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

#[cfg(test)]
#[path = "jsonrpc_tests.rs"]
mod tests;
