//! droplet's deal assignment types as its Go JSON encodes them (no json
//! tags: the Go field names), from filecoin-project/venus
//! `venus-shared/types/market/assigner_type.go` (the version with
//! `SectorExpiration` and `DealInfoV2`; the fields read here are the same
//! since commit 66e0c11f6f9eb0f4e2b4ac5ff9e1fbf760175848).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `market.GetDealSpec`: what deals a sector can take. Zero means "no
/// limit" for every field (droplet's `dealAssigner` skips a zero filter).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetDealSpec {
    /// At most this many deals (`int`).
    pub max_piece: i64,
    /// No deal larger than this (padded bytes).
    pub max_piece_size: u64,
    /// At least this many deals.
    pub min_piece: i64,
    /// No deal smaller than this.
    pub min_piece_size: u64,
    /// Only if the deals use at least this many bytes.
    pub min_used_space: u64,
    /// Only deals starting after this epoch (`abi.ChainEpoch`).
    pub start_epoch: i64,
    /// Only deals ending before this epoch.
    pub end_epoch: i64,
}

/// `market.DealInfoIncludePath`: one assigned deal. Its embedded
/// `types.DealProposal` (go-state-types `market.DealProposal`) puts the
/// proposal's fields at the top level; the ones not read here (`Label`,
/// prices, collaterals, `TotalStorageFee`, `FastRetrieval`) are ignored.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DealInfoIncludePath {
    /// The piece commitment, a `cid.Cid`: `{"/": "baga6ea4sea…"}`.
    #[serde(rename = "PieceCID")]
    pub piece_cid: Value,
    /// Padded piece size (`abi.PaddedPieceSize`).
    pub piece_size: u64,
    /// Whether the client's datacap pays for it.
    #[serde(default)]
    pub verified_deal: bool,
    /// The storage provider (`address.Address`, `"f01000"`).
    #[serde(default)]
    pub provider: String,
    /// The first epoch the deal must be active.
    #[serde(default)]
    pub start_epoch: i64,
    /// The epoch the deal ends.
    #[serde(default)]
    pub end_epoch: i64,
    /// Where droplet placed the piece in the sector (padded bytes).
    #[serde(default)]
    pub offset: u64,
    /// The piece's padded length.
    #[serde(default)]
    pub length: u64,
    /// The unpadded payload size.
    #[serde(default)]
    pub payload_size: u64,
    /// The chain deal id (`abi.DealID`; 0 for a piece without a deal).
    #[serde(rename = "DealID")]
    pub deal_id: u64,
    /// The client (`address.Address`; any form, `"f01234"` or robust).
    #[serde(default)]
    pub client: String,
}

/// `market.DealInfoV2`: one deal of droplet's `AssignDeals` answer, a
/// builtin-market deal (`PublishCid` set) or a direct (DDO) deal
/// (`PublishCid` null, `DealID` 0, its FIL+ allocation in
/// `AllocationID`), from filecoin-project/venus
/// `venus-shared/types/market/assigner_type.go` (the version with
/// `DirectDealInfo`): `DealID`, `PublishCid`, `AllocationID`, `PieceCID`,
/// `PieceSize`, `Client`, `Provider`, `Offset`, `Length`, `PayloadSize`,
/// `StartEpoch`, `EndEpoch`; no json tags, so the Go names.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DealInfoV2 {
    /// The chain deal id (0 for a direct deal).
    #[serde(rename = "DealID")]
    pub deal_id: u64,
    /// The publishing message (`cid.Cid`; `null`, undefined, for a direct
    /// deal): what tells a builtin-market deal (droplet's
    /// `IsBuiltinMarket`).
    #[serde(default)]
    pub publish_cid: Value,
    /// The FIL+ allocation (`verifreg.AllocationId`; 0: none).
    #[serde(rename = "AllocationID", default)]
    pub allocation_id: u64,
    /// The piece commitment, `{"/": "baga6ea4sea…"}`.
    #[serde(rename = "PieceCID")]
    pub piece_cid: Value,
    /// Padded piece size.
    pub piece_size: u64,
    /// The client (`address.Address`, as the deal was made: an ID or a
    /// robust address).
    #[serde(default)]
    pub client: String,
    /// The storage provider.
    #[serde(default)]
    pub provider: String,
    /// Where droplet placed the piece in the sector (padded bytes).
    #[serde(default)]
    pub offset: u64,
    /// The piece's padded length.
    #[serde(default)]
    pub length: u64,
    /// The unpadded payload size.
    #[serde(default)]
    pub payload_size: u64,
    /// The first epoch the deal must be active.
    #[serde(default)]
    pub start_epoch: i64,
    /// The epoch the deal ends.
    #[serde(default)]
    pub end_epoch: i64,
}

impl DealInfoV2 {
    /// A builtin-market deal (its `PublishCid` is defined), as droplet's
    /// `DealInfoV2.IsBuiltinMarket` tells it.
    pub fn is_builtin_market(&self) -> bool {
        cid_text(&self.publish_cid).is_some_and(|c| !c.is_empty())
    }
}

/// The CID string inside a Go `cid.Cid` JSON value (`{"/": "…"}`), or a
/// plain string.
pub fn cid_text(value: &Value) -> Option<&str> {
    match value {
        Value::String(s) => Some(s),
        Value::Object(map) => map.get("/").and_then(Value::as_str),
        _ => None,
    }
}
