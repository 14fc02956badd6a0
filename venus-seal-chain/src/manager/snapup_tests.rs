//! Snap-up jobs on the manager: requested for a proven CC sector (refused
//! otherwise), handed to a worker with deals from the queue (none queued:
//! no job), the worker's result checked (pieces, CommD, proof, files),
//! sent in a `ProveReplicaUpdates3` batch the devnet executes, watched
//! until it lands and is final, the CC replica then removed; failures
//! retried, then given up with the deals back in the queue; a message
//! that failed on chain sent again.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use venus_seal_core::chain::{
    MessageId, MessageState, MinerCall, MinerMessage, OnChainSector, SendUid,
};
use venus_seal_core::manager::{AcquireDealsSpec, AllocateSpec, DealInfo};
use venus_seal_core::proving::{ReplicaUpdateVerifyInfo, SectorFiles, SectorLocator};
use venus_seal_core::snapup::{
    SnapUpJobSource, SnapUpOrigin, SnapUpProof, SnapUpState, SnapUpVerdict,
};
use venus_seal_core::stage::Proof;
use venus_seal_core::testing::FakeProofVerifier;
use venus_seal_core::{
    ActorId, ChainClient, ChainError, CommD, CommR, ManagerError, MessageSender, SealProof,
    SectorId, SectorManager,
};

use super::{
    LocalSectorManager, ManagedMiner, ManagerConfig, MemoryManagerStore, SectorStatus,
    SnapUpSettings,
};
use crate::testing::stand_in_piece as piece;
use crate::{DevnetChain, DevnetConfig, DevnetMiner};

const M1: ActorId = ActorId(1000);
const P2K: SealProof = SealProof::StackedDrg2KiBV1_1;

/// Sectors under `root` in a persist store's layout: `sealed/`, `cache/`,
/// `update/`, `update-cache/`.
#[derive(Debug)]
struct Layout(PathBuf);

impl Layout {
    fn files(&self, kind: &str, cache: &str, sector: SectorId) -> SectorFiles {
        SectorFiles {
            sealed: self.0.join(kind).join(sector.to_string()),
            cache: self.0.join(cache).join(sector.to_string()),
        }
    }

    fn write(files: &SectorFiles) {
        std::fs::create_dir_all(files.sealed.parent().unwrap()).unwrap();
        std::fs::write(&files.sealed, b"replica").unwrap();
        std::fs::create_dir_all(&files.cache).unwrap();
        std::fs::write(files.cache.join("p_aux"), b"aux").unwrap();
    }
}

impl SectorLocator for Layout {
    fn locate(&self, sector: SectorId) -> Option<SectorFiles> {
        Some(self.files("sealed", "cache", sector))
    }

    fn locate_update(&self, sector: SectorId) -> Option<SectorFiles> {
        Some(self.files("update", "update-cache", sector)).filter(|f| f.sealed.is_file())
    }
}

/// A sender whose first `fail_first` `ProveReplicaUpdates3` pushes land as failed (exit code 16,
/// nothing sent to the chain); the rest go to the devnet.
#[derive(Debug)]
struct FailingFirst {
    chain: Arc<DevnetChain>,
    fail_first: usize,
    sent: AtomicUsize,
}

#[async_trait]
impl MessageSender for FailingFirst {
    async fn send(&self, uid: &SendUid, msg: MinerMessage) -> Result<MessageId, ChainError> {
        if !matches!(msg.call, MinerCall::ProveReplicaUpdates3(_)) {
            return self.chain.send(uid, msg).await;
        }
        let n = self.sent.fetch_add(1, Ordering::SeqCst);
        if n < self.fail_first {
            return Ok(MessageId(format!("failed-{n}")));
        }
        self.chain.send(uid, msg).await
    }

    async fn state(&self, id: &MessageId) -> Result<MessageState, ChainError> {
        if id.0.starts_with("failed-") {
            return Ok(MessageState::Landed {
                exit_code: 16,
                error: Some("injected: the update was refused".into()),
                epoch: self.chain.current_epoch(),
            });
        }
        self.chain.state(id).await
    }
}

struct Setup {
    chain: Arc<DevnetChain>,
    m: Arc<LocalSectorManager>,
    dir: tempfile::TempDir,
    sender: Arc<FailingFirst>,
}

fn setup(fail_first: usize) -> Setup {
    setup_with(fail_first, ManagedMiner::new(M1, P2K))
}

fn setup_with(fail_first: usize, miner: ManagedMiner) -> Setup {
    let chain = DevnetChain::new(
        DevnetConfig::with_miners(vec![DevnetMiner {
            id: M1,
            allowed_proofs: vec![P2K],
        }]),
        Arc::new(FakeProofVerifier),
    );
    let sender = Arc::new(FailingFirst {
        chain: chain.clone(),
        fail_first,
        sent: AtomicUsize::new(0),
    });
    let mut config = ManagerConfig::new(vec![miner]);
    config.snap_up = SnapUpSettings {
        final_after: 5,
        remove_cc_data: true,
    };
    let m = LocalSectorManager::new(
        config,
        Arc::new(MemoryManagerStore::new()),
        chain.clone(),
        sender.clone(),
        Arc::new(FakeProofVerifier),
    );
    let dir = tempfile::tempdir().unwrap();
    m.set_sector_files(Arc::new(Layout(dir.path().into())))
        .unwrap();
    Setup {
        chain,
        m,
        dir,
        sender,
    }
}

/// A CC sector sealed and finalized here, proven on chain, its files in
/// the layout.
async fn proven_cc(s: &Setup) -> SectorId {
    proven_cc_until(s, 2_000_000).await
}

/// [`proven_cc`] expiring at `expiration`.
async fn proven_cc_until(s: &Setup, expiration: i64) -> SectorId {
    let (sector, info) =
        crate::testing::persisted_deal_sector(&s.chain, &s.m, M1, &[], "store-1").await;
    // Twelve sectors first fill deadlines 0 to 2 (four per partition):
    // the open deadline, the next and the one after refuse updates.
    let filled = s
        .chain
        .sector(M1, venus_seal_core::SectorNumber(900))
        .await
        .unwrap()
        .is_some();
    for n in (900..912).filter(|_| !filled) {
        s.chain
            .activate_sector_without_proof(
                M1,
                OnChainSector {
                    number: venus_seal_core::SectorNumber(n),
                    seal_proof: P2K,
                    sealed_cid: CommR([n as u8; 32]),
                    activation: 0,
                    expiration: 2_000_000,
                    deal_weight: 0,
                    verified_deal_weight: 0,
                    sector_key: None,
                },
            )
            .unwrap();
    }
    s.chain
        .activate_sector_without_proof(
            M1,
            OnChainSector {
                number: sector.id.number,
                seal_proof: P2K,
                sealed_cid: info.comm_r,
                activation: 0,
                expiration,
                deal_weight: 0,
                verified_deal_weight: 0,
                sector_key: None,
            },
        )
        .unwrap();
    Layout::write(&layout(s).files("sealed", "cache", sector.id));
    sector.id
}

fn layout(s: &Setup) -> Layout {
    Layout(s.dir.path().into())
}

async fn status(m: &LocalSectorManager, sector: SectorId) -> SectorStatus {
    m.sector_status(sector).await.unwrap().unwrap()
}

/// The result a worker would submit for `deals` on a CC replica
/// `comm_r_old`: a proof the fake verifier accepts.
fn result_for(comm_r_old: CommR, deals: &[DealInfo]) -> SnapUpProof {
    let pieces: Vec<_> = deals.iter().map(|d| d.piece).collect();
    let comm_d_new = venus_seal_core::comm_d_of_pieces(&pieces, P2K.sector_size().0).unwrap();
    let comm_r_new = CommR([0xbb; 32]);
    let proof = FakeProofVerifier::update_proof_for(&ReplicaUpdateVerifyInfo {
        seal_proof: P2K,
        comm_r_old,
        comm_r_new,
        comm_d_new,
        proof: Vec::new(),
    });
    SnapUpProof {
        comm_r_new,
        comm_d_new,
        pieces: pieces.iter().map(|p| p.cid).collect(),
        proof: Proof { proof },
        instance: "store-2".into(),
    }
}

/// A proven CC sector with a snap-up job handed out with one queued
/// deal, its updated files persisted: the job and the result a worker
/// would submit.
async fn handed_out(s: &Setup) -> (SectorId, SnapUpProof) {
    let sector = proven_cc(s).await;
    s.m.add_deal(Some(M1), DealInfo::new(7, piece(1, 1024)))
        .await
        .unwrap();
    s.m.request_snap_up(sector, SnapUpOrigin::Operator)
        .await
        .unwrap();
    let a =
        s.m.allocate_snap_up(AllocateSpec::default(), AcquireDealsSpec::default())
            .await
            .unwrap()
            .expect("a job with the deal");
    Layout::write(&layout(s).files("update", "update-cache", sector));
    (sector, result_for(a.comm_r_old, &a.deals))
}

#[tokio::test]
async fn a_snap_up_takes_deals_lands_and_frees_the_cc_replica() {
    let s = setup(0);
    let m = &s.m;
    // Not on chain: refused.
    let fresh = m
        .allocate_sector(AllocateSpec::default())
        .await
        .unwrap()
        .unwrap();
    match m.request_snap_up(fresh.id, SnapUpOrigin::Operator).await {
        Err(ManagerError::Rejected(msg)) => assert!(msg.contains("not proven"), "{msg}"),
        other => panic!("{other:?}"),
    }
    let sector = proven_cc(&s).await;
    let job = m
        .request_snap_up(sector, SnapUpOrigin::Operator)
        .await
        .unwrap();
    assert_eq!(job.state, SnapUpState::Pending);
    assert_eq!(job.comm_r_old, CommR([0xaa; 32]));
    assert_eq!(job.cc_instance, "store-1");

    // No deal waits: no job, and the job waits as it was.
    let none = m
        .allocate_snap_up(AllocateSpec::default(), AcquireDealsSpec::default())
        .await
        .unwrap();
    assert_eq!(none, None);
    let rec = status(m, sector).await;
    assert_eq!(rec.snap_up.as_ref().unwrap().state, SnapUpState::Pending);
    assert_eq!(rec.snap_up.as_ref().unwrap().attempts, 0);
    assert_eq!(rec.deals, Some(Vec::new()));

    m.add_deal(Some(M1), DealInfo::new(7, piece(1, 1024)))
        .await
        .unwrap();
    let a = m
        .allocate_snap_up(AllocateSpec::default(), AcquireDealsSpec::default())
        .await
        .unwrap()
        .expect("a job with the deal");
    assert_eq!(a.sector.id, sector);
    assert_eq!(a.comm_r_old, CommR([0xaa; 32]));
    assert_eq!(a.instance, "store-1");
    assert_eq!(a.deals, vec![DealInfo::new(7, piece(1, 1024))]);
    // One worker at a time.
    assert_eq!(
        m.allocate_snap_up(AllocateSpec::default(), AcquireDealsSpec::default())
            .await
            .unwrap(),
        None
    );

    // The result is checked before it is taken.
    let good = result_for(a.comm_r_old, &a.deals);
    let mut other_piece = good.clone();
    other_piece.pieces[0] = CommD([9; 32]);
    assert!(matches!(
        m.submit_snap_up(sector, other_piece).await.unwrap(),
        SnapUpVerdict::Rejected(why) if why.contains("piece cid not match")
    ));
    let mut bad_proof = good.clone();
    bad_proof.proof.proof[0] ^= 1;
    assert!(matches!(
        m.submit_snap_up(sector, bad_proof).await.unwrap(),
        SnapUpVerdict::Rejected(why) if why.contains("does not verify")
    ));
    // The updated files are not in the stores yet.
    assert!(matches!(
        m.submit_snap_up(sector, good.clone()).await.unwrap(),
        SnapUpVerdict::FilesMissed(_)
    ));
    let update = layout(&s).files("update", "update-cache", sector);
    Layout::write(&update);
    assert_eq!(
        m.submit_snap_up(sector, good.clone()).await.unwrap(),
        SnapUpVerdict::Accepted
    );
    // Submitted again (a worker that lost the answer): the same answer.
    assert_eq!(
        m.submit_snap_up(sector, good.clone()).await.unwrap(),
        SnapUpVerdict::Accepted
    );
    // A damocles worker ends its plan with ReportFinalized: nothing moves.
    m.report_finalized(sector).await.unwrap();
    assert_eq!(
        status(m, sector).await.snap_up.unwrap().state,
        SnapUpState::Proven
    );

    // Sent as ProveReplicaUpdates3; the devnet executes it.
    m.send_due().await.unwrap();
    s.chain.advance(1).await;
    m.watch_snap_ups().await;
    let on_chain = s.chain.sector(M1, sector.number).await.unwrap().unwrap();
    assert_eq!(on_chain.sealed_cid, good.comm_r_new);
    assert_eq!(on_chain.sector_key, Some(CommR([0xaa; 32])));
    let rec = status(m, sector).await;
    assert!(
        matches!(
            rec.snap_up.as_ref().unwrap().state,
            SnapUpState::Landed { .. }
        ),
        "{:?}",
        rec.snap_up
    );
    // Not final yet: the CC replica stays.
    let cc = layout(&s).files("sealed", "cache", sector);
    assert!(cc.sealed.is_file());
    s.chain.advance(5).await;
    assert_eq!(m.watch_snap_ups().await, 0);
    let rec = status(m, sector).await;
    let job = rec.snap_up.as_ref().unwrap();
    assert!(matches!(job.state, SnapUpState::Done { .. }), "{job:?}");
    assert!(job.cc_data_removed);
    assert_eq!(rec.persisted_at.as_deref(), Some("store-2"));
    assert!(!cc.sealed.exists() && !cc.cache.exists());
    assert!(update.sealed.is_file() && update.cache.is_dir());
    assert!(rec.history.iter().any(|e| e.next == "SnapUpDone"));
    // Its sealed replica is not its data any more: neither unsealed nor
    // rebuilt.
    match m
        .request_rebuild(
            sector,
            venus_seal_core::rebuild::RebuildOrigin::Operator,
            "disk died".into(),
        )
        .await
    {
        Err(ManagerError::Rejected(msg)) => assert!(msg.contains("snapped up"), "{msg}"),
        other => panic!("{other:?}"),
    }
    match m
        .request_unseal(sector, piece(1, 1024).cid, "/tmp/piece".into())
        .await
    {
        Err(ManagerError::Rejected(msg)) => assert!(msg.contains("snapped up"), "{msg}"),
        other => panic!("{other:?}"),
    }
    // Snapped up once: a second request is refused.
    assert!(m
        .request_snap_up(sector, SnapUpOrigin::Operator)
        .await
        .is_err());
}

#[tokio::test]
async fn a_failing_snap_up_is_retried_then_given_up_and_its_deals_go_back() {
    let s = setup(0);
    let m = &s.m;
    let sector = proven_cc(&s).await;
    m.add_deal(Some(M1), DealInfo::new(7, piece(1, 1024)))
        .await
        .unwrap();
    m.request_snap_up(sector, SnapUpOrigin::Operator)
        .await
        .unwrap();
    // A worker persisted an update whose proof was never taken.
    let update = layout(&s).files("update", "update-cache", sector);
    Layout::write(&update);
    for attempt in 1..=3u32 {
        let a = m
            .allocate_snap_up(AllocateSpec::default(), AcquireDealsSpec::default())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("attempt {attempt} handed out"));
        // The deals stay with the job between attempts.
        assert_eq!(a.deals.len(), 1);
        assert_eq!(m.queued_deals().await.unwrap(), 0);
        if attempt == 2 {
            // A damocles worker gives up with ReportAborted: the job's
            // failure, not the sector's.
            m.report_aborted(sector, "snap_encode failed".into())
                .await
                .unwrap();
        } else {
            m.snap_up_failed(sector, format!("disk full {attempt}"))
                .await
                .unwrap();
        }
    }
    let rec = status(m, sector).await;
    let job = rec.snap_up.as_ref().unwrap();
    assert!(matches!(job.state, SnapUpState::Failed { .. }), "{job:?}");
    assert_eq!(job.last_error.as_deref(), Some("disk full 3"));
    assert_eq!(rec.aborted, None, "the sector is not aborted");
    assert!(rec.finalized);
    assert_eq!(rec.deals, Some(Vec::new()));
    assert_eq!(
        m.queued_deals().await.unwrap(),
        1,
        "the deal is queued again"
    );
    assert!(
        !update.sealed.exists() && !update.cache.exists(),
        "its files removed"
    );
    assert!(
        layout(&s).files("sealed", "cache", sector).sealed.is_file(),
        "the CC replica kept"
    );
    // Nothing more is handed out; a new request starts a new job.
    assert_eq!(
        m.allocate_snap_up(AllocateSpec::default(), AcquireDealsSpec::default())
            .await
            .unwrap(),
        None
    );
    let again = m
        .request_snap_up(sector, SnapUpOrigin::Operator)
        .await
        .unwrap();
    assert_eq!(again.state, SnapUpState::Pending);
}

/// Fault injection: the first `ProveReplicaUpdates3` fails on chain; the
/// manager sends it again and the update lands. Every push failing gives
/// the job up after the resends, its deal back in the queue.
#[tokio::test]
async fn a_snap_up_message_that_failed_on_chain_is_sent_again() {
    for (fail_first, lands) in [(1, true), (10, false)] {
        let s = setup(fail_first);
        let m = &s.m;
        let (sector, good) = handed_out(&s).await;
        m.submit_snap_up(sector, good.clone()).await.unwrap();
        for _ in 0..6 {
            m.send_due().await.unwrap();
            s.chain.advance(1).await;
            m.watch_snap_ups().await;
            // The retry back-off is in the batcher's memory: forgotten so
            // the next round sends at once.
            m.times().retry_after.clear();
        }
        let rec = status(m, sector).await;
        let job = rec.snap_up.as_ref().unwrap();
        let on_chain = s.chain.sector(M1, sector.number).await.unwrap().unwrap();
        if lands {
            assert!(
                matches!(
                    job.state,
                    SnapUpState::Landed { .. } | SnapUpState::Done { .. }
                ),
                "{job:?}"
            );
            assert_eq!(on_chain.sealed_cid, good.comm_r_new);
            assert_eq!(job.submission.as_ref().unwrap().resends, 1);
        } else {
            assert!(matches!(job.state, SnapUpState::Failed { .. }), "{job:?}");
            assert!(
                job.last_error
                    .as_deref()
                    .unwrap()
                    .contains("after 3 resends"),
                "{job:?}"
            );
            assert_eq!(on_chain.sealed_cid, CommR([0xaa; 32]));
            assert_eq!(m.queued_deals().await.unwrap(), 1);
        }
        assert!(s.sender.sent.load(Ordering::SeqCst) >= 2);
    }
}

/// A miner's policy picks its own CC sectors when a worker asks and none
/// waits: only with deals queued, only sectors with enough life left, at
/// most `max_in_flight` open.
#[tokio::test]
async fn the_policy_picks_cc_sectors_with_life_left_up_to_its_cap() {
    let policy = super::SnapUpPolicy {
        min_remaining_epochs: 100_000,
        max_in_flight: 1,
    };
    let s = setup_with(0, ManagedMiner::new(M1, P2K).with_snap_up(policy));
    let m = &s.m;
    let short = proven_cc_until(&s, 5_000).await;
    let long = proven_cc(&s).await;
    let other = proven_cc(&s).await;
    let ask = || m.allocate_snap_up(AllocateSpec::default(), AcquireDealsSpec::default());
    // No deals queued: nothing picked.
    assert_eq!(ask().await.unwrap(), None);
    assert!(m.snap_up_jobs().await.unwrap().is_empty());
    assert_eq!(
        m.snap_up_candidates(M1, &policy).await.unwrap(),
        vec![long.number, other.number]
    );
    m.add_deal(Some(M1), DealInfo::new(7, piece(1, 1024)))
        .await
        .unwrap();
    m.add_deal(Some(M1), DealInfo::new(8, piece(2, 1024)))
        .await
        .unwrap();
    m.add_deal(Some(M1), DealInfo::new(9, piece(3, 1024)))
        .await
        .unwrap();
    let a = ask().await.unwrap().expect("a picked sector");
    assert_eq!(a.sector.id, long, "the short-lived sector is skipped");
    assert_eq!(a.deals.len(), 2, "as many as fit");
    let jobs = m.snap_up_jobs().await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].1.origin, SnapUpOrigin::Policy);
    // At the cap: the other sector waits although a deal does.
    assert_eq!(ask().await.unwrap(), None);
    assert_eq!(m.queued_deals().await.unwrap(), 1);
    assert!(status(m, short).await.snap_up.is_none());
    assert!(status(m, other).await.snap_up.is_none());
}

/// An operator cancels a job before its proof goes out: the deals go
/// back, the worker's late result is refused; a landed one is refused.
#[tokio::test]
async fn an_operator_cancels_a_snap_up_before_its_proof_goes_out() {
    let s = setup(0);
    let m = &s.m;
    let (sector, result) = handed_out(&s).await;
    let job = m
        .cancel_snap_up(sector, "wrong sector".into())
        .await
        .unwrap();
    assert!(matches!(job.state, SnapUpState::Failed { .. }), "{job:?}");
    assert!(job.last_error.unwrap().contains("wrong sector"));
    assert_eq!(m.queued_deals().await.unwrap(), 1);
    // The worker finishes anyway: its result is not taken.
    assert!(!matches!(
        m.submit_snap_up(sector, result).await.unwrap(),
        SnapUpVerdict::Accepted
    ));
    // Cancelling again, or a job that landed, is refused.
    assert!(m.cancel_snap_up(sector, "again".into()).await.is_err());
    let again = || async {
        m.request_snap_up(sector, SnapUpOrigin::Operator)
            .await
            .unwrap();
        let a = m
            .allocate_snap_up(AllocateSpec::default(), AcquireDealsSpec::default())
            .await
            .unwrap()
            .unwrap();
        Layout::write(&layout(&s).files("update", "update-cache", sector));
        m.submit_snap_up(sector, result_for(a.comm_r_old, &a.deals))
            .await
            .unwrap();
    };
    // Proven, its proof queued: a batcher's claim makes the cancel wait;
    // unclaimed, the cancel fails the proof too, and nothing is sent.
    again().await;
    let claim = |at: Option<u64>| {
        m.modify(sector, move |rec| {
            let sub = rec.snap_up.as_mut().unwrap().submission.as_mut().unwrap();
            sub.sending_since = at;
            Ok(())
        })
    };
    claim(Some(super::unix_now())).await.unwrap();
    match m.cancel_snap_up(sector, "mid-send".into()).await {
        Err(ManagerError::Rejected(msg)) => assert!(msg.contains("being sent"), "{msg}"),
        other => panic!("{other:?}"),
    }
    claim(None).await.unwrap();
    let job = m.cancel_snap_up(sector, "queued".into()).await.unwrap();
    assert!(job.submission.unwrap().failed);
    m.send_due().await.unwrap();
    assert_eq!(s.sender.sent.load(Ordering::SeqCst), 0, "nothing sent");
    assert_eq!(m.queued_deals().await.unwrap(), 1);
    again().await;
    m.send_due().await.unwrap();
    assert_eq!(s.sender.sent.load(Ordering::SeqCst), 1);
    match m.cancel_snap_up(sector, "late".into()).await {
        Err(ManagerError::Rejected(msg)) => assert!(msg.contains("on its way"), "{msg}"),
        other => panic!("{other:?}"),
    }
    s.chain.advance(1).await;
    m.watch_snap_ups().await;
    match m.cancel_snap_up(sector, "late".into()).await {
        Err(ManagerError::Rejected(msg)) => assert!(msg.contains("landed"), "{msg}"),
        other => panic!("{other:?}"),
    }
}
