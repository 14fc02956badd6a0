//! A fake venus-gateway for tests: a websocket server speaking go-jsonrpc's
//! channel frames as `filecoin-project/go-jsonrpc` `websocket.go` (@
//! `02b089c9ba28e8e038e39fe7bad000d8cda0272b`) writes them, with the
//! proof-event behaviour of `ipfs-force-community/sophon-gateway`
//! `proofevent/proof_event.go` (@ `fbcee3519dd080c301ec609873380149fc9c42a8`):
//! `ListenProofEvent` answers the channel id, then `InitConnect`; a
//! `ComputeProof` goes to the miner's latest channel and waits for the
//! `ResponseProofEvent` with its `Id`. The JSON it writes is spelled out
//! here from the Go field names (`venus-shared/types/gateway/common.go`),
//! never from the listener's own types.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_util::compat::TokioAsyncReadCompatExt;

use super::ws;

/// A connection's registered channel.
#[derive(Debug)]
struct Channel {
    miner: String,
    chid: u64,
    tx: mpsc::Sender<Command>,
}

#[derive(Debug)]
enum Command {
    Send(Value),
    Drop,
}

#[derive(Debug, Default)]
struct State {
    channels: Vec<Channel>,
    listens: u64,
    refused_handshakes: u64,
    waiting: HashMap<String, oneshot::Sender<Value>>,
}

/// The fake gateway (test helper; it proves nothing about proofs).
#[derive(Debug, Clone)]
pub struct FakeGateway {
    addr: SocketAddr,
    token: String,
    state: Arc<Mutex<State>>,
    changed: Arc<Notify>,
}

impl FakeGateway {
    /// Listens on a free loopback port; handshakes without
    /// `Authorization: Bearer <token>` get HTTP 401.
    pub async fn start(token: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let gw = FakeGateway {
            addr: listener.local_addr().expect("addr"),
            token: token.to_string(),
            state: Arc::default(),
            changed: Arc::default(),
        };
        let accept = gw.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let gw = accept.clone();
                tokio::spawn(async move { gw.serve(socket).await });
            }
        });
        gw
    }

    /// `ws://127.0.0.1:PORT/rpc/v2`.
    pub fn url(&self) -> String {
        format!("ws://{}/rpc/v2", self.addr)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `ListenProofEvent` calls served so far.
    pub fn listens(&self) -> u64 {
        self.state().listens
    }

    /// Handshakes refused for a wrong or missing token.
    pub fn refused_handshakes(&self) -> u64 {
        self.state().refused_handshakes
    }

    /// Waits (up to `timeout`) until at least `n` `ListenProofEvent` calls
    /// were served and a channel is open.
    pub async fn wait_listens(&self, n: u64, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, async {
            loop {
                let notified = self.changed.notified();
                {
                    let st = self.state();
                    if st.listens >= n && !st.channels.is_empty() {
                        return;
                    }
                }
                notified.await;
            }
        })
        .await
        .is_ok()
    }

    /// Drops every open socket without a close frame, as a network
    /// failure does.
    pub fn drop_connections(&self) {
        let mut st = self.state();
        for ch in st.channels.drain(..) {
            let _ = ch.tx.try_send(Command::Drop);
        }
    }

    /// Sends a `ComputeProof` event carrying `request` (the JSON of a
    /// `gateway.ComputeProofRequest`) to `miner`'s latest channel and
    /// returns the `ResponseEvent` JSON answered with its `Id`.
    pub async fn compute_proof(&self, miner: &str, request: &Value, timeout: Duration) -> Value {
        let id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        let (chid, conn) = {
            let mut st = self.state();
            st.waiting.insert(id.clone(), tx);
            let ch = st
                .channels
                .iter()
                .rev()
                .find(|c| c.miner == miner)
                .unwrap_or_else(|| panic!("no channel for {miner}"));
            (ch.chid, ch.tx.clone())
        };
        let payload = base64::engine::general_purpose::STANDARD
            .encode(serde_json::to_vec(request).expect("json"));
        let event = json!({"Id": id, "Method": "ComputeProof", "Payload": payload});
        conn.send(Command::Send(
            json!({"jsonrpc": "2.0", "method": "xrpc.ch.val", "params": [chid, event]}),
        ))
        .await
        .expect("connection gone");
        tokio::time::timeout(timeout, rx)
            .await
            .expect("no ResponseProofEvent in time")
            .expect("dropped")
    }

    /// Reads the HTTP upgrade request by hand (soketto's server API hides
    /// the Authorization header), then speaks websocket.
    async fn serve(self, mut socket: TcpStream) {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if socket.read(&mut byte).await.unwrap_or(0) == 0 || head.len() > 16384 {
                return;
            }
            head.push(byte[0]);
        }
        let text = String::from_utf8_lossy(&head).to_string();
        let mut lines = text.split("\r\n");
        let target = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .unwrap_or("/")
            .to_string();
        let mut req = http::Request::builder().method("GET").uri(target);
        for line in lines.filter(|l| !l.is_empty()) {
            if let Some((k, v)) = line.split_once(':') {
                req = req.header(k.trim(), v.trim());
            }
        }
        let Ok(req) = req.body(()) else { return };
        let authorized = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            == Some(format!("Bearer {}", self.token).as_str());
        if !authorized {
            self.state().refused_handshakes += 1;
            let _ = socket
                .write_all(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
                .await;
            return;
        }
        let mut server = soketto::handshake::http::Server::new();
        let Ok(resp) = server.receive_request(&req) else {
            return;
        };
        let mut out = format!("HTTP/1.1 {}\r\n", resp.status());
        for (k, v) in resp.headers() {
            out.push_str(&format!("{k}: {}\r\n", v.to_str().unwrap_or_default()));
        }
        out.push_str("\r\n");
        if socket.write_all(out.as_bytes()).await.is_err() {
            return;
        }
        let (mut sender, receiver) = server.into_builder(socket.compat()).finish();
        let mut frames = ws::spawn_reader(receiver);
        let (tx, mut commands) = mpsc::channel(16);
        loop {
            tokio::select! {
                frame = frames.recv() => {
                    let Some(frame) = frame else { return };
                    for reply in self.on_frame(&frame, &tx) {
                        if ws::send(&mut sender, &reply).await.is_err() {
                            return;
                        }
                    }
                }
                cmd = commands.recv() => match cmd {
                    Some(Command::Send(v)) => {
                        if ws::send(&mut sender, &v).await.is_err() {
                            return;
                        }
                    }
                    // Dropping the sender and the reader closes the TCP
                    // socket with no close frame.
                    Some(Command::Drop) | None => return,
                }
            }
        }
    }

    /// The frames a received one is answered with.
    fn on_frame(&self, frame: &Value, tx: &mpsc::Sender<Command>) -> Vec<Value> {
        let id = frame.get("id").cloned().unwrap_or(Value::Null);
        let params = frame.get("params").cloned().unwrap_or(Value::Null);
        match frame.get("method").and_then(Value::as_str) {
            Some("Gateway.ListenProofEvent") => {
                let Some(miner) = params[0]["MinerAddress"].as_str() else {
                    return vec![json!({"jsonrpc": "2.0", "id": id,
                        "error": {"code": 1, "message": "bad ProofRegisterPolicy"}})];
                };
                let chid = {
                    let mut st = self.state();
                    st.listens += 1;
                    let chid = st.listens;
                    st.channels.push(Channel {
                        miner: miner.to_string(),
                        chid,
                        tx: tx.clone(),
                    });
                    chid
                };
                self.changed.notify_waiters();
                let connected = base64::engine::general_purpose::STANDARD
                    .encode(json!({"ChannelId": uuid::Uuid::new_v4().to_string()}).to_string());
                vec![
                    json!({"jsonrpc": "2.0", "id": id, "result": chid}),
                    json!({"jsonrpc": "2.0", "method": "xrpc.ch.val", "params": [chid, {
                        "Id": uuid::Uuid::new_v4().to_string(),
                        "Method": "InitConnect",
                        "Payload": connected,
                    }]}),
                ]
            }
            Some("Gateway.ResponseProofEvent") => {
                let resp = params[0].clone();
                let waiter = resp["Id"]
                    .as_str()
                    .and_then(|i| self.state().waiting.remove(i));
                if let Some(w) = waiter {
                    let _ = w.send(resp);
                }
                // go-jsonrpc omits `result` for a method returning only an error.
                vec![json!({"jsonrpc": "2.0", "id": id})]
            }
            Some(other) => vec![json!({"jsonrpc": "2.0", "id": id,
                "error": {"code": -32601, "message": format!("method '{other}' not found")}})],
            None => Vec::new(),
        }
    }
}
