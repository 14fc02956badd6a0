//! WinningPoSt on the devnet: one miner is elected per epoch among those
//! with provable sectors, and the block it would mine carries a
//! WinningPoSt the chain verifies.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use venus_seal_core::proving::{PoStProof, PoStSector, WinningPoStVerifyInfo};
use venus_seal_core::{
    ActorId, ChainEpoch, ChainError, DomainSeparationTag, Randomness, RandomnessSource,
};

use super::DevnetChain;

/// The miner elected at an epoch and what its WinningPoSt must prove.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WinningPoStElection {
    /// The epoch of the block.
    pub epoch: ChainEpoch,
    /// The elected miner.
    pub miner: ActorId,
    /// The challenge randomness (`WinningPoStChallengeSeed` from the
    /// beacon at `epoch`, CBOR of the miner as entropy).
    pub randomness: Randomness,
    /// The miner's eligible sectors (proven before `epoch`, not faulty),
    /// ascending: the challenge picks from these by index.
    pub sectors: Vec<PoStSector>,
}

impl DevnetChain {
    /// The miner elected at `epoch` (at most head): drawn with
    /// `ElectionProofProduction` randomness among the miners with eligible
    /// sectors; `None` when no miner has one.
    pub fn winning_election(
        &self,
        epoch: ChainEpoch,
    ) -> Result<Option<WinningPoStElection>, ChainError> {
        let draw = self.draw(
            RandomnessSource::Beacon,
            DomainSeparationTag::ElectionProofProduction,
            epoch,
            &[],
        )?;
        let st = self.lock();
        let candidates: Vec<_> = st
            .miners
            .values()
            .map(|m| (m.id, m.eligible_sectors(epoch)))
            .filter(|(_, sectors)| !sectors.is_empty())
            .collect();
        if candidates.is_empty() {
            return Ok(None);
        }
        let pick = u64::from_be_bytes(draw.0[..8].try_into().unwrap_or_default());
        let (miner, sectors) = candidates[(pick % candidates.len() as u64) as usize].clone();
        drop(st);
        let randomness = self.draw(
            RandomnessSource::Beacon,
            DomainSeparationTag::WinningPoStChallengeSeed,
            epoch,
            &miner.address_cbor(),
        )?;
        Ok(Some(WinningPoStElection {
            epoch,
            miner,
            randomness,
            sectors,
        }))
    }

    /// Checks the WinningPoSt of the block `miner` mines at `epoch`: the
    /// miner must be the one elected, the proof must verify over the
    /// sectors the challenge picks. [`ChainError::Rejected`] says why not.
    pub async fn submit_winning_post(
        &self,
        epoch: ChainEpoch,
        miner: ActorId,
        proofs: Vec<PoStProof>,
    ) -> Result<(), ChainError> {
        let election = self.winning_election(epoch)?.ok_or_else(|| {
            ChainError::Rejected(format!("no miner is eligible at epoch {epoch}"))
        })?;
        if election.miner != miner {
            return Err(ChainError::Rejected(format!(
                "{miner} is not elected at epoch {epoch} ({} is)",
                election.miner
            )));
        }
        let verifier = Arc::clone(&self.verifier);
        let result = tokio::task::spawn_blocking(move || {
            let seal = election.sectors[0].seal_proof;
            let indices = verifier.winning_post_challenge(
                seal,
                miner,
                &election.randomness,
                election.sectors.len() as u64,
            )?;
            let sectors = indices
                .iter()
                .map(|i| election.sectors.get(*i as usize).copied())
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    venus_seal_core::VerifyError(format!(
                        "challenge indices {indices:?} past {} sectors",
                        election.sectors.len()
                    ))
                })?;
            verifier.verify_winning_post(&WinningPoStVerifyInfo {
                miner,
                randomness: election.randomness,
                sectors,
                proofs,
            })
        })
        .await
        .map_err(|e| ChainError::Rejected(format!("the verifier panicked: {e}")))?;
        match result {
            Ok(true) => {
                tracing::info!(%miner, epoch, "WinningPoSt verified");
                Ok(())
            }
            Ok(false) => Err(ChainError::Rejected(format!(
                "the WinningPoSt of {miner} at epoch {epoch} does not verify"
            ))),
            Err(e) => Err(ChainError::Rejected(format!(
                "the WinningPoSt of {miner} at epoch {epoch} could not be verified: {e}"
            ))),
        }
    }
}
