//! What the manager remembers of each sector, and its deal queue.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use venus_seal_core::chain::MessageId;
use venus_seal_core::manager::{AcquireDealsSpec, DealInfo, PreCommitOnChainInfo, StateReport};
use venus_seal_core::stage::Proof;
use venus_seal_core::{ActorId, SealProof, SectorId, SectorSize, Seed, Ticket};

/// A submission the manager took, and the message that carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submitted<T> {
    /// What the worker submitted.
    pub content: T,
    /// The message sent for it (`None` while it is being sent).
    pub message: Option<MessageId>,
}

/// The manager's record of one sector (see
/// [`LocalSectorManager::sector_status`](super::LocalSectorManager::sector_status)).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SectorStatus {
    /// The proof type it was allocated with.
    pub proof_type: SealProof,
    /// The deals handed to it (`None`: not asked yet).
    pub deals: Option<Vec<DealInfo>>,
    /// The ticket handed out.
    pub ticket: Option<Ticket>,
    /// The pre-commit taken.
    pub pre_commit: Option<Submitted<PreCommitOnChainInfo>>,
    /// Where the worker persisted the sector.
    pub persisted_at: Option<String>,
    /// The seed handed out.
    pub seed: Option<Seed>,
    /// The proof taken.
    pub proof: Option<Submitted<Proof>>,
    /// The worker's last state report.
    pub last_report: Option<StateReport>,
    /// The worker reported the sector finalized.
    pub finalized: bool,
    /// The worker gave the sector up, for this reason.
    pub aborted: Option<String>,
}

impl SectorStatus {
    pub(crate) fn new(proof_type: SealProof) -> Self {
        Self {
            proof_type,
            deals: None,
            ticket: None,
            pre_commit: None,
            persisted_at: None,
            seed: None,
            proof: None,
            last_report: None,
            finalized: false,
            aborted: None,
        }
    }
}

/// How a submission compares with what the manager holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Nothing held, or `reset` replaces something different: send.
    Send,
    /// The same content is held.
    Duplicate,
    /// The same content, with `reset`: send again only if this message
    /// failed on chain.
    ResendIfFailed(MessageId),
    /// Different content without `reset`.
    Mismatch,
}

/// Compares `content` with `held`.
pub(crate) fn decide<T: PartialEq>(
    held: &Option<Submitted<T>>,
    content: &T,
    reset: bool,
) -> Decision {
    match held {
        None => Decision::Send,
        Some(s) if s.content == *content => match (&s.message, reset) {
            (Some(id), true) => Decision::ResendIfFailed(id.clone()),
            _ => Decision::Duplicate,
        },
        Some(_) if reset => Decision::Send,
        Some(_) => Decision::Mismatch,
    }
}

/// A deal waiting for a sector.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct QueuedDeal {
    miner: Option<ActorId>,
    deal: DealInfo,
}

/// Everything the manager holds, behind one lock (never held across an
/// await); what its state file holds.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct ManagerState {
    /// The next sector number per miner.
    #[serde(with = "crate::persist::pairs")]
    pub(crate) next_number: HashMap<ActorId, u64>,
    /// Every allocated sector.
    #[serde(with = "crate::persist::pairs")]
    pub(crate) sectors: HashMap<SectorId, SectorStatus>,
    deals: VecDeque<QueuedDeal>,
}

impl ManagerState {
    /// Queues a deal for `miner` (`None`: any miner).
    pub(crate) fn queue_deal(&mut self, miner: Option<ActorId>, deal: DealInfo) {
        self.deals.push_back(QueuedDeal { miner, deal });
    }

    /// Puts deals back at the head of the queue, in their order.
    pub(crate) fn requeue_deals(&mut self, miner: ActorId, deals: Vec<DealInfo>) {
        for deal in deals.into_iter().rev() {
            self.deals.push_front(QueuedDeal {
                miner: Some(miner),
                deal,
            });
        }
    }

    /// The number of queued deals.
    pub(crate) fn queued_deals(&self) -> usize {
        self.deals.len()
    }

    /// Takes, in queue order, the deals for `miner` that fit in `size`
    /// (padded sizes), at most `spec.max_deals`; none unless they use at
    /// least `spec.min_used_space` bytes.
    pub(crate) fn take_deals(
        &mut self,
        miner: ActorId,
        size: SectorSize,
        spec: AcquireDealsSpec,
    ) -> Vec<DealInfo> {
        let max = spec.max_deals.unwrap_or(usize::MAX);
        let mut used = 0u64;
        let mut picked = Vec::new();
        for (i, q) in self.deals.iter().enumerate() {
            if picked.len() >= max {
                break;
            }
            if q.miner.is_some_and(|m| m != miner) {
                continue;
            }
            let piece = q.deal.piece.size.0;
            if used.saturating_add(piece) <= size.0 {
                used += piece;
                picked.push(i);
            }
        }
        if picked.is_empty() || used < spec.min_used_space.unwrap_or(0) {
            return Vec::new();
        }
        // Remove from the back so earlier indexes stay valid.
        let mut deals: Vec<DealInfo> = picked
            .iter()
            .rev()
            .filter_map(|&i| self.deals.remove(i).map(|q| q.deal))
            .collect();
        deals.reverse();
        deals
    }
}
