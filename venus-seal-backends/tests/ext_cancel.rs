//! A task on an ext processor whose caller goes away (the sector is
//! paused or aborted) holds what it holds until its child has really
//! finished with it: alone on its child, the child is killed and reaped
//! before the stage's limits are released, so the next task under the
//! same `gpu` lock never runs beside it; sharing the child, it runs on;
//! dropped outright, its `concurrent` slot stays taken until the child
//! answers it. The child (python3) logs when each task starts and ends,
//! with its pid and the pids of the earlier children still alive.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use venus_seal_backends::ext::{ExtProcessorConfig, ExtProcessorExecutor};
use venus_seal_core::engine::limits::{Limited, Limits, StageLimit};
use venus_seal_core::stage::Stage;
use venus_seal_core::Executor;

/// Sleeps `ms` in the child.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Nap {
    n: u64,
    ms: u64,
}

impl Stage for Nap {
    const NAME: &'static str = "nap";
    type Output = u64;
}

/// Logs `start N pid=P alive=[...]` (the pids of the children that logged
/// before it and still exist, zombies included) and `end N`.
const CHILD: &str = r#"
import json, os, re, sys, threading, time
path = sys.argv[2]
print(sys.argv[1] + " processor ready", flush=True)
lock = threading.Lock()
def alive():
    pids = set(int(p) for p in re.findall(r"pid=(\d+)", open(path).read()))
    return sorted(p for p in pids if p != os.getpid() and os.path.exists("/proc/%d" % p))
def log(text):
    with lock:
        with open(path, "a") as f:
            f.write(text + "\n")
def handle(req):
    task = req["task"]
    log("start %d pid=%d alive=%s" % (task["n"], os.getpid(), alive()))
    time.sleep(task["ms"] / 1000.0)
    log("end %d" % task["n"])
    with lock:
        sys.stdout.write(json.dumps({"id": req["id"], "err_msg": None, "output": task["n"]}) + "\n")
        sys.stdout.flush()
for line in sys.stdin:
    threading.Thread(target=handle, args=(json.loads(line),), daemon=True).start()
"#;

struct Setup {
    _dir: tempfile::TempDir,
    log: PathBuf,
    config: ExtProcessorConfig,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("child.py");
    std::fs::write(&script, CHILD).unwrap();
    let log = dir.path().join("log");
    std::fs::write(&log, "").unwrap();
    let mut config = ExtProcessorConfig::new("python3");
    config.name = Some("nap".into());
    config.args = vec![
        script.to_str().unwrap().into(),
        Nap::NAME.into(),
        log.to_str().unwrap().into(),
    ];
    config.ready_timeout = Duration::from_secs(10);
    Setup {
        _dir: dir,
        log,
        config,
    }
}

fn lines(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The log's lines without the pid details.
fn events(log: &Path) -> Vec<String> {
    lines(log)
        .iter()
        .map(|l| l.split(" pid=").next().unwrap().to_string())
        .collect()
}

async fn wait_for(log: &Path, line: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !events(log).iter().any(|l| l == line) {
        assert!(Instant::now() < deadline, "never logged {line:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

type Processor = Arc<ExtProcessorExecutor<Nap>>;

fn limited(processor: &Processor, concurrent: usize) -> Arc<Limited<Processor>> {
    let mut stages = BTreeMap::new();
    stages.insert(
        Nap::NAME.to_string(),
        StageLimit {
            concurrent: Some(concurrent),
            locks: vec!["gpu".into()],
            ..StageLimit::default()
        },
    );
    // The lock holds as many as the stage runs at once: with a lock of
    // one, two tasks could never share the child, and which of them ran
    // first would be a race.
    let locks = BTreeMap::from([("gpu".to_string(), concurrent)]);
    Arc::new(Limits::new(stages, locks).wrap(processor.clone()))
}

/// Injects: the caller of a 20 s task goes away while it is the only one
/// on its child (auto_restart off). The child is killed and reaped before
/// the next task under the same lock starts (on a new child, the processor
/// alive), and task 1 never ends. Before the fix the next task waited the
/// full 20 s for task 1 (the guard below fails).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_lone_task_kills_its_child_and_reaps_it_before_the_next_task() {
    let Setup {
        _dir,
        log,
        mut config,
    } = setup();
    config.auto_restart = false;
    let processor = Arc::new(ExtProcessorExecutor::<Nap>::new(config).unwrap());
    processor.start().await.unwrap();
    let first_pid = processor.pid().await.unwrap();
    let limited = limited(&processor, 1);

    let first = tokio::spawn({
        let limited = limited.clone();
        async move { limited.execute(Nap { n: 1, ms: 20_000 }).await }
    });
    wait_for(&log, "start 1").await;
    // The caller goes away while the child works on task 1.
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());

    let second = tokio::time::timeout(
        Duration::from_secs(10),
        limited.execute(Nap { n: 2, ms: 0 }),
    )
    .await
    .expect("task 2 waited for the abandoned 20 s task 1: its child was not killed");
    assert_eq!(second.unwrap(), 2);
    assert_eq!(events(&log), ["start 1", "start 2", "end 2"]);
    let start2 = lines(&log)[1].clone();
    assert!(
        start2.ends_with("alive=[]"),
        "the killed child was not reaped when task 2 started: {start2}"
    );
    assert!(
        !start2.contains(&format!("pid={first_pid} ")),
        "task 2 ran on the child that should have been killed: {start2}"
    );
    assert_eq!(processor.starts(), 2, "task 2 runs on a new child");
    assert_eq!(
        processor.dead(),
        None,
        "killing a child for a cancel is no failure"
    );
    assert_eq!(processor.in_flight(), 0);
}

/// Injects: the caller of task 1 goes away while task 2 shares its child.
/// The child is not killed: task 2 gets its answer and task 1 runs to its
/// end on the same child. (A guard for the fix above: it kills only a
/// child whose every task was cancelled.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_task_sharing_its_child_leaves_the_child_alone() {
    let Setup { _dir, log, config } = setup();
    let processor = Arc::new(ExtProcessorExecutor::<Nap>::new(config).unwrap());
    processor.start().await.unwrap();
    let limited = limited(&processor, 2);

    let first = tokio::spawn({
        let limited = limited.clone();
        async move { limited.execute(Nap { n: 1, ms: 2_500 }).await }
    });
    // Task 2 outlives the abort by far, also on a loaded machine: were it
    // answered before task 1's cancel is seen, task 1 would be alone on
    // the child and rightly killed.
    let second = tokio::spawn({
        let limited = limited.clone();
        async move { limited.execute(Nap { n: 2, ms: 2_000 }).await }
    });
    wait_for(&log, "start 1").await;
    wait_for(&log, "start 2").await;
    first.abort();
    assert_eq!(second.await.unwrap().unwrap(), 2);
    wait_for(&log, "end 1").await;
    assert_eq!(processor.starts(), 1, "the shared child was restarted");
    let deadline = Instant::now() + Duration::from_secs(5);
    while processor.in_flight() != 0 {
        assert!(Instant::now() < deadline, "task 1 never left the processor");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Injects: a task's future is dropped outright (no `Limited` around the
/// processor) while the child works on it, on a processor with
/// `concurrent = 1`. Its slot stays taken until the child answers it, so
/// the next task starts only after it ended. Before the fix the slot was
/// released at the drop and task 2 ran beside task 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_task_keeps_its_concurrent_slot_until_the_child_answers_it() {
    let Setup {
        _dir,
        log,
        mut config,
    } = setup();
    config.concurrent = Some(1);
    let processor = Arc::new(ExtProcessorExecutor::<Nap>::new(config).unwrap());
    processor.start().await.unwrap();

    let first = tokio::spawn({
        let processor = processor.clone();
        async move { processor.execute(Nap { n: 1, ms: 600 }).await }
    });
    wait_for(&log, "start 1").await;
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    assert_eq!(
        processor.in_flight(),
        1,
        "the dropped task still counts while the child works on it"
    );

    assert_eq!(processor.execute(Nap { n: 2, ms: 0 }).await.unwrap(), 2);
    assert_eq!(
        events(&log),
        ["start 1", "end 1", "start 2", "end 2"],
        "task 2 ran beside the dropped task 1"
    );
    assert_eq!(processor.in_flight(), 0);
    assert_eq!(processor.starts(), 1);
}
