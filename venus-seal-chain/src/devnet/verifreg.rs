//! FIL+ allocations on the devnet: what the verified registry would hold
//! for a provider, and the checks builtin-actors makes when a sector's
//! piece claims one at activation.
//!
//! The devnet has no verified registry or datacap: an allocation is put
//! on the miner it is for ([`DevnetChain::add_allocation`](super::DevnetChain::add_allocation)),
//! and a `ProveCommitSectors3` piece naming it (its
//! `verified_allocation_key`) turns it into a claim, as verifreg's
//! `ClaimAllocations` does when the miner activates the sector
//! (builtin-actors `verifreg::can_claim_alloc`): same client, same piece
//! CID and size, not expired, and the sector's remaining life within the
//! allocation's term. The claim keeps the allocation's id and starts at the
//! activation epoch; the piece's space then counts as verified deal weight.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use venus_seal_core::chain::VerifiedClaim;
use venus_seal_core::manager::DealInfo;
use venus_seal_core::{ActorId, ChainEpoch, PaddedPieceSize, PieceCid, SectorNumber};

use super::actor::{ActorError, MinerActor};

/// A FIL+ allocation not yet claimed (verifreg `Allocation`): `client`'s
/// datacap set aside for a piece that the miner holding it must seal into
/// a sector living between `term_min` and `term_max` epochs, by
/// `expiration`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    /// The client (actor id) whose datacap it uses.
    pub client: ActorId,
    /// The piece's CID.
    pub data: PieceCid,
    /// The piece's padded size.
    pub size: PaddedPieceSize,
    /// The least a sector holding it must live from activation, in epochs.
    pub term_min: ChainEpoch,
    /// The most a sector holding it may live from activation, in epochs.
    pub term_max: ChainEpoch,
    /// The last epoch it can be claimed.
    pub expiration: ChainEpoch,
}

/// What activating one sector's pieces does to the sector's weights and
/// the miner's allocations.
#[derive(Clone, Debug, Default)]
pub(crate) struct Activation {
    /// Padded bytes of pieces without an allocation.
    pub(crate) unverified_space: u64,
    /// Padded bytes of pieces claiming an allocation.
    pub(crate) verified_space: u64,
    /// The claims made (each replaces the allocation of the same id).
    pub(crate) claims: Vec<VerifiedClaim>,
}

impl MinerActor {
    /// Checks the allocations `pieces` of sector `n` (expiring at
    /// `expiration`) claim at `epoch`, as verifreg does; `claimed` holds
    /// the allocations already claimed by earlier sectors of the message
    /// (an allocation is claimed once).
    pub(crate) fn activate_pieces(
        &self,
        n: SectorNumber,
        pieces: &[DealInfo],
        expiration: ChainEpoch,
        epoch: ChainEpoch,
        claimed: &mut BTreeSet<u64>,
    ) -> Result<Activation, ActorError> {
        let mut out = Activation::default();
        let lifetime = expiration.saturating_sub(epoch);
        for deal in pieces {
            let Some(key) = deal.allocation else {
                out.unverified_space += deal.piece.size.0;
                continue;
            };
            let refused = |why: String| {
                ActorError::IllegalArgument(format!("sector {n}: cannot claim {key}: {why}"))
            };
            let Some(alloc) = self.allocations.get(&key.id) else {
                return Err(refused(format!(
                    "no such allocation for provider {}",
                    self.id
                )));
            };
            if alloc.client != key.client {
                return Err(refused(format!("it belongs to client {}", alloc.client)));
            }
            if alloc.data != deal.piece.cid || alloc.size != deal.piece.size {
                return Err(refused(format!(
                    "it is for piece {} of {} bytes, not {} of {}",
                    alloc.data, alloc.size.0, deal.piece.cid, deal.piece.size.0
                )));
            }
            if epoch > alloc.expiration {
                return Err(refused(format!(
                    "it expired at epoch {} (now {epoch})",
                    alloc.expiration
                )));
            }
            if lifetime < alloc.term_min || lifetime > alloc.term_max {
                return Err(refused(format!(
                    "the sector lives {lifetime} more epochs, outside the term [{}, {}]",
                    alloc.term_min, alloc.term_max
                )));
            }
            if !claimed.insert(key.id) {
                return Err(refused("it is claimed twice in this message".into()));
            }
            out.verified_space += deal.piece.size.0;
            out.claims.push(VerifiedClaim {
                id: key.id,
                client: alloc.client.0,
                data: alloc.data.to_string(),
                size: alloc.size.0,
                term_min: alloc.term_min,
                term_max: alloc.term_max,
                term_start: epoch,
                sector: n,
            });
        }
        Ok(out)
    }

    /// Turns the allocations of `claims` into the claims (applied once the
    /// sector's proof verified).
    pub(crate) fn record_claims(&mut self, claims: Vec<VerifiedClaim>) {
        for claim in claims {
            self.allocations.remove(&claim.id);
            self.claims.insert(claim.id, claim);
        }
    }
}
