//! A fake Lotus full node and a fake venus-messager, served over real
//! HTTP (axum) so that the real [`LotusClient`] and [`MessagerClient`]
//! talk to them, in front of a [`DevnetChain`] that executes what they
//! let through (it checks proofs and keeps the miner's pre-commits and
//! sectors; the manager reads the chain from it directly).
//!
//! What they copy from the peers, read at:
//!
//! * Lotus `node/impl/full/mpool.go` `MpoolPushMessage` (filecoin-project/
//!   lotus, commit 3d1bc96aaee3346a0f03a88f60a2e2afd7d5cf85): a `MsgUuid`
//!   the node already signed a message under returns that message and
//!   pushes nothing; a balance below value + gas is refused with
//!   `mpool push: not enough funds: <balance> < <required>` (a plain Go
//!   error, so go-jsonrpc's code 1); the uuid is stored only after a
//!   successful push. `SignedMessage` JSON is `{Message, Signature, CID}`
//!   (chain/types/signedmessage.go `MarshalJSON`); `MsgLookup` is
//!   `{Message, Receipt{ExitCode, Return, GasUsed, EventsRoot}, ReturnDec,
//!   TipSet, Height}` (api/api_full.go); `StateSearchMsg [tsk, cid, limit,
//!   allowReplaced]` answers `null` until the message is executed.
//! * venus-messager (`Message.*`, `/rpc/v0`): `PushMessageWithId [id, msg,
//!   spec]` inserts without looking first (sophon-messager
//!   service/message_service.go → models/sqlite/message.go `CreateMessage`,
//!   commit fb23f3079303af3f17afdfcbbdb3ec7df9d495a5), so a known id fails
//!   on the primary key; `GetMessageByUid [id]` answers gorm's `record not
//!   found` for an unknown id. The record's JSON and states are
//!   venus-shared types/messager/message.go (filecoin-project/venus,
//!   commit 03977bba67fb5bb4f04073dd0d3478e565dc1865): `{ID, UnsignedCid,
//!   SignedCid, Version, To, From, Nonce, Value, GasLimit, GasFeeCap,
//!   GasPremium, Method, Params, Signature, Height, Confidence, Receipt,
//!   TipSetKey, Meta, WalletName, State, CreatedAt, UpdatedAt}`, states
//!   UnKnown 0, UnFillMsg 1, FillMsg 2, OnChainMsg 3, FailedMsg 4.
//!   `ReplaceMessage [ReplacMessageParams]` as sophon-messager
//!   service/message_service.go (same commit) does it with `Auto`.
//!
//! Faults a test injects: an empty wallet, a message dropped from the
//! mpool, a message that fails on chain with an exit code, a messager
//! marking a message FailedMsg.
//!
//! [`LotusClient`]: venus_seal_chain::LotusClient
//! [`MessagerClient`]: venus_seal_chain::MessagerClient

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use cid::multihash::Multihash;
use cid::Cid;
use serde_json::{json, Value};
use venus_seal_chain::lotus::derived_send_uid;
use venus_seal_chain::DevnetChain;
use venus_seal_core::chain::{MessageId, MessageState, MinerCall, MinerMessage};
use venus_seal_core::{ChainClient, MessageSender};

use super::decode::miner_message;

/// go-jsonrpc's code for any error a handler returns.
const HANDLER_ERROR: i64 = 1;

/// Where one pushed message is.
#[derive(Clone, Debug, PartialEq)]
pub enum Where {
    /// In the mpool (Lotus) or waiting to be filled (messager).
    Pool,
    /// Handed to the devnet as this message.
    Chain(MessageId),
    /// Executed and failed with this exit code at this epoch (never
    /// reached the devnet's actor).
    FailedOnChain(i64, i64),
    /// Gone from the mpool without being executed.
    Dropped,
    /// venus-messager gave up on it (FailedMsg).
    MessagerFailed,
    /// Replaced by a message at the same nonce with a higher premium.
    Replaced,
}

/// One message a peer accepted.
#[derive(Clone, Debug)]
pub struct Pushed {
    /// "lotus" or "messager".
    pub peer: &'static str,
    /// The attempt uid it came under (MsgUuid, or the messager id).
    pub uid: String,
    /// Its CID (Lotus) or id (messager): how the client names it.
    pub key: String,
    /// What it carries.
    pub msg: MinerMessage,
    /// The message JSON as pushed, filled.
    pub json: Value,
    /// Where it is.
    pub at: Where,
}

impl Pushed {
    /// Whether it is a proof.
    pub fn is_proof(&self) -> bool {
        matches!(self.msg.call, MinerCall::ProveCommitSectors3(_))
    }
}

#[derive(Default)]
struct Inner {
    funded: bool,
    nonce: u64,
    /// Lotus' uuid → signed message store.
    uuids: HashMap<String, Value>,
    pushed: Vec<Pushed>,
    refused: Vec<String>,
    /// The next proofs to execute fail with this exit code (how many).
    fail_proofs: Option<(i64, usize)>,
    /// A congested mpool: messages with a lower premium stay in it.
    min_premium: u128,
}

/// The two fake peers, sharing one devnet and one mpool.
#[derive(Clone)]
pub struct Peers {
    chain: Arc<DevnetChain>,
    inner: Arc<Mutex<Inner>>,
}

impl Peers {
    /// Fakes in front of `chain`, the wallet funded.
    pub fn new(chain: Arc<DevnetChain>) -> Self {
        Self {
            chain,
            inner: Arc::new(Mutex::new(Inner {
                funded: true,
                ..Inner::default()
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Serves the fakes on a local port: Lotus at `/rpc/v1`, the messager
    /// at `/rpc/v0`. Returns the base URL.
    pub async fn serve(&self) -> String {
        let app = Router::new()
            .route("/rpc/v1", post(lotus))
            .route("/rpc/v0", post(messager))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }

    /// Empties (false) or funds (true) the sending wallet.
    pub fn fund(&self, funded: bool) {
        self.lock().funded = funded;
    }

    /// The next proof executed fails on chain with `exit_code`.
    pub fn fail_next_proof(&self, exit_code: i64) {
        self.fail_proofs(exit_code, 1);
    }

    /// The next `n` proofs executed fail on chain with `exit_code`.
    pub fn fail_proofs(&self, exit_code: i64, n: usize) {
        self.lock().fail_proofs = (n > 0).then_some((exit_code, n));
    }

    /// Congests the mpool: a message with a premium below `premium`
    /// stays in it, epoch after epoch.
    pub fn congest(&self, premium: u128) {
        self.lock().min_premium = premium;
    }

    /// Every message accepted, in order.
    pub fn pushed(&self) -> Vec<Pushed> {
        self.lock().pushed.clone()
    }

    /// The error of every refused push, in order.
    pub fn refused(&self) -> Vec<String> {
        self.lock().refused.clone()
    }

    /// Moves the message `key` to `at` (drop it, fail it).
    pub fn set(&self, key: &str, at: Where) {
        let mut inner = self.lock();
        let p = inner
            .pushed
            .iter_mut()
            .find(|p| p.key == key)
            .unwrap_or_else(|| panic!("no message {key}"));
        p.at = at;
    }

    /// Produces an epoch: every message in the pool goes to the devnet
    /// (or fails on chain, if so injected), which executes it.
    pub async fn mine(&self) {
        let head = self.chain.head().await.unwrap();
        let to_chain: Vec<(usize, MinerMessage)> = {
            let mut inner = self.lock();
            let mut fail = inner.fail_proofs;
            let min_premium = inner.min_premium;
            let mut out = Vec::new();
            for (i, p) in inner.pushed.iter_mut().enumerate() {
                if p.at != Where::Pool || premium(&p.json) < min_premium {
                    continue;
                }
                if p.is_proof() {
                    if let Some((code, n)) = fail {
                        fail = (n > 1).then_some((code, n - 1));
                        p.at = Where::FailedOnChain(code, head + 1);
                        continue;
                    }
                }
                out.push((i, p.msg.clone()));
            }
            inner.fail_proofs = fail;
            out
        };
        for (i, msg) in to_chain {
            let key = self.lock().pushed[i].key.clone();
            let id = self
                .chain
                .send(&derived_send_uid(&key), msg)
                .await
                .expect("the devnet takes the message");
            self.lock().pushed[i].at = Where::Chain(id);
        }
        self.chain.advance(1).await;
    }

    /// (exit code, epoch) once `at` was executed.
    async fn executed(&self, at: &Where) -> Option<(i64, i64)> {
        match at {
            Where::Chain(id) => match self.chain.state(id).await.unwrap() {
                MessageState::Landed {
                    epoch, exit_code, ..
                } => Some((exit_code, epoch)),
                _ => None,
            },
            Where::FailedOnChain(code, epoch) => Some((*code, *epoch)),
            _ => None,
        }
    }

    fn find(&self, peer: &str, key: &str) -> Option<Pushed> {
        self.lock()
            .pushed
            .iter()
            .find(|p| p.peer == peer && p.key == key)
            .cloned()
    }

    fn accept(&self, peer: &'static str, uid: &str, key: String, msg: MinerMessage, json: Value) {
        self.lock().pushed.push(Pushed {
            peer,
            uid: uid.to_string(),
            key,
            msg,
            json,
            at: Where::Pool,
        });
    }

    fn refuse(&self, why: String) -> Result<Value, (i64, String)> {
        self.lock().refused.push(why.clone());
        Err((HANDLER_ERROR, why))
    }

    /// `Filecoin.MpoolPushMessage [msg, spec]`.
    fn mpool_push_message(&self, params: &[Value]) -> Result<Value, (i64, String)> {
        let (Some(msg), Some(spec)) = (params.first(), params.get(1)) else {
            return Err((-32602, "wrong param count".into()));
        };
        let uid = spec["MsgUuid"].as_str().unwrap_or_default().to_string();
        if let Some(signed) = self.lock().uuids.get(&uid) {
            return Ok(signed.clone());
        }
        let miner_msg = match miner_message(msg) {
            Ok(m) => m,
            Err(e) => return Err((HANDLER_ERROR, format!("GasEstimateMessageGas error: {e}"))),
        };
        if !self.lock().funded {
            // Value + gas limit × fee cap, as the node estimated them.
            let required = format!("{} + 100000000000", miner_msg.value);
            return self.refuse(format!("mpool push: not enough funds: 0 < {required}"));
        }
        let mut filled = msg.clone();
        let nonce = self.next_nonce();
        fill(&mut filled, nonce);
        let cid = fake_cid(&format!("{uid}/{nonce}")).to_string();
        let signed = json!({
            "Message": filled,
            "Signature": {"Type": 1, "Data": "c2lnbmF0dXJl"},
            "CID": {"/": cid},
        });
        self.accept("lotus", &uid, cid, miner_msg, filled);
        self.lock().uuids.insert(uid, signed.clone());
        Ok(signed)
    }

    fn next_nonce(&self) -> u64 {
        let mut inner = self.lock();
        inner.nonce += 1;
        inner.nonce
    }

    /// `Filecoin.ChainGetMessage [cid]`: the message as pushed, filled.
    fn chain_get_message(&self, cid: &Value) -> Result<Value, (i64, String)> {
        let key = cid["/"].as_str().unwrap_or_default();
        match self.find("lotus", key) {
            Some(p) => {
                let mut m = p.json.clone();
                m["CID"] = json!({"/": key});
                Ok(m)
            }
            None => Err((HANDLER_ERROR, format!("blockstore: block not found: {key}"))),
        }
    }

    /// `Filecoin.MpoolPush [signed]`: a message at a nonce the pool holds
    /// replaces it only with a premium of at least old × 1.25 + 1 (lotus
    /// chain/messagepool `ComputeMinRBF`; else `replace by fee has too low
    /// GasPremium`).
    fn mpool_push(&self, params: &[Value]) -> Result<Value, (i64, String)> {
        let signed = params
            .first()
            .ok_or((-32602, "wrong param count".to_string()))?;
        let msg = &signed["Message"];
        let cid = signed["CID"]["/"].as_str().unwrap_or_default().to_string();
        let miner_msg = miner_message(msg).map_err(|e| (HANDLER_ERROR, e))?;
        let mut inner = self.lock();
        let same_nonce = inner.pushed.iter().position(|p| {
            p.peer == "lotus"
                && p.json["Nonce"] == msg["Nonce"]
                && matches!(p.at, Where::Pool | Where::Dropped)
        });
        let Some(old) = same_nonce else {
            return Err((HANDLER_ERROR, "the fake only takes replacements".into()));
        };
        let old_premium = premium(&inner.pushed[old].json);
        if inner.pushed[old].at == Where::Pool && premium(msg) < min_rbf(old_premium) {
            return Err((
                HANDLER_ERROR,
                "replace by fee has too low GasPremium".into(),
            ));
        }
        inner.pushed[old].at = Where::Replaced;
        let uid = inner.pushed[old].uid.clone();
        drop(inner);
        self.accept("lotus", &uid, cid.clone(), miner_msg, msg.clone());
        Ok(json!({"/": cid}))
    }

    /// `Message.ReplaceMessage [ReplacMessageParams]` with `Auto` (see the
    /// module doc): premium max(old × GasOverPremium, old × 1.25 + 1), fee
    /// cap at least that, capped by `MaxFee` (`CapGasFee`); the record
    /// keeps its id.
    fn replace_message(&self, params: &[Value]) -> Result<Value, (i64, String)> {
        let p = params
            .first()
            .ok_or((-32602, "wrong param count".to_string()))?;
        let id = p["ID"].as_str().unwrap_or_default();
        let mut inner = self.lock();
        let Some(rec) = inner
            .pushed
            .iter_mut()
            .find(|r| r.peer == "messager" && r.key == id)
        else {
            return Err((HANDLER_ERROR, "found message record not found".into()));
        };
        if !matches!(rec.at, Where::Pool) {
            return Err((HANDLER_ERROR, "message already on chain".into()));
        }
        let old = premium(&rec.json);
        let over = p["GasOverPremium"].as_f64().unwrap_or(0.0);
        let mut new_premium = min_rbf(old).max((old as f64 * over) as u128);
        let limit = rec.json["GasLimit"].as_u64().unwrap_or(1) as u128;
        let mut cap = amount(&rec.json["GasFeeCap"]).max(new_premium);
        let max_fee: u128 = p["MaxFee"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if max_fee > 0 && cap * limit > max_fee {
            cap = max_fee / limit;
            new_premium = new_premium.min(cap);
        }
        rec.json["GasPremium"] = json!(new_premium.to_string());
        rec.json["GasFeeCap"] = json!(cap.to_string());
        Ok(json!({"/": fake_cid(&format!("{id}/{new_premium}")).to_string()}))
    }

    /// `Filecoin.StateSearchMsg [tsk, cid, limit, allowReplaced]`.
    async fn state_search_msg(&self, cid: &Value) -> Value {
        let key = cid["/"].as_str().unwrap_or_default();
        let Some(p) = self.find("lotus", key) else {
            return Value::Null;
        };
        match self.executed(&p.at).await {
            None => Value::Null,
            Some((exit_code, height)) => json!({
                "Message": {"/": key},
                "Receipt": {"ExitCode": exit_code, "Return": null, "GasUsed": 1000, "EventsRoot": null},
                "ReturnDec": null,
                "TipSet": [{"/": fake_cid(&format!("tipset/{height}")).to_string()}],
                "Height": height,
            }),
        }
    }

    /// `Message.PushMessageWithId [id, msg, spec]`.
    fn push_message_with_id(&self, params: &[Value]) -> Result<Value, (i64, String)> {
        let (Some(id), Some(msg)) = (params.first().and_then(Value::as_str), params.get(1)) else {
            return Err((-32602, "wrong params".into()));
        };
        if self.find("messager", id).is_some() {
            return self.refuse("UNIQUE constraint failed: messages.id".into());
        }
        let miner_msg = miner_message(msg).map_err(|e| (HANDLER_ERROR, e))?;
        let mut filled = msg.clone();
        fill(&mut filled, self.next_nonce());
        self.accept("messager", id, id.to_string(), miner_msg, filled);
        Ok(json!(id))
    }

    /// `Message.GetMessageByUid [id]`.
    async fn get_message_by_uid(&self, id: &str) -> Result<Value, (i64, String)> {
        let Some(p) = self.find("messager", id) else {
            return Err((HANDLER_ERROR, "record not found".into()));
        };
        let executed = self.executed(&p.at).await;
        let (state, height, receipt) = match (&p.at, executed) {
            (_, Some((code, height))) => (
                3,
                height,
                json!({"ExitCode": code, "Return": null, "GasUsed": 1000, "EventsRoot": null}),
            ),
            (Where::Pool, _) => (2, 0, Value::Null),
            (Where::MessagerFailed, _) => (4, 0, Value::Null),
            _ => (2, 0, Value::Null),
        };
        let m = &p.json;
        Ok(json!({
            "ID": id,
            "UnsignedCid": null,
            "SignedCid": null,
            "Version": m["Version"], "To": m["To"], "From": m["From"], "Nonce": m["Nonce"],
            "Value": m["Value"], "GasLimit": m["GasLimit"], "GasFeeCap": m["GasFeeCap"],
            "GasPremium": m["GasPremium"], "Method": m["Method"], "Params": m["Params"],
            "Signature": null,
            "Height": height,
            "Confidence": 0,
            "Receipt": receipt,
            "TipSetKey": [],
            "Meta": null,
            "WalletName": "",
            "State": state,
            "CreatedAt": "2026-01-01T00:00:00Z",
            "UpdatedAt": "2026-01-01T00:00:00Z",
        }))
    }
}

/// Gas as the node or messager estimates it: limit 1,000,000, fee cap
/// 100,000, premium 1,000 attoFIL; and the nonce.
fn fill(msg: &mut Value, nonce: u64) {
    msg["Nonce"] = json!(nonce);
    msg["GasLimit"] = json!(1_000_000);
    msg["GasFeeCap"] = json!("100000");
    msg["GasPremium"] = json!("1000");
}

fn amount(v: &Value) -> u128 {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// A message's gas premium.
pub fn premium(msg: &Value) -> u128 {
    amount(&msg["GasPremium"])
}

/// The least premium that replaces one of `old` (Lotus and
/// venus-messager `ComputeMinRBF`: old + old × 64 / 256 + 1).
pub fn min_rbf(old: u128) -> u128 {
    old + old * 64 / 256 + 1
}

/// A CID as Lotus names messages (dag-cbor, blake2b-256) of `seed`.
pub fn fake_cid(seed: &str) -> Cid {
    let digest = blake2b_simd::Params::new()
        .hash_length(32)
        .hash(seed.as_bytes());
    Cid::new_v1(
        0x71,
        Multihash::<64>::wrap(0xb220, digest.as_bytes()).expect("32 bytes fit"),
    )
}

fn reply(req: &Value, r: Result<Value, (i64, String)>) -> Json<Value> {
    Json(match r {
        Ok(result) => json!({"jsonrpc": "2.0", "id": req["id"], "result": result}),
        Err((code, message)) => {
            json!({"jsonrpc": "2.0", "id": req["id"], "error": {"code": code, "message": message}})
        }
    })
}

fn params(req: &Value) -> Vec<Value> {
    req["params"].as_array().cloned().unwrap_or_default()
}

async fn lotus(State(peers): State<Peers>, Json(req): Json<Value>) -> Json<Value> {
    let p = params(&req);
    let r = match req["method"].as_str().unwrap_or_default() {
        "Filecoin.ChainHead" => {
            let height = peers.chain.head().await.unwrap();
            Ok(json!({
                "Cids": [{"/": fake_cid(&format!("tipset/{height}")).to_string()}],
                "Blocks": [],
                "Height": height,
            }))
        }
        "Filecoin.MpoolPushMessage" => peers.mpool_push_message(&p),
        "Filecoin.StateSearchMsg" => Ok(peers.state_search_msg(&p[1]).await),
        "Filecoin.ChainGetMessage" => peers.chain_get_message(&p[0]),
        "Filecoin.WalletSignMessage" => {
            let msg = p[1].clone();
            let cid = fake_cid(&msg.to_string()).to_string();
            Ok(json!({
                "Message": msg,
                "Signature": {"Type": 1, "Data": "c2lnbmF0dXJl"},
                "CID": {"/": cid},
            }))
        }
        "Filecoin.MpoolPush" => peers.mpool_push(&p),
        "Filecoin.StateWaitMsg" => {
            let mut found = Value::Null;
            for _ in 0..50 {
                found = peers.state_search_msg(&p[0]).await;
                if !found.is_null() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            if found.is_null() {
                Err((HANDLER_ERROR, "context deadline exceeded".into()))
            } else {
                Ok(found)
            }
        }
        m => Err((-32601, format!("method '{m}' not found"))),
    };
    reply(&req, r)
}

async fn messager(State(peers): State<Peers>, Json(req): Json<Value>) -> Json<Value> {
    let p = params(&req);
    let r = match req["method"].as_str().unwrap_or_default() {
        "Message.PushMessageWithId" => peers.push_message_with_id(&p),
        "Message.ReplaceMessage" => peers.replace_message(&p),
        "Message.GetMessageByUid" => {
            peers
                .get_message_by_uid(p.first().and_then(Value::as_str).unwrap_or_default())
                .await
        }
        m => Err((-32601, format!("method '{m}' not found"))),
    };
    reply(&req, r)
}
