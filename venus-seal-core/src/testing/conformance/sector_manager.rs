//! The [`SectorManager`] suite: one committed-capacity sector through
//! every call a worker makes, in order, with the answers the worker
//! relies on: a fresh number, the same ticket when asked again, a
//! pre-commit taken once (the same again is `DuplicateSubmit`, a different
//! one without `reset` is `MismatchedSubmission`), a seed once it is due,
//! a proof that does not verify refused and the right one taken once,
//! landed states, and an unknown sector refused.
//!
//! Time passes through the case's `tick` (a devnet advances an epoch; the
//! in-memory fake advances tokio's paused clock).

use crate::error::ManagerError;
use crate::manager::{
    AcquireDealsSpec, AllocateSpec, AllocatedSector, OnChainState, PreCommitOnChainInfo,
    SectorStateChange, StateReport, SubmitResult, WorkerIdentifier,
};
use crate::stage::Proof;
use crate::types::commitment::{CommD, CommR};
use crate::types::ids::{SectorId, SectorNumber};
use crate::verify::SealVerifyInfo;
use crate::SectorManager;

use super::executor::BoxFuture;

type ProveFn = dyn Fn(&SealVerifyInfo) -> Proof + Send + Sync;
type TickFn = dyn Fn() -> BoxFuture<()> + Send + Sync;

/// How to drive a manager through the suite.
pub struct SectorManagerCase {
    /// What to allocate (a miner and proof type the manager serves).
    pub allocate: AllocateSpec,
    /// The valid proof for a sector (for managers built with the fake
    /// verifier: [`FakeProofVerifier::proof_for`](crate::testing::FakeProofVerifier::proof_for)).
    pub prove: Box<ProveFn>,
    /// Lets time pass: one epoch, or a step of the fake's clock.
    pub tick: Box<TickFn>,
    /// Give up waiting for a landing or a seed after this many ticks.
    pub max_ticks: usize,
}

impl std::fmt::Debug for SectorManagerCase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SectorManagerCase")
            .field("allocate", &self.allocate)
            .field("max_ticks", &self.max_ticks)
            .finish_non_exhaustive()
    }
}

fn report(next: &str) -> StateReport {
    StateReport {
        worker: WorkerIdentifier {
            instance: "conformance".into(),
            location: "/sealing/conformance".into(),
        },
        state_change: SectorStateChange {
            prev: "C2Done".into(),
            next: next.into(),
            event: None,
        },
        failure: None,
    }
}

/// Runs the suite on `manager`; see the [module docs](self).
pub async fn sector_manager(manager: &dyn SectorManager, case: &SectorManagerCase) {
    let name = format!("{manager:?}");
    let name = &name[..name.len().min(120)];
    let sector = manager
        .allocate_sector(case.allocate.clone())
        .await
        .unwrap_or_else(|e| panic!("{name}: allocate_sector failed: {e}"))
        .unwrap_or_else(|| panic!("{name}: allocated nothing for {:?}", case.allocate));
    let again = manager
        .allocate_sector(case.allocate.clone())
        .await
        .unwrap_or_else(|e| panic!("{name}: allocate_sector failed: {e}"));
    assert_ne!(
        again.map(|s| s.id),
        Some(sector.id),
        "{name}: a number handed out twice"
    );
    let id = sector.id;
    let deals = manager
        .acquire_deals(id, AcquireDealsSpec::default())
        .await
        .unwrap_or_else(|e| panic!("{name}: acquire_deals failed: {e}"));
    assert!(
        deals.is_empty(),
        "{name}: deals with none queued: {deals:?}"
    );

    let ticket = manager.assign_ticket(id).await.unwrap();
    assert_eq!(
        manager.assign_ticket(id).await.unwrap(),
        ticket,
        "{name}: asking again must return the same ticket"
    );
    let info = PreCommitOnChainInfo {
        comm_r: CommR([0xaa; 32]),
        comm_d: CommD([0x0d; 32]),
        ticket,
        deals: vec![],
    };
    let submit = |info: PreCommitOnChainInfo, reset| manager.submit_pre_commit(sector, info, reset);
    let res = |r: Result<crate::manager::SubmitResponse, ManagerError>| {
        r.unwrap_or_else(|e| panic!("{name}: submit_pre_commit failed: {e}"))
            .res
    };
    assert_eq!(
        res(submit(info.clone(), false).await),
        SubmitResult::Accepted
    );
    assert_eq!(
        res(submit(info.clone(), false).await),
        SubmitResult::DuplicateSubmit
    );
    let mut other = info.clone();
    other.comm_r = CommR([0xbb; 32]);
    assert_eq!(
        res(submit(other, false).await),
        SubmitResult::MismatchedSubmission
    );

    wait_landed(name, case, || manager.poll_pre_commit_state(id)).await;
    assert!(
        manager
            .submit_persisted(id, "conformance-store".into())
            .await
            .unwrap(),
        "{name}: submit_persisted refused"
    );
    let seed = wait_seed(name, manager, case, sector).await;

    let verify = SealVerifyInfo {
        proof_type: sector.proof_type,
        sector: id,
        comm_r: info.comm_r,
        comm_d: info.comm_d,
        ticket: ticket.ticket,
        seed,
        proof: Vec::new(),
    };
    let proof = (case.prove)(&verify);
    let mut bad = proof.clone();
    bad.proof.iter_mut().for_each(|b| *b = !*b);
    match manager.submit_proof(id, bad, false).await {
        Ok(r) => assert_eq!(r.res, SubmitResult::Rejected, "{name}: a bad proof: {r:?}"),
        Err(ManagerError::Rejected(_)) => {}
        Err(e) => panic!("{name}: a bad proof: want Rejected, got {e}"),
    }
    let r = manager
        .submit_proof(id, proof.clone(), false)
        .await
        .unwrap();
    assert_eq!(
        r.res,
        SubmitResult::Accepted,
        "{name}: the valid proof: {r:?}"
    );
    assert_eq!(
        manager.submit_proof(id, proof, false).await.unwrap().res,
        SubmitResult::DuplicateSubmit
    );
    wait_landed(name, case, || manager.poll_proof_state(id)).await;

    let answer = manager.report_state(id, report("Finished")).await.unwrap();
    assert_eq!(answer.abort_reason, None, "{name}: nobody asked to abort");
    manager.report_finalized(id).await.unwrap();

    let unknown = SectorId::new(id.miner, SectorNumber(id.number.0 + 1_000_000));
    assert!(
        manager.assign_ticket(unknown).await.is_err(),
        "{name}: a ticket for a sector never allocated"
    );
    let never = AllocatedSector {
        id: unknown,
        proof_type: sector.proof_type,
    };
    assert!(
        manager.wait_seed(never).await.is_err(),
        "{name}: a seed for a sector never allocated"
    );
}

async fn wait_landed<F, Fut>(name: &str, case: &SectorManagerCase, poll: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<crate::manager::PollStateResponse, ManagerError>>,
{
    for _ in 0..=case.max_ticks {
        let state = poll()
            .await
            .unwrap_or_else(|e| panic!("{name}: polling failed: {e}"))
            .state;
        match state {
            OnChainState::Landed => return,
            OnChainState::Pending | OnChainState::Packed | OnChainState::NotFound => {
                (case.tick)().await
            }
            other => panic!("{name}: a valid submission went {other:?}"),
        }
    }
    panic!("{name}: not landed after {} ticks", case.max_ticks);
}

async fn wait_seed(
    name: &str,
    manager: &dyn SectorManager,
    case: &SectorManagerCase,
    sector: AllocatedSector,
) -> crate::Randomness {
    for _ in 0..=case.max_ticks {
        let wait = manager
            .wait_seed(sector)
            .await
            .unwrap_or_else(|e| panic!("{name}: wait_seed failed: {e}"));
        match (wait.should_wait, wait.seed) {
            (false, Some(seed)) => return seed.seed,
            (true, None) => (case.tick)().await,
            (should_wait, seed) => {
                panic!("{name}: wait_seed answered should_wait {should_wait} with seed {seed:?}")
            }
        }
    }
    panic!("{name}: no seed after {} ticks", case.max_ticks);
}
