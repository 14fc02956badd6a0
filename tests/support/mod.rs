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
