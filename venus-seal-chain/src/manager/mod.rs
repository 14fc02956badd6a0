//! The sector manager over a chain client, a message sender and a state
//! store.
//!
//! [`LocalSectorManager`] implements the worker-facing [`SectorManager`]:
//! it allocates sector numbers per miner from the miner's range without
//! gaps or reuse, hands out queued deals, draws tickets and seeds from the
//! chain as Lotus does, checks pre-commits and proofs before taking them,
//! sends them in batches by each miner's [`BatchPolicy`] (proofs
//! aggregated from [`ManagedMiner::aggregate_from`] sectors, the aggregate
//! verified before sending), reports where each message stands, sends a
//! message that failed on chain again, and tells the worker to abort
//! where the chain leaves no way forward (a ticket or pre-commit that
//! expired).
//!
//! All state lives in a [`ManagerStore`]: SQLite by default, PostgreSQL
//! for several manager processes sharing one state, memory for tests. A
//! restarted manager goes on where the last one stopped: numbers are never
//! reused, tickets and seeds stay the same, queued submissions are sent,
//! sent ones are polled by their saved message ids, and one found on
//! chain without a saved id (the process died between sending and saving)
//! is recognised rather than sent twice.

mod batch;
#[cfg(test)]
mod batch_tests;
mod config;
mod job_index;
mod lifecycle;
#[cfg(test)]
mod lifecycle_tests;
mod market_deals;
#[cfg(test)]
mod ni_tests;
#[cfg(test)]
mod node_fault_tests;
mod post;
#[cfg(test)]
mod post_tests;
mod rebuild;
#[cfg(test)]
mod rebuild_tests;
#[cfg(test)]
mod restart_tests;
mod snapup;
#[cfg(test)]
mod snapup_tests;
mod state;
mod store;
#[cfg(test)]
mod tests;
mod unseal;
#[cfg(test)]
mod unseal_tests;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::market::DealMarket;
use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::{debug, info, warn};
use venus_seal_core::manager::{
    AcquireDealsSpec, AllocateSpec, AllocatedSector, DealInfo, PollStateResponse,
    PreCommitOnChainInfo, ReportStateResponse, StateReport, SubmitResponse, SubmitResult,
    WaitSeedResponse,
};
use venus_seal_core::stage::Proof;
use venus_seal_core::{
    ActorId, ChainClient, ChainEpoch, ChainError, DomainSeparationTag, ManagerError, MessageSender,
    NetworkParams, ProofVerifier, RandomnessSource, SealProof, SealVerifyInfo, SectorId,
    SectorManager, Seed, Ticket,
};

pub use config::{
    BatchPolicy, Collateral, ManagedMiner, ManagerConfig, ResendPolicy, SnapUpSettings,
};
pub use lifecycle::{AutoExtendPolicy, LifecycleError};
pub use post::readiness::{Readiness, ReadinessPolicy, SectorRead};
pub use post::simulate::{SimulatedPartition, SimulatedPoSt};
pub use post::{
    DeadlineCheck, DeadlineProgress, PartitionPoSt, PoStExecutors, PoStOutcome, PoStRound,
    PoStScheduleError, WindowPoStScheduler,
};
pub use rebuild::AutoRebuild;
pub use snapup::SnapUpPolicy;
use state::{decide, Decision};
pub use state::{SectorEvent, SectorStatus, Submitted};
pub use store::{
    DealActivation, ExpiredDeal, ManagerStore, ManagerStoreError, MemoryManagerStore, NumberRange,
    ReleasedDeals, SqlManagerStore, Versioned,
};

/// Which of a sector's two submissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    PreCommit,
    Proof,
    /// A snap-up's proof (`ProveReplicaUpdates3`).
    Update,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::PreCommit => "pre-commit",
            Kind::Proof => "proof",
            Kind::Update => "snap-up proof",
        }
    }

    /// The step's name in a sector's history.
    fn step(self) -> &'static str {
        match self {
            Kind::PreCommit => "PreCommit",
            Kind::Proof => "Proof",
            Kind::Update => "SnapUp",
        }
    }
}

/// A step of the manager's own in a sector's history, now.
fn event(next: impl Into<String>, detail: impl Into<String>) -> SectorEvent {
    SectorEvent::manager(unix_now(), next, detail)
}

/// The in-memory side of batching: when each queued submission was first
/// seen, when a failed send may be tried again, how many failed in a row,
/// and which ones the node refused alone (sent on their own).
#[derive(Debug, Default)]
struct BatchTimes {
    first_seen: HashMap<(SectorId, Kind), Instant>,
    retry_after: HashMap<(SectorId, Kind), Instant>,
    failures: HashMap<(SectorId, Kind), u32>,
    solo: std::collections::HashSet<(SectorId, Kind)>,
    /// Sent messages not yet seen landed, which the batch timer looks at
    /// for being stuck ([`LocalSectorManager::watch_sent`]): added when a
    /// batch sends one or a poll finds one pending.
    watching: std::collections::HashSet<(SectorId, Kind)>,
    /// What the timer last found pending, with the epoch it was first
    /// sent at (kept across replacements).
    pending: HashMap<(SectorId, Kind), PendingMessage>,
    /// Queued submissions whose pushes failed, since their first failure
    /// in a row.
    unsent: HashMap<(SectorId, Kind), UnsentSubmission>,
}

/// A submission the node or messager keeps refusing to take (an empty
/// wallet, a node down, a fee cap too low): queued, tried and failed, and
/// tried again after a growing delay ([`LocalSectorManager::unsent_submissions`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsentSubmission {
    /// The sector.
    pub sector: SectorId,
    /// `pre-commit` or `proof`.
    pub kind: &'static str,
    /// When its first failed push in a row was, in Unix seconds.
    pub since_unix: u64,
    /// Failed pushes in a row.
    pub tries: u32,
    /// What the last one answered.
    pub last_error: String,
}

/// A sector its worker reported parked, waiting for an operator
/// ([`LocalSectorManager::parked_sectors`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParkedSector {
    /// The sector.
    pub sector: SectorId,
    /// The worker instance that reported it.
    pub worker: String,
    /// The state it is parked in.
    pub state: String,
    /// The failure that parked it.
    pub failure: venus_seal_core::Failure,
    /// When it was first reported parked (seconds since the Unix epoch).
    pub since_unix: u64,
}

/// A message the manager sent that the chain has not taken yet, as its
/// batch timer last saw it ([`LocalSectorManager::pending_messages`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingMessage {
    /// The sector it is for.
    pub sector: SectorId,
    /// `pre-commit` or `proof`.
    pub kind: &'static str,
    /// The message now carrying it (a replacement's, once replaced).
    pub message: venus_seal_core::chain::MessageId,
    /// The head when it was first sent (replacements keep it).
    pub first_sent: ChainEpoch,
    /// The head when the timer last looked.
    pub head: ChainEpoch,
    /// What the message may cost, as its sender priced it (`None`: not
    /// priced yet, or the sender cannot say).
    pub fee: Option<venus_seal_core::chain::MessageFee>,
}

/// The [`SectorManager`] of a sealing cluster (see the [module
/// docs](self)).
pub struct LocalSectorManager {
    config: ManagerConfig,
    store: Arc<dyn ManagerStore>,
    chain: Arc<dyn ChainClient>,
    sender: Arc<dyn MessageSender>,
    verifier: Arc<dyn ProofVerifier>,
    times: Mutex<BatchTimes>,
    /// One batch run at a time in this process.
    sending: tokio::sync::Mutex<()>,
    /// One stuck-message replacement at a time (the timer and a worker's
    /// poll may find the same message stuck).
    replacing: tokio::sync::Mutex<()>,
    /// [`shutdown`](Self::shutdown) was called: no new batch starts.
    stopping: std::sync::atomic::AtomicBool,
    /// Wakes the batch timer (a new submission, or the manager dropped).
    wake: Arc<Notify>,
    /// Sectors a worker reported parked (a Permanent or Critical
    /// failure), since when ([`parked_sectors`](Self::parked_sectors)).
    parked: Mutex<HashMap<SectorId, ParkedSector>>,
    /// Extensions the automatic rounds sent, by sector, until they land
    /// ([`auto_extend`](Self::auto_extend) skips a sector whose extension
    /// is still pending).
    extending: Mutex<HashMap<SectorId, venus_seal_core::chain::MessageId>>,
    /// Where deals come from when set ([`set_deal_market`](Self::set_deal_market)):
    /// an outside market instead of the store's queue.
    market: std::sync::OnceLock<Arc<dyn DealMarket>>,
    /// Sectors with open unseal jobs ([`unseal`]).
    unseal: Mutex<job_index::JobIndex>,
    /// Sectors with open rebuild jobs ([`rebuild`]).
    rebuild: Mutex<job_index::JobIndex>,
    /// Sectors with open snap-up jobs ([`snapup`]).
    snap_up: Mutex<job_index::JobIndex>,
    /// Where sectors' files are, when set ([`set_sector_files`](Self::set_sector_files)).
    sector_files: std::sync::OnceLock<Arc<dyn venus_seal_core::proving::SectorLocator>>,
}

impl fmt::Debug for LocalSectorManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalSectorManager")
            .field("miners", &self.config.miners)
            .field("store", &self.store)
            .field("chain", &self.chain)
            .field("market", &self.market.get())
            .finish_non_exhaustive()
    }
}

impl Drop for LocalSectorManager {
    fn drop(&mut self) {
        // Lets the batch timer see that the manager is gone.
        self.wake.notify_one();
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

/// How many compare-and-swap attempts on one sector's record a call makes
/// before [`too_many_updates`].
const CAS_ATTEMPTS: usize = 64;

/// Another writer changed the record at each of the [`CAS_ATTEMPTS`].
fn too_many_updates(sector: SectorId) -> ManagerError {
    ManagerError::Internal(format!(
        "sector {sector}: {CAS_ATTEMPTS} concurrent updates in a row; giving up this call"
    ))
}

fn unknown(sector: SectorId) -> ManagerError {
    ManagerError::Rejected(format!(
        "unknown sector {sector}: it was never allocated here"
    ))
}

fn aborted(sector: SectorId, reason: &str) -> ManagerError {
    ManagerError::Rejected(format!("sector {sector} was aborted: {reason}"))
}

/// Seconds since the Unix epoch (for claims shared between processes).
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn pre_commit_slot(rec: &mut SectorStatus) -> &mut Option<Submitted<PreCommitOnChainInfo>> {
    &mut rec.pre_commit
}

fn proof_slot(rec: &mut SectorStatus) -> &mut Option<Submitted<Proof>> {
    &mut rec.proof
}

impl LocalSectorManager {
    /// A manager for `config.miners` keeping its state in `store`, reading
    /// `chain`, sending through `sender` and checking proofs with
    /// `verifier` (a devnet is both `chain` and `sender`).
    ///
    /// Spawns the batch timer on the current tokio runtime; it stops when
    /// the manager is dropped. Submissions a previous process queued are
    /// sent by it.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn new(
        config: ManagerConfig,
        store: Arc<dyn ManagerStore>,
        chain: Arc<dyn ChainClient>,
        sender: Arc<dyn MessageSender>,
        verifier: Arc<dyn ProofVerifier>,
    ) -> Arc<Self> {
        let manager = Arc::new(Self {
            config,
            store,
            chain,
            sender,
            verifier,
            times: Mutex::new(BatchTimes::default()),
            sending: tokio::sync::Mutex::new(()),
            replacing: tokio::sync::Mutex::new(()),
            parked: Mutex::default(),
            extending: Mutex::default(),
            stopping: std::sync::atomic::AtomicBool::new(false),
            wake: Arc::new(Notify::new()),
            market: std::sync::OnceLock::new(),
            unseal: Mutex::default(),
            rebuild: Mutex::default(),
            snap_up: Mutex::default(),
            sector_files: std::sync::OnceLock::new(),
        });
        tokio::spawn(batch::run_timer(
            Arc::downgrade(&manager),
            Arc::clone(&manager.wake),
        ));
        manager
    }

    /// A manager whose state is in memory only (tests, throwaway devnets).
    pub fn in_memory(
        config: ManagerConfig,
        chain: Arc<dyn ChainClient>,
        sender: Arc<dyn MessageSender>,
        verifier: Arc<dyn ProofVerifier>,
    ) -> Arc<Self> {
        Self::new(
            config,
            Arc::new(MemoryManagerStore::new()),
            chain,
            sender,
            verifier,
        )
    }

    /// Takes deals from `market` from now on instead of the store's queue
    /// (see [`crate::market`]): a sector's deals are assigned by the market
    /// when its worker acquires deals, recorded on the sector, and released
    /// in the market when the sector is aborted before its proof could have
    /// activated them. Set it before serving workers; a second market is
    /// refused (`Err` gives it back).
    pub fn set_deal_market(&self, market: Arc<dyn DealMarket>) -> Result<(), Arc<dyn DealMarket>> {
        self.market.set(market)
    }

    /// Reads sectors' files where `files` finds them (the provers' stores):
    /// a snap-up's updated replica is then looked for before its proof is
    /// taken (damocles' `FilesMissed`), and the CC replica is removed
    /// once the update is final. Set it before serving workers; a second
    /// locator is refused (`Err` gives it back).
    pub fn set_sector_files(
        &self,
        files: Arc<dyn venus_seal_core::proving::SectorLocator>,
    ) -> Result<(), Arc<dyn venus_seal_core::proving::SectorLocator>> {
        self.sector_files.set(files)
    }

    /// The store the manager keeps its state in.
    pub fn store(&self) -> &Arc<dyn ManagerStore> {
        &self.store
    }

    fn times(&self) -> MutexGuard<'_, BatchTimes> {
        self.times.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn parked(&self) -> MutexGuard<'_, HashMap<SectorId, ParkedSector>> {
        self.parked.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A report with a Permanent or Critical failure parks `sector` (the
    /// first one sets since when); any other report unparks it.
    fn track_parked(&self, sector: SectorId, report: &StateReport) {
        let mut parked = self.parked();
        match &report.failure {
            Some(f)
                if matches!(
                    f.level,
                    venus_seal_core::FailureLevel::Permanent
                        | venus_seal_core::FailureLevel::Critical
                ) =>
            {
                let since_unix = parked.get(&sector).map_or_else(unix_now, |p| p.since_unix);
                parked.insert(
                    sector,
                    ParkedSector {
                        sector,
                        worker: report.worker.instance.clone(),
                        state: report.state_change.next.clone(),
                        failure: f.clone(),
                        since_unix,
                    },
                );
            }
            _ => {
                parked.remove(&sector);
            }
        }
    }

    /// The sectors their workers reported parked and not yet resumed,
    /// finalized or aborted, by sector (since this manager started: a
    /// parked sector is reported again every recover interval, so a
    /// restarted manager knows it again then).
    pub fn parked_sectors(&self) -> Vec<ParkedSector> {
        let mut v: Vec<_> = self.parked().values().cloned().collect();
        v.sort_by_key(|p| (p.sector.miner, p.sector.number));
        v
    }

    /// Queues a deal for `miner` (`None`: for any miner);
    /// [`acquire_deals`](SectorManager::acquire_deals) hands it out. The
    /// deal never expires; see
    /// [`add_deal_starting`](Self::add_deal_starting).
    pub async fn add_deal(
        &self,
        miner: Option<ActorId>,
        deal: DealInfo,
    ) -> Result<(), ManagerStoreError> {
        debug!(?miner, deal = deal.id, "deal queued");
        self.store.queue_deal(miner, &deal, None).await
    }

    /// Queues a deal that must be activated (its sector proven) by
    /// `start_epoch`: once no sector sealed from the current head can land
    /// by then, it is marked expired ([`expired_deals`](Self::expired_deals))
    /// instead of being handed out or requeued.
    pub async fn add_deal_starting(
        &self,
        miner: Option<ActorId>,
        deal: DealInfo,
        start_epoch: ChainEpoch,
    ) -> Result<(), ManagerStoreError> {
        debug!(?miner, deal = deal.id, start_epoch, "deal queued");
        self.store.queue_deal(miner, &deal, Some(start_epoch)).await
    }

    /// The number of deals waiting for a sector.
    pub async fn queued_deals(&self) -> Result<u64, ManagerStoreError> {
        self.store.queued_deals().await
    }

    /// The deals no sector can activate any more, each with why.
    pub async fn expired_deals(&self) -> Result<Vec<ExpiredDeal>, ManagerStoreError> {
        self.store.expired_deals().await
    }

    /// From which epoch a sector sealed from now could activate a deal:
    /// its proof lands no earlier than the pre-commit challenge delay
    /// after the head (sealing time not counted: a deal is dropped only
    /// when no sector could make it).
    async fn deal_activation(&self) -> Result<DealActivation, ManagerError> {
        let network = self.network().await?;
        let head = self.chain.head().await?;
        Ok(DealActivation {
            head,
            earliest: head + network.pre_commit_challenge_delay,
        })
    }

    /// Whether the deals of `rec`, being aborted, may go to another
    /// sector: not once its proof may have landed (that activates them).
    async fn deals_releasable(
        &self,
        sector: SectorId,
        rec: &SectorStatus,
    ) -> Result<bool, ManagerError> {
        let Some(proof) = &rec.proof else {
            return Ok(true);
        };
        if self
            .chain
            .sector(sector.miner, sector.number)
            .await?
            .is_some()
        {
            return Ok(false);
        }
        Ok(match &proof.message {
            Some(id) => matches!(
                self.sender.state(id).await?,
                venus_seal_core::chain::MessageState::Landed { exit_code, .. } if exit_code != 0
            ),
            // Refused by the node for good, or queued and claimed by no
            // batcher: the abort is written at this record's version, so
            // no batch claims it afterwards.
            None => proof.failed || proof.is_claimable(unix_now()),
        })
    }

    /// Adds an operator's step to `sector`'s history (e.g. `Paused` by the
    /// console on its worker, with who asked in `detail`).
    pub async fn note_step(
        &self,
        sector: SectorId,
        step: &str,
        detail: String,
    ) -> Result<(), ManagerError> {
        self.modify(sector, |rec| {
            rec.record(event(step, detail.clone()));
            Ok(())
        })
        .await
    }

    /// What the manager holds for a sector, if it allocated it.
    pub async fn sector_status(
        &self,
        sector: SectorId,
    ) -> Result<Option<SectorStatus>, ManagerStoreError> {
        Ok(self.store.load(sector).await?.map(|v| v.value))
    }

    /// Asks the worker sealing `sector` to give it up, for `reason`: its
    /// next state report is answered with the reason and its next poll
    /// with `ShouldAbort` (damocles' manager-side abort). A sector already
    /// on chain, finalized or aborted is refused.
    pub async fn request_abort(
        &self,
        sector: SectorId,
        reason: String,
    ) -> Result<(), ManagerError> {
        if self
            .chain
            .sector(sector.miner, sector.number)
            .await?
            .is_some()
        {
            return Err(ManagerError::Rejected(format!(
                "sector {sector} is proven on chain: it cannot be aborted"
            )));
        }
        self.modify(sector, |rec| {
            if rec.finalized {
                return Err(ManagerError::Rejected(format!(
                    "sector {sector} is finalized: it cannot be aborted"
                )));
            }
            if let Some(why) = &rec.aborted {
                return Err(ManagerError::Rejected(format!(
                    "sector {sector} was already aborted by its worker: {why}"
                )));
            }
            rec.abort_requested = Some(reason.clone());
            rec.record(event("AbortRequested", reason.clone()));
            Ok(())
        })
        .await?;
        warn!(%sector, %reason, "abort requested: the worker gives the sector up at its next report or poll");
        Ok(())
    }

    /// Reads a sector's record; unknown sectors are rejected.
    async fn read(&self, sector: SectorId) -> Result<SectorStatus, ManagerError> {
        Ok(self.load(sector).await?.value)
    }

    /// Reads a sector's record and its version (for a compare-and-swap);
    /// unknown sectors are rejected.
    async fn load(&self, sector: SectorId) -> Result<Versioned<SectorStatus>, ManagerError> {
        self.store
            .load(sector)
            .await?
            .ok_or_else(|| unknown(sector))
    }

    /// A sector's record if it is known and not aborted.
    async fn read_live(&self, sector: SectorId) -> Result<SectorStatus, ManagerError> {
        let rec = self.read(sector).await?;
        match &rec.aborted {
            Some(reason) => Err(aborted(sector, reason)),
            None => Ok(rec),
        }
    }

    /// Runs `f` on a sector's record and stores the result if it changed,
    /// compare-and-swap: when another writer (a concurrent call, another
    /// manager process) changed the record first, `f` runs again on the
    /// new one. Unknown sectors are rejected.
    async fn modify<R>(
        &self,
        sector: SectorId,
        mut f: impl FnMut(&mut SectorStatus) -> Result<R, ManagerError>,
    ) -> Result<R, ManagerError> {
        for _ in 0..CAS_ATTEMPTS {
            let held = self.load(sector).await?;
            let mut value = held.value.clone();
            let out = f(&mut value)?;
            if value == held.value || self.store.update(sector, &value, held.version).await? {
                return Ok(out);
            }
            debug!(%sector, "sector record changed meanwhile: trying again");
        }
        Err(too_many_updates(sector))
    }

    /// [`modify`](Self::modify) on a sector that is not aborted.
    async fn modify_live<R>(
        &self,
        sector: SectorId,
        mut f: impl FnMut(&mut SectorStatus) -> Result<R, ManagerError>,
    ) -> Result<R, ManagerError> {
        self.modify(sector, |rec| match &rec.aborted {
            Some(reason) => Err(aborted(sector, reason)),
            None => f(rec),
        })
        .await
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

    /// First look at a submission: `Ok(None)` to go on (with the failed
    /// message it may replace), `Ok(Some(response))` to answer at once.
    async fn precheck<T: PartialEq>(
        &self,
        sector: SectorId,
        kind: Kind,
        content: &T,
        reset: bool,
        slot: fn(&mut SectorStatus) -> &mut Option<Submitted<T>>,
    ) -> Result<Result<Option<venus_seal_core::chain::MessageId>, SubmitResponse>, ManagerError>
    {
        let mut rec = self.read_live(sector).await?;
        let decision = decide(slot(&mut rec), content, reset);
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
                let failed = matches!(
                    self.sender.state(&id).await?,
                    venus_seal_core::chain::MessageState::Landed { exit_code, .. } if exit_code != 0
                );
                if failed {
                    Ok(Some(id))
                } else {
                    Err(response(SubmitResult::DuplicateSubmit, None))
                }
            }
        })
    }

    /// Queues `content` in its slot (checking again: another call may have
    /// won meanwhile) and wakes the batch timer, which sends a batch this
    /// submission completes. Nothing is sent inside the worker's call: a
    /// slow or hung node never holds a worker's RPC.
    async fn enqueue<T: PartialEq + Clone>(
        &self,
        sector: SectorId,
        kind: Kind,
        content: &T,
        reset: bool,
        replaces: Option<&venus_seal_core::chain::MessageId>,
        slot: fn(&mut SectorStatus) -> &mut Option<Submitted<T>>,
    ) -> Result<SubmitResponse, ManagerError> {
        let queued = self
            .modify_live(sector, |rec| {
                let held = slot(rec);
                let go = match decide(held, content, reset) {
                    Decision::Send => true,
                    Decision::ResendIfFailed(id) => Some(&id) == replaces,
                    Decision::Duplicate => false,
                    Decision::Mismatch => {
                        return Ok(Err(response(
                            SubmitResult::MismatchedSubmission,
                            Some(format!(
                                "a different submission for sector {sector} won a race"
                            )),
                        )))
                    }
                };
                if !go {
                    return Ok(Err(response(SubmitResult::DuplicateSubmit, None)));
                }
                *held = Some(Submitted::queued(content.clone()));
                Ok(Ok(()))
            })
            .await?;
        if let Err(answer) = queued {
            return Ok(answer);
        }
        info!(%sector, "{} queued", kind.name());
        self.times().retry_after.remove(&(sector, kind));
        self.wake.notify_one();
        Ok(response(SubmitResult::Accepted, None))
    }

    /// A non-interactive PoRep sector's pre-commit: nothing is sent (no
    /// pre-commit message exists for it; `ProveCommitSectorsNI` carries
    /// the sector), recorded landed so that the worker goes on. Such a
    /// sector holds no data: deals or a CommD other than the zero one are
    /// refused.
    async fn record_ni_pre_commit(
        &self,
        sector: SectorId,
        info: PreCommitOnChainInfo,
        reset: bool,
    ) -> Result<SubmitResponse, ManagerError> {
        let proof_type = self.read_live(sector).await?.proof_type;
        let zero = venus_seal_core::CommD(venus_seal_core::types::commitment::zero_commitment(
            proof_type.sector_size().0,
        ));
        if !info.deals.is_empty() || info.comm_d != zero {
            return Ok(rejected(format!(
                "sector {sector} is a non-interactive PoRep sector: it holds no data (committed \
                 capacity only), but its CommD is {}",
                info.comm_d
            )));
        }
        let answer = self
            .modify_live(sector, |rec| {
                match &rec.pre_commit {
                    Some(held) if held.content == info => {
                        return Ok(response(SubmitResult::DuplicateSubmit, None))
                    }
                    Some(_) if !reset => {
                        return Ok(response(
                            SubmitResult::MismatchedSubmission,
                            Some(format!(
                                "a different pre-commit was already recorded for sector {sector}"
                            )),
                        ))
                    }
                    _ => {}
                }
                rec.pre_commit = Some(Submitted::without_message(info.clone()));
                rec.record(event(
                    "PreCommitRecorded",
                    "non-interactive PoRep: no pre-commit message",
                ));
                Ok(response(SubmitResult::Accepted, None))
            })
            .await?;
        info!(%sector, "non-interactive PoRep pre-commit recorded (nothing sent)");
        Ok(answer)
    }

    /// The seed of a pre-committed sector: `Ok(Err(epoch))` while head is
    /// before the seed epoch. A non-interactive sector's is the actors'
    /// fixed [`NI_SEED`](venus_seal_core::chain::NI_SEED), at once.
    async fn seed(
        &self,
        sector: SectorId,
    ) -> Result<Result<Seed, (ChainEpoch, ChainEpoch)>, ManagerError> {
        let rec = self.read_live(sector).await?;
        if let Some(seed) = rec.seed {
            return Ok(Ok(seed));
        }
        let Some(pre_commit) = &rec.pre_commit else {
            return Err(ManagerError::Rejected(format!(
                "no pre-commit was submitted for sector {sector}: it has no seed"
            )));
        };
        if rec.proof_type.is_non_interactive() {
            let seed = Seed {
                seed: venus_seal_core::chain::NI_SEED,
                epoch: pre_commit.content.ticket.epoch,
            };
            return self
                .modify_live(sector, |rec| {
                    if rec.seed.is_none() {
                        rec.record(event(
                            "SeedAssigned",
                            "non-interactive PoRep: the fixed seed",
                        ));
                    }
                    Ok(*rec.seed.get_or_insert(seed))
                })
                .await
                .map(Ok);
        }
        let network = self.network().await?;
        let pc = self.chain.pre_commit(sector.miner, sector.number).await?;
        // No pre-commit in the node's state is not a verdict: the node may
        // be behind the chain (or a proxy switched nodes). The worker asks
        // again and, if it never appears, parks the sector for an operator;
        // only the manager's own reading of chain state aborts a sector.
        let Some(pc) = pc else {
            return Err(ManagerError::Chain(format!(
                "the node reports no pre-commit for sector {sector} (behind the chain, or the pre-commit expired): asking again"
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
        self.modify_live(sector, |rec| {
            if rec.seed.is_none() {
                rec.record(event("SeedAssigned", format!("epoch {}", seed.epoch)));
            }
            Ok(*rec.seed.get_or_insert(seed))
        })
        .await
        .map(Ok)
    }
}

#[async_trait]
impl SectorManager for LocalSectorManager {
    async fn allocate_sector(
        &self,
        spec: AllocateSpec,
    ) -> Result<Option<AllocatedSector>, ManagerError> {
        let candidates = self.config.miners.iter().filter(|m| {
            (spec.allowed_miners.is_empty() || spec.allowed_miners.contains(&m.id))
                && (spec.allowed_proof_types.is_empty()
                    || spec.allowed_proof_types.contains(&m.proof))
        });
        for miner in candidates {
            let mut status = SectorStatus::new(miner.proof);
            status.record(event("Allocated", ""));
            match self
                .store
                .allocate(
                    miner.id,
                    miner.numbers,
                    &status,
                    spec.allocation_key.as_deref(),
                )
                .await?
            {
                Some(number) => {
                    let id = SectorId::new(miner.id, number);
                    info!(sector = %id, proof = %miner.proof, "sector allocated");
                    return Ok(Some(AllocatedSector {
                        id,
                        proof_type: miner.proof,
                    }));
                }
                None => warn!(
                    miner = %miner.id,
                    range = ?miner.numbers,
                    "the miner's sector number range is used up"
                ),
            }
        }
        debug!(
            ?spec,
            "no miner matches the allocation spec or has numbers left"
        );
        Ok(None)
    }

    async fn acquire_deals(
        &self,
        sector: SectorId,
        spec: AcquireDealsSpec,
    ) -> Result<Vec<DealInfo>, ManagerError> {
        let rec = self.read_live(sector).await?;
        if let Some(deals) = rec.deals {
            return Ok(deals);
        }
        // A non-interactive sector holds no data (its CommD must be the
        // zero one): deals stay queued for interactive sectors.
        if rec.proof_type.is_non_interactive() {
            return Ok(Vec::new());
        }
        if let Some(market) = self.market.get() {
            return self
                .acquire_from_market(market.as_ref(), sector, rec.proof_type.sector_size(), spec)
                .await;
        }
        // Taken from the queue and recorded on the sector in one store
        // transaction: a crash in between cannot lose them.
        let activation = self.deal_activation().await?;
        let held = self
            .store
            .assign_deals(sector, rec.proof_type.sector_size(), spec, activation)
            .await?
            .ok_or_else(|| unknown(sector))?
            .value;
        if let Some(reason) = &held.aborted {
            return Err(aborted(sector, reason));
        }
        let deals = held.deals.unwrap_or_default();
        info!(%sector, deals = deals.len(), "deals acquired");
        Ok(deals)
    }

    async fn assign_ticket(&self, sector: SectorId) -> Result<Ticket, ManagerError> {
        if let Some(ticket) = self.read_live(sector).await?.ticket {
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
        let ticket = self
            .modify_live(sector, |rec| {
                if rec.ticket.is_none() {
                    rec.record(event("TicketAssigned", format!("epoch {}", ticket.epoch)));
                }
                Ok(*rec.ticket.get_or_insert(ticket))
            })
            .await?;
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
        let proof_type = self.read_live(id).await?.proof_type;
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
        // A non-interactive sector's ticket may be as old as its proof's
        // message allows (the actors' NI lookback, 180 days).
        let lookback = if proof_type.is_non_interactive() {
            batch::NI_RANDOMNESS_LOOKBACK
        } else {
            network.max_pre_commit_randomness_lookback
        };
        let oldest = head - lookback;
        if ticket.epoch < oldest {
            return Ok(rejected(format!(
                "ticket expired: its epoch {} is older than {oldest}, the oldest a pre-commit may use at head {head}",
                ticket.epoch
            )));
        }
        // Decided here from head, not from the node's refusal to draw
        // (any error from the node is Temporary: see `ManagerError::Chain`).
        if ticket.epoch > head || ticket.epoch < 0 {
            return Ok(rejected(format!(
                "ticket mismatch: its epoch {} has no chain randomness at head {head}",
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
            Err(e) => return Err(e.into()),
        }
        if proof_type.is_non_interactive() {
            return self.record_ni_pre_commit(id, info, reset).await;
        }
        self.enqueue(
            id,
            Kind::PreCommit,
            &info,
            reset,
            replaces.as_ref(),
            pre_commit_slot,
        )
        .await
    }

    async fn poll_pre_commit_state(
        &self,
        sector: SectorId,
    ) -> Result<PollStateResponse, ManagerError> {
        self.poll(sector, Kind::PreCommit).await
    }

    async fn submit_persisted(
        &self,
        sector: SectorId,
        instance: String,
    ) -> Result<bool, ManagerError> {
        info!(%sector, %instance, "sector persisted");
        // A damocles worker's rebuild plan: the rebuilt files' place, the
        // sector's once the job is reported done.
        if rebuild::runs_rebuild(&self.read(sector).await?) {
            self.rebuild_persisted(sector, instance).await?;
            return Ok(true);
        }
        self.modify_live(sector, |rec| {
            if rec.persisted_at.as_ref() != Some(&instance) {
                rec.record(event("Persisted", format!("in {instance}")));
            }
            rec.persisted_at = Some(instance.clone());
            Ok(())
        })
        .await?;
        Ok(true)
    }

    async fn sector_proof_type(&self, sector: SectorId) -> Result<Option<SealProof>, ManagerError> {
        Ok(Some(self.read_live(sector).await?.proof_type))
    }

    async fn wait_seed(
        &self,
        allocated: AllocatedSector,
    ) -> Result<WaitSeedResponse, ManagerError> {
        let sector = allocated.id;
        // damocles' manager takes the proof type with the request; ours has
        // it on record, so a differing one is only reported, not trusted.
        let recorded = self.read_live(sector).await?.proof_type;
        if recorded != allocated.proof_type {
            warn!(%sector, %recorded, sent = %allocated.proof_type, "wait_seed: proof type differs from the record");
        }
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
        let rec = self.read_live(sector).await?;
        let Some(pre_commit) = rec.pre_commit.map(|s| s.content) else {
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
            proof_type: rec.proof_type,
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
        self.enqueue(
            sector,
            Kind::Proof,
            &proof,
            reset,
            replaces.as_ref(),
            proof_slot,
        )
        .await
    }

    async fn poll_proof_state(&self, sector: SectorId) -> Result<PollStateResponse, ManagerError> {
        self.poll(sector, Kind::Proof).await
    }

    async fn report_state(
        &self,
        sector: SectorId,
        report: StateReport,
    ) -> Result<ReportStateResponse, ManagerError> {
        let reported = self
            .modify(sector, |rec| {
                // A damocles worker's unseal plan reports the sealed sector
                // it unseals as it goes: those reports are not the sector's
                // sealing story (the record is left as it is), and
                // "finalized" would make that worker stop the unseal.
                if unseal::runs_unseal(rec) {
                    return Ok(None);
                }
                if snapup::runs_snap_up(rec) {
                    if let Some(job) = rec.snap_up.as_mut() {
                        match &report.failure {
                            // A failure parked on the worker is kept on the
                            // job; it does not keep the job alive.
                            Some(f) => job.last_error = Some(f.to_string()),
                            // Alive: its lease starts again.
                            None => {
                                job.state = venus_seal_core::snapup::SnapUpState::Encoding {
                                    since: unix_now(),
                                }
                            }
                        }
                    }
                    return Ok(None);
                }
                if rebuild::runs_rebuild(rec) {
                    if let Some(job) = rec.rebuild.as_mut() {
                        // A worker that reports is alive: its lease starts
                        // again (a 32GiB rebuild takes hours).
                        job.state =
                            venus_seal_core::rebuild::JobState::Running { since: unix_now() };
                        // damocles reports a Permanent or Critical failure
                        // only here (no ReportAborted): keep it on the job.
                        if let Some(f) = &report.failure {
                            job.last_error = Some(f.to_string());
                        }
                    }
                    return Ok(None);
                }
                let repeated = rec.last_report.as_ref() == Some(&report);
                if !repeated {
                    let change = &report.state_change;
                    rec.record(SectorEvent {
                        at: unix_now(),
                        worker: report.worker.instance.clone(),
                        prev: change.prev.clone(),
                        next: change.next.clone(),
                        detail: change.event.clone().unwrap_or_default(),
                        failure: report.failure.clone(),
                    });
                }
                rec.last_report = Some(report.clone());
                let answer = ReportStateResponse {
                    finalized: rec.finalized,
                    abort_reason: rec.abort_requested.clone(),
                };
                Ok(Some((answer, repeated)))
            })
            .await?;
        let Some((answer, repeated)) = reported else {
            debug!(%sector, state = %report.state_change.next, "state report of an unseal or rebuild job");
            return Ok(ReportStateResponse {
                finalized: false,
                abort_reason: None,
            });
        };
        self.track_parked(sector, &report);
        let (worker, change) = (&report.worker, &report.state_change);
        match &report.failure {
            // A parked sector is reported again every recover interval.
            _ if repeated => debug!(
                %sector, worker = %worker.instance, state = %change.next,
                "worker reports the sector still parked"
            ),
            Some(failure) => warn!(
                %sector, worker = %worker.instance, location = %worker.location,
                prev = %change.prev, next = %change.next, event = ?change.event,
                %failure, "worker reports a failure"
            ),
            None => info!(
                %sector, worker = %worker.instance, location = %worker.location,
                prev = %change.prev, next = %change.next, event = ?change.event,
                "worker reports a state change"
            ),
        }
        Ok(answer)
    }

    async fn report_finalized(&self, sector: SectorId) -> Result<(), ManagerError> {
        let rec = self.read(sector).await?;
        if rebuild::runs_rebuild(&rec) {
            return self.finish_rebuild(sector, Ok(None)).await;
        }
        // A damocles worker ends its snap-up plan with it once its proof
        // was taken: the job goes on on chain; the sector was finalized
        // long ago.
        if snapup::snap_up_open(&rec) && rec.finalized {
            debug!(%sector, "a worker finished its snap-up");
            return Ok(());
        }
        info!(%sector, "sector finalized");
        self.parked().remove(&sector);
        self.modify(sector, |rec| {
            if !rec.finalized {
                rec.record(event("Finalized", "the worker finished it"));
            }
            rec.finalized = true;
            Ok(())
        })
        .await
    }

    async fn report_aborted(&self, sector: SectorId, reason: String) -> Result<(), ManagerError> {
        let rec = self.read(sector).await?;
        // A damocles worker giving up an unseal job reports the sealed
        // sector aborted: the job failed, not the sector.
        if unseal::runs_unseal(&rec) {
            return self.fail_running_unseal(sector, &rec, reason).await;
        }
        // Likewise a rebuild: the job failed.
        if rebuild::runs_rebuild(&rec) {
            return self.finish_rebuild(sector, Err(reason)).await;
        }
        // And a snap-up: the job failed, the sector stays a CC sector.
        if snapup::runs_snap_up(&rec) {
            return self.fail_snap_up(sector, reason, false).await;
        }
        // A finalized sector is done: no worker can abort it.
        if rec.finalized {
            warn!(%sector, %reason, "a worker reported a finalized sector aborted: ignored");
            return self
                .modify(sector, |rec| {
                    rec.record(event("AbortIgnored", format!("finalized: {reason}")));
                    Ok(())
                })
                .await;
        }
        warn!(%sector, %reason, "sector aborted by its worker");
        self.parked().remove(&sector);
        if let Some(market) = self.market.get() {
            return self
                .abort_with_market(market.as_ref(), sector, reason)
                .await;
        }
        for _ in 0..CAS_ATTEMPTS {
            let held = self.load(sector).await?;
            let mut rec = held.value.clone();
            if rec.aborted.is_none() {
                rec.record(event("Aborted", reason.clone()));
            }
            rec.aborted = Some(reason.clone());
            let release = rec.deals.as_ref().is_some_and(|d| !d.is_empty())
                && self.deals_releasable(sector, &held.value).await?;
            if !release {
                if rec.deals.as_ref().is_some_and(|d| !d.is_empty()) {
                    warn!(%sector, "the deals stay with the aborted sector: its proof may land and activate them");
                }
                if rec == held.value || self.store.update(sector, &rec, held.version).await? {
                    return Ok(());
                }
                continue;
            }
            // The abort and the deals' release are one store transaction.
            rec.deals = None;
            // Without the chain, every deal goes back to the queue: the
            // next hand-out checks their start epochs again.
            let activation = match self.deal_activation().await {
                Ok(a) => a,
                Err(e) => {
                    warn!(%sector, error = %e, "cannot read the chain head: the deals are requeued unchecked");
                    DealActivation::NEVER_EXPIRES
                }
            };
            let Some(released) = self
                .store
                .release_deals(sector, &rec, held.version, activation)
                .await?
            else {
                debug!(%sector, "sector record changed meanwhile: trying again");
                continue;
            };
            if !released.requeued.is_empty() {
                info!(%sector, deals = ?released.requeued.iter().map(|d| d.id).collect::<Vec<_>>(),
                      "deals of an aborted sector requeued");
            }
            for expired in &released.expired {
                warn!(%sector, deal = expired.deal.id, reason = %expired.reason,
                      "a deal of an aborted sector can no longer be activated: marked expired");
            }
            return Ok(());
        }
        Err(too_many_updates(sector))
    }
}
