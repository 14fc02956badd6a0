//! The miner actor's sector lifecycle methods: `ExtendSectorExpiration2`
//! and `TerminateSectors`.
//!
//! As in builtin-actors, every sector must be in the deadline and partition
//! the message names; a faulty sector cannot be extended (the actors'
//! `Partition::replace_sectors` refuses inactive sectors), and an extension
//! may not shorten a sector's life nor end it in the past, nor past the
//! caps (`max_sector_expiration_extension` past the current epoch, the
//! proof type's maximum lifetime past activation; `DevnetConfig::
//! extension_caps`, mainnet's by default). Where the devnet is simpler: no
//! minimum expiration, no fees or penalties, FIL+ claims are never dropped
//! (they are checked as the actors check them: every claim of a sector
//! with verified data named, each kept one allowing the new expiration),
//! any deadline may be
//! changed at any time, and a terminated sector leaves its partition at
//! once (the actors keep it in `Terminated` until the partition is
//! compacted, so Lotus' `StateSectorPartition` still finds it).

use std::collections::BTreeSet;

use venus_seal_core::chain::{ExpirationExtension, SectorsDeclaration};
use venus_seal_core::{ChainEpoch, SectorNumber};

use super::actor::{ActorError, ExecContext, MessageFailure, MinerActor, Plan};

const EXTEND: &str = "ExtendSectorExpiration2";
const TERMINATE: &str = "TerminateSectors";

impl MinerActor {
    /// The sectors of `(deadline, partition)` among `sectors`, with a
    /// failure for each one the partition does not hold (or a missing
    /// partition) and for a sector named twice.
    fn in_partition(
        &self,
        deadline: u64,
        partition: u64,
        sectors: &[SectorNumber],
        seen: &mut BTreeSet<SectorNumber>,
        failures: &mut Vec<ActorError>,
    ) -> Vec<SectorNumber> {
        let Some(state) = self.proving.partition(deadline, partition) else {
            failures.push(ActorError::NotFound(format!(
                "deadline {deadline} has no partition {partition}"
            )));
            return Vec::new();
        };
        let mut found = Vec::new();
        for n in sectors {
            if !seen.insert(*n) {
                failures.push(ActorError::IllegalArgument(format!(
                    "sector {n} is named twice"
                )));
            } else if !state.sectors.contains(n) {
                failures.push(ActorError::NotFound(format!(
                    "sector {n} is not in deadline {deadline} partition {partition}"
                )));
            } else {
                found.push(*n);
            }
        }
        found
    }

    /// Checks an `ExtendSectorExpiration2`.
    pub(crate) fn plan_extensions(
        &self,
        extensions: &[ExpirationExtension],
        ctx: ExecContext<'_>,
    ) -> Result<Plan, MessageFailure> {
        let mut failures = Vec::new();
        let mut seen = BTreeSet::new();
        let mut planned = Vec::new();
        for e in extensions {
            let named: Vec<SectorNumber> = e
                .sectors
                .iter()
                .copied()
                .chain(e.sectors_with_claims.iter().map(|c| c.sector_number))
                .collect();
            let found =
                self.in_partition(e.deadline, e.partition, &named, &mut seen, &mut failures);
            for n in found {
                let old = self.sectors.get(&n).map_or(0, |s| s.expiration);
                let activation = self.sectors.get(&n).map_or(0, |s| s.activation);
                let verified = self
                    .sectors
                    .get(&n)
                    .is_some_and(|s| s.verified_deal_weight > 0);
                let listed = e.sectors_with_claims.iter().find(|c| c.sector_number == n);
                let caps = ctx.caps;
                if self.proving.faults.contains(&n) {
                    failures.push(ActorError::Forbidden(format!(
                        "sector {n} is faulty: recover it before extending it"
                    )));
                } else if e.new_expiration <= ctx.epoch {
                    failures.push(ActorError::IllegalArgument(format!(
                        "sector {n}: new expiration {} is not after the current epoch {}",
                        e.new_expiration, ctx.epoch
                    )));
                } else if e.new_expiration < old {
                    failures.push(ActorError::IllegalArgument(format!(
                        "cannot reduce sector {n}'s expiration to {} from {old}",
                        e.new_expiration
                    )));
                } else if e.new_expiration > ctx.epoch.saturating_add(caps.max_extension) {
                    failures.push(ActorError::IllegalArgument(format!(
                        "sector {n}: new expiration {} cannot be more than {} past current epoch {}",
                        e.new_expiration, caps.max_extension, ctx.epoch
                    )));
                } else if e.new_expiration > activation.saturating_add(caps.max_lifetime) {
                    failures.push(ActorError::IllegalArgument(format!(
                        "sector {n}: total sector lifetime ({}) cannot exceed {} after activation {activation}",
                        e.new_expiration - activation,
                        caps.max_lifetime
                    )));
                } else if verified && listed.is_none() {
                    failures.push(ActorError::IllegalArgument(format!(
                        "claim missing from declaration for sector {n} with non-zero verified deal weight"
                    )));
                } else if let Some(why) =
                    listed.and_then(|c| self.claims_refused(c, e.new_expiration))
                {
                    failures.push(why);
                } else {
                    planned.push((n, e.new_expiration));
                }
            }
        }
        MessageFailure::check(EXTEND, planned, failures, "no sectors to extend")
            .map(Plan::Extensions)
    }

    /// Why the actors refuse `claim`'s declaration when extending to
    /// `new_expiration`, as builtin-actors' `validate_extension_declarations`
    /// and `extend_simple_qap_sector` check it: each claim named exists, is
    /// this miner's and of this sector; a kept claim allows the expiration;
    /// every claim of the sector is named. (Dropping claims, which the
    /// actors allow in a sector's last 30 days, the devnet does not model:
    /// refused.)
    fn claims_refused(
        &self,
        claim: &venus_seal_core::chain::SectorClaim,
        new_expiration: ChainEpoch,
    ) -> Option<ActorError> {
        let n = claim.sector_number;
        if !claim.drop_claims.is_empty() {
            return Some(ActorError::Forbidden(format!(
                "sector {n}: the devnet does not drop claims ({:?})",
                claim.drop_claims
            )));
        }
        for id in &claim.maintain_claims {
            let Some(c) = self.claims.get(id) else {
                return Some(ActorError::NotFound(format!(
                    "sector {n}: claim {id} not found"
                )));
            };
            if c.sector != n {
                return Some(ActorError::IllegalArgument(format!(
                    "failed to validate declaration sector={n}, claim={id} expected claim sector number to be {n} but found {}",
                    c.sector
                )));
            }
            if new_expiration > c.latest_expiration() {
                return Some(ActorError::Forbidden(format!(
                    "failed to validate declaration sector={n}, claim={id} claim only allows extension to {} but declared new expiration is {new_expiration}",
                    c.latest_expiration()
                )));
            }
        }
        let all: BTreeSet<u64> = self
            .claims
            .values()
            .filter(|c| c.sector == n)
            .map(|c| c.id)
            .collect();
        let named: BTreeSet<u64> = claim.maintain_claims.iter().copied().collect();
        (all != named).then(|| {
            ActorError::IllegalArgument(format!(
                "declared claims {named:?} for sector {n} do not match its claims {all:?}"
            ))
        })
    }

    /// Checks a `TerminateSectors`.
    pub(crate) fn plan_terminations(
        &self,
        terminations: &[SectorsDeclaration],
    ) -> Result<Plan, MessageFailure> {
        let mut failures = Vec::new();
        let mut seen = BTreeSet::new();
        let mut planned = Vec::new();
        for t in terminations {
            planned.extend(self.in_partition(
                t.deadline,
                t.partition,
                &t.sectors,
                &mut seen,
                &mut failures,
            ));
        }
        MessageFailure::check(TERMINATE, planned, failures, "no sectors to terminate")
            .map(Plan::Terminations)
    }

    /// Applies checked extensions.
    pub(crate) fn apply_extensions(&mut self, extensions: Vec<(SectorNumber, ChainEpoch)>) {
        for (n, expiration) in extensions {
            if let Some(s) = self.sectors.get_mut(&n) {
                s.expiration = expiration;
            }
        }
    }

    /// Applies checked terminations: the sectors leave the actor's state.
    pub(crate) fn apply_terminations(&mut self, sectors: Vec<SectorNumber>) {
        for n in sectors {
            self.sectors.remove(&n);
            self.proving.faults.remove(&n);
            self.proving.recovering.remove(&n);
            self.proving.updated.remove(&n);
            for partitions in self.proving.deadlines.values_mut() {
                for p in partitions.iter_mut() {
                    p.sectors.remove(&n);
                }
            }
        }
    }
}
