//! [`DropletMarket`]: droplet's deal assignment API (go-jsonrpc, namespace
//! `VENUS_MARKET`, `/rpc/v1`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{json, Value};
use tracing::{debug, warn};
use venus_seal_core::error::ChainError;
use venus_seal_core::manager::{AcquireDealsSpec, DealInfo, VerifiedAllocationKey};
use venus_seal_core::{
    ChainClient, ChainEpoch, PaddedPieceSize, PieceCid, PieceInfo, SectorId, SectorSize,
};

use super::wire::{cid_text, DealInfoIncludePath, DealInfoV2, GetDealSpec};
use super::DealMarket;
use crate::jsonrpc::JsonRpcClient;

/// The go-jsonrpc namespace droplet registers its API under
/// (`venus-shared/api/market/v1/client_gen.go` `MethodNamespace`).
pub const NAMESPACE: &str = "VENUS_MARKET";

/// droplet (venus-market) as a [`DealMarket`], making the calls
/// damocles-manager makes (all `perm:write`):
///
/// * deals come from `VENUS_MARKET.AssignDeals` (`DealInfoV2`: builtin-market
///   and direct (DDO) deals); a droplet older than direct deals answers
///   "no such method", and `AssignUnPackedDeals` (builtin-market deals
///   alone) is used from then on;
/// * a deal's FIL+ allocation goes on its [`DealInfo`] so that the
///   sector's prove-commit claims it: a direct deal's `AllocationID`; a
///   verified builtin-market deal's from the chain
///   ([`ChainClient::deal_allocation`], Lotus'
///   `StateGetAllocationIdForPendingDeal`); the client's actor id from the
///   chain too ([`ChainClient::lookup_id`]) when droplet recorded a robust
///   address, as damocles resolves it;
/// * deals go back with `ReleaseDeals` (builtin-market, by deal id) and
///   `ReleaseDirectDeals` (direct, by allocation id). A deal assigned but
///   unusable (its allocation or client cannot be read) is given back at
///   once with the deals after it (their offsets would move), so droplet
///   does not hold them for a sector that never got them; the sector
///   takes the deals before it.
#[derive(Debug, Clone)]
pub struct DropletMarket {
    rpc: JsonRpcClient,
    chain: Arc<dyn ChainClient>,
    /// droplet answered that it has no `AssignDeals`.
    builtin_only: Arc<AtomicBool>,
}

impl DropletMarket {
    /// A client of droplet at `url` with a token (`write` at least): a bare
    /// origin (`http://droplet:41235`) gets `/rpc/v1` appended, as
    /// venus-shared's `api.Endpoint` does; a URL with a path is used as
    /// written. `chain` reads verified deals' allocations and resolves
    /// clients' addresses.
    pub fn new(
        url: &str,
        token: Option<&str>,
        chain: Arc<dyn ChainClient>,
    ) -> Result<Self, ChainError> {
        Ok(Self {
            rpc: JsonRpcClient::new(endpoint(url), token)?,
            chain,
            builtin_only: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The JSON-RPC URL called.
    pub fn url(&self) -> &str {
        self.rpc.url()
    }

    /// One of droplet's deals as the worker needs it, its allocation
    /// resolved.
    async fn deal_info(&self, d: Assigned) -> Result<DealInfo, ChainError> {
        let method = d.method;
        let bad = |what: String| {
            ChainError::InvalidResponse(format!("{}: {}: {what}", self::method(method), d.name()))
        };
        let text = cid_text(&d.piece_cid)
            .ok_or_else(|| bad(format!("PieceCID {} is not a CID", d.piece_cid)))?;
        let cid: PieceCid = text
            .parse()
            .map_err(|e| bad(format!("PieceCID {text}: {e}")))?;
        if !d.piece_size.is_power_of_two() || d.piece_size < 128 {
            return Err(bad(format!(
                "PieceSize {} is not a padded piece size",
                d.piece_size
            )));
        }
        let piece = PieceInfo {
            size: PaddedPieceSize(d.piece_size),
            cid,
        };
        let allocation = match d.allocation {
            Allocation::None => None,
            Allocation::Known(id) => Some(id),
            Allocation::AskChain => self.chain.deal_allocation(d.deal_id).await?,
            Allocation::Missing => {
                return Err(bad(
                    "a direct deal without an AllocationID cannot be activated".into(),
                ))
            }
        };
        let mut deal = DealInfo::new(d.deal_id, piece);
        if let Some(id) = allocation {
            let client = self.chain.lookup_id(&d.client).await.map_err(|e| {
                ChainError::Rejected(format!(
                    "{}: the client {} of {} (allocation {id}): {e}",
                    self::method(method),
                    d.client,
                    d.name()
                ))
            })?;
            deal = deal.with_allocation(VerifiedAllocationKey { client, id });
        }
        Ok(deal)
    }

    /// The deals droplet assigned, resolved. At the first that cannot be
    /// (its allocation or client unreadable), that deal and every one
    /// after it go back to droplet at once (named in the log), and the
    /// sector takes the ones before it: droplet placed each deal at an
    /// offset after the previous ones, so only a prefix keeps its place,
    /// and one bad deal never stops sealing.
    async fn resolve(
        &self,
        sector: SectorId,
        assigned: Vec<Assigned>,
    ) -> Result<Vec<DealInfo>, ChainError> {
        let mut deals = Vec::with_capacity(assigned.len());
        for (i, d) in assigned.iter().enumerate() {
            match self.deal_info(d.clone()).await {
                Ok(deal) => deals.push(deal),
                Err(e) => {
                    warn!(%sector, deal = %d.name(), error = %e,
                          given_back = assigned.len() - i,
                          "droplet's deal cannot be used: it and the deals after it are given back");
                    let rest = &assigned[i..];
                    let builtin: Vec<u64> = rest
                        .iter()
                        .filter(|d| d.builtin)
                        .map(|d| d.deal_id)
                        .collect();
                    let direct: Vec<u64> = rest
                        .iter()
                        .filter(|d| !d.builtin)
                        .filter_map(|d| match d.allocation {
                            Allocation::Known(id) => Some(id),
                            _ => None,
                        })
                        .collect();
                    if let Err(release) = self.release(sector, &builtin, &direct).await {
                        warn!(%sector, error = %release, "cannot give droplet back the unusable deals");
                    }
                    break;
                }
            }
        }
        Ok(deals)
    }

    /// `ReleaseDeals` of `builtin` deal ids and `ReleaseDirectDeals` of
    /// `direct` allocation ids (each only when not empty).
    async fn release(
        &self,
        sector: SectorId,
        builtin: &[u64],
        direct: &[u64],
    ) -> Result<(), ChainError> {
        let miner = json!(sector.miner.to_string());
        if !builtin.is_empty() {
            let _: Value = self
                .rpc
                .call(&method("ReleaseDeals"), vec![miner.clone(), json!(builtin)])
                .await?;
        }
        if !direct.is_empty() {
            let _: Value = self
                .rpc
                .call(&method("ReleaseDirectDeals"), vec![miner, json!(direct)])
                .await?;
        }
        debug!(%sector, ?builtin, ?direct, "deals released in droplet");
        Ok(())
    }
}

/// Where a deal's FIL+ allocation comes from.
#[derive(Clone, Copy, Debug)]
enum Allocation {
    /// An unverified deal.
    None,
    /// droplet named it.
    Known(u64),
    /// A builtin-market deal droplet did not say about: the chain knows.
    AskChain,
    /// A direct deal without one (droplet's data is wrong).
    Missing,
}

/// A deal as droplet assigned it, from either answer.
#[derive(Clone, Debug)]
struct Assigned {
    method: &'static str,
    deal_id: u64,
    builtin: bool,
    piece_cid: Value,
    piece_size: u64,
    client: String,
    allocation: Allocation,
}

impl Assigned {
    /// How errors name it.
    fn name(&self) -> String {
        if self.builtin {
            format!("deal {}", self.deal_id)
        } else {
            match self.allocation {
                Allocation::Known(id) => format!("direct deal (allocation {id})"),
                _ => "direct deal".to_string(),
            }
        }
    }
}

impl From<DealInfoV2> for Assigned {
    fn from(d: DealInfoV2) -> Self {
        let builtin = d.is_builtin_market();
        let allocation = match (builtin, d.allocation_id) {
            (true, 0) => Allocation::AskChain,
            (false, 0) => Allocation::Missing,
            (_, id) => Allocation::Known(id),
        };
        Assigned {
            method: "AssignDeals",
            deal_id: if builtin { d.deal_id } else { 0 },
            builtin,
            piece_cid: d.piece_cid,
            piece_size: d.piece_size,
            client: d.client,
            allocation,
        }
    }
}

impl From<DealInfoIncludePath> for Assigned {
    fn from(d: DealInfoIncludePath) -> Self {
        Assigned {
            method: "AssignUnPackedDeals",
            deal_id: d.deal_id,
            builtin: true,
            piece_cid: d.piece_cid,
            piece_size: d.piece_size,
            client: d.client,
            allocation: if d.verified_deal {
                Allocation::AskChain
            } else {
                Allocation::None
            },
        }
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
        let params = vec![
            json!({"Miner": sector.miner.0, "Number": sector.number.0}),
            json!(size.0),
            serde_json::to_value(&spec).expect("plain fields serialize"),
        ];
        let mut assigned: Option<Vec<Assigned>> = None;
        if !self.builtin_only.load(Ordering::Relaxed) {
            let v2: Option<Option<Vec<DealInfoV2>>> = self
                .rpc
                .call_if_served(&method("AssignDeals"), params.clone())
                .await?;
            match v2 {
                Some(deals) => {
                    assigned = Some(
                        deals
                            .unwrap_or_default()
                            .into_iter()
                            .map(Into::into)
                            .collect(),
                    )
                }
                None => {
                    warn!(
                        url = self.url(),
                        "droplet has no AssignDeals (a version before direct deals): \
                         builtin-market deals only, from AssignUnPackedDeals"
                    );
                    self.builtin_only.store(true, Ordering::Relaxed);
                }
            }
        }
        let assigned = match assigned {
            Some(a) => a,
            None => {
                let deals: Option<Vec<DealInfoIncludePath>> = self
                    .rpc
                    .call(&method("AssignUnPackedDeals"), params)
                    .await?;
                deals
                    .unwrap_or_default()
                    .into_iter()
                    .map(Into::into)
                    .collect()
            }
        };
        let deals = self.resolve(sector, assigned).await?;
        debug!(
            %sector,
            deals = ?deals.iter().map(|d| (d.id, d.allocation.map(|a| a.id))).collect::<Vec<_>>(),
            "droplet assigned deals (deal id, allocation)"
        );
        Ok(deals)
    }

    async fn release_deals(&self, sector: SectorId, deals: &[DealInfo]) -> Result<(), ChainError> {
        // As damocles-manager's dealmgr `Release`: builtin-market deals by
        // id, direct deals by allocation, plain pieces not at all.
        let builtin: Vec<u64> = deals.iter().map(|d| d.id).filter(|&id| id != 0).collect();
        let direct: Vec<u64> = deals
            .iter()
            .filter(|d| d.id == 0)
            .filter_map(|d| d.allocation.map(|a| a.id))
            .collect();
        self.release(sector, &builtin, &direct).await
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
