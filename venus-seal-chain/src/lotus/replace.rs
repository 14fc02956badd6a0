//! Replacing a stuck message: the same message at the same nonce with a
//! higher gas premium, as `lotus mpool replace` does (lotus
//! cli/mpool.go `MpoolReplaceCmd` and chain/messagepool `ComputeMinRBF`,
//! filecoin-project/lotus commit 3d1bc96aaee3346a0f03a88f60a2e2afd7d5cf85):
//! `Filecoin.ChainGetMessage`, new premium at least old × 1.25 + 1, fee
//! cap at least the premium and capped by the max fee,
//! `Filecoin.WalletSignMessage`, `Filecoin.MpoolPush`. The mpool takes a
//! message at a nonce it holds only with a premium that high, so at most
//! one of the two lands.

use serde_json::json;
use venus_seal_core::chain::{FeeBump, MessageFee, MessageId, Replaced};
use venus_seal_core::error::ChainError;

use super::types::{CidJson, MessageJson, SignedMessageJson};
use super::LotusClient;

/// The premium and fee cap of the replacement of a message with
/// `premium`, `fee_cap` and `gas_limit` (attoFIL), or why there is none
/// within `bump.max_fee` (zero: no cap).
pub fn bumped_fees(
    premium: u128,
    fee_cap: u128,
    gas_limit: i64,
    bump: &FeeBump,
) -> Result<(u128, u128), String> {
    let percent = u128::from(bump.premium_percent.max(25));
    let new_premium = premium
        .saturating_add(premium.saturating_mul(percent) / 100)
        .saturating_add(1);
    let mut new_cap = fee_cap.max(new_premium);
    let limit = u128::try_from(gas_limit.max(1)).unwrap_or(1);
    let max_fee = bump.max_fee.0;
    if max_fee > 0 && new_cap.saturating_mul(limit) > max_fee {
        new_cap = max_fee / limit;
        if new_cap < new_premium {
            return Err(format!(
                "a premium of {new_premium} attoFIL/gas (the stuck one's {premium} raised by {percent} %) exceeds the max fee {max_fee} attoFIL for gas limit {gas_limit}"
            ));
        }
    }
    Ok((new_premium, new_cap))
}

/// The gas `msg` (as `method` answered it: `ChainGetMessage`,
/// `GasEstimateMessageGas`) may cost.
pub(super) fn fee_of(method: &str, msg: &MessageJson) -> Result<MessageFee, ChainError> {
    let amount = |what: &str, s: &str| {
        s.parse().map_err(|_| {
            ChainError::InvalidResponse(format!("{method}: {what} {s:?} is not an amount"))
        })
    };
    Ok(MessageFee {
        gas_limit: u64::try_from(msg.gas_limit).unwrap_or(0),
        fee_cap: amount("GasFeeCap", &msg.gas_fee_cap)?,
        premium: amount("GasPremium", &msg.gas_premium)?,
    })
}

impl LotusClient {
    /// `Filecoin.ChainGetMessage [cid]`.
    pub async fn chain_get_message(&self, cid: &CidJson) -> Result<MessageJson, ChainError> {
        self.call("Filecoin.ChainGetMessage", vec![json!(cid)])
            .await
    }

    /// `Filecoin.WalletSignMessage [addr, msg]`.
    pub async fn wallet_sign_message(
        &self,
        from: &str,
        msg: &MessageJson,
    ) -> Result<SignedMessageJson, ChainError> {
        self.call("Filecoin.WalletSignMessage", vec![json!(from), json!(msg)])
            .await
    }

    /// `Filecoin.MpoolPush [signed]` → the CID.
    pub async fn mpool_push(&self, signed: &SignedMessageJson) -> Result<CidJson, ChainError> {
        self.call("Filecoin.MpoolPush", vec![json!(signed)]).await
    }

    /// Replaces the stuck message `id` (see the module doc).
    pub(super) async fn replace_message(
        &self,
        id: &MessageId,
        bump: &FeeBump,
    ) -> Result<Replaced, ChainError> {
        let mut msg = self.chain_get_message(&CidJson::new(id.0.clone())).await?;
        let fee = fee_of("Filecoin.ChainGetMessage", &msg)?;
        let (premium, fee_cap) = bumped_fees(fee.premium.0, fee.fee_cap.0, msg.gas_limit, bump)
            .map_err(|e| ChainError::Rejected(format!("cannot replace message {}: {e}", id.0)))?;
        msg.gas_premium = premium.to_string();
        msg.gas_fee_cap = fee_cap.to_string();
        let signed = self.wallet_sign_message(&msg.from, &msg).await?;
        let cid = self.mpool_push(&signed).await?;
        Ok(Replaced::By(MessageId(cid.root)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use venus_seal_core::TokenAmount;

    fn bump(percent: u32, max_fee: u128) -> FeeBump {
        FeeBump {
            premium_percent: percent,
            max_fee: TokenAmount(max_fee),
        }
    }

    /// Lotus' minimum replace-by-fee: old × 1.25 + 1; the fee cap follows
    /// the premium up.
    #[test]
    fn the_premium_rises_at_least_25_percent_plus_one() {
        assert_eq!(
            bumped_fees(1000, 100_000, 10, &bump(0, 0)),
            Ok((1251, 100_000))
        );
        assert_eq!(bumped_fees(1000, 1000, 10, &bump(50, 0)), Ok((1501, 1501)));
    }

    /// The max fee caps the fee cap; a premium above what it allows is no
    /// replacement at all.
    #[test]
    fn the_max_fee_caps_the_replacement() {
        assert_eq!(
            bumped_fees(1000, 100_000, 10, &bump(25, 500_000)),
            Ok((1251, 50_000))
        );
        let e = bumped_fees(1000, 100_000, 10, &bump(25, 12_000)).unwrap_err();
        assert!(e.contains("exceeds the max fee 12000"), "{e}");
    }
}
