//! A proven sector's life on chain after sealing, as the sector manager's
//! operator API answers it: what an extension (`ExtendSectorExpiration2`)
//! or a termination (`TerminateSectors`) sends, or in a dry run would
//! send, and the sectors it left out with the reason. The manager's side
//! is venus-seal-chain's `LocalSectorManager::extend_sectors` and
//! `terminate_sectors`.

use serde::{Deserialize, Serialize};

use crate::chain::{MessageFee, MessageId, OnChainSector, SectorsDeclaration};
use crate::types::ids::{ActorId, ChainEpoch, SectorNumber};

/// A sector left out of an extension or termination, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LeftOut {
    /// The sector.
    pub number: SectorNumber,
    /// Why it is not in the message.
    pub reason: String,
}

/// What an extension or termination sends (or, in a dry run, would send).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LifecyclePlan {
    /// The miner actor.
    pub miner: ActorId,
    /// The sectors in the message, by deadline and partition.
    pub partitions: Vec<SectorsDeclaration>,
    /// The expiration the sectors get (extensions only).
    pub new_expiration: Option<ChainEpoch>,
    /// The sectors named that are not in the message.
    pub left_out: Vec<LeftOut>,
    /// The message sent; `None` for a dry run.
    pub message: Option<MessageId>,
    /// What the message costs (a dry run: would cost) in gas, as the
    /// node priced it; `None` where the sender cannot say.
    #[serde(default)]
    pub fee: Option<MessageFee>,
    /// Why the node could not price it (its estimate runs the message: an
    /// actor's refusal shows here before anything is sent).
    #[serde(default)]
    pub fee_error: Option<String>,
    /// What it burns from the miner's balance (a termination's fee), as
    /// the node computed it by running the message (dry runs only; `None`
    /// where the sender cannot say).
    #[serde(default)]
    pub burn: Option<crate::TokenAmount>,
}

impl LifecyclePlan {
    /// The sectors the message carries.
    pub fn sectors(&self) -> impl Iterator<Item = SectorNumber> + '_ {
        self.partitions
            .iter()
            .flat_map(|p| p.sectors.iter().copied())
    }
}

/// A miner's sectors that expire soon (`Venus.Admin.SectorsExpiring`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExpiringSectors {
    /// The chain head the list was read at.
    pub head: ChainEpoch,
    /// The sectors, the soonest expiry first.
    pub sectors: Vec<OnChainSector>,
}

/// Epochs in a day (30 s epochs).
pub const EPOCHS_IN_DAY: ChainEpoch = 2880;

/// How far past the current epoch an extension may set a sector's
/// expiration on mainnet (builtin-actors `MAX_SECTOR_EXPIRATION_EXTENSION`,
/// 1278 days since FIP-0052; runtime/src/runtime/policy.rs,
/// filecoin-project/builtin-actors commit
/// 08e1c6cfb08f5e3c2650c187bb7fe9352e9c0516).
pub const MAX_SECTOR_EXPIRATION_EXTENSION: ChainEpoch = 1278 * EPOCHS_IN_DAY;

/// The longest a V1_1 sector may live from its activation on mainnet
/// (builtin-actors `seal_proof_sector_maximum_lifetime`: five years of 365
/// days).
pub const SECTOR_MAXIMUM_LIFETIME: ChainEpoch = 5 * 365 * EPOCHS_IN_DAY;

/// The chain's caps on a sector's expiration ([`ExtensionCaps::latest`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExtensionCaps {
    /// At most this many epochs past the current epoch.
    pub max_extension: ChainEpoch,
    /// At most this many epochs past the sector's activation.
    pub max_lifetime: ChainEpoch,
}

impl Default for ExtensionCaps {
    /// Mainnet's.
    fn default() -> Self {
        Self {
            max_extension: MAX_SECTOR_EXPIRATION_EXTENSION,
            max_lifetime: SECTOR_MAXIMUM_LIFETIME,
        }
    }
}

impl ExtensionCaps {
    /// The latest expiration `sector` may be given at `head`: the earlier
    /// of head + the maximum extension and its activation + the maximum
    /// lifetime.
    ///
    /// ```
    /// use venus_seal_core::lifecycle::{ExtensionCaps, EPOCHS_IN_DAY};
    /// # use venus_seal_core::chain::OnChainSector;
    /// # use venus_seal_core::{CommR, SealProof, SectorNumber};
    /// let caps = ExtensionCaps::default();
    /// let sector = OnChainSector {
    ///     number: SectorNumber(1),
    ///     seal_proof: SealProof::StackedDrg32GiBV1_1,
    ///     sealed_cid: CommR([1; 32]),
    ///     activation: 0,
    ///     expiration: 540 * EPOCHS_IN_DAY,
    ///     deal_weight: 0,
    ///     verified_deal_weight: 0,
    ///     sector_key: None,
    /// };
    /// // Young: capped by the extension; four years in: by its lifetime.
    /// assert_eq!(caps.latest(&sector, 100), 100 + 1278 * EPOCHS_IN_DAY);
    /// let four_years = 4 * 365 * EPOCHS_IN_DAY;
    /// assert_eq!(caps.latest(&sector, four_years), 5 * 365 * EPOCHS_IN_DAY);
    /// ```
    pub fn latest(&self, sector: &OnChainSector, head: ChainEpoch) -> ChainEpoch {
        head.saturating_add(self.max_extension)
            .min(sector.activation.saturating_add(self.max_lifetime))
    }
}

/// What one automatic extension round did for a miner
/// (`LocalSectorManager::auto_extend`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AutoExtendRound {
    /// The head it was planned at.
    pub head: ChainEpoch,
    /// The extensions sent (or, in a dry run, planned), one per new
    /// expiration.
    pub plans: Vec<LifecyclePlan>,
    /// Sectors expiring within the window that the policy leaves alone,
    /// and why (data in them, at their maximum lifetime).
    pub skipped: Vec<LeftOut>,
    /// Whether nothing was sent.
    pub dry_run: bool,
}
