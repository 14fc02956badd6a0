//! Progress lines for long parameter work: generating random parameters
//! takes minutes (about 10 for the 2KiB PoRep on 2 cores), so a log that
//! is not a terminal (a file, a journal) still gets a line at a steady
//! pace saying what is being done and for how long.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often long parameter work logs a progress line.
pub(crate) const PROGRESS_INTERVAL: Duration = Duration::from_secs(20);

/// Calls a report function every `interval` from its own thread until
/// dropped; dropping it stops the thread at once (no report after the
/// work is done).
pub(crate) struct Ticker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    /// Starts calling `report(elapsed)` every `interval`. If the thread
    /// cannot be spawned the work goes on without progress lines.
    pub(crate) fn start(
        interval: Duration,
        mut report: impl FnMut(Duration) + Send + 'static,
    ) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        let started = Instant::now();
        let thread = std::thread::Builder::new()
            .name("params-progress".into())
            .spawn(move || loop {
                match stopped.recv_timeout(interval) {
                    Err(RecvTimeoutError::Timeout) => report(started.elapsed()),
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
            })
            .ok();
        Self {
            stop: Some(stop),
            thread,
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `elapsed` as `4m 05s` (or `35s`).
pub(crate) fn minutes(elapsed: Duration) -> String {
    let s = elapsed.as_secs();
    if s < 60 {
        format!("{s}s")
    } else {
        format!("{}m {:02}s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn a_long_job_reports_at_the_interval_and_not_after_it_ends() {
        let reports = Arc::new(Mutex::new(Vec::new()));
        let r = reports.clone();
        let ticker = Ticker::start(Duration::from_millis(40), move |elapsed| {
            r.lock().unwrap().push(elapsed)
        });
        // The fake long job: ten intervals.
        std::thread::sleep(Duration::from_millis(420));
        drop(ticker);
        let seen = reports.lock().unwrap().clone();
        // One report per interval (a loaded machine may lose one or two).
        assert!((7..=10).contains(&seen.len()), "{seen:?}");
        for (i, elapsed) in seen.iter().enumerate() {
            assert!(
                *elapsed >= Duration::from_millis(40 * (i as u64 + 1)),
                "report {i} at {elapsed:?}"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(
            reports.lock().unwrap().len(),
            seen.len(),
            "reported after drop"
        );
    }

    #[test]
    fn a_job_shorter_than_the_interval_reports_nothing() {
        let reports = Arc::new(Mutex::new(0));
        let r = reports.clone();
        let ticker = Ticker::start(Duration::from_secs(30), move |_| *r.lock().unwrap() += 1);
        drop(ticker);
        assert_eq!(*reports.lock().unwrap(), 0);
    }

    #[test]
    fn elapsed_reads_as_minutes_and_seconds() {
        assert_eq!(minutes(Duration::from_secs(35)), "35s");
        assert_eq!(minutes(Duration::from_secs(245)), "4m 05s");
    }
}
