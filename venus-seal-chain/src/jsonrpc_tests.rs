//! [`map_rpc_error`](super::map_rpc_error) against a small axum server
//! answering every call with one canned JSON-RPC error object or HTTP
//! status: the class follows the code and the status, whatever the words.

use std::net::SocketAddr;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use venus_seal_core::error::ChainError;
use venus_seal_core::{FailureLevel, Leveled as _};

use super::JsonRpcClient;

/// What the fake answers every request with.
#[derive(Clone)]
enum Answer {
    /// HTTP 200 with this JSON-RPC error object.
    Error { code: i64, message: String },
    /// This HTTP status and a JSON-RPC error body (as go-jsonrpc sends
    /// request-level errors: HTTP 500 with the error object).
    Status(u16),
}

async fn handle(State(answer): State<Answer>, Json(req): Json<Value>) -> Response {
    match answer {
        Answer::Error { code, message } => Json(json!({
            "jsonrpc": "2.0",
            "id": req["id"],
            "error": {"code": code, "message": message},
        }))
        .into_response(),
        Answer::Status(status) => (
            StatusCode::from_u16(status).unwrap(),
            Json(json!({
                "jsonrpc": "2.0",
                "id": req["id"],
                "error": {"code": -32601, "message": "method 'Filecoin.ChainHead' not found"},
            })),
        )
            .into_response(),
    }
}

/// Serves `answer` on a free local port; the client of it.
async fn fake(answer: Answer) -> JsonRpcClient {
    let app = Router::new()
        .route("/rpc/v1", post(handle))
        .with_state(answer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    JsonRpcClient::new(format!("http://{addr}/rpc/v1"), Some("token")).unwrap()
}

async fn call(answer: Answer) -> ChainError {
    fake(answer)
        .await
        .call::<Value>("Filecoin.ChainHead", vec![])
        .await
        .unwrap_err()
}

fn error(code: i64, message: &str) -> Answer {
    Answer::Error {
        code,
        message: message.into(),
    }
}

/// A handler error (go-jsonrpc code 1) with words nobody listed — or
/// words that merely mention a token, a permission or "rejected" — is the
/// node failing: Temporary, never a verdict on the request.
#[tokio::test]
async fn a_handler_error_of_any_words_is_a_temporary_node_error() {
    for text in [
        "some text nobody anticipated",
        "cannot draw randomness from the future",
        "the token amount overflows",
        "permission of the actor changed",
        "message rejected: not enough funds",
        "handler: context deadline exceeded",
        "",
    ] {
        let e = call(error(1, text)).await;
        assert!(matches!(e, ChainError::Node(_)), "{text:?}: {e:?}");
        assert_eq!(e.level(), FailureLevel::Temporary, "{text:?}");
        assert!(e.to_string().contains(text), "{e}");
        assert!(e.to_string().contains("Filecoin.ChainHead"), "{e}");
    }
}

/// A handler panic (0), an internal error (-32603), Lotus' registered
/// codes (2 = out of gas, 3 = actor not found, 11 = reverted) and codes
/// nobody documented are the node's failures too.
#[tokio::test]
async fn internal_registered_and_unknown_codes_are_temporary_node_errors() {
    for code in [0, -32603, 2, 3, 11, 77, -32000, -32099, -1_111_111] {
        let e = call(error(code, "anything at all")).await;
        assert!(matches!(e, ChainError::Node(_)), "code {code}: {e:?}");
        assert_eq!(e.level(), FailureLevel::Temporary, "code {code}");
    }
}

/// The codes saying the request itself cannot work as sent (no such
/// method, parameters the node cannot decode) are Permanent: asking the
/// same again cannot help. Whatever the words.
#[tokio::test]
async fn request_level_codes_are_permanent_rejections() {
    for code in [-32601, -32602, -32600, -32700] {
        let e = call(error(code, "some text nobody anticipated")).await;
        assert!(matches!(e, ChainError::Rejected(_)), "code {code}: {e:?}");
        assert_eq!(e.level(), FailureLevel::Permanent, "code {code}");
        assert!(e.to_string().contains(&format!("code {code}")), "{e}");
    }
}

/// Authorization stays Critical: HTTP 401/403 (a bad token, go-jsonrpc's
/// auth handler) and go-jsonrpc's permission proxy refusal (code 1 with
/// its fixed words).
#[tokio::test]
async fn auth_refusals_are_unauthorized() {
    for answer in [
        Answer::Status(401),
        Answer::Status(403),
        error(1, "missing permission to invoke 'ChainHead' (need 'read')"),
    ] {
        let e = call(answer).await;
        assert!(matches!(e, ChainError::Unauthorized(_)), "{e:?}");
        assert_eq!(e.level(), FailureLevel::Critical);
    }
}

/// Any other HTTP status (go-jsonrpc's request-level errors come as HTTP
/// 500; a proxy's 502/503/429) is the way to the node failing: Temporary.
#[tokio::test]
async fn other_http_statuses_are_temporary_transport_errors() {
    for status in [500, 502, 503, 429, 404] {
        let e = call(Answer::Status(status)).await;
        assert!(
            matches!(e, ChainError::Transport(_)),
            "HTTP {status}: {e:?}"
        );
        assert_eq!(e.level(), FailureLevel::Temporary, "HTTP {status}");
        assert!(e.to_string().contains(&status.to_string()), "{e}");
    }
}
