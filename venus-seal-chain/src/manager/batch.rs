//! Batching: queued submissions go out per miner by its [`BatchPolicy`],
//! proofs aggregated when the batch is large enough; where each one
//! stands on chain, resends after a failure, and when the chain leaves no
//! way forward.
//!
//! [`BatchPolicy`]: super::BatchPolicy

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::{debug, info, warn};
use venus_seal_core::chain::{
    AggregateProveCommit, MessageId, MessageState, MinerCall, MinerMessage, PreCommitParams,
    ProveCommitParams,
};
use venus_seal_core::manager::{DealInfo, OnChainState, PollStateResponse};
use venus_seal_core::stage::Proof;
use venus_seal_core::{
    ActorId, FailureLevel, Leveled, ManagerError, SealVerifyInfo, SectorId, TokenAmount,
};

use super::{unix_now, BatchPolicy, Collateral, Kind, LocalSectorManager, SectorStatus};

/// After a send fails for a passing reason, wait this long.
const RETRY_DELAY: Duration = Duration::from_secs(10);

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
        }
    };
}

/// What became of a claimed submission.
enum Settle {
    /// This message carries it.
    Sent(MessageId),
    /// Sending failed (`permanent`: for good).
    Failed { error: String, permanent: bool },
    /// The chain already holds it.
    FoundOnChain,
}

fn earliest(next: &mut Option<Instant>, at: Instant) {
    *next = Some(next.map_or(at, |n| n.min(at)));
}

/// The batch timer: sends due batches, sleeps until the next falls due or
/// a submission arrives, ends when the manager is dropped.
pub(super) async fn run_timer(manager: Weak<LocalSectorManager>, wake: Arc<Notify>) {
    loop {
        let next = {
            let Some(m) = manager.upgrade() else {
                return;
            };
            match m.send_due().await {
                Ok(next) => next,
                Err(e) => {
                    warn!(error = %e, "cannot send due batches; trying again in {RETRY_DELAY:?}");
                    Some(Instant::now() + RETRY_DELAY)
                }
            }
        };
        match next {
            Some(at) => {
                tokio::select! {
                    () = wake.notified() => {}
                    () = tokio::time::sleep_until(at) => {}
                }
            }
            None => wake.notified().await,
        }
    }
}

impl LocalSectorManager {
    fn policy(&self, miner: ActorId, kind: Kind) -> BatchPolicy {
        match (self.config.miner(miner), kind) {
            (Some(m), Kind::PreCommit) => m.pre_commit,
            (Some(m), Kind::Proof) => m.prove_commit,
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
        let now = Instant::now();
        let unix = unix_now();
        let queued = self.store.queued().await?;
        let mut groups: BTreeMap<(ActorId, Kind), Vec<SectorId>> = BTreeMap::new();
        let mut next = None;
        {
            let mut times = self.times();
            let mut live = HashSet::new();
            for (id, v) in &queued {
                let rec = &v.value;
                let slots = [
                    (
                        Kind::PreCommit,
                        rec.pre_commit
                            .as_ref()
                            .map(|s| (s.is_queued(), s.is_claimable(unix))),
                    ),
                    (
                        Kind::Proof,
                        rec.proof
                            .as_ref()
                            .map(|s| (s.is_queued(), s.is_claimable(unix))),
                    ),
                ];
                for (kind, st) in slots {
                    match st {
                        Some((true, true)) => {
                            live.insert((*id, kind));
                            times.first_seen.entry((*id, kind)).or_insert(now);
                            groups.entry((id.miner, kind)).or_default().push(*id);
                        }
                        // Another batcher is sending it.
                        Some((true, false)) => earliest(&mut next, now + CLAIM_CHECK),
                        _ => {}
                    }
                }
            }
            times.first_seen.retain(|k, _| live.contains(k));
            times.retry_after.retain(|k, _| live.contains(k));
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
            for chunk in ready.chunks(policy.max_batch.max(1)) {
                self.send_batch(miner, kind, chunk).await;
            }
        }
        Ok(next)
    }

    /// Claims, checks and sends one batch; what happens to each sector is
    /// recorded in its status.
    async fn send_batch(&self, miner: ActorId, kind: Kind, ids: &[SectorId]) {
        let unix = unix_now();
        let mut claimed: Vec<(SectorId, SectorStatus)> = Vec::with_capacity(ids.len());
        for &id in ids {
            let claim = self
                .modify(id, |rec| {
                    let gone = rec.aborted.is_some();
                    let took = with_slot!(rec, kind, |s| {
                        if !s.is_claimable(unix) {
                            false
                        } else if gone {
                            s.failed = true;
                            s.last_error = Some("the sector was aborted".into());
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
        let (head, network) = match (self.chain.head().await, self.chain.network().await) {
            (Ok(h), Ok(n)) => (h, n),
            (Err(e), _) | (_, Err(e)) => {
                self.release(kind, &claimed, unix, &e.to_string(), false)
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
                    self.release(kind, &[(id, rec)], unix, &e.to_string(), false)
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
                    self.release(kind, &[(id, rec)], unix, &why, true).await;
                    continue;
                }
            }
            to_send.push((id, rec));
        }
        if to_send.is_empty() {
            return;
        }

        let call = match kind {
            Kind::PreCommit => MinerCall::PreCommitSectorBatch2(
                to_send
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
                            expiration: head + self.config.expiration_epochs,
                        })
                    })
                    .collect(),
            ),
            Kind::Proof => self.proof_call(miner, &to_send).await,
        };
        let count = to_send.len();
        let shape = match &call {
            MinerCall::ProveCommitAggregate(_) => "aggregated",
            _ => "batched",
        };
        // Deposits and pledges, unless the actor pays them itself. A node
        // that cannot say what they are is retried like an unreachable one.
        let value = match self.config.miner(miner).map(|m| m.collateral) {
            Some(Collateral::MinerBalance) => TokenAmount::ZERO,
            _ => match self.chain.collateral(miner, &call).await {
                Ok(value) => value,
                Err(e) => {
                    let why = format!("cannot compute the collateral of the {}: {e}", kind.name());
                    warn!(%miner, sectors = count, error = %e, "{why}");
                    self.release(kind, &to_send, unix, &why, false).await;
                    return;
                }
            },
        };
        let msg = MinerMessage::new(miner, call).with_value(value);
        match self.sender.send(msg).await {
            Ok(message) => {
                info!(%miner, sectors = count, message = %message.0, collateral = %value, "{} {shape} and sent", kind.name());
                for (id, _) in &to_send {
                    self.settle(*id, kind, unix, Settle::Sent(message.clone()))
                        .await;
                }
            }
            Err(e) => {
                let permanent = matches!(e.level(), FailureLevel::Permanent | FailureLevel::Abort);
                warn!(%miner, sectors = count, error = %e, permanent, "sending the {} batch failed", kind.name());
                self.release(kind, &to_send, unix, &e.to_string(), permanent)
                    .await;
            }
        }
    }

    /// The prove-commit call for `batch` (ascending sector numbers): one
    /// aggregate when the batch is large enough and the aggregate verifies,
    /// else one proof per sector.
    async fn proof_call(&self, miner: ActorId, batch: &[(SectorId, SectorStatus)]) -> MinerCall {
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
                    return MinerCall::ProveCommitAggregate(AggregateProveCommit {
                        sectors: infos.iter().map(|i| i.sector.number).collect(),
                        aggregate_proof,
                        pieces: infos.iter().map(|i| pieces_of(i.sector)).collect(),
                    })
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
        MinerCall::ProveCommitSectors3(
            infos
                .into_iter()
                .map(|i| ProveCommitParams {
                    sector_number: i.sector.number,
                    pieces: pieces_of(i.sector),
                    proof: Proof { proof: i.proof },
                })
                .collect(),
        )
    }

    /// Whether the chain already holds what this submission asks for.
    async fn found_on_chain(
        &self,
        id: SectorId,
        kind: Kind,
        rec: &SectorStatus,
    ) -> Result<bool, ManagerError> {
        if self.chain.sector(id.miner, id.number).await?.is_some() {
            return Ok(true);
        }
        Ok(match kind {
            Kind::PreCommit => {
                let ours = rec.pre_commit.as_ref().map(|s| s.content.comm_r);
                let on_chain = self.chain.pre_commit(id.miner, id.number).await?;
                on_chain.is_some_and(|pc| Some(pc.info.sealed_cid) == ours)
            }
            Kind::Proof => false,
        })
    }

    /// Records `outcome` on this batcher's claim on a sector's submission
    /// (made at `unix`), and lifts the claim.
    async fn settle(&self, id: SectorId, kind: Kind, unix: u64, outcome: Settle) {
        let done = self
            .modify(id, |rec| {
                with_slot!(rec, kind, |s| {
                    if s.sending_since == Some(unix) && s.message.is_none() {
                        s.sending_since = None;
                        match &outcome {
                            Settle::Sent(m) => {
                                s.message = Some(m.clone());
                                s.last_error = None;
                            }
                            Settle::Failed { error, permanent } => {
                                s.last_error = Some(error.clone());
                                s.failed = *permanent;
                            }
                            Settle::FoundOnChain => s.found_on_chain = true,
                        }
                    }
                });
                Ok(())
            })
            .await;
        if let Err(e) = done {
            warn!(sector = %id, error = %e, "cannot record the {} batch outcome", kind.name());
        }
    }

    /// Gives claimed submissions back to the queue after a failure
    /// (`permanent`: marks them failed, the worker is told).
    async fn release(
        &self,
        kind: Kind,
        batch: &[(SectorId, SectorStatus)],
        unix: u64,
        error: &str,
        permanent: bool,
    ) {
        for (id, _) in batch {
            let outcome = Settle::Failed {
                error: error.to_string(),
                permanent,
            };
            self.settle(*id, kind, unix, outcome).await;
            if !permanent {
                self.times()
                    .retry_after
                    .insert((*id, kind), Instant::now() + RETRY_DELAY);
            }
        }
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
        let Some((message, failed, found, last_error, resends)) = with_slot!(rec, kind, |s| (
            s.message.clone(),
            s.failed,
            s.found_on_chain,
            s.last_error.clone(),
            s.resends
        )) else {
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
            MessageState::Pending => state(OnChainState::Packed, format!("message {}", id.0)),
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

    /// Queues a submission whose message `failed` again.
    async fn resend(
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
    async fn chain_says_abort(
        &self,
        sector: SectorId,
        kind: Kind,
        rec: &SectorStatus,
    ) -> Result<Option<String>, ManagerError> {
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
            Kind::Proof => Some(format!(
                "the pre-commit of sector {sector} is no longer on chain (expired) and the sector is not proven"
            )),
        })
    }
}
