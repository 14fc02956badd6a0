//! The bottleneck bound and the side-by-side tables.

use std::fmt::Write as _;
use std::time::Duration;

use venus_seal_core::FailureLevel;

use crate::simulate::config::{FailuresSection, SimConfig, SimStage, MINUTE};
use crate::simulate::faults::FaultLog;
use crate::simulate::trace::{Activity, Trace};

/// Something every sector holds for a while, and how many can hold it.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    /// `stage pc1`, `lock gpu`, `slots`.
    pub name: String,
    /// How many sectors can hold it at once.
    pub capacity: usize,
    /// Minutes one sector holds it.
    pub minutes: u64,
}

impl Resource {
    /// The most sectors per day it lets through: capacity / minutes.
    pub fn per_day(&self) -> f64 {
        self.capacity as f64 * 1440.0 / self.minutes as f64
    }
}

/// Every resource that bounds throughput: each limited stage (its limit,
/// its minutes), each named lock (its capacity, the minutes of every stage
/// that holds it), and the storage slots (held for a sector's whole
/// unloaded latency at least, or up to Persisted when the engine gives
/// slots back there: the sealing threads of the thread model hold theirs
/// to the end either way, which is why it can fall below the bound).
/// Resources held for no time bound nothing and are left out.
pub fn resources(cfg: &SimConfig) -> Vec<Resource> {
    let mut out = Vec::new();
    for stage in SimStage::ALL {
        let spec = cfg.stages.get(stage);
        if let (Some(limit), true) = (spec.limit, spec.minutes > 0) {
            out.push(Resource {
                name: format!("stage {}", stage.name()),
                capacity: limit,
                minutes: spec.minutes,
            });
        }
    }
    for (lock, &capacity) in &cfg.locks {
        let minutes = SimStage::ALL
            .into_iter()
            .map(|s| cfg.stages.get(s))
            .filter(|spec| spec.locks.contains(lock))
            .map(|spec| spec.minutes)
            .sum();
        if minutes > 0 {
            out.push(Resource {
                name: format!("lock {lock}"),
                capacity,
                minutes,
            });
        }
    }
    if cfg.slot_minutes() > 0 {
        out.push(Resource {
            name: "slots".into(),
            capacity: cfg.slots,
            minutes: cfg.slot_minutes(),
        });
    }
    out
}

/// The bottleneck bound in sectors per day: min over resources of
/// capacity / minutes held, and the resource that sets it.
pub fn bound(cfg: &SimConfig) -> Option<Resource> {
    resources(cfg)
        .into_iter()
        .min_by(|a, b| a.per_day().total_cmp(&b.per_day()))
}

/// One model's run, for the report.
#[derive(Debug)]
pub struct ModelRun {
    /// The column heading.
    pub name: &'static str,
    /// What happened.
    pub trace: Trace,
    /// Real time the run took.
    pub wall: Duration,
    /// Durable sector transitions (engine only).
    pub transitions: Option<u64>,
    /// What was injected, with `[failures]`.
    pub faults: Option<FaultLog>,
}

impl ModelRun {
    /// Steady-state sectors per day over the bound, in percent.
    pub fn percent_of_bound(&self, cfg: &SimConfig) -> Option<f64> {
        let bound = bound(cfg)?.per_day();
        Some(100.0 * self.trace.steady_rate(cfg.warmup_minutes()) / bound)
    }
}

fn days(minutes: u64) -> String {
    let d = minutes as f64 / 1440.0;
    if d >= 1.0 {
        format!("{d:.1} days")
    } else {
        format!("{:.1} hours", minutes as f64 / 60.0)
    }
}

/// The bound table: every resource and what it lets through.
pub fn bound_table(cfg: &SimConfig) -> String {
    let mut s = String::new();
    let bottleneck = bound(cfg);
    let _ = writeln!(
        s,
        "Bottleneck bound: min over resources of capacity / minutes one sector holds it"
    );
    let _ = writeln!(
        s,
        "  {:<16} {:>8} {:>12} {:>12}",
        "resource", "capacity", "min/sector", "sectors/day"
    );
    for r in resources(cfg) {
        let mark = if bottleneck.as_ref() == Some(&r) {
            "  <- bottleneck"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "  {:<16} {:>8} {:>12} {:>12.2}{mark}",
            r.name,
            r.capacity,
            r.minutes,
            r.per_day()
        );
    }
    s
}

/// The side-by-side table of the models.
pub fn comparison_table(cfg: &SimConfig, runs: &[ModelRun]) -> String {
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut row = |label: String, f: &dyn Fn(&ModelRun) -> String| {
        rows.push((label, runs.iter().map(f).collect()));
    };
    let mut checkpoints: Vec<u64> = cfg
        .checkpoints
        .iter()
        .copied()
        .filter(|&m| m < cfg.minutes)
        .collect();
    checkpoints.push(cfg.minutes);
    checkpoints.dedup();
    for m in checkpoints {
        row(format!("finished by minute {m}"), &|r| {
            r.trace.finished_by(MINUTE * m as u32).to_string()
        });
    }
    row("sectors/day, whole run".into(), &|r| {
        format!("{:.2}", r.trace.whole_rate())
    });
    let warmup = cfg.warmup_minutes();
    row(format!("sectors/day after {warmup} min"), &|r| {
        format!("{:.2}", r.trace.steady_rate(warmup))
    });
    if let Some(b) = bound(cfg) {
        row(format!("bound ({})", b.name), &|_| {
            format!("{:.2}", b.per_day())
        });
        row("% of bound".into(), &|r| {
            format!("{:.1}%", r.percent_of_bound(cfg).unwrap_or_default())
        });
    }
    for stage in SimStage::ALL {
        let spec = cfg.stages.get(stage);
        if spec.minutes == 0 {
            continue;
        }
        let activity = Activity::Stage(stage);
        match spec.limit {
            Some(limit) => row(format!("utilisation {} ({limit})", stage.name()), &|r| {
                format!("{:.1}%", 100.0 * r.trace.utilisation(activity, limit))
            }),
            None => row(format!("mean running {}", stage.name()), &|r| {
                format!("{:.2}", r.trace.utilisation(activity, 1))
            }),
        }
    }
    for (lock, &capacity) in &cfg.locks {
        let holders: Vec<_> = SimStage::ALL
            .into_iter()
            .filter(|&s| cfg.stages.get(s).locks.contains(lock))
            .collect();
        row(format!("utilisation lock {lock} ({capacity})"), &|r| {
            let busy: f64 = holders
                .iter()
                .map(|&s| r.trace.utilisation(Activity::Stage(s), capacity))
                .sum();
            format!("{:.1}%", 100.0 * busy)
        });
    }
    // Sectors in flight over the slots: the slots' utilisation while a
    // sector holds its slot to the end; above 100% when the engine gives
    // slots back at Persisted (sectors then also wait for seeds and prove
    // outside them).
    row(format!("in flight / slots ({})", cfg.slots), &|r| {
        format!(
            "{:.1}%",
            100.0 * r.trace.utilisation(Activity::Sector, cfg.slots)
        )
    });
    row("mean waiting for seed".into(), &|r| {
        format!("{:.2}", r.trace.utilisation(Activity::Seed, 1))
    });
    row("wall time".into(), &|r| format!("{:.2?}", r.wall));
    if runs.iter().any(|r| r.transitions.is_some()) {
        row("sector transitions".into(), &|r| {
            r.transitions.map_or("-".into(), |t| t.to_string())
        });
        row(
            "wall time per transition".into(),
            &|r| match r.transitions {
                Some(t) if t > 0 => format!("{:.1?}", r.wall / t as u32),
                _ => "-".into(),
            },
        );
    }

    columns(runs, rows)
}

/// Rows of values, one column per run, headed by the runs' names.
fn columns(runs: &[ModelRun], rows: Vec<(String, Vec<String>)>) -> String {
    let label_width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    let col_width = runs
        .iter()
        .map(|r| r.name.len())
        .chain(rows.iter().flat_map(|(_, v)| v.iter().map(String::len)))
        .max()
        .unwrap_or(0)
        + 2;
    let mut s = String::new();
    let _ = write!(s, "  {:<label_width$}", "");
    for r in runs {
        let _ = write!(s, "{:>col_width$}", r.name);
    }
    s.push('\n');
    for (label, values) in rows {
        let _ = write!(s, "  {label:<label_width$}");
        for v in values {
            let _ = write!(s, "{v:>col_width$}");
        }
        s.push('\n');
    }
    s
}

/// What each model's run had injected and how each failure ended, side
/// by side; `None` without `[failures]`.
pub fn failure_table(cfg: &SimConfig, runs: &[ModelRun]) -> Option<String> {
    let plan = cfg.failures.as_ref()?;
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut row = |label: &str, f: &dyn Fn(&ModelRun, &FaultLog) -> String| {
        let values = runs
            .iter()
            .map(|r| r.faults.as_ref().map_or("-".into(), |log| f(r, log)))
            .collect();
        rows.push((label.to_string(), values));
    };
    row("stage runs that ran their time", &|_, l| {
        l.runs.values().sum::<u64>().to_string()
    });
    for level in [
        FailureLevel::Temporary,
        FailureLevel::Permanent,
        FailureLevel::Critical,
        FailureLevel::Abort,
    ] {
        row(&format!("  failed {level}"), &|_, l| {
            l.injected_at(level).to_string()
        });
    }
    row("submissions refused, manager down", &|_, l| {
        l.refused_submissions.to_string()
    });
    row("worker crashes", &|_, l| l.crashes.to_string());
    row("  stage runs cut by a crash", &|_, l| {
        l.cut_runs.to_string()
    });
    row("  stage hours lost to crashes", &|_, l| {
        format!("{:.1}", l.cut_time.as_secs_f64() / 3600.0)
    });
    row("parked, waiting for the operator", &|r, _| {
        let (closed, open) = r.trace.closed_and_open(Activity::Parked);
        (closed + open).to_string()
    });
    row("  resumed by the operator", &|r, _| {
        r.trace.closed_and_open(Activity::Parked).0.to_string()
    });
    row("  still parked at the end", &|r, _| {
        r.trace.closed_and_open(Activity::Parked).1.to_string()
    });
    row("mean sectors parked", &|r, _| {
        format!("{:.2}", r.trace.utilisation(Activity::Parked, 1))
    });
    row("sectors aborted (slot/thread starts anew)", &|r, _| {
        r.trace.abandoned.len().to_string()
    });
    row("sectors finished", &|r, _| {
        r.trace.finished.len().to_string()
    });
    row("sectors/day, whole run", &|r, _| {
        format!("{:.2}", r.trace.whole_rate())
    });
    let outages: Vec<String> = plan
        .manager_outages
        .iter()
        .map(|o| format!("{} min from minute {}", o.minutes, o.at))
        .collect();
    let mut s = format!(
        "Failures (seed {}): the operator resumes parked sectors every {} min; \
         Temporary retried every {} min, {} times; crashes: {} (down {} min each); \
         manager outages: {}\n",
        plan.seed,
        plan.operator_every,
        plan.recover_interval,
        plan.max_retries,
        crash_summary(plan),
        plan.crashes.downtime,
        if outages.is_empty() {
            "none".into()
        } else {
            outages.join(", ")
        },
    );
    s.push_str(&columns(runs, rows));
    Some(s)
}

fn crash_summary(plan: &FailuresSection) -> String {
    let mut parts = Vec::new();
    if !plan.crashes.at.is_empty() {
        let at: Vec<String> = plan.crashes.at.iter().map(u64::to_string).collect();
        parts.push(format!("at minutes {}", at.join(", ")));
    }
    if plan.crashes.per_day > 0.0 {
        parts.push(format!("{} a day at random", plan.crashes.per_day));
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(" and ")
    }
}

/// One sample of a run, in sealcalc's columns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Minute of the sample.
    pub minute: u64,
    /// Sectors holding a slot / thread.
    pub slots: usize,
    /// Tasks running per modelled stage, in sealing order.
    pub stages: Vec<(SimStage, usize)>,
    /// Sectors waiting for their seed.
    pub seed: usize,
    /// Sectors finished so far.
    pub finished: usize,
}

/// The state of the run every `step` minutes from 0 up to `until`, as
/// sealcalc prints it (what runs at minute m: started at or before m,
/// ending after m).
pub fn timeline(cfg: &SimConfig, trace: &Trace, step: u64, until: u64) -> Vec<Sample> {
    (0..=until)
        .step_by(step.max(1) as usize)
        .map(|minute| {
            let t = MINUTE * minute as u32;
            Sample {
                minute,
                slots: trace.running_at(Activity::Sector, t),
                stages: SimStage::ALL
                    .into_iter()
                    .filter(|&s| cfg.stages.get(s).minutes > 0)
                    .map(|s| (s, trace.running_at(Activity::Stage(s), t)))
                    .collect(),
                seed: trace.running_at(Activity::Seed, t),
                finished: trace.finished_by(t),
            }
        })
        .collect()
}

/// A timeline as text, sealcalc's columns (running/limit).
pub fn timeline_table(cfg: &SimConfig, samples: &[Sample]) -> String {
    let mut s = String::new();
    let _ = write!(s, "  {:>7} {:>9}", "minute", "slots");
    let stages: Vec<_> = samples
        .first()
        .map(|x| x.stages.iter().map(|(st, _)| *st).collect())
        .unwrap_or_default();
    for st in &stages {
        let _ = write!(s, " {:>9}", st.name());
    }
    let _ = writeln!(s, " {:>9} {:>9}", "wait seed", "finished");
    for x in samples {
        let _ = write!(
            s,
            "  {:>7} {:>9}",
            x.minute,
            format!("{}/{}", x.slots, cfg.slots)
        );
        for (st, n) in &x.stages {
            let cell = match cfg.stages.get(*st).limit {
                Some(l) => format!("{n}/{l}"),
                None => n.to_string(),
            };
            let _ = write!(s, " {cell:>9}");
        }
        let _ = writeln!(s, " {:>9} {:>9}", x.seed, x.finished);
    }
    s
}

/// The heading: what ran, on which configuration.
pub fn heading(cfg: &SimConfig, source: &str) -> String {
    let mut limits = Vec::new();
    for stage in SimStage::ALL {
        let spec = cfg.stages.get(stage);
        if !spec.is_modelled() {
            continue;
        }
        let mut d = format!("{} {} min", stage.name(), spec.minutes);
        if let Some(l) = spec.limit {
            let _ = write!(d, " x{l}");
        }
        if !spec.locks.is_empty() {
            let _ = write!(d, " [{}]", spec.locks.join(","));
        }
        limits.push(d);
    }
    format!(
        "{source}: {} simulated minutes ({}) on tokio's paused clock\n\
         {} slots (engine) = {} sealing threads (thread model); {}; WaitSeed {} min\n",
        cfg.minutes,
        days(cfg.minutes),
        cfg.slots,
        cfg.slots,
        limits.join(", "),
        cfg.wait_seed
    )
}
