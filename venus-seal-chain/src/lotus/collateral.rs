//! What a message must carry, as Lotus computes it: the pre-commit
//! deposits of a batch and the pledge of proving sectors, each priced at one
//! tipset.

use venus_seal_core::chain::PreCommitParams;
use venus_seal_core::error::ChainError;
use venus_seal_core::{ActorId, SectorNumber, TokenAmount};

use super::convert::{add_amount, parse_amount, parse_proof};
use super::types::CidJson;
use super::LotusClient;

impl LotusClient {
    /// The sum of the pre-commit deposits of `sectors`
    /// (`StateMinerPreCommitDepositForPower` each, at one tipset).
    pub async fn pre_commit_deposits(
        &self,
        miner: ActorId,
        sectors: &[PreCommitParams],
        tsk: &[CidJson],
    ) -> Result<TokenAmount, ChainError> {
        const M: &str = "Filecoin.StateMinerPreCommitDepositForPower";
        let mut total = TokenAmount::ZERO;
        for sector in sectors {
            let deposit = self
                .state_miner_pre_commit_deposit_for_power(miner, sector, tsk)
                .await?;
            total = add_amount(M, total, &deposit)?;
        }
        Ok(total)
    }

    /// What proving `sectors` costs beyond their deposits, as Lotus
    /// computes it: per sector, `StateMinerInitialPledgeForSector` for the
    /// rest of its pre-committed life (expiration − head), less the
    /// pre-commit deposit it paid, never below zero. Each sector is priced
    /// with its verified space (the padded bytes of its pieces that claim
    /// a FIL+ allocation,
    /// [`verified_space`](venus_seal_core::manager::verified_space)):
    /// verified data weighs ten times in quality-adjusted power, so pricing
    /// it as unverified would send the message short of pledge, and the
    /// actor would refuse it.
    pub async fn prove_commit_pledges(
        &self,
        miner: ActorId,
        sectors: &[(SectorNumber, u64)],
    ) -> Result<TokenAmount, ChainError> {
        const M: &str = "Filecoin.StateMinerInitialPledgeForSector";
        let head = self.chain_head().await?;
        let tsk = head.cids.as_slice();
        let mut total = TokenAmount::ZERO;
        for &(number, verified) in sectors {
            let Some(pc) = self
                .state_sector_pre_commit_info(miner, number, tsk)
                .await?
            else {
                return Err(ChainError::Rejected(format!(
                    "sector {miner}-{number} has no pre-commit on chain: no pledge to compute"
                )));
            };
            let proof = parse_proof(M, pc.info.seal_proof)?;
            let duration = pc.info.expiration - head.height;
            let pledge = self
                .state_miner_initial_pledge_for_sector(
                    duration,
                    proof.sector_size().0,
                    verified,
                    tsk,
                )
                .await?;
            let pledge = parse_amount(M, &pledge)?;
            let deposit =
                parse_amount("Filecoin.StateSectorPreCommitInfo", &pc.pre_commit_deposit)?;
            total = add_amount(M, total, &pledge.saturating_sub(deposit).to_string())?;
        }
        Ok(total)
    }

    /// The initial pledge of the sectors of a `ProveCommitSectorsNI`
    /// (no pre-commit, so no deposit to subtract), as the node prices a
    /// sector of their proof type's size and remaining life, no verified
    /// space (NI sectors hold no data).
    pub async fn ni_pledges(
        &self,
        ni: &venus_seal_core::chain::NiProveCommit,
    ) -> Result<TokenAmount, ChainError> {
        const M: &str = "Filecoin.StateMinerInitialPledgeForSector";
        let head = self.chain_head().await?;
        let tsk = head.cids.as_slice();
        let mut total = TokenAmount::ZERO;
        for s in &ni.sectors {
            let pledge = self
                .state_miner_initial_pledge_for_sector(
                    s.expiration - head.height,
                    ni.seal_proof.sector_size().0,
                    0,
                    tsk,
                )
                .await?;
            total = add_amount(M, total, &parse_amount(M, &pledge)?.to_string())?;
        }
        Ok(total)
    }
}
