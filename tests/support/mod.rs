//! What the process-level tests share: the binaries under test, free
//! ports, and reading the processes' logs.
//!
//! Each test file includes it with `mod support;` and uses what it needs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The worker binary (`src/bin/venus-seal-worker.rs`), built by cargo for
/// this test.
pub fn worker_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_venus-seal-worker"))
}

/// The remote C2 service binary (`src/bin/venus-seal-c2-service.rs`).
pub fn c2_service_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_venus-seal-c2-service"))
}

/// The ext processor binary (`src/bin/venus-seal-ext-processor.rs`).
pub fn ext_processor_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_venus-seal-ext-processor"))
}

mod manager;
#[allow(unused_imports)] // not every test file starts the manager
pub use manager::*;

/// A worker config sealing one 2KiB sector at a time on an embedded
/// devnet, its files under `dir`, its admin API on `port`: `[worker]`
/// named `name`, `[admin]`, `[manager]` with `pre_commit_challenge_delay`,
/// fast `[retry]`, one `[[sealing]]` slot, pc2 and c2 on one `gpu` lock;
/// `extra` (sections or `[testing]` keys) is appended after `[locks]`.
pub fn devnet_worker_config(
    dir: &Path,
    name: &str,
    port: u16,
    pre_commit_challenge_delay: u64,
    extra: &str,
) -> String {
    let d = dir.display();
    format!(
        r#"
[worker]
name = "{name}"
state_db = "{d}/state.db"
max_sectors = 1

[admin]
listen = "127.0.0.1:{port}"
secret_file = "{d}/admin.secret"

[manager]
kind = "embedded-devnet"
miner = "f01000"
proof = "StackedDrg2KiBV1_1"
block_time = "100ms"
pre_commit_challenge_delay = {pre_commit_challenge_delay}
state_dir = "{d}/devnet"

[retry]
recover_interval = "1s"
max_retries = 3
poll_interval = "100ms"

[[sealing]]
path = "{d}/sealing"
slots = 1

[limits]
pc2 = 1
c2 = 1

[locks]
gpu = ["pc2", "c2"]

{extra}
"#
    )
}

/// Writes `<dir>/<name>.toml`: a venus-seal-c2-service node named `name`
/// on `port`, its secret and SQLite queue under `dir` (shared by every
/// node written into the same `dir`), checking the 2KiB parameters;
/// `extra` is appended (e.g. `[service]` keys go first: pass them in
/// `service`). Returns the config's path.
pub fn proving_node_config(
    dir: &Path,
    name: &str,
    port: u16,
    service: &str,
    extra: &str,
) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let d = dir.display();
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            r#"
[service]
listen = "127.0.0.1:{port}"
secret_file = "{d}/secret"
node_id = "{name}"
{service}

[queue]
kind = "sqlite"
path = "{d}/queue.db"

[params]
proofs = ["StackedDrg2KiBV1_1"]
generate_test_sizes = true
{extra}
"#
        ),
    )
    .unwrap();
    config
}

/// Waits (up to 120 s) until something listens on `port`; panics with the
/// tail of `log` otherwise.
pub fn wait_listening(port: u16, log: &Path) {
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let start = std::time::Instant::now();
    while std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(200))
        .is_err()
    {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(120),
            "nothing listened on {port}:\n{}",
            tail(log)
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The last 40 lines of the log at `path`.
pub fn tail(path: &Path) -> String {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// How many lines of the file at `path` are exactly `line` (0 if it is
/// missing): e.g. a stage's runs in a worker's `[testing] stage_log`.
pub fn count_lines(path: &Path, line: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| *l == line)
        .count()
}

/// A child process killed (and reaped) when dropped, so that a test that
/// fails before stopping it leaves nothing running; derefs to the
/// [`Child`](std::process::Child).
#[derive(Debug)]
pub struct KillOnDrop(pub std::process::Child);

impl std::ops::Deref for KillOnDrop {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Starts `bin run --config <config>` with plain log lines (no colour,
/// the binary's default filter), its stderr in a new file at `log`;
/// killed if the guard is dropped while it runs.
pub fn spawn_run(bin: &Path, config: &Path, log: &Path) -> KillOnDrop {
    KillOnDrop(
        Command::new(bin)
            .args(["run", "--config"])
            .arg(config)
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(log).unwrap()))
            .spawn()
            .unwrap(),
    )
}

/// `text` without terminal colour codes.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ … letter
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A child's stdout or stderr appended to the file at `path`.
pub fn log_file(path: &Path) -> Stdio {
    Stdio::from(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap(),
    )
}

/// Runs `cmd` to completion; its stdout. Panics with its stderr when it
/// fails.
pub fn output_of(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
