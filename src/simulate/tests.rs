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
