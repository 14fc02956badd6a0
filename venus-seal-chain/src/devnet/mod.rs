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
//!   verified with the [`SealVerifier`] against the ticket and seed the
//!   chain draws itself.

mod actor;
mod clock;
mod config;
mod randomness;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};
use venus_seal_core::chain::{
    MessageId, MessageState, MinerCall, MinerMessage, OnChainPreCommit, OnChainSector,
};
use venus_seal_core::{
    ActorId, ChainClient, ChainEpoch, ChainError, DomainSeparationTag, MessageSender,
    NetworkParams, Randomness, RandomnessSource, SealVerifier, SectorNumber,
};

use actor::{proof_failures, ExecContext, MessageFailure, MinerActor, Plan};
pub use clock::ClockError;
pub use config::{DevnetConfig, DevnetMiner, DEVNET_NETWORK};
pub use randomness::draw_randomness;

/// The mutable chain: head, message pool, receipts and actors.
#[derive(Debug)]
struct ChainState {
    head: ChainEpoch,
    next_message: u64,
    /// Sent, not yet executed, in sending order.
    pending: VecDeque<(MessageId, MinerMessage)>,
    /// Every message sent: `Pending` until executed.
    messages: HashMap<MessageId, MessageState>,
    miners: BTreeMap<ActorId, MinerActor>,
}

/// An in-memory Filecoin devnet implementing [`ChainClient`] and
/// [`MessageSender`]. Build it with [`DevnetChain::new`]; share the `Arc`.
pub struct DevnetChain {
    block_time: Option<Duration>,
    network: NetworkParams,
    seed: [u8; 32],
    verifier: Arc<dyn SealVerifier>,
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
            .finish_non_exhaustive()
    }
}

impl DevnetChain {
    /// Builds a devnet at `config.genesis_epoch` that verifies proofs with
    /// `verifier`. The clock does not run until
    /// [`start_clock`](Self::start_clock). A miner listed twice gets the
    /// union of its allowed proofs.
    pub fn new(config: DevnetConfig, verifier: Arc<dyn SealVerifier>) -> Arc<Self> {
        let mut miners: BTreeMap<ActorId, MinerActor> = BTreeMap::new();
        for m in &config.miners {
            miners
                .entry(m.id)
                .and_modify(|actor| actor.allow(&m.allowed_proofs))
                .or_insert_with(|| MinerActor::new(m.id, m.allowed_proofs.clone()));
        }
        info!(
            genesis = config.genesis_epoch,
            miners = ?miners.keys().collect::<Vec<_>>(),
            block_time = ?config.block_time,
            "devnet created"
        );
        Arc::new(Self {
            block_time: config.block_time,
            network: config.network,
            seed: config.seed,
            verifier,
            state: Mutex::new(ChainState {
                head: config.genesis_epoch,
                next_message: 0,
                pending: VecDeque::new(),
                messages: HashMap::new(),
                miners,
            }),
            producer: tokio::sync::Mutex::new(()),
            clock: Mutex::new(None),
        })
    }

    fn lock(&self) -> MutexGuard<'_, ChainState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
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
    /// clock runs: epoch production is serialised.
    pub async fn advance(&self, epochs: u64) -> ChainEpoch {
        let _producer = self.producer.lock().await;
        for _ in 0..epochs {
            self.produce_epoch().await;
        }
        self.current_epoch()
    }

    /// One epoch: the head moves, then the messages pending at that moment
    /// execute at the new epoch. A message leaves the pool only with its
    /// result recorded, so a cancelled advance loses nothing.
    async fn produce_epoch(&self) {
        let (epoch, count) = {
            let mut st = self.lock();
            st.head += 1;
            (st.head, st.pending.len())
        };
        debug!(epoch, messages = count, "devnet epoch");
        for _ in 0..count {
            self.execute_next(epoch).await;
        }
    }

    /// Executes the oldest pending message at `epoch`.
    async fn execute_next(&self, epoch: ChainEpoch) {
        let ctx = ExecContext {
            epoch,
            network: &self.network,
            seed: &self.seed,
        };
        // Only the producer (holding `producer`) changes actor state, so
        // the plan stays valid while the lock is released to verify.
        let (id, msg, planned) = {
            let st = self.lock();
            let Some((id, msg)) = st.pending.front().cloned() else {
                return;
            };
            // `send` refuses unknown miners and miners never go away.
            let planned = match st.miners.get(&msg.miner) {
                Some(actor) => actor.plan(&msg.call, ctx),
                None => Err(MessageFailure::unknown_receiver(msg.miner)),
            };
            (id, msg, planned)
        };
        let outcome = match planned {
            Ok(Plan::ProveCommit(proofs)) => {
                let results = self.verify_all(&proofs).await;
                match proof_failures(&proofs, &results) {
                    Some(failure) => Err(failure),
                    None => Ok(Plan::ProveCommit(proofs)),
                }
            }
            other => other,
        };

        let mut st = self.lock();
        st.pending.pop_front();
        let state = match outcome {
            Ok(plan) => {
                if let Some(actor) = st.miners.get_mut(&msg.miner) {
                    actor.apply(plan);
                }
                info!(message = %id.0, miner = %msg.miner, epoch, call = call_name(&msg.call), "message executed");
                MessageState::Landed {
                    epoch,
                    exit_code: 0,
                    error: None,
                }
            }
            Err(failure) => landed_failure(&id, &msg, epoch, &failure),
        };
        st.messages.insert(id, state);
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

fn call_name(call: &MinerCall) -> &'static str {
    match call {
        MinerCall::PreCommitSectorBatch2(_) => "PreCommitSectorBatch2",
        MinerCall::ProveCommitSectors3(_) => "ProveCommitSectors3",
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
        let st = self.lock();
        let actor = st.miners.get(&miner).ok_or_else(|| unknown_miner(miner))?;
        Ok(actor.pre_commits.get(&number).cloned())
    }

    async fn sector(
        &self,
        miner: ActorId,
        number: SectorNumber,
    ) -> Result<Option<OnChainSector>, ChainError> {
        let st = self.lock();
        let actor = st.miners.get(&miner).ok_or_else(|| unknown_miner(miner))?;
        Ok(actor.sectors.get(&number).cloned())
    }
}

fn unknown_miner(miner: ActorId) -> ChainError {
    ChainError::Rejected(format!("no miner actor {miner} on this devnet"))
}

#[async_trait]
impl MessageSender for DevnetChain {
    /// Queues the message for the next epoch. A message to a miner the
    /// devnet does not have is refused at once, as a full node's mpool
    /// refuses a message to a missing actor.
    async fn send(&self, msg: MinerMessage) -> Result<MessageId, ChainError> {
        let mut st = self.lock();
        if !st.miners.contains_key(&msg.miner) {
            return Err(unknown_miner(msg.miner));
        }
        let id = MessageId(format!("devnet-msg-{}", st.next_message));
        st.next_message += 1;
        debug!(message = %id.0, miner = %msg.miner, call = call_name(&msg.call), "message queued");
        st.messages.insert(id.clone(), MessageState::Pending);
        st.pending.push_back((id.clone(), msg));
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
