//! Calling a venus-seal (or Lotus) JSON-RPC server with a bearer token, and
//! telling the caller what went wrong.

use std::error::Error as StdError;
use std::time::Duration;

use http::header::{HeaderValue, AUTHORIZATION};
use http::HeaderMap;
use jsonrpsee::core::client::ClientT;
use jsonrpsee::core::params::ArrayParams;
use jsonrpsee::core::ClientError as RpcClientError;
use jsonrpsee::http_client::transport::Error as TransportError;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use serde::de::DeserializeOwned;

use crate::codes;

/// How long a call may take before the server counts as unreachable.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A call that did not succeed, by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Nothing answered (connection refused, DNS, timeout): check the
    /// address and that the server runs; retrying later may help.
    #[error("cannot reach {url}: {reason}")]
    Unreachable {
        /// The server's URL.
        url: String,
        /// Why, e.g. `connection refused`.
        reason: String,
    },
    /// The server refused the token (missing, malformed, bad signature,
    /// expired): get a valid token from the server's operator.
    #[error("{url} refused the token: {message}")]
    Unauthenticated {
        /// The server's URL.
        url: String,
        /// The server's reason, e.g. `invalid token: bad signature …`.
        message: String,
    },
    /// The token is valid but does not allow the method: use a token with
    /// more permission.
    #[error("{message}")]
    PermissionDenied {
        /// The server's message, e.g. `permission denied:
        /// Venus.Admin.Pause needs admin, token allows read`.
        message: String,
    },
    /// The server ran the method and it failed (unknown job, invalid
    /// parameters, refused by the engine): see the message and
    /// [`codes`].
    #[error("{method} failed: {message}")]
    Failed {
        /// The method called.
        method: &'static str,
        /// The JSON-RPC error code.
        code: i32,
        /// The server's message.
        message: String,
    },
    /// The server answered something this client does not understand
    /// (wrong URL path, another API version).
    #[error("unexpected answer from {url}: {message}")]
    Protocol {
        /// The server's URL.
        url: String,
        /// What was wrong.
        message: String,
    },
    /// The URL or token cannot be used at all.
    #[error("invalid client configuration: {0}")]
    Config(String),
}

impl ClientError {
    /// Whether nothing answered (worth retrying later).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ClientError::Unreachable { .. })
    }

    /// Whether the server refused the caller (token or permission).
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            ClientError::Unauthenticated { .. } | ClientError::PermissionDenied { .. }
        )
    }

    /// The JSON-RPC code of a [`ClientError::Failed`] call.
    pub fn code(&self) -> Option<i32> {
        match self {
            ClientError::Failed { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Classifies a jsonrpsee client error from calling `method` at `url`.
    pub fn from_rpc(url: &str, method: &'static str, err: RpcClientError) -> Self {
        match err {
            RpcClientError::Call(obj) => match obj.code() {
                codes::INVALID_TOKEN => ClientError::Unauthenticated {
                    url: url.to_string(),
                    message: obj.message().to_string(),
                },
                codes::PERMISSION_DENIED => ClientError::PermissionDenied {
                    message: obj.message().to_string(),
                },
                code => ClientError::Failed {
                    method,
                    code,
                    message: obj.message().to_string(),
                },
            },
            RpcClientError::Transport(e) => transport_error(url, &*e),
            RpcClientError::RequestTimeout => ClientError::Unreachable {
                url: url.to_string(),
                reason: "no answer in time".into(),
            },
            RpcClientError::ParseError(e) => ClientError::Protocol {
                url: url.to_string(),
                message: format!("{method}: cannot parse the answer: {e}"),
            },
            other => ClientError::Protocol {
                url: url.to_string(),
                message: format!("{method}: {other}"),
            },
        }
    }
}

fn transport_error(url: &str, err: &(dyn StdError + Send + Sync + 'static)) -> ClientError {
    match err.downcast_ref::<TransportError>() {
        Some(TransportError::Rejected { status_code: 401 }) => ClientError::Unauthenticated {
            url: url.to_string(),
            message: "HTTP 401 Unauthorized: the token is missing or invalid".into(),
        },
        Some(TransportError::Rejected { status_code: 403 }) => ClientError::PermissionDenied {
            message: format!("{url} answered HTTP 403 Forbidden: the token allows too little"),
        },
        Some(TransportError::Rejected { status_code: 429 }) => ClientError::Unreachable {
            url: url.to_string(),
            reason: "HTTP 429 Too Many Requests: the server is at its connection limit".into(),
        },
        Some(TransportError::Rejected { status_code }) => ClientError::Protocol {
            url: url.to_string(),
            message: format!("HTTP status {status_code} (is the URL path right?)"),
        },
        Some(TransportError::Http(_)) | None => ClientError::Unreachable {
            url: url.to_string(),
            reason: root_cause(err),
        },
        Some(other) => ClientError::Protocol {
            url: url.to_string(),
            message: other.to_string(),
        },
    }
}

/// The innermost I/O error's kind (`connection refused`), else the
/// innermost message.
fn root_cause(err: &(dyn StdError + 'static)) -> String {
    let mut cause: &(dyn StdError + 'static) = err;
    loop {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::Other => io.to_string(),
                kind => kind.to_string(),
            };
        }
        match cause.source() {
            Some(next) => cause = next,
            None => return cause.to_string(),
        }
    }
}

/// A jsonrpsee HTTP client for `url` that sends `Authorization: Bearer
/// <token>` with every call (no header without a token).
pub fn http_client(url: &str, token: Option<&str>) -> Result<HttpClient, ClientError> {
    http_client_with_timeout(url, token, REQUEST_TIMEOUT)
}

/// [`http_client`] waiting up to `timeout` for each answer (for calls that
/// take minutes, such as a WindowPoSt proven on demand).
pub fn http_client_with_timeout(
    url: &str,
    token: Option<&str>,
    timeout: Duration,
) -> Result<HttpClient, ClientError> {
    let mut headers = HeaderMap::new();
    if let Some(token) = token {
        let mut value =
            HeaderValue::from_str(&format!("Bearer {}", token.trim())).map_err(|_| {
                ClientError::Config(
                    "the token contains characters not allowed in an HTTP header".into(),
                )
            })?;
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
    }
    HttpClientBuilder::default()
        .set_headers(headers)
        .request_timeout(timeout)
        .build(url)
        .map_err(|e| ClientError::Config(format!("cannot use the URL {url:?}: {e}")))
}

/// A JSON-RPC client of one server (an [`http_client`]) whose errors name
/// the server's URL and the method ([`ClientError::from_rpc`]): what each
/// of this crate's typed clients calls through.
#[derive(Debug)]
pub struct RpcClient {
    url: String,
    client: HttpClient,
}

impl RpcClient {
    /// A client of the server at `url` (`http://host:port`), sending
    /// `token` as a bearer token when given.
    pub fn new(url: impl Into<String>, token: Option<&str>) -> Result<Self, ClientError> {
        Self::with_timeout(url, token, REQUEST_TIMEOUT)
    }

    /// [`RpcClient::new`] waiting up to `timeout` for each answer.
    pub fn with_timeout(
        url: impl Into<String>,
        token: Option<&str>,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        let url = url.into();
        let client = http_client_with_timeout(&url, token, timeout)?;
        Ok(Self { url, client })
    }

    /// The server's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls `method` with `params`.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: &'static str,
        params: ArrayParams,
    ) -> Result<T, ClientError> {
        self.client
            .request(method, params)
            .await
            .map_err(|e| ClientError::from_rpc(&self.url, method, e))
    }
}
