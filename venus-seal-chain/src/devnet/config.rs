//! Devnet configuration.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use venus_seal_core::{ActorId, ChainEpoch, NetworkParams, SealProof};

/// Network constants for a fast devnet: a 5-epoch ticket lookback, a
/// 10-epoch challenge delay (Lotus' devnet builds use 10 too) and mainnet's
/// maximum ticket age (one day + 900 epochs).
pub const DEVNET_NETWORK: NetworkParams = NetworkParams {
    seal_randomness_lookback: 5,
    pre_commit_challenge_delay: 10,
    max_pre_commit_randomness_lookback: 2880 + 900,
    block_delay_secs: 1,
};

/// How the devnet's miners prove their sectors: a small proving period
/// cut into deadlines, as the actors' 2880 epochs / 48 deadlines in
/// miniature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvingPolicy {
    /// Epochs per proving period (`WPoStProvingPeriod`, 2880 on mainnet).
    pub period: ChainEpoch,
    /// Deadlines per period (48 on mainnet); must divide `period`.
    pub deadlines: u64,
    /// A deadline's challenge is drawn this many epochs before it opens
    /// (`WPoStChallengeLookback`, 20 on mainnet).
    pub challenge_lookback: ChainEpoch,
    /// Faults for a deadline may be declared until this many epochs before
    /// it opens (`FaultDeclarationCutoff`, 70 on mainnet).
    pub fault_declaration_cutoff: ChainEpoch,
    /// Sectors per partition (2349 for 2KiB on mainnet; the 2KiB
    /// WindowPoSt circuit proves 2 per SNARK partition either way).
    pub partition_sectors: u64,
}

/// The devnet's default proving: 40-epoch periods of 4 deadlines of 10
/// epochs, challenges 2 epochs before a deadline opens, 4 sectors per
/// partition.
pub const DEVNET_PROVING: ProvingPolicy = ProvingPolicy {
    period: 40,
    deadlines: 4,
    challenge_lookback: 2,
    fault_declaration_cutoff: 3,
    partition_sectors: 4,
};

/// A miner actor that exists on the devnet from genesis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevnetMiner {
    /// The actor id.
    pub id: ActorId,
    /// The seal proofs the miner may pre-commit sectors with (empty: any).
    pub allowed_proofs: Vec<SealProof>,
}

/// How a [`DevnetChain`](super::DevnetChain) behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevnetConfig {
    /// Time between epochs when the clock runs
    /// ([`DevnetChain::start_clock`](super::DevnetChain::start_clock)).
    /// `None`: a manual clock, advanced only by
    /// [`DevnetChain::advance`](super::DevnetChain::advance).
    pub block_time: Option<Duration>,
    /// The constants [`ChainClient::network`](venus_seal_core::ChainClient::network)
    /// reports and the miner actors enforce. Keep `block_delay_secs`
    /// consistent with `block_time` (0 for sub-second block times).
    pub network: NetworkParams,
    /// The head epoch at start. Keep it above the ticket lookback so that
    /// `head - seal_randomness_lookback` is a valid epoch.
    pub genesis_epoch: ChainEpoch,
    /// The miner actors.
    pub miners: Vec<DevnetMiner>,
    /// Seeds all chain randomness: two devnets with the same seed draw the
    /// same randomness.
    pub seed: [u8; 32],
    /// Where the chain saves its state after every change, to survive a
    /// crash (`None`: memory only). Open such a devnet with
    /// [`DevnetChain::open`](super::DevnetChain::open).
    pub state_file: Option<PathBuf>,
    /// Proving periods and deadlines (WindowPoSt).
    pub proving: ProvingPolicy,
    /// How late an extension may set a sector's expiration (default:
    /// mainnet's).
    pub extension_caps: venus_seal_core::lifecycle::ExtensionCaps,
}

impl DevnetConfig {
    /// A manual-clock devnet at epoch 1000 with [`DEVNET_NETWORK`], a zero
    /// seed, and these miners.
    pub fn with_miners(miners: Vec<DevnetMiner>) -> Self {
        Self {
            miners,
            ..Self::default()
        }
    }

    /// A devnet whose clock runs every `block_time`, with seeds
    /// `pre_commit_challenge_delay` epochs after a pre-commit, saving its
    /// state to `state_file` (open it with
    /// [`DevnetChain::open`](super::DevnetChain::open)); the reference
    /// deployments' devnet. `network.block_delay_secs` is rounded down to
    /// whole seconds (0 below one second).
    ///
    /// ```
    /// use std::time::Duration;
    /// use venus_seal_chain::{DevnetConfig, DevnetMiner};
    /// let c = DevnetConfig {
    ///     miners: vec![],
    ///     ..DevnetConfig::clocked(Duration::from_millis(500), 10, "devnet.json".into())
    /// };
    /// assert_eq!(c.network.block_delay_secs, 0);
    /// assert_eq!(c.network.pre_commit_challenge_delay, 10);
    /// ```
    pub fn clocked(
        block_time: Duration,
        pre_commit_challenge_delay: ChainEpoch,
        state_file: PathBuf,
    ) -> Self {
        Self {
            block_time: Some(block_time),
            network: NetworkParams {
                block_delay_secs: block_time.as_secs(),
                pre_commit_challenge_delay,
                ..DEVNET_NETWORK
            },
            state_file: Some(state_file),
            ..Self::default()
        }
    }
}

impl Default for DevnetConfig {
    fn default() -> Self {
        Self {
            block_time: None,
            network: DEVNET_NETWORK,
            genesis_epoch: 1000,
            miners: Vec::new(),
            seed: [0; 32],
            state_file: None,
            proving: DEVNET_PROVING,
            extension_caps: Default::default(),
        }
    }
}
