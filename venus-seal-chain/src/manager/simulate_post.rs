//! A WindowPoSt simulation (damocles' `util sealer proving simulate-wdpost`):
//! one deadline of a miner proven now, with a chosen challenge or a fresh
//! one, on the scheduler's own executors, locator, limits and locks, each
//! partition timed; nothing is sent. An operator learns before the
//! deadline whether its proof can be made, and how long it takes.

use std::time::{Duration, Instant};

use tracing::info;
use venus_seal_core::proving::SkippedSector;
use venus_seal_core::{ActorId, DomainSeparationTag, Randomness, RandomnessSource, SectorNumber};

use super::{PoStScheduleError, WindowPoStScheduler};

/// What proving one partition found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimulatedPartition {
    /// The partition index.
    pub index: u64,
    /// The sectors proven.
    pub proven: Vec<SectorNumber>,
    /// The sectors a real proof would skip (declared faulty), and why.
    pub skipped: Vec<SkippedSector>,
    /// How long its proof took.
    pub took: Duration,
    /// The bytes of its proofs.
    pub proof_bytes: usize,
}

/// A simulated WindowPoSt of one deadline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimulatedPoSt {
    /// The miner.
    pub miner: ActorId,
    /// The deadline.
    pub deadline: u64,
    /// The challenge used.
    pub randomness: Randomness,
    /// Each partition with active sectors.
    pub partitions: Vec<SimulatedPartition>,
    /// How long the whole simulation took.
    pub took: Duration,
}

impl WindowPoStScheduler {
    /// Proves `miner`'s `deadline` now with `randomness` (none: the beacon's
    /// WindowPoSt challenge at the epoch before the head, entropy the
    /// miner), partition by partition, through the WindowPoSt executor;
    /// sends nothing. A deadline index past the miner's deadlines is
    /// refused; a failing executor fails the simulation as it would fail
    /// the real proof.
    pub async fn simulate_window_post(
        &self,
        miner: ActorId,
        deadline: u64,
        randomness: Option<Randomness>,
    ) -> Result<SimulatedPoSt, PoStScheduleError> {
        let chain_err = |source| PoStScheduleError::Chain { miner, source };
        let dl = self.deadline(miner).await?;
        if deadline >= dl.deadlines.max(1) {
            return Err(chain_err(venus_seal_core::ChainError::Rejected(format!(
                "deadline {deadline} does not exist: {miner} has deadlines 0 to {}",
                dl.deadlines.max(1) - 1
            ))));
        }
        let randomness = match randomness {
            Some(r) => r,
            None => self
                .chain
                .randomness(
                    RandomnessSource::Beacon,
                    DomainSeparationTag::WindowedPoStChallengeSeed,
                    (dl.current_epoch - 1).max(0),
                    &miner.address_cbor(),
                )
                .await
                .map_err(chain_err)?,
        };
        let started = Instant::now();
        let partitions = self
            .chain
            .deadline_partitions(miner, deadline)
            .await
            .map_err(chain_err)?;
        let mut out = SimulatedPoSt {
            miner,
            deadline,
            randomness,
            partitions: Vec::new(),
            took: Duration::ZERO,
        };
        for (index, partition) in partitions.iter().enumerate() {
            if partition.active.is_empty() {
                continue;
            }
            let index = index as u64;
            let proving = Instant::now();
            let output = self
                .prove_partition(miner, deadline, index, &partition.active, randomness, None)
                .await?;
            out.partitions.push(SimulatedPartition {
                index,
                proven: output.proven,
                skipped: output.skipped,
                took: proving.elapsed(),
                proof_bytes: output.proofs.iter().map(|p| p.proof.len()).sum(),
            });
        }
        out.took = started.elapsed();
        info!(%miner, deadline, partitions = out.partitions.len(), took = ?out.took,
              "WindowPoSt simulated (nothing sent)");
        Ok(out)
    }
}
