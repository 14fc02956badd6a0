//! The miner actor's proving state: deadlines and partitions, faults and
//! recoveries, `SubmitWindowedPoSt`, `DeclareFaults(Recovered)`,
//! `ProveReplicaUpdates3`, and the end-of-deadline check that marks the
//! sectors of an unproven partition faulty.
//!
//! As in builtin-actors, a WindowPoSt proves a partition's active sectors
//! (not faulty, or faulty and declared recovered) less the ones it skips;
//! a skipped sector becomes faulty, a recovering one that is proven
//! recovers. Where the devnet is simpler: recoveries and faults may be
//! declared at any time (no fault cutoff), there are no fees, penalties or
//! power, and a snap update's pieces are recorded with the CommD the
//! message gives.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use venus_seal_core::chain::{
    PartitionInfo, ReplicaUpdateParams, SectorsDeclaration, WindowPoStSubmission,
};
use venus_seal_core::proving::{PoStSector, ReplicaUpdateVerifyInfo, WindowPoStVerifyInfo};
use venus_seal_core::{ChainEpoch, CommD, DomainSeparationTag, RandomnessSource, SectorNumber};

use super::actor::{ActorError, ExecContext, MessageFailure, MinerActor, Plan};
use super::config::ProvingPolicy;
use super::randomness::draw_randomness;

const SUBMIT_POST: &str = "SubmitWindowedPoSt";
const DECLARE_FAULTS: &str = "DeclareFaults";
const DECLARE_RECOVERED: &str = "DeclareFaultsRecovered";
const PROVE_UPDATES: &str = "ProveReplicaUpdates3";

/// One partition: the sectors assigned to it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PartitionState {
    pub(crate) sectors: BTreeSet<SectorNumber>,
}

/// The partitions of a deadline proven in one proving period.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ProvenPartitions {
    pub(crate) period_start: ChainEpoch,
    pub(crate) partitions: BTreeSet<u64>,
}

/// The proving state of a miner actor.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ProvingState {
    /// Deadline index → its partitions.
    pub(crate) deadlines: BTreeMap<u64, Vec<PartitionState>>,
    /// How many sectors were ever assigned (fills deadlines in turn).
    pub(crate) assigned: u64,
    pub(crate) faults: BTreeSet<SectorNumber>,
    pub(crate) recovering: BTreeSet<SectorNumber>,
    /// Deadline index → what was proven in its latest period.
    pub(crate) posts: BTreeMap<u64, ProvenPartitions>,
    /// Sectors upgraded by snap-up → their new CommD.
    #[serde(with = "crate::persist::pairs")]
    pub(crate) updated: BTreeMap<SectorNumber, CommD>,
}

/// A WindowPoSt to verify before it applies.
#[derive(Clone, Debug)]
pub(crate) struct PendingPoSt {
    pub(crate) info: WindowPoStVerifyInfo,
    pub(crate) deadline: u64,
    pub(crate) period_start: ChainEpoch,
    pub(crate) partitions: Vec<u64>,
    pub(crate) skipped: Vec<SectorNumber>,
}

/// A snap-up proof to verify before it applies.
#[derive(Clone, Debug)]
pub(crate) struct PendingUpdate {
    pub(crate) info: ReplicaUpdateVerifyInfo,
    pub(crate) number: SectorNumber,
}

fn fail(method: &'static str, e: ActorError) -> MessageFailure {
    MessageFailure::single(method, e)
}

impl ProvingState {
    /// Puts a newly proven sector into a partition: deadlines fill in
    /// turn, `partition_sectors` at a time.
    pub(crate) fn assign(&mut self, number: SectorNumber, policy: &ProvingPolicy) {
        let per = policy.partition_sectors.max(1);
        let deadline = (self.assigned / per) % policy.deadlines.max(1);
        self.assigned += 1;
        let partitions = self.deadlines.entry(deadline).or_default();
        match partitions.last_mut() {
            Some(p) if (p.sectors.len() as u64) < per => {
                p.sectors.insert(number);
            }
            _ => partitions.push(PartitionState {
                sectors: BTreeSet::from([number]),
            }),
        }
    }

    /// The deadline and partition of a sector.
    pub(crate) fn location(&self, number: SectorNumber) -> Option<(u64, u64)> {
        self.deadlines.iter().find_map(|(d, parts)| {
            parts
                .iter()
                .position(|p| p.sectors.contains(&number))
                .map(|i| (*d, i as u64))
        })
    }

    /// The partitions of a deadline as the chain reports them.
    pub(crate) fn partitions(&self, deadline: u64) -> Vec<PartitionInfo> {
        let Some(parts) = self.deadlines.get(&deadline) else {
            return Vec::new();
        };
        parts
            .iter()
            .map(|p| {
                let pick = |set: &BTreeSet<SectorNumber>| {
                    p.sectors
                        .iter()
                        .filter(|n| set.contains(n))
                        .copied()
                        .collect::<Vec<_>>()
                };
                PartitionInfo {
                    sectors: p.sectors.iter().copied().collect(),
                    faulty: pick(&self.faults),
                    recovering: pick(&self.recovering),
                    active: p
                        .sectors
                        .iter()
                        .filter(|n| !self.faults.contains(n) || self.recovering.contains(n))
                        .copied()
                        .collect(),
                }
            })
            .collect()
    }

    pub(crate) fn partition(&self, deadline: u64, index: u64) -> Option<&PartitionState> {
        self.deadlines.get(&deadline)?.get(index as usize)
    }
}

impl MinerActor {
    /// Checks a `SubmitWindowedPoSt` against the deadline open at
    /// `ctx.epoch`.
    pub(crate) fn plan_window_post(
        &self,
        sub: &WindowPoStSubmission,
        ctx: ExecContext<'_>,
    ) -> Result<Plan, MessageFailure> {
        let illegal = |m: String| fail(SUBMIT_POST, ActorError::IllegalArgument(m));
        let dl = ctx.proving.deadline_at(self.id, ctx.epoch);
        if sub.deadline != dl.index {
            return Err(fail(
                SUBMIT_POST,
                ActorError::Forbidden(format!(
                    "deadline {} is not open: at epoch {} deadline {} is (epochs {}..{})",
                    sub.deadline, ctx.epoch, dl.index, dl.open, dl.close
                )),
            ));
        }
        if sub.chain_commit_epoch >= ctx.epoch || sub.chain_commit_epoch < dl.challenge {
            return Err(illegal(format!(
                "chain commit epoch {} must be in [{}, {})",
                sub.chain_commit_epoch, dl.challenge, ctx.epoch
            )));
        }
        let commit_rand = draw_randomness(
            ctx.seed,
            RandomnessSource::Tickets,
            DomainSeparationTag::PoStChainCommit,
            sub.chain_commit_epoch,
            &[],
        );
        if commit_rand != sub.chain_commit_rand {
            return Err(illegal(format!(
                "chain commit randomness does not match the ticket at epoch {}",
                sub.chain_commit_epoch
            )));
        }
        if sub.partitions.is_empty() {
            return Err(illegal("no partitions".into()));
        }
        let already = self
            .proving
            .posts
            .get(&dl.index)
            .filter(|p| p.period_start == dl.period_start);
        let mut seen = BTreeSet::new();
        let mut proven = Vec::new();
        let mut skipped = Vec::new();
        for part in &sub.partitions {
            if !seen.insert(part.index) {
                return Err(illegal(format!("partition {} appears twice", part.index)));
            }
            if already.is_some_and(|p| p.partitions.contains(&part.index)) {
                return Err(illegal(format!(
                    "partition {} of deadline {} is already proven this period",
                    part.index, dl.index
                )));
            }
            let Some(state) = self.proving.partition(dl.index, part.index) else {
                return Err(fail(
                    SUBMIT_POST,
                    ActorError::NotFound(format!(
                        "deadline {} has no partition {}",
                        dl.index, part.index
                    )),
                ));
            };
            if let Some(n) = part.skipped.iter().find(|n| !state.sectors.contains(n)) {
                return Err(illegal(format!(
                    "skipped sector {n} is not in partition {}",
                    part.index
                )));
            }
            skipped.extend(part.skipped.iter().copied());
            // As the actor: the proof covers the active sectors (not
            // faulty, or faulty and declared recovered) less the skipped.
            let st = &self.proving;
            proven.extend(
                state
                    .sectors
                    .iter()
                    .filter(|n| !st.faults.contains(n) || st.recovering.contains(n))
                    .filter(|n| !part.skipped.contains(n))
                    .copied(),
            );
        }
        proven.sort();
        let sectors = proven
            .iter()
            .filter_map(|n| self.sectors.get(n))
            .map(|s| PoStSector {
                number: s.number,
                seal_proof: s.seal_proof,
                comm_r: s.sealed_cid,
                sector_key: s.sector_key,
            })
            .collect();
        let randomness = draw_randomness(
            ctx.seed,
            RandomnessSource::Beacon,
            DomainSeparationTag::WindowedPoStChallengeSeed,
            dl.challenge,
            &self.id.address_cbor(),
        );
        Ok(Plan::WindowPoSt(PendingPoSt {
            info: WindowPoStVerifyInfo {
                miner: self.id,
                randomness,
                sectors,
                proofs: sub.proofs.clone(),
            },
            deadline: dl.index,
            period_start: dl.period_start,
            partitions: sub.partitions.iter().map(|p| p.index).collect(),
            skipped,
        }))
    }

    /// Checks fault or recovery declarations.
    pub(crate) fn plan_declarations(
        &self,
        decls: &[SectorsDeclaration],
        recovered: bool,
    ) -> Result<Plan, MessageFailure> {
        let method = if recovered {
            DECLARE_RECOVERED
        } else {
            DECLARE_FAULTS
        };
        let mut sectors = Vec::new();
        let mut failures = Vec::new();
        for d in decls {
            let Some(state) = self.proving.partition(d.deadline, d.partition) else {
                failures.push(ActorError::NotFound(format!(
                    "deadline {} has no partition {}",
                    d.deadline, d.partition
                )));
                continue;
            };
            for n in &d.sectors {
                if !state.sectors.contains(n) {
                    failures.push(ActorError::IllegalArgument(format!(
                        "sector {n} is not in deadline {} partition {}",
                        d.deadline, d.partition
                    )));
                } else if recovered && !self.proving.faults.contains(n) {
                    failures.push(ActorError::IllegalArgument(format!(
                        "sector {n} is not faulty: nothing to recover"
                    )));
                } else {
                    sectors.push(*n);
                }
            }
        }
        let sectors = MessageFailure::check(method, sectors, failures, "no sectors declared")?;
        Ok(if recovered {
            Plan::Recoveries(sectors)
        } else {
            Plan::Faults(sectors)
        })
    }

    /// Checks snap-up updates.
    pub(crate) fn plan_replica_updates(
        &self,
        updates: &[ReplicaUpdateParams],
    ) -> Result<Plan, MessageFailure> {
        if updates.is_empty() {
            return Err(fail(
                PROVE_UPDATES,
                ActorError::IllegalArgument("no updates".into()),
            ));
        }
        let mut seen = BTreeSet::new();
        let mut failures = Vec::new();
        let mut planned = Vec::new();
        for u in updates {
            let n = u.sector_number;
            let Some(sector) = self.sectors.get(&n) else {
                failures.push(ActorError::NotFound(format!("sector {n} is not proven")));
                continue;
            };
            let problem = if !seen.insert(n) {
                Some(format!("sector {n} appears twice"))
            } else if u.seal_proof != sector.seal_proof {
                Some(format!(
                    "sector {n} was sealed with {}, not {}",
                    sector.seal_proof, u.seal_proof
                ))
            } else if self.proving.location(n) != Some((u.deadline, u.partition)) {
                Some(format!(
                    "sector {n} is not in deadline {} partition {} (it is in {:?})",
                    u.deadline,
                    u.partition,
                    self.proving.location(n)
                ))
            } else if self.proving.faults.contains(&n) {
                Some(format!("sector {n} is faulty"))
            } else if self.proving.updated.contains_key(&n) {
                Some(format!("sector {n} already holds data (updated before)"))
            } else {
                None
            };
            if let Some(m) = problem {
                failures.push(ActorError::IllegalArgument(m));
                continue;
            }
            planned.push(PendingUpdate {
                info: ReplicaUpdateVerifyInfo {
                    seal_proof: sector.seal_proof,
                    comm_r_old: sector.sealed_cid,
                    comm_r_new: u.new_sealed_cid,
                    comm_d_new: u.new_unsealed_cid,
                    proof: u.proof.clone(),
                },
                number: n,
            });
        }
        if failures.is_empty() {
            Ok(Plan::ReplicaUpdates(planned))
        } else {
            Err(MessageFailure {
                method: PROVE_UPDATES,
                failures,
            })
        }
    }

    /// Applies a verified WindowPoSt: skipped sectors become faulty, proven
    /// ones recover.
    pub(crate) fn apply_post(&mut self, post: PendingPoSt) {
        let st = &mut self.proving;
        for n in &post.skipped {
            st.faults.insert(*n);
            st.recovering.remove(n);
        }
        for s in &post.info.sectors {
            st.faults.remove(&s.number);
            st.recovering.remove(&s.number);
        }
        let entry = st.posts.entry(post.deadline).or_default();
        if entry.period_start != post.period_start {
            *entry = ProvenPartitions {
                period_start: post.period_start,
                partitions: BTreeSet::new(),
            };
        }
        entry.partitions.extend(post.partitions);
    }

    /// Applies verified snap-up updates.
    pub(crate) fn apply_updates(&mut self, updates: Vec<PendingUpdate>) {
        for u in updates {
            if let Some(s) = self.sectors.get_mut(&u.number) {
                s.sector_key = Some(s.sealed_cid);
                s.sealed_cid = u.info.comm_r_new;
            }
            self.proving.updated.insert(u.number, u.info.comm_d_new);
        }
    }

    /// End of epoch `epoch`: if a deadline closed, the sectors of its
    /// partitions that were due and not proven this period become faulty.
    /// Returns the sectors newly marked.
    pub(crate) fn deadline_cron(
        &mut self,
        epoch: ChainEpoch,
        policy: &ProvingPolicy,
    ) -> Vec<SectorNumber> {
        let now = policy.deadline_at(self.id, epoch);
        if now.open != epoch || epoch == 0 {
            return Vec::new();
        }
        let closed = policy.deadline_at(self.id, epoch - 1);
        let proven = self
            .proving
            .posts
            .get(&closed.index)
            .filter(|p| p.period_start == closed.period_start)
            .map(|p| p.partitions.clone())
            .unwrap_or_default();
        let mut marked = Vec::new();
        let Some(parts) = self.proving.deadlines.get(&closed.index) else {
            return marked;
        };
        let mut lapsed = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            if proven.contains(&(i as u64)) {
                continue;
            }
            for n in &part.sectors {
                // A recovery declared but not proven in time lapses.
                lapsed.push(*n);
                let due = self
                    .sectors
                    .get(n)
                    .is_some_and(|s| s.activation < closed.challenge);
                if due && !self.proving.faults.contains(n) {
                    marked.push(*n);
                }
            }
        }
        for n in &lapsed {
            self.proving.recovering.remove(n);
        }
        for n in &marked {
            self.proving.faults.insert(*n);
        }
        marked
    }

    /// The sectors a WinningPoSt at `epoch` may challenge: proven before
    /// it and not faulty, ascending.
    pub(crate) fn eligible_sectors(&self, epoch: ChainEpoch) -> Vec<PoStSector> {
        self.sectors
            .values()
            .filter(|s| s.activation < epoch && !self.proving.faults.contains(&s.number))
            .map(|s| PoStSector {
                number: s.number,
                seal_proof: s.seal_proof,
                comm_r: s.sealed_cid,
                sector_key: s.sector_key,
            })
            .collect()
    }
}
