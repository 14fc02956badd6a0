//! Manager configuration.

use std::time::Duration;

use venus_seal_core::chain::FeeBump;
use venus_seal_core::{ActorId, ChainEpoch, SealProof, TokenAmount};

use super::store::NumberRange;

/// When queued submissions of one miner go out in one message.
///
/// A batch is sent as soon as `threshold` submissions wait, or when the
/// oldest has waited `max_wait`, whichever comes first; at most
/// `max_batch` go in one message. `threshold: 1` sends every submission
/// at once (no batching).
///
/// ```
/// use std::time::Duration;
/// use venus_seal_chain::manager::BatchPolicy;
/// let p = BatchPolicy::batched(8, Duration::from_secs(3600));
/// assert_eq!((p.threshold, p.max_batch), (8, 256));
/// assert_eq!(BatchPolicy::default().threshold, 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchPolicy {
    /// Send once this many wait.
    pub threshold: usize,
    /// Send once the oldest waited this long.
    pub max_wait: Duration,
    /// At most this many per message.
    pub max_batch: usize,
}

impl BatchPolicy {
    /// The actors' limit on sectors per pre-commit batch.
    pub const MAX_BATCH: usize = 256;

    /// Every submission at once.
    pub const IMMEDIATE: BatchPolicy = BatchPolicy {
        threshold: 1,
        max_wait: Duration::ZERO,
        max_batch: Self::MAX_BATCH,
    };

    /// Batches of `threshold`, or fewer after `max_wait`.
    pub fn batched(threshold: usize, max_wait: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            max_wait,
            max_batch: Self::MAX_BATCH.max(threshold),
        }
    }
}

impl Default for BatchPolicy {
    fn default() -> Self {
        Self::IMMEDIATE
    }
}

/// Who pays a miner's pre-commit deposits and initial pledges.
///
/// Lotus' `CollateralFromMinerBalance`: with [`Collateral::Message`] (the
/// default, as in Lotus) each message carries what
/// [`ChainClient::collateral`](venus_seal_core::ChainClient::collateral)
/// computes, paid by the sending address; with
/// [`Collateral::MinerBalance`] messages carry nothing and the actor pays
/// from its available balance, which must cover it or the message fails
/// on chain (and is resent, then the sector aborted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Collateral {
    /// The message carries the deposit / pledge.
    #[default]
    Message,
    /// The miner actor's available balance pays.
    MinerBalance,
}

/// A miner actor the manager allocates sectors for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ManagedMiner {
    /// The actor.
    pub id: ActorId,
    /// The seal proof of its new sectors.
    pub proof: SealProof,
    /// The sector numbers it may use.
    pub numbers: NumberRange,
    /// How its pre-commits are batched (`PreCommitSectorBatch2`).
    pub pre_commit: BatchPolicy,
    /// How its proofs are batched (`ProveCommitSectors3`).
    pub prove_commit: BatchPolicy,
    /// A proof batch of at least this many sectors is sent as one
    /// aggregate proof (SnarkPackV2), verified before sending; `None`:
    /// never aggregate. The actors accept aggregates from 4 sectors.
    pub aggregate_from: Option<usize>,
    /// Who pays deposits and pledges.
    pub collateral: Collateral,
    /// How its snap-up proofs are batched (`ProveReplicaUpdates3`).
    pub snap_commit: BatchPolicy,
    /// Its automatic snap-up candidates (`None`: only sectors an operator
    /// asks for are snapped up).
    pub snap_up: Option<super::SnapUpPolicy>,
}

impl ManagedMiner {
    /// The smallest aggregate the actors accept.
    pub const MIN_AGGREGATE: usize = 4;

    /// `id` sealing `proof`, every number, no batching, aggregating from
    /// 4 proofs when a batch ever holds that many.
    pub fn new(id: ActorId, proof: SealProof) -> Self {
        Self {
            id,
            proof,
            numbers: NumberRange::ALL,
            pre_commit: BatchPolicy::IMMEDIATE,
            prove_commit: BatchPolicy::IMMEDIATE,
            aggregate_from: Some(Self::MIN_AGGREGATE),
            collateral: Collateral::Message,
            snap_commit: BatchPolicy::IMMEDIATE,
            snap_up: None,
        }
    }

    /// The same miner, batching snap-up proofs by `policy`.
    pub fn with_snap_commit(mut self, policy: BatchPolicy) -> Self {
        self.snap_commit = policy;
        self
    }

    /// The same miner, picking its own CC sectors for snap-ups by
    /// `policy` when a worker asks for a job and none waits.
    pub fn with_snap_up(mut self, policy: super::SnapUpPolicy) -> Self {
        self.snap_up = Some(policy);
        self
    }

    /// The same miner, allocating from `numbers`.
    pub fn with_numbers(mut self, numbers: NumberRange) -> Self {
        self.numbers = numbers;
        self
    }

    /// The same miner, with these batching policies.
    pub fn with_batching(mut self, pre_commit: BatchPolicy, prove_commit: BatchPolicy) -> Self {
        self.pre_commit = pre_commit;
        self.prove_commit = prove_commit;
        self
    }

    /// The same miner, aggregating proof batches from `from` sectors
    /// (`None`: never; values below 4 are raised to 4).
    pub fn with_aggregation(mut self, from: Option<usize>) -> Self {
        self.aggregate_from = from.map(|n| n.max(Self::MIN_AGGREGATE));
        self
    }

    /// The same miner, paying collateral as `collateral` says.
    pub fn with_collateral(mut self, collateral: Collateral) -> Self {
        self.collateral = collateral;
        self
    }
}

/// How the manager sends again what did not go out or did not land.
///
/// A push that fails (node unreachable, wallet empty, fee cap too low) is
/// tried again after `first_retry`, doubling after each failure in a row
/// up to `max_retry`, until it goes out or the ticket or pre-commit
/// expires (then the worker is told to abort, with the reason).
///
/// A message still pending `stuck_after_epochs` epochs after it was sent
/// (or last replaced) is replaced by the same message at the same nonce
/// with its gas premium raised by `premium_bump_percent` (at least the
/// 25 % Lotus and venus-messager require to replace a message), its fee
/// within `max_fee` ([`FeeBump`](venus_seal_core::chain::FeeBump)).
///
/// ```
/// use std::time::Duration;
/// use venus_seal_chain::manager::ResendPolicy;
/// let p = ResendPolicy::default();
/// assert_eq!(p.retry_delay(0), Duration::from_secs(10));
/// assert_eq!(p.retry_delay(1), Duration::from_secs(20));
/// assert_eq!(p.retry_delay(30), Duration::from_secs(600));
/// assert_eq!(p.stuck_after_epochs, Some(20));
/// assert_eq!(p.fee_bump().premium_percent, 25);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResendPolicy {
    /// The wait after the first failed push.
    pub first_retry: Duration,
    /// The longest wait between pushes.
    pub max_retry: Duration,
    /// A message pending this many epochs after it was sent is replaced
    /// with a higher premium (`None`: never).
    pub stuck_after_epochs: Option<ChainEpoch>,
    /// The replacement's premium is the stuck one's raised by this many
    /// percent (raised to [`MIN_PREMIUM_BUMP_PERCENT`](Self::MIN_PREMIUM_BUMP_PERCENT)).
    pub premium_bump_percent: u32,
    /// The most a replacement may cost in gas (gas limit × fee cap);
    /// zero: the node's or messager's own default.
    pub max_fee: TokenAmount,
}

impl ResendPolicy {
    /// The smallest raise of the premium the peers take as a replacement
    /// (Lotus `ReplaceByFeeRatioDefault` 1.25; venus-messager the same).
    pub const MIN_PREMIUM_BUMP_PERCENT: u32 = 25;

    /// The wait after `failures` failed pushes in a row (0: the first).
    pub fn retry_delay(&self, failures: u32) -> Duration {
        self.first_retry
            .saturating_mul(1 << failures.min(16))
            .min(self.max_retry.max(self.first_retry))
    }

    /// How a stuck message is replaced.
    pub fn fee_bump(&self) -> FeeBump {
        FeeBump {
            premium_percent: self
                .premium_bump_percent
                .max(Self::MIN_PREMIUM_BUMP_PERCENT),
            max_fee: self.max_fee,
        }
    }
}

impl Default for ResendPolicy {
    /// 10 s, doubling up to 10 minutes; a message pending 20 epochs is
    /// replaced with a 25 % higher premium within the peer's default fee.
    fn default() -> Self {
        Self {
            first_retry: Duration::from_secs(10),
            max_retry: Duration::from_secs(600),
            stuck_after_epochs: Some(20),
            premium_bump_percent: Self::MIN_PREMIUM_BUMP_PERCENT,
            max_fee: TokenAmount::ZERO,
        }
    }
}

/// What a [`LocalSectorManager`](super::LocalSectorManager) serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagerConfig {
    /// The miners, in allocation preference order.
    pub miners: Vec<ManagedMiner>,
    /// Pre-commits request expiration at head + this many epochs.
    pub expiration_epochs: ChainEpoch,
    /// How failed pushes and stuck messages are sent again.
    pub resend: ResendPolicy,
    /// When a snap-up is final, and what then happens to the CC replica.
    pub snap_up: SnapUpSettings,
}

/// When a landed snap-up is final and what then happens to its sector's
/// CC replica (damocles' `SnapUp.CleanupCCData`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapUpSettings {
    /// Epochs after its message landed that an update is final (the
    /// chain's finality: 900 epochs on mainnet).
    pub final_after: ChainEpoch,
    /// Remove the CC replica and cache once the update is final (they
    /// are the sector key, which nothing here reads again: kept, they
    /// take a sector's space for an operator's own use).
    pub remove_cc_data: bool,
}

impl Default for SnapUpSettings {
    /// Final after 900 epochs; the CC replica removed.
    fn default() -> Self {
        Self {
            final_after: 900,
            remove_cc_data: true,
        }
    }
}

impl ManagerConfig {
    /// 540 days of 30 s epochs: comfortably above the actors' 180-day
    /// minimum sector lifetime.
    pub const DEFAULT_EXPIRATION_EPOCHS: ChainEpoch = 540 * 2880;

    /// Serves `miners` with the default expiration.
    pub fn new(miners: Vec<ManagedMiner>) -> Self {
        Self {
            miners,
            expiration_epochs: Self::DEFAULT_EXPIRATION_EPOCHS,
            resend: ResendPolicy::default(),
            snap_up: SnapUpSettings::default(),
        }
    }

    /// The miner `id`, if served.
    pub fn miner(&self, id: ActorId) -> Option<&ManagedMiner> {
        self.miners.iter().find(|m| m.id == id)
    }
}
