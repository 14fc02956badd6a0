//! WindowPoSt readiness, ahead of time: before a deadline opens, read its
//! sectors' files (all, or a sample) with the [`CheckProvable`] stage one
//! sector at a time, time each read, predict the proof's duration from
//! those reads and the scheduler's recent rounds, and say whether it fits
//! the deadline's window. A slow or unreadable sector is named while there
//! is still time to move or repair it, instead of after the deadline was
//! missed.
//!
//! The prediction: the mean read of the sample times the deadline's active
//! sectors (a WindowPoSt reads every one), plus the proving time per
//! partition of the miner's last successful round times the partitions. It
//! fits when it stays within [`ReadinessPolicy::budget`] of the window.

use std::time::{Duration, Instant};

use tracing::{info, warn};
use venus_seal_core::proving::SkippedSector;
use venus_seal_core::stage::CheckProvable;
use venus_seal_core::{ActorId, ChainEpoch, SectorNumber};

use super::{PoStScheduleError, WindowPoStScheduler};

/// How far ahead and how thoroughly deadlines are checked.
#[derive(Clone, Debug, PartialEq)]
pub struct ReadinessPolicy {
    /// Deadlines opening within this many epochs are checked (once per
    /// proving period each).
    pub lead_epochs: ChainEpoch,
    /// Sectors read per deadline (0: every active sector).
    pub sample: usize,
    /// The length of an epoch (to turn the window into time).
    pub epoch: Duration,
    /// The share of the window a proof may take (e.g. 0.5: half, leaving
    /// the rest for the message to land).
    pub budget: f64,
    /// A sector whose read takes longer is named slow.
    pub slow_read: Duration,
}

/// One sector read by a readiness check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SectorRead {
    /// The sector.
    pub number: SectorNumber,
    /// How long its check took.
    pub took: Duration,
    /// Why it would be skipped, if it would.
    pub unreadable: Option<String>,
}

/// What a readiness check of one deadline found.
#[derive(Clone, Debug, PartialEq)]
pub struct Readiness {
    /// The miner.
    pub miner: ActorId,
    /// The deadline checked.
    pub deadline: u64,
    /// The epoch it opens at.
    pub opens: ChainEpoch,
    /// The epoch it closes at.
    pub closes: ChainEpoch,
    /// The head when checked.
    pub checked_at_epoch: ChainEpoch,
    /// When it was checked, in Unix seconds.
    pub checked_at: u64,
    /// The partitions of the deadline.
    pub partitions: usize,
    /// Its active sectors.
    pub sectors: usize,
    /// The sectors read, slowest first.
    pub reads: Vec<SectorRead>,
    /// The predicted proof duration.
    pub predicted: Duration,
    /// What the prediction may take: the window times the budget.
    pub allowed: Duration,
    /// Whether an earlier round gave a proving time (else the prediction
    /// is the reads alone).
    pub from_history: bool,
    /// The reads slower than [`ReadinessPolicy::slow_read`].
    pub slow: Vec<SectorNumber>,
}

impl Readiness {
    /// The prediction fits the window.
    pub fn fits(&self) -> bool {
        self.predicted <= self.allowed
    }

    /// The sectors a WindowPoSt would skip (declared faulty).
    pub fn unreadable(&self) -> Vec<&SectorRead> {
        self.reads
            .iter()
            .filter(|r| r.unreadable.is_some())
            .collect()
    }

    /// Nothing to worry about: it fits, nothing slow, nothing unreadable.
    pub fn is_ready(&self) -> bool {
        self.fits() && self.slow.is_empty() && self.unreadable().is_empty()
    }
}

impl WindowPoStScheduler {
    /// Checks, for every miner, the deadlines opening within
    /// `policy.lead_epochs` that were not checked yet this period; keeps
    /// each result ([`readiness`](Self::readiness)) and returns the new
    /// ones. A miner whose check fails is logged and tried again next time.
    pub async fn check_readiness(&self, policy: &ReadinessPolicy) -> Vec<Readiness> {
        let mut checked = Vec::new();
        for miner in self.miners.clone() {
            match self.upcoming(miner, policy).await {
                Ok(due) => {
                    for (deadline, opens, closes) in due {
                        match self
                            .read_deadline(miner, deadline, opens, closes, policy)
                            .await
                        {
                            Ok(r) => {
                                self.keep_readiness(r.clone());
                                checked.push(r);
                            }
                            Err(e) => {
                                warn!(%miner, deadline, error = %e, "WindowPoSt readiness check failed")
                            }
                        }
                    }
                }
                Err(e) => warn!(%miner, error = %e, "WindowPoSt readiness: deadlines unreadable"),
            }
        }
        checked
    }

    /// A dry run of `miner`'s `deadline` now, whatever its distance: every
    /// active sector read one at a time and timed (the operator's
    /// `proving check`), with the prediction for its next opening (the
    /// open one if it is open). Kept like an automatic check, so the
    /// console shows it. A deadline index past the miner's deadlines is
    /// refused.
    pub async fn check_deadline_reads(
        &self,
        miner: ActorId,
        deadline: u64,
        policy: &ReadinessPolicy,
    ) -> Result<Readiness, PoStScheduleError> {
        let dl = self.deadline(miner).await?;
        let n = dl.deadlines.max(1);
        if deadline >= n {
            return Err(PoStScheduleError::Chain {
                miner,
                source: venus_seal_core::ChainError::Rejected(format!(
                    "deadline {deadline} does not exist: {miner} has deadlines 0 to {}",
                    n - 1
                )),
            });
        }
        let width = (dl.close - dl.open).max(1);
        let ahead = (deadline + n - dl.index % n) % n;
        let opens = dl.open + ahead as ChainEpoch * width;
        let every = ReadinessPolicy {
            sample: 0,
            ..policy.clone()
        };
        let r = self
            .read_deadline(miner, deadline, opens, opens + width, &every)
            .await?;
        self.keep_readiness(r.clone());
        Ok(r)
    }

    /// Runs [`check_readiness`](Self::check_readiness) every `interval`
    /// until the handle is aborted.
    pub fn spawn_readiness(
        self: std::sync::Arc<Self>,
        policy: ReadinessPolicy,
        interval: Duration,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                self.check_readiness(&policy).await;
                tokio::time::sleep(interval).await;
            }
        })
    }

    /// The last readiness result of each (miner, deadline), in order.
    pub fn readiness(&self) -> Vec<Readiness> {
        let held = self.ready.lock().unwrap_or_else(|e| e.into_inner());
        held.values().cloned().collect()
    }

    fn keep_readiness(&self, r: Readiness) {
        let mut held = self.ready.lock().unwrap_or_else(|e| e.into_inner());
        held.insert((r.miner, r.deadline), r);
    }

    /// (deadline, opens, closes) of `miner`'s deadlines that open within
    /// the lead and were not checked for this opening.
    async fn upcoming(
        &self,
        miner: ActorId,
        policy: &ReadinessPolicy,
    ) -> Result<Vec<(u64, ChainEpoch, ChainEpoch)>, PoStScheduleError> {
        let dl = self.deadline(miner).await?;
        // A deadline that closed is no longer a worry.
        self.ready
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(m, _), r| *m != miner || r.closes > dl.current_epoch);
        let width = (dl.close - dl.open).max(1);
        let n = dl.deadlines.max(1);
        let held = self.readiness();
        let mut due = Vec::new();
        for k in 1..=n {
            let opens = dl.open + k as ChainEpoch * width;
            if opens - dl.current_epoch > policy.lead_epochs {
                break;
            }
            let index = (dl.index + k) % n;
            let done = held
                .iter()
                .any(|r| r.miner == miner && r.deadline == index && r.opens == opens);
            if !done {
                due.push((index, opens, opens + width));
            }
        }
        Ok(due)
    }

    /// Reads `deadline`'s sectors one at a time, timed, and predicts.
    async fn read_deadline(
        &self,
        miner: ActorId,
        deadline: u64,
        opens: ChainEpoch,
        closes: ChainEpoch,
        policy: &ReadinessPolicy,
    ) -> Result<Readiness, PoStScheduleError> {
        let chain_err = |source| PoStScheduleError::Chain { miner, source };
        let head = self.chain.head().await.map_err(chain_err)?;
        let partitions = self
            .chain
            .deadline_partitions(miner, deadline)
            .await
            .map_err(chain_err)?;
        let active: Vec<SectorNumber> = partitions.iter().flat_map(|p| p.active.clone()).collect();
        let sample = sample_of(&active, policy.sample);
        let (located, missing) = self.proving_sectors(miner, &sample).await?;
        let mut reads: Vec<SectorRead> = missing
            .into_iter()
            .map(|SkippedSector { number, reason }| SectorRead {
                number,
                took: Duration::ZERO,
                unreadable: Some(reason),
            })
            .collect();
        for sector in located {
            let number = sector.sector.number;
            let started = Instant::now();
            let checked = self
                .executors
                .check
                .execute(CheckProvable {
                    miner,
                    sectors: vec![sector],
                })
                .await;
            // A check that fails outright names the sector too: one bad
            // sector does not hide the rest of the deadline.
            let unreadable = match checked {
                Ok(bad) => bad.into_iter().next().map(|b| b.reason),
                Err(e) => Some(format!("the check failed: {e}")),
            };
            reads.push(SectorRead {
                number,
                took: started.elapsed(),
                unreadable,
            });
        }
        reads.sort_by(|a, b| b.took.cmp(&a.took).then(a.number.cmp(&b.number)));
        let timed: Vec<_> = reads.iter().filter(|r| r.unreadable.is_none()).collect();
        let mean_read = if timed.is_empty() {
            Duration::ZERO
        } else {
            timed.iter().map(|r| r.took).sum::<Duration>() / count(timed.len())
        };
        let per_partition = self.proving_time_per_partition(miner);
        let predicted = mean_read
            .saturating_mul(count(active.len()))
            .saturating_add(
                per_partition
                    .unwrap_or_default()
                    .saturating_mul(count(partitions.len())),
            );
        let window = policy.epoch.saturating_mul(count((closes - opens).max(0)));
        let readiness = Readiness {
            miner,
            deadline,
            opens,
            closes,
            checked_at_epoch: head,
            checked_at: crate::manager::unix_now(),
            partitions: partitions.len(),
            sectors: active.len(),
            slow: timed
                .iter()
                .filter(|r| r.took > policy.slow_read)
                .map(|r| r.number)
                .collect(),
            reads,
            predicted,
            allowed: window.mul_f64(policy.budget.clamp(0.0, 1.0)),
            from_history: per_partition.is_some(),
        };
        info!(%miner, deadline, opens, sectors = readiness.sectors, read = readiness.reads.len(),
              predicted = ?readiness.predicted, allowed = ?readiness.allowed,
              slow = ?readiness.slow, ready = readiness.is_ready(), "WindowPoSt readiness checked");
        Ok(readiness)
    }

    /// The proving time per partition of `miner`'s last successful round
    /// (another miner's when it has none), if any.
    fn proving_time_per_partition(&self, miner: ActorId) -> Option<Duration> {
        let outcomes = self.last_outcomes();
        let useful = |o: &&super::PoStOutcome| o.error.is_none() && o.partitions > 0;
        let last = outcomes
            .iter()
            .filter(useful)
            .find(|o| o.miner == miner)
            .or_else(|| outcomes.iter().find(useful))?;
        Some(last.took / count(last.partitions))
    }
}

/// `n` as a Duration multiplier or divisor (absurd counts saturate; the
/// callers divide only by counts they checked are not zero).
fn count<N: TryInto<u32>>(n: N) -> u32 {
    n.try_into().unwrap_or(u32::MAX)
}

/// At most `n` of `sectors` (all when `n` is 0), spread evenly.
fn sample_of(sectors: &[SectorNumber], n: usize) -> Vec<SectorNumber> {
    if n == 0 || sectors.len() <= n {
        return sectors.to_vec();
    }
    (0..n).map(|i| sectors[i * sectors.len() / n]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_is_spread_over_the_deadline() {
        let all: Vec<_> = (1..=10).map(SectorNumber).collect();
        assert_eq!(sample_of(&all, 0), all);
        assert_eq!(sample_of(&all, 20), all);
        let some = sample_of(&all, 3);
        assert_eq!(some, [SectorNumber(1), SectorNumber(4), SectorNumber(7)]);
    }
}
