//! [`LotusClient`]: a [`ChainClient`] and [`MessageSender`] over a Lotus /
//! Venus full node's JSON-RPC v1 API (`POST <url>/rpc/v1`, bearer token).
//!
//! Every method the client uses has a typed helper (`chain_head`,
//! `state_sector_pre_commit_info`, `mpool_push_message`, …); the trait
//! implementations are built on them. Message parameters are CBOR-encoded
//! with our copies of the builtin-actor types (see [`params`] and
//! [`actor_types`]).
//!
//! Reading order: `client.rs` (the client and its typed helpers),
//! `traits.rs` (the core traits on them), `collateral.rs` (deposits and
//! pledges as Lotus computes them), `convert.rs` (answers into core types),
//! `message.rs` (the unsigned message and attempt uids, shared with
//! [`MessagerClient`](crate::MessagerClient)). The HTTP transport is
//! `crate::jsonrpc`, shared with the messager too.
//!
//! [`ChainClient`]: venus_seal_core::ChainClient
//! [`MessageSender`]: venus_seal_core::MessageSender

pub mod actor_types;
mod client;
mod collateral;
mod convert;
pub mod lifecycle_params;
mod message;
pub mod params;
pub mod post_params;
mod replace;
mod traits;
pub mod types;

use venus_seal_core::NetworkParams;

pub use crate::jsonrpc::REQUEST_TIMEOUT;
pub use client::LotusClient;
pub use convert::{actor_address, decode_randomness, zero_comm_d};
pub use message::{build_message, derived_send_uid, new_send_uid, UID_NAMESPACE};
pub use replace::bumped_fees;
pub use types::{
    BitFieldJson, CidJson, ClaimJson, DeadlineInfoJson, DeadlineJson, MessageJson, MessageSendSpec,
    MinerInfoJson, MsgLookupJson, PartitionJson, ReceiptJson, SectorLocationJson,
    SectorOnChainInfoJson, SectorPreCommitInfoJson, SectorPreCommitOnChainInfoJson,
    SignedMessageJson, TipSet, TipSetKey,
};

/// Mainnet sealing constants: lookback 900, challenge delay 150, maximum
/// ticket age 2880 + 900 epochs, 30 s epochs.
pub const MAINNET_NETWORK: NetworkParams = NetworkParams {
    seal_randomness_lookback: 900,
    pre_commit_challenge_delay: 150,
    max_pre_commit_randomness_lookback: 2880 + 900,
    block_delay_secs: 30,
};
