//! [`LotusClient`]: a [`ChainClient`] and [`MessageSender`] over a Lotus /
//! Venus full node's JSON-RPC v1 API (`POST <url>/rpc/v1`, bearer token).
//!
//! Every method the client uses has a typed helper (`chain_head`,
//! `state_sector_pre_commit_info`, `mpool_push_message`, …); the trait
//! implementations are built on them. Message parameters are CBOR-encoded
//! with the published builtin-actor types (see [`params`]).

pub mod params;
pub mod post_params;
pub mod types;

use std::time::Duration;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use jsonrpsee::core::client::ClientT;
use jsonrpsee::core::traits::ToRpcParams;
use jsonrpsee::core::ClientError as RpcError;
use jsonrpsee::http_client::transport::Error as HttpTransportError;
use jsonrpsee::http_client::{HeaderMap, HeaderValue, HttpClient, HttpClientBuilder};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use venus_seal_core::chain::{
    DeadlineInfo, MessageId, MessageState, MinerCall, MinerMessage, OnChainPreCommit,
    OnChainSector, PartitionInfo, PreCommitParams,
};
use venus_seal_core::error::ChainError;
use venus_seal_core::{
    ActorId, ChainClient, ChainEpoch, CommD, CommR, DomainSeparationTag, MessageSender,
    NetworkParams, Randomness, RandomnessSource, SealProof, SectorNumber, TokenAmount,
};

pub use types::{
    BitFieldJson, CidJson, DeadlineInfoJson, DeadlineJson, MessageJson, MessageSendSpec,
    MinerInfoJson, MsgLookupJson, PartitionJson, ReceiptJson, SectorOnChainInfoJson,
    SectorPreCommitInfoJson, SectorPreCommitOnChainInfoJson, SignedMessageJson, TipSet, TipSetKey,
};

/// Mainnet sealing constants: lookback 900, challenge delay 150, maximum
/// ticket age 2880 + 900 epochs, 30 s epochs.
pub const MAINNET_NETWORK: NetworkParams = NetworkParams {
    seal_randomness_lookback: 900,
    pre_commit_challenge_delay: 150,
    max_pre_commit_randomness_lookback: 2880 + 900,
    block_delay_secs: 30,
};

/// How long one call may take before the node counts as unreachable.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Builds a jsonrpsee HTTP client for `url` sending `Authorization: Bearer
/// <token>` when a token is given.
pub(crate) fn http_client(url: &str, token: Option<&str>) -> Result<HttpClient, ChainError> {
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
    HttpClientBuilder::default()
        .set_headers(headers)
        .request_timeout(REQUEST_TIMEOUT)
        .build(url)
        .map_err(|e| ChainError::Transport(format!("cannot use the URL {url:?}: {e}")))
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
pub(crate) fn map_rpc_error(method: &str, e: RpcError) -> ChainError {
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

/// Positional parameters, always sent as a JSON array (`[]` when empty:
/// jsonrpsee's own `ArrayParams` would omit the field).
struct PositionalParams(Vec<Value>);

impl ToRpcParams for PositionalParams {
    fn to_rpc_params(self) -> Result<Option<Box<serde_json::value::RawValue>>, serde_json::Error> {
        serde_json::value::to_raw_value(&self.0).map(Some)
    }
}

/// Calls `method` with `params` and decodes the result as `R`.
pub(crate) async fn call<R: DeserializeOwned>(
    client: &HttpClient,
    method: &str,
    params: Vec<Value>,
) -> Result<R, ChainError> {
    let value: Value = client
        .request(method, PositionalParams(params))
        .await
        .map_err(|e| map_rpc_error(method, e))?;
    serde_json::from_value(value)
        .map_err(|e| ChainError::InvalidResponse(format!("{method}: unexpected answer: {e}")))
}

/// The `f0` address string of a miner actor.
pub fn actor_address(id: ActorId) -> String {
    format!("f0{}", id.0)
}

/// Decodes base64 randomness and checks it is exactly 32 bytes.
pub fn decode_randomness(method: &str, b64: &str) -> Result<Randomness, ChainError> {
    let bytes = B64.decode(b64.trim()).map_err(|e| {
        ChainError::InvalidResponse(format!("{method}: randomness is not base64: {e}"))
    })?;
    let arr: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
        ChainError::InvalidResponse(format!(
            "{method}: randomness is {} bytes, expected 32",
            bytes.len()
        ))
    })?;
    Ok(Randomness(arr))
}

fn parse_cid(method: &str, c: &CidJson) -> Result<cid::Cid, ChainError> {
    cid::Cid::try_from(c.root.as_str())
        .map_err(|e| ChainError::InvalidResponse(format!("{method}: bad CID {:?}: {e}", c.root)))
}

fn parse_comm_r(method: &str, c: Option<&CidJson>) -> Result<CommR, ChainError> {
    let c = c.ok_or_else(|| ChainError::InvalidResponse(format!("{method}: SealedCID is null")))?;
    CommR::from_cid(&parse_cid(method, c)?)
        .map_err(|e| ChainError::InvalidResponse(format!("{method}: SealedCID: {e}")))
}

/// An attoFIL amount the node returned.
fn parse_amount(method: &str, s: &str) -> Result<TokenAmount, ChainError> {
    s.parse()
        .map_err(|e| ChainError::InvalidResponse(format!("{method}: {e}")))
}

/// `total` plus the amount `s` the node returned.
fn add_amount(method: &str, total: TokenAmount, s: &str) -> Result<TokenAmount, ChainError> {
    total
        .checked_add(parse_amount(method, s)?)
        .ok_or_else(|| ChainError::InvalidResponse(format!("{method}: amounts overflow: {s}")))
}

fn parse_proof(method: &str, id: i64) -> Result<SealProof, ChainError> {
    SealProof::from_id(id).map_err(|e| ChainError::InvalidResponse(format!("{method}: {e}")))
}

/// The CommD of a sector holding only zeros (what a `null` UnsealedCid
/// stands for): the root of an all-zero binary tree under SHA-256 with the
/// top two bits of the last byte cleared (Filecoin's `sha256-trunc254`).
pub fn zero_comm_d(proof: SealProof) -> CommD {
    use sha2::{Digest, Sha256};
    let leaves = proof.sector_size().0 / 32;
    let mut node = [0u8; 32];
    let mut width = 1u64;
    while width < leaves {
        let mut h = Sha256::new();
        h.update(node);
        h.update(node);
        node.copy_from_slice(&h.finalize());
        node[31] &= 0b0011_1111;
        width *= 2;
    }
    CommD(node)
}

/// A Lotus / Venus full-node client. Sends messages from `from` through
/// the node's mpool (the node signs, picks the nonce and estimates gas).
#[derive(Debug, Clone)]
pub struct LotusClient {
    client: HttpClient,
    url: String,
    from: String,
    network: NetworkParams,
    max_fee: String,
}

impl LotusClient {
    /// A client of the node at `url` (e.g. `http://127.0.0.1:1234`; `/rpc/v1`
    /// is appended unless the URL already ends in `/rpc/v0` or `/rpc/v1`),
    /// with an optional API token and the address that pays for messages.
    /// Uses [`MAINNET_NETWORK`] unless [`with_network`](Self::with_network)
    /// overrides it.
    pub fn new(url: &str, token: Option<String>, from: String) -> Result<Self, ChainError> {
        let trimmed = url.trim_end_matches('/');
        let url = if trimmed.ends_with("/rpc/v1") || trimmed.ends_with("/rpc/v0") {
            trimmed.to_string()
        } else {
            format!("{trimmed}/rpc/v1")
        };
        Ok(LotusClient {
            client: http_client(&url, token.as_deref())?,
            url,
            from,
            network: MAINNET_NETWORK,
            max_fee: "0".into(),
        })
    }

    /// Overrides the network constants (devnets, calibration builds).
    pub fn with_network(mut self, network: NetworkParams) -> Self {
        self.network = network;
        self
    }

    /// Sets `MaxFee` (attoFIL, decimal) sent with every message; "0" (the
    /// default) lets the node apply its configured default.
    pub fn with_max_fee(mut self, max_fee: impl Into<String>) -> Self {
        self.max_fee = max_fee.into();
        self
    }

    /// The full RPC endpoint URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The sending address.
    pub fn from_address(&self) -> &str {
        &self.from
    }

    async fn call<R: DeserializeOwned>(
        &self,
        method: &str,
        params: Vec<Value>,
    ) -> Result<R, ChainError> {
        call(&self.client, method, params).await
    }

    /// `Filecoin.ChainHead`.
    pub async fn chain_head(&self) -> Result<TipSet, ChainError> {
        self.call("Filecoin.ChainHead", vec![]).await
    }

    /// `Filecoin.ChainGetTipSetByHeight [epoch, tsk]`.
    pub async fn chain_get_tipset_by_height(
        &self,
        epoch: ChainEpoch,
        tsk: &[CidJson],
    ) -> Result<TipSet, ChainError> {
        self.call(
            "Filecoin.ChainGetTipSetByHeight",
            vec![json!(epoch), json!(tsk)],
        )
        .await
    }

    /// `Filecoin.StateGetRandomnessFromTickets [tag, epoch, entropy, tsk]`,
    /// checked to be 32 bytes.
    pub async fn state_get_randomness_from_tickets(
        &self,
        tag: DomainSeparationTag,
        epoch: ChainEpoch,
        entropy: &[u8],
        tsk: &[CidJson],
    ) -> Result<Randomness, ChainError> {
        self.randomness_call(
            "Filecoin.StateGetRandomnessFromTickets",
            tag,
            epoch,
            entropy,
            tsk,
        )
        .await
    }

    /// `Filecoin.StateGetRandomnessFromBeacon [tag, epoch, entropy, tsk]`,
    /// checked to be 32 bytes.
    pub async fn state_get_randomness_from_beacon(
        &self,
        tag: DomainSeparationTag,
        epoch: ChainEpoch,
        entropy: &[u8],
        tsk: &[CidJson],
    ) -> Result<Randomness, ChainError> {
        self.randomness_call(
            "Filecoin.StateGetRandomnessFromBeacon",
            tag,
            epoch,
            entropy,
            tsk,
        )
        .await
    }

    async fn randomness_call(
        &self,
        method: &str,
        tag: DomainSeparationTag,
        epoch: ChainEpoch,
        entropy: &[u8],
        tsk: &[CidJson],
    ) -> Result<Randomness, ChainError> {
        let b64: String = self
            .call(
                method,
                vec![
                    json!(tag as i64),
                    json!(epoch),
                    json!(B64.encode(entropy)),
                    json!(tsk),
                ],
            )
            .await?;
        decode_randomness(method, &b64)
    }

    /// `Filecoin.StateNetworkVersion [tsk]`.
    pub async fn state_network_version(&self, tsk: &[CidJson]) -> Result<u32, ChainError> {
        self.call("Filecoin.StateNetworkVersion", vec![json!(tsk)])
            .await
    }

    /// `Filecoin.StateMinerInfo [addr, tsk]`.
    pub async fn state_miner_info(
        &self,
        miner: ActorId,
        tsk: &[CidJson],
    ) -> Result<MinerInfoJson, ChainError> {
        self.call(
            "Filecoin.StateMinerInfo",
            vec![json!(actor_address(miner)), json!(tsk)],
        )
        .await
    }

    /// `Filecoin.StateMinerPreCommitDepositForPower [addr, info, tsk]`:
    /// the deposit for pre-committing `info` as
    /// [`params::sector_pre_commit_info`] sends it, attoFIL as a decimal
    /// string.
    pub async fn state_miner_pre_commit_deposit_for_power(
        &self,
        miner: ActorId,
        info: &PreCommitParams,
        tsk: &[CidJson],
    ) -> Result<String, ChainError> {
        // As the message will carry it: no deal ids, no CommD for CC.
        let sent = params::sector_pre_commit_info(info);
        let info = json!({
            "SealProof": info.seal_proof.id(),
            "SectorNumber": info.sector_number.0,
            "SealedCID": CidJson::new(info.sealed_cid.to_cid().to_string()),
            "SealRandEpoch": info.seal_rand_epoch,
            "DealIDs": sent.deal_ids,
            "Expiration": info.expiration,
            "UnsealedCid": sent.unsealed_cid.0.map(|c| CidJson::new(c.to_string())),
        });
        self.call(
            "Filecoin.StateMinerPreCommitDepositForPower",
            vec![json!(actor_address(miner)), info, json!(tsk)],
        )
        .await
    }

    /// `Filecoin.StateMinerInitialPledgeForSector [duration, sectorSize,
    /// verifiedSize, tsk]`: attoFIL as a decimal string.
    pub async fn state_miner_initial_pledge_for_sector(
        &self,
        duration: ChainEpoch,
        sector_size: u64,
        verified_size: u64,
        tsk: &[CidJson],
    ) -> Result<String, ChainError> {
        self.call(
            "Filecoin.StateMinerInitialPledgeForSector",
            vec![
                json!(duration),
                json!(sector_size),
                json!(verified_size),
                json!(tsk),
            ],
        )
        .await
    }

    /// `Filecoin.StateSectorPreCommitInfo [addr, num, tsk]`; `None` when the
    /// node answers `null`.
    pub async fn state_sector_pre_commit_info(
        &self,
        miner: ActorId,
        number: SectorNumber,
        tsk: &[CidJson],
    ) -> Result<Option<SectorPreCommitOnChainInfoJson>, ChainError> {
        self.call(
            "Filecoin.StateSectorPreCommitInfo",
            vec![json!(actor_address(miner)), json!(number.0), json!(tsk)],
        )
        .await
    }

    /// `Filecoin.StateSectorGetInfo [addr, num, tsk]`; `None` when `null`.
    pub async fn state_sector_get_info(
        &self,
        miner: ActorId,
        number: SectorNumber,
        tsk: &[CidJson],
    ) -> Result<Option<SectorOnChainInfoJson>, ChainError> {
        self.call(
            "Filecoin.StateSectorGetInfo",
            vec![json!(actor_address(miner)), json!(number.0), json!(tsk)],
        )
        .await
    }

    /// `Filecoin.StateMinerProvingDeadline [addr, tsk]`.
    pub async fn state_miner_proving_deadline(
        &self,
        miner: ActorId,
        tsk: &[CidJson],
    ) -> Result<DeadlineInfoJson, ChainError> {
        self.call(
            "Filecoin.StateMinerProvingDeadline",
            vec![json!(actor_address(miner)), json!(tsk)],
        )
        .await
    }

    /// `Filecoin.StateMinerPartitions [addr, dlIdx, tsk]`.
    pub async fn state_miner_partitions(
        &self,
        miner: ActorId,
        deadline: u64,
        tsk: &[CidJson],
    ) -> Result<Vec<PartitionJson>, ChainError> {
        self.call(
            "Filecoin.StateMinerPartitions",
            vec![json!(actor_address(miner)), json!(deadline), json!(tsk)],
        )
        .await
    }

    /// `Filecoin.StateMinerDeadlines [addr, tsk]`: every deadline of the
    /// miner, in index order.
    pub async fn state_miner_deadlines(
        &self,
        miner: ActorId,
        tsk: &[CidJson],
    ) -> Result<Vec<DeadlineJson>, ChainError> {
        self.call(
            "Filecoin.StateMinerDeadlines",
            vec![json!(actor_address(miner)), json!(tsk)],
        )
        .await
    }

    /// `Filecoin.MpoolPushMessage [msg, spec]`: the node signs and pushes.
    pub async fn mpool_push_message(
        &self,
        msg: &MessageJson,
        spec: &MessageSendSpec,
    ) -> Result<SignedMessageJson, ChainError> {
        self.call("Filecoin.MpoolPushMessage", vec![json!(msg), json!(spec)])
            .await
    }

    /// `Filecoin.StateSearchMsg [tsk, cid, limit, allowReplaced]` (v1
    /// signature; limit -1 = no limit, replacements allowed); `None` when
    /// not yet executed.
    pub async fn state_search_msg(
        &self,
        tsk: &[CidJson],
        msg: &CidJson,
    ) -> Result<Option<MsgLookupJson>, ChainError> {
        self.call(
            "Filecoin.StateSearchMsg",
            vec![json!(tsk), json!(msg), json!(-1), json!(true)],
        )
        .await
    }

    /// `Filecoin.StateWaitMsg [cid, confidence, limit, allowReplaced]`:
    /// blocks until the message is executed with `confidence` epochs on
    /// top (subject to the client's request timeout).
    pub async fn state_wait_msg(
        &self,
        msg: &CidJson,
        confidence: u64,
    ) -> Result<MsgLookupJson, ChainError> {
        self.call(
            "Filecoin.StateWaitMsg",
            vec![json!(msg), json!(confidence), json!(-1), json!(true)],
        )
        .await
    }

    /// The sum of the pre-commit deposits of `sectors`
    /// (`StateMinerPreCommitDepositForPower` each, at one tipset).
    pub async fn pre_commit_deposits(
        &self,
        miner: ActorId,
        sectors: &[PreCommitParams],
        tsk: &[CidJson],
    ) -> Result<TokenAmount, ChainError> {
        const M: &str = "Filecoin.StateMinerPreCommitDepositForPower";
        let mut total = TokenAmount::ZERO;
        for sector in sectors {
            let deposit = self
                .state_miner_pre_commit_deposit_for_power(miner, sector, tsk)
                .await?;
            total = add_amount(M, total, &deposit)?;
        }
        Ok(total)
    }

    /// What proving `sectors` costs beyond their deposits, as Lotus
    /// computes it: per sector, `StateMinerInitialPledgeForSector` for the
    /// rest of its pre-committed life (expiration − head), less the
    /// pre-commit deposit it paid, never below zero. Sectors are counted
    /// with no verified space: verified deals carry no separate pledge
    /// here.
    pub async fn prove_commit_pledges(
        &self,
        miner: ActorId,
        sectors: &[SectorNumber],
    ) -> Result<TokenAmount, ChainError> {
        const M: &str = "Filecoin.StateMinerInitialPledgeForSector";
        let head = self.chain_head().await?;
        let tsk = head.cids.as_slice();
        let mut total = TokenAmount::ZERO;
        for &number in sectors {
            let Some(pc) = self
                .state_sector_pre_commit_info(miner, number, tsk)
                .await?
            else {
                return Err(ChainError::Rejected(format!(
                    "sector {miner}-{number} has no pre-commit on chain: no pledge to compute"
                )));
            };
            let proof = parse_proof(M, pc.info.seal_proof)?;
            let duration = pc.info.expiration - head.height;
            let pledge = self
                .state_miner_initial_pledge_for_sector(duration, proof.sector_size().0, 0, tsk)
                .await?;
            let pledge = parse_amount(M, &pledge)?;
            let deposit =
                parse_amount("Filecoin.StateSectorPreCommitInfo", &pc.pre_commit_deposit)?;
            total = add_amount(M, total, &pledge.saturating_sub(deposit).to_string())?;
        }
        Ok(total)
    }

    /// The unsigned message carrying `msg` from this client's address.
    pub fn build_message(&self, msg: &MinerMessage) -> Result<MessageJson, ChainError> {
        build_message(&self.from, msg)
    }
}

/// The unsigned message for `msg` sent by `from`: `msg.value`, gas and
/// nonce left for the node to fill, params CBOR then base64.
pub fn build_message(from: &str, msg: &MinerMessage) -> Result<MessageJson, ChainError> {
    let (method, bytes) = params::encode_call(&msg.call)?;
    Ok(MessageJson {
        version: 0,
        to: actor_address(msg.miner),
        from: from.to_string(),
        nonce: 0,
        value: msg.value.to_string(),
        gas_limit: 0,
        gas_fee_cap: "0".into(),
        gas_premium: "0".into(),
        method,
        params: B64.encode(bytes),
    })
}

#[async_trait]
impl ChainClient for LotusClient {
    async fn head(&self) -> Result<ChainEpoch, ChainError> {
        Ok(self.chain_head().await?.height)
    }

    async fn network(&self) -> Result<NetworkParams, ChainError> {
        Ok(self.network)
    }

    async fn randomness(
        &self,
        source: RandomnessSource,
        tag: DomainSeparationTag,
        epoch: ChainEpoch,
        entropy: &[u8],
    ) -> Result<Randomness, ChainError> {
        match source {
            RandomnessSource::Tickets => {
                self.state_get_randomness_from_tickets(tag, epoch, entropy, &[])
                    .await
            }
            RandomnessSource::Beacon => {
                self.state_get_randomness_from_beacon(tag, epoch, entropy, &[])
                    .await
            }
        }
    }

    async fn pre_commit(
        &self,
        miner: ActorId,
        number: SectorNumber,
    ) -> Result<Option<OnChainPreCommit>, ChainError> {
        const M: &str = "Filecoin.StateSectorPreCommitInfo";
        let Some(pc) = self
            .state_sector_pre_commit_info(miner, number, &[])
            .await?
        else {
            return Ok(None);
        };
        let seal_proof = parse_proof(M, pc.info.seal_proof)?;
        let unsealed_cid = match &pc.info.unsealed_cid {
            Some(c) => CommD::from_cid(&parse_cid(M, c)?)
                .map_err(|e| ChainError::InvalidResponse(format!("{M}: UnsealedCid: {e}")))?,
            None => zero_comm_d(seal_proof),
        };
        Ok(Some(OnChainPreCommit {
            info: PreCommitParams {
                sector_number: SectorNumber(pc.info.sector_number),
                seal_proof,
                sealed_cid: parse_comm_r(M, pc.info.sealed_cid.as_ref())?,
                unsealed_cid,
                seal_rand_epoch: pc.info.seal_rand_epoch,
                deal_ids: pc.info.deal_ids,
                expiration: pc.info.expiration,
            },
            pre_commit_epoch: pc.pre_commit_epoch,
        }))
    }

    async fn sector(
        &self,
        miner: ActorId,
        number: SectorNumber,
    ) -> Result<Option<OnChainSector>, ChainError> {
        const M: &str = "Filecoin.StateSectorGetInfo";
        let Some(s) = self.state_sector_get_info(miner, number, &[]).await? else {
            return Ok(None);
        };
        Ok(Some(OnChainSector {
            number: SectorNumber(s.sector_number),
            seal_proof: parse_proof(M, s.seal_proof)?,
            sealed_cid: parse_comm_r(M, s.sealed_cid.as_ref())?,
            activation: s.activation,
        }))
    }

    async fn proving_deadline(&self, miner: ActorId) -> Result<DeadlineInfo, ChainError> {
        let d = self.state_miner_proving_deadline(miner, &[]).await?;
        Ok(DeadlineInfo {
            current_epoch: d.current_epoch,
            period_start: d.period_start,
            index: d.index,
            open: d.open,
            close: d.close,
            challenge: d.challenge,
            fault_cutoff: d.fault_cutoff,
            deadlines: d.period_deadlines,
        })
    }

    async fn deadline_post_submissions(
        &self,
        miner: ActorId,
        deadline: u64,
    ) -> Result<Vec<u64>, ChainError> {
        const M: &str = "Filecoin.StateMinerDeadlines";
        let deadlines = self.state_miner_deadlines(miner, &[]).await?;
        let Some(d) = deadlines.get(deadline as usize) else {
            return Err(ChainError::InvalidResponse(format!(
                "{M}: {} deadlines, no deadline {deadline}",
                deadlines.len()
            )));
        };
        // No deadline holds more partitions than a period's sectors allow;
        // 10,000 bounds a hostile answer.
        d.post_submissions
            .bits(10_000)
            .map_err(|e| ChainError::InvalidResponse(format!("{M}: {e}")))
    }

    async fn collateral(
        &self,
        miner: ActorId,
        call: &MinerCall,
    ) -> Result<TokenAmount, ChainError> {
        match call {
            MinerCall::PreCommitSectorBatch2(sectors) => {
                let head = self.chain_head().await?;
                self.pre_commit_deposits(miner, sectors, &head.cids).await
            }
            MinerCall::ProveCommitSectors3(sectors) => {
                let numbers: Vec<SectorNumber> = sectors.iter().map(|s| s.sector_number).collect();
                self.prove_commit_pledges(miner, &numbers).await
            }
            MinerCall::ProveCommitAggregate(agg) => {
                self.prove_commit_pledges(miner, &agg.sectors).await
            }
            _ => Ok(TokenAmount::ZERO),
        }
    }

    async fn deadline_partitions(
        &self,
        miner: ActorId,
        deadline: u64,
    ) -> Result<Vec<PartitionInfo>, ChainError> {
        const M: &str = "Filecoin.StateMinerPartitions";
        // A partition holds at most 2349 sectors (2KiB and 8MiB proofs).
        const LIMIT: usize = 2349;
        let bits = |b: &BitFieldJson| -> Result<Vec<SectorNumber>, ChainError> {
            b.bits(LIMIT)
                .map(|v| v.into_iter().map(SectorNumber).collect())
                .map_err(|e| ChainError::InvalidResponse(format!("{M}: {e}")))
        };
        self.state_miner_partitions(miner, deadline, &[])
            .await?
            .iter()
            .map(|p| {
                // Terminated sectors stay in AllSectors; prove the live ones.
                let faulty = bits(&p.faulty_sectors)?;
                let recovering = bits(&p.recovering_sectors)?;
                let live = bits(&p.live_sectors)?;
                let active = live
                    .iter()
                    .filter(|n| !faulty.contains(n) || recovering.contains(n))
                    .copied()
                    .collect();
                Ok(PartitionInfo {
                    sectors: live,
                    faulty,
                    recovering,
                    active,
                })
            })
            .collect()
    }
}

#[async_trait]
impl MessageSender for LotusClient {
    async fn send(&self, msg: MinerMessage) -> Result<MessageId, ChainError> {
        let message = self.build_message(&msg)?;
        let spec = MessageSendSpec {
            max_fee: self.max_fee.clone(),
            msg_uuid: Some(crate::messager::message_uid(&msg)?),
            maximize_fee_cap: false,
        };
        let signed = self.mpool_push_message(&message, &spec).await?;
        Ok(MessageId(signed.cid.root))
    }

    async fn state(&self, id: &MessageId) -> Result<MessageState, ChainError> {
        let lookup = self
            .state_search_msg(&[], &CidJson::new(id.0.clone()))
            .await?;
        Ok(match lookup {
            None => MessageState::Pending,
            Some(l) => MessageState::Landed {
                epoch: l.height,
                exit_code: l.receipt.exit_code,
                error: (l.receipt.exit_code != 0)
                    .then(|| format!("message exited with code {}", l.receipt.exit_code)),
            },
        })
    }
}
