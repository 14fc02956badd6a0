//! Opening `[chain]`: the embedded devnet, or a full node (through its
//! mpool or venus-messager), as the reader and sender the manager uses.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use venus_seal_chain::messager::{MessagerClient, SendSpec};
use venus_seal_chain::{
    DevnetChain, DevnetConfig, DevnetMiner, LotusClient, ProvingPolicy, DEVNET_PROVING,
};
use venus_seal_core::{ChainClient, MessageSender, ProofVerifier};

use super::config::{ChainSection, SectorManagerConfig};
use super::preflight::check_node;
use crate::runtime::read_token;

/// The chain a manager reads and sends to, as [`open_chain`] opened it.
#[derive(Debug, Clone)]
pub struct OpenChain {
    /// Chain state: heads, randomness, on-chain sector state.
    pub reader: Arc<dyn ChainClient>,
    /// Where messages go.
    pub sender: Arc<dyn MessageSender>,
    /// The embedded devnet, whose clock runs until
    /// [`DevnetChain::stop_clock`].
    pub devnet: Option<Arc<DevnetChain>>,
    /// One epoch: how often the WindowPoSt scheduler looks by default.
    pub epoch: Duration,
}

/// Opens `config.chain`: the embedded devnet (durable under its
/// `state_dir`, proofs checked by `verifier`, its clock started), or a full
/// node checked before anything is served ([`super::preflight`]), sending
/// through its mpool or `[chain.messager]`. Token files are read here; a
/// missing one is an error naming its key.
pub async fn open_chain(
    config: &SectorManagerConfig,
    verifier: Arc<dyn ProofVerifier>,
) -> anyhow::Result<OpenChain> {
    match &config.chain {
        ChainSection::EmbeddedDevnet {
            block_time,
            pre_commit_challenge_delay,
            proving_period,
            proving_deadlines,
            state_dir,
        } => {
            let miners = config.miners.iter().map(|m| DevnetMiner {
                id: m.id,
                allowed_proofs: vec![m.proof],
            });
            let chain = DevnetChain::open(
                DevnetConfig {
                    miners: miners.collect(),
                    proving: ProvingPolicy {
                        period: *proving_period,
                        deadlines: *proving_deadlines,
                        ..DEVNET_PROVING
                    },
                    ..DevnetConfig::clocked(
                        *block_time,
                        *pre_commit_challenge_delay,
                        state_dir.join("devnet.json"),
                    )
                },
                verifier,
            )
            .context("opening the devnet")?;
            chain.start_clock()?;
            Ok(OpenChain {
                reader: chain.clone(),
                sender: chain.clone(),
                devnet: Some(chain),
                epoch: *block_time,
            })
        }
        ChainSection::Lotus {
            url,
            token_file,
            from,
            max_fee,
            network,
            messager,
            ..
        } => {
            let token = read_token("chain.token_file", token_file)?;
            let mut lotus = LotusClient::new(url, Some(token), from.clone())
                .context("chain.url")?
                .with_network(network.params());
            if let Some(fee) = max_fee {
                lotus = lotus.with_max_fee(fee.to_string());
            }
            check_node(&lotus, url, from, &config.miners).await?;
            let lotus = Arc::new(lotus);
            let sender: Arc<dyn MessageSender> = match messager {
                None => lotus.clone(),
                Some(m) => {
                    let token = read_token("chain.messager.token_file", &m.token_file)?;
                    let spec = SendSpec {
                        max_fee: max_fee.unwrap_or_default().to_string(),
                        ..SendSpec::default()
                    };
                    let client = MessagerClient::new(&m.url, Some(token), from.clone())
                        .context("chain.messager.url")?
                        .with_send_spec(spec);
                    tracing::info!(url = %client.url(), "messages go through venus-messager");
                    Arc::new(client)
                }
            };
            Ok(OpenChain {
                reader: lotus,
                sender,
                devnet: None,
                epoch: Duration::from_secs(network.block_delay_secs),
            })
        }
    }
}
