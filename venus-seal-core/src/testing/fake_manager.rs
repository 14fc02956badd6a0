//! An in-memory sector manager with knobs, on tokio's clock.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::FakeProofVerifier;
use crate::error::ManagerError;
use crate::manager::*;
use crate::stage::Proof;
use crate::types::randomness::{Randomness, Seed, Ticket};
use crate::verify::{ProofVerifier, SealVerifyInfo};
use crate::{ActorId, SealProof, SectorId, SectorNumber};

#[derive(Debug, Default)]
struct Sector {
    ticket: Option<Ticket>,
    pre_commit: Option<(PreCommitOnChainInfo, Instant)>,
    proof: Option<Proof>,
    finalized: bool,
    aborted: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    next: u64,
    sectors: HashMap<SectorNumber, Sector>,
    fail_calls: usize,
    /// Per method name: calls left to fail, and the error they answer.
    method_failures: HashMap<&'static str, (usize, ManagerError)>,
    tickets_drawn: usize,
    /// Every state report, in order.
    reports: Vec<(SectorId, StateReport)>,
    /// Answer state reports with this abort reason.
    abort_on_report: Option<String>,
    hang_transitions: bool,
}

/// A fake [`SectorManager`] for miner `f01000` sealing 2KiB sectors:
/// pre-commits land `pre_commit_delay` after submission, the seed is ready
/// `seed_delay` later, proofs are checked by [`FakeProofVerifier`] (which
/// accepts what the fake executors make). `fail_next(n)` makes the next `n` calls fail as unreachable;
/// [`fail_method`](Self::fail_method) makes calls of one method fail with a given error.
#[derive(Debug)]
pub struct FakeManager {
    state: Mutex<State>,
    /// Time from pre-commit submission to landing.
    pub pre_commit_delay: Duration,
    /// Time from landing to the seed.
    pub seed_delay: Duration,
    /// Stop allocating after this many sectors.
    pub max_sectors: Option<u64>,
}

impl Default for FakeManager {
    fn default() -> Self {
        Self {
            state: Mutex::default(),
            pre_commit_delay: Duration::from_secs(30),
            seed_delay: Duration::from_secs(75 * 60),
            max_sectors: None,
        }
    }
}

const MINER: ActorId = ActorId(1000);

impl FakeManager {
    /// The next `n` calls fail with a transport error (Temporary).
    pub fn fail_next(&self, n: usize) {
        self.state.lock().unwrap().fail_calls = n;
    }

    /// The next `times` calls of `method` (the [`SectorManager`] method's
    /// name, e.g. `"wait_seed"`) fail with `error`, as a manager whose
    /// chain node fails would answer them (`usize::MAX`: until
    /// [`clear_method_failures`](Self::clear_method_failures)).
    pub fn fail_method(&self, method: &'static str, error: ManagerError, times: usize) {
        let mut st = self.state.lock().unwrap();
        st.method_failures.insert(method, (times, error));
    }

    /// Forgets every failure [`fail_method`](Self::fail_method) set.
    pub fn clear_method_failures(&self) {
        self.state.lock().unwrap().method_failures.clear();
    }

    /// Whether every failure [`fail_method`](Self::fail_method) set was
    /// answered (none is left to fail).
    pub fn method_failures_met(&self) -> bool {
        let st = self.state.lock().unwrap();
        st.method_failures.values().all(|(left, _)| *left == 0)
    }

    /// How many distinct tickets were drawn.
    pub fn tickets_drawn(&self) -> usize {
        self.state.lock().unwrap().tickets_drawn
    }

    /// Sector numbers reported finalized.
    pub fn finalized(&self) -> Vec<u64> {
        let st = self.state.lock().unwrap();
        let mut v: Vec<_> = st
            .sectors
            .iter()
            .filter(|(_, s)| s.finalized)
            .map(|(n, _)| n.0)
            .collect();
        v.sort();
        v
    }

    /// Answers every later state report asking to abort the sector, for
    /// `reason` (as a manager whose operator gave it up would).
    pub fn abort_on_report(&self, reason: impl Into<String>) {
        self.state.lock().unwrap().abort_on_report = Some(reason.into());
    }

    /// From now on, a transition report (no event, no failure) is taken
    /// and never answered, as a manager that hangs would.
    pub fn hang_transition_reports(&self) {
        self.state.lock().unwrap().hang_transitions = true;
    }

    /// The state reports received, in order.
    pub fn reports(&self) -> Vec<(SectorId, StateReport)> {
        self.state.lock().unwrap().reports.clone()
    }

    /// Sector numbers reported aborted, with the reason.
    pub fn aborted(&self) -> Vec<(u64, String)> {
        let st = self.state.lock().unwrap();
        let mut v: Vec<_> = st
            .sectors
            .iter()
            .filter_map(|(n, s)| s.aborted.clone().map(|r| (n.0, r)))
            .collect();
        v.sort();
        v
    }

    /// Runs `f` for a call of `method`, unless the call is to fail.
    fn with<T>(
        &self,
        method: &'static str,
        f: impl FnOnce(&mut State) -> Result<T, ManagerError>,
    ) -> Result<T, ManagerError> {
        let mut st = self.state.lock().unwrap();
        if let Some((left, error)) = st.method_failures.get_mut(method) {
            if *left > 0 {
                *left -= 1;
                return Err(error.clone());
            }
        }
        if st.fail_calls > 0 {
            st.fail_calls -= 1;
            return Err(ManagerError::Transport(
                "fake manager: connection refused".into(),
            ));
        }
        f(&mut st)
    }

    fn sector(st: &mut State, id: SectorId) -> Result<&mut Sector, ManagerError> {
        st.sectors
            .get_mut(&id.number)
            .ok_or_else(|| ManagerError::Rejected(format!("unknown sector {id}")))
    }

    fn seed_at(&self, landed: Instant) -> Instant {
        landed + self.pre_commit_delay + self.seed_delay
    }
}

fn seed_for(id: SectorId) -> Seed {
    Seed {
        seed: Randomness([id.number.0 as u8; 32]),
        epoch: 200,
    }
}

#[async_trait]
impl SectorManager for FakeManager {
    async fn allocate_sector(
        &self,
        _spec: AllocateSpec,
    ) -> Result<Option<AllocatedSector>, ManagerError> {
        self.with("allocate_sector", |st| {
            if self.max_sectors.is_some_and(|m| st.next >= m) {
                return Ok(None);
            }
            st.next += 1;
            let number = SectorNumber(st.next);
            st.sectors.insert(number, Sector::default());
            Ok(Some(AllocatedSector {
                id: SectorId::new(MINER, number),
                proof_type: SealProof::StackedDrg2KiBV1_1,
            }))
        })
    }

    async fn acquire_deals(
        &self,
        _: SectorId,
        _: AcquireDealsSpec,
    ) -> Result<Vec<DealInfo>, ManagerError> {
        self.with("acquire_deals", |_| Ok(vec![]))
    }

    async fn assign_ticket(&self, id: SectorId) -> Result<Ticket, ManagerError> {
        self.with("assign_ticket", |st| {
            let fresh = Self::sector(st, id)?.ticket.is_none();
            if fresh {
                st.tickets_drawn += 1;
            }
            let s = Self::sector(st, id)?;
            Ok(*s.ticket.get_or_insert(Ticket {
                ticket: Randomness([7; 32]),
                epoch: 100,
            }))
        })
    }

    async fn submit_pre_commit(
        &self,
        sector: AllocatedSector,
        info: PreCommitOnChainInfo,
        reset: bool,
    ) -> Result<SubmitResponse, ManagerError> {
        self.with("submit_pre_commit", |st| {
            let s = Self::sector(st, sector.id)?;
            let res = match &s.pre_commit {
                Some((prev, _)) if *prev == info => SubmitResult::DuplicateSubmit,
                Some(_) if !reset => SubmitResult::MismatchedSubmission,
                _ => {
                    s.pre_commit = Some((info, Instant::now()));
                    SubmitResult::Accepted
                }
            };
            Ok(SubmitResponse { res, desc: None })
        })
    }

    async fn poll_pre_commit_state(&self, id: SectorId) -> Result<PollStateResponse, ManagerError> {
        self.with("poll_pre_commit_state", |st| {
            let s = Self::sector(st, id)?;
            let state = match &s.pre_commit {
                None => OnChainState::NotFound,
                Some((_, at)) if at.elapsed() >= self.pre_commit_delay => OnChainState::Landed,
                Some(_) => OnChainState::Packed,
            };
            Ok(PollStateResponse { state, desc: None })
        })
    }

    async fn submit_persisted(
        &self,
        id: SectorId,
        _instance: String,
    ) -> Result<bool, ManagerError> {
        self.with("submit_persisted", |st| Self::sector(st, id).map(|_| true))
    }

    async fn wait_seed(&self, sector: AllocatedSector) -> Result<WaitSeedResponse, ManagerError> {
        let id = sector.id;
        self.with("wait_seed", |st| {
            let s = Self::sector(st, id)?;
            let Some((_, at)) = &s.pre_commit else {
                return Err(ManagerError::Rejected(format!("{id} has no pre-commit")));
            };
            let ready = self.seed_at(*at);
            let now = Instant::now();
            if now < ready {
                return Ok(WaitSeedResponse {
                    should_wait: true,
                    delay: ready - now,
                    seed: None,
                });
            }
            Ok(WaitSeedResponse {
                should_wait: false,
                delay: Duration::ZERO,
                seed: Some(seed_for(id)),
            })
        })
    }

    async fn sector_proof_type(&self, sector: SectorId) -> Result<Option<SealProof>, ManagerError> {
        // Every sector this fake allocates is a 2KiB one.
        self.with("sector_proof_type", |st| {
            Ok(st
                .sectors
                .get(&sector.number)
                .map(|_| SealProof::StackedDrg2KiBV1_1))
        })
    }

    async fn submit_proof(
        &self,
        id: SectorId,
        proof: Proof,
        _reset: bool,
    ) -> Result<SubmitResponse, ManagerError> {
        self.with("submit_proof", |st| {
            let s = Self::sector(st, id)?;
            let pre_commit = s
                .pre_commit
                .as_ref()
                .map(|(i, _)| i)
                .ok_or_else(|| ManagerError::Rejected(format!("{id} has no pre-commit")))?;
            let info = SealVerifyInfo {
                proof_type: SealProof::StackedDrg2KiBV1_1,
                sector: id,
                comm_r: pre_commit.comm_r,
                comm_d: pre_commit.comm_d,
                ticket: pre_commit.ticket.ticket,
                seed: seed_for(id).seed,
                proof: proof.proof.clone(),
            };
            if s.proof.as_ref() == Some(&proof) {
                return Ok(SubmitResponse {
                    res: SubmitResult::DuplicateSubmit,
                    desc: None,
                });
            }
            if !FakeProofVerifier.verify_seal(&info).unwrap_or(false) {
                return Ok(SubmitResponse {
                    res: SubmitResult::Rejected,
                    desc: Some("proof does not verify".into()),
                });
            }
            s.proof = Some(proof);
            Ok(SubmitResponse {
                res: SubmitResult::Accepted,
                desc: None,
            })
        })
    }

    async fn poll_proof_state(&self, id: SectorId) -> Result<PollStateResponse, ManagerError> {
        self.with("poll_proof_state", |st| {
            let s = Self::sector(st, id)?;
            let state = if s.proof.is_some() {
                OnChainState::Landed
            } else {
                OnChainState::NotFound
            };
            Ok(PollStateResponse { state, desc: None })
        })
    }

    async fn report_state(
        &self,
        id: SectorId,
        report: StateReport,
    ) -> Result<ReportStateResponse, ManagerError> {
        let transition = report.state_change.event.is_none() && report.failure.is_none();
        if transition && self.state.lock().unwrap().hang_transitions {
            return std::future::pending().await;
        }
        self.with("report_state", |st| {
            let finalized = Self::sector(st, id)?.finalized;
            st.reports.push((id, report));
            Ok(ReportStateResponse {
                finalized,
                abort_reason: st.abort_on_report.clone(),
            })
        })
    }

    async fn report_finalized(&self, id: SectorId) -> Result<(), ManagerError> {
        self.with("report_finalized", |st| {
            Self::sector(st, id)?.finalized = true;
            Ok(())
        })
    }

    async fn report_aborted(&self, id: SectorId, reason: String) -> Result<(), ManagerError> {
        self.with("report_aborted", |st| {
            Self::sector(st, id)?.aborted = Some(reason);
            Ok(())
        })
    }
}
