//! Miner messages as the node and venus-messager take them: the unsigned
//! message ([`build_message`]) and the uid that makes sending it again
//! idempotent ([`message_uid`]). [`LotusClient`](super::LotusClient) sends
//! the uid as `MsgUuid`, [`MessagerClient`](crate::MessagerClient) pushes
//! under it.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use venus_seal_core::chain::MinerMessage;
use venus_seal_core::error::ChainError;

use super::convert::actor_address;
use super::params;
use super::types::MessageJson;

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

/// The namespace of the uids [`message_uid`] derives (a fixed, random v4
/// UUID: changing it would change every uid).
pub const UID_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x6f0e_7c2a_53d1_4b8e_9a41_2d7c_8e5b_13f0);

/// The uid under which `msg` is pushed: a UUID v5 of the miner id, the
/// method number and the CBOR parameters. Identical messages get identical
/// uids, so a resend is idempotent.
pub fn message_uid(msg: &MinerMessage) -> Result<String, ChainError> {
    let (method, params) = params::encode_call(&msg.call)?;
    let mut name = Vec::with_capacity(16 + params.len());
    name.extend_from_slice(&msg.miner.0.to_be_bytes());
    name.extend_from_slice(&method.to_be_bytes());
    name.extend_from_slice(&params);
    Ok(uuid::Uuid::new_v5(&UID_NAMESPACE, &name).to_string())
}
