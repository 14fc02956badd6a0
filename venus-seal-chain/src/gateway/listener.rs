//! The proof-event listener: one websocket per miner, registered with
//! `Gateway.ListenProofEvent`, answering `ComputeProof` events with
//! `Gateway.ResponseProofEvent`, reconnecting with backoff.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use venus_seal_core::proving::{compute_proof, SectorLocator};
use venus_seal_core::stage::WinningPoSt;
use venus_seal_core::{ActorId, DynExecutor, ProofVerifier};

use super::wire::{
    ConnectedCompleted, GatewayComputeProof, GoPoStProof, ProofRegisterPolicy, RequestEvent,
    ResponseEvent,
};
use super::ws::{self, WsSender, WsUrl};

/// go-jsonrpc's channel value notification.
pub const CH_VALUE: &str = "xrpc.ch.val";
/// go-jsonrpc's channel close notification.
pub const CH_CLOSE: &str = "xrpc.ch.close";
/// The registration method.
pub const LISTEN: &str = "Gateway.ListenProofEvent";
/// The answer method.
pub const RESPOND: &str = "Gateway.ResponseProofEvent";
/// venus-shared's `APINamespace` for the gateway v2 API.
pub const API_NAMESPACE: &str = "gateway.IGateway";

/// How the listener reaches the gateway.
#[derive(Clone, PartialEq, Eq)]
pub struct GatewayConfig {
    /// The gateway's websocket endpoint.
    pub url: WsUrl,
    /// The venus-auth token sent as `Authorization: Bearer` (`None`: no
    /// header, for a gateway without auth).
    pub token: Option<String>,
    /// The miners to register (one connection each).
    pub miners: Vec<ActorId>,
    /// The first reconnection delay, doubled after each failure.
    pub backoff_min: Duration,
    /// The longest reconnection delay.
    pub backoff_max: Duration,
}

impl fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("miners", &self.miners)
            .field("backoff_min", &self.backoff_min)
            .field("backoff_max", &self.backoff_max)
            .finish()
    }
}

/// What proves: the challenge drawer (the manager's verifier), the
/// WinningPoSt executor, and where the sectors' files are.
#[derive(Clone)]
pub struct WinningProver {
    /// Draws the challenged sectors (the chain's rule).
    pub challenger: Arc<dyn ProofVerifier>,
    /// Proves them.
    pub prover: DynExecutor<WinningPoSt>,
    /// Finds their files.
    pub locator: Arc<dyn SectorLocator>,
}

impl fmt::Debug for WinningProver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WinningProver")
            .field("challenger", &self.challenger)
            .field("locator", &self.locator)
            .finish_non_exhaustive()
    }
}

/// Answers venus-gateway's proof events for the configured miners.
#[derive(Debug)]
pub struct ProofEventListener {
    config: GatewayConfig,
    prover: WinningProver,
    registrations: AtomicU64,
}

impl ProofEventListener {
    /// A listener for `config`'s miners proving with `prover`.
    pub fn new(config: GatewayConfig, prover: WinningProver) -> Arc<Self> {
        Arc::new(Self {
            config,
            prover,
            registrations: AtomicU64::new(0),
        })
    }

    /// How many times a channel was registered (each reconnection adds one).
    pub fn registrations(&self) -> u64 {
        self.registrations.load(Ordering::Relaxed)
    }

    /// Runs one task per miner until aborted.
    pub fn spawn(self: &Arc<Self>) -> JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            // Dropping the set (this task aborted) aborts the miners' tasks.
            let mut set = tokio::task::JoinSet::new();
            for &m in &this.config.miners {
                set.spawn(this.clone().run_miner(m));
            }
            while set.join_next().await.is_some() {}
        })
    }

    /// Registers `miner` and answers its events, reconnecting forever.
    async fn run_miner(self: Arc<Self>, miner: ActorId) {
        let (answers_tx, mut answers) = mpsc::channel::<ResponseEvent>(16);
        let mut unsent = VecDeque::new();
        let mut delay = self.config.backoff_min;
        loop {
            let mut registered = false;
            let result = self
                .session(
                    miner,
                    &answers_tx,
                    &mut answers,
                    &mut unsent,
                    &mut registered,
                )
                .await;
            if registered {
                delay = self.config.backoff_min;
            }
            match result {
                Ok(()) => tracing::warn!(%miner, "venus-gateway closed the proof event channel"),
                Err(e) => {
                    tracing::warn!(%miner, error = %e, retry_in = ?delay, "venus-gateway proof events")
                }
            }
            tokio::time::sleep(delay).await;
            if !registered {
                delay = (delay * 2).min(self.config.backoff_max);
            }
        }
    }

    /// One connection: register, then serve events until it drops.
    async fn session(
        &self,
        miner: ActorId,
        answers_tx: &mpsc::Sender<ResponseEvent>,
        answers: &mut mpsc::Receiver<ResponseEvent>,
        unsent: &mut VecDeque<ResponseEvent>,
        registered: &mut bool,
    ) -> Result<(), String> {
        let (mut sender, mut frames) = ws::connect(
            &self.config.url,
            self.config.token.as_deref(),
            API_NAMESPACE,
        )
        .await?;
        let mut next_id: i64 = 1;
        let listen_id = next_id;
        let policy = ProofRegisterPolicy {
            miner_address: miner.to_string(),
        };
        ws::send(
            &mut sender,
            &json!({"jsonrpc": "2.0", "id": listen_id, "method": LISTEN, "params": [policy]}),
        )
        .await?;
        let mut channel: Option<u64> = None;
        loop {
            tokio::select! {
                frame = frames.recv() => {
                    let Some(frame) = frame else {
                        return Err("the websocket dropped".into());
                    };
                    match self.on_frame(miner, &frame, listen_id, &mut channel, answers_tx) {
                        Frame::Continue => {}
                        Frame::Registered => {
                            *registered = true;
                            self.registrations.fetch_add(1, Ordering::Relaxed);
                            tracing::info!(%miner, url = ?self.config.url, "registered for venus-gateway proof events");
                            while let Some(a) = unsent.pop_front() {
                                next_id += 1;
                                if let Err(e) = respond(&mut sender, next_id, &a).await {
                                    unsent.push_front(a);
                                    return Err(e);
                                }
                            }
                        }
                        Frame::Closed => return Ok(()),
                        Frame::Fail(e) => return Err(e),
                        Frame::Reply(v) => ws::send(&mut sender, &v).await?,
                    }
                }
                Some(answer) = answers.recv() => {
                    next_id += 1;
                    if let Err(e) = respond(&mut sender, next_id, &answer).await {
                        // Answered on the next connection: the gateway
                        // matches answers by Id, not by connection.
                        unsent.push_back(answer);
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Handles one received frame.
    fn on_frame(
        &self,
        miner: ActorId,
        frame: &Value,
        listen_id: i64,
        channel: &mut Option<u64>,
        answers: &mpsc::Sender<ResponseEvent>,
    ) -> Frame {
        let method = frame.get("method").and_then(Value::as_str);
        let params = frame.get("params").and_then(Value::as_array);
        let id = frame.get("id").and_then(Value::as_i64);
        match method {
            None => {
                if let Some(err) = frame.get("error").filter(|e| !e.is_null()) {
                    if id == Some(listen_id) {
                        return Frame::Fail(format!("{LISTEN} for {miner} refused: {err}"));
                    }
                    tracing::warn!(%miner, error = %err, "venus-gateway refused an answer");
                    return Frame::Continue;
                }
                if id == Some(listen_id) {
                    match frame.get("result").and_then(Value::as_u64) {
                        Some(ch) => {
                            *channel = Some(ch);
                            return Frame::Registered;
                        }
                        None => {
                            return Frame::Fail(format!("{LISTEN} answered no channel id: {frame}"))
                        }
                    }
                }
                Frame::Continue
            }
            Some(CH_VALUE) => {
                let (Some(ch), Some(value)) = (
                    params.and_then(|p| p.first()).and_then(Value::as_u64),
                    params.and_then(|p| p.get(1)),
                ) else {
                    return Frame::Fail(format!("malformed {CH_VALUE}: {frame}"));
                };
                if Some(ch) != *channel {
                    tracing::warn!(%miner, ch, "value for an unknown channel ignored");
                    return Frame::Continue;
                }
                match serde_json::from_value::<RequestEvent>(value.clone()) {
                    Ok(event) => self.on_event(miner, event, answers),
                    Err(e) => tracing::warn!(%miner, error = %e, "unreadable RequestEvent ignored"),
                }
                Frame::Continue
            }
            Some(CH_CLOSE) => {
                let ch = params.and_then(|p| p.first()).and_then(Value::as_u64);
                if ch.is_some() && ch == *channel {
                    Frame::Closed
                } else {
                    Frame::Continue
                }
            }
            Some(other) => match id {
                // A call to us: go-jsonrpc's answer to an unknown method.
                Some(id) => Frame::Reply(json!({
                    "jsonrpc": "2.0",
                    "id": id,
                    "error": {"code": -32601, "message": format!("method '{other}' not found")},
                })),
                None => Frame::Continue,
            },
        }
    }

    /// Handles one event of the channel; a `ComputeProof` is proven on its
    /// own task and answered through `answers`.
    fn on_event(&self, miner: ActorId, event: RequestEvent, answers: &mpsc::Sender<ResponseEvent>) {
        match event.method.as_str() {
            "InitConnect" => {
                let channel = serde_json::from_slice::<ConnectedCompleted>(&event.payload)
                    .map(|c| c.channel_id)
                    .unwrap_or_default();
                tracing::info!(%miner, %channel, "venus-gateway connection completed");
            }
            "ComputeProof" => {
                let prover = self.prover.clone();
                let answers = answers.clone();
                tokio::spawn(async move {
                    let answer = prove(&prover, miner, &event).await;
                    let _ = answers.send(answer).await;
                });
            }
            other => {
                tracing::warn!(%miner, method = other, "unexpected proof event type");
                let _ = answers.try_send(ResponseEvent {
                    id: event.id,
                    payload: None,
                    error: format!("unsupported proof event method {other}"),
                });
            }
        }
    }
}

/// What a frame asks of the session.
enum Frame {
    Continue,
    Registered,
    Closed,
    Fail(String),
    Reply(Value),
}

/// Proves a `ComputeProof` event; the answer carries the proofs or the
/// error.
pub async fn prove(prover: &WinningProver, miner: ActorId, event: &RequestEvent) -> ResponseEvent {
    let result = async {
        let req: GatewayComputeProof = serde_json::from_slice(&event.payload)
            .map_err(|e| format!("ComputeProofRequest: {e}"))?;
        let req = req.to_request(miner)?;
        let started = std::time::Instant::now();
        let proofs = compute_proof(
            &*prover.challenger,
            &*prover.prover,
            &*prover.locator,
            &req,
        )
        .await
        .map_err(|e| e.to_string())?;
        tracing::info!(%miner, epoch = req.epoch, took = ?started.elapsed(), "WinningPoSt computed for venus-gateway");
        let proofs: Vec<GoPoStProof> = proofs.iter().map(GoPoStProof::from).collect();
        serde_json::to_vec(&proofs).map_err(|e| e.to_string())
    }
    .await;
    match result {
        Ok(payload) => ResponseEvent {
            id: event.id.clone(),
            payload: Some(payload),
            error: String::new(),
        },
        Err(error) => {
            tracing::warn!(%miner, id = %event.id, %error, "ComputeProof failed");
            ResponseEvent {
                id: event.id.clone(),
                payload: None,
                error,
            }
        }
    }
}

async fn respond(sender: &mut WsSender, id: i64, answer: &ResponseEvent) -> Result<(), String> {
    ws::send(
        sender,
        &json!({"jsonrpc": "2.0", "id": id, "method": RESPOND, "params": [answer]}),
    )
    .await
}
