use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use venus_seal_core::chain::{MinerCall, MinerMessage, PreCommitParams};
use venus_seal_core::manager::{
    AcquireDealsSpec, AllocateSpec, AllocatedSector, DealInfo, OnChainState, PreCommitOnChainInfo,
    SectorStateChange, StateReport, SubmitResult, WorkerIdentifier,
};
use venus_seal_core::stage::Proof;
use venus_seal_core::testing::conformance::manager_store::deal;
use venus_seal_core::{
    ActorId, ChainClient, CommD, CommR, DomainSeparationTag, Failure, FailureLevel, ManagerError,
    MessageSender, PaddedPieceSize, PieceInfo, RandomnessSource, SealProof, SectorId,
    SectorManager, SectorNumber, Ticket,
};

use super::{
    DealActivation, ExpiredDeal, LocalSectorManager, ManagedMiner, ManagerConfig, ManagerStore,
    ManagerStoreError, MemoryManagerStore, NumberRange, ReleasedDeals, SectorStatus, Versioned,
};
use crate::testing::pre_commit_info as info;
use crate::testing::FakeProofVerifier;
use crate::{DevnetChain, DevnetConfig, DevnetMiner};

const M1: ActorId = ActorId(1000);
const M2: ActorId = ActorId(2000);
const P2K: SealProof = SealProof::StackedDrg2KiBV1_1;
const P8M: SealProof = SealProof::StackedDrg8MiBV1_1;

fn setup() -> (Arc<DevnetChain>, Arc<LocalSectorManager>) {
    let chain = DevnetChain::new(
        DevnetConfig::with_miners(vec![
            DevnetMiner {
                id: M1,
                allowed_proofs: vec![P2K],
            },
            DevnetMiner {
                id: M2,
                allowed_proofs: vec![P8M],
            },
        ]),
        Arc::new(FakeProofVerifier),
    );
    let manager = LocalSectorManager::in_memory(
        ManagerConfig::new(vec![ManagedMiner::new(M1, P2K), ManagedMiner::new(M2, P8M)]),
        chain.clone(),
        chain.clone(),
        Arc::new(FakeProofVerifier),
    );
    (chain, manager)
}

fn spec(miners: &[ActorId], proofs: &[SealProof]) -> AllocateSpec {
    AllocateSpec {
        allowed_miners: miners.to_vec(),
        allowed_proof_types: proofs.to_vec(),
        allocation_key: None,
    }
}

async fn allocate(m: &LocalSectorManager) -> AllocatedSector {
    m.allocate_sector(spec(&[M1], &[])).await.unwrap().unwrap()
}

/// A worker that asks again with the allocation key it saved (after dying
/// before it saved the answer) gets the same sector, also when the key's
/// miner is not the first the spec allows; a request without a key (a
/// damocles worker) gets a new number every time.
#[tokio::test]
async fn a_repeated_allocation_key_gets_the_same_sector() {
    let (_chain, m) = setup();
    let keyed = |key: &str, miners: &[ActorId]| AllocateSpec {
        allocation_key: Some(key.into()),
        ..spec(miners, &[])
    };
    let first = m.allocate_sector(keyed("w/job-1/1", &[M1])).await.unwrap();
    let again = m.allocate_sector(keyed("w/job-1/1", &[M1])).await.unwrap();
    assert_eq!(first, again);
    let m2 = m
        .allocate_sector(keyed("w/job-2/1", &[M2]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m2.id, SectorId::new(M2, SectorNumber(1)));
    // Any miner allowed: M1 comes first, but the key is M2's.
    assert_eq!(
        m.allocate_sector(keyed("w/job-2/1", &[])).await.unwrap(),
        Some(m2)
    );
    let other = m
        .allocate_sector(keyed("w/job-3/1", &[M1]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(other.id, SectorId::new(M1, SectorNumber(2)));
    assert_eq!(allocate(&m).await.id, SectorId::new(M1, SectorNumber(3)));
    assert_eq!(allocate(&m).await.id, SectorId::new(M1, SectorNumber(4)));
}

fn good_proof(sector: AllocatedSector, info: &PreCommitOnChainInfo, seed: [u8; 32]) -> Proof {
    crate::testing::fake_seal_proof(sector, info, venus_seal_core::Randomness(seed))
}

async fn acquire(m: &LocalSectorManager, sector: SectorId) -> Vec<DealInfo> {
    m.acquire_deals(sector, AcquireDealsSpec::default())
        .await
        .unwrap()
}

/// What the manager answers to `s`'s pre-commit of `info`.
async fn submitted(
    m: &LocalSectorManager,
    s: AllocatedSector,
    info: &PreCommitOnChainInfo,
    reset: bool,
) -> SubmitResult {
    m.submit_pre_commit(s, info.clone(), reset)
        .await
        .unwrap()
        .res
}

/// `s`'s pre-commit of `info`, accepted and sent.
async fn pre_commit_sent(m: &LocalSectorManager, s: AllocatedSector, info: &PreCommitOnChainInfo) {
    let r = m.submit_pre_commit(s, info.clone(), false).await.unwrap();
    assert_eq!(r.res, SubmitResult::Accepted, "{r:?}");
    // Batches go out from the timer, not inside the call.
    m.send_due().await.unwrap();
}

fn assert_rejected(result: Result<impl std::fmt::Debug, ManagerError>, needle: &str) {
    match result {
        Err(ManagerError::Rejected(msg)) => assert!(msg.contains(needle), "{msg}"),
        other => panic!("expected a rejection containing {needle:?}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn allocation_has_no_gaps_and_no_reuse_under_concurrency() {
    let (_chain, m) = setup();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let m = m.clone();
            tokio::spawn(async move { allocate(&m).await })
        })
        .collect();
    let mut numbers = BTreeSet::new();
    for t in tasks {
        let s = t.await.unwrap();
        assert_eq!((s.id.miner, s.proof_type), (M1, P2K));
        assert!(
            numbers.insert(s.id.number.0),
            "{} handed out twice",
            s.id.number
        );
    }
    assert_eq!(numbers, (1..=50).collect());

    // Numbers are per miner; the spec picks the miner.
    let s = m.allocate_sector(spec(&[], &[P8M])).await.unwrap().unwrap();
    assert_eq!(
        (s.id, s.proof_type),
        (SectorId::new(M2, SectorNumber(1)), P8M)
    );
    let s = m
        .allocate_sector(AllocateSpec::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.id, SectorId::new(M1, SectorNumber(51)));
    assert_eq!(m.allocate_sector(spec(&[M2], &[P2K])).await.unwrap(), None);
    assert_eq!(
        m.allocate_sector(spec(&[ActorId(9)], &[])).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn the_ticket_is_drawn_once_at_head_minus_lookback() {
    let (chain, m) = setup();
    let s = allocate(&m).await;
    let head = chain.current_epoch();
    let ticket = m.assign_ticket(s.id).await.unwrap();
    assert_eq!(ticket.epoch, head - 5);
    assert_eq!(
        ticket.ticket,
        chain
            .draw(
                RandomnessSource::Tickets,
                DomainSeparationTag::SealRandomness,
                head - 5,
                &M1.address_cbor()
            )
            .unwrap()
    );
    chain.advance(3).await;
    assert_eq!(m.assign_ticket(s.id).await.unwrap(), ticket);
    let other = m.assign_ticket(allocate(&m).await.id).await.unwrap();
    assert_eq!(other.epoch, head - 2);
}

#[tokio::test]
async fn unknown_sectors_are_rejected() {
    let (_chain, m) = setup();
    let id = SectorId::new(M1, SectorNumber(77));
    let sector = AllocatedSector {
        id,
        proof_type: P2K,
    };
    let ticket = Ticket {
        ticket: venus_seal_core::Randomness([0; 32]),
        epoch: 990,
    };
    assert_rejected(m.assign_ticket(id).await, "unknown sector s-t01000-77");
    assert_rejected(
        m.acquire_deals(id, AcquireDealsSpec::default()).await,
        "unknown sector",
    );
    assert_rejected(
        m.submit_pre_commit(sector, info(ticket), false).await,
        "unknown sector",
    );
    assert_rejected(m.poll_pre_commit_state(id).await, "unknown sector");
    assert_rejected(m.submit_persisted(id, "w1".into()).await, "unknown sector");
    assert_rejected(m.wait_seed(sector).await, "unknown sector");
    assert_rejected(
        m.submit_proof(id, Proof { proof: vec![] }, false).await,
        "unknown sector",
    );
    assert_rejected(m.poll_proof_state(id).await, "unknown sector");
    assert_rejected(m.report_finalized(id).await, "unknown sector");
    assert_rejected(m.report_aborted(id, "x".into()).await, "unknown sector");

    // Known, but nothing submitted yet.
    let s = allocate(&m).await;
    assert_rejected(
        m.poll_pre_commit_state(s.id).await,
        "no pre-commit was submitted",
    );
    assert_rejected(m.wait_seed(s).await, "no pre-commit was submitted");
}

#[tokio::test]
async fn a_sector_goes_from_allocation_to_a_landed_proof() {
    let (chain, m) = setup();
    let s = allocate(&m).await;
    assert_eq!(acquire(&m, s.id).await, vec![]);
    let ticket = m.assign_ticket(s.id).await.unwrap();
    let info = info(ticket);

    pre_commit_sent(&m, s, &info).await;
    assert_eq!(
        submitted(&m, s, &info, false).await,
        SubmitResult::DuplicateSubmit
    );
    assert_eq!(
        m.poll_pre_commit_state(s.id).await.unwrap().state,
        OnChainState::Packed
    );
    assert_eq!(chain.pending_messages(), 1);
    // Submitted but not yet in the node's state: asked again, never an
    // abort (the node may be behind the chain).
    match m.wait_seed(s).await {
        Err(e @ ManagerError::Chain(_)) => {
            assert_eq!(
                venus_seal_core::Leveled::level(&e),
                venus_seal_core::FailureLevel::Temporary,
                "{e}"
            )
        }
        other => panic!("expected a Temporary chain error, got {other:?}"),
    }

    let landed_at = chain.advance(1).await;
    assert_eq!(
        m.poll_pre_commit_state(s.id).await.unwrap().state,
        OnChainState::Landed
    );
    let pc = chain.pre_commit(M1, s.id.number).await.unwrap().unwrap();
    assert_eq!(pc.pre_commit_epoch, landed_at);
    assert_eq!(pc.info.seal_rand_epoch, ticket.epoch);
    assert_eq!(
        pc.info.expiration,
        landed_at - 1 + ManagerConfig::DEFAULT_EXPIRATION_EPOCHS
    );
    assert!(m.submit_persisted(s.id, "worker-1".into()).await.unwrap());

    let wait = m.wait_seed(s).await.unwrap();
    assert!(wait.should_wait && wait.seed.is_none());
    assert_eq!(wait.delay, Duration::from_secs(10), "10 epochs of 1 s");
    chain.advance(9).await;
    assert_eq!(m.wait_seed(s).await.unwrap().delay, Duration::from_secs(1));
    chain.advance(1).await;
    let wait = m.wait_seed(s).await.unwrap();
    assert!(!wait.should_wait);
    let seed = wait.seed.unwrap();
    assert_eq!(seed.epoch, landed_at + 10);
    assert_eq!(
        seed.seed,
        chain
            .draw(
                RandomnessSource::Beacon,
                DomainSeparationTag::InteractiveSealChallengeSeed,
                seed.epoch,
                &M1.address_cbor()
            )
            .unwrap()
    );

    let proof = good_proof(s, &info, seed.seed.0);
    let r = m.submit_proof(s.id, proof.clone(), false).await.unwrap();
    assert_eq!(r.res, SubmitResult::Accepted, "{r:?}");
    // Batches go out from the timer, not inside the call.
    m.send_due().await.unwrap();
    assert_eq!(
        m.submit_proof(s.id, proof.clone(), false)
            .await
            .unwrap()
            .res,
        SubmitResult::DuplicateSubmit
    );
    assert_eq!(
        m.poll_proof_state(s.id).await.unwrap().state,
        OnChainState::Packed
    );
    chain.advance(1).await;
    let polled = m.poll_proof_state(s.id).await.unwrap();
    assert_eq!(polled.state, OnChainState::Landed, "{polled:?}");
    let on_chain = chain.sector(M1, s.id.number).await.unwrap().unwrap();
    assert_eq!(on_chain.sealed_cid, info.comm_r);

    let answer = m
        .report_state(
            s.id,
            StateReport {
                worker: WorkerIdentifier {
                    instance: "worker-1".into(),
                    location: "/sealing/job-1".into(),
                },
                state_change: SectorStateChange {
                    prev: "ProofSubmitted".into(),
                    next: "Finished".into(),
                    event: None,
                },
                failure: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(answer.abort_reason, None);
    m.report_finalized(s.id).await.unwrap();
    let status = m.sector_status(s.id).await.unwrap().unwrap();
    assert!(status.finalized);
    assert_eq!(status.persisted_at.as_deref(), Some("worker-1"));
    assert_eq!(status.seed, Some(seed));
    // The history: the batcher's sends, the worker's report (once, a
    // repeat adds nothing) and the finalization, in order.
    m.report_state(s.id, status.last_report.clone().unwrap())
        .await
        .unwrap();
    let status = m.sector_status(s.id).await.unwrap().unwrap();
    let steps: Vec<_> = status.history.iter().map(|e| e.next.as_str()).collect();
    assert_eq!(
        steps,
        [
            "Allocated",
            "TicketAssigned",
            "PreCommitSent",
            "Persisted",
            "SeedAssigned",
            "ProofSent",
            "Finished",
            "Finalized"
        ],
        "{:?}",
        status.history
    );
    let report = &status.history[6];
    assert_eq!(
        (report.worker.as_str(), report.prev.as_str()),
        ("worker-1", "ProofSubmitted")
    );
    assert!(!status.history[2].detail.is_empty(), "the message id");
    assert_eq!(status.pipeline_state(), "Finalized");
    assert_eq!(status.last_report.unwrap().state_change.next, "Finished");
}

/// A worker's reports park and unpark a sector in the manager's view: the
/// first Permanent or Critical failure sets since when, repeats keep it,
/// a report without one (resumed) or the end of the sector clears it.
#[tokio::test]
async fn parked_sectors_follow_the_workers_reports() {
    let (_chain, m) = setup();
    let s = allocate(&m).await;
    let report = |failure: Option<Failure>| StateReport {
        worker: WorkerIdentifier {
            instance: "worker-1".into(),
            location: "/sealing/job-1".into(),
        },
        state_change: SectorStateChange {
            prev: "PC1Done".into(),
            next: "PC1Done".into(),
            event: failure.as_ref().map(|_| "Park".into()),
        },
        failure,
    };
    let permanent = Failure::new(FailureLevel::Permanent, "pc2 failed");
    m.report_state(
        s.id,
        report(Some(Failure::new(FailureLevel::Temporary, "retrying"))),
    )
    .await
    .unwrap();
    assert!(
        m.parked_sectors().is_empty(),
        "a Temporary failure parks nothing"
    );
    m.report_state(s.id, report(Some(permanent.clone())))
        .await
        .unwrap();
    let parked = m.parked_sectors();
    assert_eq!(parked.len(), 1);
    assert_eq!(
        (parked[0].worker.as_str(), parked[0].state.as_str()),
        ("worker-1", "PC1Done")
    );
    assert_eq!(parked[0].failure, permanent);
    m.report_state(s.id, report(Some(permanent.clone())))
        .await
        .unwrap();
    assert_eq!(m.parked_sectors()[0].since_unix, parked[0].since_unix);
    m.report_state(s.id, report(None)).await.unwrap();
    assert!(m.parked_sectors().is_empty(), "resumed");
    m.report_state(s.id, report(Some(permanent))).await.unwrap();
    m.report_aborted(s.id, "given up".into()).await.unwrap();
    assert!(m.parked_sectors().is_empty(), "aborted");
}

/// A sector pre-committed through the manager, with head at its seed epoch.
async fn at_seed(
    chain: &DevnetChain,
    m: &LocalSectorManager,
) -> (AllocatedSector, PreCommitOnChainInfo, [u8; 32]) {
    let s = allocate(m).await;
    let info = info(m.assign_ticket(s.id).await.unwrap());
    pre_commit_sent(m, s, &info).await;
    chain.advance(11).await;
    let seed = m.wait_seed(s).await.unwrap().seed.unwrap();
    (s, info, seed.seed.0)
}

#[tokio::test]
async fn a_bad_proof_is_rejected_and_nothing_is_sent() {
    let (chain, m) = setup();
    let (s, info, seed) = at_seed(&chain, &m).await;
    let mut wrong_seed = seed;
    wrong_seed[0] ^= 1;
    for bad in [
        Proof {
            proof: vec![0; 192],
        },
        good_proof(s, &info, wrong_seed),
    ] {
        let r = m.submit_proof(s.id, bad, false).await.unwrap();
        assert_eq!(r.res, SubmitResult::Rejected);
        assert!(r.desc.unwrap().contains("proof does not verify"));
    }
    assert_eq!(chain.pending_messages(), 0);
    assert_eq!(m.sector_status(s.id).await.unwrap().unwrap().proof, None);
    assert_rejected(m.poll_proof_state(s.id).await, "no proof was submitted");
    // The good one still goes through afterwards.
    let r = m
        .submit_proof(s.id, good_proof(s, &info, seed), false)
        .await
        .unwrap();
    assert_eq!(r.res, SubmitResult::Accepted);
    // Batches go out from the timer, not inside the call.
    m.send_due().await.unwrap();
}

#[tokio::test]
async fn a_ticket_that_is_not_the_chains_is_rejected() {
    let (chain, m) = setup();
    let s = allocate(&m).await;
    let mut ticket = m.assign_ticket(s.id).await.unwrap();
    ticket.ticket.0[0] ^= 1;
    let r = m.submit_pre_commit(s, info(ticket), false).await.unwrap();
    assert_eq!(r.res, SubmitResult::Rejected);
    assert!(r.desc.unwrap().contains("ticket mismatch"));

    let future = Ticket {
        ticket: ticket.ticket,
        epoch: chain.current_epoch() + 1,
    };
    let r = m.submit_pre_commit(s, info(future), false).await.unwrap();
    assert_eq!(r.res, SubmitResult::Rejected);
    assert!(r.desc.unwrap().contains("ticket mismatch"));
    assert_eq!(chain.pending_messages(), 0);
    assert_eq!(
        m.sector_status(s.id).await.unwrap().unwrap().pre_commit,
        None
    );

    let wrong_type = AllocatedSector {
        id: s.id,
        proof_type: P8M,
    };
    let real = m.assign_ticket(s.id).await.unwrap();
    let r = m
        .submit_pre_commit(wrong_type, info(real), false)
        .await
        .unwrap();
    assert_eq!(r.res, SubmitResult::Rejected);
}

#[tokio::test]
async fn a_different_pre_commit_needs_reset() {
    let (chain, m) = setup();
    let s = allocate(&m).await;
    let first = info(m.assign_ticket(s.id).await.unwrap());
    pre_commit_sent(&m, s, &first).await;
    let mut second = first.clone();
    second.comm_r = CommR([0xbb; 32]);
    let r = m.submit_pre_commit(s, second.clone(), false).await.unwrap();
    assert_eq!(r.res, SubmitResult::MismatchedSubmission);
    assert!(r.desc.unwrap().contains("reset"));
    assert_eq!(chain.pending_messages(), 1);
    assert_eq!(
        submitted(&m, s, &second, true).await,
        SubmitResult::Accepted
    );
    // Batches go out from the timer, not inside the call.
    m.send_due().await.unwrap();
    assert_eq!(chain.pending_messages(), 2);
}

#[tokio::test]
async fn a_number_taken_on_chain_by_another_replica_is_should_abort() {
    let (chain, m) = setup();
    let s = allocate(&m).await;
    let ticket = m.assign_ticket(s.id).await.unwrap();
    // Someone else pre-commits the same number first.
    chain
        .send(
            &crate::lotus::new_send_uid(),
            MinerMessage::new(
                M1,
                MinerCall::PreCommitSectorBatch2(vec![PreCommitParams {
                    sector_number: s.id.number,
                    seal_proof: P2K,
                    sealed_cid: CommR([1; 32]),
                    unsealed_cid: CommD([2; 32]),
                    seal_rand_epoch: ticket.epoch,
                    deal_ids: vec![],
                    expiration: 100_000,
                }]),
            ),
        )
        .await
        .unwrap();
    let info = info(ticket);
    pre_commit_sent(&m, s, &info).await;
    chain.advance(1).await;
    let polled = m.poll_pre_commit_state(s.id).await.unwrap();
    assert_eq!(polled.state, OnChainState::ShouldAbort, "{polled:?}");
    let desc = polled.desc.unwrap();
    assert!(desc.contains("sector 1 already pre-committed"), "{desc}");
    assert!(desc.contains("a different replica"), "{desc}");

    // Resubmitting the same content is a duplicate, unless reset asks to
    // send it again after the failure.
    assert_eq!(
        submitted(&m, s, &info, false).await,
        SubmitResult::DuplicateSubmit
    );
    assert_eq!(submitted(&m, s, &info, true).await, SubmitResult::Accepted);
    // Batches go out from the timer, not inside the call.
    m.send_due().await.unwrap();
    assert_eq!(chain.pending_messages(), 1);
}

#[tokio::test]
async fn deals_fill_sectors_of_their_miner() {
    let (_chain, m) = setup();
    m.add_deal(Some(M2), deal(1, 1024)).await.unwrap();
    m.add_deal(None, deal(2, 1024)).await.unwrap();
    m.add_deal(Some(M1), deal(3, 2048)).await.unwrap();
    m.add_deal(Some(M1), deal(4, 1024)).await.unwrap();
    m.add_deal(None, deal(5, 512)).await.unwrap();

    let a = allocate(&m).await;
    let got = acquire(&m, a.id).await;
    assert_eq!(
        got,
        vec![deal(2, 1024), deal(4, 1024)],
        "fills 2 KiB in queue order"
    );
    assert_eq!(acquire(&m, a.id).await, got, "asking again");

    let b = allocate(&m).await;
    let spec = AcquireDealsSpec {
        max_deals: None,
        min_used_space: Some(4096),
    };
    assert_eq!(
        m.acquire_deals(b.id, spec).await.unwrap(),
        vec![],
        "too little to fill"
    );
    let c = allocate(&m).await;
    let spec = AcquireDealsSpec {
        max_deals: Some(1),
        min_used_space: None,
    };
    assert_eq!(
        m.acquire_deals(c.id, spec).await.unwrap(),
        vec![deal(3, 2048)]
    );
    assert_eq!(m.queued_deals().await.unwrap(), 2);

    // An aborted sector gives its deals back.
    m.report_aborted(a.id, "pc1 failed".into()).await.unwrap();
    assert_eq!(m.queued_deals().await.unwrap(), 4);
    assert_rejected(m.assign_ticket(a.id).await, "aborted");
    let d = allocate(&m).await;
    let got = acquire(&m, d.id).await;
    assert_eq!(got, vec![deal(2, 1024), deal(4, 1024)]);
}

/// A store that dies after a number of calls, as a manager killed at that
/// point would leave it: every later call fails and changes nothing.
#[derive(Debug)]
struct CrashingStore {
    inner: Arc<dyn ManagerStore>,
    calls_left: std::sync::atomic::AtomicUsize,
}

impl CrashingStore {
    fn after(inner: &Arc<dyn ManagerStore>, calls: usize) -> Arc<Self> {
        Arc::new(Self {
            inner: Arc::clone(inner),
            calls_left: calls.into(),
        })
    }

    fn call(&self) -> Result<(), ManagerStoreError> {
        use std::sync::atomic::Ordering;
        self.calls_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .map(|_| ())
            .map_err(|_| ManagerStoreError::Database("the manager crashed".into()))
    }
}

#[async_trait::async_trait]
impl ManagerStore for CrashingStore {
    async fn allocate(
        &self,
        miner: ActorId,
        range: NumberRange,
        status: &SectorStatus,
        key: Option<&str>,
    ) -> Result<Option<SectorNumber>, ManagerStoreError> {
        self.call()?;
        self.inner.allocate(miner, range, status, key).await
    }
    async fn load(
        &self,
        sector: SectorId,
    ) -> Result<Option<Versioned<SectorStatus>>, ManagerStoreError> {
        self.call()?;
        self.inner.load(sector).await
    }
    async fn update(
        &self,
        sector: SectorId,
        status: &SectorStatus,
        version: u64,
    ) -> Result<bool, ManagerStoreError> {
        self.call()?;
        self.inner.update(sector, status, version).await
    }
    async fn queued(&self) -> Result<Vec<(SectorId, Versioned<SectorStatus>)>, ManagerStoreError> {
        self.call()?;
        self.inner.queued().await
    }
    async fn sectors(
        &self,
        after: Option<SectorId>,
        limit: usize,
    ) -> Result<Vec<(SectorId, Versioned<SectorStatus>)>, ManagerStoreError> {
        self.call()?;
        self.inner.sectors(after, limit).await
    }
    async fn sector_count(&self) -> Result<u64, ManagerStoreError> {
        self.call()?;
        self.inner.sector_count().await
    }
    async fn queue_deal(
        &self,
        miner: Option<ActorId>,
        deal: &DealInfo,
        start_epoch: Option<i64>,
    ) -> Result<(), ManagerStoreError> {
        self.call()?;
        self.inner.queue_deal(miner, deal, start_epoch).await
    }
    async fn assign_deals(
        &self,
        sector: SectorId,
        size: venus_seal_core::SectorSize,
        spec: AcquireDealsSpec,
        activation: DealActivation,
    ) -> Result<Option<Versioned<SectorStatus>>, ManagerStoreError> {
        self.call()?;
        self.inner
            .assign_deals(sector, size, spec, activation)
            .await
    }
    async fn release_deals(
        &self,
        sector: SectorId,
        status: &SectorStatus,
        version: u64,
        activation: DealActivation,
    ) -> Result<Option<ReleasedDeals>, ManagerStoreError> {
        self.call()?;
        self.inner
            .release_deals(sector, status, version, activation)
            .await
    }
    async fn expired_deals(&self) -> Result<Vec<ExpiredDeal>, ManagerStoreError> {
        self.call()?;
        self.inner.expired_deals().await
    }
    async fn queued_deals(&self) -> Result<u64, ManagerStoreError> {
        self.call()?;
        self.inner.queued_deals().await
    }
}

/// Every deal is queued or on exactly one of `sectors`: none lost, none
/// twice.
async fn assert_every_deal_accounted(
    store: &dyn ManagerStore,
    sectors: &[SectorId],
    all: u64,
    when: &str,
) {
    let mut on_sectors = Vec::new();
    for s in sectors {
        let held = store.load(*s).await.unwrap().unwrap().value;
        on_sectors.extend(held.deals.unwrap_or_default().into_iter().map(|d| d.id));
    }
    let unique: BTreeSet<u64> = on_sectors.iter().copied().collect();
    assert_eq!(
        unique.len(),
        on_sectors.len(),
        "{when}: a deal on two sectors"
    );
    let queued = store.queued_deals().await.unwrap();
    assert_eq!(
        queued + on_sectors.len() as u64,
        all,
        "{when}: {queued} queued and {on_sectors:?} on sectors, of {all} deals"
    );
}

/// The manager dies at every store call of `acquire_deals` and of
/// `report_aborted` in turn (the store refuses everything after that
/// call, as a killed process makes no more); a manager restarted on the
/// same store and asked again finds every deal queued or on the sector,
/// never taken and forgotten. Before deals were taken and recorded in one
/// transaction, dying after the take and before the record lost them.
#[tokio::test]
async fn a_manager_killed_while_handing_out_or_giving_back_deals_loses_none() {
    for crash_at in 0..6 {
        let (chain, _) = setup();
        let durable: Arc<dyn ManagerStore> = Arc::new(MemoryManagerStore::new());
        let manager_on = |store: Arc<dyn ManagerStore>| {
            LocalSectorManager::new(
                ManagerConfig::new(vec![ManagedMiner::new(M1, P2K)]),
                store,
                chain.clone(),
                chain.clone(),
                Arc::new(FakeProofVerifier),
            )
        };
        let before = manager_on(Arc::clone(&durable));
        for id in 1..=3 {
            before.add_deal(None, deal(id, 1024)).await.unwrap();
        }
        let s = allocate(&before).await.id;
        drop(before);

        let dying = manager_on(CrashingStore::after(&durable, crash_at));
        let _ = dying.acquire_deals(s, AcquireDealsSpec::default()).await;
        drop(dying);
        let when = format!("killed at store call {crash_at} of acquire_deals");
        assert_every_deal_accounted(&*durable, &[s], 3, &when).await;

        let restarted = manager_on(Arc::clone(&durable));
        let got = acquire(&restarted, s).await;
        assert_eq!(got, vec![deal(1, 1024), deal(2, 1024)], "{when}");
        drop(restarted);

        let dying = manager_on(CrashingStore::after(&durable, crash_at));
        let _ = dying.report_aborted(s, "pc1 failed".into()).await;
        drop(dying);
        let when = format!("killed at store call {crash_at} of report_aborted");
        assert_every_deal_accounted(&*durable, &[s], 3, &when).await;

        let restarted = manager_on(Arc::clone(&durable));
        restarted
            .report_aborted(s, "pc1 failed".into())
            .await
            .unwrap();
        assert_eq!(restarted.queued_deals().await.unwrap(), 3, "{when}");
        let next = allocate(&restarted).await.id;
        assert_eq!(
            acquire(&restarted, next).await,
            vec![deal(1, 1024), deal(2, 1024)],
            "{when}: the next sector gets them"
        );
    }
}

/// Pre-commits `s` (its deals already acquired) and lands the message.
/// Past its seed: the sector's proof, taken and sent in the next batch.
async fn prove_and_send(m: &LocalSectorManager, s: AllocatedSector, info: &PreCommitOnChainInfo) {
    let seed = m.wait_seed(s).await.unwrap().seed.unwrap();
    let r = m
        .submit_proof(s.id, good_proof(s, info, seed.seed.0), false)
        .await
        .unwrap();
    assert_eq!(r.res, SubmitResult::Accepted, "{r:?}");
    m.send_due().await.unwrap();
}

async fn pre_commit_landed(chain: &DevnetChain, m: &LocalSectorManager, s: AllocatedSector) {
    let ticket = m.assign_ticket(s.id).await.unwrap();
    pre_commit_sent(m, s, &info(ticket)).await;
    chain.advance(1).await;
    assert_eq!(
        m.poll_pre_commit_state(s.id).await.unwrap().state,
        OnChainState::Landed
    );
}

/// A sector aborted after its pre-commit landed (its proof never sent)
/// gives its deals back as one aborted before: the next sector gets them.
#[tokio::test]
async fn an_aborted_sectors_deals_go_to_the_next_sector_also_after_pre_commit() {
    let (chain, m) = setup();
    m.add_deal(None, deal(1, 1024)).await.unwrap();
    m.add_deal(None, deal(2, 1024)).await.unwrap();
    m.add_deal(None, deal(3, 1024)).await.unwrap();
    let a = allocate(&m).await;
    let deals = acquire(&m, a.id).await;
    assert_eq!(deals, vec![deal(1, 1024), deal(2, 1024)]);
    pre_commit_landed(&chain, &m, a).await;
    m.report_aborted(a.id, "pc2 output lost".into())
        .await
        .unwrap();
    assert_eq!(m.queued_deals().await.unwrap(), 3);
    assert_eq!(m.sector_status(a.id).await.unwrap().unwrap().deals, None);

    let b = allocate(&m).await;
    assert_eq!(
        acquire(&m, b.id).await,
        deals,
        "in their old place, ahead of deal 3"
    );
    // And before a pre-commit, as always.
    m.report_aborted(b.id, "pc1 failed".into()).await.unwrap();
    let c = allocate(&m).await;
    assert_eq!(acquire(&m, c.id).await, deals);
    assert!(m.expired_deals().await.unwrap().is_empty());
}

/// Once a proof was sent (it may land and activate them), an aborted
/// sector keeps its deals: handing them to another sector would make
/// that one's proof fail.
#[tokio::test]
async fn a_sector_whose_proof_was_sent_keeps_its_deals_when_aborted() {
    let (chain, m) = setup();
    m.add_deal(None, deal(1, 1024)).await.unwrap();
    let s = allocate(&m).await;
    acquire(&m, s.id).await;
    let info = info(m.assign_ticket(s.id).await.unwrap());
    m.submit_pre_commit(s, info.clone(), false).await.unwrap();
    m.send_due().await.unwrap();
    chain.advance(11).await;
    prove_and_send(&m, s, &info).await;
    assert_eq!(chain.pending_messages(), 1, "the proof is sent");
    m.report_aborted(s.id, "worker gave up".into())
        .await
        .unwrap();
    assert_eq!(m.queued_deals().await.unwrap(), 0);
    assert_eq!(
        m.sector_status(s.id).await.unwrap().unwrap().deals,
        Some(vec![deal(1, 1024)])
    );
}

/// A deal no sector can activate any more (its start epoch is before the
/// earliest a new sector's proof can land) is not requeued when its
/// sector aborts, nor handed out from the queue: it is marked expired
/// with the reason.
#[tokio::test]
async fn a_deal_that_can_no_longer_be_activated_is_marked_expired_with_the_reason() {
    let (chain, m) = setup();
    let head = chain.head().await.unwrap();
    let delay = chain.network().await.unwrap().pre_commit_challenge_delay;
    m.add_deal_starting(None, deal(1, 1024), head + delay + 5)
        .await
        .unwrap();
    m.add_deal(None, deal(2, 1024)).await.unwrap();
    let a = allocate(&m).await;
    assert_eq!(
        acquire(&m, a.id).await,
        vec![deal(1, 1024), deal(2, 1024)],
        "still in time when handed out"
    );
    let now = chain.advance(6).await;
    m.report_aborted(a.id, "pc1 failed".into()).await.unwrap();
    assert_eq!(m.queued_deals().await.unwrap(), 1, "deal 2 only");
    let expired = m.expired_deals().await.unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].deal, deal(1, 1024));
    assert_eq!(expired[0].start_epoch, Some(head + delay + 5));
    let start = (head + delay + 5).to_string();
    let earliest = (now + delay).to_string();
    for part in [start.as_str(), earliest.as_str(), "earliest"] {
        assert!(expired[0].reason.contains(part), "{}", expired[0].reason);
    }
    let b = allocate(&m).await;
    assert_eq!(acquire(&m, b.id).await, vec![deal(2, 1024)]);

    // One that expires while queued is never handed out.
    m.add_deal_starting(None, deal(3, 1024), now + delay - 1)
        .await
        .unwrap();
    let c = allocate(&m).await;
    assert_eq!(acquire(&m, c.id).await, vec![]);
    let expired = m.expired_deals().await.unwrap();
    assert_eq!(
        expired.iter().map(|e| e.deal.id).collect::<Vec<_>>(),
        vec![1, 3]
    );
    assert_eq!(m.queued_deals().await.unwrap(), 0);
}

/// The pre-commit of `s` holding one 2KiB `piece`, under its ticket.
async fn info_of_piece(
    m: &LocalSectorManager,
    s: AllocatedSector,
    piece: PieceInfo,
) -> PreCommitOnChainInfo {
    let ticket = m.assign_ticket(s.id).await.unwrap();
    PreCommitOnChainInfo {
        comm_d: venus_seal_core::comm_d_of_pieces(&[piece], 2048).unwrap(),
        ..info(ticket)
    }
}

/// `s`, its pre-commit `info` landed, persisted; at its seed its proof
/// is sent and lands.
async fn persisted_and_proven(
    chain: &DevnetChain,
    m: &LocalSectorManager,
    s: AllocatedSector,
    info: &PreCommitOnChainInfo,
) {
    assert!(m.submit_persisted(s.id, "worker-1".into()).await.unwrap());
    chain.advance(10).await;
    prove_and_send(m, s, info).await;
    chain.advance(1).await;
    let polled = m.poll_proof_state(s.id).await.unwrap();
    assert_eq!(polled.state, OnChainState::Landed, "{polled:?}");
}

/// A 2KiB piece `[n; 32]` with a FIL+ allocation of client f01001 for M1
/// (`term_min`, `term_max`), queued as a direct deal: the piece, the
/// allocation's key and the deal.
fn queue_verified_deal(
    chain: &DevnetChain,
    n: u8,
    term_min: i64,
    term_max: i64,
) -> (
    PieceInfo,
    venus_seal_core::manager::VerifiedAllocationKey,
    DealInfo,
) {
    let piece = PieceInfo {
        size: PaddedPieceSize(2048),
        cid: CommD([n; 32]),
    };
    let key = chain
        .add_allocation(
            M1,
            crate::devnet::Allocation {
                client: ActorId(1001),
                data: piece.cid,
                size: piece.size,
                term_min,
                term_max,
                expiration: 1_000_000,
            },
        )
        .unwrap();
    (piece, key, DealInfo::new(0, piece).with_allocation(key))
}

/// Issue 15 item 7: a direct (DDO) deal with a FIL+ allocation, queued on
/// the manager, rides the sector's record to its prove-commit, whose piece
/// manifest claims the allocation: the devnet turns it into a claim of
/// the sector (checked as verifreg does) and counts the piece's space as
/// verified deal weight.
#[tokio::test]
async fn a_verified_deal_is_activated_with_its_allocation_claimed() {
    let (chain, m) = setup();
    let (piece, key, ddo) = queue_verified_deal(&chain, 0x42, 1_000, 5_000_000);
    m.add_deal(Some(M1), ddo.clone()).await.unwrap();

    let s = allocate(&m).await;
    let deals = acquire(&m, s.id).await;
    assert_eq!(deals, vec![ddo.clone()], "the allocation travels with it");
    let info = info_of_piece(&m, s, piece).await;
    pre_commit_sent(&m, s, &info).await;
    chain.advance(1).await;
    persisted_and_proven(&chain, &m, s, &info).await;

    let claims = chain.claims(M1).await.unwrap();
    assert_eq!(claims.len(), 1, "{claims:?}");
    assert_eq!(
        (claims[0].id, claims[0].client, claims[0].sector),
        (key.id, 1001, s.id.number)
    );
    assert!(chain.allocations(M1).unwrap().is_empty());
    let sector = chain.sector(M1, s.id.number).await.unwrap().unwrap();
    assert!(sector.verified_deal_weight > 0 && sector.deal_weight == 0);
}

/// A FIL+ allocation whose least life is longer than the manager's
/// default sector lifetime (540 days): the sector is pre-committed with an
/// expiration its terms allow (found with `ChainClient::allocation`), and
/// the claim holds at activation. With the default expiration the devnet,
/// as verifreg, would refuse the claim and the whole prove-commit.
#[tokio::test]
async fn a_verified_sector_is_pre_committed_to_outlive_its_allocations_term() {
    let (chain, m) = setup();
    let term_min = 600 * 2880;
    let (piece, _, ddo) = queue_verified_deal(&chain, 0x43, term_min, 1000 * 2880);
    m.add_deal(Some(M1), ddo).await.unwrap();
    let s = allocate(&m).await;
    acquire(&m, s.id).await;
    let info = info_of_piece(&m, s, piece).await;
    m.submit_pre_commit(s, info.clone(), false).await.unwrap();
    let head = chain.head().await.unwrap();
    m.send_due().await.unwrap();
    chain.advance(1).await;
    let pc = chain.pre_commit(M1, s.id.number).await.unwrap().unwrap();
    assert!(
        pc.info.expiration >= head + term_min + 30 * 2880,
        "expiration {} fits a claim of {term_min} epochs from any activation in the window",
        pc.info.expiration
    );
    persisted_and_proven(&chain, &m, s, &info).await;
    assert_eq!(chain.claims(M1).await.unwrap().len(), 1);
}
