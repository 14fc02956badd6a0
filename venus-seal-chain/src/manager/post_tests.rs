//! The WindowPoSt scheduler against the devnet, with the fake prover and
//! verifier.

use std::collections::BTreeMap;
use std::sync::Arc;

use venus_seal_core::chain::MessageState;
use venus_seal_core::engine::limits::{Limits, StageLimit};
use venus_seal_core::proving::{SectorDirs, SectorFiles, SectorLocator, WindowPoStOutput};
use venus_seal_core::stage::WindowPoSt;
use venus_seal_core::{
    ActorId, ChainClient, Executor, FailureLevel, Leveled, MessageSender, SectorId, SectorNumber,
    StageError,
};

use super::{PoStExecutors, PoStScheduleError, WindowPoStScheduler};
use crate::devnet::DevnetChain;
use crate::testing::{ChainTap, FakePoStExecutor, TappedChain};

const MINER: ActorId = ActorId(1000);

fn setup(sectors: u64) -> (Arc<DevnetChain>, Arc<FakePoStExecutor>, WindowPoStScheduler) {
    let chain = crate::testing::proving_devnet(MINER, sectors);
    let prover = Arc::new(FakePoStExecutor::default());
    let scheduler = scheduler_on(&chain, &prover);
    (chain, prover, scheduler)
}

/// A scheduler for [`MINER`] on `chain`, proving with `prover`.
fn scheduler_on(chain: &Arc<DevnetChain>, prover: &Arc<FakePoStExecutor>) -> WindowPoStScheduler {
    crate::testing::scheduler_on(chain, PoStExecutors::of(prover.clone()), MINER)
}

/// A scheduler for [`MINER`] whose reads of `slow` take 200 ms each.
fn slow_reads_on(
    chain: &Arc<DevnetChain>,
    prover: &Arc<FakePoStExecutor>,
    slow: SectorNumber,
) -> WindowPoStScheduler {
    let executors = PoStExecutors {
        window_post: prover.clone(),
        check: Arc::new(crate::testing::SlowReads {
            inner: prover.clone(),
            slow: [slow].into(),
            delay: std::time::Duration::from_millis(200),
        }),
    };
    crate::testing::scheduler_on(chain, executors, MINER)
}

/// Ticks the scheduler at every epoch for `epochs` epochs; returns the
/// number of partitions submitted and checks every message landed.
async fn run(chain: &DevnetChain, scheduler: &WindowPoStScheduler, epochs: u64) -> usize {
    let mut messages = Vec::new();
    for _ in 0..epochs {
        for round in scheduler.tick().await.unwrap() {
            messages.extend(round.partitions.into_iter().map(|p| p.message));
        }
        chain.advance(1).await;
    }
    for m in &messages {
        match chain.state(m).await.unwrap() {
            MessageState::Landed { exit_code: 0, .. } => {}
            other => panic!("{m:?}: {other:?}"),
        }
    }
    messages.len()
}

#[tokio::test]
async fn every_deadline_is_proven_once_per_period_and_nothing_turns_faulty() {
    let (chain, prover, scheduler) = setup(6);
    let period = chain.proving_policy().period as u64;
    // Sectors 1-4 in deadline 0, 5-6 in deadline 1: two partitions a period.
    let submitted = run(&chain, &scheduler, 2 * period + 1).await;
    assert!((4..=6).contains(&submitted), "{submitted}");
    assert_eq!(prover.window_posts(), submitted);
    assert!(chain.faults(MINER).unwrap().is_empty());
}

#[tokio::test]
async fn a_sector_with_bad_files_is_skipped_faulty_then_recovers() {
    let (chain, prover, scheduler) = setup(3);
    let period = chain.proving_policy().period as u64;
    prover.set_faulty(SectorNumber(2), true);
    run(&chain, &scheduler, period + 1).await;
    assert_eq!(chain.faults(MINER).unwrap(), vec![SectorNumber(2)]);
    let parts = chain.deadline_partitions(MINER, 0).await.unwrap();
    assert_eq!(parts[0].faulty, vec![SectorNumber(2)]);

    prover.set_faulty(SectorNumber(2), false);
    run(&chain, &scheduler, period + 1).await;
    assert!(chain.faults(MINER).unwrap().is_empty());
}

/// Answers faulty sectors as damocles' prover and wdpost workers do: the
/// faults and no proofs at all.
#[derive(Debug)]
struct FaultsWithoutProofs(Arc<FakePoStExecutor>);

#[async_trait::async_trait]
impl Executor<WindowPoSt> for FaultsWithoutProofs {
    async fn execute(&self, task: WindowPoSt) -> Result<WindowPoStOutput, StageError> {
        let mut out = self.0.execute(task).await?;
        if !out.skipped.is_empty() {
            out.proofs.clear();
            out.proven.clear();
        }
        Ok(out)
    }
}

/// A prover that answers faults without proofs: the partition's other
/// sectors are proven again without the faulty one, in the same round,
/// and the message lands (sending the faults alone would leave the rest
/// unproven: the chain refuses it, and every sector turns faulty).
#[tokio::test]
async fn faults_answered_without_proofs_are_proven_again_without_them() {
    let chain = crate::testing::proving_devnet(MINER, 3);
    let prover = Arc::new(FakePoStExecutor::default());
    prover.set_faulty(SectorNumber(2), true);
    let scheduler = crate::testing::scheduler_on(
        &chain,
        PoStExecutors {
            window_post: Arc::new(FaultsWithoutProofs(prover.clone())),
            check: prover.clone(),
        },
        MINER,
    );
    let period = chain.proving_policy().period as u64;
    let mut rounds = Vec::new();
    for _ in 0..=period {
        rounds.extend(scheduler.tick().await.unwrap());
        chain.advance(1).await;
        if !rounds.is_empty() {
            break;
        }
    }
    let partition = &rounds[0].partitions[0];
    assert_eq!(partition.proven, vec![SectorNumber(1), SectorNumber(3)]);
    assert_eq!(partition.skipped.len(), 1);
    assert_eq!(partition.skipped[0].number, SectorNumber(2));
    match chain.state(&partition.message).await.unwrap() {
        MessageState::Landed { exit_code: 0, .. } => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(chain.faults(MINER).unwrap(), vec![SectorNumber(2)]);
    assert_eq!(prover.window_posts(), 2, "proven twice: with, then without");
}

/// A proof that never comes back (a proving worker that beats but never
/// finishes, a hung GPU): nothing waits past the deadline's close.
#[derive(Debug, Default)]
struct Hangs {
    dropped: Arc<std::sync::atomic::AtomicBool>,
}

/// Sets its flag when dropped.
struct Flag(Arc<std::sync::atomic::AtomicBool>);

impl Drop for Flag {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl Executor<WindowPoSt> for Hangs {
    async fn execute(&self, _: WindowPoSt) -> Result<WindowPoStOutput, StageError> {
        let _flag = Flag(self.dropped.clone());
        std::future::pending().await
    }
}

/// Advances `chain` until `miner`'s deadline 0 is open for proving.
async fn to_open_deadline_0(chain: &DevnetChain) -> venus_seal_core::chain::DeadlineInfo {
    for _ in 0..2 * chain.proving_policy().period {
        let dl = chain.proving_deadline(MINER).await.unwrap();
        if dl.index == 0 && dl.current_epoch >= dl.challenge && dl.current_epoch + 1 < dl.close {
            return dl;
        }
        chain.advance(1).await;
    }
    panic!("deadline 0 never opened");
}

/// A partition whose proof does not come back holds the scheduler only
/// until its deadline closes: then it stops waiting (the executor's task
/// is dropped, which withdraws a proving worker's job) and the round
/// fails for that partition, so the other miners and deadlines go on.
#[tokio::test]
async fn a_proof_that_never_comes_back_is_given_up_when_its_deadline_closes() {
    let chain = crate::testing::proving_devnet(MINER, 3);
    let hangs = Arc::new(Hangs::default());
    let scheduler = Arc::new(crate::testing::scheduler_on(
        &chain,
        PoStExecutors {
            window_post: hangs.clone(),
            check: Arc::new(FakePoStExecutor::default()),
        },
        MINER,
    ));
    let dl = to_open_deadline_0(&chain).await;
    let proving = tokio::spawn({
        let scheduler = scheduler.clone();
        async move { scheduler.prove_open_deadline(MINER).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(
        !proving.is_finished(),
        "gave up while the deadline was open"
    );
    // Two epochs before the close a message can still land: it waits on.
    let head = chain.head().await.unwrap();
    chain.advance((dl.close - 2 - head) as u64).await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert!(!proving.is_finished(), "gave up at close - 2");
    let err = past_close(&chain, dl.close, proving).await.unwrap_err();
    assert!(err.to_string().contains("stopped waiting"), "{err}");
    assert!(hangs.dropped.load(std::sync::atomic::Ordering::SeqCst));
}

/// Advances `chain` to the epoch before `close` and answers what `task`
/// ends with (within 10 s: it must stop waiting once the deadline closes).
async fn past_close<T: Send + 'static>(
    chain: &DevnetChain,
    close: venus_seal_core::ChainEpoch,
    task: tokio::task::JoinHandle<T>,
) -> T {
    let head = chain.head().await.unwrap();
    chain.advance((close - 1 - head) as u64).await;
    tokio::time::timeout(std::time::Duration::from_secs(10), task)
        .await
        .expect("still waiting after the deadline closed")
        .unwrap()
}

/// Waits (up to 10 s) until `miner`'s open deadline shows `sent`
/// partitions sent.
async fn until_sent(scheduler: &WindowPoStScheduler, miner: ActorId, sent: usize) {
    for _ in 0..1000 {
        if scheduler
            .progress()
            .iter()
            .any(|p| p.miner == miner && p.sent >= sent)
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{miner}: {sent} partitions never sent");
}

/// Proves every partition but `stuck`, whose proof never comes back.
#[derive(Debug)]
struct StuckOn {
    stuck: u64,
    inner: FakePoStExecutor,
}

#[async_trait::async_trait]
impl Executor<WindowPoSt> for StuckOn {
    async fn execute(&self, task: WindowPoSt) -> Result<WindowPoStOutput, StageError> {
        if task.miner == MINER && task.partition == self.stuck {
            std::future::pending::<()>().await;
        }
        self.inner.execute(task).await
    }
}

/// With partitions proven at once, a partition whose proof is stuck never
/// holds back the others: they are sent (and land) while it waits, and
/// when its deadline closes the round is what was sent.
#[tokio::test]
async fn a_stuck_partition_does_not_hold_back_the_others() {
    let chain = crate::testing::proving_devnet(MINER, 20);
    let scheduler = Arc::new(
        crate::testing::scheduler_on(
            &chain,
            PoStExecutors {
                window_post: Arc::new(StuckOn {
                    stuck: 0,
                    inner: FakePoStExecutor::default(),
                }),
                check: Arc::new(FakePoStExecutor::default()),
            },
            MINER,
        )
        .with_parallel_partitions(4),
    );
    let dl = to_open_deadline_0(&chain).await;
    let proving = tokio::spawn({
        let scheduler = scheduler.clone();
        async move { scheduler.tick().await }
    });
    until_sent(&scheduler, MINER, 1).await;
    chain.advance(1).await;
    assert_eq!(
        chain.deadline_post_submissions(MINER, 0).await.unwrap(),
        vec![1],
        "partition 1 sent and landed while partition 0 waits"
    );
    assert!(!proving.is_finished());
    let rounds = past_close(&chain, dl.close, proving).await.unwrap();
    let round = &rounds[0];
    let sent: Vec<u64> = round.partitions.iter().map(|p| p.index).collect();
    assert_eq!(sent, vec![1]);
    assert_eq!(round.unsent.len(), 1, "{:?}", round.unsent);
    assert_eq!(round.unsent[0].0, 0);
    assert!(
        round.unsent[0].1.contains("stopped waiting"),
        "{:?}",
        round.unsent
    );
    // Recorded as a failed round (one partition sent) for the operator,
    // and kept out of the readiness' proving times.
    let outcome = &scheduler.last_outcomes()[0];
    assert_eq!(outcome.partitions, 1);
    assert!(
        outcome
            .error
            .as_deref()
            .is_some_and(|e| e.contains("partition 0 not sent")),
        "{outcome:?}"
    );
}

/// With several provers, one miner's stuck proof does not hold back
/// another miner's deadline: its proof is sent while the first waits.
#[tokio::test]
async fn a_stuck_miner_does_not_hold_back_another() {
    const OTHER: ActorId = ActorId(1001);
    let chain = Arc::new(crate::DevnetChain::new(
        crate::DevnetConfig::with_miners(
            [MINER, OTHER]
                .into_iter()
                .map(|id| crate::DevnetMiner {
                    id,
                    allowed_proofs: vec![venus_seal_core::SealProof::StackedDrg2KiBV1_1],
                })
                .collect(),
        ),
        Arc::new(crate::testing::FakeProofVerifier),
    ));
    crate::testing::activate_fake_sectors(&chain, MINER, 1..=3);
    // A partition in each of the other miner's 4 deadlines (their period
    // starts differ: whichever is open has sectors).
    crate::testing::activate_fake_sectors(&chain, OTHER, 1..=16);
    let scheduler = Arc::new(
        crate::WindowPoStScheduler::new(
            chain.clone(),
            chain.clone(),
            PoStExecutors {
                window_post: Arc::new(StuckOn {
                    stuck: 0,
                    inner: FakePoStExecutor::default(),
                }),
                check: Arc::new(FakePoStExecutor::default()),
            },
            Arc::new(SectorDirs {
                root: "/nowhere".into(),
            }),
            vec![MINER, OTHER],
        )
        .with_parallel_partitions(4),
    );
    let dl = to_open_deadline_0(&chain).await;
    let other = chain.proving_deadline(OTHER).await.unwrap();
    let ticking = tokio::spawn({
        let scheduler = scheduler.clone();
        async move { scheduler.tick().await }
    });
    until_sent(&scheduler, OTHER, 1).await;
    chain.advance(1).await;
    assert_eq!(
        chain
            .deadline_post_submissions(OTHER, other.index)
            .await
            .unwrap(),
        vec![0],
        "the other miner's partition landed while the first waits"
    );
    assert!(!ticking.is_finished());
    let rounds = past_close(&chain, dl.close, ticking).await.unwrap();
    assert_eq!(rounds.len(), 1);
    assert_eq!(rounds[0].miner, OTHER);
    // The stuck miner's round is a failure for the operator.
    let stuck = scheduler
        .last_outcomes()
        .into_iter()
        .find(|o| o.miner == MINER)
        .unwrap();
    assert!(
        stuck
            .error
            .as_deref()
            .is_some_and(|e| e.contains("stopped waiting")),
        "{stuck:?}"
    );
}

/// Refuses the first WindowPoSt push (a node down for a moment), sends
/// the rest through the devnet.
#[derive(Debug)]
struct RefusesFirstPost {
    chain: Arc<DevnetChain>,
    refused: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl MessageSender for RefusesFirstPost {
    async fn send(
        &self,
        uid: &venus_seal_core::chain::SendUid,
        msg: venus_seal_core::chain::MinerMessage,
    ) -> Result<venus_seal_core::chain::MessageId, venus_seal_core::ChainError> {
        if matches!(
            msg.call,
            venus_seal_core::chain::MinerCall::SubmitWindowedPoSt(_)
        ) && !self.refused.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return Err(venus_seal_core::ChainError::Transport(
                "node down for a moment".into(),
            ));
        }
        self.chain.send(uid, msg).await
    }

    async fn state(
        &self,
        id: &venus_seal_core::chain::MessageId,
    ) -> Result<MessageState, venus_seal_core::ChainError> {
        self.chain.state(id).await
    }
}

/// A push the node refuses costs only its own partition: the other
/// partition's proof is still sent, the refused one is sent at the next
/// tick (under the same uid), and the round says which was not sent.
#[tokio::test]
async fn a_refused_push_costs_only_its_partition() {
    let chain = crate::testing::proving_devnet(MINER, 20);
    let scheduler = crate::WindowPoStScheduler::new(
        chain.clone(),
        Arc::new(RefusesFirstPost {
            chain: chain.clone(),
            refused: false.into(),
        }),
        PoStExecutors::of(Arc::new(FakePoStExecutor::default())),
        Arc::new(SectorDirs {
            root: "/nowhere".into(),
        }),
        vec![MINER],
    )
    .with_parallel_partitions(4);
    to_open_deadline_0(&chain).await;
    let round = scheduler.prove_open_deadline(MINER).await.unwrap().unwrap();
    assert_eq!(round.partitions.len(), 1);
    assert_eq!(round.unsent.len(), 1);
    assert!(
        round.unsent[0].1.contains("node down"),
        "{:?}",
        round.unsent
    );
    let again = scheduler.prove_open_deadline(MINER).await.unwrap().unwrap();
    assert_eq!(again.partitions.len(), 1);
    assert_eq!(again.partitions[0].index, round.unsent[0].0);
    assert!(again.unsent.is_empty());
    chain.advance(1).await;
    assert_eq!(
        chain.deadline_post_submissions(MINER, 0).await.unwrap(),
        vec![0, 1]
    );
}

/// Proves after a pause, counting how many proofs run at once.
#[derive(Debug, Default)]
struct Concurrent {
    inner: FakePoStExecutor,
    running: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl Executor<WindowPoSt> for Concurrent {
    async fn execute(&self, task: WindowPoSt) -> Result<WindowPoStOutput, StageError> {
        use std::sync::atomic::Ordering::SeqCst;
        let now = self.running.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(now, SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        self.running.fetch_sub(1, SeqCst);
        self.inner.execute(task).await
    }
}

/// With several provers behind the executor, a deadline's partitions are
/// proven at once (`with_parallel_partitions`), each sent in order; by
/// default one after another.
#[tokio::test]
async fn partitions_are_proven_at_once_when_asked() {
    for (parallel, most) in [(1, 1), (4, 2)] {
        // 4 sectors a partition, 4 deadlines: sectors 17-20 are deadline
        // 0's second partition.
        let chain = crate::testing::proving_devnet(MINER, 20);
        let prover = Arc::new(Concurrent::default());
        let scheduler = crate::testing::scheduler_on(
            &chain,
            PoStExecutors {
                window_post: prover.clone(),
                check: Arc::new(FakePoStExecutor::default()),
            },
            MINER,
        )
        .with_parallel_partitions(parallel);
        to_open_deadline_0(&chain).await;
        let round = scheduler.prove_open_deadline(MINER).await.unwrap().unwrap();
        let indices: Vec<u64> = round.partitions.iter().map(|p| p.index).collect();
        assert_eq!(indices, vec![0, 1]);
        assert_eq!(
            prover.most.load(std::sync::atomic::Ordering::SeqCst),
            most,
            "parallel {parallel}"
        );
        chain.advance(1).await;
        for p in &round.partitions {
            match chain.state(&p.message).await.unwrap() {
                MessageState::Landed { exit_code: 0, .. } => {}
                other => panic!("{other:?}"),
            }
        }
    }
}

/// The operator's dry run reads a deadline's files without sending, and
/// the scheduler remembers each miner's last round.
#[tokio::test]
async fn a_deadline_check_finds_bad_files_and_sends_nothing() {
    let (chain, prover, scheduler) = setup(3);
    assert!(scheduler.last_outcomes().is_empty());
    prover.set_faulty(SectorNumber(2), true);
    let head = chain.head().await.unwrap();
    let check = scheduler.check_deadline(MINER, 0).await.unwrap();
    assert_eq!((check.partitions, check.sectors), (1, 3));
    assert_eq!(
        check.bad.iter().map(|b| b.number).collect::<Vec<_>>(),
        [SectorNumber(2)]
    );
    assert_eq!(prover.window_posts(), 0, "a check proves nothing");
    assert_eq!(chain.head().await.unwrap(), head);
    assert!(chain.faults(MINER).unwrap().is_empty(), "nothing sent");

    let period = chain.proving_policy().period as u64;
    run(&chain, &scheduler, period + 1).await;
    let outcomes = scheduler.last_outcomes();
    assert_eq!(outcomes.len(), 1);
    let last = &outcomes[0];
    assert_eq!(
        (last.miner, last.deadline, last.error.as_deref()),
        (MINER, Some(0), None)
    );
    // The period's second round: sector 2, skipped by the first, is
    // faulty on chain and no longer asked for.
    assert_eq!((last.partitions, last.proven, last.skipped), (1, 2, 0));
    let progress = scheduler.progress();
    assert_eq!(progress.len(), 1);
    assert!(progress[0].sent == progress[0].due, "{progress:?}");
    assert_eq!(chain.faults(MINER).unwrap(), [SectorNumber(2)]);
}

/// Readiness, ahead of time: a sector whose reads are slowed (a throttled
/// store) is named before its deadline opens, and a window too short for
/// the predicted proof is said not to fit; each opening is checked once.
#[tokio::test]
async fn readiness_names_a_slow_sector_before_its_deadline_opens() {
    let (chain, prover, _) = setup(6);
    let dl = chain.proving_deadline(MINER).await.unwrap();
    let next = (dl.index + 1) % dl.deadlines;
    let parts = chain.deadline_partitions(MINER, next).await.unwrap();
    let slow_one = parts[0].active[0];
    let scheduler = slow_reads_on(&chain, &prover, slow_one);
    let width = dl.close - dl.open;
    let policy = super::ReadinessPolicy {
        lead_epochs: width,
        sample: 0,
        epoch: std::time::Duration::from_secs(30),
        budget: 0.5,
        slow_read: std::time::Duration::from_millis(100),
    };
    let found = scheduler.check_readiness(&policy).await;
    assert_eq!(
        found.len(),
        1,
        "only the next deadline is within the lead: {found:?}"
    );
    let r = &found[0];
    assert_eq!((r.deadline, r.opens), (next, dl.close));
    assert!(r.checked_at_epoch < r.opens, "checked before it opens");
    assert_eq!(r.slow, [slow_one], "{r:?}");
    assert_eq!(r.reads[0].number, slow_one, "slowest first");
    assert_eq!(r.reads.len(), r.sectors);
    assert!(r.fits() && !r.is_ready(), "{r:?}");
    assert!(!r.from_history, "no round yet");
    assert_eq!(prover.window_posts(), 0, "a readiness check proves nothing");
    assert!(
        scheduler.check_readiness(&policy).await.is_empty(),
        "one check per opening"
    );
    assert_eq!(scheduler.readiness().len(), 1);

    // With 1 µs epochs the window cannot hold the slow read; a sector
    // whose files fail the check is named unreadable.
    let (chain, prover, _) = setup(6);
    let scheduler = slow_reads_on(&chain, &prover, slow_one);
    let other = parts[0].active[1];
    prover.set_faulty(other, true);
    let tight = super::ReadinessPolicy {
        epoch: std::time::Duration::from_micros(1),
        ..policy
    };
    let r = scheduler.check_readiness(&tight).await.remove(0);
    assert!(!r.fits(), "{r:?}");
    assert!(r.predicted >= std::time::Duration::from_millis(200));
    let unreadable: Vec<_> = r.unreadable().iter().map(|s| s.number).collect();
    assert_eq!(unreadable, [other], "{r:?}");
    assert!(!r.is_ready());
}

/// The operator's dry run (`proving check`): any deadline, now, every
/// active sector read and timed (no sample), a failing one named, nothing
/// proven; a deadline index that does not exist is refused.
#[tokio::test]
async fn a_deadline_check_reads_every_sector_and_times_each() {
    let (chain, prover, _) = setup(6);
    let dl = chain.proving_deadline(MINER).await.unwrap();
    let later = (dl.index + 1) % dl.deadlines;
    let parts = chain.deadline_partitions(MINER, later).await.unwrap();
    let active: Vec<SectorNumber> = parts.iter().flat_map(|p| p.active.clone()).collect();
    assert!(!active.is_empty(), "the test's deadline holds sectors");
    let slow_one = active[0];
    let scheduler = slow_reads_on(&chain, &prover, slow_one);
    if let Some(bad) = active.get(1) {
        prover.set_faulty(*bad, true);
    }
    let policy = super::ReadinessPolicy {
        lead_epochs: 0,
        sample: 1,
        epoch: std::time::Duration::from_secs(30),
        budget: 0.5,
        slow_read: std::time::Duration::from_millis(100),
    };
    let r = scheduler
        .check_deadline_reads(MINER, later, &policy)
        .await
        .unwrap();
    assert_eq!(r.deadline, later);
    assert_eq!(r.reads.len(), active.len(), "every sector, not a sample");
    assert_eq!(r.reads[0].number, slow_one, "slowest first: {r:?}");
    assert!(r.reads[0].took >= std::time::Duration::from_millis(100));
    assert_eq!(r.opens, dl.close, "its next opening");
    if let Some(bad) = active.get(1) {
        let unreadable: Vec<_> = r.unreadable().iter().map(|s| s.number).collect();
        assert_eq!(unreadable, [*bad]);
    }
    assert_eq!(prover.window_posts(), 0, "a check proves nothing");
    assert_eq!(scheduler.readiness().len(), 1, "kept for the console");
    let err = scheduler
        .check_deadline_reads(MINER, dl.deadlines, &policy)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not exist"), "{err}");
}

#[tokio::test]
async fn a_sector_the_locator_does_not_know_is_skipped() {
    let (chain, _prover, _) = setup(2);
    let known: BTreeMap<SectorId, SectorFiles> = [(
        SectorId::new(MINER, SectorNumber(1)),
        SectorFiles {
            sealed: "s".into(),
            cache: "c".into(),
        },
    )]
    .into();
    assert!(known
        .locate(SectorId::new(MINER, SectorNumber(2)))
        .is_none());
    let scheduler = WindowPoStScheduler::new(
        chain.clone(),
        chain.clone(),
        PoStExecutors::of(Arc::new(FakePoStExecutor::default())),
        Arc::new(known),
        vec![MINER],
    );
    let period = chain.proving_policy().period as u64;
    run(&chain, &scheduler, period + 1).await;
    assert_eq!(chain.faults(MINER).unwrap(), vec![SectorNumber(2)]);
}

#[tokio::test]
async fn a_chain_without_deadlines_is_an_error_naming_the_miner() {
    /// Refuses proving deadlines, as the trait's default does.
    #[derive(Debug)]
    struct NoDeadlines;
    impl ChainTap for NoDeadlines {
        fn check(&self, method: &'static str) -> Result<(), venus_seal_core::ChainError> {
            if method == "proving_deadline" {
                return Err(venus_seal_core::ChainError::Rejected(
                    "this chain client does not report proving deadlines".into(),
                ));
            }
            Ok(())
        }
    }
    let (chain, _, _) = setup(1);
    let sender: Arc<dyn MessageSender> = chain.clone();
    let scheduler = WindowPoStScheduler::new(
        TappedChain::new(chain, NoDeadlines),
        sender,
        PoStExecutors::of(Arc::new(FakePoStExecutor::default())),
        Arc::new(SectorDirs { root: "/x".into() }),
        vec![MINER],
    );
    let err = scheduler.tick().await.unwrap_err();
    assert!(err.to_string().contains("f01000"), "{err}");
    assert!(err.to_string().contains("proving deadlines"), "{err}");
}

/// A restarted manager (a new scheduler, nothing in memory) asks the chain
/// which partitions of the open deadline are already proven and proves
/// none of them again.
#[tokio::test]
async fn a_restarted_scheduler_does_not_prove_a_partition_the_chain_holds() {
    let (chain, prover, scheduler) = setup(4);
    // Tick until deadline 0's partition is proven and landed.
    let mut proven_at = None;
    for _ in 0..chain.proving_policy().period {
        if !scheduler.tick().await.unwrap().is_empty() {
            chain.advance(1).await;
            proven_at = Some(chain.head().await.unwrap());
            break;
        }
        chain.advance(1).await;
    }
    proven_at.expect("deadline 0 was proven");
    let dl = chain.proving_deadline(MINER).await.unwrap();
    assert_eq!(
        chain
            .deadline_post_submissions(MINER, dl.index)
            .await
            .unwrap(),
        vec![0],
        "the chain holds partition 0 of the open deadline"
    );
    assert!(chain
        .deadline_post_submissions(MINER, (dl.index + 1) % dl.deadlines)
        .await
        .unwrap()
        .is_empty());

    let restarted = scheduler_on(&chain, &prover);
    assert!(restarted.tick().await.unwrap().is_empty(), "nothing to do");
    assert_eq!(prover.window_posts(), 1, "proven once");
}

/// Fails its first WindowPoSt as a vanished ext processor would
/// (Temporary), then proves with the fake.
#[derive(Debug)]
struct FailsOnce {
    inner: Arc<FakePoStExecutor>,
    failed: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl Executor<WindowPoSt> for FailsOnce {
    async fn execute(&self, task: WindowPoSt) -> Result<WindowPoStOutput, StageError> {
        if !self.failed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Err(StageError::Unavailable("ext processor gone".into()));
        }
        self.inner.execute(task).await
    }
}

/// The scheduler holds executors, so decorators wrap them (here the
/// worker's `Limits`, window_post first on the `gpu` lock); an executor's
/// failure is a round error at the executor's level, and the partition is
/// proven at a later tick while the deadline is open.
#[tokio::test]
async fn a_failed_window_post_is_retried_through_a_limited_executor() {
    let (chain, prover, _) = setup(2);
    let limits = Limits::new(
        [(
            "window_post".to_string(),
            StageLimit {
                concurrent: Some(1),
                locks: vec!["gpu".into()],
                priority: 1,
                ..StageLimit::default()
            },
        )]
        .into(),
        BTreeMap::new(),
    );
    let flaky = FailsOnce {
        inner: prover.clone(),
        failed: false.into(),
    };
    let scheduler = WindowPoStScheduler::new(
        chain.clone(),
        chain.clone(),
        PoStExecutors {
            window_post: Arc::new(limits.wrap::<WindowPoSt, _>(flaky)),
            check: prover.clone(),
        },
        Arc::new(SectorDirs {
            root: "/nowhere".into(),
        }),
        vec![MINER],
    );
    let mut errors = Vec::new();
    let mut submitted = 0;
    for _ in 0..chain.proving_policy().period {
        match scheduler.tick().await {
            Ok(rounds) => submitted += rounds.len(),
            Err(e) => errors.push(e),
        }
        chain.advance(1).await;
    }
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        matches!(errors[0], PoStScheduleError::Proving { partition: 0, .. }),
        "{}",
        errors[0]
    );
    assert_eq!(errors[0].level(), FailureLevel::Temporary);
    assert!(errors[0].to_string().contains("ext processor gone"));
    assert_eq!(submitted, 1);
    assert_eq!(prover.window_posts(), 1);
    assert!(chain.faults(MINER).unwrap().is_empty());
    assert!(limits.occupancy().iter().all(|o| o.in_use == 0));
}

/// How [`FlakySender`] makes a WindowPoSt miss the chain.
#[derive(Clone, Copy, Debug)]
enum Miss {
    /// It lands with exit code 16 (the actor refused the proof).
    FailsOnChain,
    /// The node drops it from the message pool: no longer known.
    Dropped,
}

/// Sends through the devnet, except that its first `SubmitWindowedPoSt`
/// never reaches the chain: it either "lands" failed or is dropped, as
/// [`Miss`] says. Records every WindowPoSt sent (deadline, commit epoch).
/// Like Lotus on `MsgUuid`, a uid it already took answers with the message
/// taken under it, so a resend must come under a new attempt's uid.
#[derive(Debug)]
struct FlakySender {
    chain: Arc<DevnetChain>,
    miss: Miss,
    missed: std::sync::Mutex<Option<venus_seal_core::chain::MessageId>>,
    taken: std::sync::Mutex<
        std::collections::HashMap<
            venus_seal_core::chain::SendUid,
            venus_seal_core::chain::MessageId,
        >,
    >,
    posts: std::sync::Mutex<Vec<(u64, i64)>>,
}

impl FlakySender {
    fn new(chain: &Arc<DevnetChain>, miss: Miss) -> Arc<Self> {
        Arc::new(Self {
            chain: chain.clone(),
            miss,
            missed: std::sync::Mutex::new(None),
            taken: std::sync::Mutex::new(std::collections::HashMap::new()),
            posts: std::sync::Mutex::new(Vec::new()),
        })
    }

    fn posts(&self) -> Vec<(u64, i64)> {
        self.posts.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl MessageSender for FlakySender {
    async fn send(
        &self,
        uid: &venus_seal_core::chain::SendUid,
        msg: venus_seal_core::chain::MinerMessage,
    ) -> Result<venus_seal_core::chain::MessageId, venus_seal_core::ChainError> {
        if let Some(id) = self.taken.lock().unwrap().get(uid) {
            return Ok(id.clone());
        }
        if let venus_seal_core::chain::MinerCall::SubmitWindowedPoSt(post) = &msg.call {
            self.posts
                .lock()
                .unwrap()
                .push((post.deadline, post.chain_commit_epoch));
            let mut missed = self.missed.lock().unwrap();
            if missed.is_none() {
                let id = venus_seal_core::chain::MessageId("bafy-missed-post".into());
                *missed = Some(id.clone());
                self.taken.lock().unwrap().insert(uid.clone(), id.clone());
                return Ok(id);
            }
        }
        let id = self.chain.send(uid, msg).await?;
        self.taken.lock().unwrap().insert(uid.clone(), id.clone());
        Ok(id)
    }

    async fn state(
        &self,
        id: &venus_seal_core::chain::MessageId,
    ) -> Result<MessageState, venus_seal_core::ChainError> {
        if self.missed.lock().unwrap().as_ref() == Some(id) {
            return Ok(match self.miss {
                Miss::FailsOnChain => MessageState::Landed {
                    epoch: self.chain.current_epoch(),
                    exit_code: 16,
                    error: Some("invalid PoSt".into()),
                },
                Miss::Dropped => MessageState::NotFound,
            });
        }
        self.chain.state(id).await
    }
}

/// A scheduler for [`MINER`] on `chain` sending through `sender`.
fn scheduler_sending(
    chain: &Arc<DevnetChain>,
    prover: &Arc<FakePoStExecutor>,
    sender: &Arc<FlakySender>,
) -> WindowPoStScheduler {
    WindowPoStScheduler::new(
        chain.clone(),
        sender.clone(),
        PoStExecutors::of(prover.clone()),
        Arc::new(SectorDirs {
            root: "/nowhere".into(),
        }),
        vec![MINER],
    )
}

/// The first WindowPoSt misses the chain (`miss`); ticking every epoch
/// for a period, the scheduler proves and sends the partition again
/// before its deadline closes, and no sector turns faulty.
async fn a_missed_window_post_is_resent_within_its_deadline(miss: Miss) {
    let (chain, prover, _) = setup(4);
    let sender = FlakySender::new(&chain, miss);
    let scheduler = scheduler_sending(&chain, &prover, &sender);
    let period = chain.proving_policy().period as u64;
    let mut first = None;
    for _ in 0..period {
        for round in scheduler.tick().await.unwrap() {
            first.get_or_insert(round.deadline);
        }
        chain.advance(1).await;
    }
    let dl = first.expect("deadline 0 was proven");
    let posts = sender.posts();
    assert_eq!(posts.len(), 2, "sent, missed, sent again: {posts:?}");
    for (deadline, commit) in &posts {
        assert_eq!(*deadline, dl.index);
        assert!(
            (dl.challenge..dl.close).contains(commit),
            "{commit} in {dl:?}"
        );
    }
    assert!(posts[0].1 < posts[1].1, "resent at a later tick");
    assert_eq!(prover.window_posts(), 2, "proven again for the resend");
    assert!(
        chain.faults(MINER).unwrap().is_empty(),
        "the resent proof landed before the deadline closed"
    );
}

#[tokio::test]
async fn a_window_post_that_fails_on_chain_is_resent_within_its_deadline() {
    a_missed_window_post_is_resent_within_its_deadline(Miss::FailsOnChain).await;
}

#[tokio::test]
async fn a_window_post_dropped_from_the_mpool_is_resent_within_its_deadline() {
    a_missed_window_post_is_resent_within_its_deadline(Miss::Dropped).await;
}

/// A WindowPoSt that failed on chain is not sent again once its deadline
/// has closed (the chain would refuse it): the scheduler only proves the
/// open deadline; the chain's fault handling and the recovery path take
/// over.
#[tokio::test]
async fn a_failed_window_post_is_not_resent_after_its_deadline_closes() {
    let (chain, prover, _) = setup(4);
    let sender = FlakySender::new(&chain, Miss::FailsOnChain);
    let scheduler = scheduler_sending(&chain, &prover, &sender);
    let period = chain.proving_policy().period as u64;
    let mut first = None;
    for _ in 0..period {
        if let Some(round) = scheduler.tick().await.unwrap().into_iter().next() {
            first = Some(round.deadline);
            break;
        }
        chain.advance(1).await;
    }
    let dl = first.expect("deadline 0 was proven");
    // The manager is busy (or down) until the deadline has closed.
    let head = chain.head().await.unwrap();
    chain.advance((dl.close - head) as u64).await;
    for _ in 0..(dl.close - dl.open) {
        scheduler.tick().await.unwrap();
        chain.advance(1).await;
    }
    assert!(
        chain.head().await.unwrap() < dl.open + period as i64,
        "deadline {} has not opened again",
        dl.index
    );
    let posts = sender.posts();
    assert_eq!(
        posts,
        vec![(dl.index, dl.current_epoch)],
        "sent once, never again after the close"
    );
    assert_eq!(prover.window_posts(), 1, "never proven again");
}

/// `proving simulate`: a deadline proven now with a chosen challenge, each
/// partition timed, the faulty sector named as skipped, nothing sent; a
/// deadline that does not exist is refused.
#[tokio::test]
async fn a_simulated_window_post_proves_a_deadline_and_sends_nothing() {
    let (chain, prover, scheduler) = setup(6);
    let dl = chain.proving_deadline(MINER).await.unwrap();
    let next = (dl.index + 1) % dl.deadlines;
    let parts = chain.deadline_partitions(MINER, next).await.unwrap();
    let active: Vec<SectorNumber> = parts.iter().flat_map(|p| p.active.clone()).collect();
    let bad = active[0];
    prover.set_faulty(bad, true);
    let pending = chain.pending_messages();
    let chosen = venus_seal_core::Randomness([9; 32]);
    let sim = scheduler
        .simulate_window_post(MINER, next, Some(chosen))
        .await
        .unwrap();
    assert_eq!((sim.deadline, sim.randomness), (next, chosen));
    assert_eq!(
        sim.partitions.len(),
        parts.iter().filter(|p| !p.active.is_empty()).count()
    );
    let proven: usize = sim.partitions.iter().map(|p| p.proven.len()).sum();
    assert_eq!(proven, active.len() - 1);
    let skipped: Vec<SectorNumber> = sim
        .partitions
        .iter()
        .flat_map(|p| p.skipped.iter().map(|s| s.number))
        .collect();
    assert_eq!(skipped, [bad]);
    assert!(sim.partitions.iter().all(|p| p.proof_bytes > 0));
    assert_eq!(prover.window_posts(), sim.partitions.len());
    assert_eq!(chain.pending_messages(), pending, "nothing sent");
    // Without a challenge: one is drawn from the chain.
    let drawn = scheduler
        .simulate_window_post(MINER, next, None)
        .await
        .unwrap();
    assert_ne!(drawn.randomness, chosen);
    let err = scheduler
        .simulate_window_post(MINER, dl.deadlines, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not exist"), "{err}");
}
