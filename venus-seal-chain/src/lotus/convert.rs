//! Reading what the node answers into core types, and the few values the
//! client computes itself (actor addresses, the CommD of an empty sector).
//! Every malformed answer is [`ChainError::InvalidResponse`] naming the
//! method.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use venus_seal_core::error::ChainError;
use venus_seal_core::{ActorId, CommD, CommR, Randomness, SealProof, TokenAmount};

use super::types::CidJson;

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

/// The CID the node returned.
pub(super) fn parse_cid(method: &str, c: &CidJson) -> Result<cid::Cid, ChainError> {
    cid::Cid::try_from(c.root.as_str())
        .map_err(|e| ChainError::InvalidResponse(format!("{method}: bad CID {:?}: {e}", c.root)))
}

/// The sealed CID the node returned (`null` is invalid).
pub(super) fn parse_comm_r(method: &str, c: Option<&CidJson>) -> Result<CommR, ChainError> {
    let c = c.ok_or_else(|| ChainError::InvalidResponse(format!("{method}: SealedCID is null")))?;
    CommR::from_cid(&parse_cid(method, c)?)
        .map_err(|e| ChainError::InvalidResponse(format!("{method}: SealedCID: {e}")))
}

/// An attoFIL amount the node returned.
pub(super) fn parse_amount(method: &str, s: &str) -> Result<TokenAmount, ChainError> {
    s.parse()
        .map_err(|e| ChainError::InvalidResponse(format!("{method}: {e}")))
}

/// `total` plus the amount `s` the node returned.
pub(super) fn add_amount(
    method: &str,
    total: TokenAmount,
    s: &str,
) -> Result<TokenAmount, ChainError> {
    total
        .checked_add(parse_amount(method, s)?)
        .ok_or_else(|| ChainError::InvalidResponse(format!("{method}: amounts overflow: {s}")))
}

/// The seal proof numbered `id` on chain.
pub(super) fn parse_proof(method: &str, id: i64) -> Result<SealProof, ChainError> {
    SealProof::from_id(id).map_err(|e| ChainError::InvalidResponse(format!("{method}: {e}")))
}

/// The CommD of a sector holding only zeros (what a `null` UnsealedCid
/// stands for): the root of an all-zero data tree of the sector's size.
pub fn zero_comm_d(proof: SealProof) -> CommD {
    CommD(venus_seal_core::types::commitment::zero_commitment(
        proof.sector_size().0,
    ))
}
