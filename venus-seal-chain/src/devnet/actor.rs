//! The devnet's miner actor: the checks of builtin-actors' miner for
//! `PreCommitSectorBatch2` and `ProveCommitSectors3`, in miniature.
//!
//! Execution is split in two so that proofs are verified outside the
//! chain's lock: [`MinerActor::plan`] checks a message against the state and
//! says what it would change (and which proofs must verify);
//! [`MinerActor::apply`] makes the change once the proofs did.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use venus_seal_core::chain::{
    AggregateProveCommit, MinerCall, NiProveCommit, OnChainPreCommit, OnChainSector,
    PreCommitParams, ProveCommitParams, VerifiedClaim, NI_SEED,
};
use venus_seal_core::{
    ActorId, ChainEpoch, DomainSeparationTag, NetworkParams, RandomnessSource, SealProof,
    SealVerifyInfo, SectorId, SectorNumber,
};

use super::config::ProvingPolicy;
use super::proving::{PendingPoSt, PendingUpdate, ProvingState};
use super::randomness::draw_randomness;
use super::verifreg::Allocation;

/// builtin-actors `USR_ILLEGAL_ARGUMENT`.
pub(crate) const EXIT_ILLEGAL_ARGUMENT: i64 = 16;
/// builtin-actors `USR_NOT_FOUND`.
pub(crate) const EXIT_NOT_FOUND: i64 = 17;
/// builtin-actors `USR_FORBIDDEN`.
pub(crate) const EXIT_FORBIDDEN: i64 = 18;

/// Why one sector of a message fails.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ActorError {
    /// The parameters are wrong (exit code 16).
    #[error("{0}")]
    IllegalArgument(String),
    /// The sector the message refers to does not exist (exit code 17).
    #[error("{0}")]
    NotFound(String),
    /// The message is valid but not allowed now (exit code 18).
    #[error("{0}")]
    Forbidden(String),
}

impl ActorError {
    /// The exit code the message ends with.
    pub(crate) fn exit_code(&self) -> i64 {
        match self {
            ActorError::IllegalArgument(_) => EXIT_ILLEGAL_ARGUMENT,
            ActorError::NotFound(_) => EXIT_NOT_FOUND,
            ActorError::Forbidden(_) => EXIT_FORBIDDEN,
        }
    }
}

/// A failed message: every sector that failed, and why. One failing sector
/// fails the whole batch, as the actor does.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{method} failed: {}", join(.failures))]
pub(crate) struct MessageFailure {
    /// The method name.
    pub(crate) method: &'static str,
    /// One entry per failing sector (at least one).
    pub(crate) failures: Vec<ActorError>,
}

fn join(failures: &[ActorError]) -> String {
    failures
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl MessageFailure {
    pub(crate) fn single(method: &'static str, error: ActorError) -> Self {
        Self {
            method,
            failures: vec![error],
        }
    }

    /// Whether a per-sector message may apply: `Ok(planned)` when nothing
    /// failed and something is planned; otherwise the failures, or
    /// `nothing` (an illegal argument) when the message named no sector.
    pub(crate) fn check<T>(
        method: &'static str,
        planned: Vec<T>,
        mut failures: Vec<ActorError>,
        nothing: &str,
    ) -> Result<Vec<T>, Self> {
        if planned.is_empty() && failures.is_empty() {
            failures.push(ActorError::IllegalArgument(nothing.into()));
        }
        if failures.is_empty() {
            Ok(planned)
        } else {
            Err(Self { method, failures })
        }
    }

    /// A message to an actor that does not exist.
    pub(crate) fn unknown_receiver(miner: ActorId) -> Self {
        Self::single(
            "send",
            ActorError::NotFound(format!("no miner actor {miner} on this devnet")),
        )
    }

    /// The exit code: the first failure's.
    pub(crate) fn exit_code(&self) -> i64 {
        self.failures
            .first()
            .map_or(EXIT_ILLEGAL_ARGUMENT, ActorError::exit_code)
    }
}

const PRE_COMMIT: &str = "PreCommitSectorBatch2";
const PROVE_COMMIT: &str = "ProveCommitSectors3";

/// A proof the chain must verify before a prove-commit applies.
#[derive(Clone, Debug)]
pub(crate) struct PendingProof {
    /// What the verifier checks.
    pub(crate) info: SealVerifyInfo,
    /// The ticket's epoch, for the error message.
    pub(crate) ticket_epoch: ChainEpoch,
    /// The seed's epoch, for the error message.
    pub(crate) seed_epoch: ChainEpoch,
    /// The sector as it will be stored once proven.
    pub(crate) sector: OnChainSector,
    /// The FIL+ claims its pieces make (their allocations claimed).
    pub(crate) claims: Vec<VerifiedClaim>,
}

/// What a valid message changes.
#[derive(Clone, Debug)]
pub(crate) enum Plan {
    /// Store these pre-commits.
    PreCommit(Vec<OnChainPreCommit>),
    /// Verify these proofs, then move the sectors to proven.
    ProveCommit(Vec<PendingProof>),
    /// Verify this aggregate of the sectors' proofs, then move them to
    /// proven.
    ProveCommitAggregate(Vec<PendingProof>, Vec<u8>),
    /// Verify this WindowPoSt, then record it.
    WindowPoSt(PendingPoSt),
    /// Mark these sectors faulty.
    Faults(Vec<SectorNumber>),
    /// Mark these faulty sectors recovering.
    Recoveries(Vec<SectorNumber>),
    /// Verify these update proofs, then replace the sectors' CommR.
    ReplicaUpdates(Vec<PendingUpdate>),
    /// Give these sectors these expirations.
    Extensions(Vec<(SectorNumber, ChainEpoch)>),
    /// Remove these sectors.
    Terminations(Vec<SectorNumber>),
}

/// The fewest sectors an aggregate may prove (the actors'
/// `MIN_AGGREGATED_SECTORS` of the policy this devnet follows).
pub(crate) const MIN_AGGREGATED_SECTORS: usize = 4;

/// What the execution of a message needs to know of the chain.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ExecContext<'a> {
    /// The epoch executing the message.
    pub(crate) epoch: ChainEpoch,
    /// The network constants.
    pub(crate) network: &'a NetworkParams,
    /// The devnet's randomness seed.
    pub(crate) seed: &'a [u8; 32],
    /// Proving periods and deadlines.
    pub(crate) proving: &'a ProvingPolicy,
    /// How late an extension may set an expiration.
    pub(crate) caps: venus_seal_core::lifecycle::ExtensionCaps,
}

/// A miner actor's state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct MinerActor {
    pub(crate) id: ActorId,
    pub(crate) allowed_proofs: Vec<SealProof>,
    #[serde(with = "crate::persist::pairs")]
    pub(crate) pre_commits: BTreeMap<SectorNumber, OnChainPreCommit>,
    #[serde(with = "crate::persist::pairs")]
    pub(crate) sectors: BTreeMap<SectorNumber, OnChainSector>,
    /// Deadlines, partitions, faults (absent in state files written
    /// before WindowPoSt: empty).
    #[serde(default)]
    pub(crate) proving: ProvingState,
    /// The FIL+ claims of the miner's sectors, by claim id (the devnet
    /// has no verified registry: [`DevnetChain::add_claim`](super::DevnetChain::add_claim)
    /// puts them here).
    #[serde(default)]
    pub(crate) claims: BTreeMap<u64, VerifiedClaim>,
    /// The FIL+ allocations made for this miner and not yet claimed, by
    /// id ([`DevnetChain::add_allocation`](super::DevnetChain::add_allocation)).
    #[serde(default)]
    pub(crate) allocations: BTreeMap<u64, Allocation>,
}

impl MinerActor {
    /// A miner with no sectors.
    pub(crate) fn new(id: ActorId, allowed_proofs: Vec<SealProof>) -> Self {
        Self {
            id,
            allowed_proofs,
            pre_commits: BTreeMap::new(),
            sectors: BTreeMap::new(),
            proving: ProvingState::default(),
            claims: BTreeMap::new(),
            allocations: BTreeMap::new(),
        }
    }

    /// Adds proof types (a miner listed twice in the config).
    pub(crate) fn allow(&mut self, proofs: &[SealProof]) {
        if self.allowed_proofs.is_empty() || proofs.is_empty() {
            self.allowed_proofs.clear();
            return;
        }
        for p in proofs {
            if !self.allowed_proofs.contains(p) {
                self.allowed_proofs.push(*p);
            }
        }
    }

    /// Checks `call` against the state at `ctx.epoch`.
    pub(crate) fn plan(
        &self,
        call: &MinerCall,
        ctx: ExecContext<'_>,
    ) -> Result<Plan, MessageFailure> {
        match call {
            MinerCall::PreCommitSectorBatch2(batch) => self.plan_pre_commit(batch, ctx),
            MinerCall::ProveCommitSectors3(batch) => self.plan_prove_commit(batch, ctx),
            MinerCall::ProveCommitAggregate(agg) => self.plan_prove_aggregate(agg, ctx),
            MinerCall::SubmitWindowedPoSt(sub) => self.plan_window_post(sub, ctx),
            MinerCall::DeclareFaults(d) => self.plan_declarations(d, false),
            MinerCall::DeclareFaultsRecovered(d) => self.plan_declarations(d, true),
            MinerCall::ProveReplicaUpdates3(u) => self.plan_replica_updates(u),
            MinerCall::ExtendSectorExpiration2(e) => self.plan_extensions(e, ctx),
            MinerCall::TerminateSectors(t) => self.plan_terminations(t),
            MinerCall::ProveCommitSectorsNI(ni) => self.plan_prove_ni(ni, ctx),
            other => Err(MessageFailure::single(
                "unsupported method",
                ActorError::IllegalArgument(format!("the devnet does not implement {other:?}")),
            )),
        }
    }

    fn plan_pre_commit(
        &self,
        batch: &[PreCommitParams],
        ctx: ExecContext<'_>,
    ) -> Result<Plan, MessageFailure> {
        if batch.is_empty() {
            return Err(MessageFailure::single(
                PRE_COMMIT,
                ActorError::IllegalArgument("batch is empty".into()),
            ));
        }
        let mut seen = BTreeSet::new();
        let mut failures = Vec::new();
        let mut planned = Vec::with_capacity(batch.len());
        for params in batch {
            match self.check_pre_commit(params, ctx, &mut seen) {
                Ok(()) => planned.push(OnChainPreCommit {
                    info: params.clone(),
                    pre_commit_epoch: ctx.epoch,
                }),
                Err(e) => failures.push(e),
            }
        }
        if failures.is_empty() {
            Ok(Plan::PreCommit(planned))
        } else {
            Err(MessageFailure {
                method: PRE_COMMIT,
                failures,
            })
        }
    }

    fn check_pre_commit(
        &self,
        p: &PreCommitParams,
        ctx: ExecContext<'_>,
        seen: &mut BTreeSet<SectorNumber>,
    ) -> Result<(), ActorError> {
        let n = p.sector_number;
        if !seen.insert(n) {
            return Err(ActorError::IllegalArgument(format!(
                "sector {n} appears twice in the batch"
            )));
        }
        if self.pre_commits.contains_key(&n) {
            return Err(ActorError::IllegalArgument(format!(
                "sector {n} already pre-committed"
            )));
        }
        if self.sectors.contains_key(&n) {
            return Err(ActorError::IllegalArgument(format!(
                "sector {n} already pre-committed and proven"
            )));
        }
        if !self.allowed_proofs.is_empty() && !self.allowed_proofs.contains(&p.seal_proof) {
            let allowed: Vec<_> = self.allowed_proofs.iter().map(|p| p.name()).collect();
            return Err(ActorError::IllegalArgument(format!(
                "sector {n}: proof type {} is not allowed for miner {} (allowed: {})",
                p.seal_proof,
                self.id,
                allowed.join(", ")
            )));
        }
        if p.seal_rand_epoch >= ctx.epoch {
            return Err(ActorError::IllegalArgument(format!(
                "sector {n}: seal randomness epoch {} must be before the current epoch {}",
                p.seal_rand_epoch, ctx.epoch
            )));
        }
        let oldest = ctx.epoch - ctx.network.max_pre_commit_randomness_lookback;
        if p.seal_rand_epoch < oldest {
            return Err(ActorError::IllegalArgument(format!(
                "sector {n}: seal randomness epoch {} is too old: at epoch {} the oldest allowed is {oldest}",
                p.seal_rand_epoch, ctx.epoch
            )));
        }
        if p.expiration <= ctx.epoch {
            return Err(ActorError::IllegalArgument(format!(
                "sector {n}: expiration {} is not after the current epoch {}",
                p.expiration, ctx.epoch
            )));
        }
        Ok(())
    }

    fn plan_prove_commit(
        &self,
        batch: &[ProveCommitParams],
        ctx: ExecContext<'_>,
    ) -> Result<Plan, MessageFailure> {
        if batch.is_empty() {
            return Err(MessageFailure::single(
                PROVE_COMMIT,
                ActorError::IllegalArgument("batch is empty".into()),
            ));
        }
        let mut seen = BTreeSet::new();
        let mut claimed = BTreeSet::new();
        let mut failures = Vec::new();
        let mut planned = Vec::with_capacity(batch.len());
        for params in batch {
            match self.check_prove_commit(params, ctx, &mut seen, &mut claimed) {
                Ok(pending) => planned.push(pending),
                Err(e) => failures.push(e),
            }
        }
        if failures.is_empty() {
            Ok(Plan::ProveCommit(planned))
        } else {
            Err(MessageFailure {
                method: PROVE_COMMIT,
                failures,
            })
        }
    }

    fn plan_prove_aggregate(
        &self,
        agg: &AggregateProveCommit,
        ctx: ExecContext<'_>,
    ) -> Result<Plan, MessageFailure> {
        if agg.sectors.len() < MIN_AGGREGATED_SECTORS {
            return Err(MessageFailure::single(
                PROVE_COMMIT,
                ActorError::IllegalArgument(format!(
                    "an aggregate must prove at least {MIN_AGGREGATED_SECTORS} sectors, not {}",
                    agg.sectors.len()
                )),
            ));
        }
        if agg.sectors.windows(2).any(|w| w[0] >= w[1]) {
            return Err(MessageFailure::single(
                PROVE_COMMIT,
                ActorError::IllegalArgument(
                    "the sectors of an aggregate must be in ascending order".into(),
                ),
            ));
        }
        let batch: Vec<ProveCommitParams> = agg
            .sectors
            .iter()
            .enumerate()
            .map(|(i, &n)| ProveCommitParams {
                sector_number: n,
                proof: venus_seal_core::stage::Proof { proof: Vec::new() },
                pieces: agg.pieces.get(i).cloned().unwrap_or_default(),
            })
            .collect();
        match self.plan_prove_commit(&batch, ctx)? {
            Plan::ProveCommit(proofs) => Ok(Plan::ProveCommitAggregate(
                proofs,
                agg.aggregate_proof.clone(),
            )),
            other => Ok(other),
        }
    }

    fn check_prove_commit(
        &self,
        p: &ProveCommitParams,
        ctx: ExecContext<'_>,
        seen: &mut BTreeSet<SectorNumber>,
        claimed: &mut BTreeSet<u64>,
    ) -> Result<PendingProof, ActorError> {
        let n = p.sector_number;
        if !seen.insert(n) {
            return Err(ActorError::IllegalArgument(format!(
                "sector {n} appears twice in the batch"
            )));
        }
        let Some(pc) = self.pre_commits.get(&n) else {
            return Err(ActorError::NotFound(if self.sectors.contains_key(&n) {
                format!("sector {n} is already proven")
            } else {
                format!("sector {n} has no pre-commit")
            }));
        };
        // As builtin-actors' ProveCommitSectors3: the manifests' pieces
        // must make the pre-committed CommD (computed as the FVM does).
        if !p.pieces.is_empty() {
            let pieces: Vec<_> = p.pieces.iter().map(|d| d.piece).collect();
            let computed =
                venus_seal_core::comm_d_of_pieces(&pieces, pc.info.seal_proof.sector_size().0)
                    .map_err(|e| ActorError::IllegalArgument(format!("sector {n}: {e}")))?;
            if computed != pc.info.unsealed_cid {
                return Err(ActorError::IllegalArgument(format!(
                    "sector {n}: the pieces' CommD {computed} is not the pre-committed unsealed CID {}",
                    pc.info.unsealed_cid
                )));
            }
        }
        // As verifreg's ClaimAllocations: each allocation a piece names
        // must be this miner's, for this piece, unexpired, with the
        // sector's life within its term.
        let activation =
            self.activate_pieces(n, &p.pieces, pc.info.expiration, ctx.epoch, claimed)?;
        // As builtin-actors' ProveCommitSectors3 (`allow_deals = false`):
        // deals are activated from the piece manifests, never pre-committed.
        if !pc.info.deal_ids.is_empty() {
            return Err(ActorError::IllegalArgument(format!(
                "sector {n} was pre-committed with deals {:?}: ProveCommitSectors3 does not \
                 allow pre-committed deals (activate them with piece manifests)",
                pc.info.deal_ids
            )));
        }
        // As builtin-actors: the proof must land strictly after the seed
        // epoch (`curr_epoch <= interactive_epoch` is "too early").
        let seed_epoch = pc.pre_commit_epoch + ctx.network.pre_commit_challenge_delay;
        if ctx.epoch <= seed_epoch {
            return Err(ActorError::Forbidden(format!(
                "sector {n}: prove-commit too early: seed epoch {seed_epoch} not reached \
                 (current epoch {}; a proof must land after the seed epoch)",
                ctx.epoch
            )));
        }
        let lifetime = u128::try_from(pc.info.expiration.saturating_sub(ctx.epoch)).unwrap_or(0);
        let entropy = self.id.address_cbor();
        let ticket_epoch = pc.info.seal_rand_epoch;
        let ticket = draw_randomness(
            ctx.seed,
            RandomnessSource::Tickets,
            DomainSeparationTag::SealRandomness,
            ticket_epoch,
            &entropy,
        );
        let seed = draw_randomness(
            ctx.seed,
            RandomnessSource::Beacon,
            DomainSeparationTag::InteractiveSealChallengeSeed,
            seed_epoch,
            &entropy,
        );
        Ok(PendingProof {
            info: SealVerifyInfo {
                proof_type: pc.info.seal_proof,
                sector: SectorId::new(self.id, n),
                comm_r: pc.info.sealed_cid,
                comm_d: pc.info.unsealed_cid,
                ticket,
                seed,
                proof: p.proof.proof.clone(),
            },
            ticket_epoch,
            seed_epoch,
            sector: OnChainSector {
                number: n,
                seal_proof: pc.info.seal_proof,
                sealed_cid: pc.info.sealed_cid,
                activation: ctx.epoch,
                expiration: pc.info.expiration,
                // As builtin-actors: the activated pieces' space × the
                // sector's remaining life, unverified and verified apart.
                deal_weight: u128::from(activation.unverified_space).saturating_mul(lifetime),
                verified_deal_weight: u128::from(activation.verified_space)
                    .saturating_mul(lifetime),
                sector_key: None,
            },
            claims: activation.claims,
        })
    }

    /// `ProveCommitSectorsNI` as builtin-actors checks it
    /// (`prove_commit_sectors_ni`, `validate_ni_sectors`): 1 to 65 sectors
    /// of one allowed NI proof type, a proving deadline of the period,
    /// fresh sector numbers, a ticket epoch before now and within the NI
    /// lookback (180 days), an expiration after now; each sector verified
    /// with its ticket, the NI seed (32 × `0x01`) and the zero CommD. One
    /// sector's proof is the message's aggregate as is; several are
    /// verified as one aggregate. The devnet assigns the sectors'
    /// deadline itself (the message's is only checked to be one of the
    /// period's).
    fn plan_prove_ni(
        &self,
        ni: &NiProveCommit,
        ctx: ExecContext<'_>,
    ) -> Result<Plan, MessageFailure> {
        const METHOD: &str = "ProveCommitSectorsNI";
        const MAX_NI_SECTORS: usize = 65;
        const NI_LOOKBACK: ChainEpoch = 180 * 2880;
        let whole = |e: ActorError| Err(MessageFailure::single(METHOD, e));
        if ni.sectors.is_empty() || ni.sectors.len() > MAX_NI_SECTORS {
            return whole(ActorError::IllegalArgument(format!(
                "{} sectors: a ProveCommitSectorsNI proves 1 to {MAX_NI_SECTORS}",
                ni.sectors.len()
            )));
        }
        if !ni.seal_proof.is_non_interactive() {
            return whole(ActorError::IllegalArgument(format!(
                "{} is not a non-interactive PoRep type",
                ni.seal_proof
            )));
        }
        if !self.allowed_proofs.is_empty() && !self.allowed_proofs.contains(&ni.seal_proof) {
            return whole(ActorError::IllegalArgument(format!(
                "proof type {} is not allowed for miner {}",
                ni.seal_proof, self.id
            )));
        }
        if ni.proving_deadline >= ctx.proving.deadlines {
            return whole(ActorError::IllegalArgument(format!(
                "proving deadline {} is not one of the period's {}",
                ni.proving_deadline, ctx.proving.deadlines
            )));
        }
        // As the actors' `deadline_is_mutable`: not the open deadline nor
        // the next.
        let open = ctx.proving.deadline_at(self.id, ctx.epoch).index;
        let n = ctx.proving.deadlines.max(1);
        if ni.proving_deadline == open || ni.proving_deadline == (open + 1) % n {
            return whole(ActorError::Forbidden(format!(
                "proving deadline {} must not be the current ({open}) or next deadline",
                ni.proving_deadline
            )));
        }
        let zero_comm_d = venus_seal_core::CommD(
            venus_seal_core::types::commitment::zero_commitment(ni.seal_proof.sector_size().0),
        );
        let entropy = self.id.address_cbor();
        let mut seen = BTreeSet::new();
        let mut failures = Vec::new();
        let mut planned = Vec::with_capacity(ni.sectors.len());
        for s in &ni.sectors {
            let n = s.number;
            if s.seal_rand_epoch >= ctx.epoch {
                return whole(ActorError::IllegalArgument(format!(
                    "sector {n}: seal challenge epoch {} must be before now {}",
                    s.seal_rand_epoch, ctx.epoch
                )));
            }
            let refused = if !seen.insert(n) {
                Some(format!("sector {n} appears twice in the message"))
            } else if self.sectors.contains_key(&n) || self.pre_commits.contains_key(&n) {
                Some(format!("sector number {n} is already in use"))
            } else if s.seal_rand_epoch < ctx.epoch - NI_LOOKBACK {
                Some(format!(
                    "sector {n}: seal randomness epoch {} is older than the NI lookback allows",
                    s.seal_rand_epoch
                ))
            } else if s.expiration <= ctx.epoch {
                Some(format!(
                    "sector {n}: expiration {} is not after the current epoch {}",
                    s.expiration, ctx.epoch
                ))
            } else {
                None
            };
            if let Some(why) = refused {
                failures.push(ActorError::IllegalArgument(why));
                continue;
            }
            let ticket = draw_randomness(
                ctx.seed,
                RandomnessSource::Tickets,
                DomainSeparationTag::SealRandomness,
                s.seal_rand_epoch,
                &entropy,
            );
            planned.push(PendingProof {
                info: SealVerifyInfo {
                    proof_type: ni.seal_proof,
                    sector: SectorId::new(self.id, n),
                    comm_r: s.sealed_cid,
                    comm_d: zero_comm_d,
                    ticket,
                    seed: NI_SEED,
                    proof: ni.aggregate_proof.clone(),
                },
                ticket_epoch: s.seal_rand_epoch,
                seed_epoch: s.seal_rand_epoch,
                sector: OnChainSector {
                    number: n,
                    seal_proof: ni.seal_proof,
                    sealed_cid: s.sealed_cid,
                    activation: ctx.epoch,
                    expiration: s.expiration,
                    deal_weight: 0,
                    verified_deal_weight: 0,
                    sector_key: None,
                },
                claims: Vec::new(),
            });
        }
        if !failures.is_empty() {
            return Err(MessageFailure {
                method: METHOD,
                failures,
            });
        }
        Ok(if planned.len() == 1 {
            Plan::ProveCommit(planned)
        } else {
            Plan::ProveCommitAggregate(planned, ni.aggregate_proof.clone())
        })
    }

    /// Applies a plan whose proofs (if any) verified.
    pub(crate) fn apply(&mut self, plan: Plan, proving: &ProvingPolicy) {
        match plan {
            Plan::PreCommit(pcs) => {
                for pc in pcs {
                    self.pre_commits.insert(pc.info.sector_number, pc);
                }
            }
            Plan::ProveCommit(proofs) | Plan::ProveCommitAggregate(proofs, _) => {
                for p in proofs {
                    self.pre_commits.remove(&p.sector.number);
                    self.record_claims(p.claims);
                    self.activate(p.sector, proving);
                }
            }
            Plan::WindowPoSt(post) => self.apply_post(post),
            Plan::Faults(sectors) => {
                for n in sectors {
                    self.proving.faults.insert(n);
                    self.proving.recovering.remove(&n);
                }
            }
            Plan::Recoveries(sectors) => self.proving.recovering.extend(sectors),
            Plan::ReplicaUpdates(updates) => self.apply_updates(updates),
            Plan::Extensions(extensions) => self.apply_extensions(extensions),
            Plan::Terminations(sectors) => self.apply_terminations(sectors),
        }
    }

    /// Adds a proven sector and assigns it a deadline and partition.
    pub(crate) fn activate(&mut self, sector: OnChainSector, proving: &ProvingPolicy) {
        let n = sector.number;
        if self.sectors.insert(n, sector).is_none() {
            self.proving.assign(n, proving);
        }
    }
}

/// The failure of a prove-commit whose proofs did not all verify.
pub(crate) fn proof_failures(
    proofs: &[PendingProof],
    results: &[Result<bool, String>],
) -> Option<MessageFailure> {
    let failures: Vec<ActorError> = proofs
        .iter()
        .zip(results)
        .filter_map(|(p, r)| {
            let n = p.sector.number;
            match r {
                Ok(true) => None,
                Ok(false) => Some(ActorError::IllegalArgument(format!(
                    "proof for sector {n} does not verify against the ticket drawn at epoch {} \
                     and the seed at epoch {}",
                    p.ticket_epoch, p.seed_epoch
                ))),
                Err(e) => Some(ActorError::IllegalArgument(format!(
                    "proof for sector {n} could not be verified: {e}"
                ))),
            }
        })
        .collect();
    (!failures.is_empty()).then_some(MessageFailure {
        method: PROVE_COMMIT,
        failures,
    })
}
