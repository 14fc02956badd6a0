//! [`MessagerClient`]: a [`MessageSender`] over venus-messager (`/rpc/v0`,
//! namespace `Message`).
//!
//! Messages are pushed with `Message.PushMessageWithId` under the attempt
//! uid the caller chose ([`SendUid`]). venus-messager inserts the message
//! without looking for the id first (service/message_service.go
//! `PushMessageWithId` → models/sqlite/message.go `CreateMessage`, a plain
//! insert: a known id fails on the primary key; sophon-messager commits
//! fb23f3079303af3f17afdfcbbdb3ec7df9d495a5 and
//! 418f5d509ca9504ff94de28284a527623176a039), so the client asks
//! `Message.GetMessageByUid` first and, when a push is refused, again: a
//! message the messager holds under the uid is the attempt already sent,
//! never an error.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use venus_seal_core::chain::{
    FeeBump, MessageFee, MessageId, MessageState, MinerMessage, Replaced, SendUid,
};
use venus_seal_core::error::ChainError;
use venus_seal_core::{MessageSender, TokenAmount};

use crate::jsonrpc::JsonRpcClient;
use crate::lotus::{build_message, MessageJson, ReceiptJson};

/// venus-messager's `SendSpec`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendSpec {
    /// Epoch after which the messager gives up (0: never).
    pub expire_epoch: i64,
    /// Gas limit multiplier (0: the messager's default).
    pub gas_over_estimation: f64,
    /// Maximum total fee, attoFIL decimal ("0": default).
    pub max_fee: String,
    /// Gas premium multiplier (0: default).
    pub gas_over_premium: f64,
}

impl Default for SendSpec {
    fn default() -> Self {
        SendSpec {
            expire_epoch: 0,
            gas_over_estimation: 0.0,
            max_fee: "0".into(),
            gas_over_premium: 0.0,
        }
    }
}

/// venus-messager message states, as venus-shared numbers them
/// (filecoin-project/venus `venus-shared/types/messager/message.go`,
/// `MessageState`, an `iota` from `UnKnown`; the version the search index
/// holds, its commit not shown there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i64)]
pub enum MessagerState {
    /// 0
    UnKnown = 0,
    /// 1: not yet given gas and nonce.
    UnFillMsg = 1,
    /// 2: filled and pushed to the mpool.
    FillMsg = 2,
    /// 3: executed on chain.
    OnChainMsg = 3,
    /// 4: failed (estimation or execution).
    FailedMsg = 4,
    /// 5: replaced at its nonce by another message, which executed (the
    /// record holds its receipt; venus-shared's own wait treats it as on
    /// chain).
    ReplacedMsg = 5,
    /// 6: the messager has no wallet for the sender: never sent.
    NoWalletMsg = 6,
}

impl MessagerState {
    /// The state with number `n`, if known.
    pub fn from_i64(n: i64) -> Option<Self> {
        Some(match n {
            0 => Self::UnKnown,
            1 => Self::UnFillMsg,
            2 => Self::FillMsg,
            3 => Self::OnChainMsg,
            4 => Self::FailedMsg,
            5 => Self::ReplacedMsg,
            6 => Self::NoWalletMsg,
            _ => return None,
        })
    }
}

/// The parts of venus-messager's message record this client reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagerMessage {
    /// The uid.
    #[serde(rename = "ID")]
    pub id: String,
    /// Execution epoch (0 before landing).
    #[serde(rename = "Height", default)]
    pub height: i64,
    /// The receipt, once executed.
    #[serde(rename = "Receipt", default)]
    pub receipt: Option<ReceiptJson>,
    /// The state number ([`MessagerState`]).
    #[serde(rename = "State")]
    pub state: i64,
    /// The messager's error text for a failed message, if any.
    #[serde(rename = "ErrorMsg", default)]
    pub error_msg: Option<String>,
    /// The gas limit (0 until the messager selects the message; the
    /// chain message's fields are inline in the record, venus-shared
    /// types/messager/message.go `Message.MarshalJSON`, filecoin-project/
    /// venus commit 03977bba67fb5bb4f04073dd0d3478e565dc1865).
    #[serde(rename = "GasLimit", default)]
    pub gas_limit: i64,
    /// The gas fee cap, attoFIL.
    #[serde(rename = "GasFeeCap", default)]
    pub gas_fee_cap: Option<String>,
    /// The gas premium, attoFIL.
    #[serde(rename = "GasPremium", default)]
    pub gas_premium: Option<String>,
}

impl MessagerMessage {
    /// The gas the message may cost, once the messager priced it (a gas
    /// limit above zero).
    pub fn fee(&self) -> Result<Option<MessageFee>, ChainError> {
        if self.gas_limit <= 0 {
            return Ok(None);
        }
        let amount = |what: &str, v: &Option<String>| {
            v.as_deref()
                .unwrap_or("0")
                .parse::<TokenAmount>()
                .map_err(|_| {
                    ChainError::InvalidResponse(format!(
                        "Message.GetMessageByUid: {what} {v:?} of {} is not an amount",
                        self.id
                    ))
                })
        };
        Ok(Some(MessageFee {
            gas_limit: self.gas_limit as u64,
            fee_cap: amount("GasFeeCap", &self.gas_fee_cap)?,
            premium: amount("GasPremium", &self.gas_premium)?,
        }))
    }

    /// The [`MessageState`] this record stands for.
    pub fn message_state(&self) -> MessageState {
        match MessagerState::from_i64(self.state) {
            Some(MessagerState::OnChainMsg | MessagerState::ReplacedMsg) => {
                let exit_code = self.receipt.as_ref().map_or(0, |r| r.exit_code);
                MessageState::Landed {
                    epoch: self.height,
                    exit_code,
                    error: (exit_code != 0)
                        .then(|| format!("message exited with code {exit_code}")),
                }
            }
            Some(MessagerState::NoWalletMsg) => MessageState::Landed {
                epoch: self.height,
                exit_code: -1,
                error: Some("venus-messager has no wallet for the sender (NoWalletMsg)".into()),
            },
            Some(MessagerState::FailedMsg) => {
                let exit_code = self
                    .receipt
                    .as_ref()
                    .map(|r| r.exit_code)
                    .filter(|c| *c != 0)
                    .unwrap_or(-1);
                MessageState::Landed {
                    epoch: self.height,
                    exit_code,
                    error: Some(
                        self.error_msg
                            .clone()
                            .filter(|e| !e.is_empty())
                            .unwrap_or_else(|| "venus-messager marked the message failed".into()),
                    ),
                }
            }
            _ => MessageState::Pending,
        }
    }
}

/// A venus-messager client sending miner messages from `from`.
#[derive(Debug, Clone)]
pub struct MessagerClient {
    rpc: JsonRpcClient,
    from: String,
    spec: SendSpec,
}

impl MessagerClient {
    /// A client of the messager at `url` (`/rpc/v0` is appended unless
    /// present) with its JWT and the sending address.
    pub fn new(url: &str, token: Option<String>, from: String) -> Result<Self, ChainError> {
        let trimmed = url.trim_end_matches('/');
        let url = if trimmed.ends_with("/rpc/v0") {
            trimmed.to_string()
        } else {
            format!("{trimmed}/rpc/v0")
        };
        Ok(MessagerClient {
            rpc: JsonRpcClient::new(url, token.as_deref())?,
            from,
            spec: SendSpec::default(),
        })
    }

    /// Sets the send spec used for every message.
    pub fn with_send_spec(mut self, spec: SendSpec) -> Self {
        self.spec = spec;
        self
    }

    /// The full RPC endpoint URL.
    pub fn url(&self) -> &str {
        self.rpc.url()
    }

    /// `Message.PushMessageWithId [id, msg, spec]` → the uid.
    pub async fn push_message_with_id(
        &self,
        id: &str,
        msg: &MessageJson,
        spec: &SendSpec,
    ) -> Result<String, ChainError> {
        self.rpc
            .call(
                "Message.PushMessageWithId",
                vec![json!(id), json!(msg), json!(spec)],
            )
            .await
    }

    /// `Message.GetMessageByUid [id]`; `None` when the messager does not
    /// know the uid (`null` or a "not found" error).
    pub async fn get_message_by_uid(
        &self,
        id: &str,
    ) -> Result<Option<MessagerMessage>, ChainError> {
        match self
            .rpc
            .call("Message.GetMessageByUid", vec![json!(id)])
            .await
        {
            Ok(m) => Ok(m),
            Err(ChainError::Node(e)) if e.to_ascii_lowercase().contains("not found") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `Message.ReplaceMessage [params]` with venus-shared's
    /// `ReplacMessageParams` (types/messager/message.go, filecoin-project/
    /// venus commit 03977bba67fb5bb4f04073dd0d3478e565dc1865: `ID`, `Auto`,
    /// `MaxFee`, `GasLimit`, `GasPremium`, `GasFeecap`, `GasOverPremium`),
    /// `Auto` set: sophon-messager service/message_service.go
    /// `ReplaceMessage` (commit fb23f3079303af3f17afdfcbbdb3ec7df9d495a5)
    /// then estimates the gas with `GasOverPremium` and `MaxFee`, takes at
    /// least `computeMinRBF` (old premium × 1.25 + 1) and caps the fee.
    /// Returns the replacement's signed CID.
    pub async fn replace_message(&self, id: &str, bump: &FeeBump) -> Result<String, ChainError> {
        let params = json!({
            "ID": id,
            "Auto": true,
            "MaxFee": bump.max_fee.to_string(),
            "GasLimit": 0,
            "GasPremium": "0",
            "GasFeecap": "0",
            "GasOverPremium": 1.0 + f64::from(bump.premium_percent) / 100.0,
        });
        let cid: crate::lotus::CidJson = self
            .rpc
            .call("Message.ReplaceMessage", vec![params])
            .await?;
        Ok(cid.root)
    }

    /// `Message.WaitMessage [id, confidence]`: the messager answers once
    /// the message has executed and `confidence` epochs were built on it,
    /// with its record ([`MessagerMessage::message_state`] says how it
    /// ended). A wait longer than the client's request timeout comes back
    /// as [`ChainError::Transport`]: ask again. The manager itself polls
    /// ([`MessageSender::state`]) and never blocks on this.
    pub async fn wait_message(
        &self,
        id: &str,
        confidence: u64,
    ) -> Result<MessagerMessage, ChainError> {
        self.rpc
            .call("Message.WaitMessage", vec![json!(id), json!(confidence)])
            .await
    }
}

#[async_trait]
impl MessageSender for MessagerClient {
    /// Pushes `msg` under `uid` unless the messager already holds a
    /// message under it. A refused push (venus-messager's duplicate-id
    /// insert error among others) is looked up once more: a message held
    /// under `uid` is the answer, anything else the push's error.
    async fn send(&self, uid: &SendUid, msg: MinerMessage) -> Result<MessageId, ChainError> {
        if self.get_message_by_uid(&uid.0).await?.is_some() {
            return Ok(MessageId(uid.0.clone()));
        }
        let message = build_message(&self.from, &msg)?;
        match self
            .push_message_with_id(&uid.0, &message, &self.spec)
            .await
        {
            Ok(returned) => Ok(MessageId(if returned.is_empty() {
                uid.0.clone()
            } else {
                returned
            })),
            Err(refused) => match self.get_message_by_uid(&uid.0).await {
                Ok(Some(_)) => Ok(MessageId(uid.0.clone())),
                _ => Err(refused),
            },
        }
    }

    /// `Message.ReplaceMessage` with `Auto`: the messager estimates the
    /// gas again, takes at least its minimum replace-by-fee premium (old ×
    /// 1.25 + 1) and caps the fee at `MaxFee`, re-signs at the same nonce
    /// and pushes; the message keeps its id.
    async fn replace(&self, id: &MessageId, bump: &FeeBump) -> Result<Replaced, ChainError> {
        self.replace_message(&id.0, bump).await?;
        Ok(Replaced::By(id.clone()))
    }

    /// `Message.GetMessageByUid`: the record's gas fields, once the
    /// messager selected the message (`None` before, and for an unknown
    /// id).
    async fn fee(&self, id: &MessageId) -> Result<Option<MessageFee>, ChainError> {
        match self.get_message_by_uid(&id.0).await? {
            Some(m) => m.fee(),
            None => Ok(None),
        }
    }

    async fn state(&self, id: &MessageId) -> Result<MessageState, ChainError> {
        Ok(match self.get_message_by_uid(&id.0).await? {
            None => MessageState::NotFound,
            Some(m) => m.message_state(),
        })
    }
}

#[cfg(test)]
mod state_tests {
    use super::*;

    fn record(state: i64, exit_code: Option<i64>) -> MessagerMessage {
        serde_json::from_value(json!({
            "ID": "u", "Height": 7, "State": state,
            "Receipt": exit_code.map(|c| json!({"ExitCode": c, "Return": null, "GasUsed": 1})),
        }))
        .unwrap()
    }

    /// An UnFillMsg record (state 1) carries the zero gas of a message the
    /// messager has not selected yet: not priced. A FillMsg record (2) is.
    /// Records as venus-shared `Message.MarshalJSON` writes them (commit
    /// 03977bba67fb5bb4f04073dd0d3478e565dc1865): the chain message's
    /// fields inline, amounts as strings.
    #[test]
    fn a_record_is_priced_once_the_messager_filled_it() {
        let unfilled: MessagerMessage = serde_json::from_value(json!({
            "ID": "u", "State": 1, "GasLimit": 0, "GasFeeCap": "0", "GasPremium": "0",
        }))
        .unwrap();
        assert_eq!(unfilled.fee().unwrap(), None);
        let filled: MessagerMessage = serde_json::from_value(json!({
            "ID": "u", "State": 2, "GasLimit": 2_500_000, "GasFeeCap": "150000", "GasPremium": "99000",
        }))
        .unwrap();
        let fee = filled.fee().unwrap().unwrap();
        assert_eq!(fee.gas_limit, 2_500_000);
        assert_eq!(fee.max(), TokenAmount(2_500_000 * 150_000));
        assert_eq!(fee.premium, TokenAmount(99_000));
        let garbled: MessagerMessage = serde_json::from_value(json!({
            "ID": "u", "State": 2, "GasLimit": 1, "GasFeeCap": "lots", "GasPremium": "1",
        }))
        .unwrap();
        let err = garbled.fee().unwrap_err().to_string();
        assert!(err.contains("GasFeeCap") && err.contains("lots"), "{err}");
    }

    /// venus-shared numbers: 5 is ReplacedMsg (landed through its
    /// replacement, read as on chain), 6 NoWalletMsg (never sent: failed).
    #[test]
    fn replaced_is_on_chain_and_no_wallet_is_failed() {
        assert_eq!(MessagerState::from_i64(5), Some(MessagerState::ReplacedMsg));
        assert_eq!(MessagerState::from_i64(6), Some(MessagerState::NoWalletMsg));
        assert_eq!(
            record(5, Some(0)).message_state(),
            MessageState::Landed {
                epoch: 7,
                exit_code: 0,
                error: None
            }
        );
        match record(6, None).message_state() {
            MessageState::Landed {
                exit_code, error, ..
            } => {
                assert_ne!(exit_code, 0);
                assert!(error.unwrap().contains("NoWalletMsg"));
            }
            other => panic!("NoWalletMsg read as {other:?}"),
        }
        assert_eq!(record(2, None).message_state(), MessageState::Pending);
    }
}
