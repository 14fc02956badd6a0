//! The chain, as a sector manager sees it: reads, randomness, and messages.
//!
//! Split into two role traits as ref-fvm splits its externs: a
//! [`ChainClient`] reads state and randomness; a [`MessageSender`] sends
//! miner-actor messages (through a full node's mpool or venus-messager) and
//! reports where they are. A devnet implements both.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::ChainError;
use crate::manager::DealInfo;
use crate::proving::PoStProof;
use crate::stage::Proof;
use crate::types::commitment::{CommD, CommR};
use crate::types::ids::{ActorId, ChainEpoch, SectorNumber};
use crate::types::proof::SealProof;
use crate::types::randomness::{DomainSeparationTag, Randomness};
use crate::types::token::TokenAmount;

/// Which randomness chain to draw from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RandomnessSource {
    /// Block tickets (`StateGetRandomnessFromTickets`).
    Tickets,
    /// The drand beacon (`StateGetRandomnessFromBeacon`).
    Beacon,
}

/// Network constants a sector manager needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkParams {
    /// Epochs between the ticket epoch and head when drawing a ticket
    /// (`SealRandomnessLookback`, 900 on mainnet).
    pub seal_randomness_lookback: ChainEpoch,
    /// Epochs between a pre-commit landing and its seed
    /// (`PreCommitChallengeDelay`, 150 on mainnet).
    pub pre_commit_challenge_delay: ChainEpoch,
    /// The oldest ticket a pre-commit may use, in epochs before head
    /// (`MaxPreCommitRandomnessLookback`).
    pub max_pre_commit_randomness_lookback: ChainEpoch,
    /// Seconds per epoch.
    pub block_delay_secs: u64,
}

/// A pre-commit as the chain holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnChainPreCommit {
    /// The pre-commit parameters.
    pub info: PreCommitParams,
    /// The epoch it landed.
    pub pre_commit_epoch: ChainEpoch,
}

/// A proven sector as the chain holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnChainSector {
    /// The sector number.
    pub number: SectorNumber,
    /// Its proof type.
    pub seal_proof: SealProof,
    /// Its replica commitment.
    pub sealed_cid: CommR,
    /// The epoch it was activated.
    pub activation: ChainEpoch,
    /// The epoch it expires on time (`SectorOnChainInfo.Expiration`; a
    /// faulty sector may be removed earlier). 0 in devnet state files
    /// written before this field.
    #[serde(default)]
    pub expiration: ChainEpoch,
    /// The space × time of its data without a verified allocation
    /// (`SectorOnChainInfo.DealWeight`, byte-epochs).
    #[serde(default)]
    pub deal_weight: u128,
    /// The space × time of its verified (FIL+) data
    /// (`SectorOnChainInfo.VerifiedDealWeight`).
    #[serde(default)]
    pub verified_deal_weight: u128,
    /// The CC replica's commitment once the sector was snapped up
    /// (`SectorOnChainInfo.SectorKeyCID`; `sealed_cid` is then the
    /// updated replica's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector_key: Option<CommR>,
}

impl OnChainSector {
    /// A committed-capacity sector: no data weight of either kind.
    pub fn is_cc(&self) -> bool {
        self.deal_weight == 0 && self.verified_deal_weight == 0
    }
}

/// Where a proven sector is assigned (`StateSectorPartition`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectorLocation {
    /// Its deadline index.
    pub deadline: u64,
    /// Its partition index within the deadline.
    pub partition: u64,
}

/// Sectors of one partition extended to a new expiration (one
/// `ExpirationExtension2` of `ExtendSectorExpiration2`).
///
/// Only sectors without verified (FIL+) claims: the message's
/// `sectors_with_claims` is sent empty, and the actors refuse to extend a
/// sector with claims through `sectors`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpirationExtension {
    /// The deadline index.
    pub deadline: u64,
    /// The partition index.
    pub partition: u64,
    /// The sectors without FIL+ claims (ascending).
    pub sectors: Vec<SectorNumber>,
    /// The sectors with FIL+ claims, each naming its claims (the actors
    /// want every claim of the sector accounted for).
    #[serde(default)]
    pub sectors_with_claims: Vec<SectorClaim>,
    /// The epoch they expire at afterwards.
    pub new_expiration: ChainEpoch,
}

/// A sector with verified (FIL+) data in an extension, and what happens to
/// its claims (builtin-actors `SectorClaim`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectorClaim {
    /// The sector.
    pub sector_number: SectorNumber,
    /// Claims kept: each must allow the new expiration
    /// ([`VerifiedClaim::latest_expiration`]).
    pub maintain_claims: Vec<u64>,
    /// Claims given up (only within the last 30 days of the sector's life;
    /// the verified power goes with them).
    pub drop_claims: Vec<u64>,
}

/// A FIL+ claim: verified data a provider holds in a sector (verifreg
/// `Claim`, as Lotus' `StateGetClaims` answers it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedClaim {
    /// The claim's id.
    pub id: u64,
    /// The client (actor id) whose datacap it used.
    pub client: u64,
    /// The piece's CID.
    pub data: String,
    /// The piece's padded size.
    pub size: u64,
    /// The least the data must be kept, in epochs from `term_start`.
    pub term_min: ChainEpoch,
    /// The most the data may be kept (and the sector's expiration extended
    /// while maintaining the claim), in epochs from `term_start`.
    pub term_max: ChainEpoch,
    /// The epoch the claim began.
    pub term_start: ChainEpoch,
    /// The sector holding the data.
    pub sector: SectorNumber,
}

impl VerifiedClaim {
    /// The latest expiration a sector keeping this claim may be given.
    pub fn latest_expiration(&self) -> ChainEpoch {
        self.term_start.saturating_add(self.term_max)
    }
}

/// The terms of a FIL+ allocation not yet claimed (verifreg
/// `Allocation`, as Lotus' `StateGetAllocation` answers): the sector
/// claiming it must live between `term_min` and `term_max` epochs from its
/// activation, which must come by `expiration`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationTerms {
    /// The least life left to the sector at activation.
    pub term_min: ChainEpoch,
    /// The most life left to the sector at activation.
    pub term_max: ChainEpoch,
    /// The last epoch it can be claimed.
    pub expiration: ChainEpoch,
}

/// The expiration a sector claiming allocations with `terms` must be
/// pre-committed with: `preferred` when every claim allows it, else the
/// nearest that does, for any activation between `earliest` and `latest`
/// (the prove-commit's window: life at activation = expiration −
/// activation), and never past `cap` (the miner actor's latest expiration
/// for a new sector). `Err` names why none does.
pub fn fit_expiration(
    preferred: ChainEpoch,
    earliest: ChainEpoch,
    latest: ChainEpoch,
    cap: ChainEpoch,
    terms: &[AllocationTerms],
) -> Result<ChainEpoch, String> {
    let Some(longest_min) = terms.iter().map(|t| t.term_min).max() else {
        return Ok(preferred);
    };
    let shortest_max = terms
        .iter()
        .map(|t| t.term_max)
        .min()
        .unwrap_or(longest_min);
    // Activated as late as `latest`, it must still live term_min; as
    // early as `earliest`, no more than term_max.
    let lowest = latest.saturating_add(longest_min);
    let highest = earliest.saturating_add(shortest_max).min(cap);
    if lowest > highest {
        return Err(format!(
            "no expiration fits the allocations' terms (least life {longest_min}, most \
             {shortest_max} epochs) for an activation between epochs {earliest} and {latest} \
             and an expiration by epoch {cap}"
        ));
    }
    Ok(preferred.clamp(lowest, highest))
}

/// One sector in a `PreCommitSectorBatch2` message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreCommitParams {
    /// The sector.
    pub sector_number: SectorNumber,
    /// Its proof type.
    pub seal_proof: SealProof,
    /// CommR.
    pub sealed_cid: CommR,
    /// CommD.
    pub unsealed_cid: CommD,
    /// The epoch of the ticket the replica was sealed with.
    pub seal_rand_epoch: ChainEpoch,
    /// Deals the sector holds.
    pub deal_ids: Vec<u64>,
    /// Requested expiration epoch.
    pub expiration: ChainEpoch,
}

/// One sector in a `ProveCommitSectors3` message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProveCommitParams {
    /// The sector.
    pub sector_number: SectorNumber,
    /// Its proof (absent when the message carries an aggregate).
    pub proof: Proof,
    /// The deal pieces the sector holds, in sector order, activated with
    /// it (`ProveCommitSectors3`'s piece manifests; a chain deal id
    /// notifies the market actor). Empty for a committed-capacity sector.
    #[serde(default)]
    pub pieces: Vec<DealInfo>,
}

/// A call on a miner actor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum MinerCall {
    /// Method 28.
    PreCommitSectorBatch2(Vec<PreCommitParams>),
    /// Method 34, one proof per sector.
    ProveCommitSectors3(Vec<ProveCommitParams>),
    /// Method 34 with one aggregate proof (SnarkPackV2) for all sectors.
    ProveCommitAggregate(AggregateProveCommit),
    /// Method 5: a WindowPoSt for partitions of the current deadline.
    SubmitWindowedPoSt(WindowPoStSubmission),
    /// Method 10: sectors declared faulty.
    DeclareFaults(Vec<SectorsDeclaration>),
    /// Method 11: faulty sectors declared recovered (proven again at their
    /// next deadline).
    DeclareFaultsRecovered(Vec<SectorsDeclaration>),
    /// Method 35: snap-up proofs, one per sector.
    ProveReplicaUpdates3(Vec<ReplicaUpdateParams>),
    /// Method 32: proven sectors given a later expiration.
    ExtendSectorExpiration2(Vec<ExpirationExtension>),
    /// Method 9: proven sectors terminated early (the miner pays the
    /// termination fee; the sectors' power and pledge go).
    TerminateSectors(Vec<SectorsDeclaration>),
    /// Method 36: committed-capacity sectors sealed with a
    /// non-interactive PoRep type, activated by one aggregate proof
    /// without a pre-commit (FIP-0092).
    ProveCommitSectorsNI(NiProveCommit),
}

/// The interactive randomness ("seed") of a non-interactive PoRep: the
/// actors verify with 32 bytes of `0x01` (NI challenges are derived from
/// the replica id and CommR; filecoin-proofs refuses an all-zero seed).
pub const NI_SEED: crate::types::randomness::Randomness =
    crate::types::randomness::Randomness([1; 32]);

/// A `ProveCommitSectorsNI` message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NiProveCommit {
    /// The sectors, in ascending order.
    pub sectors: Vec<NiSector>,
    /// Their seal proof type (one of the `_Feat_NonInteractivePoRep`
    /// types, the same for all).
    pub seal_proof: SealProof,
    /// The SnarkPack v2 aggregate of their partition proofs (for one
    /// sector: its C2 output as is).
    pub aggregate_proof: Vec<u8>,
    /// The deadline the sectors are assigned to (not the open one nor the
    /// next).
    pub proving_deadline: u64,
}

/// One sector of a [`NiProveCommit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NiSector {
    /// The sector number (also the one its replica id was sealed with).
    pub number: SectorNumber,
    /// Its CommR.
    pub sealed_cid: CommR,
    /// The epoch of its ticket.
    pub seal_rand_epoch: ChainEpoch,
    /// Its expiration.
    pub expiration: ChainEpoch,
}

/// The `SubmitWindowedPoSt` parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowPoStSubmission {
    /// The deadline index (the deadline open now).
    pub deadline: u64,
    /// The partitions proven.
    pub partitions: Vec<PoStPartition>,
    /// One proof per PoSt proof type (empty when every sector is skipped).
    pub proofs: Vec<PoStProof>,
    /// The epoch the proof commits to (before the current epoch).
    pub chain_commit_epoch: ChainEpoch,
    /// Ticket randomness at `chain_commit_epoch` (tag `PoStChainCommit`,
    /// no entropy).
    pub chain_commit_rand: Randomness,
}

/// One partition of a [`WindowPoStSubmission`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoStPartition {
    /// The partition index within the deadline.
    pub index: u64,
    /// Sectors left out of the proof (they become faulty).
    pub skipped: Vec<SectorNumber>,
}

/// Sectors of one partition, declared faulty or recovered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectorsDeclaration {
    /// The deadline index.
    pub deadline: u64,
    /// The partition index.
    pub partition: u64,
    /// The sectors.
    pub sectors: Vec<SectorNumber>,
}

/// One sector of a `ProveReplicaUpdates3` message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaUpdateParams {
    /// The sector (proven, CC).
    pub sector_number: SectorNumber,
    /// Its seal proof (fixes the update proof type).
    pub seal_proof: SealProof,
    /// Its deadline.
    pub deadline: u64,
    /// Its partition.
    pub partition: u64,
    /// The updated CommR.
    pub new_sealed_cid: CommR,
    /// The new data's CommD (implied by `pieces` on mainnet; checked
    /// against them by the verifier here).
    pub new_unsealed_cid: CommD,
    /// The pieces of the new data, in order, with their deals (a chain
    /// deal id notifies the market actor; an allocation is claimed).
    pub pieces: Vec<DealInfo>,
    /// The update proof.
    pub proof: Vec<u8>,
}

/// A miner's current proving deadline (`StateMinerProvingDeadline`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadlineInfo {
    /// The epoch this was computed at.
    pub current_epoch: ChainEpoch,
    /// The first epoch of the current proving period.
    pub period_start: ChainEpoch,
    /// The deadline open now.
    pub index: u64,
    /// Its first epoch.
    pub open: ChainEpoch,
    /// The first epoch after it.
    pub close: ChainEpoch,
    /// The epoch its challenge randomness is drawn at.
    pub challenge: ChainEpoch,
    /// After this epoch faults of this deadline can no longer be declared.
    pub fault_cutoff: ChainEpoch,
    /// Deadlines per proving period.
    pub deadlines: u64,
}

/// One partition of a deadline (`StateMinerPartitions`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionInfo {
    /// Every sector of the partition (ascending).
    pub sectors: Vec<SectorNumber>,
    /// The faulty ones.
    pub faulty: Vec<SectorNumber>,
    /// The faulty ones declared recovered.
    pub recovering: Vec<SectorNumber>,
    /// The sectors the chain expects proven at the next deadline: all
    /// but the faulty ones that are not recovering.
    pub active: Vec<SectorNumber>,
}

/// A `ProveCommitSectors3` message carrying one aggregate proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AggregateProveCommit {
    /// The sectors, in ascending order (as the actors require).
    pub sectors: Vec<SectorNumber>,
    /// The aggregate of their proofs, in that order.
    pub aggregate_proof: Vec<u8>,
    /// Each sector's deal pieces (see [`ProveCommitParams::pieces`]), in
    /// the order of `sectors`; empty when none holds deals.
    #[serde(default)]
    pub pieces: Vec<Vec<DealInfo>>,
}

/// A message to a miner actor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinerMessage {
    /// The miner actor.
    pub miner: ActorId,
    /// What to call.
    pub call: MinerCall,
    /// The FIL the message carries to the actor: pre-commit deposits or
    /// initial pledges ([`ChainClient::collateral`]); zero when the miner
    /// pays from its own available balance.
    #[serde(default)]
    pub value: TokenAmount,
}

impl MinerMessage {
    /// A message calling `call` on `miner`, carrying no value.
    pub fn new(miner: ActorId, call: MinerCall) -> Self {
        MinerMessage {
            miner,
            call,
            value: TokenAmount::ZERO,
        }
    }

    /// The same message carrying `value`.
    pub fn with_value(mut self, value: TokenAmount) -> Self {
        self.value = value;
        self
    }
}

/// Identifies a sent message (a CID for a full node, a uid for
/// venus-messager).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(pub String);

/// What a sent message may cost in gas, as its sender priced it
/// ([`MessageSender::fee`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MessageFee {
    /// The gas limit.
    pub gas_limit: u64,
    /// The most it pays per unit of gas (base fee and premium together).
    pub fee_cap: TokenAmount,
    /// The tip per unit of gas to the miner that includes it.
    pub premium: TokenAmount,
}

impl MessageFee {
    /// The most the message can cost in gas: limit × fee cap.
    ///
    /// ```
    /// use venus_seal_core::chain::MessageFee;
    /// use venus_seal_core::TokenAmount;
    ///
    /// let fee = MessageFee { gas_limit: 1_000_000, fee_cap: TokenAmount(100_000), premium: TokenAmount(1_000) };
    /// assert_eq!(fee.max(), TokenAmount(100_000_000_000));
    /// ```
    pub fn max(&self) -> TokenAmount {
        TokenAmount(self.fee_cap.0.saturating_mul(u128::from(self.gas_limit)))
    }
}

/// Where a sent message is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageState {
    /// Sent, not yet in a block.
    Pending,
    /// Executed at `epoch`.
    Landed {
        /// The epoch of the tipset that executed it.
        epoch: ChainEpoch,
        /// 0 for success.
        exit_code: i64,
        /// Why it failed, when it did.
        error: Option<String>,
    },
    /// The chain does not know it.
    NotFound,
}

/// Reads chain state and randomness.
///
/// Implementations: the embedded devnet; a Lotus / Venus full node.
#[async_trait]
pub trait ChainClient: Send + Sync + std::fmt::Debug {
    /// The current head epoch.
    async fn head(&self) -> Result<ChainEpoch, ChainError>;

    /// The network's sealing constants.
    async fn network(&self) -> Result<NetworkParams, ChainError>;

    /// Draws 32 bytes of randomness from `source` at `epoch` for `tag` and
    /// `entropy`. Randomness of an epoch after head is an error.
    async fn randomness(
        &self,
        source: RandomnessSource,
        tag: DomainSeparationTag,
        epoch: ChainEpoch,
        entropy: &[u8],
    ) -> Result<Randomness, ChainError>;

    /// The pre-commit of a sector, if the chain holds one.
    async fn pre_commit(
        &self,
        miner: ActorId,
        number: SectorNumber,
    ) -> Result<Option<OnChainPreCommit>, ChainError>;

    /// The proven sector, if the chain holds it.
    async fn sector(
        &self,
        miner: ActorId,
        number: SectorNumber,
    ) -> Result<Option<OnChainSector>, ChainError>;

    /// Where a proven sector is assigned (`StateSectorPartition`); `None`
    /// when no partition holds it (never proven, or terminated). The
    /// default refuses: extending or terminating a sector needs it.
    async fn sector_location(
        &self,
        miner: ActorId,
        number: SectorNumber,
    ) -> Result<Option<SectorLocation>, ChainError> {
        Err(ChainError::Rejected(format!(
            "this chain client does not locate sectors (miner {miner}, sector {number})"
        )))
    }

    /// Every sector of `miner` the chain holds (`StateMinerSectors`), in
    /// ascending order. The default refuses.
    async fn miner_sectors(&self, miner: ActorId) -> Result<Vec<OnChainSector>, ChainError> {
        Err(ChainError::Rejected(format!(
            "this chain client does not list sectors (miner {miner})"
        )))
    }

    /// The miner's current proving deadline. The default refuses: a
    /// client that does not follow deadlines cannot schedule WindowPoSt.
    async fn proving_deadline(&self, miner: ActorId) -> Result<DeadlineInfo, ChainError> {
        Err(ChainError::Rejected(format!(
            "this chain client does not report proving deadlines (miner {miner})"
        )))
    }

    /// The partitions of deadline `deadline` of `miner`. The default
    /// refuses.
    async fn deadline_partitions(
        &self,
        miner: ActorId,
        deadline: u64,
    ) -> Result<Vec<PartitionInfo>, ChainError> {
        Err(ChainError::Rejected(format!(
            "this chain client does not report partitions (miner {miner}, deadline {deadline})"
        )))
    }

    /// The partitions of `miner`'s deadline `deadline` whose WindowPoSt
    /// the chain accepted in the deadline's current challenge window
    /// (`StateMinerDeadlines`' `PostSubmissions`; the actors clear it when
    /// the window closes). The WindowPoSt scheduler reads it so that a
    /// restarted manager does not prove a partition twice. Required: an
    /// empty answer from a client that does not know would make a
    /// restarted manager prove (and pay for) partitions twice.
    async fn deadline_post_submissions(
        &self,
        miner: ActorId,
        deadline: u64,
    ) -> Result<Vec<u64>, ChainError>;

    /// The FIL a message calling `call` on `miner` should carry, as Lotus
    /// computes it: for `PreCommitSectorBatch2`, the sum of the sectors'
    /// pre-commit deposits; for a prove-commit (batched or aggregated), the
    /// sum of their initial pledges less the deposits they already paid;
    /// zero for anything else. Required: a chain without balances (the
    /// embedded devnet) answers zero itself, while a zero from a client
    /// that does not compute it would make every message on a real chain
    /// fail for want of funds.
    async fn collateral(&self, miner: ActorId, call: &MinerCall)
        -> Result<TokenAmount, ChainError>;

    /// The FIL+ claims `miner` holds (verifreg, as Lotus'
    /// `StateGetClaims` answers), which an extension of a sector with
    /// verified data must name. The default refuses: a client that cannot
    /// read claims says so rather than answer none.
    async fn claims(&self, miner: ActorId) -> Result<Vec<VerifiedClaim>, ChainError> {
        Err(ChainError::Rejected(format!(
            "this chain client does not read FIL+ claims (miner {miner})"
        )))
    }

    /// The balance of `address` (an account: the wallet messages are sent
    /// from), as Lotus' `WalletBalance` answers. The default refuses: a
    /// client that cannot read balances says so rather than answer zero.
    async fn balance(&self, address: &str) -> Result<TokenAmount, ChainError> {
        Err(ChainError::Rejected(format!(
            "this chain client does not read balances (address {address})"
        )))
    }

    /// The actor id of `address`, in any of its forms (`f0…`, or a robust
    /// `f1…`/`f3…`/`f4…` address), as Lotus' `StateLookupID` answers. A
    /// FIL+ allocation is keyed by its client's actor id, while markets
    /// record clients as they were given. The default resolves ID
    /// addresses alone and refuses the others, naming them.
    async fn lookup_id(&self, address: &str) -> Result<ActorId, ChainError> {
        address.parse::<ActorId>().map_err(|_| {
            ChainError::Rejected(format!(
                "this chain client resolves only ID addresses (f0…), not {address}"
            ))
        })
    }

    /// The terms of `client`'s FIL+ allocation `id`, while it is not yet
    /// claimed (Lotus' `StateGetAllocation`; `None`: no such allocation,
    /// or claimed already). A sector claiming it must be pre-committed
    /// with an expiration its terms allow ([`fit_expiration`]). The
    /// default refuses.
    async fn allocation(
        &self,
        client: ActorId,
        id: u64,
    ) -> Result<Option<AllocationTerms>, ChainError> {
        Err(ChainError::Rejected(format!(
            "this chain client does not read FIL+ allocations (allocation {id} of {client})"
        )))
    }

    /// The FIL+ allocation a published builtin-market deal made, while the
    /// deal waits for its sector (Lotus'
    /// `StateGetAllocationIdForPendingDeal`; `None` for an unverified
    /// deal). A sector activating a verified deal claims it in the piece
    /// manifest, as Lotus and damocles do. The default refuses: a client
    /// that cannot read it says so rather than answer "unverified".
    async fn deal_allocation(&self, deal_id: u64) -> Result<Option<u64>, ChainError> {
        Err(ChainError::Rejected(format!(
            "this chain client does not read pending deals' allocations (deal {deal_id})"
        )))
    }
}

crate::forward::forward_impls! {
    impl[] ChainClient {
        async fn head(&self) -> Result<ChainEpoch, ChainError>;
        async fn network(&self) -> Result<NetworkParams, ChainError>;
        async fn randomness(
            &self,
            source: RandomnessSource,
            tag: DomainSeparationTag,
            epoch: ChainEpoch,
            entropy: &[u8],
        ) -> Result<Randomness, ChainError>;
        async fn pre_commit(
            &self,
            miner: ActorId,
            number: SectorNumber,
        ) -> Result<Option<OnChainPreCommit>, ChainError>;
        async fn sector(
            &self,
            miner: ActorId,
            number: SectorNumber,
        ) -> Result<Option<OnChainSector>, ChainError>;
        async fn sector_location(
            &self,
            miner: ActorId,
            number: SectorNumber,
        ) -> Result<Option<SectorLocation>, ChainError>;
        async fn miner_sectors(&self, miner: ActorId) -> Result<Vec<OnChainSector>, ChainError>;
        async fn proving_deadline(&self, miner: ActorId) -> Result<DeadlineInfo, ChainError>;
        async fn deadline_partitions(
            &self,
            miner: ActorId,
            deadline: u64,
        ) -> Result<Vec<PartitionInfo>, ChainError>;
        async fn deadline_post_submissions(
            &self,
            miner: ActorId,
            deadline: u64,
        ) -> Result<Vec<u64>, ChainError>;
        async fn collateral(&self, miner: ActorId, call: &MinerCall)
            -> Result<TokenAmount, ChainError>;
        async fn claims(&self, miner: ActorId) -> Result<Vec<VerifiedClaim>, ChainError>;
        async fn balance(&self, address: &str) -> Result<TokenAmount, ChainError>;
        async fn lookup_id(&self, address: &str) -> Result<ActorId, ChainError>;
        async fn deal_allocation(&self, deal_id: u64) -> Result<Option<u64>, ChainError>;
        async fn allocation(&self, client: ActorId, id: u64)
            -> Result<Option<AllocationTerms>, ChainError>;
    }
}

/// The identity of one attempt to send a message: a UUID in its hyphenated
/// form (Lotus' `MessageSendSpec.MsgUuid`, venus-messager's message id).
///
/// The caller makes a new one for every attempt (the first send, a resend
/// after the message failed on chain, a resend for a later period), saves
/// it before the push, and reuses it only to recover that same attempt
/// (after a crash, or a push whose answer was lost): the sender then
/// returns the message it already took under it instead of sending a
/// second one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SendUid(pub String);

impl std::fmt::Display for SendUid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Sends messages to miner actors. The manager holds no keys: signing is
/// the node's or the messager's.
#[async_trait]
pub trait MessageSender: Send + Sync + std::fmt::Debug {
    /// Sends `msg` as the attempt `uid`, returning its id. When the sender
    /// already took a message under `uid` it returns that message's id and
    /// sends nothing, whatever `msg` is now (Lotus answers a known
    /// `MsgUuid` with the message signed under it; venus-messager keeps
    /// one message per id). A new `uid` always sends a new message, even
    /// with the very same content.
    async fn send(&self, uid: &SendUid, msg: MinerMessage) -> Result<MessageId, ChainError>;

    /// Where the message is.
    async fn state(&self, id: &MessageId) -> Result<MessageState, ChainError>;

    /// What the message `id` may cost, as its sender priced it: `None`
    /// while it is not priced yet (venus-messager prices a message when it
    /// selects it for sending) or where the sender cannot say (the default,
    /// and the embedded devnet, which charges no gas).
    async fn fee(&self, id: &MessageId) -> Result<Option<MessageFee>, ChainError> {
        let _ = id;
        Ok(None)
    }

    /// What `msg` would cost in gas if it were sent now, as the node
    /// prices it (a dry run shows it before anything is sent): `None`
    /// where the sender cannot say (the default; venus-messager prices a
    /// message only once it selects it; the devnet charges no gas). An
    /// error where the node's estimate runs the message and the actor
    /// refuses it.
    async fn estimate(&self, msg: &MinerMessage) -> Result<Option<MessageFee>, ChainError> {
        let _ = msg;
        Ok(None)
    }

    /// What running `msg` now would burn from the miner's balance (a
    /// termination's fee, a fault's penalty), as the node computes it by
    /// running the message without sending it; `None` where the sender
    /// cannot say (the default; the devnet keeps no balances).
    async fn burn(&self, msg: &MinerMessage) -> Result<Option<TokenAmount>, ChainError> {
        let _ = msg;
        Ok(None)
    }

    /// Replaces the pending message `id` (stuck in the mpool) with the
    /// same message at the same nonce and a higher gas premium, its total
    /// fee within `bump.max_fee`, so that at most one of the two lands.
    /// [`Replaced::Dropped`]: the sender no longer holds `id` and it is not
    /// on chain; the caller sends it again under a new attempt uid. The
    /// default refuses: a sender that cannot replace safely says so.
    async fn replace(&self, id: &MessageId, bump: &FeeBump) -> Result<Replaced, ChainError> {
        let _ = bump;
        Err(ChainError::Rejected(format!(
            "this message sender cannot replace the stuck message {}",
            id.0
        )))
    }
}

/// How a stuck message is replaced ([`MessageSender::replace`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeeBump {
    /// The new gas premium is the old one raised by this many percent (at
    /// least the node's minimum replace-by-fee step, 25 % in Lotus and
    /// venus-messager).
    pub premium_percent: u32,
    /// The most the replacement may cost in gas fees (gas limit × fee cap).
    pub max_fee: TokenAmount,
}

/// What [`MessageSender::replace`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Replaced {
    /// The replacement carries the submission now, under this id (the
    /// same id where the sender names messages by uid).
    By(MessageId),
    /// The sender no longer holds the message and the chain does not
    /// either: it must be sent again, under a new attempt uid.
    Dropped,
}

crate::forward::forward_impls! {
    impl[] MessageSender {
        async fn send(&self, uid: &SendUid, msg: MinerMessage) -> Result<MessageId, ChainError>;
        async fn state(&self, id: &MessageId) -> Result<MessageState, ChainError>;
        async fn fee(&self, id: &MessageId) -> Result<Option<MessageFee>, ChainError>;
        async fn estimate(&self, msg: &MinerMessage) -> Result<Option<MessageFee>, ChainError>;
        async fn burn(&self, msg: &MinerMessage) -> Result<Option<TokenAmount>, ChainError>;
        async fn replace(&self, id: &MessageId, bump: &FeeBump) -> Result<Replaced, ChainError>;
    }
}

#[cfg(test)]
mod fit_tests {
    use super::*;

    const CAP: ChainEpoch = 10_000;

    fn terms(term_min: ChainEpoch, term_max: ChainEpoch) -> AllocationTerms {
        AllocationTerms {
            term_min,
            term_max,
            expiration: i64::MAX,
        }
    }

    #[test]
    fn the_preferred_expiration_is_moved_into_every_claims_terms() {
        // Activation between 100 and 200.
        assert_eq!(fit_expiration(1000, 100, 200, CAP, &[]), Ok(1000));
        assert_eq!(
            fit_expiration(1000, 100, 200, CAP, &[terms(500, 5000)]),
            Ok(1000)
        );
        // A longer least life: later, so that a late activation keeps it.
        assert_eq!(
            fit_expiration(1000, 100, 200, CAP, &[terms(900, 5000)]),
            Ok(1100)
        );
        // A shorter most life: earlier, so that an early activation keeps it.
        assert_eq!(
            fit_expiration(1000, 100, 200, CAP, &[terms(100, 600)]),
            Ok(700)
        );
        // Several claims: the tightest of each bound.
        assert_eq!(
            fit_expiration(1000, 100, 200, CAP, &[terms(900, 5000), terms(100, 4000)]),
            Ok(1100)
        );
        // Never past the actor's cap: a least life beyond it fits nothing.
        assert_eq!(
            fit_expiration(1000, 100, 200, 1050, &[terms(100, 5000)]),
            Ok(1000)
        );
        assert!(fit_expiration(1000, 100, 200, 1050, &[terms(900, 5000)]).is_err());
        let err = fit_expiration(1000, 100, 200, CAP, &[terms(900, 950)]).unwrap_err();
        assert!(err.contains("no expiration fits"), "{err}");
    }
}
