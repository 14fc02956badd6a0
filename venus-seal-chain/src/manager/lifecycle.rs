//! A proven sector's life on chain after sealing: listing a miner's
//! sectors by expiration, extending them (`ExtendSectorExpiration2`) and
//! terminating them (`TerminateSectors`).
//!
//! Both actions read each named sector from the chain first: a sector the
//! chain does not hold (never proven, already terminated), one whose
//! expiration is already at or past the one asked (extend), or one in a
//! faulty state (extend: the actors refuse faulty sectors) is left out
//! with its reason, and the rest is grouped by deadline and partition into
//! one message. A dry run answers the same plan and sends nothing. Every
//! call that sends is a new message (a fresh send uid): an operator who
//! repeats a command sends again.

use std::collections::BTreeMap;

use tracing::{info, warn};
use venus_seal_core::chain::{
    ExpirationExtension, MinerCall, MinerMessage, OnChainSector, SectorClaim, SectorsDeclaration,
    VerifiedClaim,
};
use venus_seal_core::lifecycle::{
    AutoExtendRound, ExpiringSectors, ExtensionCaps, LeftOut, LifecyclePlan, EPOCHS_IN_DAY,
};
use venus_seal_core::{ActorId, ChainEpoch, ChainError, SectorId, SectorNumber};

use super::LocalSectorManager;

/// Why an extension, termination or listing was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LifecycleError {
    /// The miner is not one this manager sends for.
    #[error("miner {0} is not managed here")]
    UnknownMiner(ActorId),
    /// No sector named can go into the message.
    #[error("nothing to send for miner {miner}: {}", describe(.left_out))]
    NothingToSend {
        /// The miner.
        miner: ActorId,
        /// Every sector named, and why it was left out.
        left_out: Vec<LeftOut>,
    },
    /// The chain node or the messager failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
}

fn describe(left_out: &[LeftOut]) -> String {
    if left_out.is_empty() {
        return "no sectors named".into();
    }
    left_out
        .iter()
        .map(|l| format!("sector {}: {}", l.number, l.reason))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A miner's automatic extension policy ([`LocalSectorManager::auto_extend`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutoExtendPolicy {
    /// Sectors expiring within this many epochs of the head are extended.
    pub within: ChainEpoch,
    /// To this many epochs past the head, or as far as the chain's caps
    /// allow each sector (then rounded down to a whole day where that
    /// still extends it, so that sectors activated the same day share a
    /// message).
    pub extend_to: ChainEpoch,
    /// Sectors with data too. Off by default: a sector's deals and claims
    /// have their own terms, which the operator extends by hand.
    pub with_data: bool,
    /// Plan and say what would be sent, but send nothing.
    pub dry_run: bool,
    /// At most this many sectors in one message.
    pub max_sectors_per_message: usize,
    /// The chain's caps on an expiration.
    pub caps: ExtensionCaps,
}

impl Default for AutoExtendPolicy {
    /// Sectors expiring within 30 days extended to 540 days, CC only, a
    /// dry run, 1000 sectors a message, mainnet's caps (epochs of 30 s).
    fn default() -> Self {
        Self {
            within: 30 * EPOCHS_IN_DAY,
            extend_to: 540 * EPOCHS_IN_DAY,
            with_data: false,
            dry_run: true,
            max_sectors_per_message: 1000,
            caps: ExtensionCaps::default(),
        }
    }
}

/// Which action a plan is for.
#[derive(Clone, Copy, Debug)]
enum Action {
    Extend(ChainEpoch),
    Terminate,
}

impl LocalSectorManager {
    fn managed(&self, miner: ActorId) -> Result<(), LifecycleError> {
        self.config
            .miner(miner)
            .map(|_| ())
            .ok_or(LifecycleError::UnknownMiner(miner))
    }

    /// `miner`'s sectors on chain that expire within `within` epochs of
    /// the head, the soonest first (`StateMinerSectors`: sectors sealed
    /// elsewhere included).
    pub async fn sectors_expiring(
        &self,
        miner: ActorId,
        within: ChainEpoch,
    ) -> Result<ExpiringSectors, LifecycleError> {
        self.managed(miner)?;
        let head = self.chain.head().await?;
        let mut sectors: Vec<OnChainSector> = self
            .chain
            .miner_sectors(miner)
            .await?
            .into_iter()
            .filter(|s| s.expiration <= head.saturating_add(within))
            .collect();
        sectors.sort_by_key(|s| (s.expiration, s.number));
        Ok(ExpiringSectors { head, sectors })
    }

    /// Extends `numbers` of `miner` to expire at `new_expiration` with one
    /// `ExtendSectorExpiration2` (see the [module docs](self)); with
    /// `dry_run`, only answers the plan.
    pub async fn extend_sectors(
        &self,
        miner: ActorId,
        numbers: &[SectorNumber],
        new_expiration: ChainEpoch,
        dry_run: bool,
    ) -> Result<LifecyclePlan, LifecycleError> {
        self.lifecycle(miner, numbers, Action::Extend(new_expiration), dry_run)
            .await
    }

    /// Terminates `numbers` of `miner` with one `TerminateSectors` (the
    /// miner pays the termination fee); with `dry_run`, only answers the
    /// plan.
    pub async fn terminate_sectors(
        &self,
        miner: ActorId,
        numbers: &[SectorNumber],
        dry_run: bool,
    ) -> Result<LifecyclePlan, LifecycleError> {
        self.lifecycle(miner, numbers, Action::Terminate, dry_run)
            .await
    }

    /// One round of `policy` for `miner`: its sectors expiring within
    /// `policy.within` (CC only unless `with_data`) are extended to
    /// `policy.extend_to` past the head, each capped by the chain's caps,
    /// in one message per new expiration (and per
    /// `max_sectors_per_message`); with `dry_run`, the same plan and
    /// nothing sent. Sectors it leaves alone are listed with the reason
    /// (data in them, already at their latest expiration, faulty).
    pub async fn auto_extend(
        &self,
        miner: ActorId,
        policy: &AutoExtendPolicy,
    ) -> Result<AutoExtendRound, LifecycleError> {
        let expiring = self.sectors_expiring(miner, policy.within).await?;
        let head = expiring.head;
        let target = head.saturating_add(policy.extend_to);
        let mut skipped = Vec::new();
        let mut by_expiration: BTreeMap<ChainEpoch, Vec<SectorNumber>> = BTreeMap::new();
        // With data: a sector keeping FIL+ claims may not outlive them.
        let claims =
            if policy.with_data && expiring.sectors.iter().any(|s| s.verified_deal_weight > 0) {
                self.chain.claims(miner).await.map_err(|e| e.to_string())
            } else {
                Ok(Vec::new())
            };
        let pending = self.extensions_pending(miner).await;
        for s in expiring.sectors {
            let mut skip = |reason: String| {
                skipped.push(LeftOut {
                    number: s.number,
                    reason,
                })
            };
            if s.expiration <= head {
                skip(format!("expired at epoch {}", s.expiration));
                continue;
            }
            if let Some(id) = pending.get(&s.number) {
                skip(format!("its extension {} is still pending", id.0));
                continue;
            }
            if !policy.with_data && !s.is_cc() {
                skip(format!(
                    "holds data (deal weight {}, verified {}): extend it by hand, with its deals' terms",
                    s.deal_weight, s.verified_deal_weight
                ));
                continue;
            }
            let claims = match (&claims, s.verified_deal_weight > 0) {
                (Err(e), true) => {
                    skip(format!(
                        "holds verified (FIL+) data, and its claims cannot be read: {e}"
                    ));
                    continue;
                }
                (Err(_), false) => &[][..],
                (Ok(claims), _) => &claims[..],
            };
            let latest = claims
                .iter()
                .filter(|c| c.sector == s.number)
                .map(VerifiedClaim::latest_expiration)
                .fold(policy.caps.latest(&s, head), ChainEpoch::min);
            let new = if target <= latest {
                target
            } else {
                // Capped: a whole day, where that still extends it.
                let day = latest - latest.rem_euclid(EPOCHS_IN_DAY);
                if day > s.expiration {
                    day
                } else {
                    latest
                }
            };
            if new <= s.expiration {
                skip(format!(
                    "at its latest expiration (epoch {}; the chain allows at most {latest})",
                    s.expiration
                ));
                continue;
            }
            by_expiration.entry(new).or_default().push(s.number);
        }
        let mut plans = Vec::new();
        for (new, numbers) in by_expiration {
            for chunk in numbers.chunks(policy.max_sectors_per_message.max(1)) {
                match self.extend_sectors(miner, chunk, new, policy.dry_run).await {
                    Ok(plan) => {
                        skipped.extend(plan.left_out.iter().cloned());
                        if let Some(id) = &plan.message {
                            let mut extending =
                                self.extending.lock().unwrap_or_else(|e| e.into_inner());
                            for n in plan.sectors() {
                                extending.insert(SectorId::new(miner, n), id.clone());
                            }
                        }
                        plans.push(plan);
                    }
                    Err(LifecycleError::NothingToSend { left_out, .. }) => skipped.extend(left_out),
                    Err(e) => return Err(e),
                }
            }
        }
        skipped.sort_by_key(|l| l.number);
        Ok(AutoExtendRound {
            head,
            plans,
            skipped,
            dry_run: policy.dry_run,
        })
    }

    /// The extensions of `miner` an automatic round sent that are still
    /// pending, by sector; those that landed or that the sender no longer
    /// knows are forgotten (a state that cannot be read keeps the entry:
    /// skipping a round is cheaper than paying twice).
    async fn extensions_pending(
        &self,
        miner: ActorId,
    ) -> BTreeMap<SectorNumber, venus_seal_core::chain::MessageId> {
        let sent: Vec<(SectorId, venus_seal_core::chain::MessageId)> = self
            .extending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(id, _)| id.miner == miner)
            .map(|(id, m)| (*id, m.clone()))
            .collect();
        // One message carries many sectors: each is looked up once.
        let mut still = BTreeMap::new();
        for (_, message) in &sent {
            if !still.contains_key(&message.0) {
                let state = self.sender.state(message).await;
                let waiting = matches!(
                    state,
                    Ok(venus_seal_core::chain::MessageState::Pending) | Err(_)
                );
                still.insert(message.0.clone(), waiting);
            }
        }
        let mut pending = BTreeMap::new();
        let mut done = Vec::new();
        for (sector, message) in sent {
            if still[&message.0] {
                pending.insert(sector.number, message);
            } else {
                done.push(sector);
            }
        }
        let mut extending = self.extending.lock().unwrap_or_else(|e| e.into_inner());
        for sector in done {
            extending.remove(&sector);
        }
        pending
    }

    /// Runs [`auto_extend`](Self::auto_extend) for `miner` every `every`
    /// (the first one `every` after start: a round right after a restart
    /// could send again what the last one sent and is still pending) until
    /// the task is aborted, logging what each round sent or, in a dry run,
    /// would send.
    pub fn spawn_auto_extend(
        self: &std::sync::Arc<Self>,
        miner: ActorId,
        policy: AutoExtendPolicy,
        every: std::time::Duration,
    ) -> tokio::task::JoinHandle<()> {
        let manager = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match manager.auto_extend(miner, &policy).await {
                    Ok(round) => log_round(miner, &round),
                    Err(e) => {
                        warn!(%miner, error = %e, "auto-extend round failed; trying again next round")
                    }
                }
            }
        })
    }

    async fn lifecycle(
        &self,
        miner: ActorId,
        numbers: &[SectorNumber],
        action: Action,
        dry_run: bool,
    ) -> Result<LifecyclePlan, LifecycleError> {
        self.managed(miner)?;
        let mut numbers = numbers.to_vec();
        numbers.sort();
        numbers.dedup();
        let mut left_out = Vec::new();
        let mut leave = |number, reason: String| left_out.push(LeftOut { number, reason });
        let mut groups: BTreeMap<(u64, u64), Vec<SectorNumber>> = BTreeMap::new();
        // Read once, when a sector with verified data is met.
        let mut claims: Option<Result<Vec<VerifiedClaim>, String>> = None;
        let mut with_claims: BTreeMap<SectorNumber, SectorClaim> = BTreeMap::new();
        let mut faulty: BTreeMap<u64, Vec<Vec<SectorNumber>>> = BTreeMap::new();
        for n in numbers {
            let Some(sector) = self.chain.sector(miner, n).await? else {
                leave(n, "not on chain (never proven, or terminated)".into());
                continue;
            };
            let Some(at) = self.chain.sector_location(miner, n).await? else {
                leave(n, "in no deadline (terminated)".into());
                continue;
            };
            if let Action::Extend(new_expiration) = action {
                if sector.expiration >= new_expiration {
                    leave(n, format!("already expires at epoch {}", sector.expiration));
                    continue;
                }
                if sector.verified_deal_weight > 0 {
                    // The actors want every claim of the sector named, and
                    // each kept claim to allow the new expiration.
                    if claims.is_none() {
                        claims = Some(self.chain.claims(miner).await.map_err(|e| e.to_string()));
                    }
                    match claims_of(claims.as_ref(), n, new_expiration) {
                        Ok(kept) => {
                            with_claims.insert(n, kept);
                        }
                        Err(why) => {
                            leave(n, why);
                            continue;
                        }
                    }
                }
                if let std::collections::btree_map::Entry::Vacant(entry) = faulty.entry(at.deadline)
                {
                    let partitions = self.chain.deadline_partitions(miner, at.deadline).await?;
                    entry.insert(partitions.into_iter().map(|p| p.faulty).collect());
                }
                let is_faulty = faulty[&at.deadline]
                    .get(at.partition as usize)
                    .is_some_and(|f| f.contains(&n));
                if is_faulty {
                    leave(
                        n,
                        "faulty: the actors extend only active sectors (recover it first)".into(),
                    );
                    continue;
                }
            }
            groups
                .entry((at.deadline, at.partition))
                .or_default()
                .push(n);
        }
        if groups.is_empty() {
            return Err(LifecycleError::NothingToSend { miner, left_out });
        }
        let partitions: Vec<SectorsDeclaration> = groups
            .into_iter()
            .map(|((deadline, partition), sectors)| SectorsDeclaration {
                deadline,
                partition,
                sectors,
            })
            .collect();
        let (call, new_expiration) = match action {
            Action::Extend(new_expiration) => (
                MinerCall::ExtendSectorExpiration2(
                    partitions
                        .iter()
                        .map(|p| ExpirationExtension {
                            deadline: p.deadline,
                            partition: p.partition,
                            sectors: p
                                .sectors
                                .iter()
                                .filter(|n| !with_claims.contains_key(n))
                                .copied()
                                .collect(),
                            sectors_with_claims: p
                                .sectors
                                .iter()
                                .filter_map(|n| with_claims.get(n).cloned())
                                .collect(),
                            new_expiration,
                        })
                        .collect(),
                ),
                Some(new_expiration),
            ),
            Action::Terminate => (MinerCall::TerminateSectors(partitions.clone()), None),
        };
        let mut plan = LifecyclePlan {
            miner,
            partitions,
            new_expiration,
            left_out,
            message: None,
            fee: None,
            fee_error: None,
            burn: None,
        };
        let msg = MinerMessage::new(miner, call);
        if dry_run {
            match self.sender.estimate(&msg).await {
                Ok(fee) => plan.fee = fee,
                Err(e) => plan.fee_error = Some(e.to_string()),
            }
            // A termination's fee; a refusal already shows in fee_error.
            if matches!(action, Action::Terminate) && plan.fee_error.is_none() {
                plan.burn = self.sender.burn(&msg).await.unwrap_or_else(|e| {
                    plan.fee_error = Some(e.to_string());
                    None
                });
            }
            return Ok(plan);
        }
        let uid = crate::lotus::new_send_uid();
        let message = self.sender.send(&uid, msg).await?;
        plan.fee = self.sender.fee(&message).await.unwrap_or_default();
        let sectors: Vec<u64> = plan.sectors().map(|n| n.0).collect();
        info!(%miner, ?action, ?sectors, left_out = plan.left_out.len(), message = %message.0,
              "sector lifecycle message sent");
        plan.message = Some(message);
        Ok(plan)
    }
}

/// The claims of sector `n` to keep when extending it to
/// `new_expiration`, from `claims` (the miner's, as read), or why it
/// cannot be extended: the claims cannot be read, the chain lists none for
/// it, or one does not allow the expiration (claims are never dropped
/// here: that gives up verified power, and the operator decides it).
fn claims_of(
    claims: Option<&Result<Vec<VerifiedClaim>, String>>,
    n: SectorNumber,
    new_expiration: ChainEpoch,
) -> Result<SectorClaim, String> {
    let claims = match claims {
        Some(Ok(claims)) => claims,
        Some(Err(e)) => {
            return Err(format!(
                "holds verified (FIL+) data, and its claims cannot be read: {e}"
            ))
        }
        None => return Err("holds verified (FIL+) data, and its claims were not read".into()),
    };
    let mut mine: Vec<&VerifiedClaim> = claims.iter().filter(|c| c.sector == n).collect();
    if mine.is_empty() {
        return Err("holds verified (FIL+) data, but the chain lists no claim for it".into());
    }
    mine.sort_by_key(|c| c.id);
    if let Some(short) = mine.iter().min_by_key(|c| c.latest_expiration()) {
        if short.latest_expiration() < new_expiration {
            return Err(format!(
                "its FIL+ claim {} allows it to expire at epoch {} at the latest (claims are kept, never dropped, here)",
                short.id,
                short.latest_expiration()
            ));
        }
    }
    Ok(SectorClaim {
        sector_number: n,
        maintain_claims: mine.iter().map(|c| c.id).collect(),
        drop_claims: Vec::new(),
    })
}

/// One line per message (sent or planned) and one for what was left alone.
fn log_round(miner: ActorId, round: &AutoExtendRound) {
    for plan in &round.plans {
        let sectors: Vec<u64> = plan.sectors().map(|n| n.0).collect();
        let to = plan.new_expiration.unwrap_or_default();
        // The most it may cost in gas (attoFIL), or why the node would not
        // take it.
        let max_gas_fee = plan.fee.map(|f| f.max().to_string());
        match &plan.message {
            Some(m) => info!(%miner, to, count = sectors.len(), ?sectors, message = %m.0,
                             ?max_gas_fee, "auto-extend: extension sent"),
            None => info!(%miner, to, count = sectors.len(), ?sectors, ?max_gas_fee,
                          refused = ?plan.fee_error,
                          "auto-extend (dry run, `dry_run = false` to send): would extend"),
        }
    }
    if !round.skipped.is_empty() {
        let first: Vec<String> = round
            .skipped
            .iter()
            .take(5)
            .map(|l| format!("{}: {}", l.number, l.reason))
            .collect();
        info!(%miner, count = round.skipped.len(), first = ?first, "auto-extend: expiring sectors left alone");
    }
    if round.plans.is_empty() && round.skipped.is_empty() {
        tracing::debug!(%miner, head = round.head, "auto-extend: nothing expires within the window");
    }
}
