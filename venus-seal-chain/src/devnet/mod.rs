//! An embedded devnet: a chain in memory that a sector manager and its
//! workers can seal against, with real proof verification.
//!
//! * Epochs advance on a clock ([`DevnetChain::start_clock`]) or by hand
//!   ([`DevnetChain::advance`]); messages sent in between execute when the
//!   next epoch is produced, in the order they were sent.
//! * Randomness is deterministic per [`DevnetConfig::seed`]
//!   ([`draw_randomness`]); randomness of a future epoch is refused.
//! * Each configured miner actor accepts `PreCommitSectorBatch2` and
//!   `ProveCommitSectors3` with the actor's checks; a prove-commit is
//!   verified with the [`ProofVerifier`] against the ticket and seed the
//!   chain draws itself.
//! * With [`DevnetConfig::state_file`] set, the chain survives a crash:
//!   every message sent and every epoch produced is saved to the file
//!   before it is acknowledged or visible, and [`DevnetChain::open`] picks
//!   up where the file left off.

mod actor;
mod clock;
mod config;
mod deadlines;
mod lifecycle;
#[cfg(test)]
mod lifecycle_tests;
mod persist;
#[cfg(test)]
mod persist_tests;
mod proving;
#[cfg(test)]
mod proving_tests;
mod randomness;
#[cfg(test)]
mod tests;
mod verifreg;
#[cfg(test)]
mod verifreg_tests;
mod winning;

use std::collections::{btree_map, BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};
use venus_seal_core::chain::{
    DeadlineInfo, MessageId, MessageState, MinerCall, MinerMessage, OnChainPreCommit,
    OnChainSector, PartitionInfo, SectorLocation, SendUid,
};
use venus_seal_core::{
    ActorId, ChainClient, ChainEpoch, ChainError, DomainSeparationTag, MessageSender,
    NetworkParams, ProofVerifier, Randomness, RandomnessSource, SectorNumber, TokenAmount,
};

use actor::{proof_failures, ExecContext, MessageFailure, MinerActor, Plan};
pub use clock::ClockError;
pub use config::{DevnetConfig, DevnetMiner, ProvingPolicy, DEVNET_NETWORK, DEVNET_PROVING};
use persist::ChainState;
use proving::{PendingPoSt, PendingUpdate};
pub use randomness::draw_randomness;
pub use verifreg::Allocation;
pub use winning::WinningPoStElection;

pub use crate::persist::StateFileError;

/// Why [`DevnetChain::open`] failed: its state file could not be read, is
/// corrupt, or belongs to a devnet with another seed.
pub type DevnetError = StateFileError;

/// An in-memory Filecoin devnet implementing [`ChainClient`] and
/// [`MessageSender`]. Build it with [`DevnetChain::new`] (in memory) or
/// [`DevnetChain::open`] (with a state file); share the `Arc`.
pub struct DevnetChain {
    block_time: Option<Duration>,
    state_file: Option<PathBuf>,
    network: NetworkParams,
    proving: ProvingPolicy,
    extension_caps: venus_seal_core::lifecycle::ExtensionCaps,
    seed: [u8; 32],
    verifier: Arc<dyn ProofVerifier>,
    state: Mutex<ChainState>,
    /// Serialises epoch production (manual advances and the clock).
    producer: tokio::sync::Mutex<()>,
    clock: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for DevnetChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("DevnetChain")
            .field("head", &st.head)
            .field("pending_messages", &st.pending.len())
            .field("miners", &st.miners.keys().collect::<Vec<_>>())
            .field("block_time", &self.block_time)
            .field("network", &self.network)
            .field("state_file", &self.state_file)
            .finish_non_exhaustive()
    }
}

impl DevnetChain {
    /// Builds a devnet at `config.genesis_epoch` that verifies proofs with
    /// `verifier`. The clock does not run until
    /// [`start_clock`](Self::start_clock). A miner listed twice gets the
    /// union of its allowed proofs.
    ///
    /// Meant for in-memory devnets (`state_file: None`); with a state file,
    /// use [`open`](Self::open), which reports a bad file as an error.
    ///
    /// # Panics
    ///
    /// If `config.state_file` is set and cannot be loaded or written (see
    /// [`open`](Self::open)). Never without a state file.
    pub fn new(config: DevnetConfig, verifier: Arc<dyn ProofVerifier>) -> Arc<Self> {
        Self::open(config, verifier).unwrap_or_else(|e| panic!("cannot open the devnet: {e}"))
    }

    /// Builds a devnet as [`new`](Self::new) does, restoring it from
    /// `config.state_file` when that file exists: head epoch, message
    /// counter, pending messages, message results, and every miner's
    /// pre-commits and proven sectors. Without the file the devnet starts
    /// at genesis and creates it.
    ///
    /// The seed, network, block time and miners' allowed proofs come from
    /// `config`; a miner in the file but not in `config` is kept (it cannot
    /// disappear from a chain). A file written with another
    /// [`seed`](DevnetConfig::seed) is refused
    /// ([`StateFileError::SeedMismatch`]), as is a file that does not parse
    /// ([`StateFileError::Corrupt`], naming the file).
    pub fn open(
        config: DevnetConfig,
        verifier: Arc<dyn ProofVerifier>,
    ) -> Result<Arc<Self>, DevnetError> {
        let mut miners: BTreeMap<ActorId, MinerActor> = BTreeMap::new();
        for m in &config.miners {
            miners
                .entry(m.id)
                .and_modify(|actor| actor.allow(&m.allowed_proofs))
                .or_insert_with(|| MinerActor::new(m.id, m.allowed_proofs.clone()));
        }
        let mut state = ChainState {
            head: config.genesis_epoch,
            next_message: 0,
            pending: VecDeque::new(),
            messages: HashMap::new(),
            uids: HashMap::new(),
            miners,
        };
        if let Some(path) = &config.state_file {
            match persist::load(path, &config.seed)? {
                Some(saved) => {
                    restore(&mut state, saved);
                    info!(
                        file = %path.display(),
                        head = state.head,
                        pending = state.pending.len(),
                        "devnet state restored"
                    );
                }
                None => persist::save(path, &config.seed, &state)?,
            }
        }
        info!(
            head = state.head,
            miners = ?state.miners.keys().collect::<Vec<_>>(),
            block_time = ?config.block_time,
            state_file = ?config.state_file,
            "devnet created"
        );
        Ok(Arc::new(Self {
            block_time: config.block_time,
            state_file: config.state_file,
            network: config.network,
            proving: config.proving,
            extension_caps: config.extension_caps,
            seed: config.seed,
            verifier,
            state: Mutex::new(state),
            producer: tokio::sync::Mutex::new(()),
            clock: Mutex::new(None),
        }))
    }

    /// The state file the chain saves to, if any.
    pub fn state_file(&self) -> Option<&std::path::Path> {
        self.state_file.as_deref()
    }

    /// Saves `st` to the state file, if there is one.
    fn save(&self, st: &ChainState) -> Result<(), StateFileError> {
        match &self.state_file {
            Some(path) => persist::save(path, &self.seed, st),
            None => Ok(()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ChainState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What `read` finds in `miner`'s actor, under the state lock.
    fn read_miner<T>(
        &self,
        miner: ActorId,
        read: impl FnOnce(&MinerActor) -> T,
    ) -> Result<T, ChainError> {
        let st = self.lock();
        let actor = st.miners.get(&miner).ok_or_else(|| unknown_miner(miner))?;
        Ok(read(actor))
    }

    /// Changes `miner`'s actor with `change` (given the head epoch) under
    /// the state lock, and saves the state if it succeeds.
    fn change_miner<T>(
        &self,
        miner: ActorId,
        change: impl FnOnce(&mut MinerActor, ChainEpoch) -> Result<T, ChainError>,
    ) -> Result<T, ChainError> {
        let mut st = self.lock();
        let head = st.head;
        let actor = st
            .miners
            .get_mut(&miner)
            .ok_or_else(|| unknown_miner(miner))?;
        let out = change(actor, head)?;
        self.save_for_client(&st)?;
        Ok(out)
    }

    /// [`save`](Self::save), its failure a [`ChainError::Transport`].
    fn save_for_client(&self, st: &ChainState) -> Result<(), ChainError> {
        self.save(st)
            .map_err(|e| ChainError::Transport(format!("the devnet cannot save: {e}")))
    }

    /// The head epoch now.
    pub fn current_epoch(&self) -> ChainEpoch {
        self.lock().head
    }

    /// The block time of the clock (`None`: manual clock).
    pub fn block_time(&self) -> Option<Duration> {
        self.block_time
    }

    /// How many sent messages wait for the next epoch.
    pub fn pending_messages(&self) -> usize {
        self.lock().pending.len()
    }

    /// Draws randomness as [`ChainClient::randomness`] does: the same
    /// function, synchronous. An epoch after head, or a negative one, is
    /// [`ChainError::Rejected`].
    pub fn draw(
        &self,
        source: RandomnessSource,
        tag: DomainSeparationTag,
        epoch: ChainEpoch,
        entropy: &[u8],
    ) -> Result<Randomness, ChainError> {
        if epoch < 0 {
            return Err(ChainError::Rejected(format!(
                "cannot draw randomness at negative epoch {epoch}"
            )));
        }
        let head = self.current_epoch();
        if epoch > head {
            return Err(ChainError::Rejected(format!(
                "cannot draw randomness at epoch {epoch}: it is after the head epoch {head}"
            )));
        }
        Ok(draw_randomness(&self.seed, source, tag, epoch, entropy))
    }

    /// Produces `epochs` new epochs, executing the pending messages at the
    /// first of them, and returns the new head. Safe to call while the
    /// clock runs: epoch production is serialised. Stops early (the head
    /// tells how far it got) if the state file cannot be written.
    pub async fn advance(&self, epochs: u64) -> ChainEpoch {
        let _producer = self.producer.lock().await;
        for _ in 0..epochs {
            if !self.produce_epoch().await {
                break;
            }
        }
        self.current_epoch()
    }

    /// One epoch: the messages pending at its start execute at the new
    /// epoch on copies of the actors they touch; then the new head, the
    /// actors and the results are saved and become visible together. A
    /// cancelled or unsaved epoch changes nothing. Returns whether the
    /// epoch was produced.
    async fn produce_epoch(&self) -> bool {
        let (epoch, batch) = {
            let st = self.lock();
            (st.head + 1, st.pending.iter().cloned().collect::<Vec<_>>())
        };
        debug!(epoch, messages = batch.len(), "devnet epoch");
        let mut touched = BTreeMap::new();
        let mut results = Vec::with_capacity(batch.len());
        for (id, msg) in batch {
            let state = self.execute(epoch, &id, &msg, &mut touched).await;
            results.push((id, state));
        }
        self.deadline_cron(epoch, &mut touched);
        self.commit_epoch(epoch, touched, results)
    }

    /// Publishes a produced epoch once it is saved; on a save failure puts
    /// everything back as it was.
    fn commit_epoch(
        &self,
        epoch: ChainEpoch,
        touched: BTreeMap<ActorId, MinerActor>,
        results: Vec<(MessageId, MessageState)>,
    ) -> bool {
        let mut st = self.lock();
        let old_head = st.head;
        st.head = epoch;
        // Only the producer removes messages: the batch is still in front.
        let executed: Vec<_> = st.pending.drain(..results.len()).collect();
        let replaced: Vec<_> = touched
            .into_iter()
            .filter_map(|(id, actor)| st.miners.insert(id, actor).map(|old| (id, old)))
            .collect();
        for (id, state) in results {
            st.messages.insert(id, state);
        }
        let Err(e) = self.save(&st) else {
            return true;
        };
        error!(epoch, error = %e, "cannot save the devnet state: the epoch is not produced");
        st.head = old_head;
        for (id, msg) in executed.into_iter().rev() {
            st.messages.insert(id.clone(), MessageState::Pending);
            st.pending.push_front((id, msg));
        }
        st.miners.extend(replaced);
        false
    }

    /// The end-of-deadline check of every miner at `epoch` (on the epoch's
    /// copies of the actors).
    fn deadline_cron(&self, epoch: ChainEpoch, touched: &mut BTreeMap<ActorId, MinerActor>) {
        let ids: Vec<ActorId> = self.lock().miners.keys().copied().collect();
        for id in ids {
            let mut actor = match touched.get(&id) {
                Some(a) => a.clone(),
                None => match self.lock().miners.get(&id) {
                    Some(a) => a.clone(),
                    None => continue,
                },
            };
            let marked = actor.deadline_cron(epoch, &self.proving);
            if !marked.is_empty() {
                warn!(miner = %id, epoch, sectors = ?marked, "WindowPoSt missed: sectors faulty");
                touched.insert(id, actor);
            }
        }
    }

    /// Executes `msg` at `epoch` on `touched`, the epoch's copies of the
    /// actors (taken from the chain on first use), and returns its result.
    async fn execute(
        &self,
        epoch: ChainEpoch,
        id: &MessageId,
        msg: &MinerMessage,
        touched: &mut BTreeMap<ActorId, MinerActor>,
    ) -> MessageState {
        let ctx = ExecContext {
            epoch,
            network: &self.network,
            seed: &self.seed,
            proving: &self.proving,
            caps: self.extension_caps,
        };
        if let btree_map::Entry::Vacant(slot) = touched.entry(msg.miner) {
            if let Some(actor) = self.lock().miners.get(&msg.miner) {
                slot.insert(actor.clone());
            }
        }
        // `send` refuses unknown miners and miners never go away.
        let planned = match touched.get(&msg.miner) {
            Some(actor) => actor.plan(&msg.call, ctx),
            None => Err(MessageFailure::unknown_receiver(msg.miner)),
        };
        let outcome = match planned {
            Ok(Plan::ProveCommit(proofs)) => {
                let results = self.verify_all(&proofs).await;
                match proof_failures(&proofs, &results) {
                    Some(failure) => Err(failure),
                    None => Ok(Plan::ProveCommit(proofs)),
                }
            }
            Ok(Plan::ProveCommitAggregate(proofs, aggregate)) => {
                match self.verify_aggregate(&proofs, aggregate.clone()).await {
                    Ok(true) => Ok(Plan::ProveCommitAggregate(proofs, aggregate)),
                    Ok(false) => Err(MessageFailure::single(
                        "ProveCommitSectors3",
                        actor::ActorError::IllegalArgument(format!(
                            "the aggregate proof of {} sectors does not verify",
                            proofs.len()
                        )),
                    )),
                    Err(e) => Err(MessageFailure::single(
                        "ProveCommitSectors3",
                        actor::ActorError::IllegalArgument(format!(
                            "the aggregate proof could not be verified: {e}"
                        )),
                    )),
                }
            }
            Ok(Plan::WindowPoSt(post)) => self.verify_post(post).await,
            Ok(Plan::ReplicaUpdates(updates)) => self.verify_updates(updates).await,
            other => other,
        };

        match outcome {
            Ok(plan) => {
                if let Some(actor) = touched.get_mut(&msg.miner) {
                    actor.apply(plan, &self.proving);
                }
                info!(message = %id.0, miner = %msg.miner, epoch, call = call_name(&msg.call), "message executed");
                MessageState::Landed {
                    epoch,
                    exit_code: 0,
                    error: None,
                }
            }
            Err(failure) => landed_failure(id, msg, epoch, &failure),
        }
    }

    /// Verifies a WindowPoSt on a blocking thread (nothing to verify when
    /// every sector was skipped and no proof sent).
    async fn verify_post(&self, post: PendingPoSt) -> Result<Plan, MessageFailure> {
        let method = "SubmitWindowedPoSt";
        if post.info.sectors.is_empty() && post.info.proofs.is_empty() {
            return Ok(Plan::WindowPoSt(post));
        }
        let verifier = Arc::clone(&self.verifier);
        let info = post.info.clone();
        let result = tokio::task::spawn_blocking(move || verifier.verify_window_post(&info))
            .await
            .map_err(|e| format!("verifier panicked: {e}"))
            .and_then(|r| r.map_err(|e| e.to_string()));
        let sectors: Vec<u64> = post.info.sectors.iter().map(|s| s.number.0).collect();
        match result {
            Ok(true) => Ok(Plan::WindowPoSt(post)),
            Ok(false) => Err(MessageFailure::single(
                method,
                actor::ActorError::IllegalArgument(format!(
                    "the WindowPoSt of deadline {} partitions {:?} (sectors {sectors:?}) does not verify",
                    post.deadline, post.partitions
                )),
            )),
            Err(e) => Err(MessageFailure::single(
                method,
                actor::ActorError::IllegalArgument(format!(
                    "the WindowPoSt could not be verified: {e}"
                )),
            )),
        }
    }

    /// Verifies snap-up proofs on a blocking thread.
    async fn verify_updates(&self, updates: Vec<PendingUpdate>) -> Result<Plan, MessageFailure> {
        let verifier = Arc::clone(&self.verifier);
        let infos: Vec<_> = updates.iter().map(|u| u.info.clone()).collect();
        let results = tokio::task::spawn_blocking(move || {
            infos
                .iter()
                .map(|i| verifier.verify_replica_update(i).map_err(|e| e.to_string()))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_else(|e| vec![Err(format!("verifier panicked: {e}")); updates.len()]);
        let failures: Vec<_> = updates
            .iter()
            .zip(results)
            .filter_map(|(u, r)| match r {
                Ok(true) => None,
                Ok(false) => Some(actor::ActorError::IllegalArgument(format!(
                    "update proof for sector {} does not verify",
                    u.number
                ))),
                Err(e) => Some(actor::ActorError::IllegalArgument(format!(
                    "update proof for sector {} could not be verified: {e}",
                    u.number
                ))),
            })
            .collect();
        if failures.is_empty() {
            Ok(Plan::ReplicaUpdates(updates))
        } else {
            Err(MessageFailure {
                method: "ProveReplicaUpdates3",
                failures,
            })
        }
    }

    /// Records a FIL+ claim of `miner` (the devnet has no verified
    /// registry; its claims are what tests and demos put here), as
    /// `ChainClient::claims` then answers it and extensions check it.
    pub fn add_claim(
        &self,
        miner: ActorId,
        claim: venus_seal_core::chain::VerifiedClaim,
    ) -> Result<(), ChainError> {
        self.change_miner(miner, |actor, _| {
            actor.claims.insert(claim.id, claim);
            Ok(())
        })
    }

    /// Makes a FIL+ allocation for `miner` (the devnet has no verified
    /// registry or datacap: tests and demos put allocations here, as a
    /// client's datacap transfer would) and answers the key a piece names
    /// to claim it. Allocation ids are unique across the devnet's miners
    /// and never reuse a claim's.
    pub fn add_allocation(
        &self,
        miner: ActorId,
        allocation: Allocation,
    ) -> Result<venus_seal_core::manager::VerifiedAllocationKey, ChainError> {
        let mut st = self.lock();
        let next = st
            .miners
            .values()
            .flat_map(|m| m.allocations.keys().chain(m.claims.keys()))
            .max()
            .map_or(1, |id| id + 1);
        let actor = st
            .miners
            .get_mut(&miner)
            .ok_or_else(|| unknown_miner(miner))?;
        let key = venus_seal_core::manager::VerifiedAllocationKey {
            client: allocation.client,
            id: next,
        };
        actor.allocations.insert(next, allocation);
        self.save_for_client(&st)?;
        Ok(key)
    }

    /// The FIL+ allocations of `miner` not yet claimed, by id.
    pub fn allocations(&self, miner: ActorId) -> Result<Vec<(u64, Allocation)>, ChainError> {
        self.read_miner(miner, |actor| {
            actor
                .allocations
                .iter()
                .map(|(id, a)| (*id, a.clone()))
                .collect()
        })
    }

    /// Adds a sector to `miner` as proven at the head epoch **without a
    /// PoRep**, assigning it a deadline and partition as a prove-commit
    /// would: for tests and demos that seal without C2 (WindowPoSt,
    /// WinningPoSt and unsealing need only the PC2 outputs). Saved to the
    /// state file like any change.
    pub fn activate_sector_without_proof(
        &self,
        miner: ActorId,
        sector: OnChainSector,
    ) -> Result<(), ChainError> {
        self.change_miner(miner, |actor, head| {
            if actor.sectors.contains_key(&sector.number) {
                return Err(ChainError::Rejected(format!(
                    "sector {} of {miner} is already proven",
                    sector.number
                )));
            }
            actor.activate(
                OnChainSector {
                    activation: head,
                    ..sector
                },
                &self.proving,
            );
            Ok(())
        })
    }

    /// Sends `msg`, produces the next epoch and returns the message's
    /// result: a script or test on a manual clock runs a message in one
    /// call. (With the clock running, other epochs may pass too.)
    pub async fn send_and_execute(&self, msg: MinerMessage) -> Result<MessageState, ChainError> {
        let id = self.send(&crate::lotus::new_send_uid(), msg).await?;
        loop {
            self.advance(1).await;
            match self.state(&id).await? {
                MessageState::Pending => continue,
                done => return Ok(done),
            }
        }
    }

    /// The proving policy.
    pub fn proving_policy(&self) -> ProvingPolicy {
        self.proving
    }

    /// The faulty sectors of `miner`, ascending.
    pub fn faults(&self, miner: ActorId) -> Result<Vec<SectorNumber>, ChainError> {
        self.read_miner(miner, |actor| {
            actor.proving.faults.iter().copied().collect()
        })
    }

    /// Verifies an aggregate proof on a blocking thread.
    async fn verify_aggregate(
        &self,
        proofs: &[actor::PendingProof],
        aggregate: Vec<u8>,
    ) -> Result<bool, String> {
        let verifier = Arc::clone(&self.verifier);
        let infos: Vec<_> = proofs.iter().map(|p| p.info.clone()).collect();
        tokio::task::spawn_blocking(move || verifier.verify_aggregate_seal(&infos, &aggregate))
            .await
            .map_err(|e| format!("verifier panicked: {e}"))?
            .map_err(|e| e.to_string())
    }

    /// Verifies every proof on a blocking thread.
    async fn verify_all(&self, proofs: &[actor::PendingProof]) -> Vec<Result<bool, String>> {
        let verifier = Arc::clone(&self.verifier);
        let infos: Vec<_> = proofs.iter().map(|p| p.info.clone()).collect();
        let n = infos.len();
        let verify = move || {
            infos
                .iter()
                .map(|info| verifier.verify_seal(info).map_err(|e| e.to_string()))
                .collect::<Vec<_>>()
        };
        match tokio::task::spawn_blocking(verify).await {
            Ok(results) => results,
            Err(e) => vec![Err(format!("verifier panicked: {e}")); n],
        }
    }
}

/// Puts the saved chain into `state`, which holds the configured miners.
fn restore(state: &mut ChainState, saved: ChainState) {
    state.head = saved.head;
    state.next_message = saved.next_message;
    state.pending = saved.pending;
    state.messages = saved.messages;
    state.uids = saved.uids;
    for (id, actor) in saved.miners {
        match state.miners.get_mut(&id) {
            Some(configured) => {
                configured.pre_commits = actor.pre_commits;
                configured.sectors = actor.sectors;
                configured.proving = actor.proving;
            }
            None => {
                warn!(miner = %id, "miner of the state file is not configured: kept as saved");
                state.miners.insert(id, actor);
            }
        }
    }
}

fn call_name(call: &MinerCall) -> &'static str {
    match call {
        MinerCall::PreCommitSectorBatch2(_) => "PreCommitSectorBatch2",
        MinerCall::ProveCommitSectors3(_) => "ProveCommitSectors3",
        MinerCall::ProveCommitAggregate(_) => "ProveCommitSectors3 (aggregate)",
        MinerCall::SubmitWindowedPoSt(_) => "SubmitWindowedPoSt",
        MinerCall::DeclareFaults(_) => "DeclareFaults",
        MinerCall::DeclareFaultsRecovered(_) => "DeclareFaultsRecovered",
        MinerCall::ProveReplicaUpdates3(_) => "ProveReplicaUpdates3",
        MinerCall::ExtendSectorExpiration2(_) => "ExtendSectorExpiration2",
        MinerCall::TerminateSectors(_) => "TerminateSectors",
        MinerCall::ProveCommitSectorsNI(_) => "ProveCommitSectorsNI",
        _ => "other",
    }
}

fn landed_failure(
    id: &MessageId,
    msg: &MinerMessage,
    epoch: ChainEpoch,
    failure: &MessageFailure,
) -> MessageState {
    let error = failure.to_string();
    warn!(message = %id.0, miner = %msg.miner, epoch, exit_code = failure.exit_code(), %error, "message failed");
    MessageState::Landed {
        epoch,
        exit_code: failure.exit_code(),
        error: Some(error),
    }
}

impl Drop for DevnetChain {
    fn drop(&mut self) {
        self.stop_clock();
    }
}

#[async_trait]
impl ChainClient for DevnetChain {
    async fn head(&self) -> Result<ChainEpoch, ChainError> {
        Ok(self.current_epoch())
    }

    async fn network(&self) -> Result<NetworkParams, ChainError> {
        Ok(self.network)
    }

    async fn randomness(
        &self,
        source: RandomnessSource,
        tag: DomainSeparationTag,
        epoch: ChainEpoch,
        entropy: &[u8],
    ) -> Result<Randomness, ChainError> {
        self.draw(source, tag, epoch, entropy)
    }

    async fn pre_commit(
        &self,
        miner: ActorId,
        number: SectorNumber,
    ) -> Result<Option<OnChainPreCommit>, ChainError> {
        self.read_miner(miner, |actor| actor.pre_commits.get(&number).cloned())
    }

    async fn sector(
        &self,
        miner: ActorId,
        number: SectorNumber,
    ) -> Result<Option<OnChainSector>, ChainError> {
        self.read_miner(miner, |actor| actor.sectors.get(&number).cloned())
    }

    async fn sector_location(
        &self,
        miner: ActorId,
        number: SectorNumber,
    ) -> Result<Option<SectorLocation>, ChainError> {
        self.read_miner(miner, |actor| {
            actor
                .proving
                .location(number)
                .map(|(deadline, partition)| SectorLocation {
                    deadline,
                    partition,
                })
        })
    }

    async fn miner_sectors(&self, miner: ActorId) -> Result<Vec<OnChainSector>, ChainError> {
        self.read_miner(miner, |actor| actor.sectors.values().cloned().collect())
    }

    /// An allocation [`add_allocation`](Self::add_allocation) made, for
    /// any miner, while not claimed.
    async fn allocation(
        &self,
        client: ActorId,
        id: u64,
    ) -> Result<Option<venus_seal_core::chain::AllocationTerms>, ChainError> {
        let st = self.lock();
        Ok(st
            .miners
            .values()
            .filter_map(|m| m.allocations.get(&id))
            .find(|a| a.client == client)
            .map(|a| venus_seal_core::chain::AllocationTerms {
                term_min: a.term_min,
                term_max: a.term_max,
                expiration: a.expiration,
            }))
    }

    /// No deal of the devnet made an allocation: it has no market actor
    /// (deal ids are activated as given) and no verified registry beyond
    /// [`add_allocation`](Self::add_allocation), whose allocations are
    /// direct.
    async fn deal_allocation(&self, _deal_id: u64) -> Result<Option<u64>, ChainError> {
        Ok(None)
    }

    /// The claims of `miner`: made by prove-commits claiming allocations,
    /// or recorded with [`add_claim`](Self::add_claim); by id.
    async fn claims(
        &self,
        miner: ActorId,
    ) -> Result<Vec<venus_seal_core::chain::VerifiedClaim>, ChainError> {
        self.read_miner(miner, |actor| actor.claims.values().cloned().collect())
    }

    async fn proving_deadline(&self, miner: ActorId) -> Result<DeadlineInfo, ChainError> {
        let st = self.lock();
        if !st.miners.contains_key(&miner) {
            return Err(unknown_miner(miner));
        }
        Ok(self.proving.deadline_at(miner, st.head))
    }

    async fn deadline_partitions(
        &self,
        miner: ActorId,
        deadline: u64,
    ) -> Result<Vec<PartitionInfo>, ChainError> {
        if deadline >= self.proving.deadlines {
            return Err(ChainError::Rejected(format!(
                "deadline {deadline} does not exist: the devnet has {} per period",
                self.proving.deadlines
            )));
        }
        self.read_miner(miner, |actor| actor.proving.partitions(deadline))
    }

    async fn deadline_post_submissions(
        &self,
        miner: ActorId,
        deadline: u64,
    ) -> Result<Vec<u64>, ChainError> {
        let st = self.lock();
        let actor = st.miners.get(&miner).ok_or_else(|| unknown_miner(miner))?;
        let open = self.proving.deadline_at(miner, st.head);
        if open.index != deadline {
            return Ok(Vec::new());
        }
        Ok(actor
            .proving
            .posts
            .get(&deadline)
            .filter(|p| p.period_start == open.period_start)
            .map(|p| p.partitions.iter().copied().collect())
            .unwrap_or_default())
    }

    /// Zero: the devnet keeps no balances, so no message carries
    /// deposits or pledges.
    async fn collateral(
        &self,
        _miner: ActorId,
        _call: &MinerCall,
    ) -> Result<TokenAmount, ChainError> {
        Ok(TokenAmount::ZERO)
    }
}

fn unknown_miner(miner: ActorId) -> ChainError {
    ChainError::Rejected(format!("no miner actor {miner} on this devnet"))
}

#[async_trait]
impl MessageSender for DevnetChain {
    /// Queues the message for the next epoch (saved to the state file, if
    /// any, before the id is returned). A `uid` already sent under answers
    /// with that message and queues nothing, as Lotus does with a known
    /// `MsgUuid`. A message to a miner the devnet does not have is refused
    /// at once, as a full node's mpool refuses a message to a missing
    /// actor. A state file that cannot be written is
    /// [`ChainError::Transport`] and the message is not queued.
    async fn send(&self, uid: &SendUid, msg: MinerMessage) -> Result<MessageId, ChainError> {
        let mut st = self.lock();
        if let Some(id) = st.uids.get(uid) {
            debug!(message = %id.0, %uid, "attempt already sent: its message is the answer");
            return Ok(id.clone());
        }
        if !st.miners.contains_key(&msg.miner) {
            return Err(unknown_miner(msg.miner));
        }
        let id = MessageId(format!("devnet-msg-{}", st.next_message));
        let call = call_name(&msg.call);
        let miner = msg.miner;
        st.next_message += 1;
        st.messages.insert(id.clone(), MessageState::Pending);
        st.uids.insert(uid.clone(), id.clone());
        st.pending.push_back((id.clone(), msg));
        if let Err(e) = self.save(&st) {
            st.pending.pop_back();
            st.messages.remove(&id);
            st.uids.remove(uid);
            st.next_message -= 1;
            return Err(ChainError::Transport(format!(
                "the devnet cannot record message {}: {e}",
                id.0
            )));
        }
        debug!(message = %id.0, %miner, call, "message queued");
        Ok(id)
    }

    async fn state(&self, id: &MessageId) -> Result<MessageState, ChainError> {
        Ok(self
            .lock()
            .messages
            .get(id)
            .cloned()
            .unwrap_or(MessageState::NotFound))
    }
}
