//! Batching: queued submissions go out per miner by its [`BatchPolicy`],
//! proofs aggregated when the batch is large enough; where each one
//! stands on chain, resends after a failure, and when the chain leaves no
//! way forward.
//!
//! [`BatchPolicy`]: super::BatchPolicy

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::{debug, info, warn};
use venus_seal_core::chain::{
    fit_expiration, AggregateProveCommit, MessageId, MessageState, MinerCall, MinerMessage,
    PreCommitParams, ProveCommitParams, Replaced, SendUid,
};
use venus_seal_core::manager::{DealInfo, OnChainState, PollStateResponse};
use venus_seal_core::stage::Proof;
use venus_seal_core::{
    ActorId, ChainEpoch, FailureLevel, Leveled, ManagerError, SealVerifyInfo, SectorId, TokenAmount,
};

use super::{
    unix_now, BatchPolicy, BatchTimes, Collateral, Kind, LocalSectorManager, ResendPolicy,
    SectorStatus, Submitted,
};
use crate::lotus::new_send_uid;

/// After the batch timer cannot read the queue, wait this long.
const RETRY_DELAY: Duration = Duration::from_secs(10);

/// How often the batch timer looks at the messages it sent, to replace
/// a stuck one without waiting for a worker's poll.
const WATCH_EVERY: Duration = Duration::from_secs(30);

/// While another process holds a claim, look again this often (its claim
/// goes stale after [`Submitted::STALE_CLAIM_SECS`](super::Submitted)).
const CLAIM_CHECK: Duration = Duration::from_secs(30);

/// Runs `$body` with `$s` bound to the `&mut Submitted<_>` of `$kind` in
/// `$rec`, whichever its content type; `None` if there is none.
macro_rules! with_slot {
    ($rec:expr, $kind:expr, |$s:ident| $body:expr) => {
        match $kind {
            Kind::PreCommit => $rec.pre_commit.as_mut().map(|$s| $body),
            Kind::Proof => $rec.proof.as_mut().map(|$s| $body),
            Kind::Update => $rec
                .snap_up
                .as_mut()
                .and_then(|j| j.submission.as_mut())
                .map(|$s| $body),
        }
    };
}

/// What became of a claimed submission.
enum Settle {
    /// This message carries it, recorded at head `epoch`.
    Sent {
        message: MessageId,
        epoch: ChainEpoch,
    },
    /// Sending failed (`permanent`: for good, the chain leaves no way
    /// forward; `keep_attempt`: the push may have been taken, so the next
    /// try recovers the same attempt uid).
    Failed {
        error: String,
        permanent: bool,
        keep_attempt: bool,
    },
    /// The chain already holds it.
    FoundOnChain,
}

/// How a push of one group ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pushed {
    /// A message carries the whole group.
    Sent,
    /// Some of the group went out, some did not.
    Partly,
    /// Nothing went out.
    Refused,
}

/// (queued, claimable at `unix`, the uid of its unfinished attempt).
fn look<T>(s: &Submitted<T>, unix: u64) -> (bool, bool, Option<SendUid>) {
    (
        s.is_queued(),
        s.is_claimable(unix),
        s.unfinished_attempt().map(|a| a.uid.clone()),
    )
}

impl BatchTimes {
    /// A push of `id`'s `kind` failed: it waits before the next, longer
    /// after each failure in a row.
    fn retry_later(&mut self, id: SectorId, kind: Kind, policy: &ResendPolicy) {
        let n = self.failures.entry((id, kind)).or_default();
        let delay = policy.retry_delay(*n);
        *n = n.saturating_add(1);
        self.retry_after.insert((id, kind), Instant::now() + delay);
    }

    /// A push of `id`'s `kind` failed with `error` at `unix`.
    fn note_unsent(&mut self, id: SectorId, kind: Kind, unix: u64, error: &str) {
        let entry = self
            .unsent
            .entry((id, kind))
            .or_insert_with(|| super::UnsentSubmission {
                sector: id,
                kind: kind.name(),
                since_unix: unix,
                tries: 0,
                last_error: String::new(),
            });
        entry.tries = entry.tries.saturating_add(1);
        entry.last_error = error.to_string();
    }

    /// `id`'s `kind` went out: its failures are forgotten.
    fn forget_failures(&mut self, id: SectorId, kind: Kind) {
        self.unsent.remove(&(id, kind));
        self.failures.remove(&(id, kind));
        self.solo.remove(&(id, kind));
        self.retry_after.remove(&(id, kind));
    }
}

fn earliest(next: &mut Option<Instant>, at: Instant) {
    *next = Some(next.map_or(at, |n| n.min(at)));
}

/// The batch timer: sends due batches, sleeps until the next falls due or
/// a submission arrives, ends when the manager is dropped.
pub(super) async fn run_timer(manager: Weak<LocalSectorManager>, wake: Arc<Notify>) {
    let mut watch_at = Instant::now() + WATCH_EVERY;
    loop {
        let next = {
            let Some(m) = manager.upgrade() else {
                return;
            };
            if m.stopping.load(Ordering::SeqCst) {
                return;
            }
            if Instant::now() >= watch_at {
                m.watch_sent().await;
                // Snap-ups have no worker polling them: their messages,
                // landings and clean-ups are moved on here.
                m.watch_snap_ups().await;
                watch_at = Instant::now() + WATCH_EVERY;
            }
            match m.send_due().await {
                Ok(next) => next,
                Err(e) => {
                    warn!(error = %e, "cannot send due batches; trying again in {RETRY_DELAY:?}");
                    Some(Instant::now() + RETRY_DELAY)
                }
            }
        };
        // Sent messages are looked at even when no batch waits.
        let at = next.map_or(watch_at, |n| n.min(watch_at));
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep_until(at) => {}
        }
    }
}

/// How long after its seed a sector may be proven, for fitting an
/// expiration to its FIL+ claims (the actors' `MaxProveCommitDuration`, 30
/// days on mainnet): a claim's least life must hold for the latest
/// activation.
const PROVE_COMMIT_WINDOW: ChainEpoch = 30 * 2880;

/// Epochs a pre-commit may take to land after it is priced (batching,
/// a congested mempool).
const LANDING_MARGIN: ChainEpoch = 300;

/// How old a non-interactive sector's ticket may be when its proof lands
/// (the actors' `MAX_PROVE_COMMIT_NI_LOOKBACK`, 180 days).
pub(super) const NI_RANDOMNESS_LOOKBACK: ChainEpoch = 180 * 2880;

impl LocalSectorManager {
    /// The expiration `sector` is pre-committed with: the configured
    /// lifetime from `head`, moved into the terms of every FIL+
    /// allocation its pieces claim ([`fit_expiration`]), so that the claims
    /// hold at activation, never past the actors' cap for a new sector.
    /// An allocation that cannot be read is left out of the fitting (named
    /// in the log); terms no expiration fits leave the configured one
    /// (the claim then fails at prove-commit, saying why). The
    /// allocations' own `expiration` (the last epoch to claim them) is
    /// not checked here: the devnet and the actors refuse a late claim.
    async fn pre_commit_expiration(
        &self,
        sector: SectorId,
        rec: &SectorStatus,
        head: ChainEpoch,
    ) -> ChainEpoch {
        let preferred = head + self.config.expiration_epochs;
        let keys: Vec<_> = rec
            .deals
            .iter()
            .flatten()
            .filter_map(|d| d.allocation)
            .collect();
        if keys.is_empty() {
            return preferred;
        }
        let delay = match self.chain.network().await {
            Ok(n) => n.pre_commit_challenge_delay,
            Err(e) => {
                warn!(%sector, error = %e, "cannot read the network: the claims' terms are not checked");
                return preferred;
            }
        };
        let mut terms = Vec::with_capacity(keys.len());
        for key in keys {
            match self.chain.allocation(key.client, key.id).await {
                Ok(Some(t)) => terms.push(t),
                Ok(None) => {
                    warn!(%sector, %key, "no such allocation on chain (claimed or expired): its claim will fail");
                }
                Err(e) => {
                    warn!(%sector, %key, error = %e, "cannot read the allocation: the expiration is not fitted to it");
                }
            }
        }
        // The pre-commit lands a few epochs after head (a margin), is
        // proven within the window, and may not expire past the actors'
        // cap for a new sector (counted from the earliest activation).
        let earliest = head + delay;
        let latest = earliest + PROVE_COMMIT_WINDOW + LANDING_MARGIN;
        let cap = earliest + venus_seal_core::lifecycle::ExtensionCaps::default().max_extension;
        match fit_expiration(preferred, earliest, latest, cap, &terms) {
            Ok(expiration) => {
                if expiration != preferred {
                    info!(%sector, expiration, preferred, "expiration fitted to the sector's FIL+ claims");
                }
                expiration
            }
            Err(why) => {
                warn!(%sector, %why, "the sector's FIL+ claims will fail");
                preferred
            }
        }
    }

    /// Stops sending (for a SIGTERM): no new batch starts, and the batch
    /// in flight, if any, is waited for up to `grace`. Returns whether it
    /// finished. One that did not is handed back safely: its claims lapse
    /// and its attempt uid is saved, so the next manager recovers that
    /// attempt instead of sending a second message.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        self.stopping.store(true, Ordering::SeqCst);
        self.wake.notify_one();
        match tokio::time::timeout(grace, self.sending.lock()).await {
            Ok(_idle) => true,
            Err(_) => {
                warn!(
                    ?grace,
                    "a batch was still being sent at shutdown: the next start recovers it"
                );
                false
            }
        }
    }

    fn policy(&self, miner: ActorId, kind: Kind) -> BatchPolicy {
        match (self.config.miner(miner), kind) {
            (Some(m), Kind::PreCommit) => m.pre_commit,
            (Some(m), Kind::Proof) => m.prove_commit,
            (Some(m), Kind::Update) => m.snap_commit,
            (None, _) => BatchPolicy::IMMEDIATE,
        }
    }

    /// Sends every batch that is due: a miner's queued pre-commits (or
    /// proofs) once `threshold` wait or the oldest waited `max_wait`.
    /// Returns when the next batch falls due (`None`: nothing waits). The
    /// batch timer calls this; so does every submission. Tests with a
    /// paused tokio clock drive it directly.
    pub async fn send_due(&self) -> Result<Option<Instant>, ManagerError> {
        let _one = self.sending.lock().await;
        if self.stopping.load(Ordering::SeqCst) {
            return Ok(None);
        }
        let now = Instant::now();
        let unix = unix_now();
        let queued = self.store.queued().await?;
        let mut groups: BTreeMap<(ActorId, Kind), Vec<SectorId>> = BTreeMap::new();
        // Attempts pushed by a batcher that died or lost the answer: each
        // goes out again under its uid, with exactly its own sectors.
        let mut recover: BTreeMap<SendUid, (ActorId, Kind, Vec<SectorId>)> = BTreeMap::new();
        let mut next = None;
        {
            let mut times = self.times();
            let mut live = HashSet::new();
            for (id, v) in &queued {
                let rec = &v.value;
                let slots = [
                    (
                        Kind::PreCommit,
                        rec.pre_commit.as_ref().map(|s| look(s, unix)),
                    ),
                    (Kind::Proof, rec.proof.as_ref().map(|s| look(s, unix))),
                    (
                        Kind::Update,
                        rec.snap_up
                            .as_ref()
                            .and_then(|j| j.submission.as_ref())
                            .map(|s| look(s, unix)),
                    ),
                ];
                for (kind, st) in slots {
                    match st {
                        Some((true, true, Some(uid))) => {
                            live.insert((*id, kind));
                            recover
                                .entry(uid)
                                .or_insert_with(|| (id.miner, kind, Vec::new()))
                                .2
                                .push(*id);
                        }
                        Some((true, true, None)) => {
                            live.insert((*id, kind));
                            times.first_seen.entry((*id, kind)).or_insert(now);
                            groups.entry((id.miner, kind)).or_default().push(*id);
                        }
                        // Another batcher is sending it.
                        Some((true, false, _)) => earliest(&mut next, now + CLAIM_CHECK),
                        _ => {}
                    }
                }
            }
            times.first_seen.retain(|k, _| live.contains(k));
            times.retry_after.retain(|k, _| live.contains(k));
            times.failures.retain(|k, _| live.contains(k));
            times.unsent.retain(|k, _| live.contains(k));
            times.solo.retain(|k| live.contains(k));
        }
        for (uid, (miner, kind, ids)) in recover {
            let waiting = {
                let times = self.times();
                ids.iter()
                    .filter_map(|id| times.retry_after.get(&(*id, kind)).copied())
                    .max()
                    .filter(|at| *at > now)
            };
            match waiting {
                Some(at) => earliest(&mut next, at),
                None => {
                    info!(%miner, kind = kind.name(), %uid, sectors = ids.len(), "recovering an attempt whose message was not recorded");
                    self.send_batch(miner, kind, &ids, Some(uid)).await;
                }
            }
        }
        for ((miner, kind), ids) in groups {
            let policy = self.policy(miner, kind);
            let mut ready = Vec::with_capacity(ids.len());
            let mut oldest: Option<Instant> = None;
            {
                let times = self.times();
                for id in ids {
                    if let Some(&at) = times.retry_after.get(&(id, kind)) {
                        if at > now {
                            earliest(&mut next, at);
                            continue;
                        }
                    }
                    let seen = times.first_seen.get(&(id, kind)).copied().unwrap_or(now);
                    oldest = Some(oldest.map_or(seen, |o| o.min(seen)));
                    ready.push(id);
                }
            }
            let Some(oldest) = oldest else {
                continue;
            };
            let deadline = oldest + policy.max_wait;
            if ready.len() < policy.threshold && deadline > now {
                debug!(%miner, kind = kind.name(), waiting = ready.len(), threshold = policy.threshold, "batch not due yet");
                earliest(&mut next, deadline);
                continue;
            }
            // Sectors the node refused alone go alone, so that they do not
            // hold the others back.
            let (solo, batch): (Vec<_>, Vec<_>) = {
                let times = self.times();
                ready
                    .into_iter()
                    .partition(|id| times.solo.contains(&(*id, kind)))
            };
            for chunk in batch.chunks(policy.max_batch.max(1)) {
                self.send_batch(miner, kind, chunk, None).await;
            }
            for id in solo {
                self.send_batch(miner, kind, &[id], None).await;
            }
        }
        // What failed just now is tried again on its own: the timer wakes
        // at its retry time, not only at the next submission.
        for at in self.times().retry_after.values() {
            if *at > now {
                earliest(&mut next, *at);
            }
        }
        Ok(next)
    }

    /// Claims, checks and sends one batch (`recover`: the unfinished
    /// attempt of exactly these sectors, pushed again under its uid); what
    /// happens to each sector is recorded in its status. A sector whose
    /// worker or operator gave it up is never sent.
    async fn send_batch(
        &self,
        miner: ActorId,
        kind: Kind,
        ids: &[SectorId],
        recover: Option<SendUid>,
    ) {
        let unix = unix_now();
        let mut claimed: Vec<(SectorId, SectorStatus)> = Vec::with_capacity(ids.len());
        for &id in ids {
            let claim = self
                .modify(id, |rec| {
                    let gone = rec
                        .aborted
                        .as_ref()
                        .map(|why| format!("the sector was aborted by its worker: {why}"))
                        .or_else(|| {
                            rec.abort_requested
                                .as_ref()
                                .map(|why| format!("the operator aborted the sector: {why}"))
                        })
                        .or_else(|| {
                            let proven = rec.snap_up.as_ref().is_some_and(|j| {
                                j.state == venus_seal_core::snapup::SnapUpState::Proven
                            });
                            (kind == Kind::Update && !proven)
                                .then(|| "the snap-up was given up".to_string())
                        });
                    let took = with_slot!(rec, kind, |s| {
                        let ours = s.unfinished_attempt().map(|a| &a.uid) == recover.as_ref();
                        if !s.is_claimable(unix) || !ours {
                            false
                        } else if let Some(why) = &gone {
                            s.failed = true;
                            s.last_error = Some(format!("not sent: {why}"));
                            false
                        } else {
                            s.sending_since = Some(unix);
                            true
                        }
                    });
                    Ok(took.unwrap_or(false).then(|| rec.clone()))
                })
                .await;
            match claim {
                Ok(Some(rec)) => claimed.push((id, rec)),
                Ok(None) => {}
                Err(e) => {
                    warn!(sector = %id, error = %e, "cannot claim the {} for a batch", kind.name())
                }
            }
        }
        if claimed.is_empty() {
            return;
        }
        let keep = recover.is_some();
        let (head, network) = match (self.chain.head().await, self.chain.network().await) {
            (Ok(h), Ok(n)) => (h, n),
            (Err(e), _) | (_, Err(e)) => {
                self.release(kind, &claimed, unix, &e.to_string(), keep)
                    .await;
                return;
            }
        };

        let mut to_send = Vec::with_capacity(claimed.len());
        for (id, rec) in claimed {
            match self.found_on_chain(id, kind, &rec).await {
                Ok(true) => {
                    info!(sector = %id, "the {} is already on chain: not sent again", kind.name());
                    self.settle(id, kind, unix, Settle::FoundOnChain).await;
                    continue;
                }
                Ok(false) => {}
                Err(e) => {
                    self.release(kind, &[(id, rec)], unix, &e.to_string(), keep)
                        .await;
                    continue;
                }
            }
            if let (Kind::PreCommit, Some(pc)) = (kind, &rec.pre_commit) {
                let oldest = head - network.max_pre_commit_randomness_lookback;
                if pc.content.ticket.epoch < oldest {
                    let why = format!(
                        "ticket expired while queued: its epoch {} is older than {oldest} at head {head}",
                        pc.content.ticket.epoch
                    );
                    self.give_up(id, kind, unix, &why).await;
                    continue;
                }
            }
            to_send.push((id, rec));
        }
        if to_send.is_empty() {
            return;
        }
        // A non-interactive sector's proof is an aggregate of its own
        // partition proofs: one ProveCommitSectorsNI each.
        let (ni, rest): (Vec<_>, Vec<_>) = to_send
            .into_iter()
            .partition(|(_, rec)| kind == Kind::Proof && rec.proof_type.is_non_interactive());
        // A recovered attempt's uid goes with its message: reused only
        // when that attempt was one NI sector alone.
        let lone = ni.len() == 1 && rest.is_empty();
        for one in ni {
            let uid = if lone { recover.clone() } else { None };
            self.push_group(miner, kind, vec![one], head, unix, uid)
                .await;
        }
        if !rest.is_empty() {
            self.push_group(miner, kind, rest, head, unix, recover)
                .await;
        }
    }

    /// Pushes `group` (claimed at `unix`) as one message under a new
    /// attempt uid saved first, or under `recover`. A group the node
    /// refuses is split in halves, each pushed as its own attempt, so that
    /// one sector the node will not take does not hold the others back;
    /// a lone refused sector is tried again later (sent alone), until its
    /// ticket or pre-commit expires.
    async fn push_group(
        &self,
        miner: ActorId,
        kind: Kind,
        mut group: Vec<(SectorId, SectorStatus)>,
        head: ChainEpoch,
        unix: u64,
        recover: Option<SendUid>,
    ) -> Pushed {
        let claimed = group.len();
        let mut expirations = HashMap::new();
        if kind == Kind::PreCommit {
            for (id, rec) in &group {
                expirations.insert(*id, self.pre_commit_expiration(*id, rec, head).await);
            }
        }
        let call = match kind {
            Kind::PreCommit => MinerCall::PreCommitSectorBatch2(
                group
                    .iter()
                    .filter_map(|(id, rec)| {
                        let pc = &rec.pre_commit.as_ref()?.content;
                        Some(PreCommitParams {
                            sector_number: id.number,
                            seal_proof: rec.proof_type,
                            sealed_cid: pc.comm_r,
                            unsealed_cid: pc.comm_d,
                            seal_rand_epoch: pc.ticket.epoch,
                            // Deals are activated by the proof's piece
                            // manifests: ProveCommitSectors3 refuses
                            // pre-committed deals.
                            deal_ids: Vec::new(),
                            expiration: expirations
                                .get(id)
                                .copied()
                                .unwrap_or(head + self.config.expiration_epochs),
                        })
                    })
                    .collect(),
            ),
            Kind::Proof => match self.proof_call(miner, &group).await {
                Ok(call) => call,
                Err(why) => {
                    warn!(%miner, sectors = claimed, error = %why, "the proof message cannot be built yet");
                    self.release(kind, &group, unix, &why, recover.is_some())
                        .await;
                    return Pushed::Refused;
                }
            },
            Kind::Update => {
                let mut updates = Vec::with_capacity(claimed);
                let mut ready = Vec::with_capacity(claimed);
                for (id, rec) in group {
                    match self.update_params(id, &rec).await {
                        Ok(u) => {
                            updates.push(u);
                            ready.push((id, rec));
                        }
                        Err(why) => {
                            warn!(sector = %id, error = %why, "the snap-up message cannot be built yet");
                            self.release(kind, &[(id, rec)], unix, &why, recover.is_some())
                                .await;
                        }
                    }
                }
                if ready.is_empty() {
                    return Pushed::Refused;
                }
                group = ready;
                MinerCall::ProveReplicaUpdates3(updates)
            }
        };
        let count = group.len();
        let shape = match &call {
            MinerCall::ProveCommitAggregate(_) => "aggregated",
            _ => "batched",
        };
        let keep = recover.is_some();
        // Deposits and pledges, unless the actor pays them itself. A node
        // that cannot say what they are is retried like an unreachable one.
        let value = match self.config.miner(miner).map(|m| m.collateral) {
            Some(Collateral::MinerBalance) => TokenAmount::ZERO,
            _ => match self.chain.collateral(miner, &call).await {
                Ok(value) => value,
                Err(e) => {
                    let why = format!("cannot compute the collateral of the {}: {e}", kind.name());
                    warn!(%miner, sectors = count, error = %e, "{why}");
                    self.release(kind, &group, unix, &why, keep).await;
                    return Pushed::Refused;
                }
            },
        };
        // The attempt's uid is saved on every sector before the push: a
        // manager that dies during it recovers this attempt, not a new one.
        let uid = match recover {
            Some(uid) => uid,
            None => {
                let uid = new_send_uid();
                for (id, _) in &group {
                    if let Err(e) = self.begin_attempt(*id, kind, unix, &uid).await {
                        let why = format!("cannot save the attempt before sending: {e}");
                        warn!(sector = %id, error = %e, "{why}");
                        self.release(kind, &group, unix, &why, false).await;
                        return Pushed::Refused;
                    }
                }
                uid
            }
        };
        let msg = MinerMessage::new(miner, call).with_value(value);
        let error = match self.sender.send(&uid, msg).await {
            Ok(message) => {
                info!(%miner, sectors = count, message = %message.0, %uid, collateral = %value, "{} {shape} and sent", kind.name());
                for (id, _) in &group {
                    let sent = Settle::Sent {
                        message: message.clone(),
                        epoch: head,
                    };
                    self.settle(*id, kind, unix, sent).await;
                    self.times().forget_failures(*id, kind);
                }
                return Pushed::Sent;
            }
            Err(e) => e,
        };
        let refused = matches!(error.level(), FailureLevel::Permanent | FailureLevel::Abort);
        warn!(%miner, sectors = count, error = %error, %uid, refused, "sending the {} batch failed", kind.name());
        if !refused {
            // Unreachable, or the answer was lost: the node may hold the
            // push, so the next try recovers this attempt.
            self.release(kind, &group, unix, &error.to_string(), true)
                .await;
            return Pushed::Refused;
        }
        // The node refused the message and holds nothing under its uid.
        if count == 1 {
            self.times().solo.insert((group[0].0, kind));
            self.release(kind, &group, unix, &error.to_string(), false)
                .await;
            return Pushed::Refused;
        }
        for (id, _) in &group {
            if let Err(e) = self.end_attempt(*id, kind, unix, &uid).await {
                warn!(sector = %id, error = %e, "cannot clear a refused attempt");
            }
        }
        let mut left = group;
        let right = left.split_off(count / 2);
        info!(%miner, sectors = count, "the node refused the batch: sending each half on its own");
        let a = Box::pin(self.push_group(miner, kind, left, head, unix, None)).await;
        let b = Box::pin(self.push_group(miner, kind, right, head, unix, None)).await;
        match (a, b) {
            (Pushed::Sent, Pushed::Sent) => Pushed::Sent,
            (Pushed::Refused, Pushed::Refused) => Pushed::Refused,
            _ => Pushed::Partly,
        }
    }

    /// Saves a new attempt `uid` on a sector this batcher claimed at
    /// `unix`.
    async fn begin_attempt(
        &self,
        id: SectorId,
        kind: Kind,
        unix: u64,
        uid: &SendUid,
    ) -> Result<(), ManagerError> {
        let saved = self
            .modify(id, |rec| {
                Ok(with_slot!(rec, kind, |s| {
                    let ours = s.sending_since == Some(unix) && s.message.is_none();
                    if ours {
                        s.begin_attempt(uid.clone());
                    }
                    ours
                })
                .unwrap_or(false))
            })
            .await?;
        if saved {
            Ok(())
        } else {
            Err(ManagerError::Internal(format!(
                "the {} of sector {id} was taken over by another batcher",
                kind.name()
            )))
        }
    }

    /// Forgets the attempt `uid` of a sector this batcher claimed at
    /// `unix` (the node refused it: nothing was sent under it).
    async fn end_attempt(
        &self,
        id: SectorId,
        kind: Kind,
        unix: u64,
        uid: &SendUid,
    ) -> Result<(), ManagerError> {
        self.modify(id, |rec| {
            with_slot!(rec, kind, |s| {
                if s.sending_since == Some(unix) && s.attempt.as_ref().map(|a| &a.uid) == Some(uid)
                {
                    s.attempt = None;
                }
            });
            Ok(())
        })
        .await
    }

    /// Marks a claimed submission failed for good because the chain
    /// leaves no way forward (the poll then says `ShouldAbort`, with why).
    async fn give_up(&self, id: SectorId, kind: Kind, unix: u64, why: &str) {
        warn!(sector = %id, reason = why, "the {} cannot be sent any more", kind.name());
        let outcome = Settle::Failed {
            error: why.to_string(),
            permanent: true,
            keep_attempt: false,
        };
        self.settle(id, kind, unix, outcome).await;
    }

    /// The prove-commit call for `batch` (ascending sector numbers): one
    /// aggregate when the batch is large enough and the aggregate verifies,
    /// else one proof per sector.
    async fn proof_call(
        &self,
        miner: ActorId,
        batch: &[(SectorId, SectorStatus)],
    ) -> Result<MinerCall, String> {
        if let Some(ni) = self.ni_call(miner, batch).await {
            return ni;
        }
        let infos: Vec<SealVerifyInfo> = batch
            .iter()
            .filter_map(|(id, rec)| {
                let pc = &rec.pre_commit.as_ref()?.content;
                Some(SealVerifyInfo {
                    proof_type: rec.proof_type,
                    sector: *id,
                    comm_r: pc.comm_r,
                    comm_d: pc.comm_d,
                    ticket: pc.ticket.ticket,
                    seed: rec.seed?.seed,
                    proof: rec.proof.as_ref()?.content.proof.clone(),
                })
            })
            .collect();
        // The deals each sector took, activated with it.
        let pieces_of = |sector: SectorId| -> Vec<DealInfo> {
            batch
                .iter()
                .find(|(id, _)| *id == sector)
                .and_then(|(_, rec)| rec.deals.clone())
                .unwrap_or_default()
        };
        let aggregate_from = self.config.miner(miner).and_then(|m| m.aggregate_from);
        let same_type = infos.windows(2).all(|w| w[0].proof_type == w[1].proof_type);
        if aggregate_from.is_some_and(|n| infos.len() >= n)
            && infos.len() == batch.len()
            && same_type
        {
            let verifier = Arc::clone(&self.verifier);
            let input = infos.clone();
            let made = tokio::task::spawn_blocking(move || {
                let aggregate = verifier.aggregate_seal_proofs(&input)?;
                let valid = verifier.verify_aggregate_seal(&input, &aggregate)?;
                Ok::<_, venus_seal_core::VerifyError>((aggregate, valid))
            })
            .await;
            match made {
                Ok(Ok((aggregate_proof, true))) => {
                    return Ok(MinerCall::ProveCommitAggregate(AggregateProveCommit {
                        sectors: infos.iter().map(|i| i.sector.number).collect(),
                        aggregate_proof,
                        pieces: infos.iter().map(|i| pieces_of(i.sector)).collect(),
                    }))
                }
                Ok(Ok((_, false))) => {
                    warn!(%miner, sectors = infos.len(), "the aggregate proof does not verify: sending the proofs one by one")
                }
                Ok(Err(e)) => {
                    warn!(%miner, error = %e, "cannot aggregate: sending the proofs one by one")
                }
                Err(e) => {
                    warn!(%miner, error = %e, "aggregation panicked: sending the proofs one by one")
                }
            }
        }
        Ok(MinerCall::ProveCommitSectors3(
            infos
                .into_iter()
                .map(|i| ProveCommitParams {
                    sector_number: i.sector.number,
                    pieces: pieces_of(i.sector),
                    proof: Proof { proof: i.proof },
                })
                .collect(),
        ))
    }

    /// The `ProveCommitSectorsNI` of a batch of non-interactive sectors
    /// (one, as [`send_batch`](Self::send_batch) groups them): the proof
    /// is the sector's C2 output (an aggregate of its partition proofs),
    /// the expiration as a pre-commit's would be, the deadline that opens
    /// last from now (the actors refuse a deadline that is not mutable:
    /// the open one, the next, one whose challenge window is near; the
    /// farthest leaves the message the most time to land). `None` for
    /// interactive sectors; an error when the chain cannot say what the
    /// message needs (the claim is released and tried again: an
    /// interactive message would certainly fail).
    async fn ni_call(
        &self,
        miner: ActorId,
        batch: &[(SectorId, SectorStatus)],
    ) -> Option<Result<MinerCall, String>> {
        let (_, rec) = batch.first()?;
        if !rec.proof_type.is_non_interactive() {
            return None;
        }
        let head = match self.chain.head().await {
            Ok(h) => h,
            Err(e) => {
                return Some(Err(format!(
                    "cannot read the head for a ProveCommitSectorsNI: {e}"
                )))
            }
        };
        let dl = match self.chain.proving_deadline(miner).await {
            Ok(dl) => dl,
            Err(e) => {
                return Some(Err(format!(
                    "cannot read the proving deadline for a ProveCommitSectorsNI: {e}"
                )))
            }
        };
        let mut sectors = Vec::with_capacity(batch.len());
        let mut aggregate_proof = Vec::new();
        for (id, rec) in batch {
            let (Some(pc), Some(proof)) = (&rec.pre_commit, &rec.proof) else {
                return Some(Err(format!(
                    "sector {id} has no pre-commit or proof on record"
                )));
            };
            aggregate_proof = proof.content.proof.clone();
            sectors.push(venus_seal_core::chain::NiSector {
                number: id.number,
                sealed_cid: pc.content.comm_r,
                seal_rand_epoch: pc.content.ticket.epoch,
                expiration: self.pre_commit_expiration(*id, rec, head).await,
            });
        }
        let n = dl.deadlines.max(1);
        let ahead = (n - 1).max(2);
        Some(Ok(MinerCall::ProveCommitSectorsNI(
            venus_seal_core::chain::NiProveCommit {
                sectors,
                seal_proof: rec.proof_type,
                aggregate_proof,
                proving_deadline: (dl.index + ahead) % n,
            },
        )))
    }

    /// Whether the chain already holds what this submission asks for.
    async fn found_on_chain(
        &self,
        id: SectorId,
        kind: Kind,
        rec: &SectorStatus,
    ) -> Result<bool, ManagerError> {
        let proven = self.chain.sector(id.miner, id.number).await?;
        if kind == Kind::Update {
            let ours = rec
                .snap_up
                .as_ref()
                .and_then(|j| j.submission.as_ref())
                .map(|s| s.content.comm_r_new);
            return Ok(proven.is_some_and(|s| Some(s.sealed_cid) == ours));
        }
        if proven.is_some() {
            return Ok(true);
        }
        Ok(match kind {
            Kind::PreCommit => {
                let ours = rec.pre_commit.as_ref().map(|s| s.content.comm_r);
                let on_chain = self.chain.pre_commit(id.miner, id.number).await?;
                on_chain.is_some_and(|pc| Some(pc.info.sealed_cid) == ours)
            }
            Kind::Proof | Kind::Update => false,
        })
    }

    /// Records `outcome` on this batcher's claim on a sector's submission
    /// (made at `unix`), and lifts the claim.
    async fn settle(&self, id: SectorId, kind: Kind, unix: u64, outcome: Settle) {
        let done = self
            .modify(id, |rec| {
                let step = with_slot!(rec, kind, |s| {
                    if s.sending_since == Some(unix) && s.message.is_none() {
                        s.sending_since = None;
                        match &outcome {
                            Settle::Sent { message, epoch } => {
                                s.message = Some(message.clone());
                                s.sent_epoch = Some(*epoch);
                                s.last_error = None;
                            }
                            Settle::Failed {
                                error,
                                permanent,
                                keep_attempt,
                            } => {
                                s.last_error = Some(error.clone());
                                s.failed = *permanent;
                                if !keep_attempt {
                                    s.attempt = None;
                                }
                            }
                            Settle::FoundOnChain => s.found_on_chain = true,
                        }
                        true
                    } else {
                        false
                    }
                });
                if step == Some(true) {
                    let (next, detail) = match &outcome {
                        Settle::Sent { message, .. } => ("Sent", message.0.clone()),
                        Settle::Failed {
                            error,
                            permanent: true,
                            ..
                        } => ("Refused", error.clone()),
                        Settle::Failed { error, .. } => ("SendFailed", error.clone()),
                        Settle::FoundOnChain => ("FoundOnChain", String::new()),
                    };
                    rec.record(super::event(format!("{}{next}", kind.step()), detail));
                }
                Ok(())
            })
            .await;
        match done {
            Ok(()) if matches!(outcome, Settle::Sent { .. }) => {
                self.times().watching.insert((id, kind));
            }
            Ok(()) => {}
            Err(e) => {
                warn!(sector = %id, error = %e, "cannot record the {} batch outcome", kind.name());
            }
        }
    }

    /// Gives claimed submissions back to the queue after a failure, to be
    /// tried again after a delay that grows with each failure in a row
    /// (`keep_attempt`: the push may have been taken, so the next try
    /// recovers the same attempt uid).
    async fn release(
        &self,
        kind: Kind,
        batch: &[(SectorId, SectorStatus)],
        unix: u64,
        error: &str,
        keep_attempt: bool,
    ) {
        for (id, _) in batch {
            let outcome = Settle::Failed {
                error: error.to_string(),
                permanent: false,
                keep_attempt,
            };
            self.settle(*id, kind, unix, outcome).await;
            let mut times = self.times();
            times.retry_later(*id, kind, &self.config.resend);
            times.note_unsent(*id, kind, super::unix_now(), error);
        }
    }

    /// The queued submissions whose pushes keep failing, with when the
    /// first failure in a row was and what the last one answered: what an
    /// operator or an alert rule reads to see a batch that does not go out.
    pub fn unsent_submissions(&self) -> Vec<super::UnsentSubmission> {
        let mut unsent: Vec<_> = self.times().unsent.values().cloned().collect();
        unsent.sort_by_key(|u| (u.sector.miner, u.sector.number, u.kind));
        unsent
    }

    /// Where a submission stands, resending it after a failure on chain
    /// (at most [`Submitted::MAX_RESENDS`](super::Submitted) times) and
    /// saying `ShouldAbort` when the chain leaves no way forward.
    pub(super) async fn poll(
        &self,
        sector: SectorId,
        kind: Kind,
    ) -> Result<PollStateResponse, ManagerError> {
        let mut rec = self.read(sector).await?;
        if let Some(reason) = &rec.abort_requested {
            return Ok(PollStateResponse {
                state: OnChainState::ShouldAbort,
                desc: Some(format!("the operator aborted the sector: {reason}")),
            });
        }
        let Some((message, failed, found, last_error, resends, sent_epoch, no_message)) =
            with_slot!(rec, kind, |s| (
                s.message.clone(),
                s.failed,
                s.found_on_chain,
                s.last_error.clone(),
                s.resends,
                s.sent_epoch,
                s.no_message
            ))
        else {
            return Err(ManagerError::Rejected(format!(
                "no {} was submitted for sector {sector}",
                kind.name()
            )));
        };
        let state = |state, desc: String| {
            Ok(PollStateResponse {
                state,
                desc: Some(desc),
            })
        };
        if found {
            return state(
                OnChainState::Landed,
                "found on chain (its message id was lost in a manager restart)".into(),
            );
        }
        if no_message {
            return state(
                OnChainState::Landed,
                "non-interactive PoRep: no pre-commit message (the proof's message carries the \
                 sector)"
                    .into(),
            );
        }
        let why = last_error.unwrap_or_default();
        if failed {
            if let Some(abort) = self.chain_says_abort(sector, kind, &rec).await? {
                return state(OnChainState::ShouldAbort, abort);
            }
            return state(
                OnChainState::PermFailed,
                format!("the {} could not be sent: {why}", kind.name()),
            );
        }
        let Some(id) = message else {
            let mut desc = "queued in the manager for the next batch".to_string();
            if !why.is_empty() {
                desc.push_str(&format!("; the last attempt to send it failed: {why}"));
            }
            return state(OnChainState::Pending, desc);
        };
        match self.sender.state(&id).await? {
            MessageState::Pending => {
                // Also looked at by the timer from now on (after a
                // restart, a poll is what finds it again).
                self.times().watching.insert((sector, kind));
                let desc = self
                    .replace_if_stuck(sector, kind, &id, sent_epoch, None)
                    .await;
                state(OnChainState::Packed, desc)
            }
            MessageState::Landed {
                exit_code: 0,
                epoch,
                ..
            } => state(
                OnChainState::Landed,
                format!("message {} landed at epoch {epoch}", id.0),
            ),
            MessageState::Landed {
                exit_code,
                error,
                epoch,
            } => {
                let error = error.unwrap_or_else(|| format!("exit code {exit_code}"));
                let failure = format!("message {} failed at epoch {epoch}: {error}", id.0);
                if kind == Kind::Proof
                    && self
                        .chain
                        .sector(sector.miner, sector.number)
                        .await?
                        .is_some()
                {
                    return state(
                        OnChainState::Landed,
                        format!("{failure}; but the sector is proven on chain"),
                    );
                }
                if let Some(abort) = self.chain_says_abort(sector, kind, &rec).await? {
                    return state(OnChainState::ShouldAbort, format!("{failure}; {abort}"));
                }
                if resends >= super::Submitted::<()>::MAX_RESENDS {
                    return state(
                        OnChainState::PermFailed,
                        format!("{failure} (after {resends} resends)"),
                    );
                }
                self.resend(sector, kind, &id, &failure).await?;
                state(
                    OnChainState::Pending,
                    format!(
                        "{failure}; queued again (resend {} of {})",
                        resends + 1,
                        super::Submitted::<()>::MAX_RESENDS
                    ),
                )
            }
            MessageState::NotFound => state(
                OnChainState::NotFound,
                format!("the chain does not know message {}", id.0),
            ),
        }
    }

    /// Looks at every message this manager sent (or a worker's poll found
    /// pending) that has not been seen landing: one pending for
    /// [`ResendPolicy::stuck_after_epochs`] is replaced as a poll would
    /// replace it, so a stuck message goes out again with a higher
    /// premium even while no worker polls (it died, or waits on
    /// something else). Landed, failed or unknown messages are left to
    /// the worker's next poll, which acts on them. The batch timer calls
    /// this every 30 s; tests drive it directly. Returns how
    /// many messages are still watched.
    pub async fn watch_sent(&self) -> usize {
        let watched: Vec<(SectorId, Kind)> = self.times().watching.iter().copied().collect();
        for (sector, kind) in watched {
            if !self.watch_one(sector, kind).await {
                let mut times = self.times();
                times.watching.remove(&(sector, kind));
                times.pending.remove(&(sector, kind));
            }
        }
        self.times().watching.len()
    }

    /// The messages the batch timer found pending at its last look
    /// ([`watch_sent`](Self::watch_sent)), by sector: what an operator or
    /// an alert rule reads to see a message the chain does not take even
    /// after its replacements.
    pub fn pending_messages(&self) -> Vec<super::PendingMessage> {
        let mut pending: Vec<_> = self.times().pending.values().cloned().collect();
        pending.sort_by_key(|p| (p.sector.miner, p.sector.number, p.kind));
        pending
    }

    /// [`watch_sent`](Self::watch_sent) for one message: whether to keep
    /// watching it.
    async fn watch_one(&self, sector: SectorId, kind: Kind) -> bool {
        let mut rec = match self.read(sector).await {
            Ok(rec) => rec,
            Err(ManagerError::Rejected(_)) => return false,
            Err(e) => {
                debug!(%sector, error = %e, "cannot read a sent message's sector; looking again later");
                return true;
            }
        };
        if rec.abort_requested.is_some() {
            return false;
        }
        let Some((Some(id), false, false, sent)) = with_slot!(rec, kind, |s| (
            s.message.clone(),
            s.failed,
            s.found_on_chain,
            s.sent_epoch
        )) else {
            return false;
        };
        match self.sender.state(&id).await {
            Ok(MessageState::Pending) => {
                let head = self.chain.head().await.ok();
                // Read at every look: venus-messager replaces a message
                // under the same id, and prices it only when it selects it.
                let fee = self.sender.fee(&id).await.unwrap_or_else(|e| {
                    debug!(%sector, message = %id.0, error = %e, "cannot read a sent message's fee");
                    None
                });
                if let (Some(sent), Some(head)) = (sent, head) {
                    let mut times = self.times();
                    let first = times
                        .pending
                        .get(&(sector, kind))
                        .map_or(sent, |p| p.first_sent.min(sent));
                    times.pending.insert(
                        (sector, kind),
                        super::PendingMessage {
                            sector,
                            kind: kind.name(),
                            message: id.clone(),
                            first_sent: first,
                            head,
                            fee,
                        },
                    );
                }
                let desc = self.replace_if_stuck(sector, kind, &id, sent, head).await;
                debug!(%sector, message = %id.0, %desc, "watching a sent {}", kind.name());
                true
            }
            Ok(_) => false,
            Err(e) => {
                debug!(%sector, message = %id.0, error = %e, "cannot read a sent message's state; looking again later");
                true
            }
        }
    }

    /// Replaces the pending message `id` of `sector` once it has waited
    /// [`ResendPolicy::stuck_after_epochs`] since `sent` (sent or last
    /// replaced at that head): the sender re-sends it at the same nonce
    /// with a higher premium, within `max_fee`, and the replacement is
    /// recorded with the head as its new sent epoch; a message the sender
    /// no longer holds is sent again under a new attempt. Never fails the
    /// poll: a replacement that cannot be made is said in the returned
    /// description and tried again at the next poll. `head`: the head the
    /// caller already read (`None`: read it here).
    async fn replace_if_stuck(
        &self,
        sector: SectorId,
        kind: Kind,
        id: &MessageId,
        sent: Option<ChainEpoch>,
        head: Option<ChainEpoch>,
    ) -> String {
        let pending = format!("message {}", id.0);
        let policy = self.config.resend;
        let (Some(after), Some(sent)) = (policy.stuck_after_epochs, sent) else {
            return pending;
        };
        let head = match head {
            Some(head) => Ok(head),
            None => self.chain.head().await,
        };
        let head = match head {
            Ok(head) if head - sent >= after => head,
            _ => return pending,
        };
        let stuck = format!("{pending} pending for {} epochs", head - sent);
        // The timer and a poll may both get here: the second finds the
        // record already names the replacement, and leaves it.
        let _one = self.replacing.lock().await;
        let current = match self.read(sector).await {
            Ok(mut rec) => with_slot!(rec, kind, |s| s.message.clone()).flatten(),
            Err(e) => return format!("{stuck}; cannot read the sector to replace it: {e}"),
        };
        if current.as_ref() != Some(id) {
            return match current {
                Some(new) => format!("{pending} was replaced by message {}", new.0),
                None => format!("{pending} is being sent again"),
            };
        }
        match self.sender.replace(id, &policy.fee_bump()).await {
            Ok(Replaced::By(new)) => {
                let recorded = self
                    .modify_live(sector, |rec| {
                        let replaced = with_slot!(rec, kind, |s| {
                            let ours = s.message.as_ref() == Some(id);
                            if ours {
                                s.message = Some(new.clone());
                                s.sent_epoch = Some(head);
                            }
                            ours
                        });
                        if replaced == Some(true) {
                            rec.record(super::event(
                                format!("{}Replaced", kind.step()),
                                format!("{} stuck, replaced by {}", id.0, new.0),
                            ));
                        }
                        Ok(())
                    })
                    .await;
                if let Err(e) = recorded {
                    warn!(%sector, error = %e, "cannot record the replacement of a stuck message");
                }
                info!(%sector, old = %id.0, new = %new.0, "the {} was stuck: replaced with a higher premium", kind.name());
                format!(
                    "{stuck}: replaced by message {} with a higher premium",
                    new.0
                )
            }
            Ok(_) => {
                let why = format!("{stuck} and no longer held by the sender");
                match self.resend(sector, kind, id, &why).await {
                    Ok(()) => format!("{why}: queued again"),
                    Err(e) => format!("{why}; cannot queue it again: {e}"),
                }
            }
            Err(e) => {
                warn!(%sector, message = %id.0, error = %e, "cannot replace a stuck message");
                format!("{stuck}; replacing it failed (tried again at the next poll): {e}")
            }
        }
    }

    /// Forces a new attempt at `sector`'s submission (its proof once one
    /// was submitted, else its pre-commit), for an operator: the message
    /// it waits for, the attempt uid, a failure and the retry back-off
    /// are forgotten and the submission goes out in the next batch under
    /// a new uid (unless the chain already holds it, which is checked
    /// before every send). Returns which submission was queued. A message
    /// still in the mpool may then land too; the second one fails on
    /// chain harmlessly (the sector is already pre-committed or proven).
    pub async fn force_resend(&self, sector: SectorId) -> Result<String, ManagerError> {
        let kind = self
            .modify_live(sector, |rec| {
                if let Some(why) = &rec.abort_requested {
                    return Err(ManagerError::Rejected(format!(
                        "sector {sector} is being aborted ({why}): nothing to resend"
                    )));
                }
                let snapping = rec.snap_up.as_ref().is_some_and(|j| {
                    j.state == venus_seal_core::snapup::SnapUpState::Proven
                        && j.submission.is_some()
                });
                let kind = if snapping {
                    Kind::Update
                } else if rec.proof.is_some() {
                    Kind::Proof
                } else if rec.pre_commit.as_ref().is_some_and(|p| p.no_message) {
                    return Err(ManagerError::Rejected(format!(
                        "sector {sector} is a non-interactive PoRep sector: its pre-commit is \
                         never sent (its proof's message carries it); nothing to resend yet"
                    )));
                } else if rec.pre_commit.is_some() {
                    Kind::PreCommit
                } else {
                    return Err(ManagerError::Rejected(format!(
                        "sector {sector} has submitted nothing to resend"
                    )));
                };
                with_slot!(rec, kind, |s| {
                    s.message = None;
                    s.attempt = None;
                    s.sending_since = None;
                    s.sent_epoch = None;
                    s.failed = false;
                    s.found_on_chain = false;
                    s.last_error = Some("a resend was forced by the operator".into());
                });
                Ok(kind)
            })
            .await?;
        self.times().forget_failures(sector, kind);
        info!(%sector, "the operator forced a new attempt at the {}", kind.name());
        self.wake.notify_one();
        Ok(kind.name().to_string())
    }

    /// Queues a submission whose message `failed` again.
    pub(super) async fn resend(
        &self,
        sector: SectorId,
        kind: Kind,
        failed: &MessageId,
        why: &str,
    ) -> Result<(), ManagerError> {
        let requeued = self
            .modify_live(sector, |rec| {
                Ok(with_slot!(rec, kind, |s| {
                    if s.message.as_ref() == Some(failed) {
                        s.message = None;
                        s.sending_since = None;
                        // A new attempt, with a new uid: under the old one
                        // the node answers with the failed message.
                        s.attempt = None;
                        s.sent_epoch = None;
                        s.resends += 1;
                        s.last_error = Some(why.to_string());
                        true
                    } else {
                        false
                    }
                })
                .unwrap_or(false))
            })
            .await?;
        if requeued {
            warn!(%sector, message = %failed.0, "the {} failed on chain: queued again", kind.name());
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Why the sector cannot go on, if the chain says so: a pre-commit
    /// whose ticket expired before it landed, a proof whose pre-commit is
    /// gone (expired) without the sector being proven.
    pub(super) async fn chain_says_abort(
        &self,
        sector: SectorId,
        kind: Kind,
        rec: &SectorStatus,
    ) -> Result<Option<String>, ManagerError> {
        // A snap-up's message is watched by `watch_snap_ups`, which gives
        // the job up when the chain leaves no way forward.
        if kind == Kind::Update {
            return Ok(None);
        }
        let on_chain = self.chain.pre_commit(sector.miner, sector.number).await?;
        let proven = self.chain.sector(sector.miner, sector.number).await?;
        let ours = rec.pre_commit.as_ref().map(|s| s.content.comm_r);
        let theirs = on_chain
            .as_ref()
            .map(|pc| pc.info.sealed_cid)
            .or(proven.as_ref().map(|s| s.sealed_cid));
        if let (Some(ours), Some(theirs)) = (ours, theirs) {
            if ours != theirs {
                return Ok(Some(format!(
                    "sector number {} of miner {} is taken on chain by a different replica (CommR {theirs}, ours {ours})",
                    sector.number, sector.miner
                )));
            }
        }
        if on_chain.is_some() || proven.is_some() {
            return Ok(None);
        }
        Ok(match kind {
            Kind::PreCommit => {
                let Some(pc) = &rec.pre_commit else {
                    return Ok(None);
                };
                let network = self.network().await?;
                let head = self.chain.head().await?;
                let oldest = head - network.max_pre_commit_randomness_lookback;
                (pc.content.ticket.epoch < oldest).then(|| {
                    format!(
                        "the ticket expired (epoch {} is older than {oldest} at head {head}): the sector must be sealed again with a new ticket",
                        pc.content.ticket.epoch
                    )
                })
            }
            // A non-interactive sector never has a pre-commit on chain:
            // its failed message is sent again (until its ticket is too
            // old for the actors' NI lookback).
            Kind::Proof if rec.proof_type.is_non_interactive() => {
                let Some(pc) = &rec.pre_commit else {
                    return Ok(None);
                };
                let head = self.chain.head().await?;
                let oldest = head - NI_RANDOMNESS_LOOKBACK;
                (pc.content.ticket.epoch < oldest).then(|| {
                    format!(
                        "the ticket of non-interactive sector {sector} is too old (epoch {} is \
                         before {oldest} at head {head}): it must be sealed again",
                        pc.content.ticket.epoch
                    )
                })
            }
            Kind::Update => None,
            Kind::Proof => Some(format!(
                "the pre-commit of sector {sector} is no longer on chain (expired) and the sector is not proven"
            )),
        })
    }
}
