//! Issue 13 item 3, "a failed send is retried once the cause is gone",
//! against fake peers that behave like Lotus and venus-messager on the
//! wire ([`fake`]), through the real `LotusClient` / `MessagerClient` and
//! the manager's own background sending (no `send_due` by hand: the
//! batch timer must go again on its own).
//!
//! Each scenario drives a sector as a worker does (submit, poll, seed,
//! proof) and checks: no sector is aborted for a node's failure, every
//! sector lands or aborts with the manager's reason, exactly one message
//! per attempt uid.

mod decode;
mod fake;

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use fake::{min_rbf, premium, Peers, Pushed, Where};
use venus_seal_chain::manager::ResendPolicy;
use venus_seal_chain::testing::FakeProofVerifier;
use venus_seal_chain::{
    DevnetChain, DevnetConfig, DevnetMiner, LocalSectorManager, LotusClient, ManagedMiner,
    ManagerConfig, MessagerClient, DEVNET_NETWORK,
};
use venus_seal_core::chain::MessageFee;
use venus_seal_core::manager::{
    AllocateSpec, AllocatedSector, OnChainState, PollStateResponse, PreCommitOnChainInfo,
    SubmitResult,
};
use venus_seal_core::{
    ActorId, ChainClient, MessageSender, NetworkParams, SealProof, SectorManager, TokenAmount,
};

const MINER: ActorId = ActorId(1000);
const P2K: SealProof = SealProof::StackedDrg2KiBV1_1;
/// A ticket expires 60 epochs after it was drawn on this devnet.
const NETWORK: NetworkParams = NetworkParams {
    max_pre_commit_randomness_lookback: 60,
    ..DEVNET_NETWORK
};

/// Which peer sends the manager's messages.
#[derive(Clone, Copy, Debug)]
enum Via {
    Lotus,
    Messager,
}

struct World {
    chain: Arc<DevnetChain>,
    peers: Peers,
    manager: Arc<LocalSectorManager>,
}

/// Retries within milliseconds; a message stuck 3 epochs is replaced.
fn fast_policy() -> ResendPolicy {
    ResendPolicy {
        first_retry: Duration::from_millis(20),
        max_retry: Duration::from_millis(100),
        stuck_after_epochs: Some(3),
        ..ResendPolicy::default()
    }
}

async fn world(via: Via) -> World {
    world_with(via, fast_policy()).await
}

async fn world_with(via: Via, policy: ResendPolicy) -> World {
    let chain = DevnetChain::new(
        DevnetConfig {
            network: NETWORK,
            ..DevnetConfig::with_miners(vec![DevnetMiner {
                id: MINER,
                allowed_proofs: vec![P2K],
            }])
        },
        Arc::new(FakeProofVerifier),
    );
    let peers = Peers::new(chain.clone());
    let url = peers.serve().await;
    let sender: Arc<dyn MessageSender> = match via {
        Via::Lotus => Arc::new(LotusClient::new(&url, None, "f3wallet".into()).unwrap()),
        Via::Messager => Arc::new(MessagerClient::new(&url, None, "f3wallet".into()).unwrap()),
    };
    let mut config = ManagerConfig::new(vec![ManagedMiner::new(MINER, P2K)]);
    config.resend = policy;
    let manager =
        LocalSectorManager::in_memory(config, chain.clone(), sender, Arc::new(FakeProofVerifier));
    World {
        chain,
        peers,
        manager,
    }
}

/// Waits (real time, up to 10 s) until `f` answers `Some`.
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    for _ in 0..500 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

/// A poll a node's failure may never turn into an abort.
fn not_aborted(what: &str, p: &PollStateResponse) {
    assert!(
        !matches!(
            p.state,
            OnChainState::ShouldAbort | OnChainState::PermFailed
        ),
        "{what}: {p:?}"
    );
}

impl World {
    async fn sector(&self) -> (AllocatedSector, PreCommitOnChainInfo) {
        let m = &self.manager;
        let s = m
            .allocate_sector(AllocateSpec::default())
            .await
            .unwrap()
            .unwrap();
        let ticket = m.assign_ticket(s.id).await.unwrap();
        (s, venus_seal_chain::testing::pre_commit_info(ticket))
    }

    async fn submit_pre_commit(&self, s: AllocatedSector, info: &PreCommitOnChainInfo) {
        let r = self
            .manager
            .submit_pre_commit(s, info.clone(), false)
            .await
            .unwrap();
        assert_eq!(r.res, SubmitResult::Accepted, "{r:?}");
    }

    /// Mines and polls until the submission lands; every poll on the way
    /// must not abort.
    /// A new sector whose pre-commit was submitted and pushed: the
    /// sector, its pre-commit and the first push.
    async fn pushed_pre_commit(&self) -> (AllocatedSector, PreCommitOnChainInfo, Pushed) {
        let (s, info) = self.sector().await;
        self.submit_pre_commit(s, &info).await;
        let first = eventually("the pre-commit to be pushed", || async {
            self.peers.pushed().first().cloned()
        })
        .await;
        (s, info, first)
    }

    async fn until_landed(&self, s: AllocatedSector, proof: bool) {
        let what = if proof { "proof" } else { "pre-commit" };
        eventually(&format!("the {what} to land"), || async {
            self.peers.mine().await;
            let p = if proof {
                self.manager.poll_proof_state(s.id).await
            } else {
                self.manager.poll_pre_commit_state(s.id).await
            }
            .unwrap();
            not_aborted(what, &p);
            (p.state == OnChainState::Landed).then_some(())
        })
        .await
    }

    /// Waits for the seed and submits the sector's proof.
    async fn submit_proof(&self, s: AllocatedSector, info: &PreCommitOnChainInfo) {
        let seed = eventually("the seed", || async {
            self.chain.advance(1).await;
            self.manager.wait_seed(s).await.unwrap().seed
        })
        .await;
        let proof = venus_seal_chain::testing::fake_seal_proof(s, info, seed.seed);
        let r = self.manager.submit_proof(s.id, proof, false).await.unwrap();
        assert_eq!(r.res, SubmitResult::Accepted, "{r:?}");
    }

    /// One message per attempt uid (but for those replaced at their
    /// nonce), and `n` messages in all.
    fn one_message_per_attempt(&self, n: usize) {
        let pushed: Vec<_> = self
            .peers
            .pushed()
            .into_iter()
            .filter(|p| p.at != Where::Replaced)
            .collect();
        let uids: HashSet<_> = pushed.iter().map(|p| p.uid.clone()).collect();
        assert_eq!(
            uids.len(),
            pushed.len(),
            "two messages under one uid: {pushed:#?}"
        );
        assert_eq!(pushed.len(), n, "{pushed:#?}");
    }

    async fn proven(&self, s: AllocatedSector) -> bool {
        self.chain
            .sector(MINER, s.id.number)
            .await
            .unwrap()
            .is_some()
    }
}

/// (a) The wallet is empty: Lotus refuses the push ("not enough funds",
/// code 1). The sector is not aborted; the manager pushes again on its
/// own, and once the wallet is funded the pre-commit goes out and the
/// sector lands, with one message per attempt.
async fn empty_wallet_then_funded(via: Via) {
    let w = world(via).await;
    w.peers.fund(false);
    let (s, info) = w.sector().await;
    w.submit_pre_commit(s, &info).await;
    // The manager tries again by itself while the wallet is empty.
    eventually("three refused pushes", || async {
        (w.peers.refused().len() >= 3).then_some(())
    })
    .await;
    let p = w.manager.poll_pre_commit_state(s.id).await.unwrap();
    not_aborted("the pre-commit while the wallet is empty", &p);
    assert_eq!(p.state, OnChainState::Pending, "{p:?}");
    assert!(
        p.desc
            .as_deref()
            .unwrap_or_default()
            .contains("not enough funds"),
        "the poll says why it waits: {p:?}"
    );
    assert!(w.peers.pushed().is_empty());

    w.peers.fund(true);
    eventually("the pre-commit to be pushed", || async {
        (!w.peers.pushed().is_empty()).then_some(())
    })
    .await;
    w.until_landed(s, false).await;
    w.submit_proof(s, &info).await;
    w.until_landed(s, true).await;
    assert!(w.proven(s).await);
    w.one_message_per_attempt(2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lotus_empty_wallet_is_retried_until_funded_and_the_sector_lands() {
    empty_wallet_then_funded(Via::Lotus).await;
}

/// (a) bounded: a wallet that stays empty until the ticket expires
/// aborts the sector with the manager's reason, not the node's error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lotus_empty_wallet_until_the_ticket_expires_aborts_with_the_reason() {
    let w = world(Via::Lotus).await;
    w.peers.fund(false);
    let (s, info) = w.sector().await;
    w.submit_pre_commit(s, &info).await;
    eventually("a refused push", || async {
        (!w.peers.refused().is_empty()).then_some(())
    })
    .await;
    w.chain
        .advance(NETWORK.max_pre_commit_randomness_lookback as u64 + 10)
        .await;
    let p = eventually("the abort", || async {
        let p = w.manager.poll_pre_commit_state(s.id).await.unwrap();
        (p.state == OnChainState::ShouldAbort).then_some(p)
    })
    .await;
    let desc = p.desc.unwrap_or_default();
    assert!(desc.contains("ticket expired"), "{desc}");
    assert!(w.peers.pushed().is_empty());
}

/// (b) venus-messager gives up on the pre-commit (FailedMsg): it is sent
/// again under a new attempt uid (the old one is taken: a push under it
/// would hit the duplicate-id insert, a lookup would return the failed
/// message), and the sector lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messager_failed_message_is_resent_under_a_new_uid() {
    let w = world(Via::Messager).await;
    let (s, info, first) = w.pushed_pre_commit().await;
    w.peers.set(&first.key, Where::MessagerFailed);
    let p = w.manager.poll_pre_commit_state(s.id).await.unwrap();
    not_aborted("the pre-commit after FailedMsg", &p);
    let second = eventually("the pre-commit to be pushed again", || async {
        w.peers.pushed().get(1).cloned()
    })
    .await;
    assert_ne!(second.uid, first.uid, "a new attempt has a new uid");
    w.until_landed(s, false).await;
    w.submit_proof(s, &info).await;
    w.until_landed(s, true).await;
    assert!(w.proven(s).await);
    w.one_message_per_attempt(3);
}

/// (c) One prove-commit fails on chain (exit code 16): it is sent again
/// under a new uid, which Lotus does not answer with the failed message,
/// and the sector is proven.
async fn proof_failing_on_chain_is_resent(via: Via) {
    let w = world(via).await;
    let (s, info) = w.sector().await;
    w.submit_pre_commit(s, &info).await;
    w.until_landed(s, false).await;
    w.peers.fail_next_proof(16);
    w.submit_proof(s, &info).await;
    w.until_landed(s, true).await;
    assert!(w.proven(s).await);
    let proofs: Vec<_> = w
        .peers
        .pushed()
        .into_iter()
        .filter(|p| p.is_proof())
        .collect();
    assert_eq!(proofs.len(), 2, "{proofs:#?}");
    assert!(
        matches!(proofs[0].at, Where::FailedOnChain(16, _)),
        "{proofs:#?}"
    );
    assert_ne!(proofs[0].uid, proofs[1].uid);
    w.one_message_per_attempt(3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lotus_proof_failing_on_chain_is_resent_under_a_new_uid() {
    proof_failing_on_chain_is_resent(Via::Lotus).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messager_proof_failing_on_chain_is_resent_under_a_new_uid() {
    proof_failing_on_chain_is_resent(Via::Messager).await;
}

/// Mines and polls the pre-commit `epochs` times; no poll may abort.
/// Returns the last answer and every description on the way.
async fn mine_and_poll(
    w: &World,
    s: AllocatedSector,
    epochs: usize,
) -> (PollStateResponse, Vec<String>) {
    let mut last = None;
    let mut descs = Vec::new();
    for _ in 0..epochs {
        w.peers.mine().await;
        let p = w.manager.poll_pre_commit_state(s.id).await.unwrap();
        not_aborted("the stuck pre-commit", &p);
        descs.push(p.desc.clone().unwrap_or_default());
        last = Some(p);
    }
    (last.expect("at least one epoch"), descs)
}

/// Item 2: a pre-commit stuck in a congested mpool (its premium too low
/// to be picked) is replaced after 3 epochs by the same message at the
/// same nonce with a premium of at least old × 1.25 + 1 and a fee within
/// `max_fee`; the replacement lands, the first never does.
async fn stuck_message_is_replaced(via: Via) {
    let max_fee = 1_000_000u128 * 200_000;
    let w = world_with(
        via,
        ResendPolicy {
            max_fee: TokenAmount(max_fee),
            ..fast_policy()
        },
    )
    .await;
    w.peers.congest(1200);
    let (s, info, first) = w.pushed_pre_commit().await;
    let (_, descs) = mine_and_poll(&w, s, 5).await;
    assert!(
        descs.iter().any(|d| d.contains("higher premium")),
        "{descs:#?}"
    );
    w.until_landed(s, false).await;
    let pushed = w.peers.pushed();
    let now = pushed
        .iter()
        .find(|p| p.uid == first.uid && p.at != Where::Replaced);
    let now = now.unwrap_or_else(|| panic!("{pushed:#?}"));
    assert_eq!(now.json["Nonce"], first.json["Nonce"], "same nonce");
    assert!(
        premium(&now.json) >= min_rbf(premium(&first.json)),
        "{now:#?}"
    );
    let cap: u128 = now.json["GasFeeCap"].as_str().unwrap().parse().unwrap();
    let limit = now.json["GasLimit"].as_u64().unwrap() as u128;
    assert!(cap * limit <= max_fee, "{now:#?}");
    w.submit_proof(s, &info).await;
    w.until_landed(s, true).await;
    assert!(w.proven(s).await);
    w.one_message_per_attempt(2);
}

/// Issue 13 item 3: a stuck pre-commit is replaced by the manager's own
/// timer while no worker polls (the worker died after submitting).
async fn stuck_message_is_replaced_without_a_poll(via: Via) {
    let w = world(via).await;
    w.peers.congest(1200);
    let (s, _, first) = w.pushed_pre_commit().await;
    for _ in 0..2 {
        w.peers.mine().await;
    }
    assert_eq!(
        w.manager.watch_sent().await,
        1,
        "the sent pre-commit is watched"
    );
    assert_eq!(w.peers.pushed().len(), 1, "not stuck for 3 epochs yet");
    let pending = w.manager.pending_messages();
    assert_eq!(pending.len(), 1, "{pending:?}");
    let first_sent = pending[0].first_sent;
    assert_eq!(pending[0].head - first_sent, 2, "{pending:?}");
    // Priced as the node or messager filled it (`fake::fill`), read back
    // through `ChainGetMessage` / `GetMessageByUid`.
    let fee = MessageFee {
        gas_limit: 1_000_000,
        fee_cap: TokenAmount(100_000),
        premium: TokenAmount(1_000),
    };
    assert_eq!(pending[0].fee, Some(fee), "{via:?}: {pending:?}");
    for _ in 0..2 {
        w.peers.mine().await;
    }
    w.manager.watch_sent().await;
    let pushed = w.peers.pushed();
    let replacement = pushed
        .iter()
        .find(|p| p.uid == first.uid && p.at != Where::Replaced)
        .unwrap_or_else(|| panic!("no replacement without a poll: {pushed:#?}"));
    assert_eq!(replacement.json["Nonce"], first.json["Nonce"], "same nonce");
    assert!(
        premium(&replacement.json) >= min_rbf(premium(&first.json)),
        "{replacement:#?}"
    );
    // Replaced, it is still seen pending since its first send, at the
    // replacement's price.
    w.manager.watch_sent().await;
    let pending = w.manager.pending_messages();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0].first_sent, first_sent, "{pending:?}");
    let priced = pending[0].fee.expect("the replacement is priced");
    assert_eq!(
        priced.premium.0,
        premium(&replacement.json),
        "{via:?}: {pending:?}"
    );
    assert_ne!(priced, fee, "{via:?}");
    // A worker polling later finds the replacement recorded, and the
    // sector lands through it.
    w.until_landed(s, false).await;
    w.one_message_per_attempt(1);
    w.manager.watch_sent().await;
    assert!(
        w.manager.pending_messages().is_empty(),
        "landed: no longer pending"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stuck_message_is_replaced_by_the_timer_without_a_poll() {
    for via in [Via::Lotus, Via::Messager] {
        stuck_message_is_replaced_without_a_poll(via).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lotus_stuck_message_is_replaced_with_a_higher_premium() {
    stuck_message_is_replaced(Via::Lotus).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messager_stuck_message_is_replaced_with_a_higher_premium() {
    stuck_message_is_replaced(Via::Messager).await;
}

/// (b) for Lotus: a pre-commit dropped from the mpool never executes
/// (`StateSearchMsg` keeps answering `null`); after 3 epochs it is pushed
/// again at its nonce and the sector lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lotus_message_dropped_from_the_mpool_goes_out_again() {
    let w = world(Via::Lotus).await;
    let (s, _, first) = w.pushed_pre_commit().await;
    w.peers.set(&first.key, Where::Dropped);
    mine_and_poll(&w, s, 5).await;
    w.until_landed(s, false).await;
    assert_eq!(w.peers.pushed().len(), 2);
    w.one_message_per_attempt(1);
}

/// A replacement `max_fee` cannot pay for is not sent: the poll says why,
/// the sector is not aborted, and nothing more is pushed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replacement_above_max_fee_is_not_sent() {
    let w = world_with(
        Via::Lotus,
        ResendPolicy {
            max_fee: TokenAmount(1_000_000 * 1000),
            ..fast_policy()
        },
    )
    .await;
    w.peers.congest(1200);
    let (s, info) = w.sector().await;
    w.submit_pre_commit(s, &info).await;
    eventually("the pre-commit to be pushed", || async {
        w.peers.pushed().first().cloned()
    })
    .await;
    let (p, _) = mine_and_poll(&w, s, 5).await;
    let desc = p.desc.unwrap_or_default();
    assert!(desc.contains("exceeds the max fee"), "{desc}");
    assert_eq!(w.peers.pushed().len(), 1);
}

/// Item 3, `sectors resend`: with replacement turned off, a pre-commit
/// dropped from the mpool waits for ever; the operator's forced resend
/// sends it under a new attempt uid, and the sector lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_forced_resend_goes_out_under_a_new_uid() {
    let w = world_with(
        Via::Lotus,
        ResendPolicy {
            stuck_after_epochs: None,
            ..fast_policy()
        },
    )
    .await;
    let (s, _, first) = w.pushed_pre_commit().await;
    w.peers.set(&first.key, Where::Dropped);
    let (p, _) = mine_and_poll(&w, s, 5).await;
    assert_eq!(p.state, OnChainState::Packed, "{p:?}");
    assert_eq!(w.peers.pushed().len(), 1, "nothing happens on its own");
    assert_eq!(w.manager.force_resend(s.id).await.unwrap(), "pre-commit");
    let second = eventually("the forced resend", || async {
        w.peers.pushed().get(1).cloned()
    })
    .await;
    assert_ne!(second.uid, first.uid);
    w.until_landed(s, false).await;
}

/// Item 3, the worker's `reset`: a proof that failed on chain more often
/// than the manager resends on its own ends `PermFailed`; the worker's
/// resubmission with `reset` is accepted, goes out under a new uid and
/// lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_resubmission_after_perm_failed_is_accepted_and_lands() {
    let w = world(Via::Lotus).await;
    let (s, info) = w.sector().await;
    w.submit_pre_commit(s, &info).await;
    w.until_landed(s, false).await;
    w.peers.fail_proofs(16, 100);
    w.submit_proof(s, &info).await;
    let p = eventually("the proof to end PermFailed", || async {
        w.peers.mine().await;
        let p = w.manager.poll_proof_state(s.id).await.unwrap();
        assert_ne!(p.state, OnChainState::ShouldAbort, "{p:?}");
        (p.state == OnChainState::PermFailed).then_some(p)
    })
    .await;
    assert!(p.desc.unwrap_or_default().contains("resends"));
    w.peers.fail_proofs(0, 0);
    let sent = w.peers.pushed().len();
    let proof = w.peers.pushed().last().unwrap().msg.clone();
    let venus_seal_core::chain::MinerCall::ProveCommitSectors3(ref ps) = proof.call else {
        panic!("{proof:?}")
    };
    let again = w
        .manager
        .submit_proof(s.id, ps[0].proof.clone(), false)
        .await
        .unwrap();
    assert_eq!(
        again.res,
        SubmitResult::DuplicateSubmit,
        "without reset: {again:?}"
    );
    let r = w
        .manager
        .submit_proof(s.id, ps[0].proof.clone(), true)
        .await
        .unwrap();
    assert_eq!(r.res, SubmitResult::Accepted, "{r:?}");
    w.until_landed(s, true).await;
    assert!(w.proven(s).await);
    let pushed = w.peers.pushed();
    assert_eq!(pushed.len(), sent + 1, "{pushed:#?}");
    w.one_message_per_attempt(sent + 1);
}
