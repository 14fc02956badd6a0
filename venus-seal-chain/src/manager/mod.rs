//! An in-process sector manager over a chain client and a message sender.
//!
//! [`LocalSectorManager`] implements the worker-facing
//! [`SectorManager`]: it allocates sector numbers per miner without gaps or
//! reuse, hands out queued deals, draws tickets and seeds from the chain,
//! checks pre-commits and proofs before sending them (one sector per
//! message for now; batching and aggregation come later), and reports where
//! each message stands. Its state lives in memory and, with
//! [`ManagerConfig::state_file`] set, in a file saved after every change,
//! so that a restarted process ([`LocalSectorManager::open`]) goes on where
//! the last one stopped: sector numbers are never reused, tickets and seeds
//! stay the same, and submitted messages are polled by their saved ids.

mod config;
mod persist;
#[cfg(test)]
mod restart_tests;
mod state;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tracing::{debug, error, info, warn};
use venus_seal_core::chain::{
    MessageId, MessageState, MinerCall, MinerMessage, PreCommitParams, ProveCommitParams,
};
use venus_seal_core::manager::{
    AcquireDealsSpec, AllocateSpec, AllocatedSector, DealInfo, OnChainState, PollStateResponse,
    PreCommitOnChainInfo, StateReport, SubmitResponse, SubmitResult, WaitSeedResponse,
};
use venus_seal_core::stage::Proof;
use venus_seal_core::{
    ActorId, ChainClient, ChainEpoch, ChainError, DomainSeparationTag, ManagerError, MessageSender,
    NetworkParams, RandomnessSource, SealVerifier, SealVerifyInfo, SectorId, SectorManager, Seed,
    Ticket,
};

pub use config::{ManagedMiner, ManagerConfig};
use state::{decide, Decision, ManagerState};
pub use state::{SectorStatus, Submitted};

use crate::persist::StateFileError;

/// Which of a sector's two submissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    PreCommit,
    Proof,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::PreCommit => "pre-commit",
            Kind::Proof => "proof",
        }
    }
}

/// The in-process [`SectorManager`].
pub struct LocalSectorManager {
    config: ManagerConfig,
    chain: Arc<dyn ChainClient>,
    sender: Arc<dyn MessageSender>,
    verifier: Arc<dyn SealVerifier>,
    state: Mutex<ManagerState>,
}

impl fmt::Debug for LocalSectorManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("LocalSectorManager")
            .field("miners", &self.config.miners)
            .field("sectors", &st.sectors.len())
            .field("queued_deals", &st.queued_deals())
            .field("chain", &self.chain)
            .finish_non_exhaustive()
    }
}

fn rejected(desc: impl Into<String>) -> SubmitResponse {
    SubmitResponse {
        res: SubmitResult::Rejected,
        desc: Some(desc.into()),
    }
}

fn response(res: SubmitResult, desc: Option<String>) -> SubmitResponse {
    SubmitResponse { res, desc }
}

fn unknown(sector: SectorId) -> ManagerError {
    ManagerError::Rejected(format!(
        "unknown sector {sector}: it was never allocated here"
    ))
}

impl LocalSectorManager {
    /// A manager for `config.miners`, reading `chain`, sending through
    /// `sender` and checking proofs with `verifier` (a devnet is both
    /// `chain` and `sender`).
    ///
    /// Meant for in-memory managers (`state_file: None`); with a state
    /// file, use [`open`](Self::open), which reports a bad file as an error.
    ///
    /// # Panics
    ///
    /// If `config.state_file` is set and cannot be loaded or written (see
    /// [`open`](Self::open)). Never without a state file.
    pub fn new(
        config: ManagerConfig,
        chain: Arc<dyn ChainClient>,
        sender: Arc<dyn MessageSender>,
        verifier: Arc<dyn SealVerifier>,
    ) -> Self {
        Self::open(config, chain, sender, verifier)
            .unwrap_or_else(|e| panic!("cannot open the sector manager: {e}"))
    }

    /// A manager as [`new`](Self::new) builds it, restoring its state from
    /// `config.state_file` when that file exists (and creating it
    /// otherwise): sector numbers, sectors with their deals, tickets,
    /// submissions and their message ids, seeds and marks, and the deal
    /// queue. A submission that was being sent when the last process died
    /// (no message id saved) is forgotten: the worker submits it again.
    /// A file that does not parse is [`StateFileError::Corrupt`], naming
    /// the file.
    pub fn open(
        config: ManagerConfig,
        chain: Arc<dyn ChainClient>,
        sender: Arc<dyn MessageSender>,
        verifier: Arc<dyn SealVerifier>,
    ) -> Result<Self, StateFileError> {
        let mut state = ManagerState::default();
        if let Some(path) = &config.state_file {
            match persist::load(path)? {
                Some(saved) => {
                    state = saved;
                    info!(
                        file = %path.display(),
                        sectors = state.sectors.len(),
                        queued_deals = state.queued_deals(),
                        "sector manager state restored"
                    );
                }
                None => persist::save(path, &state)?,
            }
        }
        Ok(Self {
            config,
            chain,
            sender,
            verifier,
            state: Mutex::new(state),
        })
    }

    fn lock(&self) -> MutexGuard<'_, ManagerState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Saves `st` to the state file, if there is one.
    fn save(&self, st: &ManagerState) -> Result<(), ManagerError> {
        match &self.config.state_file {
            Some(path) => persist::save(path, st).map_err(|e| {
                error!(error = %e, "cannot save the sector manager state");
                ManagerError::Internal(e.to_string())
            }),
            None => Ok(()),
        }
    }

    /// Queues a deal for `miner` (`None`: for any miner);
    /// [`acquire_deals`](SectorManager::acquire_deals) hands it out. With a
    /// state file, the queue is saved; a failure to save is logged (the
    /// deal stays queued in memory and is saved with the next change).
    pub fn add_deal(&self, miner: Option<ActorId>, deal: DealInfo) {
        debug!(?miner, deal = deal.id, "deal queued");
        let mut st = self.lock();
        st.queue_deal(miner, deal);
        // `save` logs the error.
        let _ = self.save(&st);
    }

    /// The number of deals waiting for a sector.
    pub fn queued_deals(&self) -> usize {
        self.lock().queued_deals()
    }

    /// What the manager holds for a sector, if it allocated it.
    pub fn sector_status(&self, sector: SectorId) -> Option<SectorStatus> {
        self.lock().sectors.get(&sector).cloned()
    }

    /// Runs `f` on a sector's record, then saves the state if `save`;
    /// unknown sectors are rejected.
    fn sector_op<R>(
        &self,
        sector: SectorId,
        save: bool,
        f: impl FnOnce(&mut SectorStatus) -> R,
    ) -> Result<R, ManagerError> {
        let mut st = self.lock();
        let rec = st.sectors.get_mut(&sector).ok_or_else(|| unknown(sector))?;
        let out = f(rec);
        if save {
            self.save(&st)?;
        }
        Ok(out)
    }

    /// Runs `f` on a sector's record; unknown sectors are rejected.
    fn with_sector<R>(
        &self,
        sector: SectorId,
        f: impl FnOnce(&mut SectorStatus) -> R,
    ) -> Result<R, ManagerError> {
        self.sector_op(sector, false, f)
    }

    /// [`with_sector`](Self::with_sector), saving the change.
    fn update_sector<R>(
        &self,
        sector: SectorId,
        f: impl FnOnce(&mut SectorStatus) -> R,
    ) -> Result<R, ManagerError> {
        self.sector_op(sector, true, f)
    }

    /// Runs `f` on a sector that is known and not aborted, then saves the
    /// state if `save`.
    fn live_sector_op<R>(
        &self,
        sector: SectorId,
        save: bool,
        f: impl FnOnce(&mut SectorStatus) -> R,
    ) -> Result<R, ManagerError> {
        self.sector_op(sector, save, |rec| match &rec.aborted {
            Some(reason) => Err(ManagerError::Rejected(format!(
                "sector {sector} was aborted: {reason}"
            ))),
            None => Ok(f(rec)),
        })?
    }

    /// A sector that is known and not aborted.
    fn with_live_sector<R>(
        &self,
        sector: SectorId,
        f: impl FnOnce(&mut SectorStatus) -> R,
    ) -> Result<R, ManagerError> {
        self.live_sector_op(sector, false, f)
    }

    /// [`with_live_sector`](Self::with_live_sector), saving the change.
    fn update_live_sector<R>(
        &self,
        sector: SectorId,
        f: impl FnOnce(&mut SectorStatus) -> R,
    ) -> Result<R, ManagerError> {
        self.live_sector_op(sector, true, f)
    }

    async fn network(&self) -> Result<NetworkParams, ManagerError> {
        Ok(self.chain.network().await?)
    }

    async fn draw(
        &self,
        source: RandomnessSource,
        tag: DomainSeparationTag,
        epoch: ChainEpoch,
        miner: ActorId,
    ) -> Result<venus_seal_core::Randomness, ChainError> {
        self.chain
            .randomness(source, tag, epoch, &miner.address_cbor())
            .await
    }

    /// Whether `id` landed with a non-zero exit code.
    async fn failed_on_chain(&self, id: &MessageId) -> Result<bool, ManagerError> {
        Ok(matches!(
            self.sender.state(id).await?,
            MessageState::Landed { exit_code, .. } if exit_code != 0
        ))
    }

    /// First look at a submission: `Ok(None)` to go on (with the failed
    /// message it may replace), `Ok(Some(response))` to answer at once.
    async fn precheck<T: PartialEq>(
        &self,
        sector: SectorId,
        kind: Kind,
        content: &T,
        reset: bool,
        slot: fn(&mut SectorStatus) -> &mut Option<Submitted<T>>,
    ) -> Result<Result<Option<MessageId>, SubmitResponse>, ManagerError> {
        let decision = self.with_live_sector(sector, |rec| decide(slot(rec), content, reset))?;
        Ok(match decision {
            Decision::Send => Ok(None),
            Decision::Duplicate => Err(response(SubmitResult::DuplicateSubmit, None)),
            Decision::Mismatch => Err(response(
                SubmitResult::MismatchedSubmission,
                Some(format!(
                    "a different {} was already submitted for sector {sector}; submit with reset to replace it",
                    kind.name()
                )),
            )),
            Decision::ResendIfFailed(id) => {
                if self.failed_on_chain(&id).await? {
                    Ok(Some(id))
                } else {
                    Err(response(SubmitResult::DuplicateSubmit, None))
                }
            }
        })
    }

    /// Reserves the slot for `content` (checking again: another call may
    /// have won meanwhile) and returns what it replaced.
    fn reserve<T: PartialEq + Clone>(
        &self,
        sector: SectorId,
        content: &T,
        reset: bool,
        replaces: Option<&MessageId>,
        slot: fn(&mut SectorStatus) -> &mut Option<Submitted<T>>,
    ) -> Result<Result<Option<Submitted<T>>, SubmitResponse>, ManagerError> {
        self.with_live_sector(sector, |rec| {
            let held = slot(rec);
            let go = match decide(held, content, reset) {
                Decision::Send => true,
                Decision::ResendIfFailed(id) => Some(&id) == replaces,
                Decision::Duplicate => false,
                Decision::Mismatch => {
                    return Err(response(
                        SubmitResult::MismatchedSubmission,
                        Some(format!(
                            "a different submission for sector {sector} won a race"
                        )),
                    ))
                }
            };
            if !go {
                return Err(response(SubmitResult::DuplicateSubmit, None));
            }
            Ok(held.replace(Submitted {
                content: content.clone(),
                message: None,
            }))
        })
    }

    /// Sends `call` for a reserved submission and records its message, or
    /// restores what the reservation replaced.
    async fn send_reserved<T: PartialEq>(
        &self,
        sector: SectorId,
        kind: Kind,
        content: &T,
        previous: Option<Submitted<T>>,
        call: MinerCall,
        slot: fn(&mut SectorStatus) -> &mut Option<Submitted<T>>,
    ) -> Result<SubmitResponse, ManagerError> {
        let sent = self
            .sender
            .send(MinerMessage {
                miner: sector.miner,
                call,
            })
            .await;
        let ours = |held: &Option<Submitted<T>>| {
            held.as_ref()
                .is_some_and(|s| s.message.is_none() && s.content == *content)
        };
        match sent {
            Ok(id) => {
                info!(%sector, message = %id.0, "{} sent", kind.name());
                self.update_sector(sector, |rec| {
                    let held = slot(rec);
                    if ours(held) {
                        if let Some(s) = held.as_mut() {
                            s.message = Some(id);
                        }
                    }
                })?;
                Ok(response(SubmitResult::Accepted, None))
            }
            Err(e) => {
                warn!(%sector, error = %e, "sending the {} failed", kind.name());
                self.update_sector(sector, |rec| {
                    let held = slot(rec);
                    if ours(held) {
                        *held = previous;
                    }
                })?;
                Err(e.into())
            }
        }
    }

    /// Polls the message of a submission.
    async fn poll(
        &self,
        sector: SectorId,
        kind: Kind,
        message: Option<Option<MessageId>>,
    ) -> Result<PollStateResponse, ManagerError> {
        let Some(message) = message else {
            return Err(ManagerError::Rejected(format!(
                "no {} was submitted for sector {sector}",
                kind.name()
            )));
        };
        let Some(id) = message else {
            return Ok(PollStateResponse {
                state: OnChainState::Pending,
                desc: Some("queued in the manager".into()),
            });
        };
        let (state, desc) = match self.sender.state(&id).await? {
            MessageState::Pending => (OnChainState::Packed, None),
            MessageState::Landed {
                exit_code: 0,
                epoch,
                ..
            } => (
                OnChainState::Landed,
                Some(format!("landed at epoch {epoch}")),
            ),
            MessageState::Landed {
                exit_code,
                error,
                epoch,
            } => (
                OnChainState::PermFailed,
                Some(error.unwrap_or_else(|| {
                    format!(
                        "message {} failed at epoch {epoch} with exit code {exit_code}",
                        id.0
                    )
                })),
            ),
            MessageState::NotFound => (
                OnChainState::NotFound,
                Some(format!("the chain does not know message {}", id.0)),
            ),
        };
        debug!(%sector, message = %id.0, ?state, "{} polled", kind.name());
        Ok(PollStateResponse { state, desc })
    }

    /// The seed of a pre-committed sector: `Ok(Err(epoch))` while head is
    /// before the seed epoch.
    async fn seed(
        &self,
        sector: SectorId,
    ) -> Result<Result<Seed, (ChainEpoch, ChainEpoch)>, ManagerError> {
        if let Some(seed) = self.with_live_sector(sector, |rec| rec.seed)? {
            return Ok(Ok(seed));
        }
        let network = self.network().await?;
        let pc = self.chain.pre_commit(sector.miner, sector.number).await?;
        let Some(pc) = pc else {
            return Err(ManagerError::Rejected(format!(
                "sector {sector} has no pre-commit on chain"
            )));
        };
        let seed_epoch = pc.pre_commit_epoch + network.pre_commit_challenge_delay;
        let head = self.chain.head().await?;
        if head < seed_epoch {
            return Ok(Err((seed_epoch, head)));
        }
        let randomness = self
            .draw(
                RandomnessSource::Beacon,
                DomainSeparationTag::InteractiveSealChallengeSeed,
                seed_epoch,
                sector.miner,
            )
            .await?;
        let seed = Seed {
            seed: randomness,
            epoch: seed_epoch,
        };
        Ok(Ok(self.update_live_sector(sector, |rec| {
            *rec.seed.get_or_insert(seed)
        })?))
    }
}

fn pre_commit_slot(rec: &mut SectorStatus) -> &mut Option<Submitted<PreCommitOnChainInfo>> {
    &mut rec.pre_commit
}

fn proof_slot(rec: &mut SectorStatus) -> &mut Option<Submitted<Proof>> {
    &mut rec.proof
}

#[async_trait]
impl SectorManager for LocalSectorManager {
    async fn allocate_sector(
        &self,
        spec: AllocateSpec,
    ) -> Result<Option<AllocatedSector>, ManagerError> {
        let Some(miner) = self.config.miners.iter().find(|m| {
            (spec.allowed_miners.is_empty() || spec.allowed_miners.contains(&m.id))
                && (spec.allowed_proof_types.is_empty()
                    || spec.allowed_proof_types.contains(&m.proof))
        }) else {
            debug!(?spec, "no miner matches the allocation spec");
            return Ok(None);
        };
        let mut st = self.lock();
        let next = st.next_number.entry(miner.id).or_insert(1);
        let id = SectorId::new(miner.id, venus_seal_core::SectorNumber(*next));
        *next += 1;
        st.sectors.insert(id, SectorStatus::new(miner.proof));
        self.save(&st)?;
        info!(sector = %id, proof = %miner.proof, "sector allocated");
        Ok(Some(AllocatedSector {
            id,
            proof_type: miner.proof,
        }))
    }

    async fn acquire_deals(
        &self,
        sector: SectorId,
        spec: AcquireDealsSpec,
    ) -> Result<Vec<DealInfo>, ManagerError> {
        let mut st = self.lock();
        let proof_type = match st.sectors.get(&sector) {
            None => return Err(unknown(sector)),
            Some(rec) if rec.aborted.is_some() => {
                return Err(ManagerError::Rejected(format!(
                    "sector {sector} was aborted"
                )))
            }
            Some(rec) => {
                if let Some(deals) = &rec.deals {
                    return Ok(deals.clone());
                }
                rec.proof_type
            }
        };
        let deals = st.take_deals(sector.miner, proof_type.sector_size(), spec);
        if let Some(rec) = st.sectors.get_mut(&sector) {
            rec.deals = Some(deals.clone());
        }
        self.save(&st)?;
        info!(%sector, deals = deals.len(), "deals acquired");
        Ok(deals)
    }

    async fn assign_ticket(&self, sector: SectorId) -> Result<Ticket, ManagerError> {
        if let Some(ticket) = self.with_live_sector(sector, |rec| rec.ticket)? {
            return Ok(ticket);
        }
        let network = self.network().await?;
        let head = self.chain.head().await?;
        let epoch = head - network.seal_randomness_lookback;
        let randomness = self
            .draw(
                RandomnessSource::Tickets,
                DomainSeparationTag::SealRandomness,
                epoch,
                sector.miner,
            )
            .await?;
        let ticket = Ticket {
            ticket: randomness,
            epoch,
        };
        // A concurrent call may have stored one first: everyone gets that.
        let ticket = self.update_live_sector(sector, |rec| *rec.ticket.get_or_insert(ticket))?;
        info!(%sector, epoch = ticket.epoch, "ticket assigned");
        Ok(ticket)
    }

    async fn submit_pre_commit(
        &self,
        sector: AllocatedSector,
        info: PreCommitOnChainInfo,
        reset: bool,
    ) -> Result<SubmitResponse, ManagerError> {
        let id = sector.id;
        let proof_type = self.with_live_sector(id, |rec| rec.proof_type)?;
        if proof_type != sector.proof_type {
            return Ok(rejected(format!(
                "sector {id} was allocated as {proof_type}, not {}",
                sector.proof_type
            )));
        }
        let replaces = match self
            .precheck(id, Kind::PreCommit, &info, reset, pre_commit_slot)
            .await?
        {
            Ok(replaces) => replaces,
            Err(answer) => return Ok(answer),
        };

        // The ticket must be the chain's, and young enough to land.
        let ticket = info.ticket;
        let network = self.network().await?;
        let head = self.chain.head().await?;
        let oldest = head - network.max_pre_commit_randomness_lookback;
        if ticket.epoch < oldest {
            return Ok(rejected(format!(
                "ticket expired: its epoch {} is older than {oldest}, the oldest a pre-commit may use at head {head}",
                ticket.epoch
            )));
        }
        match self
            .draw(
                RandomnessSource::Tickets,
                DomainSeparationTag::SealRandomness,
                ticket.epoch,
                id.miner,
            )
            .await
        {
            Ok(r) if r == ticket.ticket => {}
            Ok(_) => {
                return Ok(rejected(format!(
                    "ticket mismatch: the sector was sealed with a ticket that is not the chain's randomness at epoch {}",
                    ticket.epoch
                )))
            }
            Err(ChainError::Rejected(why)) => {
                return Ok(rejected(format!(
                    "ticket mismatch: no chain randomness at epoch {}: {why}",
                    ticket.epoch
                )))
            }
            Err(e) => return Err(e.into()),
        }

        let previous = match self.reserve(id, &info, reset, replaces.as_ref(), pre_commit_slot)? {
            Ok(previous) => previous,
            Err(answer) => return Ok(answer),
        };
        let params = PreCommitParams {
            sector_number: id.number,
            seal_proof: proof_type,
            sealed_cid: info.comm_r,
            unsealed_cid: info.comm_d,
            seal_rand_epoch: ticket.epoch,
            deal_ids: info.deals.clone(),
            expiration: head + self.config.expiration_epochs,
        };
        self.send_reserved(
            id,
            Kind::PreCommit,
            &info,
            previous,
            MinerCall::PreCommitSectorBatch2(vec![params]),
            pre_commit_slot,
        )
        .await
    }

    async fn poll_pre_commit_state(
        &self,
        sector: SectorId,
    ) -> Result<PollStateResponse, ManagerError> {
        let message = self.with_sector(sector, |rec| {
            rec.pre_commit.as_ref().map(|s| s.message.clone())
        })?;
        self.poll(sector, Kind::PreCommit, message).await
    }

    async fn submit_persisted(
        &self,
        sector: SectorId,
        instance: String,
    ) -> Result<bool, ManagerError> {
        info!(%sector, %instance, "sector persisted");
        self.update_live_sector(sector, |rec| rec.persisted_at = Some(instance))?;
        Ok(true)
    }

    async fn wait_seed(&self, sector: SectorId) -> Result<WaitSeedResponse, ManagerError> {
        match self.seed(sector).await? {
            Ok(seed) => {
                info!(%sector, epoch = seed.epoch, "seed assigned");
                Ok(WaitSeedResponse {
                    should_wait: false,
                    delay: Duration::ZERO,
                    seed: Some(seed),
                })
            }
            Err((seed_epoch, head)) => {
                let network = self.network().await?;
                let epochs = u32::try_from(seed_epoch - head).unwrap_or(u32::MAX);
                let per_epoch = match network.block_delay_secs {
                    0 => Duration::from_millis(100),
                    secs => Duration::from_secs(secs),
                };
                let delay = per_epoch.saturating_mul(epochs);
                debug!(%sector, seed_epoch, head, ?delay, "seed not drawable yet");
                Ok(WaitSeedResponse {
                    should_wait: true,
                    delay,
                    seed: None,
                })
            }
        }
    }

    async fn submit_proof(
        &self,
        sector: SectorId,
        proof: Proof,
        reset: bool,
    ) -> Result<SubmitResponse, ManagerError> {
        let replaces = match self
            .precheck(sector, Kind::Proof, &proof, reset, proof_slot)
            .await?
        {
            Ok(replaces) => replaces,
            Err(answer) => return Ok(answer),
        };
        let (proof_type, pre_commit) = self.with_live_sector(sector, |rec| {
            (
                rec.proof_type,
                rec.pre_commit.as_ref().map(|s| s.content.clone()),
            )
        })?;
        let Some(pre_commit) = pre_commit else {
            return Ok(rejected(format!("sector {sector} has no pre-commit")));
        };
        let seed = match self.seed(sector).await? {
            Ok(seed) => seed,
            Err((seed_epoch, head)) => {
                return Ok(rejected(format!(
                    "the seed of sector {sector} is not drawable yet: seed epoch {seed_epoch}, head {head}"
                )))
            }
        };
        let info = SealVerifyInfo {
            proof_type,
            sector,
            comm_r: pre_commit.comm_r,
            comm_d: pre_commit.comm_d,
            ticket: pre_commit.ticket.ticket,
            seed: seed.seed,
            proof: proof.proof.clone(),
        };
        let verifier = Arc::clone(&self.verifier);
        let verified = tokio::task::spawn_blocking(move || verifier.verify_seal(&info))
            .await
            .map_err(|e| ManagerError::Internal(format!("proof verification panicked: {e}")))?
            .map_err(|e| ManagerError::Internal(e.to_string()))?;
        if !verified {
            warn!(%sector, ticket_epoch = pre_commit.ticket.epoch, seed_epoch = seed.epoch, "proof does not verify");
            return Ok(rejected(format!(
                "proof does not verify against the ticket at epoch {} and the seed at epoch {}",
                pre_commit.ticket.epoch, seed.epoch
            )));
        }

        let previous = match self.reserve(sector, &proof, reset, replaces.as_ref(), proof_slot)? {
            Ok(previous) => previous,
            Err(answer) => return Ok(answer),
        };
        let call = MinerCall::ProveCommitSectors3(vec![ProveCommitParams {
            sector_number: sector.number,
            proof: proof.clone(),
        }]);
        self.send_reserved(sector, Kind::Proof, &proof, previous, call, proof_slot)
            .await
    }

    async fn poll_proof_state(&self, sector: SectorId) -> Result<PollStateResponse, ManagerError> {
        let message =
            self.with_sector(sector, |rec| rec.proof.as_ref().map(|s| s.message.clone()))?;
        self.poll(sector, Kind::Proof, message).await
    }

    async fn report_state(
        &self,
        sector: SectorId,
        report: StateReport,
    ) -> Result<(), ManagerError> {
        match &report.failure {
            Some(failure) => warn!(
                %sector, worker = %report.worker, prev = %report.prev, next = %report.next,
                %failure, "worker reports a failure"
            ),
            None => info!(
                %sector, worker = %report.worker, prev = %report.prev, next = %report.next,
                "worker reports a state change"
            ),
        }
        self.update_sector(sector, |rec| rec.last_report = Some(report))
    }

    async fn report_finalized(&self, sector: SectorId) -> Result<(), ManagerError> {
        info!(%sector, "sector finalized");
        self.update_sector(sector, |rec| rec.finalized = true)
    }

    async fn report_aborted(&self, sector: SectorId, reason: String) -> Result<(), ManagerError> {
        warn!(%sector, %reason, "sector aborted by its worker");
        let mut st = self.lock();
        let rec = st.sectors.get_mut(&sector).ok_or_else(|| unknown(sector))?;
        rec.aborted = Some(reason);
        // Deals of a sector that never sent a pre-commit go back to the
        // queue for another sector.
        let requeue = if rec.pre_commit.is_none() {
            rec.deals.take().unwrap_or_default()
        } else {
            Vec::new()
        };
        if !requeue.is_empty() {
            info!(%sector, deals = requeue.len(), "deals of an aborted sector requeued");
            st.requeue_deals(sector.miner, requeue);
        }
        self.save(&st)
    }
}
