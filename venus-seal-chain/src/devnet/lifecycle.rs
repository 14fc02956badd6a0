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
//! minimum expiration, no fees or penalties, any deadline may be
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
            let found = self.in_partition(
                e.deadline,
                e.partition,
                &e.sectors,
                &mut seen,
                &mut failures,
            );
            for n in found {
                let old = self.sectors.get(&n).map_or(0, |s| s.expiration);
                let activation = self.sectors.get(&n).map_or(0, |s| s.activation);
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
                } else {
                    planned.push((n, e.new_expiration));
                }
            }
        }
        MessageFailure::check(EXTEND, planned, failures, "no sectors to extend")
            .map(Plan::Extensions)
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
