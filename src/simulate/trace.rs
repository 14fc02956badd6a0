//! What a simulated run records — when each stage task ran, when each
//! sector waited for its seed, when each sector held its slot or thread —
//! and the figures drawn from it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::simulate::config::{SimStage, MINUTE};

/// How far past the horizon a model runs, so that whatever is due at the
/// horizon itself has happened when the trace is taken.
pub const PAST_HORIZON: Duration = Duration::from_secs(1);

/// Something a sector spends time in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Activity {
    /// A stage task running (its limits held).
    Stage(SimStage),
    /// Waiting for the seed.
    Seed,
    /// A sector holding its storage slot (engine) or sealing thread
    /// (thread model), from start to finish (or to its abort).
    Sector,
    /// A sector parked (Permanent or Critical) until the operator resumes
    /// it.
    Parked,
}

/// A span of simulated time, from the start of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interval {
    /// When it began.
    pub start: Duration,
    /// When it ended (the horizon, for what was still running).
    pub end: Duration,
    /// Still running at the horizon.
    pub open: bool,
}

impl Interval {
    /// Whether it covers instant `t` (a task that ends at `t` no longer runs
    /// at `t`, one that starts at `t` does: sealcalc's convention; one still
    /// running at the horizon runs at the horizon).
    pub fn covers(&self, t: Duration) -> bool {
        self.start <= t && (t < self.end || (self.open && t == self.end))
    }
}

/// An activity begun and not yet ended.
#[derive(Debug)]
#[must_use = "end the activity with Recorder::end"]
pub struct Token(u64);

#[derive(Debug, Default)]
struct State {
    next: u64,
    open: HashMap<u64, (Activity, Duration)>,
    intervals: BTreeMap<Activity, Vec<Interval>>,
    finished: Vec<Duration>,
    abandoned: Vec<Duration>,
}

/// Records activities on tokio's clock, from the instant it was made.
#[derive(Debug)]
pub struct Recorder {
    t0: Instant,
    state: Mutex<State>,
}

impl Recorder {
    /// A recorder whose time zero is now.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            t0: Instant::now(),
            state: Mutex::default(),
        })
    }

    /// Simulated time since the start.
    pub fn now(&self) -> Duration {
        Instant::now() - self.t0
    }

    /// `activity` begins now.
    pub fn begin(&self, activity: Activity) -> Token {
        let now = self.now();
        let mut st = self.state.lock().unwrap();
        st.next += 1;
        let id = st.next;
        st.open.insert(id, (activity, now));
        Token(id)
    }

    /// The activity of `token` ends now; a [`Activity::Sector`] ending is a
    /// finished sector.
    pub fn end(&self, token: Token) {
        self.close(token, true);
    }

    /// The activity of `token` ends now without finishing: a sector given
    /// up (aborted) is recorded as abandoned, not finished.
    pub fn abandon(&self, token: Token) {
        self.close(token, false);
    }

    /// Closes `token`'s interval now; a sector's end counts as finished or
    /// abandoned.
    fn close(&self, token: Token, finished: bool) {
        let now = self.now();
        let mut st = self.state.lock().unwrap();
        if let Some((activity, start)) = st.open.remove(&token.0) {
            st.intervals.entry(activity).or_default().push(Interval {
                start,
                end: now,
                open: false,
            });
            if activity == Activity::Sector {
                if finished {
                    st.finished.push(now);
                } else {
                    st.abandoned.push(now);
                }
            }
        }
    }

    /// The trace of the run up to `horizon` (run the model a little past
    /// it, so that everything due at the horizon has happened): what began
    /// later is left out, what was still going on ends there, open, and
    /// does not count as finished.
    pub fn trace(&self, horizon: Duration) -> Trace {
        let st = self.state.lock().unwrap();
        let closed = st
            .intervals
            .iter()
            .flat_map(|(&a, spans)| spans.iter().map(move |&i| (a, i)));
        let open = st.open.values().map(|&(a, start)| {
            let i = Interval {
                start,
                end: Duration::MAX,
                open: true,
            };
            (a, i)
        });
        let mut intervals: BTreeMap<Activity, Vec<Interval>> = BTreeMap::new();
        for (activity, i) in closed.chain(open) {
            if i.start > horizon {
                continue;
            }
            let clipped = if i.end > horizon {
                Interval {
                    start: i.start,
                    end: horizon,
                    open: true,
                }
            } else {
                i
            };
            intervals.entry(activity).or_default().push(clipped);
        }
        let mut finished: Vec<_> = st
            .finished
            .iter()
            .copied()
            .filter(|&t| t <= horizon)
            .collect();
        finished.sort();
        let mut abandoned: Vec<_> = st
            .abandoned
            .iter()
            .copied()
            .filter(|&t| t <= horizon)
            .collect();
        abandoned.sort();
        Trace {
            intervals,
            finished,
            abandoned,
            horizon,
        }
    }
}

/// A finished run's record.
#[derive(Clone, Debug)]
pub struct Trace {
    /// Every span of every activity.
    pub intervals: BTreeMap<Activity, Vec<Interval>>,
    /// When each sector finished, in order.
    pub finished: Vec<Duration>,
    /// When each aborted sector was given up, in order.
    pub abandoned: Vec<Duration>,
    /// How long the run lasted.
    pub horizon: Duration,
}

/// Sectors per day, from `count` sectors in `span`.
pub fn per_day(count: usize, span: Duration) -> f64 {
    if span.is_zero() {
        return 0.0;
    }
    count as f64 * 86_400.0 / span.as_secs_f64()
}

impl Trace {
    fn spans(&self, activity: Activity) -> &[Interval] {
        self.intervals
            .get(&activity)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// How many `activity` spans cover instant `t`.
    pub fn running_at(&self, activity: Activity, t: Duration) -> usize {
        self.spans(activity).iter().filter(|i| i.covers(t)).count()
    }

    /// How many `activity` spans ended by the horizon, and how many were
    /// still open there.
    pub fn closed_and_open(&self, activity: Activity) -> (usize, usize) {
        let open = self.spans(activity).iter().filter(|i| i.open).count();
        (self.spans(activity).len() - open, open)
    }

    /// Sectors finished at or before `t`.
    pub fn finished_by(&self, t: Duration) -> usize {
        self.finished.partition_point(|&f| f <= t)
    }

    /// Total time spent in `activity` (summed over concurrent spans).
    pub fn busy(&self, activity: Activity) -> Duration {
        self.spans(activity).iter().map(|i| i.end - i.start).sum()
    }

    /// Busy time over capacity × horizon.
    pub fn utilisation(&self, activity: Activity, capacity: usize) -> f64 {
        let denominator = self.horizon.as_secs_f64() * capacity as f64;
        if denominator == 0.0 {
            return 0.0;
        }
        self.busy(activity).as_secs_f64() / denominator
    }

    /// Sectors per day over the whole run.
    pub fn whole_rate(&self) -> f64 {
        per_day(self.finished.len(), self.horizon)
    }

    /// Sectors per day after `warmup` minutes (over the whole run when the
    /// run is not longer than the warm-up).
    pub fn steady_rate(&self, warmup: u64) -> f64 {
        let warmup = MINUTE * warmup as u32;
        if warmup >= self.horizon {
            return self.whole_rate();
        }
        per_day(
            self.finished.len() - self.finished_by(warmup),
            self.horizon - warmup,
        )
    }
}

/// Runs `f` on a fresh single-threaded tokio runtime whose clock starts
/// paused at zero (sleeps advance it instantly once every task waits), and
/// returns its output with the real time it took.
pub fn on_paused_clock<F: std::future::Future>(f: F) -> (F::Output, Duration) {
    // One blocking thread: file operations (tokio::fs) end in the order
    // they were asked for, so a seed replays the same run.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(1)
        .start_paused(true)
        .build()
        .expect("a tokio runtime");
    let started = std::time::Instant::now();
    let out = runtime.block_on(f);
    (out, started.elapsed())
}
