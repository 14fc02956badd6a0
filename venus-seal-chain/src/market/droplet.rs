//! [`DropletMarket`]: droplet's deal assignment API (go-jsonrpc, namespace
//! `VENUS_MARKET`, `/rpc/v1`).

use async_trait::async_trait;
use serde_json::{json, Value};
use tracing::debug;
use venus_seal_core::error::ChainError;
use venus_seal_core::manager::{AcquireDealsSpec, DealInfo};
use venus_seal_core::{ChainEpoch, PaddedPieceSize, PieceCid, PieceInfo, SectorId, SectorSize};

use super::wire::{cid_text, DealInfoIncludePath, GetDealSpec};
use super::DealMarket;
use crate::jsonrpc::JsonRpcClient;

/// The go-jsonrpc namespace droplet registers its API under
/// (`venus-shared/api/market/v1/client_gen.go` `MethodNamespace`).
pub const NAMESPACE: &str = "VENUS_MARKET";

/// droplet (venus-market) as a [`DealMarket`]: deals come from
/// `VENUS_MARKET.AssignUnPackedDeals` and go back with
/// `VENUS_MARKET.ReleaseDeals`, both `perm:write`, the calls
/// damocles-manager makes.
#[derive(Debug, Clone)]
pub struct DropletMarket {
    rpc: JsonRpcClient,
}

impl DropletMarket {
    /// A client of droplet at `url` with a token (`write` at least): a bare
    /// origin (`http://droplet:41235`) gets `/rpc/v1` appended, as
    /// venus-shared's `api.Endpoint` does; a URL with a path is used as
    /// written.
    pub fn new(url: &str, token: Option<&str>) -> Result<Self, ChainError> {
        Ok(Self {
            rpc: JsonRpcClient::new(endpoint(url), token)?,
        })
    }

    /// The JSON-RPC URL called.
    pub fn url(&self) -> &str {
        self.rpc.url()
    }
}

/// `url` with `/rpc/v1` appended when it has no path.
fn endpoint(url: &str) -> String {
    let trimmed = url.trim_end_matches('/');
    let after_scheme = trimmed.split_once("://").map_or(trimmed, |(_, rest)| rest);
    if after_scheme.contains('/') {
        trimmed.to_string()
    } else {
        format!("{trimmed}/rpc/v1")
    }
}

fn method(name: &str) -> String {
    format!("{NAMESPACE}.{name}")
}

/// One of droplet's deals as the worker needs it.
fn deal_info(d: DealInfoIncludePath) -> Result<DealInfo, ChainError> {
    let bad = |what: String| {
        ChainError::InvalidResponse(format!(
            "{}: deal {}: {what}",
            method("AssignUnPackedDeals"),
            d.deal_id
        ))
    };
    let text = cid_text(&d.piece_cid)
        .ok_or_else(|| bad(format!("PieceCID {} is not a CID", d.piece_cid)))?;
    let cid: PieceCid = text
        .parse()
        .map_err(|e| bad(format!("PieceCID {text}: {e}")))?;
    let size = PaddedPieceSize(d.piece_size);
    if !d.piece_size.is_power_of_two() || d.piece_size < 128 {
        return Err(bad(format!(
            "PieceSize {} is not a padded piece size",
            d.piece_size
        )));
    }
    Ok(DealInfo {
        id: d.deal_id,
        piece: PieceInfo { size, cid },
    })
}

#[async_trait]
impl DealMarket for DropletMarket {
    async fn assign_deals(
        &self,
        sector: SectorId,
        size: SectorSize,
        spec: AcquireDealsSpec,
        earliest_start: ChainEpoch,
    ) -> Result<Vec<DealInfo>, ChainError> {
        // As damocles-manager fills it (dealmgr.go `Acquire`).
        let spec = GetDealSpec {
            max_piece: spec.max_deals.map_or(0, |n| n as i64),
            min_used_space: spec.min_used_space.unwrap_or(0),
            start_epoch: earliest_start.max(0),
            ..GetDealSpec::default()
        };
        let deals: Option<Vec<DealInfoIncludePath>> = self
            .rpc
            .call(
                &method("AssignUnPackedDeals"),
                vec![
                    json!({"Miner": sector.miner.0, "Number": sector.number.0}),
                    json!(size.0),
                    serde_json::to_value(&spec).expect("plain fields serialize"),
                ],
            )
            .await?;
        let deals = deals
            .unwrap_or_default()
            .into_iter()
            .map(deal_info)
            .collect::<Result<Vec<_>, _>>()?;
        debug!(%sector, deals = ?deals.iter().map(|d| d.id).collect::<Vec<_>>(), "droplet assigned deals");
        Ok(deals)
    }

    async fn release_deals(&self, sector: SectorId, deals: &[DealInfo]) -> Result<(), ChainError> {
        // damocles-manager leaves out pieces without a chain deal (id 0).
        let ids: Vec<u64> = deals.iter().map(|d| d.id).filter(|&id| id != 0).collect();
        if ids.is_empty() {
            return Ok(());
        }
        let _: Value = self
            .rpc
            .call(
                &method("ReleaseDeals"),
                vec![json!(sector.miner.to_string()), json!(ids)],
            )
            .await?;
        debug!(%sector, deals = ?ids, "deals released in droplet");
        Ok(())
    }
}

#[cfg(test)]
mod endpoint_tests {
    #[test]
    fn a_bare_origin_gets_rpc_v1() {
        assert_eq!(
            super::endpoint("http://droplet:41235"),
            "http://droplet:41235/rpc/v1"
        );
        assert_eq!(
            super::endpoint("http://droplet:41235/"),
            "http://droplet:41235/rpc/v1"
        );
        assert_eq!(
            super::endpoint("https://gw/rpc/v0"),
            "https://gw/rpc/v0",
            "a path is kept"
        );
    }
}
