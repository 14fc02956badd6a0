//! Proving-deadline arithmetic: where a miner's proving period starts and
//! which deadline is open at an epoch.

use venus_seal_core::chain::DeadlineInfo;
use venus_seal_core::{ActorId, ChainEpoch};

use super::config::ProvingPolicy;

impl ProvingPolicy {
    /// Epochs per deadline.
    pub fn window(&self) -> ChainEpoch {
        (self.period / self.deadlines.max(1) as i64).max(1)
    }

    /// Where `miner`'s proving periods start, modulo the period (the
    /// actors derive it from the address hash; here from the id, so that
    /// miners do not all prove at once).
    pub fn period_offset(&self, miner: ActorId) -> ChainEpoch {
        ((miner.0 % 7919) as i64 * 13).rem_euclid(self.period.max(1))
    }

    /// `miner`'s deadline open at `epoch` (`epoch >= 0`).
    pub fn deadline_at(&self, miner: ActorId, epoch: ChainEpoch) -> DeadlineInfo {
        let period = self.period.max(1);
        let offset = self.period_offset(miner);
        let period_start = epoch - (epoch - offset).rem_euclid(period);
        let window = self.window();
        let index = ((epoch - period_start) / window)
            .min(self.deadlines as i64 - 1)
            .max(0);
        let open = period_start + index * window;
        DeadlineInfo {
            current_epoch: epoch,
            period_start,
            index: index as u64,
            open,
            close: open + window,
            challenge: open - self.challenge_lookback,
            fault_cutoff: open - self.fault_declaration_cutoff,
            deadlines: self.deadlines,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::config::DEVNET_PROVING;
    use super::*;

    #[test]
    fn deadlines_tile_the_period() {
        let p = DEVNET_PROVING;
        let miner = ActorId(1000);
        let mut seen = Vec::new();
        for epoch in 100..180 {
            let dl = p.deadline_at(miner, epoch);
            assert!(dl.open <= epoch && epoch < dl.close, "{dl:?}");
            assert_eq!(dl.close - dl.open, 10);
            assert_eq!((dl.open - dl.period_start) / 10, dl.index as i64);
            assert_eq!(dl.period_start.rem_euclid(40), p.period_offset(miner));
            assert_eq!(dl.challenge, dl.open - 2);
            seen.push(dl.index);
        }
        for i in 0..4 {
            assert_eq!(seen.iter().filter(|x| **x == i).count(), 20);
        }
    }

    #[test]
    fn miners_have_different_offsets() {
        let p = DEVNET_PROVING;
        assert_ne!(
            p.period_offset(ActorId(1000)),
            p.period_offset(ActorId(1001))
        );
    }
}
