//! One child process: start, handshake, and the supervisor that reads its
//! answers and decides when it has failed.
//!
//! A child fails once, for the first of: it exits, it closes its stdout,
//! it prints a line that is not a response, reading its stdout fails, or
//! the task side declares it hung (task timeout) or unwritable. Failing
//! answers every task in flight with the reason and kills the child; the
//! processor starts a new one for the next task.

use std::collections::HashMap;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::{mpsc, oneshot, watch};

use super::wire::{ready_line, truncate};

/// How long a child's stdout may stay open after it exited (answers
/// already written are still delivered), and how long an EOF on stdout
/// waits for the exit status.
const EXIT_GRACE: Duration = Duration::from_millis(500);

/// How much of a bad line is quoted in errors and logs.
const QUOTE: usize = 200;

/// The longest stdout line read once the child is ready: one response. The
/// largest real output, a 32 GiB sector's C1 output as JSON, is tens of
/// MiB; a line past this fails the child (its bytes are not kept) instead
/// of growing the worker's memory with whatever a broken child prints.
pub(crate) const MAX_RESPONSE_LINE: usize = 256 << 20;

/// The longest log line kept: a stderr line, or a stdout line before the
/// ready line. The rest of a longer line is skipped, not buffered, and the
/// line is logged cut, saying so.
pub(crate) const MAX_LOG_LINE: usize = 64 << 10;

/// What a task waiting on the child gets.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The child answered.
    Answer {
        err_msg: Option<String>,
        output: Option<Box<RawValue>>,
    },
    /// The child failed before answering: the reason.
    Failed(String),
}

/// A response whose output is kept as raw JSON until the task side
/// deserializes it (so a corrupt output fails that task alone).
#[derive(Deserialize)]
struct RawResponse {
    id: u64,
    err_msg: Option<String>,
    output: Option<Box<RawValue>>,
}

/// Called once when a started child fails: `(label, reason, tasks in
/// flight that failed with it)`.
pub(crate) type OnFail = Box<dyn Fn(&str, &str, usize) + Send + Sync>;

/// State shared by the handle (task side) and the supervisor.
struct Shared {
    label: String,
    pending: Mutex<Pending>,
    on_fail: OnFail,
}

#[derive(Default)]
struct Pending {
    waiters: HashMap<u64, oneshot::Sender<Outcome>>,
    failed: Option<String>,
    /// What tasks whose callers went away keep (their permits) until the
    /// child answers them or has exited: see [`ChildHandle::abandon`].
    abandoned: HashMap<u64, Keep>,
    /// The child process has exited and was reaped.
    exited: bool,
}

/// What an abandoned task keeps alive (its permits, its in-flight count).
pub(crate) type Keep = Box<dyn Send>;

/// What [`ChildHandle::kill_if_alone`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum KillIfAlone {
    /// The task was the only one in flight: the child is being killed.
    Killed,
    /// Other tasks share the child, or the task was already answered or
    /// failed: nothing was done.
    NotAlone,
}

impl Shared {
    /// Fails the child with `reason` unless it already failed; answers
    /// every waiter. Returns whether this call decided the failure.
    fn fail(&self, reason: &str) -> bool {
        let waiters = {
            let mut pending = self.pending.lock().unwrap();
            if pending.failed.is_some() {
                return false;
            }
            pending.failed = Some(reason.to_string());
            std::mem::take(&mut pending.waiters)
        };
        let in_flight = waiters.len();
        for (_, tx) in waiters {
            let _ = tx.send(Outcome::Failed(reason.to_string()));
        }
        (self.on_fail)(&self.label, reason, in_flight);
        true
    }

    fn is_failed(&self) -> bool {
        self.pending.lock().unwrap().failed.is_some()
    }

    /// Hands an answer to its waiter; false if no task waits for `id`.
    fn deliver(&self, id: u64, err_msg: Option<String>, output: Option<Box<RawValue>>) -> bool {
        let tx = self.pending.lock().unwrap().waiters.remove(&id);
        match tx {
            Some(tx) => {
                let _ = tx.send(Outcome::Answer { err_msg, output });
                true
            }
            None => self.release_abandoned(id),
        }
    }

    /// The child answered abandoned task `id`: releases what it kept.
    /// False if no task was abandoned under `id`.
    fn release_abandoned(&self, id: u64) -> bool {
        let kept = self.pending.lock().unwrap().abandoned.remove(&id);
        kept.is_some()
    }

    /// The child was reaped: releases what every abandoned task kept.
    fn reaped(&self) {
        let kept = {
            let mut pending = self.pending.lock().unwrap();
            pending.exited = true;
            std::mem::take(&mut pending.abandoned)
        };
        drop(kept);
    }
}

/// The task side of a running child. Dropping the last handle kills the
/// child.
pub(crate) struct ChildHandle {
    pid: Option<u32>,
    /// `ext processor {name} (pid {pid})`, for errors.
    label: String,
    stdin: tokio::sync::Mutex<ChildStdin>,
    shared: Arc<Shared>,
    kill: Mutex<Option<oneshot::Sender<()>>>,
    /// Turns true once the child process has exited and was reaped.
    exited: watch::Receiver<bool>,
}

impl std::fmt::Debug for ChildHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label)
    }
}

impl ChildHandle {
    pub(crate) fn pid(&self) -> Option<u32> {
        self.pid
    }

    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    pub(crate) fn is_failed(&self) -> bool {
        self.shared.is_failed()
    }

    /// Waits for the answer to `id`; `Err(reason)` if the child already
    /// failed.
    pub(crate) fn register(&self, id: u64) -> Result<oneshot::Receiver<Outcome>, String> {
        let mut pending = self.shared.pending.lock().unwrap();
        if let Some(reason) = &pending.failed {
            return Err(reason.clone());
        }
        let (tx, rx) = oneshot::channel();
        pending.waiters.insert(id, tx);
        Ok(rx)
    }

    /// Stops waiting for `id` (its task was cancelled).
    pub(crate) fn unregister(&self, id: u64) {
        self.shared.pending.lock().unwrap().waiters.remove(&id);
    }

    /// Writes one request line (a newline is appended).
    pub(crate) async fn send(&self, line: &str) -> std::io::Result<()> {
        let mut stdin = self.stdin.lock().await;
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        stdin.write_all(&bytes).await?;
        stdin.flush().await
    }

    /// Declares the child failed (hung, unwritable): answers every task in
    /// flight with `reason` and kills it. No-op if it already failed.
    pub(crate) fn fail(&self, reason: &str) {
        self.shared.fail(reason);
        self.send_kill();
    }

    fn send_kill(&self) {
        if let Some(kill) = self.kill.lock().unwrap().take() {
            let _ = kill.send(());
        }
    }

    /// Kills the child if task `id` is the only one in flight on it (its
    /// caller went away, so nothing on the child is wanted any more): the
    /// child counts as failed with `reason` from now on (no new task gets
    /// on it, the next one starts a new child), but this is no failure of
    /// the processor (`on_fail` is not called: a processor without
    /// `auto_restart` stays alive). Tasks the child was still working on
    /// for callers already gone are released when it has exited. Does
    /// nothing if other tasks wait on the child or `id` was already
    /// answered or failed.
    pub(crate) fn kill_if_alone(&self, id: u64, reason: &str) -> KillIfAlone {
        {
            let mut pending = self.shared.pending.lock().unwrap();
            let alone = pending.failed.is_none()
                && pending.waiters.len() == 1
                && pending.waiters.contains_key(&id);
            if !alone {
                return KillIfAlone::NotAlone;
            }
            pending.failed = Some(reason.to_string());
            pending.waiters.clear();
        }
        self.send_kill();
        KillIfAlone::Killed
    }

    /// Stops waiting for `id` (its caller went away) but keeps `keep`
    /// (its permits) until the child has answered `id` or has exited, so
    /// that the work the child still does for it stays counted. `keep` is
    /// dropped at once if the child already answered `id` or has exited.
    pub(crate) fn abandon(&self, id: u64, keep: Keep) {
        let dropped = {
            let mut pending = self.shared.pending.lock().unwrap();
            let still_working = !pending.exited
                && (pending.waiters.remove(&id).is_some() || pending.failed.is_some());
            if still_working {
                pending.abandoned.insert(id, keep);
                None
            } else {
                Some(keep)
            }
        };
        drop(dropped);
    }

    /// Resolves once the child process has exited and was reaped.
    pub(crate) async fn exited(&self) {
        let mut exited = self.exited.clone();
        // An error means the supervisor is gone, and with it the child.
        let _ = exited.wait_for(|e| *e).await;
    }
}

/// What [`spawn`] needs to know about the processor.
pub(crate) struct SpawnSpec<'a> {
    pub(crate) name: &'a str,
    pub(crate) stage: &'static str,
    pub(crate) command: tokio::process::Command,
    pub(crate) command_line: String,
    pub(crate) ready_timeout: Duration,
    /// Called once when a started child fails.
    pub(crate) on_fail: OnFail,
}

/// Starts a child and waits for its ready line. `Err` says why it could
/// not be started (the child, if any, is killed).
pub(crate) async fn spawn(spec: SpawnSpec<'_>) -> Result<Arc<ChildHandle>, String> {
    let SpawnSpec {
        name,
        stage,
        mut command,
        command_line,
        ready_timeout,
        on_fail,
    } = spec;
    let mut child = command
        .spawn()
        .map_err(|e| format!("could not start `{command_line}`: {e}"))?;
    let pid = child.id();
    let label = match pid {
        Some(pid) => format!("ext processor {name} (pid {pid})"),
        None => format!("ext processor {name}"),
    };
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(format!("{label}: the child's stdio was not piped"));
    };
    tokio::spawn(forward_stderr(name.to_string(), pid, stderr));

    let mut stdout = BufReader::new(stdout);
    let ready = ready_line(stage);
    match tokio::time::timeout(ready_timeout, wait_ready(&mut stdout, &ready, name)).await {
        Ok(Ok(())) => {}
        Ok(Err(why)) => {
            let status = exit_status(&mut child).await;
            return Err(format!("{label} {why} ({status})"));
        }
        Err(_) => {
            let _ = child.start_kill();
            let _ = child.wait().await;
            return Err(format!(
                "{label} did not print {ready:?} within {}; killed it",
                venus_seal_core::format_duration(ready_timeout)
            ));
        }
    }
    tracing::info!(processor = name, pid, "ext processor ready");

    let shared = Arc::new(Shared {
        label: label.clone(),
        pending: Mutex::new(Pending::default()),
        on_fail,
    });
    let (kill_tx, kill_rx) = oneshot::channel();
    let (lines_tx, lines_rx) = mpsc::channel(64);
    let (exited_tx, exited_rx) = watch::channel(false);
    tokio::spawn(read_lines(stdout, lines_tx, MAX_RESPONSE_LINE));
    tokio::spawn(supervise_then_reap(
        supervise(child, lines_rx, kill_rx, shared.clone(), label.clone()),
        shared.clone(),
        exited_tx,
    ));
    Ok(Arc::new(ChildHandle {
        pid,
        label,
        stdin: tokio::sync::Mutex::new(stdin),
        shared,
        kill: Mutex::new(Some(kill_tx)),
        exited: exited_rx,
    }))
}

/// Reads stdout until the ready line; other lines before it are logged and
/// skipped (as damocles does). `Err` if stdout closes or fails first.
async fn wait_ready(
    stdout: &mut BufReader<ChildStdout>,
    ready: &str,
    name: &str,
) -> Result<(), String> {
    let mut line = Vec::new();
    loop {
        line.clear();
        match read_line_limited(stdout, &mut line, MAX_LOG_LINE, Overflow::Skip).await {
            Ok(Read::Eof) => return Err("closed its stdout before it was ready".into()),
            Ok(read) => {
                let text = String::from_utf8_lossy(&line);
                if text.trim() == ready {
                    return Ok(());
                }
                tracing::warn!(
                    processor = name,
                    line = %truncate(&text, QUOTE),
                    cut = matches!(read, Read::Cut),
                    "ext processor printed a line before its ready line; skipped"
                );
            }
            Err(e) => return Err(format!("could not be read before it was ready: {e}")),
        }
    }
}

/// The exit status of a child that closed its stdout, if it exits soon.
async fn exit_status(child: &mut Child) -> String {
    match tokio::time::timeout(EXIT_GRACE, child.wait()).await {
        Ok(Ok(status)) => describe_exit(status),
        Ok(Err(e)) => format!("exit status unknown: {e}"),
        Err(_) => {
            let _ = child.start_kill();
            let _ = child.wait().await;
            "still running, killed".into()
        }
    }
}

fn describe_exit(status: ExitStatus) -> String {
    format!("exited, {status}")
}

/// Each stderr line into tracing, under the processor's name; a line
/// longer than [`MAX_LOG_LINE`] is logged cut, the rest skipped unread
/// into memory.
async fn forward_stderr(name: String, pid: Option<u32>, stderr: tokio::process::ChildStderr) {
    let mut stderr = BufReader::new(stderr);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let cut = match read_line_limited(&mut stderr, &mut buf, MAX_LOG_LINE, Overflow::Skip).await
        {
            Ok(Read::Eof) | Err(_) => return,
            Ok(Read::Line) => "",
            Ok(Read::Cut) => " […line cut: longer than 64 KiB]",
        };
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim_end_matches(['\n', '\r']);
        tracing::info!(target: "venus_seal_backends::ext::child", processor = %name, pid, "{line}{cut}");
    }
}

/// What [`read_line_limited`] read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Read {
    /// A whole line (or the last bytes before EOF), in the buffer.
    Line,
    /// The first `max` bytes of a longer line are in the buffer. With
    /// [`Overflow::Skip`] the rest of the line was read and dropped; with
    /// [`Overflow::Stop`] nothing more was read.
    Cut,
    /// End of input: nothing was read.
    Eof,
}

/// What [`read_line_limited`] does with a line longer than its limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Overflow {
    /// Read and drop the rest of the line (a log line: go on logging).
    Skip,
    /// Stop at the limit (a response: the child is failed, nothing more is
    /// worth reading, and a child that never prints a newline must not
    /// keep us reading).
    Stop,
}

/// Reads one line (through its `\n`) into `buf`, holding at most `max`
/// bytes of it, so that a child printing a gigabyte without a newline
/// costs `max` bytes of memory, not a gigabyte. A longer line is
/// [`Read::Cut`]; `overflow` says what happens to its rest.
pub(crate) async fn read_line_limited<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
    overflow: Overflow,
) -> std::io::Result<Read> {
    let mut cut = false;
    let mut any = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(match (any, cut) {
                (false, _) => Read::Eof,
                (true, true) => Read::Cut,
                (true, false) => Read::Line,
            });
        }
        any = true;
        let (used, end) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        let keep = used.min(max.saturating_sub(buf.len()));
        buf.extend_from_slice(&available[..keep]);
        if keep < used {
            cut = true;
            if overflow == Overflow::Stop {
                reader.consume(keep);
                return Ok(Read::Cut);
            }
        }
        reader.consume(used);
        if end {
            return Ok(if cut { Read::Cut } else { Read::Line });
        }
    }
}

type Line = std::io::Result<String>;

/// stdout lines onto a channel (cancel-safe to select on); the channel
/// closes at EOF. A line longer than `max` is an error (`InvalidData`,
/// naming the limit) and ends the reading: the child is failed for it.
async fn read_lines<R: AsyncBufRead + Unpin>(mut stdout: R, tx: mpsc::Sender<Line>, max: usize) {
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match read_line_limited(&mut stdout, &mut buf, max, Overflow::Stop).await {
            Ok(Read::Eof) => return,
            Ok(Read::Line) => {
                let line = String::from_utf8_lossy(&buf).into_owned();
                if tx.send(Ok(line)).await.is_err() {
                    return;
                }
            }
            Ok(Read::Cut) => {
                let e = std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "it printed a line longer than {max} bytes (starting {:?}); \
                         a response must fit in one line of at most that",
                        truncate(&String::from_utf8_lossy(&buf), QUOTE)
                    ),
                );
                let _ = tx.send(Err(e)).await;
                return;
            }
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        }
    }
}

/// Runs `supervise` (which returns once the child was reaped), then
/// releases the abandoned tasks and tells [`ChildHandle::exited`].
async fn supervise_then_reap(
    supervise: impl std::future::Future<Output = ()>,
    shared: Arc<Shared>,
    exited: watch::Sender<bool>,
) {
    supervise.await;
    shared.reaped();
    let _ = exited.send(true);
}

/// Delivers answers until the child fails, then fails it and kills it.
async fn supervise(
    mut child: Child,
    mut lines: mpsc::Receiver<Line>,
    mut kill: oneshot::Receiver<()>,
    shared: Arc<Shared>,
    label: String,
) {
    let mut exited: Option<ExitStatus> = None;
    let drain_deadline = tokio::time::sleep(Duration::MAX);
    tokio::pin!(drain_deadline);
    let reason = loop {
        tokio::select! {
            biased;
            // Failed by the task side, or every handle dropped.
            _ = &mut kill => break None,
            line = lines.recv() => match line {
                Some(Ok(line)) => {
                    if let Err(reason) = handle_line(&shared, &label, &line) {
                        break Some(reason);
                    }
                }
                Some(Err(e)) => break Some(format!("reading its stdout failed: {e}")),
                None => break Some(match exited {
                    Some(status) => describe_exit(status),
                    None => match tokio::time::timeout(EXIT_GRACE, child.wait()).await {
                        Ok(Ok(status)) => describe_exit(status),
                        _ => "closed its stdout".to_string(),
                    },
                }),
            },
            status = child.wait(), if exited.is_none() => match status {
                Ok(status) => {
                    // Answers written before the exit may still be in the
                    // pipe: read on for a moment.
                    exited = Some(status);
                    drain_deadline
                        .as_mut()
                        .reset(tokio::time::Instant::now() + EXIT_GRACE);
                }
                Err(e) => break Some(format!("waiting for it failed: {e}")),
            },
            _ = &mut drain_deadline, if exited.is_some() => {
                break Some(describe_exit(exited.expect("checked")));
            }
        }
    };
    if let Some(reason) = reason {
        shared.fail(&reason);
    }
    if exited.is_none() {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
}

/// One stdout line after the ready line: an answer is delivered, a blank
/// line skipped, anything else fails the child.
fn handle_line(shared: &Shared, label: &str, line: &str) -> Result<(), String> {
    if line.trim().is_empty() {
        return Ok(());
    }
    let response: RawResponse = serde_json::from_str(line).map_err(|e| {
        format!(
            "printed a line that is not a response ({e}): {:?}",
            truncate(line, QUOTE)
        )
    })?;
    if !shared.deliver(response.id, response.err_msg, response.output) {
        tracing::warn!(
            processor = label,
            id = response.id,
            "ext processor answered a task id nobody waits for (cancelled or unknown); ignored"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    /// A gigabyte without a newline, as a child that lost its mind prints
    /// it: the reader fails the child after `max` bytes, having held no
    /// more, and reads no further.
    #[tokio::test]
    async fn a_gigabyte_line_fails_after_the_limit_without_reading_it() {
        let endless = tokio::io::repeat(b'x').take(1 << 30);
        let mut reader = BufReader::new(endless);
        let (tx, mut rx) = mpsc::channel(4);
        tokio::time::timeout(
            Duration::from_secs(20),
            read_lines(&mut reader, tx, 1 << 20),
        )
        .await
        .expect("the reader stops at the limit");
        let err = rx.recv().await.unwrap().unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        assert!(
            err.to_string().contains("longer than 1048576 bytes"),
            "{err}"
        );
        assert!(rx.recv().await.is_none(), "nothing after the error");
        assert!(
            reader.into_inner().limit() > (1 << 30) - (2 << 20),
            "the rest of the line was left unread"
        );
    }

    #[tokio::test]
    async fn long_log_lines_are_cut_and_the_next_line_read() {
        let mut input = vec![b'y'; 100_000];
        input.extend_from_slice(b"\nnext\n");
        let mut reader = BufReader::new(&input[..]);
        let mut buf = Vec::new();
        let read = read_line_limited(&mut reader, &mut buf, 1000, Overflow::Skip)
            .await
            .unwrap();
        assert_eq!((read, buf.len()), (Read::Cut, 1000));
        buf.clear();
        let read = read_line_limited(&mut reader, &mut buf, 1000, Overflow::Skip)
            .await
            .unwrap();
        assert_eq!((read, &buf[..]), (Read::Line, &b"next\n"[..]));
        buf.clear();
        let read = read_line_limited(&mut reader, &mut buf, 1000, Overflow::Skip)
            .await
            .unwrap();
        assert_eq!(read, Read::Eof);
    }

    #[tokio::test]
    async fn responses_within_the_limit_pass_whole() {
        let input = b"{\"id\":1}\nlast without newline";
        let (tx, mut rx) = mpsc::channel(4);
        read_lines(&input[..], tx, 64).await;
        assert_eq!(rx.recv().await.unwrap().unwrap(), "{\"id\":1}\n");
        assert_eq!(rx.recv().await.unwrap().unwrap(), "last without newline");
        assert!(rx.recv().await.is_none());
    }
}
