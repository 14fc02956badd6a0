//! A task on an ext processor whose caller goes away (the sector is
//! paused or aborted) keeps the stage's limits until its child has really
//! finished with it: the next task under the same `gpu` lock never runs
//! beside it. The child (python3) logs when each task starts and ends.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use venus_seal_backends::ext::{ExtProcessorConfig, ExtProcessorExecutor};
use venus_seal_core::engine::limits::{Limits, StageLimit};
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

const CHILD: &str = r#"
import json, sys, threading, time
log = open(sys.argv[2], "a", buffering=1)
print(sys.argv[1] + " processor ready", flush=True)
lock = threading.Lock()
def handle(req):
    task = req["task"]
    log.write("start %d\n" % task["n"])
    time.sleep(task["ms"] / 1000.0)
    log.write("end %d\n" % task["n"])
    with lock:
        sys.stdout.write(json.dumps({"id": req["id"], "err_msg": None, "output": task["n"]}) + "\n")
        sys.stdout.flush()
for line in sys.stdin:
    threading.Thread(target=handle, args=(json.loads(line),), daemon=True).start()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_task_keeps_the_gpu_until_its_child_is_done_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("child.py");
    std::fs::write(&script, CHILD).unwrap();
    let log = dir.path().join("log");
    let mut cfg = ExtProcessorConfig::new("python3");
    cfg.name = Some("nap".into());
    cfg.args = vec![
        script.to_str().unwrap().into(),
        Nap::NAME.into(),
        log.to_str().unwrap().into(),
    ];
    cfg.ready_timeout = Duration::from_secs(10);
    let processor = ExtProcessorExecutor::<Nap>::new(cfg).unwrap();
    processor.start().await.unwrap();

    let mut stages = BTreeMap::new();
    stages.insert(
        Nap::NAME.to_string(),
        StageLimit {
            concurrent: Some(1),
            locks: vec!["gpu".into()],
            ..StageLimit::default()
        },
    );
    let limited = std::sync::Arc::new(Limits::new(stages, BTreeMap::new()).wrap(processor));

    let first = tokio::spawn({
        let limited = limited.clone();
        async move { limited.execute(Nap { n: 1, ms: 600 }).await }
    });
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !read().contains("start 1") {
        assert!(std::time::Instant::now() < deadline, "task 1 never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The caller goes away while the child works on task 1.
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());

    assert_eq!(limited.execute(Nap { n: 2, ms: 0 }).await.unwrap(), 2);
    let lines: Vec<String> = read().lines().map(str::to_string).collect();
    assert_eq!(
        lines,
        ["start 1", "end 1", "start 2", "end 2"],
        "task 2 ran beside the abandoned task 1"
    );
}
