//! [`LotusClient`] and its typed helpers: one method per node API call the
//! client makes, named after it (`Filecoin.ChainHead` → `chain_head`),
//! taking and returning the node's JSON types ([`super::types`]).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use venus_seal_core::chain::{MinerMessage, PreCommitParams};
use venus_seal_core::error::ChainError;
use venus_seal_core::{
    ActorId, ChainEpoch, DomainSeparationTag, NetworkParams, Randomness, SectorNumber, TokenAmount,
};

use super::convert::{actor_address, decode_randomness};
use super::message::build_message;
use super::params;
use super::types::{
    CidJson, ClaimJson, DeadlineInfoJson, DeadlineJson, MessageJson, MessageSendSpec,
    MinerInfoJson, MsgLookupJson, PartitionJson, SectorLocationJson, SectorOnChainInfoJson,
    SectorPreCommitOnChainInfoJson, SignedMessageJson, TipSet,
};
use super::MAINNET_NETWORK;
use crate::jsonrpc::JsonRpcClient;

/// A Lotus / Venus full-node client. Sends messages from `from` through
/// the node's mpool (the node signs, picks the nonce and estimates gas).
#[derive(Debug, Clone)]
pub struct LotusClient {
    rpc: JsonRpcClient,
    from: String,
    pub(super) network: NetworkParams,
    pub(super) max_fee: String,
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
            rpc: JsonRpcClient::new(url, token.as_deref())?,
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
        self.rpc.url()
    }

    /// The sending address.
    pub fn from_address(&self) -> &str {
        &self.from
    }

    pub(super) async fn call<R: DeserializeOwned>(
        &self,
        method: &str,
        params: Vec<Value>,
    ) -> Result<R, ChainError> {
        self.rpc.call(method, params).await
    }

    /// Calls `method` with `[address of actor, args…, tsk]`: the
    /// parameters of the node's state queries about one actor (a miner, a
    /// FIL+ client).
    async fn call_for_actor<R: DeserializeOwned>(
        &self,
        method: &str,
        actor: ActorId,
        args: &[Value],
        tsk: &[CidJson],
    ) -> Result<R, ChainError> {
        let mut params = vec![json!(actor_address(actor))];
        params.extend_from_slice(args);
        params.push(json!(tsk));
        self.call(method, params).await
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
        self.call_for_actor("Filecoin.StateMinerInfo", miner, &[], tsk)
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
        self.call_for_actor(
            "Filecoin.StateMinerPreCommitDepositForPower",
            miner,
            &[info],
            tsk,
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
        self.call_for_actor(
            "Filecoin.StateSectorPreCommitInfo",
            miner,
            &[json!(number.0)],
            tsk,
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
        self.call_for_actor(
            "Filecoin.StateSectorGetInfo",
            miner,
            &[json!(number.0)],
            tsk,
        )
        .await
    }

    /// `Filecoin.StateMinerProvingDeadline [addr, tsk]`.
    pub async fn state_miner_proving_deadline(
        &self,
        miner: ActorId,
        tsk: &[CidJson],
    ) -> Result<DeadlineInfoJson, ChainError> {
        self.call_for_actor("Filecoin.StateMinerProvingDeadline", miner, &[], tsk)
            .await
    }

    /// `Filecoin.StateSectorPartition [addr, num, tsk]`; `None` when the
    /// node answers that no deadline holds the sector (Lotus' miner state
    /// `FindSector`: "sector N not due at any deadline").
    pub async fn state_sector_partition(
        &self,
        miner: ActorId,
        number: SectorNumber,
        tsk: &[CidJson],
    ) -> Result<Option<SectorLocationJson>, ChainError> {
        let answer = self
            .call_for_actor(
                "Filecoin.StateSectorPartition",
                miner,
                &[json!(number.0)],
                tsk,
            )
            .await;
        match answer {
            Err(ChainError::Node(msg)) if msg.contains("not due at any deadline") => Ok(None),
            other => other,
        }
    }

    /// `Filecoin.StateGetClaims [provider, tsk]`: the provider's FIL+
    /// claims by claim id (`null` read as none).
    pub async fn state_get_claims(
        &self,
        miner: ActorId,
    ) -> Result<std::collections::BTreeMap<String, ClaimJson>, ChainError> {
        let claims: Option<std::collections::BTreeMap<String, ClaimJson>> = self
            .call_for_actor("Filecoin.StateGetClaims", miner, &[], &[])
            .await?;
        Ok(claims.unwrap_or_default())
    }

    /// `Filecoin.StateMinerSectors [addr, null, tsk]`: every sector of the
    /// miner.
    pub async fn state_miner_sectors(
        &self,
        miner: ActorId,
        tsk: &[CidJson],
    ) -> Result<Vec<SectorOnChainInfoJson>, ChainError> {
        let sectors: Option<Vec<SectorOnChainInfoJson>> = self
            .call_for_actor("Filecoin.StateMinerSectors", miner, &[Value::Null], tsk)
            .await?;
        Ok(sectors.unwrap_or_default())
    }

    /// `Filecoin.WalletBalance [addr]`: the address's balance in attoFIL.
    pub async fn wallet_balance(&self, address: &str) -> Result<TokenAmount, ChainError> {
        self.call("Filecoin.WalletBalance", vec![json!(address)])
            .await
    }

    /// `Filecoin.StateLookupID [addr, tsk]`: the actor id of `address`,
    /// at the head.
    pub async fn state_lookup_id(&self, address: &str) -> Result<ActorId, ChainError> {
        const M: &str = "Filecoin.StateLookupID";
        let id: String = self.call(M, vec![json!(address), json!([])]).await?;
        id.parse().map_err(|_| {
            ChainError::InvalidResponse(format!(
                "{M}: {address} resolved to {id:?}, not an ID address"
            ))
        })
    }

    /// `Filecoin.StateGetAllocation [clientAddr, allocationId, tsk]`: a
    /// FIL+ allocation not yet claimed (`null`: none), at the head; its
    /// `TermMin`, `TermMax` and `Expiration` (verifreg `Allocation`).
    pub async fn state_get_allocation(
        &self,
        client: ActorId,
        id: u64,
    ) -> Result<Option<venus_seal_core::chain::AllocationTerms>, ChainError> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct AllocationJson {
            term_min: i64,
            term_max: i64,
            expiration: i64,
        }
        let found: Option<AllocationJson> = self
            .call_for_actor("Filecoin.StateGetAllocation", client, &[json!(id)], &[])
            .await?;
        Ok(found.map(|a| venus_seal_core::chain::AllocationTerms {
            term_min: a.term_min,
            term_max: a.term_max,
            expiration: a.expiration,
        }))
    }

    /// `Filecoin.StateGetAllocationIdForPendingDeal [dealId, tsk]`: the
    /// FIL+ allocation of a published builtin-market deal not yet
    /// activated (0: none), at the head.
    pub async fn state_get_allocation_id_for_pending_deal(
        &self,
        deal_id: u64,
    ) -> Result<u64, ChainError> {
        self.call(
            "Filecoin.StateGetAllocationIdForPendingDeal",
            vec![json!(deal_id), json!([])],
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
        self.call_for_actor(
            "Filecoin.StateMinerPartitions",
            miner,
            &[json!(deadline)],
            tsk,
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
        self.call_for_actor("Filecoin.StateMinerDeadlines", miner, &[], tsk)
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

    /// `Filecoin.GasEstimateMessageGas [msg, spec, tsk]`: `msg` with its
    /// gas limit, fee cap and premium filled as `MpoolPushMessage` would
    /// fill them (the node runs it to find its gas: an actor's refusal is
    /// an error here).
    pub async fn gas_estimate_message_gas(
        &self,
        msg: &MessageJson,
        spec: &MessageSendSpec,
    ) -> Result<MessageJson, ChainError> {
        self.call(
            "Filecoin.GasEstimateMessageGas",
            vec![json!(msg), json!(spec), json!([])],
        )
        .await
    }

    /// `Filecoin.StateCall [msg, tsk]`: `msg` run on the head's state,
    /// nothing persisted; the node's `InvocResult` as JSON.
    pub async fn state_call(&self, msg: &MessageJson) -> Result<serde_json::Value, ChainError> {
        self.call("Filecoin.StateCall", vec![json!(msg), json!([])])
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

    /// The unsigned message carrying `msg` from this client's address.
    pub fn build_message(&self, msg: &MinerMessage) -> Result<MessageJson, ChainError> {
        build_message(&self.from, msg)
    }
}
