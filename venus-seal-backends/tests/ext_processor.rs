//! ExtProcessorExecutor and ExtProcessorPool against deliberately bad
//! children: a small python3 processor generated into a temporary
//! directory, whose misbehaviour each task chooses (crash, hang, garbage,
//! slow answers, bad outputs) or the environment sets (slow to become
//! ready, on its first start only).
//!
//! Each failure test checks the level (Temporary), that the child is
//! restarted (a following task succeeds on a new child), and that a task
//! on the other processor of the same pool is not affected.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use venus_seal_backends::ext::{ExtProcessorConfig, ExtProcessorExecutor, ExtProcessorPool};
use venus_seal_core::stage::Stage;
use venus_seal_core::{Executor, FailureLevel, Leveled, StageError};

/// A test stage: the child answers `n * 2` and its pid, after `delay_ms`,
/// unless `action` asks for misbehaviour.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Probe {
    n: u64,
    action: String,
    delay_ms: u64,
    msg: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct ProbeOut {
    doubled: u64,
    pid: u32,
    cpus: Option<Vec<u32>>,
}

impl Stage for Probe {
    const NAME: &'static str = "probe";
    type Output = ProbeOut;
}

fn probe(n: u64) -> Probe {
    Probe {
        n,
        ..Probe::default()
    }
}

fn probe_with(n: u64, action: &str, delay_ms: u64) -> Probe {
    Probe {
        n,
        action: action.into(),
        delay_ms,
        msg: None,
    }
}

const CHILD: &str = r#"
import json, os, sys, threading, time

stage = sys.argv[1]
marker = os.environ.get("SLOW_READY_MARKER")
if marker and not os.path.exists(marker):
    open(marker, "w").close()
    time.sleep(float(os.environ["SLOW_READY_SECS"]))
print("a banner before the ready line", flush=True)
print(stage + " processor ready", flush=True)
sys.stderr.write("child %d ready\n" % os.getpid())
sys.stderr.flush()

lock = threading.Lock()

def write(line):
    with lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

def reply(rid, output=None, err_msg=None):
    write(json.dumps({"id": rid, "err_msg": err_msg, "output": output}))

def handle(req):
    rid, task = req["id"], req["task"]
    action = task.get("action", "")
    time.sleep(task.get("delay_ms", 0) / 1000.0)
    if action == "crash":
        sys.stderr.write("crashing on purpose\n")
        sys.stderr.flush()
        os._exit(3)
    if action == "hang":
        return
    if action == "garbage":
        write("this is not json " + "x" * 500)
        return
    if action == "close_stdout":
        sys.stdout.close()
        os.close(1)
        return
    if action == "fail":
        reply(rid, err_msg=task["msg"])
        return
    if action == "corrupt":
        reply(rid, output={"unexpected": True})
        return
    if action == "unknown_id":
        reply(rid + 1000000, output={"doubled": 0, "pid": 0})
    out = {"doubled": task["n"] * 2, "pid": os.getpid(), "cpus": None}
    if action == "affinity":
        out["cpus"] = sorted(os.sched_getaffinity(0))
    reply(rid, output=out)

for line in sys.stdin:
    req = json.loads(line)
    if req["task"].get("action") == "stop_reading":
        time.sleep(3600)
    threading.Thread(target=handle, args=(req,), daemon=True).start()
"#;

/// The child script, written once per test into its own directory.
struct Scripts {
    dir: tempfile::TempDir,
    child: PathBuf,
}

fn scripts() -> Scripts {
    let dir = tempfile::tempdir().unwrap();
    let child = dir.path().join("child.py");
    std::fs::write(&child, CHILD).unwrap();
    Scripts { dir, child }
}

impl Scripts {
    /// Runs the script through `python3` rather than executing it: a
    /// freshly written executable can fail to start with ETXTBSY while
    /// another test forks.
    fn config(&self, name: &str) -> ExtProcessorConfig {
        let mut cfg = ExtProcessorConfig::new("python3");
        cfg.name = Some(name.into());
        cfg.args = vec![path_str(&self.child), Probe::NAME.into()];
        cfg.ready_timeout = Duration::from_secs(10);
        cfg
    }

    /// Slow to become ready on its first start only.
    fn slow_first_start(&self, cfg: &mut ExtProcessorConfig, secs: f64) {
        let marker = self
            .dir
            .path()
            .join(format!("{}.started", cfg.name.as_ref().unwrap()));
        cfg.envs
            .insert("SLOW_READY_MARKER".into(), path_str(&marker));
        cfg.envs.insert("SLOW_READY_SECS".into(), secs.to_string());
    }
}

fn path_str(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_test_writer()
        .try_init();
}

fn assert_temporary(err: &StageError, needles: &[&str]) {
    assert_eq!(err.level(), FailureLevel::Temporary, "{err}");
    let text = err.to_string();
    for needle in needles {
        assert!(text.contains(needle), "{needle:?} not in: {text}");
    }
}

/// Waits until `p` counts `n` tasks in flight.
async fn until_in_flight(p: &ExtProcessorExecutor<Probe>, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while p.in_flight() != n {
        assert!(
            Instant::now() < deadline,
            "{} never had {n} in flight",
            p.name()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A pool of `a` and `b` (both started): a long good task goes to `a`,
/// then `bad` goes to `b`. Returns the good task's result, the bad task's
/// error, and the pids before.
async fn good_on_a_bad_on_b(
    pool: &Arc<ExtProcessorPool<Probe>>,
    bad: Probe,
    good_ms: u64,
) -> (ProbeOut, StageError, u32, u32) {
    pool.start().await.unwrap();
    let [a, b] = pool.processors() else {
        panic!("two processors")
    };
    let (pid_a, pid_b) = (a.pid().await.unwrap(), b.pid().await.unwrap());
    let good = tokio::spawn({
        let pool = pool.clone();
        async move { pool.execute(probe_with(21, "", good_ms)).await }
    });
    until_in_flight(a, 1).await;
    let err = pool.execute(bad).await.unwrap_err();
    assert_eq!(a.in_flight(), 1, "the good task is still running on a");
    let good = good.await.unwrap().unwrap();
    (good, err, pid_a, pid_b)
}

/// After a failure on `b`: `a` kept its child, `b` runs a task on a new one.
async fn b_restarted(pool: &ExtProcessorPool<Probe>, good: &ProbeOut, pid_a: u32, pid_b: u32) {
    let [a, b] = pool.processors() else {
        panic!("two processors")
    };
    assert_eq!(good.doubled, 42);
    assert_eq!(good.pid, pid_a, "the good task ran on a");
    assert_eq!(a.pid().await, Some(pid_a), "a's child was not touched");
    assert_eq!(a.starts(), 1);
    let after = b.execute(probe(5)).await.unwrap();
    assert_eq!(after.doubled, 10);
    assert_ne!(after.pid, pid_b, "b runs on a new child");
    assert_eq!(b.starts(), 2);
    // And the pool still serves from both.
    assert_eq!(pool.execute(probe(1)).await.unwrap().doubled, 2);
}

fn pool_of(a: ExtProcessorConfig, b: ExtProcessorConfig) -> Arc<ExtProcessorPool<Probe>> {
    Arc::new(ExtProcessorPool::new([a, b]).unwrap())
}

#[tokio::test]
async fn crash_mid_task() {
    init_tracing();
    let s = scripts();
    let pool = pool_of(s.config("a"), s.config("b"));
    let (good, err, pid_a, pid_b) =
        good_on_a_bad_on_b(&pool, probe_with(1, "crash", 50), 600).await;
    assert_temporary(
        &err,
        &["ext processor b", "exit status: 3", "was in flight"],
    );
    b_restarted(&pool, &good, pid_a, pid_b).await;
}

#[tokio::test]
async fn hangs_past_task_timeout() {
    init_tracing();
    let s = scripts();
    let mut b = s.config("b");
    b.task_timeout = Some(Duration::from_millis(300));
    let pool = pool_of(s.config("a"), b);
    let started = Instant::now();
    let (good, err, pid_a, pid_b) = good_on_a_bad_on_b(&pool, probe_with(1, "hang", 0), 900).await;
    assert_temporary(&err, &["ext processor b", "hung", "task_timeout 300ms"]);
    assert!(started.elapsed() >= Duration::from_millis(300));
    b_restarted(&pool, &good, pid_a, pid_b).await;
}

#[tokio::test]
async fn stops_reading_its_stdin() {
    init_tracing();
    let s = scripts();
    let mut cfg = s.config("deaf");
    cfg.task_timeout = Some(Duration::from_millis(500));
    let p = ExtProcessorExecutor::<Probe>::new(cfg).unwrap();
    p.start().await.unwrap();
    let pid = p.pid().await.unwrap();
    // The child stops reading; a request larger than the pipe's buffer
    // then blocks the parent's write, which the task timeout covers too.
    let big = Probe {
        msg: Some("x".repeat(4 << 20)),
        ..probe(2)
    };
    let (first, second) = tokio::join!(p.execute(probe_with(1, "stop_reading", 0)), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        p.execute(big).await
    });
    assert_temporary(&first.unwrap_err(), &["ext processor deaf", "hung"]);
    assert_temporary(&second.unwrap_err(), &["ext processor deaf", "hung"]);
    let after = p.execute(probe(3)).await.unwrap();
    assert_eq!(after.doubled, 6);
    assert_ne!(after.pid, pid);
    assert_eq!(p.starts(), 2);
}

#[tokio::test]
async fn prints_garbage() {
    init_tracing();
    let s = scripts();
    let pool = pool_of(s.config("a"), s.config("b"));
    let (good, err, pid_a, pid_b) =
        good_on_a_bad_on_b(&pool, probe_with(1, "garbage", 50), 600).await;
    assert_temporary(
        &err,
        &["ext processor b", "not a response", "this is not json"],
    );
    // The quoted line is truncated.
    assert!(err.to_string().len() < 500, "{err}");
    b_restarted(&pool, &good, pid_a, pid_b).await;
}

#[tokio::test]
async fn closes_stdout() {
    init_tracing();
    let s = scripts();
    let pool = pool_of(s.config("a"), s.config("b"));
    let (good, err, pid_a, pid_b) =
        good_on_a_bad_on_b(&pool, probe_with(1, "close_stdout", 0), 1500).await;
    assert_temporary(&err, &["ext processor b", "closed its stdout"]);
    b_restarted(&pool, &good, pid_a, pid_b).await;
}

#[tokio::test]
async fn answers_out_of_order() {
    init_tracing();
    let s = scripts();
    let p = Arc::new(ExtProcessorExecutor::<Probe>::new(s.config("solo")).unwrap());
    p.start().await.unwrap();
    let slow = tokio::spawn({
        let p = p.clone();
        async move {
            let out = p.execute(probe_with(100, "", 400)).await;
            (out, Instant::now())
        }
    });
    until_in_flight(&p, 1).await;
    let fast = p.execute(probe_with(7, "", 0)).await.unwrap();
    let fast_done = Instant::now();
    let (slow, slow_done) = slow.await.unwrap();
    let slow = slow.unwrap();
    assert_eq!(fast.doubled, 14);
    assert_eq!(slow.doubled, 200);
    assert!(fast_done < slow_done, "the second task was answered first");
    assert_eq!(fast.pid, slow.pid);
    assert_eq!(p.starts(), 1);
}

#[tokio::test]
async fn slow_to_become_ready_within_the_timeout() {
    init_tracing();
    let s = scripts();
    let mut cfg = s.config("slow");
    cfg.ready_timeout = Duration::from_secs(5);
    s.slow_first_start(&mut cfg, 0.5);
    let p = ExtProcessorExecutor::<Probe>::new(cfg).unwrap();
    let started = Instant::now();
    assert_eq!(p.execute(probe(4)).await.unwrap().doubled, 8);
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert_eq!(p.starts(), 1);
}

#[tokio::test]
async fn slow_to_become_ready_beyond_the_timeout() {
    init_tracing();
    let s = scripts();
    let mut b = s.config("b");
    b.ready_timeout = Duration::from_millis(400);
    s.slow_first_start(&mut b, 30.0);
    let pool = pool_of(s.config("a"), b);
    let [a, b] = pool.processors() else {
        panic!("two processors")
    };
    a.start().await.unwrap();
    let pid_a = a.pid().await.unwrap();
    let good = tokio::spawn({
        let pool = pool.clone();
        async move { pool.execute(probe_with(21, "", 800)).await }
    });
    until_in_flight(a, 1).await;
    let started = Instant::now();
    let err = pool.execute(probe(1)).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the child was not waited for"
    );
    assert_temporary(
        &err,
        &[
            "ext processor b",
            "did not print \"probe processor ready\" within 400ms",
        ],
    );
    let good = good.await.unwrap().unwrap();
    assert_eq!((good.doubled, good.pid), (42, pid_a));
    // The next start is quick: the task runs on the second child.
    assert_eq!(b.execute(probe(5)).await.unwrap().doubled, 10);
    assert_eq!(b.starts(), 2);
    assert_eq!(a.pid().await, Some(pid_a));
}

#[tokio::test]
async fn without_auto_restart_the_processor_dies() {
    init_tracing();
    let s = scripts();
    let mut b = s.config("b");
    b.auto_restart = false;
    let pool = pool_of(s.config("a"), b);
    let (good, err, pid_a, _) = good_on_a_bad_on_b(&pool, probe_with(1, "crash", 50), 600).await;
    assert_temporary(&err, &["exit status: 3", "auto_restart is off"]);
    assert_eq!(good.pid, pid_a);
    let [a, b] = pool.processors() else {
        panic!("two processors")
    };
    assert!(b.dead().is_some());
    let err = b.execute(probe(1)).await.unwrap_err();
    assert_temporary(&err, &["ext processor b is dead", "exit status: 3"]);
    assert_eq!(b.starts(), 1, "never restarted");
    // The pool sends everything to a now, even two at once.
    let (x, y) = tokio::join!(pool.execute(probe(2)), pool.execute(probe(3)));
    assert_eq!((x.unwrap().pid, y.unwrap().pid), (pid_a, pid_a));
    assert_eq!(a.starts(), 1);
}

#[tokio::test]
async fn all_dead_pool_says_so() {
    init_tracing();
    let s = scripts();
    let mut cfg = s.config("only");
    cfg.auto_restart = false;
    let pool = ExtProcessorPool::<Probe>::new([cfg]).unwrap();
    let err = pool.execute(probe_with(1, "crash", 0)).await.unwrap_err();
    assert_temporary(&err, &["exit status: 3"]);
    let err = pool.execute(probe(1)).await.unwrap_err();
    assert_temporary(
        &err,
        &["all 1 ext processors of stage probe are dead", "only:"],
    );
}

#[tokio::test]
async fn answers_map_to_levels_and_the_child_survives() {
    init_tracing();
    let s = scripts();
    let p = ExtProcessorExecutor::<Probe>::new(s.config("levels")).unwrap();
    p.start().await.unwrap();
    let pid = p.pid().await.unwrap();
    let fail = |msg: &str| Probe {
        action: "fail".into(),
        msg: Some(msg.into()),
        ..probe(1)
    };

    let err = p.execute(fail("GPU lost")).await.unwrap_err();
    assert_temporary(&err, &["ext processor levels", "GPU lost"]);
    let err = p
        .execute(fail("[permanent] computation failed: bad tree"))
        .await
        .unwrap_err();
    assert_eq!(err.level(), FailureLevel::Permanent, "{err}");
    assert!(err.to_string().contains("bad tree"), "{err}");
    let err = p.execute(fail("[critical] disk gone")).await.unwrap_err();
    assert_eq!(err.level(), FailureLevel::Critical, "{err}");
    // A full disk reported as plain text (a damocles child's anyhow chain,
    // a Go child's error) is Critical like the in-process ENOSPC: retrying
    // does not free space.
    for text in [
        "write layer 3: No space left on device (os error 28)",
        "[temporary] copying the cache: os error 28",
        "open /mnt/sealed/s-t01000-1: no space left on device",
    ] {
        let err = p.execute(fail(text)).await.unwrap_err();
        assert_eq!(err.level(), FailureLevel::Critical, "{text}: {err}");
        assert!(err.to_string().contains("ext processor levels"), "{err}");
    }
    // Text that only looks alike stays Temporary.
    let err = p
        .execute(fail(
            "no space for another task in the queue (os error 280)",
        ))
        .await
        .unwrap_err();
    assert_eq!(err.level(), FailureLevel::Temporary, "{err}");
    // A child may park a sector, never have it deleted.
    let err = p.execute(fail("[abort] sector too big")).await.unwrap_err();
    assert_eq!(err.level(), FailureLevel::Permanent, "{err}");
    assert!(err.to_string().contains("[abort] sector too big"), "{err}");

    // Output that is not a ProbeOut: corrupt stage output, Permanent.
    let err = p.execute(probe_with(1, "corrupt", 0)).await.unwrap_err();
    assert_eq!(err.level(), FailureLevel::Permanent, "{err}");
    let text = err.to_string();
    assert!(text.contains("corrupt probe output"), "{text}");
    assert!(text.contains("missing field `doubled`"), "{text}");

    // An answer for an id nobody waits for is ignored.
    assert_eq!(
        p.execute(probe_with(6, "unknown_id", 0))
            .await
            .unwrap()
            .doubled,
        12
    );

    assert_eq!(p.pid().await, Some(pid), "none of this restarted the child");
    assert_eq!(p.starts(), 1);
}

#[tokio::test]
async fn concurrent_limits_tasks_in_flight_on_the_child() {
    init_tracing();
    let s = scripts();
    let mut cfg = s.config("one-at-a-time");
    cfg.concurrent = Some(1);
    let p = ExtProcessorExecutor::<Probe>::new(cfg).unwrap();
    p.start().await.unwrap();
    let started = Instant::now();
    let (x, y) = tokio::join!(
        p.execute(probe_with(1, "", 300)),
        p.execute(probe_with(2, "", 300))
    );
    assert_eq!((x.unwrap().doubled, y.unwrap().doubled), (2, 4));
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_missing_binary_is_temporary_and_named() {
    init_tracing();
    let p = ExtProcessorExecutor::<Probe>::new(ExtProcessorConfig::new("/nonexistent/ext-proc"))
        .unwrap();
    let err = p.execute(probe(1)).await.unwrap_err();
    assert_temporary(&err, &["could not start", "/nonexistent/ext-proc"]);
}

#[tokio::test]
async fn cpuset_pins_the_child() {
    init_tracing();
    let s = scripts();
    let mut cfg = s.config("pinned");
    cfg.cpuset = Some("0".into());
    match ExtProcessorExecutor::<Probe>::new(cfg) {
        Ok(p) => {
            let out = p.execute(probe_with(1, "affinity", 0)).await.unwrap();
            assert_eq!(out.cpus, Some(vec![0]));
        }
        // No taskset on this machine: refused at start, saying why.
        Err(e) => assert!(e.to_string().contains("taskset"), "{e}"),
    }
}
