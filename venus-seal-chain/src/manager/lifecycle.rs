//! A proven sector's life on chain after sealing: listing a miner's
//! sectors by expiration, extending them (`ExtendSectorExpiration2`) and
//! terminating them (`TerminateSectors`).
//!
//! Both actions read each named sector from the chain first: a sector the
//! chain does not hold (never proven, already terminated), one whose
//! expiration is already at or past the one asked (extend), or one in a
//! faulty state (extend: the actors refuse faulty sectors) is left out
//! with its reason, and the rest is grouped by deadline and partition into
//! one message. A dry run answers the same plan and sends nothing. Every
//! call that sends is a new message (a fresh send uid): an operator who
//! repeats a command sends again.

use std::collections::BTreeMap;

use tracing::info;
use venus_seal_core::chain::{
    ExpirationExtension, MinerCall, MinerMessage, OnChainSector, SectorsDeclaration,
};
use venus_seal_core::lifecycle::{ExpiringSectors, LeftOut, LifecyclePlan};
use venus_seal_core::{ActorId, ChainEpoch, ChainError, SectorNumber};

use super::LocalSectorManager;

/// Why an extension, termination or listing was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LifecycleError {
    /// The miner is not one this manager sends for.
    #[error("miner {0} is not managed here")]
    UnknownMiner(ActorId),
    /// No sector named can go into the message.
    #[error("nothing to send for miner {miner}: {}", describe(.left_out))]
    NothingToSend {
        /// The miner.
        miner: ActorId,
        /// Every sector named, and why it was left out.
        left_out: Vec<LeftOut>,
    },
    /// The chain node or the messager failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
}

fn describe(left_out: &[LeftOut]) -> String {
    if left_out.is_empty() {
        return "no sectors named".into();
    }
    left_out
        .iter()
        .map(|l| format!("sector {}: {}", l.number, l.reason))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Which action a plan is for.
#[derive(Clone, Copy, Debug)]
enum Action {
    Extend(ChainEpoch),
    Terminate,
}

impl LocalSectorManager {
    fn managed(&self, miner: ActorId) -> Result<(), LifecycleError> {
        self.config
            .miner(miner)
            .map(|_| ())
            .ok_or(LifecycleError::UnknownMiner(miner))
    }

    /// `miner`'s sectors on chain that expire within `within` epochs of
    /// the head, the soonest first (`StateMinerSectors`: sectors sealed
    /// elsewhere included).
    pub async fn sectors_expiring(
        &self,
        miner: ActorId,
        within: ChainEpoch,
    ) -> Result<ExpiringSectors, LifecycleError> {
        self.managed(miner)?;
        let head = self.chain.head().await?;
        let mut sectors: Vec<OnChainSector> = self
            .chain
            .miner_sectors(miner)
            .await?
            .into_iter()
            .filter(|s| s.expiration <= head.saturating_add(within))
            .collect();
        sectors.sort_by_key(|s| (s.expiration, s.number));
        Ok(ExpiringSectors { head, sectors })
    }

    /// Extends `numbers` of `miner` to expire at `new_expiration` with one
    /// `ExtendSectorExpiration2` (see the [module docs](self)); with
    /// `dry_run`, only answers the plan.
    pub async fn extend_sectors(
        &self,
        miner: ActorId,
        numbers: &[SectorNumber],
        new_expiration: ChainEpoch,
        dry_run: bool,
    ) -> Result<LifecyclePlan, LifecycleError> {
        self.lifecycle(miner, numbers, Action::Extend(new_expiration), dry_run)
            .await
    }

    /// Terminates `numbers` of `miner` with one `TerminateSectors` (the
    /// miner pays the termination fee); with `dry_run`, only answers the
    /// plan.
    pub async fn terminate_sectors(
        &self,
        miner: ActorId,
        numbers: &[SectorNumber],
        dry_run: bool,
    ) -> Result<LifecyclePlan, LifecycleError> {
        self.lifecycle(miner, numbers, Action::Terminate, dry_run)
            .await
    }

    async fn lifecycle(
        &self,
        miner: ActorId,
        numbers: &[SectorNumber],
        action: Action,
        dry_run: bool,
    ) -> Result<LifecyclePlan, LifecycleError> {
        self.managed(miner)?;
        let mut numbers = numbers.to_vec();
        numbers.sort();
        numbers.dedup();
        let mut left_out = Vec::new();
        let mut leave = |number, reason: String| left_out.push(LeftOut { number, reason });
        let mut groups: BTreeMap<(u64, u64), Vec<SectorNumber>> = BTreeMap::new();
        let mut faulty: BTreeMap<u64, Vec<Vec<SectorNumber>>> = BTreeMap::new();
        for n in numbers {
            let Some(sector) = self.chain.sector(miner, n).await? else {
                leave(n, "not on chain (never proven, or terminated)".into());
                continue;
            };
            let Some(at) = self.chain.sector_location(miner, n).await? else {
                leave(n, "in no deadline (terminated)".into());
                continue;
            };
            if let Action::Extend(new_expiration) = action {
                if sector.expiration >= new_expiration {
                    leave(n, format!("already expires at epoch {}", sector.expiration));
                    continue;
                }
                if let std::collections::btree_map::Entry::Vacant(entry) = faulty.entry(at.deadline)
                {
                    let partitions = self.chain.deadline_partitions(miner, at.deadline).await?;
                    entry.insert(partitions.into_iter().map(|p| p.faulty).collect());
                }
                let is_faulty = faulty[&at.deadline]
                    .get(at.partition as usize)
                    .is_some_and(|f| f.contains(&n));
                if is_faulty {
                    leave(
                        n,
                        "faulty: the actors extend only active sectors (recover it first)".into(),
                    );
                    continue;
                }
            }
            groups
                .entry((at.deadline, at.partition))
                .or_default()
                .push(n);
        }
        if groups.is_empty() {
            return Err(LifecycleError::NothingToSend { miner, left_out });
        }
        let partitions: Vec<SectorsDeclaration> = groups
            .into_iter()
            .map(|((deadline, partition), sectors)| SectorsDeclaration {
                deadline,
                partition,
                sectors,
            })
            .collect();
        let (call, new_expiration) = match action {
            Action::Extend(new_expiration) => (
                MinerCall::ExtendSectorExpiration2(
                    partitions
                        .iter()
                        .map(|p| ExpirationExtension {
                            deadline: p.deadline,
                            partition: p.partition,
                            sectors: p.sectors.clone(),
                            new_expiration,
                        })
                        .collect(),
                ),
                Some(new_expiration),
            ),
            Action::Terminate => (MinerCall::TerminateSectors(partitions.clone()), None),
        };
        let mut plan = LifecyclePlan {
            miner,
            partitions,
            new_expiration,
            left_out,
            message: None,
        };
        if dry_run {
            return Ok(plan);
        }
        let uid = crate::lotus::new_send_uid();
        let message = self
            .sender
            .send(&uid, MinerMessage::new(miner, call))
            .await?;
        let sectors: Vec<u64> = plan.sectors().map(|n| n.0).collect();
        info!(%miner, ?action, ?sectors, left_out = plan.left_out.len(), message = %message.0,
              "sector lifecycle message sent");
        plan.message = Some(message);
        Ok(plan)
    }
}
