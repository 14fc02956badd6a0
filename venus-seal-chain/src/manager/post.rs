//! The WindowPoSt scheduler: follows each miner's proving deadlines on the
//! chain, proves every partition of the open deadline with the
//! [`WindowPoSt`] stage on an executor and submits `SubmitWindowedPoSt`,
//! one message per partition.
//!
//! A partition whose message lands with a non-zero exit code, or is
//! dropped from the message pool, is proven and sent again at the next
//! tick while its deadline is still open (the message must execute
//! before the deadline closes); after that the chain records its sectors
//! faulty and the recovery path below takes over.
//!
//! Only the active sectors of a partition are proven (as the actor
//! expects). Sectors whose files are missing or corrupt are skipped by the
//! prover (never a failed partition) and listed as skipped in the message,
//! which makes the chain record them faulty. Each tick also checks the
//! faulty sectors of the deadline two ahead (whose fault cutoff has not
//! passed, as Lotus does) and declares recovered those whose files pass
//! the check ([`CheckProvable`]) again; proven at their next deadline,
//! they recover.
//!
//! Both steps are stages run through [`Executor`]s ([`PoStExecutors`]),
//! so whatever runs a sealing stage runs them: the manager proves in
//! process with `venus_seal_backends::LocalExecutor` over the stores
//! where the sectors are (mounted on the manager's host), an ext
//! processor (`window_post`) can take the job, and the `Limits` and
//! metrics decorators wrap either.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::lotus::derived_send_uid;
use futures_util::StreamExt;
use tokio::task::JoinHandle;
use tracing::{info, warn};
use venus_seal_core::chain::{
    DeadlineInfo, MessageId, MessageState, MinerCall, MinerMessage, PoStPartition,
    SectorsDeclaration, SendUid, WindowPoStSubmission,
};
use venus_seal_core::proving::{
    locate_for_proving, PoStSector, ProvingSector, SectorLocator, SkippedSector,
};
use venus_seal_core::stage::{CheckProvable, WindowPoSt};
use venus_seal_core::{
    ActorId, ChainClient, ChainEpoch, ChainError, DomainSeparationTag, DynExecutor, Executor,
    FailureLevel, Leveled, MessageSender, RandomnessSource, SectorId, SectorNumber, StageError,
};

#[path = "readiness.rs"]
pub(super) mod readiness;
#[path = "simulate_post.rs"]
pub(super) mod simulate;

/// Why a WindowPoSt round failed (the partitions not submitted are tried
/// again at the next tick while the deadline is open).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoStScheduleError {
    /// The chain could not be read or the message not sent.
    #[error("WindowPoSt of {miner}: {source}")]
    Chain {
        /// The miner.
        miner: ActorId,
        /// The chain's error.
        #[source]
        source: ChainError,
    },
    /// The executor failed (parameters missing, the proof computation
    /// failed, an ext processor gone) — never because of a faulty sector.
    #[error("WindowPoSt of {miner} deadline {deadline} partition {partition}: {source}")]
    Proving {
        /// The miner.
        miner: ActorId,
        /// The deadline.
        deadline: u64,
        /// The partition.
        partition: u64,
        /// The executor's error.
        #[source]
        source: StageError,
    },
}

impl Leveled for PoStScheduleError {
    fn level(&self) -> FailureLevel {
        match self {
            PoStScheduleError::Chain { source, .. } => source.level(),
            PoStScheduleError::Proving { source, .. } => source.level(),
        }
    }
}

/// What was submitted for one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionPoSt {
    /// The partition index.
    pub index: u64,
    /// The sectors proven.
    pub proven: Vec<SectorNumber>,
    /// The sectors skipped as faulty, with reasons.
    pub skipped: Vec<SkippedSector>,
    /// The `SubmitWindowedPoSt` message.
    pub message: MessageId,
}

/// One deadline's WindowPoSt of one miner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoStRound {
    /// The miner.
    pub miner: ActorId,
    /// The deadline proven.
    pub deadline: DeadlineInfo,
    /// The partitions submitted at this tick.
    pub partitions: Vec<PartitionPoSt>,
    /// The partitions due but not sent at this tick, with why (proven
    /// again at the next tick while the deadline is open).
    pub unsent: Vec<(u64, String)>,
}

/// The partitions of a deadline this process submitted in a period, with
/// their messages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Submitted {
    period_start: ChainEpoch,
    deadline: u64,
    partitions: BTreeMap<u64, MessageId>,
    /// How many messages of each partition failed on chain or were
    /// dropped in this deadline: the next send is attempt `failed + 1`,
    /// under a uid of its own (the same uid would get the failed message
    /// back from the node).
    failed: BTreeMap<u64, u32>,
}

/// The executors the scheduler runs its stages on.
#[derive(Clone, Debug)]
pub struct PoStExecutors {
    /// Proves a partition.
    pub window_post: DynExecutor<WindowPoSt>,
    /// Checks faulty sectors' files before declaring them recovered.
    pub check: DynExecutor<CheckProvable>,
}

impl PoStExecutors {
    /// Both stages on one executor (e.g. `venus_seal_backends::LocalExecutor`).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use venus_seal_chain::PoStExecutors;
    /// # use venus_seal_chain::testing::FakePoStExecutor;
    /// let executors = PoStExecutors::of(Arc::new(FakePoStExecutor::default()));
    /// ```
    pub fn of<E>(executor: Arc<E>) -> Self
    where
        E: Executor<WindowPoSt> + Executor<CheckProvable> + 'static,
    {
        Self {
            window_post: executor.clone(),
            check: executor,
        }
    }
}

/// How a miner's last WindowPoSt round went (for an operator's view).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoStOutcome {
    /// The miner.
    pub miner: ActorId,
    /// The deadline it was for (`None`: the deadline could not be read).
    pub deadline: Option<u64>,
    /// When the round ended, in Unix seconds.
    pub at: u64,
    /// How long it took.
    pub took: Duration,
    /// The partitions submitted.
    pub partitions: usize,
    /// The sectors proven.
    pub proven: usize,
    /// The sectors skipped (declared faulty by the message).
    pub skipped: usize,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// How far a miner's open deadline is proven, as the scheduler last saw
/// it (for an operator's view and the "not sent" alert).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadlineProgress {
    /// The miner.
    pub miner: ActorId,
    /// The open deadline, at the scheduler's last look.
    pub deadline: DeadlineInfo,
    /// When it looked, in Unix seconds.
    pub at: u64,
    /// The partitions with sectors to prove.
    pub due: usize,
    /// How many of them are submitted (by this process or on chain).
    pub sent: usize,
}

/// What [`WindowPoStScheduler::check_deadline`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadlineCheck {
    /// The miner.
    pub miner: ActorId,
    /// The deadline checked.
    pub deadline: u64,
    /// The partitions read.
    pub partitions: usize,
    /// The active sectors checked.
    pub sectors: usize,
    /// The sectors that would be skipped, with the reason (not on chain,
    /// files missing or unreadable).
    pub bad: Vec<SkippedSector>,
    /// How long the check took.
    pub took: Duration,
}

/// Proves the open deadline of each miner, once per period; see the
/// module docs.
pub struct WindowPoStScheduler {
    chain: Arc<dyn ChainClient>,
    sender: Arc<dyn MessageSender>,
    executors: PoStExecutors,
    locator: Arc<dyn SectorLocator>,
    miners: Vec<ActorId>,
    submitted: Mutex<HashMap<ActorId, Submitted>>,
    /// (period start, open deadline) of each miner's last recovery check.
    declared: Mutex<HashMap<ActorId, (ChainEpoch, u64)>>,
    /// Each miner's last round that proved or failed.
    outcomes: Mutex<BTreeMap<ActorId, PoStOutcome>>,
    /// The last readiness check of each (miner, deadline).
    ready: Mutex<BTreeMap<(ActorId, u64), readiness::Readiness>>,
    /// Each miner's open deadline as last seen.
    progress: Mutex<BTreeMap<ActorId, DeadlineProgress>>,
    /// The automatic rebuild policy, if on: hears of every sector the
    /// check skips.
    rebuild: Option<super::rebuild::AutoRebuild>,
    /// How many partitions of a deadline are proven at once.
    parallel: usize,
}

impl fmt::Debug for WindowPoStScheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WindowPoStScheduler")
            .field("miners", &self.miners)
            .field("executors", &self.executors)
            .field("locator", &self.locator)
            .finish_non_exhaustive()
    }
}

impl WindowPoStScheduler {
    /// A scheduler for `miners`, reading deadlines from `chain`, finding
    /// sector files with `locator`, proving and checking on `executors`
    /// and sending through `sender`.
    pub fn new(
        chain: Arc<dyn ChainClient>,
        sender: Arc<dyn MessageSender>,
        executors: PoStExecutors,
        locator: Arc<dyn SectorLocator>,
        miners: Vec<ActorId>,
    ) -> Self {
        Self {
            chain,
            sender,
            executors,
            locator,
            miners,
            submitted: Mutex::new(HashMap::new()),
            declared: Mutex::new(HashMap::new()),
            outcomes: Mutex::new(BTreeMap::new()),
            ready: Mutex::new(BTreeMap::new()),
            progress: Mutex::new(BTreeMap::new()),
            rebuild: None,
            parallel: 1,
        }
    }

    /// Proves up to `n` partitions of a deadline at once, and every
    /// miner's deadline at once (default 1: one after another). Worth it
    /// when proofs go to several provers (proving workers through
    /// [`WindowPoStJobs`](venus_seal_core::post_jobs::WindowPoStJobs), a
    /// remote proving service with several nodes): each partition is sent
    /// as soon as it is proven, so a slow one never holds back the others.
    pub fn with_parallel_partitions(mut self, n: usize) -> Self {
        self.parallel = n.max(1);
        self
    }

    /// Hands every sector the check skips (while proving a deadline, or
    /// still failing when its recovery is checked) to `policy`, which
    /// asks for a rebuild where that is safe.
    pub fn with_auto_rebuild(mut self, policy: super::rebuild::AutoRebuild) -> Self {
        self.rebuild = Some(policy);
        self
    }

    /// Tells the rebuild policy, if any, of `skipped`, in the background:
    /// its reads (records, files, pieces) never delay a proof.
    async fn hand_to_rebuild(&self, miner: ActorId, deadline: u64, skipped: &[SkippedSector]) {
        if let (Some(policy), false) = (&self.rebuild, skipped.is_empty()) {
            let (policy, skipped) = (policy.clone(), skipped.to_vec());
            tokio::spawn(async move {
                let asked = policy.skipped(miner, deadline, &skipped).await;
                if !asked.is_empty() {
                    info!(%miner, deadline, sectors = ?asked, "automatic rebuild requested for sectors whose files are gone");
                }
            });
        }
    }

    /// The miners it proves for.
    pub fn miners(&self) -> &[ActorId] {
        &self.miners
    }

    /// Each miner's last round that submitted a partition or failed (a
    /// tick with nothing due leaves it as it was), in miner order.
    pub fn last_outcomes(&self) -> Vec<PoStOutcome> {
        let held = self.outcomes.lock().unwrap_or_else(PoisonError::into_inner);
        held.values().cloned().collect()
    }

    /// A dry run of `miner`'s `deadline`: reads its partitions and checks
    /// the files of every active sector with the [`CheckProvable`] stage,
    /// as a WindowPoSt would read them; sends nothing.
    pub async fn check_deadline(
        &self,
        miner: ActorId,
        deadline: u64,
    ) -> Result<DeadlineCheck, PoStScheduleError> {
        let started = Instant::now();
        let partitions = self
            .chain
            .deadline_partitions(miner, deadline)
            .await
            .map_err(|source| PoStScheduleError::Chain { miner, source })?;
        let mut check = DeadlineCheck {
            miner,
            deadline,
            partitions: partitions.len(),
            sectors: 0,
            bad: Vec::new(),
            took: Duration::ZERO,
        };
        for (index, p) in partitions.iter().enumerate() {
            check.sectors += p.active.len();
            let (sectors, skipped) = self.proving_sectors(miner, &p.active).await?;
            check.bad.extend(skipped);
            if sectors.is_empty() {
                continue;
            }
            let bad = self
                .executors
                .check
                .execute(CheckProvable { miner, sectors })
                .await
                .map_err(|source| PoStScheduleError::Proving {
                    miner,
                    deadline,
                    partition: index as u64,
                    source,
                })?;
            check.bad.extend(bad);
        }
        check.bad.sort_by_key(|s| s.number);
        check.took = started.elapsed();
        info!(%miner, deadline, sectors = check.sectors, bad = check.bad.len(), took = ?check.took, "WindowPoSt check (dry run)");
        Ok(check)
    }

    /// Each miner's open deadline as the scheduler last saw it: how many
    /// partitions are due and how many are sent.
    pub fn progress(&self) -> Vec<DeadlineProgress> {
        let held = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
        held.values().cloned().collect()
    }

    fn record_progress(&self, miner: ActorId, dl: &DeadlineInfo, due: usize, sent: usize) {
        let mut held = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
        held.insert(
            miner,
            DeadlineProgress {
                miner,
                deadline: *dl,
                at: super::unix_now(),
                due,
                sent,
            },
        );
    }

    fn record_outcome(&self, outcome: PoStOutcome) {
        let mut held = self.outcomes.lock().unwrap_or_else(PoisonError::into_inner);
        held.insert(outcome.miner, outcome);
    }

    /// Proves what is due for every miner now. A miner whose round fails
    /// does not stop the others; the first error is returned after all
    /// were tried, and the failed partitions are tried again next tick.
    pub async fn tick(&self) -> Result<Vec<PoStRound>, PoStScheduleError> {
        // With several provers (`with_parallel_partitions`), every miner's
        // deadline at once: one miner's slow proof never makes another
        // miss its deadline. Otherwise one after another.
        let at_once = if self.parallel > 1 {
            self.miners.len().max(1)
        } else {
            1
        };
        let miners: Vec<ActorId> = self.miners.clone();
        let results: Vec<_> = futures_util::stream::iter(miners)
            .map(|m| self.tick_miner(m))
            .buffered(at_once)
            .collect()
            .await;
        let mut rounds = Vec::new();
        let mut first_error = None;
        for (round, errors) in results {
            rounds.extend(round);
            for e in errors {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) if rounds.is_empty() => Err(e),
            _ => Ok(rounds),
        }
    }

    /// One miner's part of a [`tick`](Self::tick): its open deadline
    /// proven (the outcome recorded), then its recoveries declared.
    async fn tick_miner(&self, miner: ActorId) -> (Option<PoStRound>, Vec<PoStScheduleError>) {
        let started = Instant::now();
        let outcome = |deadline, error| PoStOutcome {
            miner,
            deadline,
            at: super::unix_now(),
            took: started.elapsed(),
            partitions: 0,
            proven: 0,
            skipped: 0,
            error,
        };
        let mut errors = Vec::new();
        let mut proven = None;
        match self.prove_open_deadline(miner).await {
            Ok(Some(round)) => {
                let parts = &round.partitions;
                // Some partitions sent, others not: a failed round for the
                // operator's view (and not a proving time to predict from).
                let error = (!round.unsent.is_empty()).then(|| {
                    round
                        .unsent
                        .iter()
                        .map(|(index, why)| format!("partition {index} not sent: {why}"))
                        .collect::<Vec<_>>()
                        .join("; ")
                });
                self.record_outcome(PoStOutcome {
                    partitions: parts.len(),
                    proven: parts.iter().map(|p| p.proven.len()).sum(),
                    skipped: parts.iter().map(|p| p.skipped.len()).sum(),
                    ..outcome(Some(round.deadline.index), error)
                });
                proven = Some(round);
            }
            Ok(None) => {}
            Err(e) => {
                warn!(%miner, level = %e.level(), error = %e, "WindowPoSt round failed");
                let deadline = match &e {
                    PoStScheduleError::Proving { deadline, .. } => Some(*deadline),
                    _ => None,
                };
                self.record_outcome(outcome(deadline, Some(e.to_string())));
                errors.push(e);
            }
        }
        if let Err(e) = self.declare_recoveries(miner).await {
            warn!(%miner, level = %e.level(), error = %e, "declaring recoveries failed");
            errors.push(e);
        }
        (proven, errors)
    }

    /// Runs [`tick`](Self::tick) every `interval` until the handle is
    /// aborted.
    pub fn spawn(self: Arc<Self>, interval: Duration) -> JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                // Errors are logged by tick; the next tick retries.
                let _ = self.tick().await;
                tokio::time::sleep(interval).await;
            }
        })
    }

    /// Proves the partitions of `miner`'s open deadline not yet submitted
    /// this period. `None` when there is nothing to do.
    pub async fn prove_open_deadline(
        &self,
        miner: ActorId,
    ) -> Result<Option<PoStRound>, PoStScheduleError> {
        let chain_err = |source| PoStScheduleError::Chain { miner, source };
        let dl = self.deadline(miner).await?;
        // The message executes at the next epoch: it must still be open.
        if too_late(dl.current_epoch, dl.close) || dl.current_epoch < dl.challenge {
            return Ok(None);
        }
        // What this process sent (less what failed on chain or was
        // dropped: proven and sent again while the deadline is open), and
        // what the chain already accepted (another process, or this one
        // before a restart).
        self.forget_failed(miner, &dl).await;
        let mut done = self.done(miner, &dl);
        done.extend(
            self.chain
                .deadline_post_submissions(miner, dl.index)
                .await
                .map_err(chain_err)?,
        );
        let partitions = self
            .chain
            .deadline_partitions(miner, dl.index)
            .await
            .map_err(chain_err)?;
        let due = partitions.iter().filter(|p| !p.active.is_empty()).count();
        let todo: Vec<_> = partitions
            .into_iter()
            .enumerate()
            .filter(|(i, p)| !done.contains(&(*i as u64)) && !p.active.is_empty())
            .collect();
        self.record_progress(miner, &dl, due, due - todo.len());
        if todo.is_empty() {
            return Ok(None);
        }
        let mut sent = due - todo.len();
        let randomness = self
            .chain
            .randomness(
                RandomnessSource::Beacon,
                DomainSeparationTag::WindowedPoStChallengeSeed,
                dl.challenge,
                &miner.address_cbor(),
            )
            .await
            .map_err(chain_err)?;
        let commit_epoch = dl.current_epoch;
        let commit_rand = self
            .chain
            .randomness(
                RandomnessSource::Tickets,
                DomainSeparationTag::PoStChainCommit,
                commit_epoch,
                &[],
            )
            .await
            .map_err(chain_err)?;

        let mut round = PoStRound {
            miner,
            deadline: dl,
            partitions: Vec::new(),
            unsent: Vec::new(),
        };
        // Proven `parallel` at a time, each sent as soon as it is proven
        // (whichever comes first: a slow partition never holds back the
        // others); a partition that fails is proven again at the next
        // tick.
        let mut proofs = futures_util::stream::iter(todo.into_iter().map(|(index, partition)| {
            let index = index as u64;
            async move {
                let output = self
                    .prove_partition(
                        miner,
                        dl.index,
                        index,
                        &partition.active,
                        randomness,
                        Some(dl.close),
                    )
                    .await;
                (index, output)
            }
        }))
        .buffer_unordered(self.parallel);
        let mut failed = None;
        let mut fail = |round: &mut PoStRound, index: u64, e: PoStScheduleError| {
            warn!(%miner, deadline = dl.index, partition = index, error = %e,
                  "WindowPoSt of a partition not sent: tried again at the next tick");
            round.unsent.push((index, e.to_string()));
            failed.get_or_insert(e);
        };
        while let Some((index, output)) = proofs.next().await {
            let output = match output {
                Ok(output) => output,
                Err(e) => {
                    fail(&mut round, index, e);
                    continue;
                }
            };
            // Too late to land in its deadline: sending would only fail
            // on chain. (A head that cannot be read now: sent anyway, the
            // chain refuses it if it is late.)
            match self.chain.head().await {
                Ok(head) if too_late(head, dl.close) => {
                    let late = StageError::Unavailable(format!(
                        "proven at epoch {head}, after deadline {} closed at {}",
                        dl.index, dl.close
                    ));
                    let e = PoStScheduleError::Proving {
                        miner,
                        deadline: dl.index,
                        partition: index,
                        source: late,
                    };
                    fail(&mut round, index, e);
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    warn!(%miner, error = %e, "the head cannot be read before sending a WindowPoSt: sent anyway")
                }
            }
            let skipped = output.skipped;
            let call = MinerCall::SubmitWindowedPoSt(WindowPoStSubmission {
                deadline: dl.index,
                partitions: vec![PoStPartition {
                    index,
                    skipped: skipped.iter().map(|s| s.number).collect(),
                }],
                proofs: output.proofs,
                chain_commit_epoch: commit_epoch,
                chain_commit_rand: commit_rand,
            });
            let attempt = self.failed_attempts(miner, &dl, index) + 1;
            let uid = post_uid("SubmitWindowedPoSt", miner, &dl, dl.index, index, attempt);
            let message = match self.sender.send(&uid, MinerMessage::new(miner, call)).await {
                Ok(message) => message,
                // The other partitions' proofs are still sent.
                Err(e) => {
                    fail(&mut round, index, chain_err(e));
                    continue;
                }
            };
            info!(%miner, deadline = dl.index, partition = index, proven = output.proven.len(),
                  skipped = ?skipped, message = %message.0, "WindowPoSt submitted");
            self.mark(miner, &dl, index, &message);
            self.hand_to_rebuild(miner, dl.index, &skipped).await;
            sent += 1;
            self.record_progress(miner, &dl, due, sent);
            round.partitions.push(PartitionPoSt {
                index,
                proven: output.proven,
                skipped,
                message,
            });
        }
        drop(proofs);
        round.partitions.sort_by_key(|p| p.index);
        round.unsent.sort();
        match failed {
            // Nothing sent: the round failed (recorded as such; the
            // partitions are tried again at the next tick).
            Some(e) if round.partitions.is_empty() => Err(e),
            // Some sent: the round is what was sent; the failed partition
            // is tried again at the next tick (and counted as not sent in
            // the deadline's progress until it is).
            _ => Ok(Some(round)),
        }
    }

    /// Proves the `active` sectors of one partition with `randomness`
    /// through the WindowPoSt executor: its output, with the sectors the
    /// locator could not find among the skipped, in sector order. With
    /// `close`, it stops waiting once the chain's head reaches the epoch
    /// before it (a proof sent after that cannot land in its deadline):
    /// dropping the executor's task withdraws it (a proving worker's job,
    /// a remote task).
    pub(super) async fn prove_partition(
        &self,
        miner: ActorId,
        deadline: u64,
        partition: u64,
        active: &[SectorNumber],
        randomness: venus_seal_core::Randomness,
        close: Option<ChainEpoch>,
    ) -> Result<venus_seal_core::proving::WindowPoStOutput, PoStScheduleError> {
        let (mut sectors, mut skipped) = self.proving_sectors(miner, active).await?;
        let mut output = loop {
            let prove = self.executors.window_post.execute(WindowPoSt {
                miner,
                deadline,
                partition,
                randomness,
                sectors: sectors.clone(),
            });
            let proven = match close {
                None => prove.await,
                Some(close) => tokio::select! {
                    proven = prove => proven,
                    () = self.deadline_closes(close) => Err(StageError::Unavailable(format!(
                        "deadline {deadline} closes at epoch {close} before the proof came back: stopped waiting"
                    ))),
                },
            };
            let mut output = proven.map_err(|source| PoStScheduleError::Proving {
                miner,
                deadline,
                partition,
                source,
            })?;
            // A prover that answers faults without proofs (damocles' does,
            // as do its wdpost workers) leaves the rest unproven: prove them
            // again without the faulty ones.
            let faulty: BTreeSet<SectorNumber> = output.skipped.iter().map(|s| s.number).collect();
            let rest: Vec<ProvingSector> = sectors
                .iter()
                .filter(|s| !faulty.contains(&s.sector.number))
                .cloned()
                .collect();
            if output.proofs.is_empty() && !rest.is_empty() && rest.len() < sectors.len() {
                info!(%miner, deadline, partition, faulty = ?faulty, rest = rest.len(),
                      "faulty sectors answered without proofs: proving the rest again");
                skipped.append(&mut output.skipped);
                sectors = rest;
                continue;
            }
            break output;
        };
        skipped.append(&mut output.skipped);
        skipped.sort_by_key(|s| s.number);
        output.skipped = skipped;
        Ok(output)
    }

    /// Resolves once the chain's head is at `close - 1` or later, looking
    /// every epoch (at most every 30 s; a head that cannot be read is
    /// looked at again).
    async fn deadline_closes(&self, close: ChainEpoch) {
        let started = Instant::now();
        let (every, delay) = match self.chain.network().await {
            Ok(n) => (
                Duration::from_secs(n.block_delay_secs.clamp(1, 30)),
                n.block_delay_secs,
            ),
            Err(_) => (Duration::from_secs(30), 30),
        };
        // While the head cannot be read, the clock stands in for it: the
        // epochs left when proving started, at the block delay.
        let mut left = None;
        loop {
            tokio::time::sleep(every).await;
            match self.chain.head().await {
                Ok(head) if too_late(head, close) => return,
                Ok(head) => {
                    let epochs = u64::try_from(close - 1 - head).unwrap_or(0);
                    left.get_or_insert(
                        Duration::from_secs(epochs * delay.max(1)) + started.elapsed(),
                    );
                }
                Err(e) => {
                    if left.is_some_and(|left| started.elapsed() >= left) {
                        warn!(close, error = %e, "the head cannot be read and the deadline's time is up: stopped waiting");
                        return;
                    }
                }
            }
        }
    }

    async fn deadline(&self, miner: ActorId) -> Result<DeadlineInfo, PoStScheduleError> {
        self.chain
            .proving_deadline(miner)
            .await
            .map_err(|source| PoStScheduleError::Chain { miner, source })
    }

    /// Declares recovered the faulty sectors of `miner`'s deadline two
    /// after the open one (whose fault cutoff has not passed, as Lotus
    /// does) whose files pass the [`CheckProvable`] stage, once per deadline and
    /// period. Returns the `DeclareFaultsRecovered` message, if one was
    /// sent.
    pub async fn declare_recoveries(
        &self,
        miner: ActorId,
    ) -> Result<Option<MessageId>, PoStScheduleError> {
        let chain_err = |source| PoStScheduleError::Chain { miner, source };
        let dl = self.deadline(miner).await?;
        let key = (dl.period_start, dl.index);
        if self.lock_declared().get(&miner) == Some(&key) {
            return Ok(None);
        }
        let target = (dl.index + 2) % dl.deadlines.max(1);
        let partitions = self
            .chain
            .deadline_partitions(miner, target)
            .await
            .map_err(chain_err)?;
        let mut declarations = Vec::new();
        for (index, p) in partitions.iter().enumerate() {
            let faulty: Vec<_> = p
                .faulty
                .iter()
                .filter(|n| !p.recovering.contains(n))
                .copied()
                .collect();
            if faulty.is_empty() {
                continue;
            }
            let (sectors, unlocated) = self.proving_sectors(miner, &faulty).await?;
            let bad = self
                .executors
                .check
                .execute(CheckProvable {
                    miner,
                    sectors: sectors.clone(),
                })
                .await
                .map_err(|source| PoStScheduleError::Proving {
                    miner,
                    deadline: target,
                    partition: index as u64,
                    source,
                })?;
            let still_bad: Vec<_> = unlocated.into_iter().chain(bad.iter().cloned()).collect();
            self.hand_to_rebuild(miner, target, &still_bad).await;
            let healthy: Vec<_> = sectors
                .iter()
                .map(|s| s.sector.number)
                .filter(|n| !bad.iter().any(|b| b.number == *n))
                .collect();
            if !healthy.is_empty() {
                declarations.push(SectorsDeclaration {
                    deadline: target,
                    partition: index as u64,
                    sectors: healthy,
                });
            }
        }
        let message = if declarations.is_empty() {
            None
        } else {
            let call = MinerCall::DeclareFaultsRecovered(declarations.clone());
            let uid = post_uid("DeclareFaultsRecovered", miner, &dl, target, 0, 1);
            let id = self
                .sender
                .send(&uid, MinerMessage::new(miner, call))
                .await
                .map_err(chain_err)?;
            info!(%miner, deadline = target, ?declarations, message = %id.0, "recoveries declared");
            Some(id)
        };
        self.lock_declared().insert(miner, key);
        Ok(message)
    }

    fn lock_declared(&self) -> std::sync::MutexGuard<'_, HashMap<ActorId, (ChainEpoch, u64)>> {
        self.declared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The chain view and files of `numbers`; a sector the chain or the
    /// locator does not know is skipped with the reason.
    async fn proving_sectors(
        &self,
        miner: ActorId,
        numbers: &[SectorNumber],
    ) -> Result<(Vec<ProvingSector>, Vec<SkippedSector>), PoStScheduleError> {
        let mut sectors = Vec::with_capacity(numbers.len());
        let mut skipped = Vec::new();
        for n in numbers {
            let on_chain = self
                .chain
                .sector(miner, *n)
                .await
                .map_err(|source| PoStScheduleError::Chain { miner, source })?;
            let id = SectorId::new(miner, *n);
            let Some(s) = on_chain else {
                skipped.push(SkippedSector {
                    number: *n,
                    reason: format!("{id} is not on chain"),
                });
                continue;
            };
            let sector = PoStSector {
                number: s.number,
                seal_proof: s.seal_proof,
                comm_r: s.sealed_cid,
                sector_key: s.sector_key,
            };
            let Some(files) = locate_for_proving(&*self.locator, miner, &sector) else {
                skipped.push(SkippedSector {
                    number: *n,
                    reason: format!("{id}'s files are not located"),
                });
                continue;
            };
            sectors.push(ProvingSector { sector, files });
        }
        Ok((sectors, skipped))
    }

    fn lock_submitted(&self) -> std::sync::MutexGuard<'_, HashMap<ActorId, Submitted>> {
        self.submitted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The partitions of `dl` this process sent, with their messages.
    fn sent(&self, miner: ActorId, dl: &DeadlineInfo) -> BTreeMap<u64, MessageId> {
        self.lock_submitted()
            .get(&miner)
            .filter(|s| s.period_start == dl.period_start && s.deadline == dl.index)
            .map(|s| s.partitions.clone())
            .unwrap_or_default()
    }

    /// How many messages of `partition` failed in the deadline `dl`.
    fn failed_attempts(&self, miner: ActorId, dl: &DeadlineInfo, partition: u64) -> u32 {
        self.lock_submitted()
            .get(&miner)
            .filter(|s| s.period_start == dl.period_start && s.deadline == dl.index)
            .and_then(|s| s.failed.get(&partition).copied())
            .unwrap_or(0)
    }

    fn done(&self, miner: ActorId, dl: &DeadlineInfo) -> BTreeSet<u64> {
        self.sent(miner, dl).into_keys().collect()
    }

    fn mark(&self, miner: ActorId, dl: &DeadlineInfo, partition: u64, message: &MessageId) {
        let mut submitted = self.lock_submitted();
        let entry = submitted.entry(miner).or_default();
        if entry.period_start != dl.period_start || entry.deadline != dl.index {
            *entry = Submitted {
                period_start: dl.period_start,
                deadline: dl.index,
                partitions: BTreeMap::new(),
                failed: BTreeMap::new(),
            };
        }
        entry.partitions.insert(partition, message.clone());
    }

    /// Forgets the partitions of the open deadline `dl` whose message
    /// landed with a non-zero exit code or is no longer known to the node
    /// (dropped from the message pool), so that they are proven and sent
    /// again while the deadline is open. A message whose state cannot be
    /// read is assumed to stand (asked again next tick).
    async fn forget_failed(&self, miner: ActorId, dl: &DeadlineInfo) {
        for (partition, message) in self.sent(miner, dl) {
            let why = match self.sender.state(&message).await {
                Ok(MessageState::Landed {
                    exit_code, error, ..
                }) if exit_code != 0 => format!(
                    "it failed on chain with exit code {exit_code}: {}",
                    error.as_deref().unwrap_or("no reason given")
                ),
                Ok(MessageState::NotFound) => {
                    "the node no longer knows it (dropped from the message pool)".to_string()
                }
                Ok(_) => continue,
                Err(e) => {
                    warn!(%miner, deadline = dl.index, partition, message = %message.0, error = %e,
                          "cannot read the state of a WindowPoSt message; assuming it stands");
                    continue;
                }
            };
            warn!(%miner, deadline = dl.index, partition, message = %message.0, reason = %why,
                  "WindowPoSt message did not land: proving the partition again while its deadline is open");
            let mut submitted = self.lock_submitted();
            if let Some(entry) = submitted.get_mut(&miner) {
                if entry.partitions.get(&partition) == Some(&message) {
                    entry.partitions.remove(&partition);
                    *entry.failed.entry(partition).or_default() += 1;
                }
            }
        }
    }
}

/// The uid of attempt `attempt` (from 1) of a `method` message of `miner`
/// for `deadline` / `partition` in the proving period of `dl`: a
/// restarted manager recovers the attempt it already pushed (the sender
/// answers with that message), while the same declaration in a later
/// period, or a new attempt after a failure on chain, is a new message.
/// Whether a `SubmitWindowedPoSt` sent at `head` is too late for a
/// deadline closing at `close`: it executes at the next epoch, which must
/// be before the close.
fn too_late(head: ChainEpoch, close: ChainEpoch) -> bool {
    head + 1 >= close
}

fn post_uid(
    method: &str,
    miner: ActorId,
    dl: &DeadlineInfo,
    deadline: u64,
    partition: u64,
    attempt: u32,
) -> SendUid {
    derived_send_uid(&format!(
        "{method} miner {miner} period {} deadline {deadline} partition {partition} attempt {attempt}",
        dl.period_start
    ))
}
