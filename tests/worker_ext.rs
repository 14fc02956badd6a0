//! The worker sending stages to external processors: a real worker process
//! (venus-seal-worker) with `[[processors.pc1]]` and `[[processors.c1]]`
//! running venus-seal-ext-processor children, and `[c2_service]` pointing at
//! a venus-seal-c2-service process, seals one 2KiB sector with real proofs
//! to Finished; the children's own log lines (forwarded through the
//! worker's log) and the service's log show that they ran those stages. A processor that
//! cannot become ready stops the worker at start-up, named.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use venus_seal::core::{SectorState, SectorStore, SqliteSectorStore};

mod support;
use support::{count_lines, devnet_worker_config, free_port, spawn_run, tail, KillOnDrop};

struct Rig {
    worker: PathBuf,
    dir: tempfile::TempDir,
}

impl Rig {
    fn new(worker: PathBuf) -> Self {
        Self {
            worker,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// A worker config sealing one sector on an embedded devnet, with
    /// `processors` appended.
    fn write_config(&self, processors: &str) -> PathBuf {
        let extra = format!(
            "[testing]\nstage_log = \"{}\"\n\n{processors}",
            self.path("stages.log").display()
        );
        let text = devnet_worker_config(self.dir.path(), "ext-test", free_port(), 10, &extra);
        let path = self.path("worker.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The worker on `processors`, with plain log lines (the test reads
    /// fields).
    fn start(&self, processors: &str) -> KillOnDrop {
        let config = self.write_config(processors);
        spawn_run(&self.worker, &config, &self.path("worker.log"))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path("worker.log")).unwrap_or_default()
    }

    fn log_tail(&self) -> String {
        tail(&self.path("worker.log"))
    }

    fn stage_count(&self, stage: &str) -> usize {
        count_lines(&self.path("stages.log"), stage)
    }

    fn wait(&self, child: &mut Child, timeout: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if start.elapsed() > timeout {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "worker did not exit within {timeout:?}:\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// The log lines of processor `name`, as the worker logged them.
fn lines_of<'a>(log: &'a str, name: &str) -> Vec<&'a str> {
    let field = format!("processor={name}");
    log.lines()
        .filter(|l| l.split_whitespace().any(|w| w == field))
        .collect()
}

/// The pid in a `pid=N` field of `line`.
fn pid_in(line: &str) -> Option<u32> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("pid="))
        .and_then(|p| p.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pc1_and_c1_on_ext_processors_and_c2_on_the_remote_service_seal_a_sector() {
    let ext = support::ext_processor_bin();
    let rig = Rig::new(support::worker_bin());
    let (mut c2_service, c2_section) = start_c2_service(&rig, &support::c2_service_bin());
    // The children log each answered task at debug ("task done id=N
    // ok=true"); the worker forwards their stderr under their names.
    let processors = format!(
        r#"
[[processors.pc1]]
name = "pc1-ext"
bin = "{ext}"
args = ["pc1"]
concurrent = 1
locks = ["gpu"]
envs = {{ RUST_LOG = "warn,venus_seal_backends::ext::serve=debug" }}
ready_timeout = "30s"
task_timeout = "5m"

[[processors.c1]]
name = "c1-ext"
bin = "{ext}"
args = ["c1"]
envs = {{ RUST_LOG = "warn,venus_seal_backends::ext::serve=debug" }}

{c2_section}
"#,
        ext = ext.display()
    );
    let started = Instant::now();
    let mut child = rig.start(&processors);
    // max_sectors = 1: the worker exits once the sector is finished.
    let status = rig.wait(&mut child, Duration::from_secs(600));
    let took = started.elapsed();
    assert!(status.success(), "worker failed:\n{}", rig.log_tail());
    eprintln!("sealed one 2KiB sector with pc1 and c1 on ext processors in {took:?}");

    let store = SqliteSectorStore::open(rig.path("state.db")).await.unwrap();
    let records = store.load_all().await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].state, SectorState::Finished, "{:?}", records[0]);
    assert_eq!(rig.stage_count("pc1"), 1);
    assert_eq!(rig.stage_count("c1"), 1);

    let log = rig.log();
    for (name, stage) in [("pc1-ext", "pc1"), ("c1-ext", "c1")] {
        let lines = lines_of(&log, name);
        // Started before sealing: the child's own "ready" log line,
        // forwarded from its stderr with its pid.
        let ready = lines
            .iter()
            .find(|l| l.contains("ext processor ready") && pid_in(l).is_some())
            .unwrap_or_else(|| panic!("{name} never became ready:\n{}", rig.log_tail()));
        let pid = pid_in(ready).unwrap();
        // The child itself answered the stage's task, successfully: this
        // line comes from its stderr, so a stage run locally cannot fake it.
        assert!(
            lines
                .iter()
                .any(|l| l.contains("task done") && l.contains("ok=true")),
            "{name} never answered a {stage} task:\n{}",
            lines.join("\n")
        );
        // One child, never restarted, and gone after the worker exited.
        assert!(
            !lines.iter().any(|l| l.contains("restarting")),
            "{}",
            lines.join("\n")
        );
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "{name} (pid {pid}) outlived the worker"
        );
    }
    // Stages without processors ran here: no child answered them.
    assert!(lines_of(&log, "pc2:venus-seal-ext-processor#0").is_empty());
    assert!(
        log.contains("stage runs on ext processors"),
        "{}",
        rig.log_tail()
    );

    // C2 ran on the service (its own log says so), not here, and the
    // worker accepted the proof only after verifying it; the devnet then
    // verified it again (the sector is Finished).
    assert!(
        log.contains("c2 goes to the remote C2 service"),
        "{}",
        rig.log_tail()
    );
    let service_log = std::fs::read_to_string(rig.path("c2-service.log")).unwrap();
    assert!(
        ["task started", "task done", "stage=\"c2\""]
            .iter()
            .all(|line| service_log.contains(line)),
        "the service never proved:\n{service_log}"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &c2_service.id().to_string()])
        .status();
    let status = c2_service.wait().unwrap();
    assert!(status.success(), "the C2 service's SIGTERM exit: {status}");
}

/// Starts a C2 service (SQLite queue) in the rig's directory and returns it
/// with the worker's `[c2_service]` section pointing at it.
fn start_c2_service(rig: &Rig, bin: &Path) -> (KillOnDrop, String) {
    let d = rig.dir.path().display();
    let port = free_port();
    let config = support::proving_node_config(&rig.path("c2"), "c2-test", port, "provers = 1", "");
    let log = rig.path("c2-service.log");
    let child = spawn_run(bin, &config, &log);
    support::wait_listening(port, &log);
    // `token` only reads the secret, which `run` created.
    let token = support::output_of(
        Command::new(bin)
            .args(["token", "--perm", "write", "--config"])
            .arg(&config),
    );
    std::fs::write(rig.path("c2.token"), token).unwrap();
    let section =
        format!("[c2_service]\nurl = \"http://127.0.0.1:{port}\"\ntoken_file = \"{d}/c2.token\"\n");
    (child, section)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_processor_that_never_becomes_ready_stops_the_worker_by_name() {
    let rig = Rig::new(support::worker_bin());
    let processors = r#"
[[processors.pc2]]
name = "broken-pc2"
bin = "/bin/sh"
args = ["-c", "echo not the ready line; echo dying >&2; exit 3"]
ready_timeout = "10s"
"#;
    let mut child = rig.start(processors);
    let status = rig.wait(&mut child, Duration::from_secs(120));
    assert!(!status.success(), "{}", rig.log_tail());
    let log = rig.log();
    assert!(
        log.contains("processors.pc2[0]: ext processor broken-pc2 could not become ready"),
        "{}",
        rig.log_tail()
    );
    assert!(log.contains("exit status: 3"), "{}", rig.log_tail());
    // Nothing was sealed.
    assert_eq!(rig.stage_count("add_pieces"), 0, "{}", rig.log_tail());
}
