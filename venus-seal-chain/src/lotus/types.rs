//! JSON shapes of the Lotus / Venus full-node API (PascalCase, CIDs as
//! `{"/": "..."}`, token amounts as decimal strings).

use serde::{Deserialize, Serialize};

/// A CID in Lotus JSON: `{"/": "bafy..."}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CidJson {
    /// The CID in its string form.
    #[serde(rename = "/")]
    pub root: String,
}

impl CidJson {
    /// Wraps a CID string.
    pub fn new(cid: impl Into<String>) -> Self {
        CidJson { root: cid.into() }
    }
}

/// A tipset key: the CIDs of its blocks; empty means the head.
pub type TipSetKey = Vec<CidJson>;

/// The parts of a tipset this client reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TipSet {
    /// The tipset key (`null` in some documented examples).
    #[serde(default, deserialize_with = "null_as_default")]
    pub cids: TipSetKey,
    /// The tipset's epoch.
    pub height: i64,
}

/// `Info` of `StateSectorPreCommitInfo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SectorPreCommitInfoJson {
    /// Registered seal proof id.
    pub seal_proof: i64,
    /// Sector number.
    pub sector_number: u64,
    /// CommR.
    #[serde(rename = "SealedCID")]
    pub sealed_cid: Option<CidJson>,
    /// The ticket epoch.
    pub seal_rand_epoch: i64,
    /// Deals (`null` for none).
    #[serde(rename = "DealIDs", default, deserialize_with = "null_as_default")]
    pub deal_ids: Vec<u64>,
    /// Requested expiration.
    pub expiration: i64,
    /// CommD; `null` for a sector without data (zero CommD).
    #[serde(default)]
    pub unsealed_cid: Option<CidJson>,
}

/// Answer of `StateSectorPreCommitInfo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SectorPreCommitOnChainInfoJson {
    /// The pre-commit parameters.
    pub info: SectorPreCommitInfoJson,
    /// Deposit, attoFIL as a decimal string.
    pub pre_commit_deposit: String,
    /// The epoch it landed.
    pub pre_commit_epoch: i64,
}

/// The parts of `StateSectorGetInfo` this client reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SectorOnChainInfoJson {
    /// Sector number.
    pub sector_number: u64,
    /// Registered seal proof id.
    pub seal_proof: i64,
    /// CommR.
    #[serde(rename = "SealedCID")]
    pub sealed_cid: Option<CidJson>,
    /// Activation epoch.
    pub activation: i64,
    /// Expiration epoch.
    pub expiration: i64,
    /// Initial pledge, attoFIL.
    #[serde(default)]
    pub initial_pledge: Option<String>,
    /// The space × time of its unverified data (a BigInt string).
    #[serde(default)]
    pub deal_weight: Option<String>,
    /// The space × time of its verified data.
    #[serde(default)]
    pub verified_deal_weight: Option<String>,
    /// The CC replica's CommR once the sector was snapped up (Lotus'
    /// `SectorOnChainInfo.SectorKeyCID`, `*cid.Cid`: `null` before).
    #[serde(rename = "SectorKeyCID", default)]
    pub sector_key_cid: Option<CidJson>,
}

/// A FIL+ claim (`StateGetClaims`' values: verifreg `Claim`, no JSON tags:
/// `{Provider, Client, Data, Size, TermMin, TermMax, TermStart, Sector}`,
/// as Lotus' documented `StateGetClaim` example answers).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ClaimJson {
    /// The provider's actor id.
    pub provider: u64,
    /// The client's actor id.
    pub client: u64,
    /// The piece CID.
    pub data: CidJson,
    /// The piece's padded size.
    pub size: u64,
    /// Minimum term, epochs.
    pub term_min: i64,
    /// Maximum term, epochs.
    pub term_max: i64,
    /// The epoch the term began.
    pub term_start: i64,
    /// The sector holding the data.
    pub sector: u64,
}

/// `StateSectorPartition` (Lotus `miner.SectorLocation`, no JSON tags).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SectorLocationJson {
    /// Deadline index.
    pub deadline: u64,
    /// Partition index.
    pub partition: u64,
}

/// `StateMinerProvingDeadline`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeadlineInfoJson {
    /// The epoch the deadline was computed at.
    pub current_epoch: i64,
    /// First epoch of the proving period.
    pub period_start: i64,
    /// Deadline index.
    pub index: u64,
    /// First epoch of the challenge window.
    pub open: i64,
    /// First epoch after the window.
    pub close: i64,
    /// Challenge epoch.
    pub challenge: i64,
    /// Fault declaration cutoff.
    pub fault_cutoff: i64,
    /// Deadlines per proving period (48 on mainnet; absent from older
    /// nodes' answers).
    #[serde(rename = "WPoStPeriodDeadlines", default = "mainnet_deadlines")]
    pub period_deadlines: u64,
}

fn mainnet_deadlines() -> u64 {
    48
}

/// A bitfield as Lotus writes it in JSON: run lengths, alternating, the
/// first run unset (`[1, 3]` is `{1, 2, 3}`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BitFieldJson(pub Vec<u64>);

impl BitFieldJson {
    /// The set bits, ascending (at most `limit` of them, to survive a
    /// hostile answer).
    pub fn bits(&self, limit: usize) -> Result<Vec<u64>, String> {
        let mut out = Vec::new();
        let mut at: u64 = 0;
        for (i, run) in self.0.iter().enumerate() {
            let end = at
                .checked_add(*run)
                .ok_or_else(|| "bitfield runs overflow".to_string())?;
            if i % 2 == 1 {
                if out.len() as u64 + run > limit as u64 {
                    return Err(format!("bitfield holds more than {limit} bits"));
                }
                out.extend(at..end);
            }
            at = end;
        }
        Ok(out)
    }
}

/// One deadline of `StateMinerDeadlines`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeadlineJson {
    /// The partitions proven in the deadline's current challenge window.
    pub post_submissions: BitFieldJson,
    /// Optimistically accepted proofs that may still be disputed.
    #[serde(default)]
    pub disputable_proof_count: u64,
}

/// One partition of `StateMinerPartitions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PartitionJson {
    /// Every sector.
    pub all_sectors: BitFieldJson,
    /// Faulty sectors.
    pub faulty_sectors: BitFieldJson,
    /// Faulty sectors declared recovered.
    pub recovering_sectors: BitFieldJson,
    /// Sectors not terminated.
    pub live_sectors: BitFieldJson,
    /// Live sectors not faulty.
    pub active_sectors: BitFieldJson,
}

/// The parts of `StateMinerInfo` this client reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MinerInfoJson {
    /// Owner address.
    pub owner: String,
    /// Worker address.
    pub worker: String,
    /// Control addresses.
    #[serde(default, deserialize_with = "null_as_default")]
    pub control_addresses: Vec<String>,
    /// Sector size in bytes.
    pub sector_size: u64,
    /// Window PoSt proof type.
    #[serde(default)]
    pub window_po_st_proof_type: Option<i64>,
}

/// An unsigned message (`types.Message`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MessageJson {
    /// Message version, 0.
    pub version: u64,
    /// Receiver.
    pub to: String,
    /// Sender.
    pub from: String,
    /// Nonce (the node or messager fills it).
    pub nonce: u64,
    /// Value, attoFIL.
    pub value: String,
    /// Gas limit (0: estimated by the node).
    pub gas_limit: i64,
    /// Gas fee cap, attoFIL.
    pub gas_fee_cap: String,
    /// Gas premium, attoFIL.
    pub gas_premium: String,
    /// Method number.
    pub method: u64,
    /// CBOR parameters, base64.
    pub params: String,
}

/// `MpoolPushMessage`'s message send spec.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MessageSendSpec {
    /// Maximum total fee, attoFIL ("0" = node default).
    pub max_fee: String,
    /// Idempotency key for the mpool.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg_uuid: Option<String>,
    /// Let the node raise the fee cap to the max fee.
    pub maximize_fee_cap: bool,
}

/// A signed message as `MpoolPushMessage` returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SignedMessageJson {
    /// The message with the nonce and gas the node chose.
    pub message: serde_json::Value,
    /// The CID of the signed message.
    #[serde(rename = "CID")]
    pub cid: CidJson,
}

/// A message receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReceiptJson {
    /// 0 on success.
    pub exit_code: i64,
    /// Return value, base64 (`null` for none).
    #[serde(default)]
    pub r#return: Option<String>,
    /// Gas used.
    pub gas_used: i64,
}

/// `StateSearchMsg` / `StateWaitMsg` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MsgLookupJson {
    /// The message found (may be a replacement).
    #[serde(default)]
    pub message: Option<CidJson>,
    /// Its receipt.
    pub receipt: ReceiptJson,
    /// The tipset that executed it.
    #[serde(default)]
    pub tip_set: Option<serde_json::Value>,
    /// The execution epoch.
    pub height: i64,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}
