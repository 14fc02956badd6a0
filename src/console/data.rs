//! What the pages show, computed from the manager's records: pure
//! functions of the sectors and the time, so they are tested without a
//! server.

use std::collections::BTreeMap;

use venus_seal_chain::manager::SectorStatus;
use venus_seal_core::{ActorId, SectorId};

/// Seconds in a day.
const DAY: u64 = 86_400;

/// Sectors per state and miner.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StateCounts {
    /// The miners, in order (the columns).
    pub miners: Vec<ActorId>,
    /// One row per state: the state, the count per miner (in `miners`'
    /// order) and the total.
    pub rows: Vec<(String, Vec<usize>, usize)>,
}

impl StateCounts {
    /// Counts `sectors` by [`SectorStatus::pipeline_state`] and miner.
    pub fn of<'a>(sectors: impl IntoIterator<Item = (&'a SectorId, &'a SectorStatus)>) -> Self {
        let mut table: BTreeMap<String, BTreeMap<ActorId, usize>> = BTreeMap::new();
        let mut miners = std::collections::BTreeSet::new();
        for (id, s) in sectors {
            miners.insert(id.miner);
            *table
                .entry(s.pipeline_state().to_string())
                .or_default()
                .entry(id.miner)
                .or_default() += 1;
        }
        let miners: Vec<_> = miners.into_iter().collect();
        let rows = table
            .into_iter()
            .map(|(state, per)| {
                let counts: Vec<usize> = miners
                    .iter()
                    .map(|m| per.get(m).copied().unwrap_or(0))
                    .collect();
                let total = counts.iter().sum();
                (state, counts, total)
            })
            .collect();
        Self { miners, rows }
    }

    /// How many sectors are in `state`, all miners together.
    pub fn total(&self, state: &str) -> usize {
        self.rows
            .iter()
            .find(|(s, _, _)| s == state)
            .map_or(0, |(_, _, t)| *t)
    }
}

/// Sectors finalized per day over the `days` days up to `now` (oldest
/// first), each as (`YYYY-MM-DD`, count).
pub fn throughput<'a>(
    sectors: impl IntoIterator<Item = &'a SectorStatus>,
    now: u64,
    days: u64,
) -> Vec<(String, usize)> {
    let today = now / DAY;
    let first = today.saturating_sub(days.saturating_sub(1));
    let mut counts = vec![0usize; (today - first + 1) as usize];
    for s in sectors {
        let finalized = s.history.iter().rev().find(|e| e.next == "Finalized");
        if let Some(e) = finalized {
            let day = e.at / DAY;
            if (first..=today).contains(&day) {
                counts[(day - first) as usize] += 1;
            }
        }
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, n)| (date(first + i as u64), n))
        .collect()
}

/// `day` (days since the Unix epoch) as `YYYY-MM-DD`.
fn date(day: u64) -> String {
    let mut s = crate::alerts::rfc3339((day * DAY) as i64);
    s.truncate(10);
    s
}

/// How long sectors stayed in one state, from the worker's reports.
#[derive(Clone, Debug, PartialEq)]
pub struct StageTime {
    /// The state.
    pub state: String,
    /// How many stays were measured.
    pub samples: usize,
    /// The mean, in seconds.
    pub mean_secs: f64,
    /// The longest, in seconds.
    pub max_secs: u64,
}

/// The steps sectors waited longest after (mean first), at most `top`:
/// each step of a sector's history (the manager's: `Allocated`,
/// `TicketAssigned`, `PreCommitSent`, …; a worker's report) lasts until
/// its next one, so `PreCommitSent` measures the wait for the pre-commit
/// to land and the worker's persist, `SeedAssigned` C1 and C2.
pub fn slowest_states<'a>(
    sectors: impl IntoIterator<Item = &'a SectorStatus>,
    top: usize,
) -> Vec<StageTime> {
    let mut spans: BTreeMap<&str, (usize, u64, u64)> = BTreeMap::new();
    for s in sectors {
        for pair in s.history.windows(2) {
            let took = pair[1].at.saturating_sub(pair[0].at);
            let held = spans.entry(pair[0].next.as_str()).or_default();
            held.0 += 1;
            held.1 += took;
            held.2 = held.2.max(took);
        }
    }
    let mut times: Vec<_> = spans
        .into_iter()
        .map(|(state, (n, sum, max))| StageTime {
            state: state.to_string(),
            samples: n,
            mean_secs: sum as f64 / n as f64,
            max_secs: max,
        })
        .collect();
    times.sort_by(|a, b| b.mean_secs.total_cmp(&a.mean_secs));
    times.truncate(top);
    times
}

/// One line of the sector list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SectorLine {
    /// The sector.
    pub id: SectorId,
    /// Where it is ([`SectorStatus::pipeline_state`]).
    pub state: String,
    /// The worker that last reported it.
    pub worker: String,
    /// When it last changed (Unix seconds; 0: no history).
    pub changed: u64,
    /// The last failure reported, with its level, while it is not over.
    pub failure: Option<String>,
    /// The operator asked for it to be aborted.
    pub abort_requested: bool,
}

impl SectorLine {
    /// `status` of `id` as a line.
    pub fn of(id: SectorId, status: &SectorStatus) -> Self {
        let report = status.last_report.as_ref();
        let failure = report
            .and_then(|r| r.failure.as_ref())
            .filter(|_| !status.finalized && status.aborted.is_none())
            .map(|f| format!("{:?}: {}", f.level, f.message));
        Self {
            id,
            state: status.pipeline_state().to_string(),
            worker: report
                .map(|r| r.worker.instance.clone())
                .unwrap_or_default(),
            changed: status.history.last().map_or(0, |e| e.at),
            failure,
            abort_requested: status.abort_requested.is_some() && status.aborted.is_none(),
        }
    }
}

/// The sectors that changed last, newest first, at most `limit`; those
/// with a failure first.
pub fn recent<'a>(
    sectors: impl IntoIterator<Item = (&'a SectorId, &'a SectorStatus)>,
    limit: usize,
) -> Vec<SectorLine> {
    let mut lines: Vec<_> = sectors
        .into_iter()
        .map(|(id, s)| SectorLine::of(*id, s))
        .collect();
    lines.sort_by(|a, b| {
        (b.failure.is_some(), b.changed, a.id).cmp(&(a.failure.is_some(), a.changed, b.id))
    });
    lines.truncate(limit);
    lines
}

/// `at` relative to `now`, for people: `12s ago`, `3m ago`, `2h 5m ago`,
/// `4d 2h ago` (`-` for 0: never).
pub fn ago(now: u64, at: u64) -> String {
    if at == 0 {
        return "-".into();
    }
    let secs = now.saturating_sub(at);
    let (d, h, m) = (secs / DAY, secs % DAY / 3600, secs % 3600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs}s ago"),
        (0, 0, m) => format!("{m}m ago"),
        (0, h, m) => format!("{h}h {m}m ago"),
        (d, h, _) => format!("{d}d {h}h ago"),
    }
}

/// A duration in seconds, for people: `42s`, `3m 12s`, `2h 5m`.
pub fn span(secs: u64) -> String {
    match (secs / 3600, secs % 3600 / 60, secs % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s}s"),
        (h, m, _) => format!("{h}h {m}m"),
    }
}

/// `at` (Unix seconds) as RFC 3339 in UTC, `-` for 0.
pub fn when(at: u64) -> String {
    if at == 0 {
        return "-".into();
    }
    crate::alerts::rfc3339(at as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use venus_seal_chain::manager::SectorEvent;
    use venus_seal_core::manager::{SectorStateChange, StateReport, WorkerIdentifier};
    use venus_seal_core::{Failure, FailureLevel, Randomness, SealProof, SectorNumber, Ticket};

    const T0: u64 = 1_764_979_200; // 2025-12-06T00:00:00Z

    fn report(at: u64, worker: &str, prev: &str, next: &str) -> SectorEvent {
        SectorEvent {
            at,
            worker: worker.into(),
            prev: prev.into(),
            next: next.into(),
            detail: String::new(),
            failure: None,
        }
    }

    fn parked(at: u64, worker: &str, state: &str) -> SectorEvent {
        SectorEvent {
            failure: Some(Failure::new(FailureLevel::Permanent, "disk gone")),
            ..report(at, worker, state, state)
        }
    }

    fn step(at: u64, next: &str) -> SectorEvent {
        SectorEvent::manager(at, next, "")
    }

    fn sector(events: Vec<SectorEvent>) -> SectorStatus {
        let mut s = SectorStatus::new(SealProof::StackedDrg2KiBV1_1);
        for e in events {
            if !e.worker.is_empty() {
                s.last_report = Some(StateReport {
                    worker: WorkerIdentifier {
                        instance: e.worker.clone(),
                        location: String::new(),
                    },
                    state_change: SectorStateChange {
                        prev: e.prev.clone(),
                        next: e.next.clone(),
                        event: None,
                    },
                    failure: e.failure.clone(),
                });
            }
            if e.next == "Finalized" {
                s.finalized = true;
            }
            s.record(e);
        }
        s
    }

    fn id(miner: u64, n: u64) -> SectorId {
        SectorId::new(ActorId(miner), SectorNumber(n))
    }

    #[test]
    fn counts_are_per_state_and_miner() {
        let mut ticketed = sector(vec![step(T0, "TicketAssigned")]);
        ticketed.ticket = Some(Ticket {
            ticket: Randomness([0; 32]),
            epoch: 1,
        });
        let sectors = [
            (id(1000, 1), sector(vec![parked(T0, "w1", "PC1Done")])),
            (id(1000, 2), sector(vec![parked(T0, "w1", "PC1Done")])),
            (id(1001, 1), sector(vec![parked(T0, "w2", "PC1Done")])),
            (id(1001, 2), sector(vec![step(T0, "Finalized")])),
            (id(1001, 3), sector(vec![])),
            (id(1000, 3), ticketed),
        ];
        let counts = StateCounts::of(sectors.iter().map(|(i, s)| (i, s)));
        assert_eq!(counts.miners, [ActorId(1000), ActorId(1001)]);
        assert_eq!(
            counts.rows,
            [
                ("Allocated".to_string(), vec![0, 1], 1),
                ("Finalized".to_string(), vec![0, 1], 1),
                ("PC1Done".to_string(), vec![2, 1], 3),
                ("TicketAssigned".to_string(), vec![1, 0], 1),
            ]
        );
        assert_eq!(counts.total("PC1Done"), 3);
        assert_eq!(counts.total("Aborted"), 0);
    }

    #[test]
    fn throughput_counts_finalizations_per_day_in_the_window() {
        let done = |at| sector(vec![step(at, "Finalized")]);
        let sectors = [
            done(T0 + 10),
            done(T0 + 20),
            done(T0 - DAY + 5),
            done(T0 - 30 * DAY),
            sector(vec![parked(T0, "w1", "PC1Done")]),
        ];
        let days = throughput(sectors.iter(), T0 + 3600, 3);
        assert_eq!(
            days,
            [
                ("2025-12-04".to_string(), 0),
                ("2025-12-05".to_string(), 1),
                ("2025-12-06".to_string(), 2),
            ]
        );
    }

    #[test]
    fn the_slowest_steps_are_measured_to_the_next_step() {
        let a = sector(vec![
            step(T0, "Allocated"),
            step(T0 + 100, "TicketAssigned"),
            step(T0 + 400, "PreCommitSent"),
            step(T0 + 410, "Persisted"),
        ]);
        let b = sector(vec![
            step(T0, "Allocated"),
            step(T0 + 300, "TicketAssigned"),
        ]);
        let slow = slowest_states([&a, &b], 5);
        assert_eq!(slow.len(), 3, "{slow:?}");
        assert_eq!(
            (slow[0].state.as_str(), slow[0].samples, slow[0].max_secs),
            ("TicketAssigned", 1, 300)
        );
        assert_eq!(
            (slow[1].state.as_str(), slow[1].samples, slow[1].max_secs),
            ("Allocated", 2, 300)
        );
        assert_eq!(slow[1].mean_secs, 200.0);
        assert_eq!(
            (slow[2].state.as_str(), slow[2].max_secs),
            ("PreCommitSent", 10)
        );
        assert_eq!(slowest_states([&a, &b], 1).len(), 1);
    }

    #[test]
    fn recent_lists_failures_first_then_newest() {
        let sectors = [
            (id(1000, 1), sector(vec![step(T0 + 50, "TicketAssigned")])),
            (id(1000, 2), sector(vec![parked(T0, "w1", "PC1Done")])),
            (
                id(1000, 3),
                sector(vec![report(T0 + 90, "w1", "Empty", "PC1Done")]),
            ),
        ];
        assert_eq!(sectors[1].1.pipeline_state(), "PC1Done", "parked there");
        let lines = recent(sectors.iter().map(|(i, s)| (i, s)), 10);
        let order: Vec<_> = lines.iter().map(|l| l.id.number.0).collect();
        assert_eq!(order, [2, 3, 1]);
        assert_eq!(lines[0].failure.as_deref(), Some("Permanent: disk gone"));
        assert_eq!(lines[1].worker, "w1");
        assert_eq!(recent(sectors.iter().map(|(i, s)| (i, s)), 1).len(), 1);
    }

    #[test]
    fn times_read_as_people_say_them() {
        assert_eq!(ago(1_000, 0), "-");
        assert_eq!(ago(1_000, 988), "12s ago");
        assert_eq!(ago(10_000, 10_000 - 185), "3m ago");
        assert_eq!(ago(100_000, 100_000 - 7_500), "2h 5m ago");
        assert_eq!(ago(1_000_000, 1_000_000 - 4 * DAY - 7_300), "4d 2h ago");
        assert_eq!(span(42), "42s");
        assert_eq!(span(192), "3m 12s");
        assert_eq!(span(7_500), "2h 5m");
        assert_eq!(when(T0), "2025-12-06T00:00:00Z");
    }
}
