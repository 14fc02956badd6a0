//! A local JSON-RPC server answering each method with canned replies, in
//! the order given, and recording every call: the node the Lotus and
//! venus-messager client tests talk to.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use venus_seal_core::chain::MessageState;

/// One canned answer: a result, or a JSON-RPC error (code, message).
pub type Reply = Result<Value, (i64, String)>;

/// (Authorization header, request body) of one call.
pub type Seen = (Option<String>, Value);

/// The server's replies and what it was asked.
#[derive(Clone, Default)]
pub struct Fake {
    replies: Arc<Mutex<HashMap<String, VecDeque<Reply>>>>,
    /// (Authorization header, request body) of every call.
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Answer every request with this HTTP status instead.
    status: Option<u16>,
}

impl Fake {
    /// A server answering every request with the HTTP status `status`.
    #[allow(dead_code)] // not every test binary including this module uses it
    pub fn with_status(status: u16) -> Self {
        Self {
            status: Some(status),
            ..Self::default()
        }
    }

    /// Queues `r` as the answer to the next unanswered call of `method`.
    pub fn reply(&self, method: &str, r: Reply) {
        self.replies
            .lock()
            .unwrap()
            .entry(method.to_string())
            .or_default()
            .push_back(r);
    }

    /// Whether every reply queued was given.
    pub fn all_answered(&self) -> bool {
        self.replies.lock().unwrap().values().all(|q| q.is_empty())
    }

    /// Every call so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn handle(State(fake): State<Fake>, headers: HeaderMap, Json(req): Json<Value>) -> Response {
    if let Some(s) = fake.status {
        return StatusCode::from_u16(s).unwrap().into_response();
    }
    let auth = headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_string());
    fake.seen.lock().unwrap().push((auth, req.clone()));
    let method = req["method"].as_str().unwrap_or_default().to_string();
    let reply = fake
        .replies
        .lock()
        .unwrap()
        .get_mut(&method)
        .and_then(|q| q.pop_front())
        .unwrap_or_else(|| Err((-32601, format!("method '{method}' not found"))));
    let body = match reply {
        Ok(result) => json!({"jsonrpc": "2.0", "id": req["id"], "result": result}),
        Err((code, message)) => {
            json!({"jsonrpc": "2.0", "id": req["id"], "error": {"code": code, "message": message}})
        }
    };
    Json(body).into_response()
}

/// Serves `fake` at `path` on a local port; answers the server's URL.
pub async fn serve(fake: Fake, path: &str) -> String {
    let app = Router::new().route(path, post(handle)).with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// A message executed successfully at `epoch`.
pub fn landed(epoch: i64) -> MessageState {
    MessageState::Landed {
        epoch,
        exit_code: 0,
        error: None,
    }
}
