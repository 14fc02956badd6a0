//! Issue 13 item 1, "a node error never deletes a sector": a chain client
//! and message sender that fail, on one method or on all, with each
//! [`ChainError`] variant and words nobody anticipated. No worker call
//! through the manager may then answer an abort (a [`ManagerError`] of
//! level Abort, a `Rejected` submission, a `ShouldAbort` poll): the worker
//! would delete a pre-committed sector's files. Once the fault clears, the
//! sector lands.

use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use venus_seal_core::manager::{
    AllocateSpec, AllocatedSector, OnChainState, PollStateResponse, PreCommitOnChainInfo,
    SectorStateChange, StateReport, SubmitResponse, SubmitResult, WorkerIdentifier,
};
use venus_seal_core::stage::Proof;
use venus_seal_core::{
    ActorId, ChainClient, ChainError, FailureLevel, Leveled as _, ManagerError, SealProof,
    SectorManager,
};

use super::{LocalSectorManager, ManagedMiner, ManagerConfig};
use crate::testing::pre_commit_info as info;
use crate::testing::{fake_seal_proof, ChainTap, FakeProofVerifier, TappedChain};
use crate::{DevnetChain, DevnetConfig, DevnetMiner};

const MINER: ActorId = ActorId(1000);
const P2K: SealProof = SealProof::StackedDrg2KiBV1_1;
const WORDS: &str = "some text nobody anticipated: rejected, not found, forbidden";

/// The chain methods the manager calls for a sector, by name.
const METHODS: [&str; 8] = [
    "head",
    "network",
    "randomness",
    "pre_commit",
    "sector",
    "collateral",
    "send",
    "state",
];

/// Each variant a node's failure can arrive as.
fn variants() -> Vec<ChainError> {
    vec![
        ChainError::Transport(WORDS.into()),
        ChainError::InvalidResponse(WORDS.into()),
        ChainError::Unauthorized(WORDS.into()),
        ChainError::Node(WORDS.into()),
        ChainError::Rejected(WORDS.into()),
    ]
}

/// A switch in front of the devnet: while a fault is set, the methods it
/// names (`None`: all) fail with its error instead of reaching the devnet.
#[derive(Debug, Default)]
struct Fault(Mutex<Option<(Option<&'static str>, ChainError)>>);

impl Fault {
    fn set(&self, method: Option<&'static str>, e: ChainError) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some((method, e));
    }

    fn clear(&self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

impl ChainTap for Fault {
    fn check(&self, method: &'static str) -> Result<(), ChainError> {
        match &*self.0.lock().unwrap_or_else(PoisonError::into_inner) {
            Some((which, e)) if which.is_none_or(|m| m == method) => Err(e.clone()),
            _ => Ok(()),
        }
    }
}

/// The devnet behind a [`Fault`].
type Faulty = TappedChain<DevnetChain, Fault>;

fn setup() -> (Arc<DevnetChain>, Arc<Faulty>, Arc<LocalSectorManager>) {
    let chain = DevnetChain::new(
        DevnetConfig::with_miners(vec![DevnetMiner {
            id: MINER,
            allowed_proofs: vec![P2K],
        }]),
        Arc::new(FakeProofVerifier),
    );
    let faulty = TappedChain::new(chain.clone(), Fault::default());
    let manager = LocalSectorManager::in_memory(
        ManagerConfig::new(vec![ManagedMiner::new(MINER, P2K)]),
        faulty.clone(),
        faulty.clone(),
        Arc::new(FakeProofVerifier),
    );
    (chain, faulty, manager)
}

/// What one fault and one call were, for the assertion messages.
struct Case<'a> {
    method: Option<&'static str>,
    error: &'a ChainError,
}

impl Case<'_> {
    fn name(&self, call: &str) -> String {
        format!(
            "{call} with {} failing with {:?}",
            self.method.unwrap_or("every method"),
            self.error
        )
    }

    /// An error is fine (the worker retries it) unless it aborts.
    fn no_abort<T: Debug>(&self, call: &str, r: &Result<T, ManagerError>) {
        if let Err(e) = r {
            assert_ne!(e.level(), FailureLevel::Abort, "{}: {e:?}", self.name(call));
            assert!(
                !matches!(e, ManagerError::Rejected(_)),
                "{}: {e:?}",
                self.name(call)
            );
        }
    }

    fn submitted(&self, call: &str, r: &Result<SubmitResponse, ManagerError>) {
        self.no_abort(call, r);
        if let Ok(resp) = r {
            assert!(
                !matches!(
                    resp.res,
                    SubmitResult::Rejected | SubmitResult::MismatchedSubmission
                ),
                "{}: {resp:?}",
                self.name(call)
            );
        }
    }

    fn polled(&self, call: &str, r: &Result<PollStateResponse, ManagerError>) {
        self.no_abort(call, r);
        if let Ok(resp) = r {
            assert_ne!(
                resp.state,
                OnChainState::ShouldAbort,
                "{}: {resp:?}",
                self.name(call)
            );
        }
    }
}

fn report() -> StateReport {
    StateReport {
        worker: WorkerIdentifier {
            instance: "worker-1".into(),
            location: "/sealing/job-1".into(),
        },
        state_change: SectorStateChange {
            prev: "C2Done".into(),
            next: "ProofSubmitted".into(),
            event: None,
        },
        failure: None,
    }
}

/// Lets a failed send fall due again (the manager waits 10 s) and the
/// devnet produce an epoch.
async fn tick(chain: &DevnetChain, m: &LocalSectorManager) {
    tokio::time::advance(Duration::from_secs(11)).await;
    m.send_due().await.expect("the fault is cleared");
    chain.advance(1).await;
}

/// A submission the worker makes.
enum Submission {
    PreCommit(AllocatedSector, PreCommitOnChainInfo),
    Proof(AllocatedSector, Proof),
}

impl Submission {
    fn sector(&self) -> AllocatedSector {
        match self {
            Submission::PreCommit(s, _) | Submission::Proof(s, _) => *s,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Submission::PreCommit(..) => "the pre-commit",
            Submission::Proof(..) => "the proof",
        }
    }

    async fn submit(
        &self,
        m: &LocalSectorManager,
        reset: bool,
    ) -> Result<SubmitResponse, ManagerError> {
        match self {
            Submission::PreCommit(s, info) => m.submit_pre_commit(*s, info.clone(), reset).await,
            Submission::Proof(s, proof) => m.submit_proof(s.id, proof.clone(), reset).await,
        }
    }

    async fn poll(&self, m: &LocalSectorManager) -> Result<PollStateResponse, ManagerError> {
        match self {
            Submission::PreCommit(s, _) => m.poll_pre_commit_state(s.id).await,
            Submission::Proof(s, _) => m.poll_proof_state(s.id).await,
        }
    }
}

/// Once the fault is gone, what a worker does (submit again — with
/// `reset` after a `PermFailed`, as an operator's resume does — and poll)
/// lands the submission.
async fn lands(chain: &DevnetChain, m: &LocalSectorManager, case: &Case<'_>, sub: &Submission) {
    let what = sub.name();
    let mut reset = false;
    for _ in 0..5 {
        let r = sub.submit(m, reset).await;
        case.submitted(what, &r);
        let r = r.unwrap_or_else(|e| panic!("{}: {e}", case.name(what)));
        assert!(
            matches!(
                r.res,
                SubmitResult::Accepted | SubmitResult::DuplicateSubmit
            ),
            "{}: {r:?}",
            case.name(what)
        );
        tick(chain, m).await;
        let p = sub.poll(m).await;
        case.polled(what, &p);
        match p
            .unwrap_or_else(|e| panic!("{}: {e}", case.name(what)))
            .state
        {
            OnChainState::Landed => return,
            OnChainState::PermFailed => reset = true,
            _ => reset = false,
        }
    }
    panic!("{}: never landed after the fault cleared", case.name(what));
}

/// One submission as a worker makes it, with `fault` failing the chain
/// at each call: submitted (and, if accepted, polled) under the fault;
/// submitted again without it, then polled under it; then driven until it
/// lands with the fault cleared.
async fn submit_under_fault(
    chain: &DevnetChain,
    faulty: &Faulty,
    m: &LocalSectorManager,
    case: &Case<'_>,
    sub: &Submission,
) {
    let what = sub.name();
    faulty.tap.set(case.method, case.error.clone());
    let r = sub.submit(m, false).await;
    case.submitted(what, &r);
    if matches!(&r, Ok(resp) if resp.res == SubmitResult::Accepted) {
        case.polled(what, &sub.poll(m).await);
    }
    faulty.tap.clear();
    let r = sub.submit(m, false).await;
    case.submitted(what, &r);
    faulty.tap.set(case.method, case.error.clone());
    case.polled(what, &sub.poll(m).await);
    case.no_abort(
        "report_state",
        &m.report_state(sub.sector().id, report()).await,
    );
    faulty.tap.clear();
    lands(chain, m, case, sub).await;
}

/// Drives one sector from its ticket to a landed proof, failing `case`'s
/// method(s) while each worker call is first made.
async fn one_sector_through(case: &Case<'_>) {
    let (chain, faulty, m) = setup();
    let fault = |f: &Faulty| f.tap.set(case.method, case.error.clone());
    let s: AllocatedSector = m
        .allocate_sector(AllocateSpec::default())
        .await
        .unwrap()
        .unwrap();
    fault(&faulty);
    case.no_abort("assign_ticket", &m.assign_ticket(s.id).await);
    faulty.tap.clear();
    let info = info(m.assign_ticket(s.id).await.unwrap());

    // Pre-commit.
    let pre_commit = Submission::PreCommit(s, info.clone());
    submit_under_fault(&chain, &faulty, &m, case, &pre_commit).await;

    // Seed: under the fault before the seed epoch, and at it.
    fault(&faulty);
    case.no_abort("wait_seed", &m.wait_seed(s).await);
    faulty.tap.clear();
    chain.advance(10).await;
    fault(&faulty);
    case.no_abort("wait_seed", &m.wait_seed(s).await);
    faulty.tap.clear();
    let seed = m.wait_seed(s).await.unwrap();
    let seed = seed
        .seed
        .unwrap_or_else(|| panic!("{}: {seed:?}", case.name("wait_seed")));

    // Proof.
    let proof = fake_seal_proof(s, &info, seed.seed);
    submit_under_fault(&chain, &faulty, &m, case, &Submission::Proof(s, proof)).await;
    assert!(
        chain.sector(MINER, s.id.number).await.unwrap().is_some(),
        "{}: the sector is not proven on chain",
        case.name("the whole life")
    );
    m.report_finalized(s.id).await.unwrap();
}

/// Every variant, on every method at once: the node is down, or answers
/// every call with an error.
#[tokio::test(start_paused = true)]
async fn no_node_error_on_every_method_aborts_a_sector_and_it_lands_once_cleared() {
    for error in variants() {
        one_sector_through(&Case {
            method: None,
            error: &error,
        })
        .await;
    }
}

/// Every variant, on one method at a time: a node that fails one call
/// (the randomness, the pre-commit lookup, the push) while the others
/// work.
#[tokio::test(start_paused = true)]
async fn no_node_error_on_any_single_method_aborts_a_sector_and_it_lands_once_cleared() {
    for error in variants() {
        for method in METHODS {
            one_sector_through(&Case {
                method: Some(method),
                error: &error,
            })
            .await;
        }
    }
}
