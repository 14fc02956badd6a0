//! Batching, aggregation, resends and aborts, on a manual devnet and
//! tokio's paused clock (the batch timer's waits take no real time).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use venus_seal_core::chain::{MessageId, MessageState, MinerCall, MinerMessage, SendUid};
use venus_seal_core::manager::{
    AllocateSpec, AllocatedSector, OnChainState, PreCommitOnChainInfo, SubmitResult,
};
use venus_seal_core::{
    ActorId, ChainClient, ChainError, CommD, CommR, MessageSender, ProofVerifier, SealProof,
    SealVerifyInfo, SectorManager, TokenAmount, VerifyError,
};

use super::{BatchPolicy, Collateral, LocalSectorManager, ManagedMiner, ManagerConfig};
use crate::testing::{fake_seal_proof, ChainTap, FakeProofVerifier, TappedChain};
use crate::{DevnetChain, DevnetConfig, DevnetMiner};

const M1: ActorId = ActorId(1000);
const P2K: SealProof = SealProof::StackedDrg2KiBV1_1;

/// Records every message and can fail sends or report a message failed.
/// Like Lotus, it answers a uid it already took with that message.
#[derive(Debug)]
struct Recorder {
    chain: Arc<DevnetChain>,
    sent: Mutex<Vec<MinerMessage>>,
    fail_sends: AtomicUsize,
    /// Sends the next message nowhere and reports it failed on chain.
    drop_next: AtomicUsize,
    dropped: Mutex<Vec<MessageId>>,
    /// The message taken under each uid.
    uids: Mutex<std::collections::HashMap<SendUid, MessageId>>,
    /// Refuses (as a node's gas estimation does) any message carrying
    /// this sector number.
    refuse_sector: Mutex<Option<u64>>,
    /// Each push takes this long.
    latency: Mutex<Duration>,
}

impl Recorder {
    fn new(chain: Arc<DevnetChain>) -> Arc<Self> {
        Arc::new(Self {
            chain,
            sent: Mutex::new(Vec::new()),
            fail_sends: AtomicUsize::new(0),
            drop_next: AtomicUsize::new(0),
            dropped: Mutex::new(Vec::new()),
            uids: Mutex::new(Default::default()),
            refuse_sector: Mutex::new(None),
            latency: Mutex::new(Duration::ZERO),
        })
    }

    fn calls(&self) -> Vec<MinerCall> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .map(|m| m.call.clone())
            .collect()
    }
}

#[async_trait]
impl MessageSender for Recorder {
    async fn send(&self, uid: &SendUid, msg: MinerMessage) -> Result<MessageId, ChainError> {
        if let Some(id) = self.uids.lock().unwrap().get(uid) {
            return Ok(id.clone());
        }
        let latency = *self.latency.lock().unwrap();
        tokio::time::sleep(latency).await;
        if self
            .fail_sends
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(ChainError::Transport("node unreachable".into()));
        }
        if let (Some(bad), MinerCall::PreCommitSectorBatch2(pcs)) =
            (*self.refuse_sector.lock().unwrap(), &msg.call)
        {
            if pcs.iter().any(|p| p.sector_number.0 == bad) {
                return Err(ChainError::Rejected(format!(
                    "GasEstimateMessageGas error: sector {bad}: invalid CommD"
                )));
            }
        }
        self.sent.lock().unwrap().push(msg.clone());
        let id = if self
            .drop_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            let id = MessageId(format!("dropped-{}", self.dropped.lock().unwrap().len()));
            self.dropped.lock().unwrap().push(id.clone());
            id
        } else {
            self.chain.send(uid, msg).await?
        };
        self.uids.lock().unwrap().insert(uid.clone(), id.clone());
        Ok(id)
    }

    async fn state(&self, id: &MessageId) -> Result<MessageState, ChainError> {
        if self.dropped.lock().unwrap().contains(id) {
            return Ok(MessageState::Landed {
                epoch: 1,
                exit_code: 19,
                error: Some("out of gas".into()),
            });
        }
        self.chain.state(id).await
    }
}

/// Counts aggregations and can make every aggregate fail to verify.
#[derive(Debug, Default)]
struct CountingVerifier {
    aggregates: AtomicUsize,
    refuse_aggregates: bool,
}

impl ProofVerifier for CountingVerifier {
    fn verify_seal(&self, info: &SealVerifyInfo) -> Result<bool, VerifyError> {
        FakeProofVerifier.verify_seal(info)
    }
    fn aggregate_seal_proofs(&self, infos: &[SealVerifyInfo]) -> Result<Vec<u8>, VerifyError> {
        self.aggregates.fetch_add(1, Ordering::SeqCst);
        FakeProofVerifier.aggregate_seal_proofs(infos)
    }
    fn verify_aggregate_seal(
        &self,
        infos: &[SealVerifyInfo],
        aggregate: &[u8],
    ) -> Result<bool, VerifyError> {
        Ok(!self.refuse_aggregates && FakeProofVerifier.verify_aggregate_seal(infos, aggregate)?)
    }
}

struct Setup {
    chain: Arc<DevnetChain>,
    sender: Arc<Recorder>,
    verifier: Arc<CountingVerifier>,
    m: Arc<LocalSectorManager>,
}

/// Prices for the devnet: 10 attoFIL of deposit per pre-committed
/// sector, 100 of pledge beyond it per proven one; the next `fail`
/// collateral questions find the node unreachable.
#[derive(Debug)]
struct Priced {
    fail: AtomicUsize,
}

impl ChainTap for Priced {
    fn check(&self, method: &'static str) -> Result<(), ChainError> {
        if method == "collateral"
            && self
                .fail
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            return Err(ChainError::Transport("node unreachable".into()));
        }
        Ok(())
    }

    fn collateral(&self, call: &MinerCall) -> Option<TokenAmount> {
        let sectors = match call {
            MinerCall::PreCommitSectorBatch2(s) => 10 * s.len(),
            MinerCall::ProveCommitSectors3(s) => 100 * s.len(),
            MinerCall::ProveCommitAggregate(a) => 100 * a.sectors.len(),
            _ => 0,
        };
        Some(TokenAmount(sectors as u128))
    }
}

fn setup(miner: ManagedMiner, verifier: CountingVerifier) -> Setup {
    setup_on(miner, verifier, None)
}

/// [`setup`] with the manager reading `priced` (over the same devnet)
/// instead of the devnet itself.
fn setup_on(miner: ManagedMiner, verifier: CountingVerifier, fail: Option<usize>) -> Setup {
    let chain = DevnetChain::new(
        DevnetConfig::with_miners(vec![DevnetMiner {
            id: M1,
            allowed_proofs: vec![P2K],
        }]),
        Arc::new(FakeProofVerifier),
    );
    let sender = Recorder::new(chain.clone());
    let verifier = Arc::new(verifier);
    let reader: Arc<dyn ChainClient> = match fail {
        None => chain.clone(),
        Some(fail) => TappedChain::new(
            chain.clone(),
            Priced {
                fail: AtomicUsize::new(fail),
            },
        ),
    };
    let m = LocalSectorManager::in_memory(
        ManagerConfig::new(vec![miner]),
        reader,
        sender.clone(),
        verifier.clone(),
    );
    Setup {
        chain,
        sender,
        verifier,
        m,
    }
}

fn info(n: u8, ticket: venus_seal_core::Ticket) -> PreCommitOnChainInfo {
    PreCommitOnChainInfo {
        comm_r: CommR([n; 32]),
        comm_d: CommD([0xdd; 32]),
        ticket,
        deals: vec![],
    }
}

/// [`setup`] of M1 batching its pre-commits and its proofs as given.
fn batching(pre_commits: BatchPolicy, proofs: BatchPolicy) -> Setup {
    setup(
        ManagedMiner::new(M1, P2K).with_batching(pre_commits, proofs),
        CountingVerifier::default(),
    )
}

/// [`setup`] of M1 as [`ManagedMiner::new`] makes it.
fn plain() -> Setup {
    setup(ManagedMiner::new(M1, P2K), CountingVerifier::default())
}

async fn allocate(s: &Setup) -> AllocatedSector {
    s.m.allocate_sector(AllocateSpec::default())
        .await
        .unwrap()
        .unwrap()
}

/// A new sector and its pre-commit info `n` under its ticket, not
/// submitted.
async fn ticketed(s: &Setup, n: u8) -> (AllocatedSector, PreCommitOnChainInfo) {
    let sector = allocate(s).await;
    let info = info(n, s.m.assign_ticket(sector.id).await.unwrap());
    (sector, info)
}

/// Submits the pre-commit (accepted) and runs what the batch timer would.
async fn submit_pre_commit(s: &Setup, sector: AllocatedSector, info: &PreCommitOnChainInfo) {
    let r =
        s.m.submit_pre_commit(sector, info.clone(), false)
            .await
            .unwrap();
    assert_eq!(r.res, SubmitResult::Accepted, "{r:?}");
    // Batches go out from the timer, not inside the call.
    s.m.send_due().await.unwrap();
}

async fn pre_commit(s: &Setup, n: u8) -> (AllocatedSector, PreCommitOnChainInfo) {
    let (sector, info) = ticketed(s, n).await;
    submit_pre_commit(s, sector, &info).await;
    (sector, info)
}

async fn prove(s: &Setup, sector: AllocatedSector, info: &PreCommitOnChainInfo) {
    let seed = s.m.wait_seed(sector).await.unwrap().seed.unwrap();
    let proof = fake_seal_proof(sector, info, seed.seed);
    let r = s.m.submit_proof(sector.id, proof, false).await.unwrap();
    assert_eq!(r.res, SubmitResult::Accepted, "{r:?}");
    // Batches go out from the timer, not inside the call.
    s.m.send_due().await.unwrap();
}

async fn state(s: &Setup, sector: AllocatedSector, proof: bool) -> OnChainState {
    let polled = if proof {
        s.m.poll_proof_state(sector.id).await
    } else {
        s.m.poll_pre_commit_state(sector.id).await
    };
    polled.unwrap().state
}

/// The chain advances an epoch and each of `sectors` polls landed (its
/// proof, or its pre-commit).
async fn land(s: &Setup, sectors: impl IntoIterator<Item = AllocatedSector>, proof: bool) {
    s.chain.advance(1).await;
    for sector in sectors {
        assert_eq!(state(s, sector, proof).await, OnChainState::Landed);
    }
}

fn batched(threshold: usize, wait_secs: u64) -> BatchPolicy {
    BatchPolicy::batched(threshold, Duration::from_secs(wait_secs))
}

/// The pre-commit of `a` with `info`, as a manager sends it.
fn pre_commit_message(a: AllocatedSector, info: &PreCommitOnChainInfo) -> MinerMessage {
    MinerMessage::new(
        M1,
        MinerCall::PreCommitSectorBatch2(vec![venus_seal_core::chain::PreCommitParams {
            sector_number: a.id.number,
            seal_proof: P2K,
            sealed_cid: info.comm_r,
            unsealed_cid: info.comm_d,
            seal_rand_epoch: info.ticket.epoch,
            deal_ids: vec![],
            expiration: 1_000_000,
        }]),
    )
}

#[tokio::test(start_paused = true)]
async fn pre_commits_wait_for_the_threshold_then_go_in_one_message() {
    let s = batching(batched(3, 3600), BatchPolicy::IMMEDIATE);
    let (a, _) = pre_commit(&s, 1).await;
    let (b, _) = pre_commit(&s, 2).await;
    assert!(s.sender.calls().is_empty(), "2 of 3: nothing sent");
    assert_eq!(state(&s, a, false).await, OnChainState::Pending);
    let (c, _) = pre_commit(&s, 3).await;
    let calls = s.sender.calls();
    assert_eq!(calls.len(), 1);
    let MinerCall::PreCommitSectorBatch2(batch) = &calls[0] else {
        panic!("{calls:?}")
    };
    let numbers: Vec<u64> = batch.iter().map(|p| p.sector_number.0).collect();
    assert_eq!(numbers, vec![1, 2, 3]);
    land(&s, [a, b, c], false).await;
}

#[tokio::test(start_paused = true)]
async fn a_partial_batch_goes_out_after_max_wait() {
    let s = batching(batched(10, 60), BatchPolicy::IMMEDIATE);
    let (a, _) = pre_commit(&s, 1).await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    let (b, _) = pre_commit(&s, 2).await;
    tokio::time::sleep(Duration::from_secs(29)).await;
    assert!(s.sender.calls().is_empty(), "59 s: not due yet");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let calls = s.sender.calls();
    assert_eq!(calls.len(), 1, "the timer sent the batch at 60 s");
    assert!(matches!(&calls[0], MinerCall::PreCommitSectorBatch2(b) if b.len() == 2));
    land(&s, [a, b], false).await;
}

/// Pre-commits `n` sectors, lands them and reaches their seed epoch.
async fn at_seed(s: &Setup, n: u8) -> Vec<(AllocatedSector, PreCommitOnChainInfo)> {
    let mut sectors = Vec::new();
    for i in 0..n {
        sectors.push(pre_commit(s, i + 1).await);
    }
    s.chain.advance(11).await;
    sectors
}

/// [`at_seed`], then each sector's proof submitted.
async fn proven(s: &Setup, n: u8) -> Vec<(AllocatedSector, PreCommitOnChainInfo)> {
    let sectors = at_seed(s, n).await;
    for (sector, info) in &sectors {
        prove(s, *sector, info).await;
    }
    sectors
}

/// The sectors of `sectors`, without their pre-commit infos.
fn sectors_of(sectors: &[(AllocatedSector, PreCommitOnChainInfo)]) -> Vec<AllocatedSector> {
    sectors.iter().map(|(sector, _)| *sector).collect()
}

#[tokio::test(start_paused = true)]
async fn four_proofs_go_out_as_one_verified_aggregate_and_land() {
    let s = batching(BatchPolicy::IMMEDIATE, batched(4, 3600));
    let sectors = proven(&s, 4).await;
    let calls = s.sender.calls();
    let Some(MinerCall::ProveCommitAggregate(agg)) = calls.last() else {
        panic!("{calls:?}")
    };
    assert_eq!(
        agg.sectors.iter().map(|n| n.0).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert_eq!(s.verifier.aggregates.load(Ordering::SeqCst), 1);
    land(&s, sectors_of(&sectors), true).await;
    for (sector, _) in &sectors {
        assert!(s
            .chain
            .sector(M1, sector.id.number)
            .await
            .unwrap()
            .is_some());
    }
}

#[tokio::test(start_paused = true)]
async fn an_aggregate_that_does_not_verify_is_never_sent() {
    let s = setup(
        ManagedMiner::new(M1, P2K).with_batching(BatchPolicy::IMMEDIATE, batched(4, 3600)),
        CountingVerifier {
            refuse_aggregates: true,
            ..Default::default()
        },
    );
    let sectors = proven(&s, 4).await;
    let calls = s.sender.calls();
    assert!(
        matches!(calls.last(), Some(MinerCall::ProveCommitSectors3(p)) if p.len() == 4),
        "single proofs instead: {calls:?}"
    );
    land(&s, sectors_of(&sectors), true).await;
}

#[tokio::test(start_paused = true)]
async fn fewer_proofs_than_the_aggregate_minimum_go_one_per_sector() {
    let s = batching(BatchPolicy::IMMEDIATE, batched(8, 60));
    proven(&s, 3).await;
    tokio::time::sleep(Duration::from_secs(61)).await;
    let calls = s.sender.calls();
    assert!(
        matches!(calls.last(), Some(MinerCall::ProveCommitSectors3(p)) if p.len() == 3),
        "{calls:?}"
    );
    assert_eq!(s.verifier.aggregates.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_node_keeps_the_submission_queued_and_it_is_sent_later() {
    let s = plain();
    s.sender.fail_sends.store(1, Ordering::SeqCst);
    let (a, _) = pre_commit(&s, 1).await;
    let polled = s.m.poll_pre_commit_state(a.id).await.unwrap();
    assert_eq!(polled.state, OnChainState::Pending);
    assert!(polled.desc.unwrap().contains("node unreachable"));
    // Listed as not going out, with what the node said (issue 16: an
    // alert rule and the console read it).
    let unsent = s.m.unsent_submissions();
    assert_eq!(unsent.len(), 1, "{unsent:?}");
    assert_eq!(
        (unsent[0].sector, unsent[0].kind, unsent[0].tries),
        (a.id, "pre-commit", 1)
    );
    assert!(
        unsent[0].last_error.contains("node unreachable"),
        "{unsent:?}"
    );
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(s.sender.calls().len(), 1, "retried by the timer");
    assert!(
        s.m.unsent_submissions().is_empty(),
        "sent: no longer listed"
    );
    land(&s, [a], false).await;
}

#[tokio::test(start_paused = true)]
async fn a_message_that_fails_on_chain_is_sent_again() {
    let s = plain();
    s.sender.drop_next.store(1, Ordering::SeqCst);
    let (a, _) = pre_commit(&s, 1).await;
    let polled = s.m.poll_pre_commit_state(a.id).await.unwrap();
    assert_eq!(polled.state, OnChainState::Pending, "{polled:?}");
    assert!(polled.desc.unwrap().contains("resend 1 of 3"));
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(s.sender.calls().len(), 2, "sent again");
    land(&s, [a], false).await;
    assert_eq!(
        s.m.sector_status(a.id)
            .await
            .unwrap()
            .unwrap()
            .pre_commit
            .unwrap()
            .resends,
        1
    );
}

#[tokio::test(start_paused = true)]
async fn a_ticket_that_expires_in_the_queue_means_abort() {
    let s = batching(batched(10, 3600), BatchPolicy::IMMEDIATE);
    let (a, _) = pre_commit(&s, 1).await;
    // The devnet's max pre-commit randomness lookback is 3780 epochs.
    s.chain.advance(3800).await;
    tokio::time::sleep(Duration::from_secs(3601)).await;
    assert!(s.sender.calls().is_empty(), "an expired ticket is not sent");
    let polled = s.m.poll_pre_commit_state(a.id).await.unwrap();
    assert_eq!(polled.state, OnChainState::ShouldAbort, "{polled:?}");
    assert!(polled.desc.unwrap().contains("ticket expired"));
}

#[tokio::test(start_paused = true)]
async fn a_pre_commit_sent_by_a_crashed_manager_is_found_on_chain_not_sent_twice() {
    let s = batching(batched(10, 60), BatchPolicy::IMMEDIATE);
    let (a, info) = pre_commit(&s, 1).await;
    // What a process that died after sending, before saving the id, left
    // on chain.
    s.chain
        .send(&crate::lotus::new_send_uid(), pre_commit_message(a, &info))
        .await
        .unwrap();
    s.chain.advance(1).await;
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert!(s.sender.calls().is_empty(), "not sent again");
    let polled = s.m.poll_pre_commit_state(a.id).await.unwrap();
    assert_eq!(polled.state, OnChainState::Landed, "{polled:?}");
}

#[tokio::test(start_paused = true)]
async fn sector_numbers_stay_in_the_miners_range() {
    let s = setup(
        ManagedMiner::new(M1, P2K).with_numbers(super::NumberRange::new(500, 501).unwrap()),
        CountingVerifier::default(),
    );
    let spec = AllocateSpec::default();
    let got: Vec<u64> = [
        s.m.allocate_sector(spec.clone()).await.unwrap(),
        s.m.allocate_sector(spec.clone()).await.unwrap(),
    ]
    .into_iter()
    .map(|a| a.unwrap().id.number.0)
    .collect();
    assert_eq!(got, vec![500, 501]);
    assert_eq!(
        s.m.allocate_sector(spec).await.unwrap(),
        None,
        "range used up"
    );
}

fn values(s: &Setup) -> Vec<u128> {
    s.sender
        .sent
        .lock()
        .unwrap()
        .iter()
        .map(|m| m.value.0)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn messages_carry_the_collateral_the_chain_asks() {
    let s = setup_on(
        ManagedMiner::new(M1, P2K).with_batching(batched(2, 3600), batched(2, 3600)),
        CountingVerifier::default(),
        Some(0),
    );
    let sectors = proven(&s, 2).await;
    // One pre-commit batch of 2 (2 deposits), one proof batch of 2.
    assert_eq!(values(&s), vec![20, 200]);
    land(&s, sectors_of(&sectors), true).await;
}

#[tokio::test(start_paused = true)]
async fn with_miner_balance_collateral_messages_carry_nothing() {
    let s = setup_on(
        ManagedMiner::new(M1, P2K).with_collateral(Collateral::MinerBalance),
        CountingVerifier::default(),
        Some(0),
    );
    let sectors = at_seed(&s, 1).await;
    prove(&s, sectors[0].0, &sectors[0].1).await;
    assert_eq!(values(&s), vec![0, 0]);
}

#[tokio::test(start_paused = true)]
async fn a_node_that_cannot_price_a_batch_leaves_it_queued_until_it_can() {
    let s = setup_on(
        ManagedMiner::new(M1, P2K),
        CountingVerifier::default(),
        Some(1),
    );
    let (a, _) = pre_commit(&s, 1).await;
    assert!(s.sender.calls().is_empty(), "not sent without its deposit");
    let polled = s.m.poll_pre_commit_state(a.id).await.unwrap();
    assert_eq!(polled.state, OnChainState::Pending);
    let desc = polled.desc.unwrap();
    assert!(desc.contains("cannot compute the collateral"), "{desc}");
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(
        values(&s),
        vec![10],
        "retried by the timer, deposit attached"
    );
    land(&s, [a], false).await;
}

/// The deals a sector took ride on its proof (and on an aggregate), so a
/// chain activates them with the sector.
#[tokio::test(start_paused = true)]
async fn proofs_carry_the_deals_their_sectors_took() {
    use venus_seal_core::manager::{AcquireDealsSpec, DealInfo};
    use venus_seal_core::{PaddedPieceSize, PieceInfo};
    let s = batching(BatchPolicy::IMMEDIATE, batched(4, 3600));
    let deal = DealInfo {
        id: 42,
        piece: PieceInfo {
            size: PaddedPieceSize(512),
            cid: CommD([0x0d; 32]),
        },
        allocation: None,
    };
    s.m.add_deal(Some(M1), deal.clone()).await.unwrap();
    let mut sectors = Vec::new();
    for i in 0..4u8 {
        let sector = allocate(&s).await;
        let deals =
            s.m.acquire_deals(sector.id, AcquireDealsSpec::default())
                .await
                .unwrap();
        assert_eq!(
            deals.len(),
            usize::from(i == 0),
            "the one deal goes to the first"
        );
        let info = PreCommitOnChainInfo {
            deals: deals.iter().map(|d| d.id).collect(),
            ..info(i + 1, s.m.assign_ticket(sector.id).await.unwrap())
        };
        submit_pre_commit(&s, sector, &info).await;
        sectors.push((sector, info));
    }
    s.chain.advance(11).await;
    for (sector, info) in &sectors {
        prove(&s, *sector, info).await;
    }
    let calls = s.sender.calls();
    for call in &calls {
        if let MinerCall::PreCommitSectorBatch2(batch) = call {
            assert!(
                batch.iter().all(|p| p.deal_ids.is_empty()),
                "deals ride on the proof, not the pre-commit: {batch:?}"
            );
        }
    }
    let MinerCall::ProveCommitAggregate(agg) = calls.last().unwrap() else {
        panic!("{calls:?}")
    };
    assert_eq!(agg.pieces.len(), 4);
    assert_eq!(agg.pieces[0], vec![deal]);
    assert!(agg.pieces[1..].iter().all(Vec::is_empty));
}

/// Item 2: a crash between the push and saving the message id leaves the
/// attempt's uid saved; the next batcher pushes under that uid, the
/// sender answers with the message it already took, and exactly one
/// message exists.
#[tokio::test(start_paused = true)]
async fn an_attempt_pushed_before_a_crash_is_recovered_under_its_uid_not_sent_twice() {
    let s = batching(batched(10, 60), BatchPolicy::IMMEDIATE);
    let (a, info) = pre_commit(&s, 1).await;
    // What a batcher that died after the push left: the attempt saved,
    // the message taken by the node, no message id recorded.
    let uid = crate::lotus::new_send_uid();
    let pushed = s
        .sender
        .send(&uid, pre_commit_message(a, &info))
        .await
        .unwrap();
    s.m.modify(a.id, |rec| {
        let pc = rec.pre_commit.as_mut().unwrap();
        pc.begin_attempt(uid.clone());
        pc.sending_since = Some(0);
        Ok(())
    })
    .await
    .unwrap();
    s.m.send_due().await.unwrap();
    let rec = s.m.sector_status(a.id).await.unwrap().unwrap();
    let pc = rec.pre_commit.unwrap();
    assert_eq!(pc.message, Some(pushed), "the recovered attempt's message");
    assert_eq!(pc.attempts, 1, "no new attempt");
    assert_eq!(s.sender.calls().len(), 1, "one message for one attempt");
    assert_eq!(s.chain.pending_messages(), 1);
    land(&s, [a], false).await;
}

/// Item 2: every attempt has its own uid; a resend after a failure on
/// chain is a new attempt (under the old uid the sender would answer with
/// the failed message and nothing would go out).
#[tokio::test(start_paused = true)]
async fn each_attempt_has_its_own_saved_uid() {
    let s = plain();
    s.sender.drop_next.store(1, Ordering::SeqCst);
    let (a, _) = pre_commit(&s, 1).await;
    let first = s.m.sector_status(a.id).await.unwrap().unwrap();
    let first = first.pre_commit.unwrap().attempt.unwrap();
    assert_eq!(first.number, 1);
    s.m.poll_pre_commit_state(a.id).await.unwrap();
    s.m.send_due().await.unwrap();
    let second = s.m.sector_status(a.id).await.unwrap().unwrap();
    let second = second.pre_commit.unwrap().attempt.unwrap();
    assert_eq!(second.number, 2);
    assert_ne!(first.uid, second.uid);
    assert_eq!(s.sender.uids.lock().unwrap().len(), 2);
}

/// Item 4: a sector whose abort the operator asked for is not put in a
/// batch; the others go out.
#[tokio::test(start_paused = true)]
async fn a_sector_whose_abort_was_requested_is_never_sent() {
    let s = batching(batched(2, 3600), BatchPolicy::IMMEDIATE);
    let (a, _) = pre_commit(&s, 1).await;
    s.m.request_abort(a.id, "bad disk".into()).await.unwrap();
    let (b, _) = pre_commit(&s, 2).await;
    let calls = s.sender.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let MinerCall::PreCommitSectorBatch2(batch) = &calls[0] else {
        panic!("{calls:?}")
    };
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].sector_number, b.id.number);
    let polled = s.m.poll_pre_commit_state(a.id).await.unwrap();
    assert_eq!(polled.state, OnChainState::ShouldAbort, "{polled:?}");
}

/// Item 4: the node refuses a batch because of one sector; the others go
/// out in their own attempts, the refused one stays queued (never failed
/// for good) and goes out alone once the node takes it.
#[tokio::test(start_paused = true)]
async fn one_sector_the_node_refuses_does_not_hold_the_batch_back() {
    let s = batching(batched(4, 3600), BatchPolicy::IMMEDIATE);
    *s.sender.refuse_sector.lock().unwrap() = Some(3);
    let mut sectors = Vec::new();
    for n in 1..=4 {
        sectors.push(pre_commit(&s, n).await.0);
    }
    let sent: Vec<u64> = s
        .sender
        .calls()
        .iter()
        .flat_map(|c| match c {
            MinerCall::PreCommitSectorBatch2(b) => b.iter().map(|p| p.sector_number.0).collect(),
            _ => Vec::new(),
        })
        .collect();
    assert_eq!(sent, vec![1, 2, 4], "every sector but the refused one");
    let polled = s.m.poll_pre_commit_state(sectors[2].id).await.unwrap();
    assert_eq!(polled.state, OnChainState::Pending, "{polled:?}");
    assert!(polled.desc.unwrap().contains("invalid CommD"));
    // The node takes it later: it goes out alone, without operator action.
    *s.sender.refuse_sector.lock().unwrap() = None;
    tokio::time::sleep(Duration::from_secs(3601)).await;
    s.m.send_due().await.unwrap();
    let last = s.sender.calls().pop().unwrap();
    assert!(
        matches!(&last, MinerCall::PreCommitSectorBatch2(b) if b.len() == 1 && b[0].sector_number.0 == 3),
        "{last:?}"
    );
    land(&s, sectors, false).await;
}

/// Item 4: a worker's submit call only queues; the batch timer sends.
#[tokio::test(start_paused = true)]
async fn a_submission_is_sent_by_the_timer_not_inside_the_call() {
    let s = plain();
    let (sector, info) = ticketed(&s, 1).await;
    let r = s.m.submit_pre_commit(sector, info, false).await.unwrap();
    assert_eq!(r.res, SubmitResult::Accepted);
    assert!(s.sender.calls().is_empty(), "sent inside the worker's call");
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(s.sender.calls().len(), 1, "the timer sent it");
}

/// Item 4: shutdown waits for the batch in flight (its message id is
/// recorded) and no batch starts afterwards.
#[tokio::test(start_paused = true)]
async fn shutdown_finishes_the_batch_in_flight_and_starts_no_other() {
    let s = plain();
    *s.sender.latency.lock().unwrap() = Duration::from_secs(5);
    let (sector, info1) = ticketed(&s, 1).await;
    s.m.submit_pre_commit(sector, info1, false).await.unwrap();
    // The timer starts the push (5 s long); shutdown comes meanwhile.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(s.m.shutdown(Duration::from_secs(30)).await, "finished");
    let rec = s.m.sector_status(sector.id).await.unwrap().unwrap();
    assert!(rec.pre_commit.unwrap().message.is_some(), "its id recorded");
    let (other, info2) = ticketed(&s, 2).await;
    s.m.submit_pre_commit(other, info2, false).await.unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    s.m.send_due().await.unwrap();
    assert_eq!(s.sender.calls().len(), 1, "nothing sent after shutdown");
}
