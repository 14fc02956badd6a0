//! Start-up checks of a Lotus / Venus full node, before the manager serves
//! anything: the node answers, knows every miner, and each miner's sector
//! size on chain is the one its configured proof seals. A manager that
//! would only fail at its first pre-commit stops at start instead, saying
//! which key or miner is wrong.

use anyhow::{bail, Context};
use venus_seal_chain::LotusClient;

use super::config::MinerSection;

/// What the node told at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeReport {
    /// The head's height.
    pub head: i64,
    /// The network version at the head.
    pub network_version: u32,
}

/// Checks the node behind `lotus` (whose API is `url`, for messages)
/// against `miners`, and logs each miner's owner, worker and control
/// addresses (`from` must be the worker or a control address).
pub async fn check_node(
    lotus: &LotusClient,
    url: &str,
    from: &str,
    miners: &[MinerSection],
) -> anyhow::Result<NodeReport> {
    let head = lotus
        .chain_head()
        .await
        .with_context(|| format!("chain.url {url}: ChainHead"))?;
    let version = lotus
        .state_network_version(&head.cids)
        .await
        .with_context(|| format!("chain.url {url}: StateNetworkVersion"))?;
    for m in miners {
        let info = lotus
            .state_miner_info(m.id, &head.cids)
            .await
            .with_context(|| format!("miner {}: StateMinerInfo", m.id))?;
        if info.sector_size != m.proof.sector_size().0 {
            bail!(
                "miner {} has {}-byte sectors on chain, but its proof {} seals {}-byte sectors",
                m.id,
                info.sector_size,
                m.proof,
                m.proof.sector_size().0
            );
        }
        tracing::info!(
            miner = %m.id,
            owner = %info.owner,
            worker = %info.worker,
            control = ?info.control_addresses,
            "miner found on chain ({from} must be its worker or a control address)"
        );
    }
    tracing::info!(%url, head = head.height, network_version = version, %from, "full node reached");
    Ok(NodeReport {
        head: head.height,
        network_version: version,
    })
}
