//! Miner messages as the node and venus-messager take them: the unsigned
//! message ([`build_message`]) and attempt uids ([`new_send_uid`],
//! [`derived_send_uid`]). [`LotusClient`](super::LotusClient) sends the
//! uid as `MsgUuid`, [`MessagerClient`](crate::MessagerClient) pushes
//! under it: one message per uid, so a recovered attempt is not sent
//! twice and a new attempt always goes out.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use venus_seal_core::chain::{MinerMessage, SendUid};
use venus_seal_core::error::ChainError;

use super::convert::actor_address;
use super::params;
use super::types::MessageJson;

/// The unsigned message for `msg` sent by `from`: `msg.value`, gas and
/// nonce left for the node to fill, params CBOR then base64.
pub fn build_message(from: &str, msg: &MinerMessage) -> Result<MessageJson, ChainError> {
    let (method, bytes) = params::encode_miner_call(msg.miner, &msg.call)?;
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

/// The namespace of the uids [`derived_send_uid`] derives (a fixed,
/// random v4 UUID: changing it would change every derived uid).
pub const UID_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x6f0e_7c2a_53d1_4b8e_9a41_2d7c_8e5b_13f0);

/// A fresh attempt uid (a random v4 UUID): every push attempt the manager
/// saves before sending gets one.
pub fn new_send_uid() -> SendUid {
    SendUid(uuid::Uuid::new_v4().to_string())
}

/// The uid of the attempt that `name` identifies (a UUID v5 of it): for a
/// sender that keeps no record of its attempts but can name them
/// uniquely, e.g. "WindowPoSt of miner 1000, period 5000, deadline 3,
/// partition 0, attempt 1". The same name always gives the same uid, so
/// a restarted process recovers its attempt; a new attempt needs a new
/// name.
pub fn derived_send_uid(name: &str) -> SendUid {
    SendUid(uuid::Uuid::new_v5(&UID_NAMESPACE, name.as_bytes()).to_string())
}
