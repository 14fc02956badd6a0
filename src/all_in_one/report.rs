//! What an all-in-one run sealed, as the chain sees it.

use std::fmt;
use std::time::Duration;

use crate::chain::DevnetChain;
use crate::core::{ChainClient, Failure, SectorRecord, SectorState};

/// One sector's end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SectorResult {
    /// Finished, and the devnet verified its proof.
    OnChain {
        /// `CC` or `deal <PieceCID>`.
        holds: String,
        /// CommD.
        comm_d: String,
        /// CommR.
        comm_r: String,
        /// The proof's size in bytes.
        proof_bytes: usize,
        /// The epoch it was proven at.
        activation: i64,
    },
    /// Finished, but the chain does not have it.
    NotOnChain,
    /// Ended in another state (aborted).
    EndedIn(SectorState),
    /// Stopped by a failure.
    Failed {
        /// Where it stopped.
        state: SectorState,
        /// Why.
        error: String,
    },
}

/// Every sector of a run with its result, and how long the run took.
#[derive(Clone, Debug)]
pub struct SealReport {
    /// Each allocated sector's id (`s-t01000-1`) and result.
    pub sectors: Vec<(String, SectorResult)>,
    /// The whole run.
    pub elapsed: Duration,
}

impl SealReport {
    /// Asks `chain` about each sealed record.
    pub(crate) async fn of(
        chain: &DevnetChain,
        done: Vec<(SectorRecord, Result<(), Failure>)>,
        elapsed: Duration,
    ) -> anyhow::Result<Self> {
        let mut sectors = Vec::new();
        for (record, result) in done {
            let Some(sector) = record.sector else {
                continue;
            };
            let outcome = match (result, record.pc2_output) {
                (Ok(()), Some(pc2)) if record.state == SectorState::Finished => {
                    match chain.sector(sector.id.miner, sector.id.number).await? {
                        Some(on_chain) => SectorResult::OnChain {
                            holds: match record.deals.first() {
                                None => "CC".to_string(),
                                Some(deal) => format!("deal {}", deal.piece.cid),
                            },
                            comm_d: pc2.comm_d.to_string(),
                            comm_r: pc2.comm_r.to_string(),
                            proof_bytes: record.proof.as_ref().map_or(0, |p| p.proof.len()),
                            activation: on_chain.activation,
                        },
                        None => SectorResult::NotOnChain,
                    }
                }
                (Ok(()), _) => SectorResult::EndedIn(record.state),
                (Err(e), _) => SectorResult::Failed {
                    state: record.state,
                    error: e.to_string(),
                },
            };
            sectors.push((sector.id.to_string(), outcome));
        }
        Ok(Self { sectors, elapsed })
    }

    /// Sectors that did not land on the chain.
    pub fn failed(&self) -> usize {
        self.sectors
            .iter()
            .filter(|(_, r)| !matches!(r, SectorResult::OnChain { .. }))
            .count()
    }
}

impl fmt::Display for SealReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (id, result) in &self.sectors {
            match result {
                SectorResult::OnChain {
                    holds,
                    comm_d,
                    comm_r,
                    proof_bytes,
                    activation,
                } => {
                    writeln!(f, "{id}: {holds}")?;
                    writeln!(f, "  CommD {comm_d}")?;
                    writeln!(f, "  CommR {comm_r}")?;
                    writeln!(
                        f,
                        "  devnet verified the proof ({proof_bytes} bytes): proven at epoch {activation}"
                    )?;
                }
                SectorResult::NotOnChain => writeln!(f, "{id}: NOT on chain")?,
                SectorResult::EndedIn(state) => writeln!(f, "{id}: ended in {state}")?,
                SectorResult::Failed { state, error } => {
                    writeln!(f, "{id}: stopped in {state}: {error}")?
                }
            }
        }
        let failed = self.failed();
        writeln!(
            f,
            "\n{} sector(s) sealed in {:.1?}, {failed} failed",
            self.sectors.len() - failed,
            self.elapsed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_counts_only_sectors_on_chain_as_sealed() {
        let report = SealReport {
            sectors: vec![
                (
                    "s-t01000-1".into(),
                    SectorResult::OnChain {
                        holds: "CC".into(),
                        comm_d: "d".into(),
                        comm_r: "r".into(),
                        proof_bytes: 192,
                        activation: 42,
                    },
                ),
                ("s-t01000-2".into(), SectorResult::NotOnChain),
            ],
            elapsed: Duration::from_secs(3),
        };
        assert_eq!(report.failed(), 1);
        let text = report.to_string();
        assert!(text.contains("s-t01000-1: CC\n"), "{text}");
        assert!(text.contains("proven at epoch 42"), "{text}");
        assert!(text.contains("s-t01000-2: NOT on chain"), "{text}");
        assert!(
            text.contains("1 sector(s) sealed in 3.0s, 1 failed"),
            "{text}"
        );
    }
}
