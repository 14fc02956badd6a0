//! The simulator's acceptance tests: the thread model reproduces damocles'
//! sealcalc (its published output, and its model minute by minute), and
//! the engine reaches the bottleneck bound and keeps up with the thread
//! model on the same hardware.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::simulate::config::{SimConfig, SimStage, MINUTE};
use crate::simulate::report::{self, Sample};
use crate::simulate::trace::Activity;
use crate::simulate::{engine_model, thread_model};

fn config(name: &str) -> SimConfig {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(name);
    SimConfig::load(&path).unwrap()
}

fn default_config() -> SimConfig {
    config("examples/simulate.toml")
}

fn anchor_32gib() -> SimConfig {
    config("examples/simulate/anchor-32gib.toml")
}

fn slot_bound() -> SimConfig {
    config("examples/simulate/slot-bound.toml")
}

/// sealcalc's published output for its example (damocles,
/// `docs/en/12.damocles-worker-util.md`, "sealcalc example"): minute,
/// sealing threads running, tree_d, pc1, pc2, wait seed, c2, finished.
const PUBLISHED: [[usize; 8]; 30] = [
    [0, 2, 2, 0, 0, 0, 0, 0],
    [60, 14, 2, 10, 0, 0, 0, 0],
    [120, 18, 0, 10, 0, 0, 0, 0],
    [180, 18, 0, 10, 0, 0, 0, 0],
    [240, 18, 0, 10, 0, 0, 0, 0],
    [300, 18, 0, 10, 0, 0, 0, 0],
    [360, 18, 0, 10, 2, 6, 0, 0],
    [420, 18, 2, 8, 0, 8, 0, 2],
    [480, 18, 0, 10, 0, 0, 0, 10],
    [540, 18, 0, 10, 0, 0, 0, 10],
    [600, 18, 0, 10, 0, 0, 0, 10],
    [660, 18, 0, 10, 2, 2, 0, 10],
    [720, 18, 0, 10, 0, 8, 0, 10],
    [780, 18, 0, 10, 0, 2, 0, 18],
    [840, 18, 0, 10, 0, 0, 0, 20],
    [900, 18, 0, 10, 0, 0, 0, 20],
    [960, 18, 0, 10, 0, 0, 0, 20],
    [1020, 18, 0, 10, 0, 8, 0, 20],
    [1080, 18, 2, 10, 0, 4, 0, 26],
    [1140, 18, 0, 10, 0, 2, 0, 28],
    [1200, 18, 0, 10, 0, 0, 0, 30],
    [1260, 18, 0, 10, 0, 0, 0, 30],
    [1320, 18, 0, 10, 2, 6, 0, 30],
    [1380, 18, 2, 10, 0, 6, 0, 32],
    [1440, 18, 0, 10, 0, 2, 0, 38],
    [1500, 18, 0, 10, 0, 0, 0, 40],
    [1560, 18, 0, 10, 0, 0, 0, 40],
    [1620, 18, 0, 10, 2, 2, 0, 40],
    [1680, 18, 0, 10, 0, 8, 0, 40],
    [1740, 18, 0, 10, 0, 2, 0, 48],
];

/// A sample in the published table's column order.
fn sealcalc_row(s: &Sample) -> [usize; 8] {
    let running = |stage| {
        s.stages
            .iter()
            .find(|(st, _)| *st == stage)
            .map_or(0, |(_, n)| *n)
    };
    [
        s.minute as usize,
        s.slots,
        running(SimStage::TreeD),
        running(SimStage::Pc1),
        running(SimStage::Pc2),
        s.seed,
        running(SimStage::C2),
        s.finished,
    ]
}

#[test]
fn the_thread_model_reproduces_the_published_sealcalc_output() {
    let mut cfg = default_config();
    cfg.minutes = 1740;
    let run = thread_model::simulate(&cfg);
    let rows: Vec<_> = report::timeline(&cfg, &run.trace, 60, 1740)
        .iter()
        .map(sealcalc_row)
        .collect();
    assert_eq!(rows, PUBLISHED.to_vec());
    assert_eq!(run.trace.finished_by(MINUTE * 1740), 48);
}

/// sealcalc's model restated minute by minute, independently of the tokio
/// model: at each minute, each stage in sealing order first retires the
/// tasks due now (they queue for the next stage), then starts as many
/// queued sectors as it has free slots; a free sealing thread is what the
/// first stage starts from, and a thread whose sector finished C2 becomes
/// free after the minute's first stage has started. WaitSeed is an
/// unlimited stage between pc2 and c2. Stages with no time are skipped (as
/// sealcalc has no add_pieces and no c1); no named locks.
fn minute_loop(cfg: &SimConfig, until: u64) -> Vec<Sample> {
    struct Step {
        stage: Option<SimStage>,
        minutes: u64,
        limit: usize,
        running: Vec<(u64, usize)>,
        queue: usize,
    }
    let step = |stage: Option<SimStage>, minutes: u64, limit: Option<usize>| Step {
        stage,
        minutes,
        limit: limit.unwrap_or(usize::MAX),
        running: Vec::new(),
        queue: 0,
    };
    let mut steps: Vec<Step> = Vec::new();
    for s in SimStage::BEFORE_SEED {
        let spec = cfg.stages.get(s);
        if spec.minutes > 0 {
            steps.push(step(Some(s), spec.minutes, spec.limit));
        }
    }
    steps.push(step(None, cfg.wait_seed, None));
    for s in SimStage::AFTER_SEED {
        let spec = cfg.stages.get(s);
        if spec.minutes > 0 {
            steps.push(step(Some(s), spec.minutes, spec.limit));
        }
    }
    let mut free_threads = cfg.slots;
    let mut finished = 0;
    let mut out = Vec::new();
    for minute in 0..=until {
        for i in 0..steps.len() {
            let due: usize = steps[i]
                .running
                .iter()
                .filter(|(end, _)| *end == minute)
                .map(|(_, n)| n)
                .sum();
            steps[i].running.retain(|(end, _)| *end != minute);
            steps[i].queue += due;
            let in_use: usize = steps[i].running.iter().map(|(_, n)| n).sum();
            let waiting = if i == 0 {
                free_threads
            } else {
                steps[i - 1].queue
            };
            let start = (steps[i].limit - in_use).min(waiting);
            if start > 0 {
                let end = minute + steps[i].minutes;
                steps[i].running.push((end, start));
                if i == 0 {
                    free_threads -= start;
                } else {
                    steps[i - 1].queue -= start;
                }
            }
        }
        let last = steps.last_mut().unwrap();
        free_threads += last.queue;
        finished += last.queue;
        last.queue = 0;
        let count = |s: &Step| s.running.iter().map(|(_, n)| n).sum::<usize>();
        out.push(Sample {
            minute,
            slots: cfg.slots - free_threads,
            stages: steps
                .iter()
                .filter_map(|s| Some((s.stage?, count(s))))
                .collect(),
            seed: steps.iter().find(|s| s.stage.is_none()).map_or(0, count),
            finished,
        });
    }
    out
}

#[test]
fn the_minute_loop_itself_reproduces_the_published_output() {
    let samples = minute_loop(&default_config(), 1740);
    let rows: Vec<_> = samples
        .iter()
        .filter(|s| s.minute % 60 == 0)
        .map(sealcalc_row)
        .collect();
    assert_eq!(rows, PUBLISHED.to_vec());
}

#[test]
fn the_thread_model_matches_sealcalc_every_minute() {
    let mut slot_bound = anchor_32gib();
    slot_bound.slots = 12;
    for (name, mut cfg) in [
        ("sealcalc example", default_config()),
        ("32GiB times", anchor_32gib()),
        ("32GiB times, 12 threads", slot_bound),
    ] {
        cfg.minutes = 6000;
        let run = thread_model::simulate(&cfg);
        let ours = report::timeline(&cfg, &run.trace, 1, cfg.minutes);
        let theirs = minute_loop(&cfg, cfg.minutes);
        for (a, b) in ours.iter().zip(&theirs) {
            assert_eq!(a, b, "{name}: minute {}", a.minute);
        }
        assert_eq!(ours.len(), theirs.len());
    }
    // sealcalc's figure for the 32GiB times (pc2 25, c2 18, seed 75).
    let mut cfg = anchor_32gib();
    cfg.minutes = 1740;
    assert_eq!(minute_loop(&cfg, 1740).last().unwrap().finished, 42);
}

fn max_running(trace: &crate::simulate::trace::Trace, activity: Activity) -> usize {
    trace
        .intervals
        .get(&activity)
        .into_iter()
        .flatten()
        .map(|i| trace.running_at(activity, i.start))
        .max()
        .unwrap_or(0)
}

#[test]
fn the_engine_reaches_the_bound_and_keeps_up_with_the_thread_model() {
    for (name, cfg) in [
        ("sealcalc example", default_config()),
        ("32GiB times", anchor_32gib()),
    ] {
        let threads = thread_model::simulate(&cfg);
        let engine = engine_model::simulate(&cfg).unwrap();
        let bound = report::bound(&cfg).unwrap();
        assert_eq!(bound.name, "stage pc1", "{name}");
        assert!((bound.per_day() - 45.0).abs() < 1e-9, "{name}");
        let percent = engine.percent_of_bound(&cfg).unwrap();
        assert!(
            percent >= 97.0,
            "{name}: the engine reached {percent:.1}% of the bound\n{}",
            report::comparison_table(&cfg, &[threads, engine])
        );
        for minute in [1740, cfg.minutes] {
            let t = MINUTE * minute as u32;
            assert!(
                engine.trace.finished_by(t) >= threads.trace.finished_by(t),
                "{name}: by minute {minute} the engine finished {} sectors, the thread model {}",
                engine.trace.finished_by(t),
                threads.trace.finished_by(t)
            );
        }
        for stage in SimStage::ALL {
            if let Some(limit) = cfg.stages.get(stage).limit {
                let max = max_running(&engine.trace, Activity::Stage(stage));
                assert!(max <= limit, "{name}: {} ran {max} > {limit}", stage.name());
            }
        }
        assert!(max_running(&engine.trace, Activity::Sector) <= cfg.slots);
        assert!(engine.transitions.unwrap() > 0);
    }
}

/// The engine's storage slot, like the anchor's sealing thread, holds its
/// sector from allocation through WaitSeed to the end of C2, and compute
/// limits are held per stage in both: on the same hardware the engine
/// schedules exactly like the thread model without sealcalc's restart
/// minute. (Only the slot column differs: sealcalc counts a thread from
/// its sector's tree_d, the engine holds the slot from allocation.)
#[test]
fn the_engine_schedules_like_threads_that_restart_at_once() {
    let mut slot_bound = anchor_32gib();
    slot_bound.slots = 14;
    for (name, mut cfg) in [
        ("sealcalc example", default_config()),
        ("32GiB times, 14 slots", slot_bound),
    ] {
        cfg.minutes = 6000;
        cfg.threads.restart = 0;
        let threads = thread_model::simulate(&cfg);
        let engine = engine_model::simulate(&cfg).unwrap();
        let without_slots = |trace| {
            report::timeline(&cfg, trace, 1, cfg.minutes)
                .into_iter()
                .map(|s| (s.minute, s.stages, s.seed, s.finished))
                .collect::<Vec<_>>()
        };
        let (a, b) = (without_slots(&threads.trace), without_slots(&engine.trace));
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x, y, "{name}: minute {}", x.0);
        }
    }
}

/// On storage-bound hardware (12 slots, the anchor's 32GiB times) a sealing
/// thread that owns its sector to the end passes 38.5 sectors a day; the
/// engine, giving the slot back at Persisted, is bound by pc1 again (45)
/// and reaches it, ahead of the thread model on the same hardware.
#[test]
fn on_storage_bound_hardware_the_engine_is_ahead_of_the_thread_model() {
    let mut cfg = slot_bound();
    cfg.minutes = 14 * 1440;
    let threads = thread_model::simulate(&cfg);
    let engine = engine_model::simulate(&cfg).unwrap();
    let bound = report::bound(&cfg).unwrap();
    assert_eq!(bound.name, "stage pc1");
    let (e, t) = (
        engine.percent_of_bound(&cfg).unwrap(),
        threads.percent_of_bound(&cfg).unwrap(),
    );
    let in_flight = max_running(&engine.trace, Activity::Sector);
    let stage_max: Vec<_> = SimStage::ALL
        .into_iter()
        .map(|stage| (stage, max_running(&engine.trace, Activity::Stage(stage))))
        .collect();
    let table = report::comparison_table(&cfg, &[threads, engine]);
    assert!(
        e >= 97.0,
        "the engine reached {e:.1}% of the bound\n{table}"
    );
    assert!(t < 90.0, "the thread model reached {t:.1}%\n{table}");
    assert!(e > t + 10.0, "engine {e:.1}%, threads {t:.1}%\n{table}");
    for (stage, max) in stage_max {
        if let Some(limit) = cfg.stages.get(stage).limit {
            assert!(max <= limit, "{} ran {max} > {limit}", stage.name());
        }
    }
    assert!(
        in_flight <= cfg.in_flight(),
        "{in_flight} sectors in flight"
    );
    assert!(in_flight > cfg.slots, "no sector ever ran outside a slot");
}

#[test]
fn the_engine_finishes_what_the_thread_model_finishes_by_minute_1740() {
    let mut cfg = default_config();
    cfg.minutes = 1740;
    let engine = engine_model::simulate(&cfg).unwrap();
    assert_eq!(engine.trace.finished_by(MINUTE * 1740), 48);
}

#[test]
fn a_30_hour_engine_run_takes_seconds() {
    let mut cfg = default_config();
    cfg.minutes = 30 * 60;
    let started = Instant::now();
    let engine = engine_model::simulate(&cfg).unwrap();
    let wall = started.elapsed();
    assert!(engine.trace.finished_by(cfg.horizon()) >= 48);
    // Generous: it takes tens of milliseconds; a busy 2-core machine and
    // a debug build must not make it flaky.
    assert!(wall < Duration::from_secs(30), "{wall:?}");
}

/// The configuration file: defaults, and refusals naming the key.
mod config_file {
    use crate::simulate::config::{SimConfig, StageSpec};

    const MINIMAL: &str =
        "minutes = 100\nslots = 2\nwait_seed = 10\n[stages]\npc1 = { minutes = 5, limit = 1 }\n";

    #[test]
    fn a_minimal_file_parses_with_defaults() {
        let cfg = SimConfig::parse(MINIMAL).unwrap();
        assert_eq!(cfg.stages.pc1.limit, Some(1));
        assert_eq!(cfg.stages.c2, StageSpec::default());
        assert_eq!(cfg.threads.restart, 1);
        assert_eq!(cfg.sector_minutes(), 15);
        assert_eq!(cfg.warmup_minutes(), 15);
        assert_eq!(cfg.timeline_step, 60);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let err = |text: &str| format!("{:#}", SimConfig::parse(text).unwrap_err());
        assert!(err(&format!("{MINIMAL}pc3 = {{ minutes = 1 }}\n")).contains("pc3"));
        assert!(err(&MINIMAL.replace("limit = 1", "limit = 0")).contains("stages.pc1.limit"));
        assert!(err(&MINIMAL.replace("slots = 2", "slots = 0")).contains("slots"));
        assert!(err(&MINIMAL.replace("limit = 1", "limit = 1, locks = [\"gpu\"]")).contains("gpu"));
        assert!(err(&format!("{MINIMAL}[locks]\ngpu = 0\n")).contains("locks.gpu"));
        assert!(err(&format!("{MINIMAL}[engine]\nin_flight = 4\n")).contains("release_slot_at"));
        assert!(err(&format!(
            "{MINIMAL}[engine]\nrelease_slot_at = \"persisted\"\nin_flight = 1\n"
        ))
        .contains("at least `slots`"));
        assert!(err(&format!("{MINIMAL}[engine]\nrelease_slot_at = \"pc2\"\n")).contains("pc2"));
    }
}

/// The trace: spans, counts at an instant, rates.
mod trace_spans {
    use std::time::Duration;

    use crate::simulate::config::{SimStage, MINUTE};
    use crate::simulate::trace::{Activity, Recorder};

    #[tokio::test(start_paused = true)]
    async fn spans_counts_and_rates() {
        let rec = Recorder::new();
        let sector = rec.begin(Activity::Sector);
        let pc1 = rec.begin(Activity::Stage(SimStage::Pc1));
        tokio::time::sleep(MINUTE * 10).await;
        rec.end(pc1);
        rec.end(sector);
        let _still = rec.begin(Activity::Sector);
        tokio::time::sleep(MINUTE * 15).await;
        let _later = rec.begin(Activity::Stage(SimStage::C2));
        let trace = rec.trace(MINUTE * 20);
        let pc1 = Activity::Stage(SimStage::Pc1);
        assert_eq!(trace.running_at(pc1, Duration::ZERO), 1);
        assert_eq!(trace.running_at(pc1, MINUTE * 10), 0, "ends are exclusive");
        assert_eq!(trace.running_at(Activity::Sector, MINUTE * 15), 1);
        assert_eq!(
            trace.running_at(Activity::Sector, MINUTE * 20),
            1,
            "open at the horizon: runs at the horizon"
        );
        assert_eq!(trace.busy(Activity::Stage(SimStage::C2)), Duration::ZERO);
        assert_eq!(
            trace.finished,
            vec![MINUTE * 10],
            "the open one is not finished"
        );
        assert_eq!(trace.finished_by(MINUTE * 9), 0);
        assert_eq!(trace.finished_by(MINUTE * 10), 1);
        assert_eq!(trace.busy(Activity::Sector), MINUTE * 20);
        assert!((trace.utilisation(pc1, 1) - 0.5).abs() < 1e-9);
        assert!((trace.whole_rate() - 72.0).abs() < 1e-9);
        assert!((trace.steady_rate(10) - 0.0).abs() < 1e-9);
    }
}

/// `[failures]`: what is injected, reproducibly, and what each model
/// makes of it.
mod failures {
    use std::time::Duration;

    use venus_seal_core::{Failure, FailureLevel};

    use super::slot_bound;
    use crate::simulate::config::{SimConfig, SimStage, MINUTE};
    use crate::simulate::faults::stage_error;
    use crate::simulate::report::ModelRun;
    use crate::simulate::trace::Activity;
    use crate::simulate::{engine_model, thread_model};

    /// A small fast machine (many stage runs in few minutes) with every
    /// level injected into every timed stage.
    fn busy_machine(extra: &str) -> SimConfig {
        SimConfig::parse(&format!(
            "minutes = 300\nslots = 16\nwait_seed = 2\n\
             [stages]\n\
             tree_d = {{ minutes = 1, limit = 4 }}\n\
             pc1 = {{ minutes = 4, limit = 8 }}\n\
             pc2 = {{ minutes = 1, limit = 4 }}\n\
             c2 = {{ minutes = 1, limit = 4 }}\n\
             [failures]\nseed = 11\noperator_every = 30\n\
             [failures.stages]\n\
             tree_d = {{ temporary = 0.1, abort = 0.03 }}\n\
             pc1 = {{ temporary = 0.1, permanent = 0.05, critical = 0.02 }}\n\
             pc2 = {{ permanent = 0.05, critical = 0.05, abort = 0.03 }}\n\
             c2 = {{ temporary = 0.2, permanent = 0.1 }}\n\
             {extra}"
        ))
        .unwrap()
    }

    fn both(cfg: &SimConfig) -> [ModelRun; 2] {
        [
            thread_model::simulate(cfg),
            engine_model::simulate(cfg).unwrap(),
        ]
    }

    #[test]
    fn each_injected_error_has_its_level() {
        for level in [
            FailureLevel::Temporary,
            FailureLevel::Permanent,
            FailureLevel::Critical,
            FailureLevel::Abort,
        ] {
            let err = stage_error(SimStage::Pc1, level);
            assert_eq!(Failure::from_error(&err).level, level, "{err}");
        }
    }

    /// Counts per stage and level match the configured rates, and every
    /// injected failure had its effect: each Permanent or Critical one
    /// parked a sector until the operator came, each Abort gave a sector
    /// up.
    #[test]
    fn failures_are_injected_at_their_rates_and_take_effect() {
        let cfg = busy_machine("");
        let plan = cfg.failures.clone().unwrap();
        for run in both(&cfg) {
            let log = run.faults.as_ref().unwrap();
            let name = run.name;
            for stage in [SimStage::TreeD, SimStage::Pc1, SimStage::Pc2, SimStage::C2] {
                let n = log.runs[&stage] as f64;
                assert!(n >= 150.0, "{name}: only {n} {} runs", stage.name());
                for (level, rate) in plan.stages.get(stage).by_level() {
                    let got = log.injected.get(&(stage, level)).copied().unwrap_or(0) as f64;
                    let sigma = (n * rate * (1.0 - rate)).sqrt();
                    assert!(
                        (got - n * rate).abs() <= 4.0 * sigma + 1.0,
                        "{name}: {} {level}: {got} of {n} runs at rate {rate}",
                        stage.name()
                    );
                    if rate > 0.0 {
                        assert!(got > 0.0, "{name}: no {level} failure of {}", stage.name());
                    }
                }
            }
            let parks =
                log.injected_at(FailureLevel::Permanent) + log.injected_at(FailureLevel::Critical);
            let (resumed, still) = run.trace.closed_and_open(Activity::Parked);
            assert_eq!(
                (resumed + still) as u64,
                parks,
                "{name}: every Permanent or Critical failure parks its sector once"
            );
            assert!(
                resumed > 0 && still <= cfg.slots,
                "{name}: {resumed} resumed, {still} parked"
            );
            assert_eq!(
                run.trace.abandoned.len() as u64,
                log.injected_at(FailureLevel::Abort),
                "{name}: every Abort gives its sector up"
            );
            assert!(run.trace.finished.len() > 100, "{name}: the rest goes on");
        }
    }

    #[test]
    fn a_seed_gives_the_same_run_and_another_seed_another() {
        let cfg = busy_machine(
            "[failures.crashes]\nat = [100]\nper_day = 12\ndowntime = 3\n\
             [[failures.manager_outages]]\nat = 150\nminutes = 20\n",
        );
        let [t1, e1] = both(&cfg);
        let [t2, e2] = both(&cfg);
        for (a, b) in [(&t1, &t2), (&e1, &e2)] {
            assert_eq!(a.faults, b.faults, "{}", a.name);
            assert_eq!(a.trace.finished, b.trace.finished, "{}", a.name);
            assert_eq!(a.trace.abandoned, b.trace.abandoned, "{}", a.name);
            let log = a.faults.as_ref().unwrap();
            assert!(log.crashes >= 2, "{}: {} crashes", a.name, log.crashes);
            assert!(log.cut_runs > 0, "{}: no stage run cut by a crash", a.name);
            assert!(
                log.refused_submissions > 0,
                "{}: the outage refused nothing",
                a.name
            );
        }
        let mut other = cfg.clone();
        other.failures.as_mut().unwrap().seed = 12;
        let [t3, e3] = both(&other);
        assert_ne!(t1.faults, t3.faults);
        assert_ne!(e1.faults, e3.faults);
    }

    /// One sector on an empty machine (32GiB times): it finishes at minute
    /// 448 (tree_d 10, pc1 320, pc2 25, seed 75, c2 18). A crash costs
    /// only the stage in flight and the downtime: PC1's 320 minutes are
    /// not sealed again, and a crash while it waits for its seed costs
    /// nothing (the seed comes when it comes).
    #[test]
    fn a_crash_costs_only_the_stage_in_flight() {
        let base = "minutes = 700\nslots = 1\nwait_seed = 75\n\
                    [threads]\nrestart = 0\n\
                    [stages]\ntree_d = { minutes = 10 }\npc1 = { minutes = 320 }\n\
                    pc2 = { minutes = 25 }\nc2 = { minutes = 18 }\n";
        // (crash at, finished at, pc1 runs, pc2 runs, cut runs, minutes cut)
        let cases = [
            (None, 448, 1, 1, 0, 0),
            // In PC2 (330..355), 10 minutes in, down 5: PC2 again 345..370.
            (Some(340), 463, 1, 2, 1, 10),
            // In WaitSeed (355..430): nothing to redo.
            (Some(400), 448, 1, 1, 0, 0),
            // In PC1 (10..330), 90 minutes in: PC1 again 105..425.
            (Some(100), 543, 2, 1, 1, 90),
        ];
        for (crash, finished, pc1, pc2, cut, cut_minutes) in cases {
            let failures = match crash {
                Some(at) => format!("[failures]\n[failures.crashes]\nat = [{at}]\ndowntime = 5\n"),
                None => String::new(),
            };
            let cfg = SimConfig::parse(&format!("{base}{failures}")).unwrap();
            for run in both(&cfg) {
                let what = format!("{}, crash at {crash:?}", run.name);
                assert_eq!(
                    run.trace.finished.first(),
                    Some(&(MINUTE * finished)),
                    "{what}"
                );
                // Runs for the first sector (the thread model starts a
                // second one when it is done).
                let runs = |stage| {
                    run.trace
                        .intervals
                        .get(&Activity::Stage(stage))
                        .map_or(0, |spans| {
                            spans.iter().filter(|i| i.start < MINUTE * finished).count()
                        })
                };
                assert_eq!(runs(SimStage::Pc1), pc1, "{what}: pc1 runs");
                assert_eq!(runs(SimStage::Pc2), pc2, "{what}: pc2 runs");
                if let Some(log) = &run.faults {
                    assert_eq!(log.crashes, 1, "{what}");
                    assert_eq!(log.cut_runs, cut, "{what}");
                    assert_eq!(log.cut_time, MINUTE * cut_minutes, "{what}");
                }
            }
        }
    }

    /// Permanent failures in C2 and an operator who comes once a day, on
    /// the storage-bound machine: a damocles thread blocks, holding its
    /// sealing storage, until the operator comes; the engine's sector
    /// parks past Persisted, outside its slot, which seals the next
    /// sector meanwhile. The engine loses little of its rate; the thread
    /// model loses much more.
    #[test]
    fn with_a_slow_operator_the_engine_keeps_sealing_where_threads_block() {
        let mut cfg = slot_bound();
        cfg.minutes = 6 * 1440;
        let [t0, e0] = both(&cfg);
        cfg.failures = SimConfig::parse(
            "minutes = 1\nslots = 1\nwait_seed = 0\n[stages]\nc2 = { minutes = 1 }\n\
             [failures]\nseed = 3\noperator_every = 1440\n\
             [failures.stages]\nc2 = { permanent = 0.2 }\n",
        )
        .unwrap()
        .failures;
        let [t1, e1] = both(&cfg);
        let (t, e) = (t1.trace.finished.len(), e1.trace.finished.len());
        let loss = |before: &ModelRun, after: &ModelRun| {
            1.0 - after.trace.finished.len() as f64 / before.trace.finished.len() as f64
        };
        let (tl, el) = (loss(&t0, &t1), loss(&e0, &e1));
        let table = crate::simulate::report::failure_table(&cfg, &[t1, e1]).unwrap();
        assert!(e > t, "engine {e}, threads {t}\n{table}");
        assert!(el < 0.10, "the engine lost {:.1}%\n{table}", 100.0 * el);
        assert!(
            tl > 2.0 * el + 0.05,
            "threads lost {:.1}%, the engine {:.1}%\n{table}",
            100.0 * tl,
            100.0 * el
        );
    }

    #[test]
    fn bad_failure_keys_are_named() {
        let base = "minutes = 100\nslots = 2\nwait_seed = 10\n\
                    [stages]\npc1 = { minutes = 5, limit = 1 }\n[failures]\n";
        let err = |extra: &str| {
            format!(
                "{:#}",
                SimConfig::parse(&format!("{base}{extra}")).unwrap_err()
            )
        };
        let ok = |extra: &str| SimConfig::parse(&format!("{base}{extra}")).unwrap();
        assert!(err("[failures.stages]\npc1 = { permanent = 1.5 }\n")
            .contains("failures.stages.pc1.permanent"));
        assert!(err("[failures.stages]\npc1 = { temporary = -0.1 }\n")
            .contains("failures.stages.pc1.temporary"));
        assert!(
            err("[failures.stages]\npc1 = { temporary = 0.6, abort = 0.6 }\n")
                .contains("failures.stages.pc1")
        );
        assert!(err("[failures.stages]\nc2 = { abort = 0.1 }\n").contains("stages.c2"));
        assert!(err("[failures.stages]\npc1 = { fatal = 0.1 }\n").contains("fatal"));
        assert!(err("[failures.stages]\npc3 = { abort = 0.1 }\n").contains("pc3"));
        assert!(err("operator_every = 0\n").contains("failures.operator_every"));
        assert!(err("[failures.crashes]\nper_day = -1\n").contains("failures.crashes.per_day"));
        assert!(err("[[failures.manager_outages]]\nat = 5\nminutes = 0\n")
            .contains("failures.manager_outages[0].minutes"));
        let cfg = ok("");
        let plan = cfg.failures.unwrap();
        assert_eq!(
            (plan.operator_every, plan.recover_interval, plan.max_retries),
            (480, 1, 5)
        );
        let cfg = ok("[[failures.manager_outages]]\nat = 5\nminutes = 10\n");
        let plan = cfg.failures.unwrap();
        assert!(!plan.manager_down(MINUTE * 4));
        assert!(plan.manager_down(MINUTE * 5));
        assert!(plan.manager_down(MINUTE * 15 - Duration::from_secs(1)));
        assert!(!plan.manager_down(MINUTE * 15));
    }
}
